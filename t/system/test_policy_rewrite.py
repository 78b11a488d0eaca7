"""policies/rewrite.lua in a real moondns: scenario (b) of the issue as
shipped in examples/rewrite-suffix.yaml (example.org answered from the
example.com zone, names mapped back), checked two ways:

* the exact sections of a few replies (question exactly as the client sent
  it, owners and RDATA names under example.org, nothing left under
  example.com);
* against knotd serving the same zone data as example.org itself: for
  every owner and common type, the rewritten answers must be the answers
  an authoritative example.org server gives (rcode, flags, question and
  all three sections, TTLs included).
"""
import os
import re

import dns.flags
import dns.name
import dns.rcode
import pytest
import yaml

import helpers as h

EXAMPLE = os.path.join(h.EXAMPLES, "rewrite-suffix.yaml")
SOA_ORG = ("example.org. 60 IN SOA ns1.example.org. hostmaster.example.org. 1 3600 600 "
           "604800 60")


def on_port(path, port):
    with open(path) as f:
        text = f.read()
    return re.sub(r"(dns://127\.0\.0\.1:)\d+", lambda m: f"{m.group(1)}{port}", text)


def texts(section):
    return [rr for rs in section for rr in rs.to_text().splitlines()]


def names_in(msg):
    """Every owner name and every name-looking RDATA field of a reply."""
    out = []
    for sec in (msg.answer, msg.authority, msg.additional):
        for rs in sec:
            out.append(rs.name.to_text())
            for rd in rs:
                out += [tok for tok in rd.to_text().split() if tok.endswith(".")]
    return out


@pytest.fixture(scope="module")
def srv(servers):
    port = h.free_port()
    return servers.moondns(on_port(EXAMPLE, port), port, name="moondns-rewrite",
                           probe_name="example.com.")


@pytest.fixture(scope="module")
def knot(servers, tmp_path_factory):
    """knotd with the example's zone text loaded as example.org."""
    with open(EXAMPLE) as f:
        conf = yaml.safe_load(f)
    text = conf["servers"][0]["zone_files"][0]["inline"]
    d = tmp_path_factory.mktemp("knot-org")
    path = os.path.join(str(d), "example.org.zone")
    with open(path, "w") as f:
        f.write("$ORIGIN example.org.\n" + text)
    return servers.knotd(h.free_port(), [("example.org.", path)])


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_www_is_answered_under_the_clients_name(srv, tcp):
    r = h.query(srv.port, "www.example.org.", "A", tcp=tcp, edns=0)
    assert r.rcode() == dns.rcode.NOERROR
    assert r.flags & dns.flags.AA
    assert texts(r.question) == ["www.example.org. IN A"]
    assert texts(r.answer) == ["www.example.org. 300 IN A 192.0.2.10"]
    assert r.authority == []
    assert r.additional == []


def test_question_spelling_is_kept(srv):
    r = h.query(srv.port, "WwW.ExAmPlE.oRg.", "AAAA")
    assert texts(r.question) == ["WwW.ExAmPlE.oRg. IN AAAA"]
    assert texts(r.answer) == ["WwW.ExAmPlE.oRg. 300 IN AAAA 2001:db8::10"]


def test_cname_chain_is_mapped_back(srv):
    r = h.query(srv.port, "alias.example.org.", "A")
    assert texts(r.question) == ["alias.example.org. IN A"]
    assert texts(r.answer) == ["alias.example.org. 300 IN CNAME www.example.org.",
                               "www.example.org. 300 IN A 192.0.2.10"]


def test_nxdomain_carries_the_mapped_soa(srv):
    r = h.query(srv.port, "nothere.example.org.", "A", edns=0)
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert r.flags & dns.flags.AA
    assert texts(r.question) == ["nothere.example.org. IN A"]
    assert r.answer == []
    assert texts(r.authority) == [SOA_ORG]


