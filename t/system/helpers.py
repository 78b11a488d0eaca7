"""Helpers shared by the moondns system tests.

Everything here talks to real processes over loopback: it picks free ports,
writes configs, starts and stops daemons (moondns, knotd) by PID, and sends
DNS messages (built by dnspython, or by hand when they must be malformed).
Nothing here decides what is correct; the test files do.
"""
import json
import os
import random
import re
import signal
import socket
import struct
import subprocess
import time

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("MOON_SRCDIR") or os.path.abspath(os.path.join(HERE, "..", ".."))
BUILDDIR = os.environ.get("MOON_BUILDDIR") or os.path.join(SRCDIR, "build")
MOONDNS = os.path.join(BUILDDIR, "moondns")
ZONEDIR = os.path.join(HERE, "zones")
EXAMPLES = os.path.join(SRCDIR, "examples")
KNOTD = "/usr/sbin/knotd"


def _slowdown():
    """A sanitizer build is several times slower to start and to answer."""
    try:
        with open(os.path.join(BUILDDIR, "config.log"), errors="replace") as f:
            head = f.read(4000)
    except OSError:
        return 1.0
    return 3.0 if "--with-sanitizer" in head else 1.0


SLOW = _slowdown()

# Seed of the random tests (test_malformed): fresh each run unless given,
# printed in the pytest header so a failure can be replayed.
FUZZ_SEED = int(os.environ.get("MOON_FUZZ_SEED") or
                int.from_bytes(os.urandom(4), "big") & 0x7FFFFFFF or 1)


# ---------------------------------------------------------------- ports

_handed_out = set()


def _can_bind(family, addr, port, kind):
    s = socket.socket(family, kind)
    try:
        s.bind((addr, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def ipv6_loopback():
    """True when ::1 can be bound here (some containers have no IPv6)."""
    return _can_bind(socket.AF_INET6, "::1", 0, socket.SOCK_DGRAM)


def free_port(v6=False):
    """A port free for UDP and TCP on 127.0.0.1 (and ::1 when v6), below the
    ephemeral range so client sockets do not take it in the meantime."""
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(500):
        port = rng.randrange(20000, 32000)
        if port in _handed_out:
            continue
        targets = [(socket.AF_INET, "127.0.0.1")]
        if v6:
            targets.append((socket.AF_INET6, "::1"))
        if all(_can_bind(f, a, port, k) for f, a in targets
               for k in (socket.SOCK_DGRAM, socket.SOCK_STREAM)):
            _handed_out.add(port)
            return port
    raise RuntimeError("no free loopback port found")


# ---------------------------------------------------------------- YAML

_PLAIN = re.compile(r"^[A-Za-z0-9_./@-][A-Za-z0-9_./@:-]*$")


def _scalar(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    s = str(v)
    if isinstance(v, Plain) or (_PLAIN.match(s) and s.lower() not in
                                ("true", "false", "yes", "no", "on", "off", "null", "~")):
        return s
    # JSON string escapes are valid in YAML double-quoted scalars.
    return json.dumps(s)


class Plain(str):
    """A string written unquoted (durations like 1s, sizes like 64k)."""


def to_yaml(obj, indent=0):
    """Block-style YAML for dicts/lists/scalars, readable in failure dumps."""
    pad = " " * indent
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                out.append(f"{pad}{k}:")
                out.append(to_yaml(v, indent + 2))
            elif isinstance(v, list):
                out.append(f"{pad}{k}: []")
            else:
                out.append(f"{pad}{k}: {_scalar(v)}")
    elif isinstance(obj, list):
        for v in obj:
            if isinstance(v, (dict, list)) and v:
                inner = to_yaml(v, indent + 2).splitlines()
                out.append(f"{pad}- {inner[0].lstrip()}")
                out.extend(inner[1:])
            else:
                out.append(f"{pad}- {_scalar(v)}")
    else:
        out.append(pad + _scalar(obj))
    return "\n".join(out)


def moon_config(port, zone_files, name="test", v6=False, zones=None, **top):
    """A one-block moondns config listening on 127.0.0.1:port (and [::1]).
    zone_files: list of {origin:, file:} or {origin:, inline:} dicts."""
    listen = [f"dns://127.0.0.1:{port}"]
    if v6:
        listen.append(f"dns://[::1]:{port}")
    server = {"name": name, "listen": listen}
    if zones is not None:
        server["zones"] = zones
    server["zone_files"] = zone_files
    conf = {"workers": 1, "log": {"level": "info"}}
    conf.update(top)
    conf["servers"] = [server]
    return conf


# ---------------------------------------------------------------- daemons

SANITIZER_PATTERNS = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)"
    r"|runtime error:|WARNING: ThreadSanitizer")


class Daemon:
    """A server process started by a test and stopped by PID."""

    def __init__(self, name, argv, workdir, env=None):
        self.name = name
        self.argv = argv
        self.workdir = workdir
        self.env = env
        self.proc = None
        self.returncode = None
        self.killed = False
        self.stderr_path = os.path.join(workdir, f"{name}.stderr")

    @property
    def pid(self):
        return self.proc.pid

    def start(self):
        os.makedirs(self.workdir, exist_ok=True)
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(self.argv, cwd=self.workdir, stdin=subprocess.DEVNULL,
                                     stdout=self._err, stderr=subprocess.STDOUT,
                                     env=self.env, start_new_session=True)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stderr_tail(self, lines=60):
        return "\n".join(self.stderr().splitlines()[-lines:])

    def wait_ready(self, probe, timeout=10.0):
        """Polls probe() until it returns true; fails early if the process exits."""
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited with status {self.proc.returncode} "
                                   f"during start-up:\n{self.stderr_tail()}")
            if probe():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer within {timeout * SLOW:.0f}s:\n"
                           f"{self.stderr_tail()}")

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Signals the process (by PID) and waits; SIGKILL after timeout.
        Returns the exit status (negative = killed by that signal)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, sig)
                self.proc.wait(timeout=timeout * SLOW)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                self.killed = True
            except ProcessLookupError:
                pass
        self.returncode = self.proc.returncode
        if not self._err.closed:
            self._err.close()
        return self.returncode

    def sanitizer_reports(self):
        return [ln for ln in self.stderr().splitlines() if SANITIZER_PATTERNS.search(ln)]

    def rss_kb(self):
        with open(f"/proc/{self.pid}/status") as f:
            for ln in f:
                if ln.startswith("VmRSS:"):
                    return int(ln.split()[1])
        return 0


