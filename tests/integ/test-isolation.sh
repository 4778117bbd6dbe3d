#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Isolation, asserted from inside a sandbox by what the workload observes.

t_pid_namespace() {
	run_sbx run -- sh -c 'echo $$; ls /proc | grep -c "^[0-9]"; cat /proc/1/cmdline | tr "\0" " "'
	assert_eq "$RC" 0 "exit code"
	local lines
	mapfile -t lines <<<"$OUT"
	assert_eq "${lines[0]}" 2 "workload pid (sbx-init is 1)"
	[ "${lines[1]}" -le 4 ] || fail "sandbox sees ${lines[1]} processes; host has $(ls /proc | grep -c '^[0-9]')"
	assert_contains "${lines[2]}" "sbx-init" "pid 1"
	# A host process is invisible by pid.
	run_sbx run -- sh -c "kill -0 $$ 2>&1; ls /proc/$$ 2>&1"
	assert_contains "$OUT" "No such" "host pid $$ from inside"
}

t_hostname() {
	run_sbx run --hostname agent-7 -- sh -c 'hostname; cat /proc/sys/kernel/hostname; echo $HOSTNAME'
	assert_eq "$OUT" $'agent-7\nagent-7\nagent-7' "hostname"
	assert_eq "$(hostname)" "$(cat /proc/sys/kernel/hostname)" "host hostname unchanged"
	run_sbx run -- hostname
	[[ "$OUT" =~ ^[0-9a-f]{12}$ ]] || fail "default hostname is the sandbox id, got '$OUT'"
}

t_root_is_image_and_readonly() {
	run_sbx run -- sh -c 'ls /; touch /bin/x 2>&1; mkdir /new 2>&1; echo x > /etc/passwd 2>&1'
	assert_eq "$(echo "$OUT" | head -n 11 | tr '\n' ' ')" "$(ls "$B/images/base/rootfs" | tr '\n' ' ')" "/ listing"
	assert_contains "$OUT" "touch: /bin/x: Read-only file system" "write to /bin"
	assert_contains "$OUT" "mkdir: can't create directory '/new': Read-only file system" "mkdir /"
	[ ! -e "$B/images/base/rootfs/new" ] || fail "image modified"
	# Nothing of the host is visible.
	run_sbx run -- sh -c 'ls /work /root/.bashrc /var/lib 2>&1; ls /dev'
	assert_contains "$OUT" "/work: No such file" "host /work"
	# sbx-init, PID 1's binary, is the one addition: read-only, so a checkpoint finds it.
	assert_eq "$(echo "$OUT" | tail -n +4 | tr '\n' ' ')" "fd full null ptmx pts random sbx-init shm stderr stdin stdout tty urandom zero " "/dev"
	# /dev is shared by sandboxes (sbx's runtime tmpfs): read-only, and its entries are
	# the host root's, which no sandbox's root may change, whatever it does to the mount.
	run_sbx run -- sh -c 'touch /dev/x 2>&1; mkdir /dev/d 2>&1; rm /dev/fd 2>&1; chmod 777 /dev 2>&1
	grep " /dev " /proc/self/mountinfo | cut -d" " -f4,6,8; stat -c "%u %a" /dev /proc/tty'
	assert_contains "$OUT" "touch: /dev/x: Read-only file system" "a file in /dev"
	assert_contains "$OUT" "mkdir: can't create directory '/dev/d': Read-only file system" "mkdir in /dev"
	assert_contains "$OUT" "rm: can't remove '/dev/fd': Read-only file system" "rm in /dev"
	assert_contains "$OUT" "/sbx-dev-1 ro,nosuid,nodev,noexec,relatime tmpfs" "/dev's mount"
	assert_contains "$OUT" "chmod: /dev: Read-only file system" "chmod /dev"
	assert_contains "$OUT" "65534 755"$'\n'"65534 755" "/dev and its pts directory (under /proc/tty): the host root's"
	local t=/run/sbx/runtime/sbx-dev-1
	assert_eq "$(stat -c '%u %a' "$t" "$t/pts" "$t/shm" | tr '\n' ' ')" "0 755 0 755 0 755 " "the shared /dev on the host"
	assert_eq "$(find "$t" -perm /022 ! -type l | wc -l)" 0 "nothing in it writable but by root"
	assert_eq "$(find "$t" ! -user 0 | wc -l)" 0 "everything in it the host root's"
	run_sbx run -- sh -c 'echo x > /dev/sbx-init 2>&1; rm /dev/sbx-init 2>&1; cmp /proc/1/exe /dev/sbx-init && echo same'
	assert_contains "$OUT" "Read-only file system" "sbx-init cannot be changed"
	assert_not_contains "$OUT" "same" "PID 1's memory is not readable"
	cmp -s "$B/sbx-init" <("$SBX" run -- cat /dev/sbx-init) || fail "/dev/sbx-init is not sbx-init"
}

