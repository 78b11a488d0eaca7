#!/bin/bash
# Side-by-side benchmark of moondns, knotd and nsd (one worker each, server on core 1, dnsperf on
# core 0, inside a private network namespace that has only lo). See bench/README.md.
#
# usage: bench/run.sh [udp] [udprate] [tcp] [load] [dot] [cachehit] [cachemiss]
#       (default: the first four)
#   udp   UDP authoritative on the 100k-host zone, plus the floor responder in the same rotation
#   udprate  the same at a fixed offered rate (RATE qps), so every server batches alike
#   tcp   the same over TCP (persistent, pipelined connections)
#   load  load time (exec -> first correct answer for the last host) and memory, 100k and 1M hosts
#   dot   DNS over TLS, cache hits: moondns, unbound, kresd, dnsdist as caching forwarders (DOT_SERVERS)
#   cachehit  caching forwarders over UDP, pure cache hits (10,000 names); FWD_SERVERS
#   cachehitrate  the same at a fixed offered rate (RATE qps)
#   cachemiss caching forwarders over UDP, every query a miss (unique NXDOMAIN names)
#   lua   cost of the Lua policy layer: moondns without/with policies (auth UDP), dnsdist
#         without/with a LuaFFIRule (cache hits); see lib-lua.sh
# env:  MOONDNS (path of the binary; default $BUILD/moondns, then ./moondns, then PATH)
#       SERVERS ("moondns knotd nsd"; add moondns_b for an A/B run: MOONDNS_B, MOONDNS_B_ENV)  FLOOR (1)  REPS (3)  DURATION (10 s)  LOAD_REPS (3)
#       RATE (100000)  UDP_ARGS  TCP_ARGS  DOT_ARGS  DOT_SERVERS  SRV_CPU (1)  CLI_CPU (0)
#       RESDIR (bench/results/<timestamp>)
. "$(dirname "$0")/lib.sh"

if [ -z "${BENCH_NETNS:-}" ]; then
	for a in "$@"; do
		case $a in
		udp | udprate | tcp | load | dot | cachehit | cachehitrate | cachemiss | lua) ;;
		*) die "unknown scenario '$a' (udp, udprate, tcp, load, dot, cachehit, cachehitrate, cachemiss, lua)" ;;
		esac
	done
	bench_lock "$@"
	ensure_deps
	[[ " $* " == *" dot "* || " $* " == *" cache"* ]] && ensure_dot_deps
	[[ " $* " == *" lua "* ]] && ensure_lua_deps
	ensure_data
	if [ -z "${MOONDNS:-}" ]; then
		for m in "${BUILD:-.}/moondns" ./moondns "$(command -v moondns)"; do
			[ -n "$m" ] && [ -x "$m" ] && MOONDNS=$(readlink -f "$m") && break
		done
	fi
	export MOONDNS=${MOONDNS:-}
	[ -n "${MOONDNS_B:-}" ] && export MOONDNS_B=$(readlink -f "$MOONDNS_B")
	export RESDIR=${RESDIR:-$BENCH/results/$(date +%Y%m%d-%H%M%S)}
	mkdir -p "$RESDIR"
	echo "bench/run.sh $*" > "$RESDIR/command.txt"
	env | grep -E '^(REPS|DURATION|LOAD_REPS|SERVERS|FLOOR|RATE|UDP_ARGS|TCP_ARGS|DOT_ARGS|DOT_SERVERS|LUA_ARGS|LUA_DNSDIST|SRV_CPU|CLI_CPU|MOONDNS|MOONDNS_B|MOONDNS_B_ENV|BUILD)=' \
		>> "$RESDIR/command.txt"
