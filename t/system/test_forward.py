"""Forwarding (servers[].forward, doc/forwarding.md) against real peers:
knotd and another moondns as upstreams, a resolv.conf file, and scripted
Python upstreams (upstream.py) that misbehave on purpose, each proving one
rule of fwd/fwd.h: timeouts, wrong IDs, a question in another case, TC
answered over TCP, SERVFAIL/REFUSED failover, garbage, max_concurrent,
except, the loop probe, and the randomness of IDs and source ports."""
import os
import re
import shutil
import socket
import threading
import time

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

import helpers as h
import upstream as u

ZONE = """\
$ORIGIN fwd.test.
$TTL 300
@       IN SOA  ns1 hostmaster 1 3600 600 604800 60
@       IN NS   ns1
ns1     IN A    127.0.0.1
www     IN A    192.0.2.1
www     IN AAAA 2001:db8::1
alias   IN CNAME www
mail    IN MX   10 www
"""

PROBE = "ready.probe."


def silent(q, raw, transport):
    """Answers only the start-up probe."""
    if q is not None and q.question and q.question[0].name.to_text() == PROBE:
        return [u.reply(q)]
    return []


def fwd_config(port, to, name="fwd", cache=None, zones=(".",), workers=1, **fwd):
    server = {"name": name, "listen": [f"dns://127.0.0.1:{port}"], "zones": list(zones),
              "forward": dict({"to": list(to)}, **fwd)}
    if cache is not None:
        server["cache"] = cache
    return {"workers": workers, "log": {"level": "debug"}, "servers": [server]}


def start_fwd(pool, to, **kw):
    port = h.free_port()
    return pool.moondns(fwd_config(port, to, **kw), port, probe_name=PROBE)


def rdatas(r, rtype="A"):
    t = dns.rdatatype.from_text(rtype)
    return sorted(rd.to_text() for rs in r.answer if rs.rdtype == t for rd in rs)


@pytest.fixture(scope="module")
def knot(servers, tmp_path_factory):
    d = tmp_path_factory.mktemp("zones")
    path = os.path.join(str(d), "fwd.test.zone")
    with open(path, "w") as f:
        f.write(ZONE)
    return servers.knotd(h.free_port(), [("fwd.test.", path)])


# ---------------------------------------------------------------- real peers

def test_knotd_upstream_udp_and_tcp(knot, own_servers):
    m = start_fwd(own_servers, [f"127.0.0.1:{knot.port}"])
    for tcp in (False, True):
        q = h.make_query("WwW.Fwd.TEST.", "A", rd=True, qid=0x4242)
        r = h.exchange(q, m.port, tcp=tcp)
        assert r is not None and r.rcode() == dns.rcode.NOERROR
        assert r.id == 0x4242
        assert r.question[0].name.to_text() == "WwW.Fwd.TEST.", "question case kept"
        assert rdatas(r) == ["192.0.2.1"]
        assert r.flags & dns.flags.RD
        assert r.edns < 0, "no OPT for a client without EDNS"
    direct = h.query(knot.port, "alias.fwd.test.", "A", rd=True, edns=0)
    via = h.query(m.port, "alias.fwd.test.", "A", rd=True, edns=0)
    assert via.edns == 0 and h.compare(direct, via) == []


def test_moondns_upstream(own_servers):
    up_port = h.free_port()
    upc = h.moon_config(up_port, [{"origin": "up.test.", "inline":
                                   "@ 300 IN SOA ns1 h 1 3600 600 604800 60\n"
                                   "@ 300 IN NS ns1\nns1 300 IN A 127.0.0.1\n"
                                   "www 300 IN A 192.0.2.7\n"}])
    up = own_servers.moondns(upc, up_port, name="upstream-moondns", probe_name="up.test.")
    m = start_fwd(own_servers, [f"dns://127.0.0.1:{up.port}"])
    r = h.query(m.port, "www.up.test.", rd=True)
    assert r.rcode() == dns.rcode.NOERROR and rdatas(r) == ["192.0.2.7"]
    r = h.query(m.port, "nx.up.test.", rd=True, edns=0)
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert [rs.rdtype for rs in r.authority] == [dns.rdatatype.SOA]
    r = h.query(m.port, "elsewhere.example.", rd=True)
    assert r.rcode() == dns.rcode.REFUSED, "the upstream's REFUSED is passed on"


