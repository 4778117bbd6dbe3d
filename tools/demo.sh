#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make run`: shows sbx with its built-in defaults by running a few sandboxes.
set -u
cd "$(dirname "$0")/.."
SBX=build/sbx
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() {
	say "$*"
	"$@"
	echo "(exit $?)"
}

cat <<'TXT'
sbx: millisecond sandboxes for AI-agent code. No daemon needed for one-shot runs:
`build/sbx run` launches a sandbox with its own pid, mount, uts, ipc, cgroup, network
and time namespaces, a read-only image root, no capabilities and a seccomp allowlist.
TXT
run $SBX run --image base -- sh -c 'echo hello from $(hostname); exit 3'
run $SBX run --image host --memory 256M --cpus 0.5 --pids 64 --timeout 10s -- \
	python3 -c 'import os, platform; print("python", platform.python_version(), "as pid", os.getpid())'
run $SBX run -- sh -c 'grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status; ls /proc | grep -c "^[0-9]"; cat /proc/net/dev | tail -n +3 | cut -d: -f1'
run $SBX run --timeout 1s -- sleep 10
run $SBX run --memory 32M --image host -- python3 -c 'bytearray(256 << 20)'

cat <<'TXT'

Try it yourself:
  build/sbx run --help
  build/sbx run --image host --writable-size 64M -- sh -c 'echo hi > /x && cat /x'
  build/sbx run --user-ns --net loopback -- id
  make test     # the whole suite;   make bench   # launch latency vs bwrap
TXT
