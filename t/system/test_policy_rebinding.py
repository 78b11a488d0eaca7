"""policies/rebinding.lua in a running moondns (doc/policies/rebinding.md):
moondns forwards to a scripted upstream (upstream.py) that plays an
attacker's server, answering public names with private, loopback,
link-local, ULA and IPv4-mapped addresses. The forwarded answers are
refused (or stripped), cache hits included; allow-listed names and the
server's own zone are left alone."""
import dns.rcode
import dns.rdatatype
import pytest

import helpers as h
import upstream as u

EDE = 15

ANSWERS = {
    "www.public.example.": ["A 198.51.100.7"],
    "rebind.evil.example.": ["A 10.96.0.1"],
    "lo.evil.example.": ["A 127.0.0.1"],
    "meta.evil.example.": ["A 169.254.169.254"],
    "cgnat.evil.example.": ["A 100.64.1.1"],
    "mixed.evil.example.": ["A 198.51.100.8", "A 192.168.1.1", "A 198.51.100.9"],
    "ula.evil.example.": ["AAAA fd12::1"],
    "mapped.evil.example.": ["AAAA ::ffff:10.0.0.1"],
    "v6ok.public.example.": ["AAAA 2001:db8::7"],
    "hint.evil.example.": ["HTTPS 1 . alpn=h2 ipv4hint=10.0.0.1"],
    "hintok.public.example.": ["HTTPS 1 . alpn=h2 ipv4hint=198.51.100.1"],
    "db.corp.example.": ["A 10.1.2.3"],
}
CHAIN = "chain.evil.example."


def handler(q, raw, transport):
    if q is None or not q.question:
        return []
    qs = q.question[0]
    name = qs.name.to_text().lower()
    if name == CHAIN:
        return [u.reply(q, answer=[f"{CHAIN} 60 CNAME db.corp.example.",
                                   "db.corp.example. 60 A 10.1.2.3"])]
    rrs = [r for r in ANSWERS.get(name, [])
           if dns.rdatatype.from_text(r.split()[0]) == qs.rdtype]
    if name not in ANSWERS:
        return [u.reply(q, rcode=dns.rcode.NXDOMAIN)]
    return [u.reply(q, answer=[f"{name} 60 {r}" for r in rrs])]


CONF = """\
workers: 1
log: {{ level: info }}
servers:
  - name: edge
    listen: [ "dns://127.0.0.1:{port}" ]
    zones: [ . ]
    zone_files:
      - origin: lab.test.
        inline: |
          $TTL 300
          @    SOA  ns1 hostmaster 1 3600 600 604800 60
               NS   ns1
          ns1  A    10.0.0.53
          nas  A    192.168.1.10
    forward: {{ to: [ "127.0.0.1:{up}" ] }}
    cache: {{ capacity: 1M }}
    policies:
      - rebinding:
          allow: [ corp.example. ]
          action: {action}
"""


@pytest.fixture(scope="module")
def upstream():
    up = u.Upstream(handler=handler)
    yield up
    up.stop()


def start(pool, up, action):
    port = h.free_port()
    return pool.moondns(CONF.format(port=port, up=up.port, action=action), port,
                        name=f"moondns-rebinding-{action}", probe_name="lab.test.")


@pytest.fixture(scope="module")
def refuse(servers, upstream):
    return start(servers, upstream, "refuse")


@pytest.fixture(scope="module")
def strip(servers, upstream):
    return start(servers, upstream, "strip")


def ask(port, name, qtype="A"):
    r = h.query(port, name, qtype, rd=True, edns=0)
    assert r is not None, name
    return r


def ede_of(r):
    for o in (r.options if r.edns >= 0 else []):
        if o.otype == EDE:
            return o.code
    return None


def rdatas(r, rtype="A"):
    t = dns.rdatatype.from_text(rtype)
    return sorted(rd.to_text() for rs in r.answer if rs.rdtype == t for rd in rs)


def test_public_answers_pass(refuse):
    assert rdatas(ask(refuse.port, "www.public.example.")) == ["198.51.100.7"]
    assert rdatas(ask(refuse.port, "v6ok.public.example.", "AAAA"), "AAAA") == ["2001:db8::7"]
    r = ask(refuse.port, "hintok.public.example.", "HTTPS")
    assert r.rcode() == dns.rcode.NOERROR and len(r.answer) == 1


@pytest.mark.parametrize("name, qtype", [
    ("rebind.evil.example.", "A"), ("lo.evil.example.", "A"), ("meta.evil.example.", "A"),
    ("cgnat.evil.example.", "A"), ("mixed.evil.example.", "A"), ("ula.evil.example.", "AAAA"),
    ("mapped.evil.example.", "AAAA"), ("hint.evil.example.", "HTTPS"), (CHAIN, "A"),
])
def test_internal_addresses_are_refused(refuse, name, qtype):
    r = ask(refuse.port, name, qtype)
    assert r.rcode() == dns.rcode.REFUSED and not r.answer
    assert ede_of(r) == EDE


def test_cache_hits_are_checked_too(refuse, upstream):
    ask(refuse.port, "cgnat.evil.example.")        # fills the cache
    upstream.clear()
    for _ in range(3):
        r = ask(refuse.port, "cgnat.evil.example.")
        assert r.rcode() == dns.rcode.REFUSED
    assert upstream.count("cgnat.evil.example.") == 0, "answered from the cache"


def test_allowed_zone_and_own_zone(refuse):
    assert rdatas(ask(refuse.port, "db.corp.example.")) == ["10.1.2.3"]
    assert rdatas(ask(refuse.port, "nas.lab.test.")) == ["192.168.1.10"]
    assert rdatas(ask(refuse.port, "ns1.lab.test.")) == ["10.0.0.53"]


def test_strip_keeps_the_public_records(strip):
    r = ask(strip.port, "mixed.evil.example.")
    assert r.rcode() == dns.rcode.NOERROR
    assert rdatas(r) == ["198.51.100.8", "198.51.100.9"]
    assert ede_of(r) == EDE
    r = ask(strip.port, "rebind.evil.example.")
    assert r.rcode() == dns.rcode.NOERROR and not r.answer and ede_of(r) == EDE
    r = ask(strip.port, "www.public.example.")
    assert rdatas(r) == ["198.51.100.7"] and ede_of(r) is None
