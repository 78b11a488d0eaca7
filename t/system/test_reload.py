"""Hot reload: SIGHUP and file watching, failures that keep the old
configuration, zone-by-zone reloads, the Kubernetes ConfigMap symlink swap,
listeners added and removed at run time, and 20 reloads under a steady
query stream with no query lost and every answer from the old or the new
configuration.

Each test starts its own moondns (the files it reloads are its own).
Files are replaced the way tools do it (write a temporary file, rename it
over the old one), so the server never reads a half-written file.
"""
import os
import re
import signal
import socket
import struct
import textwrap
import threading
import time

import dns.message
import dns.rcode
import dns.rdatatype
import pytest

import helpers as h


def zone(value, serial=1, extra=""):
    return textwrap.dedent(f"""\
        $TTL 60
        @   SOA ns1 hostmaster {serial} 3600 600 604800 60
            NS  ns1
        ns1 A   127.0.0.1
        www A   {value}
        """) + extra


def policy(value):
    """A policy answering www.p.test. itself, with `value`."""
    return textwrap.dedent(f"""\
        return function(opts)
          return {{
            query = function(q)
              if q.name == "www.p.test." then
                return q:reply{{ answer = {{ "@ 60 A {value}" }} }}
              end
            end,
          }}
        end
        """)


def config(ports, a_file="a.zone", b_file="b.zone", c_value="203.0.113.1", extra=""):
    listen = ", ".join(f'"dns://127.0.0.1:{p}"' for p in ports)
    return textwrap.dedent(f"""\
        workers: 2
        log: {{ level: info }}
        servers:
          - name: t
            listen: [ {listen} ]
            zones: [ a.test., b.test., c.test., p.test. ]
            policies:
              - script: pol.lua
            zone_files:
              - {{ origin: a.test., file: {a_file} }}
              - {{ origin: b.test., file: {b_file} }}
              - origin: c.test.
                inline: |
                  @   SOA ns1 hostmaster 1 3600 600 604800 60
                      NS  ns1
                  ns1 A   127.0.0.1
                  www A   {c_value}
        """) + extra


