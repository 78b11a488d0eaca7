"""The answer cache in front of the forwarder (servers[].cache,
doc/forwarding.md), seen from outside: a scripted upstream (upstream.py)
counts what still reaches it. TTL countdown, DO/CD separation, RFC 2308
negative caching, SERVFAIL caching that never hides a good answer, prefetch,
serve-stale (RFC 8767), caches kept across reloads, and the byte cap under a
random-subdomain flood."""
import os
import signal
import socket
import time

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

import helpers as h
import upstream as u

PROBE = "ready.probe."


def config(port, up_port, cache, workers=1, **fwd):
    return {"workers": workers, "log": {"level": "debug"}, "servers": [{
        "name": "cached", "listen": [f"dns://127.0.0.1:{port}"], "zones": ["."],
        "forward": dict({"to": [f"127.0.0.1:{up_port}"], "max_fails": 0}, **fwd),
        "cache": cache}]}


def start(pool, up, cache, **kw):
    port = h.free_port()
    return pool.moondns(config(port, up.port, cache, **kw), port, probe_name=PROBE)


def a_records(r):
    return sorted(rd.to_text() for rs in r.answer if rs.rdtype == dns.rdatatype.A for rd in rs)


def eventually(cond, within=3.0):
    """Polls cond() until it holds or `within` seconds (scaled for slow
    builds) pass: background work is checked by its effect, not by timing."""
    deadline = time.monotonic() + within * h.SLOW
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


class Script:
    """A handler whose answer per name the test changes as it goes."""

    def __init__(self):
        self.addr = {}          # name -> address, or an rcode int
        self.ttl = {}

    def __call__(self, q, raw, transport):
        if q is None or not q.question:
            return []
        qs = q.question[0]
        name = qs.name.to_text().lower()
        what = self.addr.get(name, "192.0.2.1")
        ttl = self.ttl.get(name, 300)
        if isinstance(what, int):
            return [u.reply(q, rcode=what)]
        if what == "nxdomain":
            return [u.reply(q, rcode=dns.rcode.NXDOMAIN, authority=[
                f"{name.split('.', 1)[1]} {ttl} SOA ns. h. 1 3600 600 86400 10"])]
        if what == "drop":
            return []
        if qs.rdtype != dns.rdatatype.A:
            return [u.reply(q, authority=[f"{name} 60 SOA ns. h. 1 3600 600 86400 60"])]
        return [u.reply(q, answer=[f"{name} {ttl} A {what}"])]


@pytest.fixture
def script():
    s = Script()
    up = u.Upstream(handler=s)
    yield s, up
    up.stop()


def test_hit_counts_ttl_down(script, own_servers):
    s, up = script
    m = start(own_servers, up, "on")
    r1 = h.query(m.port, "ttl.cache.test.", rd=True)
    assert a_records(r1) == ["192.0.2.1"] and r1.answer[0].ttl == 300
    time.sleep(2.1)
    r2 = h.query(m.port, "TTL.Cache.Test.", rd=True, qid=777)
    assert a_records(r2) == ["192.0.2.1"]
    assert r2.answer[0].ttl <= 298, "TTL counted down by the entry's age"
    assert r2.id == 777 and r2.question[0].name.to_text() == "TTL.Cache.Test."
    assert up.count("ttl.cache.test.") == 1, "the second answer came from the cache"


def test_do_and_cd_are_separate_entries(script, own_servers):
    s, up = script
    m = start(own_servers, up, "on")
    name = "bits.cache.test."
    variants = [dict(), dict(do=True), dict(cd=True), dict(do=True, cd=True)]
    for i, kw in enumerate(variants):
        for _ in range(2):
            r = h.query(m.port, name, rd=True, **kw)
            assert a_records(r) == ["192.0.2.1"]
            assert (r.edns >= 0 and bool(r.ednsflags & dns.flags.DO)) == kw.get("do", False)
        assert up.count(name) == i + 1, f"one upstream query per (DO, CD) pair: {kw}"
    seen = up.queries(name)
    assert [(q.do, bool(q.flags & dns.flags.CD)) for q in seen] == \
        [(False, False), (True, False), (False, True), (True, True)]


