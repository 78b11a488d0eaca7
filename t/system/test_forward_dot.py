"""Forwarding over DNS over TLS, end to end: moondns A forwards to moondns B's
tls:// listener (a certificate for UPNAME issued by a test CA), through a
TCP relay owned by the test. The relay records the first byte every
connection sends (0x16 = a TLS handshake record; a clear-text DNS query
would start with its length) and a UDP socket on the relay's port records
any datagram, so a fall back to clear text is seen. Closing the relay cuts
the upstream off, which proves an answer came from A's cache.

Also: a certificate for another name and an unknown CA give SERVFAIL and
nothing in clear text; the two-block cluster shape (cluster.local. from a
zone, the rest over DoT and cached); and examples/hardened-cluster.yaml run
against B.
"""
import re
import shutil
import socket
import threading
import time

import dns.flags
import dns.rcode
import dns.rdatatype
import pytest

import helpers as h
from test_dot import make_ca, make_cert

UPNAME = "upstream.dot.test"
UPZONE = """\
$TTL 300
@    IN SOA ns1 hostmaster 1 3600 600 604800 60
@    IN NS  ns1
ns1  IN A   127.0.0.1
www  IN A   192.0.2.7
"""
CLUSTER = """\
$TTL 30
@                      SOA ns.dns hostmaster 1 7200 1800 86400 30
                       NS  ns.dns
ns.dns                 A   10.96.0.10
kubernetes.default.svc A   10.96.0.1
"""
TLS_HANDSHAKE = 0x16


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("pki"))
    ca = make_ca(d)
    other = str(tmp_path_factory.mktemp("pki-other"))
    return {"ca": ca[1], "other_ca": make_ca(other)[1],
            "up": make_cert(d, "up", UPNAME, ca, 4001, san=f"DNS:{UPNAME}")}


@pytest.fixture(scope="module")
def upstream(servers, pki):
    """moondns B: up.test. on plain DNS (for the start-up probe) and on DoT."""
    port, tport = h.free_port(), h.free_port()
    conf = h.moon_config(port, [{"origin": "up.test.", "inline": UPZONE}], name="up")
    conf["servers"][0]["listen"].append(f"tls://127.0.0.1:{tport}")
    conf["servers"][0]["tls"] = {"cert": pki["up"][1], "key": pki["up"][0]}
    b = servers.moondns(conf, port, name="moondns-B", probe_name="up.test.")
    h.Daemon.wait_ready(b, h.probe_tcp(tport))
    b.tport = tport
    return b


