#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Meter cost benchmark: runs bench-meter (make bench builds it) over a copy of the base image
# with the getppid helper in /t. ROUNDS=N changes the rounds (default 5).
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${B:-build}
tmp=$(mktemp -d /tmp/sbx-bench-meter.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cp -a "$B/images/base/rootfs" "$tmp/rootfs"
mkdir -p "$tmp/rootfs/t"
cp "$B/tests/helpers/getppid-loop" "$tmp/rootfs/t/"
"$B/bench-meter" "$B" "$tmp/rootfs" "${ROUNDS:-5}"
