#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Checkpoint, restore and fork with real CRIU through a real sbxd: workloads in the zdtm
# style that check their own state after a restore, fork, metering across a restore,
# tenants, and the faults (bad snapshots, a full disk, sbxd killed mid-dump).

WORKLOAD=$(cat "$(dirname "${BASH_SOURCE[0]}")/ckpt-workload.py")
COUNTER='import time,itertools
for i in itertools.count(): print(i, flush=True); time.sleep(0.05)'

# counter_with MB: a counter that holds MB MiB of touched memory (python3 -c script).
counter_with() {
	printf 'import time, itertools\nbig = bytearray(%d << 20)\nbig[::4096] = b"x" * (len(big) // 4096)\nfor i in itertools.count(): print(i, flush=True); time.sleep(0.05)' "$1"
}

# last_count ID: the last number the counter printed.
last_count() { "$SBX" logs "$1" | grep -E '^[0-9]+$' | tail -n 1; }

# The log is one run of 0, 1, 2, ... with nothing restarted or skipped.
assert_consecutive() {
	"$SBX" logs "$1" | python3 -c '
import sys
n = [int(l) for l in sys.stdin if l.strip().isdigit()]
assert n and n == list(range(n[0], n[0] + len(n))) and n[0] == 0, (n[:3], n[-3:], len(n))' ||
		fail "sandbox $1: the count did not go on where it stopped"
}

leftover_count() {
	echo $(($(inst_cgroups | wc -l) + $(ls -A "$INST_RUN/layers" 2>/dev/null | wc -l) + $(live_inits)))
}

