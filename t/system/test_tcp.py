"""DNS over TCP: pipelining, the connection timeouts and limits of the tcp:
config block, clients that never read, and framing errors.

Limit tests connect from their own 127.0.0.x source address so that the
per-client counts of one test do not depend on sockets another test closed
a moment ago. Timeouts are measured from the client side.
"""
import os
import socket
import struct
import time

import dns.message
import dns.rcode
import pytest

import helpers as h

ZONE = "diff.test."
IDLE, IO = 3.0, 1.0
LIMITS = {"idle_timeout": h.Plain("3s"), "io_timeout": h.Plain("1s"), "max_connections": 8,
          "max_connections_per_client": 4, "max_queries_per_connection": 0,
          "max_pending_bytes": h.Plain("64k")}
ESTABLISHED = 1


def zone_files():
    return [{"origin": ZONE, "file": os.path.join(h.ZONEDIR, "diff.test.zone")}]


@pytest.fixture(scope="module")
def srv(servers):
    port = h.free_port()
    return servers.moondns(h.moon_config(port, zone_files(), tcp=LIMITS), port,
                           name="moondns-tcp", probe_name=ZONE)


@pytest.fixture(scope="module")
def srv5(servers):
    """max_queries_per_connection: 5"""
    port = h.free_port()
    limits = dict(LIMITS, max_queries_per_connection=5)
    return servers.moondns(h.moon_config(port, zone_files(), tcp=limits), port,
                           name="moondns-tcp5", probe_name=ZONE)


