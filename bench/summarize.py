#!/usr/bin/python3
"""Turn one results directory of bench/run.sh into a Markdown summary (stdout).

usage: summarize.py RESULTS_DIR

Reads env.tsv, udp.tsv, tcp.tsv, load.tsv, dot.tsv, cachehit.tsv, cachemiss.tsv,
lua.tsv, lua-dnsdist.tsv and answers.txt, whichever exist. Every figure is a
median over the repetitions, with min-max where the spread matters.
"""
import csv
import os
import re
import statistics
import sys

ORDER = ["moondns", "moondns_b", "knotd", "nsd", "floor", "unbound", "kresd", "dnsdist"]


def read_tsv(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def by_server(rows):
    out = {}
    for r in rows:
        out.setdefault(r["server"], []).append(r)
    return dict(sorted(out.items(), key=lambda kv: ORDER.index(kv[0]) if kv[0] in ORDER else 99))


def med(rows, key):
    vals = [v for v in (num(r[key]) for r in rows) if v is not None]
    return statistics.median(vals) if vals else None


def spread(rows, key, fmt):
    vals = [v for v in (num(r[key]) for r in rows) if v is not None]
    if not vals:
        return "–"
    m = fmt % statistics.median(vals)
    if len(vals) == 1:
        return m
    return "%s (%s–%s)" % (m, fmt % min(vals), fmt % max(vals))


def limited_by(srv_cpu, cli_core):
    if srv_cpu is not None and srv_cpu >= 95:
        return "server"
    if cli_core is not None and cli_core >= 95:
        return "client"
    return "neither"


def rcodes(text):
    """'NOERROR 809528 (90.05%), NXDOMAIN ...' -> 'NOERROR 90.05%, NXDOMAIN ...'"""
    found = re.findall(r"([A-Z]+) \d+ \(([\d.]+%)\)", text or "")
    return ", ".join("%s %s" % f for f in found) or "–"


def mb(kb):
    return "–" if kb is None else "%.0f" % (kb / 1024)


def traffic_table(title, rows, fixed_rate=False):
    groups = by_server(rows)
    if not groups:
        return [], {}
    lines = ["## %s" % title, "",
             "| server | version | qps | srv CPU % | CPU µs/query | qps/core | RSS MB (PSS) "
             "| lost queries | client core % (dnsperf) | other load % | limited by | resp B | rcodes (run 1) "
             "| pinning |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    stats = {}
    for srv, rs in groups.items():
        cpu, cli = med(rs, "srv_cpu_pct"), med(rs, "cli_core_pct")
        pin = "ok" if all(r["pin"] == "ok" for r in rs) else "MOVED: " + rs[0]["pin"]
        lost = [int(num(r["lost"]) or 0) for r in rs]
        lines.append("| %s | %s | %s | %.0f | %s | %s | %s (%s) | %d (max %d) | %.0f (%.0f) | %s | %s "
                     "| %s | %s | %s |" % (
            srv, rs[0]["version"], spread(rs, "qps", "%.0f"), cpu, spread(rs, "us_per_q", "%.2f"),
            "%.1fk" % (med(rs, "qps_per_core") / 1000), mb(med(rs, "rss_kb")), mb(med(rs, "pss_kb")),
            statistics.median(lost), max(lost), cli, med(rs, "dnsperf_cpu_pct") or 0,
            spread(rs, "other_pct", "%.0f"), "fixed rate" if fixed_rate else limited_by(cpu, cli),
            spread(rs, "resp_bytes", "%.0f"), rcodes(rs[0]["rcodes"]), pin))
        stats[srv] = {"qps": med(rs, "qps"), "us": med(rs, "us_per_q"),
                      "qpc": med(rs, "qps_per_core"), "client_bound": limited_by(cpu, cli) == "client",
                      "rep": {r["rep"]: {"qps": num(r["qps"]), "us": num(r["us_per_q"]),
                                         "qpc": num(r["qps_per_core"])} for r in rs}}
    lines += ["", "Command (first run; the port differs per server): `%s`" % rows[0]["command"], ""]
    return lines, stats


def load_table(rows, env):
    groups = by_server(rows)
    if not groups:
        return [], {}
    lines = ["## Load time and memory", "",
             "Load time = from exec to the first correct answer for the zone's last host "
             "(probed every 5 ms). Memory is read 2 s after that answer, summed over the process tree.",
             "", "| server | hosts | records | load s | RSS MB | PSS MB | peak RSS MB (sum of VmHWM) "
             "| PSS B/record | marginal B/record (1M − 100k) |",
             "|---|---|---|---|---|---|---|---|---|"]
    stats = {}
    for srv, rs in groups.items():
        sizes = sorted({int(r["hosts"]) for r in rs})
        pss = {n: med([r for r in rs if int(r["hosts"]) == n], "pss_kb") for n in sizes}
        recs = {n: int([r for r in rs if int(r["hosts"]) == n][0]["records"]) for n in sizes}
        marginal = None
        if len(sizes) >= 2:
            lo, hi = sizes[0], sizes[-1]
            marginal = (pss[hi] - pss[lo]) * 1024 / (recs[hi] - recs[lo])
        for n in sizes:
            sub = [r for r in rs if int(r["hosts"]) == n]
            per = pss[n] * 1024 / recs[n]
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %.0f | %s |" % (
                srv, "{:,}".format(n), "{:,}".format(recs[n]), spread(sub, "load_s", "%.2f"),
                mb(med(sub, "rss_kb")), mb(pss[n]), mb(med(sub, "hwm_kb")), per,
                "%.0f" % marginal if marginal is not None and n == sizes[-1] else ""))
            stats.setdefault(srv, {})[n] = {"load": med(sub, "load_s"), "per": per}
        if marginal is not None:
            stats[srv]["marginal"] = marginal
    lines.append("")
    return lines, stats


