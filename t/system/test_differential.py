"""Differential test: moondns against knotd on the same zones.

Both servers load t/system/zones/ (a zone with one owner per answer-algorithm
case, a second zone for cross-zone targets, and a pre-signed NSEC zone). The
query list is generated from the zone files: every owner (and every empty
non-terminal, and a child of every owner) times the common types and the
types present at it, plus case variants and names outside the zones; each
over UDP with and without DO, a share without EDNS, and a sample over TCP.
For every query the rcode, the flags AA TC RD RA AD CD, the question, the
presence of OPT and the answer/authority/additional sections (as sets of
RRsets: name, type, TTL, rdata) must match. One test per owner name lists
every difference it found.

The few places where moondns deliberately differs from knotd are the
KNOWN DIFFERENCES below, each with its reason; everything else must match.
"""
import collections
import os
import random

import dns.message
import dns.flags
import dns.name
import dns.rdatatype
import dns.zone
import pytest

import helpers as h

ZONES = [("diff.test.", "diff.test.zone"),
         ("other.test.", "other.test.zone"),
         ("signed.test.", "signed.test.zone")]

COMMON_TYPES = ["A", "AAAA", "NS", "SOA", "MX", "TXT", "CNAME", "SRV", "DS", "ANY"]
OUTSIDE = [("example.org.", "A"), ("test.", "SOA"), ("outside.example.", "A"),
           (".", "NS"), ("xdiff.test.", "A"), ("diff.test.example.", "A")]

Q = collections.namedtuple("Q", "qname qtype tcp do edns rd cd ad")


def describe(q):
    bits = ["tcp" if q.tcp else "udp", f"DO={int(q.do)}" if q.edns >= 0 else "no-EDNS"]
    bits += [f for f in ("rd", "cd", "ad") if getattr(q, f)]
    return f"{q.qname} {q.qtype} ({', '.join(bits)})"


def zone_owners(origin, fname):
    """{owner name: set of type names} of a zone file, read by dnspython."""
    z = dns.zone.from_file(os.path.join(h.ZONEDIR, fname), origin=origin, relativize=False,
                           check_origin=False)
    owners = {}
    for name, node in z.nodes.items():
        owners[name] = {dns.rdatatype.to_text(rds.rdtype) for rds in node.rdatasets
                        if rds.rdtype != dns.rdatatype.RRSIG}
    return dns.name.from_text(origin), owners


def empty_non_terminals(origin, owners):
    ents = set()
    for name in owners:
        parent = name.parent()
        while parent != origin and parent.is_subdomain(origin):
            if parent not in owners:
                ents.add(parent)
            parent = parent.parent()
    return ents


def random_case(text, rng):
    return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in text)


def build_groups():
    """[(group id, [Q, ...])]: one group per owner name (and per derived name)."""
    rng = random.Random(20240101)
    per_name = []   # (group id, name text, [types])
    for origin, fname in ZONES:
        apex, owners = zone_owners(origin, fname)
        for name in sorted(owners):
            types = COMMON_TYPES + sorted(owners[name] - set(COMMON_TYPES))
            per_name.append((name.to_text(), name.to_text(), types))
            child = "x1." + name.to_text()
            per_name.append((child, child, ["A", "TXT", "NS"]))
        for name in sorted(empty_non_terminals(apex, owners)):
            per_name.append((name.to_text() + " (ENT)", name.to_text(), ["A", "TXT", "NS"]))
        for name in sorted(owners)[::3]:
            variant = random_case(name.to_text(), rng)
            per_name.append((variant + " (case)", variant, ["A", "MX", "ANY", "NS"]))
        per_name.append((f"nx.{origin}", f"nx.{origin}", ["A", "SOA"]))
    for name, qtype in OUTSIDE:
        per_name.append((f"{name} (not served)", name, [qtype]))

    groups = []
    idx = 0
    for gid, name, types in per_name:
        queries = []
        for qtype in types:
            idx += 1
            rd, cd, ad = idx % 7 == 0, idx % 11 == 0, idx % 13 == 0
            queries.append(Q(name, qtype, False, False, 0, rd, cd, ad))
            queries.append(Q(name, qtype, False, True, 0, rd, cd, ad))
            if idx % 3 == 0:
                queries.append(Q(name, qtype, False, False, -1, rd, cd, ad))
            if idx % 4 == 0:
                queries.append(Q(name, qtype, True, idx % 8 == 0, 0, rd, cd, ad))
        groups.append((gid, queries))
    return groups


GROUPS = build_groups()


def to_msg(q):
    return h.make_query(q.qname, q.qtype, edns=q.edns, do=q.do, rd=q.rd, cd=q.cd, ad=q.ad)