def test_resolv_conf_file(own_servers, tmp_path):
    """A resolv.conf names its servers without a port: they are on 53. The
    upstream takes port 53 of a loopback address of its own."""
    addr = "127.0.53.%d" % (os.getpid() % 200 + 20)
    try:
        up = u.Upstream(port=53, addr=addr, handler=u.answer_a("192.0.2.53"))
    except OSError as e:
        pytest.skip(f"cannot bind {addr}:53: {e}")
    try:
        conf = tmp_path / "resolv.conf"
        conf.write_text(f"# written by the test\nsearch example\nnameserver {addr}\n"
                        "options ndots:1\n")
        m = start_fwd(own_servers, [str(conf)])
        r = h.query(m.port, "host.example.", rd=True)
        assert r.rcode() == dns.rcode.NOERROR and rdatas(r) == ["192.0.2.53"]
        assert up.count("host.example.") == 1
    finally:
        up.stop()


def test_failover_when_first_upstream_is_down(knot, own_servers):
    down = h.free_port()      # nobody listens: ICMP port unreachable
    m = start_fwd(own_servers, [f"127.0.0.1:{down}", f"127.0.0.1:{knot.port}"],
                  policy="sequential")
    for i in range(5):
        t0 = time.monotonic()
        r = h.query(m.port, "www.fwd.test.", rd=True, timeout=3)
        assert r is not None and rdatas(r) == ["192.0.2.1"], i
        assert time.monotonic() - t0 < 1.0 * h.SLOW, "a refused port moves on at once"


def test_force_tcp(own_servers):
    up = u.Upstream()
    try:
        m = start_fwd(own_servers, [f"127.0.0.1:{up.port}"], force_tcp=True)
        up.clear()
        for i in range(3):
            assert rdatas(h.query(m.port, f"t{i}.tcp.test.", rd=True)) == ["192.0.2.1"]
        seen = up.queries()
        assert seen and {s.transport for s in seen} == {"tcp"}
    finally:
        up.stop()


def test_except_and_from(own_servers):
    up = u.Upstream()
    try:
        m = start_fwd(own_servers, [f"127.0.0.1:{up.port}"], zones=[".", "local.test."],
                      **{"except": ["private.test."]})
        assert h.query(m.port, "a.private.test.", rd=True).rcode() == dns.rcode.REFUSED
        assert h.query(m.port, "private.test.", rd=True).rcode() == dns.rcode.REFUSED
        assert rdatas(h.query(m.port, "public.test.", rd=True)) == ["192.0.2.1"]
        assert up.count("a.private.test.") == 0 and up.count("private.test.") == 0
    finally:
        up.stop()
    port = h.free_port()
    up = u.Upstream()
    try:
        m = own_servers.moondns(fwd_config(port, [f"127.0.0.1:{up.port}"],
                                           zones=[".", "corp.test."], **{"from": "corp.test."}),
                                port, probe_name="x.corp.test.")
        assert rdatas(h.query(m.port, "x.corp.test.", rd=True)) == ["192.0.2.1"]
        assert h.query(m.port, "other.test.", rd=True).rcode() == dns.rcode.REFUSED
    finally:
        up.stop()


# ---------------------------------------------------------------- scripted misbehaviour

