# SPDX-License-Identifier: MIT
# Shared helpers for the shell integration tests. A test file defines functions named
# t_<case>, sources this file last, and is run by tests/run.sh as `FILE --list` or
# `FILE CASE`. Exit 0 = pass, 77 = skip (last line: the reason), other = fail.
set -u
B=${SBX_BUILD:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build}
SBX=$B/sbx
# What the instance the tests run as (tests/run.sh: SBX_INSTANCE) has on the host.
INST_CG=sbx${SBX_INSTANCE:+-$SBX_INSTANCE}
INST_PINS=/sys/fs/bpf/$INST_CG
INST_RUN=/run/sbx${SBX_INSTANCE:+/instance/$SBX_INSTANCE}
# inst_cgroups: this instance's sandbox cgroups, one directory a line.
# (Not the daemon's pool of empty cgroups, ".pool-*": test-cgroups checks it apart.)
inst_cgroups() { find /sys/fs/cgroup -maxdepth 8 -path "*/$INST_CG/*" -type d ! -name '.pool-*' 2>/dev/null; }
inst_pool() { find /sys/fs/cgroup -maxdepth 8 -path "*/$INST_CG/.pool-*" -type d 2>/dev/null; }
TMPD=$(mktemp -d /tmp/sbx-integ.XXXXXX)
trap 'rm -rf "$TMPD"' EXIT  # replaced below by cleanup(), which also stops sbxd

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
live_inits() {
	local n=0 p
	for p in $(ps -C sbx-init -o pid=,stat= | awk '$2 !~ /^Z/ { print $1 }'); do
		grep -q "/$INST_CG/" "/proc/$p/cgroup" 2>/dev/null && n=$((n + 1))
	done
	echo "$n"
}
# Leftovers of sandboxes on the host: cgroups, scratch mounts, sbx-init processes.
leftovers() {
	local n=0
	n=$((n + $(inst_cgroups | wc -l)))
	n=$((n + $(awk -v d="$INST_RUN/" '$2 != "/run/sbx/runtime" && index($2 "/", d) == 1' /proc/mounts | wc -l)))
	n=$((n + $(live_inits)))
	echo "$n"
}