def test_referrals_and_additional_names_are_mapped(srv):
    r = h.query(srv.port, "example.org.", "MX")
    assert texts(r.answer) == ["example.org. 300 IN MX 10 mail.example.org."]
    assert texts(r.additional) == ["mail.example.org. 300 IN A 192.0.2.25"]
    r = h.query(srv.port, "example.org.", "NS")
    assert texts(r.answer) == ["example.org. 300 IN NS ns1.example.org."]
    assert texts(r.additional) == ["ns1.example.org. 300 IN A 192.0.2.53"]


def test_example_com_is_still_itself(srv):
    r = h.query(srv.port, "alias.example.com.", "A")
    assert texts(r.answer) == ["alias.example.com. 300 IN CNAME www.example.com.",
                               "www.example.com. 300 IN A 192.0.2.10"]


OWNERS = ["example.org.", "www.example.org.", "alias.example.org.", "mail.example.org.",
          "ns1.example.org.", "_sip._tcp.example.org.", "_tcp.example.org.",
          "nothere.example.org.", "deep.www.example.org."]
TYPES = ["A", "AAAA", "NS", "SOA", "MX", "CNAME", "SRV", "TXT"]


@pytest.mark.parametrize("qname", OWNERS)
def test_same_answers_as_an_authoritative_example_org(srv, knot, qname):
    problems = []
    for qtype in TYPES:
        for edns in (0, -1):
            q = h.make_query(qname, qtype, edns=edns)
            a = h.exchange(q, srv.port)
            b = h.exchange(q, knot.port)
            assert a is not None and b is not None, (qname, qtype)
            diffs = h.compare(a, b)
            if diffs:
                problems.append(f"{qname} {qtype} edns={edns}: {diffs}")
            leaked = [n for n in names_in(a)
                      if dns.name.from_text(n).is_subdomain(dns.name.from_text("example.com."))]
            if leaked:
                problems.append(f"{qname} {qtype}: example.com names in the reply: {leaked}")
    assert not problems, "\n".join(problems)


TTL_RCODE = """\
workers: 1
servers:
  - name: rw
    listen: [ "dns://127.0.0.1:PORT" ]
    zones: [ lab.test., alias.test. ]
    zone_files:
      - origin: lab.test.
        inline: |
          $TTL 3600
          @    SOA  ns hostmaster 1 3600 600 604800 600
               NS   ns
          ns   A    192.0.2.1
          www  A    192.0.2.10
          web  CNAME www
    policies:
      - rewrite:
          rules:
            - { suffix: alias.test., to: lab.test., ttl: "30-60", mode: continue }
            - { suffix: lab.test., rcode: { NXDOMAIN: NOERROR } }
            - { type: { from: ANY, to: A } }
"""


@pytest.fixture(scope="module")
def rw(servers):
    port = h.free_port()
    return servers.moondns(TTL_RCODE.replace("PORT", str(port)), port, name="moondns-rewrite-2",
                           probe_name="lab.test.")


def test_ttl_clamp_and_rcode_map(rw):
    r = h.query(rw.port, "web.alias.test.", "A")
    assert texts(r.answer) == ["web.alias.test. 60 IN CNAME www.alias.test.",
                               "www.alias.test. 60 IN A 192.0.2.10"]
    r = h.query(rw.port, "nothere.alias.test.", "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert texts(r.authority) == ["alias.test. 60 IN SOA ns.alias.test. hostmaster.alias.test. "
                                  "1 3600 600 604800 600"]
    # Not under alias.test: no clamp, but the rcode rule of lab.test applies.
    assert texts(h.query(rw.port, "www.lab.test.", "A").answer) == \
        ["www.lab.test. 3600 IN A 192.0.2.10"]
    assert h.query(rw.port, "nothere.lab.test.", "A").rcode() == dns.rcode.NOERROR