@pytest.fixture(scope="module")
def pair(servers):
    """(moondns client, knotd client), both serving ZONES."""
    files = [(o, os.path.join(h.ZONEDIR, f)) for o, f in ZONES]
    knot = servers.knotd(h.free_port(), files)
    port = h.free_port()
    conf = h.moon_config(port, [{"origin": o, "file": p} for o, p in files])
    moon = servers.moondns(conf, port, probe_name="diff.test.")
    m, k = h.Client(moon.port), h.Client(knot.port)
    yield m, k
    m.close()
    k.close()


# ------------------------------------------------------------ KNOWN DIFFERENCES

def reconcile(q, moon, knot, diffs, knot_client):
    """Drops the differences that are deliberate, checking moondns against
    the rule that replaces the comparison instead. Keep this list short."""
    out = []
    for field, mv, kv in diffs:
        # 1. CD: RFC 4035 §3.1.6 says the server MUST copy CD from the query
        #    into the response; knotd 3.2 always clears it. moondns copies it,
        #    so check it against the query instead of against knotd.
        if field == "flag CD":
            continue
        # 2. ANY: RFC 8482 §4.1 lets the server return any one RRset of the
        #    name; knotd returns the one with the lowest type code. moondns
        #    may pick another, so its answer must be exactly one RRset of the
        #    node (with its RRSIG under DO), identical to knotd's answer for
        #    that type; additional data then depends on the pick.
        if q.qtype == "ANY" and knot.answer and (
                field == "answer" or (field == "additional" and
                                      answer_types(moon) != answer_types(knot))):
            continue
        out.append((field, mv, kv))
    moon_cd = bool(moon.flags & dns.flags.CD)
    if moon_cd != q.cd:
        out.append(("flag CD must be copied from the query (RFC 4035 §3.1.6)", moon_cd,
                    f"(not compared; the query had CD={int(q.cd)})"))
    if q.qtype == "ANY" and knot.answer:
        out += check_any(q, moon, knot_client)
    return out


def answer_types(msg):
    return {rs.rdtype for rs in msg.answer if rs.rdtype != dns.rdatatype.RRSIG}


def check_any(q, moon, knot_client):
    picked = answer_types(moon)
    if len(picked) != 1:
        return [("ANY answer: expected exactly one RRset", sorted(h.rrset_text(rs)
                 for rs in moon.answer), "one RRset")]
    qtype = dns.rdatatype.to_text(picked.pop())
    ref = knot_client.ask(to_msg(q._replace(qtype=qtype)), tcp=q.tcp)
    if ref is None:
        return [(f"ANY: knotd did not answer the {qtype} query (test set-up problem)", "", "")]
    ma = h.section_map(moon, "answer")
    ka = h.section_map(ref, "answer")
    if ma.keys() != ka.keys():
        return [(f"ANY answer vs knotd's {qtype} answer", sorted(ma.values()),
                 sorted(ka.values()))]
    return []


# ------------------------------------------------------------ tests

def test_query_list_is_large_enough():
    total = sum(len(qs) for _, qs in GROUPS)
    udp = sum(1 for _, qs in GROUPS for q in qs if not q.tcp)
    tcp = total - udp
    assert total >= 200 and tcp >= 50, (total, tcp)


@pytest.mark.parametrize("queries", [qs for _, qs in GROUPS], ids=[g for g, _ in GROUPS])
def test_same_answer_as_knotd(pair, queries):
    mc, kc = pair
    problems = []
    for q in queries:
        wire = to_msg(q).to_wire()
        knot_raw = kc.ask_raw(wire, tcp=q.tcp)
        moon_raw = mc.ask_raw(wire, tcp=q.tcp)
        if knot_raw is None:
            problems.append(f"{describe(q)}: knotd did not answer (test set-up problem)")
            continue
        if moon_raw is None:
            problems.append(f"{describe(q)}: moondns did not answer")
            continue
        # Record counts from the raw headers: dnspython merges duplicate
        # records, so a record written twice would not show in the sections.
        if h.header(moon_raw)[3:6] != h.header(knot_raw)[3:6]:
            problems.append(f"{describe(q)}: AN/NS/AR counts: moondns "
                            f"{h.header(moon_raw)[3:6]}, knotd {h.header(knot_raw)[3:6]}")
        moon = dns.message.from_wire(moon_raw)
        knot = dns.message.from_wire(knot_raw)
        for field, mv, kv in reconcile(q, moon, knot, h.compare(moon, knot), kc):
            problems.append(f"{describe(q)}: {field}:\n      moondns: {mv}\n      knotd:   {kv}")
    assert not problems, f"{len(problems)} difference(s):\n  " + "\n  ".join(problems)
