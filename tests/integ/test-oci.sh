#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# sbx-oci under a real containerd (Debian's, started by each case with a root, state and
# socket of its own in $TMPD): `ctr run` with containerd's runc shim pointed at sbx-oci
# (--runc-binary), the kernel's view of what it made, and sbxd's metering of it.

B=${SBX_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}
OCI=$B/sbx-oci
NS=sbxtest$$ # containerd namespace: the shim keeps runtime state in /run/containerd/runc/$NS
IMG=docker.io/sbx/helpers:latest
CTD_PID=

need_containerd() {
	command -v containerd >/dev/null && command -v ctr >/dev/null &&
		command -v containerd-shim-runc-v2 >/dev/null ||
		skip "containerd is not installed (tools/setup.sh installs it)"
}

# start_containerd: a containerd of the case's own (CRI off), the helper image imported.
start_containerd() {
	need_containerd
	mkdir -p "$TMPD/ctd"
	cat >"$TMPD/ctd/config.toml" <<EOF
version = 2
root = "$TMPD/ctd/root"
state = "$TMPD/ctd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$TMPD/ctd/ctd.sock"
[ttrpc]
  address = "$TMPD/ctd/ctd.sock.ttrpc"
EOF
	# CTD_CGROUPS: cgroup.procs files containerd (and so its shims) starts in.
	sh -c 'for f in $CTD_CGROUPS; do echo $$ >"$f"; done; exec "$@"' containerd \
		containerd --config "$TMPD/ctd/config.toml" >>"$TMPD/ctd/log" 2>&1 &
	CTD_PID=$!
	for _ in $(seq 200); do
		ctr --address "$TMPD/ctd/ctd.sock" version >/dev/null 2>&1 && break
		kill -0 "$CTD_PID" 2>/dev/null || fail "containerd did not start: $(tail -n 5 "$TMPD/ctd/log")"
		sleep 0.05
	done
	[ -e "$TMPD/helpers.tar" ] ||
		python3 "$(dirname "$0")/../oci/mkimage.py" "$(helper_image)" "$TMPD/helpers.tar" "$IMG" ||
		fail "mkimage"
	c images import "$TMPD/helpers.tar" >/dev/null || fail "ctr images import"
}
c() { ctr --address "$TMPD/ctd/ctd.sock" -n "$NS" "$@"; }
# crun_ NAME ARGS...: ctr run (detached unless --rm is given) with sbx-oci as runtime.
crun_() { c run --runc-binary "$OCI" "$@"; }
task_pid() { c task ls | awk -v id="$1" '$1 == id { print $2 }'; }
task_status() { c task ls | awk -v id="$1" '$1 == id { print $3 }'; }
# The v2 directory this instance's sandbox cgroups are made in (sbxd's, the test's).
inst_parent_v2() {
	local own
	own=$(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup)
	[ "$own" = / ] && own=
	if [ -d /sys/fs/cgroup/unified ]; then echo "/sys/fs/cgroup/unified$own/$INST_CG"; else echo "/sys/fs/cgroup/$INST_CG"; fi
}
# v2 cgroup directory of a container, from its record.
oci_cgroup() { jget "$(cat "/run/containerd/runc/$NS/$1/state.json")" 'j["cgroup"]["v2"]'; }

# assert_memory_limit ID BYTES WHAT: the kernel's memory limit of a container (its v1
# memory cgroup on a hybrid host, else its v2 one).
assert_memory_limit() {
	local mem
	mem=$(jget "$(cat "/run/containerd/runc/$NS/$1/state.json")" 'j["cgroup"]["v1"][0] or j["cgroup"]["v2"]')
	if [ -e "$mem/memory.limit_in_bytes" ]; then
		assert_eq "$(cat "$mem/memory.limit_in_bytes")" "$2" "$3"
	else
		assert_eq "$(cat "$mem/memory.max")" "$2" "$3"
	fi
}