t_tmp_writable_and_bounded() {
	run_sbx run --tmp-size 2M -- sh -c 'dd if=/dev/zero of=/tmp/a bs=1k count=1024 2>/dev/null && echo wrote1M; dd if=/dev/zero of=/tmp/b bs=1k count=2048 2>&1 | head -n1'
	assert_contains "$OUT" "wrote1M" "1 MiB in /tmp"
	assert_contains "$OUT" "No space left on device" "writing past --tmp-size"
}

t_writable_layer() {
	run_sbx run --writable-size 4M -- sh -c 'echo hi > /hello && cat /hello; mkdir -p /opt/x && echo made; dd if=/dev/zero of=/big bs=1k count=8192 2>&1 | head -n1'
	assert_eq "$(echo "$OUT" | head -n 2 | tr '\n' ' ')" "hi made " "writes to /"
	assert_contains "$OUT" "No space left on device" "writing past --writable-size"
	[ ! -e "$B/images/base/rootfs/hello" ] || fail "the writable layer leaked into the image"
	run_sbx run -- cat /hello
	assert_eq "$RC" 1 "a fresh sandbox does not see the last one's writes"
}

t_network_only_loopback() {
	# A server on the host's loopback must not be reachable from the sandbox's.
	python3 -c 'import socket,sys,time
s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(20)' >"$TMPD/port" &
	local srv=$!
	for _ in $(seq 50); do [ -s "$TMPD/port" ] && break; sleep 0.1; done
	local port
	port=$(cat "$TMPD/port")
	# Its own network namespace (not the host's), owned by its own user namespace: asked
	# of the kernel from inside (NS_GET_USERNS fails with EPERM for an owner above ours).
	run_sbx run --image host -- python3 -c "
import fcntl, os, socket
print(os.readlink('/proc/self/ns/net') != '$(readlink /proc/self/ns/net)')
owner = fcntl.ioctl(os.open('/proc/self/ns/net', os.O_RDONLY), 0xb701)
print(os.fstat(owner).st_ino == os.stat('/proc/self/ns/user').st_ino)
print(open('/proc/net/dev').read().split()[-17])
print(len(open('/proc/net/route').read().splitlines()))
s=socket.socket()
try:
    s.connect(('127.0.0.1', $port)); print('connected')
except OSError as e:
    print('refused' if e.errno == 111 else e)
l=socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(); c=socket.create_connection(l.getsockname()); print('lo works')
"
	kill $srv
	assert_eq "$RC" 0 "exit code ($ERR)"
	assert_eq "$OUT" $'True\nTrue\nlo:\n1\nrefused\nlo works' \
		"own namespace, its owner, interfaces, routes, host loopback, own loopback"
	run_sbx run --net loopback -- sh -c 'ls /sys/class/net 2>/dev/null; cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d " "'
	assert_eq "$OUT" "lo" "--net loopback interfaces"
}

t_capabilities_all_zero() {
	run_sbx run -- grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status
	assert_eq "$(echo "$OUT" | tr -s '\t ' ' ')" "$(printf 'CapInh: 0000000000000000\nCapPrm: 0000000000000000\nCapEff: 0000000000000000\nCapBnd: 0000000000000000\nCapAmb: 0000000000000000\nNoNewPrivs: 1\nSeccomp: 2')" "status"
	run_sbx run --user-ns -- grep -E '^Cap(Eff|Bnd)' /proc/self/status
	assert_eq "$(echo "$OUT" | tr -s '\t ' ' ')" $'CapEff: 0000000000000000\nCapBnd: 0000000000000000' "with --user-ns"
}

