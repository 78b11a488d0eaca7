"""EDNS and protocol conformance (RFC 8906 §8, RFC 6891), with dnspython and
with the real clients dig and kdig where the client's own handling matters.

Two servers: `plain` (identity options off, the default) and `ident`
(nsid, id.server, hostname.bind and version.bind configured). Both serve
the differential-test zones, so big.diff.test TXT (about 1,100 bytes) and
huge.diff.test TXT (about 3,500 bytes) are there for truncation tests.
"""
import os
import re
import struct
import subprocess

import dns.edns
import dns.flags
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import pytest

import helpers as h

ZONE = "diff.test."
TRANSPORTS = [pytest.param(False, id="udp"), pytest.param(True, id="tcp")]
IDENTITY = {"nsid": "ns1", "id_server": "ns1", "hostname": "ns1.lab", "version": "moondns"}
NSID, COOKIE = 3, 10


def zone_files():
    return [{"origin": o, "file": os.path.join(h.ZONEDIR, f)}
            for o, f in (("diff.test.", "diff.test.zone"), ("signed.test.", "signed.test.zone"))]


@pytest.fixture(scope="module")
def plain(servers):
    port = h.free_port()
    return servers.moondns(h.moon_config(port, zone_files()), port, name="plain",
                           probe_name=ZONE)


@pytest.fixture(scope="module")
def ident(servers):
    port = h.free_port()
    conf = h.moon_config(port, zone_files(), identity=IDENTITY, udp={"max_payload": 1232})
    return servers.moondns(conf, port, name="ident", probe_name=ZONE)


def ask(server, qname, qtype="SOA", tcp=False, **kw):
    r = h.query(server.port, qname, qtype, tcp=tcp, **kw)
    assert r is not None, f"no answer to {qname} {qtype} over {'TCP' if tcp else 'UDP'}"
    return r


def soa_answer_ok(r):
    assert r.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(r.rcode())
    assert r.flags & dns.flags.AA
    assert [rs.rdtype for rs in r.answer] == [dns.rdatatype.SOA]


def opt_flags(r):
    """The 16 EDNS flag bits of a reply's OPT record."""
    return r.ednsflags & 0xFFFF


# ------------------------------------------------------------ RFC 8906 §8 matrix

@pytest.mark.parametrize("tcp", TRANSPORTS)
def test_plain_dns_query_gets_no_opt(plain, tcp):
    r = ask(plain, ZONE, tcp=tcp, edns=-1)
    soa_answer_ok(r)
    assert r.edns == -1, "OPT in the reply to a query without EDNS (RFC 6891 §7)"


@pytest.mark.parametrize("tcp", TRANSPORTS)
def test_edns0_query(plain, tcp):
    r = ask(plain, ZONE, tcp=tcp, edns=0)
    soa_answer_ok(r)
    assert r.edns == 0
    assert r.payload == 1232, "the reply's OPT must carry our max_payload"
    assert opt_flags(r) == 0


@pytest.mark.parametrize("tcp", TRANSPORTS)
def test_edns_version_1_gets_badvers(plain, tcp):
    r = ask(plain, ZONE, tcp=tcp, edns=1)
    assert r.rcode() == dns.rcode.BADVERS, dns.rcode.to_text(r.rcode())
    assert r.edns == 0, "BADVERS must be sent with the highest version we support (0)"
    assert not r.answer, "no answer data with BADVERS (RFC 6891 §6.1.3)"


def test_edns_version_1_with_flag_and_option_gets_plain_badvers(plain):
    r = ask(plain, ZONE, edns=1, ednsflags=0x0080,
            options=[dns.edns.GenericOption(100, b"\x01\x02")])
    assert r.rcode() == dns.rcode.BADVERS
    assert r.edns == 0
    assert opt_flags(r) == 0
    assert 100 not in h.option_codes(r)


@pytest.mark.parametrize("tcp", TRANSPORTS)
def test_unknown_edns_flag_is_not_echoed(plain, tcp):
    r = ask(plain, ZONE, tcp=tcp, ednsflags=0x0080)
    soa_answer_ok(r)
    assert r.edns == 0
    assert opt_flags(r) == 0, f"EDNS flags echoed: {opt_flags(r):#06x}"


def test_unknown_edns_flag_with_do_only_do_comes_back(plain):
    r = ask(plain, ZONE, do=True, ednsflags=0x0080)
    soa_answer_ok(r)
    assert opt_flags(r) == dns.flags.DO