def ratio(a, b):
    return a / b if a is not None and b else None


def paired(a, b, key):
    """moondns/knotd ratios of the runs of the same repetition (the pairs closest in time)."""
    if not a or not b:
        return []
    return [a["rep"][k][key] / b["rep"][k][key] for k in a["rep"]
            if k in b["rep"] and a["rep"][k][key] and b["rep"][k][key]]


def goals(udp, udprate, tcp, load):
    m, k = "moondns", "knotd"
    lines = ["## moondns against the goals (moondns ÷ knotd, same run)", "",
             "*ratio* = ratio of the medians; *per-rep* = the ratios of the runs of each repetition "
             "(moondns and knotd measured a few seconds apart), min–max.", "",
             "| goal | moondns | knotd | ratio | per-rep | met |", "|---|---|---|---|---|---|"]

    def row(goal, a, b, fmt, better_low, pairs=(), client_bound=False):
        r = ratio(a, b)
        if r is None:
            lines.append("| %s | %s | %s | – | – | not measured |" % (goal, fmt(a), fmt(b)))
            return
        met = r <= 1.0 if better_low else r >= 1.0
        verdict = "yes" if met else "**no**"
        if not met and client_bound:
            # both servers were held back by the dnsperf core: raw qps cannot rank them
            verdict = "n/a: client-bound, see qps/core"
        per = "%.2f–%.2f" % (min(pairs), max(pairs)) if pairs else "–"
        lines.append("| %s | %s | %s | %.2f | %s | %s |" % (goal, fmt(a), fmt(b), r, per, verdict))

    def g(d, *keys):
        for key in keys:
            if not isinstance(d, dict) or key not in d:
                return None
            d = d[key]
        return d

    f0 = lambda v: "–" if v is None else "%.0f" % v
    f2 = lambda v: "–" if v is None else "%.2f" % v
    for name, d in (("UDP", udp), ("TCP", tcp)):
        both_bound = bool(g(d, m, "client_bound") and g(d, k, "client_bound"))
        row("%s qps ≥ knotd" % name, g(d, m, "qps"), g(d, k, "qps"), f0, False,
            paired(d.get(m), d.get(k), "qps"), both_bound)
        if both_bound:
            row("%s qps per server core ≥ knotd" % name, g(d, m, "qpc"), g(d, k, "qpc"), f0, False,
                paired(d.get(m), d.get(k), "qpc"))
        row("%s CPU µs/query < knotd" % name, g(d, m, "us"), g(d, k, "us"), f2, True,
            paired(d.get(m), d.get(k), "us"))
    if udprate:
        row("UDP CPU µs/query < knotd at a fixed rate", g(udprate, m, "us"), g(udprate, k, "us"),
            f2, True, paired(udprate.get(m), udprate.get(k), "us"))
    row("memory per record ≤ knotd (marginal PSS B/record)", g(load, m, "marginal"),
        g(load, k, "marginal"), f0, True)
    sizes = sorted(n for n in (load.get(k) or {}) if isinstance(n, int))
    if sizes:
        big = sizes[-1]
        row("%s-host zone loads faster than knotd (s)" % "{:,}".format(big),
            g(load, m, big, "load"), g(load, k, big, "load"), f2, True)
    for name, d in (("UDP", udp), ("UDP at a fixed rate", udprate)):
        fl = g(d, "floor", "us")
        if fl is None:
            continue
        lines += ["", "%s: floor (kernel share, no DNS work) %.2f µs/query; above the floor: %s." % (
            name, fl, ", ".join("%s %+.2f µs" % (s, v["us"] - fl) for s, v in d.items()
                                if s != "floor" and v["us"] is not None))]
    lines.append("")
    return lines


