#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""sbx beside the runtimes a user would pick instead, interleaved round by round on the
same busybox root (the base image's): Debian's bwrap, runc and crun. Rows:

  launch     a one-shot sandbox running `true`: `sbx run`, bwrap, `runc run`, `crun run`
  lifecycle  create a sandbox, exec `true` in it, delete it: sbx's API (one HTTP
             connection, as an SDK keeps) against runc's and crun's command lines
             (create, start, exec, delete --force)
  exec       `true` into a running sandbox: sbx's API against `runc exec`, `crun exec`

Prints p50 and p99 of each and the ratio of sbx's p50 to the fastest peer's. Run by
peers.sh, which starts the sbxd and gives crun a mount namespace where it accepts the
hybrid host.

usage: peers.py BUILD ROUNDS TMPDIR SOCKET"""
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time

B, ROUNDS, TMP, SOCK = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ROOTFS = os.path.realpath(os.path.join(B, "images/base/rootfs"))
SBX = os.path.join(B, "sbx")
RUNC = {"runc": "/usr/bin/runc", "crun": "/usr/bin/crun"}


class Api:
    """sbxd's API over its socket, on one kept connection."""

    def __init__(self, path):
        self.path, self.conn = path, None

    def _connect(self):
        conn = http.client.HTTPConnection("x")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.path)
        conn.sock = s
        return conn

    def __call__(self, method, path, body=None):
        for attempt in (0, 1):
            if not self.conn:
                self.conn = self._connect()
            try:
                data = json.dumps(body).encode() if body is not None else None
                self.conn.request(method, path, body=data,
                                  headers={"Content-Type": "application/json"} if data else {})
                r = self.conn.getresponse()
                text = r.read()
                if r.status >= 300:
                    raise RuntimeError(f"{method} {path}: {r.status} {text[:200]!r}")
                return json.loads(text) if text else None
            except (http.client.HTTPException, ConnectionError, BrokenPipeError):
                self.conn = None
                if attempt:
                    raise


api = Api(SOCK)


def bundle(name, args):
    """An OCI bundle of runc's own default spec, on the same root, running @args."""
    d = os.path.join(TMP, name)
    os.makedirs(d, exist_ok=True)
    subprocess.run([RUNC["runc"], "spec", "--bundle", d], check=True)
    p = os.path.join(d, "config.json")
    c = json.load(open(p))
    c["root"] = {"path": ROOTFS, "readonly": True}
    c["process"]["terminal"] = False
    c["process"]["args"] = args
    json.dump(c, open(p, "w"))
    return d


ERR = open(os.path.join(TMP, "stderr"), "w+")


def run(argv):
    # Not a pipe: a created container keeps its stdio open, and a pipe's reader would
    # wait for it to end.
    ERR.seek(0)
    ERR.truncate()
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=ERR)
    if r.returncode:
        ERR.seek(0)
        raise RuntimeError(f"{' '.join(argv)}: exit {r.returncode}: {ERR.read()[-300:]}")


def timed(fn):
    t0 = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - t0) / 1e6


BTRUE = bundle("true", ["/bin/true"])
BSLEEP = bundle("sleep", ["/bin/sleep", "3600"])
ROOTS = {rt: os.path.join(TMP, rt + "-root") for rt in RUNC}
BWRAP = ["/usr/bin/bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", ROOTFS, "/",
         "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "/bin/true"]
seq = [0]


def cid(prefix):
    seq[0] += 1
    return f"{prefix}{seq[0]}"


def oci(rt, *args):
    run([RUNC[rt], "--root", ROOTS[rt], *args])


def launch(who):
    if who == "sbx":
        run([SBX, "run", "--image", "base", "--", "/bin/true"])
    elif who == "bwrap":
        run(BWRAP)
    else:
        oci(who, "run", "--bundle", BTRUE, cid("l"))


def lifecycle(who):
    if who == "sbx":
        box = api("POST", "/v1/sandboxes", {"image": "base"})
        r = api("POST", f"/v1/sandboxes/{box['id']}/exec", {"cmd": ["true"]})
        if r["exit_code"] != 0:
            raise RuntimeError(f"exec in {box['id']}: {r}")
        api("DELETE", f"/v1/sandboxes/{box['id']}")
        return
    c = cid("c")
    oci(who, "create", "--bundle", BSLEEP, c)
    oci(who, "start", c)
    oci(who, "exec", c, "/bin/true")
    oci(who, "delete", "--force", c)


def rows(name, peers, fn, samples):
    for i in range(ROUNDS):
        for k in range(len(peers)):
            who = peers[(i + k) % len(peers)]
            samples.setdefault((name, who), []).append(timed(lambda: fn(who)))


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def main():
    samples = {}
    everyone = ["sbx", "bwrap", "runc", "crun"]
    for who in everyone:  # warm caches: the image, the runtimes, sbx-init's copy
        launch(who)
    rows("launch", everyone, launch, samples)
    for who in ("sbx", "runc", "crun"):
        lifecycle(who)
    rows("lifecycle", ["sbx", "runc", "crun"], lifecycle, samples)
    # exec into one running sandbox of each
    box = api("POST", "/v1/sandboxes", {"image": "base"})
    held = {}
    for rt in RUNC:
        held[rt] = cid("e")
        oci(rt, "create", "--bundle", BSLEEP, held[rt])
        oci(rt, "start", held[rt])

    def exec_one(who):
        if who == "sbx":
            api("POST", f"/v1/sandboxes/{box['id']}/exec", {"cmd": ["true"]})
        else:
            oci(who, "exec", held[who], "/bin/true")
    exec_one("sbx")
    rows("exec", ["sbx", "runc", "crun"], exec_one, samples)
    api("DELETE", f"/v1/sandboxes/{box['id']}")
    for rt, c in held.items():
        oci(rt, "delete", "--force", c)

    print(f"peers bench: {ROUNDS} interleaved rounds, ms (bwrap, runc 1.1.5, crun 1.8.1: Debian's)")
    for row in ("launch", "lifecycle", "exec"):
        whos = [w for (r, w) in samples if r == row]
        p50 = {w: statistics.median(samples[(row, w)]) for w in whos}
        for w in whos:
            print(f"  {row:9} {w:6} p50 {p50[w]:8.2f}  p99 {pct(samples[(row, w)], 99):8.2f}")
        peers = {w: v for w, v in p50.items() if w != "sbx"}
        best = min(peers, key=peers.get)
        print(f"  {row:9} sbx/{best} (fastest peer) {p50['sbx'] / peers[best]:.2f}x")


main()
