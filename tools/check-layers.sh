#!/bin/bash
# SPDX-License-Identifier: MIT
# The rooms of sbxd, lowest first; a file may include headers of its own room and of
# lower ones, never of a higher one:
#   sandbox/, bpf/     libsandbox and the eBPF maps' layout (shared with the CLI)
#   host/sys/          loop, store, layers, CRIU and tar runners, NVML, meter, usage, log
#   host/billing/      rates, ledger, pricing of windows, export writers (pure)
#   host/domain/       sandboxes, commands, files, logs, GPUs, snapshots; the reply interface
#   host/edge/         the HTTP server, router and rendering: the only room that knows HTTP
#   host/              sbxd.c, which wires them
# Prints each include that goes up, and fails if there is one.
set -euo pipefail
cd "$(dirname "$0")/.."

rank() {
	case "$1" in
	sandbox/* | bpf/*) echo 0 ;;
	host/sys/*) echo 1 ;;
	host/billing/*) echo 2 ;;
	host/domain/*) echo 3 ;;
	host/edge/*) echo 4 ;;
	host/*/*) echo "unknown room: ${1%/*} (add it to tools/check-layers.sh)" >&2 && echo 9 ;;
	host/*) echo 5 ;;
	*) echo -1 ;;
	esac
}

bad=0 files=0
while IFS= read -r -d '' f; do
	files=$((files + 1))
	from=$(rank "$f")
	dir=$(dirname "$f")
	while IFS=: read -r line inc; do
		target=$(realpath -m --relative-to=. "$dir/$inc")
		[ -e "$target" ] || continue # generated (skeletons) or a system header
		to=$(rank "$target")
		if [ "$to" -lt 0 ] || [ "$to" -gt "$from" ]; then
			echo "$f:$line: includes $target, which is above its room" >&2
			bad=$((bad + 1))
		fi
	done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" |
		sed 's/^\([0-9]*\):[^"]*"\([^"]*\)".*/\1:\2/' || true)
done < <(find sandbox bpf host -name '*.[ch]' -print0)
if [ "$bad" -gt 0 ]; then
	echo "check-layers: $bad include(s) against the rooms' order" >&2
	exit 1
fi
echo "check-layers: $files files, every include points down or across"