@pytest.mark.parametrize("tcp", TRANSPORTS)
def test_unknown_edns_option_is_ignored_and_not_echoed(plain, tcp):
    r = ask(plain, ZONE, tcp=tcp, options=[dns.edns.GenericOption(100, b"moondns-test")])
    soa_answer_ok(r)
    assert r.edns == 0
    assert 100 not in h.option_codes(r)


def test_several_options_at_once(plain):
    opts = [dns.edns.GenericOption(100, b""), dns.edns.GenericOption(65001, b"x" * 40),
            dns.edns.GenericOption(NSID, b"")]
    r = ask(plain, ZONE, options=opts)
    soa_answer_ok(r)
    assert not set(h.option_codes(r)) & {100, 65001}


@pytest.mark.parametrize("tcp", TRANSPORTS)
def test_do_bit_is_echoed_and_brings_signatures(plain, tcp):
    r = ask(plain, "www.signed.test.", "A", tcp=tcp, do=True)
    assert r.rcode() == dns.rcode.NOERROR
    assert opt_flags(r) & dns.flags.DO, "DO must be copied into the reply (RFC 3225)"
    types = {(rs.rdtype, rs.covers) for rs in r.answer}
    assert types == {(dns.rdatatype.A, 0), (dns.rdatatype.RRSIG, dns.rdatatype.A)}


def test_no_do_bit_no_signatures(plain):
    r = ask(plain, "www.signed.test.", "A", edns=0)
    assert not opt_flags(r) & dns.flags.DO
    assert [rs.rdtype for rs in r.answer] == [dns.rdatatype.A]


def test_header_z_bit_is_cleared(plain):
    msg = h.make_query(ZONE, "SOA", edns=0)
    wire = bytearray(msg.to_wire())
    wire[3] |= 0x40                      # the Z bit of the header
    raw = h.udp_raw(bytes(wire), plain.port)
    assert raw is not None
    r = dns.message.from_wire(raw)
    soa_answer_ok(r)
    assert h.header(raw)[1] & 0x40 == 0, "Z must be zero in replies (RFC 1035 §4.1.1)"


def test_unknown_type_is_nodata(plain):
    r = ask(plain, ZONE, "TYPE666", edns=0)
    assert r.rcode() == dns.rcode.NOERROR
    assert not r.answer
    assert [rs.rdtype for rs in r.authority] == [dns.rdatatype.SOA]


def test_client_cookie_does_not_break_the_answer(plain):
    client_cookie = bytes.fromhex("0102030405060708")
    r = ask(plain, ZONE, options=[dns.edns.GenericOption(COOKIE, client_cookie)])
    soa_answer_ok(r)
    echoed = h.edns_option(r, COOKIE)
    if echoed is not None:   # a server that does cookies must echo ours first (RFC 7873 §5.2)
        assert echoed[:8] == client_cookie and 16 <= len(echoed) <= 40


# ------------------------------------------------------------ truncation

def txt_count(r):
    return sum(len(rs) for rs in r.answer if rs.rdtype == dns.rdatatype.TXT)


def udp_wire(server, qname, qtype, **kw):
    raw = h.udp_raw(h.make_query(qname, qtype, **kw).to_wire(), server.port)
    assert raw is not None, f"no answer to {qname} {qtype}"
    return raw, dns.message.from_wire(raw)


def test_payload_512_large_answer_is_truncated_over_udp(plain):
    raw, r = udp_wire(plain, "big.diff.test.", "TXT", payload=512, edns=0)
    assert r.flags & dns.flags.TC, "an answer over 512 bytes must set TC"
    assert len(raw) <= 512
    assert r.edns == 0


def test_large_answer_in_full_over_tcp(plain):
    r = ask(plain, "big.diff.test.", "TXT", tcp=True, payload=512, edns=0)
    assert not r.flags & dns.flags.TC
    assert txt_count(r) == 12


def test_large_answer_fits_with_payload_1232(plain):
    r = ask(plain, "big.diff.test.", "TXT", payload=1232, edns=0)
    assert not r.flags & dns.flags.TC
    assert txt_count(r) == 12


def test_no_edns_means_512_bytes(plain):
    raw, r = udp_wire(plain, "big.diff.test.", "TXT", edns=-1)
    assert len(raw) <= 512 and r.flags & dns.flags.TC


def test_our_max_payload_caps_a_larger_client_size(plain):
    raw, r = udp_wire(plain, "huge.diff.test.", "TXT", payload=4096, edns=0)
    assert r.flags & dns.flags.TC, "max_payload 1232 must cap the client's 4096"
    assert len(raw) <= 1232
    full = ask(plain, "huge.diff.test.", "TXT", tcp=True, payload=4096, edns=0)
    assert not full.flags & dns.flags.TC and txt_count(full) == 40