def probe_udp(port, qname=".", qtype="SOA", addr="127.0.0.1"):
    def probe():
        wire = dns.message.make_query(qname, qtype).to_wire()
        return udp_raw(wire, port, addr=addr, timeout=0.2) is not None
    return probe


def probe_tcp(port, addr="127.0.0.1"):
    def probe():
        try:
            socket.create_connection((addr, port), timeout=0.2).close()
            return True
        except OSError:
            return False
    return probe


class Moondns(Daemon):
    """moondns -c <workdir>/moondns.yaml, on ports chosen by the caller."""

    def __init__(self, workdir, config, port, name="moondns", files=None, probe_name=None,
                 config_path=None):
        """config: a dict (written as YAML) or YAML text, saved as
        workdir/moondns.yaml; or None and config_path: an existing file."""
        self.port = port
        os.makedirs(workdir, exist_ok=True)
        for fname, text in (files or {}).items():
            with open(os.path.join(workdir, fname), "w") as f:
                f.write(text)
        if config_path:
            self.config_path = config_path
        else:
            self.config_path = os.path.join(workdir, "moondns.yaml")
            text = config if isinstance(config, str) else to_yaml(config) + "\n"
            with open(self.config_path, "w") as f:
                f.write(text)
        self.probe_name = probe_name or "."
        super().__init__(name, [MOONDNS, "-c", self.config_path], workdir)

    def start(self):
        if not os.access(MOONDNS, os.X_OK):
            raise RuntimeError(f"moondns is not built: {MOONDNS} (MOON_BUILDDIR={BUILDDIR})")
        super().start()
        self.wait_ready(probe_udp(self.port, self.probe_name))
        return self.wait_ready(probe_tcp(self.port))

    def stop_and_check(self):
        """Stops with SIGTERM; returns a list of problems (exit status,
        sanitizer reports) for the caller to fail on."""
        alive = self.alive()
        rc = self.stop()
        problems = []
        if not alive:
            problems.append(f"{self.name} had already exited with status {rc}")
        elif rc != 0:
            problems.append(f"{self.name} exited with status {rc} after SIGTERM")
        problems += self.sanitizer_reports()
        return problems


KNOT_CONF = """\
server:
    rundir: "{run}"
    pidfile: "{run}/knot.pid"
    listen: 127.0.0.1@{port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
{server_extra}
control:
    listen: "{run}/knot.sock"
database:
    storage: "{run}/db"
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: "{run}"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: off
zone:
{zones}
"""


