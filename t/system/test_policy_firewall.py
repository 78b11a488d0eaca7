"""policies/firewall.lua in a running moondns (doc/policies/firewall.md):
examples/edns0-secret.yaml with and without the shared secret, rules on
the client address (queries sent from several 127.x sources), the four
actions and their EDE codes, response rules on zone answers, and rules
rejected when the config is checked."""
import os
import re
import subprocess

import dns.edns
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

import helpers as h

EDE = 15  # the EDNS option code of Extended DNS Errors (RFC 8914)


def relocated(path, workdir, port):
    """The example with its listen port replaced, written into workdir."""
    with open(path) as f:
        text = f.read()
    text = re.sub(r"(dns://127\.0\.0\.1:)5353", lambda m: m.group(1) + str(port), text)
    out = os.path.join(workdir, os.path.basename(path))
    with open(out, "w") as f:
        f.write(text)
    return out


def ede_of(r):
    for o in (r.options if r.edns >= 0 else []):
        if o.otype == EDE:
            return o.code
    return None


def answers(r, rtype="A"):
    t = dns.rdatatype.from_text(rtype)
    return sorted(rd.to_text() for rs in r.answer if rs.rdtype == t for rd in rs)


def ask_from(port, qname, qtype="A", src="127.0.0.1", timeout=2.0, **kw):
    """One UDP query sent from the source address src; None without reply."""
    wire = h.make_query(qname, qtype, **kw).to_wire()
    raw = h.udp_raw(wire, port, src=src, timeout=timeout)
    return None if raw is None else dns.message.from_wire(raw)


@pytest.fixture(scope="module")
def secret(servers, tmp_path_factory):
    port = h.free_port()
    d = str(tmp_path_factory.mktemp("edns0-secret"))
    path = relocated(os.path.join(h.EXAMPLES, "edns0-secret.yaml"), d, port)
    return servers.moondns(None, port, config_path=path, name="moondns-secret",
                           probe_name="www.secret.test.")


SECRET = dns.edns.GenericOption(65200, b"s3cret")


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_secret_example_answers_with_the_option(secret, tcp):
    q = h.make_query("www.secret.test.", "A", options=[SECRET])
    r = h.exchange(q, secret.port, tcp=tcp)
    assert r is not None and r.rcode() == dns.rcode.NOERROR
    assert answers(r) == ["192.0.2.80"]
    r = h.exchange(h.make_query("www.secret.test.", "TXT", options=[SECRET]), secret.port,
                   tcp=tcp)
    assert answers(r, "TXT") == ['"for members only"']
    r = h.exchange(h.make_query("nothere.secret.test.", "A", options=[SECRET]), secret.port,
                   tcp=tcp)
    assert r.rcode() == dns.rcode.NXDOMAIN, "the zone answers as usual behind the firewall"


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_secret_example_refuses_everything_else(secret, tcp):
    # EDNS without the option, and with a wrong secret: REFUSED + EDE 18.
    for opts in ([], [dns.edns.GenericOption(65200, b"guess")],
                 [dns.edns.GenericOption(65201, b"s3cret")],
                 [dns.edns.GenericOption(65200, b"s3cret!")]):
        r = h.exchange(h.make_query("www.secret.test.", "A", edns=0, options=opts),
                       secret.port, tcp=tcp)
        assert r is not None and r.rcode() == dns.rcode.REFUSED, opts
        assert not r.answer
        assert ede_of(r) == 18, "Prohibited"
    # No EDNS at all: REFUSED, and no OPT record in the reply.
    r = h.exchange(h.make_query("www.secret.test.", "A"), secret.port, tcp=tcp)
    assert r.rcode() == dns.rcode.REFUSED and r.edns < 0


CLIENT_RULES = """\
workers: 1
log: {{ level: info }}
servers:
  - name: fw
    listen: [ "dns://127.0.0.1:{port}" ]
    zone_files:
      - origin: fw.test.
        inline: |
          $TTL 300
          @        SOA  ns1 hostmaster 1 3600 600 604800 60
                   NS   ns1
          ns1      A    192.0.2.1
          www      A    192.0.2.10
          internal A    192.0.2.20
                   A    10.0.0.20
          ads      A    192.0.2.66
    policies:
      - firewall:
          query:
            - drop: 'incidr(client, "127.0.0.4")'
            - refuse: 'incidr(client, "127.0.0.2", "127.0.0.3/32") and name ~= "www.fw.test."'
            - block: 'inzone(name, "ads.fw.test")'
            - refuse: 'type == "ANY" or qtype == 255'
              ede: NOT_SUPPORTED
              ede_text: "no ANY"
            - allow: true
          response:
            - block: 'any_ip_in("10.0.0.0/8") and not incidr(client, "127.0.0.5")'
          default: allow
"""


