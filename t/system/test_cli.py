"""The moondns command line: --version, --help, `check`, the embedded
default configuration, start-up errors and signals.

Error positions are 1-based "file:line:column:" prefixes; for YAML syntax
errors the position is libyaml's problem mark (the same one PyYAML's
CLoader reports).
"""
import os
import re
import shlex
import signal
import socket
import subprocess
import textwrap
import time

import dns.rcode
import pytest

import helpers as h

ZONE_TEXT = textwrap.dedent("""\
    $TTL 300
    @   SOA ns1 hostmaster 1 3600 600 604800 60
        NS  ns1
    ns1 A   192.0.2.53
    www A   192.0.2.80
    """)


def run(args, cwd=None, timeout=20):
    p = subprocess.run([h.MOONDNS] + args, cwd=cwd, capture_output=True, text=True,
                       timeout=timeout * h.SLOW, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout + p.stderr


def package_version():
    with open(os.path.join(h.BUILDDIR, "config.h")) as f:
        m = re.search(r'#define PACKAGE_VERSION "([^"]+)"', f.read())
    return m.group(1)


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def good_config(port=5353, extra=""):
    return textwrap.dedent(f"""\
        workers: 1
        log: {{ level: info }}
        servers:
          - name: lab
            listen: [ "dns://127.0.0.1:{port}" ]
            zone_files:
              - {{ origin: example.com., file: db.example.com }}
        """) + extra


# ------------------------------------------------------------ informational

def test_version():
    rc, out = run(["--version"])
    assert rc == 0, out
    assert "moondns" in out and package_version() in out, out


def test_help():
    rc, out = run(["--help"])
    assert rc == 0, out
    for word in ("-c", "check", "--version"):
        assert word in out, f"--help does not mention {word}:\n{out}"


def test_unknown_option_is_an_error():
    rc, out = run(["--no-such-option"])
    assert rc != 0 and out.strip(), out


def test_missing_config_file(tmp_path):
    rc, out = run(["-c", str(tmp_path / "nope.yaml")], timeout=10)
    assert rc != 0
    assert "nope.yaml" in out, out


# ------------------------------------------------------------ check

def test_check_good_config(tmp_path):
    write(tmp_path, "db.example.com", ZONE_TEXT)
    write(tmp_path, "good.yaml", good_config())
    rc, out = run(["check", "-c", "good.yaml"], cwd=tmp_path)
    assert rc == 0, out


def test_check_resolves_zone_files_against_the_config_directory(tmp_path):
    (tmp_path / "conf").mkdir()
    write(tmp_path / "conf", "db.example.com", ZONE_TEXT)
    write(tmp_path / "conf", "good.yaml", good_config())
    rc, out = run(["check", "-c", "conf/good.yaml"], cwd=tmp_path)
    assert rc == 0, out


BAD_CONFIGS = {
    # name: (text, line, column, words the message must contain)
    "yaml-syntax": ("workers: 1\nlog: { level: info }\nservers: x: y\n", 3, 11, []),
    "unknown-top-key": ("workers: 1\nwrkers: 2\nservers: []\n", 2, 1, ["wrkers"]),
    "unknown-nested-key": ("workers: 1\ntcp:\n  idle_timeot: 1s\nservers: []\n", 3, 3,
                           ["idle_timeot"]),
    "bad-int": ("workers: lots\nservers: []\n", 1, 10, ["workers"]),
    "bad-duration": ("tcp:\n  idle_timeout: soon\nservers: []\n", 2, 17, ["idle_timeout"]),
    "bad-listen-port": ("servers:\n  - name: a\n    listen:\n      - dns://127.0.0.1:99999\n"
                        "    zone_files:\n      - { origin: example.com., file: db.example.com }\n",
                        4, 9, []),
    "bad-origin": ("servers:\n  - name: a\n    listen: [ \"dns://127.0.0.1:5353\" ]\n"
                   "    zone_files:\n      - origin: \"exa mple..com\"\n"
                   "        file: db.example.com\n",
                   5, 17, []),
}


@pytest.mark.parametrize("name", list(BAD_CONFIGS))
def test_check_reports_file_line_column(tmp_path, name):
    text, line, col, words = BAD_CONFIGS[name]
    write(tmp_path, "db.example.com", ZONE_TEXT)
    (tmp_path / "bad.yaml").write_text(text)
    rc, out = run(["check", "-c", "bad.yaml"], cwd=tmp_path)
    assert rc == 1, f"exit status {rc}, expected 1:\n{out}"
    where = f"bad.yaml:{line}:{col}:"
    assert where in out, f"expected an error at {where}, got:\n{out}"
    msg = out[out.index(where):].splitlines()[0]
    for w in words:
        assert w in msg, f"the message should name {w!r}: {msg}"


def test_check_reports_every_error(tmp_path):
    text = "workers: 1\nfoo: 1\nlog: { level: info }\nbar: 2\nservers: []\n"
    (tmp_path / "two.yaml").write_text(text)
    rc, out = run(["check", "-c", "two.yaml"], cwd=tmp_path)
    assert rc == 1
    assert "two.yaml:2:1:" in out and "two.yaml:4:1:" in out, out


def test_check_bad_zone_file_names_file_and_line(tmp_path):
    zone = ZONE_TEXT + "bad A 192.0.2.999\n"          # line 6
    write(tmp_path, "db.example.com", zone)
    write(tmp_path, "good.yaml", good_config())
    rc, out = run(["check", "-c", "good.yaml"], cwd=tmp_path)
    assert rc == 1, out
    assert re.search(r"db\.example\.com:6\b", out), f"expected db.example.com:6 in:\n{out}"


def test_check_zone_without_soa(tmp_path):
    write(tmp_path, "db.example.com", "$TTL 300\nwww A 192.0.2.1\n")
    write(tmp_path, "good.yaml", good_config())
    rc, out = run(["check", "-c", "good.yaml"], cwd=tmp_path)
    assert rc == 1 and "db.example.com" in out, out


def test_check_missing_zone_file(tmp_path):
    write(tmp_path, "good.yaml", good_config())
    rc, out = run(["check", "-c", "good.yaml"], cwd=tmp_path)
    assert rc == 1 and "db.example.com" in out, out


def test_check_bad_inline_zone_names_the_config(tmp_path):
    text = textwrap.dedent("""\
        servers:
          - name: a
            listen: [ "dns://127.0.0.1:5353" ]
            zone_files:
              - origin: lab.test.
                inline: "$TTL 60\\n@ SOA ns1 root 1 3600 600 604800 60\\nwww A not-an-address\\n"
        """)
    (tmp_path / "inl.yaml").write_text(text)
    rc, out = run(["check", "-c", "inl.yaml"], cwd=tmp_path)
    assert rc == 1 and "inl.yaml" in out, out


def test_check_does_not_bind(tmp_path):
    """check validates only: it works while the configured port is taken."""
    port = h.free_port()
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind(("127.0.0.1", port))
    try:
        write(tmp_path, "db.example.com", ZONE_TEXT)
        write(tmp_path, "good.yaml", good_config(port))
        rc, out = run(["check", "-c", "good.yaml"], cwd=tmp_path)
        assert rc == 0, out
    finally:
        holder.close()


# ------------------------------------------------------------ running

def start(tmp_path, config_text, port):
    write(tmp_path, "db.example.com", ZONE_TEXT)
    d = h.Moondns(str(tmp_path), config_text, port)
    return d.start()


def test_sigterm_exits_0(tmp_path):
    port = h.free_port()
    d = start(tmp_path, good_config(port), port)
    try:
        r = h.query(port, "www.example.com.", "A")
        assert r is not None and r.rcode() == dns.rcode.NOERROR
        assert [rd.address for rd in r.answer[0]] == ["192.0.2.80"]
    finally:
        rc = d.stop(signal.SIGTERM, timeout=5)
    assert rc == 0, f"exit status {rc} after SIGTERM:\n{d.stderr_tail()}"
    assert not d.sanitizer_reports(), d.stderr_tail()


def test_bind_conflict_is_a_clear_error(tmp_path):
    port = h.free_port()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    udp.bind(("127.0.0.1", port))
    tcp.bind(("127.0.0.1", port))
    tcp.listen()
    try:
        write(tmp_path, "db.example.com", ZONE_TEXT)
        write(tmp_path, "c.yaml", good_config(port))
        rc, out = run(["-c", "c.yaml"], cwd=tmp_path, timeout=15)
    finally:
        udp.close()
        tcp.close()
    assert rc != 0, "must exit when it cannot bind"
    assert f"127.0.0.1:{port}" in out, f"the error must name the address:\n{out}"
    assert "in use" in out.lower(), f"the error must say why:\n{out}"


def netns_available():
    try:
        return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0
    except FileNotFoundError:
        return False


def test_embedded_default_answers_and_prints_a_dig_hint(tmp_path):
    """No -c: the embedded lab config on 127.0.0.1:5353. A fixed port could
    be taken on a shared machine, so it runs in a private network namespace
    (root); elsewhere it needs 5353 free."""
    if netns_available():
        argv = ["unshare", "-n", "--", "sh", "-c", 'ip link set lo up && exec "$0"', h.MOONDNS]
        enter = lambda pid: ["nsenter", "-t", str(pid), "-n", "--"]    # noqa: E731
    else:
        argv = [h.MOONDNS]
        enter = lambda pid: []                                        # noqa: E731
    d = h.Daemon("moondns-default", argv, str(tmp_path)).start()
    try:
        def answers():
            out = subprocess.run(enter(d.pid) + ["dig", "@127.0.0.1", "-p", "5353", "+short",
                                                 "+time=1", "+tries=1", "www.lab.test", "A"],
                                 capture_output=True, text=True).stdout
            return "192.0.2.10" in out
        d.wait_ready(answers, timeout=10)
        hints = [ln for ln in d.stderr().splitlines() if re.search(r"\bdig\b.*5353", ln)]
        assert hints, f"no dig hint line on stderr:\n{d.stderr_tail()}"
        cmd = shlex.split(hints[0][hints[0].index("dig"):])
        out = subprocess.run(enter(d.pid) + cmd + ["+time=2", "+tries=1"],
                             capture_output=True, text=True).stdout
        assert "192.0.2.10" in out or "status: NOERROR" in out, \
            f"the printed hint {cmd} does not work:\n{out}"
    finally:
        rc = d.stop()
    assert rc == 0, d.stderr_tail()
    assert not d.sanitizer_reports(), d.stderr_tail()


def wait_for(pred, timeout=5.0):
    deadline = time.monotonic() + timeout * h.SLOW
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_sighup_reloads_and_keeps_serving_on_a_bad_file(tmp_path):
    port = h.free_port()
    d = start(tmp_path, good_config(port), port)
    try:
        def addr(name):
            r = h.query(port, name, "A")
            return [rd.address for rs in r.answer for rd in rs] if r else None
        assert addr("new.example.com.") == []
        (tmp_path / "db.example.com").write_text(ZONE_TEXT.replace(" 1 3600", " 2 3600")
                                                 + "new A 192.0.2.77\n")
        os.kill(d.pid, signal.SIGHUP)
        assert wait_for(lambda: addr("new.example.com.") == ["192.0.2.77"]), \
            f"the changed zone was not picked up by SIGHUP:\n{d.stderr_tail()}"
        (tmp_path / "moondns.yaml").write_text("workers: 1\nservers: x: y\n")
        os.kill(d.pid, signal.SIGHUP)
        assert wait_for(lambda: "moondns.yaml:2:" in d.stderr()), \
            f"a bad file on reload must be reported with its position:\n{d.stderr_tail()}"
        assert d.alive(), "a bad file on reload must not stop the server"
        assert addr("new.example.com.") == ["192.0.2.77"], "the old config keeps serving"
    finally:
        rc = d.stop()
    assert rc == 0, d.stderr_tail()