t_denied_syscalls_eperm() {
	local img
	img=$(helper_image)
	run_sbx run --image "$img" -- /t/syscall-probe
	assert_eq "$RC" 0 "probe exit ($ERR)"
	local n=0 line
	while read -r line; do
		n=$((n + 1))
		case "$line" in
		clone3:*) assert_eq "$line" "clone3:ENOSYS" "clone3 (libc falls back to clone)" ;;
		*) assert_eq "${line#*:}" EPERM "${line%%:*}" ;;
		esac
	done <<<"$OUT"
	[ $n -ge 35 ] || fail "only $n probes ran"
}

t_setuid_gains_nothing() {
	local img
	img=$(helper_image)
	cp "$B/tests/helpers/whoami" "$img/rootfs/t/suid-whoami"
	chown 0:0 "$img/rootfs/t/suid-whoami"
	chmod 6755 "$img/rootfs/t/suid-whoami"
	run_sbx run --image "$img" --user 1000:1000 -- /t/suid-whoami
	assert_eq "$OUT" "uid=1000 euid=1000 gid=1000 egid=1000 capeff=0000000000000000" "setuid-root binary run by uid 1000"
	# The root is mounted nosuid, and no_new_privs holds anyway.
	run_sbx run --image "$img" --writable-size 8M --user 1000:1000 -- sh -c 'grep " / " /proc/mounts; /t/suid-whoami'
	assert_contains "$(echo "$OUT" | head -n1)" "nosuid" "overlay root mount options"
	assert_eq "$(echo "$OUT" | tail -n1)" "uid=1000 euid=1000 gid=1000 egid=1000 capeff=0000000000000000" "setuid-root binary on the writable layer"
}

t_proc_sys_readonly() {
	run_sbx run -- sh -c 'echo 1 > /proc/sys/kernel/core_pattern; echo x > /proc/sysrq-trigger; cat /proc/keys /proc/timer_list | wc -c'
	assert_contains "$ERR" "/proc/sys/kernel/core_pattern: Read-only file system" "/proc/sys"
	if [ -e /proc/sysrq-trigger ]; then
		assert_contains "$ERR" "/proc/sysrq-trigger: Read-only file system" "sysrq-trigger"
	fi
	assert_eq "$(echo "$OUT" | tail -n1)" 0 "masked /proc files are empty"
}

# /proc's directories of host details (acpi, tty, pressure, ...) show an empty directory
# that nothing can be written to, made in, or run from: /dev's pts directory, under
# devpts (no file system of their own, for a checkpoint to archive).
# What a sandbox mounts stays in it, on a host whose mounts are shared (systemd's): the
# clones it is made of (the shared /dev, sbx-init, the image's binds) are private, or
# its node binds, devpts and shm would appear in the host's tree and in every other
# sandbox's /dev.
t_mounts_stay_inside() {
	local rt=/run/sbx/runtime before during
	"$SBX" run -- true || fail "a first run"
	mount --make-shared "$rt" || fail "making $rt shared"
	before=$(wc -l </proc/self/mountinfo)
	"$SBX" run --image host -- sh -c 'sleep 2' &
	local other=$!
	sleep 0.5
	run_sbx run --image host -- sh -c 'sleep 0.5; awk "\$5 ~ /^\/dev(\/|\$)/" /proc/self/mountinfo | wc -l'
	during=$(wc -l </proc/self/mountinfo)
	wait "$other"
	mount --make-private "$rt"
	assert_eq "$RC" 0 "the second sandbox ($ERR)"
	assert_eq "$OUT" 10 "/dev's mounts in a sandbox beside another: its own ten"
	assert_eq "$during" "$before" "the host's mounts while two sandboxes run"
	assert_eq "$(grep -c " $rt/" /proc/self/mountinfo)" 0 "mounts below $rt on the host"
}

