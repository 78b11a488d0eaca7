#!/usr/bin/python3
"""Write the benchmark zone bench.test. for N hosts.

usage: gen_zone.py N OUTFILE

The output is deterministic. Per host index i in 0..N-1:
    host<i>   A     10.<i>>16>.<i>>8>.<i&255>     every host
    host<i>   AAAA  fd00::<i>>16>:<i&0xffff>       i % 10 == 0
    host<i>   TXT   "..."                          i % 20 == 0
    host<i>   MX    10 mail                        i % 50 == 0
and alias<k> CNAME host<(7k) mod N> for k < min(10000, N/10), plus apex
records (SOA, 2 NS, MX, TXT, A, AAAA), a wildcard *.wild (A and TXT) and a
delegation sub. NS ns.sub with glue. Every address a resolver could follow
(ns1, ns2, ns.sub) is on 127.0.0.0/8.

The number of records written goes to OUTFILE.count and to stdout, so that
results can be given per record. gen_queries.py knows this layout.
"""
import sys

APEX = """$ORIGIN bench.test.
$TTL 3600
@        IN SOA  ns1 hostmaster 2024010101 7200 900 1209600 300
@        IN NS   ns1
@        IN NS   ns2
@        IN MX   10 mail
@        IN TXT  "bench zone for moondns"
@        IN A    192.0.2.80
@        IN AAAA 2001:db8::80
ns1      IN A    127.0.0.1
ns2      IN A    127.0.0.2
mail     IN A    192.0.2.25
mail     IN AAAA 2001:db8::25
*.wild   IN A    192.0.2.99
*.wild   IN TXT  "matched by the wildcard"
sub      IN NS   ns.sub
ns.sub   IN A    127.0.0.3
"""


def host_lines(i):
    """Records of host<i>, as zone-file lines."""
    out = ["host%d IN A 10.%d.%d.%d\n" % (i, (i >> 16) & 255, (i >> 8) & 255, i & 255)]
    if i % 10 == 0:
        out.append("host%d IN AAAA fd00::%x:%x\n" % (i, i >> 16, i & 0xffff))
    if i % 20 == 0:
        out.append('host%d IN TXT "host %d text record"\n' % (i, i))
    if i % 50 == 0:
        out.append("host%d IN MX 10 mail\n" % i)
    return out


def alias_count(n):
    return min(10000, max(1, n // 10))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    n, path = int(sys.argv[1]), sys.argv[2]
    records = sum(1 for line in APEX.splitlines() if " IN " in line)
    with open(path, "w") as f:
        f.write(APEX)
        chunk = []
        for i in range(n):
            chunk.extend(host_lines(i))
            if len(chunk) >= 50000:
                records += len(chunk)
                f.write("".join(chunk))
                chunk = []
        for k in range(alias_count(n)):
            chunk.append("alias%d IN CNAME host%d\n" % (k, (7 * k) % n))
        records += len(chunk)
        f.write("".join(chunk))
    with open(path + ".count", "w") as f:
        f.write("%d\n" % records)
    print(records)


if __name__ == "__main__":
    main()