def misbehaving(q, raw, transport):
    """One upstream, a rule per name."""
    if q is None or not q.question:
        return []
    name = q.question[0].name.to_text().lower()
    good = u.reply(q, answer=[f"{q.question[0].name} 300 A 192.0.2.1"])
    if name.startswith("wrongid."):
        bad = bytearray(u.reply(q, answer=[f"{q.question[0].name} 300 A 192.0.2.66"]))
        bad[0] ^= 0x55
        return [bytes(bad), 0.05, good]
    if name.startswith("wrongcase."):
        bad = bytearray(u.reply(q, answer=[f"{q.question[0].name} 300 A 192.0.2.66"]))
        end = 12 + len(q.question[0].name.to_wire())
        bad[12:end] = bytes(bad[12:end]).upper()
        return [bytes(bad), 0.05, good]
    if name.startswith("garbage."):
        return [b"\x00", os.urandom(40), raw[:2] + b"\x81\x80" + os.urandom(30), 0.05, good]
    if name.startswith("query-echo."):
        return [raw, 0.05, good]      # QR=0: not a reply
    if name.startswith("trunc."):
        if transport == "udp":
            return [u.reply(q, tc=True)]
        return [u.reply(q, answer=[f"{q.question[0].name} 300 TXT \"{'x' * 200}\""] * 1 +
                        [f"{q.question[0].name} 300 A 192.0.2.1"])]
    if name.startswith("big."):
        txt = [f'{q.question[0].name} 300 TXT "{c * 250}"' for c in "abcdefgh"]
        return [u.reply(q, answer=txt)]
    if name.startswith("slow."):
        return [0.3, good]
    return [good]


@pytest.fixture(scope="module")
def scripted(servers):
    up = u.Upstream(handler=misbehaving)
    port = h.free_port()
    m = servers.moondns(fwd_config(port, [f"127.0.0.1:{up.port}"], max_fails=0), port,
                        probe_name=PROBE, name="moondns-scripted")
    yield m, up
    up.stop()


@pytest.mark.parametrize("prefix", ["wrongid", "wrongcase", "garbage", "query-echo"])
def test_bad_replies_are_ignored(scripted, prefix):
    m, up = scripted
    r = h.query(m.port, f"{prefix}.rules.test.", rd=True)
    assert r is not None and r.rcode() == dns.rcode.NOERROR
    assert rdatas(r) == ["192.0.2.1"], "only the reply that matches counts"
    assert up.count(f"{prefix}.rules.test.") == 1, "no retry was needed"


def test_truncated_udp_reply_is_retried_over_tcp(scripted):
    m, up = scripted
    r = h.query(m.port, "trunc.rules.test.", "A", rd=True)
    assert r.rcode() == dns.rcode.NOERROR and "192.0.2.1" in rdatas(r)
    assert [s.transport for s in up.queries("trunc.rules.test.")] == ["udp", "tcp"]


def test_big_reply_fits_the_client(scripted):
    m, up = scripted
    raw = h.udp_raw(h.make_query("big.rules.test.", "TXT", rd=True).to_wire(), m.port)
    r = dns.message.from_wire(raw)
    assert len(raw) <= 512 and r.flags & dns.flags.TC and not r.answer
    assert r.question[0].name.to_text() == "big.rules.test."
    r = h.query(m.port, "big.rules.test.", "TXT", rd=True, edns=0, payload=4096)
    assert r.flags & dns.flags.TC and r.edns == 0 and r.payload == 1232, "ours caps it"
    r = h.query(m.port, "big.rules.test.", "TXT", rd=True, tcp=True)
    assert not r.flags & dns.flags.TC and len(r.answer[0]) == 8


def test_do_bit_goes_upstream_and_back(scripted):
    m, up = scripted
    r = h.query(m.port, "do.rules.test.", rd=True, do=True)
    assert r.edns == 0 and r.ednsflags & dns.flags.DO
    seen = up.queries("do.rules.test.")
    assert seen and seen[-1].do and seen[-1].flags & dns.flags.RD


def test_timeout_moves_on_to_the_next_upstream(own_servers):
    quiet = u.Upstream(handler=silent)
    good = u.Upstream()
    try:
        m = start_fwd(own_servers, [f"127.0.0.1:{quiet.port}", f"127.0.0.1:{good.port}"],
                      policy="sequential", try_timeout=h.Plain("200ms"), max_fails=0)
        t0 = time.monotonic()
        r = h.query(m.port, "late.test.", rd=True, timeout=3)
        took = time.monotonic() - t0
        assert r is not None and rdatas(r) == ["192.0.2.1"]
        assert quiet.count("late.test.") == 1 and good.count("late.test.") == 1
        assert 0.15 < took < 1.5 * h.SLOW, took
    finally:
        quiet.stop()
        good.stop()