class Knotd(Daemon):
    """Debian's knotd as the reference server: its own run dir (never
    /run/knot), the given (origin, zone file) pairs, stopped by PID."""

    def __init__(self, workdir, port, zones, server_extra=""):
        self.port = port
        os.makedirs(workdir, exist_ok=True)
        conf = KNOT_CONF.format(
            run=workdir, port=port, server_extra=server_extra,
            zones="\n".join(f'  - domain: "{o}"\n    file: "{p}"' for o, p in zones))
        self.config_path = os.path.join(workdir, "knot.conf")
        with open(self.config_path, "w") as f:
            f.write(conf)
        self.first_zone = zones[0][0]
        super().__init__("knotd", [KNOTD, "-c", self.config_path], workdir)

    def start(self):
        super().start()
        self.wait_ready(probe_udp(self.port, self.first_zone))
        return self.wait_ready(probe_tcp(self.port))


# ---------------------------------------------------------------- DNS I/O

def udp_raw(wire, port, addr="127.0.0.1", timeout=2.0, src=None):
    """Sends one datagram, returns the first reply (bytes) or None on timeout."""
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        if src:
            s.bind((src, 0))
        s.settimeout(timeout * SLOW)
        s.sendto(wire, (addr, port))
        try:
            return s.recvfrom(65535)[0]
        except socket.timeout:
            return None


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def tcp_read_msg(sock):
    """Reads one length-prefixed message; None at EOF."""
    hdr = recv_exact(sock, 2)
    if hdr is None:
        return None
    return recv_exact(sock, struct.unpack("!H", hdr)[0])


def tcp_read_or_none(sock):
    """Like tcp_read_msg, but a reset or a timeout also gives None."""
    try:
        return tcp_read_msg(sock)
    except (ConnectionResetError, socket.timeout):
        return None


def tcp_raw(wire, port, addr="127.0.0.1", timeout=2.0):
    """One query on a fresh TCP connection; returns the reply or None (EOF/timeout)."""
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.settimeout(timeout * SLOW)
        s.connect((addr, port))
        s.sendall(struct.pack("!H", len(wire)) + wire)
        try:
            return tcp_read_msg(s)
        except (socket.timeout, ConnectionResetError):
            return None


def make_query(qname, qtype="A", rdclass="IN", edns=None, do=False, payload=1232,
               rd=False, cd=False, ad=False, options=None, qid=None, ednsflags=0):
    """A dnspython query; edns=None means EDNS0 only when do, options or
    ednsflags are set (edns=-1: no OPT record)."""
    if edns is None:
        edns = 0 if (do or options or ednsflags) else -1
    q = dns.message.make_query(qname, qtype, rdclass)
    if edns >= 0:
        # use_edns directly: dnspython 2.3's want_dnssec(False) clears the
        # EDNS version bits along with DO.
        q.use_edns(edns, ednsflags=ednsflags | (dns.flags.DO if do else 0), payload=payload,
                   options=options)
    q.flags = 0
    if rd:
        q.flags |= dns.flags.RD
    if cd:
        q.flags |= dns.flags.CD
    if ad:
        q.flags |= dns.flags.AD
    if qid is not None:
        q.id = qid
    return q


def exchange(msg, port, tcp=False, addr="127.0.0.1", timeout=2.0):
    """Sends a dnspython message, returns the parsed reply or None on timeout.
    The reply is parsed without dnspython's question/ID checks so the tests
    can assert them themselves."""
    wire = msg.to_wire() if not isinstance(msg, bytes) else msg
    raw = (tcp_raw if tcp else udp_raw)(wire, port, addr=addr, timeout=timeout)
    if raw is None:
        return None
    return dns.message.from_wire(raw)


def query(port, qname, qtype="A", tcp=False, addr="127.0.0.1", timeout=2.0, **kw):
    return exchange(make_query(qname, qtype, **kw), port, tcp=tcp, addr=addr, timeout=timeout)


def header(raw):
    """(id, flags, qd, an, ns, ar) of a raw message."""
    return struct.unpack("!HHHHHH", raw[:12])


def rcode_of(raw):
    return header(raw)[1] & 0xF


def opt_version(msg):
    return msg.edns


# ---------------------------------------------------------------- comparison

FLAG_NAMES = ("AA", "TC", "RD", "RA", "AD", "CD")


def flags_of(msg):
    return {f: bool(msg.flags & getattr(dns.flags, f)) for f in FLAG_NAMES}


