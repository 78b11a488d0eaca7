"""DNS over TLS (RFC 7858): real clients (kdig, openssl s_client, dnspython,
Python's ssl) against tls:// listeners; ALPN and protocol versions, session
resumption, pipelining, the handshake/idle/message timeouts, the per-client
new-session rate, mutual TLS, configuration errors with file:line, and a
certificate replaced on disk while the server runs.

Certificates are made at test time with the openssl CLI: a CA, a server
certificate it signs (CN dot.test, SAN IP 127.0.0.1), a client certificate
and a second server certificate for the swap.
"""
import os
import re
import signal
import socket
import ssl
import struct
import subprocess
import time

import dns.message
import dns.query
import dns.rcode
import pytest

import helpers as h

ZONE = "diff.test."
WWW = "www." + ZONE
OPENSSL = "/usr/bin/openssl"
KDIG = "/usr/bin/kdig"


def run(*args, inp=None, timeout=10):
    return subprocess.run(args, input=inp, capture_output=True, text=True,
                          timeout=timeout * h.SLOW)


# ---------------------------------------------------------------- certificates

def make_ca(d):
    key, crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.crt")
    run(OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=moondns test CA")
    return key, crt


def make_cert(d, name, cn, ca, serial, san="IP:127.0.0.1,DNS:dot.test"):
    """A certificate signed by ca (key, crt); returns (key, crt) paths."""
    key, csr, crt = (os.path.join(d, name + ext) for ext in (".key", ".csr", ".crt"))
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write(f"subjectAltName={san}\n")
    run(OPENSSL, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", key, "-out", csr, "-subj", f"/CN={cn}")
    r = run(OPENSSL, "x509", "-req", "-in", csr, "-CA", ca[1], "-CAkey", ca[0],
            "-set_serial", str(serial), "-days", "2", "-out", crt, "-extfile", ext)
    assert r.returncode == 0, r.stderr
    return key, crt


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("pki"))
    ca = make_ca(d)
    return {
        "dir": d, "ca": ca,
        "server": make_cert(d, "server", "dot.test", ca, 1001),
        "client": make_cert(d, "client", "client.test", ca, 2001, san="DNS:client.test"),
        "server2": make_cert(d, "server2", "dot2.test", ca, 3003),
    }


# ---------------------------------------------------------------- servers

def zone_files():
    return [{"origin": ZONE, "file": os.path.join(h.ZONEDIR, "diff.test.zone")}]


def dot_config(port, tport, tls, tcp=None, name="dot"):
    conf = h.moon_config(port, zone_files(), name=name, workers=2)
    conf["servers"][0]["listen"].append(f"tls://127.0.0.1:{tport}")
    conf["servers"][0]["tls"] = tls
    if tcp:
        conf["tcp"] = tcp
    return conf


def start(pool, tls, tcp=None, name="moondns-dot"):
    port, tport = h.free_port(), h.free_port()
    srv = pool.moondns(dot_config(port, tport, tls, tcp=tcp), port, name=name,
                       probe_name=ZONE)
    srv.tport = tport
    h.Daemon.wait_ready(srv, h.probe_tcp(tport))
    return srv


@pytest.fixture(scope="module")
def srv(servers, pki):
    return start(servers, {"cert": pki["server"][1], "key": pki["server"][0],
                           "handshake_timeout": h.Plain("1s")},
                 tcp={"idle_timeout": h.Plain("2s"), "io_timeout": h.Plain("1s")})


@pytest.fixture(scope="module")
def mtls(servers, pki):
    return start(servers, {"cert": pki["server"][1], "key": pki["server"][0],
                           "client_ca": pki["ca"][1]}, name="moondns-mtls")


# ---------------------------------------------------------------- clients

def client_ctx(pki, cert=None, alpn=True, maxver=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki["ca"][1])
    ctx.check_hostname = False
    if alpn:
        ctx.set_alpn_protocols(["dot"])
    if cert:
        ctx.load_cert_chain(cert[1], cert[0])
    if maxver:
        ctx.maximum_version = maxver
    return ctx


def tls_connect(ctx, port, src="127.0.0.1", session=None):
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.bind((src, 0))
    raw.settimeout(3.0 * h.SLOW)
    raw.connect(("127.0.0.1", port))
    return ctx.wrap_socket(raw, server_hostname="dot.test", session=session)


def framed(wire):
    return struct.pack("!H", len(wire)) + wire


def ask(s, qid, qname=WWW):
    s.sendall(framed(h.make_query(qname, "A", qid=qid).to_wire()))
    raw = h.tcp_read_msg(s)
    return None if raw is None else dns.message.from_wire(raw)


def a_records(msg):
    return sorted(rd.address for rs in msg.answer for rd in rs)


def s_client(port, *args, inp="", timeout=10):
    return run(OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "dot.test",
               *args, inp=inp, timeout=timeout)


def seconds_until_closed(s, limit):
    """Waits without sending until the peer closes s; seconds, or None."""
    t0 = time.monotonic()
    s.settimeout(limit * h.SLOW)
    try:
        while True:
            if not s.recv(4096):
                return time.monotonic() - t0
    except (ConnectionResetError, ssl.SSLError, OSError) as e:
        if isinstance(e, socket.timeout):
            return None
        return time.monotonic() - t0


# ---------------------------------------------------------------- tests

def test_kdig(srv):
    r = run(KDIG, "+tls", "@127.0.0.1", "-p", str(srv.tport), WWW, "A")
    assert r.returncode == 0, r.stderr
    assert "status: NOERROR" in r.stdout
    assert re.search(r"TLS session \(TLS1\.3\)", r.stdout), r.stdout
    udp = h.query(srv.port, WWW)
    for rd in (rd for rs in udp.answer for rd in rs):
        assert rd.address in r.stdout, "DoT gives the same answer as UDP"


def test_alpn_and_tls13(srv):
    r = s_client(srv.tport, "-alpn", "dot")
    assert "ALPN protocol: dot" in r.stdout, r.stdout
    assert "New, TLSv1.3" in r.stdout


def test_tls12_yes_tls11_no(srv):
    assert "New, TLSv1.2" in s_client(srv.tport, "-tls1_2").stdout
    r = s_client(srv.tport, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
    assert "New, (NONE), Cipher is (NONE)" in r.stdout, r.stdout
    assert "protocol version" in r.stdout + r.stderr


def test_session_resumption(srv, tmp_path):
    for ver in ("-tls1_3", "-tls1_2"):
        sess = str(tmp_path / f"sess{ver}.pem")
        # s_client writes the session once it read the ticket (after the
        # TLS 1.3 handshake): keep stdin open a moment.
        first = run("sh", "-c", f"sleep 0.5 | {OPENSSL} s_client -connect "
                    f"127.0.0.1:{srv.tport} {ver} -sess_out {sess}")
        assert "New, TLS" in first.stdout and os.path.exists(sess), first.stdout
        again = run("sh", "-c", f"sleep 0.5 | {OPENSSL} s_client -connect "
                    f"127.0.0.1:{srv.tport} {ver} -sess_in {sess}")
        assert "Reused, TLS" in again.stdout, again.stdout


def test_dnspython(srv, pki):
    r = dns.query.tls(h.make_query(WWW, "A", rd=True), "127.0.0.1", port=srv.tport,
                      ssl_context=client_ctx(pki), server_hostname="dot.test",
                      timeout=3.0 * h.SLOW)
    assert r.rcode() == dns.rcode.NOERROR
    assert a_records(r) == a_records(h.query(srv.port, WWW))


def test_pipelining(srv, pki):
    """20 queries in one write on one connection; the replies may come in
    any order and are matched by ID."""
    names = [WWW, "mail." + ZONE, "nope." + ZONE, ZONE]
    qs = {0x4000 + i: (names[i % len(names)], ("A", "AAAA", "MX", "SOA")[i % 4])
          for i in range(20)}
    with tls_connect(client_ctx(pki), srv.tport) as s:
        s.sendall(b"".join(framed(h.make_query(n, t, qid=qid).to_wire())
                           for qid, (n, t) in qs.items()))
        got = {}
        for _ in qs:
            raw = h.tcp_read_msg(s)
            assert raw is not None, "connection closed before every reply came"
            m = dns.message.from_wire(raw)
            assert m.id in qs and m.id not in got
            got[m.id] = m
    for qid, (name, qtype) in qs.items():
        want = h.query(srv.port, name, qtype)
        assert not h.compare(got[qid], want), (name, qtype, h.compare(got[qid], want))


def test_handshake_timeout(srv):
    """Connect and send nothing: closed after handshake_timeout (1 s)."""
    with socket.create_connection(("127.0.0.1", srv.tport)) as s:
        t = seconds_until_closed(s, 5.0)
    assert t is not None and 0.7 <= t <= 2.5 * h.SLOW, t


def test_idle_and_message_timeouts(srv, pki):
    """After the handshake the tcp: timeouts hold: idle 2 s, a started
    message must complete within 1 s."""
    with tls_connect(client_ctx(pki), srv.tport) as s:
        assert ask(s, 7).rcode() == dns.rcode.NOERROR
        t = seconds_until_closed(s, 6.0)
    assert t is not None and 1.5 <= t <= 3.5 * h.SLOW, t
    with tls_connect(client_ctx(pki), srv.tport) as s:
        s.sendall(b"\x00\x40\x12")      # 64 bytes announced, one sent
        t = seconds_until_closed(s, 6.0)
    assert t is not None and 0.7 <= t <= 1.8 * h.SLOW, t


def test_new_session_rate(own_servers, pki):
    """max_new_sessions_per_client: 2 -> the third full handshake within a
    second is refused; resumed sessions do not count; another client
    address has its own budget."""
    srv = start(own_servers, {"cert": pki["server"][1], "key": pki["server"][0],
                              "max_new_sessions_per_client": 2}, name="moondns-rate")
    ctx = client_ctx(pki)
    first = tls_connect(ctx, srv.tport, src="127.0.0.5")
    assert ask(first, 1).rcode() == dns.rcode.NOERROR
    sess = first.session
    first.close()
    tls_connect(ctx, srv.tport, src="127.0.0.5").close()
    with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
        third = tls_connect(ctx, srv.tport, src="127.0.0.5")
        ask(third, 3)
    resumed = tls_connect(ctx, srv.tport, src="127.0.0.5", session=sess)
    assert resumed.session_reused
    assert ask(resumed, 4).rcode() == dns.rcode.NOERROR
    resumed.close()
    other = tls_connect(ctx, srv.tport, src="127.0.0.6")
    assert ask(other, 5).rcode() == dns.rcode.NOERROR
    other.close()
    time.sleep(1.1)
    again = tls_connect(ctx, srv.tport, src="127.0.0.5")
    assert ask(again, 6).rcode() == dns.rcode.NOERROR, "the budget refills"
    again.close()


def test_mutual_tls(mtls, pki):
    with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
        s = tls_connect(client_ctx(pki), mtls.tport)
        # TLS 1.3: the server judges the client after the client's
        # handshake is done; the refusal shows on the first read.
        r = ask(s, 1)
        assert r is None
        raise ConnectionResetError("closed without an answer")
    with tls_connect(client_ctx(pki, cert=pki["client"]), mtls.tport) as s:
        assert ask(s, 2).rcode() == dns.rcode.NOERROR
    r = run(KDIG, "+tls", "+tls-ca=" + pki["ca"][1], "+tls-hostname=dot.test",
            "+tls-certfile=" + pki["client"][1], "+tls-keyfile=" + pki["client"][0],
            "@127.0.0.1", "-p", str(mtls.tport), WWW, "A")
    assert "status: NOERROR" in r.stdout, r.stdout + r.stderr


def check(config_text, tmp_path):
    p = tmp_path / "moondns.yaml"
    p.write_text(config_text)
    return p, run(h.MOONDNS, "check", "-c", str(p))


def test_config_errors(tmp_path, pki):
    zfile = os.path.join(h.ZONEDIR, "diff.test.zone")
    zone = f"zone_files: [ {{ origin: {ZONE}, file: {zfile} }} ]"
    p, r = check(f"""servers:
  - name: a
    listen: [ "dns://127.0.0.1:5399", "tls://127.0.0.1:8853" ]
    {zone}
""", tmp_path)
    assert r.returncode == 1
    assert (f"{p}:3:39: servers[0].listen[1]: tls:// listeners need a tls: section with "
            "cert and key") in r.stderr, r.stderr

    p, r = check(f"""servers:
  - name: a
    listen: [ "tls://127.0.0.1:8853" ]
    tls:
      cert: missing.crt
      key: {pki["server"][0]}
    {zone}
""", tmp_path)
    assert r.returncode == 1
    assert (f"{p}:5:7: servers[0].tls.cert: cannot load certificate {tmp_path}/missing.crt: "
            "No such file or directory") in r.stderr, r.stderr
    # The daemon refuses to start on it too (never serves cleartext).
    d = run(h.MOONDNS, "-c", str(p))
    assert d.returncode != 0 and "missing.crt" in d.stderr

    p, r = check(f"""servers:
  - name: a
    listen: [ "tls://127.0.0.1:8853" ]
    tls: {{ cert: {pki["server"][1]}, key: {pki["client"][0]} }}
    {zone}
""", tmp_path)
    assert r.returncode == 1
    assert "servers[0].tls.key: cannot load private key" in r.stderr, r.stderr
    assert "does not belong to the certificate" in r.stderr


def peer_cert(port):
    r = s_client(port, "-showcerts")
    x = run(OPENSSL, "x509", "-noout", "-subject", "-serial", inp=r.stdout)
    return x.stdout


def test_certificate_swap(own_servers, pki, tmp_path):
    """Replacing the files (rename over them, as cert-manager and
    Kubernetes do) changes the certificate of new connections without a
    restart; a connection made before goes on, and its ticket resumes."""
    crt, key = str(tmp_path / "live.crt"), str(tmp_path / "live.key")
    for src, dst in ((pki["server"][1], crt), (pki["server"][0], key)):
        with open(src) as f, open(dst, "w") as g:
            g.write(f.read())
    srv = start(own_servers, {"cert": crt, "key": key}, name="moondns-swap")
    before = peer_cert(srv.tport)
    assert "CN = dot.test" in before and "serial=03E9" in before, before
    ctx = client_ctx(pki)
    old = tls_connect(ctx, srv.tport)
    assert ask(old, 1).rcode() == dns.rcode.NOERROR
    sess = old.session
    for src, dst in ((pki["server2"][0], key), (pki["server2"][1], crt)):
        with open(src) as f, open(dst + ".new", "w") as g:
            g.write(f.read())
        os.rename(dst + ".new", dst)
    deadline = time.monotonic() + 10 * h.SLOW
    after = before
    while time.monotonic() < deadline and "dot2.test" not in after:
        time.sleep(0.2)
        after = peer_cert(srv.tport)
    assert "CN = dot2.test" in after and "serial=0BBB" in after, after
    assert srv.alive(), "no restart"
    assert ask(old, 2).rcode() == dns.rcode.NOERROR, "the older connection goes on"
    old.close()
    resumed = tls_connect(ctx, srv.tport, session=sess)
    assert resumed.session_reused, "tickets survive the swap"
    resumed.close()
    assert "dot2.test" in srv.stderr(), "the new certificate is logged"


def test_reload_adds_tls_listener(own_servers, pki, tmp_path):
    """A reload that adds a tls:// listener and its tls: section."""
    port, tport = h.free_port(), h.free_port()
    conf = h.moon_config(port, zone_files(), workers=2)
    srv = own_servers.moondns(conf, port, name="moondns-addtls", probe_name=ZONE)
    conf = dot_config(port, tport, {"cert": pki["server"][1], "key": pki["server"][0]})
    tmp = srv.config_path + ".new"
    with open(tmp, "w") as f:
        f.write(h.to_yaml(conf) + "\n")
    os.rename(tmp, srv.config_path)
    os.kill(srv.pid, signal.SIGHUP)
    h.Daemon.wait_ready(srv, h.probe_tcp(tport))
    with tls_connect(client_ctx(pki), tport) as s:
        assert ask(s, 9).rcode() == dns.rcode.NOERROR