def test_deadline_gives_servfail(own_servers):
    quiet = u.Upstream(handler=silent)
    try:
        m = start_fwd(own_servers, [f"127.0.0.1:{quiet.port}"], timeout=h.Plain("500ms"),
                      try_timeout=h.Plain("200ms"))
        t0 = time.monotonic()
        r = h.query(m.port, "never.test.", rd=True, timeout=3)
        assert r is not None and r.rcode() == dns.rcode.SERVFAIL
        assert 0.4 < time.monotonic() - t0 < 1.5 * h.SLOW
    finally:
        quiet.stop()


def rcode_upstream(rcode):
    return u.Upstream(handler=lambda q, raw, t: [u.reply(q, rcode=rcode)] if q is not None else [])


def test_servfail_refused_failover(own_servers):
    sf, rf, good = rcode_upstream(dns.rcode.SERVFAIL), rcode_upstream(dns.rcode.REFUSED), \
        u.Upstream()
    try:
        to = [f"127.0.0.1:{sf.port}", f"127.0.0.1:{rf.port}", f"127.0.0.1:{good.port}"]
        m = start_fwd(own_servers, to, policy="sequential", failover=["SERVFAIL", "REFUSED"])
        r = h.query(m.port, "fo.test.", rd=True)
        assert rdatas(r) == ["192.0.2.1"]
        assert (sf.count("fo.test."), rf.count("fo.test."), good.count("fo.test.")) == (1, 1, 1)
        m2 = start_fwd(own_servers, to[:2], policy="sequential",
                       failover=["SERVFAIL", "REFUSED"])
        r = h.query(m2.port, "fo2.test.", rd=True)
        assert r.rcode() in (dns.rcode.SERVFAIL, dns.rcode.REFUSED), "the last failover reply"
        m3 = start_fwd(own_servers, to, policy="sequential")
        r = h.query(m3.port, "fo3.test.", rd=True)
        assert r.rcode() == dns.rcode.SERVFAIL, "without failover the first reply is answered"
        assert good.count("fo3.test.") == 0
    finally:
        for x in (sf, rf, good):
            x.stop()


