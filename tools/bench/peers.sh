#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# sbx beside bwrap, runc and crun (Debian's), interleaved on one machine: peers.py says
# the rows. An sbxd of the bench's own serves the API rows; the runtimes run in a mount
# namespace where the hybrid host's cgroup2 offers no controllers (crun refuses hybrid
# hosts otherwise; the others are unaffected). ROUNDS=N (default 40), CK_ROUNDS=N for
# the checkpoint rows (default ROUNDS), MEM_N idle sandboxes per memory turn (default
# 100; 0 leaves the row out). Where each keeps its files by default: runc's and crun's
# state on tmpfs (/run; here /dev/shm), sbxd's on disk (/var/lib/sbx; here /var/tmp).
# The checkpoint images of both (sbxd's snapshots directory, runc's --image-path) and the
# floor's file go to tmpfs mounts of one kind: CK_STORE=huge (the default) mounts them
# with huge=within_size, as README's snapshot section advises an operator (the kernel
# then writes the page images in large folios: 6.14 and later); CK_STORE=plain, without.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${B:-build}
ROUNDS=${ROUNDS:-40}
CK_ROUNDS=${CK_ROUNDS:-$ROUNDS}
MEM_N=${MEM_N:-100}
CK_STORE=${CK_STORE:-huge}
case $CK_STORE in
huge) store_opts=mode=0700,huge=within_size ;;
plain) store_opts=mode=0700 ;;
*) echo "peers bench: CK_STORE is huge or plain, not '$CK_STORE'" >&2; exit 1 ;;
esac
export SBX_INSTANCE=${SBX_INSTANCE-peers}
for t in bwrap runc crun; do
	command -v "$t" >/dev/null || { echo "peers bench: $t is missing (tools/setup.sh installs it)" >&2; exit 1; }
done
tmp=$(mktemp -d /dev/shm/sbx-peers.XXXXXX)
state=$(mktemp -d /var/tmp/sbx-peers.XXXXXX)
sbxd=
cleanup() {
	for rt in runc crun; do
		for c in $("$rt" --root "$tmp/$rt-root" list -q 2>/dev/null); do
			"$rt" --root "$tmp/$rt-root" delete --force "$c" >/dev/null 2>&1 || true
		done
	done
	[ -z "$sbxd" ] || kill -TERM "$sbxd" 2>/dev/null || true
	wait "$sbxd" 2>/dev/null || true
	umount "$state/snapshots" "$tmp/ckpt" 2>/dev/null || true
	# The meter its sbxd pinned goes too: its programs would count every host syscall.
	rm -rf "$tmp" "$state" "/sys/fs/bpf/sbx-$SBX_INSTANCE"
}
trap cleanup EXIT
mkdir -m 0700 "$state/snapshots" "$tmp/ckpt"
for dir in "$state/snapshots" "$tmp/ckpt"; do
	mount -t tmpfs -o "$store_opts" sbx-peers "$dir" || {
		echo "peers bench: this kernel mounts no tmpfs with $store_opts (CK_STORE=plain goes without)" >&2
		exit 1
	}
done
echo "checkpoint images and the floor's file: tmpfs, $store_opts"
export SBX_SOCKET=$tmp/sbxd.sock
"$B/sbxd" --no-net --warm 2 --socket "$SBX_SOCKET" --state-dir "$state" --log-level warn &
sbxd=$!
for _ in $(seq 200); do [ -S "$SBX_SOCKET" ] && break; sleep 0.05; done
: >"$tmp/empty"
unshare -m sh -c "mount --make-rprivate / && mount --bind $tmp/empty /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null; exec python3 tools/bench/peers.py $B $ROUNDS $CK_ROUNDS $MEM_N $tmp $SBX_SOCKET"
