"""Every examples/*.yaml must pass `moondns check`, start, and answer the
queries listed in its own "# test:" comment lines:

    # test: [@ADDRESS:PORT] QNAME QTYPE -> RCODE [RDATA | RDATA ...]

The records of QTYPE in the answer must be exactly the RDATA listed (in
any order); NOERROR with no RDATA means an empty answer. Without @, the
query goes to the first listen address of the file.

`check` runs on the file as shipped. To run it, the example directory is
copied and only the listen ports are changed to free ones (the same port
stays the same port everywhere in the file), so a test run never collides
with a server already on 5353.
"""
import glob
import os
import re
import shutil
import subprocess

import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest

import helpers as h

EXAMPLES = sorted(glob.glob(os.path.join(h.EXAMPLES, "*.yaml")))
TEST_LINE = re.compile(r"^#\s*test:\s*(?:@(?P<at>\S+)\s+)?(?P<qname>\S+)\s+(?P<qtype>\S+)\s+->"
                       r"\s+(?P<rcode>[A-Z]+)\s*(?P<rdata>.*)$")
LISTEN = re.compile(r"(?P<scheme>dns|tls)://(?P<addr>\[[0-9a-fA-F:.]+\]|[0-9.]+):(?P<port>\d+)")


def parse_tests(path):
    tests = []
    with open(path) as f:
        for n, ln in enumerate(f, 1):
            if ln.lstrip().startswith("# test:"):
                m = TEST_LINE.match(ln.strip())
                assert m, f"{path}:{n}: malformed test line: {ln.strip()}"
                rdata = [r.strip() for r in m["rdata"].split("|")] if m["rdata"].strip() else []
                tests.append((n, m["at"], m["qname"], m["qtype"], m["rcode"], rdata))
    return tests


def split_hostport(at):
    m = re.fullmatch(r"\[?([0-9a-fA-F:.]+?)\]?:(\d+)", at)
    return m.group(1), int(m.group(2))


def test_there_are_examples():
    names = {os.path.basename(p) for p in EXAMPLES}
    assert {"lab.yaml", "authoritative.yaml", "multi-block.yaml"} <= names, names


@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_example_has_tests(path):
    assert parse_tests(path), f"{path} has no '# test:' lines"


@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_example_passes_check(path):
    p = subprocess.run([h.MOONDNS, "check", "-c", path], capture_output=True, text=True,
                       timeout=30 * h.SLOW)
    assert p.returncode == 0, p.stdout + p.stderr


def relocate(path, workdir):
    """Copies the examples directory into workdir and gives the listen
    addresses of `path` (dns:// and tls://) free ports. Returns (new config
    path, {old port: new port}, (address, old port) of the first dns://
    listener)."""
    dst = os.path.join(workdir, "examples")
    shutil.copytree(h.EXAMPLES, dst)
    with open(path) as f:
        lines = f.read().splitlines()
    found = [m for ln in lines if not ln.lstrip().startswith("#") for m in LISTEN.finditer(ln)]
    dns_found = [m for m in found if m["scheme"] == "dns"]
    assert dns_found, f"{path}: no dns:// listen address"
    v6 = any(m["addr"].startswith("[") for m in found)
    ports = {}
    for m in found:
        ports.setdefault(int(m["port"]), None)
    for old in ports:
        ports[old] = h.free_port(v6=v6 and h.ipv6_loopback())

    def swap(m):
        return f"{m['scheme']}://{m['addr']}:{ports[int(m['port'])]}"
    out = os.path.join(dst, os.path.basename(path))
    with open(out, "w") as f:
        f.write("\n".join(ln if ln.lstrip().startswith("#") else LISTEN.sub(swap, ln)
                          for ln in lines) + "\n")
    first = dns_found[0]
    return out, ports, (first["addr"].strip("[]"), int(first["port"]))


def rdata_set(qtype, texts):
    return {dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(qtype), t)
            .to_digestable() for t in texts}


@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_example_answers_its_queries(path, own_servers, tmp_path):
    tests = parse_tests(path)
    config, ports, default = relocate(path, str(tmp_path))
    own_servers.moondns(None, ports[default[1]], config_path=config,
                        name="moondns-" + os.path.basename(path)[:-5],
                        probe_name=tests[0][2] if tests else ".")
    problems = []
    for n, at, qname, qtype, rcode, rdata in tests:
        addr, port = split_hostport(at) if at else default
        if ":" in addr and not h.ipv6_loopback():
            continue
        r = h.query(ports[port], qname, qtype, addr=addr, edns=0)
        where = f"{os.path.basename(path)}:{n}: {qname} {qtype} @{addr}:{port}"
        if r is None:
            problems.append(f"{where}: no answer")
            continue
        got_rcode = dns.rcode.to_text(r.rcode())
        if got_rcode != rcode:
            problems.append(f"{where}: rcode {got_rcode}, expected {rcode}")
            continue
        want_type = dns.rdatatype.from_text(qtype)
        got = [rd for rs in r.answer if rs.rdtype == want_type for rd in rs]
        got_set = {rd.to_digestable() for rd in got}
        if got_set != rdata_set(qtype, rdata) or len(got) != len(got_set):
            problems.append(f"{where}: answer {sorted(rd.to_text() for rd in got)}, "
                            f"expected {rdata}")
    assert not problems, "\n".join(problems)