def test_negative_answer_lives_by_the_soa(script, own_servers):
    s, up = script
    s.addr["nx.neg.test."] = "nxdomain"
    s.ttl["nx.neg.test."] = 30            # SOA TTL 30, MINIMUM 10: 10 s
    m = start(own_servers, up, {"denial": {"min_ttl": 0}})
    r = h.query(m.port, "nx.neg.test.", rd=True)
    assert r.rcode() == dns.rcode.NXDOMAIN
    time.sleep(1.1)
    r = h.query(m.port, "nx.neg.test.", rd=True)
    assert r.rcode() == dns.rcode.NXDOMAIN and up.count("nx.neg.test.") == 1
    soa = r.authority[0]
    assert soa.rdtype == dns.rdatatype.SOA and soa.ttl <= 9, \
        "lifetime min(SOA TTL, MINIMUM), counted down"


def test_servfail_is_cached_briefly(script, own_servers):
    s, up = script
    s.addr["sf.cache.test."] = dns.rcode.SERVFAIL
    m = start(own_servers, up, {"servfail_ttl": 1})
    for _ in range(3):
        assert h.query(m.port, "sf.cache.test.", rd=True).rcode() == dns.rcode.SERVFAIL
    assert up.count("sf.cache.test.") == 1
    time.sleep(1.2)
    s.addr["sf.cache.test."] = "192.0.2.9"
    assert a_records(h.query(m.port, "sf.cache.test.", rd=True)) == ["192.0.2.9"]


def test_prefetch_refreshes_and_servfail_never_shadows(script, own_servers):
    s, up = script
    s.ttl["pf.cache.test."] = 4
    m = start(own_servers, up, {"success": {"min_ttl": 1},
                                "prefetch": {"hits": 1, "percent": 90}})
    assert a_records(h.query(m.port, "pf.cache.test.", rd=True)) == ["192.0.2.1"]
    time.sleep(0.6)
    s.addr["pf.cache.test."] = "192.0.2.2"
    r = h.query(m.port, "pf.cache.test.", rd=True)
    assert a_records(r) == ["192.0.2.1"], "the hit is served at once"
    assert eventually(lambda: up.count("pf.cache.test.") == 2), \
        "one refresh went upstream in the background"
    time.sleep(0.1)
    assert up.count("pf.cache.test.") == 2, "and only one"
    r = h.query(m.port, "pf.cache.test.", rd=True)
    assert a_records(r) == ["192.0.2.2"] and r.answer[0].ttl >= 3, "refreshed entry"
    # Now the refresh fails: the good answer stays.
    s.addr["pf.cache.test."] = dns.rcode.SERVFAIL
    time.sleep(0.6)
    for _ in range(3):
        r = h.query(m.port, "pf.cache.test.", rd=True)
        assert r.rcode() == dns.rcode.NOERROR and a_records(r) == ["192.0.2.2"]
        time.sleep(0.1)
    assert eventually(lambda: up.count("pf.cache.test.") == 3), \
        "one more refresh, which got SERVFAIL"


def test_serve_stale_when_upstream_stops(script, own_servers):
    s, up = script
    s.ttl["st.cache.test."] = 1
    m = start(own_servers, up, {"success": {"min_ttl": 0},
                                "serve_stale": {"answer_ttl": 7, "max_stale": 60}},
              timeout=h.Plain("3s"))
    assert a_records(h.query(m.port, "st.cache.test.", rd=True)) == ["192.0.2.1"]
    s.addr["st.cache.test."] = "192.0.2.3"
    time.sleep(1.2)
    r = h.query(m.port, "st.cache.test.", rd=True)
    assert a_records(r) == ["192.0.2.3"], "expired: asked again while the upstream works"
    s.ttl["st.cache.test."] = 1
    time.sleep(1.2)
    up.stop()
    t0 = time.monotonic()
    r = h.query(m.port, "st.cache.test.", rd=True, timeout=5)
    assert r is not None and r.rcode() == dns.rcode.NOERROR
    assert a_records(r) == ["192.0.2.3"] and r.answer[0].ttl == 7, "stale, with the stale TTL"
    assert time.monotonic() - t0 < 2.0 * h.SLOW, \
        "a refused upstream fails without waiting for the 3 s forward timeout"
    r = h.query(m.port, "st.cache.test.", rd=True, timeout=5)
    assert a_records(r) == ["192.0.2.3"]
    r = h.query(m.port, "never.cache.test.", rd=True, timeout=5)
    assert r.rcode() == dns.rcode.SERVFAIL, "nothing stale to serve"


