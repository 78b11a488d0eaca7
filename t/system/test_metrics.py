"""The operations endpoint and the query log of a real moondns: counter
deltas after real queries, the CoreDNS-compatible names, /health and /ready,
lameduck on SIGTERM, reload counters, the endpoint being closed unless
configured, and query-log lines.
"""
import json
import os
import re
import signal
import socket
import textwrap
import time
import urllib.error
import urllib.request

import dns.edns
import pytest

import helpers as h
import upstream as u

ZONE = textwrap.dedent("""\
    $TTL 300
    @   SOA ns1 hostmaster 1 3600 600 604800 60
        NS  ns1
    ns1 A   192.0.2.53
    www A   192.0.2.80
    """)

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset(labels)): value} of a Prometheus text page."""
    out = {}
    for ln in text.splitlines():
        if not ln or ln.startswith("#"):
            continue
        m = SAMPLE.match(ln)
        assert m, f"not a sample line: {ln!r}"
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def val(page, name, **labels):
    return page.get((name, frozenset(labels.items())), 0.0)


def http(port, path, method="GET"):
    """(status, body) of one request to the endpoint."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=5 * h.SLOW) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def scrape(port):
    status, body = http(port, "/metrics")
    assert status == 200
    return parse(body)


def config(dns_port, http_port, qlog=None, **http_extra):
    conf = h.moon_config(dns_port, [{"origin": "lab.test.", "inline": ZONE}], name="lab")
    conf["http"] = {"listen": f"127.0.0.1:{http_port}", **http_extra}
    if qlog:
        conf["servers"][0]["query_log"] = qlog
    return conf


@pytest.fixture(scope="module")
def srv(servers, tmp_path_factory):
    dns_port, http_port = h.free_port(), h.free_port()
    logdir = tmp_path_factory.mktemp("qlog")
    qlog = str(logdir / "queries.log")
    m = servers.moondns(config(dns_port, http_port, coredns_compat=True,
                               qlog={"format": "common", "to": qlog}),
                        dns_port, probe_name="lab.test.")
    m.http_port = http_port
    m.qlog = qlog
    return m


def test_health_and_ready(srv):
    assert http(srv.http_port, "/health") == (200, "OK")
    assert http(srv.http_port, "/ready") == (200, "OK")
    assert http(srv.http_port, "/nope")[0] == 404
    assert http(srv.http_port, "/metrics", method="POST")[0] == 405


def test_counter_deltas(srv):
    p = srv.port
    before = scrape(srv.http_port)
    for _ in range(5):
        assert h.query(p, "www.lab.test.", "A").rcode() == 0
    assert h.query(p, "nope.lab.test.", "A").rcode() == 3
    assert h.query(p, "nope.lab.test.", "A").rcode() == 3
    assert h.query(p, "www.lab.test.", "AAAA", tcp=True).rcode() == 0
    assert h.query(p, "www.lab.test.", "A", do=True).rcode() == 0
    assert h.query(p, "www.lab.test.", "TYPE65000").rcode() == 0
    assert h.query(p, "elsewhere.example.", "A").rcode() == 5   # no block: dropped zone
    after = scrape(srv.http_port)

    def delta(name, **labels):
        return val(after, name, **labels) - val(before, name, **labels)

    lab = {"server": "lab", "zone": "lab.test."}
    assert delta("moondns_requests_total", **lab, proto="udp", family="1", type="A") == 8
    assert delta("moondns_requests_total", **lab, proto="tcp", family="1", type="AAAA") == 1
    assert delta("moondns_requests_total", **lab, proto="udp", family="1", type="other") == 1
    assert delta("moondns_requests_total", server="", zone="dropped", proto="udp",
                 family="1", type="A") == 1
    assert delta("moondns_responses_total", **lab, rcode="NOERROR") == 8
    assert delta("moondns_responses_total", **lab, rcode="NXDOMAIN") == 2
    assert delta("moondns_do_requests_total", **lab) == 1
    assert delta("moondns_request_duration_seconds_count", **lab, type="A") == 8
    assert delta("moondns_request_duration_seconds_bucket", **lab, type="A", le="+Inf") == 8
    assert delta("moondns_response_size_bytes_count", **lab, proto="tcp") == 1
    # The same counters under CoreDNS's names.
    assert delta("coredns_dns_requests_total", **lab, view="", proto="udp", family="1",
                 type="A") == 8
    assert delta("coredns_dns_responses_total", **lab, view="", rcode="NXDOMAIN",
                 plugin="file") == 2
    assert delta("coredns_dns_do_requests_total", **lab, view="") == 1
    assert delta("coredns_dns_request_duration_seconds_count", **lab, view="", type="A") == 8


