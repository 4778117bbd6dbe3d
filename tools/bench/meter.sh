#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Meter cost benchmark: builds bench-meter and runs it over a copy of the base image
# with the getppid helper in /t. ROUNDS=N changes the rounds (default 5).
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${B:-build}
make -s "$B/tests/helpers/getppid-loop"
cc -std=gnu11 -O2 -Wall -Wextra -Werror -I"$B/bpf" $(pkg-config --cflags libseccomp libcap jansson) \
	-o "$B/bench-meter" tools/bench/bench-meter.c "$B/host/meter.o" "$B/host/usage.o" \
	"$B/libsandbox.a" $(pkg-config --libs libseccomp libcap jansson) -lbpf
tmp=$(mktemp -d /tmp/sbx-bench-meter.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cp -a "$B/images/base/rootfs" "$tmp/rootfs"
mkdir -p "$tmp/rootfs/t"
cp "$B/tests/helpers/getppid-loop" "$tmp/rootfs/t/"
"$B/bench-meter" "$B" "$tmp/rootfs" "${ROUNDS:-5}"
