"""Malformed input: the server must never crash, must answer FORMERR (echoing
the ID) when the header is intact and the rest is malformed, must stay
silent for messages shorter than a header and for responses (QR=1), and
must keep answering normal queries afterwards.

Cases follow BIND's formerr system test, Knot's security/dnsheader junk
test and RFC 9267's classes (compression loops, pointers past the end,
forward pointers, long labels and names, counts larger than the records).
The random part mutates valid queries (N_MUTATIONS over UDP, 300 over TCP;
seeded: the seed is in every failure message, replay with MOON_FUZZ_SEED=).

Replies are attributed to the packet that caused them by sending a marker
query after each packet on the same socket: whatever arrives before the
marker's reply belongs to the packet (the server runs one worker, which
answers in order).
"""
import os
import random
import socket
import struct
import time

import dns.edns
import dns.message
import dns.rcode
import pytest

import helpers as h

ZONE = "diff.test."
N_MUTATIONS = 3200
BATCH = 400
SEED = h.FUZZ_SEED

QR, FORMERR = 0x8000, dns.rcode.FORMERR
# Header rcodes a reply to a (possibly mangled) query may carry. SERVFAIL is
# absent on purpose: nothing in a query should make an authoritative lookup fail.
ALLOWED_RCODES = {dns.rcode.NOERROR, dns.rcode.FORMERR, dns.rcode.NXDOMAIN, dns.rcode.NOTIMP,
                  dns.rcode.REFUSED}


@pytest.fixture(scope="module")
def server(servers):
    port = h.free_port()
    conf = h.moon_config(port, [{"origin": ZONE, "file": os.path.join(h.ZONEDIR,
                                                                       "diff.test.zone")}])
    return servers.moondns(conf, port, name="moondns-malformed", probe_name=ZONE)


class Prober:
    """Sends a packet then a marker query; returns the replies the packet got."""

    def __init__(self, port):
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.connect(("127.0.0.1", port))
        self.n = 0

    def close(self):
        self.sock.close()

    def marker(self):
        self.n += 1
        name = f"m{self.n}.marker.{ZONE}"
        q = h.make_query(name, "TXT", qid=self.n & 0xFFFF)
        return q.to_wire(), name

    def send(self, pkt):
        wire, name = self.marker()
        self.sock.send(pkt)
        self.sock.send(wire)
        replies = []
        deadline = time.monotonic() + 3 * h.SLOW
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                raw = self.sock.recv(65535)
            except socket.timeout:
                break
            if raw[:2] == wire[:2] and is_reply_to(raw, name):
                return replies
            replies.append(raw)
        raise AssertionError(f"server did not answer the marker query after packet "
                             f"{pkt.hex()} (alive?)")


def is_reply_to(raw, name):
    try:
        r = dns.message.from_wire(raw)
    except Exception:
        return False
    return bool(r.question) and r.question[0].name.to_text().lower() == name.lower()


@pytest.fixture(scope="module")
def prober(server):
    p = Prober(server.port)
    yield p
    p.close()


def assert_alive(server, what=""):
    assert server.alive(), f"moondns died {what}"
    r = h.query(server.port, "www." + ZONE, "A", timeout=3)
    assert r is not None, f"no answer to a normal query {what}"
    assert r.rcode() == dns.rcode.NOERROR
    assert {rd.address for rd in r.answer[0]} == {"192.0.2.80", "192.0.2.81"}, what


def check_reply(pkt, replies, expect_formerr=False, where=""):
    """The rules every reply to a packet follows; returns a problem or None."""
    if len(replies) > 1:
        return f"{len(replies)} replies to one packet"
    if len(pkt) < 12 and replies:
        return "reply to a message shorter than a header"
    if len(pkt) >= 3 and pkt[2] & 0x80 and replies:
        return "reply to a message with QR=1"
    if not replies:
        if expect_formerr:
            return "no reply; expected FORMERR with the query's ID"
        return None
    raw = replies[0]
    if len(raw) < 12:
        return f"reply shorter than a header: {raw.hex()}"
    qid, flags = h.header(raw)[:2]
    if qid != struct.unpack("!H", pkt[:2])[0]:
        return f"reply ID {qid:#06x} does not echo the query's"
    if not flags & QR:
        return "reply without QR"
    if (flags >> 11) & 0xF != (pkt[2] >> 3) & 0xF:
        return "reply opcode differs from the query's"
    rcode = flags & 0xF
    if expect_formerr and rcode != FORMERR:
        return f"rcode {dns.rcode.to_text(rcode)}, expected FORMERR"
    if rcode not in ALLOWED_RCODES:
        return f"unexpected rcode {dns.rcode.to_text(rcode)}"
    return None