def replace(path, text):
    """Atomic replacement, as editors and config tools do it."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def addrs(port, name, tcp=False):
    r = h.query(port, name, "A", tcp=tcp, timeout=1.0)
    if r is None:
        return None
    return sorted(rd.address for rs in r.answer for rd in rs)


def wait_for(pred, timeout=5.0):
    deadline = time.monotonic() + timeout * h.SLOW
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def log_since(d, mark):
    return d.stderr()[mark:]


def results(text):
    """The outcome lines of the reloads in a piece of log."""
    return re.findall(r"reload: generation \d+ in service.*|reload failed.*", text)


class Server:
    """A moondns in tmp with a.zone, b.zone and moondns.yaml of its own."""

    def __init__(self, pool, ports, **kw):
        self.ports = ports
        files = {"a.zone": zone("192.0.2.1"), "b.zone": zone("198.51.100.1"),
                 "pol.lua": policy("203.0.114.1")}
        self.d = pool.moondns(config(ports, **kw), ports[0], files=files, name="reload",
                              probe_name="www.a.test.")
        self.dir = os.path.dirname(self.d.config_path)

    def path(self, name):
        return os.path.join(self.dir, name)

    def mark(self):
        return len(self.d.stderr())

    def wait_result(self, mark, n=1, timeout=5.0):
        """Waits for n reload outcomes after mark; returns them."""
        assert wait_for(lambda: len(results(log_since(self.d, mark))) >= n, timeout), \
            f"no reload outcome in the log:\n{self.d.stderr_tail()}"
        return results(log_since(self.d, mark))

    def hup(self):
        os.kill(self.d.pid, signal.SIGHUP)


def test_sighup_applies_a_valid_change(own_servers):
    port = h.free_port()
    s = Server(own_servers, [port])
    assert addrs(port, "www.c.test.") == ["203.0.113.1"]
    mark = s.mark()
    replace(s.d.config_path, config([port], c_value="203.0.113.2"))
    s.hup()
    s.wait_result(mark)
    assert wait_for(lambda: addrs(port, "www.c.test.") == ["203.0.113.2"]), s.d.stderr_tail()
    assert "reload (SIGHUP)" in log_since(s.d, mark) or \
        "reload (moondns.yaml changed)" in log_since(s.d, mark)
    # Untouched zone files are not read again.
    assert "zone a.test. loaded" not in log_since(s.d, mark)


def test_invalid_config_keeps_the_old_one_and_says_where(own_servers):
    port = h.free_port()
    s = Server(own_servers, [port])
    mark = s.mark()
    bad = config([port]).replace('"dns://127.0.0.1:', '"dns://127.0.0.1:9')  # port > 65535
    replace(s.d.config_path, bad)
    out = s.wait_result(mark)
    assert out[-1].startswith("reload failed"), out
    log = log_since(s.d, mark)
    assert re.search(r"moondns\.yaml:5:\d+: servers\[0\]\.listen\[0\]: ", log), log
    assert addrs(port, "www.a.test.") == ["192.0.2.1"], "the old configuration keeps serving"
    # A zone file with an error: its own file:line, and the old zone stays.
    mark = s.mark()
    replace(s.d.config_path, config([port]))
    replace(s.path("b.zone"), zone("198.51.100.1") + "bad A 300.1.1.1\n")
    s.hup()
    assert wait_for(lambda: "reload failed" in log_since(s.d, mark)), s.d.stderr_tail()
    assert re.search(r"b\.zone:6: ", log_since(s.d, mark)), log_since(s.d, mark)
    assert addrs(port, "www.b.test.") == ["198.51.100.1"]
    assert s.d.alive()


def test_a_changed_zone_file_is_reloaded_alone(own_servers):
    port = h.free_port()
    s = Server(own_servers, [port])
    mark = s.mark()
    replace(s.path("b.zone"), zone("198.51.100.2", serial=2))
    out = s.wait_result(mark)  # no SIGHUP: the watcher sees it
    assert "(1 reloaded, 2 unchanged)" in out[-1], out
    log = log_since(s.d, mark)
    assert "reload (b.zone changed)" in log, log
    assert "zone b.test. loaded: serial 2" in log, log
    assert "zone a.test. loaded" not in log, log
    assert addrs(port, "www.b.test.") == ["198.51.100.2"]
    assert addrs(port, "www.a.test.") == ["192.0.2.1"]
    # A changed policy file is a reload too (the policy is compiled anew).
    assert addrs(port, "www.p.test.") == ["203.0.113.1".replace("113", "114")]
    mark = s.mark()
    replace(s.path("pol.lua"), policy("203.0.114.2"))
    out = s.wait_result(mark)
    assert "reload (pol.lua changed)" in log_since(s.d, mark), log_since(s.d, mark)
    assert "(0 reloaded, 3 unchanged)" in out[-1], out
    assert addrs(port, "www.p.test.") == ["203.0.114.2"]
    # Touching a file without changing it reloads nothing.
    mark = s.mark()
    replace(s.path("a.zone"), zone("192.0.2.1"))
    time.sleep(0.8 * h.SLOW)
    assert results(log_since(s.d, mark)) == [], log_since(s.d, mark)


def test_kubernetes_configmap_swap_triggers_a_reload(own_servers, tmp_path):
    """The kubelet's atomic writer: DIR/..data -> ..TIMESTAMP, each file a
    symlink through ..data; an update writes a new timestamped directory,
    renames a new ..data over the old one and deletes the old directory."""
    port = h.free_port()
    mount = tmp_path / "configmap"
    mount.mkdir()

    def publish(stamp, c_value, a_value):
        d = mount / f"..2026_01_01_00_00_{stamp:02d}.000000001"
        d.mkdir()
        (d / "moondns.yaml").write_text(config([port], a_file=str(mount / "a.zone"),
                                               c_value=c_value))
        (d / "a.zone").write_text(zone(a_value))
        (d / "b.zone").write_text(zone("198.51.100.1"))
        (d / "pol.lua").write_text(policy("203.0.114.1"))
        tmp = mount / "..data_tmp"
        os.symlink(d.name, tmp)
        os.rename(tmp, mount / "..data")
        return d

    first = publish(1, "203.0.113.1", "192.0.2.1")
    for name in ("moondns.yaml", "a.zone", "b.zone", "pol.lua"):
        os.symlink(f"..data/{name}", mount / name)
    d = own_servers.moondns(None, port, name="k8s", config_path=str(mount / "moondns.yaml"),
                            probe_name="www.a.test.")
    assert addrs(port, "www.c.test.") == ["203.0.113.1"]
    mark = len(d.stderr())
    publish(2, "203.0.113.2", "192.0.2.2")
    for f in first.iterdir():
        f.unlink()
    first.rmdir()
    assert wait_for(lambda: addrs(port, "www.c.test.") == ["203.0.113.2"]), d.stderr_tail()
    assert addrs(port, "www.a.test.") == ["192.0.2.2"]
    assert "reload (" in d.stderr()[mark:]
    # A second swap is seen too: the watch followed the new directory.
    publish(3, "203.0.113.3", "192.0.2.2")
    assert wait_for(lambda: addrs(port, "www.c.test.") == ["203.0.113.3"]), d.stderr_tail()


def test_listeners_are_added_and_removed(own_servers):
    a, b = h.free_port(), h.free_port()
    s = Server(own_servers, [a])
    assert addrs(b, "www.a.test.") is None
    # A TCP connection open on a across the reloads: an unchanged listener
    # keeps its sockets and connections.
    conn = socket.create_connection(("127.0.0.1", a), timeout=2 * h.SLOW)
    mark = s.mark()
    replace(s.d.config_path, config([a, b]))
    s.hup()
    out = s.wait_result(mark)
    assert "listeners +1 -0 (1 kept)" in out[-1], out
    assert addrs(b, "www.a.test.") == ["192.0.2.1"]
    assert addrs(b, "www.a.test.", tcp=True) == ["192.0.2.1"]
    mark = s.mark()
    replace(s.d.config_path, config([a]))
    s.hup()
    out = s.wait_result(mark)
    assert "listeners +0 -1 (1 kept)" in out[-1], out
    assert wait_for(lambda: addrs(b, "www.a.test.") is None), "the removed listener still answers"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", b), timeout=1).close()
    q = h.make_query("www.a.test.", "A").to_wire()
    conn.sendall(struct.pack("!H", len(q)) + q)
    r = dns.message.from_wire(h.tcp_read_msg(conn))
    conn.close()
    assert [rd.address for rs in r.answer for rd in rs] == ["192.0.2.1"]
    # An address that cannot be bound fails the reload, and nothing changes.
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind(("127.0.0.1", b))
    try:
        mark = s.mark()
        replace(s.d.config_path, config([a, b], c_value="203.0.113.9"))
        s.hup()
        out = s.wait_result(mark)
        assert out[-1].startswith("reload failed"), out
        assert f"cannot listen on dns://127.0.0.1:{b} (udp)" in log_since(s.d, mark)
        assert addrs(a, "www.c.test.") == ["203.0.113.1"]
    finally:
        blocker.close()


class Load:
    """A steady UDP query stream at `rate` per second: every query must be
    answered, with NOERROR and an address that some configuration had."""

    NAMES = ("www.a.test.", "www.b.test.", "www.c.test.", "www.p.test.")

    def __init__(self, port, rate, valid):
        self.port, self.rate, self.valid = port, rate, valid
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        self.sock.connect(("127.0.0.1", port))
        self.wires = [h.make_query(n, "A").to_wire() for n in self.NAMES]
        self.sent = {}
        self.got = set()
        self.bad = []
        self.stop = threading.Event()
        self.done_sending = threading.Event()
        self.rx = threading.Thread(target=self.receive, daemon=True)
        self.tx = threading.Thread(target=self.send, daemon=True)

    def start(self):
        self.rx.start()
        self.tx.start()

    def send(self):
        start = time.monotonic()
        i = 0
        while not self.stop.is_set() and i < 65536:
            due = start + i / self.rate
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            k = i % len(self.wires)
            self.sent[i] = k
            self.sock.send(struct.pack("!H", i) + self.wires[k][2:])
            i += 1
        self.done_sending.set()

    def receive(self):
        self.sock.settimeout(0.2)
        while not (self.done_sending.is_set() and len(self.got) >= len(self.sent)):
            try:
                raw = self.sock.recv(4096)
            except socket.timeout:
                if self.done_sending.is_set() and self.stop.is_set() and \
                        time.monotonic() > self.deadline:
                    return
                continue
            qid = struct.unpack("!H", raw[:2])[0]
            self.got.add(qid)
            m = dns.message.from_wire(raw)
            name = self.NAMES[self.sent[qid]]
            got = [rd.address for rs in m.answer for rd in rs]
            if m.rcode() != dns.rcode.NOERROR or len(got) != 1 or \
                    got[0] not in self.valid[name]:
                self.bad.append((qid, name, dns.rcode.to_text(m.rcode()), got))

    def finish(self, grace=2.0):
        self.deadline = time.monotonic() + grace * h.SLOW
        self.stop.set()
        self.tx.join()
        self.rx.join(grace * h.SLOW + 1)
        self.sock.close()
        lost = sorted(set(self.sent) - self.got)
        return len(self.sent), lost, self.bad


def test_twenty_reloads_under_load_lose_nothing(own_servers):
    a, b = h.free_port(), h.free_port()
    s = Server(own_servers, [a])
    valid = {"www.a.test.": {"192.0.2.1"}, "www.b.test.": {"198.51.100.1"},
             "www.c.test.": {"203.0.113.1"}, "www.p.test.": {"203.0.114.1"}}
    load = Load(a, 2000 / h.SLOW, valid)
    load.start()
    state = {"ports": [a], "c": "203.0.113.1"}
    kinds = []
    try:
        for i in range(20):
            kind = ("config", "invalid", "zone", "listener+", "policy", "listener-",
                    "bad policy")[i % 7]
            kinds.append(kind)
            mark = s.mark()
            if kind == "config":
                state["c"] = f"203.0.113.{10 + i}"
                valid["www.c.test."].add(state["c"])
            elif kind == "zone":
                value = f"198.51.100.{10 + i}"
                valid["www.b.test."].add(value)
                replace(s.path("b.zone"), zone(value, serial=10 + i))
            elif kind == "policy":
                value = f"203.0.114.{10 + i}"
                valid["www.p.test."].add(value)
                replace(s.path("pol.lua"), policy(value))
            elif kind == "bad policy":
                replace(s.path("pol.lua"), "return function(opts) error('bad') end\n")
            elif kind == "listener+":
                state["ports"] = [a, b]
            elif kind == "listener-":
                state["ports"] = [a]
            text = config(state["ports"], c_value=state["c"])
            if kind == "invalid":
                text += "bogus_key: 1\n"
            replace(s.d.config_path, text)
            s.hup()
            out = s.wait_result(mark)
            ok = out[0].startswith("reload: generation")
            assert ok == (kind not in ("invalid", "bad policy")), (kind, out)
            if kind == "bad policy":
                replace(s.path("pol.lua"), policy(sorted(valid["www.p.test."])[-1]))
            time.sleep(0.45)
    finally:
        total, lost, bad = load.finish()
    assert total > 10000 / h.SLOW, f"only {total} queries were sent"
    assert not lost, f"{len(lost)} of {total} queries lost (first ids {lost[:10]})"
    assert not bad, f"{len(bad)} answers from no configuration, e.g. {bad[:5]}"
    assert s.d.alive()


def _free_low_port():
    for port in range(900, 1000):
        if all(h._can_bind(socket.AF_INET, "127.0.0.1", port, k)
               for k in (socket.SOCK_DGRAM, socket.SOCK_STREAM)):
            return port
    pytest.skip("no free port below 1024")


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_user_switch_after_binding(own_servers, tmp_path):
    """`user:` drops root once the listeners are bound; the control thread
    keeps CAP_NET_BIND_SERVICE alone, so a reload can still open port < 1024."""
    import pwd
    import shutil
    import tempfile
    nobody = pwd.getpwnam("nobody")
    # Files the unprivileged user can read at reload time.
    work = tempfile.mkdtemp(prefix="moondns-user-")
    try:
        os.chmod(work, 0o755)
        for name, text in (("a.zone", zone("192.0.2.1")), ("b.zone", zone("198.51.100.1")),
                           ("pol.lua", policy("203.0.114.1"))):
            with open(os.path.join(work, name), "w") as f:
                f.write(text)
        port, low = h.free_port(), _free_low_port()
        path = os.path.join(work, "moondns.yaml")
        replace(path, config([port], extra="user: nobody\n"))
        os.chmod(path, 0o644)
        d = own_servers.moondns(None, port, name="user", config_path=path,
                                probe_name="www.a.test.")
        status = open(f"/proc/{d.pid}/status").read()
        uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
        assert uids == [str(nobody.pw_uid)] * 4, status
        gids = re.search(r"^Gid:\s+(.*)$", status, re.M).group(1).split()
        assert gids == [str(nobody.pw_gid)] * 4, status
        assert re.search(r"^Groups:\s+%d\s*$" % nobody.pw_gid, status, re.M), status
        cap_eff = int(re.search(r"^CapEff:\s+(\w+)", status, re.M).group(1), 16)
        assert cap_eff == 1 << 10, f"only CAP_NET_BIND_SERVICE may stay: {cap_eff:#x}"
        assert f"running as nobody (uid {nobody.pw_uid}" in d.stderr()
        mark = len(d.stderr())
        replace(path, config([port, low], extra="user: nobody\n"))
        os.chmod(path, 0o644)
        os.kill(d.pid, signal.SIGHUP)
        assert wait_for(lambda: results(d.stderr()[mark:])), d.stderr_tail()
        assert "listeners +1 -0" in results(d.stderr()[mark:])[-1], d.stderr_tail()
        assert addrs(low, "www.a.test.") == ["192.0.2.1"]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_kubernetes_example_config_passes_check(tmp_path):
    """The config the Kubernetes example ships in its ConfigMap is valid."""
    import subprocess
    import yaml
    with open(os.path.join(h.EXAMPLES, "kubernetes", "configmap.yaml")) as f:
        cm = yaml.safe_load(f)
    for name, text in cm["data"].items():
        (tmp_path / name).write_text(text)
    p = subprocess.run([h.MOONDNS, "check", "-c", str(tmp_path / "moondns.yaml")],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "1 zone" in p.stdout, p.stdout
    with open(os.path.join(h.EXAMPLES, "kubernetes", "deployment.yaml")) as f:
        dep = yaml.safe_load(f)
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    sc = c["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}
    assert c["livenessProbe"]["httpGet"]["path"] == "/health"
    assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert "limits" in c["resources"]
