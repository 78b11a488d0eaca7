"""policies/loadbalance.lua in a running moondns
(doc/policies/loadbalance.md): the order of A/AAAA/MX records changes from
query to query while the records stay the same, a CNAME chain stays first
and in order, other types keep their order, and preferred subnets (listed,
or the client's own, or its EDNS Client Subnet) come first."""
import collections

import dns.edns
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

import helpers as h

ZONE = """\
          $TTL 300
          @      SOA   ns1 hostmaster 1 3600 600 604800 60
                 NS    ns1
          ns1    A     192.0.2.1
          web    A     192.0.2.11
                 A     192.0.2.12
                 A     192.0.2.13
                 A     192.0.2.14
                 AAAA  2001:db8::11
                 AAAA  2001:db8::12
                 AAAA  2001:db8::13
                 TXT   "one"
                 TXT   "two"
                 TXT   "three"
          www    CNAME alias
          alias  CNAME web
          @      MX    10 mx1
                 MX    10 mx2
                 MX    10 mx3
          near   A     198.51.100.5
                 A     127.0.0.5
                 A     192.0.2.5
                 A     203.0.113.5
"""

CONF = """\
workers: 1
log: {{ level: info }}
servers:
  - name: lb
    listen: [ "dns://127.0.0.1:{port}" ]
    zone_files:
      - origin: lb.test.
        inline: |
{zone}
    policies:
      - loadbalance: {options}
"""


def start(pool, options, name):
    port = h.free_port()
    return pool.moondns(CONF.format(port=port, zone=ZONE, options=options), port, name=name,
                        probe_name="lb.test.")


@pytest.fixture(scope="module")
def lb(servers):
    return start(servers, "{}", "moondns-lb")


@pytest.fixture(scope="module")
def prefer(servers):
    return start(servers, "{ prefer: [ 192.0.2.0/24 ], prefer_client: true }",
                 "moondns-lb-prefer")


def order(r, rtype):
    t = dns.rdatatype.from_text(rtype)
    return [rd.to_text() for rs in r.answer if rs.rdtype == t for rd in rs]


def orders(port, name, rtype, n=120, src="127.0.0.1", **kw):
    seen = collections.Counter()
    for _ in range(n):
        wire = h.make_query(name, rtype, edns=0, **kw).to_wire()
        r = dns.message.from_wire(h.udp_raw(wire, port, src=src))
        assert r.rcode() == dns.rcode.NOERROR
        seen[tuple(order(r, rtype))] += 1
    return seen


@pytest.mark.parametrize("rtype, count", [("A", 4), ("AAAA", 3)])
def test_addresses_are_shuffled(lb, rtype, count):
    seen = orders(lb.port, "web.lb.test.", rtype)
    assert {len(o) for o in seen} == {count}
    assert len({frozenset(o) for o in seen}) == 1, "always the same records"
    assert len(seen) >= 6, seen
    firsts = collections.Counter(o[0] for o in seen.elements())
    assert len(firsts) == count, f"every record comes first sometimes: {firsts}"


def test_mx_is_shuffled(lb):
    assert len(orders(lb.port, "lb.test.", "MX")) >= 4


def test_txt_keeps_its_order(lb):
    assert len(orders(lb.port, "web.lb.test.", "TXT", n=30)) == 1


def test_cname_chain_stays_first_and_in_order(lb):
    firsts = set()
    for _ in range(60):
        r = h.query(lb.port, "www.lb.test.", "A", edns=0)
        types = [rs.rdtype for rs in r.answer]
        names = [rs.name.to_text() for rs in r.answer]
        assert types == [dns.rdatatype.CNAME, dns.rdatatype.CNAME, dns.rdatatype.A]
        assert names == ["www.lb.test.", "alias.lb.test.", "web.lb.test."]
        firsts.add(order(r, "A")[0])
    assert len(firsts) == 4


def test_client_subnet_then_listed_subnets_first(prefer):
    # From 127.0.0.9 the client's /24 is 127.0.0.0/24: 127.0.0.5 first,
    # then the listed 192.0.2.0/24, then the rest in any order.
    seen = orders(prefer.port, "near.lb.test.", "A", n=60, src="127.0.0.9")
    for o in seen:
        assert o[:2] == ("127.0.0.5", "192.0.2.5"), o
    assert {o[2] for o in seen} == {"198.51.100.5", "203.0.113.5"}
    # An EDNS Client Subnet option speaks for the client.
    ecs = [dns.edns.ECSOption("203.0.113.0", 24)]
    seen = orders(prefer.port, "near.lb.test.", "A", n=40, src="127.0.0.9", options=ecs)
    for o in seen:
        assert o[:2] == ("203.0.113.5", "192.0.2.5"), o