def expect(prober, pkt, formerr):
    """formerr=True: FORMERR with ID; False: no reply at all."""
    replies = prober.send(pkt)
    if formerr:
        problem = check_reply(pkt, replies, expect_formerr=True)
    else:
        problem = f"expected no reply, got {replies[0].hex()}" if replies else None
    assert problem is None, f"{problem}\n  packet: {pkt.hex()}"


def query_wire(qname="www." + ZONE, qtype="A", qid=0x2222, **kw):
    return h.make_query(qname, qtype, qid=qid, **kw).to_wire()


# ------------------------------------------------------------ fixed cases

def test_junk_of_1_to_16_bytes(server, prober):
    rng = random.Random(SEED)
    problems = []
    for n in range(1, 17):
        for variant in range(24):
            pkt = bytearray(rng.randbytes(n))
            if n >= 12 and variant % 2 == 0:
                # header intact, QUERY, QR=0, nothing valid after it
                pkt[2] &= 0x07
                pkt[4:6] = b"\0\1"      # QDCOUNT 1, but no question follows
                expect_formerr = True
            else:
                expect_formerr = False
            replies = prober.send(bytes(pkt))
            p = check_reply(bytes(pkt), replies, expect_formerr)
            if p:
                problems.append(f"{bytes(pkt).hex()}: {p}")
    assert_alive(server, "after junk packets")
    assert not problems, f"seed {SEED}:\n" + "\n".join(problems[:30])


@pytest.mark.parametrize("cut", range(1, 12))
def test_truncated_header_gets_no_reply(server, prober, cut):
    expect(prober, query_wire()[:cut], formerr=False)


def test_truncated_question_gets_formerr(server, prober):
    wire = query_wire()
    for cut in range(12, len(wire)):
        expect(prober, wire[:cut], formerr=True)


def test_header_only_no_question(prober):
    expect(prober, h.raw_header(qd=0), formerr=True)


def test_two_questions(prober):
    q = h.raw_question("www." + ZONE)
    expect(prober, h.raw_header(qd=2) + q + q, formerr=True)


def test_compression_pointer_to_itself(prober):
    # the question name at offset 12 is a pointer to offset 12
    expect(prober, h.raw_header() + b"\xc0\x0c" + struct.pack("!HH", 1, 1), formerr=True)


def test_compression_loop_of_two_pointers(prober):
    # offset 12 points to 14, which points back to 12 (the bytes at 14 are
    # also the question's type field)
    expect(prober, h.raw_header() + b"\xc0\x0e\xc0\x0c" + struct.pack("!H", 1), formerr=True)


def test_compression_loop_in_additional_owner(prober):
    # question fine; additional owner at offset N is "\x01b" + pointer to N
    head = h.raw_header(ar=1) + h.raw_question("www." + ZONE)
    n = len(head)
    owner = b"\x01b" + struct.pack("!H", 0xC000 | n)
    expect(prober, head + h.raw_rr(owner=owner), formerr=True)


@pytest.mark.parametrize("target", [0xFF, 0x3FFF])
def test_pointer_past_the_end(prober, target):
    wire = h.raw_header() + struct.pack("!H", 0xC000 | target) + struct.pack("!HH", 1, 1)
    expect(prober, wire, formerr=True)


def test_forward_pointer(prober):
    # question name = pointer to the additional record's owner, written later
    qpart = b"\xc0\x12" + struct.pack("!HH", 1, 1)        # offset 18 = after the question
    wire = h.raw_header(ar=1) + qpart + h.raw_rr(owner=h.wire_name("www." + ZONE))
    assert len(h.raw_header() + qpart) == 18
    expect(prober, wire, formerr=True)


@pytest.mark.parametrize("lenbyte", [0x40, 0x41, 0x7F, 0x80, 0xBF])
def test_label_longer_than_63(prober, lenbyte):
    # 0x40-0xbf are the reserved/extended label types, i.e. lengths above 63
    name = bytes([lenbyte]) + b"a" * (lenbyte & 0x3F or 1) + h.wire_name(ZONE)
    expect(prober, h.raw_header() + name + struct.pack("!HH", 1, 1), formerr=True)


def long_name(total):
    """A name under ZONE whose wire form is exactly `total` bytes."""
    tail = h.wire_name(ZONE)
    left = total - len(tail)
    labels = []
    while left > 0:
        n = min(63, left - 1)
        labels.append(b"a" * n)
        left -= n + 1
    assert left == 0 and all(labels), total
    return b"".join(bytes([len(lb)]) + lb for lb in labels) + tail


