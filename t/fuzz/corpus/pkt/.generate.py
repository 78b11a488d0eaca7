#!/usr/bin/python3
"""Writes the seed corpus of fuzz_pkt into this directory (run with Debian's
/usr/bin/python3, which has dnspython): valid queries of many types, EDNS
with options, other opcodes, and one file per malformed class that
moon_pkt_parse() must reject. The files are committed; rerun after edits."""
import os
import struct

import dns.edns
import dns.message
import dns.name
import dns.opcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsigkeyring
import dns.update

HERE = os.path.dirname(os.path.abspath(__file__))


def write(name, wire):
    with open(os.path.join(HERE, name), 'wb') as f:
        f.write(wire)


def q(name, rdtype, **kw):
    m = dns.message.make_query(name, rdtype, **kw)
    m.id = 0x1234
    return m


def hdr(flags=0x0100, qd=1, an=0, ns=0, ar=0, qid=0x1234):
    return struct.pack('!HHHHHH', qid, flags, qd, an, ns, ar)


def qname(text):
    return dns.name.from_text(text).to_wire()


QA = qname('www.example.com.') + struct.pack('!HH', 1, 1)
OPT = b'\x00' + struct.pack('!HHIH', 41, 1232, 0, 0)
A_RR = b'\xc0\x0c' + struct.pack('!HHIH', 1, 1, 300, 4) + bytes([192, 0, 2, 1])

# Valid queries.
write('ok-a', q('www.example.com.', 'A', use_edns=False).to_wire())
write('ok-aaaa-edns', q('www.example.com.', 'AAAA', use_edns=0, payload=1232).to_wire())
write('ok-mx-do', q('example.com.', 'MX', want_dnssec=True).to_wire())
write('ok-ns-root', q('.', 'NS', use_edns=False).to_wire())
write('ok-ptr', q('1.2.0.192.in-addr.arpa.', 'PTR').to_wire())
write('ok-srv', q('_sip._tcp.example.com.', 'SRV').to_wire())
write('ok-txt-ecs', q('example.com.', 'TXT', use_edns=0, options=[
    dns.edns.ECSOption('192.0.2.0', 24)]).to_wire())
write('ok-soa-cookie', q('example.com.', 'SOA', use_edns=0, options=[
    dns.edns.GenericOption(10, b'\x01\x02\x03\x04\x05\x06\x07\x08')]).to_wire())
write('ok-dnskey-nsid-pad', q('example.com.', 'DNSKEY', want_dnssec=True, options=[
    dns.edns.GenericOption(3, b''), dns.edns.GenericOption(12, b'\x00' * 17),
    dns.edns.GenericOption(65001, b'private')]).to_wire())
write('ok-ds', q('sub.example.com.', 'DS', want_dnssec=True).to_wire())
write('ok-caa', q('example.com.', 'CAA').to_wire())
write('ok-https', q('example.com.', 'HTTPS').to_wire())
write('ok-any', q('example.com.', 'ANY').to_wire())
write('ok-axfr', q('example.com.', 'AXFR', use_edns=False).to_wire())
write('ok-mixed-case', q('wWw.ExAmPlE.cOm.', 'A').to_wire())
write('ok-chaos', q('version.bind.', 'TXT', rdclass='CH', use_edns=False).to_wire())
write('ok-edns-v1', q('example.com.', 'A', use_edns=1).to_wire())
long_name = '.'.join(['a' * 63, 'b' * 63, 'c' * 63, 'd' * 61]) + '.'
write('ok-name-255', q(long_name, 'A').to_wire())
write('ok-escaped-labels', q('a\\.b.\\000\\255.example.', 'A').to_wire())

ixfr = q('example.com.', 'IXFR', use_edns=False)
ixfr.authority.append(dns.rrset.from_text(
    'example.com.', 0, 'IN', 'SOA', 'ns1.example.com. root.example.com. 1 2 3 4 5'))
