#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# GPU checks for a real NVIDIA host (what the tests here do with stand-ins): discovery,
# a sandbox with GPU 0 running nvidia-smi and initialising CUDA, the device allowlist
# refusing the other GPUs, NVML busy time and memory, and the usage and metrics records.
# Prints one PASS/FAIL/INFO line per check; exits 1 if any failed. Run as root.
#
#   tools/gpu-check.sh                build here (make all), then check
#   tools/gpu-check.sh --bundle DIR   build here, then put into DIR what a GPU host without
#                                     sbx's build dependencies needs: the binaries, the base
#                                     image and every shared library sbxd loads that glibc
#                                     does not provide
#   SBX_GPU_BUNDLE=DIR tools/gpu-check.sh   check with DIR's binaries; the host image is
#                                     built on this host, from its own /usr
set -u
# DIR as the caller named it, before the cd below.
abs() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
[ "${1:-}" = --bundle ] && bundle_dir=$(abs "${2:?usage: gpu-check.sh --bundle DIR}")
[ -n "${SBX_GPU_BUNDLE:-}" ] && SBX_GPU_BUNDLE=$(abs "$SBX_GPU_BUNDLE")
cd "$(dirname "$0")/.." || exit 1
B=${B:-build}
fails=0
pass() { echo "PASS $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
info() { echo "INFO $*"; }

if [ -n "${bundle_dir:-}" ]; then
	dir=$bundle_dir
	# Only an earlier bundle is replaced.
	if [ -e "$dir" ] && [ -n "$(ls -A "$dir")" ] && [ ! -x "$dir/bin/sbxd" ]; then
		echo "gpu-check.sh: $dir is not empty and not a bundle" >&2
		exit 1
	fi
	make -s all >/dev/null || exit 1
	rm -rf "$dir" && mkdir -p "$dir/bin/images" "$dir/lib" || exit 1
	cp "$B/sbxd" "$B/sbx" "$B/sbx-full" "$B/sbx-init" "$B/sbx-tar" "$dir/bin/" && strip "$dir"/bin/sbx* || exit 1
	cp -r "$B/images/base" "$dir/bin/images/" || exit 1
	# glibc's own libraries come from the GPU host; everything else travels. (What sbxd
	# runs, criu say, inherits LD_LIBRARY_PATH and sees them too.)
	while read -r l; do
		cp -L "$l" "$dir/lib/" || exit 1
	done < <(ldd "$B/sbxd" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' |
		grep -vE '/(libc|libm|libdl|librt|libpthread|libresolv|libutil|libanl|ld-linux[^/]*)\.so')
	echo "bundle: $dir ($(du -sh "$dir" | cut -f1))"
	exit 0
fi

libpath=
if [ -n "${SBX_GPU_BUNDLE:-}" ]; then
	B=$(cd "$SBX_GPU_BUNDLE/bin" && pwd) || exit 1
	libpath=$(cd "$SBX_GPU_BUNDLE/lib" && pwd)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
else
	make -s all >/dev/null || {
		echo "FAIL build"
		exit 1
	}
fi

# The host: what sbxd needs mounted, and where its NVIDIA driver lives.
info "kernel $(uname -r); $(grep -m1 PRETTY_NAME /etc/os-release 2>/dev/null)"
if ! grep -q ' /sys/fs/cgroup cgroup2 ' /proc/mounts && ! grep -q ' /sys/fs/cgroup tmpfs ' /proc/mounts; then
	mount -t cgroup2 none /sys/fs/cgroup && info "mounted cgroup2 at /sys/fs/cgroup"
fi
if ! grep -q ' /sys/fs/bpf bpf ' /proc/mounts; then
	mkdir -p /sys/fs/bpf && mount -t bpf bpf /sys/fs/bpf && info "mounted bpffs"
fi
info "cgroup: $(awk '$2 ~ "^/sys/fs/cgroup" { print $2 "=" $3 }' /proc/mounts | head -4 | tr '\n' ' ')"
info "kernel BTF: $([ -r /sys/kernel/btf/vmlinux ] && echo yes || echo no)"
nvidia-smi -L 2>&1 | sed 's/^/INFO host: /'
ls -l /dev/nvidia* 2>&1 | sed 's/^/INFO host: /'
grep -i nvidia /proc/devices | sed 's/^/INFO host: devices: /'
smi=$(command -v nvidia-smi)
cudalib=$(ldconfig -p 2>/dev/null | awk '$1 == "libcuda.so.1" { print $NF; exit }')
cudaenv=()
if [ -z "$cudalib" ]; then
	# Not in the linker cache: the host finds it through LD_LIBRARY_PATH, and so must
	# the sandbox.
	IFS=: read -ra dirs <<<"${LD_LIBRARY_PATH:-}"
	for d in ${dirs[@]+"${dirs[@]}"} /usr/local/nvidia/lib64 /usr/lib64; do
		[ -e "$d/libcuda.so.1" ] && cudalib=$d/libcuda.so.1 && break
	done
	[ -n "$cudalib" ] && cudaenv=(--env "LD_LIBRARY_PATH=${cudalib%/*}")
fi
info "nvidia-smi: ${smi:-none}; libcuda.so.1: ${cudalib:-none}"
findmnt -rn -o TARGET,FSTYPE,OPTIONS 2>/dev/null | awk '$1 ~ "^/usr/"' | sed 's/^/INFO host: mount below \/usr: /'
py=
for p in /usr/bin/python3 /usr/local/bin/python3; do [ -x "$p" ] && py=$p && break; done

tmp=$(mktemp -d /tmp/sbx-gpu-check.XXXXXX)
images=()
if [ -n "${SBX_GPU_BUNDLE:-}" ]; then
	# The host image is this host's /usr: made here, beside the bundle's base.
	mkdir -p "$tmp/images" && cp -r "$B/images/base" "$tmp/images/" &&
		bash images/build.sh host "$tmp/images/host" || {
		bad "host image"
		exit 1
	}
	images=(--images "$tmp/images")
fi
LD_LIBRARY_PATH=$libpath "$B/sbxd" --socket "$tmp/sbxd.sock" --state-dir "$tmp/state" \
	--kill-on-exit --no-net --log-level info ${images[@]+"${images[@]}"} >"$tmp/sbxd.log" 2>&1 &
pid=$!
# SBX_GPU_LOG=FILE keeps sbxd's log.
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; [ -z "${SBX_GPU_LOG:-}" ] || cp "$tmp/sbxd.log" "$SBX_GPU_LOG"; rm -rf "$tmp"' EXIT
export SBX_SOCKET=$tmp/sbxd.sock
for _ in $(seq 100); do [ -S "$SBX_SOCKET" ] && break; sleep 0.05; done
if ! [ -S "$SBX_SOCKET" ]; then
	bad "sbxd did not start"
	sed 's/^/INFO sbxd: /' "$tmp/sbxd.log"
	exit 1
fi
grep -E 'NVIDIA|NVML|allowlist|metering|GPU' "$tmp/sbxd.log" | sed 's/^/INFO sbxd: /'
"$B/sbx" gpus | sed 's/^/INFO /'
n=$("$B/sbx" gpus --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "${n:-0}" -ge 1 ] && pass "discovery: $n GPU(s)" || {
	bad "discovery: no GPU"
	sed 's/^/INFO sbxd: /' "$tmp/sbxd.log"
	exit 1
}

cuda_probe='
import ctypes, time
c = ctypes.CDLL("libcuda.so.1")
r = c.cuInit(0); n = ctypes.c_int(); c.cuDeviceGetCount(ctypes.byref(n))
ctx = ctypes.c_void_p(); dev = ctypes.c_int(); c.cuDeviceGet(ctypes.byref(dev), 0)
r2 = c.cuCtxCreate_v2(ctypes.byref(ctx), 0, dev)
p = ctypes.c_void_p(); r3 = c.cuMemAlloc_v2(ctypes.byref(p), 1 << 30)
time.sleep(3)
print(r, n.value, r2, r3)'

# The same probe on the host, outside any sandbox: what the sandbox's result compares with.
info "CUDA on the host: $("${py:-python3}" -c "$cuda_probe" 2>&1 | tail -1)"
id=$("$B/sbx" create --image host --gpu 0 --memory 8G --timeout 10m ${cudaenv[@]+"${cudaenv[@]}"}) &&
	pass "create --gpu 0" || {
	bad "create --gpu 0"
	exit 1
}
out=$("$B/sbx" exec "$id" -- "${smi:-nvidia-smi}" -L 2>&1)
[ $? -eq 0 ] && pass "nvidia-smi in the sandbox: $out" || bad "nvidia-smi in the sandbox: $out"
[ "$(echo "$out" | grep -c '^GPU ')" = 1 ] && pass "the sandbox sees one GPU" || bad "the sandbox sees: $out"
t0=$(date +%s%N)
cuda=$("$B/sbx" exec "$id" -- "${py:-python3}" -c "$cuda_probe" 2>&1)
info "CUDA probe took $((($(date +%s%N) - t0) / 1000000)) ms (3000 of them asleep)"
[ "$cuda" = "0 1 0 0" ] && pass "CUDA: init, one device, a context, 1 GiB allocated" ||
	bad "CUDA in the sandbox: $cuda"
if [ "$n" -ge 2 ]; then
	other=$("$B/sbx" exec "$id" -- "${py:-python3}" -c '
import os, errno
try: os.open("/dev/nvidia1", os.O_RDWR); print("opened")
except OSError as e: print(errno.errorcode[e.errno])' 2>&1)
	[ "$other" != opened ] && pass "another GPU refused in the sandbox ($other)" || bad "GPU 1 opened from a sandbox holding GPU 0"
fi
held=$("$B/sbx" create --image host --gpu 0 2>&1) && bad "GPU 0 granted twice" || pass "GPU 0 is exclusive: $held"
sleep 1 # one metering tick after the probe's last sample
u=$("$B/sbx" usage --json "$id")
echo "$u" | python3 -c '
import json, sys
u = json.load(sys.stdin)
g = u["gpus"][0]
print("INFO usage:", json.dumps(g))
print("INFO meters:", json.dumps(u.get("meters")))
print("INFO syscalls:", json.dumps(u.get("syscalls")))
ok = g["attached_ns"] > 0 and g["opens"] and g["ioctls"] and g.get("memory_peak_bytes")
print(("PASS" if ok else "FAIL") + " usage: attached, driver activity, NVML memory peak")' | tee "$tmp/u"
grep -q '^FAIL' "$tmp/u" && fails=$((fails + 1))
python3 - "$SBX_SOCKET" <<'PY' | grep -E '^sbx_gpu' | sed 's/^/INFO metrics: /'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"GET /metrics HTTP/1.1\r\nHost: sbxd\r\nConnection: close\r\n\r\n")
data = b""
while chunk := s.recv(65536):
    data += chunk
print(data.decode(errors="replace"))
PY
"$B/sbx" rm "$id" >/dev/null && pass "rm releases it" || bad "rm"
"$B/sbx" gpus | sed 's/^/INFO after: /'
# Without --gpu a sandbox has no NVIDIA node and cannot make one.
plain=$("$B/sbx" create --image host --memory 256M --timeout 2m) && {
	r=$("$B/sbx" exec "$plain" -- "${py:-python3}" -c '
import os, errno
for p in ("/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm"):
    try: os.open(p, os.O_RDWR); print(p, "opened")
    except OSError as e: print(p, errno.errorcode[e.errno])
try: os.mknod("/tmp/g", 0o20666, os.makedev(195, 0)); print("mknod made")
except OSError as e: print("mknod", errno.errorcode[e.errno])' 2>&1 | tr '\n' ' ')
	case "$r" in
	*opened* | *made* | "") bad "a sandbox without a GPU reached one: $r" ;;
	*) pass "a sandbox without a GPU cannot reach one: $r" ;;
	esac
	"$B/sbx" rm "$plain" >/dev/null
}