fi
ensure_netns "$0" "$@"
exec > >(tee -a "$RESDIR/run.log") 2>&1
RUNROOT="$RESDIR/run"
FLOOR_BIN="$DATA/floor"
read -r -a SCENARIOS <<< "${*:-udp udprate tcp load}"
read -r -a SERVERS <<< "${SERVERS:-moondns knotd nsd}"
LOAD_REPS=${LOAD_REPS:-$REPS}
RATE=${RATE:-100000}
floor=()
[ "${FLOOR:-1}" = 1 ] && floor=(floor)

# moondns takes part only if the binary exists and accepts the config
check_moondns() {
	local keep=() s bin
	for s in "${SERVERS[@]}"; do
		bin=""
		[ "$s" = moondns ] && bin=${MOONDNS:-none}
		[ "$s" = moondns_b ] && bin=${MOONDNS_B:-${MOONDNS:-none}}
		if [ -n "$bin" ]; then
			if [ ! -x "$bin" ]; then
				log "$s: no moondns binary (set MOONDNS or BUILD): skipping $s"
				continue
			fi
			mkdir -p "$RUNROOT"
			RUN=$RUNROOT PORT=$(port_of "$s") ZONE=$(zone_file $N_SMALL) \
				render "$BENCH/conf/moondns.yaml.in" "$RUNROOT/check.yaml"
			if ! timeout 60 "$bin" check -c "$RUNROOT/check.yaml" > "$RUNROOT/check.log" 2>&1; then
				log "$bin check rejects the bench config: skipping $s"
				sed 's/^/    /' "$RUNROOT/check.log" | tail -5 >&2
				continue
			fi
		fi
		keep+=("$s")
	done
	SERVERS=("${keep[@]}")
}

write_env() {
	{
		echo "date	$(date -u +%FT%TZ)"
		echo "host	$(uname -srm), $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
		echo "memory	$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
		echo "loadavg	$(cut -d' ' -f1-3 /proc/loadavg) at start (other work on the machine)"
		echo "priority	nice $NICE for servers and dnsperf, in an autogroup of their own"
		echo "moondns	$MOONDNS (sha256 $(sha256sum "$MOONDNS" 2> /dev/null | cut -c1-12))"
		echo "moondns_commit	$(git -C "$BENCH" describe --always --dirty 2> /dev/null || echo unknown)"
		for s in knotd nsd; do echo "$s	$(version_of $s)"; done
		echo "dnsperf	$(dpkg-query -W -f '${Version}' dnsperf 2> /dev/null)"
		echo "records_${N_SMALL}	$(zone_records $N_SMALL)"
		echo "records_${N_LARGE}	$(zone_records $N_LARGE)"
		echo "reps	$REPS"
		echo "duration	$DURATION"
		echo "load_reps	$LOAD_REPS"
		echo "udp_args	$UDP_ARGS"
		echo "tcp_args	$TCP_ARGS"
		echo "dot_args	$DOT_ARGS"
		echo "rate	$RATE"
		echo "servers	${SERVERS[*]}"
	} > "$RESDIR/env.tsv"
}

# Same answers as knotd? Sends the first 500 benchmark queries to both and compares.
check_answers() {
	local s refpid
	[[ " ${SERVERS[*]} " == *" knotd "* ]] || return 0
	start_ready knotd $N_SMALL || return 0
	refpid=$SPID
	for s in "${SERVERS[@]}"; do
		[ "$s" = knotd ] && continue
		start_ready "$s" $N_SMALL || continue
		for proto in "" --tcp; do
			echo "$s vs knotd, $("$PY" "$BENCH/dnsprobe.py" compare "$(port_of knotd)" \
				"$(port_of "$s")" "$(queries_file $N_SMALL)" --count 500 $proto)"
		done >> "$RESDIR/answers.txt"
		srv_stop "$SPID"
	done
	srv_stop "$refpid"
	[ -s "$RESDIR/answers.txt" ] && sed 's/^/    /' "$RESDIR/answers.txt" >&2
}

