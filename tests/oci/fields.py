#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The runtime-spec fields sbx-oci supports: one row each, and a test of each row against
the real sbx-oci (runc's command line, no containerd). `--table` prints the rows as the
Markdown table of docs/oci.md, which test-oci.sh keeps equal to it.

usage: fields.py --table
       fields.py SBX_OCI ROOTFS TMPDIR     (as root; SBX_INSTANCE, SBX_SOCKET as set)"""
import copy
import json
import os
import socket
import array
import subprocess
import sys
import threading

NS5 = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]


def base(rootfs):
    return {
        "ociVersion": "1.0.2",
        "root": {"path": rootfs},
        "hostname": "fields",
        "process": {"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0},
                    "env": ["PATH=/bin:/sbin:/usr/bin:/usr/sbin"]},
        "linux": {"namespaces": copy.deepcopy(NS5)},
    }


def setp(c, path, value):
    """Sets c[a][b]... for "a.b...", making objects on the way."""
    keys = path.split(".")
    for k in keys[:-1]:
        c = c.setdefault(k, {})
    c[keys[-1]] = value


def run(field, how, doc, *, set=None, cmd=None, out=None, refuse=None, host=None, tty=None,
        state=None):
    return dict(field=field, how=how, doc=doc, set=set or {}, cmd=cmd, out=out, refuse=refuse,
                host=host, tty=tty, state=state)


DEFAULT_MOUNTS = [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
     "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "size=65536k"]},
]
SYS = {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "ro"]}
DENY_ALL = [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]
MKDIR_DENIED = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
    {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}

ROWS = [
    run("ociVersion 1.x", "honoured", "1.0.0 to 1.2.x", set={"ociVersion": "1.1.0"}, cmd="echo ok", out="ok"),
    run("ociVersion 2 and later", "refused", "", set={"ociVersion": "2.0.0"}, refuse="ociVersion"),
    run("root.path", "honoured", "the lower layer of an overlay; writes go to a layer of the sandbox's own (tmpfs, sized by the memory limit), never to the bundle",
        cmd="ls /bin/busybox", out="/bin/busybox"),
    run("root.readonly", "honoured", "mount points are made first, then / is read-only",
        set={"root.readonly": True, "mounts": [{"destination": "/new", "type": "tmpfs", "source": "tmpfs"}]},
        cmd="touch /x 2>&1; ls -d /new", out="Read-only file system\n/new"),
    run("hostname", "honoured", "default: the sandbox id", set={"hostname": "h-1"}, cmd="hostname", out="h-1"),
    run("domainname", "refused", "", set={"domainname": "example"}, refuse="domainname"),
    run("process.args, env, cwd", "honoured", "argv[0] searched in the process's PATH; the workload is PID 2 under sbx-init",
        set={"process.env": ["PATH=/bin", "A=1"], "process.cwd": "/etc"}, cmd="echo $A; pwd; echo $$", out="1\n/etc\n2"),
    run("process.terminal, consoleSize", "honoured", "a pty of the container's own devpts, its master sent over --console-socket, sized before the workload starts",
        set={"process.terminal": True, "process.consoleSize": {"height": 33, "width": 101}}, cmd="tty; stty size", tty="/dev/pts/0\r\n33 101"),
    run("process.user.uid, gid", "honoured", "ids of the container's user namespace (a host range of its own)",
        set={"process.user": {"uid": 1000, "gid": 1001}}, cmd="id -u; id -g", out="1000\n1001"),
    run("process.user.additionalGids", "honoured", "setgroups is allowed in that namespace only then",
        set={"process.user": {"uid": 0, "gid": 0, "additionalGids": [10, 20]}}, cmd="id -G", out="0 10 20"),
    run("process.user.umask", "refused", "", set={"process.user.umask": 18}, refuse="process.user.umask"),
    run("process.capabilities", "honoured", "of the container's user namespace; ambient ones made inheritable, as the kernel needs; none without the field",
        set={"process.capabilities": {k: ["CAP_NET_BIND_SERVICE"] for k in ("bounding", "effective", "permitted")}},
        cmd="grep -E 'CapEff|CapBnd' /proc/self/status", out="CapEff:\t0000000000000400\nCapBnd:\t0000000000000400"),
    run("process.capabilities (absent)", "honoured", "no capabilities at all", cmd="grep CapEff /proc/self/status", out="CapEff:\t0000000000000000"),
    run("process.rlimits", "honoured", "any RLIMIT_*; a hard limit above the caller's fails the create",
        set={"process.rlimits": [{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}]}, cmd="ulimit -n", out="100"),
    run("process.noNewPrivileges", "always", "set whatever the field says", set={"process.noNewPrivileges": False},
        cmd="grep NoNewPrivs /proc/self/status", out="NoNewPrivs:\t1"),
    run("process.oomScoreAdj", "honoured", "", set={"process.oomScoreAdj": 500}, cmd="cat /proc/self/oom_score_adj", out="500"),
    run("process.apparmorProfile", "refused", "no AppArmor", set={"process.apparmorProfile": "x"}, refuse="process.apparmorProfile"),
    run("process.selinuxLabel", "refused", "no SELinux", set={"process.selinuxLabel": "x"}, refuse="process.selinuxLabel"),
    run("process.ioPriority", "refused", "", set={"process.ioPriority": {"class": "IOPRIO_CLASS_IDLE"}}, refuse="process.ioPriority"),
    run("process.scheduler", "refused", "", set={"process.scheduler": {"policy": "SCHED_IDLE"}}, refuse="process.scheduler"),
    run("process.execCPUAffinity", "refused", "", set={"process.execCPUAffinity": {"initial": "0"}}, refuse="process.execCPUAffinity"),
    run("mounts: /proc, /dev, /dev/pts, /dev/shm", "provided", "sbx's own: /proc masked, a minimal /dev, a devpts and shm of its own",
        set={"mounts": DEFAULT_MOUNTS}, cmd="ls /dev/pts/ptmx /dev/shm", out="/dev/pts/ptmx"),
    run("mounts: bind", "honoured", "a clone of the source, idmapped where its file system allows; rbind, ro, nosuid, nodev, noexec; targets resolved inside the root",
        set={"mounts": [{"destination": "/data", "type": "bind", "source": "@BIND", "options": ["rbind", "rw"]}]},
        cmd="cat /data/f; echo w > /data/g && echo wrote", out="hello\nwrote"),
    run("mounts: bind, ro", "honoured", "", set={"mounts": [{"destination": "/data", "type": "bind", "source": "@BIND", "options": ["bind", "ro"]}]},
        cmd="echo w > /data/g 2>&1", out="Read-only file system"),
    run("mounts: tmpfs", "honoured", "size= and mode= (64m when no size)",
        set={"mounts": [{"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}]},
        cmd="df -k /scratch | tail -n 1", out=" 1024 "),
    run("mounts: sysfs", "honoured", "read-only, of the container's network namespace (a joined one's made by sbx-oci, in it)",
        set={"mounts": [SYS]}, cmd="ls -d /sys/kernel; touch /sys/x 2>&1", out="/sys/kernel\ntouch: /sys/x: Read-only file system"),
    run("mounts: mqueue", "honoured", "of the container's ipc namespace (a joined one's made by sbx-oci, in it)",
        set={"mounts": [{"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue"}]},
        cmd="grep -c ' /dev/mqueue mqueue ' /proc/mounts", out="1"),
    run("mounts: cgroup", "honoured", "cgroup2 of the container's own cgroup namespace, read-only",
        set={"mounts": [SYS, {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro"]}],
             "process.cwd": "/etc"},
        cmd="cat /proc/self/cgroup | tail -n 1; ls /sys/fs/cgroup/cgroup.procs", out="0::/\n/sys/fs/cgroup/cgroup.procs"),
    run("mounts: other types", "refused", "nfs, overlay, ...", set={"mounts": [{"destination": "/x", "type": "nfs", "source": "h:/x"}]}, refuse="mounts[0].type"),
    run("mounts: on /proc/..., /dev/pts/...", "refused", "", set={"mounts": [{"destination": "/proc/sys", "type": "tmpfs", "source": "t"}]}, refuse="mounts[0]"),
    run("mounts: on /dev/sbx-init, however written", "refused", "destinations are compared once cleaned of // and /./; .. is refused",
        set={"mounts": [{"destination": "/dev//./sbx-init", "type": "bind", "source": "/etc/hostname"}]}, refuse="mounts[0]"),
    run("mounts[].uidMappings, gidMappings", "refused", "idmapping is sbx's own",
        set={"mounts": [{"destination": "/x", "type": "bind", "source": "/tmp", "uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}]}, refuse="mounts[0].uidMappings"),
    run("hooks", "refused", "sbx-oci runs no hooks", set={"hooks": {"prestart": [{"path": "/bin/true"}]}}, refuse="hooks"),
    run("annotations", "honoured", "in `state`; sbxd's labels (the Kubernetes namespace, else containerd's, its tenant)",
        set={"annotations": {"a.b": "c"}}, state='"a.b": "c"'),
    run("linux.namespaces: pid, mount, user, cgroup", "always", "the container's own, listed or not (user: a host id range of its own)",
        cmd="cat /proc/self/uid_map", out="         0 "),
    run("linux.namespaces: network, ipc, uts", "honoured", "new, or joined by path (a pod's)",
        set={"linux.namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"},
                                  {"type": "network", "path": "@NETNS"}], "mounts": [SYS]},
        cmd="grep -c fld0 /proc/net/dev; ls /sys/class/net | grep -c fld0", out="1\n1"),
    run("linux.namespaces: pid, mount, user, cgroup, time by path", "refused", "", set={"linux.namespaces": NS5[:4] + [{"type": "mount", "path": "/proc/1/ns/mnt"}]},
        refuse="linux.namespaces[4].path"),
    run("linux.namespaces: network, ipc or uts absent (the host's)", "refused", "", set={"linux.namespaces": NS5[:1] + NS5[2:]}, refuse="linux.namespaces"),
    run("linux.uidMappings, gidMappings", "refused", "sbx maps ids to a host range of its own",
        set={"linux.uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}, refuse="linux.uidMappings"),
    run("linux.sysctl", "refused", "", set={"linux.sysctl": {"net.ipv4.ip_forward": "1"}}, refuse="linux.sysctl"),
    run("linux.resources.memory.limit", "honoured", "memory (v1) or memory.max, and swap capped with it; default 512 MiB",
        set={"linux.resources": {"memory": {"limit": 67108864}}}, host=("memory", "67108864")),
    run("linux.resources.memory.swap", "honoured", "equal to the limit (no swap), or -1", set={"linux.resources": {"memory": {"limit": 67108864, "swap": 67108864}}},
        cmd="echo ok", out="ok"),
    run("linux.resources.memory.swap above the limit", "refused", "", set={"linux.resources": {"memory": {"limit": 67108864, "swap": 134217728}}}, refuse="linux.resources.memory.swap"),
    run("linux.resources.memory: reservation, kernel, kernelTCP, swappiness, disableOOMKiller", "refused", "",
        set={"linux.resources": {"memory": {"reservation": 1048576}}}, refuse="linux.resources.memory.reservation"),
    run("linux.resources.cpu.quota, period", "honoured", "cpu.cfs_quota_us (v1) or cpu.max; default 1 CPU",
        set={"linux.resources": {"cpu": {"quota": 50000, "period": 100000}}}, host=("cpu", "50000")),
    run("linux.resources.cpu.shares", "honoured", "cpu.shares (v1), or cpu.weight as runc maps it",
        set={"linux.resources": {"cpu": {"shares": 512}}}, host=("shares", "512")),
    run("linux.resources.cpu: cpus, mems, realtimeRuntime, realtimePeriod, idle, burst", "refused", "",
        set={"linux.resources": {"cpu": {"cpus": "0"}}}, refuse="linux.resources.cpu.cpus"),
    run("linux.resources.pids.limit", "honoured", "default 512", set={"linux.resources": {"pids": {"limit": 16}}}, host=("pids", "16")),
    run("linux.resources.devices", "honoured", "when it starts by denying all: sbx's /dev is a fixed set and no node can be made",
        set={"linux.resources": {"devices": DENY_ALL}}, cmd="echo ok", out="ok"),
    run("linux.resources.devices allowing all", "refused", "", set={"linux.resources": {"devices": [{"allow": True, "access": "rwm"}]}}, refuse="linux.resources.devices"),
    run("linux.resources: blockIO, hugepageLimits, network, rdma, unified", "refused", "",
        set={"linux.resources": {"blockIO": {"weight": 10}}}, refuse="linux.resources.blockIO"),
    run("linux.cgroupsPath", "accepted", "not used: the cgroup is made under sbx's parent, where the node's meter counts it",
        set={"linux.cgroupsPath": "/elsewhere/x"}, cmd="echo ok", out="ok"),
    run("linux.rootfsPropagation", "honoured", "private or rprivate (sbx's mounts are private); others refused",
        set={"linux.rootfsPropagation": "shared"}, refuse="linux.rootfsPropagation"),
    run("linux.maskedPaths", "honoured", "a file: /dev/null over it; a directory: an empty read-only tmpfs",
        set={"linux.maskedPaths": ["/etc/passwd", "/usr"]}, cmd="wc -c < /etc/passwd; ls /usr | wc -l", out="0\n0"),
    run("linux.readonlyPaths", "honoured", "", set={"linux.readonlyPaths": ["/tmp"]}, cmd="touch /tmp/x 2>&1", out="Read-only file system"),
    run("linux.devices", "refused", "sbx offers its own fixed set", set={"linux.devices": [{"path": "/dev/sda", "type": "b", "major": 8, "minor": 0}]}, refuse="linux.devices"),
    run("linux.seccomp", "honoured", "the profile for the container's processes (a syscall name libseccomp does not know refuses it)",
        set={"linux.seccomp": MKDIR_DENIED}, cmd="mkdir /tmp/d 2>&1", out="Operation not permitted"),
    run("linux.seccomp (absent)", "honoured", "sbx's default", cmd="grep Seccomp: /proc/self/status", out="Seccomp:\t2"),
    run("linux.seccomp.architectures", "accepted", "the program is the host's architecture's; calls of another (32-bit) are refused",
        set={"linux.seccomp": dict(MKDIR_DENIED, architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])}, cmd="echo ok", out="ok"),
    run("linux.seccomp: flags, listenerPath, listenerMetadata", "refused", "no seccomp notification",
        set={"linux.seccomp": dict(MKDIR_DENIED, listenerPath="/run/x.sock")}, refuse="linux.seccomp.listenerPath"),
    run("linux: mountLabel, personality, intelRdt, timeOffsets, memoryPolicy, netDevices", "refused", "",
        set={"linux.personality": {"domain": "LINUX32"}}, refuse="linux.personality"),
    run("solaris, windows, vm, zos", "refused", "", set={"vm": {"hypervisor": {"path": "/x"}}}, refuse="vm"),
    run("any other field", "refused", "by its name", set={"process.newThing": 1}, refuse="process.newThing"),
]


def table():
    print("| Field | sbx-oci | How |")
    print("|---|---|---|")
    for r in ROWS:
        print(f"| `{r['field']}` | {r['how']} | {r['doc']} |")


def console_receiver(path, result):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.path.exists(path):
        os.unlink(path)
    s.bind(path)
    s.listen(1)
    s.settimeout(20)

    def serve():
        try:
            c, _ = s.accept()
            _, anc, _, _ = c.recvmsg(4096, socket.CMSG_SPACE(4))
            fds = array.array("i")
            fds.frombytes(anc[0][2][:4])
            m = fds[0]
            data = b""
            while True:
                try:
                    d = os.read(m, 4096)
                except OSError:
                    break
                if not d:
                    break
                data += d
            result.append(data.decode(errors="replace"))
        except Exception as e:  # noqa: BLE001 - reported as the row's failure
            result.append(f"receiver: {e}")
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t


def check(oci, rootfs, tmp, i, r):
    root = os.path.join(tmp, "ocir")
    bundle = os.path.join(tmp, f"b{i}")
    os.makedirs(bundle, exist_ok=True)
    c = base(rootfs)
    for k, v in r["set"].items():
        setp(c, k, v)
    text = json.dumps(c).replace("@BIND", os.path.join(tmp, "bind")).replace("@NETNS", NETNS)
    c = json.loads(text)
    if r["cmd"]:
        c["process"]["args"] = ["sh", "-c", r["cmd"]]
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(c, f)
    cid = f"f{i}"
    g = [oci, "--root", root]
    if r["refuse"]:
        # Files, not pipes: a container made by mistake would hold them open.
        with open(os.path.join(tmp, "err"), "w+") as f:
            p = subprocess.run(g + ["create", "--bundle", bundle, cid], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=f)
            f.seek(0)
            err = f.read()
        if p.returncode == 0:
            subprocess.run(g + ["delete", "-f", cid], capture_output=True)
            return "accepted"
        if r["refuse"] not in err or err.count("\n") != 1:
            return f"error does not name {r['refuse']}: {err.strip()}"
        if os.path.exists(os.path.join(root, cid)):
            return "state left"
        return None
    try:
        if r["tty"] is not None:
            sock = os.path.join(tmp, f"c{i}.sock")
            got = []
            t = console_receiver(sock, got)
            p = subprocess.run(g + ["run", "--bundle", bundle, "--console-socket", sock, cid],
                               capture_output=True, text=True, timeout=60)
            t.join(10)
            out = got[0] if got else ""
            return None if r["tty"] in out else f"terminal said {out!r} ({p.stderr.strip()})"
        if r["state"] or r["host"]:
            c["process"]["args"] = ["sleep", "60"]
            with open(os.path.join(bundle, "config.json"), "w") as f:
                json.dump(c, f)
            # Files, not pipes: the container keeps its stdio open.
            with open(os.path.join(tmp, "err"), "w+") as err:
                p = subprocess.run(g + ["create", "--bundle", bundle, cid], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=err)
                err.seek(0)
                if p.returncode:
                    return f"create: {err.read().strip()}"
            if r["state"]:
                s = subprocess.run(g + ["state", cid], capture_output=True, text=True).stdout
                return None if r["state"] in s else f"state: {s}"
            st = json.load(open(os.path.join(root, cid, "state.json")))
            what, want = r["host"]
            v2, v1 = st["cgroup"]["v2"], st["cgroup"]["v1"]
            files = {"memory": [(v1[0], "memory.limit_in_bytes"), (v2, "memory.max")],
                     "cpu": [(v1[1], "cpu.cfs_quota_us"), (v2, "cpu.max")],
                     "shares": [(v1[1], "cpu.shares"), (v2, "cpu.weight")],
                     "pids": [(v1[2], "pids.max"), (v2, "pids.max")]}[what]
            for d, name in files:
                if d and os.path.exists(os.path.join(d, name)):
                    got = open(os.path.join(d, name)).read().split()[0]
                    if what == "shares" and name == "cpu.weight":
                        want = str(1 + ((int(want) - 2) * 9999) // 262142)
                    return None if got == want else f"{d}/{name}: {got}, not {want}"
            return f"no cgroup file for {what}"
        p = subprocess.run(g + ["run", "--bundle", bundle, cid], capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL)
        out = p.stdout + p.stderr
        return None if r["out"] in out else f"said {out!r} (exit {p.returncode})"
    finally:
        subprocess.run(g + ["delete", "-f", cid], capture_output=True)


NETNS = ""


def main():
    global NETNS
    if sys.argv[1:] == ["--table"]:
        table()
        return 0
    oci, rootfs, tmp = sys.argv[1:4]
    os.makedirs(os.path.join(tmp, "bind"), exist_ok=True)
    os.chmod(os.path.join(tmp, "bind"), 0o777)
    with open(os.path.join(tmp, "bind", "f"), "w") as f:
        f.write("hello\n")
    os.chmod(os.path.join(tmp, "bind", "f"), 0o644)
    name = f"sbxfields{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    NETNS = f"/run/netns/{name}"
    failed = 0
    try:
        subprocess.run(["ip", "-n", name, "link", "add", "fld0", "type", "veth", "peer", "name", "fld1"], check=True)
        for i, r in enumerate(ROWS):
            why = check(oci, rootfs, tmp, i, r)
            print(f"{'ok  ' if why is None else 'FAIL'} {r['field']}" + ("" if why is None else f": {why}"))
            failed += why is not None
    finally:
        subprocess.run(["ip", "netns", "del", name])
    print(f"{len(ROWS) - failed}/{len(ROWS)} rows hold")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
