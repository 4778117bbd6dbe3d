#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Image benchmark, against a daemon of its own, each figure with its baseline from the
# same run:
#   launch    create + first command from base's files imported (2 layers) and from a
#             3-layer image vs the built-in base (1 layer), and sbx run of base's files
#             from the store vs of base's build directory (the path before the store)
#   share     SCALE sandboxes (default 1000) on one image: the store's disk use and the
#             page cache before and after, and the inodes their overlays show of one file
#   import    a 100 MiB docker-save archive: sbx image import vs tar -xf of it
#   template  create + first command from a template with pandas imported (a warm pool,
#             and a plain restore) vs a cold python sandbox running `import pandas`
#   slim      the python image's size before and after sbx image slim of a pandas
#             script, and the script run from the slim image
# ROUNDS=N repetitions (default 30); SCALE=N sandboxes for share. Needs build/images/python
# (make bench builds it).
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${B:-build}
ROUNDS=${ROUNDS:-30}
SCALE=${SCALE:-1000}
export SBX_INSTANCE=${SBX_INSTANCE-bench}
tmp=$(mktemp -d /tmp/sbx-bench.XXXXXX)
export SBX_SOCKET=$tmp/sbxd.sock SBX_STATE_DIR=$tmp/state
"$B/sbxd" --no-net --socket "$SBX_SOCKET" --state-dir "$SBX_STATE_DIR" --log-level warn \
	--kill-on-exit --max-sandboxes $((SCALE + 64)) --max-per-tenant $((SCALE + 64)) &
pid=$!
# The meter its sbxd pinned goes too: its programs would count every host syscall.
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp" "/sys/fs/bpf/sbx-$SBX_INSTANCE"' EXIT
for _ in $(seq 100); do [ -S "$SBX_SOCKET" ] && break; sleep 0.05; done
[ -f "$B/images/python/manifest.json" ] || { echo "images bench: build/images/python is missing (make $B/images/python/manifest.json)" >&2; exit 1; }

python3 tests/integ/mkimage.py docker "$tmp/bb.tar"
"$B/sbx" image import "$tmp/bb.tar" --name bb >/dev/null 2>&1
# base's own tree as an imported image: the same files, from the store.
python3 - "$B/images/base/rootfs" "$tmp/base.tar" <<'PY'
import hashlib, io, json, sys, tarfile
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as t:
    t.add(sys.argv[1], arcname=".")
layer = buf.getvalue()
h = hashlib.sha256(layer).hexdigest()
cfg = json.dumps({"config": {"Env": ["PATH=/bin:/sbin:/usr/bin:/usr/sbin"]},
                  "rootfs": {"type": "layers", "diff_ids": ["sha256:" + h]}}).encode()
ch = hashlib.sha256(cfg).hexdigest()
man = json.dumps([{"Config": ch + ".json", "Layers": [h + "/layer.tar"]}]).encode()
with tarfile.open(sys.argv[2], "w") as t:
    for name, data in ((ch + ".json", cfg), (h + "/layer.tar", layer), ("manifest.json", man)):
        ti = tarfile.TarInfo(name); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
PY
"$B/sbx" image import "$tmp/base.tar" --name storebase >/dev/null 2>&1
python3 tests/integ/mkimage.py docker "$tmp/big.tar" --pad 100
"$B/sbx" image ls >/dev/null # the built-in images taken in

python3 - "$B" "$tmp" "$ROUNDS" "$SCALE" <<'PY'
import http.client, json, os, socket, statistics, subprocess, sys, time

B, TMP, ROUNDS, SCALE = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
SOCK = os.environ["SBX_SOCKET"]
STATE = os.environ["SBX_STATE_DIR"]
SBX = os.path.join(B, "sbx")

class Conn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(SOCK)

def call(method, path, body=None, ok=300):
    c = Conn("x", timeout=600)
    c.request(method, path, json.dumps(body) if body is not None else None)
    r = c.getresponse()
    data = r.read()
    c.close()
    if r.status >= ok:
        raise SystemExit(f"{method} {path}: {r.status} {data[:300]!r}")
    return json.loads(data) if data else {}

