# SPDX-License-Identifier: MIT
"""What the Python benchmarks share: sbxd's API on one kept connection, percentiles, the
host memory in use, and vm.unprivileged_userfaultfd."""
import contextlib
import functools
import gzip
import http.client
import json
import os
import socket
import subprocess


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


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


MEMINFO = ("AnonPages", "Shmem", "KernelStack", "PageTables", "Percpu", "VmallocUsed")


def _meminfo():
    m = {}
    for line in open("/proc/meminfo"):
        k, v = line.split(":")
        m[k] = int(v.split()[0])
    return m


@functools.cache
def stacks_in_vmalloc():
    """Whether the kernel's thread stacks are vmalloc'd (CONFIG_VMAP_STACK, x86-64's
    default): VmallocUsed then counts them too, beside KernelStack. The kernel's
    configuration says, where it is published; else 64 sleeping children tell (16 KiB
    of stack each), best on a quiet host: peers.py and scale.py ask before they start."""
    for path, opener in (("/proc/config.gz", gzip.open), (f"/boot/config-{os.uname().release}", open)):
        try:
            with opener(path, "rt") as f:
                return any(line.strip() == "CONFIG_VMAP_STACK=y" for line in f)
        except OSError:
            pass
    before = _meminfo()
    kids = []
    try:
        kids = [subprocess.Popen(["sleep", "60"]) for _ in range(64)]
        after = _meminfo()
    finally:
        for k in kids:
            k.kill()
            k.wait()
    stacks = after["KernelStack"] - before["KernelStack"]
    return stacks > 0 and after["VmallocUsed"] - before["VmallocUsed"] >= stacks / 2


def slab_kib():
    """The kernel's slab objects in use, in KiB: each cache's active objects by their
    size (/proc/slabinfo). Not /proc/meminfo's slab pages: a cache keeps the pages of
    objects freed, so that a batch allocated after another was deleted fits in them and
    the pages did not rise (by up to 800 KiB per sandbox here)."""
    total = 0
    with open("/proc/slabinfo") as f:
        for line in f.readlines()[2:]:
            fields = line.split()
            total += int(fields[1]) * int(fields[3])
    return total // 1024


def used_kib():
    """What the host's processes and kernel hold, page cache aside (tmpfs and shared
    memory kept in), caches dropped first: the sum of /proc/meminfo's accounts of it and
    of the slab objects in use (slab_kib), each page once (kernel stacks in VmallocUsed
    are not counted again).
    (MemFree moves by megabytes on its own in a VM: free page reporting.)"""
    twice = stacks_in_vmalloc()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")
    m = _meminfo()
    return sum(m[k] for k in MEMINFO) + slab_kib() - (m["KernelStack"] if twice else 0)


UFFD = "/proc/sys/vm/unprivileged_userfaultfd"


@contextlib.contextmanager
def uffd(allowed):
    """vm.unprivileged_userfaultfd 1 (@allowed: sbxd then restores large snapshots through
    userfaultfd) or 0 for the block's length, then what it was again."""
    with open(UFFD) as f:
        was = f.read().strip()
    with open(UFFD, "w") as f:
        f.write("1" if allowed else "0")
    try:
        yield
    finally:
        with open(UFFD, "w") as f:
            f.write(was)
