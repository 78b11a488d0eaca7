/*
 * moondns command line: argument parsing, the control loop (signals,
 * reload) and nothing else; the server lives in libmoon.
 */
#include <ev.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge/testrun.h"
#include "conf/conf.h"
#include "metrics/ops.h"
#include "net/net.h"
#include "server/gen.h"
#include "server/loopcheck.h"
#include "server/privdrop.h"
#include "server/reload.h"
#include "server/server.h"
#include "util/err.h"
#include "util/log.h"
#include "wire/name.h"
#include "zone/zone.h"

#define SYSTEM_CONFIG "/etc/moondns/moondns.yaml"
#define EMBEDDED_NAME "<embedded default>"

struct opts {
	const char *config;             /* NULL: system file or embedded default */
	bool check;
	bool level_set;
	enum moon_log_level level;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: moondns [-c FILE] [-v | --log-level LEVEL]\n"
		"       moondns check -c FILE\n"
		"       moondns test [BUSTED-OPTIONS] SPEC...\n"
		"\n"
		"Runs the moondns DNS server in the foreground, logging to stderr.\n"
		"Without -c it reads " SYSTEM_CONFIG " if it exists, else runs the\n"
		"embedded lab default (lab.test. on 127.0.0.1:5353).\n"
		"\n"
		"  -c, --config FILE     configuration file (YAML)\n"
		"  -v, --verbose         log at debug level\n"
		"      --log-level LVL   error, warning, info or debug (overrides the config)\n"
		"  -V, --version         print the version and exit\n"
		"  -h, --help            print this help and exit\n"
		"\n"
		"  check -c FILE         load the config and its zones, print every problem,\n"
		"                        exit 1 on any error (nothing is started)\n"
		"  test SPEC...          run busted specs of Lua policies with moondns's LuaJIT\n"
		"                        and require('moon.test') (doc/lua-api.md)\n"
		"\n"
		"Signals: SIGHUP reloads the config; SIGTERM and SIGINT stop the server.\n");
}

/* Returns -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "c:vVh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			break;
		case 'v':
			o->level = MOON_LOG_DEBUG;
			o->level_set = true;
			break;
		case 'L':
			if (moon_log_level_parse(optarg, &o->level)) {
				fprintf(stderr, "moondns: bad log level '%s' (error, warning, "
					"info or debug)\n", optarg);
				return 2;
			}
			o->level_set = true;
			break;
		case 'V':
			printf("moondns %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "moondns: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	return -1;
}

static void print_diag(const struct moon_diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		fprintf(stderr, "%s\n", d->msgs[i]);
	if (d->dropped)
		fprintf(stderr, "... and %zu more\n", d->dropped);
}

static int load_conf(const char *path, struct moon_conf **conf, struct moon_diag *diag)
{
	if (path)
		return moon_conf_load_file(path, conf, diag);
	return moon_conf_load_string(moon_conf_default_yaml, EMBEDDED_NAME, conf, diag);
}

static size_t count_records(const struct moon_gen *gen)
{
	size_t n = 0;
	for (size_t b = 0; b < gen->n_blocks; b++)
		for (size_t z = 0; z < gen->blocks[b].n_zones; z++)
			if (gen->blocks[b].zones[z].zone)
				n += moon_zone_record_count(gen->blocks[b].zones[z].zone);
	return n;
}

static int run_check(const struct opts *o)
{
	if (!o->config) {
		fprintf(stderr, "moondns check: give the file to check with -c FILE\n");
		return 2;
	}
	moon_log_set_level(o->level_set ? o->level : MOON_LOG_WARN);
	struct moon_diag diag = { 0 };
	struct moon_conf *conf;
	struct moon_gen *gen = NULL;
	/* The same validation as a reload: what passes here reloads. */
	int ret = moon_reload_load(o->config, &conf, &diag);
	if (!ret)
		ret = moon_reload_validate(conf, NULL, NULL, 0, 1, &diag, &gen);
	int code = ret || moon_diag_count(&diag) ? 1 : 0;
	print_diag(&diag);
	if (code == 0)
		printf("%s: OK (%zu server block%s, %zu zone%s, %zu records)\n", o->config,
		       gen->n_blocks, gen->n_blocks == 1 ? "" : "s", gen->zones_loaded,
		       gen->zones_loaded == 1 ? "" : "s", count_records(gen));
	else
		fprintf(stderr, "%s: %zu error%s\n", o->config, moon_diag_count(&diag),
			moon_diag_count(&diag) == 1 ? "" : "s");
	moon_gen_release(gen);
	moon_diag_free(&diag);
	return code;
}

