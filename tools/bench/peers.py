#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""sbx beside the runtimes a user would pick instead, interleaved round by round on the
same busybox root (the base image's): Debian's bwrap, runc and crun. Rows:

  launch     a one-shot sandbox running `true`: `sbx run`, bwrap, `runc run`, `crun run`
  lifecycle  create a sandbox, exec `true` in it, delete it: sbx's API (one HTTP
             connection, as an SDK keeps) against runc's and crun's command lines
             (create, start, exec, delete --force). "sbx" is the plain create, which
             takes one of the sandboxes sbxd keeps started ahead (peers.sh starts it
             with --warm 2); "sbx-cold" asks for a hostname of its own, which no warm
             sandbox has, and so is launched. Every sample of the row starts with the
             pool full again: its refill is not timed, and does not run under a peer's
             sample either.
  exec       `true` into a running sandbox: sbx's API against `runc exec`, `crun exec`
  ckpt/restore idle   checkpoint a sandbox running `sleep`, which stops it, then restore
             it: sbx's API against `runc checkpoint` and `runc restore -d` (crun has no
             CRIU in Debian), both with their images on tmpfs of one kind (peers.sh says which)
  ckpt/restore 256M   the same with 256 MiB of touched anonymous memory: `dd` holding a
             256 MiB buffer it cannot write to a pipe nobody reads. "sbx-uffd" is sbx
             with vm.unprivileged_userfaultfd set to 1 for its restore (then set back),
             as an operator may: sbxd then has `criu lazy-pages` copy the memory in
             (every page of it before the restore answers)
  memory     what one more idle sandbox running `sleep` costs the host, kernel,
             processes and daemon together: the rise of the host's used memory (page
             cache aside, tmpfs counted, slab objects rather than slab pages) over MEM_N
             sandboxes of one runtime, per sandbox
  mem-freed  the same batches: the fall of the host's used memory once they are deleted
             (where the two rows disagree, something else was freed or kept meanwhile)

  floor      where a row has one on this machine, the same work with no runtime at all,
             measured in the same rounds: for exec, the image's busybox spawned as `true`
             and reaped, with no sandbox; for the 256M checkpoint, 256 MiB written to a
             file on the tmpfs that holds the checkpoint images; for the 256M restore, 256 MiB of fresh anonymous memory made
             present in one call (MADV_POPULATE_WRITE, cheaper than a fault a page),
             then the bytes copied in: the floor of a restore that has every page in
             before it answers (a lazy one, filling pages with UFFDIO_COPY, may go
             under it; transparent huge pages, where the host enables them for all
             memory, would lower it). Its ratio to the fastest peer says how far the
             row's target can go; sbx's and the peer's distance above it, what each adds

Prints p50 and p99 of each and the ratio of sbx's p50 to the fastest peer's. Run by
peers.sh, which starts the sbxd and gives crun a mount namespace where it accepts the
hybrid host.

usage: peers.py BUILD ROUNDS CK_ROUNDS MEM_N TMPDIR SOCKET"""
import json
import mmap
import os
import shutil
import statistics
import subprocess
import sys
import time

from benchlib import Api, pct, stacks_in_vmalloc, uffd, used_kib

B, ROUNDS, CK_ROUNDS, MEM_N, TMP, SOCK = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                                          int(sys.argv[4]), sys.argv[5], sys.argv[6])
IMAGE_ROOT = os.path.realpath(os.path.join(B, "images/base/rootfs"))
# The peers run on a copy of it: runc and crun make the mount points their spec lists
# (/sys) in the root they are given, and the image must stay as built.
ROOTFS = os.path.join(TMP, "rootfs")
subprocess.run(["cp", "-a", IMAGE_ROOT, ROOTFS], check=True)
SBX = os.path.join(B, "sbx")
RUNC = {"runc": "/usr/bin/runc", "crun": "/usr/bin/crun"}


api = Api(SOCK)


def bundle(name, args):
    """An OCI bundle of runc's own default spec, on the same root, running @args. Without
    iptables CRIU cannot lock the network: its configuration file, named by the
    annotation runc reads, skips that (the container's netns holds only lo)."""
    d = os.path.join(TMP, name)
    os.makedirs(d, exist_ok=True)
    subprocess.run([RUNC["runc"], "spec", "--bundle", d], check=True)
    p = os.path.join(d, "config.json")
    c = json.load(open(p))
    c["root"] = {"path": ROOTFS, "readonly": True}
    c["process"]["terminal"] = False
    c["process"]["args"] = args
    with open(os.path.join(d, "criu.conf"), "w") as f:
        f.write("network-lock skip\n")
    c.setdefault("annotations", {})["org.criu.config"] = os.path.join(d, "criu.conf")
    json.dump(c, open(p, "w"))
    return d


ERR = open(os.path.join(TMP, "stderr"), "w+")


def run(argv, quiet=False):
    # Not a pipe: a created container keeps its stdio open, and a pipe's reader would
    # wait for it to end. @quiet: all three /dev/null, as a container to be checkpointed
    # needs (CRIU cannot dump a host file it holds); runc's errors then go to its --log.
    ERR.seek(0)
    ERR.truncate()
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL if quiet else ERR)
    if r.returncode:
        ERR.seek(0)
        raise RuntimeError(f"{' '.join(argv)}: exit {r.returncode}: {ERR.read()[-300:]}")