t_quickstart() {
	start_sbxd
	need_criu
	local id snap new snap2 n
	id=$("$SBX" create --image host -- python3 -c "$COUNTER") || fail create
	wait_log "$id" 10
	snap=$("$SBX" checkpoint "$id") || fail checkpoint
	assert_contains "$snap" "snap-" "snapshot id"
	assert_eq "$(wait_exit "$id")" 137 "the checkpointed sandbox stopped"
	assert_eq "$(jget "$("$SBX" inspect "$id")" 'j["reason"], j["snapshot"]')" \
		"('checkpointed', '$snap')" "its record"
	n=$(last_count "$id")
	new=$("$SBX" restore "$snap") || fail restore
	wait_log "$new" "$((n + 10))"
	assert_consecutive "$new"
	assert_eq "$(jget "$("$SBX" inspect "$new")" 'j["restored_from"], j["hostname"]')" \
		"('$snap', '$id')" "restored record"
	# A network namespace of its own, owned by its user namespace, lo up: as a launch's,
	# though CRIU dumped none (the dump ran inside it) and ran no action script (the
	# sandbox held no inet socket).
	local pid
	pid=$(jget "$("$SBX" inspect "$new")" 'j["pid"]')
	[ "$(readlink "/proc/$pid/ns/net")" != "$(readlink /proc/self/ns/net)" ] ||
		fail "restored into the host's network namespace"
	python3 -c 'import fcntl, os, sys
owner = fcntl.ioctl(os.open(f"/proc/{sys.argv[1]}/ns/net", os.O_RDONLY), 0xb701)  # NS_GET_USERNS
sys.exit(os.fstat(owner).st_ino != os.stat(f"/proc/{sys.argv[1]}/ns/user").st_ino)' "$pid" ||
		fail "the restored network namespace is not its user namespace's"
	assert_contains "$("$SBX" exec "$new" -- ip -o link show lo)" "UP," "lo up in the restored sandbox"
	# /proc's hidden directories came back empty and read-only.
	assert_eq "$("$SBX" exec "$new" -- sh -c 'touch /proc/tty/f 2>&1 | grep -c "Read-only file system";
		ls -A /proc/tty | wc -l')" "$(printf '1\n0')" "/proc/tty in the restored sandbox"
	# Its /dev is the shared one again, read-only, with its nodes, devpts and shm: the
	# snapshot kept none of it.
	assert_eq "$("$SBX" exec "$new" -- sh -c 'touch /dev/x 2>&1 | grep -c "Read-only file system"
		awk "\$5 ~ /^\/dev(\/|\$)/ && \$5 != \"/dev/sbx-init\" {for (i = 7; \$i != \"-\"; i++); print \$4, \$5, substr(\$6, 1, 2), \$(i + 1)}" /proc/self/mountinfo | sort
		echo x > /dev/null && head -c 3 /dev/zero | wc -c; ls -A /dev/shm | wc -l; test -c /dev/pts/ptmx && echo ptmx')" \
		"$(printf '%s\n' 1 "/ /dev/pts rw devpts" "/full /dev/full rw devtmpfs" \
			"/null /dev/null rw devtmpfs" "/random /dev/random rw devtmpfs" "/sbx-dev-1 /dev ro tmpfs" \
			"/shm /dev/shm rw tmpfs" "/tty /dev/tty rw devtmpfs" "/urandom /dev/urandom rw devtmpfs" "/zero /dev/zero rw devtmpfs" 3 0 ptmx)" \
		"/dev in the restored sandbox"
	[ -z "$(ls -A /run/sbx/runtime/sbx-dev-1/shm)" ] || fail "the shared /dev was written"
	snap2=$("$SBX" checkpoint --leave-running "$new") || fail "checkpoint --leave-running"
	run_sbx fork "$new" -n 3
	assert_eq "$RC" 0 "fork: $ERR"
	local forks
	mapfile -t forks <<<"$OUT"
	assert_eq "${#forks[@]}" 3 "three copies"
	n=$(last_count "$new")
	for f in "${forks[@]}" "$new"; do
		wait_log "$f" "$((n + 10))"
		assert_consecutive "$f"
		assert_eq "$("$SBX" exec "$f" -- echo served)" served "exec in $f"
	done
	local m
	m=$(curl -s --unix-socket "$SBX_SOCKET" http://x/metrics)
	echo "$m" | promtool check metrics || fail "promtool check metrics"
	assert_contains "$m" "sbx_snapshot_bytes{snapshot=\"$snap\",tenant=\"admin\"}" "snapshot size in /metrics"
	run_sbx snapshots
	assert_contains "$OUT" "$snap" "snapshots lists the first"
	assert_contains "$OUT" "$snap2" "and the second"
	assert_eq "$(echo "$OUT" | grep -c snap-)" 2 "the fork's own snapshot is gone"
	# The same through the API.
	api POST "/v1/sandboxes/$new/checkpoint" -d '{"leave_running": true}'
	assert_eq "$CODE" 201 "POST checkpoint"
	local sid
	sid=$(jget "$BODY" 'j["id"]')
	api GET /v1/snapshots
	assert_contains "$BODY" "$sid" "GET /v1/snapshots"
	# Times as sandboxes have them: RFC 3339, UTC; the seconds kept as created_unix.
	api GET "/v1/snapshots/$sid"
	jget "$BODY" 'j["created_at"]' | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$' ||
		fail "created_at is not RFC 3339: $BODY"
	[ "$(jget "$BODY" 'abs(j["created_unix"] - __import__("time").time()) < 60')" = True ] ||
		fail "created_unix is not now: $BODY"
	api POST "/v1/snapshots/$sid/restore"
	assert_eq "$CODE" 201 "POST restore"
	api POST "/v1/sandboxes/$new/fork" -d '{"count": 2}'
	assert_eq "$CODE" 201 "POST fork"
	assert_eq "$(jget "$BODY" 'len(j["sandboxes"])')" 2 "two copies"
	api DELETE "/v1/snapshots/$sid"
	assert_eq "$CODE" 200 "DELETE snapshot"
	[ ! -e "$TMPD/state/snapshots/$sid" ] || fail "the deleted snapshot's files are still there"
	api GET "/v1/snapshots/$sid"
	assert_eq "$CODE" 404 "deleted snapshot"
	"$SBX" rm "$new" "$snap" "$snap2" >/dev/null || fail rm
	run_sbx snapshots
	assert_not_contains "$OUT" "$snap" "removed"
}

# init_memory_at_most PID ANON TABLES WHEN: sbx-init, process PID, holds at most ANON
# KiB of anonymous memory and TABLES KiB of page tables, WHEN.
init_memory_at_most() {
	local kb pte
	kb=$(awk '/^RssAnon:/ { print $2 }' "/proc/$1/status")
	pte=$(awk '/^VmPTE:/ { print $2 }' "/proc/$1/status")
	echo "sbx-init, $4: $kb KiB anonymous, $pte KiB of page tables"
	[ "$kb" -le "$2" ] || fail "sbx-init holds $kb KiB anonymous, $4 (at most $2)"
	[ "$pte" -le "$3" ] || fail "sbx-init holds $pte KiB of page tables, $4 (at most $3)"
}

# Every mount of a sandbox: root, mount point, the mount point of the mount it sits on,
# options, propagation, type, source and the super block's options; sorted. (Read twice:
# the first pass names each mount's point.)
MOUNTS_AWK='NR == FNR { at[$1] = $5; next }
	{ o = ""; for (i = 7; $i != "-"; i++) o = o " " $i
	  print $4, $5, "on:" at[$2], $6, $(i + 1), $(i + 2), $(i + 3), "tags:" o }'
# What every /proc mask hides, read from inside: each hidden file's bytes, each hidden
# directory's entries, and whether a write fails to a setting of the host's and to one
# of the sandbox's own network (read-only /proc/sys).
MASKS_SH='awk "\$4 == \"/null\" && \$5 ~ /^\/proc\// {print \$5}" /proc/self/mountinfo |
	while read -r f; do echo "$f $(wc -c <"$f")"; done
awk "\$5 ~ /^\/proc\// && \$4 ~ /\/pts\$/ {print \$5}" /proc/self/mountinfo |
	while read -r d; do echo "$d $(ls -A "$d" | wc -l)"; done
for f in /proc/sys/kernel/domainname /proc/sys/net/ipv4/ip_forward; do
	echo 0 2>/dev/null >"$f" || echo "$f ro"
done'

# The host's mounts of this instance (its runtime directory and the test's state).
inst_host_mounts() {
	awk -v r="$INST_RUN/" -v t="$TMPD/" '$5 != "/run/sbx/runtime" &&
		(index($5 "/", r) == 1 || index($5 "/", t) == 1) {print $5}' /proc/self/mountinfo | sort
}

# A restore and a fork give back the launch's mounts exactly (sbxd restores with CRIU's
# first mount engine): /proc's masks, read-only binds and /dev's nodes, all private, each
# on the mount it was on, each mask still hiding what it hid. CRIU leaves nothing
# mounted on the host.
t_mounts_restored() {
	start_sbxd
	need_criu
	local id snap new fork host0 before after masks
	host0=$(inst_host_mounts)
	id=$("$SBX" create --image base -- sleep 3600) || fail create
	before=$("$SBX" exec "$id" -- awk "$MOUNTS_AWK" /proc/self/mountinfo /proc/self/mountinfo | sort)
	[ "$(grep -c 'tags:$' <<<"$before")" = "$(wc -l <<<"$before")" ] ||
		fail "a launch's mount is not private: $before"
	grep -q '^/null /proc/kallsyms on:/proc ' <<<"$before" || fail "no mask over /proc/kallsyms: $before"
	masks=$("$SBX" exec "$id" -- sh -c "$MASKS_SH")
	echo "masks at launch:"; echo "$masks"
	grep -q "^/proc/kallsyms 0$" <<<"$masks" || fail "masks at launch: $masks"
	grep -q "^/proc/tty 0$" <<<"$masks" || fail "masks at launch: $masks"
	grep -q "^/proc/sys/net/ipv4/ip_forward ro$" <<<"$masks" || fail "masks at launch: $masks"
	[ -z "$(awk '$2 != 0 && $2 != "ro"' <<<"$masks")" ] || fail "a mask hides nothing: $masks"
	snap=$("$SBX" checkpoint --leave-running "$id") || fail checkpoint
	new=$("$SBX" restore "$snap") || fail restore
	fork=$("$SBX" fork "$new" -n 1) || fail fork
	for c in "$new" "$fork"; do
		after=$("$SBX" exec "$c" -- awk "$MOUNTS_AWK" /proc/self/mountinfo /proc/self/mountinfo | sort)
		[ "$after" = "$before" ] ||
			fail "$c's mounts differ from the launch's: $(diff <(echo "$before") <(echo "$after"))"
		assert_eq "$("$SBX" exec "$c" -- sh -c "$MASKS_SH")" "$masks" "the masks in $c"
	done
	"$SBX" rm "$id" "$new" "$fork" >/dev/null || fail rm
	[ "$(inst_host_mounts)" = "$host0" ] ||
		fail "mounts left on the host: $(diff <(echo "$host0") <(inst_host_mounts))"
}

# PID 1 of a sandbox is most of what an idle one costs beside the kernel: it holds a few
# pages, fresh, after commands, and restored (sbx-init executes itself again then, with
# its state carried over). Its tables of commands and state stay unallocated where
# unused, its small variables share one page, and the workload's stack until its exec
# leaves no page tables behind. Once serving, it runs on a stack beside its binary and
# unmaps the kernel's (on x86-64 and arm64): one region of page tables, 12 KiB (one page
# more where it straddles 2 MiB, two where it straddles 1 GiB; it reads no clock, so the
# vDSO's pages are never faulted in). Fresh, its data is one page and its stack one. Its
# binary and stack sit at a random address: two sandboxes' differ, and no PID 1 keeps the
# kernel's stack at the top of the address space. Its command line reads as it was.
# (sbx-init of older sbx: 48, 60 and 68 KiB anonymous here; then 28, 40 and 32 KiB, with
# 32, 32 and 24 KiB of page tables; then 16, 36 and 24 KiB, with 24 KiB of page tables,
# on the kernel's stack; now 8, 28 and 16 KiB, with 12.)
t_init_memory() {
	start_sbxd
	need_criu
	local id pid sid copy other anon=(12 32 20) tables=20
	case $(uname -m) in x86_64 | aarch64) ;; *) anon=(20 40 28) tables=28 ;; esac
	api POST /v1/sandboxes -d '{"image": "base", "cmd": ["/bin/sleep", "3600"]}'
	assert_eq "$CODE" 201 "create: $BODY"
	id=$(jget "$BODY" 'j["id"]')
	pid=$(jget "$BODY" 'j["pid"]')
	init_layout "$pid" fresh "sbx-init --ctl *-- /bin/sleep 3600 "
	init_memory_at_most "$pid" "${anon[0]}" "$tables" fresh
	api POST /v1/sandboxes -d '{"image": "base", "cmd": ["/bin/sleep", "3600"]}'
	assert_eq "$CODE" 201 "create: $BODY"
	other=$(jget "$BODY" 'j["pid"]')
	init_layout "$other" another "sbx-init --ctl *-- /bin/sleep 3600 "
	[ "$(cat /proc/sys/kernel/randomize_va_space)" = 0 ] ||
		[ "$(init_base "$pid")" != "$(init_base "$other")" ] ||
		fail "two sandboxes' sbx-init at one address: $(init_base "$pid")"
	"$SBX" rm "$(jget "$BODY" 'j["id"]')" >/dev/null || fail rm
	for _ in 1 2 3; do
		api POST "/v1/sandboxes/$id/exec" -d '{"cmd": ["true"]}'
		assert_eq "$(jget "$BODY" 'j["exit_code"]')" 0 "exec: $BODY"
	done
	init_memory_at_most "$pid" "${anon[1]}" "$tables" "after three commands"
	api POST "/v1/sandboxes/$id/checkpoint"
	assert_eq "$CODE" 201 "checkpoint: $BODY"
	sid=$(jget "$BODY" 'j["id"]')
	api POST "/v1/snapshots/$sid/restore"
	assert_eq "$CODE" 201 "restore: $BODY"
	copy=$(jget "$BODY" 'j["id"]')
	pid=$(jget "$BODY" 'j["pid"]')
	init_layout "$pid" restored "sbx-init --resume [0-9]* "
	init_memory_at_most "$pid" "${anon[2]}" "$tables" restored
	api POST "/v1/sandboxes/$copy/exec" -d '{"cmd": ["sh", "-c", "echo back"]}'
	assert_eq "$(jget "$BODY" 'j["stdout"]')" back "exec after the restore: $BODY"
}

