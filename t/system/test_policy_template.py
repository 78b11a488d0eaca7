"""policies/template.lua in a real moondns: scenario (a) of the issue as
shipped in examples/template-ip.yaml, with the exact sections of each
reply (question as the client sent it, AA, answer, authority with the SOA,
no additional records), over UDP and TCP, plus a template that reads the
client's address and one that answers SERVFAIL on a regex miss.
"""
import os
import re

import dns.flags
import dns.message
import dns.rcode
import pytest

import helpers as h

EXAMPLE = os.path.join(h.EXAMPLES, "template-ip.yaml")
SOA = "example.com. 60 IN SOA ns1.example.com. hostmaster.example.com. 1 3600 600 604800 60"


def on_port(path, port):
    """The example's YAML with its listen port replaced."""
    with open(path) as f:
        text = f.read()
    return re.sub(r"(dns://127\.0\.0\.1:)\d+", lambda m: f"{m.group(1)}{port}", text)


def texts(section):
    """The RRsets of a section as zone-file lines, in order (names as sent)."""
    return [rr for rs in section for rr in rs.to_text().splitlines()]


@pytest.fixture(scope="module")
def srv(servers):
    port = h.free_port()
    return servers.moondns(on_port(EXAMPLE, port), port, name="moondns-template",
                           probe_name="example.com.")


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_ip_name_a_is_the_address(srv, tcp):
    r = h.query(srv.port, "ip-1-1-1-1.example.com.", "A", tcp=tcp, edns=0)
    assert r.rcode() == dns.rcode.NOERROR
    assert r.flags & dns.flags.AA
    assert texts(r.question) == ["ip-1-1-1-1.example.com. IN A"]
    assert texts(r.answer) == ["ip-1-1-1-1.example.com. 60 IN A 1.1.1.1"]
    assert r.authority == []
    assert r.additional == []
    assert r.edns == 0


def test_client_spelling_is_kept(srv):
    r = h.query(srv.port, "Ip-192-0-2-7.EXAMPLE.com.", "A")
    assert texts(r.question) == ["Ip-192-0-2-7.EXAMPLE.com. IN A"]
    assert texts(r.answer) == ["Ip-192-0-2-7.EXAMPLE.com. 60 IN A 192.0.2.7"]


@pytest.mark.parametrize("qtype", ["AAAA", "TXT", "MX"])
def test_other_types_are_nodata_with_the_soa(srv, qtype):
    r = h.query(srv.port, "ip-1-1-1-1.example.com.", qtype, edns=0)
    assert r.rcode() == dns.rcode.NOERROR
    assert r.flags & dns.flags.AA
    assert texts(r.question) == [f"ip-1-1-1-1.example.com. IN {qtype}"]
    assert r.answer == []
    assert texts(r.authority) == [SOA]
    assert r.additional == []


@pytest.mark.parametrize("qname", ["foo.example.com.", "ip-1-1-1.example.com.",
                                   "x.ip-1-1-1-1.example.com."])
def test_other_names_are_nxdomain_with_the_soa(srv, qname):
    r = h.query(srv.port, qname, "A", edns=0)
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert r.flags & dns.flags.AA
    assert texts(r.question) == [f"{qname} IN A"]
    assert r.answer == []
    assert texts(r.authority) == [SOA]


def test_the_zone_still_answers_its_apex(srv):
    r = h.query(srv.port, "example.com.", "SOA")
    assert texts(r.answer) == [SOA.replace(" 60 IN", " 3600 IN")]
    r = h.query(srv.port, "example.com.", "NS")
    assert texts(r.answer) == ["example.com. 3600 IN NS ns1.example.com."]


def test_names_outside_the_block_are_refused(srv):
    assert h.query(srv.port, "ip-1-1-1-1.example.net.", "A").rcode() == dns.rcode.REFUSED


MORE = """\
workers: 2
servers:
  - name: more
    listen: [ "dns://127.0.0.1:PORT" ]
    zones: [ whoami.test., strict.test. ]
    zone_files:
      - origin: whoami.test.
        inline: "@ 60 IN SOA ns hostmaster 1 3600 600 604800 60"
    policies:
      - template:
          zones: [ whoami.test. ]
          type: TXT
          answer: '{{ .Name }} 0 IN TXT "{{ .Remote }}" "{{ .Proto }}"'
      - template:
          zones: [ strict.test. ]
          match: '^(?P<n>\\d{1,3})[.]strict[.]test[.]$'
          answer: '{{ .Name }} 30 IN A 192.0.2.{{ .Group.n }}'
          fallthrough: false
          ede: { code: 20, text: templated }
"""


@pytest.fixture(scope="module")
def more(servers):
    port = h.free_port()
    return servers.moondns(MORE.replace("PORT", str(port)), port, name="moondns-template-more",
                           probe_name="whoami.test.")


@pytest.mark.parametrize("src", ["127.0.0.2", "127.0.0.3"])
def test_template_sees_the_client_address(more, src):
    wire = h.make_query("me.whoami.test.", "TXT").to_wire()
    raw = h.udp_raw(wire, more.port, src=src)
    r = dns.message.from_wire(raw)
    assert texts(r.answer) == [f'me.whoami.test. 0 IN TXT "{src}" "udp"']


def test_regex_miss_without_fallthrough_is_servfail(more):
    r = h.query(more.port, "7.strict.test.", "A", edns=0)
    assert texts(r.answer) == ["7.strict.test. 30 IN A 192.0.2.7"]
    ede = [o for o in r.options if o.otype == 15]
    assert len(ede) == 1 and ede[0].code == 20 and ede[0].text == "templated"
    assert h.query(more.port, "x.strict.test.", "A").rcode() == dns.rcode.SERVFAIL
    assert h.query(more.port, "1234.strict.test.", "A").rcode() == dns.rcode.SERVFAIL
