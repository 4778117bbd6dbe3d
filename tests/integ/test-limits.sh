#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Resource limits and timeouts: a sandbox that breaks a limit is stopped, inside.

t_memory_hog_killed_inside() {
	# A concurrent sandbox must be unaffected by the hog.
	"$SBX" run --memory 64M -- sh -c 'sleep 2; echo neighbour-ok' >"$TMPD/nb" 2>&1 &
	local nb=$!
	run_sbx run --image host --memory 64M -- python3 -c '
b = []
for i in range(64):
    b.append(bytearray(8 << 20))
print("survived")'
	assert_eq "$RC" 137 "hog exit code (stderr: $ERR)"
	assert_not_contains "$OUT" "survived" "hog output"
	wait $nb
	assert_eq "$?" 0 "neighbour exit"
	assert_eq "$(cat "$TMPD/nb")" "neighbour-ok" "neighbour output"
	# The host is unaffected: this shell still runs, and so does a new sandbox.
	run_sbx run -- echo after
	assert_eq "$OUT" after "sandbox after the OOM"
}

t_memory_within_limit_ok() {
	run_sbx run --image host --memory 128M -- python3 -c 'b = bytearray(64 << 20); print(len(b) >> 20)'
	assert_eq "$RC" 0 "exit ($ERR)"
	assert_eq "$OUT" 64 "allocated MiB"
}

t_fork_bomb_stops_at_pids() {
	run_sbx run --pids 32 --timeout 20s -- sh -c '
(for i in $(seq 100); do sleep 3 & done)
set -- /proc/[0-9]*; echo $#'
	local n
	n=$(echo "$OUT" | tail -n1)
	[ "$n" -le 32 ] || fail "$n processes with --pids 32"
	[ "$n" -ge 20 ] || fail "only $n processes: the limit bit too early"
	assert_contains "$ERR" "can't fork" "fork failure is reported by the shell"
	# A real bomb ends when the timeout kills it, and the host survives.
	local before
	before=$(live_inits)
	run_sbx run --pids 64 --timeout 3s -- sh -c 'b() { b | b & }; b; while :; do :; done'
	assert_eq "$RC" 124 "fork bomb under --pids ends at the timeout"
	assert_eq "$(live_inits)" "$before" "sandbox processes left"
}

t_cpu_quota() {
	# 2 s of a busy loop at --cpus 0.2 gets about 0.4 s of CPU.
	run_sbx run --image host --cpus 0.2 -- python3 -c '
import time
t = time.monotonic(); c = time.process_time()
while time.monotonic() - t < 2.0: pass
print(round((time.process_time() - c) / 2.0, 3))'
	assert_eq "$RC" 0 "exit ($ERR)"
	python3 -c "import sys; f=float('$OUT'); sys.exit(0 if 0.12 <= f <= 0.30 else 1)" ||
		fail "CPU share with --cpus 0.2 was $OUT of a core"
	echo "share: $OUT"
}

t_timeout_kills_everything() {
	local t0 t1
	t0=$(date +%s%N)
	run_sbx run --timeout 1s -- sh -c 'sleep 4242 & sleep 4243 & (sleep 4244 &); sleep 4245'
	t1=$(date +%s%N)
	assert_eq "$RC" 124 "exit code"
	assert_contains "$ERR" "timed out after 1s" "message"
	local ms=$(((t1 - t0) / 1000000))
	[ $ms -lt 2500 ] || fail "took $ms ms for a 1 s timeout"
	sleep 0.2
	assert_eq "$(pgrep -c -f 'sleep 424[2-5]' || true)" 0 "sandbox processes after the timeout"
}

t_sigterm_reaches_workload() {
	"$SBX" run -- sh -c 'trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 0.05; done' >"$TMPD/o" 2>&1 &
	local p=$!
	for _ in $(seq 50); do grep -q ready "$TMPD/o" && break; sleep 0.1; done
	kill -TERM $p
	wait $p
	assert_eq "$?" 7 "exit code after SIGTERM"
	assert_eq "$(cat "$TMPD/o")" $'ready\ngot-term' "output"
	# An untrapped SIGINT ends the workload with 128+2.
	"$SBX" run -- sleep 30 &
	p=$!
	sleep 0.5
	kill -INT $p
	wait $p
	assert_eq "$?" 130 "exit code after SIGINT"
}

t_launcher_death_kills_sandbox() {
	"$SBX" run -- sleep 4321 &
	local p=$!
	sleep 0.5
	kill -KILL $p
	wait $p 2>/dev/null
	sleep 0.3
	assert_eq "$(pgrep -c -f 'sleep 4321' || true)" 0 "workload after sbx run was SIGKILLed"
	# Its cgroups stay until a later launch sweeps them (test-cgroups:stale_cgroups_swept);
	# remove them now so other tests count from a clean host.
	inst_cgroups | while read -r d; do
		[ -z "$(cat "$d/cgroup.procs" 2>/dev/null)" ] && rmdir "$d" 2>/dev/null
	done
	true
}

source "$(dirname "$0")/lib.sh"
