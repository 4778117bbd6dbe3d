#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# sbxd holding N idle sandboxes (default 1000; scale.py says what is measured): an sbxd
# of the bench's own, sized for them (--max-sandboxes), with its default 60 s bill
# windows (PROBE, default 65 s, spans one: every sandbox billed, its rows written), and
# a 2 h default timeout so that none ends while the last are made. N=10000 is the
# figure to quote; it needs about 1.5 MiB of memory and two PIDs per sandbox
# (kernel.pid_max), and one descriptor of sbxd's (RLIMIT_NOFILE).
# While they live, each one's writable layer is a mount on the host, and every mount
# namespace made from the host's meanwhile (a one-shot `sbx run`, a unit with a private
# /tmp; not sbxd's launches, copied from a small template) copies them all: `unshare -m
# true` took 1.8 ms here, 6.4 ms with 2,000 more mounts.
# What a run leaves for the rest of the boot: the kernel numbers every file system's
# shrinker, never lowers its highest number, and gives each memory cgroup made
# afterwards a map as long as that, 1 KiB per 64 numbers. A sandbox mounts four file
# systems (its layer, its root, /proc, /dev/pts), so after N=10000 every new memory
# cgroup (any runtime's) costs about 0.8 MiB more: measure peers.sh's memory row first.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${B:-build}
N=${N:-1000}
PROBE=${PROBE:-65}
export SBX_INSTANCE=${SBX_INSTANCE-scale}
state=$(mktemp -d /var/tmp/sbx-scale.XXXXXX)
sock=$state/sbxd.sock
sbxd=
cleanup() {
	[ -z "$sbxd" ] || kill -TERM "$sbxd" 2>/dev/null || true
	wait "$sbxd" 2>/dev/null || true
	rm -rf "$state" "/sys/fs/bpf/sbx-$SBX_INSTANCE" # the meter it pinned, sized for N

}
trap cleanup EXIT
"$B/sbxd" --no-net --kill-on-exit --max-sandboxes "$((N + 8))" --max-per-tenant "$N" \
	--default-timeout 2h --socket "$sock" --state-dir "$state" --log-level warn &
sbxd=$!
for _ in $(seq 200); do [ -S "$sock" ] && break; sleep 0.05; done
python3 tools/bench/scale.py "$N" "$PROBE" "$sock"
