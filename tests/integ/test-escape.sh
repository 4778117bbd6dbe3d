#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Attacks on the isolation and the limits, from inside sandboxes (through sbxd's API and
# sbx run) and against the API itself, one case per class. Each checks what the kernel
# or the daemon does (the cgroup file, the refused syscall, the answer), not a record.

# pid_of ID: the host pid of a sandbox's PID 1.
pid_of() { jget "$("$SBX" inspect "$1")" 'j["pid"]'; }
# cpu_quota PID: the CPU quota in the cgroup of PID's sandbox, in microseconds a period.
cpu_quota() { cg_limit "$1" cpu cpu.cfs_quota_us cpu.max | cut -d' ' -f1; }
# wait_pgrep PATTERN: until a process matches (pgrep -f); prints the newest one's pid.
wait_pgrep() {
	for _ in $(seq 200); do
		pgrep -n -f "$1" && return 0
		sleep 0.02
	done
	fail "no process matches '$1'"
}
# cg_limit PID CONTROLLER FILE_V1 FILE_V2: the value of a limit in the cgroup of PID's
# sandbox (the v1 controller's file on hybrid hosts, else the v2 one).
cg_limit() {
	local pid=$1 ctl=$2 v1=$3 v2=$4 rel
	if [ -d /sys/fs/cgroup/unified ]; then
		rel=$(grep -E "^[0-9]+:([^:]*,)?$ctl(,[^:]*)?:" "/proc/$pid/cgroup" | cut -d: -f3)
		cat "/sys/fs/cgroup/$ctl$rel/$v1"
	else
		rel=$(grep '^0::' "/proc/$pid/cgroup" | cut -d: -f3)
		cat "/sys/fs/cgroup$rel/$v2"
	fi
}

# Forks until refused, children kept; prints how many it made.
FORK_COUNT='
import os, time
n = 0
for i in range(100):
    try:
        if os.fork() == 0: time.sleep(5); os._exit(0)
        n += 1
    except OSError: break
print(n)'

# ---- leaked descriptors and magic links ----

# The workdir (runc's CVE-2024-21626 class): no descriptor of the launcher reaches the
# child, and no path leads out of the root, through the API, sbx run and exec.
t_leaked_descriptors_and_magic_links() {
	start_sbxd
	local p n
	for n in $(seq 0 15); do
		for p in "/proc/self/fd/$n" "/proc/thread-self/fd/$n" "/proc/1/fd/$n"; do
			api POST /v1/sandboxes -d "{\"workdir\":\"$p\",\"cmd\":[\"sh\",\"-c\",\"cd ..; cd ..; cd ..; ls /\"]}"
			assert_eq "$CODE" 400 "workdir $p ($BODY)"
		done
		run_sbx run --workdir "/proc/self/fd/$n" -- sh -c 'cd ../../..; ls /root /etc/shadow; pwd'
		assert_eq "$RC" 125 "sbx run --workdir /proc/self/fd/$n ($OUT)"
	done
	for p in /proc/self/cwd /proc/1/cwd /proc/1/root /proc/self/root/.. /../../proc/1/root; do
		api POST /v1/sandboxes -d "{\"workdir\":\"$p/..\"}"
		[ "$CODE" = 400 ] || [ "$(jget "$BODY" 'j["state"]')" = running ] ||
			fail "workdir $p: $CODE $BODY"
	done
	# What the workload holds: stdio of its own, nothing of the host.
	local id out
	id=$("$SBX" create --image host) || fail create
	out=$("$SBX" exec "$id" -- sh -c 'for f in /proc/self/fd/* /proc/1/fd/*; do readlink "$f"; done 2>&1')
	assert_not_contains "$out" "/sys/fs/cgroup" "a cgroup directory held"
	assert_not_contains "$out" "$TMPD" "a host file held"
	assert_not_contains "$out" "sbxd.sock" "sbxd's socket held"
	out=$("$SBX" exec "$id" -- sh -c 'ls /proc/self/fd | wc -l')
	[ "$out" -le 4 ] || fail "the command holds $out descriptors"
	# exec: its directory is resolved inside too.
	for n in 0 1 2 3 4 5 6 7; do
		api POST "/v1/sandboxes/$id/exec" -d "{\"cmd\":[\"sh\",\"-c\",\"cd ../../..; ls /work /root 2>&1; pwd\"],\"workdir\":\"/proc/self/fd/$n\"}"
		assert_not_contains "$BODY" "main" "exec in /proc/self/fd/$n reached the host: $BODY"
		[ "$(jget "$BODY" 'j["exit_code"]')" != 0 ] || fail "exec in /proc/self/fd/$n ran: $BODY"
	done
	# sbx run: the launcher's descriptors (a terminal aside) never reach the workload.
	run_sbx run -- sh -c 'ls /proc/self/fd; readlink /proc/self/fd/* 2>/dev/null'
	assert_not_contains "$OUT" "cgroup" "sbx run: cgroup directory"
	assert_eq "$(echo "$OUT" | head -n 5 | tr '\n' ' ')" "0 1 2 3 " "sbx run: descriptors (ls holds 3)"
}

# ---- /proc writes and kernel information ----

