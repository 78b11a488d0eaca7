#!/bin/bash
# Profile one server under the benchmark load: perf record (cpu-clock sampling, call graphs)
# on the server's process while dnsperf drives it exactly as bench/run.sh does.
#
# usage: bench/profile.sh [udp|tcp] [SERVER]     (default: udp moondns)
# env:   MOONDNS or BUILD as for run.sh; DURATION (10); CALLGRAPH ("dwarf,16384"; "fp" is cheaper
#        but needs -fno-omit-frame-pointer); RESDIR (bench/results/profile-<timestamp>)
# output: RESDIR/perf.data, RESDIR/report.txt (self time by symbol), RESDIR/children.txt (time
#         including callees: which of the server's functions the time is spent under),
#         RESDIR/syscalls.txt (system calls per answered query, from the syscall tracepoints)
. "$(dirname "$0")/lib.sh"

MODE=${1:-udp}
SERVER=${2:-moondns}
case $MODE in udp | tcp) ;; *) die "mode must be udp or tcp" ;; esac
if [ -z "${BENCH_NETNS:-}" ]; then
	bench_lock "$@"
	ensure_deps
	command -v perf > /dev/null || die "perf is not installed (apt-get install linux-perf)"
	ensure_data
	[ -z "${MOONDNS:-}" ] && MOONDNS=$(readlink -f "${BUILD:-.}/moondns")
	export MOONDNS
	export RESDIR=${RESDIR:-$BENCH/results/profile-$(date +%Y%m%d-%H%M%S)}
	mkdir -p "$RESDIR"
fi
ensure_netns "$0" "$@"
RUNROOT="$RESDIR/run"
FLOOR_BIN="$DATA/floor"

start_ready "$SERVER" $N_SMALL || die "$SERVER did not start"
repin "$SPID" "$SRV_CPU"
args=$UDP_ARGS
[ "$MODE" = tcp ] && args=$TCP_ARGS
# perf samples on the client core too, so it runs there and leaves core 1 to the server
timeout -k 5 $((DURATION + 30)) taskset -c "$CLI_CPU" perf record -e cpu-clock -F 999 \
	--call-graph "${CALLGRAPH:-dwarf,16384}" -o "$RESDIR/perf.data" -p "$(tree_pids "$SPID" | paste -sd,)" \
	-- sleep "$DURATION" > "$RESDIR/perf-record.log" 2>&1 &
perfpid=$!
# count the system calls in the same window: batching shows up as calls per query
events=raw_syscalls:sys_enter
for sc in recvmmsg sendmmsg recvmsg sendmsg recvfrom sendto read write writev readv epoll_wait \
	epoll_pwait poll ppoll select pselect6 accept4 io_uring_enter futex clock_gettime; do
	events="$events,syscalls:sys_enter_$sc"
done
timeout -k 5 $((DURATION + 30)) taskset -c "$CLI_CPU" perf stat -x, -e "$events" \
	-p "$(tree_pids "$SPID" | paste -sd,)" -- sleep "$DURATION" > /dev/null 2> "$RESDIR/syscalls.csv" &
statpid=$!
sleep 0.5
timeout -k 5 $((DURATION + 30)) taskset -c "$CLI_CPU" dnsperf -s 127.0.0.1 -p "$(port_of "$SERVER")" \
	-d "$(queries_file $N_SMALL)" -l "$DURATION" $args > "$RESDIR/dnsperf.txt" 2>&1
wait "$perfpid" "$statpid"
srv_stop "$SPID"
# perf counts over DURATION s, dnsperf ran DURATION s from 0.5 s later: close enough for ratios
awk -F, -v q="$(awk '/Queries completed/ {print $3}' "$RESDIR/dnsperf.txt")" \
	'$1 + 0 > 0 {sub(/.*sys_enter_?/, "", $3); printf "%-14s %12d  %6.3f per query\n", \
	($3 == "" ? "all" : $3), $1, $1 / q}' "$RESDIR/syscalls.csv" > "$RESDIR/syscalls.txt"
perf report -i "$RESDIR/perf.data" --no-children --sort dso,symbol -g none --percent-limit 0.3 \
	--stdio 2> /dev/null | grep -v '^$' > "$RESDIR/report.txt"
perf report -i "$RESDIR/perf.data" --children --sort symbol -g none --percent-limit 1 \
	--stdio 2> /dev/null | grep -v '^$' > "$RESDIR/children.txt"
grep -E 'Queries per second|Queries lost' "$RESDIR/dnsperf.txt"
grep -E '^ +[0-9]' "$RESDIR/report.txt" | head -40
cat "$RESDIR/syscalls.txt"
log "profile: $RESDIR/report.txt $RESDIR/children.txt"