/* The one line a first-time user sees: what is served and how to try it. */
static void print_banner(const struct moon_gen *gen)
{
	const struct moon_conf_server *b = &gen->conf->servers[0];
	const struct moon_gen_listener *l = &gen->listeners[0];
	char addr[64];
	moon_net_addr_str((const struct sockaddr *)&l->addr, addr, sizeof(addr));
	char *colon = strrchr(addr, ':');
	const char *port = colon ? colon + 1 : "53";
	if (colon)
		*colon = 0;
	char host[64];
	snprintf(host, sizeof(host), "%s", addr[0] == '[' ? addr + 1 : addr);
	if (host[0] && host[strlen(host) - 1] == ']')
		host[strlen(host) - 1] = 0;
	const char *zone = b->n_zones ? b->zones[0] : ".";
	/* "www.lab.test" reads better without the final dot. */
	int zlen = (int)strlen(zone);
	if (zlen > 1 && zone[zlen - 1] == '.')
		zlen--;
	printf("moondns %s serving %s on %s:%s (udp+tcp) — try: dig @%s -p %s www.%.*s\n",
	       PACKAGE_VERSION, zone, addr, port, host, port, zlen, zone);
	fflush(stdout);
}

struct control {
	struct moon_server *srv;
	const char *config;
	struct moon_reload *reload;
	struct moon_ops *ops;
};

static void on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct control *ctl = w->data;
	/* With the HTTP endpoint on, the first signal starts lameduck. */
	if (moon_ops_stop_requested(ctl->ops))
		return;
	moon_info(SERVER, "signal %d: stopping", w->signum);
	ev_break(loop, EVBREAK_ALL);
}

static void on_reload(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct control *ctl = w->data;
	moon_reload_now(ctl->reload, "SIGHUP");
}

/* After binding: the `user` switch, then the reload driver (SIGHUP, file
 * watching). Returns 0, or 1 when the process must exit. */
static int after_start(struct ev_loop *loop, struct control *ctl, const struct opts *o)
{
	const struct moon_conf *conf = moon_server_current(ctl->srv)->conf;
	struct moon_diag diag = { 0 };
	struct moon_privdrop p;
	int ret = 0;
	if (conf->user && (moon_privdrop_resolve(conf->user, conf->path, &p, &diag) ||
			   moon_privdrop_apply(&p, &diag)))
		ret = -EPERM;
	struct moon_reload_opts ro = {
		.path = ctl->config, .watch = true,
		/* Without a file the level is the banner's, not the default's. */
		.log_level_fixed = o->level_set || !ctl->config,
		.done = moon_ops_reload_done, .done_arg = ctl->ops,
	};
	if (!ret)
		ret = moon_reload_new(loop, ctl->srv, &ro, &ctl->reload);
	for (size_t i = 0; i < diag.n; i++)
		moon_err(SERVER, "%s", diag.msgs[i]);
	moon_diag_free(&diag);
	return ret ? 1 : 0;
}

static void stop_ops(struct moon_ops *ops)
{
	moon_gen_set_ops(NULL);
	moon_ops_free(ops);
}