def test_max_concurrent_refuses(own_servers):
    slow = u.Upstream(handler=lambda q, raw, t: [0.4, u.reply(q, answer=[
        f"{q.question[0].name} 300 A 192.0.2.1"])] if q is not None else [])
    try:
        m = start_fwd(own_servers, [f"127.0.0.1:{slow.port}"], max_concurrent=2)
        results = {}

        def ask(i):
            results[i] = h.query(m.port, f"c{i}.test.", rd=True, timeout=3)
        ts = [threading.Thread(target=ask, args=(i,)) for i in range(6)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        codes = [results[i].rcode() for i in range(6)]
        assert codes.count(dns.rcode.NOERROR) >= 2
        assert codes.count(dns.rcode.REFUSED) >= 1, codes
    finally:
        slow.stop()


# ---------------------------------------------------------------- randomness

def test_id_and_port_entropy(own_servers):
    """RFC 5452: 2,000 forwarded queries, seen by the upstream, must carry
    (almost) all different IDs and come from ports spread over 1024-65535."""
    up = u.Upstream(tcp=False)
    try:
        # One worker: its IDs never repeat among its last 4096 queries (two
        # workers would each draw theirs, and collide by chance).
        m = start_fwd(own_servers, [f"127.0.0.1:{up.port}"], workers=1)
        up.clear()
        n = 2000
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        s.connect(("127.0.0.1", m.port))
        s.settimeout(2 * h.SLOW)
        got, sent = 0, 0
        deadline = time.monotonic() + 20 * h.SLOW
        while got < n and time.monotonic() < deadline:
            while sent < n and sent - got < 64:
                s.send(h.make_query(f"e{sent}.entropy.test.", "A", rd=True,
                                    qid=sent & 0xffff).to_wire())
                sent += 1
            try:
                s.recv(4096)
                got += 1
            except socket.timeout:
                break
        s.close()
        seen = [q for q in up.queries() if (q.qname or "").endswith("entropy.test.")]
        assert len(seen) >= n * 0.99, (len(seen), got)
        ids = {q.qid for q in seen}
        ports = [q.sport for q in seen]
        assert len(ids) >= 1990 * len(seen) // n, f"{len(ids)} distinct IDs of {len(seen)}"
        assert len(set(ports)) >= 0.95 * len(seen), "a fresh port per query"
        assert min(ports) >= 1024
        buckets = [0] * 16
        for p in ports:
            buckets[(p - 1024) * 16 // (65536 - 1024)] += 1
        expect = len(ports) / 16
        assert min(buckets) > expect * 0.5 and max(buckets) < expect * 1.5, buckets
    finally:
        up.stop()


# ---------------------------------------------------------------- loops

def test_own_listener_is_never_an_upstream(own_servers):
    port = h.free_port()
    m = own_servers.moondns(fwd_config(port, [f"127.0.0.1:{port}"]), port, probe_name=PROBE)
    r = h.query(port, "self.test.", rd=True)
    assert r.rcode() == dns.rcode.SERVFAIL
    assert re.search(r"127\.0\.0\.1:%d is one of our own listeners" % port, m.stderr())


def test_loop_check_detects_a_loop(own_servers):
    pa, pb = h.free_port(), h.free_port()
    b = own_servers.moondns(fwd_config(pb, [f"127.0.0.1:{pa}"], name="b", timeout=h.Plain("1s")),
                            pb, name="moondns-b", probe_name=PROBE)
    a = own_servers.moondns(fwd_config(pa, [f"127.0.0.1:{pb}"], name="a", loop_check=True,
                                       timeout=h.Plain("1s")), pa, name="moondns-a",
                            probe_name=PROBE)
    deadline = time.monotonic() + 5 * h.SLOW
    while "forwarding loop detected" not in a.stderr() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = a.stderr()
    assert re.search(r"servers\.a: forwarding loop detected: the probe query '[0-9a-f]{16}\."
                     r"[0-9a-f]{16}\. HINFO' came back .* forwarded to dns://127\.0\.0\.1:%d"
                     % pb, log), log
    r = h.query(pa, "www.example.", rd=True, timeout=3)
    assert r.rcode() == dns.rcode.SERVFAIL, "forwarding is off for the block"
    assert b.alive()


def test_loop_check_passes_without_a_loop(knot, own_servers):
    m = start_fwd(own_servers, [f"127.0.0.1:{knot.port}"], zones=["fwd.test."],
                  loop_check=True)
    deadline = time.monotonic() + 5 * h.SLOW
    while "loop check" not in m.stderr() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "servers.fwd: loop check passed" in m.stderr()
    assert rdatas(h.query(m.port, "www.fwd.test.", rd=True)) == ["192.0.2.1"]


# ---------------------------------------------------------------- the example

def test_forwarder_example(knot, own_servers, tmp_path):
    """examples/forwarder.yaml with its upstream (127.0.0.1:5301 there) replaced
    by knotd, and a free listen port."""
    src = os.path.join(h.EXAMPLES, "forwarder.yaml")
    shutil.copytree(h.EXAMPLES, tmp_path / "examples")
    path = tmp_path / "examples" / "forwarder.yaml"
    text = open(src).read()
    port = h.free_port()
    text = text.replace("127.0.0.1:5301", f"127.0.0.1:{knot.port}")
    text = re.sub(r"dns://127\.0\.0\.1:\d+", f"dns://127.0.0.1:{port}", text)
    path.write_text(text)
    m = own_servers.moondns(None, port, config_path=str(path), probe_name="router.home.arpa.")
    assert rdatas(h.query(port, "www.fwd.test.", rd=True)) == ["192.0.2.1"]
    r = h.query(port, "www.fwd.test.", rd=True)
    assert r.answer[0].ttl <= 300
    assert rdatas(h.query(port, "router.home.arpa.", rd=True)) == ["192.168.1.1"]
