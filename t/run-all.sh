#!/bin/bash
# Runs every test suite of moondns and ends with one line
# "N passed, N failed" summed over all of them. Called by `make check` with
# MOON_BUILDDIR, MOON_SRCDIR, UNIT_TESTS and FUZZ_TARGETS set.
#
# Suites: C unit tests (TAP), fuzz-corpus replays (each corpus file is one
# test), busted specs (t/lua, run by `moondns test`), pytest system tests
# (t/system).
# MOON_SUITES (space-separated: unit fuzz lua system) selects a subset;
# PYTEST_ARGS is split like a shell line, so -k 'a or b' works.
set -u
B=${MOON_BUILDDIR:?} S=${MOON_SRCDIR:?}
SUITES=${MOON_SUITES:-unit fuzz lua system}
PY=/usr/bin/python3   # Debian's python: it has pytest and dnspython
passed=0 failed=0
failures=()

count() { # suite, what, passed, failed
	passed=$((passed + $3)); failed=$((failed + $4))
	printf '%-8s %-40s %5d passed, %d failed\n' "$1" "$2" "$3" "$4"
	[ "$4" -eq 0 ] || failures+=("$1 $2")
}

want() { [[ " $SUITES " == *" $1 "* ]]; }

if want unit; then
	for t in $UNIT_TESTS; do
		out=$("$B/$t" 2>&1); rc=$?
		p=$(grep -c '^ok ' <<<"$out"); f=$(grep -c '^not ok ' <<<"$out")
		# A crash or a missing plan is a failure even if every line said ok.
		if [ $rc -ne 0 ] && [ "$f" -eq 0 ] || ! grep -q '^1\.\.' <<<"$out"; then f=$((f + 1)); fi
		[ "$f" -eq 0 ] || grep -E '^(not ok|#)' <<<"$out" | head -20 >&2
		count unit "$t" "$p" "$f"
	done
fi

if want fuzz; then
	for t in $FUZZ_TARGETS; do
		name=${t##*/}
		corpus="$S/t/fuzz/corpus/${name#fuzz_}"
		[ -d "$corpus" ] || { count fuzz "$name (no corpus)" 0 1; continue; }
		out=$("$B/$t" "$corpus" 2>&1); rc=$?
		p=$(grep -c '^ok ' <<<"$out"); f=$(grep -c '^not ok ' <<<"$out")
		[ $rc -eq 0 ] || f=$((f + 1))
		[ "$f" -eq 0 ] || tail -20 <<<"$out" >&2
		count fuzz "$name" "$p" "$f"
	done
fi

if want lua && [ -d "$S/t/lua" ] && ls "$S"/t/lua/*_spec.lua >/dev/null 2>&1; then
	# busted inside moondns's own LuaJIT, where require('moon.test') reaches
	# the real bridge (doc/lua-api.md, "Testing policies"); the log lines
	# of the policies' errors go to t-lua.log, not into the TAP stream.
	out=$(cd "$S" && MOON_BUILDDIR="$B" timeout 600 "$B/moondns" test -o TAP t/lua \
	      2>"$B/t-lua.log")
	p=$(grep -c '^ok ' <<<"$out"); f=$(grep -c '^not ok ' <<<"$out")
	grep -q '^1\.\.' <<<"$out" || f=$((f + 1))
	[ "$f" -eq 0 ] || { grep -E -A5 '^not ok' <<<"$out" | head -60; tail -5 "$B/t-lua.log"; } >&2
	count lua "moondns test t/lua" "$p" "$f"
fi

if want system && [ -d "$S/t/system" ]; then
	out=$(cd "$S/t/system" && MOON_BUILDDIR="$B" MOON_SRCDIR="$S" \
	      eval "$PY -m pytest -q -p no:cacheprovider ${PYTEST_ARGS:-} ." 2>&1); rc=$?
	summary=$(grep -E '^(=+ )?[0-9]+ (passed|failed|errors?)|^=+ .*(passed|failed|error)' <<<"$out" | tail -1)
	p=$(grep -oE '[0-9]+ passed' <<<"$summary" | grep -oE '[0-9]+' || echo 0)
	f=$(grep -oE '[0-9]+ (failed|errors?)' <<<"$summary" | awk '{s += $1} END {print s + 0}')
	[ -n "$p" ] || p=0; [ -n "$f" ] || f=0
	# pytest exit 5 means no test ran: that is a failure, not a pass.
	if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	[ "$f" -eq 0 ] || grep -vE '^\s*$' <<<"$out" | tail -60 >&2
	count system "pytest t/system" "$p" "$f"
fi

for x in "${failures[@]}"; do echo "FAILED: $x" >&2; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
