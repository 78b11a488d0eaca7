# shellcheck shell=bash
# Helpers shared by bench/run.sh: dependencies, the private network namespace, test data,
# starting/stopping the servers under test, and one measured dnsperf run.
#
# Servers: start_<name> PORT ZONEFILE starts <name> in the background on $SRV_CPU and sets
# SPID (its PID) and SRUN (its fresh run directory). Every server is stopped by its PID
# (srv_stop), never by name, and the EXIT trap stops whatever is still running.
# Everything here stays inside bench/: nothing is read from outside the repository at run time
# except the system binaries (dnsperf, knotd, nsd, gcc) and $MOONDNS.

set -u
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3
DATA=${DATA:-$BENCH/data}
REPS=${REPS:-3}
DURATION=${DURATION:-10}
SRV_CPU=${SRV_CPU:-1}
CLI_CPU=${CLI_CPU:-0}
# UDP: 4 clients x 200 in flight is the most dnsperf sustains here without overflowing the
# server's socket buffer; TCP: persistent, pipelined connections.
UDP_ARGS=${UDP_ARGS:--c 4 -q 200 -t 1}
TCP_ARGS=${TCP_ARGS:--m tcp -c 20 -q 200 -t 2}
# DNS over TLS: 20 persistent TLS connections, pipelined (as in the peer benchmarks).
DOT_ARGS=${DOT_ARGS:--m dot -c 20 -q 200 -t 2}
START_TIMEOUT=${START_TIMEOUT:-120}
# Servers and dnsperf run at nice -20 so that other work on the machine (builds, fuzzers) gets
# almost no share of the two cores while a run is measured. NICE=0 turns this off.
NICE=${NICE:--20}
PIN_SRV="nice -n $NICE taskset -c $SRV_CPU"
PIN_CLI="nice -n $NICE taskset -c $CLI_CPU"
HZ=$(getconf CLK_TCK)
N_SMALL=100000
N_LARGE=1000000