def test_payload_below_512_counts_as_512(plain):
    r = ask(plain, "www.diff.test.", "A", payload=100, edns=0)
    assert not r.flags & dns.flags.TC, "RFC 6891 §6.2.5: sizes below 512 are treated as 512"
    assert len(r.answer) == 1 and len(r.answer[0]) == 2


# ------------------------------------------------------------ NSID, CHAOS

@pytest.mark.parametrize("tcp", TRANSPORTS)
def test_nsid_returned_when_configured(ident, tcp):
    r = ask(ident, ZONE, tcp=tcp, options=[dns.edns.GenericOption(NSID, b"")])
    soa_answer_ok(r)
    assert h.edns_option(r, NSID) == b"ns1"


def test_nsid_not_sent_unless_requested(ident):
    r = ask(ident, ZONE, edns=0)
    assert NSID not in h.option_codes(r)


@pytest.mark.parametrize("tcp", TRANSPORTS)
def test_nsid_absent_when_not_configured(plain, tcp):
    r = ask(plain, ZONE, tcp=tcp, options=[dns.edns.GenericOption(NSID, b"")])
    soa_answer_ok(r)
    assert NSID not in h.option_codes(r)


CHAOS = [("id.server.", "id_server"), ("hostname.bind.", "hostname"),
         ("version.bind.", "version")]


@pytest.mark.parametrize("qname,key", CHAOS)
def test_chaos_identity_when_configured(ident, qname, key):
    r = ask(ident, qname, "TXT", rdclass="CH")
    assert r.rcode() == dns.rcode.NOERROR
    assert len(r.answer) == 1
    rs = r.answer[0]
    assert rs.rdclass == dns.rdataclass.CH and rs.rdtype == dns.rdatatype.TXT
    assert [b"".join(rd.strings) for rd in rs] == [IDENTITY[key].encode()]


def test_chaos_name_is_case_insensitive(ident):
    r = ask(ident, "ID.Server.", "TXT", rdclass="CH")
    assert r.rcode() == dns.rcode.NOERROR
    assert [b"".join(rd.strings) for rd in r.answer[0]] == [b"ns1"]


@pytest.mark.parametrize("qname,key", CHAOS)
def test_chaos_identity_refused_when_off(plain, qname, key):
    r = ask(plain, qname, "TXT", rdclass="CH")
    assert r.rcode() == dns.rcode.REFUSED
    assert not r.answer


# ------------------------------------------------------------ header and question

@pytest.mark.parametrize("opcode", [2, 3, 15])
@pytest.mark.parametrize("edns", [-1, 0], ids=["noedns", "edns"])
def test_unknown_opcode_gets_notimp(plain, opcode, edns):
    msg = h.make_query(ZONE, "SOA", edns=edns)
    msg.set_opcode(opcode)
    raw = h.udp_raw(msg.to_wire(), plain.port)
    assert raw is not None, "no reply: RFC 8906 §8.2.1 expects NOTIMP"
    qid, flags = h.header(raw)[:2]
    assert qid == msg.id and flags & 0x8000
    assert (flags >> 11) & 0xF == opcode, "the opcode must be echoed"
    assert h.rcode_of(raw) == dns.rcode.NOTIMP


@pytest.mark.parametrize("tcp", TRANSPORTS)
def test_refused_outside_served_zones(plain, tcp):
    for qname in ("example.org.", "test.", ".", "xdiff.test."):
        r = ask(plain, qname, "A", tcp=tcp, edns=0)
        assert r.rcode() == dns.rcode.REFUSED, qname
        assert not r.flags & dns.flags.AA and not r.answer, qname


@pytest.mark.parametrize("tcp", TRANSPORTS)
def test_question_case_is_preserved(plain, tcp):
    qname = "WwW.DiFf.TeSt."
    r = ask(plain, qname, "A", tcp=tcp, edns=0)
    assert r.question[0].name.to_text() == qname, "question must be echoed byte for byte"
    assert r.rcode() == dns.rcode.NOERROR
    assert {rd.address for rd in r.answer[0]} == {"192.0.2.80", "192.0.2.81"}


def test_rd_copied_ra_not_set(plain):
    r = ask(plain, ZONE, rd=True, edns=0)
    assert r.flags & dns.flags.RD
    assert not r.flags & dns.flags.RA, "an authoritative-only server must not claim recursion"