def test_no_client_label_values(srv):
    """A client choosing weird names and types leaves no trace in labels."""
    h.query(srv.port, 'x"y\\z.lab.test.', "TYPE4242")
    status, body = http(srv.http_port, "/metrics")
    assert 'x\\"y' not in body and "TYPE4242" not in body and "4242" not in body


def test_query_log(srv):
    h.query(srv.port, "www.lab.test.", "A", qid=4711)
    line = wait_line(srv.qlog, lambda ln: " - 4711 " in ln)
    assert line, "no query-log line for id 4711"
    assert re.match(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[INFO\] 127\.0\.0\.1:\d+ - 4711 '
                    r'"A IN www\.lab\.test\. udp \d+ false 512" NOERROR qr,aa \d+ '
                    r'[0-9.]+s$', line), line
    page = scrape(srv.http_port)
    assert val(page, "moondns_query_log_dropped_total") == 0
    assert val(page, "moondns_query_log_lines_total") >= 1


def wait_line(path, pred, timeout=3.0):
    deadline = time.monotonic() + timeout * h.SLOW
    while time.monotonic() < deadline:
        with open(path) as f:
            for ln in f:
                if pred(ln):
                    return ln
        time.sleep(0.05)
    return None


def test_query_log_json_with_metadata(own_servers, tmp_path):
    """The json format, and metadata a policy set (metadata_edns0) in the
    log line of the query that carried it; a class filter."""
    port = h.free_port()
    qlog = str(tmp_path / "q.json")
    conf = h.moon_config(port, [{"origin": "lab.test.", "inline": ZONE}], name="lab")
    conf["servers"][0]["policies"] = [
        {"metadata_edns0": {"secret": {"code": 65200, "format": "bytes"}}}]
    conf["servers"][0]["query_log"] = {"format": "json", "to": qlog,
                                       "class": ["success", "denial"],
                                       "json_meta": ["metadata_edns0/secret"]}
    own_servers.moondns(conf, port, probe_name="lab.test.")
    opt = dns.edns.GenericOption(65200, b"s3cret")
    assert h.query(port, "www.lab.test.", "A", options=[opt], qid=777).rcode() == 0
    assert h.query(port, "nope.lab.test.", "A", qid=778).rcode() == 3
    assert h.query(port, "lab.test.", "AXFR", qid=779).rcode() == 5  # an error: not logged
    line = wait_line(qlog, lambda ln: '"id":777' in ln)
    assert line, "no line for id 777"
    rec = json.loads(line)
    assert rec["name"] == "www.lab.test." and rec["type"] == "A" and rec["rcode"] == "NOERROR"
    assert rec["server"] == "lab" and rec["remote"] == "127.0.0.1" and rec["proto"] == "udp"
    assert rec["meta"] == {"metadata_edns0/secret": "s3cret"}
    assert isinstance(rec["duration"], float) and rec["duration"] < 5
    line = wait_line(qlog, lambda ln: '"id":778' in ln)
    assert line and json.loads(line)["meta"] == {"metadata_edns0/secret": None}
    time.sleep(0.2)
    with open(qlog) as f:
        assert '"id":779' not in f.read(), "class [success, denial] leaves errors out"


def test_closed_by_default(own_servers):
    """Without `http:` nothing listens: not on 9153, not anywhere new."""
    if not h._can_bind(socket.AF_INET, "127.0.0.1", 9153, socket.SOCK_STREAM):
        pytest.skip("127.0.0.1:9153 is taken on this machine")
    port = h.free_port()
    conf = h.moon_config(port, [{"origin": "lab.test.", "inline": ZONE}], name="lab")
    m = own_servers.moondns(conf, port, probe_name="lab.test.")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", 9153), timeout=1).close()
    listening = set()
    with open(f"/proc/{m.pid}/net/tcp") as f:
        inodes = {ln.split()[9]: ln.split()[1] for ln in list(f)[1:] if ln.split()[3] == "0A"}
    for fd in os.listdir(f"/proc/{m.pid}/fd"):
        try:
            target = os.readlink(f"/proc/{m.pid}/fd/{fd}")
        except OSError:
            continue
        ino = target[8:-1] if target.startswith("socket:[") else None
        if ino in inodes:
            listening.add(int(inodes[ino].split(":")[1], 16))
    assert listening == {port}, f"listening TCP ports: {listening}"


