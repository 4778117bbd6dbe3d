#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# GPU checks for a real NVIDIA host (what the tests here do with stand-ins): discovery,
# a sandbox with GPU 0 running nvidia-smi and initialising CUDA, the device allowlist
# refusing the other GPUs, NVML busy time and memory, and the usage and metrics records.
# Prints one PASS/FAIL/INFO line per check; exits 1 if any failed. Run as root.
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
fails=0
pass() { echo "PASS $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
info() { echo "INFO $*"; }

make -s all >/dev/null || { echo "FAIL build"; exit 1; }
nvidia-smi -L 2>&1 | sed 's/^/INFO host: /'
tmp=$(mktemp -d /tmp/sbx-gpu-check.XXXXXX)
"$B/sbxd" --socket "$tmp/sbxd.sock" --state-dir "$tmp/state" --kill-on-exit --log-level info \
	>"$tmp/sbxd.log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
export SBX_SOCKET=$tmp/sbxd.sock
for _ in $(seq 100); do [ -S "$SBX_SOCKET" ] && break; sleep 0.05; done
grep -E 'NVIDIA|NVML|allowlist' "$tmp/sbxd.log" | sed 's/^/INFO sbxd: /'
"$B/sbx" gpus | sed 's/^/INFO /'
n=$("$B/sbx" gpus --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$n" -ge 1 ] && pass "discovery: $n GPU(s)" || { bad "discovery: no GPU"; exit 1; }

id=$("$B/sbx" create --image host --gpu 0 --memory 8G --timeout 10m) && pass "create --gpu 0" || { bad "create --gpu 0"; exit 1; }
out=$("$B/sbx" exec "$id" -- nvidia-smi -L 2>&1)
[ $? -eq 0 ] && pass "nvidia-smi in the sandbox: $out" || bad "nvidia-smi in the sandbox: $out"
[ "$(echo "$out" | grep -c '^GPU ')" = 1 ] && pass "the sandbox sees one GPU" || bad "the sandbox sees: $out"
cuda=$("$B/sbx" exec "$id" -- python3 -c '
import ctypes, time
c = ctypes.CDLL("libcuda.so.1")
r = c.cuInit(0); n = ctypes.c_int(); c.cuDeviceGetCount(ctypes.byref(n))
ctx = ctypes.c_void_p(); dev = ctypes.c_int(); c.cuDeviceGet(ctypes.byref(dev), 0)
r2 = c.cuCtxCreate_v2(ctypes.byref(ctx), 0, dev)
p = ctypes.c_void_p(); r3 = c.cuMemAlloc_v2(ctypes.byref(p), 1 << 30)
time.sleep(3)
print(r, n.value, r2, r3)' 2>&1)
[ "$cuda" = "0 1 0 0" ] && pass "CUDA: init, one device, a context, 1 GiB allocated" || bad "CUDA in the sandbox: $cuda"
if [ "$n" -ge 2 ]; then
	other=$("$B/sbx" exec "$id" -- python3 -c '
import os, errno
try: os.open("/dev/nvidia1", os.O_RDWR); print("opened")
except OSError as e: print(errno.errorcode[e.errno])' 2>&1)
	[ "$other" != opened ] && pass "another GPU refused in the sandbox ($other)" || bad "GPU 1 opened from a sandbox holding GPU 0"
	held=$("$B/sbx" create --image host --gpu 0 2>&1) && bad "GPU 0 granted twice" || pass "GPU 0 is exclusive: $held"
fi
u=$("$B/sbx" usage --json "$id")
echo "$u" | python3 -c '
import json, sys
g = json.load(sys.stdin)["gpus"][0]
print("INFO usage:", json.dumps(g))
ok = g["attached_ns"] > 0 and g["opens"] and g["ioctls"] and g.get("memory_peak_bytes")
print(("PASS" if ok else "FAIL") + " usage: attached, driver activity, NVML memory peak")' | tee "$tmp/u"
grep -q '^FAIL' "$tmp/u" && fails=$((fails + 1))
curl -s --unix-socket "$SBX_SOCKET" http://x/metrics | grep -E '^sbx_gpu' | sed 's/^/INFO metrics: /'
"$B/sbx" rm "$id" >/dev/null && pass "rm releases it" || bad "rm"
"$B/sbx" gpus | sed 's/^/INFO after: /'
echo "$fails failed"
[ "$fails" = 0 ]
