#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The two cgroup backends: hybrid (this host) and pure cgroup v2.

# The cgroup directory of process $1 in the hierarchy mounted at $2 whose
# /proc/PID/cgroup line matches $3 (e.g. ":memory:" or "0::").
cgroup_of() {
	local rel
	rel=$(grep -F "$3" "/proc/$1/cgroup" | cut -d: -f3-)
	echo "$2$rel"
}

t_hybrid_limits_land_in_v1_and_identity_in_v2() {
	[ -d /sys/fs/cgroup/unified ] || skip "not a hybrid host"
	"$SBX" run --memory 96M --cpus 0.25 --pids 17 -- sleep 1.5151 &
	local p=$!
	sleep 0.6
	local w mem cpu pids v2
	w=$(pgrep -f 'sleep 1.5151' | while read -r q; do [ "$(cat /proc/$q/comm)" = sleep ] && echo $q; done | head -n1)
	[ -n "$w" ] || fail "workload not found"
	mem=$(cgroup_of "$w" /sys/fs/cgroup/memory :memory:)
	cpu=$(cgroup_of "$w" /sys/fs/cgroup/cpu :cpu:)
	pids=$(cgroup_of "$w" /sys/fs/cgroup/pids :pids:)
	v2=$(cgroup_of "$w" /sys/fs/cgroup/unified 0::)
	assert_eq "$(cat "$mem/memory.limit_in_bytes")" $((96 << 20)) "memory.limit_in_bytes"
	assert_eq "$(cat "$cpu/cpu.cfs_quota_us")/$(cat "$cpu/cpu.cfs_period_us")" "25000/100000" "cpu quota/period"
	assert_eq "$(cat "$pids/pids.max")" 17 "pids.max"
	assert_eq "$(wc -l <"$v2/cgroup.procs")" 2 "processes in the v2 cgroup (sbx-init, sleep)"
	assert_eq "$(cat "$mem/cgroup.procs" | sort)" "$(cat "$v2/cgroup.procs" | sort)" "v1 and v2 hold the same processes"
	# Nested under the launcher's own v1 cgroup, never at the v1 root.
	local own
	own=$(sed -n 's/^[0-9]*:memory://p' /proc/self/cgroup)
	assert_eq "$(dirname "$(dirname "$mem")")" "/sys/fs/cgroup/memory${own%/}" "memory cgroup parent"
	wait $p
	assert_eq "$?" 0 "exit"
	[ ! -d "$mem" ] && [ ! -d "$v2" ] || fail "cgroups left after exit"
}