write('ok-ixfr', ixfr.to_wire())

notify = dns.message.make_query('example.com.', 'SOA', use_edns=False)
notify.set_opcode(dns.opcode.NOTIFY)
notify.flags |= dns.flags.AA
notify.answer.append(dns.rrset.from_text(
    'example.com.', 3600, 'IN', 'SOA', 'ns1.example.com. root.example.com. 2 2 3 4 5'))
write('ok-notify', notify.to_wire())

upd = dns.update.UpdateMessage('example.com.')
upd.add('host.example.com.', 300, 'A', '192.0.2.7')
upd.delete('old.example.com.')
write('ok-update', upd.to_wire())
write('ok-update-no-zone', hdr(flags=5 << 11, qd=0))

signed = q('example.com.', 'SOA', use_edns=0)
signed.use_tsig(dns.tsigkeyring.from_text({'key.': 'c2VjcmV0c2VjcmV0c2VjcmV0'}),
                keyname='key.')
write('ok-tsig', signed.to_wire())

# Records in every section, answer owner compressed to the question.
write('ok-all-sections', hdr(an=1, ns=1, ar=2) + QA + A_RR + A_RR + A_RR + OPT)

# Malformed: each class moon_pkt_parse() must reject.
full = q('www.example.com.', 'A').to_wire()
write('bad-hdr-1', full[:1])
write('bad-hdr-6', full[:6])
write('bad-hdr-11', full[:11])
write('bad-qd-0', hdr(qd=0))
write('bad-qd-2', hdr(qd=2) + QA + QA)
write('bad-question-cut', hdr() + qname('www.example.com.') + b'\x00\x01')
write('bad-ptr-loop', hdr() + b'\xc0\x0c' + b'\x00\x01\x00\x01')
write('bad-ptr-loop-label', hdr() + b'\x01a\xc0\x0c' + b'\x00\x01\x00\x01')
write('bad-ptr-forward', hdr() + b'\xc0\x0e\x00' + b'\x00\x01\x00\x01')
write('bad-ptr-past-end', hdr() + b'\x01a\xff\xff')
write('bad-label-64', hdr() + b'\x40' + b'x' * 64 + b'\x00' + b'\x00\x01\x00\x01')
write('bad-label-type-0x40', hdr() + b'\x41x\x00' + b'\x00\x01\x00\x01')
write('bad-name-256', hdr() + b'\x3f' + b'a' * 63 + b'\x3f' + b'b' * 63 + b'\x3f' + b'c' * 63
      + b'\x3e' + b'd' * 62 + b'\x00' + b'\x00\x01\x00\x01')
write('bad-an-count', hdr(an=2) + QA + A_RR)
write('bad-ar-count-huge', hdr(ar=65535) + QA + OPT)
write('bad-rdlen-past-end', hdr(an=1) + QA + A_RR[:-1])
write('bad-two-opt', hdr(ar=2) + QA + OPT + OPT)
write('bad-opt-in-answer', hdr(an=1) + QA + OPT)
write('bad-opt-in-authority', hdr(ns=1) + QA + OPT)
write('bad-opt-owner', hdr(ar=1) + QA + b'\x01x' + OPT)
write('bad-trailing', full + b'\x00')
write('bad-trailing-after-opt', hdr(ar=1) + QA + OPT + b'junk')
write('bad-opt-tlv-long', hdr(ar=1) + QA + b'\x00' + struct.pack('!HHIH', 41, 1232, 0, 8)
      + struct.pack('!HH', 10, 8) + b'abcd')
write('bad-opt-tlv-stray', hdr(ar=1) + QA + b'\x00' + struct.pack('!HHIH', 41, 1232, 0, 5)
      + struct.pack('!HH', 3, 0) + b'\x00')
write('bad-owner-loop', hdr(an=1) + QA + b'\xc0\x21' + struct.pack('!HHIH', 1, 1, 0, 0))
