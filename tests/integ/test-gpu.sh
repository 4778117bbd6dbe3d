#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# GPU passthrough without a GPU: a tree standing in for /dev and /proc of an NVIDIA host
# (real device nodes made with mknod; no driver behind them) goes through discovery,
# allocation, the bind into /dev and the device allowlist; stand-in character devices
# granted with --gpu-device likewise.

fake_nvidia() {
	local r=$TMPD/nv
	mkdir -p "$r/dev" "$r/proc/driver/nvidia/gpus/0000:01:00.0" "$r/proc/driver/nvidia/gpus/0000:02:00.0"
	mknod "$r/dev/nvidia0" c 195 0
	mknod "$r/dev/nvidia1" c 195 1
	mknod "$r/dev/nvidiactl" c 195 255
	mknod "$r/dev/nvidia-uvm" c 509 0
	mknod "$r/dev/nvidia-uvm-tools" c 77 1 # not uvm's major: never granted
	printf 'Character devices:\n  1 mem\n195 nvidia\n509 nvidia-uvm\n' >"$r/proc/devices"
	printf 'Model: \t\t NVIDIA H100 80GB HBM3\nIRQ:   \t\t 42\nBus Location: \t 0000:01:00.0\nDevice Minor: \t 0\n' \
		>"$r/proc/driver/nvidia/gpus/0000:01:00.0/information"
	printf 'Model: \t\t NVIDIA A100-SXM4-80GB\nDevice Minor: \t 1\n' \
		>"$r/proc/driver/nvidia/gpus/0000:02:00.0/information"
	echo "$r"
}

# as_sandbox ID CMD...: runs a host command inside sandbox ID's cgroup-v2 (so its device
# allowlist applies to it), printing what it prints.
as_sandbox() {
	local id=$1 cg
	shift
	cg=$(find /sys/fs/cgroup/unified /sys/fs/cgroup -maxdepth 6 -type d -name "$id" 2>/dev/null | head -1)
	[ -n "$cg" ] || fail "no cgroup for $id"
	sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$cg" "$@"
}

# try_open PATH...: prints NAME:ok or NAME:ERRNO for each (a program, for as_sandbox).
try_open() {
	cat >"$TMPD/try_open.py" <<'PY'
import errno, os, sys
for p in sys.argv[1:]:
    try:
        os.close(os.open(p, os.O_RDONLY)); print(p.rsplit("/", 1)[1] + ":ok")
    except OSError as e:
        print(p.rsplit("/", 1)[1] + ":" + errno.errorcode[e.errno])
PY
	echo python3 "$TMPD/try_open.py"
}

t_nvidia_discovery() {
	local r
	r=$(fake_nvidia)
	start_sbxd --nvidia-root "$r"
	api GET /v1/gpus
	assert_eq "$(jget "$BODY" '[(g["index"], g["model"], g["bus"]) for g in j["gpus"]]')" \
		"[(0, 'NVIDIA H100 80GB HBM3', '0000:01:00.0'), (1, 'NVIDIA A100-SXM4-80GB', '0000:02:00.0')]" "models and buses"
	assert_eq "$(jget "$BODY" '[n.rsplit("/",1)[1] for n in j["gpus"][0]["nodes"]]')" \
		"['nvidia0', 'nvidiactl', 'nvidia-uvm']" "companions (uvm by its major)"
	run_sbx gpus
	assert_contains "$OUT" "NVIDIA H100 80GB HBM3" "sbx gpus"
	local id
	id=$("$SBX" create --image base --gpu 0) || fail "create --gpu 0"
	assert_eq "$("$SBX" exec "$id" -- sh -c 'ls /dev | grep nvidia | sort | tr "\n" " "')" \
		"nvidia-uvm nvidia0 nvidiactl " "nodes in the sandbox"
	assert_eq "$("$SBX" exec "$id" -- stat -c %t:%T /dev/nvidia0)" "c3:0" "the node itself"
	run_sbx create --image base --gpu 0
	assert_eq "$RC" 125 "GPU 0 is taken"
	assert_contains "$ERR" "held by another sandbox; free: 1" "what is free"
	local any
	any=$("$SBX" create --image base --gpus 1) || fail "--gpus 1"
	api GET /v1/gpus
	assert_eq "$(jget "$BODY" '[g["sandbox"] for g in j["gpus"]]')" "['$id', '$any']" "holders"
	run_sbx create --image base --gpus 1
	assert_contains "$ERR" "no free GPU left" "none left"
	"$SBX" rm "$id" >/dev/null
	api GET /v1/gpus
	assert_eq "$(jget "$BODY" 'j["gpus"][0]["free"]')" True "released on delete"
	# The workload's exit releases it too.
	local w
	w=$("$SBX" create --image base --gpu 0 -- true) || fail create
	sleep 0.4
	api GET /v1/gpus
	assert_eq "$(jget "$BODY" 'j["gpus"][0]["free"]')" True "released on exit"
	# The usage says what was attached, and for how long: the sandbox's lifetime.
	u=$(curl -s --unix-socket "$SBX_SOCKET" "http://x/v1/sandboxes/$w/usage")
	[ "$(jget "$u" 'abs(j["gpus"][0]["attached_ns"] - j["wall_ns"]) <= 10**7')" = True ] ||
		fail "attached seconds vs lifetime: $u"
	assert_eq "$(jget "$u" 'j["gpus"][0]["model"]')" "NVIDIA H100 80GB HBM3" "model in usage"
}