# init_base PID: where the binary of sbx-init, process PID, is mapped.
init_base() {
	awk '$6 == "/dev/sbx-init" { sub(/-.*/, "", $1); print $1; exit }' "/proc/$1/maps"
}

# init_stack_near PID: whether sbx-init, process PID, has one stack and it, like all it
# maps but the vDSO's pages, lies within 16 MiB of its binary (the kernel's stack is gone).
init_stack_near() {
	python3 - "/proc/$1/maps" <<'PY'
import sys
maps = [l.split() for l in open(sys.argv[1])]
base = [int(m[0].split("-")[0], 16) for m in maps if m[-1] == "/dev/sbx-init"]
far = [m for m in maps if base and m[-1] not in ("[vdso]", "[vvar]", "[vvar_vclock]", "[vsyscall]")
       and abs(int(m[0].split("-")[0], 16) - base[0]) >= 16 << 20]
sys.exit(not base or far or sum(m[-1] == "[stack]" for m in maps) != 1)
PY
}

# init_layout PID WHEN CMDLINE: sbx-init, process PID, serves on its own stack, beside
# its binary, not the kernel's (at the top of the address space), once it has moved
# (after its workload's start, which the API's answer may precede: at most 5 s), and its
# command line (a glob, arguments joined by spaces) is still its own. Elsewhere than on
# x86-64 and arm64 it keeps the kernel's stack.
init_layout() {
	local cmd
	case $(uname -m) in
	x86_64 | aarch64)
		for _ in $(seq 50); do init_stack_near "$1" && break; sleep 0.1; done
		init_stack_near "$1" || fail "sbx-init's stack is not beside its binary, $2: $(cat "/proc/$1/maps")"
		echo "sbx-init, $2: $(awk '$6 == "/dev/sbx-init" || $6 == "[stack]" { print $1, $6 }' "/proc/$1/maps" | head -n2 | tr '\n' ' ')"
		;;
	esac
	cmd=$(tr '\0' ' ' <"/proc/$1/cmdline")
	[[ "$cmd" == $3 ]] || fail "sbx-init's command line, $2: '$cmd'"
}

# Dumps run on workers: several at once, and the daemon answers meanwhile.
t_concurrent() {
	start_sbxd
	need_criu
	local ids=() pids=() i
	for i in 1 2 3; do
		ids+=("$("$SBX" create --image host -- python3 -c "
import time
b = bytearray(b'z' * (96 << 20))
print('READY', flush=True)
while True: time.sleep(0.05)")") || fail create
	done
	for i in "${ids[@]}"; do wait_log "$i" READY; done
	for i in "${ids[@]}"; do
		curl -s -o "$TMPD/ck-$i" -w '%{http_code}' --unix-socket "$SBX_SOCKET" -X POST \
			"http://x/v1/sandboxes/$i/checkpoint" -d '{"leave_running": true}' >"$TMPD/code-$i" &
		pids+=($!)
	done
	sleep 0.05
	local worst
	worst=$(python3 - "$SBX_SOCKET" <<'PY'
import socket, sys, time
worst = 0
for _ in range(10):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
    t = time.perf_counter()
    s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    while s.recv(65536): pass
    worst = max(worst, time.perf_counter() - t)
    time.sleep(0.02)
print(int(worst * 1000))
PY
)
	wait "${pids[@]}"
	for i in "${ids[@]}"; do
		assert_eq "$(cat "$TMPD/code-$i")" 201 "checkpoint of $i: $(cat "$TMPD/ck-$i")"
	done
	[ "$worst" -lt 100 ] || fail "health took $worst ms during the dumps"
	api GET /v1/snapshots
	assert_eq "$(jget "$BODY" 'len(j["snapshots"])')" 3 "three snapshots"
	echo "slowest health answer during three dumps: $worst ms"
}

# zdtm-style: memory (256 MiB of numbered pages), an open file with its offset, a file in
# the writable layer, a pipe with data, a process tree, a loopback TCP connection and
# unix sockets with bytes in flight, an interval timer, env and cwd; restored twice from
# one snapshot.
t_zdtm_state() {
	start_sbxd
	need_criu
	local id snap a b
	id=$("$SBX" create --image host --memory 1G -- python3 -c "$WORKLOAD" 256) || fail create
	wait_log "$id" READY 60
	snap=$("$SBX" checkpoint "$id") || fail checkpoint
	a=$("$SBX" restore "$snap") || fail "restore 1"
	b=$("$SBX" restore "$snap") || fail "restore 2"
	for r in "$a" "$b"; do
		"$SBX" exec "$r" -- touch /tmp/go || fail "go $r"
		assert_eq "$(wait_exit "$r")" 0 "workload in $r: $("$SBX" logs "$r" | tail -n 1)"
		assert_contains "$("$SBX" logs "$r")" PASS "workload in $r"
	done
}