@pytest.fixture(scope="module")
def fw(servers):
    port = h.free_port()
    return servers.moondns(CLIENT_RULES.format(port=port), port, name="moondns-fw",
                           probe_name="www.fw.test.")


def test_rules_on_the_client_address(fw):
    r = ask_from(fw.port, "www.fw.test.", src="127.0.0.1")
    assert r.rcode() == dns.rcode.NOERROR and answers(r) == ["192.0.2.10"]
    for src in ("127.0.0.2", "127.0.0.3"):
        r = ask_from(fw.port, "ns1.fw.test.", src=src, edns=0)
        assert r.rcode() == dns.rcode.REFUSED and ede_of(r) == 18, src
        r = ask_from(fw.port, "www.fw.test.", src=src)
        assert r.rcode() == dns.rcode.NOERROR, "the rule's name condition holds " + src
    assert ask_from(fw.port, "www.fw.test.", src="127.0.0.4", timeout=0.5) is None, "dropped"
    r = ask_from(fw.port, "ns1.fw.test.", src="127.0.0.6")
    assert r.rcode() == dns.rcode.NOERROR


def test_block_is_nxdomain_with_ede_15(fw):
    for name in ("ads.fw.test.", "x.ads.fw.test."):
        r = h.query(fw.port, name, edns=0)
        assert r.rcode() == dns.rcode.NXDOMAIN and not r.answer
        assert ede_of(r) == 15, "Blocked"


def test_rule_chooses_its_ede(fw):
    r = h.query(fw.port, "www.fw.test.", "ANY", edns=0)
    assert r.rcode() == dns.rcode.REFUSED
    ede = [o for o in r.options if o.otype == EDE][0]
    assert ede.code == 21 and ede.text == "no ANY"


def test_response_rules_see_every_answer_address(fw):
    # 10.0.0.20 is the second address of the RRset: still caught.
    r = h.query(fw.port, "internal.fw.test.", edns=0)
    assert r.rcode() == dns.rcode.NXDOMAIN and ede_of(r) == 15
    r = ask_from(fw.port, "internal.fw.test.", src="127.0.0.5")
    assert r.rcode() == dns.rcode.NOERROR
    assert answers(r) == ["10.0.0.20", "192.0.2.20"]


@pytest.mark.parametrize("rule, message", [
    ("'nmae == \"x.\"'", "unknown name 'nmae'"),
    ("'response_ip == \"10.0.0.1\"'", "in response rules only"),
    ("'incidr(client, \"10.0.0.0/99\")'", "bad network"),
    ("'name == '", "query\\[1\\]"),
])
def test_check_rejects_bad_rules(tmp_path, rule, message):
    conf = tmp_path / "bad.yaml"
    conf.write_text(f"""\
servers:
  - name: bad
    listen: [ "dns://127.0.0.1:{h.free_port()}" ]
    zone_files:
      - {{ origin: bad.test., inline: "@ 300 IN SOA ns1 h 1 3600 600 604800 60" }}
    policies:
      - firewall:
          query:
            - refuse: {rule}
          default: allow
""")
    p = subprocess.run([h.MOONDNS, "check", "-c", str(conf)], capture_output=True, text=True,
                       timeout=30 * h.SLOW)
    assert p.returncode != 0
    out = p.stdout + p.stderr
    assert re.search(message, out), out
    assert "bad.yaml:" in out, "the error names the config file"


def test_check_requires_a_default(tmp_path):
    conf = tmp_path / "nodefault.yaml"
    conf.write_text(f"""\
servers:
  - name: nd
    listen: [ "dns://127.0.0.1:{h.free_port()}" ]
    zone_files:
      - {{ origin: nd.test., inline: "@ 300 IN SOA ns1 h 1 3600 600 604800 60" }}
    policies:
      - firewall: {{ query: [ {{ refuse: 'type == "ANY"' }} ] }}
""")
    p = subprocess.run([h.MOONDNS, "check", "-c", str(conf)], capture_output=True, text=True,
                       timeout=30 * h.SLOW)
    assert p.returncode != 0 and "option 'default' is required" in p.stdout + p.stderr