def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]

def line(name, v, base=None, unit="ms"):
    s = f"  {name:<44} p50 {pct(v, 50):8.2f} {unit}  p99 {pct(v, 99):8.2f} {unit}"
    if base:
        s += f"  ratio {pct(v, 50) / pct(base, 50):.2f}x"
    print(s)

def run_exec(i, cmd):
    return call("POST", f"/v1/sandboxes/{i}/exec", {"cmd": cmd})

def create_first(spec, cmd):
    t = time.perf_counter()
    j = call("POST", "/v1/sandboxes", spec)
    out = run_exec(j["id"], cmd)
    ms = (time.perf_counter() - t) * 1e3
    if out.get("exit_code") != 0:
        raise SystemExit(f"first command failed: {out}")
    return j["id"], ms, out["stdout"]

def rm(i):
    call("DELETE", f"/v1/sandboxes/{i}")

def timed(argv, env=None):
    t = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return (time.perf_counter() - t) * 1e3

def du(path):
    return int(subprocess.run(["du", "-sb", path], capture_output=True, text=True).stdout.split()[0])

def cached_kib():
    for l in open("/proc/meminfo"):
        if l.startswith("Cached:"):
            return int(l.split()[1])

print("images: launch (create + first command through sbxd; sbx run without it)")
base, sbase, bb = [], [], []
for _ in range(ROUNDS):
    for name, acc in (("base", base), ("storebase", sbase), ("bb", bb)):
        i, ms, _ = create_first({"image": name}, ["true"])
        acc.append(ms)
        rm(i)
line("base (built-in, 1 layer), baseline", base)
line("base's files imported (2 layers)", sbase, base)
line("an imported image of 3 layers", bb, base)
env = dict(os.environ, SBX_IMAGES=os.path.join(B, "images"))
dirrun, storerun = [], []
for _ in range(ROUNDS):
    dirrun.append(timed([SBX, "run", "--image", os.path.join(B, "images", "base"), "--", "true"], env))
    storerun.append(timed([SBX, "run", "--image", "storebase", "--", "true"], env))
line("sbx run, base's build directory (no store), baseline", dirrun)
line("sbx run, base's files from the store", storerun, dirrun)

print(f"images: share ({SCALE} sandboxes of one imported image)")
store0, cache0 = du(os.path.join(STATE, "images")), cached_kib()
ids, t0 = [], time.perf_counter()
for _ in range(SCALE):
    ids.append(call("POST", "/v1/sandboxes", {"image": "bb", "cmd": ["sleep", "100000"]})["id"])
for _ in range(600):
    if all(call("GET", f"/v1/sandboxes/{i}")["state"] == "running" for i in ids[-5:]):
        break
    time.sleep(0.1)