# A sandbox's /tmp and /dev/shm are its writable layer's (the root's /tmp, the layer's
# shm/ bound at /dev/shm), so CRIU archives no tmpfs: the layer's archive holds /tmp,
# one of its own holds /dev/shm (none when it is empty), and both come back whole:
# files, modes, owners, links, times and a fifo, /dev/shm still nosuid, nodev, noexec.
TMPFS_SETUP='mkdir -p /tmp/a/b /dev/shm/q && echo data >/tmp/a/f && chmod 4750 /tmp/a/f &&
head -c 300000 /dev/urandom >/tmp/a/b/big && ln -s /tmp/a/f /tmp/l && : >/tmp/empty &&
echo shm >/dev/shm/q/g && touch -d "2020-01-02 03:04:05" /tmp/a/f && mkfifo /tmp/p'
TMPFS_STATE='cd / && find /tmp /dev/shm -exec stat -c "%n %a %u %g %s %Y %N" {} + | sort &&
md5sum /tmp/a/b/big /tmp/a/f /dev/shm/q/g &&
awk "\$5 == \"/tmp\" || \$5 == \"/dev/shm\" {print \$4, \$5, \$6}" /proc/self/mountinfo'
t_scratch_archives() {
	start_sbxd
	need_criu
	local id snap new before dir
	id=$("$SBX" create --image base -- sh -c "$TMPFS_SETUP && echo READY && exec sleep 600") ||
		fail create
	wait_log "$id" READY
	before=$("$SBX" exec "$id" -- sh -c "$TMPFS_STATE") || fail "state before"
	assert_contains "$before" "/shm /dev/shm rw,nosuid,nodev,noexec" "/dev/shm is the layer's shm/"
	assert_not_contains "$before" " /tmp " "/tmp is no mount of its own"
	snap=$("$SBX" checkpoint "$id") || fail checkpoint
	dir=$TMPD/state/snapshots/$snap
	[ -z "$(find "$dir/images" -name 'tmpfs-*')" ] || fail "CRIU archived a tmpfs"
	tar -tf "$dir/layer.tar" | grep -qx './tmp/a/b/big' || fail "the layer's archive lacks /tmp"
	tar -tf "$dir/shm.tar" | grep -qx './q/g' || fail "the shm archive lacks /dev/shm"
	new=$("$SBX" restore "$snap") || fail restore
	assert_eq "$("$SBX" exec "$new" -- sh -c "$TMPFS_STATE")" "$before" \
		"/tmp and /dev/shm after the restore"
	"$SBX" exec "$new" -- test -p /tmp/p || fail "the fifo"
	"$SBX" exec "$new" -- sh -c 'echo more >/dev/shm/m && echo x >/tmp/x' || fail "writable after"
	"$SBX" rm "$new" "$snap" >/dev/null || fail rm
	# A sandbox that wrote nothing there: no archive for /dev/shm, and it comes back
	# empty and writable by its users.
	id=$("$SBX" create --image base -- sleep 600) || fail create
	snap=$("$SBX" checkpoint "$id") || fail "checkpoint of an idle sandbox"
	[ ! -e "$TMPD/state/snapshots/$snap/shm.tar" ] || fail "an empty /dev/shm was archived"
	new=$("$SBX" restore "$snap") || fail "restore of an idle sandbox"
	assert_eq "$("$SBX" exec "$new" -- sh -c 'ls -A /dev/shm | wc -l; stat -c %a /dev/shm /tmp')" \
		"$(printf '0\n1777\n1777')" "/dev/shm and /tmp after an idle restore"
	"$SBX" rm "$new" "$snap" >/dev/null || fail rm
}

# Across sbxd restarts: a re-adopted sandbox checkpoints, a restored one is re-adopted
# with its counters going on from its snapshot's.
t_across_restart() {
	start_sbxd
	need_criu
	local id snap new u0 u1
	id=$("$SBX" create --image host -- python3 -c "$COUNTER") || fail create
	wait_log "$id" 5
	stop_sbxd_keep() { kill -TERM "$SBXD_PID"; wait "$SBXD_PID"; SBXD_PID=; }
	stop_sbxd_keep
	start_sbxd
	snap=$("$SBX" checkpoint --leave-running "$id") || fail "checkpoint of a re-adopted sandbox"
	new=$("$SBX" restore "$snap") || fail restore
	wait_log "$new" "$(($(last_count "$id") + 3))"
	u0=$(curl -s --unix-socket "$SBX_SOCKET" "http://x/v1/sandboxes/$new/usage")
	stop_sbxd_keep
	start_sbxd
	assert_eq "$(jget "$("$SBX" inspect "$new")" 'j["state"], j["restored_from"]')" \
		"('running', '$snap')" "the restored sandbox re-adopted"
	u1=$(curl -s --unix-socket "$SBX_SOCKET" "http://x/v1/sandboxes/$new/usage")
	python3 - "$u0" "$u1" <<'PY' || fail "counters after the restart"
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert b["cpu_ns"] >= a["cpu_ns"] and b["wall_ns"] > a["wall_ns"], (a["cpu_ns"], b["cpu_ns"])
assert b["syscalls_total"] >= a["syscalls_total"], "syscalls"
assert b["restored_from"] == a["restored_from"]
PY
	assert_eq "$("$SBX" exec "$new" -- echo ok)" ok "exec after the restart"
	assert_consecutive "$new"
}

