"""policies/acl.lua in a running moondns (doc/policies/acl.md): queries
sent from several 127.x source addresses (and ::1) get allow, block
(REFUSED + EDE 15), filter (empty NOERROR + EDE 17) or drop; zones and
query types select the rules; a 10,000-prefix ACL loads and answers; and
examples/hardened.yaml is exercised from inside, guest and outside
addresses."""
import os
import re
import time

import dns.message
import dns.rcode
import dns.rdatatype
import pytest

import helpers as h

EDE = 15


def ede_of(r):
    for o in (r.options if r.edns >= 0 else []):
        if o.otype == EDE:
            return o.code
    return None


def answers(r, rtype="A"):
    t = dns.rdatatype.from_text(rtype)
    return sorted(rd.to_text() for rs in r.answer if rs.rdtype == t for rd in rs)


def ask_from(port, qname, qtype="A", src="127.0.0.1", addr="127.0.0.1", timeout=2.0, **kw):
    kw.setdefault("edns", 0)
    wire = h.make_query(qname, qtype, **kw).to_wire()
    raw = h.udp_raw(wire, port, addr=addr, src=src, timeout=timeout)
    return None if raw is None else dns.message.from_wire(raw)


ZONES = """\
      - origin: acl.test.
        inline: |
          $TTL 300
          @    SOA  ns1 hostmaster 1 3600 600 604800 60
               NS   ns1
          ns1  A    192.0.2.1
          www  A    192.0.2.10
               TXT  "hello"
      - origin: open.test.
        inline: |
          $TTL 300
          @    SOA  ns1 hostmaster 1 3600 600 604800 60
               NS   ns1
          ns1  A    192.0.2.1
          www  A    192.0.2.11
"""

CONF = """\
workers: 1
log: {{ level: info }}
servers:
  - name: acl
    listen: [ {listen} ]
    zone_files:
{zones}
    policies:
      - acl:
          zones: [ acl.test. ]
          rules:
            - {{ action: drop, net: [ 127.0.0.4 ] }}
            - {{ action: filter, net: [ 127.0.0.3/32 ], type: [ TXT ] }}
            - {{ action: block, net: [ 127.0.0.2, 127.0.0.3 ], type: [ A ] }}
            - {{ action: allow, net: [ 127.0.0.0/29, "::1/128" ] }}
            - {{ action: block }}
"""


@pytest.fixture(scope="module")
def acl(servers):
    port = h.free_port(v6=h.ipv6_loopback())
    listen = f'"dns://127.0.0.1:{port}"'
    if h.ipv6_loopback():
        listen += f', "dns://[::1]:{port}"'
    return servers.moondns(CONF.format(listen=listen, zones=ZONES), port, name="moondns-acl",
                           probe_name="www.open.test.")


def test_allowed_client(acl):
    r = ask_from(acl.port, "www.acl.test.", src="127.0.0.1")
    assert r.rcode() == dns.rcode.NOERROR and answers(r) == ["192.0.2.10"]
    assert ede_of(r) is None


def test_block_is_refused_with_ede_15(acl):
    for src in ("127.0.0.2", "127.0.0.3"):
        r = ask_from(acl.port, "www.acl.test.", src=src)
        assert r.rcode() == dns.rcode.REFUSED and not r.answer, src
        assert ede_of(r) == 15, src
    # No EDNS from the client: no OPT, so no EDE either.
    r = ask_from(acl.port, "www.acl.test.", src="127.0.0.2", edns=-1)
    assert r.rcode() == dns.rcode.REFUSED and r.edns < 0
    # The rule is for A only: other types go on to the next rules.
    r = ask_from(acl.port, "www.acl.test.", "TXT", src="127.0.0.2")
    assert r.rcode() == dns.rcode.NOERROR and answers(r, "TXT") == ['"hello"']


def test_filter_is_empty_noerror_with_ede_17(acl):
    r = ask_from(acl.port, "www.acl.test.", "TXT", src="127.0.0.3")
    assert r.rcode() == dns.rcode.NOERROR and not r.answer
    assert ede_of(r) == 17


def test_drop_sends_nothing(acl):
    assert ask_from(acl.port, "www.acl.test.", src="127.0.0.4", timeout=0.5) is None
    r = h.tcp_raw(h.make_query("www.acl.test.").to_wire(), acl.port)
    assert r is not None, "from 127.0.0.1 over TCP it still answers"