secs = time.perf_counter() - t0
store1, cache1 = du(os.path.join(STATE, "images")), cached_kib()
lowers = set()
for i in ids[:: max(1, SCALE // 50)]:
    pid = call("GET", f"/v1/sandboxes/{i}")["pid"]
    # Each overlay has a device of its own; the inode is the layer's file.
    lowers.add(os.stat(f"/proc/{pid}/root/bin/busybox").st_ino)
image_bytes = next(x["size_bytes"] for x in call("GET", "/v1/images")["images"] if x["name"] == "bb")
print(f"  {SCALE} sandboxes up in {secs:.1f} s; the store {store0 / 2**20:.1f} MiB before, "
      f"{store1 / 2**20:.1f} MiB after (baseline: {SCALE} copies would be "
      f"{SCALE * image_bytes / 2**30:.1f} GiB)")
print(f"  /bin/busybox is {len(lowers)} inode(s) of the layer across "
      f"{len(ids[:: max(1, SCALE // 50)])} sampled sandboxes: the page cache holds it once "
      f"(page cache {cache0 / 1024:.0f} MiB before, {cache1 / 1024:.0f} MiB after)")
for i in ids:
    rm(i)

print("images: import (a 100 MiB docker-save archive)")
imp, tar = [], []
size = os.path.getsize(os.path.join(TMP, "big.tar"))
for n in range(min(ROUNDS, 5)):
    d = os.path.join(TMP, f"x{n}")
    os.mkdir(d)
    tar.append(timed(["tar", "-xf", os.path.join(TMP, "big.tar"), "-C", d]) / 1e3)
    subprocess.run(["rm", "-rf", d])
    imp.append(timed([SBX, "image", "import", os.path.join(TMP, "big.tar"), "--name", f"big{n}"]) / 1e3)
    call("DELETE", f"/v1/images/big{n}")
line(f"tar -xf of the archive ({size / 2**20:.0f} MiB), baseline", tar, unit="s")
line("sbx image import (upload, digests, layers)", imp, tar, unit="s")

print("images: template (pandas imported) vs a cold python sandbox")
warm = open("tools/bench/warm.py").read()
subprocess.run([SBX, "template", "create", "pd", "--pool", "2", "--image", "python", "--ready",
                "test -e /tmp/ready", "--", "python3", "-c", warm], check=True,
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
subprocess.run([SBX, "template", "create", "pd0", "--image", "python", "--ready",
                "test -e /tmp/ready", "--", "python3", "-c", warm], check=True,
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
first = ["sh", "-c", "echo 'print(pd.__version__)' > /tmp/in; cat /tmp/out"]
cold, pooled, restored = [], [], []
for _ in range(ROUNDS):
    i, ms, out = create_first({"image": "python"},
                              ["python3", "-c", "import pandas; print(pandas.__version__)"])
    cold.append(ms); rm(i)
    i, ms, out2 = create_first({"template": "pd0"}, first)
    restored.append(ms); rm(i)
    assert out2 == out, (out, out2)
    for _ in range(100):  # the pool refilled
        if call("GET", "/v1/templates/pd")["pool"]["warm"] >= 1:
            break
        time.sleep(0.05)
    i, ms, out3 = create_first({"template": "pd"}, first)
    pooled.append(ms); rm(i)
    assert out3 == out, (out, out3)
line("cold python sandbox + import pandas, baseline", cold)
line("template, restored on create", restored, cold)
line("template with a warm pool of 2", pooled, cold)
print(f"  speed-up at p50: restore {pct(cold, 50) / pct(restored, 50):.1f}x, "
      f"warm pool {pct(cold, 50) / pct(pooled, 50):.1f}x")
call("DELETE", "/v1/templates/pd"); call("DELETE", "/v1/templates/pd0")

print("images: slim (the python image, a pandas script)")
script = ("import pandas as pd\ndf = pd.DataFrame({'a': range(1000), 'b': range(1000)})\n"
          "print(int(df.a.sum() + df.b.mean()))")
j = call("POST", "/v1/sandboxes", {"image": "python", "record_files": True,
                                   "cmd": ["python3", "-c", script]})
for _ in range(600):
    s = call("GET", f"/v1/sandboxes/{j['id']}")
    if s["state"] == "exited":
        break
    time.sleep(0.1)
job = call("POST", f"/v1/images?name=python-slim&slim_from={j['id']}")
for _ in range(1200):
    job = call("GET", f"/v1/jobs/{job['id']}")
    if job["state"] in ("done", "failed"):
        break
    time.sleep(0.1)
if job["state"] != "done":
    raise SystemExit(f"slim failed: {job}")
imgs = {x["name"]: x["size_bytes"] for x in call("GET", "/v1/images")["images"]}
full, slim = imgs["python"], imgs["python-slim"]
i, ms, out = create_first({"image": "python-slim"}, ["python3", "-c", script])
i2, ms2, out2 = create_first({"image": "python"}, ["python3", "-c", script])
print(f"  python {full / 2**20:.0f} MiB, python-slim {slim / 2**20:.1f} MiB "
      f"({100 * slim / full:.1f}% of it); the script prints {out.strip()} from the slim "
      f"image and {out2.strip()} from the full one")
rm(i); rm(i2)
PY