t_proc_dirs_hidden() {
	local d dirs=()
	for d in acpi scsi driver asound tty dynamic_debug pressure fb; do
		[ -d "/proc/$d" ] && dirs+=("/proc/$d")
	done
	[ ${#dirs[@]} -gt 0 ] || fail "no /proc directory to hide on this host"
	run_sbx run -- sh -c 'grep " /dev " /proc/self/mountinfo | cut -d" " -f3,4 | sed "s/^/dev is /"
	for d in "$@"; do
		echo "$d holds $(ls -A "$d" | wc -l)"; mkdir "$d/x" 2>&1; touch "$d/f" 2>&1
		grep " $d " /proc/self/mountinfo | cut -d" " -f3,4,6; done' sh "${dirs[@]}"
	local dev
	dev=$(echo "$OUT" | sed -n 's/^dev is //p')
	[ -n "$dev" ] || fail "no /dev mount: $OUT"
	dev="${dev% /}" # /dev's device, and its root: ".../pts" below it
	for d in "${dirs[@]}"; do
		assert_contains "$OUT" "$d holds 0" "$d is empty"
		assert_contains "$OUT" "mkdir: can't create directory '$d/x': Read-only file system" "mkdir in $d"
		assert_contains "$OUT" "touch: $d/f: Read-only file system" "a file in $d"
	done
	assert_eq "$(echo "$OUT" | grep -c "^$dev/pts ro,nosuid,nodev,noexec")" "${#dirs[@]}" \
		"each a bind of /dev's pts directory, ro,nosuid,nodev,noexec: $OUT"
}

# Every sandbox has a user namespace: root inside is a host id of a range of its own,
# never the host's root, and the image's files are still root's inside.
t_user_namespace() {
	run_sbx run -- sh -c 'cat /proc/self/uid_map /proc/self/gid_map | tr -s " "; id -u; ls -ln /etc/passwd | tr -s " " | cut -d" " -f3,4; echo ok > /tmp/f && cat /tmp/f'
	assert_eq "$RC" 0 "exit ($ERR)"
	local base
	base=$(echo "$OUT" | head -n1 | cut -d" " -f3)
	[ "$base" -ge $((1 << 30)) ] && [ $((base % 65536)) = 0 ] || fail "host id range $base"
	assert_eq "$OUT" " 0 $base 65536"$'\n'" 0 $base 65536"$'\n0\n0 0\nok' "maps, identity, image ownership"
	run_sbx run --user 1000:1000 -- id -u
	assert_eq "$OUT" 1000 "--user inside the user namespace"
	run_sbx run --writable-size 8M -- sh -c 'echo w > /w && cat /w && echo x >> /etc/passwd && echo edited'
	assert_eq "$OUT" $'w\nedited' "the image's files are writable through the layer"
	# From the host: two sandboxes, two ranges, neither the host's root.
	"$SBX" run -- sleep 3.17 &
	local p1=$!
	"$SBX" run --user 1000 -- sleep 3.17 &
	local p2=$!
	sleep 0.8
	local uids # theirs only: other sleeps on the host are not these
	uids=$(ps -eo uid=,args= | awk '$2 == "sleep" && $3 == "3.17" && NF == 3 { print $1 }' | sort -u)
	wait $p1 $p2
	assert_eq "$(echo "$uids" | wc -l)" 2 "two sandboxes' host uids ($uids)"
	assert_not_contains "$uids" $'\n0' "host root"
	local a b
	a=$(echo "$uids" | head -n1)
	b=$(echo "$uids" | tail -n1)
	[ "$a" -ge $((1 << 30)) ] && [ "$b" -ge $((1 << 30)) ] || fail "host uids $a, $b"
	[ $(((a - (1 << 30)) / 65536)) != $(((b - (1 << 30)) / 65536)) ] || fail "one range for both ($a, $b)"
	# Their ranges are given back.
	local slot
	for u in $a $b; do
		slot=$(((u - (1 << 30)) / 65536))
		[ ! -e "/run/sbx/runtime/ids/$slot" ] || fail "range of $u still held"
	done
}

t_time_namespace() {
	run_sbx run -- readlink /proc/self/ns/time
	local host_ns
	host_ns=$(readlink /proc/self/ns/time)
	[ -n "$OUT" ] && [ "$OUT" != "$host_ns" ] || fail "time ns inside '$OUT' equals the host's '$host_ns'"
}

source "$(dirname "$0")/lib.sh"