def test_lameduck(tmp_path):
    """SIGTERM: /ready 503 at once, /health 200, queries still answered for
    the lameduck period, then a clean exit. The test stops this server
    itself, so it is not in a pool."""
    dns_port, http_port = h.free_port(), h.free_port()
    m = h.Moondns(str(tmp_path), config(dns_port, http_port, lameduck="1500ms"), dns_port,
                  probe_name="lab.test.").start()
    try:
        assert http(http_port, "/ready")[0] == 200
        t0 = time.monotonic()
        os.kill(m.pid, signal.SIGTERM)
        time.sleep(0.2)
        assert http(http_port, "/ready")[0] == 503
        assert http(http_port, "/health") == (200, "OK")
        assert h.query(dns_port, "www.lab.test.", "A").rcode() == 0, "still answering"
        m.proc.wait(timeout=10 * h.SLOW)
        took = time.monotonic() - t0
        assert m.proc.returncode == 0
        assert 1.2 < took < 6 * h.SLOW
        assert "lameduck for 1500 ms" in m.stderr()
    finally:
        m.stop(signal.SIGKILL)  # only signals a process still running
    assert not m.sanitizer_reports()


def test_reload_counters(own_servers):
    dns_port, http_port = h.free_port(), h.free_port()
    m = own_servers.moondns(config(dns_port, http_port), dns_port, probe_name="lab.test.")
    page = scrape(http_port)
    assert val(page, "moondns_config_generation") == 1
    assert val(page, "moondns_reloads_total") == 0
    os.kill(m.pid, signal.SIGHUP)
    deadline = time.monotonic() + 5 * h.SLOW
    while time.monotonic() < deadline and val(scrape(http_port), "moondns_reloads_total") < 1:
        time.sleep(0.05)
    page = scrape(http_port)
    assert val(page, "moondns_reloads_total") == 1
    assert val(page, "moondns_config_generation") == 2
    # A broken edit: the file watcher (or the SIGHUP) tries it and fails.
    with open(m.config_path, "a") as f:
        f.write("this is: [not valid\n")
    os.kill(m.pid, signal.SIGHUP)
    deadline = time.monotonic() + 5 * h.SLOW
    while (time.monotonic() < deadline and
           val(scrape(http_port), "moondns_reload_failures_total") < 1):
        time.sleep(0.05)
    page = scrape(http_port)
    assert val(page, "moondns_reload_failures_total") >= 1
    assert val(page, "moondns_reloads_total") >= 2
    assert val(page, "moondns_config_generation") == 2
    assert http(http_port, "/ready")[0] == 200, "a failed reload keeps serving"


# ------------------------------------------------- forwarding, cache, policies

GATE = """\
return {
  query = function(q)
    if q.name == "deny.mw.test." then return q:refuse() end
  end,
}
"""


def mw_upstream(q, raw, transport):
    """A for every name, NXDOMAIN (with SOA, so it is cached) for nx.*."""
    if q is None or not q.question:
        return []
    qs = q.question[0]
    if qs.name.to_text().startswith("nx."):
        return [u.reply(q, rcode=3, authority=["mw.test. 60 SOA ns. h. 1 3600 600 86400 60"])]
    return [u.reply(q, answer=[f"{qs.name} 300 A 192.0.2.1"])]


