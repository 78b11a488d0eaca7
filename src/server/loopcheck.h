/*
 * The forwarding-loop probe (`forward.loop_check`), like CoreDNS's `loop`:
 * for each block that asks for it, the control thread sends one query
 * (HINFO for a random name below a zone the block forwards) to the block's
 * own listener and waits for the reply. The workers show every query of the
 * block to the probe (server/sources.c); when the probe arrives a second
 * time, the upstreams sent it back to us: the worker logs the loop and the
 * block stops forwarding (SERVFAIL) until a reload builds it anew. A reply,
 * or no reply within the forward timeout plus a second, ends the probe.
 *
 * Every generation put in service is probed, the first one and each one a
 * reload swaps in: the checker watches the server's current generation from
 * a prepare watcher on the control loop (it does not keep the loop alive).
 *
 * Threads: control thread only. A probe holds a reference to its
 * generation until it ends; moon_loopcheck_free ends them all.
 */
#ifndef MOON_SERVER_LOOPCHECK_H
#define MOON_SERVER_LOOPCHECK_H

struct ev_loop;
struct moon_server;
struct moon_loopcheck;

/* Starts checking srv's generations on loop (right after the server
 * started). Returns NULL when out of memory (then nothing is checked, which
 * is logged). */
struct moon_loopcheck *moon_loopcheck_new(struct ev_loop *loop, struct moon_server *srv);
/* Ends the probes in flight and frees lc (before the server stops). NULL
 * is fine. */
void moon_loopcheck_free(struct moon_loopcheck *lc);

#endif