# A restored sandbox is as confined as a new one, and its copies do not share state.
t_fork_independent() {
	start_sbxd
	need_criu
	local id a b
	id=$("$SBX" create --image host -- python3 -c "$COUNTER") || fail create
	"$SBX" exec "$id" -- sh -c 'echo original > /root/who' || fail write
	run_sbx fork "$id" -n 2
	assert_eq "$RC" 0 "fork: $ERR"
	a=$(echo "$OUT" | sed -n 1p)
	b=$(echo "$OUT" | sed -n 2p)
	"$SBX" exec "$a" -- sh -c 'echo copy-a > /root/who; echo a > /tmp/only-a' || fail "write a"
	"$SBX" exec "$b" -- sh -c 'echo copy-b > /root/who' || fail "write b"
	assert_eq "$("$SBX" exec "$id" -- cat /root/who)" original "original's file"
	assert_eq "$("$SBX" exec "$a" -- cat /root/who)" copy-a "copy a's file"
	assert_eq "$("$SBX" exec "$b" -- cat /root/who)" copy-b "copy b's file"
	run_sbx exec "$b" -- cat /tmp/only-a
	assert_eq "$RC" 1 "b does not see a's /tmp"
	# Own pid namespaces, cgroups and network namespaces: a is killed, b and the original run on.
	local pa pb
	pa=$(jget "$("$SBX" inspect "$a")" 'j["pid"]')
	pb=$(jget "$("$SBX" inspect "$b")" 'j["pid"]')
	[ "$pa" != "$pb" ] || fail "one process for two copies"
	[ "$(readlink /proc/"$pa"/ns/net)" != "$(readlink /proc/"$pb"/ns/net)" ] || fail "shared netns"
	[ "$(readlink /proc/"$pa"/ns/pid_for_children)" != "$(readlink /proc/"$pb"/ns/pid_for_children)" ] ||
		fail "shared pid namespace"
	"$SBX" rm "$a" >/dev/null
	local n
	n=$(last_count "$b")
	wait_log "$b" "$((n + 5))"
	n=$(last_count "$id")
	wait_log "$id" "$((n + 5))"
	# The copy's confinement: the workload's restrictions, its own cgroup as its root.
	local st
	st=$("$SBX" exec "$b" -- sh -c 'grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status; cat /proc/self/cgroup | tail -n 1')
	assert_contains "$st" "CapEff:	0000000000000000" "no capabilities"
	assert_contains "$st" "NoNewPrivs:	1" "no new privileges"
	assert_contains "$st" "Seccomp:	2" "seccomp"
	assert_contains "$st" "0::/" "its own cgroup namespace"
	run_sbx exec "$b" -- sh -c 'mount -t tmpfs x /mnt 2>&1; echo "rc=$?"; grep -c " /mnt " /proc/self/mounts'
	assert_not_contains "$OUT" "rc=0" "mount refused in a copy"
	assert_contains "$OUT" "0" "nothing mounted"
	run_sbx exec "$b" -- sh -c "ls $SBX_SOCKET $TMPD/state /run/sbx 2>&1"
	assert_contains "$OUT" "No such file" "host paths hidden in a copy"
}

