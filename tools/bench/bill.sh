#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Billing cost: a daemon of its own with a 1 s ledger window (and the 1 s metering tick)
# and N idle sandboxes (default 1000). Prints sbxd's CPU time per tick, ledger rows per
# second, and FOCUS export throughput; the baseline is the same daemon over the same
# sandboxes with a 1 h window (metering only), measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${B:-build}
N=${IDLE:-1000}
SECS=${SECS:-10}
tmp=$(mktemp -d /tmp/sbx-bench-bill.XXXXXX)
pid=
stop() {
	[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	pid=
}
trap 'stop; rm -rf "$tmp"' EXIT
start() {
	"$B/sbxd" --no-net --socket "$tmp/sbxd.sock" --state-dir "$tmp/state" --log-level error "$@" &
	pid=$!
	for _ in $(seq 100); do [ -S "$tmp/sbxd.sock" ] && break; sleep 0.05; done
}
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
rows() { sqlite3 "$tmp/state/sbx.db" 'select count(*) from ledger'; }
measure() { # label
	local t0 c0 r0 t1 c1 r1 hz
	hz=$(getconf CLK_TCK)
	t0=$(date +%s%N) c0=$(ticks) r0=$(rows)
	sleep "$SECS"
	t1=$(date +%s%N) c1=$(ticks) r1=$(rows)
	python3 -c "
dt = ($t1 - $t0) / 1e9; cpu = ($c1 - $c0) / $hz
print(f'%-46s %6.2f%% of a core  %7.1f ms CPU per 1 s tick  %8.0f rows/s' % ('$1', 100 * cpu / dt, 1000 * cpu / dt, ($r1 - $r0) / dt))"
}
export SBX_SOCKET=$tmp/sbxd.sock
start --bill-window 1h --max-sandboxes 4096
echo "creating $N idle sandboxes..."
seq "$N" | xargs -P 8 -I{} "$B/sbx" create --image base --timeout 1h >/dev/null
sleep 2
measure "metering only (1 h window), $N sandboxes"
stop
start --bill-window 1s --max-sandboxes 4096 --kill-on-exit
sleep 2
measure "metering + billing (1 s window), $N sandboxes"
t0=$(date +%s%N)
n=$(curl -s --unix-socket "$SBX_SOCKET" "http://x/v1/usage?format=focus" | wc -l)
t1=$(date +%s%N)
python3 -c "print('%-46s %8d rows in %.3f s = %.0f rows/s' % ('FOCUS export', $n - 1, ($t1 - $t0) / 1e9, ($n - 1) / (($t1 - $t0) / 1e9)))"