t_device_allowlist() {
	local r
	r=$(fake_nvidia)
	mknod "$TMPD/kmsg" c 1 11
	start_sbxd --nvidia-root "$r" --gpu-device "$TMPD/kmsg=Stand-In"
	api GET /v1/health
	assert_eq "$(jget "$BODY" 'j["device_allowlist"]')" on "allowlist loaded"
	local a b
	a=$("$SBX" create --image base --gpu 0) || fail create
	b=$("$SBX" create --image base --gpu 2) || fail create
	# In A's cgroup: its GPU and companions pass (no driver: ENXIO), the minimal set
	# passes, another GPU and any other device are refused.
	assert_eq "$(as_sandbox "$a" $(try_open) "$r/dev/nvidia0" "$r/dev/nvidiactl" "$r/dev/nvidia1" \
		/dev/null /dev/kmsg "$TMPD/kmsg" | tr '\n' ' ')" \
		"nvidia0:ENXIO nvidiactl:ENXIO nvidia1:EPERM null:ok kmsg:EPERM kmsg:EPERM " "A's devices"
	# B holds the stand-in 1:11: that node opens for B (whatever its path), nvidia0 not.
	assert_eq "$(as_sandbox "$b" $(try_open) "$TMPD/kmsg" "$r/dev/nvidia0" | tr '\n' ' ')" \
		"kmsg:ok nvidia0:EPERM " "B's devices"
	# mknod of anything outside the minimal set is refused, root or not.
	as_sandbox "$a" mknod "$TMPD/made" c 1 11 2>"$TMPD/err" && fail "mknod allowed"
	assert_contains "$(cat "$TMPD/err")" "Operation not permitted" "mknod refused"
	# After the sandbox is gone its grant is too.
	local ida idb
	ida=$(stat -c %i "$(find /sys/fs/cgroup/unified /sys/fs/cgroup -maxdepth 6 -type d -name "$a" | head -1)")
	idb=$(stat -c %i "$(find /sys/fs/cgroup/unified /sys/fs/cgroup -maxdepth 6 -type d -name "$b" | head -1)")
	bpftool map dump pinned $INST_PINS/dev_granted | grep -q "\"cgroup\": $ida," || fail "A's grant"
	"$SBX" rm "$a" "$b" >/dev/null
	bpftool map dump pinned $INST_PINS/dev_granted | grep -qE "\"cgroup\": ($ida|$idb)," && fail "grants left"
	true
}

t_release_on_restart() {
	local r
	r=$(fake_nvidia)
	start_sbxd --nvidia-root "$r"
	local keep gone
	keep=$("$SBX" create --image base --gpu 0) || fail create
	gone=$("$SBX" create --image base --gpu 1 -- sleep 1) || fail create
	kill_sbxd
	sleep 1.5
	start_sbxd --nvidia-root "$r"
	api GET /v1/gpus
	assert_eq "$(jget "$BODY" '[g["sandbox"] for g in j["gpus"]]')" "['$keep', None]" \
		"the running one keeps its GPU; the one that ended released it"
}

