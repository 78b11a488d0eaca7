#!/bin/bash
# moondns quick start, for a fresh Debian 12 (bookworm) machine.
#
#   ./quickstart.sh run [ARGS...]   install what is missing, build, run build/moondns ARGS
#                                   (no ARGS: the embedded lab config on 127.0.0.1:5353)
#   ./quickstart.sh test            install what is missing, build, run `make check`;
#                                   the exit status is the test suite's
#
# Installing packages needs root (apt-get); when everything is installed
# already, apt is not touched and any user can run it. The build is out of
# tree in ./build; a second run only rebuilds what changed.
set -eu

cd "$(dirname "$0")"
SRC=$(pwd)
BUILD="$SRC/build"

# The one list of Debian packages moondns needs: to build it, and to test it.
BUILD_DEPS=(build-essential autoconf automake pkg-config libluajit-5.1-dev luajit libev-dev
	libssl-dev libknot-dev libldns-dev libyaml-dev libpcre2-dev)
TEST_DEPS=(python3-pytest python3-dnspython python3-yaml knot knot-dnsutils dnsutils nsd
	lua-busted lua-check clang-14 libfuzzer-14-dev libclang-rt-14-dev openssl iproute2 procps
	systemd man-db)

say() { printf 'quickstart: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

usage() {
	sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# Prints the packages of the list that are not installed.
missing_packages() {
	local p st
	for p in "$@"; do
		st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
		[ "$st" = installed ] || printf '%s\n' "$p"
	done
}

install_deps() {
	command -v dpkg-query >/dev/null || die "this script expects Debian 12 (dpkg-query not found)"
	local missing
	mapfile -t missing < <(missing_packages "$@")
	[ ${#missing[@]} -gt 0 ] || return 0
	if [ "$(id -u)" -ne 0 ]; then
		die "missing packages: ${missing[*]}
  install them as root: apt-get install --no-install-recommends ${missing[*]}"
	fi
	say "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# True when $1 is missing or older than any of the following files.
stale() {
	local target=$1 f
	shift
	[ -e "$target" ] || return 0
	for f in "$@"; do
		[ "$f" -nt "$target" ] && return 0
	done
	return 1
}

build() {
	# autoreconf only when the generated files are missing or older than
	# their inputs (every Makefile.inc fragment is an input of Makefile.in).
	local inputs
	mapfile -t inputs < <(find configure.ac Makefile.am m4 src t doc -name 'configure.ac' -o \
		-name 'Makefile.am' -o -name '*.inc' -o -name '*.m4' 2>/dev/null)
	if stale configure "${inputs[@]}" || stale Makefile.in "${inputs[@]}"; then
		say "autoreconf -fi"
		autoreconf -fi
	fi
	mkdir -p "$BUILD"
	if stale "$BUILD/config.status" configure; then
		say "configure (in $BUILD)"
		(cd "$BUILD" && "$SRC/configure" -q)
	fi
	say "make"
	make -C "$BUILD" -s -j"$(nproc)"
}

[ $# -ge 1 ] || usage
mode=$1
shift
case $mode in
run)
	install_deps "${BUILD_DEPS[@]}"
	build
	exec "$BUILD/moondns" "$@"
	;;
test)
	install_deps "${BUILD_DEPS[@]}" "${TEST_DEPS[@]}"
	build
	exec make -C "$BUILD" -s -j"$(nproc)" check
	;;
*)
	usage
	;;
esac
