#!/usr/bin/python3
"""Write a dnsperf query file for the zone made by gen_zone.py.

usage: gen_queries.py N COUNT OUTFILE [SEED]

N is the host count the zone was generated with. The mix (percent of queries):
    50  host<i> A              existing name, answer
     8  host<i> AAAA           i % 10 == 0, answer
     5  host<i> TXT            i % 20 == 0, answer
     4  host<i> MX             i % 50 == 0, answer
    10  alias<k> A             CNAME, followed inside the zone
     5  w<r>.wild A            wildcard synthesis
     3  host<i> AAAA           i % 10 != 0: name exists, no AAAA (NODATA)
     2  x<r>.sub A             below the delegation: referral
     3  bench.test SOA/NS/MX/TXT   apex
    10  nx<r>.bench.test A     NXDOMAIN
so 90% of the queries name data that exists and 10% do not.
"""
import random
import sys

ORIGIN = "bench.test"


def alias_count(n):
    return min(10000, max(1, n // 10))


def multiple(rng, n, step):
    return rng.randrange(0, n, step)


def nodata_host(rng, n):
    """A host index not divisible by 10: the name exists but has no AAAA."""
    return 10 * rng.randrange(max(1, n // 10)) + rng.randrange(1, 10)


# (cumulative weight, generator) pairs; weights add up to 100
def mix(n):
    aliases = alias_count(n)
    table = [
        (50, lambda r: ("host%d" % r.randrange(n), "A")),
        (8, lambda r: ("host%d" % multiple(r, n, 10), "AAAA")),
        (5, lambda r: ("host%d" % multiple(r, n, 20), "TXT")),
        (4, lambda r: ("host%d" % multiple(r, n, 50), "MX")),
        (10, lambda r: ("alias%d" % r.randrange(aliases), "A")),
        (5, lambda r: ("w%d.wild" % r.randrange(1 << 30), "A")),
        (3, lambda r: ("host%d" % nodata_host(r, n), "AAAA")),
        (2, lambda r: ("x%d.sub" % r.randrange(100000), "A")),
        (3, lambda r: (None, r.choice(["SOA", "NS", "MX", "TXT"]))),
        (10, lambda r: ("nx%d" % r.randrange(1 << 30), "A")),
    ]
    assert sum(w for w, _ in table) == 100
    cumulative, total = [], 0
    for weight, gen in table:
        total += weight
        cumulative.append((total, gen))
    return cumulative


def query(rng, table):
    roll = rng.random() * 100
    for bound, gen in table:
        if roll < bound:
            break
    label, qtype = gen(rng)
    name = ORIGIN if label is None else "%s.%s" % (label, ORIGIN)
    return "%s %s\n" % (name, qtype)


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    n, count, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    rng = random.Random(int(sys.argv[4]) if len(sys.argv) == 5 else 1)
    table = mix(n)
    with open(path, "w") as f:
        for start in range(0, count, 100000):
            f.write("".join(query(rng, table) for _ in range(start, min(count, start + 100000))))


if __name__ == "__main__":
    main()
