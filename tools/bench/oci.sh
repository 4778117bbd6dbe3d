#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# sbx-oci under containerd, against runc and crun (Debian's) in the same run, interleaved
# round by round, through the same containerd and runc shim (ctr --runc-binary):
#   run   `ctr run --rm IMAGE ID true`: create, start, wait, delete
#   exec  `ctr task exec ID true` into a running container of each runtime
#   ckpt  `ctr task checkpoint --image-path D ID`, left running (sbx-oci and runc)
# sbx-oci registers each container with an sbxd of the bench's own (metered, billed),
# as it does on a node. containerd runs in a mount namespace where the hybrid host's
# cgroup2 offers no controllers (crun refuses hybrid hosts otherwise; the others are
# unaffected). ROUNDS=N (default 30).
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${B:-build}
ROUNDS=${ROUNDS:-30}
export SBX_INSTANCE=${SBX_INSTANCE-bench}
for t in containerd ctr runc crun containerd-shim-runc-v2; do
	command -v "$t" >/dev/null || { echo "oci bench: $t is missing (tools/setup.sh installs it)" >&2; exit 1; }
done
tmp=$(mktemp -d /tmp/sbx-bench.XXXXXX)
ns=bench$$
export SBX_SOCKET=$tmp/sbxd.sock
"$B/sbxd" --no-net --socket "$SBX_SOCKET" --state-dir "$tmp/state" --log-level warn &
sbxd=$!
cat >"$tmp/config.toml" <<EOF
version = 2
root = "$tmp/root"
state = "$tmp/state-ctd"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$tmp/ctd.sock"
[ttrpc]
  address = "$tmp/ctd.sock.ttrpc"
EOF
: >"$tmp/empty"
unshare -m sh -c "mount --make-rprivate / && mount --bind $tmp/empty /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null; exec containerd --config $tmp/config.toml" \
	>"$tmp/containerd.log" 2>&1 &
ctd=$!
c() { ctr --address "$tmp/ctd.sock" -n "$ns" "$@"; }
cleanup() {
	for id in $(c task ls -q 2>/dev/null); do c task kill -s KILL "$id" >/dev/null 2>&1 || true; done
	sleep 0.3
	for id in $(c task ls -q 2>/dev/null); do c task delete "$id" >/dev/null 2>&1 || true; done
	for id in $(c containers ls -q 2>/dev/null); do c containers rm "$id" >/dev/null 2>&1 || true; done
	kill "$ctd" 2>/dev/null || true
	wait "$ctd" 2>/dev/null || true
	pkill -f "containerd-shim-runc-v2 -namespace $ns " 2>/dev/null || true
	kill -TERM "$sbxd" 2>/dev/null || true
	wait "$sbxd" 2>/dev/null || true
	rmdir "/run/containerd/runc/$ns" 2>/dev/null || true
	# runc and crun leave the cgroups of the namespace (their cgroupsPath's parent).
	find /sys/fs/cgroup -maxdepth 3 -type d -name "$ns" 2>/dev/null | while read -r d; do
		find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	done
	awk -v d="$tmp/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
		while read -r m; do umount -l "$m"; done
	# The meter its sbxd pinned goes too: its programs would count every host syscall.
	rm -rf "$tmp" "/sys/fs/bpf/sbx-$SBX_INSTANCE"
}
trap cleanup EXIT
for _ in $(seq 200); do c version >/dev/null 2>&1 && break; sleep 0.05; done
python3 tests/oci/mkimage.py "$B/images/base" "$tmp/base.tar" docker.io/sbx/base:latest
c images import "$tmp/base.tar" >/dev/null
img=docker.io/sbx/base:latest

declare -A bin=([sbx-oci]=$PWD/$B/sbx-oci [crun]=$(command -v crun) [runc]=$(command -v runc))
order=(sbx-oci crun runc)
ms() { echo $(($(date +%s%N) / 1000)); }
# Warm up each (the image's snapshot, the runtimes' caches).
for r in "${order[@]}"; do c run --rm --runc-binary "${bin[$r]}" "$img" "w-$r" true; done
for ((i = 0; i < ROUNDS; i++)); do
	for k in 0 1 2; do
		r=${order[$(((i + k) % 3))]}
		t0=$(ms)
		c run --rm --runc-binary "${bin[$r]}" "$img" "r$i-$r" true
		echo "run $r $(($(ms) - t0))" >>"$tmp/samples"
	done
done
for r in "${order[@]}"; do c run -d --runc-binary "${bin[$r]}" "$img" "e-$r" sleep 3600 >/dev/null; done
for ((i = 0; i < ROUNDS; i++)); do
	for k in 0 1 2; do
		r=${order[$(((i + k) % 3))]}
		t0=$(ms)
		c task exec --exec-id "x$i" "e-$r" true
		echo "exec $r $(($(ms) - t0))" >>"$tmp/samples"
	done
done
# Checkpoint, the container left running (`ctr task checkpoint --image-path`), of a
# shell waiting in a loop: sbx-oci against runc (Debian's crun is built without CRIU).
# runc's CRIU skips the network lock (no iptables here) through the bundle annotation
# it reads; sbx-oci always does.
printf 'network-lock skip\n' >"$tmp/criu.conf"
CK_ROUNDS=${CK_ROUNDS:-$((ROUNDS < 15 ? ROUNDS : 15))}
ck=(sbx-oci runc)
for r in "${ck[@]}"; do
	c run -d --annotation org.criu.config="$tmp/criu.conf" --runc-binary "${bin[$r]}" "$img" \
		"k-$r" sh -c 'while true; do sleep 1; done' >/dev/null
done
for ((i = 0; i < CK_ROUNDS; i++)); do
	for k in 0 1; do
		r=${ck[$(((i + k) % 2))]}
		t0=$(ms)
		c task checkpoint --image-path "$tmp/ck-$r-$i" "k-$r" >/dev/null
		echo "ckpt $r $(($(ms) - t0))" >>"$tmp/samples"
		rm -rf "$tmp/ck-$r-$i"
	done
done
python3 - "$tmp/samples" "$ROUNDS" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]
print(f"oci bench: ctr (containerd's runc shim), {sys.argv[2]} interleaved rounds, ms")
for what in ("run", "exec"):
    p50 = {}
    for rt in ("sbx-oci", "crun", "runc"):
        v = [int(x[2]) / 1000 for x in rows if x[0] == what and x[1] == rt]
        p50[rt] = statistics.median(v)
        print(f"  {what:4} {rt:8} p50 {p50[rt]:7.1f}  p99 {pct(v, 99):7.1f}")
    print(f"  {what:4} sbx-oci/crun {p50['sbx-oci'] / p50['crun']:.2f}x  "
          f"sbx-oci/runc {p50['sbx-oci'] / p50['runc']:.2f}x"
          + ("" if what != "run" else
             ("  (sbx-oci p50 <= crun's)" if p50["sbx-oci"] <= p50["crun"] else "  (ABOVE crun's p50)")))
v = {rt: [int(x[2]) / 1000 for x in rows if x[0] == "ckpt" and x[1] == rt] for rt in ("sbx-oci", "runc")}
for rt in v:
    print(f"  ckpt {rt:8} p50 {statistics.median(v[rt]):7.1f}  p99 {pct(v[rt], 99):7.1f}  ({len(v[rt])} rounds)")
print(f"  ckpt sbx-oci/runc {statistics.median(v['sbx-oci']) / statistics.median(v['runc']):.2f}x")
EOF
