"""policies/metadata_edns0.lua in a running moondns
(doc/policies/metadata_edns0.md): real EDNS options sent by dnspython
become q.meta["metadata_edns0/<name>"], read back through a small script
policy that answers with the metadata as TXT records, and through firewall
rules that use them."""
import dns.edns
import dns.rcode
import pytest

import helpers as h

# Answers every query with one TXT string per metadata key, "key=hex(value)",
# so that the test sees exactly what the metadata holds (bytes included).
ECHO = """\
return function()
  return { query = function(q)
    local out = {}
    for k, v in pairs(q:meta_all()) do
      out[#out + 1] = '@ 0 TXT "' .. k .. "=" .. v:gsub(".", function(c)
        return string.format("%02x", c:byte()) end) .. '"'
    end
    table.sort(out)
    if #out == 0 then out[1] = '@ 0 TXT "none"' end
    return q:reply{ answer = out }
  end }
end
"""

CONF = """\
workers: 1
log: {{ level: info }}
servers:
  - name: meta
    listen: [ "dns://127.0.0.1:{port}" ]
    zone_files:
      - {{ origin: meta.test., inline: "@ 300 IN SOA ns1 h 1 3600 600 604800 60" }}
    policies:
      - metadata_edns0:
          secret: {{ code: 65200, format: bytes }}
          id: 65201
          part: {{ code: 65202, format: hex, size: 4, start: 1, end: 3 }}
          addr: {{ code: 65203, format: address }}
          subnet: {{ code: 8, format: ecs }}
          group: {{ code: 65204, format: uint }}
      - firewall:
          query:
            - refuse: 'meta["metadata_edns0/group"] == "7"'
              ede_text: "group 7"
            - allow: 'name ~= "fw.meta.test."'
            - allow: 'incidr(meta["metadata_edns0/subnet"] and meta["metadata_edns0/subnet"]:match("^[^/]+"), "198.51.100.0/24")'
            - refuse: true
      - script: echo.lua
"""


@pytest.fixture(scope="module")
def meta(servers):
    port = h.free_port()
    return servers.moondns(CONF.format(port=port), port, name="moondns-meta",
                           files={"echo.lua": ECHO}, probe_name="meta.test.")


def txt(port, options, qname="x.meta.test.", edns=0):
    r = h.query(port, qname, "TXT", edns=edns, options=options)
    assert r is not None and r.rcode() == dns.rcode.NOERROR, r
    out = {}
    for rs in r.answer:
        for rd in rs:
            s = b"".join(rd.strings).decode()
            if s != "none":
                k, v = s.split("=", 1)
                out[k] = bytes.fromhex(v)
    return out


def G(code, data):
    return dns.edns.GenericOption(code, data)


def test_no_options_no_metadata(meta):
    assert txt(meta.port, []) == {}
    assert txt(meta.port, None, edns=-1) == {}


def test_formats(meta):
    got = txt(meta.port, [G(65200, b"s3\x00cret"), G(65201, b"\xde\xad"),
                          G(65202, b"\x01\x02\x03\x04"), G(65203, b"\xc0\x00\x02\x07"),
                          dns.edns.ECSOption("192.0.2.0", 24), G(65204, b"\x01\x00")])
    assert got == {
        "metadata_edns0/secret": b"s3\x00cret",
        "metadata_edns0/id": b"dead",
        "metadata_edns0/part": b"0203",
        "metadata_edns0/addr": b"192.0.2.7",
        "metadata_edns0/subnet": b"192.0.2.0/24",
        "metadata_edns0/group": b"256",
    }


def test_ecs_ipv6_and_odd_prefixes(meta):
    got = txt(meta.port, [dns.edns.ECSOption("2001:db8:abcd::", 48)])
    assert got == {"metadata_edns0/subnet": b"2001:db8:abcd::/48"}
    got = txt(meta.port, [dns.edns.ECSOption("10.128.0.0", 9)])
    assert got == {"metadata_edns0/subnet": b"10.128.0.0/9"}


def test_payloads_that_do_not_fit_the_format_are_absent(meta):
    got = txt(meta.port, [G(65202, b"\x01\x02\x03"), G(65203, b"\x01\x02\x03"),
                          G(65204, b"")])
    assert got == {}


def test_firewall_reads_the_metadata(meta):
    r = h.query(meta.port, "fw.meta.test.", "A", edns=0, options=[G(65204, b"\x07")])
    assert r.rcode() == dns.rcode.REFUSED
    assert [o.text for o in r.options if o.otype == 15] == ["group 7"]
    r = h.query(meta.port, "fw.meta.test.", "TXT", edns=0,
                options=[dns.edns.ECSOption("198.51.100.0", 24)])
    assert r.rcode() == dns.rcode.NOERROR, "allowed by the ECS subnet"
    r = h.query(meta.port, "fw.meta.test.", "TXT", edns=0,
                options=[dns.edns.ECSOption("203.0.113.0", 24)])
    assert r.rcode() == dns.rcode.REFUSED