def test_serve_stale_after_timeout(script, own_servers):
    s, up = script
    s.ttl["to.cache.test."] = 1
    m = start(own_servers, up, {"success": {"min_ttl": 0}, "serve_stale": "on"},
              timeout=h.Plain("500ms"))
    assert a_records(h.query(m.port, "to.cache.test.", rd=True)) == ["192.0.2.1"]
    s.addr["to.cache.test."] = "drop"
    time.sleep(1.2)
    t0 = time.monotonic()
    r = h.query(m.port, "to.cache.test.", rd=True, timeout=3)
    took = time.monotonic() - t0
    assert a_records(r) == ["192.0.2.1"] and r.answer[0].ttl == 30, "default stale TTL"
    assert 0.4 < took < 1.5 * h.SLOW, "after the forward timeout"


def test_cache_survives_a_reload_that_keeps_it(script, own_servers):
    s, up = script
    m = start(own_servers, up, {"capacity": h.Plain("8M")})
    assert a_records(h.query(m.port, "rl.cache.test.", rd=True)) == ["192.0.2.1"]

    def reload(text):
        with open(m.config_path, "w") as f:
            f.write(text)
        before = m.stderr().count("in service")
        os.kill(m.pid, signal.SIGHUP)
        deadline = time.monotonic() + 5 * h.SLOW
        while m.stderr().count("in service") == before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert m.stderr().count("in service") > before, m.stderr()
    text = open(m.config_path).read()
    reload(text + "\n# touched\n")
    assert a_records(h.query(m.port, "rl.cache.test.", rd=True)) == ["192.0.2.1"]
    assert up.count("rl.cache.test.") == 1, "same cache and forward sections: kept"
    reload(text.replace("8M", "16M"))
    assert a_records(h.query(m.port, "rl.cache.test.", rd=True)) == ["192.0.2.1"]
    assert up.count("rl.cache.test.") == 2, "a changed cache section starts empty"


FLOOD_ZONE = """\
$ORIGIN flood.test.
$TTL 3600
@   IN SOA ns1 hostmaster 1 3600 600 604800 3600
@   IN NS  ns1
ns1 IN A   127.0.0.1
*   IN A   192.0.2.77
"""


def flood(sock, n, tag, budget):
    """Sends n queries for random names below tag.flood.test. (100 in flight),
    raw-built so that the client is not the bottleneck; returns the answers."""
    got = sent = 0
    end = time.monotonic() + budget
    tail = h.wire_name(f"{tag}.flood.test.") + b"\0\1\0\1"
    opt = h.raw_opt()
    while got < n and time.monotonic() < end:
        while sent < n and sent - got < 100:
            label = os.urandom(8).hex().encode()
            sock.send(h.raw_header(qid=sent & 0xffff, flags=0x0100, ar=1) +
                      bytes([len(label)]) + label + tail + opt)
            sent += 1
        try:
            sock.recv(4096)
            got += 1
        except socket.timeout:
            sent = got
    return got


def test_byte_cap_holds_under_a_flood(own_servers, tmp_path):
    """Random subdomains (knotd's wildcard answers each once): the cache must
    stay within its capacity, RSS growing by at most the cap plus a fixed
    overhead, where uncapped the entries would take several times more."""
    if h.SLOW > 1:
        pytest.skip("a sanitizer build quarantines freed memory: RSS says nothing here")
    zone = tmp_path / "flood.test.zone"
    zone.write_text(FLOOD_ZONE)
    knot = own_servers.knotd(h.free_port(), [("flood.test.", str(zone))])
    cap_mb = 2
    port = h.free_port()
    m = own_servers.moondns(config(port, knot.port, {"capacity": h.Plain(f"{cap_mb}M")},
                                   workers=2), port, probe_name="flood.test.")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.connect(("127.0.0.1", m.port))
    s.settimeout(1.0 * h.SLOW)
    flood(s, 5000, "warm", 5)            # worker buffers, sockets, arenas in use
    before = m.rss_kb()
    got = flood(s, 50000, "big", 15)
    after = m.rss_kb()
    s.close()
    assert got > 30000, f"only {got} answers"
    grown = (after - before) / 1024
    print(f"{got} answers, RSS {before / 1024:.1f} -> {after / 1024:.1f} MiB")
    assert grown < cap_mb + 4, f"RSS grew by {grown:.1f} MiB for a {cap_mb} MiB cache"
    r = h.query(m.port, "alive.flood.test.", rd=True)
    assert r.rcode() == dns.rcode.NOERROR and a_records(r) == ["192.0.2.77"]
