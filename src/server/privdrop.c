#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "server/privdrop.h"
#include "util/err.h"
#include "util/log.h"

static bool parse_id(const char *s, unsigned long *out)
{
	char *end;
	if (!*s || *s == '-' || *s == '+')
		return false;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v >= (unsigned long)(uid_t)-1)
		return false;
	*out = v;
	return true;
}

static int resolve_user(const char *user, const char *where, struct moon_privdrop *out,
			bool *have_gid, struct moon_diag *diag)
{
	unsigned long id;
	struct passwd *pw = getpwnam(user);
	if (!pw && parse_id(user, &id)) {
		out->uid = (uid_t)id;
		pw = getpwuid(out->uid);
		/* A bare uid with no passwd entry (common in containers) gets
		 * the group of the same number unless one is given. */
		out->gid = pw ? pw->pw_gid : (gid_t)id;
		*have_gid = true;
		return 0;
	}
	if (!pw) {
		moon_diag_add(diag, where, 0, 0, "user: no such user '%s'", user);
		return MOON_ESEMANTIC;
	}
	out->uid = pw->pw_uid;
	out->gid = pw->pw_gid;
	*have_gid = true;
	return 0;
}

static int resolve_group(const char *group, const char *where, struct moon_privdrop *out,
			 struct moon_diag *diag)
{
	unsigned long id;
	struct group *gr = getgrnam(group);
	if (gr) {
		out->gid = gr->gr_gid;
		return 0;
	}
	if (parse_id(group, &id)) {
		out->gid = (gid_t)id;
		return 0;
	}
	moon_diag_add(diag, where, 0, 0, "user: no such group '%s'", group);
	return MOON_ESEMANTIC;
}

int moon_privdrop_resolve(const char *spec, const char *where, struct moon_privdrop *out,
			  struct moon_diag *diag)
{
	char buf[sizeof(out->name)];
	memset(out, 0, sizeof(*out));
	if (!spec || !*spec || strlen(spec) >= sizeof(buf)) {
		moon_diag_add(diag, where, 0, 0, "user: '%s' is not a user name", spec ? spec : "");
		return MOON_ESEMANTIC;
	}
	snprintf(buf, sizeof(buf), "%s", spec);
	char *group = strchr(buf, ':');
	if (group)
		*group++ = 0;
	bool have_gid = false;
	int ret = resolve_user(buf, where, out, &have_gid, diag);
	if (!ret && group)
		ret = resolve_group(group, where, out, diag);
	snprintf(out->name, sizeof(out->name), "%s", spec);
	return ret;
}

/* The v3 capability ABI: two 32-bit words per set. */
static int caps_get(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	return syscall(SYS_capget, &h, d) ? -errno : 0;
}

static int caps_set(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

bool moon_privdrop_can_bind_low(void)
{
	if (geteuid() == 0)
		return true;
	struct __user_cap_data_struct d[2];
	if (caps_get(d))
		return false;
	return d[CAP_NET_BIND_SERVICE / 32].effective & (1u << (CAP_NET_BIND_SERVICE % 32));
}

/* Leaves CAP_NET_BIND_SERVICE alone in the permitted and effective sets,
 * if it survived the switch (PR_SET_KEEPCAPS). */
static void keep_bind_cap(void)
{
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof(d));
	uint32_t bit = 1u << (CAP_NET_BIND_SERVICE % 32);
	d[CAP_NET_BIND_SERVICE / 32].permitted = bit;
	d[CAP_NET_BIND_SERVICE / 32].effective = bit;
	int ret = caps_set(d);
	if (ret)
		moon_warn(SERVER, "cannot keep CAP_NET_BIND_SERVICE (%s): a reload cannot add "
			  "a listener on a port below 1024", moon_strerror(ret));
}

static int fail(struct moon_diag *diag, const struct moon_privdrop *p, const char *what)
{
	int err = -errno;
	moon_diag_add(diag, NULL, 0, 0, "user: cannot switch to %s (%s): %s", p->name, what,
		      moon_strerror(err));
	return err;
}

int moon_privdrop_apply(const struct moon_privdrop *p, struct moon_diag *diag)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;
	getresuid(&ruid, &euid, &suid);
	getresgid(&rgid, &egid, &sgid);
	if (ruid == p->uid && euid == p->uid && suid == p->uid && rgid == p->gid &&
	    egid == p->gid && sgid == p->gid)
		return 0;
	if (euid != 0) {
		errno = EPERM;
		return fail(diag, p, "not started as root");
	}
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0))
		return fail(diag, p, "prctl");
	if (setgroups(1, &p->gid))
		return fail(diag, p, "setgroups");
	if (setresgid(p->gid, p->gid, p->gid))
		return fail(diag, p, "setgid");
	if (setresuid(p->uid, p->uid, p->uid))
		return fail(diag, p, "setuid");
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	/* Paranoia, as every daemon that drops root should have: the saved
	 * ids must not let us back. */
	if (p->uid != 0 && setuid(0) == 0) {
		errno = EPERM;
		return fail(diag, p, "root could be regained");
	}
	if (p->uid != 0)
		keep_bind_cap();
	moon_info(SERVER, "running as %s (uid %u, gid %u)", p->name, (unsigned)p->uid,
		  (unsigned)p->gid);
	return 0;
}
