"""A scripted DNS upstream for the forwarding and cache tests.

It listens on addr:port (127.0.0.1 by default) over UDP and TCP in background threads, records
every query it receives (with the transport, source port and message ID), and
answers through a handler the test sets and may change at any time:

    handler(query, raw, transport) -> list of items

where query is the parsed dnspython message (None when it does not parse), raw
the bytes, transport "udp" or "tcp"; each item is bytes to send (one datagram,
or one length-prefixed message) or a number of seconds to wait before the next
item. An empty list sends nothing. Delays run on their own thread, so one slow
answer does not hold the others.
"""
import socket
import struct
import threading
import time

import dns.flags
import dns.message
import dns.rcode
import dns.rrset

import helpers as h


class Seen:
    __slots__ = ("transport", "qname", "qtype", "qid", "sport", "flags", "do", "raw", "t")

    def __init__(self, transport, msg, raw, sport):
        self.transport = transport
        self.raw = raw
        self.sport = sport
        self.t = time.monotonic()
        self.qid = struct.unpack("!H", raw[:2])[0] if len(raw) >= 2 else None
        ok = msg is not None
        self.flags = msg.flags if ok else 0
        self.do = bool(ok and msg.edns >= 0 and msg.ednsflags & dns.flags.DO)
        q = msg.question[0] if ok and msg.question else None
        self.qname = q.name.to_text() if q is not None else None
        self.qtype = q.rdtype if q is not None else None


def reply(query, rcode=0, answer=(), authority=(), additional=(), tc=False, aa=True,
          ttl=300):
    """Wire reply to query: answer etc. are lists of 'name type rdata' texts
    (ttl as given unless the text starts with a number after the name)."""
    r = dns.message.make_response(query)
    r.set_rcode(rcode)
    if aa:
        r.flags |= dns.flags.AA
    if tc:
        r.flags |= dns.flags.TC
    r.flags |= dns.flags.RA
    for sec, texts in ((r.answer, answer), (r.authority, authority),
                       (r.additional, additional)):
        for t in texts:
            name, rest = t.split(None, 1)
            parts = rest.split(None, 1)
            rttl = ttl
            if parts[0].isdigit():
                rttl = int(parts[0])
                rest = parts[1]
            rtype, rdata = rest.split(None, 1)
            sec.append(dns.rrset.from_text(name, rttl, "IN", rtype, rdata))
    return r.to_wire(max_size=65535)


def answer_a(addr="192.0.2.1", ttl=300):
    """A handler answering every A query with addr, others with NODATA+SOA."""
    def handler(q, raw, transport):
        if q is None or not q.question:
            return []
        qs = q.question[0]
        if qs.rdtype == 1:
            return [reply(q, answer=[f"{qs.name} {ttl} A {addr}"])]
        return [reply(q, authority=[f"{qs.name} 60 SOA ns. h. 1 3600 600 86400 60"])]
    return handler


class Upstream:
    def __init__(self, port=None, handler=None, tcp=True, addr="127.0.0.1"):
        self.addr = addr
        self.port = port or h.free_port()
        self.handler = handler or answer_a()
        self.seen = []
        self.lock = threading.Lock()
        self.stopping = False
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        self.udp.bind((addr, self.port))
        self.tcp = None
        if tcp:
            self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.tcp.bind((addr, self.port))
            self.tcp.listen(64)
        self.threads = [threading.Thread(target=self._udp_loop, daemon=True)]
        if tcp:
            self.threads.append(threading.Thread(target=self._tcp_loop, daemon=True))
        for t in self.threads:
            t.start()

    # -- what it saw
    def queries(self, qname=None):
        with self.lock:
            return [s for s in self.seen if qname is None or
                    (s.qname or "").lower() == qname.lower()]

    def count(self, qname=None):
        return len(self.queries(qname))

    def clear(self):
        with self.lock:
            self.seen = []

    # -- serving
    def _record(self, transport, raw, sport):
        try:
            msg = dns.message.from_wire(raw)
        except Exception:
            msg = None
        with self.lock:
            self.seen.append(Seen(transport, msg, raw, sport))
        return msg

    def _send_items(self, items, send):
        def run(rest):
            for i, it in enumerate(rest):
                if isinstance(it, (int, float)):
                    if self.stopping:
                        return
                    threading.Timer(it, run, args=(rest[i + 1:],)).start()
                    return
                try:
                    send(it)
                except OSError:
                    return
        run(list(items))

    def _udp_loop(self):
        while not self.stopping:
            try:
                raw, peer = self.udp.recvfrom(65535)
            except OSError:
                return
            if self.stopping or not peer:
                return
            msg = self._record("udp", raw, peer[1])
            items = self.handler(msg, raw, "udp") or []
            self._send_items(items, lambda b, p=peer: self.udp.sendto(b, p))

    def _tcp_conn(self, conn, peer):
        with conn:
            while not self.stopping:
                hdr = h.recv_exact(conn, 2)
                if hdr is None:
                    return
                raw = h.recv_exact(conn, struct.unpack("!H", hdr)[0])
                if raw is None:
                    return
                msg = self._record("tcp", raw, peer[1])
                items = self.handler(msg, raw, "tcp") or []
                self._send_items(items, lambda b: conn.sendall(struct.pack("!H", len(b)) + b))

    def _tcp_loop(self):
        while not self.stopping:
            try:
                conn, peer = self.tcp.accept()
            except OSError:
                return
            threading.Thread(target=self._tcp_conn, args=(conn, peer), daemon=True).start()

    def stop(self):
        """Closes the sockets: later queries get ICMP port unreachable."""
        self.stopping = True
        for s in (self.udp, self.tcp):
            if s is None:
                continue
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        for t in self.threads:
            t.join(timeout=2)
