#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# sbxd benchmark: starts a daemon of its own (temporary socket and state), runs
# bench-sbxd (make bench builds it) against it, stops it. ROUNDS=N and IDLE=N change the sizes.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${B:-build}
tmp=$(mktemp -d /tmp/sbx-bench.XXXXXX)
"$B/sbxd" --no-net --socket "$tmp/sbxd.sock" --state-dir "$tmp/state" --log-level warn --kill-on-exit &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do [ -S "$tmp/sbxd.sock" ] && break; sleep 0.05; done
"$B/bench-sbxd" "$tmp/sbxd.sock" "$pid" "$B" "${ROUNDS:-200}" "${IDLE:-1000}"
