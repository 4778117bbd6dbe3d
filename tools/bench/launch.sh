#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Launch-latency benchmark: builds bench-launch and runs it. ROUNDS=N to change rounds.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${B:-build}
command -v bwrap >/dev/null || { echo "bench: bwrap is missing (make setup installs it)" >&2; exit 1; }
cc -std=gnu11 -O2 -Wall -Wextra -Werror $(pkg-config --cflags libseccomp libcap jansson) \
	-o "$B/bench-launch" tools/bench/bench-launch.c "$B/libsandbox.a" \
	$(pkg-config --libs libseccomp libcap jansson)
exec "$B/bench-launch" "$B" "${ROUNDS:-200}"