t_nvml_attribution() {
	# NVML through the same dlopen path, from a stand-in library fed a script: memory
	# and busy time of the sandbox's processes count, another process's do not.
	local r
	r=$(fake_nvidia)
	export SBX_TEST_NVML=$TMPD/nvml.txt
	printf 'device 0 NVIDIA H100 80GB HBM3\ndevice 1 NVIDIA A100-SXM4-80GB\n' >"$SBX_TEST_NVML"
	start_sbxd --nvidia-root "$r" --nvml-lib "$B/tests/libnvidia-ml-test.so"
	local id init w
	id=$("$SBX" create --image base --gpu 0 -- sleep 100) || fail create
	init=$(jget "$("$SBX" inspect "$id")" 'j["pid"]')
	sleep 0.2
	w=$(pgrep -P "$init" | head -1)
	[ -n "$w" ] || fail "no workload process"
	printf 'proc 0 %s 2147483648 50\nproc 0 %s 4096 100\n' "$w" $$ >>"$SBX_TEST_NVML"
	sleep 3.2
	local u
	u=$(curl -s --unix-socket "$SBX_SOCKET" "http://x/v1/sandboxes/$id/usage")
	assert_eq "$(jget "$u" '(j["gpus"][0]["memory_bytes"], j["gpus"][0]["memory_peak_bytes"])')" \
		"(2147483648, 2147483648)" "memory of its own process only"
	# Half busy: each 1 s metering tick since the samples began adds half its interval,
	# and 3.2 s hold three or four ticks.
	python3 -c "import sys; b = $(jget "$u" 'j["gpus"][0]["busy_ns"]'); sys.exit(0 if 1.0e9 <= b <= 2.1e9 else 1)" ||
		fail "busy_ns: $(jget "$u" 'j["gpus"][0]["busy_ns"]') for 50% over about 3 s"
	sed -i "s/^proc 0 $w .*/proc 0 $w 1073741824 0/" "$SBX_TEST_NVML"
	sleep 1.2
	u=$(curl -s --unix-socket "$SBX_SOCKET" "http://x/v1/sandboxes/$id/usage")
	assert_eq "$(jget "$u" '(j["gpus"][0]["memory_bytes"], j["gpus"][0]["memory_peak_bytes"])')" \
		"(1073741824, 2147483648)" "peak kept"
	curl -s --unix-socket "$SBX_SOCKET" http://x/metrics | grep -q "sbx_gpu_busy_seconds_total{sandbox=\"$id\",tenant=\"admin\",gpu=\"$r/dev/nvidia0\",model=\"NVIDIA H100 80GB HBM3\"}" ||
		fail "busy seconds in /metrics"
	curl -s --unix-socket "$SBX_SOCKET" http://x/metrics | promtool check metrics || fail promtool
}

# Launches of GPU holders at the same moment: the meter's ioctl timer is switched by the
# loop thread, never by two launch workers at once (each would attach and pin it).
t_concurrent_holders() {
	local r
	r=$(fake_nvidia)
	start_sbxd --nvidia-root "$r"
	for round in 1 2 3 4 5 6; do
		local a b
		"$SBX" create --image base --gpu 0 -- sleep 100 >"$TMPD/a" 2>&1 &
		a=$!
		"$SBX" create --image base --gpu 1 -- sleep 100 >"$TMPD/b" 2>&1 &
		b=$!
		wait "$a" || fail "round $round, first: $(cat "$TMPD/a")"
		wait "$b" || fail "round $round, second: $(cat "$TMPD/b")"
		[ -n "$(ls "$INST_PINS"/ | grep "^sys_exit-")" ] || fail "round $round: no ioctl timer"
		"$SBX" rm "$(cat "$TMPD/a")" "$(cat "$TMPD/b")" >/dev/null || fail "rm"
		[ -z "$(ls "$INST_PINS"/ | grep "^sys_exit-")" ] || fail "round $round: timer left on"
	done
}

t_no_nvml() {
	local r id
	r=$(fake_nvidia)
	start_sbxd --nvidia-root "$r" --nvml-lib "$TMPD/no-such-nvml.so"
	id=$("$SBX" create --image base --gpu 1) || fail create
	assert_eq "$(usage "$id" '(j["gpus"][0]["busy_ns"], j["gpus"][0]["model"])')" \
		"(None, 'NVIDIA A100-SXM4-80GB')" "no NVML: no busy time, not a zero"
	assert_contains "$(usage "$id" 'j["gpus"][0]["nvml"]')" "no-such-nvml.so not loaded" "says why"
}

source "$(dirname "$0")/lib.sh"