# Every container gone, then containerd; nothing of either is left.
stop_containerd() {
	[ -n "$CTD_PID" ] || return 0
	local id
	for id in $(c task ls -q 2>/dev/null); do
		c task kill -s KILL "$id" >/dev/null 2>&1
		for _ in $(seq 100); do [ "$(task_status "$id")" = STOPPED ] && break; sleep 0.02; done
		c task delete "$id" >/dev/null 2>&1
	done
	for id in $(c containers ls -q 2>/dev/null); do c containers rm "$id" >/dev/null 2>&1; done
	c images rm "$IMG" >/dev/null 2>&1
	kill "$CTD_PID" 2>/dev/null
	wait "$CTD_PID" 2>/dev/null
	CTD_PID=
	pkill -f "containerd-shim-runc-v2 -namespace $NS " 2>/dev/null
	rmdir "/run/containerd/runc/$NS" 2>/dev/null
}
CTD_CG_DIRS= # cgroups a case made for containerd: removed once it is gone
case_cleanup() {
	stop_containerd
	local c
	for c in $(ls "$TMPD/ocir" 2>/dev/null); do "$OCI" --root "$TMPD/ocir" delete -f "$c" >/dev/null 2>&1; done
	local d
	for d in $CTD_CG_DIRS; do
		[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
	return 0
}

# no_leftovers: no container's processes, cgroups, runtime state or spool left.
no_leftovers() {
	stop_containerd
	[ ! -e "/run/containerd/runc/$NS" ] || fail "runtime state left: $(ls "/run/containerd/runc/$NS")"
	[ -z "$(inst_cgroups)" ] || fail "cgroups left: $(inst_cgroups)"
	assert_eq "$(live_inits)" 0 "sbx-init processes left"
	# Records of containers (sbxd.cgroup is sbxd's own).
	[ -z "$(ls "$TMPD/oci" 2>/dev/null | grep '\.json$')" ] || fail "spool left: $(ls "$TMPD/oci")"
	awk -v d="$TMPD/ctd" 'index($5, d) == 1' /proc/self/mountinfo | grep -q . &&
		fail "mounts left: $(awk -v d="$TMPD/ctd" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo)"
	return 0
}

t_run_to_exit() {
	start_sbxd
	start_containerd
	OUT=$(crun_ --rm "$IMG" r1 sh -c 'echo out; echo err >&2; exit 7' 2>&1)
	assert_eq "$?" 7 "ctr run's exit status"
	assert_contains "$OUT" out "stdout"
	assert_contains "$OUT" err "stderr"
	# Killed by a signal: 128+N, as runc's containers.
	crun_ --rm "$IMG" r2 sh -c 'kill -KILL $$'
	assert_eq "$?" 137 "killed by SIGKILL"
	# The process runs as PID 2 under sbx-init, in namespaces of its own.
	OUT=$(crun_ --rm "$IMG" r3 sh -c 'echo $$; ls /proc | grep -c "^[0-9]"; readlink /proc/self/ns/pid')
	assert_eq "$(echo "$OUT" | head -n 1)" 2 "its pid"
	[ "$(echo "$OUT" | sed -n 2p)" -le 4 ] || fail "it sees host processes: $OUT"
	[ "$(echo "$OUT" | sed -n 3p)" != "$(readlink /proc/self/ns/pid)" ] || fail "the host's pid namespace"
	no_leftovers
}

t_exec_with_and_without_tty() {
	start_sbxd
	start_containerd
	crun_ -d "$IMG" e1 sleep 600 || fail "ctr run -d"
	OUT=$(c task exec --exec-id x1 e1 sh -c 'echo in $(cat /proc/1/cmdline | tr "\0" " "); exit 5')
	assert_eq "$?" 5 "exec's exit status"
	assert_contains "$OUT" "in sbx-init" "exec sees the container's PID 1"
	# Its process is in the container's cgroup while it runs.
	c task exec --exec-id x2 e1 sleep 30 &
	local bg=$! p=
	for _ in $(seq 100); do
		p=$(grep -l "^sleep" /proc/[0-9]*/comm 2>/dev/null | while read -r f; do d=${f%/comm}; grep -q "/$INST_CG/" "$d/cgroup" && [ "$(tr '\0' ' ' <"$d/cmdline")" = "sleep 30 " ] && echo "${d#/proc/}"; done | head -n1)
		[ -n "$p" ] && break
		sleep 0.05
	done
	[ -n "$p" ] || fail "the exec'd process is not in the container's cgroup"
	grep -q "$(oci_cgroup e1 | sed 's|/sys/fs/cgroup/unified||; s|/sys/fs/cgroup||')" "/proc/$p/cgroup" ||
		fail "exec'd process $p: $(cat "/proc/$p/cgroup")"
	[ "$(readlink "/proc/$p/ns/pid")" = "$(readlink "/proc/$(task_pid e1)/ns/pid")" ] ||
		fail "exec'd process not in the container's pid namespace"
	[ "$(awk '/^Uid:/ { print $2 }' "/proc/$p/status")" != 0 ] || fail "exec'd process is the host's root"
	kill "$bg" 2>/dev/null
	# A terminal: a pty of the container's own devpts.
	command -v script >/dev/null || skip "script(1) is not installed"
	OUT=$(script -qec "ctr --address $TMPD/ctd/ctd.sock -n $NS task exec -t --exec-id x3 e1 sh -c 'tty; exit 6'" /dev/null </dev/null)
	assert_eq "$?" 6 "exec -t's exit status"
	assert_contains "$OUT" "/dev/pts/0" "exec -t's terminal"
	# A missing executable fails the exec, by name.
	OUT=$(c task exec --exec-id x4 e1 /no/such 2>&1)
	[ $? != 0 ] || fail "exec of a missing file succeeded"
	assert_contains "$OUT" "/no/such" "the error names it"
	# runc's --user: UID[:GID] (the group 0 when not given); anything else refused.
	OUT=$("$OCI" --root "/run/containerd/runc/$NS" exec --user 1000 e1 id 2>&1)
	assert_contains "$OUT" "uid=1000(sandbox) gid=0(root)" "exec --user 1000"
	for u in abc 1000:x -1 70000 "1:2:3"; do
		OUT=$("$OCI" --root "/run/containerd/runc/$NS" exec --user "$u" e1 id 2>&1)
		[ $? != 0 ] || fail "exec --user $u ran: $OUT"
		assert_contains "$OUT" "--user $u" "the error names it"
	done
	# run -t: the container's own process on a terminal.
	OUT=$(script -qec "ctr --address $TMPD/ctd/ctd.sock -n $NS run --rm -t --runc-binary $OCI $IMG t1 sh -c 'tty; exit 3'" /dev/null </dev/null)
	assert_eq "$?" 3 "run -t's exit status"
	assert_contains "$OUT" "/dev/pts/0" "run -t's terminal"
	no_leftovers
}

t_kill_pause_resume_metrics_delete() {
	start_sbxd
	start_containerd
	crun_ -d "$IMG" k1 sh -c 'trap "exit 42" TERM; while :; do sleep 0.1; done' || fail "ctr run -d"
	local cg
	cg=$(oci_cgroup k1)
	c task pause k1 || fail "pause"
	assert_eq "$(task_status k1)" PAUSED "status after pause"
	grep -q "^frozen 1" "$cg/cgroup.events" || fail "pause did not freeze the cgroup: $(cat "$cg/cgroup.events")"
	c task resume k1 || fail "resume"
	assert_eq "$(task_status k1)" RUNNING "status after resume"
	grep -q "^frozen 0" "$cg/cgroup.events" || fail "resume did not thaw the cgroup"
	OUT=$(c task metrics k1)
	assert_contains "$OUT" "memory.limit_in_bytes    536870912" "the default memory limit, read by the shim"
	assert_contains "$OUT" "pids.limit               512" "the default pids limit"
	local acct
	acct=$(echo "$OUT" | awk '$1 == "cpuacct.usage" { print $2 }')
	[ -n "$acct" ] && [ "$acct" -lt 600000000000 ] || fail "cpuacct is the container's, not the host's: $acct"
	OUT=$(c task ps k1)
	[ "$(echo "$OUT" | tail -n +2 | wc -l)" -ge 2 ] || fail "task ps: $OUT"
	# The shim's kill: SIGTERM reaches the workload, which chooses its exit.
	c task kill k1 || fail "kill"
	for _ in $(seq 100); do [ "$(task_status k1)" = STOPPED ] && break; sleep 0.05; done
	assert_eq "$(task_status k1)" STOPPED "after kill"
	OUT=$(c task delete k1 2>&1)
	assert_contains "$OUT" "42" "its exit status"
	[ ! -e "$cg" ] || fail "delete left its cgroup"
	[ ! -e "/run/containerd/runc/$NS/k1" ] || fail "delete left its state"
	no_leftovers
}

t_limits_enforced() {
	start_sbxd
	start_containerd
	# Memory: 32 MiB from the bundle; 64 MiB asked for is OOM-killed.
	crun_ --rm --memory-limit 33554432 "$IMG" m1 sh -c 'x=$(head -c 67108864 /dev/zero | tr "\0" a); echo survived'
	local rc=$?
	[ $rc = 137 ] || fail "64 MiB in a 32 MiB container: exit $rc, not 137"
	crun_ -d --memory-limit 33554432 "$IMG" m2 sleep 60 || fail "run"
	local v1
	v1=$(jget "$(cat "/run/containerd/runc/$NS/m2/state.json")" 'j["cgroup"]["v1"][0] or j["cgroup"]["v2"]')
	assert_memory_limit m2 33554432 "the kernel's memory limit"
	# Updated on the live container (runc's update, as containerd's Update calls it).
	echo '{"memory": {"limit": 67108864}, "cpu": {"quota": 50000, "period": 100000}}' |
		"$OCI" --root "/run/containerd/runc/$NS" update --resources - m2 || fail "update"
	if [ -e "$v1/memory.limit_in_bytes" ]; then
		assert_eq "$(cat "$v1/memory.limit_in_bytes")" 67108864 "memory after update"
	fi
	local cpu
	cpu=$(jget "$(cat "/run/containerd/runc/$NS/m2/state.json")" 'j["cgroup"]["v1"][1] or j["cgroup"]["v2"]')
	if [ -e "$cpu/cpu.cfs_quota_us" ]; then
		assert_eq "$(cat "$cpu/cpu.cfs_quota_us")" 50000 "CPU quota after update"
	else
		assert_eq "$(cat "$cpu/cpu.max")" "50000 100000" "CPU quota after update"
	fi
	OUT=$(echo '{"blockIO": {"weight": 10}}' | "$OCI" --root "/run/containerd/runc/$NS" update --resources - m2 2>&1)
	[ $? != 0 ] || fail "an update of block I/O was accepted"
	assert_contains "$OUT" "blockIO" "the refused update names its field"
	# Pids: a bundle of sbx-oci's own (ctr has no flag for it), fork until refused.
	local bundle=$TMPD/pids
	mkdir -p "$bundle"
	ln -s "$(helper_image)/rootfs" "$bundle/rootfs"
	python3 - "$bundle" <<'EOF' || fail "bundle"
import json, sys
d = sys.argv[1]
c = {"ociVersion": "1.0.2", "root": {"path": "rootfs", "readonly": True},
     "process": {"args": ["sh", "-c", "for i in $(seq 40); do sleep 5 & done 2>&1 | tail -n 1; wait; echo done"],
                 "env": ["PATH=/bin:/usr/bin"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
     "linux": {"namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
               "resources": {"pids": {"limit": 16}}}}
json.dump(c, open(d + "/config.json", "w"))
EOF
	OUT=$(timeout 60 "$OCI" --root "$TMPD/ocir" run --bundle "$bundle" p1 2>&1)
	assert_contains "$OUT" "Resource temporarily unavailable" "forking past pids.limit 16"
	"$OCI" --root "$TMPD/ocir" delete -f p1 >/dev/null 2>&1
	no_leftovers
}

# The isolation probes of sbx's own sandboxes, inside an OCI container.
t_isolation_probes() {
	start_sbxd
	start_containerd
	OUT=$(crun_ --rm "$IMG" i1 sh -c '
		/t/whoami
		mount -t tmpfs x /mnt 2>&1 | head -n1
		cat /proc/kcore 2>&1 | head -c 20; echo
		ls /dev | tr "\n" " "; echo
		cat /proc/1/environ >/dev/null 2>&1 && echo environ-readable || echo environ-closed
		grep NoNewPrivs /proc/self/status
		grep Seccomp: /proc/self/status
		echo x > /proc/sys/kernel/hostname 2>&1 | head -n1
		ls /sys/fs/cgroup | head -n 3 | tr "\n" " "; echo
		/t/syscall-probe 2>&1 | tail -n 3' 2>&1)
	assert_contains "$OUT" "uid=0 euid=0" "root of its own user namespace"
	assert_contains "$OUT" "permission denied" "mount refused"
	assert_not_contains "$OUT" "ELF" "/proc/kcore masked"
	assert_not_contains "$OUT" "sda" "no host disks in /dev"
	assert_contains "$OUT" "environ-closed" "PID 1's environment"
	assert_contains "$OUT" "NoNewPrivs:	1" "no_new_privs"
	assert_contains "$OUT" "Seccomp:	2" "seccomp filter"
	assert_contains "$OUT" "Read-only file system" "/proc/sys read-only"
	# Host side: its processes run as a host id of a range of its own, never root.
	crun_ -d "$IMG" i2 sleep 60 || fail "run"
	local p uid
	p=$(task_pid i2)
	uid=$(awk '/^Uid:/ { print $2 }' "/proc/$p/status")
	[ "$uid" -ge 100000 ] || fail "container PID 1 runs as host uid $uid"
	[ "$(readlink "/proc/$p/ns/user")" != "$(readlink /proc/self/ns/user)" ] || fail "the host's user namespace"
	[ "$(readlink "/proc/$p/ns/net")" != "$(readlink /proc/self/ns/net)" ] || fail "the host's network namespace"
	no_leftovers
}

t_unsupported_field_refused() {
	local bundle=$TMPD/bad
	mkdir -p "$bundle"
	ln -s "$B/images/base/rootfs" "$bundle/rootfs"
	for field in 'hooks={"prestart":[{"path":"/bin/true"}]}' \
		'linux.sysctl={"net.ipv4.ip_forward":"1"}' \
		'linux.uidMappings=[{"containerID":0,"hostID":1000,"size":1}]' \
		'linux.resources.blockIO={"weight":10}' 'process.apparmorProfile="x"' \
		'linux.newThing=1'; do
		python3 - "$bundle" "$field" <<'EOF' || fail "bundle"
import json, sys
d, f = sys.argv[1], sys.argv[2]
key, val = f.split("=", 1)
c = {"ociVersion": "1.0.2", "root": {"path": "rootfs"},
     "process": {"args": ["true"], "cwd": "/", "env": []},
     "linux": {"namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]}}
o = c
parts = key.split(".")
for p in parts[:-1]:
    o = o.setdefault(p, {})
o[parts[-1]] = json.loads(val)
json.dump(c, open(d + "/config.json", "w"))
EOF
		OUT=$("$OCI" --root "$TMPD/ocir" create --bundle "$bundle" bad 2>&1)
		[ $? != 0 ] || fail "$field: accepted"
		assert_contains "$OUT" "${field%%=*}" "the error names the field"
		assert_eq "$(echo "$OUT" | wc -l)" 1 "one line"
		[ ! -e "$TMPD/ocir/bad" ] || fail "$field: state left"
		[ -z "$(inst_cgroups)" ] || fail "$field: cgroups left"
	done
	# Through containerd too: a privileged container (every host device) is refused, and
	# the shim says why.
	start_sbxd
	start_containerd
	OUT=$(crun_ --rm --privileged "$IMG" s1 true 2>&1)
	[ $? != 0 ] || fail "a privileged container ran"
	assert_contains "$OUT" "config: linux.devices" "ctr's error"
	no_leftovers
}

# sbxd's view: registered with labels from annotations, metered, billed, with the
# Kubernetes namespace as tenant; a running container cannot be changed through /v1.
t_metered_and_billed() {
	start_sbxd
	start_containerd
	crun_ -d --annotation io.kubernetes.pod.namespace=alice --annotation io.kubernetes.pod.name=web-1 \
		--annotation team=search "$IMG" w1 sh -c 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); : > /tmp/x; done; sleep 600' ||
		fail "run"
	local id
	api GET /v1/sandboxes
	id=$(jget "$BODY" '[s["id"] for s in j["sandboxes"] if s.get("container_id") == "w1"][0]')
	api GET "/v1/sandboxes/$id"
	assert_eq "$(jget "$BODY" 'j["tenant"]')" alice "tenant from the pod's namespace"
	assert_eq "$(jget "$BODY" 'j["labels"]["io.kubernetes.pod.name"]')" web-1 "label from an annotation"
	assert_eq "$(jget "$BODY" 'j["labels"]["team"]')" search "any annotation"
	assert_eq "$(jget "$BODY" 'j["pid"]')" "$(task_pid w1)" "its PID 1"
	for _ in $(seq 100); do
		[ "$(usage "$id" 'j["syscalls"].get("openat", 0) >= 20000')" = True ] && break
		sleep 0.1
	done
	assert_eq "$(usage "$id" 'j["syscalls"].get("openat", 0) >= 20000')" True "its syscalls counted by the meter"
	[ "$(usage "$id" 'j["cpu_ns"]')" -gt 0 ] || fail "its CPU"
	curl -s --unix-socket "$SBX_SOCKET" http://x/metrics | grep -q "sandbox=\"$id\"" || fail "no /metrics series"
	# containerd's CRI key wins over the pod annotation.
	crun_ --rm --annotation io.kubernetes.cri.sandbox-namespace=bob --annotation io.kubernetes.pod.namespace=alice \
		"$IMG" w2 true || fail "run w2"
	api GET /v1/sandboxes
	assert_eq "$(jget "$BODY" '[s["tenant"] for s in j["sandboxes"] if s.get("container_id") == "w2"]')" "['bob']" "tenant from the CRI's key"
	api DELETE "/v1/sandboxes/$id"
	assert_eq "$CODE" 409 "DELETE of a running container through /v1 ($BODY)"
	api POST "/v1/sandboxes/$id/exec" -d '{"cmd":["true"]}'
	assert_eq "$CODE" 409 "exec through /v1"
	# A tenant cannot register containers.
	local tok
	tok=$("$B/sbxd" tenant add carol --state-dir "$TMPD/state")
	CODE=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SBX_SOCKET" -H "Authorization: Bearer $tok" -X POST http://x/v1/oci/containers -d '{}')
	assert_eq "$CODE" 404 "a tenant's registration"
	c task kill -s KILL w1
	for _ in $(seq 100); do [ "$(task_status w1)" = STOPPED ] && break; sleep 0.05; done
	c task delete w1 >/dev/null
	api GET "/v1/sandboxes/$id"
	assert_eq "$(jget "$BODY" 'j["state"]')" exited "after ctr task delete"
	OUT=$(SBX_SOCKET=$SBX_SOCKET "$SBX" bill --format json)
	# One row per ledger window it ran in (two when it crossed a minute's boundary),
	# each labelled and the tenant's.
	assert_eq "$(jget "$OUT" "[(r['labels'].get('sbx.oci.container'), r['tenant']) for r in j['rows'] if r['sandbox'] == '$id' and r['sku'] == 'cpu-core-second'][:1]")" \
		"[('w1', 'alice')]" "its CPU ledger row, labelled"
	assert_eq "$(jget "$OUT" "all(r['labels'].get('sbx.oci.container') == 'w1' and r['tenant'] == 'alice' for r in j['rows'] if r['sandbox'] == '$id')")" \
		True "its every ledger row, labelled"
	no_leftovers
}

# sbxd killed and restarted while containers run; containers made and deleted while it
# is away: nothing lost.
t_sbxd_restart() {
	start_sbxd
	start_containerd
	crun_ -d "$IMG" a1 sh -c 'while :; do : > /tmp/x; sleep 0.01; done' || fail "run a1"
	local a1
	api GET /v1/sandboxes
	a1=$(jget "$BODY" '[s["id"] for s in j["sandboxes"] if s.get("container_id") == "a1"][0]')
	local before
	before=$(usage "$a1" 'j["syscalls_total"]')
	kill_sbxd
	# Made, and another deleted, while sbxd is away.
	crun_ -d "$IMG" a2 sleep 600 || fail "run a2 without sbxd"
	crun_ -d "$IMG" a3 sh -c 'i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; sleep 600' || fail "run a3"
	sleep 1
	c task kill -s KILL a3
	for _ in $(seq 100); do [ "$(task_status a3)" = STOPPED ] && break; sleep 0.05; done
	c task delete a3 >/dev/null || fail "delete a3 without sbxd"
	sleep 1
	start_sbxd
	api GET /v1/sandboxes
	local ids
	ids=$(jget "$BODY" '" ".join(sorted(s.get("container_id", "") + ":" + s["state"] for s in j["sandboxes"]))')
	assert_eq "$ids" "a1:running a2:running a3:exited" "containers after sbxd's restart"
	# a1 was counted throughout.
	[ "$(usage "$a1" 'j["syscalls_total"]')" -gt "$before" ] || fail "a1's counters did not go on"
	local a3
	a3=$(jget "$BODY" '[s["id"] for s in j["sandboxes"] if s.get("container_id") == "a3"][0]')
	[ "$(usage "$a3" 'j["cpu_ns"]')" -gt 10000000 ] || fail "a3's CPU, told after its end: $(usage "$a3" 'j["cpu_ns"]')"
	no_leftovers
}

# A pod's shape: a first container makes the network, ipc and uts namespaces, the next
# joins them by path (as the CRI's containers join the pause container's), with ctr's
# default /sys and /dev/mqueue mounts made in them.
t_pod_namespaces() {
	start_sbxd
	start_containerd
	crun_ -d "$IMG" pause sh -c 'nc -l -p 7000 -e echo hello-from-pause 2>/dev/null || sleep 600' || fail "run pause"
	local p net host
	p=$(task_pid pause)
	net=$(readlink "/proc/$p/ns/net")
	host=$(c task exec --exec-id h pause hostname)
	OUT=$(crun_ --rm --with-ns "network:/proc/$p/ns/net" --with-ns "ipc:/proc/$p/ns/ipc" \
		--with-ns "uts:/proc/$p/ns/uts" "$IMG" app sh -c 'readlink /proc/self/ns/net; hostname; ls -d /sys/class/net/lo; grep -c " /dev/mqueue mqueue " /proc/mounts; sleep 0.3; nc 127.0.0.1 7000 </dev/null' 2>&1)
	assert_eq "$?" 0 "the joining container ($OUT)"
	assert_eq "$(echo "$OUT" | head -n 1)" "$net" "its network namespace"
	assert_eq "$(echo "$OUT" | sed -n 2p)" "$host" "its uts namespace"
	assert_contains "$OUT" "/sys/class/net/lo" "sysfs of the joined network namespace"
	assert_contains "$OUT" "hello-from-pause" "the first container's loopback"
	no_leftovers
}

# Each row of the runtime-spec table in docs/oci.md, tested; the table is the one the
# test's rows print.
t_spec_fields() {
	start_sbxd
	local fields
	fields=$(dirname "$0")/../oci/fields.py
	python3 "$fields" "$OCI" "$B/images/base/rootfs" "$TMPD/fields" || fail "a row does not hold"
	diff <(python3 "$fields" --table) <(sed -n '/^| Field /,/^$/p' "$(dirname "$0")/../../docs/oci.md" | sed '/^$/d') ||
		fail "docs/oci.md's table is not the tested one (python3 tests/oci/fields.py --table)"
	no_leftovers
}

# containerd in cgroups of its own (systemd's units are): sbx-oci still puts its
# containers' cgroups beside sbxd's sandboxes' (sbxd publishes where), so that the meter
# counts their network traffic and syscalls.
t_cgroups_beside_sbxd() {
	start_sbxd
	local v2 mem
	v2=/sys/fs/cgroup/unified/ctd-$NS
	[ -d /sys/fs/cgroup/unified ] || v2=/sys/fs/cgroup/ctd-$NS
	mem=
	[ -d /sys/fs/cgroup/memory ] && mem=/sys/fs/cgroup/memory$(awk -F: '$2 == "memory" { print $3 }' /proc/self/cgroup)/ctd-$NS
	mkdir -p "$v2" $mem
	CTD_CG_DIRS="$v2 $mem"
	CTD_CGROUPS="$v2/cgroup.procs${mem:+ $mem/cgroup.procs}" start_containerd
	crun_ -d "$IMG" n1 sh -c 'nc -l -p 7000 >/dev/null & sleep 0.3; head -c 200000 /dev/zero | nc 127.0.0.1 7000; sleep 600' || fail "run"
	local cg id
	cg=$(oci_cgroup n1)
	[[ "$cg" != "$v2"/* ]] || fail "the container's cgroup is under containerd's: $cg"
	grep -q "/$INST_CG/" "/proc/$(task_pid n1)/cgroup" || fail "not in this instance's cgroups"
	api GET /v1/sandboxes
	id=$(jget "$BODY" '[s["id"] for s in j["sandboxes"] if s.get("container_id") == "n1"][0]')
	for _ in $(seq 100); do
		[ "$(usage "$id" 'j["net"]["local"]["tx_packets"] >= 4')" = True ] && break
		sleep 0.1
	done
	# A TCP connection on its loopback (the programs attached below sbxd's cgroup see it
	# only if the container's cgroup is there too).
	assert_eq "$(usage "$id" 'j["net"]["local"]["tx_packets"] >= 4')" True "its loopback traffic counted ($(usage "$id" 'j["net"]'))"
	[ "$(usage "$id" 'j["syscalls_total"]')" -gt 100 ] || fail "its syscalls"
	no_leftovers
	rmdir "$v2" $mem || fail "containerd's cgroups are still busy"
}

# kill --all: every process of the container signalled (frozen while pids are read), the
# cgroup thawed after.
t_kill_all() {
	start_sbxd
	start_containerd
	crun_ -d "$IMG" ka sh -c 'sleep 600 & sleep 600 & wait' || fail "run"
	local cg
	cg=$(oci_cgroup ka)
	for _ in $(seq 100); do [ "$(wc -l <"$cg/cgroup.procs")" -ge 4 ] && break; sleep 0.05; done
	"$OCI" --root "/run/containerd/runc/$NS" kill --all ka TERM || fail "kill --all"
	for _ in $(seq 100); do [ ! -s "$cg/cgroup.procs" ] && break; sleep 0.05; done
	[ ! -s "$cg/cgroup.procs" ] || fail "processes left after kill --all TERM: $(cat "$cg/cgroup.procs" 2>/dev/null)"
	no_leftovers
}

# Registration with hostile records: only a process that lives in a cgroup of this sbxd's
# instance, named by the record's id, is adopted.
t_registration_refuses_hostile() {
	start_sbxd
	local id=0123456789ab v2 rec
	v2=$(dirname "$(inst_parent_v2)")
	for bad in "/sys/fs/cgroup/unified/../../etc/$INST_CG/$id" "/sys/fs/cgroup/unified/other/$id" \
		"/tmp/$INST_CG/$id" "$(inst_parent_v2)/fedcba987654"; do
		rec="{\"id\":\"$id\",\"container_id\":\"c\",\"pid\":1,\"start_time\":1,\"created\":1,\"cgroup\":{\"mode\":\"hybrid\",\"v2\":\"$bad\",\"v1\":[]}}"
		api POST /v1/oci/containers -d "$rec"
		assert_eq "$CODE" 400 "cgroup $bad ($BODY)"
	done
	# A well-formed record naming a process that is not in that cgroup (the host's PID 1).
	rec="{\"id\":\"$id\",\"container_id\":\"c\",\"pid\":1,\"start_time\":$(awk '{print $22}' /proc/1/stat),\"created\":1,\"cgroup\":{\"mode\":\"hybrid\",\"v2\":\"$(inst_parent_v2)/$id\",\"v1\":[]}}"
	api POST /v1/oci/containers -d "$rec"
	[ "$CODE" = 400 ] || [ "$CODE" = 404 ] || [ "$CODE" = 409 ] || fail "the host's PID 1 adopted: $CODE $BODY"
	for b in '{"id":"../../x","container_id":"c","pid":1,"start_time":1}' '{"id":"0123456789ab","container_id":"../c","pid":1,"start_time":1}' '[1]' 'x'; do
		api POST /v1/oci/containers -d "$b"
		assert_eq "$CODE" 400 "record $b ($BODY)"
	done
	api GET /v1/sandboxes
	assert_eq "$(jget "$BODY" 'len(j["sandboxes"])')" 0 "sandboxes after hostile records"
	kill -0 1 || fail "PID 1"
}

# Checkpoint and restore through containerd (`ctr containers checkpoint --task`, then
# `ctr containers restore --live` of the image it made): the container's memory, files
# and pid namespace come back in a new sandbox (its own cgroups, limits and host ids),
# whose isolation holds, metered by sbxd; a restored container checkpoints again.
t_checkpoint_restore() {
	start_sbxd
	start_containerd
	mkdir -p "$TMPD/vol" && echo vol >"$TMPD/vol/v"
	crun_ -d --memory-limit 67108864 --mount "type=bind,src=$TMPD/vol,dst=/vol,options=rbind:ro" "$IMG" k1 \
		sh -c 'echo kept > /root/f; i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.05; done' ||
		fail "run"
	local before after pid1 pid2 map1 map2 cg1 cg2 rp
	for _ in $(seq 100); do
		before=$(c task exec --exec-id n1 k1 cat /tmp/n 2>/dev/null)
		[ "${before:-0}" -ge 5 ] && break
		sleep 0.05
	done
	pid1=$(task_pid k1)
	map1=$(awk '{ print $2 }' "/proc/$pid1/uid_map")
	cg1=$(oci_cgroup k1)
	OUT=$(c containers checkpoint --task k1 sbx/k1:ckpt 2>&1) || fail "checkpoint: $OUT"
	before=$(c task exec --exec-id n2 k1 cat /tmp/n)
	c task kill -s KILL k1
	for _ in $(seq 100); do [ "$(task_status k1)" = STOPPED ] && break; sleep 0.02; done
	c task delete k1 >/dev/null && c containers rm k1 || fail "delete"
	[ ! -d "$cg1" ] || fail "the first container's cgroup is left"
	c containers restore --live k1 sbx/k1:ckpt >"$TMPD/restore.out" 2>&1 &
	rp=$!
	for _ in $(seq 200); do [ "$(task_status k1)" = RUNNING ] && break; sleep 0.05; done
	assert_eq "$(task_status k1)" RUNNING "the restored task ($(cat "$TMPD/restore.out"))"
	sleep 0.3
	after=$(c task exec --exec-id n3 k1 cat /tmp/n)
	# Its shell's counter went on from where it was: memory came back, not a new start.
	[ "$after" -ge "$before" ] || fail "counter $after after the restore, $before before"
	assert_eq "$(c task exec --exec-id f1 k1 cat /root/f)" kept "its writable layer"
	# Its bind mount as create made it: idmapped (the host's root owns it as the
	# container's root), read-only.
	OUT=$(c task exec --exec-id v1 k1 sh -c 'stat -c %u /vol/v; cat /vol/v; { echo x > /vol/v; } 2>/dev/null || echo ro')
	assert_eq "$(echo $OUT)" "0 vol ro" "its bind mount"
	OUT=$(c task exec --exec-id p1 k1 sh -c 'echo $$; cat /proc/2/cmdline | tr "\0" " "')
	assert_contains "$OUT" "while true" "its workload is PID 2 again"
	pid2=$(task_pid k1)
	map2=$(awk '{ print $2 }' "/proc/$pid2/uid_map")
	cg2=$(oci_cgroup k1)
	[ "$pid2" != "$pid1" ] && [ "$map2" != "$map1" ] && [ "$cg2" != "$cg1" ] ||
		fail "not a new sandbox: pid $pid1/$pid2 ids $map1/$map2 cgroup $cg1/$cg2"
	[ "$map2" -ne 0 ] || fail "host root"
	[ "$(dirname "$cg2")" = "$(inst_parent_v2)" ] || fail "its cgroup $cg2 is not beside sbxd's"
	grep -qx "$pid2" "$cg2/cgroup.procs" || fail "its PID 1 is not in its cgroup"
	assert_memory_limit k1 67108864 "the restored memory limit"
	# Isolation holds in the restored container.
	OUT=$(c task exec --exec-id i1 k1 sh -c 'cat /proc/1/environ >/dev/null 2>&1 && echo environ-open;
		grep -E "^(NoNewPrivs|Seccomp):" /proc/self/status | tr -s "\t " " "; mount -t tmpfs t /mnt 2>&1 || echo mount-refused')
	assert_not_contains "$OUT" environ-open "PID 1's environ"
	assert_contains "$OUT" "NoNewPrivs: 1" "no_new_privs"
	assert_contains "$OUT" "Seccomp: 2" "seccomp"
	assert_contains "$OUT" mount-refused "mount"
	# sbxd meters the restored container.
	local id
	for _ in $(seq 100); do
		api GET /v1/sandboxes
		id=$(jget "$BODY" '([s["id"] for s in j["sandboxes"] if s.get("container_id") == "k1" and s["state"] == "running"] + [""])[0]')
		[ -n "$id" ] && break
		sleep 0.05
	done
	[ -n "$id" ] || fail "sbxd does not list the restored container: $BODY"
	api GET "/v1/sandboxes/$id"
	assert_eq "$(jget "$BODY" 'j["pid"]')" "$pid2" "sbxd's record of it"
	# A restored container checkpoints again, and runs on (leave running).
	OUT=$("$OCI" --root "/run/containerd/runc/$NS" checkpoint --leave-running --image-path "$TMPD/ck2" k1 2>&1) ||
		fail "a second checkpoint: $OUT"
	[ -s "$TMPD/ck2/sbx-layer.tar" ] && [ -s "$TMPD/ck2/sbx-oci.json" ] || fail "the second checkpoint's files"
	after=$(c task exec --exec-id n4 k1 cat /tmp/n)
	sleep 0.2
	[ "$(c task exec --exec-id n5 k1 cat /tmp/n)" -gt "$after" ] || fail "it does not run on after the checkpoint"
	c task kill -s KILL k1
	wait "$rp"
	c images rm sbx/k1:ckpt >/dev/null
	no_leftovers
}

# checkpoint and restore through runc's command line: what cannot be carried is refused by
# name before anything changes; a dump that fails leaves the container running and
# thawed; a checkpoint record that is not one (or names a host device, a foreign stdio,
# ids outside sbx's) restores nothing and leaves nothing; a foreground restore exits with
# the container's code.
t_checkpoint_refusals() {
	start_sbxd
	local R="$TMPD/ocir" b=$TMPD/ck-bundle
	mkdir -p "$b"
	ln -s "$B/images/base/rootfs" "$b/rootfs"
	mk_bundle() { # ARGS-JSON [EXTRA-LINUX-JSON]
		python3 - "$b" "$1" "${2:-{\}}" <<'EOF2' || fail "bundle"
import json, sys
d, args, extra = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
c = {"ociVersion": "1.0.2", "root": {"path": "rootfs"},
     "process": {"args": args, "cwd": "/", "env": ["PATH=/bin:/usr/bin"]},
     "linux": {"namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]}}
c["linux"].update(extra)
json.dump(c, open(d + "/config.json", "w"))
EOF2
	}
	oci() { "$OCI" --root "$R" "$@"; }
	# one_line_refusal WHAT EXPECTED ARGS...: fails, one line naming EXPECTED.
	one_line_refusal() {
		local what=$1 want=$2
		shift 2
		OUT=$(oci "$@" 2>&1)
		[ $? != 0 ] || fail "$what: accepted"
		assert_contains "$OUT" "$want" "$what"
		assert_eq "$(echo "$OUT" | wc -l)" 1 "$what: one line"
	}
	mk_bundle '["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.05; done"]'
	oci create --bundle "$b" k1 </dev/null 2>&1 | cat >/dev/null &
	for _ in $(seq 100); do [ -e "$R/k1/state.json" ] && break; sleep 0.02; done
	one_line_refusal "a created container" "the container is created" checkpoint --image-path "$TMPD/x" k1
	oci start k1 || fail "start"
	for f in --pre-dump --lazy-pages --auto-dedup --link-remap "--parent-path=$TMPD" "--page-server=1:2"; do
		one_line_refusal "$f" "${f%%=*} is not supported" checkpoint --image-path "$TMPD/x" "$f" k1
	done
	one_line_refusal "an unknown flag" "unknown flag --bogus" checkpoint --bogus k1
	# A read-only root, and a container in another's network namespace (a pod's).
	local p1
	p1=$(jget "$(oci state k1)" 'j["pid"]')
	mk_bundle '["sleep", "60"]' '{"namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network", "path": "/proc/'"$p1"'/ns/net"}]}'
	oci create --bundle "$b" j1 </dev/null 2>&1 | cat >/dev/null &
	for _ in $(seq 100); do [ -e "$R/j1/state.json" ] && break; sleep 0.02; done
	oci start j1 || fail "start j1"
	one_line_refusal "a joined network namespace" "linux.namespaces[network].path" checkpoint --image-path "$TMPD/x" j1
	oci delete -f j1 || fail "delete j1"
	python3 - "$b/config.json" <<'EOF2' || fail "bundle"
import json, sys
c = json.load(open(sys.argv[1]))
c["root"]["readonly"] = True
c["linux"]["namespaces"] = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]
json.dump(c, open(sys.argv[1], "w"))
EOF2
	oci create --bundle "$b" ro1 </dev/null 2>&1 | cat >/dev/null &
	for _ in $(seq 100); do [ -e "$R/ro1/state.json" ] && break; sleep 0.02; done
	oci start ro1 || fail "start ro1"
	one_line_refusal "a read-only root" "root.readonly" checkpoint --image-path "$TMPD/x" ro1
	assert_contains "$(oci state ro1)" '"running"' "running after the refusal"
	oci delete -f ro1 || fail "delete ro1"
	mk_bundle '["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.05; done"]'
	# Its stdout a host file (CRIU would open it again as the container's root).
	oci create --bundle "$b" fs1 </dev/null >"$TMPD/fs1.out" 2>&1 || fail "create fs1"
	oci start fs1 || fail "start fs1"
	one_line_refusal "a file as stdio" "its stdio 1 is $TMPD/fs1.out" checkpoint --image-path "$TMPD/x" fs1
	oci delete -f fs1 || fail "delete fs1"
	one_line_refusal "--empty-ns ipc" "--empty-ns ipc" checkpoint --empty-ns ipc k1
	one_line_refusal "restore's flag" "unknown flag --detach" checkpoint --detach k1
	# CRIU fails (its image directory is read-only): the container runs on, thawed.
	mkdir -p "$TMPD/ro" && mount -t tmpfs -o ro,size=1m ro "$TMPD/ro" || fail "mount"
	OUT=$(oci checkpoint --image-path "$TMPD/ro" k1 2>&1)
	[ $? != 0 ] || fail "a dump into a read-only directory succeeded"
	assert_eq "$(echo "$OUT" | wc -l)" 1 "one line ($OUT)"
	umount "$TMPD/ro"
	local cg n1
	cg=$(jget "$(cat "$R/k1/state.json")" 'j["cgroup"]["v2"]')
	assert_eq "$(awk '$1 == "frozen" { print $2 }' "$cg/cgroup.events")" 0 "thawed after the failed dump"
	assert_contains "$(oci state k1)" '"running"' "running after the failed dump"
	n1=$(oci exec k1 cat /tmp/n)
	sleep 0.2
	[ "$(oci exec k1 cat /tmp/n)" -gt "$n1" ] || fail "not running on after the failed dump"
	# A good checkpoint that stops it (no --leave-running): its processes are gone.
	oci checkpoint --image-path "$TMPD/good" --work-path "$TMPD/goodw" k1 || fail "checkpoint"
	assert_contains "$(oci state k1)" '"stopped"' "stopped after the checkpoint"
	assert_eq "$(wc -l <"$cg/cgroup.procs")" 0 "processes after the checkpoint"
	oci delete k1 || fail "delete"
	# Hostile or broken records restore nothing.
	rest() { # WHAT EXPECTED IMAGE
		one_line_refusal "$1" "$2" restore --image-path "$3" --work-path "$TMPD/rw" --bundle "$b" -d r1
		[ ! -e "$R/r1" ] || fail "$1: state left"
		[ -z "$(inst_cgroups)" ] || fail "$1: cgroups left: $(inst_cgroups)"
		! grep -q " $R/" /proc/self/mountinfo || fail "$1: mounts left"
	}
	rest "no such directory" "$TMPD/none" "$TMPD/none"
	mkdir -p "$TMPD/empty"
	rest "not a checkpoint" "not a checkpoint of sbx-oci" "$TMPD/empty"
	edit() { # KEY JSON: a copy of the good checkpoint with its record's KEY set
		rm -rf "$TMPD/bad" && cp -a "$TMPD/good" "$TMPD/bad" || fail "copy"
		python3 - "$TMPD/bad/sbx-oci.json" "$1" "$2" <<'EOF2' || fail "edit"
import json, sys
p, k, v = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
j = json.load(open(p))
if k == "devs":
    j[k][0][1] = v
elif k == "stdio":
    j[k][1] = v
else:
    j[k] = v
json.dump(j, open(p, "w"))
EOF2
	}
	edit devs '"/dev/vda"'
	rest "a host disk as device bind" "a device bind of /dev/vda" "$TMPD/bad"
	edit devs '"/dev/null/../vda"'
	rest "a climbing device bind" "a device bind of" "$TMPD/bad"
	edit stdio '"pipe:[1]x --external=mnt[/]:/"'
	rest "an injected stdio key" "its stdio is unreadable" "$TMPD/bad"
	edit uid_base 0
	rest "host root's ids" "not a checkpoint of this sbx-oci" "$TMPD/bad"
	edit version 99
	rest "another version" "not a checkpoint of this sbx-oci" "$TMPD/bad"
	# CRIU's own images tampered with: its processes without seccomp and no_new_privs.
	rm -rf "$TMPD/bad" && cp -a "$TMPD/good" "$TMPD/bad" &&
		python3 "$(dirname "$0")/../oci/unconfine.py" "$TMPD/bad" || fail "unconfine"
	rest "processes unconfined by their images" "is not confined as the container's are" "$TMPD/bad"
	one_line_refusal "a terminal" "--console-socket" restore --image-path "$TMPD/good" --console-socket "$TMPD/s" -b "$b" r1
	# A foreground restore waits for the container and exits with its code.
	mk_bundle '["sh", "-c", "sleep 1; exit 3"]'
	oci create --bundle "$b" f1 </dev/null 2>&1 | cat >/dev/null &
	for _ in $(seq 100); do [ -e "$R/f1/state.json" ] && break; sleep 0.02; done
	oci start f1 || fail "start f1"
	oci checkpoint --image-path "$TMPD/f1ck" f1 || fail "checkpoint f1"
	oci delete f1 || fail "delete f1"
	oci restore --image-path "$TMPD/f1ck" --bundle "$b" f1 </dev/null 2>&1 | cat >/dev/null
	assert_eq "${PIPESTATUS[0]}" 3 "the restored container's exit code"
	oci delete f1 || fail "delete the restored f1"
	# A second container of the same bundle stays: restore into its id is refused.
	mk_bundle '["sleep", "60"]'
	oci create --bundle "$b" s1 </dev/null 2>&1 | cat >/dev/null &
	for _ in $(seq 100); do [ -e "$R/s1/state.json" ] && break; sleep 0.02; done
	one_line_refusal "an id in use" 'container "s1" already exists' restore --image-path "$TMPD/good" -b "$b" -d s1
	[ -e "$R/s1/state.json" ] || fail "the refused restore removed s1's state"
	oci delete -f s1 || fail "delete s1"
	[ -z "$(inst_cgroups)" ] || fail "cgroups left: $(inst_cgroups)"
	assert_eq "$(live_inits)" 0 "sbx-init processes left"
	! grep -q " $R/" /proc/self/mountinfo || fail "mounts left: $(grep " $R/" /proc/self/mountinfo)"
}

source "$(dirname "$0")/lib.sh"