def test_forward_cache_policy_families(own_servers, tmp_path):
    """The per-upstream, per-cache and per-policy families count what the
    queries did: one block forwarding to a Python upstream with a cache and
    a policy, one forwarding to an upstream that never answers (marked
    down, failing its health checks)."""
    up = u.Upstream(handler=mw_upstream)
    dead = u.Upstream(handler=lambda q, raw, transport: [])
    try:
        dns_port, http_port = h.free_port(), h.free_port()
        script = tmp_path / "gate.lua"
        script.write_text(GATE)
        listen = [f"dns://127.0.0.1:{dns_port}"]
        conf = {"workers": 2, "http": {"listen": f"127.0.0.1:{http_port}",
                                       "coredns_compat": True},
                "servers": [
                    {"name": "mw", "listen": listen, "zones": ["mw.test."],
                     "forward": {"to": [f"127.0.0.1:{up.port}"], "max_fails": 0},
                     "cache": "on", "policies": [{"name": "gate", "script": str(script)}]},
                    {"name": "hc", "listen": listen, "zones": ["hc.test."],
                     "forward": {"to": [f"127.0.0.1:{dead.port}"], "max_fails": 1,
                                 "health_check": h.Plain("100ms"),
                                 "try_timeout": h.Plain("100ms"),
                                 "timeout": h.Plain("300ms")}}]}
        # The start-up probe asks for a name no block serves (REFUSED at
        # once): a probe through the forwarder could still be finishing, and
        # be counted, after the `before` scrape.
        m = own_servers.moondns(conf, dns_port, probe_name="probe.invalid.")
        to_up, to_dead = f"dns://127.0.0.1:{up.port}", f"dns://127.0.0.1:{dead.port}"
        before = scrape(http_port)
        assert val(before, "moondns_forward_upstream_healthy", server="mw", to=to_up) == 1
        assert val(before, "moondns_forward_upstream_healthy", server="hc", to=to_dead) == 1
        for _ in range(3):
            assert h.query(dns_port, "www.mw.test.", "A").rcode() == 0
        for _ in range(2):
            assert h.query(dns_port, "nx.mw.test.", "A").rcode() == 3
        assert h.query(dns_port, "deny.mw.test.", "A").rcode() == 5
        assert h.query(dns_port, "www.hc.test.", "A").rcode() == 2
        deadline = time.monotonic() + 5 * h.SLOW
        while (time.monotonic() < deadline and
               val(scrape(http_port), "moondns_forward_healthcheck_failures_total",
                   server="hc", to=to_dead) < 1):
            time.sleep(0.05)
        after = scrape(http_port)

        def delta(name, **labels):
            return val(after, name, **labels) - val(before, name, **labels)

        mw, hc = {"server": "mw", "to": to_up}, {"server": "hc", "to": to_dead}
        # Forwarding: one exchange per question the cache did not have.
        assert delta("moondns_forward_requests_total", **mw) == 2
        assert delta("moondns_forward_responses_total", **mw, rcode="NOERROR") == 1
        assert delta("moondns_forward_responses_total", **mw, rcode="NXDOMAIN") == 1
        assert delta("moondns_forward_failures_total", **mw) == 0
        assert delta("moondns_forward_request_duration_seconds_count", **mw) == 2
        assert delta("moondns_forward_request_duration_seconds_bucket", **mw, le="8.192") == 2
        assert delta("coredns_proxy_request_duration_seconds_count", proxy_name="forward",
                     to=to_up, rcode="NXDOMAIN") == 1
        assert delta("moondns_forward_requests_total", **hc) == 1
        assert delta("moondns_forward_failures_total", **hc) == 1
        assert delta("moondns_forward_request_duration_seconds_count", **hc) == 0
        assert val(after, "moondns_forward_healthcheck_failures_total", **hc) >= 1
        assert val(after, "coredns_proxy_healthcheck_failures_total", proxy_name="forward",
                   to=to_dead) >= 1
        assert val(after, "moondns_forward_healthcheck_failures_total", **mw) == 0
        assert val(after, "moondns_forward_upstream_healthy", **hc) == 0
        assert val(after, "moondns_forward_upstream_healthy", **mw) == 1
        # Cache: www cached as success, nx as denial.
        assert delta("moondns_cache_entries", server="mw", type="success") == 1
        assert delta("moondns_cache_entries", server="mw", type="denial") == 1
        assert val(after, "moondns_cache_evictions_total", server="mw") == 0
        assert delta("coredns_cache_entries", server="mw", type="denial",
                     zones="mw.test.", view="") == 1
        zone = {"server": "mw", "zone": "mw.test."}
        assert delta("moondns_cache_hits_total", **zone, type="success") == 2
        assert delta("moondns_cache_hits_total", **zone, type="denial") == 1
        assert delta("moondns_cache_misses_total", **zone) == 2
        # The policy's query hook ran for each of the block's 6 queries.
        gate = {"server": "mw", "policy": "gate"}
        assert delta("moondns_policy_calls_total", **gate, stage="query") == 6
        assert delta("moondns_policy_calls_total", **gate, stage="response") == 0
        assert delta("moondns_policy_verdicts_total", **gate, verdict="continue") == 5
        assert delta("moondns_policy_verdicts_total", **gate, verdict="refuse") == 1
        assert ("moondns_policy_verdicts_total",
                frozenset({**gate, "verdict": "drop"}.items())) in after, "zero series exist"
        # A reload keeps the cache (same sections) and the scrape reads the
        # new generation's blocks.
        os.kill(m.pid, signal.SIGHUP)
        deadline = time.monotonic() + 5 * h.SLOW
        while (time.monotonic() < deadline and
               val(scrape(http_port), "moondns_config_generation") < 2):
            time.sleep(0.05)
        page = scrape(http_port)
        assert val(page, "moondns_config_generation") == 2
        assert val(page, "moondns_cache_entries", server="mw", type="success") == \
            val(after, "moondns_cache_entries", server="mw", type="success"), "cache kept"
        assert val(page, "moondns_cache_entries", server="mw", type="denial") == 1
        assert val(page, "moondns_forward_upstream_healthy", **mw) == 1
        assert val(page, "moondns_forward_requests_total", **mw) == \
            val(after, "moondns_forward_requests_total", **mw), "counters survive reloads"
    finally:
        up.stop()
        dead.stop()