# sbxd keeps four empty v1 cgroups per controller, which launches rename instead of
# making a memory cgroup (1 ms): a sandbox's cgroup from the pool holds its limit in
# the kernel, the pool is topped up, a stop removes it, and a daemon killed with
# SIGKILL has its pool replaced at the next start, not added to.
t_cgroup_pool() {
	[ -d /sys/fs/cgroup/unified ] || skip "not a hybrid host"
	start_sbxd
	assert_eq "$(inst_pool | wc -l)" 12 "four per controller (memory, cpu, pids)"
	local id pid mem
	id=$("$SBX" create --image base --memory 80M --pids 21) || fail create
	pid=$(jget "$(curl -s --unix-socket "$SBX_SOCKET" "http://x/v1/sandboxes/$id")" 'j["pid"]')
	mem=$(cgroup_of "$pid" /sys/fs/cgroup/memory ":memory:")
	assert_eq "$(basename "$mem")" "$id" "the sandbox's memory cgroup is named by its id"
	assert_eq "$(cat "$mem/memory.limit_in_bytes")" $((80 << 20)) "its memory limit"
	assert_eq "$(cat "$(cgroup_of "$pid" /sys/fs/cgroup/pids ":pids:")/pids.max")" 21 "pids.max"
	for _ in $(seq 100); do [ "$(inst_pool | wc -l)" = 12 ] && break; sleep 0.05; done
	assert_eq "$(inst_pool | wc -l)" 12 "the pool topped up"
	kill_sbxd
	start_sbxd
	assert_eq "$(inst_pool | wc -l)" 12 "a killed daemon's pool replaced, not added to"
	stop_sbxd
	assert_eq "$(inst_pool | wc -l)" 0 "a stopped daemon leaves no pool"
}

t_unified_backend() {
	# A private mount namespace where /sys/fs/cgroup is the cgroup2 hierarchy: sbx sees a
	# pure v2 host. Here it has no controllers, so limits must be refused clearly: the
	# defaults as well (a run is never without limits), and nothing is left behind.
	grep -q ' /sys/fs/cgroup/unified cgroup2 ' /proc/mounts || skip "no cgroup2 mount to stage a pure v2 layout"
	unshare -m bash -c '
		mount --make-rprivate / && mount --bind /sys/fs/cgroup/unified /sys/fs/cgroup || exit 99
		before=$(ls /sys/fs/cgroup/sbx | wc -l)
		"$0" run -- sh -c "grep ^0:: /proc/self/cgroup; exit 5"; echo "rc=$?"
		"$0" run --memory 64M -- true; echo "rc=$?"
		echo "left=$(($(ls /sys/fs/cgroup/sbx | wc -l) - before))"
	' "$SBX" >"$TMPD/o" 2>"$TMPD/e"
	assert_eq "$(cat "$TMPD/o")" $'rc=125\nrc=125\nleft=0' "refusals, leftovers"
	local msg="sbx run: this host's cgroup v2 does not delegate the memory, cpu or pids controller that --memory, --cpus or --pids (or their defaults) need"
	assert_eq "$(cat "$TMPD/e")" "$msg"$'\n'"$msg" "refusal message"
}

t_stale_cgroups_swept() {
	# What a SIGKILLed launcher leaves behind is removed by a later launch, once stale.
	local parent=/sys/fs/cgroup/$INST_CG
	[ -d /sys/fs/cgroup/unified ] && parent=/sys/fs/cgroup/unified/$INST_CG
	"$SBX" run -- true
	mkdir "$parent/deadbeef0001" "$parent/deadbeef0002"
	touch -d '2 min ago' "$parent/deadbeef0001"
	"$SBX" run -- true
	[ ! -d "$parent/deadbeef0001" ] || fail "stale empty cgroup not swept"
	[ -d "$parent/deadbeef0002" ] || fail "a fresh cgroup (a launch in progress) was swept"
	rmdir "$parent/deadbeef0002"
	# A SIGKILLed launcher: its sandbox dies with it, its cgroup is swept once stale.
	"$SBX" run -- sleep 30 &
	local p=$! cg
	sleep 0.5
	cg=$(basename "$(ls -td "$parent"/*/ | head -n1)")
	kill -KILL $p
	wait $p 2>/dev/null
	sleep 0.2
	[ -d "$parent/$cg" ] || fail "expected the killed launcher's cgroup $cg to remain for now"
	assert_eq "$(cat "$parent/$cg/cgroup.procs" | wc -l)" 0 "processes left in it"
	# Its v1 twins (pids, cpu, memory on a hybrid host) age and go the same way.
	local d
	for d in $(find /sys/fs/cgroup -maxdepth 8 -type d -path "*/$INST_CG/$cg"); do touch -d '2 min ago' "$d"; done
	"$SBX" run -- true
	[ ! -d "$parent/$cg" ] || fail "the killed launcher's cgroup was not swept"
	[ -z "$(find /sys/fs/cgroup -maxdepth 8 -type d -path "*/$INST_CG/$cg")" ] ||
		fail "its v1 cgroups were not swept: $(find /sys/fs/cgroup -maxdepth 8 -type d -path "*/$INST_CG/$cg")"
}

source "$(dirname "$0")/lib.sh"