# ---- sbxd: a daemon of the test's own, on a socket and state directory in $TMPD ----
SBXD_PID=
# start_sbxd [OPTIONS...]: starts sbxd (under $SBXD_WRAP, a command prefix, if set) and
# waits until it answers; sets SBX_SOCKET. Without networking (--no-net: the host's own
# network is left alone) unless SBXD_NET=1 (test-net.sh, in a namespace of its own).
start_sbxd() {
	export SBX_SOCKET=$TMPD/sbxd.sock
	local net=--no-net
	[ "${SBXD_NET:-}" = 1 ] && net=
	${SBXD_WRAP:-} "$B/sbxd" --socket "$SBX_SOCKET" --state-dir "$TMPD/state" --log-level debug $net "$@" \
		>>"$TMPD/sbxd.log" 2>&1 &
	SBXD_PID=$!
	for _ in $(seq 200); do
		curl -sf --unix-socket "$SBX_SOCKET" http://x/v1/health >/dev/null 2>&1 && return 0
		kill -0 "$SBXD_PID" 2>/dev/null || { cat "$TMPD/sbxd.log" >&2; fail "sbxd did not start"; }
		sleep 0.02
	done
	fail "sbxd did not answer"
}
# kill_sbxd: SIGKILLs the daemon, as a crash would; its sandboxes run on.
kill_sbxd() {
	kill -9 "$SBXD_PID"
	wait "$SBXD_PID" 2>/dev/null
	SBXD_PID=
}
# sbxd_rss: the daemon's resident memory, in KiB.
sbxd_rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$SBXD_PID/status"; }
# sbxd_port: the TCP port of a daemon started with --listen 127.0.0.1:0.
sbxd_port() {
	local p
	p=$(ss -ltnp 2>/dev/null | grep "pid=$SBXD_PID," | grep -o '127.0.0.1:[0-9]*' | head -n1 | cut -d: -f2)
	[ -n "$p" ] || fail "sbxd listens on no TCP port"
	echo "$p"
}
# tcp TOKEN METHOD PATH [CURL ARGS...]: a request over TCP to 127.0.0.1:$SBXD_PORT with
# TOKEN; sets CODE and BODY.
tcp() {
	local t=$1 m=$2 p=$3
	shift 3
	CODE=$(curl -s -o "$TMPD/tcp-body" -w '%{http_code}' -H "Authorization: Bearer $t" -X "$m" \
		"http://127.0.0.1:$SBXD_PORT$p" "$@")
	BODY=$(cat "$TMPD/tcp-body")
}
# need_criu: skips unless sbxd can checkpoint (says why).
need_criu() {
	local h
	h=$(curl -s --unix-socket "$SBX_SOCKET" http://x/v1/health)
	[ "$(jget "$h" 'j["features"]["checkpoint"]')" = True ] ||
		skip "checkpoints are off: $(jget "$h" 'j.get("checkpoint_off")') (tools/setup.sh installs CRIU)"
}
# wait_log ID TEXT [SECONDS]: until the sandbox's log holds TEXT.
wait_log() {
	for _ in $(seq $((${3:-10} * 20))); do
		[[ "$("$SBX" logs "$1" 2>/dev/null)" == *"$2"* ]] && return 0
		sleep 0.05
	done
	fail "sandbox $1: no '$2' in its log: $("$SBX" logs "$1" | tail -n 5)"
}
# wait_exit ID: until it has exited (30 s at most); prints its exit code.
wait_exit() {
	local s
	for _ in $(seq 600); do
		s=$(curl -s --unix-socket "$SBX_SOCKET" "http://x/v1/sandboxes/$1")
		if [ "$(jget "$s" 'j["state"]')" = exited ]; then
			jget "$s" 'j["exit_code"]'
			return 0
		fi
		sleep 0.05
	done
	fail "sandbox $1 did not exit"
}
# An images directory for sbxd with base, host and "helpers" (base plus the static test
# helpers in /t); pass it as --images. Prints its path.
sbxd_images() {
	local d=$TMPD/images
	if [ ! -d "$d" ]; then
		mkdir -p "$d"
		ln -s "$B/images/base" "$d/base"
		ln -s "$B/images/host" "$d/host"
		ln -s "$(helper_image)" "$d/helpers"
	fi
	echo "$d"
}
# usage ID EXPR: a Python expression over the sandbox's usage record j.
usage() { jget "$(curl -s --unix-socket "$SBX_SOCKET" "http://x/v1/sandboxes/$1/usage")" "$2"; }
# Removes every sandbox through the daemon, then stops it.
stop_sbxd() {
	[ -n "$SBXD_PID" ] || return 0
	local ids
	ids=$(curl -s --unix-socket "$SBX_SOCKET" http://x/v1/sandboxes |
		python3 -c 'import json,sys; [print(s["id"]) for s in json.load(sys.stdin)["sandboxes"]]' 2>/dev/null)
	for id in $ids; do "$SBX" rm "$id" >/dev/null 2>&1; done
	kill -TERM "$SBXD_PID" 2>/dev/null
	wait "$SBXD_PID" 2>/dev/null
	local rc=$?
	SBXD_PID=
	# A clean exit, also under the sanitizers (a leak or an error fails the case).
	if [ $rc != 0 ]; then
		tail -n 40 "$TMPD/sbxd.log" >&2
		fail "sbxd exited with status $rc"
	fi
}
cleanup() {
	# What a test file started besides sbxd (its case_cleanup), first.
	declare -F case_cleanup >/dev/null && case_cleanup
	# A case that killed its daemon leaves sandboxes: a last one takes them back and
	# stops them.
	if [ -z "$SBXD_PID" ] && [ -e "$TMPD/state/sbx.db" ]; then
		start_sbxd --kill-on-exit >/dev/null 2>&1
	fi
	stop_sbxd
	# A case that failed before unmounting what it mounted in $TMPD (a small disk).
	awk -v d="$TMPD/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
		while read -r m; do umount -l "$m"; done
	rm -rf "$TMPD"
}
trap cleanup EXIT
# api METHOD PATH [curl args...]: sets CODE and BODY.
api() {
	local m=$1 p=$2
	shift 2
	BODY=$(curl -s -o "$TMPD/body" -w '%{http_code}' --unix-socket "$SBX_SOCKET" -X "$m" "http://x$p" "$@")
	CODE=$BODY
	BODY=$(cat "$TMPD/body")
}
# rawhttp: stdin to sbxd's socket as is; what comes back (until it closes, or 1 s of quiet).
rawhttp() {
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read())
s.settimeout(1)
try:
    while True:
        d = s.recv(65536)
        if not d: break
        sys.stdout.buffer.write(d)
except socket.timeout: pass' "$SBX_SOCKET"
}
# jget JSON EXPR: a Python expression over j, printed.
jget() { python3 -c "import json,sys; j=json.loads(sys.argv[1]); v=($2); print(v)" "$1"; }

main() {
	if [ "${1:-}" = --list ]; then
		declare -F | awk '{print $3}' | sed -n 's/^t_//p'
		exit 0
	fi
	[ $# -eq 1 ] && declare -F "t_$1" >/dev/null || { echo "usage: $0 --list | CASE" >&2; exit 2; }
	"t_$1"
}
main "$@"