log() { echo "[$(date +%T)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --- dependencies (run before entering the namespace: apt needs the network) --------------
ensure_deps() {
	local missing=() pair
	for pair in dnsperf:dnsperf knotd:knot nsd:nsd dig:dnsutils gcc:gcc taskset:util-linux \
		unshare:util-linux ip:iproute2; do
		command -v "${pair%%:*}" > /dev/null 2>&1 || missing+=("${pair#*:}")
	done
	"$PY" -c 'import dns.message' 2> /dev/null || missing+=(python3-dnspython)
	[ ${#missing[@]} = 0 ] && return 0
	log "installing: ${missing[*]}"
	local sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
		die "could not install ${missing[*]}"
}

# The peers of the dot scenario, best effort: one that cannot be installed is skipped.
ensure_dot_deps() {
	local missing=() pair sudo=""
	for pair in unbound:unbound kresd:knot-resolver dnsdist:dnsdist openssl:openssl; do
		command -v "${pair%%:*}" > /dev/null 2>&1 || missing+=("${pair#*:}")
	done
	[ ${#missing[@]} = 0 ] && return 0
	[ "$(id -u)" = 0 ] || sudo=sudo
	log "installing for dot: ${missing[*]}"
	$sudo apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
		log "could not install ${missing[*]}: those servers are skipped"
}

# --- one benchmark at a time on this machine ---------------------------------------------------
# Two runs at once would share the two cores and spoil each other's figures, so every entry
# point takes this lock first and keeps it until it is done (released when the process exits).
BENCH_LOCK=${BENCH_LOCK:-/tmp/moondns-bench.lock}
bench_lock() {
	exec 9>> "$BENCH_LOCK"
	if ! flock -n 9; then
		log "another benchmark holds $BENCH_LOCK: $(cat "$BENCH_LOCK" 2> /dev/null); waiting" \
			"up to ${LOCK_WAIT:-3600} s"
		flock -w "${LOCK_WAIT:-3600}" 9 || die "$BENCH_LOCK still busy"
	fi
	echo "pid $$ since $(date +%T): $0 $*" > "$BENCH_LOCK"
}

# --- private network namespace with only lo: nothing can leave the machine ----------------
# usage: ensure_netns "$0" "$@"  (runs the script again inside the namespace, and waits for it)
# The inner copy runs in a session of its own (setsid): with the scheduler's autogroups, a
# session is a scheduling group, and nice levels only act inside a group. Its own group lets
# set_priority raise the benchmark above builds and fuzzers running in other sessions without
# touching any other process.
ensure_netns() {
	local self=$1 child rc
	shift
	[ -n "${BENCH_NETNS:-}" ] && { set_priority; return 0; }
	export BENCH_NETNS=1
	setsid unshare -n -- bash -c 'ip link set lo up && exec bash "$@"' bash "$self" "$@" 9>&- &
	child=$!
	trap 'kill -TERM $child 2> /dev/null' INT TERM
	trap - EXIT
	wait $child
	rc=$?
	while kill -0 $child 2> /dev/null; do # wait returns early when a signal was trapped
		wait $child
		rc=$?
	done
	exit $rc
}
set_priority() {
	[ "$NICE" = 0 ] && return 0
	if [ -w /proc/self/autogroup ]; then
		echo "$NICE" > /proc/self/autogroup 2> /dev/null || log "cannot set the autogroup nice level"
	fi
}

# --- data ------------------------------------------------------------------------------------
zone_file() { echo "$DATA/zone-$1.zone"; }
zone_records() { cat "$(zone_file "$1").count"; }
queries_file() { echo "$DATA/queries-$1.txt"; }
# The last host of a zone for N hosts and its address (gen_zone.py's layout).
last_host() { echo "host$(($1 - 1)).bench.test"; }
host_ip() { local i=$1; echo "10.$(((i >> 16) & 255)).$(((i >> 8) & 255)).$((i & 255))"; }

# regenerate when missing or older than its generator
ensure_data() {
	mkdir -p "$DATA"
	local n z q
	for n in $N_SMALL $N_LARGE; do
		z=$(zone_file $n)
		if [ ! -s "$z.count" ] || [ "$BENCH/gen_zone.py" -nt "$z" ]; then
			log "generating $z"
			"$PY" "$BENCH/gen_zone.py" $n "$z" > /dev/null || die "gen_zone.py failed"
		fi
	done
	q=$(queries_file $N_SMALL)
	if [ ! -s "$q" ] || [ "$BENCH/gen_queries.py" -nt "$q" ]; then
		log "generating $q"
		"$PY" "$BENCH/gen_queries.py" $N_SMALL 1000000 "$q" 1 || die "gen_queries.py failed"
	fi
	FLOOR_BIN="$DATA/floor"
	if [ ! -x "$FLOOR_BIN" ] || [ "$BENCH/floor/floor.c" -nt "$FLOOR_BIN" ]; then
		gcc -O2 -std=gnu11 -Wall -Wextra -Werror -o "$FLOOR_BIN" "$BENCH/floor/floor.c" ||
			die "could not build floor"
	fi
}

# --- servers ---------------------------------------------------------------------------------
port_of() {
	case $1 in
	moondns) echo 5401 ;;
	knotd) echo 5402 ;;
	nsd) echo 5403 ;;
	floor) echo 5404 ;;
	moondns_b) echo 5405 ;;
	*) die "unknown server $1" ;;
	esac
}

version_of() {
	case $1 in
	moondns) echo "${MOONDNS_VERSION:-dev}" ;;
	moondns+*) echo "${MOONDNS_VERSION:-dev}" ;; # variants of the lua scenario
	moondns_b) echo "B: ${MOONDNS_B:-$MOONDNS}${MOONDNS_B_ENV:+ with $MOONDNS_B_ENV}" ;;
	knotd) knotd -V | awk '{print $NF}' ;;
	nsd) nsd -v 2>&1 | awk 'NR == 1 {print $NF}' ;;
	unbound) unbound -V 2>&1 | awk 'NR == 1 {print $NF}' ;;
	kresd) kresd --version 2>&1 | awk 'NR == 1 {print $NF}' ;;
	dnsdist | dnsdist+*) dnsdist --version 2>&1 | awk 'NR == 1 {print $2}' ;;
	floor) echo "-" ;;
	esac
}

