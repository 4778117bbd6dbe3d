#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""sbxd holding many idle sandboxes. N sandboxes running `sleep` are made, four
requests at a time; then sbxd's health is asked on a kept connection every 10 ms for
PROBE seconds, as before the first one was made (the baseline, same length). The probes
span sbxd's periodic work: memory samples each second, a bill window's rows for every
sandbox, the scan for timeouts.

Prints the create latency (p50, p99) of the first and the last tenth of the sandboxes,
the host memory each adds (as peers.py's memory row counts it), health's latency with N
sandboxes against the baseline (p50, p99, max, and the ratio of p99s), and the time to
delete them all.

usage: scale.py N PROBE SOCKET"""
import sys
import threading
import time

from benchlib import Api, pct, stacks_in_vmalloc, used_kib

N, PROBE, SOCK = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
THREADS = 4
IDLE = ["/bin/sleep", "infinity"]


def probe(secs):
    api, lat = Api(SOCK), []
    end = time.monotonic() + secs
    while time.monotonic() < end:
        t = time.perf_counter_ns()
        api("GET", "/v1/health")
        lat.append((time.perf_counter_ns() - t) / 1e6)
        time.sleep(0.01)
    return lat


def in_parallel(fn, parts):
    threads = [threading.Thread(target=fn, args=(p,)) for p in parts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main():
    stacks_in_vmalloc()  # asked on a quiet host, before any sandbox
    base = probe(PROBE)
    before = used_kib()
    made = []  # (index, id, ms)

    def make(indexes):
        api = Api(SOCK)
        for i in indexes:
            t = time.perf_counter_ns()
            sid = api("POST", "/v1/sandboxes", {"image": "base", "cmd": IDLE})["id"]
            made.append((i, sid, (time.perf_counter_ns() - t) / 1e6))

    t0 = time.monotonic()
    in_parallel(make, [range(k, N, THREADS) for k in range(THREADS)])
    made_s = time.monotonic() - t0
    time.sleep(1)
    per_box = (used_kib() - before) / N
    loaded = probe(PROBE)
    live = Api(SOCK)("GET", "/v1/health")["sandboxes"]["live"]

    made.sort()
    tenth = max(1, N // 10)
    first, last = [m[2] for m in made[:tenth]], [m[2] for m in made[-tenth:]]
    t0 = time.monotonic()

    def delete(ids):
        api = Api(SOCK)
        for sid in ids:
            api("DELETE", f"/v1/sandboxes/{sid}")

    in_parallel(delete, [[m[1] for m in made[k::THREADS]] for k in range(THREADS)])
    deleted_s = time.monotonic() - t0

    print(f"scale: {N} idle sandboxes ({live} live at the probe), {THREADS} clients; ms")
    print(f"  create           {made_s:7.1f} s in all, {N / made_s:.0f}/s")
    print(f"    first tenth    p50 {pct(first, 50):8.2f}  p99 {pct(first, 99):8.2f}")
    print(f"    last tenth     p50 {pct(last, 50):8.2f}  p99 {pct(last, 99):8.2f}  "
          f"(p50 {pct(last, 50) / pct(first, 50):.2f}x the first)")
    print(f"  memory           {per_box:7.0f} KiB per sandbox")
    for name, lat in (("health, none", base), (f"health, {N}", loaded)):
        print(f"  {name:16} p50 {pct(lat, 50):8.2f}  p99 {pct(lat, 99):8.2f}  "
              f"max {max(lat):8.2f}  ({len(lat)} probes)")
    print(f"    p99 with {N} / none: {pct(loaded, 99) / pct(base, 99):.2f}x")
    print(f"  delete all       {deleted_s:7.1f} s")


main()
