#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Launch-latency benchmark: runs bench-launch (make bench builds it). ROUNDS=N to change rounds.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${B:-build}
command -v bwrap >/dev/null || { echo "bench: bwrap is missing (make setup installs it)" >&2; exit 1; }
exec "$B/bench-launch" "$B" "${ROUNDS:-200}"