static int serve(const struct opts *o)
{
	const char *path = o->config;
	if (!path && access(SYSTEM_CONFIG, F_OK) == 0)
		path = SYSTEM_CONFIG;
	struct moon_diag diag = { 0 };
	struct moon_conf *conf;
	int ret = load_conf(path, &conf, &diag);
	if (ret) {
		print_diag(&diag);
		fprintf(stderr, "moondns: cannot load %s: %s\n", path ? path : EMBEDDED_NAME,
			moon_strerror(ret));
		moon_diag_free(&diag);
		return 1;
	}
	enum moon_log_level level = MOON_LOG_INFO;
	if (o->level_set)
		level = o->level;
	else if (!path)
		level = MOON_LOG_WARN;  /* the banner says it all */
	else if (conf->log_level)
		moon_log_level_parse(conf->log_level, &level);
	moon_log_set_level(level);

	/* Metrics and query log before the first generation, which builds its
	 * blocks' parts with them; the endpoint binds now (a port in use
	 * fails the start). */
	struct moon_ops *ops;
	if (moon_ops_start(conf, moon_server_worker_count(conf), PACKAGE_VERSION, &ops)) {
		moon_conf_free(conf);
		return 1;
	}
	moon_gen_set_ops(ops);
	struct moon_gen *gen;
	ret = moon_gen_new(conf, NULL, 0, moon_server_worker_count(conf), &diag, &gen);
	if (ret) {
		print_diag(&diag);
		moon_diag_free(&diag);
		stop_ops(ops);
		return 1;
	}
	if (gen->zones_failed) {
		moon_diag_log(&diag);
		moon_err(ZONE, "%zu zone%s not loaded: queries for %s get SERVFAIL",
			 gen->zones_failed, gen->zones_failed == 1 ? "" : "s",
			 gen->zones_failed == 1 ? "it" : "them");
	}
	moon_diag_free(&diag);

	struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
	signal(SIGPIPE, SIG_IGN);
	/* A shell starts background jobs with SIGINT ignored (nohup: SIGHUP),
	 * and libev's signalfd never sees an ignored signal. */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	struct moon_server *srv;
	ret = moon_server_start(gen, &diag, &srv);
	if (ret) {
		for (size_t i = 0; i < diag.n; i++)
			moon_err(SERVER, "%s", diag.msgs[i]);
		moon_diag_free(&diag);
		stop_ops(ops);
		return 1;
	}
	moon_ops_set_ready(ops, 1, gen->zones_failed ? "zones not loaded (see the log)" : NULL);
	moon_ops_publish(ops, moon_server_current(srv));
	if (!path)
		print_banner(gen);  /* still alive: the server holds it */
	moon_info(SERVER, "moondns %s started: %u worker%s, config %s", PACKAGE_VERSION,
		  moon_server_workers(srv), moon_server_workers(srv) == 1 ? "" : "s",
		  path ? path : EMBEDDED_NAME);

	struct control ctl = { .srv = srv, .config = path, .ops = ops };
	if (after_start(loop, &ctl, o)) {
		moon_server_stop(srv);
		stop_ops(ops);
		return 1;
	}
	ev_signal sigterm, sigint, sighup;
	ev_signal_init(&sigterm, on_stop, SIGTERM);
	ev_signal_init(&sigint, on_stop, SIGINT);
	ev_signal_init(&sighup, on_reload, SIGHUP);
	sighup.data = sigterm.data = sigint.data = &ctl;
	ev_signal_start(loop, &sigterm);
	ev_signal_start(loop, &sigint);
	ev_signal_start(loop, &sighup);
	struct moon_loopcheck *loopcheck = moon_loopcheck_new(loop, srv);
	moon_ops_attach(ops, loop);
	ev_run(loop, 0);

	moon_loopcheck_free(loopcheck);
	moon_reload_free(ctl.reload);
	moon_server_stop(srv);
	stop_ops(ops);  /* after the workers: the query log is written out */
	moon_info(SERVER, "stopped");
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	if (argc > 1 && strcmp(argv[1], "test") == 0)
		return moon_bridge_test_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "check") == 0) {
		o.check = true;
		argv[1] = argv[0];
		argc--;
		argv++;
	}
	int code = parse_args(argc, argv, &o);
	if (code >= 0)
		return code;
	if (o.level_set)
		moon_log_set_level(o.level);
	return o.check ? run_check(&o) : serve(&o);
}