# Interleaved A B C A B C: every run gets a freshly started server.
scenario_traffic() { # SCENARIO DNSPERF_ARGS SERVER...
	local scen=$1 args=$2 rep s
	shift 2
	for rep in $(seq "$REPS"); do
		for s in "$@"; do
			start_ready "$s" $N_SMALL || continue
			sleep 1
			measure "$scen" "$s" "$rep" "$args"
			srv_stop "$SPID"
		done
	done
}

LOAD_HEADER="scenario	server	version	rep	hosts	records	load_s	rss_kb	pss_kb	hwm_kb"
scenario_load() {
	local tsv="$RESDIR/load.tsv" rep s n mem
	[ -s "$tsv" ] || echo "$LOAD_HEADER" > "$tsv"
	for rep in $(seq "$LOAD_REPS"); do
		for n in $N_SMALL $N_LARGE; do
			for s in "${SERVERS[@]}"; do
				start_ready "$s" $n || continue
				sleep 2 # let background work after the first answer settle
				mem=$(tree_mem "$SPID")
				printf 'load\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$(version_of "$s")" "$rep" \
					$n "$(zone_records $n)" "$LOAD_S" "${mem// /	}" >> "$tsv"
				log "load $s r$rep $n hosts: ${LOAD_S}s, rss/pss/hwm kB: $mem"
				srv_stop "$SPID"
			done
		done
	done
}

# DNS over TLS, cache hits: every server of DOT_SERVERS that is installed, interleaved.
scenario_dot() {
	local s rep dot=()
	for s in ${DOT_SERVERS:-moondns unbound kresd dnsdist}; do
		if [ -z "$(dot_bin_of "$s")" ]; then
			log "dot: $s is not installed: skipped"
			continue
		fi
		[ "$s" = moondns ] || echo "$s	$(version_of "$s")" >> "$RESDIR/env.tsv"
		dot+=("$s")
	done
	ensure_dot_data
	start_dot_upstream || return 0
	for rep in $(seq "$REPS"); do
		for s in "${dot[@]}"; do
			start_dot "$s" || continue
			warm_dot "$s"
			MEASURE_PORT=$(($(dot_port_of "$s") + 10)) MEASURE_QUERIES=$DOT_QUERIES \
				measure dot "$s" "$rep" "$DOT_ARGS"
			srv_stop "$SPID"
		done
	done
	srv_stop "$UPSTREAM_PID"
	UPSTREAM_PID=""
}

check_moondns
[ "${#SERVERS[@]}" -gt 0 ] || die "no server to measure"
if [ -n "$MOONDNS" ]; then
	MOONDNS_VERSION=$("$MOONDNS" --version 2> /dev/null | head -1 | awk '{print $NF}')
	export MOONDNS_VERSION=${MOONDNS_VERSION:-$(git -C "$BENCH" describe --always --dirty 2> /dev/null)}
fi
write_env
log "results: $RESDIR  servers: ${SERVERS[*]}  scenarios: ${SCENARIOS[*]}  reps: $REPS x ${DURATION}s"
for scen in "${SCENARIOS[@]}"; do
	log "=== $scen"
	case $scen in
	udp)
		check_answers
		scenario_traffic udp "$UDP_ARGS" "${SERVERS[@]}" "${floor[@]}"
		;;
	udprate) scenario_traffic udprate "$UDP_ARGS -Q $RATE" "${SERVERS[@]}" "${floor[@]}" ;;
	tcp) scenario_traffic tcp "$TCP_ARGS" "${SERVERS[@]}" ;;
	load) scenario_load ;;
	dot) scenario_dot ;;
	cachehit | cachemiss) scenario_fwd "$scen" "$UDP_ARGS" ;;
	cachehitrate) scenario_fwd "$scen" "$UDP_ARGS -Q $RATE" ;;
	lua) scenario_lua ;;
	esac
done
"$PY" "$BENCH/summarize.py" "$RESDIR" > "$RESDIR/summary.md" && cat "$RESDIR/summary.md"
log "done: $RESDIR/summary.md"
