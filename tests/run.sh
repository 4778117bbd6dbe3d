#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The sbx test runner. Every test program answers `--list` with its case names and
# runs one case when given its name: exit 0 = pass, 77 = skip, anything else = fail.
# Each case runs in its own process with a timeout. With SBX_TEST_STRICT=1 a skip
# fails unless its reason starts with "hardware:" (this machine lacks the device).
# Usage: tests/run.sh [FILTER]   (FILTER: a substring of "program:case")
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
filter=${1:-${SBX_TEST_FILTER:-}}
timeout_s=${SBX_TEST_TIMEOUT:-180}
strict=${SBX_TEST_STRICT:-0}
export SBX_BUILD=$PWD/$B
# The tests' own sbx instance: their cgroups, pinned meter and run directory are apart
# from those of an sbxd serving on this host (SBX_INSTANCE= runs them as the default).
export SBX_INSTANCE=${SBX_INSTANCE-test}
log=$B/test-logs
rm -rf "$log" && mkdir -p "$log"

progs=()
for p in "$B"/tests/test-* tests/integ/test-*.sh "$B"/tests/fuzz-*-replay; do
	[ -x "$p" ] || [ "${p##*.}" = sh ] || continue
	[ -e "$p" ] && progs+=("$p")
done

# After a case that failed or ran out of time: what it left of its sandboxes on the host
# (a hung launch's copies, say) would fail every later case that counts them. Their
# processes are killed through cgroup.kill and their cgroups (with the pool of empty
# ones of a daemon killed with the case) and scratch mounts removed, so that one failure
# stays one. Only for a named instance of the tests' own (tests run as the default one
# may share the host with a daemon serving it); the case's log lists what was swept, the
# runner's output what could not be.
inst_cg=sbx-${SBX_INSTANCE:-}
inst_run=/run/sbx/instance/${SBX_INSTANCE:-}
swept_cgroups() { find /sys/fs/cgroup -maxdepth 8 -path "*/$inst_cg/*" -type d 2>/dev/null; }
swept_mounts() {
	awk -v s="$inst_run/scratch/" -v l="$inst_run/layers/" \
		'index($2, s) == 1 || index($2, l) == 1 { print $2 }' /proc/mounts
}
sweep() {
	local log=$1 cgs mnts d busy left
	[[ "${SBX_INSTANCE:-}" =~ ^[a-z0-9_-]{1,16}$ ]] || return 0
	mapfile -t cgs < <(swept_cgroups)
	mapfile -t mnts < <(swept_mounts)
	[ ${#cgs[@]} -gt 0 ] || [ ${#mnts[@]} -gt 0 ] || return 0
	for d in "${cgs[@]}"; do [ -e "$d/cgroup.kill" ] && echo 1 >"$d/cgroup.kill" 2>/dev/null; done
	for _ in $(seq 50); do
		busy=0
		for d in "${cgs[@]}"; do [ -z "$(cat "$d/cgroup.procs" 2>/dev/null)" ] || busy=1; done
		[ $busy -eq 0 ] && break
		sleep 0.1
	done
	# Deepest first: a cgroup goes only once its children have.
	printf '%s\n' "${cgs[@]}" | awk -F/ '{ print NF, $0 }' | sort -rn | cut -d' ' -f2- |
		while read -r d; do [ -z "$d" ] || rmdir "$d" 2>/dev/null; done
	printf '%s\n' "${mnts[@]}" | sort -r | while read -r d; do [ -z "$d" ] || umount -l "$d" 2>/dev/null; done
	{
		echo "--- swept by tests/run.sh: ${#cgs[@]} cgroups, ${#mnts[@]} mounts"
		printf '%s\n' "${cgs[@]}" "${mnts[@]}"
	} >>"$log"
	left=$(($(swept_cgroups | wc -l) + $(swept_mounts | wc -l)))
	printf '    swept what the case left: %d cgroups, %d mounts (%d still there)\n' \
		"${#cgs[@]}" "${#mnts[@]}" "$left"
}

pass=0 fail=0 skip=0 failed=()
start_all=$(date +%s)
for p in "${progs[@]}"; do
	name=$(basename "$p" .sh)
	if [ "${p##*.}" = sh ]; then runner=(bash "$p"); else runner=("$p"); fi
	cases=$("${runner[@]}" --list 2>/dev/null) || { echo "FAIL $name: --list failed"; fail=$((fail + 1)); failed+=("$name"); continue; }
	for c in $cases; do
		id="$name:$c"
		[ -n "$filter" ] && [[ "$id" != *"$filter"* ]] && continue
		out="$log/$name.$c.log"
		t0=$(date +%s%N)
		timeout -k 5 "$timeout_s" "${runner[@]}" "$c" >"$out" 2>&1 </dev/null
		rc=$?
		ms=$((($(date +%s%N) - t0) / 1000000))
		if [ $rc -eq 0 ]; then
			pass=$((pass + 1))
			printf 'PASS %s (%d ms)\n' "$id" "$ms"
		elif [ $rc -eq 77 ]; then
			reason=$(tail -n 1 "$out")
			if [ "$strict" = 1 ] && [[ "$reason" != hardware:* ]]; then
				fail=$((fail + 1)) failed+=("$id")
				printf 'FAIL %s (skipped in strict mode: %s)\n' "$id" "$reason"
			else
				skip=$((skip + 1))
				printf 'SKIP %s (%s)\n' "$id" "$reason"
			fi
		else
			fail=$((fail + 1)) failed+=("$id")
			[ $rc -eq 124 ] && printf 'FAIL %s (timed out after %ss)\n' "$id" "$timeout_s" ||
				printf 'FAIL %s (exit %d, %d ms)\n' "$id" "$rc" "$ms"
			sed 's/^/    | /' "$out" | tail -n 25
			sweep "$out"
		fi
	done
done
echo
echo "tests took $(($(date +%s) - start_all)) s; logs in $log/"
[ ${#failed[@]} -gt 0 ] && printf 'failed: %s\n' "${failed[@]}"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
