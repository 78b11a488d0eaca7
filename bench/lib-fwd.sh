# shellcheck shell=bash
# Caching forwarders (scenarios cachehit and cachemiss of bench/run.sh), sourced by lib.sh.
#
# moondns, unbound, kresd and dnsdist (FWD_SERVERS, whichever are installed) each forward to
# one upstream, nsd on the 100k-host zone, pinned to the client core. Every run starts the
# server fresh (empty cache), as ../shared/peer-bench/run-cache-{hit,miss}.sh do:
#   cachehit   warm with 10,000 distinct (name, type) pairs (two passes, not measured), then
#              dnsperf asks the same set: pure cache hits (the upstream sees nothing).
#   cachehitrate  the same at a fixed offered rate (RATE): CPU per query compared at equal load.
#   cachemiss  2,000,000 unique NXDOMAIN names (u-<i>.bench.test A): every query a miss,
#              forwarded, answered and stored.
FWD_UPPORT=5430
FWD_HIT_QUERIES="$DATA/q-cachemix10k.txt"
FWD_MISS_QUERIES="$DATA/q-miss2m.txt"
fwd_port_of() {
	case $1 in
	moondns) echo 5431 ;;
	unbound) echo 5432 ;;
	kresd) echo 5433 ;;
	dnsdist) echo 5434 ;;
	*) die "no forwarder setup for $1" ;;
	esac
}
fwd_bin_of() { case $1 in moondns) echo "$MOONDNS" ;; *) command -v "$1" ;; esac; }
# waits until PORT answers the zone's last host (recursion desired, as dnsperf asks); $2 = PID
fwd_wait() {
	local i ip
	ip=$(host_ip $((N_SMALL - 1)))
	for i in $(seq 200); do
		kill -0 "$2" 2> /dev/null || return 1
		dig @127.0.0.1 -p "$1" +time=1 +tries=1 +short "$(last_host $N_SMALL)" A 2> /dev/null |
			grep -qx "$ip" && return 0
		sleep 0.1
	done
	return 1
}

# The cache-hit set mixes like the peer benchmarks' (gen_zone.py's layout): per 20 names, 12
# host A, 2 host AAAA, 1 host TXT, 2 alias A (CNAME), 1 wildcard A, 1 AAAA NODATA, 1 NXDOMAIN;
# all 10,000 pairs distinct. The miss set: 2,000,000 names that do not exist.
ensure_fwd_data() {
	[ -s "$FWD_HIT_QUERIES" ] || awk -v n=$N_SMALL 'BEGIN {
		for (k = 0; k < 10000; k++) {
			r = k % 20; i = k * 7
			if (r < 12) printf "host%d.bench.test A\n", i % n
			else if (r < 14) printf "host%d.bench.test AAAA\n", (k * 10) % n
			else if (r < 15) printf "host%d.bench.test TXT\n", int(k / 20) * 20
			else if (r < 17) printf "alias%d.bench.test A\n", k % 10000
			else if (r < 18) printf "w%d.wild.bench.test A\n", k
			else if (r < 19) printf "host%d.bench.test AAAA\n", (k * 10 + 1) % n
			else printf "nx%d.bench.test A\n", k
		} }' > "$FWD_HIT_QUERIES"
	[ -s "$FWD_MISS_QUERIES" ] || awk 'BEGIN { for (i = 0; i < 2000000; i++)
		printf "u-%d.bench.test A\n", i }' > "$FWD_MISS_QUERIES"
}

start_fwd_upstream() {
	start_nsd "$FWD_UPPORT" "$(zone_file $N_SMALL)"
	UPSTREAM_PID=$SPID
	STARTED+=("$SPID")
	sleep 0.5
	repin "$UPSTREAM_PID" "$CLI_CPU"
	fwd_wait "$FWD_UPPORT" "$UPSTREAM_PID" || { log "fwd: the upstream nsd did not start"; return 1; }
}

# start_fwdsrv SERVER: renders conf/SERVER-fwd.*.in, starts it on SRV_CPU, waits for an answer
start_fwdsrv() {
	local s=$1 port conf
	port=$(fwd_port_of "$s")
	new_rundir "fwd-$s"
	conf="$SRUN/$s.conf"
	RUN=$SRUN PORT=$port UPPORT=$FWD_UPPORT render "$(ls "$BENCH/conf/$s-fwd."*.in)" "$conf"
	case $s in
	moondns) $PIN_SRV "$MOONDNS" -c "$conf" > "$SRUN/log" 2>&1 & ;;
	unbound) $PIN_SRV unbound -d -c "$conf" > "$SRUN/log" 2>&1 & ;;
	kresd) $PIN_SRV kresd -n -c "$conf" "$SRUN" < /dev/null > "$SRUN/log" 2>&1 & ;;
	dnsdist) $PIN_SRV dnsdist --supervised --disable-syslog -C "$conf" < /dev/null \
		> "$SRUN/log" 2>&1 & ;;
	esac
	SPID=$!
	STARTED+=("$SPID")
	if ! fwd_wait "$port" "$SPID"; then
		log "fwd: $s did not answer; last lines of $SRUN/log:"
		tail -5 "$SRUN/log" >&2
		srv_stop "$SPID"
		return 1
	fi
}

warm_fwd() {
	$PIN_CLI dnsperf -s 127.0.0.1 -p "$(fwd_port_of "$1")" -d "$FWD_HIT_QUERIES" \
		-n 2 -c 1 -q 50 -t 2 > "$SRUN/warm.txt" 2>&1
	log "fwd: $1 warmed: $(grep -E 'Queries (completed|lost)' "$SRUN/warm.txt" | tr -s ' ' |
		tr '\n' ' ')"
}

# scenario_fwd cachehit|cachehitrate|cachemiss DNSPERF_ARGS: every installed server of
# FWD_SERVERS, interleaved
scenario_fwd() {
	local scen=$1 args=$2 s rep srvs=() q=$FWD_MISS_QUERIES hit=0
	[ "$scen" != cachemiss ] && q=$FWD_HIT_QUERIES && hit=1
	for s in ${FWD_SERVERS:-moondns unbound kresd dnsdist}; do
		if [ -z "$(fwd_bin_of "$s")" ]; then
			log "$scen: $s is not installed: skipped"
			continue
		fi
		grep -q "^$s	" "$RESDIR/env.tsv" 2> /dev/null ||
			echo "$s	$(version_of "$s")" >> "$RESDIR/env.tsv"
		srvs+=("$s")
	done
	ensure_fwd_data
	start_fwd_upstream || return 0
	for rep in $(seq "$REPS"); do
		for s in "${srvs[@]}"; do
			start_fwdsrv "$s" || continue
			[ $hit = 1 ] && warm_fwd "$s"
			sleep 0.5
			local up0 up1
			up0=$(tree_ticks "$UPSTREAM_PID")
			MEASURE_PORT=$(fwd_port_of "$s") MEASURE_QUERIES=$q \
				measure "$scen" "$s" "$rep" "$args"
			up1=$(tree_ticks "$UPSTREAM_PID")
			log "$scen $s r$rep: upstream used $(((up1 - up0) * 1000 / HZ)) ms of CPU"
			srv_stop "$SPID"
		done
	done
	srv_stop "$UPSTREAM_PID"
	UPSTREAM_PID=""
}