# scenario lua: each variant against its own server's base; the goal is the highest allowed
# ratio of CPU per query to the base (0.90 of the base's throughput per core ~ +10 % CPU)
LUA_SETS = (("lua.tsv", "moondns", "authoritative UDP, 100k-host zone, mixed queries"),
            ("lua-dnsdist.tsv", "dnsdist", "packet-cache hits in front of nsd (10,000 names)"))
LUA_GOALS = {"moondns+noop": (1.10, "≥ 90 % of base (CPU +10 %)"),
             "moondns+policies": (1 / 0.70, "≥ 70 % of base (CPU +43 %)")}


def lua_table(d):
    lines, added = [], []
    for fname, base, workload in LUA_SETS:
        groups = by_server(read_tsv(os.path.join(d, fname)))
        if not groups:
            continue
        if not lines:
            lines = ["## Lua policies: cost of the policy layer", "",
                     "Each variant against its own server's base, same run, interleaved. *added* = "
                     "median CPU µs/query minus the base's (per-rep: the differences within each "
                     "repetition, min–max). Ratios are variant ÷ base.", "",
                     "| variant | workload | qps | CPU µs/query | qps/core | limited by | qps ratio "
                     "| qps/core ratio | added CPU µs/query (per-rep) | goal | met |",
                     "|---|---|---|---|---|---|---|---|---|---|---|"]
        b = groups.get(base)
        bus, bqps, bqpc = (med(b, k) if b else None for k in ("us_per_q", "qps", "qps_per_core"))
        brep = {r["rep"]: num(r["us_per_q"]) for r in b or []}
        for srv, rs in groups.items():
            us, qps, qpc = med(rs, "us_per_q"), med(rs, "qps"), med(rs, "qps_per_core")
            lim = "fixed rate" if " -Q " in rs[0]["command"] else \
                limited_by(med(rs, "srv_cpu_pct"), med(rs, "cli_core_pct"))
            f2 = lambda v: "–" if v is None else "%.2f" % v
            add, goal, met = "–", "–", "–"
            if srv != base and bus is not None and us is not None:
                per = [num(r["us_per_q"]) - brep[r["rep"]] for r in rs
                       if brep.get(r["rep"]) is not None and num(r["us_per_q"]) is not None]
                add = "%+.2f (%+.2f – %+.2f)" % (us - bus, min(per), max(per)) if per else \
                    "%+.2f" % (us - bus)
                added.append("%s %+.2f µs" % (srv, us - bus))
                if srv in LUA_GOALS:
                    limit, goal = LUA_GOALS[srv]
                    met = "yes" if us / bus <= limit else "**no**"
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                srv, workload if srv == base else "″", spread(rs, "qps", "%.0f"),
                spread(rs, "us_per_q", "%.2f"), "%.1fk" % (qpc / 1000) if qpc else "–", lim,
                f2(ratio(qps, bqps)), f2(ratio(qpc, bqpc)), add, goal, met))
    if lines:
        lines += ["", "Added CPU per query of the Lua layer: %s." % ", ".join(added), "",
                  "`met` compares CPU µs/query (variant ÷ base ≤ 1.10 for the no-op policy, "
                  "≤ 1/0.70 for the three policies): when dnsperf's core is the limit, raw qps "
                  "cannot show the server's cost.", ""]
    return lines


