#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Teardown leaves nothing behind: cgroups, mounts and processes are counted on the
# host before and after many sandboxes.

count_state() {
	"$SBX" run -- true # sweeps stale leftovers of earlier runs first
	printf 'cgroups=%s mounts=%s procs=%s scratch=%s\n' \
		"$(inst_cgroups | wc -l)" \
		"$(wc -l </proc/mounts)" \
		"$(live_inits)" \
		"$(ls -A "$INST_RUN/scratch" 2>/dev/null | wc -l)"
}

t_sequential_100() {
	local before after
	before=$(count_state)
	for i in $(seq 100); do
		"$SBX" run --memory 64M --pids 32 --cpus 0.5 -- true || fail "run $i failed"
	done
	after=$(count_state)
	assert_eq "$after" "$before" "host state after 100 sequential runs"
}

t_concurrent_20() {
	local before after pids=() rc=0
	before=$(count_state)
	for i in $(seq 20); do
		"$SBX" run --memory 64M --pids 32 -- sh -c "sleep 0.3; exit $((i % 5))" &
		pids+=($!)
	done
	local i=1
	for p in "${pids[@]}"; do
		wait "$p"
		rc=$?
		assert_eq "$rc" $((i % 5)) "exit code of concurrent run $i"
		i=$((i + 1))
	done
	after=$(count_state)
	assert_eq "$after" "$before" "host state after 20 concurrent runs"
}

t_failures_leave_nothing() {
	local before after
	before=$(count_state)
	"$SBX" run --memory 64M --workdir /nonexistent -- true 2>/dev/null
	"$SBX" run --memory 64M --timeout 1s -- sleep 10 2>/dev/null
	"$SBX" run --memory 64M -- /no/such 2>/dev/null
	"$SBX" run --image host --memory 32M -- python3 -c 'bytearray(256 << 20)' 2>/dev/null
	after=$(count_state)
	assert_eq "$after" "$before" "host state after failed and killed runs"
}

# The sandbox's first process makes its network namespace: where the kernel refuses
# it (unshare fails with ENOSPC, as past user.max_net_namespaces), the launch fails at
# that step with one line naming it, and leaves nothing behind: no cgroup, process,
# scratch mount or host id range.
t_netns_refused_leaves_nothing() {
	local before after ids_before
	before=$(count_state)
	ids_before=$(ls /run/sbx/runtime/ids | wc -l)
	"$B/tests/helpers/refuse" unshare 28 "$SBX" run --memory 64M -- true \
		>/dev/null 2>"$TMPD/err" </dev/null
	RC=$?
	ERR=$(cat "$TMPD/err")
	assert_eq "$RC" 125 "exit status of a launch refused its network namespace"
	assert_contains "$ERR" "network namespace: No space left on device" "its error"
	assert_eq "$(printf '%s\n' "$ERR" | wc -l)" 1 "lines of its error"
	assert_eq "$(ls /run/sbx/runtime/ids | wc -l)" "$ids_before" "host id ranges held"
	after=$(count_state)
	assert_eq "$after" "$before" "host state after the refused launch"
}

source "$(dirname "$0")/lib.sh"