# render TEMPLATE OUT: replaces @RUN@ @PORT@ @ZONE@ from the variables RUN PORT ZONE (and,
# for the DoT templates, @TLSPORT@ @UPPORT@ @CERT@ @KEY@ from TLSPORT UPPORT CERT KEY)
render() {
	sed -e "s|@RUN@|$RUN|g" -e "s|@PORT@|$PORT|g" -e "s|@ZONE@|${ZONE:-}|g" \
		-e "s|@TLSPORT@|${TLSPORT:-}|g" -e "s|@UPPORT@|${UPPORT:-}|g" \
		-e "s|@CERT@|${CERT:-}|g" -e "s|@KEY@|${KEY:-}|g" "$1" > "$2"
}

new_rundir() {
	SRUN="$RUNROOT/$1"
	rm -rf "$SRUN"
	mkdir -p "$SRUN"
}

# Each start_X PORT ZONE: starts in the background pinned to SRV_CPU, sets SPID and SRUN.
start_moondns() {
	new_rundir moondns
	RUN=$SRUN PORT=$1 ZONE=$2 render "$BENCH/conf/moondns.yaml.in" "$SRUN/moondns.yaml"
	$PIN_SRV "$MOONDNS" -c "$SRUN/moondns.yaml" > "$SRUN/log" 2>&1 &
	SPID=$!
}
# A/B comparisons: "moondns_b" is a second moondns, $MOONDNS_B (default: the same binary),
# started with the extra environment MOONDNS_B_ENV ("VAR=value ...").
start_moondns_b() {
	new_rundir moondns_b
	RUN=$SRUN PORT=$1 ZONE=$2 render "$BENCH/conf/moondns.yaml.in" "$SRUN/moondns.yaml"
	# shellcheck disable=SC2086
	env ${MOONDNS_B_ENV:-} $PIN_SRV "${MOONDNS_B:-$MOONDNS}" -c "$SRUN/moondns.yaml" > "$SRUN/log" 2>&1 &
	SPID=$!
}
start_knotd() {
	new_rundir knotd
	mkdir -p "$SRUN/db"
	RUN=$SRUN PORT=$1 ZONE=$2 render "$BENCH/conf/knot.conf.in" "$SRUN/knot.conf"
	$PIN_SRV knotd -c "$SRUN/knot.conf" > "$SRUN/log" 2>&1 &
	SPID=$!
}
start_nsd() {
	new_rundir nsd
	RUN=$SRUN PORT=$1 ZONE=$2 render "$BENCH/conf/nsd.conf.in" "$SRUN/nsd.conf"
	$PIN_SRV nsd -d -c "$SRUN/nsd.conf" > "$SRUN/log" 2>&1 &
	SPID=$!
}
start_floor() { # the zone is ignored: the floor answers everything without looking
	new_rundir floor
	$PIN_SRV "$FLOOR_BIN" "$1" > "$SRUN/log" 2>&1 &
	SPID=$!
}

