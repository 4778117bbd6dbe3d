#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The eBPF and cgroup meters of sbxd, against real workloads: exact syscall counts,
# network bytes, CPU time, peak memory, and counters that survive a daemon restart.

need_meter() {
	start_sbxd --images "$(sbxd_images)"
	local h
	h=$(curl -s --unix-socket "$SBX_SOCKET" http://x/v1/health)
	[ "$(jget "$h" 'j["features"]["metering"]')" = True ] ||
		fail "metering is off here: $(jget "$h" 'j.get("metering_off")')"
}

t_programs_load() {
	# Every meter program passes the verifier and attaches (a regression fails here).
	need_meter
	for l in sys_enter ingress egress; do
		ls "$INST_PINS"/ | grep -q "^$l-L" || fail "no pinned link for $l"
	done
}

t_syscalls_exact() {
	need_meter
	local a b
	a=$("$SBX" create --image helpers) || fail create
	b=$("$SBX" create --image helpers) || fail create
	"$SBX" exec "$a" -- /t/getppid-loop 0 || fail "empty workload"
	local c
	c=$(usage "$a" 'j["syscalls"].get("getppid", 0)')
	# Two sandboxes at once, different counts, and the host busy with the same call.
	/usr/bin/env python3 -c 'import os
for _ in range(200000): os.getppid()' &
	local host=$!
	"$SBX" exec "$a" -- /t/getppid-loop 100000 &
	"$SBX" exec "$b" -- /t/getppid-loop 250000 || fail "exec b"
	wait %2 || fail "exec a"
	wait $host
	local na nb
	na=$(usage "$a" 'j["syscalls"]["getppid"]')
	nb=$(usage "$b" 'j["syscalls"]["getppid"]')
	[ "$na" -ge 100000 ] && [ "$na" -le $((100000 + c)) ] || fail "a: $na getppid, expected 100000 (+$c)"
	[ "$nb" -ge 250000 ] && [ "$nb" -le $((250000 + c)) ] || fail "b: $nb getppid, expected 250000 (+$c)"
	[ "$(usage "$a" 'j["syscalls_total"] >= j["syscalls"]["getppid"]')" = True ] || fail "total"
	run_sbx usage "$b"
	assert_contains "$OUT" "getppid" "sbx usage lists the top syscalls"
	assert_contains "$(echo "$OUT" | sed -n 5p)" "getppid" "the most frequent first"
}

t_sub_cgroup_counts() {
	need_meter
	local id cg pid
	id=$("$SBX" create --image helpers -- sh -c 'sleep 0.5; /t/getppid-loop 30000; sleep 100') || fail create
	cg=$(find /sys/fs/cgroup/unified /sys/fs/cgroup -maxdepth 6 -type d -name "$id" 2>/dev/null | head -1)
	[ -n "$cg" ] || fail "no cgroup for $id"
	# The workload's processes move into a cgroup below the sandbox's (as a workload
	# that manages cgroups would); they still count for the sandbox.
	mkdir "$cg/inner"
	for p in $(cat "$cg/cgroup.procs"); do
		[ "$(cat /proc/$p/comm)" = sbx-init ] || echo "$p" >"$cg/inner/cgroup.procs" 2>/dev/null || true
	done
	sleep 1
	local n
	n=$(usage "$id" 'j["syscalls"].get("getppid", 0)')
	[ "$n" -ge 30000 ] && [ "$n" -le 30100 ] || fail "sub-cgroup: $n getppid, expected 30000"
	"$SBX" rm "$id" >/dev/null
	rmdir "$cg/inner" "$cg" 2>/dev/null || true
}

t_net_bytes() {
	need_meter
	local id k=1000000
	id=$("$SBX" create --image host --net loopback) || fail create
	# TCP may resend what it already sent (a tail-loss probe, a timeout when the
	# sandbox's CPU quota delays an ACK): those bytes went out again and are counted
	# again, so the sender's own tally of them (tcpi_bytes_retrans) is read back.
	local retrans
	retrans=$("$SBX" exec "$id" -- python3 -c "
import socket, struct, threading, time
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)
def serve():
    c, _ = s.accept(); n = 0
    while n < $k:
        d = c.recv(65536)
        if not d: break
        n += len(d)
    c.close()
t = threading.Thread(target=serve); t.start()
c = socket.create_connection(s.getsockname()); c.sendall(b'x' * $k); t.join()
for _ in range(1000):  # until all is acknowledged: nothing can be resent after
    info = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 216)
    if struct.unpack_from('I', info, 24)[0] == 0:
        break
    time.sleep(0.01)
c.close()
print(struct.unpack_from('Q', info, 208)[0])") || fail "loopback transfer"
	local tx rx txp
	tx=$(usage "$id" 'j["net"]["local"]["tx_bytes"]')
	rx=$(usage "$id" 'j["net"]["local"]["rx_bytes"]')
	txp=$(usage "$id" 'j["net"]["local"]["tx_packets"]')
	# Every byte sent is counted once out and once in, plus IP and TCP headers
	# (at most 80 bytes a packet with options).
	local sent=$((k + retrans))
	[ "$tx" -ge $sent ] && [ "$tx" -le $((sent + txp * 80)) ] ||
		fail "tx $tx for $k bytes ($retrans resent) in $txp packets"
	[ "$rx" -ge $sent ] && [ "$rx" -le $((sent + txp * 80)) ] ||
		fail "rx $rx for $k bytes ($retrans resent)"
}