def settle():
    """Until sbxd's warm pool is full (its refill launches done)."""
    for _ in range(1000):
        w = api("GET", "/v1/health").get("warm")
        if not w or w["ready"] == w["size"]:
            return
        time.sleep(0.005)
    raise RuntimeError(f"the warm pool does not refill: {w}")


def timed(fn):
    t0 = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - t0) / 1e6


IDLE = ["/bin/sleep", "3600"]
MEM = ["/bin/sh", "-c", "dd if=/dev/zero bs=268435456 count=1 2>/dev/null | sleep 3600"]
BTRUE = bundle("true", ["/bin/true"])
BSLEEP = bundle("sleep", IDLE)
BMEM = bundle("mem", MEM)
ROOTS = {rt: os.path.join(TMP, rt + "-root") for rt in RUNC}
BWRAP = ["/usr/bin/bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", ROOTFS, "/",
         "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "/bin/true"]
seq = [0]


def cid(prefix):
    seq[0] += 1
    return f"{prefix}{seq[0]}"


def oci(rt, *args, quiet=False):
    run([RUNC[rt], "--root", ROOTS[rt], *(["--log", ERR.name] if quiet else []), *args], quiet)


def launch(who):
    if who == "sbx":
        run([SBX, "run", "--image", "base", "--", "/bin/true"])
    elif who == "bwrap":
        run(BWRAP)
    else:
        oci(who, "run", "--bundle", BTRUE, cid("l"))


def lifecycle(who):
    if who.startswith("sbx"):
        req = {"image": "base"} if who == "sbx" else {"image": "base", "hostname": "cold"}
        box = api("POST", "/v1/sandboxes", req)
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


def rows(name, peers, fn, samples, rounds=ROUNDS):
    for i in range(rounds):
        for k in range(len(peers)):
            who = peers[(i + k) % len(peers)]
            settle()
            samples.setdefault((name, who), []).append(timed(lambda: fn(who)))


PAGE = os.sysconf("SC_PAGE_SIZE")


def descendants(pid):
    try:
        kids = open(f"/proc/{pid}/task/{pid}/children").read().split()
    except OSError:
        return
    for k in map(int, kids):
        yield k
        yield from descendants(k)


def dd_ready(pid):
    """True once a dd among @pid's descendants holds its whole 256 MiB buffer."""
    for p in descendants(pid):
        try:
            if (open(f"/proc/{p}/comm").read().strip() == "dd" and
                    int(open(f"/proc/{p}/statm").read().split()[1]) * PAGE >= 256 << 20):
                return True
        except OSError:
            pass
    return False


def wait_ready(pid, mem):
    for _ in range(2000):
        if not mem or dd_ready(pid):
            return
        time.sleep(0.005)
    raise RuntimeError(f"pid {pid}: dd never held its 256 MiB")


FLOOR_BYTES = 256 << 20
floor_src = []  # 256 MiB already touched, while the checkpoint rows run


def copy_floor(out):
    """What a checkpoint and a restore of 256 MiB cannot avoid, with no CRIU and no
    sandbox: the bytes written to a file where the checkpoints write theirs; fresh anonymous memory made present
    at once and the bytes copied in."""
    if not floor_src:
        floor_src.append(b"\x07" * FLOOR_BYTES)
    path = os.path.join(TMP, "ckpt", "floor")
    t0 = time.perf_counter_ns()
    with open(path, "wb") as f:
        f.write(floor_src[0])
    t1 = time.perf_counter_ns()
    m = mmap.mmap(-1, FLOOR_BYTES)
    try:
        m.madvise(getattr(mmap, "MADV_POPULATE_WRITE", 23))
    except OSError:
        pass  # before Linux 5.14: the copy takes the faults
    m.write(floor_src[0])
    t2 = time.perf_counter_ns()
    m.close()
    os.unlink(path)
    out.setdefault(("ckpt-256M", "floor"), []).append((t1 - t0) / 1e6)
    out.setdefault(("rest-256M", "floor"), []).append((t2 - t1) / 1e6)


def ckpt_round(who, mem, out):
    """Starts a sandbox (idle, or holding 256 MiB), then times its checkpoint (which
    stops it) and its restore; deletes what it made."""
    if who == "floor":
        copy_floor(out)
        return
    if who.startswith("sbx"):
        box = api("POST", "/v1/sandboxes", {"image": "base", "cmd": MEM if mem else IDLE})
        wait_ready(box["pid"], mem)
        t0 = time.perf_counter_ns()
        snap = api("POST", f"/v1/sandboxes/{box['id']}/checkpoint", {})
        with uffd(who == "sbx-uffd"):
            t1 = time.perf_counter_ns()
            copy = api("POST", f"/v1/snapshots/{snap['id']}/restore", {})
            t2 = time.perf_counter_ns()
        api("DELETE", f"/v1/sandboxes/{copy['id']}")
        api("DELETE", f"/v1/snapshots/{snap['id']}")
    else:
        c, img = cid("k"), os.path.join(TMP, "ckpt", who)
        b = BMEM if mem else BSLEEP
        oci(who, "create", "--bundle", b, c, quiet=True)
        oci(who, "start", c)
        state = subprocess.run([RUNC[who], "--root", ROOTS[who], "state", c], check=True,
                               capture_output=True)
        wait_ready(json.loads(state.stdout)["pid"], mem)
        t0 = time.perf_counter_ns()
        oci(who, "checkpoint", "--image-path", img, c)
        t1 = time.perf_counter_ns()
        oci(who, "restore", "--detach", "--image-path", img, "--bundle", b, c, quiet=True)
        t2 = time.perf_counter_ns()
        oci(who, "delete", "--force", c)
        shutil.rmtree(img)
    tag = "256M" if mem else "idle"
    out.setdefault((f"ckpt-{tag}", who), []).append((t1 - t0) / 1e6)
    out.setdefault((f"rest-{tag}", who), []).append((t2 - t1) / 1e6)


def memory_settled():
    """Until the used memory has held still for 2 s: the kernel frees namespaces and
    cgroups of ended sandboxes in the background, and not at once: `crun delete` returns
    with every memory cgroup of its batch still there, gone 2 s later. (Still for one
    step of 0.25 s, a batch's 'before' kept much of the last batch's memory, freed into
    its own rise: crun's read 131 KiB of slab per sandbox where its first read 273.)"""
    window = [used_kib()]
    for _ in range(160):
        time.sleep(0.25)
        window = (window + [used_kib()])[-9:]
        if len(window) == 9 and max(window) - min(window) < 256:
            break
    return window[-1]


def memory_round(who, out):
    """MEM_N idle sandboxes of @who: the used memory they add, per sandbox, in KiB."""
    before = memory_settled()
    made = []
    for _ in range(MEM_N):
        if who == "sbx":
            made.append(api("POST", "/v1/sandboxes", {"image": "base", "cmd": IDLE})["id"])
        else:
            c = cid("m")
            oci(who, "create", "--bundle", BSLEEP, c)
            oci(who, "start", c)
            made.append(c)
    time.sleep(0.5)
    after = memory_settled()
    for c in made:
        if who == "sbx":
            api("DELETE", f"/v1/sandboxes/{c}")
        else:
            oci(who, "delete", "--force", c)
    out.setdefault(("memory", who), []).append((after - before) / MEM_N)
    out.setdefault(("mem-freed", who), []).append((after - memory_settled()) / MEM_N)


def main():
    stacks_in_vmalloc()  # asked on a quiet host, before any sandbox
    samples = {}
    everyone = ["sbx", "bwrap", "runc", "crun"]
    for who in everyone:  # warm caches: the image, the runtimes, sbx-init's copy
        launch(who)
    rows("launch", everyone, launch, samples)
    for who in ("sbx", "sbx-cold", "runc", "crun"):
        lifecycle(who)
    rows("lifecycle", ["sbx", "sbx-cold", "runc", "crun"], lifecycle, samples)
    # exec into one running sandbox of each
    box = api("POST", "/v1/sandboxes", {"image": "base"})
    held = {}
    for rt in RUNC:
        held[rt] = cid("e")
        oci(rt, "create", "--bundle", BSLEEP, held[rt])
        oci(rt, "start", held[rt])

    # The image's busybox itself: its bin/true links to /bin/busybox, the host's.
    busybox = os.path.join(ROOTFS, "bin/busybox")

    def exec_one(who):
        if who == "sbx":
            api("POST", f"/v1/sandboxes/{box['id']}/exec", {"cmd": ["true"]})
        elif who == "floor":
            os.waitpid(os.posix_spawn(busybox, ["true"], {}), 0)
        else:
            oci(who, "exec", held[who], "/bin/true")
    exec_one("sbx")
    rows("exec", ["sbx", "runc", "crun", "floor"], exec_one, samples)
    api("DELETE", f"/v1/sandboxes/{box['id']}")
    for rt, c in held.items():
        oci(rt, "delete", "--force", c)
    for mem in (False, True):
        whos = ("sbx", "sbx-uffd", "runc", "floor") if mem else ("sbx", "runc")
        for who in whos:  # warm: CRIU, the images, the page cache
            ckpt_round(who, mem, {})
        for i in range(CK_ROUNDS):
            for who in (whos if i % 2 == 0 else whos[::-1]):
                ckpt_round(who, mem, samples)

    floor_src.clear()  # its 256 MiB would sit in the memory rows
    for turn in range(2 if MEM_N else 0):
        for who in (("sbx", "runc", "crun") if turn == 0 else ("crun", "runc", "sbx")):
            memory_round(who, samples)

    print(f"peers bench: {ROUNDS} interleaved rounds ({CK_ROUNDS} for checkpoints), ms; "
          f"memory: KiB per idle sandbox, {MEM_N} at a time, two turns "
          "(bwrap, runc 1.1.5, crun 1.8.1: Debian's)")
    for row in ("launch", "lifecycle", "exec", "ckpt-idle", "rest-idle", "ckpt-256M",
                "rest-256M", "memory", "mem-freed"):
        whos = [w for (r, w) in samples if r == row]
        if not whos:
            continue
        p50 = {w: statistics.median(samples[(row, w)]) for w in whos}
        for w in whos:
            print(f"  {row:9} {w:6} p50 {p50[w]:8.2f}  p99 {pct(samples[(row, w)], 99):8.2f}")
        peers = {w: v for w, v in p50.items() if not w.startswith("sbx") and w != "floor"}
        best = min(peers, key=peers.get)
        for w in (w for w in whos if w.startswith("sbx")):
            print(f"  {row:9} {w}/{best} (fastest peer) {p50[w] / peers[best]:.2f}x")
        if "floor" in p50:
            print(f"  {row:9} floor/{best} {p50['floor'] / peers[best]:.2f}x; above the floor: "
                  f"sbx {p50['sbx'] - p50['floor']:.2f}, {best} {peers[best] - p50['floor']:.2f}")
        if row == "lifecycle":
            run = statistics.median(samples[("launch", "sbx")])
            print(f"  {row:9} sbx/a cold `sbx run` (launch row) {p50['sbx'] / run:.2f}x")


main()
