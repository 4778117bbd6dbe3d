#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The E2B surface, through the official SDK (tests/e2b's, pinned), against a daemon of
# its own; each figure with its baseline from the same run (tools/bench/e2b.mjs):
#   lifecycle  Sandbox.create + commands.run('true') + kill, vs the same lifecycle over
#              /v1 from the same Node process (the same image and command)
#   pause      betaPause + resume (connect) of a sandbox holding 256 MiB, vs a /v1
#              checkpoint + restore of the same kind of sandbox
#   clients    CLIENTS SDK clients (default 100), each in its own sandbox, each running
#              commands.run('true') once a second for SECONDS (default 60): errors,
#              stuck streams, p50/p99, vs one client alone
# ROUNDS=N lifecycle rounds (default 30), PAUSE_ROUNDS=N (default 5).
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${B:-build}
export SBX_INSTANCE=${SBX_INSTANCE-bench}
[ -d tests/e2b/node_modules/e2b ] || { echo "e2b bench: the SDK is missing (make bench installs it)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/sbx-bench.XXXXXX)
export SBX_SOCKET=$tmp/sbxd.sock
tok=$("$B/sbxd" tenant add bench --state-dir "$tmp/state")
"$B/sbxd" --no-net --socket "$SBX_SOCKET" --state-dir "$tmp/state" --log-level warn \
	--kill-on-exit --listen 127.0.0.1:0 --max-sandboxes 400 --max-per-tenant 400 &
pid=$!
# The meter its sbxd pinned goes too: its programs would count every host syscall.
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp" "/sys/fs/bpf/sbx-$SBX_INSTANCE"' EXIT
port=
for _ in $(seq 100); do
	port=$(ss -ltnp 2>/dev/null | grep "pid=$pid," | grep -o '127.0.0.1:[0-9]*' | head -n1 | cut -d: -f2 || true)
	[ -n "$port" ] && break
	sleep 0.05
done
[ -n "$port" ] || { echo "e2b bench: sbxd does not listen" >&2; exit 1; }
E2B_API_URL=http://127.0.0.1:$port E2B_SANDBOX_URL=http://127.0.0.1:$port E2B_API_KEY=$tok \
	SBX_SDK=$PWD/tests/e2b/node_modules/e2b/dist/index.mjs node tools/bench/e2b.mjs