def connect(server, src="127.0.0.1", rcvbuf=None, timeout=3.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind((src, 0))
    s.settimeout(timeout * h.SLOW)
    s.connect(("127.0.0.1", server.port))
    return s


def framed(wire):
    return struct.pack("!H", len(wire)) + wire


def q(qname="www." + ZONE, qtype="A", qid=1):
    return h.make_query(qname, qtype, qid=qid).to_wire()


def ask_on(s, qid, qname="www." + ZONE):
    """One query on an open connection; the reply, or None when closed."""
    try:
        s.sendall(framed(q(qname, qid=qid)))
        return h.tcp_read_msg(s)
    except (ConnectionResetError, BrokenPipeError, socket.timeout):
        return None


def works(s, qid):
    raw = ask_on(s, qid)
    return raw is not None and h.header(raw)[0] == qid and h.rcode_of(raw) == 0


def seconds_until_closed(s, limit):
    """Waits (without sending) until the peer closes; returns the seconds
    it took, or None if still open after `limit`."""
    start = time.monotonic()
    s.settimeout(limit)
    try:
        while True:
            if not s.recv(65535):
                break
    except ConnectionResetError:
        pass
    except socket.timeout:
        return None
    return time.monotonic() - start


def refused_or_closed(server, src):
    """True when a new connection from src is refused, or closed by the
    server without answering a query."""
    try:
        s = connect(server, src=src, timeout=2.0)
    except (ConnectionRefusedError, ConnectionResetError, socket.timeout):
        return True
    with s:
        return ask_on(s, 999) is None


def server_sockets(port, peer_port=None):
    """States (hex strings, "01" = ESTABLISHED) of the TCP sockets whose local
    port is `port`, i.e. the server's side, optionally only the one whose
    peer is `peer_port`."""
    states = []
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(path) as f:
            for ln in f.readlines()[1:]:
                fields = ln.split()
                local, remote = fields[1], fields[2]
                if int(local.split(":")[1], 16) != port:
                    continue
                if peer_port is not None and int(remote.split(":")[1], 16) != peer_port:
                    continue
                states.append(fields[3])
    return states


def server_connections(port):
    return server_sockets(port).count("01")


def closed_by_server(server, s):
    """True once the server has closed its side of our connection (its
    socket left ESTABLISHED), even if our receive buffer, full of unread
    answers, holds its FIN back from us."""
    mine = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
    theirs = server_sockets(server.port, s.getsockname()[1])
    return mine != ESTABLISHED or "01" not in theirs


def wait_no_connections(server, timeout=3.0):
    deadline = time.monotonic() + timeout
    while server_connections(server.port) and time.monotonic() < deadline:
        time.sleep(0.05)


# ------------------------------------------------------------ pipelining

def test_pipelining_50_queries(srv):
    names = ["www", "mail", "nx", "big", "alias", "sub", "ns1", "x.b.wild", "foo.wild", "_sip._udp"]
    queries = {}
    payload = b""
    for i in range(50):
        qid = 0x5000 + i
        name = f"{names[i % len(names)]}.{ZONE}"
        queries[qid] = name
        payload += framed(q(name, "TXT" if i % 3 else "A", qid=qid))
    with connect(srv) as s:
        s.sendall(payload)
        seen = {}
        for _ in range(50):
            raw = h.tcp_read_msg(s)
            assert raw is not None, f"connection closed after {len(seen)} of 50 answers"
            r = dns.message.from_wire(raw)
            assert r.id in queries and r.id not in seen, f"unexpected or repeated ID {r.id}"
            seen[r.id] = r
        assert set(seen) == set(queries)
        for qid, r in seen.items():
            assert r.question[0].name.to_text() == queries[qid]
        assert seen[0x5000].rcode() == dns.rcode.NOERROR and len(seen[0x5000].answer[0]) == 2
        assert seen[0x5002].rcode() == dns.rcode.NXDOMAIN


def test_many_sequential_queries_on_one_connection(srv):
    with connect(srv) as s:
        for i in range(200):
            assert works(s, 0x6000 + i), f"query {i} on a kept-open connection failed"


# ------------------------------------------------------------ timeouts

def test_idle_connection_is_closed(srv):
    with connect(srv) as s:
        took = seconds_until_closed(s, IDLE + 3)
    assert took is not None, f"idle connection still open after {IDLE + 3}s (idle_timeout 3s)"
    assert IDLE - 0.5 <= took <= IDLE + 2, f"closed after {took:.2f}s, idle_timeout is 3s"


def test_idle_after_a_query_is_closed(srv):
    with connect(srv) as s:
        assert works(s, 0x10)
        took = seconds_until_closed(s, IDLE + 3)
    assert took is not None, f"idle connection still open after {IDLE + 3}s (idle_timeout 3s)"
    assert IDLE - 0.5 <= took <= IDLE + 2, \
        f"closed {took:.2f}s after the answer; idle_timeout is 3s (io_timeout 1s)"


@pytest.mark.parametrize("partial", [b"\x00", framed(q())[:9]],
                         ids=["half-length-prefix", "half-message"])
def test_stalled_message_is_closed_after_io_timeout(srv, partial):
    with connect(srv) as s:
        s.sendall(partial)
        took = seconds_until_closed(s, IDLE + 3)
    assert took is not None, "a stalled message must be cut off"
    assert IO - 0.3 <= took <= IO + 1.2, f"closed after {took:.2f}s, io_timeout is 1s"


def test_slow_but_steady_message_is_cut_at_io_timeout(srv):
    """Dribbling a message byte by byte does not extend io_timeout."""
    msg = framed(q())
    with connect(srv) as s:
        start = time.monotonic()
        try:
            for b in msg[:-1]:
                s.sendall(bytes([b]))
                time.sleep(0.1)
                if time.monotonic() - start > IO + 1.5:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        rest = seconds_until_closed(s, IDLE + 3)
        total = time.monotonic() - start
    assert rest is not None and total <= IO + 1.5, f"connection alive {total:.2f}s"


def test_zero_length_message_closes(srv):
    with connect(srv) as s:
        s.sendall(b"\x00\x00")
        took = seconds_until_closed(s, IDLE + 3)
    assert took is not None and took < IO, f"zero-length message: closed after {took}s"


def test_query_before_a_zero_length_message_is_answered(srv):
    """A complete query that arrived before the bad frame (same segment)
    still gets its answer before the connection is closed."""
    with connect(srv) as s:
        s.sendall(framed(q(qid=0x21)) + b"\x00\x00")
        first = h.tcp_read_or_none(s)
        assert first is not None and h.header(first)[0] == 0x21, \
            "the answer to the earlier query was dropped"
        took = seconds_until_closed(s, IDLE + 3)
    assert took is not None and took < IO, f"zero-length message: closed after {took}s"


# ------------------------------------------------------------ limits

def test_max_connections_per_client(srv):
    wait_no_connections(srv)
    src = "127.0.0.2"
    conns = [connect(srv, src=src) for _ in range(4)]
    try:
        for i, c in enumerate(conns):
            assert works(c, 0x100 + i), f"connection {i + 1} of 4 (the limit) must work"
        assert refused_or_closed(srv, src), "5th connection from one client must be refused"
        with connect(srv, src="127.0.0.7") as other:
            assert works(other, 0x150), "another client is not limited"
        for i, c in enumerate(conns):
            assert works(c, 0x200 + i), "the 4 first connections keep working"
        conns.pop().close()
        time.sleep(0.3)
        with connect(srv, src=src) as again:
            assert works(again, 0x300), "a slot freed by a close can be reused"
    finally:
        for c in conns:
            c.close()


def test_max_connections(srv):
    wait_no_connections(srv)
    conns = [connect(srv, src=f"127.0.0.{3 + i // 4}") for i in range(8)]
    try:
        for i, c in enumerate(conns):
            assert works(c, 0x400 + i), f"connection {i + 1} of 8 (the limit) must work"
        assert refused_or_closed(srv, "127.0.0.6"), "9th connection must be refused"
        for i, c in enumerate(conns):
            assert works(c, 0x500 + i), "the 8 first connections keep working"
        conns.pop().close()
        time.sleep(0.3)
        with connect(srv, src="127.0.0.6") as again:
            assert works(again, 0x600), "a slot freed by a close can be reused"
    finally:
        for c in conns:
            c.close()


def test_max_queries_per_connection_pipelined(srv5):
    ids = [0x700 + i for i in range(8)]
    with connect(srv5) as s:
        s.sendall(b"".join(framed(q(qid=i)) for i in ids))
        got, closed = [], False
        try:
            while True:
                raw = h.tcp_read_msg(s)
                if raw is None:
                    closed = True
                    break
                got.append(h.header(raw)[0])
        except ConnectionResetError:
            closed = True
        except socket.timeout:
            pass
    assert sorted(got) == ids[:5], f"answers {[hex(i) for i in got]}: expected exactly 5"
    assert closed, "the connection must be closed after the 5th answer"


def test_max_queries_per_connection_sequential(srv5):
    with connect(srv5) as s:
        for i in range(5):
            assert works(s, 0x800 + i), f"query {i + 1} of 5"
        took = seconds_until_closed(s, 2.0)
    assert took is not None, "connection must close after its 5th answer"


# ------------------------------------------------------------ clients that never read

def test_client_that_never_reads(srv):
    """Queries with ~1.1 KB answers, sent without ever reading: the server
    must stop reading (max_pending_bytes 64k), keep its memory flat and
    close the connection in the end; other clients are served meanwhile."""
    wait_no_connections(srv)
    rss_before = srv.rss_kb()
    s = connect(srv, src="127.0.0.8", rcvbuf=4096)
    s.setblocking(False)
    query = framed(q("big." + ZONE, "TXT", qid=0x900))
    sent, stalled_since = 0, None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and sent < 30000:
        try:
            s.send(query)
            sent += 1
            stalled_since = None
        except BlockingIOError:
            stalled_since = stalled_since or time.monotonic()
            if time.monotonic() - stalled_since > 0.5:
                break
            time.sleep(0.01)
        except (ConnectionResetError, BrokenPipeError):
            break
    rss_after = srv.rss_kb()
    assert sent > 1000, f"only {sent} queries went out before the connection stalled"
    with connect(srv, src="127.0.0.9") as other:
        assert works(other, 0x901), "other clients must be served while one does not read"
    grew = rss_after - rss_before
    print(f"sent {sent} queries unread; RSS {rss_before} -> {rss_after} kB")
    closed_in = None
    start = time.monotonic()
    while time.monotonic() - start < IDLE + IO + 4:
        if closed_by_server(srv, s):
            closed_in = time.monotonic() - start
            break
        time.sleep(0.1)
    s.close()
    print(f"closed by the server after {closed_in}s")
    assert grew < 4096, f"RSS grew by {grew} kB for {sent} unread answers of ~1.1 kB"
    assert closed_in is not None, "the server never closed a connection that does not read"
    assert srv.alive()
