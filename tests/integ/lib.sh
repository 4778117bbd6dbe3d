# SPDX-License-Identifier: MIT
# Shared helpers for the shell integration tests. A test file defines functions named
# t_<case>, sources this file last, and is run by tests/run.sh as `FILE --list` or
# `FILE CASE`. Exit 0 = pass, 77 = skip (last line: the reason), other = fail.
set -u
B=${SBX_BUILD:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build}
SBX=$B/sbx
TMPD=$(mktemp -d /tmp/sbx-integ.XXXXXX)
trap 'rm -rf "$TMPD"' EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}
skip() {
	echo "$*"
	exit 77
}
# assert_eq ACTUAL EXPECTED WHAT
assert_eq() { [ "$1" = "$2" ] || fail "$3: got '$1', expected '$2'"; }
assert_contains() { [[ "$1" == *"$2"* ]] || fail "$3: '$1' does not contain '$2'"; }
assert_not_contains() { [[ "$1" != *"$2"* ]] || fail "$3: '$1' contains '$2'"; }
# run_sbx ARGS...: sets OUT (stdout), ERR (stderr), RC
run_sbx() {
	"$SBX" "$@" >"$TMPD/out" 2>"$TMPD/err" </dev/null
	RC=$?
	OUT=$(cat "$TMPD/out")
	ERR=$(cat "$TMPD/err")
}
# A copy of the base image with the static test helpers in /t, for checks that need
# more than busybox. Prints its path.
helper_image() {
	local img=$TMPD/img
	if [ ! -d "$img" ]; then
		cp -a "$B/images/base" "$img"
		mkdir -p "$img/rootfs/t"
		cp "$B"/tests/helpers/* "$img/rootfs/t/"
	fi
	echo "$img"
}
# Live sbx-init processes. A zombie is not one: the init of a sandbox whose launcher
# was SIGKILLed is re-parented to the host's PID 1, which may reap it a little later.
live_inits() { ps -C sbx-init -o stat= | grep -vc '^Z' || true; }
# Leftovers of sandboxes on the host: cgroups, scratch mounts, sbx-init processes.
leftovers() {
	local n=0
	n=$((n + $(find /sys/fs/cgroup -maxdepth 8 -path '*/sbx/*' -type d 2>/dev/null | wc -l)))
	n=$((n + $(grep -c /run/sbx /proc/mounts)))
	n=$((n + $(live_inits)))
	echo "$n"
}

main() {
	if [ "${1:-}" = --list ]; then
		declare -F | awk '{print $3}' | sed -n 's/^t_//p'
		exit 0
	fi
	[ $# -eq 1 ] && declare -F "t_$1" >/dev/null || { echo "usage: $0 --list | CASE" >&2; exit 2; }
	"t_$1"
}
main "$@"
