"""policies/tunnel.lua in a real moondns with two workers: tunnel-like
names are refused with EDE 15 and logged, the sending client is then
blocked for block_for seconds (and only that client), the per-domain count
of distinct names is shared by the workers, and ordinary names pass.
Clients are told apart by their source address (127.0.0.2 ...).
"""
import base64
import os
import random
import time

import dns.message
import dns.rcode
import pytest

import helpers as h

CONFIG = """\
workers: 2
log: { level: info }
servers:
  - name: tun
    listen: [ "dns://127.0.0.1:PORT" ]
    zones: [ . ]
    zone_files:
      - origin: lab.test.
        inline: |
          $TTL 60
          @      SOA  ns hostmaster 1 3600 600 604800 60
                 NS   ns
          ns     A    192.0.2.1
          www    A    192.0.2.10
          *.t    TXT  "endpoint"
          *.cdn  A    192.0.2.30
      - origin: rate.test.
        inline: |
          @      60 SOA  ns.lab.test. hostmaster.lab.test. 1 3600 600 604800 60
          *      60 A    192.0.2.20
    policies:
      - tunnel:
          action: block
          block_for: 2
          max_unique: 20
          dict: tunnel-systest
"""

ORDINARY = os.path.join(h.SRCDIR, "t", "lua", "policies", "data", "ordinary-names.txt")


def ede_of(r):
    return [(o.code, o.text) for o in r.options if o.otype == 15]


def ask(port, qname, qtype="A", src="127.0.0.1"):
    """One UDP query from a fresh socket bound to src (a new source port
    each time, so SO_REUSEPORT spreads the queries over the workers)."""
    raw = h.udp_raw(h.make_query(qname, qtype, edns=0).to_wire(), port, src=src)
    assert raw is not None, f"no reply to {qname} {qtype} from {src}"
    return dns.message.from_wire(raw)


def b32(nbytes, rng):
    data = bytes(rng.randrange(256) for _ in range(nbytes))
    return base64.b32encode(data).decode().lower().rstrip("=")


@pytest.fixture(scope="module")
def srv(servers):
    port = h.free_port()
    return servers.moondns(CONFIG.replace("PORT", str(port)), port, name="moondns-tunnel",
                           probe_name="lab.test.")


def test_tunnel_name_is_refused_logged_and_the_client_blocked(srv):
    rng = random.Random(7)
    label = b32(33, rng)                          # 53 characters of base32
    qname = f"{label}.t.lab.test."
    r = ask(srv.port, qname, "TXT", src="127.0.0.2")
    assert r.rcode() == dns.rcode.REFUSED
    assert ede_of(r) == [(15, "suspected DNS tunnelling")]
    assert r.answer == []
    # The log line names the client, the name and the reasons.
    deadline = time.monotonic() + 5
    line = None
    while time.monotonic() < deadline and line is None:
        line = next((ln for ln in srv.stderr().splitlines()
                     if "tunnel suspect: client 127.0.0.2 name " + qname in ln), None)
        time.sleep(0.05)
    assert line, srv.stderr_tail()
    assert "long_label=53" in line and "base32" in line
    # Now every query of 127.0.0.2 is refused, on every worker; others pass.
    for _ in range(6):
        r = ask(srv.port, "www.lab.test.", src="127.0.0.2")
        assert r.rcode() == dns.rcode.REFUSED
        assert ede_of(r) == [(15, "client blocked: DNS tunnelling")]
        r = ask(srv.port, "www.lab.test.", src="127.0.0.3")
        assert r.rcode() == dns.rcode.NOERROR
        assert [rr.to_text() for rs in r.answer for rr in rs] == ["192.0.2.10"]
    time.sleep(2.5 * h.SLOW)
    r = ask(srv.port, "www.lab.test.", src="127.0.0.2")
    assert r.rcode() == dns.rcode.NOERROR


def test_hex_name_is_refused(srv):
    rng = random.Random(8)
    label = "".join(rng.choice("0123456789abcdef") for _ in range(46))
    r = ask(srv.port, f"{label}.t.lab.test.", "TXT", src="127.0.0.5")
    assert r.rcode() == dns.rcode.REFUSED
    assert ede_of(r) == [(15, "suspected DNS tunnelling")]


def test_distinct_names_are_counted_across_workers(srv):
    """24-character base32 labels are not enough alone (score below 1);
    the 20th distinct name under rate.test is. With two workers each
    seeing about half of the queries, only a count shared by both reaches
    20 on the 20th query."""
    rng = random.Random(9)
    rcodes = []
    for _ in range(24):
        qname = f"{b32(15, rng)}.rate.test."    # 24 characters
        rcodes.append(ask(srv.port, qname, src="127.0.0.4").rcode())
    assert rcodes[:19] == [dns.rcode.NOERROR] * 19, rcodes
    assert rcodes[19:] == [dns.rcode.REFUSED] * 5, rcodes
    assert any("tunnel suspect: client 127.0.0.4" in ln and "unique=20/60s" in ln
               for ln in srv.stderr().splitlines()), srv.stderr_tail()


def test_ordinary_names_pass(srv):
    with open(ORDINARY) as f:
        names = [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]
    assert len(names) >= 1000
    refused = []
    for qname in names[:300]:
        r = ask(srv.port, qname, src="127.0.0.6")
        if ede_of(r):
            refused.append(qname)
    assert refused == []
    # The client was never blocked.
    assert ask(srv.port, "www.lab.test.", src="127.0.0.6").rcode() == dns.rcode.NOERROR
    # And names outside the zones do reach the policy (the block serves .).
    r = ask(srv.port, f"{b32(35, random.Random(10))}.evil.example.", "TXT", src="127.0.0.7")
    assert ede_of(r) == [(15, "suspected DNS tunnelling")]