t_cpu_and_memory() {
	need_meter
	local id
	id=$("$SBX" create --image host --memory 1G) || fail create
	"$SBX" exec "$id" -- python3 -c '
import time
t = time.process_time()
while time.process_time() - t < 2.0: pass' || fail "cpu burn"
	local ns base
	ns=$(usage "$id" 'j["cpu_ns"]')
	# The interpreter's own start, measured apart in a sandbox of its own, comes off.
	base=$("$SBX" create --image host) || fail create
	"$SBX" exec "$base" -- python3 -c 'import time' || fail "python start"
	base=$(usage "$base" 'j["cpu_ns"]')
	local burn=$((ns - base))
	[ "$burn" -ge 1940000000 ] && [ "$burn" -le 2060000000 ] ||
		fail "cpu_ns $ns - $base (start) = $burn for a 2 s burn: not within 3%"
	"$SBX" exec "$id" -- python3 -c 'b = bytearray(256 << 20); b[::4096] = b"x" * (len(b) // 4096)' ||
		fail "allocation"
	local peak
	peak=$(usage "$id" 'j["memory_peak_bytes"]')
	[ "$peak" -gt $((256 << 20)) ] || fail "peak $peak after a 256 MiB allocation"
	# Memory is metered under the default limit too, and integrated over time on the tick.
	local free
	free=$("$SBX" create --image host) || fail create
	"$SBX" exec "$free" -- python3 -c 'import time; b = bytearray(64 << 20); b[::4096] = b"x" * (len(b) // 4096); time.sleep(2.5)' ||
		fail "hold 64 MiB"
	local bns kms
	bns=$(usage "$free" 'j["memory_byte_ns"]')
	kms=$(usage "$free" 'j["memory_kib_ms"]')
	# About 64 MiB held for over 2 s: at least 64 MiB x 1 s counted, in byte-ns and KiB-ms.
	[ "$bns" -ge $(((64 << 20) * 1000000000)) ] || fail "memory_byte_ns $bns"
	[ "$kms" -ge $(((64 << 10) * 1000)) ] || fail "memory_kib_ms $kms"
	assert_eq "$(usage "$free" 'j["limits"]["memory_bytes"]')" $((512 << 20)) "the default limit allocated"
}

t_restart_continues() {
	need_meter
	local id before after
	id=$("$SBX" create --image helpers -- sh -c '/t/getppid-loop 10000; sleep 1.5; /t/getppid-loop 20000; sleep 100') || fail create
	sleep 0.7
	before=$(usage "$id" 'j["syscalls"]["getppid"]')
	# The shell itself asks for its parent once ($PPID).
	[ "$before" -ge 10000 ] && [ "$before" -le 10002 ] || fail "before the restart: $before"
	kill_sbxd
	sleep 2 # the second loop runs while sbxd is away
	start_sbxd --images "$(sbxd_images)"
	after=$(usage "$id" 'j["syscalls"]["getppid"]')
	assert_eq "$((after - before))" 20000 "counted while sbxd was away, and kept"
	"$SBX" exec "$id" -- /t/getppid-loop 5000 || fail exec
	assert_eq "$(($(usage "$id" 'j["syscalls"]["getppid"]') - after))" 5000 "after the restart"
	after=$((after + 5000))
	# The final usage comes back from DELETE and stays with the exited record.
	local del
	del=$(curl -s -X DELETE --unix-socket "$SBX_SOCKET" "http://x/v1/sandboxes/$id")
	assert_eq "$(jget "$del" 'j["usage"]["syscalls"]["getppid"]')" "$after" "usage returned by DELETE"
}