def main():
    d = sys.argv[1]
    env = {}
    if os.path.exists(os.path.join(d, "env.tsv")):
        with open(os.path.join(d, "env.tsv")) as f:
            env = dict(line.rstrip("\n").split("\t", 1) for line in f if "\t" in line)
    out = ["# moondns benchmark, %s" % env.get("date", os.path.basename(d.rstrip("/"))), ""]
    for key in ("host", "memory", "loadavg", "priority", "moondns", "moondns_commit", "knotd",
                "nsd", "unbound", "kresd", "dnsdist", "dnsperf", "servers", "reps", "duration",
                "load_reps"):
        if key in env:
            out.append("- %s: %s" % (key, env[key]))
    out += ["- cores: server on CPU %s, dnsperf on CPU %s; private netns (lo only)" % (
        os.environ.get("SRV_CPU", "1"), os.environ.get("CLI_CPU", "0")), ""]
    out += ["CPU µs/query = server process tree utime+stime ÷ answered queries; qps/core = answered "
            "queries ÷ server CPU seconds. Figures are medians over the repetitions (min–max). "
            "*other load* = busy time on the two cores not used by the server or dnsperf (softirq "
            "threads, other processes), in % of one core: high values mean a disturbed run.", ""]
    udp_lines, udp = traffic_table("UDP, 100k-host zone (%s records)" % env.get("records_100000", "?"),
                                   read_tsv(os.path.join(d, "udp.tsv")))
    rate_lines, udprate = traffic_table(
        "UDP at a fixed offered rate (%s qps), 100k-host zone" % env.get("rate", "?"),
        read_tsv(os.path.join(d, "udprate.tsv")), fixed_rate=True)
    tcp_lines, tcp = traffic_table("TCP, 100k-host zone", read_tsv(os.path.join(d, "tcp.tsv")))
    load_lines, load = load_table(read_tsv(os.path.join(d, "load.tsv")), env)
    dot_lines, dot = traffic_table("DNS over TLS, cache hits (10,000 names, caching forwarders)",
                                   read_tsv(os.path.join(d, "dot.tsv")))
    peers = [(v["qpc"], k) for k, v in dot.items() if k != "moondns" and v["qpc"]]
    if peers and dot.get("moondns", {}).get("qpc"):
        best = max(peers)
        dot_lines[-1:-1] = ["moondns / best peer (%s) in queries per server-CPU-second: %.2f; "
                            "in qps: %.2f" % (best[1], dot["moondns"]["qpc"] / best[0],
                                              ratio(dot["moondns"]["qps"], dot[best[1]]["qps"])
                                              or 0), ""]
    fwd_lines = []
    for scen, title in (("cachehit", "Caching forwarders, UDP, pure cache hits (10,000 names)"),
                        ("cachehitrate", "Caching forwarders, UDP, cache hits at a fixed offered "
                         "rate (%s qps)" % env.get("rate", "?")),
                        ("cachemiss", "Caching forwarders, UDP, every query a miss (unique "
                         "NXDOMAIN names)")):
        lines, st = traffic_table(title, read_tsv(os.path.join(d, scen + ".tsv")),
                                  fixed_rate=scen.endswith("rate"))
        best = max(((v["qps"], k) for k, v in st.items() if k != "moondns" and v["qps"]),
                   default=None)
        low = min(((v["us"], k) for k, v in st.items() if k != "moondns" and v["us"]),
                  default=None)
        if best and low and st.get("moondns", {}).get("qps"):
            lines[-1:-1] = ["moondns / best peer: qps %.2f (vs %s), CPU µs/query %.2f (vs %s)" % (
                st["moondns"]["qps"] / best[0], best[1], st["moondns"]["us"] / low[0], low[1]),
                ""]
        fwd_lines += lines
    if "moondns" in set(udp) | set(udprate) | set(tcp) | set(load):
        out += goals(udp, udprate, tcp, load)
    out += udp_lines + rate_lines + tcp_lines + load_lines + dot_lines + fwd_lines
    out += lua_table(d)
    answers = os.path.join(d, "answers.txt")
    if os.path.exists(answers):
        out += ["## Answers compared with knotd (first 500 benchmark queries, UDP and TCP: rcode, AA, answer RRs)", "",
                "```"] + open(answers).read().splitlines() + ["```", ""]
    print("\n".join(out))


if __name__ == "__main__":
    main()