# Figures (INFO only): CUDA start-up in a sandbox against the host, and what a GPU adds
# to a create.
cuda_time='
import ctypes, time
t = time.perf_counter()
c = ctypes.CDLL("libcuda.so.1"); c.cuInit(0)
ctx = ctypes.c_void_p(); dev = ctypes.c_int(); c.cuDeviceGet(ctypes.byref(dev), 0)
c.cuCtxCreate_v2(ctypes.byref(ctx), 0, dev)
print("%.0f" % ((time.perf_counter() - t) * 1000))'
ms() { echo $((($(date +%s%N) - $1) / 1000000)); }
id=$("$B/sbx" create --image host --gpu 0 --memory 8G --timeout 5m ${cudaenv[@]+"${cudaenv[@]}"}) && {
	h='' s=''
	for _ in 1 2 3; do
		h+=" $("${py:-python3}" -c "$cuda_time" 2>&1)"
		s+=" $("$B/sbx" exec "$id" -- "${py:-python3}" -c "$cuda_time" 2>&1)"
	done
	info "cuInit + context, ms: host$h; sandbox$s"
	h='' s=''
	for _ in 1 2 3 4 5; do
		t0=$(date +%s%N) && "${smi:-nvidia-smi}" -L >/dev/null && h+=" $(ms "$t0")"
		t0=$(date +%s%N) && "$B/sbx" exec "$id" -- "${smi:-nvidia-smi}" -L >/dev/null && s+=" $(ms "$t0")"
	done
	info "nvidia-smi -L, ms: host$h; sbx exec$s"
	"$B/sbx" rm "$id" >/dev/null
}
g='' p=''
for _ in $(seq 10); do
	t0=$(date +%s%N) && id=$("$B/sbx" create --image host --gpu 0 --timeout 1m) &&
		"$B/sbx" rm "$id" >/dev/null && g+=" $(ms "$t0")"
	t0=$(date +%s%N) && id=$("$B/sbx" create --image host --timeout 1m) &&
		"$B/sbx" rm "$id" >/dev/null && p+=" $(ms "$t0")"
done
info "create + rm, ms: with --gpu 0$g; without$p"
grep -iE 'error|warn' "$tmp/sbxd.log" | head -20 | sed 's/^/INFO sbxd: /'
echo "$fails failed"
[ "$fails" = 0 ]