t_metrics() {
	need_meter
	local id m
	id=$("$SBX" create --image helpers) || fail create
	"$SBX" exec "$id" -- /t/getppid-loop 4242 || fail exec
	m=$(curl -s --unix-socket "$SBX_SOCKET" http://x/metrics)
	echo "$m" | promtool check metrics || fail "promtool check metrics"
	assert_contains "$m" "sbx_syscalls_total{sandbox=\"$id\",tenant=\"admin\",syscall=\"getppid\"} 42" "getppid series"
	assert_contains "$m" "sbx_cpu_seconds_total{sandbox=\"$id\"" "cpu series"
	assert_contains "$m" "sbx_net_bytes_total{sandbox=\"$id\",tenant=\"admin\",direction=\"rx\",scope=\"internet\"}" "net series"
	assert_contains "$m" 'sbx_sandboxes{state="running"} 1' "sandbox count"
	assert_contains "$m" "sbx_metering_up 1" "health"
	"$SBX" rm "$id" >/dev/null || fail rm
	m=$(curl -s --unix-socket "$SBX_SOCKET" http://x/metrics)
	assert_not_contains "$m" "$id" "a removed sandbox's series are dropped"
	echo "$m" | promtool check metrics || fail "promtool check metrics, no sandboxes"
}

t_top() {
	need_meter
	local burn idle
	burn=$("$SBX" create --image host -- python3 -c 'while True: pass') || fail create
	idle=$("$SBX" create --image base) || fail create
	run_sbx top --sort cpu --interval 0.5
	assert_eq "$RC" 0 "sbx top (not a terminal: one table)"
	assert_contains "$(echo "$OUT" | sed -n 1p)" "CPU%" "header"
	assert_contains "$(echo "$OUT" | sed -n 2p)" "$burn" "the CPU burner first"
	local pct
	pct=$(echo "$OUT" | sed -n 2p | awk '{print $4}')
	python3 -c "import sys; sys.exit(0 if float('$pct') > 50 else 1)" || fail "burner at $pct% CPU"
	assert_contains "$OUT" "$idle" "the idle one listed"
	run_sbx top --sort bogus
	assert_eq "$RC" 125 "bad sort key"
}

t_run_usage() {
	# The one-shot launcher meters itself with a private instance of the programs.
	local links
	links=$(bpftool link show | grep -c '^[0-9]')
	run_sbx run --usage=- --image base -- sh -c 'ls / >/dev/null; exit 3'
	assert_eq "$RC" 3 "exit status with --usage"
	local rec
	rec=$(echo "$OUT" | tail -n1)
	assert_eq "$(jget "$rec" 'j["exit_code"], j["meters"]["syscalls"]')" "(3, 'ebpf tp_btf/sys_enter')" "record"
	[ "$(jget "$rec" 'j["syscalls"]["getdents64"] >= 2')" = True ] || fail "ls read the directory: $rec"
	run_sbx run --usage="$TMPD/u.json" --image "$(helper_image)" -- /t/getppid-loop 7777
	assert_eq "$RC" 0 "run"
	assert_eq "$(jget "$(cat "$TMPD/u.json")" 'j["syscalls"]["getppid"]')" 7777 "exact count"
	run_sbx run --usage=/nonexistent/dir/u.json --image base -- true
	assert_contains "$ERR" "--usage /nonexistent/dir/u.json" "unwritable usage file"
	# No private program stays attached after the runs.
	assert_eq "$(bpftool link show | grep -c '^[0-9]')" "$links" "links after the runs"
}

t_metering_off() {
	# Without the meter, sbxd runs; health and usage say which meters are off and why.
	start_sbxd --no-metering
	local h id
	h=$(curl -s --unix-socket "$SBX_SOCKET" http://x/v1/health)
	assert_eq "$(jget "$h" 'j["features"]["metering"], j["metering_off"]')" "(False, 'disabled by --no-metering')" "health"
	id=$("$SBX" create --image base) || fail create
	"$SBX" exec "$id" -- true || fail exec
	assert_eq "$(usage "$id" 'j["syscalls"], j["net"]')" "(None, None)" "no zeros"
	assert_contains "$(usage "$id" 'j["meters"]["syscalls"]')" "off: disabled by --no-metering" "why"
	[ "$(usage "$id" 'j["cpu_ns"] > 0')" = True ] || fail "cgroup meters still work"
	run_sbx usage "$id"
	assert_contains "$OUT" "syscalls   off: disabled" "sbx usage says it"
	curl -s --unix-socket "$SBX_SOCKET" http://x/metrics | promtool check metrics || fail "metrics"
}

# Python that defines poke(PATH, N): N ioctls (TCGETS) on one open of PATH.
POKE='import os, fcntl
def poke(path, n):
    fd = os.open(path, os.O_RDONLY)
    for _ in range(n):
        try: fcntl.ioctl(fd, 0x5401)
        except OSError: pass
    os.close(fd)
'

t_gpu_device() {
	# A stand-in character device (1:7, what /dev/full is) granted as a GPU goes
	# through allocation, the bind into /dev and the device meter.
	mknod "$TMPD/gpu0" c 1 7
	start_sbxd --images "$(sbxd_images)" --gpu-device "$TMPD/gpu0=Stand-In"
	api GET /v1/gpus
	assert_eq "$(jget "$BODY" 'j["gpus"][0]["model"], j["gpus"][0]["free"]')" "('Stand-In', True)" "gpus"
	api POST /v1/sandboxes -d '{"image":"host","gpus":["0"]}'
	assert_eq "$CODE" 201 "create with a GPU"
	local id
	id=$(jget "$BODY" 'j["id"]')
	api POST /v1/sandboxes -d '{"image":"host","gpus":["0"]}'
	assert_eq "$CODE" 409 "the GPU is taken"
	assert_contains "$BODY" "free: none" "what is free"
	api POST /v1/sandboxes -d '{"image":"host","gpus":["5"]}'
	assert_eq "$CODE" 400 "no such GPU"
	ls "$INST_PINS" | grep -q '^sys_exit-' || fail "the ioctl timer is not attached"
	"$SBX" exec "$id" -- python3 -c "$POKE"'
for _ in range(4): poke("/dev/gpu0", 25)
poke("/dev/null", 30); poke("/dev/zero", 10)' || fail "device workload"
	assert_eq "$(usage "$id" '[(g["model"], g["opens"], g["ioctls"]) for g in j["gpus"]]')" \
		"[('Stand-In', 4, 100)]" "opens and ioctls on the granted node only"
	[ "$(usage "$id" 'j["gpus"][0]["ioctl_ns"] > 0')" = True ] || fail "time in the driver"
	curl -s --unix-socket "$SBX_SOCKET" http://x/metrics | grep -q "sbx_gpu_ioctls_total{sandbox=\"$id\",tenant=\"admin\",gpu=\"$TMPD/gpu0\",model=\"Stand-In\"} 100" ||
		fail "gpu ioctls in /metrics"
	"$SBX" rm "$id" >/dev/null || fail rm
	api GET /v1/gpus
	assert_eq "$(jget "$BODY" 'j["gpus"][0]["free"]')" True "released on delete"
	ls "$INST_PINS" | grep -q '^sys_exit-' && fail "the ioctl timer stays attached without holders"
	true
}

# CUDA talks to the driver's shared nodes (nvidiactl, nvidia-uvm) far more than to the GPU's
# own node: on an H200, 37 of a CUDA start's ~480 driver ioctls went to /dev/nvidia0. Those
# count with the sandbox's first GPU. Stand-ins that open without a driver: /dev/full's
# numbers as nvidia0, /dev/random's as nvidiactl.
t_gpu_driver_nodes() {
	local r=$TMPD/nv id
	mkdir -p "$r/dev" "$r/proc"
	mknod "$r/dev/nvidia0" c 1 7
	mknod "$r/dev/nvidiactl" c 1 8
	start_sbxd --images "$(sbxd_images)" --nvidia-root "$r"
	id=$("$SBX" create --image host --gpu 0) || fail "create --gpu 0"
	"$SBX" exec "$id" -- python3 -c "$POKE"'
poke("/dev/nvidia0", 10); poke("/dev/nvidiactl", 30); poke("/dev/null", 5)' || fail "device workload"
	assert_eq "$(usage "$id" '[(g["device"].rsplit("/", 1)[1], g["opens"], g["ioctls"]) for g in j["gpus"]]')" \
		"[('nvidia0', 2, 40)]" "the GPU's node and the driver's, not /dev/null"
	[ "$(bpftool map dump pinned "$INST_PINS/gpu_devs" | grep -c '"dev":')" = 2 ] ||
		fail "the meter's device map while held: $(bpftool map dump pinned "$INST_PINS/gpu_devs")"
	"$SBX" rm "$id" >/dev/null || fail rm
	# Given back: the meter forgets both nodes.
	[ "$(bpftool map dump pinned "$INST_PINS/gpu_devs" | grep -c '"dev":')" = 0 ] ||
		fail "the meter's device map after rm: $(bpftool map dump pinned "$INST_PINS/gpu_devs")"
}

source "$(dirname "$0")/lib.sh"