def test_type_rewrite_keeps_the_question(rw):
    r = h.query(rw.port, "www.lab.test.", "ANY")
    assert texts(r.question) == ["www.lab.test. IN ANY"]
    assert texts(r.answer) == ["www.lab.test. 3600 IN A 192.0.2.10"]


CLASS_RW = """\
workers: 1
servers:
  - name: rwclass
    listen: [ "dns://127.0.0.1:PORT" ]
    zones: [ lab.test. ]
    zone_files:
      - origin: lab.test.
        inline: |
          $TTL 3600
          @    SOA  ns hostmaster 1 3600 600 604800 600
               NS   ns
          ns   A    192.0.2.1
          www  A    192.0.2.10
    policies:
      - rewrite:
          rules:
            - { class: { from: CH, to: IN } }
"""


@pytest.fixture(scope="module")
def rwclass(servers):
    port = h.free_port()
    return servers.moondns(CLASS_RW.replace("PORT", str(port)), port, name="moondns-rewrite-3",
                           probe_name="lab.test.")


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_class_rewrite_answers_from_the_in_zone(rwclass, tcp):
    r = h.query(rwclass.port, "www.lab.test.", "A", rdclass="CH", tcp=tcp)
    assert r.rcode() == dns.rcode.NOERROR
    assert texts(r.question) == ["www.lab.test. CH A"]
    assert texts(r.answer) == ["www.lab.test. 3600 IN A 192.0.2.10"]


def test_classes_left_alone_are_refused_as_before(rwclass):
    assert h.query(rwclass.port, "www.lab.test.", "A", rdclass="HS").rcode() == \
        dns.rcode.REFUSED
    r = h.query(rwclass.port, "www.lab.test.", "A")
    assert texts(r.answer) == ["www.lab.test. 3600 IN A 192.0.2.10"]


def upstream_options(seen):
    """{code: data} of the OPT record of a query the upstream received."""
    msg = dns.message.from_wire(seen.raw)
    return {o.otype: o.to_wire() for o in msg.options}


@pytest.fixture(scope="module")
def rwedns(servers):
    import upstream as u
    up = u.Upstream(handler=u.answer_a("192.0.2.7"))
    port = h.free_port()
    conf = {"workers": 1, "servers": [{
        "name": "rwedns", "listen": [f"dns://127.0.0.1:{port}"], "zones": ["."],
        "cache": "on", "forward": {"to": [f"127.0.0.1:{up.port}"]},
        "policies": [{"rewrite": {"rules": [
            {"suffix": "edns.test.", "edns0": {"set": {"code": 65001, "data": "0x6869"}},
             "mode": "continue"},
            {"suffix": "gone.edns.test.", "edns0": {"remove": 65001}},
        ]}}]}]}
    m = servers.moondns(conf, port, name="moondns-rewrite-edns", probe_name="ready.probe.")
    yield m, up
    up.stop()


def test_edns0_set_reaches_the_upstream(rwedns):
    import dns.edns
    m, up = rwedns
    client_opt = dns.edns.GenericOption(65002, b"mine")
    for _ in range(2):      # not cached: the upstream sees both
        r = h.query(m.port, "a.edns.test.", rd=True, options=[client_opt])
        assert r.rcode() == dns.rcode.NOERROR
        assert texts(r.answer) == ["a.edns.test. 300 IN A 192.0.2.7"]
    seen = up.queries("a.edns.test.")
    assert len(seen) == 2
    assert all(upstream_options(s) == {65001: b"hi"} for s in seen), \
        "the option set, and no client option"


def test_edns0_remove_keeps_it_from_the_upstream(rwedns):
    m, up = rwedns
    r = h.query(m.port, "x.gone.edns.test.", rd=True)
    assert r.rcode() == dns.rcode.NOERROR
    seen = up.queries("x.gone.edns.test.")
    assert seen and all(65001 not in upstream_options(s) for s in seen)
    r = h.query(m.port, "other.test.", rd=True)
    seen = up.queries("other.test.")
    assert seen and upstream_options(seen[-1]) == {}