# --- process helpers -------------------------------------------------------------------------
declare -a STARTED=()
tree_pids() {
	local p
	for p in "$@"; do
		[ -d "/proc/$p" ] || continue
		echo "$p"
		# shellcheck disable=SC2046
		tree_pids $(cat /proc/"$p"/task/*/children 2> /dev/null)
	done
}
# CPU ticks (utime + stime, all threads) summed over a process tree
tree_ticks() {
	local s=0 p f
	for p in $(tree_pids "$1"); do
		f=$(cut -d')' -f2- "/proc/$p/stat" 2> /dev/null) || continue
		# shellcheck disable=SC2086
		set -- $f
		s=$((s + ${12} + ${13}))
	done
	echo $s
}
# "rss_kb pss_kb hwm_kb", each summed over the tree
tree_mem() {
	local rss=0 pss=0 hwm=0 p v
	for p in $(tree_pids "$1"); do
		v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2> /dev/null)
		rss=$((rss + ${v:-0}))
		v=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2> /dev/null)
		hwm=$((hwm + ${v:-0}))
		v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2> /dev/null)
		pss=$((pss + ${v:-0}))
	done
	echo "$rss $pss $hwm"
}
# "busy total" jiffies of one core from /proc/stat (busy counts irq, softirq and steal)
core_ticks() {
	awk -v c="cpu$1" '$1 == c {print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat
}
# knotd pins its UDP worker itself, overriding taskset: pin every thread of the tree again.
repin() {
	local p t
	for p in $(tree_pids "$1"); do
		for t in /proc/"$p"/task/*; do
			taskset -p -c "$2" "${t##*/}" > /dev/null 2>&1
		done
	done
}
# prints "comm:mask" for every thread of the tree that may run anywhere but CPU $2
check_pin() {
	local p t m want
	want=$(printf '%x' $((1 << $2)))
	for p in $(tree_pids "$1"); do
		for t in /proc/"$p"/task/*; do
			m=$(taskset -p "${t##*/}" 2> /dev/null | awk '{print $NF}')
			[ -n "$m" ] && [ "$m" != "$want" ] && echo "$(cat "$t/comm" 2> /dev/null):$m"
		done
	done
}
srv_stop() {
	local pid=$1 kids i
	[ -n "$pid" ] || return 0
	kids=$(tree_pids "$pid" | grep -vx "$pid")
	kill -TERM "$pid" 2> /dev/null
	for i in $(seq 150); do
		kill -0 "$pid" 2> /dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2> /dev/null; then
		log "pid $pid ignored SIGTERM for 15 s: SIGKILL"
		kill -KILL "$pid" 2> /dev/null
	fi
	wait "$pid" 2> /dev/null
	for i in $kids; do kill -KILL "$i" 2> /dev/null; done
	STARTED=("${STARTED[@]/#$pid/}")
	return 0
}
CLIENT_PID=""
stop_all() {
	local p
	[ -n "$CLIENT_PID" ] && kill -TERM "$CLIENT_PID" 2> /dev/null
	for p in "${STARTED[@]}"; do [ -n "$p" ] && srv_stop "$p"; done
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# start_ready SERVER ZONE_N: starts SERVER on the zone for ZONE_N hosts and waits for the first
# correct answer for its last host. Sets SPID, SRUN and LOAD_S (exec -> first correct answer).
start_ready() {
	local s=$1 n=$2 port t0 t1
	port=$(port_of "$s")
	t0=$(date +%s.%N)
	"start_$s" "$port" "$(zone_file "$n")"
	STARTED+=("$SPID")
	if [ "$s" = floor ]; then # answers nothing "correctly": wait for the socket instead
		t1=$(wait_floor "$port") || { srv_stop "$SPID"; return 1; }
	elif ! t1=$("$PY" "$BENCH/dnsprobe.py" wait "$port" "$(last_host "$n")" \
		"$(host_ip $((n - 1)))" --timeout "$START_TIMEOUT" --pid "$SPID"); then
		log "$s did not answer correctly; last lines of $SRUN/log:"
		tail -5 "$SRUN/log" >&2
		srv_stop "$SPID"
		return 1
	fi
	LOAD_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
}
wait_floor() {
	local i
	for i in $(seq 100); do
		if dig @127.0.0.1 -p "$1" +time=1 +tries=1 bench.test > /dev/null 2>&1; then
			date +%s.%N
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# --- one measured run ------------------------------------------------------------------------
RUN_HEADER="scenario	server	version	rep	qps	completed	sent	lost	avg_lat_ms	wall_s	cpu_s	srv_cpu_pct	us_per_q	qps_per_core	srv_core_pct	cli_core_pct	dnsperf_cpu_pct	other_pct	rss_kb	pss_kb	resp_bytes	rcodes	pin	command"
# measure SCENARIO SERVER REP DNSPERF_ARGS: dnsperf pinned to CLI_CPU for DURATION s against the
# running $SPID; appends one row to $RESDIR/SCENARIO.tsv and keeps dnsperf's output in raw/.
measure() {
	local scen=$1 srv=$2 rep=$3 args=$4 port tsv out cmd
	port=${MEASURE_PORT:-$(port_of "$srv")}
	tsv="$RESDIR/$scen.tsv"
	out="$RESDIR/raw/$scen-$srv-r$rep.txt"
	mkdir -p "$RESDIR/raw"
	[ -s "$tsv" ] || echo "$RUN_HEADER" > "$tsv"
	cmd="$PIN_CLI dnsperf -s 127.0.0.1 -p $port -d ${MEASURE_QUERIES:-$(queries_file $N_SMALL)}"
	cmd="$cmd -l $DURATION $args"

	repin "$SPID" "$SRV_CPU"
	local pin0 p0 p1 s0 s1 st0 st1 c0 c1 ct0 ct1 w0 w1
	pin0=$(check_pin "$SPID" "$SRV_CPU" | tr '\n' ' ')
	read -r s0 st0 < <(core_ticks "$SRV_CPU")
	read -r c0 ct0 < <(core_ticks "$CLI_CPU")
	p0=$(tree_ticks "$SPID")
	w0=$(date +%s.%N)
	# bounded even if dnsperf hangs; in the background so that a signal is handled at once
	timeout -k 5 $((DURATION + 30)) bash -c '"$@"; cut -d")" -f2- /proc/$$/stat > "$0.cpu"' \
		"$out" $cmd > "$out" 2>&1 &
	CLIENT_PID=$!
	wait "$CLIENT_PID"
	CLIENT_PID=""
	w1=$(date +%s.%N)
	p1=$(tree_ticks "$SPID")
	read -r s1 st1 < <(core_ticks "$SRV_CPU")
	read -r c1 ct1 < <(core_ticks "$CLI_CPU")
	local mem pin dticks
	dticks=$(awk '{print $14 + $15}' "$out.cpu" 2> /dev/null)
	rm -f "$out.cpu"
	mem=$(tree_mem "$SPID")
	pin="$pin0$(check_pin "$SPID" "$SRV_CPU" | tr '\n' ' ')"
	[ -n "$pin" ] && log "WARNING: $srv threads not on CPU $SRV_CPU: $pin"

	awk -F': *' -v OFS='\t' -v scen="$scen" -v srv="$srv" -v ver="$(version_of "$srv")" \
		-v rep="$rep" -v w0="$w0" -v w1="$w1" -v p0="$p0" -v p1="$p1" -v hz="$HZ" \
		-v s0="$s0" -v s1="$s1" -v st0="$st0" -v st1="$st1" -v c0="$c0" -v c1="$c1" \
		-v ct0="$ct0" -v ct1="$ct1" -v dt="${dticks:-0}" -v mem="$mem" -v pin="${pin:-ok}" -v cmd="$cmd" '
		/Queries sent:/ { sent = $2 + 0 }
		/Queries completed:/ { done = $2 + 0 }
		/Queries lost:/ { lost = $2 + 0 }
		/Response codes:/ { rc = $2 }
		/Average packet size:/ { sub(/.*response /, ""); resp = $0 + 0 }
		/Queries per second:/ { qps = $2 + 0 }
		/Average Latency/ && lat == "" { split($2, a, " "); lat = sprintf("%.3f", a[1] * 1000) }
		END {
			wall = w1 - w0; cpu = (p1 - p0) / hz
			score = 100 * (s1 - s0) / (st1 - st0 + 1)
			ccore = 100 * (c1 - c0) / (ct1 - ct0 + 1)
			scpu = 100 * cpu / wall
			dcpu = 100 * dt / hz / wall
			split(mem, m, " ")
			print scen, srv, ver, rep, sprintf("%.0f", qps), done, sent, lost, lat,
				sprintf("%.2f", wall), sprintf("%.2f", cpu), sprintf("%.1f", scpu),
				done ? sprintf("%.2f", 1e6 * cpu / done) : "NA",
				cpu ? sprintf("%.0f", done / cpu) : "NA",
				sprintf("%.1f", score), sprintf("%.1f", ccore), sprintf("%.1f", dcpu),
				sprintf("%.1f", score - scpu + ccore - dcpu),
				m[1], m[2], resp, rc, pin, cmd
		}' "$out" >> "$tsv"
	tail -1 "$tsv" | awk -F'\t' '{printf "%s %s r%s: %s qps, lost %s, srv cpu %s%%, %s us/q, " \
		"client core %s%% (dnsperf %s%%), other %s%%, rss %s kB\n", $1, $2, $4, $5, $8, $12, $13, $16, $17, $18, $19}' | while read -r line; do log "$line"; done
}

# --- DNS over TLS, cache hits (scenario dot) -------------------------------------------------
# Each server is a caching forwarder with a plain and a DoT listener, in front of nsd on the
# 100k zone (the upstream, pinned to the client core: after the warm-up it gets no queries).
# The cache is warmed over DoT itself (dnsdist keeps UDP and DoT answers apart), then dnsperf
# asks the same 10,000 names over DoT. Same setup as ../shared/peer-bench/run-dot.sh.
DOT_UPPORT=5410
DOT_CERT="$DATA/tls.crt"
DOT_KEY="$DATA/tls.key"
DOT_QUERIES="$DATA/q-cache10k.txt"
dot_port_of() { # the plain port; the DoT port is 10 above
	case $1 in
	moondns) echo 5411 ;;
	unbound) echo 5412 ;;
	kresd) echo 5413 ;;
	dnsdist) echo 5414 ;;
	*) die "no DoT setup for $1" ;;
	esac
}
dot_bin_of() { case $1 in moondns) echo "$MOONDNS" ;; *) command -v "$1" ;; esac; }
# A self-signed RSA-2048 certificate, as in the peer benchmarks (the key type sets the cost of
# a full handshake, not of the cache hits measured here), and 10,000 distinct names.
ensure_dot_data() {
	[ -s "$DOT_CERT" ] || openssl req -x509 -newkey rsa:2048 -nodes -days 3650 \
		-subj "/CN=bench.test" -keyout "$DOT_KEY" -out "$DOT_CERT" 2> /dev/null ||
		die "cannot make $DOT_CERT"
	[ -s "$DOT_QUERIES" ] || awk 'BEGIN { for (k = 0; k < 10000; k++)
		printf "host%d.bench.test A\n", k * 10 }' > "$DOT_QUERIES"
}
# waits until PORT answers the zone's last host over UDP (recursion desired, as dnsperf asks)
dot_wait() {
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
start_dot_upstream() {
	start_nsd "$DOT_UPPORT" "$(zone_file $N_SMALL)"
	UPSTREAM_PID=$SPID
	STARTED+=("$SPID")
	sleep 0.5
	repin "$UPSTREAM_PID" "$CLI_CPU"
	dot_wait "$DOT_UPPORT" "$UPSTREAM_PID" || { log "dot: the upstream nsd did not start"; return 1; }
}
# start_dot SERVER: renders conf/SERVER-dot.*.in, starts it on SRV_CPU, waits for an answer
start_dot() {
	local s=$1 port conf
	port=$(dot_port_of "$s")
	new_rundir "dot-$s"
	conf="$SRUN/$s.conf"
	RUN=$SRUN PORT=$port TLSPORT=$((port + 10)) UPPORT=$DOT_UPPORT CERT=$DOT_CERT KEY=$DOT_KEY \
		render "$(ls "$BENCH/conf/$s-dot."*.in)" "$conf"
	case $s in
	moondns) $PIN_SRV "$MOONDNS" -c "$conf" > "$SRUN/log" 2>&1 & ;;
	unbound) $PIN_SRV unbound -d -c "$conf" > "$SRUN/log" 2>&1 & ;;
	kresd) $PIN_SRV kresd -n -c "$conf" "$SRUN" < /dev/null > "$SRUN/log" 2>&1 & ;;
	dnsdist) $PIN_SRV dnsdist --supervised --disable-syslog -C "$conf" < /dev/null \
		> "$SRUN/log" 2>&1 & ;;
	esac
	SPID=$!
	STARTED+=("$SPID")
	if ! dot_wait "$port" "$SPID"; then
		log "dot: $s did not answer; last lines of $SRUN/log:"
		tail -5 "$SRUN/log" >&2
		srv_stop "$SPID"
		return 1
	fi
	sleep 0.5 # the DoT listener of some servers comes up after the plain one
}
# two passes over the names at moderate concurrency, over DoT, not measured
warm_dot() {
	$PIN_CLI dnsperf -s 127.0.0.1 -p $(($(dot_port_of "$1") + 10)) -m dot -d "$DOT_QUERIES" \
		-n 2 -c 1 -q 50 -t 2 > "$SRUN/warm.txt" 2>&1
	log "dot: $1 warmed: $(grep -E 'Queries (completed|lost)' "$SRUN/warm.txt" | tr -s ' ' |
		tr '\n' ' ')"
}

# caching forwarders over UDP (scenarios cachehit, cachemiss)
. "$BENCH/lib-fwd.sh"
# the cost of the Lua policy layer (scenario lua)
. "$BENCH/lib-lua.sh"