t_proc_writes() {
	start_sbxd
	local id out
	id=$("$SBX" create --image host) || fail create
	out=$("$SBX" exec "$id" -- sh -c '
for f in /proc/sys/kernel/core_pattern /proc/sys/kernel/modprobe /proc/sys/vm/drop_caches \
	/proc/sysrq-trigger /proc/sys/kernel/hostname /proc/sys/net/ipv4/ip_forward; do
	(echo 1 > $f) 2>/dev/null && echo "WROTE $f"
done
for f in /proc/1/mem /proc/1/environ /proc/1/maps /proc/1/fd/4 /proc/1/root/etc/passwd; do
	(head -c 1 $f >/dev/null) 2>/dev/null && echo "READ $f"
done
for f in /proc/slabinfo /proc/vmallocinfo /proc/pagetypeinfo /proc/kpageflags /proc/kmsg \
	/proc/kallsyms /proc/iomem /proc/timer_list /proc/keys /proc/kcore /proc/cmdline; do
	[ -s $f ] && [ -n "$(head -c 64 $f 2>/dev/null)" ] && echo "INFO $f"
done
grep -c "" /proc/self/mountinfo >/dev/null; echo done')
	assert_eq "$out" done "writes, reads and kernel information from inside"
	# No host path in its mount table: not the tree, not the state, not sbx's own.
	out=$("$SBX" exec "$id" -- cat /proc/self/mountinfo)
	assert_not_contains "$out" "$(cd "$B/.." && pwd)" "the source tree in mountinfo"
	assert_not_contains "$out" "$TMPD" "the state directory in mountinfo"
	assert_not_contains "$out" "/run/sbx" "/run/sbx in mountinfo"
	# Nor the namespace sbxd's launches are copied from (its tmpfs root is detached).
	assert_not_contains "$out" "sbx-template" "the launch template in mountinfo"
	run_sbx run --writable-size 8M -- cat /proc/self/mountinfo
	assert_not_contains "$OUT" "$(cd "$B/.." && pwd)" "sbx run: the source tree in mountinfo"
	assert_not_contains "$OUT" "/run/sbx" "sbx run: /run/sbx in mountinfo"
}

# ---- device nodes ----

t_device_nodes() {
	local img
	img=$(helper_image)
	run_sbx run --image host --writable-size 8M -- sh -c '
mknod /tmp/sda b 8 0 2>&1 | head -n1; mknod /tmp/mem c 1 1 2>&1 | head -n1
mknod /dev/x c 1 3 2>&1 | head -n1
for d in /dev/mem /dev/kmsg /dev/sda /dev/vda /dev/vsock /dev/kvm; do [ -e $d ] && echo "HAS $d"; done
(echo x > /dev/sbx-init) 2>&1 | head -n1
echo ok'
	assert_not_contains "$OUT" "HAS" "device nodes present"
	assert_eq "$(echo "$OUT" | tail -n1)" ok "finished"
	[ "$(echo "$OUT" | grep -c 'Operation not permitted\|Read-only file system\|Permission denied')" -ge 4 ] ||
		fail "device creation was not refused: $OUT"
	cmp -s "$B/sbx-init" <("$SBX" run -- cat /dev/sbx-init) || fail "/dev/sbx-init changed"
	# The terminal sbx run was started from cannot be driven from inside (TIOCSTI).
	cat >"$TMPD/sti.py" <<'PY'
import fcntl, termios, sys
try:
    fcntl.ioctl(0, termios.TIOCSTI, b"x")
    print("INJECTED")
except OSError as e:
    print("refused", e.errno)
PY
	mkdir -p "$TMPD/stimg" && cp -a "$B/images/host/." "$TMPD/stimg/" 2>/dev/null
	cp "$TMPD/sti.py" "$TMPD/stimg/rootfs/sti.py"
	out=$(script -qec "$SBX run --image $TMPD/stimg -- python3 /sti.py" /dev/null </dev/null)
	assert_contains "$out" "refused" "TIOCSTI on the launcher's terminal"
	assert_not_contains "$out" "INJECTED" "TIOCSTI on the launcher's terminal"
}

# ---- sockets ----

t_sockets() {
	local probe='
import errno, socket
for name, fam, typ, proto in [("vsock", 40, 1, 0), ("packet", 17, 3, 0), ("alg", 38, 5, 0),
		("bluetooth", 31, 1, 0), ("uevent", 16, 3, 15), ("audit", 16, 3, 9), ("xdp", 44, 3, 0),
		("rds", 21, 5, 0), ("tipc", 30, 2, 0), ("key", 15, 3, 2), ("high", 0x10002, 1, 0)]:
    try:
        socket.socket(fam, typ, proto); print(name, "OPEN")
    except OSError as e:
        print(name, errno.errorcode.get(e.errno, e.errno))
for name, fam, typ, proto in [("unix", 1, 1, 0), ("inet", 2, 1, 0), ("inet6", 10, 1, 0), ("route", 16, 3, 0)]:
    socket.socket(fam, typ, proto); print(name, "ok")
try:
    socket.socketpair(2, 1); print("pair-inet OPEN")
except OSError as e:
    print("pair-inet", errno.errorcode.get(e.errno, e.errno))
'
	run_sbx run --image host -- python3 -c "$probe"
	assert_eq "$RC" 0 "probe ($ERR)"
	assert_not_contains "$OUT" "OPEN" "a family outside unix, inet, inet6 and netlink route"
	assert_contains "$OUT" "vsock EAFNOSUPPORT" "AF_VSOCK"
	assert_contains "$OUT" "uevent EPROTONOSUPPORT" "netlink uevents"
	assert_contains "$OUT" $'unix ok\ninet ok\ninet6 ok\nroute ok' "the families a sandbox needs"
	# The same through sbxd, and its socket is nowhere in the sandbox.
	start_sbxd
	local id
	id=$("$SBX" create --image host) || fail create
	assert_eq "$("$SBX" exec "$id" -- python3 -c "$probe" | grep -c OPEN)" 0 "sbxd sandbox: open families"
	out=$("$SBX" exec "$id" -- python3 -c '
import socket
for a in ["'"$SBX_SOCKET"'", "/run/sbx/sbxd.sock", "\0sbx/ctl"]:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(a); s.sendall(b"GET /v1/sandboxes HTTP/1.0\r\n\r\n"); print(a, s.recv(200)[:20])
    except OSError as e:
        print(a.replace("\0", "@"), "no")')
	assert_not_contains "$out" "HTTP" "sbxd's API from inside"
	assert_eq "$("$SBX" exec "$id" -- sh -c 'cat /proc/net/unix | grep -c sbxd' || true)" 0 "sbxd's socket visible"
}

# ---- signals to PID 1 ----

t_signals_to_pid1() {
	start_sbxd
	local id pid
	id=$("$SBX" create --image host -- sleep 1000) || fail create
	pid=$(pid_of "$id")
	# A signal queued with a forged sender (si_pid 0, as the host's look), and plain kills.
	"$SBX" exec "$id" -- python3 -c '
import ctypes, signal, struct, os
libc = ctypes.CDLL(None, use_errno=True)
for code in (-1, 0, 0x80, -6):
    info = struct.pack("iii", signal.SIGTERM, 0, code) + struct.pack("ii", 0, 0) + bytes(128 - 20)
    libc.syscall(129, 1, signal.SIGTERM, ctypes.c_char_p(info))  # rt_sigqueueinfo
for s in (signal.SIGTERM, signal.SIGKILL, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGSTOP):
    try: os.kill(1, s)
    except OSError: pass
libc.syscall(297, 1, 1, signal.SIGTERM, ctypes.c_char_p(struct.pack("iii", signal.SIGTERM, 0, -1) + bytes(116)))  # rt_tgsigqueueinfo
' || true
	sleep 0.5
	kill -0 "$pid" || fail "PID 1 ($pid) is gone"
	local st
	st=$(awk '/^State:/ { print $2 }' "/proc/$pid/status")
	[[ "$st" == [SR] ]] || fail "PID 1's state is $st (stopped or dead)"
	assert_eq "$(pid_of "$id")" "$pid" "the same PID 1"
	assert_eq "$("$SBX" exec "$id" -- echo alive)" alive "it serves"
	# The host's own still work.
	"$SBX" rm "$id" >/dev/null || fail rm
	run_sbx run --timeout 5s -- sh -c 'trap "echo got-term; exit 7" TERM; kill -TERM 1; sleep 0.3; echo still'
	assert_eq "$OUT" still "sbx run: a signal to PID 1 from inside"
}

# ---- PID 1 wedges ----

# The workload stops every process sbx-init starts, before it can exec, and keeps the
# control socket's backlog full; sbxd, killed and restarted, serves everyone at once.
t_pid1_wedges() {
	start_sbxd
	local bad good t0 t1
	bad=$("$SBX" create --image host -- python3 -c '
import os, signal, socket, time
socks = []
while True:
    for _ in range(1000):  # every process but PID 1 and this one, as soon as it exists
        try: os.kill(-1, signal.SIGSTOP)
        except OSError: pass
    for _ in range(64):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.setblocking(False)
        try: s.connect("\0sbx/ctl"); socks.append(s)
        except OSError: s.close()
    socks = socks[-4096:]
    time.sleep(0.001)') || fail create
	good=$("$SBX" create --image base) || fail create
	sleep 1
	# Commands in the wedged sandbox do not hold up the daemon.
	local execs=()
	for _ in $(seq 10); do
		timeout 20 "$SBX" exec --timeout 2s "$bad" -- true >/dev/null 2>&1 &
		execs+=($!)
		sleep 0.05
	done
	sleep 0.5
	assert_eq "$(timeout 10 "$SBX" exec "$good" -- echo ok)" ok "another sandbox while one is wedged"
	kill_sbxd
	t0=$(date +%s%N)
	start_sbxd
	assert_eq "$(timeout 10 "$SBX" exec "$good" -- echo ok)" ok "another sandbox after the restart"
	t1=$(date +%s%N)
	[ $(((t1 - t0) / 1000000)) -lt 5000 ] || fail "sbxd took $(((t1 - t0) / 1000000)) ms to serve after a restart"
	api GET /v1/health
	assert_eq "$CODE" 200 "health"
	"$SBX" rm "$bad" >/dev/null || fail "rm of the wedged sandbox"
	wait "${execs[@]}" || true # they end one way or another
}

# sbx-init --resume reads the state an exec of itself left in a memfd. A sandbox process
# can run /dev/sbx-init --resume with a state of its own making: hostile counts are
# refused ("unreadable state", 125) instead of read past its tables. (The layout is the
# one every sbx-init reads: magic, size, then nconns at 24; 20856 bytes in all.)
t_forged_resume_state() {
	local forge='
import os, struct, subprocess, sys
for nconns in (100000, -5, 17):
    fd = os.memfd_create("state", 0)
    os.ftruncate(fd, 20856)
    os.pwrite(fd, struct.pack("<II", 0x73627872, 20856), 0)
    os.pwrite(fd, struct.pack("<i", nconns), 24)
    try:
        p = subprocess.run(["/dev/sbx-init", "--resume", str(fd)], pass_fds=[fd],
                           capture_output=True, text=True, timeout=5)
        print(nconns, p.returncode, p.stderr.strip())
    except subprocess.TimeoutExpired:
        print(nconns, "still running")
    os.close(fd)
'
	run_sbx run --image host -- python3 -c "$forge"
	assert_eq "$RC" 0 "the forger ($ERR)"
	assert_eq "$OUT" "100000 125 sbx-init: --resume: unreadable state
-5 125 sbx-init: --resume: unreadable state
17 125 sbx-init: --resume: unreadable state" "forged connection counts"
}

# Its processes flood PID 1's log pipe and connect to its socket as fast as they can:
# PID 1 still serves the host.
t_pid1_floods() {
	start_sbxd
	local id t0 t1
	id=$("$SBX" create --image host --cpus 2 -- sh -c 'for i in 1 2 3 4 5 6 7 8; do cat /dev/zero & done
python3 -c "
import socket
while True:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.setblocking(False)
    try: s.connect(\"\0sbx/ctl\")
    except OSError: pass
    s.close()" & wait') || fail create
	sleep 1
	t0=$(date +%s%N)
	assert_eq "$(timeout 10 "$SBX" exec "$id" -- echo ok)" ok "a command while PID 1 is flooded"
	t1=$(date +%s%N)
	[ $(((t1 - t0) / 1000000)) -lt 5000 ] || fail "the command took $(((t1 - t0) / 1000000)) ms"
	local size
	size=$(stat -c %s "$TMPD/state/sandboxes/$id/log")
	# The cap, and the line that says so.
	[ "$size" -ge $((16 << 20)) ] && [ "$size" -le $(((16 << 20) + 64)) ] || fail "a log of $size bytes"
	"$SBX" rm "$id" >/dev/null || fail rm
}

# A restored sandbox's PID 1 starts again from an exec (so that it can be checkpointed
# again); its processes, already running, race to open PID 1's host files meanwhile.
t_restored_pid1_closed() {
	start_sbxd
	need_criu
	local id snap r
	id=$("$SBX" create --image host -- python3 -c '
import os, time
for i in range(2):
    if os.fork() == 0: break
while True:
    for p in ("/proc/1/fd/4", "/proc/1/fd/5", "/proc/1/mem"):
        try: fd = os.open(p, os.O_WRONLY | os.O_APPEND)
        except OSError: continue
        os.write(fd, b"\nPWNED " + p.encode() + b"\n")
    time.sleep(0.0005)') || fail create
	sleep 0.5
	for _ in 1 2 3 4 5; do
		snap=$("$SBX" checkpoint "$id") || fail checkpoint
		r=$("$SBX" restore "$snap") || fail restore
		"$SBX" rm "$snap" >/dev/null
		sleep 0.3
		id=$r
	done
	grep -la PWNED "$TMPD/state/sandboxes/"*/log "$TMPD/state/sandboxes/"*/status 2>/dev/null &&
		fail "a restored sandbox wrote to its host files"
	assert_eq "$(stat -c %U "$TMPD/state/sandboxes/$id/log")" root "owner of the restored log"
	assert_eq "$("$SBX" exec "$id" -- echo served)" served "it serves"
}

# ---- resource floods: every limit holds, as recorded ----

t_limits_hold_api() {
	start_sbxd
	local id
	# Memory: the record says 64M, the cgroup says 64M, the workload dies at it.
	id=$("$SBX" create --image host --memory 64M --pids 32 --cpus 0.5 -- python3 -c '
b = []
for i in range(64): b.append(bytearray(8 << 20)); b[-1][::4096] = b"x" * 2048
print("survived")') || fail create
	assert_eq "$(wait_exit "$id")" 137 "an OOM kill at 64M"
	id=$("$SBX" create --image host --memory 64M --pids 32 --cpus 0.5) || fail create
	local pid
	pid=$(pid_of "$id")
	assert_eq "$(cg_limit "$pid" memory memory.limit_in_bytes memory.max)" $((64 << 20)) "memory limit in the cgroup"
	assert_eq "$(cg_limit "$pid" pids pids.max pids.max)" 32 "pids limit in the cgroup"
	assert_eq "$(cpu_quota "$pid")" 50000 "CPU quota in the cgroup (0.5 of 100 ms)"
	assert_eq "$(jget "$("$SBX" inspect "$id")" 'j["limits"]["memory_bytes"], j["limits"]["pids"], j["limits"]["cpus"]')" \
		"($((64 << 20)), 32, 0.5)" "the record"
	# Processes: fork fails at the limit.
	local n
	n=$("$SBX" exec "$id" -- python3 -c "$FORK_COUNT")
	[ "$n" -lt 32 ] && [ "$n" -ge 20 ] || fail "$n processes forked under pids 32"
	# CPU: a busy loop gets the quota, within 10%: the CPU time it got over its 3 s, as
	# the kernel accounts it to the loop itself.
	local share
	share=$("$SBX" exec "$id" -- python3 -c '
import time
t, c = time.monotonic(), time.process_time()
while time.monotonic() - t < 3.0: pass
print((time.process_time() - c) / (time.monotonic() - t))')
	python3 -c "import sys; print('share', $share); sys.exit(0 if 0.45 <= $share <= 0.55 else 1)" ||
		fail "CPU under cpus 0.5: a share of $share"
	# Uploads are charged to the sandbox: 96 MiB into 64M fails inside, not on the host,
	# and leaves nothing behind.
	id=$("$SBX" create --image host --memory 64M) || fail create
	pid=$(pid_of "$id")
	head -c $((96 << 20)) /dev/urandom >"$TMPD/big"
	api PUT "/v1/sandboxes/$id/files?path=/tmp/big" --data-binary "@$TMPD/big"
	assert_eq "$CODE" 507 "96 MiB into a 64M sandbox ($BODY)"
	assert_eq "$("$SBX" exec "$id" -- sh -c 'ls -A /tmp | grep -c . || true')" 0 "nothing left of it"
	head -c $((16 << 20)) /dev/urandom >"$TMPD/mid"
	local before after
	before=$(cg_limit "$pid" memory memory.usage_in_bytes memory.current)
	api PUT "/v1/sandboxes/$id/files?path=/tmp/mid" --data-binary "@$TMPD/mid"
	assert_eq "$CODE" 200 "16 MiB upload ($BODY)"
	after=$(cg_limit "$pid" memory memory.usage_in_bytes memory.current)
	[ $((after - before)) -ge $((15 << 20)) ] || fail "the upload charged $((after - before)) bytes to the sandbox"
	# Above the host's maxima: refused, and nothing is made.
	api POST /v1/sandboxes -d '{"limits":{"memory":"64T"}}'
	assert_eq "$CODE" 400 "memory above the maximum"
	assert_contains "$BODY" "limits.memory: at most" "says which"
	api POST /v1/sandboxes -d '{"limits":{"pids":4000000}}'
	assert_eq "$CODE" 400 "pids above the maximum"
	api POST /v1/sandboxes -d '{"limits":{"cpus":1000}}'
	assert_eq "$CODE" 400 "cpus above the maximum"
	api POST /v1/sandboxes -d '{"writable_size":"1T"}'
	assert_eq "$CODE" 400 "writable layer above the maximum"
	api POST /v1/sandboxes -d '{"user_ns":false}'
	assert_eq "$CODE" 400 "no user namespace"
}

# A restore puts the writable layer back in the sandbox's own memory: what it held counts
# against its limit, as before the checkpoint.
t_restore_charges_layer() {
	start_sbxd
	need_criu
	local id r snap pid
	id=$("$SBX" create --image base --memory 64M --writable-size 1G) || fail create
	"$SBX" exec "$id" -- sh -c 'dd if=/dev/zero of=/big bs=1M count=40 2>/dev/null' || fail "40 MiB"
	snap=$("$SBX" checkpoint "$id") || fail checkpoint
	r=$("$SBX" restore "$snap") || fail restore
	pid=$(pid_of "$r")
	[ "$(cg_limit "$pid" memory memory.usage_in_bytes memory.current)" -ge $((40 << 20)) ] ||
		fail "the restored layer is not charged to the sandbox"
	"$SBX" exec "$r" -- sh -c 'dd if=/dev/zero of=/big2 bs=1M count=40 2>/dev/null; sync'
	local held
	held=$("$SBX" exec "$r" -- sh -c 'du -sm /big /big2 2>/dev/null | awk "{s += \$1} END {print s}"')
	[ "${held:-0}" -lt 64 ] || fail "$held MiB held under a 64M limit after a restore"
}

# /dev/shm and /tmp are the writable layer's (a bind of its shm/, the root's own /tmp):
# the kernel executes nothing from /dev/shm, its ".." is /dev, never the layer's upper/
# or work/, nothing links across to the root, and both stop at the layer's size.
t_scratch_in_layer() {
	start_sbxd
	local id out
	id=$("$SBX" create --image base --writable-size 4M) || fail create
	out=$("$SBX" exec "$id" -- sh -c '
		cp /bin/busybox /dev/shm/x && /dev/shm/x true 2>&1; echo "exec $?"
		ls -a /dev/shm/.. | grep -cxE "upper|work"
		[ "$(stat -c %d:%i /dev/shm/..)" = "$(stat -c %d:%i /dev)" ] && echo "parent /dev"
		rm /dev/shm/x; echo a >/dev/shm/f; ln /dev/shm/f /tmp/f 2>&1; echo "ln $?"
		dd if=/dev/zero of=/dev/shm/big bs=1k count=8192 2>&1 | grep -c "No space left"
		rm -f /dev/shm/big; dd if=/dev/zero of=/tmp/big bs=1k count=8192 2>&1 | grep -c "No space left"')
	assert_contains "$out" "Permission denied" "a program in /dev/shm runs"
	assert_contains "$out" "exec 126" "a program in /dev/shm runs"
	assert_contains "$out" "Invalid cross-device link" "a link from /dev/shm into the root"
	assert_eq "$(echo "$out" | grep -vE "denied|link" | tr '\n' ' ')" "exec 126 0 parent /dev ln 1 1 1 " \
		"/dev/shm and /tmp inside the layer"
	"$SBX" rm "$id" >/dev/null || fail rm
}

# Slow work (checkpoints) leaves room for launches: a create does not wait behind them.
t_slow_work_apart() {
	start_sbxd
	need_criu
	local ids=() i t0 t1
	for i in 1 2 3 4; do
		ids+=("$("$SBX" create --image host --memory 512M -- python3 -c '
import time
b = bytearray(200 << 20); b[::4096] = b"x" * (len(b) // 4096)
print("READY", flush=True)
while True: time.sleep(1)')") || fail create
	done
	for i in "${ids[@]}"; do wait_log "$i" READY 30; done
	local dumps=()
	for i in "${ids[@]}"; do
		curl -s --unix-socket "$SBX_SOCKET" -X POST -d '{"leave_running":true}' \
			"http://x/v1/sandboxes/$i/checkpoint" >/dev/null &
		dumps+=($!)
	done
	sleep 0.3
	t0=$(date +%s%N)
	"$SBX" create --image base >/dev/null || fail "create during checkpoints"
	t1=$(date +%s%N)
	wait "${dumps[@]}"
	echo "create during 4 checkpoints: $(((t1 - t0) / 1000000)) ms"
	[ $(((t1 - t0) / 1000000)) -lt 1000 ] || fail "a create waited $(((t1 - t0) / 1000000)) ms behind checkpoints"
}

# A tenant keeps at most --max-snapshots snapshots.
t_snapshot_quota() {
	start_sbxd --max-snapshots 2
	need_criu
	local t id
	t=$("$B/sbxd" tenant add carol --state-dir "$TMPD/state") || fail tenant
	id=$(SBX_TOKEN=$t "$SBX" create --image base -- sleep 1000) || fail create
	SBX_TOKEN=$t "$SBX" checkpoint --leave-running "$id" >/dev/null || fail "first"
	SBX_TOKEN=$t "$SBX" checkpoint --leave-running "$id" >/dev/null || fail "second"
	api POST "/v1/sandboxes/$id/checkpoint" -H "Authorization: Bearer $t" -d '{"leave_running":true}'
	assert_eq "$CODE" 429 "a third snapshot ($BODY)"
	assert_contains "$BODY" "maximum of 2 snapshots" "says why"
}

# Pipelined requests whose answers are never read do not pile up in sbxd's memory.
t_pipelined_answers_bounded() {
	start_sbxd
	local id rss0 rss1
	id=$("$SBX" create --image base -- sh -c 'head -c 16000000 /dev/zero | tr "\0" x; sleep 1000') || fail create
	for _ in $(seq 300); do
		[ "$(stat -c %s "$TMPD/state/sandboxes/$id/log")" -ge 16000000 ] && break
		sleep 0.02
	done
	rss0=$(sbxd_rss)
	python3 - "$SBX_SOCKET" "$id" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(sys.argv[1])
s.sendall(("GET /v1/sandboxes/%s/logs HTTP/1.1\r\nHost: x\r\n\r\n" % sys.argv[2]).encode() * 60)
time.sleep(3)
PY
	local py=$!
	sleep 2.5
	rss1=$(sbxd_rss)
	wait $py
	echo "sbxd grew by $((rss1 - rss0)) KiB"
	[ $((rss1 - rss0)) -lt $((48 * 1024)) ] || fail "sbxd grew by $((rss1 - rss0)) KiB"
	api GET /v1/health
	assert_eq "$CODE" 200 "health"
}

# Without limits in the request the operator's defaults hold, in the cgroup.
t_default_limits() {
	start_sbxd --default-memory 96M --default-pids 40 --default-cpus 0.5
	local id pid
	id=$("$SBX" create --image host) || fail create
	pid=$(pid_of "$id")
	assert_eq "$(cg_limit "$pid" memory memory.limit_in_bytes memory.max)" $((96 << 20)) "default memory"
	assert_eq "$(cg_limit "$pid" pids pids.max pids.max)" 40 "default pids"
	assert_eq "$(cpu_quota "$pid")" 50000 "default CPU quota"
	assert_eq "$(jget "$("$SBX" inspect "$id")" 'j["limits"]["memory_bytes"], j["limits"]["pids"]')" \
		"($((96 << 20)), 40)" "the record"
	"$SBX" exec "$id" -- python3 -c 'b = bytearray(256 << 20); b[::4096] = b"x" * (len(b) // 4096)'
	assert_eq "$?" 137 "256 MiB under the default"
	# sbx run has its own defaults: 512M, 512 processes, one CPU.
	"$SBX" run --image host -- sleep 3 &
	local p=$!
	pid=$(wait_pgrep 'sbx-init -- sleep 3')
	assert_eq "$(cg_limit "$pid" memory memory.limit_in_bytes memory.max)" $((512 << 20)) "sbx run memory"
	assert_eq "$(cg_limit "$pid" pids pids.max pids.max)" 512 "sbx run pids"
	assert_eq "$(cpu_quota "$pid")" 100000 "sbx run: one CPU"
	wait $p
	run_sbx run --image host -- python3 -c 'b = bytearray(768 << 20); b[::4096] = b"x" * (len(b) // 4096)'
	assert_eq "$RC" 137 "sbx run: 768 MiB under its default"
}

# sbx run enforces every limit too.
t_limits_hold_run() {
	run_sbx run --image host --memory 64M -- python3 -c 'b = bytearray(256 << 20); b[::4096] = b"x" * (len(b) // 4096)'
	assert_eq "$RC" 137 "OOM at 64M"
	run_sbx run --image host --pids 16 -- python3 -c "$FORK_COUNT"
	[ "$OUT" -lt 16 ] && [ "$OUT" -ge 8 ] || fail "$OUT processes forked under --pids 16"
	# CPU: the busy loop's own CPU time over its 3 s, as the kernel accounts it to the
	# loop (the interpreter's start-up is not in it), and the run's usage record over
	# its whole life.
	run_sbx run --image host --cpus 0.5 --usage="$TMPD/cpu.json" -- python3 -c '
import time
t, c = time.monotonic(), time.process_time()
while time.monotonic() - t < 3.0: pass
print((time.process_time() - c) / (time.monotonic() - t))'
	python3 -c "import sys; print('share', $OUT); sys.exit(0 if 0.45 <= $OUT <= 0.55 else 1)" ||
		fail "CPU under --cpus 0.5: a share of $OUT"
	python3 -c "import json, sys; u = json.load(open('$TMPD/cpu.json')); s = u['cpu_ns'] / u['wall_ns']
print('recorded share', s); sys.exit(0 if 0.40 <= s <= 0.55 and u['cpu_ns'] >= 0.45 * 3e9 else 1)" ||
		fail "CPU recorded under --cpus 0.5: $(cat "$TMPD/cpu.json")"
	run_sbx run --writable-size 64T -- true
	assert_eq "$RC" 125 "a writable layer larger than the host's memory"
}

# ---- the host's root ----

t_host_uid() {
	# A launcher in the host's root group (and two more) passes none of them on.
	assert_eq "$(setpriv --groups 0,4,27 "$SBX" run -- grep Groups /proc/self/status | tr -d '[:space:]')" \
		"Groups:" "sbx run's supplementary groups in the sandbox"
	SBXD_WRAP="setpriv --groups 0,4,27" start_sbxd
	local a b pa pb
	a=$("$SBX" create --image base -- sleep 1000) || fail create
	b=$("$SBX" create --image base --user 0 -- sleep 1000) || fail create
	pa=$(pid_of "$a")
	pb=$(pid_of "$b")
	assert_eq "$(awk '/^Groups:/ {print $2}' "/proc/$pa/status")" "" "sbxd's supplementary groups in a sandbox"
	local ua ub
	ua=$(awk '/^Uid:/ {print $2}' "/proc/$pa/status")
	ub=$(awk '/^Uid:/ {print $2}' "/proc/$pb/status")
	[ "$ua" != 0 ] && [ "$ub" != 0 ] || fail "a sandbox runs as the host's root ($ua, $ub)"
	[ "$ua" != "$ub" ] || fail "two sandboxes share host uid $ua"
	assert_eq "$(awk '{print $2}' "/proc/$pa/uid_map")" "$ua" "uid_map of $a"
	# A file its root makes is owned, on the host, by its range, not by root.
	"$SBX" exec "$a" -- sh -c 'echo x > /mine' || fail "write"
	assert_eq "$(stat -c %u "$INST_RUN/layers/$a/upper/mine")" "$ua" "host owner of a sandbox's file"
	# Through the files API as well.
	echo y | "$SBX" cp - "$a:/tmp/y" || fail "cp in"
	assert_eq "$("$SBX" exec "$a" -- stat -c %u /tmp/y)" 0 "owner inside"
}

# ---- tenants ----

t_tenants_apart() {
	start_sbxd --listen 127.0.0.1:0
	local port ta tb id
	port=$(sbxd_port) SBXD_PORT=$port
	ta=$("$B/sbxd" tenant add alice --state-dir "$TMPD/state") || fail "tenant alice"
	tb=$("$B/sbxd" tenant add bob --state-dir "$TMPD/state") || fail "tenant bob"
	tcp "$ta" POST /v1/sandboxes -d '{"image":"base"}'
	assert_eq "$CODE" 201 "alice creates"
	id=$(jget "$BODY" 'j["id"]')
	for req in "GET /v1/sandboxes/$id" "DELETE /v1/sandboxes/$id" "GET /v1/sandboxes/$id/usage" \
		"GET /v1/sandboxes/$id/logs" "GET /v1/sandboxes/$id/files?path=/etc/passwd" \
		"DELETE /v1/sandboxes/$id/files?path=/etc/passwd" "POST /v1/sandboxes/$id/checkpoint" \
		"POST /v1/sandboxes/$id/fork" "POST /v1/sandboxes/$id/timeout"; do
		tcp "$tb" ${req% *} "${req#* }" -d '{}'
		assert_eq "$CODE" 404 "bob: $req"
	done
	tcp "$tb" POST "/v1/sandboxes/$id/exec" -d '{"cmd":["true"]}'
	assert_eq "$CODE" 404 "bob: exec"
	tcp "$tb" PUT "/v1/sandboxes/$id/files?path=/tmp/x" --data-binary x
	assert_eq "$CODE" 404 "bob: upload"
	tcp "$tb" GET /v1/sandboxes
	assert_not_contains "$BODY" "$id" "bob's list"
	tcp "$tb" GET /metrics
	assert_eq "$CODE" 404 "bob: every tenant's metrics"
	tcp "wrong" GET /v1/sandboxes
	assert_eq "$CODE" 401 "an unknown token"
	CODE=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/sandboxes")
	assert_eq "$CODE" 401 "no token"
	# One connection serves one tenant.
	out=$(curl -s -H "Authorization: Bearer $ta" "http://127.0.0.1:$port/v1/health" \
		-: -s -H "Authorization: Bearer $tb" "http://127.0.0.1:$port/v1/sandboxes")
	assert_contains "$out" "another tenant" "a second tenant's token on one connection"
}

# ---- the API cannot be starved ----

# Idle TCP connections without a token (from several addresses), bodies declared but
# never sent, and tokenless uploads: the host's admins and the tenants are still served,
# and no body of an unauthenticated request is read.
t_api_starvation() {
	start_sbxd --listen 127.0.0.1:0 --auth-timeout 3s
	local port ta
	port=$(sbxd_port)
	ta=$("$B/sbxd" tenant add alice --state-dir "$TMPD/state") || fail "tenant"
	local rss0 rss1
	rss0=$(sbxd_rss)
	python3 - "$port" "$ta" "$SBX_SOCKET" >"$TMPD/flood" 2>&1 <<'PY' || { cat "$TMPD/flood"; fail "flood"; }
import socket, sys, time, http.client, resource
port, token, unix = int(sys.argv[1]), sys.argv[2], sys.argv[3]
resource.setrlimit(resource.RLIMIT_NOFILE, (16384, 16384))
held = []
for a in ("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"):
    for i in range(1024):
        s = socket.socket(); s.bind((a, 0))
        try:
            s.connect(("127.0.0.1", port)); held.append(s)
        except OSError:
            s.close()
# Tokenless requests that declare big bodies, sending a little of them.
for i in range(16):
    s = socket.socket(); s.bind(("127.0.0.5", 0)); s.connect(("127.0.0.1", port))
    s.sendall(b"POST /v1/sandboxes HTTP/1.1\r\nHost: x\r\nContent-Length: 67108864\r\n\r\n" + b"x" * 65536)
    s.settimeout(2)
    r = s.recv(200)
    assert b" 401 " in r, r
    held.append(s)
def unix_health():
    s = socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect(unix)
    t = time.monotonic(); s.sendall(b"GET /v1/health HTTP/1.0\r\n\r\n")
    r = s.recv(200); return r, time.monotonic() - t
r, dt = unix_health()
assert b" 200 " in r and dt < 1, (r, dt)
c = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
c.request("GET", "/v1/sandboxes", headers={"Authorization": "Bearer " + token})
resp = c.getresponse(); assert resp.status == 200, resp.status; resp.read()
print("served with", len(held), "held")
# The ones that never showed a token are closed after --auth-timeout.
time.sleep(4)
closed = 0
for s in held:
    s.setblocking(False)
    try:
        if s.recv(1) == b"": closed += 1
    except BlockingIOError: pass
    except OSError: closed += 1
print("closed", closed)
assert closed >= len(held) - 16, closed
PY
	cat "$TMPD/flood"
	rss1=$(sbxd_rss)
	[ $((rss1 - rss0)) -lt $((64 * 1024)) ] || fail "sbxd grew by $((rss1 - rss0)) KiB"
	api GET /v1/health
	assert_eq "$CODE" 200 "health after"
}

# One tenant cannot take the whole buffer budget: not with bodies declared and never
# sent, not with command output it never reads. The admins and another tenant are
# served meanwhile; a body whose sender has gone is let go at once.
t_budget_shares() {
	start_sbxd --listen 127.0.0.1:0
	local port ta tb a b
	port=$(sbxd_port)
	ta=$("$B/sbxd" tenant add alice --state-dir "$TMPD/state") || fail "tenant alice"
	tb=$("$B/sbxd" tenant add bob --state-dir "$TMPD/state") || fail "tenant bob"
	a=$(curl -s -H "Authorization: Bearer $ta" "http://127.0.0.1:$port/v1/sandboxes" -d '{"image":"base"}' |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])') || fail "alice creates"
	b=$(curl -s -H "Authorization: Bearer $tb" "http://127.0.0.1:$port/v1/sandboxes" -d '{"image":"base"}' |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])') || fail "bob creates"
	local rss0 rss1
	rss0=$(sbxd_rss)
	python3 - "$port" "$ta" "$tb" "$SBX_SOCKET" "$a" "$b" >"$TMPD/flood" 2>&1 <<'PY' || { cat "$TMPD/flood"; fail "flood"; }
import json, socket, sys, time
port, ta, tb, unix, a, b = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
def tcp(token, rcvbuf=0):
    s = socket.socket()
    if rcvbuf: s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", port)); return s
def ask(s, method, path, token, body=b""):
    s.sendall(b"%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n"
              % (method.encode(), path.encode(), token.encode(), len(body)) + body)
def status(s):
    s.settimeout(10); return int(s.recv(65536).split(b" ")[1])
exec_true = json.dumps({"cmd": ["echo", "hi"]}).encode()
# Alice declares 16 bodies of 16M and sends none of them.
held = []
for _ in range(16):
    s = tcp(ta)
    s.sendall(b"POST /v1/sandboxes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
              b"Content-Length: 16777216\r\n\r\n{" % ta.encode())
    held.append(s)
time.sleep(0.5)
s = tcp(tb); ask(s, "POST", "/v1/sandboxes/%s/exec" % b, tb, exec_true)
assert status(s) == 200, "bob's exec while alice holds bodies"
u = socket.socket(socket.AF_UNIX); u.connect(unix)
u.sendall(b"POST /v1/sandboxes/%s/exec HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (a.encode(), len(exec_true)) + exec_true)
assert status(u) == 200, "the admin's exec while alice holds bodies"
# She goes: what she held is let go at once, not after the request timeout.
for s in held: s.close()
time.sleep(0.5)
s = tcp(ta); ask(s, "POST", "/v1/sandboxes/%s/exec" % a, ta, exec_true)
assert status(s) == 200, "alice again, once her bodies are gone"
# Alice's commands print 8 MiB of NULs (48 MiB as JSON) to readers that never read.
out = json.dumps({"cmd": ["sh", "-c", "head -c 4194304 /dev/zero; head -c 4194304 /dev/zero >&2"]}).encode()
slow = []
for _ in range(12):
    s = tcp(ta, 4096); ask(s, "POST", "/v1/sandboxes/%s/exec" % a, ta, out); slow.append(s)
time.sleep(6)
s = tcp(tb); ask(s, "POST", "/v1/sandboxes/%s/exec" % b, tb, exec_true)
r = b""
s.settimeout(10)
while b"exit_code" not in r:
    d = s.recv(65536)
    if not d: break
    r += d
assert b'"stdout":"hi\\n"' in r, r[:300]
print("served; holding", len(slow))
PY
	rss1=$(sbxd_rss)
	cat "$TMPD/flood"
	# A quarter of 256 MiB, and what one answer may go past it by.
	echo "sbxd grew by $((rss1 - rss0)) KiB"
	[ $((rss1 - rss0)) -lt $((160 * 1024)) ] || fail "sbxd grew by $((rss1 - rss0)) KiB for one tenant"
}

# Sandboxes that exit at once do not pile their logs up on the host's disk: a tenant
# keeps as many exited ones listed as it may run, its oldest go with their files.
t_exited_logs_bounded() {
	start_sbxd --listen 127.0.0.1:0 --max-per-tenant 3
	local port ta ids=() id n
	port=$(sbxd_port)
	ta=$("$B/sbxd" tenant add alice --state-dir "$TMPD/state") || fail "tenant alice"
	alice() { curl -s -H "Authorization: Bearer $ta" "http://127.0.0.1:$port$@"; }
	for _ in 1 2 3 4 5 6; do
		id=$(jget "$(alice /v1/sandboxes -d '{"image":"base","cmd":["sh","-c","head -c 1000000 /dev/zero | tr \"\\0\" a"]}')" \
			'j["id"]') || fail create
		ids+=("$id")
		for _ in $(seq 100); do
			[ "$(jget "$(alice "/v1/sandboxes/$id")" 'j["state"]')" = exited ] && break
			sleep 0.05
		done
	done
	n=$(jget "$(alice /v1/sandboxes)" 'len(j["sandboxes"])')
	assert_eq "$n" 3 "exited sandboxes alice keeps listed"
	[ ! -e "$TMPD/state/sandboxes/${ids[0]}" ] || fail "the oldest one's log is still on disk"
	[ -s "$TMPD/state/sandboxes/${ids[5]}/log" ] || fail "the newest one's log is gone"
}

# ---- CRIU's /run ----

# A directory another user made where CRIU's cache once lived is not used.
t_criu_run_dir() {
	rm -rf /dev/shm/sbx-criu
	mkdir -p /dev/shm/sbx-criu && chown 65534:65534 /dev/shm/sbx-criu && touch /dev/shm/sbx-criu/marker
	start_sbxd
	local id snap
	id=$("$SBX" create --image base -- sleep 1000) || fail create
	snap=$("$SBX" checkpoint --leave-running "$id") || fail checkpoint
	assert_eq "$(ls /dev/shm/sbx-criu)" marker "the directory was used"
	assert_eq "$(stat -c %U:%a /run/sbx/runtime/criu)" "root:711" "CRIU's /run"
	"$SBX" rm "$snap" >/dev/null
	rm -rf /dev/shm/sbx-criu
}

source "$(dirname "$0")/lib.sh"
