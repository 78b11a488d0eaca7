/*
 * Privilege drop: the `user:` config key. moondns binds its listeners as
 * the user it was started as (root, or an unprivileged user holding
 * CAP_NET_BIND_SERVICE), then switches to the configured user and group:
 * supplementary groups first (setgroups), then the group, then the user,
 * and checks that root cannot be regained.
 *
 * CAP_NET_BIND_SERVICE is kept across the switch (in the permitted and
 * effective sets of the control thread only, the one that binds), so that a
 * reload can still open a new listener on a port below 1024. Every other
 * capability is gone.
 *
 * Threads: resolve anywhere; apply on the control thread (glibc applies
 * setuid/setgid/setgroups to every thread of the process).
 */
#ifndef MOON_SERVER_PRIVDROP_H
#define MOON_SERVER_PRIVDROP_H

#include <stdbool.h>
#include <sys/types.h>

#include "util/diag.h"

struct moon_privdrop {
	uid_t uid;
	gid_t gid;
	char name[64];                   /* user name, for messages */
};

/*
 * Resolves a `user:` value: "name" (its primary group), "name:group",
 * "uid" or "uid:gid" (numbers need not exist in /etc/passwd). Unknown names
 * are added to diag ("user: no such user 'moondns'", file = where).
 * Returns 0, or MOON_ESEMANTIC.
 */
int moon_privdrop_resolve(const char *spec, const char *where, struct moon_privdrop *out,
			  struct moon_diag *diag);

/*
 * Switches the process to p. Nothing to do (returns 0) when the process
 * already runs as p->uid/p->gid. Not root: -EPERM with a message in diag.
 * Returns 0 or a negative error; on error the process may be half switched
 * and must exit.
 */
int moon_privdrop_apply(const struct moon_privdrop *p, struct moon_diag *diag);

/* Whether the calling thread may bind ports below 1024 (root or
 * CAP_NET_BIND_SERVICE in its effective set). */
bool moon_privdrop_can_bind_low(void);

#endif