class Relay:
    """TCP relay 127.0.0.1:port -> 127.0.0.1:target, plus a UDP socket on
    the same port. Records the first byte of every relayed connection and
    every datagram."""

    def __init__(self, target):
        self.target = target
        self.first = []
        self.datagrams = []
        self.socks = []
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.port = h.free_port()
        self.lsock = socket.create_server(("127.0.0.1", self.port))
        self.lsock.settimeout(0.1)
        self.usock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.usock.bind(("127.0.0.1", self.port))
        self.usock.settimeout(0.1)
        for fn in (self._accept, self._udp):
            threading.Thread(target=fn, daemon=True).start()

    def _udp(self):
        while not self.stopped.is_set():
            try:
                self.datagrams.append(self.usock.recvfrom(65535)[0])
            except (socket.timeout, OSError):
                pass

    def _accept(self):
        while not self.stopped.is_set():
            try:
                c, _ = self.lsock.accept()
            except (socket.timeout, OSError):
                continue
            c.settimeout(None)
            try:
                s = socket.create_connection(("127.0.0.1", self.target), timeout=2)
                s.settimeout(None)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.socks += [c, s]
            threading.Thread(target=self._pump, args=(c, s, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(s, c, False), daemon=True).start()

    def _pump(self, src, dst, record):
        try:
            while True:
                data = src.recv(65535)
                if not data:
                    break
                if record:
                    self.first.append(data[0])
                    record = False
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        """Cuts the upstream off: no new connection, open ones reset."""
        self.stopped.set()
        self.lsock.close()
        self.usock.close()
        with self.lock:
            for s in self.socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def assert_tls_only(self):
        assert self.datagrams == [], f"UDP sent to the DoT upstream: {self.datagrams}"
        assert self.first, "the forwarder never connected to its DoT upstream"
        assert all(b == TLS_HANDSHAKE for b in self.first), \
            f"clear text sent on the DoT port: first bytes {self.first}"


@pytest.fixture
def relay(upstream):
    r = Relay(upstream.tport)
    yield r
    r.close()


def external_block(port, relay, servername, ca):
    return {"name": "external", "listen": [f"dns://127.0.0.1:{port}"], "zones": ["."],
            "forward": {"to": [f"tls://127.0.0.1:{relay.port}"], "tls_servername": servername,
                        "tls_ca": ca, "timeout": h.Plain("2s")},
            "cache": {"capacity": h.Plain("1M")}}


def start_a(pool, blocks, port, probe="up.test."):
    conf = {"workers": 1, "log": {"level": "debug"}, "servers": blocks}
    return pool.moondns(conf, port, name="moondns-A", probe_name=probe)


def answer_a(r):
    return sorted(rd.to_text() for rs in r.answer if rs.rdtype == dns.rdatatype.A for rd in rs)


def check_forwarded_then_cached(port, relay):
    """www.up.test. comes from B over DoT, then from the cache: its TTL
    counts down, and it is still answered once B is unreachable."""
    r = h.query(port, "www.up.test.", rd=True)
    assert r is not None and r.rcode() == dns.rcode.NOERROR
    assert answer_a(r) == ["192.0.2.7"]
    assert r.answer[0].ttl == 300, "B's own TTL on the first (forwarded) answer"
    time.sleep(1.1)
    r = h.query(port, "www.up.test.", rd=True)
    assert answer_a(r) == ["192.0.2.7"]
    assert r.answer[0].ttl < 300, "a cache hit counts the TTL down"
    relay.assert_tls_only()
    relay.close()
    r = h.query(port, "www.up.test.", rd=True)
    assert r.rcode() == dns.rcode.NOERROR and answer_a(r) == ["192.0.2.7"], "from the cache"
    r = h.query(port, "ns1.up.test.", rd=True, timeout=4)
    assert r.rcode() == dns.rcode.SERVFAIL, "uncached name: the upstream is really cut off"


def test_forward_over_dot_and_cache(upstream, relay, pki, own_servers):
    port = h.free_port()
    start_a(own_servers, [external_block(port, relay, UPNAME, pki["ca"])], port)
    check_forwarded_then_cached(port, relay)


@pytest.mark.parametrize("case", ["wrong_servername", "untrusted_ca"])
def test_bad_certificate_servfail_without_fallback(case, upstream, relay, pki, own_servers):
    servername, ca = ((("wrong.dot.test", pki["ca"]) if case == "wrong_servername"
                       else (UPNAME, pki["other_ca"])))
    port = h.free_port()
    a = start_a(own_servers, [external_block(port, relay, servername, ca)], port)
    for tcp in (False, True):
        r = h.query(port, "www.up.test.", rd=True, tcp=tcp, timeout=4)
        assert r is not None and r.rcode() == dns.rcode.SERVFAIL
        assert r.answer == []
    time.sleep(0.5)  # a late clear-text retry would show up here
    relay.assert_tls_only()
    assert re.search(rf"TLS handshake with tls://127\.0\.0\.1:{relay.port}#{servername} failed",
                     a.stderr()), "SERVFAIL because the certificate was refused"


def test_cluster_and_external_blocks(upstream, relay, pki, own_servers):
    port = h.free_port()
    cluster = {"name": "cluster", "listen": [f"dns://127.0.0.1:{port}"],
               "zones": ["cluster.local."],
               "zone_files": [{"origin": "cluster.local.", "inline": CLUSTER}]}
    start_a(own_servers, [cluster, external_block(port, relay, UPNAME, pki["ca"])], port,
            probe="cluster.local.")
    r = h.query(port, "kubernetes.default.svc.cluster.local.", rd=True)
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
    assert answer_a(r) == ["10.96.0.1"]
    r = h.query(port, "nothere.svc.cluster.local.", rd=True)
    assert r.rcode() == dns.rcode.NXDOMAIN and r.flags & dns.flags.AA
    assert [rs.rdtype for rs in r.authority] == [dns.rdatatype.SOA]
    assert r.authority[0].name.to_text() == "cluster.local."
    check_forwarded_then_cached(port, relay)
    r = h.query(port, "kubernetes.default.svc.cluster.local.", rd=True)
    assert answer_a(r) == ["10.96.0.1"], "cluster names need no upstream"


def test_hardened_cluster_example(upstream, relay, pki, own_servers, tmp_path):
    """examples/hardened-cluster.yaml with its upstream, server name and CA
    replaced by B's (through the relay), and a free listen port."""
    shutil.copytree(h.EXAMPLES, tmp_path / "examples")
    path = tmp_path / "examples" / "hardened-cluster.yaml"
    lines = path.read_text().splitlines()
    port = h.free_port()
    for old, new in ((r'"tls://127\.0\.0\.1:\d+"', f'"tls://127.0.0.1:{relay.port}"'),
                     (r"tls_servername: \S+", f"tls_servername: {UPNAME}"),
                     (r"tls_ca: \S+", f"tls_ca: {pki['ca']}"),
                     (r"dns://127\.0\.0\.1:\d+", f"dns://127.0.0.1:{port}")):
        hits = 0
        for i, ln in enumerate(lines):
            if not ln.lstrip().startswith("#"):
                lines[i], n = re.subn(old, new, ln)
                hits += n
        assert hits, f"examples/hardened-cluster.yaml: nothing matches {old}"
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    own_servers.moondns(None, port, config_path=str(path), name="moondns-example",
                        probe_name="cluster.local.")
    r = h.query(port, "kubernetes.default.svc.cluster.local.", rd=True)
    assert r.flags & dns.flags.AA and answer_a(r) == ["10.96.0.1"]
    check_forwarded_then_cached(port, relay)