def test_name_of_255_bytes_is_fine(prober):
    wire = h.raw_header(qid=0x2555) + long_name(255) + struct.pack("!HH", 1, 1)
    replies = prober.send(wire)
    assert len(replies) == 1
    assert h.rcode_of(replies[0]) == dns.rcode.NXDOMAIN, "a 255-byte name is legal"


@pytest.mark.parametrize("total", [256, 300])
def test_name_longer_than_255(prober, total):
    expect(prober, h.raw_header() + long_name(total) + struct.pack("!HH", 1, 1), formerr=True)


def test_name_over_255_through_pointers(prober):
    # every name is short where it is written, but the second additional
    # owner (a 63-byte label + a pointer back to the first owner, 254 bytes)
    # expands to 64 + 254 = 318 bytes
    head = h.raw_header(ar=2) + h.raw_question("www." + ZONE)
    first = h.raw_rr(owner=long_name(254))
    second_owner = b"\x3f" + b"b" * 63 + struct.pack("!H", 0xC000 | len(head))
    expect(prober, head + first + h.raw_rr(owner=second_owner), formerr=True)


@pytest.mark.parametrize("counts", [dict(an=1), dict(ns=1), dict(ar=1), dict(ar=3), dict(qd=3)])
def test_counts_larger_than_records(prober, counts):
    hdr = dict(qd=1)
    hdr.update(counts)
    expect(prober, h.raw_header(**hdr) + h.raw_question("www." + ZONE), formerr=True)


def test_record_running_past_the_end(prober):
    rr = h.raw_rr(owner=b"\0", rtype=1, rdata=b"\1\2\3\4")
    rr = rr[:-6] + struct.pack("!H", 10) + rr[-4:]      # RDLENGTH 10, 4 bytes present
    expect(prober, h.raw_header(ar=1) + h.raw_question("www." + ZONE) + rr, formerr=True)


@pytest.mark.parametrize("garbage", [b"\0", b"\xff" * 3, bytes(range(100))])
def test_trailing_garbage(prober, garbage):
    expect(prober, query_wire() + garbage, formerr=True)
    expect(prober, query_wire(edns=0) + garbage, formerr=True)


@pytest.mark.parametrize("section", ["an", "ns"])
def test_opt_outside_additional(prober, section):
    wire = h.raw_header(**{section: 1}) + h.raw_question("www." + ZONE) + h.raw_opt()
    expect(prober, wire, formerr=True)


@pytest.mark.parametrize("lenbyte", [0x40, 0x80])
def test_bad_label_in_a_record_owner(prober, lenbyte):
    owner = bytes([lenbyte]) + b"x" + b"\0"
    wire = h.raw_header(ar=1) + h.raw_question("www." + ZONE) + h.raw_rr(owner=owner)
    expect(prober, wire, formerr=True)


def options(*pairs):
    return b"".join(struct.pack("!HH", code, len(data)) + data for code, data in pairs)


@pytest.mark.parametrize("opts", [
    options((3, b""), (3, b"")),                                   # NSID twice
    options((10, b"12345678"), (10, b"abcdefgh")),                 # COOKIE twice
    options(*[(65001 + i % 100, b"") for i in range(500)]),        # 500 options
    options((12, b"\0" * 1000)),                                   # a big PADDING
], ids=["nsid-twice", "cookie-twice", "500-options", "padding-1000"])
def test_odd_option_lists_get_an_answer_or_formerr(server, prober, opts):
    """Duplicate or many options: FORMERR, or the normal answer; never a crash."""
    wire = (h.raw_header(qid=0x5151, ar=1) + h.raw_question("www." + ZONE)
            + h.raw_opt(options=opts))
    replies = prober.send(wire)
    assert len(replies) == 1, f"{len(replies)} replies"
    assert h.header(replies[0])[0] == 0x5151
    assert h.rcode_of(replies[0]) in (dns.rcode.NOERROR, FORMERR)
    if h.rcode_of(replies[0]) == dns.rcode.NOERROR:
        r = dns.message.from_wire(replies[0])
        assert {rd.address for rd in r.answer[0]} == {"192.0.2.80", "192.0.2.81"}
    assert_alive(server)


def test_query_with_qr_set_gets_no_reply(prober):
    wire = bytearray(query_wire())
    wire[2] |= 0x80
    expect(prober, bytes(wire), formerr=False)
    wire = bytearray(h.raw_header(qd=0) + b"junk")
    wire[2] |= 0x80
    expect(prober, bytes(wire), formerr=False)