# ------------------------------------------------------------ malformed EDNS

def formerr_with_id(raw, qid):
    assert raw is not None, "no reply: a malformed query with an intact header gets FORMERR"
    rid, flags = h.header(raw)[:2]
    assert rid == qid
    assert flags & 0x8000
    assert h.rcode_of(raw) == dns.rcode.FORMERR


@pytest.mark.parametrize("tcp", TRANSPORTS)
def test_two_opt_records_get_formerr(plain, tcp):
    wire = (h.raw_header(qid=0x4242, ar=2) + h.raw_question(ZONE, qtype=6)
            + h.raw_opt() + h.raw_opt())
    send = h.tcp_raw if tcp else h.udp_raw
    formerr_with_id(send(wire, plain.port), 0x4242)


@pytest.mark.parametrize("section", ["answer", "authority"])
def test_opt_outside_additional_gets_formerr(plain, section):
    counts = {"an": 1} if section == "answer" else {"ns": 1}
    wire = h.raw_header(qid=0x4343, **counts) + h.raw_question(ZONE, qtype=6) + h.raw_opt()
    formerr_with_id(h.udp_raw(wire, plain.port), 0x4343)


def test_opt_not_owned_by_root_gets_formerr(plain):
    opt = h.wire_name("x.") + struct.pack("!HHIH", 41, 1232, 0, 0)
    wire = h.raw_header(qid=0x4444, ar=1) + h.raw_question(ZONE, qtype=6) + opt
    formerr_with_id(h.udp_raw(wire, plain.port), 0x4444)


def test_truncated_option_gets_formerr(plain):
    # the option claims 10 bytes of data, the OPT RDATA holds 2
    opt = b"\0" + struct.pack("!HHIH", 41, 1232, 0, 6) + struct.pack("!HH", 100, 10) + b"ab"
    wire = h.raw_header(qid=0x4545, ar=1) + h.raw_question(ZONE, qtype=6) + opt
    formerr_with_id(h.udp_raw(wire, plain.port), 0x4545)


# ------------------------------------------------------------ real clients

def run(argv):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=20 * h.SLOW)
    return p.stdout + p.stderr


def dig(server, *args):
    return run(["dig", "@127.0.0.1", "-p", str(server.port), "+norec", "+time=2", "+tries=1",
                *args])


def kdig(server, *args):
    return run(["kdig", "@127.0.0.1", "-p", str(server.port), "+norec", "+time=2",
                "+retry=0", *args])


def dig_flags(out):
    m = re.search(r";; flags: ([a-z ]*);", out)
    assert m, out
    return set(m.group(1).split())


def test_dig_plain_and_edns(plain):
    out = dig(plain, "+noedns", ZONE, "SOA")
    assert "status: NOERROR" in out and "OPT PSEUDOSECTION" not in out, out
    out = dig(plain, "+edns=0", ZONE, "SOA")
    assert "status: NOERROR" in out and "EDNS: version: 0" in out, out


def test_dig_edns1_badvers(plain):
    out = dig(plain, "+edns=1", "+noednsneg", ZONE, "SOA")
    assert "status: BADVERS" in out and "EDNS: version: 0" in out, out


def test_dig_bufsize_512_truncates_and_tcp_completes(plain):
    out = dig(plain, "+bufsize=512", "+ignore", "big.diff.test.", "TXT")
    assert "tc" in dig_flags(out), out
    out = dig(plain, "+bufsize=512", "+tcp", "big.diff.test.", "TXT")
    assert "tc" not in dig_flags(out) and out.count("big-record-") == 12, out


def test_dig_nsid(ident, plain):
    out = dig(ident, "+nsid", ZONE, "SOA")
    assert re.search(r'NSID: 6e 73 31 \("ns1"\)', out), out
    out = dig(plain, "+nsid", ZONE, "SOA")
    assert "NSID" not in out and "status: NOERROR" in out, out


def test_kdig_nsid_and_chaos(ident):
    out = kdig(ident, "+nsid", ZONE, "SOA")
    assert "NSID: 6E7331" in out.replace(" ", "").upper() or '"ns1"' in out, out
    out = kdig(ident, "-c", "CH", "-t", "TXT", "version.bind")
    assert '"moondns"' in out and "NOERROR" in out, out


def test_kdig_tcp_large_answer(plain):
    out = kdig(plain, "+tcp", "huge.diff.test.", "TXT")
    assert out.count("huge-record-") == 40 and "NOERROR" in out, out