# Counters go on from the snapshot's; the time stored is neither CPU nor wall time.
t_metering_continues() {
	start_sbxd
	need_criu
	local id snap new u0 u1
	id=$("$SBX" create --image host -- python3 -c '
import time
t = time.process_time()
while time.process_time() - t < 0.5: pass
print("burnt", flush=True)
while True: time.sleep(0.05)') || fail create
	wait_log "$id" burnt
	snap=$("$SBX" checkpoint "$id") || fail checkpoint
	wait_exit "$id" >/dev/null
	u0=$(curl -s --unix-socket "$SBX_SOCKET" "http://x/v1/sandboxes/$id/usage")
	sleep 2 # stored
	new=$("$SBX" restore "$snap") || fail restore
	sleep 0.5
	u1=$(curl -s --unix-socket "$SBX_SOCKET" "http://x/v1/sandboxes/$new/usage")
	python3 - "$u0" "$u1" <<'PY' || fail "metering across the restore"
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert a["cpu_ns"] >= 0.45e9, ("burn", a["cpu_ns"])
# CPU goes on from the snapshot's, plus a little (the restored workload sleeps).
assert a["cpu_ns"] * 0.95 <= b["cpu_ns"] <= a["cpu_ns"] + 0.3e9, ("cpu", a["cpu_ns"], b["cpu_ns"])
assert b["syscalls_total"] > a["syscalls_total"] * 0.95, ("syscalls", a["syscalls_total"], b["syscalls_total"])
# Wall time: the original's life plus the restored one's, not the 2 s in storage.
assert b["wall_ns"] < a["wall_ns"] + 1.5e9, ("wall", a["wall_ns"], b["wall_ns"])
assert b["wall_ns"] >= a["wall_ns"] + 0.4e9, ("wall", a["wall_ns"], b["wall_ns"])
assert b["restored_from"], b
print("cpu", a["cpu_ns"], "->", b["cpu_ns"], "wall", a["wall_ns"], "->", b["wall_ns"])
PY
}

t_tenants() {
	local ta tb
	ta=$("$B/sbxd" tenant add alice --state-dir "$TMPD/state") || fail "tenant alice"
	tb=$("$B/sbxd" tenant add bob --state-dir "$TMPD/state") || fail "tenant bob"
	start_sbxd --listen 127.0.0.1:0
	SBXD_PORT=$(sbxd_port)
	need_criu
	tcp "$ta" POST /v1/sandboxes -d '{"image": "base", "cmd": ["sleep", "1000"]}'
	assert_eq "$CODE" 201 "alice creates"
	local id sid
	id=$(jget "$BODY" 'j["id"]')
	tcp "$tb" POST "/v1/sandboxes/$id/checkpoint" -d '{}'
	assert_eq "$CODE" 404 "bob cannot checkpoint alice's sandbox"
	tcp "$ta" POST "/v1/sandboxes/$id/checkpoint" -d '{"leave_running": true}'
	assert_eq "$CODE" 201 "alice checkpoints"
	sid=$(jget "$BODY" 'j["id"]')
	tcp "$tb" GET /v1/snapshots
	assert_eq "$(jget "$BODY" 'len(j["snapshots"])')" 0 "bob lists no snapshots"
	for m in "GET /v1/snapshots/$sid" "DELETE /v1/snapshots/$sid" "POST /v1/snapshots/$sid/restore"; do
		tcp "$tb" ${m% *} ${m#* }
		assert_eq "$CODE" 404 "bob: $m"
	done
	tcp "$ta" GET /v1/snapshots
	assert_eq "$(jget "$BODY" '[s["id"] for s in j["snapshots"]]')" "['$sid']" "alice lists hers"
	tcp "$ta" POST "/v1/snapshots/$sid/restore"
	assert_eq "$CODE" 201 "alice restores"
	assert_eq "$(jget "$BODY" 'j["tenant"]')" alice "the copy is alice's"
	api GET /v1/snapshots
	assert_contains "$BODY" "$sid" "the admin sees every snapshot"
}

# Refusals and bad input change nothing.
t_bad_input() {
	start_sbxd
	need_criu
	local id before
	id=$("$SBX" create --image base -- sleep 1000) || fail create
	for body in '{"leave_running": 1}' '{"x": true}' '[]' 'nope'; do
		api POST "/v1/sandboxes/$id/checkpoint" -d "$body"
		assert_eq "$CODE" 400 "checkpoint body $body"
	done
	for body in '{"count": 0}' '{"count": 17}' '{"count": "2"}' '{"n": 2}'; do
		api POST "/v1/sandboxes/$id/fork" -d "$body"
		assert_eq "$CODE" 400 "fork body $body"
	done
	api POST /v1/snapshots/snap-0000000000/restore
	assert_eq "$CODE" 404 "unknown snapshot"
	assert_contains "$BODY" "no snapshot" "says which"
	api GET "/v1/sandboxes/$id/checkpoint"
	assert_eq "$CODE" 405 "GET checkpoint"
	# Busy: a command running in it.
	"$SBX" exec "$id" -- sleep 2 &
	local ex=$!
	sleep 0.3
	api POST "/v1/sandboxes/$id/checkpoint"
	assert_eq "$CODE" 409 "checkpoint while a command runs"
	assert_contains "$BODY" "commands are running" "says why"
	wait $ex
	run_sbx snapshots
	assert_eq "$(echo "$OUT" | grep -c snap-)" 0 "no snapshot was made"
	[ -z "$(ls -A "$TMPD/state/snapshots" 2>/dev/null)" ] || fail "snapshot files left"
	assert_eq "$("$SBX" exec "$id" -- echo ok)" ok "the sandbox serves on"
}

# Without CRIU, health says why and a checkpoint is refused with that reason.
t_criu_missing() {
	start_sbxd --criu /nonexistent/criu
	local h id
	h=$(curl -s --unix-socket "$SBX_SOCKET" http://x/v1/health)
	assert_eq "$(jget "$h" 'j["features"]["checkpoint"]')" False "health: checkpoint"
	assert_contains "$(jget "$h" 'j["checkpoint_off"]')" "criu not found at /nonexistent/criu" "health says why"
	id=$("$SBX" create --image base -- sleep 1000) || fail create
	api POST "/v1/sandboxes/$id/checkpoint"
	assert_eq "$CODE" 503 "checkpoint without CRIU"
	assert_contains "$BODY" "criu not found" "the reason"
	assert_eq "$("$SBX" exec "$id" -- echo ok)" ok "the sandbox serves on"
}

# A corrupted or truncated snapshot fails to restore and leaves nothing behind.
t_corrupt_snapshot() {
	start_sbxd
	need_criu
	local id before
	id=$("$SBX" create --image host -- python3 -c "$COUNTER") || fail create
	wait_log "$id" 5
	local s1 s2 s3 d=$TMPD/state/snapshots
	s1=$("$SBX" checkpoint --leave-running "$id") || fail c1
	s2=$("$SBX" checkpoint --leave-running "$id") || fail c2
	s3=$("$SBX" checkpoint --leave-running "$id") || fail c3
	"$SBX" rm "$id" >/dev/null
	before=$(leftover_count)
	local pages
	pages=$(ls "$d/$s1"/images/pages-*.img | head -n 1)
	truncate -s 4096 "$pages"                              # truncated memory
	truncate -s 100 "$d/$s2/layer.tar"                     # truncated layer
	head -c 200 /dev/urandom | dd of="$(ls "$d/$s3"/images/core-*.img | head -n 1)" conv=notrunc 2>/dev/null # garbage
	for s in "$s1" "$s2" "$s3"; do
		api POST "/v1/snapshots/$s/restore"
		assert_eq "$CODE" 500 "restore of damaged $s"
		assert_contains "$BODY" "restor" "the error says what failed ($BODY)"
		assert_eq "$(echo "$BODY" | wc -l)" 1 "one line"
	done
	sleep 0.3
	assert_eq "$(leftover_count)" "$before" "no half-started sandbox (cgroups, layers, processes)"
	api GET "/v1/sandboxes?state=running"
	assert_eq "$(jget "$BODY" 'len(j["sandboxes"])')" 0 "nothing running"
}

# criu_wrapper PATH PRELUDE: a --criu for sbxd at PATH, a shell script that runs PRELUDE
# (where $real names the real criu) and then the real criu with its arguments. Fails when
# there is no criu.
criu_wrapper() {
	local real
	real=$(PATH=$PATH:/usr/local/sbin:/usr/sbin command -v criu) || return 1
	printf '#!/bin/sh\nreal=%s\n%s\nexec "$real" "$@"\n' "$real" "$2" >"$1" && chmod 755 "$1"
}

# A counter holding 64 MiB of touched memory and 32 MiB touched every other page, that
# checks them all at each count, and once /tmp/go exists also reads the pages it never
# touched (zeros: on a restored tree they fault in only after the restore).
LAZY_COUNTER='import itertools, mmap, os, time
big = bytearray(64 << 20); big[::4096] = b"x" * (len(big) // 4096)
half = mmap.mmap(-1, 32 << 20); half[::8192] = b"y" * (len(half) // 8192)
for i in itertools.count():
    ok = big[::4096] == b"x" * (len(big) // 4096) and half[::8192] == b"y" * (len(half) // 8192)
    if os.path.exists("/tmp/go"):
        ok = ok and not any(half[4096::8192])
        print("untouched", "zero" if ok else "BAD", flush=True)
    print(i if ok else "BAD", flush=True); time.sleep(0.05)'
UFFD_SYSCTL=/proc/sys/vm/unprivileged_userfaultfd
UFFD_WAS=
case_cleanup() { [ -z "$UFFD_WAS" ] || echo "$UFFD_WAS" >"$UFFD_SYSCTL"; }

# Where the host lets restored tasks open a userfaultfd (vm.unprivileged_userfaultfd, the
# operator's choice), a snapshot of 16 MiB or more gets its memory back through `criu
# lazy-pages`, every page copied before the restore answers. Where it does not, the plain
# restore. A lazy restore whose page source is damaged fails whole.
t_lazy_restore() {
	start_sbxd
	need_criu
	UFFD_WAS=$(cat "$UFFD_SYSCTL") || fail "no $UFFD_SYSCTL"
	local id s1 s2 r before
	id=$("$SBX" create --image host --memory 512M -- python3 -c "$LAZY_COUNTER") || fail create
	wait_log "$id" 5
	s1=$("$SBX" checkpoint --leave-running "$id") || fail "checkpoint"
	s2=$("$SBX" checkpoint "$id") || fail "checkpoint"
	for allowed in 1 0; do
		echo "$allowed" >"$UFFD_SYSCTL"
		r=$("$SBX" restore "$s1") || fail "restore with unprivileged_userfaultfd=$allowed"
		if [ "$allowed" = 1 ]; then
			[ -e "$TMPD/state/sandboxes/$r/criu-lazy.log" ] || fail "restored without lazy-pages"
			# What the host allows CRIU's restore, the sandbox still may not do.
			assert_eq "$("$SBX" exec "$r" -- python3 -c '
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
print(libc.syscall(323, 0), os.strerror(ctypes.get_errno()))')" "-1 Operation not permitted" \
				"userfaultfd in the restored sandbox"
		else
			[ -e "$TMPD/state/sandboxes/$r/criu-lazy.log" ] && fail "lazy-pages where the host refuses it"
		fi
		wait_log "$r" 3
		"$SBX" exec "$r" -- touch /tmp/go || fail "exec"
		sleep 0.3
		"$SBX" logs "$r" | grep -q BAD && fail "memory differs after the restore ($allowed): $("$SBX" logs "$r" | grep -c BAD) bad"
		"$SBX" logs "$r" | grep -q "untouched zero" || fail "the untouched pages were not read ($allowed)"
		assert_consecutive "$r"
		"$SBX" rm "$r" >/dev/null
	done
	echo 1 >"$UFFD_SYSCTL"
	before=$(leftover_count)
	truncate -s 8192 "$(ls "$TMPD/state/snapshots/$s2"/images/pages-*.img | head -n 1)"
	api POST "/v1/snapshots/$s2/restore"
	assert_eq "$CODE" 500 "restore of truncated pages: $BODY"
	assert_contains "$BODY" "the snapshot is damaged (pages-" "what failed"
	assert_eq "$(echo "$BODY" | wc -l)" 1 "one line"
	sleep 0.3
	assert_eq "$(leftover_count)" "$before" "no half-restored sandbox (cgroups, layers, processes)"
	pgrep -f "criu lazy-pages" >/dev/null && fail "criu lazy-pages left running"
	return 0
}

# `criu lazy-pages` failing, before it listens and while it copies (a wrapper of the real
# criu ends it): the restore fails whole, with nothing left of it.
t_lazy_restore_daemon_fails() {
	local id s mode before
	criu_wrapper "$TMPD/criu" "if [ \"\$1\" = lazy-pages ]; then
	case \"\$(cat '$TMPD/lazy-mode')\" in
	die) exit 3 ;;
	kill) \"\$real\" \"\$@\" & sleep 0.05; kill -9 \$!; exit 137 ;;
	esac
fi" || skip "no criu"
	start_sbxd --criu "$TMPD/criu"
	need_criu
	UFFD_WAS=$(cat "$UFFD_SYSCTL") || fail "no $UFFD_SYSCTL"
	echo 1 >"$UFFD_SYSCTL"
	id=$("$SBX" create --image host --memory 1G -- python3 -c "$(counter_with 256)") || fail create
	wait_log "$id" 5
	s=$("$SBX" checkpoint "$id") || fail "checkpoint"
	"$SBX" rm "$id" >/dev/null
	sleep 0.3
	before=$(leftover_count)
	for mode in die kill; do
		echo "$mode" >"$TMPD/lazy-mode"
		api POST "/v1/snapshots/$s/restore"
		assert_eq "$CODE" 500 "restore with lazy-pages ended ($mode): $BODY"
		assert_contains "$BODY" "criu" "what failed ($mode)"
		echo "$mode: $BODY"
		assert_eq "$(echo "$BODY" | wc -l)" 1 "one line"
		sleep 0.3
		assert_eq "$(leftover_count)" "$before" "nothing left of the restore ($mode)"
		pgrep -f "criu (lazy-pages|restore)" >/dev/null && fail "criu left running ($mode)"
	done
	# The snapshot is whole: with the real criu it restores.
	echo real >"$TMPD/lazy-mode"
	id=$("$SBX" restore "$s") || fail "restore"
	wait_log "$id" 3
	assert_consecutive "$id"
}

# A criu that never finishes: the restore fails at its deadline (10 s) with one line, the
# criu is killed and reaped (not even a zombie of it left), nothing of the restore is
# left, and sbxd answers meanwhile.
t_criu_hangs() {
	local id s before t0 code
	criu_wrapper "$TMPD/criu" "if [ \"\$1\" = restore ]; then echo \$\$ >'$TMPD/hung'; exec sleep 1000; fi" ||
		skip "no criu"
	start_sbxd --criu "$TMPD/criu"
	need_criu
	id=$("$SBX" create --image base -- sleep 3600) || fail create
	s=$("$SBX" checkpoint "$id") || fail checkpoint
	"$SBX" rm "$id" >/dev/null
	sleep 0.3
	before=$(leftover_count)
	t0=$(date +%s%N)
	curl -s -o "$TMPD/hang" -w '%{http_code}' --unix-socket "$SBX_SOCKET" \
		-X POST "http://x/v1/snapshots/$s/restore" >"$TMPD/hang-code" &
	local curl_pid=$!
	sleep 1
	code=$(curl -s -o /dev/null -w '%{http_code}' -m 2 --unix-socket "$SBX_SOCKET" http://x/v1/health)
	assert_eq "$code" 200 "health while criu hangs"
	wait "$curl_pid"
	assert_eq "$(cat "$TMPD/hang-code")" 500 "the restore: $(cat "$TMPD/hang")"
	assert_contains "$(cat "$TMPD/hang")" "criu did not finish in 10 s" "what failed"
	assert_eq "$(wc -l <"$TMPD/hang")" 1 "one line"
	[ $((($(date +%s%N) - t0) / 1000000000)) -lt 15 ] || fail "the restore outlived its deadline"
	sleep 0.3
	[ -s "$TMPD/hung" ] || fail "the hanging criu never ran"
	[ ! -e "/proc/$(cat "$TMPD/hung")" ] || fail "the hung criu was left (running or unreaped)"
	assert_eq "$(leftover_count)" "$before" "nothing left of the restore"
}

# A full disk during the dump: the checkpoint fails and the sandbox runs on.
t_full_disk() {
	mkdir -p "$TMPD/small"
	mount -t tmpfs -o size=24m sbx-test "$TMPD/small" || skip "cannot mount a tmpfs"
	start_sbxd --state-dir "$TMPD/small/state"
	need_criu
	local id n
	id=$("$SBX" create --image host -- python3 -c "$(counter_with 64)") || fail create
	wait_log "$id" 3
	api POST "/v1/sandboxes/$id/checkpoint"
	assert_eq "$CODE" 507 "checkpoint on a full disk ($BODY)"
	assert_eq "$(jget "$BODY" 'j["error"]["code"]')" no_space "the documented code"
	assert_contains "$BODY" "No space left" "says why"
	n=$(last_count "$id")
	wait_log "$id" "$((n + 5))"
	assert_eq "$("$SBX" exec "$id" -- echo ok)" ok "it serves on"
	assert_eq "$(jget "$("$SBX" inspect "$id")" 'j["state"]')" running "still running"
	[ -z "$(ls -A "$TMPD/small/state/snapshots" 2>/dev/null)" ] || fail "partial snapshot left"
	stop_sbxd
	umount "$TMPD/small"
}

# park_criu: a --criu for sbxd that parks every dump and restore before CRIU starts, until
# $TMPD/criu-go exists; $TMPD/criu-parked-dump (-restore) says one is parked. Kills then
# land in the middle of the operation, and races happen on purpose.
park_criu() {
	criu_wrapper "$TMPD/criu-park" "for a; do
	case \$a in dump | restore)
		: >\"$TMPD/criu-parked-\$a\"
		while [ ! -e \"$TMPD/criu-go\" ]; do sleep 0.01; done
		break ;;
	esac
done" || skip "criu is not installed (tools/setup.sh installs it)"
	echo "$TMPD/criu-park"
}

# wait_parked dump|restore: until a CRIU run is parked at that step.
wait_parked() {
	for _ in $(seq 400); do
		[ -e "$TMPD/criu-parked-$1" ] && return 0
		sleep 0.025
	done
	fail "no $1 reached CRIU"
}

# sbxd killed in the middle of a dump (frozen, layer saved, CRIU started): after a restart
# no snapshot and nothing unfinished is left, and the sandbox runs on, thawed.
t_killed_mid_dump() {
	start_sbxd --criu "$(park_criu)"
	need_criu
	local id n
	id=$("$SBX" create --image host -- python3 -c "$COUNTER") || fail create
	wait_log "$id" 3
	curl -s --unix-socket "$SBX_SOCKET" -X POST "http://x/v1/sandboxes/$id/checkpoint" >/dev/null &
	wait_parked dump
	ls -A "$TMPD/state/snapshots" | grep -q '^\.tmp' || fail "the dump has no directory yet"
	kill_sbxd
	pkill -9 -f "$TMPD/criu-park" # the dump it had started never finishes
	start_sbxd
	api GET /v1/snapshots
	assert_eq "$(jget "$BODY" 'len(j["snapshots"])')" 0 "no snapshot"
	[ -z "$(ls -A "$TMPD/state/snapshots")" ] ||
		fail "an unfinished dump is left: $(ls -A "$TMPD/state/snapshots")"
	assert_eq "$(jget "$("$SBX" inspect "$id")" 'j["state"]')" running "the sandbox"
	n=$(last_count "$id")
	wait_log "$id" "$((n + 5))" # thawed
	assert_eq "$("$SBX" exec "$id" -- echo ok)" ok "it serves on"
	assert_consecutive "$id"
}

# sbxd killed in the middle of a restore (launched, CRIU started): after a restart the copy
# is recorded lost, nothing of it (cgroups, processes, layer) is left, and the snapshot
# restores.
killed_mid_restore() {
	local lazy=$1 id snap before
	start_sbxd --criu "$(park_criu)"
	need_criu
	if [ "$lazy" = lazy ]; then
		UFFD_WAS=$(cat "$UFFD_SYSCTL") || fail "no $UFFD_SYSCTL"
		echo 1 >"$UFFD_SYSCTL"
		id=$("$SBX" create --image host --memory 512M -- python3 -c "$(counter_with 32)") || fail create
	else
		id=$("$SBX" create --image host -- python3 -c "$COUNTER") || fail create
	fi
	wait_log "$id" 3
	touch "$TMPD/criu-go"
	snap=$("$SBX" checkpoint "$id") || fail checkpoint
	wait_exit "$id" >/dev/null
	rm "$TMPD/criu-go"
	sleep 0.3
	before=$(leftover_count)
	curl -s --unix-socket "$SBX_SOCKET" -X POST "http://x/v1/snapshots/$snap/restore" >/dev/null &
	wait_parked restore
	if [ "$lazy" = lazy ]; then
		pgrep -f "criu lazy-pages" >/dev/null || fail "no lazy-pages daemon beside the restore"
	fi
	kill_sbxd
	if [ "$lazy" = lazy ]; then
		sleep 0.2
		pgrep -f "criu lazy-pages" >/dev/null && fail "the lazy-pages daemon outlived sbxd"
	fi
	start_sbxd
	api GET /v1/sandboxes
	assert_eq "$(jget "$BODY" '[s["reason"] for s in j["sandboxes"] if s["id"] != "'"$id"'"]')" \
		"['lost']" "the interrupted copy"
	pgrep -f "$TMPD/criu-park" >/dev/null && fail "the interrupted restore's CRIU lives on"
	assert_eq "$(leftover_count)" "$before" "nothing of the interrupted restore is left"
	local new
	new=$("$SBX" restore "$snap") || fail "the snapshot restores after all"
	wait_log "$new" "$(($(last_count "$id") + 3))"
	assert_consecutive "$new"
}
t_killed_mid_restore() { killed_mid_restore plain; }

# The same with lazy pages: the daemon that waits for the parked restore dies with sbxd,
# which started it (it runs outside the sandbox's cgroups), and nothing is left.
t_killed_mid_lazy_restore() { killed_mid_restore lazy; }

# A fork whose copies lose their slots while the dump runs: the copy refused is reported
# (the answer does not wait for it), the other runs, and the fork's snapshot goes.
t_fork_slots_taken() {
	start_sbxd --max-sandboxes 3 --criu "$(park_criu)"
	need_criu
	local id body copy
	id=$("$SBX" create --image host -- python3 -c "$COUNTER") || fail create
	wait_log "$id" 3
	curl -s --max-time 30 -o "$TMPD/fork.json" -w '%{http_code}' --unix-socket "$SBX_SOCKET" \
		-X POST "http://x/v1/sandboxes/$id/fork" -d '{"count": 2}' >"$TMPD/fork.code" &
	local cpid=$!
	wait_parked dump
	"$SBX" create --image base -- sleep 1000 >/dev/null || fail "create during the dump"
	touch "$TMPD/criu-go"
	wait "$cpid"
	body=$(cat "$TMPD/fork.json")
	assert_eq "$(cat "$TMPD/fork.code")" 201 "fork ($body)"
	assert_eq "$(jget "$body" 'len(j["sandboxes"]), len(j.get("errors", []))')" "(1, 1)" \
		"copies made and refused"
	assert_contains "$(jget "$body" 'j["errors"][0]')" "maximum of 3 sandboxes" "the refusal says why"
	run_sbx snapshots
	assert_eq "$(echo "$OUT" | grep -c snap-)" 0 "the fork's snapshot is gone"
	copy=$(jget "$body" 'j["sandboxes"][0]')
	wait_log "$copy" "$(($(last_count "$id") + 3))"
}

# Why each sandbox ended reads the same after sbxd restarts: exited, timeout, checkpointed.
t_reasons_across_restart() {
	start_sbxd
	need_criu
	local a b c before after
	a=$("$SBX" create --image base -- sh -c 'exit 3') || fail create
	b=$("$SBX" create --image base --timeout 1s -- sleep 1000) || fail create
	c=$("$SBX" create --image host -- python3 -c "$COUNTER") || fail create
	wait_log "$c" 3
	"$SBX" checkpoint "$c" >/dev/null || fail checkpoint
	wait_exit "$a" >/dev/null
	wait_exit "$b" >/dev/null
	wait_exit "$c" >/dev/null
	reasons() {
		api GET /v1/sandboxes
		jget "$BODY" '{s["id"]: (s["reason"], s["exit_code"]) for s in j["sandboxes"]}'
	}
	before=$(reasons)
	assert_eq "$before" "{'$a': ('exited', 3), '$b': ('timeout', 124), '$c': ('checkpointed', $(jget "$("$SBX" inspect "$c")" 'j["exit_code"]'))}" "before"
	kill -TERM "$SBXD_PID"
	wait "$SBXD_PID"
	SBXD_PID=
	start_sbxd
	after=$(reasons)
	assert_eq "$after" "$before" "after a restart"
}

. "$(dirname "$0")/lib.sh"