def rrset_key(rrset):
    """Canonical, order-free form of one RRset: names compared without case,
    rdata in DNSSEC canonical wire form (RFC 4034 §6.2)."""
    return (rrset.name.canonicalize().to_text(), rrset.rdclass, rrset.rdtype, rrset.covers,
            rrset.ttl, frozenset(rd.to_digestable() for rd in rrset))


def rrset_text(rrset):
    rds = sorted(rd.to_text() for rd in rrset)
    t = dns.rdatatype.to_text(rrset.rdtype)
    if rrset.covers:
        t += "(" + dns.rdatatype.to_text(rrset.covers) + ")"
    return f"{rrset.name} {rrset.ttl} {t} " + " | ".join(rds)


def section_map(msg, section):
    """{key: text} for the RRsets of a section; the OPT record never appears
    here (dnspython keeps it apart)."""
    return {rrset_key(rs): rrset_text(rs) for rs in getattr(msg, section)}


SECTIONS = ("answer", "authority", "additional")


def compare(a, b):
    """Differences between two replies as (field, a_value, b_value) tuples."""
    diffs = []
    if a.rcode() != b.rcode():
        diffs.append(("rcode", dns.rcode.to_text(a.rcode()), dns.rcode.to_text(b.rcode())))
    fa, fb = flags_of(a), flags_of(b)
    for f in FLAG_NAMES:
        if fa[f] != fb[f]:
            diffs.append((f"flag {f}", fa[f], fb[f]))
    qa = [rs.to_text() for rs in a.question]
    qb = [rs.to_text() for rs in b.question]
    if qa != qb:
        diffs.append(("question", qa, qb))
    if (a.edns >= 0) != (b.edns >= 0):
        diffs.append(("OPT present", a.edns >= 0, b.edns >= 0))
    for sec in SECTIONS:
        ma, mb = section_map(a, sec), section_map(b, sec)
        only_a = sorted(ma[k] for k in ma.keys() - mb.keys())
        only_b = sorted(mb[k] for k in mb.keys() - ma.keys())
        if only_a or only_b:
            diffs.append((sec, only_a, only_b))
    return diffs


# ---------------------------------------------------------------- raw wire

def wire_name(name):
    """Uncompressed wire form of a dotted name (no validation: tests build
    bad names with it on purpose via wire_labels)."""
    labels = [lb for lb in name.rstrip(".").split(".") if lb] if name != "." else []
    return wire_labels([lb.encode() for lb in labels])


def wire_labels(labels):
    return b"".join(bytes([len(lb)]) + lb for lb in labels) + b"\0"


def raw_header(qid=0x1234, flags=0, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def raw_question(name="www.diff.test.", qtype=1, qclass=1):
    nm = name if isinstance(name, bytes) else wire_name(name)
    return nm + struct.pack("!HH", qtype, qclass)


def raw_rr(owner=b"\0", rtype=1, rclass=1, ttl=0, rdata=b"\x7f\0\0\1"):
    return owner + struct.pack("!HHIH", rtype, rclass, ttl, len(rdata)) + rdata


def raw_opt(payload=1232, ext_rcode=0, version=0, flags=0, options=b""):
    return b"\0" + struct.pack("!HHBBHH", 41, payload, ext_rcode, version, flags,
                               len(options)) + options


class Client:
    """A UDP socket kept open for many queries (replies are matched by ID),
    plus a fresh connection per TCP query."""

    def __init__(self, port, addr="127.0.0.1", timeout=2.0):
        self.port, self.addr, self.timeout = port, addr, timeout * SLOW
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        self.udp = socket.socket(fam, socket.SOCK_DGRAM)
        self.udp.connect((addr, port))

    def close(self):
        self.udp.close()

    def ask_raw(self, wire, tcp=False):
        if tcp:
            return tcp_raw(wire, self.port, addr=self.addr, timeout=self.timeout / SLOW)
        qid = wire[:2]
        self.udp.send(wire)
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.udp.settimeout(left)
            try:
                raw = self.udp.recv(65535)
            except (socket.timeout, ConnectionRefusedError):
                return None
            if raw[:2] == qid:
                return raw

    def ask(self, msg, tcp=False):
        raw = self.ask_raw(msg.to_wire(), tcp=tcp)
        return None if raw is None else dns.message.from_wire(raw)


def option_codes(msg):
    return [o.otype for o in msg.options] if msg.edns >= 0 else []


def edns_option(msg, code):
    """The data of EDNS option `code` in a reply, or None."""
    for o in (msg.options if msg.edns >= 0 else []):
        if o.otype == code:
            return o.to_wire() if not hasattr(o, "data") else o.data
    return None