def test_largest_udp_datagram_with_garbage(server, prober):
    wire = query_wire()
    expect(prober, wire + b"\x00" * (65507 - len(wire)), formerr=True)
    assert_alive(server, "after a 65,507-byte datagram")


# ------------------------------------------------------------ 65,535-byte TCP messages

def tcp_send(server, msg, timeout=5.0):
    """Sends one length-prefixed message; returns the reply or None (closed)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout * h.SLOW) as s:
        s.sendall(struct.pack("!H", len(msg)) + msg)
        try:
            return h.tcp_read_msg(s)
        except (ConnectionResetError, socket.timeout):
            return None


def txt_rdata(n):
    """Exactly n bytes of well-formed TXT RDATA."""
    out = b""
    while n > 0:
        k = min(256, n)
        out += bytes([k - 1]) + b"t" * (k - 1)
        n -= k
    return out


def test_tcp_65535_bytes_of_valid_records(server):
    # a query for www A followed by enough harmless additional TXT records
    # to make exactly 65,535 bytes: a legal message, so it gets an answer
    q = h.raw_question("www." + ZONE)
    records, size = [], 12 + len(q)
    while 65535 - size > 600:
        rr = h.raw_rr(owner=b"\xc0\x0c", rtype=16, rdata=txt_rdata(256))
        records.append(rr)
        size += len(rr)
    records.append(h.raw_rr(owner=b"\xc0\x0c", rtype=16, rdata=txt_rdata(65535 - size - 12)))
    msg = h.raw_header(qid=0x6565, ar=len(records)) + q + b"".join(records)
    assert len(msg) == 65535
    raw = tcp_send(server, msg)
    assert raw is not None, "no reply to a legal 65,535-byte message"
    r = dns.message.from_wire(raw)
    assert r.id == 0x6565 and r.rcode() == dns.rcode.NOERROR
    assert {rd.address for rd in r.answer[0]} == {"192.0.2.80", "192.0.2.81"}


def test_tcp_65535_bytes_of_garbage_after_a_header(server):
    rng = random.Random(SEED)
    msg = h.raw_header(qid=0x6566) + h.raw_question("www." + ZONE)
    msg += rng.randbytes(65535 - len(msg))
    raw = tcp_send(server, msg)
    assert raw is not None, "no reply: a malformed message with an intact header gets FORMERR"
    assert h.header(raw)[0] == 0x6566 and h.rcode_of(raw) == FORMERR
    assert_alive(server, "after a 65,535-byte malformed TCP message")


def test_tcp_malformed_then_valid_on_one_connection(server):
    # after a FORMERR the connection either keeps serving or is closed cleanly
    with socket.create_connection(("127.0.0.1", server.port), timeout=3 * h.SLOW) as s:
        bad = h.raw_header(qid=0x7001) + b"\xc0\x0c" + struct.pack("!HH", 1, 1)
        good = query_wire(qid=0x7002)
        s.sendall(struct.pack("!H", len(bad)) + bad + struct.pack("!H", len(good)) + good)
        first = h.tcp_read_or_none(s)
        assert first is not None, "no FORMERR for a malformed message with an intact header"
        assert h.header(first)[0] == 0x7001 and h.rcode_of(first) == FORMERR
        second = h.tcp_read_or_none(s)
        if second is not None:
            assert h.header(second)[0] == 0x7002 and h.rcode_of(second) == dns.rcode.NOERROR
    assert_alive(server)


# ------------------------------------------------------------ random mutations

BASES = [
    dict(qname="www." + ZONE, qtype="A"),
    dict(qname=ZONE, qtype="SOA", edns=0),
    dict(qname="nx." + ZONE, qtype="AAAA", do=True),
    dict(qname="x.b.wild." + ZONE, qtype="TXT", edns=0, payload=512),
    dict(qname="big." + ZONE, qtype="TXT", edns=0),
    dict(qname="foo.sub." + ZONE, qtype="NS", rd=True),
    dict(qname="id.server.", qtype="TXT", rdclass="CH"),
    dict(qname="WwW.DiFf.TeSt.", qtype="MX", do=True, options=[
        dns.edns.GenericOption(3, b""), dns.edns.GenericOption(10, b"12345678"),
        dns.edns.GenericOption(12, b"\0" * 16)]),
]
INTERESTING = [0x00, 0x01, 0x3F, 0x40, 0x7F, 0x80, 0xC0, 0xC1, 0xFF]


def mutate(rng, wire):
    """One random mutation; returns (packet, expectation) where expectation
    is "formerr" when the header is intact, QR=0, opcode QUERY and the rest
    is certainly malformed, else None (only the general rules apply)."""
    w = bytearray(wire)
    kind = rng.randrange(10)
    if kind == 0:                                   # flip bits
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(w) * 8)
            w[i // 8] ^= 1 << (i % 8)
    elif kind == 1:                                 # set bytes
        for _ in range(rng.randint(1, 3)):
            w[rng.randrange(len(w))] = rng.choice(INTERESTING + [rng.randrange(256)])
    elif kind == 2:                                 # truncate inside the message
        cut = rng.randrange(12, len(w))
        return bytes(w[:cut]), "formerr"
    elif kind == 3:                                 # trailing garbage
        return bytes(w) + rng.randbytes(rng.randint(1, 40)), "formerr"
    elif kind == 4:                                 # insert bytes
        i = rng.randrange(12, len(w) + 1)
        w[i:i] = rng.randbytes(rng.randint(1, 8))
    elif kind == 5:                                 # delete a slice
        i = rng.randrange(len(w))
        del w[i:i + rng.randint(1, 8)]
    elif kind == 6:                                 # duplicate a slice
        i = rng.randrange(12, len(w))
        j = min(len(w), i + rng.randint(1, 16))
        w[j:j] = w[i:j]
    elif kind == 7:                                 # random counts
        k = rng.choice([4, 6, 8, 10])
        w[k:k + 2] = struct.pack("!H", rng.choice([0, 1, 2, 255, 65535, rng.randrange(65536)]))
    elif kind == 8:                                 # a compression pointer in the question
        i = rng.randrange(12, max(13, len(w) - 5))
        w[i:i + 2] = struct.pack("!H", 0xC000 | rng.randrange(0, len(w) + 8))
    else:                                           # a response, possibly mangled too
        w[2] |= 0x80
        if rng.random() < 0.5:
            w[rng.randrange(12, len(w))] = rng.randrange(256)
    return bytes(w), None


@pytest.mark.parametrize("batch", range(N_MUTATIONS // BATCH))
def test_random_mutations_udp(server, prober, batch):
    rng = random.Random(f"{SEED}-{batch}")
    print(f"seed {SEED} batch {batch} (replay: MOON_FUZZ_SEED={SEED})")
    bases = [query_wire(qid=0x3000 + i, **b) for i, b in enumerate(BASES)]
    problems = []
    for _ in range(BATCH):
        pkt, expectation = mutate(rng, rng.choice(bases))
        replies = prober.send(pkt)
        p = check_reply(pkt, replies, expect_formerr=expectation == "formerr")
        if p:
            problems.append(f"{p}\n    packet: {pkt.hex()}")
    assert_alive(server, f"after mutation batch {batch} (seed {SEED})")
    assert not problems, (f"seed {SEED} batch {batch}: {len(problems)} problem(s):\n  "
                          + "\n  ".join(problems[:20]))


def test_random_mutations_tcp(server):
    """Mutated messages over TCP, each followed by a marker on the same
    connection; the server may answer or close, never crash or answer QR=1."""
    rng = random.Random(f"{SEED}-tcp")
    bases = [query_wire(qid=0x3000 + i, **b) for i, b in enumerate(BASES)]
    problems = []
    for n in range(300):
        pkt, expectation = mutate(rng, rng.choice(bases))
        marker = query_wire(qname=f"t{n}.marker.{ZONE}", qtype="TXT", qid=0xF000 + n)
        with socket.create_connection(("127.0.0.1", server.port), timeout=3 * h.SLOW) as s:
            s.sendall(struct.pack("!H", len(pkt)) + pkt + struct.pack("!H", len(marker)) + marker)
            got = []
            try:
                while True:
                    raw = h.tcp_read_msg(s)
                    if raw is None or raw[:2] == marker[:2]:
                        break
                    got.append(raw)
            except (ConnectionResetError, socket.timeout) as e:
                problems.append(f"{type(e).__name__} instead of a reply or a close: {pkt.hex()}")
                continue
        if pkt[2] & 0x80 and got:
            problems.append(f"reply to QR=1 over TCP: {pkt.hex()}")
        for raw in got:
            if len(raw) < 12 or not h.header(raw)[1] & QR:
                problems.append(f"bad reply {raw.hex()} to {pkt.hex()}")
    assert_alive(server, f"after TCP mutations (seed {SEED})")
    assert not problems, f"seed {SEED}:\n  " + "\n  ".join(problems[:20])