def test_default_rule_and_zones(acl):
    r = ask_from(acl.port, "www.acl.test.", src="127.0.0.9")
    assert r.rcode() == dns.rcode.REFUSED and ede_of(r) == 15
    # open.test. is not in the ACL's zones: everyone gets an answer.
    for src in ("127.0.0.2", "127.0.0.9"):
        r = ask_from(acl.port, "www.open.test.", src=src)
        assert r.rcode() == dns.rcode.NOERROR and answers(r) == ["192.0.2.11"], src
    assert ask_from(acl.port, "www.open.test.", src="127.0.0.4", timeout=1) is not None


def test_ipv6_client(acl):
    if not h.ipv6_loopback():
        pytest.skip("no IPv6 loopback here")
    r = ask_from(acl.port, "www.acl.test.", addr="::1", src="::1")
    assert r.rcode() == dns.rcode.NOERROR and answers(r) == ["192.0.2.10"]


def test_ten_thousand_prefixes(own_servers, tmp_path):
    """A generated ACL of 10,000 prefixes (none of them loopback) plus the
    loopback addresses that decide: it loads, and answers as the rules say."""
    nets = [f"{10 + i % 200}.{(i // 200) % 256}.{i % 256}.0/24" for i in range(9990)]
    nets += [f"2001:db8:{i:x}::/48" for i in range(10)]
    nets += ["127.0.0.2/32"]
    port = h.free_port()
    rules = ("            - { action: block, net: [ " + ", ".join(f'"{n}"' for n in nets)
             + " ] }\n            - { action: allow }\n")
    conf = CONF.format(listen=f'"dns://127.0.0.1:{port}"', zones=ZONES)
    conf = conf[:conf.index("          rules:\n") + len("          rules:\n")] + rules
    t0 = time.monotonic()
    own_servers.moondns(conf, port, name="moondns-acl10k", probe_name="www.open.test.")
    started = time.monotonic() - t0
    assert started < 10 * h.SLOW
    r = ask_from(port, "www.acl.test.", src="127.0.0.2")
    assert r.rcode() == dns.rcode.REFUSED and ede_of(r) == 15
    r = ask_from(port, "www.acl.test.", src="127.0.0.1")
    assert r.rcode() == dns.rcode.NOERROR


# ------------------------------------------------------------ hardened.yaml

@pytest.fixture(scope="module")
def hardened(servers, tmp_path_factory):
    port = h.free_port()
    with open(os.path.join(h.EXAMPLES, "hardened.yaml")) as f:
        text = f.read()
    text = re.sub(r"(dns://127\.0\.0\.1:)5353", lambda m: m.group(1) + str(port), text)
    path = os.path.join(str(tmp_path_factory.mktemp("hardened")), "hardened.yaml")
    with open(path, "w") as f:
        f.write(text)
    return servers.moondns(None, port, config_path=path, name="moondns-hardened",
                           probe_name="www.example.net.")


def test_hardened_inside_client(hardened):
    r = ask_from(hardened.port, "api.corp.test.", src="127.0.0.1")
    assert answers(r) == ["10.0.0.10"], "internal zone: private address allowed"
    r = ask_from(hardened.port, "www.example.net.", src="127.0.0.7")
    assert answers(r) == ["198.51.100.10"]
    r = ask_from(hardened.port, "rebind.example.net.", src="127.0.0.1")
    assert r.rcode() == dns.rcode.REFUSED and ede_of(r) == 15, "rebinding"
    r = ask_from(hardened.port, "sinkholed.example.net.", src="127.0.0.1")
    assert r.rcode() == dns.rcode.NXDOMAIN and ede_of(r) == 15, "firewall response rule"
    r = ask_from(hardened.port, "00112233445566778899.t.example.net.", "TXT", src="127.0.0.1")
    assert r.rcode() == dns.rcode.REFUSED
    ede = [o for o in r.options if o.otype == EDE][0]
    assert ede.code == 15 and ede.text == "looks like DNS tunnelling"
    r = ask_from(hardened.port, "short.t.example.net.", "TXT", src="127.0.0.1")
    assert answers(r, "TXT") == ['"data"']
    r = ask_from(hardened.port, "www.example.net.", "ANY", src="127.0.0.1")
    assert r.rcode() == dns.rcode.REFUSED and ede_of(r) == 15, "acl: no ANY"


def test_hardened_guest_and_outside_clients(hardened):
    r = ask_from(hardened.port, "short.t.example.net.", "TXT", src="127.0.2.9")
    assert r.rcode() == dns.rcode.NOERROR and not r.answer and ede_of(r) == 17
    r = ask_from(hardened.port, "www.example.net.", src="127.0.2.9")
    assert answers(r) == ["198.51.100.10"]
    for src in ("127.0.1.1", "127.0.3.3", "127.1.0.1"):
        r = ask_from(hardened.port, "www.example.net.", src=src)
        assert r.rcode() == dns.rcode.REFUSED and ede_of(r) == 15, src
