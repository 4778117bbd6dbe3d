#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The official E2B SDK (npm e2b, pinned in tests/e2b/package.json) against a real sbxd:
# each case of tests/e2b/*.mjs runs in Node with E2B_API_URL and E2B_SANDBOX_URL at
# sbxd's listener and E2B_API_KEY a tenant's token (SBX_TOKEN_B another tenant's).

E2B_DIR=$(cd "$(dirname "$0")/../e2b" && pwd)

e2b_case() {
	command -v node >/dev/null || skip "node is not installed (tools/setup.sh installs it)"
	[ -d "$E2B_DIR/node_modules/e2b" ] ||
		skip "the E2B SDK is not installed (make test runs npm ci in tests/e2b)"
	[ -d "$B/images/host" ] || skip "image host is not built (make)"
	local a b
	a=$("$B/sbxd" tenant add alice --state-dir "$TMPD/state") || fail "tenant add"
	b=$("$B/sbxd" tenant add bob --state-dir "$TMPD/state") || fail "tenant add"
	start_sbxd --listen 127.0.0.1:0
	local port
	port=$(sbxd_port)
	E2B_API_URL=http://127.0.0.1:$port E2B_SANDBOX_URL=http://127.0.0.1:$port \
		E2B_API_KEY=$a SBX_TOKEN_B=$b SBX_SOCKET=$SBX_SOCKET SBXD_PID=$SBXD_PID \
		node "$E2B_DIR/run.mjs" "$1" || fail "case $1 (sbxd's log: $TMPD/sbxd.log)"
	# Nothing of the case's sandboxes is left: processes, cgroups, mounts.
	for _ in $(seq 100); do
		[ "$(curl -s --unix-socket "$SBX_SOCKET" http://x/v1/health | python3 -c 'import json,sys; print(json.load(sys.stdin)["sandboxes"]["live"])')" = 0 ] && break
		sleep 0.05
	done
}

# One shell case for each of the Node ones (their names: "async NAME()" in the files).
for c in $(sed -n 's/^  async \([a-z0-9_]*\)() {$/\1/p' "$E2B_DIR"/*.mjs); do
	eval "t_$c() { e2b_case $c; }"
done

source "$(dirname "$0")/lib.sh"
