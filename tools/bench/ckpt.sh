#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Checkpoint benchmark: a daemon of its own; for a tiny sandbox and ones with 256 MiB and
# 1 GiB of touched memory, the HTTP round trips of checkpoint (leave_running) and of
# restore (it answers once the copy runs), the snapshot size and CRIU's own figures,
# then fork of N=4. For 256 MiB and 1 GiB, the restore (and the 256 MiB fork) also with
# vm.unprivileged_userfaultfd set to 1 for it alone, then set back: "(uffd)", memory copied
# in by criu lazy-pages, interleaved with the plain ones. Baseline, in the same script: the
# cold start of the same workload (create until it reports ready). ROUNDS=N changes the
# repetitions (default 7; 3 for 1 GiB).
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${B:-build}
tmp=$(mktemp -d /tmp/sbx-bench.XXXXXX)
"$B/sbxd" --no-net --socket "$tmp/sbxd.sock" --state-dir "$tmp/state" --log-level warn --kill-on-exit &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do [ -S "$tmp/sbxd.sock" ] && break; sleep 0.05; done
PYTHONPATH=tools/bench python3 - "$tmp/sbxd.sock" "${ROUNDS:-7}" <<'PY'
import http.client, json, socket, statistics, sys, time
from benchlib import uffd

SOCK, ROUNDS = sys.argv[1], int(sys.argv[2])

class Conn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(SOCK)

def call(method, path, body=None):
    c = Conn("x")
    t = time.perf_counter()
    c.request(method, path, json.dumps(body) if body is not None else None)
    r = c.getresponse()
    data = r.read()
    ms = (time.perf_counter() - t) * 1e3
    c.close()
    j = json.loads(data) if data else {}
    if r.status >= 300:
        raise SystemExit(f"{method} {path}: {r.status} {data[:200]}")
    return j, ms

def logs(i):
    c = Conn("x"); c.request("GET", f"/v1/sandboxes/{i}/logs"); d = c.getresponse().read(); c.close()
    return d.decode(errors="replace")

def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]

def spec(mb):
    if mb == 0:
        return {"image": "base", "cmd": ["sh", "-c", "echo READY; exec sleep 100000"]}
    return {"image": "host", "cmd": ["python3", "-c",
            f"import time\nb = bytearray({mb} << 20)\nb[::4096] = b'x' * (len(b) // 4096)\n"
            "print('READY', flush=True)\n"
            "while True: time.sleep(1)"], "limits": {"memory": f"{mb + 256}M"}}

def with_uffd(lazy, method, path, body=None):
    """call() with vm.unprivileged_userfaultfd 1 (@lazy) or 0 for it alone."""
    with uffd(lazy):
        return call(method, path, body)


def start(mb):
    t = time.perf_counter()
    j, _ = call("POST", "/v1/sandboxes", spec(mb))
    while "READY" not in logs(j["id"]):
        time.sleep(0.002)
    return j["id"], (time.perf_counter() - t) * 1e3

print(f"{'case':<24}{'p50 ms':>10}{'p99 ms':>10}{'vs cold start':>15}   notes")
for name, mb in (("tiny", 0), ("256 MiB", 256), ("1 GiB", 1024)):
    rounds = ROUNDS if mb < 1024 else max(3, ROUNDS // 2)
    colds = []
    for _ in range(rounds):
        i, ms = start(mb)
        colds.append(ms)
        call("DELETE", f"/v1/sandboxes/{i}")
    sid, _ = start(mb)
    ck, rs, sizes, stats, rstats, rsu = [], [], [], [], [], []
    modes = (False, True) if mb >= 256 else (False,)
    for i in range(rounds):
        s, ms = call("POST", f"/v1/sandboxes/{sid}/checkpoint", {"leave_running": True})
        ck.append(ms); sizes.append(s["size_bytes"]); stats.append(s.get("criu", {}))
        for lazy in (modes if i % 2 == 0 else modes[::-1]):
            r, ms = with_uffd(lazy, "POST", f"/v1/snapshots/{s['id']}/restore")
            if lazy:
                rsu.append(ms)
            else:
                rs.append(ms); rstats.append(r.get("restore", {}).get("criu", {}))
            call("DELETE", f"/v1/sandboxes/{r['id']}")
        call("DELETE", f"/v1/snapshots/{s['id']}")
    cold = statistics.median(colds)
    def med(rows, k):
        v = [x[k] for x in rows if k in x]
        return statistics.median(v) / 1e3 if v else float("nan")
    print(f"{'cold start ' + name:<24}{cold:>10.1f}{pct(colds, 99):>10.1f}{1.0:>14.2f}x   baseline")
    print(f"{'checkpoint ' + name:<24}{statistics.median(ck):>10.1f}{pct(ck, 99):>10.1f}"
          f"{statistics.median(ck) / cold:>14.2f}x   size {statistics.median(sizes) / 2**20:.1f} MiB;"
          f" criu: freezing {med(stats, 'freezing_time_us'):.1f}, frozen {med(stats, 'frozen_time_us'):.1f},"
          f" memdump {med(stats, 'memdump_time_us'):.1f}, memwrite {med(stats, 'memwrite_time_us'):.1f} ms")
    print(f"{'restore ' + name:<24}{statistics.median(rs):>10.1f}{pct(rs, 99):>10.1f}"
          f"{statistics.median(rs) / cold:>14.2f}x   criu: forking {med(rstats, 'forking_time_us'):.1f},"
          f" restore {med(rstats, 'restore_time_us'):.1f} ms")
    if rsu:
        print(f"{'restore ' + name + ' (uffd)':<24}{statistics.median(rsu):>10.1f}{pct(rsu, 99):>10.1f}"
              f"{statistics.median(rsu) / cold:>14.2f}x   criu lazy-pages; "
              f"{statistics.median(rsu) / statistics.median(rs):.2f}x the plain restore")
    if mb <= 256:
        fk = {False: [], True: []}
        for i in range(max(3, rounds // 2)):
            for lazy in (modes if i % 2 == 0 else modes[::-1]):
                f, ms = with_uffd(lazy, "POST", f"/v1/sandboxes/{sid}/fork", {"count": 4})
                fk[lazy].append(ms)
                for c in f["sandboxes"]:
                    call("DELETE", f"/v1/sandboxes/{c}")
        for lazy in modes:
            v = fk[lazy]
            print(f"{'fork N=4 ' + name + (' (uffd)' if lazy else ''):<24}{statistics.median(v):>10.1f}"
                  f"{pct(v, 99):>10.1f}{statistics.median(v) / cold:>14.2f}x   one dump, four restores")
    call("DELETE", f"/v1/sandboxes/{sid}")
PY
