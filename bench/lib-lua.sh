# shellcheck shell=bash
# The cost of the Lua policy layer (scenario lua of bench/run.sh), sourced by lib.sh.
#
# moondns, authoritative UDP on the 100k-host zone with the udp scenario's query file and load
# (LUA_ARGS, default UDP_ARGS), one worker, three variants:
#   moondns            no policy: the base
#   moondns+noop       conf/noop.lua, a query and a response hook that do nothing
#   moondns+policies   tunnel, firewall and rebinding with realistic options
#                      (conf/moondns-policies.yaml.in)
# dnsdist is a proxy, so it is measured as ../shared/peer-bench/run-lua.sh did: a packet cache in
# front of nsd (the fwd scenarios' upstream, on the client core), cache hits only (the cachehit
# set, warmed first), two variants (LUA_DNSDIST=0 leaves them out):
#   dnsdist            no rule
#   dnsdist+ffirule    conf/dnsdist-ffirule.lua: a LuaFFIRule reading the qname raw via the FFI
# The figure to compare between the two servers is the added server CPU per query of each Lua
# layer (variant minus its own base), not their absolute CPU: the workloads differ.
LUA_MOONDNS="moondns moondns+noop moondns+policies"
LUA_DNSDIST_SET="dnsdist dnsdist+ffirule"
lua_port_of() {
	case $1 in
	moondns) echo 5441 ;;
	moondns+noop) echo 5442 ;;
	moondns+policies) echo 5443 ;;
	dnsdist) echo 5444 ;;
	dnsdist+ffirule) echo 5445 ;;
	*) die "no lua setup for $1" ;;
	esac
}
lua_conf_of() {
	case $1 in
	moondns) echo moondns.yaml.in ;;
	moondns+noop) echo moondns-noop.yaml.in ;;
	moondns+policies) echo moondns-policies.yaml.in ;;
	esac
}

# before entering the namespace: dnsdist, best effort (without it the dnsdist rows are skipped)
ensure_lua_deps() {
	local sudo=""
	[ "${LUA_DNSDIST:-1}" = 1 ] || return 0
	command -v dnsdist > /dev/null 2>&1 && return 0
	[ "$(id -u)" = 0 ] || sudo=sudo
	log "installing for lua: dnsdist"
	$sudo apt-get install -y --no-install-recommends dnsdist >&2 ||
		log "could not install dnsdist: its lua rows are skipped"
}

# render_lua VARIANT: writes the variant's config into a fresh $SRUN, sets LUA_CONF
render_lua() {
	local v=$1 port
	port=$(lua_port_of "$v")
	new_rundir "lua-$v"
	case $v in
	moondns*)
		LUA_CONF="$SRUN/moondns.yaml"
		cp "$BENCH/conf/noop.lua" "$SRUN/"
		RUN=$SRUN PORT=$port ZONE=$(zone_file $N_SMALL) \
			render "$BENCH/conf/$(lua_conf_of "$v")" "$LUA_CONF"
		;;
	dnsdist*)
		LUA_CONF="$SRUN/dnsdist.conf"
		RUN=$SRUN PORT=$port UPPORT=$FWD_UPPORT render "$BENCH/conf/dnsdist-fwd.conf.in" "$LUA_CONF"
		[ "$v" = dnsdist+ffirule ] && cat "$BENCH/conf/dnsdist-ffirule.lua" >> "$LUA_CONF"
		;;
	esac
}

# start_lua VARIANT: starts it on SRV_CPU and waits for a correct answer (sets SPID, SRUN)
start_lua() {
	local v=$1 port
	port=$(lua_port_of "$v")
	render_lua "$v"
	case $v in
	moondns*) $PIN_SRV "$MOONDNS" -c "$LUA_CONF" > "$SRUN/log" 2>&1 & ;;
	dnsdist*) $PIN_SRV dnsdist --supervised --disable-syslog -C "$LUA_CONF" < /dev/null \
		> "$SRUN/log" 2>&1 & ;;
	esac
	SPID=$!
	STARTED+=("$SPID")
	if ! fwd_wait "$port" "$SPID"; then
		log "lua: $v did not answer; last lines of $SRUN/log:"
		tail -5 "$SRUN/log" >&2
		srv_stop "$SPID"
		return 1
	fi
}

# scenario_lua: the moondns variants, then the dnsdist ones, interleaved per repetition
scenario_lua() {
	local v rep mv=() dv=()
	if [ -n "${MOONDNS:-}" ] && [ -x "$MOONDNS" ]; then
		mkdir -p "$RUNROOT"
		for v in $LUA_MOONDNS; do
			render_lua "$v"
			if ! timeout 60 "$MOONDNS" check -c "$LUA_CONF" > "$SRUN/check.log" 2>&1; then
				log "lua: moondns check rejects the $v config: skipped"
				tail -3 "$SRUN/check.log" >&2
				continue
			fi
			mv+=("$v")
		done
	else
		log "lua: no moondns binary: the moondns variants are skipped"
	fi
	if [ "${LUA_DNSDIST:-1}" = 1 ] && command -v dnsdist > /dev/null 2>&1; then
		grep -q "^dnsdist	" "$RESDIR/env.tsv" 2> /dev/null ||
			echo "dnsdist	$(version_of dnsdist)" >> "$RESDIR/env.tsv"
		ensure_fwd_data
		if start_fwd_upstream; then
			read -r -a dv <<< "$LUA_DNSDIST_SET"
		fi
	fi
	for rep in $(seq "$REPS"); do
		for v in "${mv[@]}"; do
			start_lua "$v" || continue
			sleep 1
			MEASURE_PORT=$(lua_port_of "$v") measure lua "$v" "$rep" "${LUA_ARGS:-$UDP_ARGS}"
			srv_stop "$SPID"
		done
		for v in "${dv[@]}"; do
			start_lua "$v" || continue
			$PIN_CLI dnsperf -s 127.0.0.1 -p "$(lua_port_of "$v")" -d "$FWD_HIT_QUERIES" \
				-n 2 -c 1 -q 50 -t 2 > "$SRUN/warm.txt" 2>&1
			sleep 0.5
			MEASURE_PORT=$(lua_port_of "$v") MEASURE_QUERIES=$FWD_HIT_QUERIES \
				measure lua-dnsdist "$v" "$rep" "${LUA_ARGS:-$UDP_ARGS}"
			srv_stop "$SPID"
		done
	done
	if [ -n "${UPSTREAM_PID:-}" ]; then
		srv_stop "$UPSTREAM_PID"
		UPSTREAM_PID=""
	fi
}
