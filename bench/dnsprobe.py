#!/usr/bin/python3
"""Small DNS helpers for the benchmark scripts (loopback only).

usage:
  dnsprobe.py wait PORT NAME IPV4 [--timeout S] [--pid PID]
      Query NAME/A on 127.0.0.1:PORT every 5 ms until an answer holds the A
      record IPV4 (the "first correct answer"). Prints the wall-clock time of
      that answer (seconds since the epoch, ns resolution) and exits 0. Exits 1
      on timeout, 2 if process PID exits first. Used for readiness and for
      load time (the caller notes the time just before it execs the server).

  dnsprobe.py compare REF_PORT PORT QUERYFILE [--count N] [--tcp]
      Send the first N queries of a dnsperf query file to both servers (over
      UDP, or TCP with --tcp) and compare rcode, AA and the answer section
      (as sets of RRs). Prints one
      summary line ("compared N, differ D") and up to 5 differences. Needs
      python3-dnspython. Exit status 0 even when answers differ: the result
      is reported, not enforced.
"""
import argparse
import os
import socket
import struct
import sys
import time

QTYPE_A = 1


def encode_query(qid, name, qtype):
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split("."))
    return struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 0) + labels + b"\0" + struct.pack("!HH", qtype, 1)


def skip_name(msg, off):
    while off < len(msg):
        n = msg[off]
        if n == 0:
            return off + 1
        if n & 0xC0 == 0xC0:
            return off + 2
        off += n + 1
    raise ValueError("truncated name")


def has_a(msg, qid, want):
    """True if msg answers qid with NOERROR and an A record equal to want (4 bytes)."""
    if len(msg) < 12:
        return False
    rid, flags, qd, an = struct.unpack("!HHHH", msg[:8])
    if rid != qid or not flags & 0x8000 or flags & 0xF != 0:
        return False
    try:
        off = 12
        for _ in range(qd):
            off = skip_name(msg, off) + 4
        for _ in range(an):
            off = skip_name(msg, off)
            rtype, _, _, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
            off += 10
            if rtype == QTYPE_A and msg[off:off + rdlen] == want:
                return True
            off += rdlen
    except (ValueError, struct.error):
        return False
    return False


def alive(pid):
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    # a zombie (exited, not yet reaped by its parent shell) is dead for our purpose
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def cmd_wait(args):
    want = socket.inet_aton(args.ipv4)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(0.005)
    deadline = time.monotonic() + args.timeout
    qid = 0
    while time.monotonic() < deadline:
        qid = (qid + 1) & 0xFFFF
        try:
            sock.sendto(encode_query(qid, args.name, QTYPE_A), ("127.0.0.1", args.port))
            # drain: stale answers to earlier ids are skipped, the timeout paces the loop
            while True:
                msg = sock.recv(4096)
                if has_a(msg, qid, want):
                    print("%.6f" % (time.time_ns() / 1e9))
                    return 0
        except (socket.timeout, ConnectionRefusedError):
            pass
        if not alive(args.pid):
            print("process %d exited" % args.pid, file=sys.stderr)
            return 2
    print("timeout after %gs" % args.timeout, file=sys.stderr)
    return 1


def answer_key(resp):
    import dns.flags
    import dns.rcode
    import dns.rdatatype
    rrs = set()
    for rrset in resp.answer:
        for rd in rrset:
            rrs.add("%s %s %s" % (rrset.name, dns.rdatatype.to_text(rrset.rdtype), rd.to_text()))
    aa = bool(resp.flags & dns.flags.AA)
    return dns.rcode.to_text(resp.rcode()), aa, tuple(sorted(rrs))


def cmd_compare(args):
    import dns.message
    import dns.query
    differ, shown, total = 0, [], 0
    with open(args.queryfile) as f:
        for line in f:
            if total >= args.count:
                break
            name, qtype = line.split()[:2]
            q = dns.message.make_query(name, qtype)
            q.flags = 0
            keys = []
            for port in (args.ref_port, args.port):
                try:
                    send = dns.query.tcp if args.tcp else dns.query.udp
                    keys.append(answer_key(send(q, "127.0.0.1", port=port, timeout=2)))
                except Exception as e:  # a timeout or garbage is a difference, not a crash
                    keys.append(("error: %s" % type(e).__name__,))
            total += 1
            if keys[0] != keys[1]:
                differ += 1
                if len(shown) < 5:
                    shown.append("  %s %s: ref %s / got %s" % (name, qtype, keys[0], keys[1]))
    print("%s: compared %d, differ %d" % ("TCP" if args.tcp else "UDP", total, differ))
    for s in shown:
        print(s)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("wait")
    w.add_argument("port", type=int)
    w.add_argument("name")
    w.add_argument("ipv4")
    w.add_argument("--timeout", type=float, default=60)
    w.add_argument("--pid", type=int)
    c = sub.add_parser("compare")
    c.add_argument("ref_port", type=int)
    c.add_argument("port", type=int)
    c.add_argument("queryfile")
    c.add_argument("--count", type=int, default=500)
    c.add_argument("--tcp", action="store_true")
    args = ap.parse_args()
    return cmd_wait(args) if args.cmd == "wait" else cmd_compare(args)


if __name__ == "__main__":
    sys.exit(main())
