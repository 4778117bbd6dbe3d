# SPDX-License-Identifier: MIT
# A checkpoint test workload in the style of CRIU's zdtm: it builds state of every kind
# a sandbox may hold, says READY, waits for /tmp/go (made after the restore), checks
# that every piece came back, prints PASS or FAIL: what, and exits 0 or 1.
# Usage: python3 -c "$(cat ckpt-workload.py)" MEGABYTES
import hashlib
import mmap
import os
import signal
import socket
import sys
import time

MB = int(sys.argv[1]) if len(sys.argv) > 1 else 16


def say(*a):
    print(*a, flush=True)


# Memory: a pattern in every page, each page numbered.
size = MB << 20
mem = mmap.mmap(-1, size)
page = bytes((i * 7 + 3) % 251 for i in range(4096))
for off in range(0, size, 4096):
    mem[off:off + 4096] = page
    mem[off:off + 8] = (off // 4096).to_bytes(8, "little")
digest = hashlib.sha256(mem).hexdigest()
heap = [i * i for i in range(100000)]

# Cwd and environment.
os.makedirs("/tmp/wd", exist_ok=True)
os.chdir("/tmp/wd")
os.environ["ZDTM_ENV"] = "kept"

# An open file with an offset (on /tmp), and a file in the writable layer.
content = os.urandom(1000)
f = open("/tmp/wd/data", "w+b")
f.write(content)
f.flush()
f.seek(123)
with open("/root/layer.txt", "w") as lf:
    lf.write("layer-ok")

# A pipe with data in it.
pr, pw = os.pipe()
os.write(pw, b"in-the-pipe")

# A process tree: child -> grandchild; a number goes down and comes back doubled.
down_r, down_w = os.pipe()
up_r, up_w = os.pipe()
child = os.fork()
if child == 0:
    g_r, g_w = os.pipe()
    b_r, b_w = os.pipe()
    if os.fork() == 0:
        n = int(os.read(g_r, 32))
        os.write(b_w, str(n * 2).encode())
        os._exit(0)
    n = os.read(down_r, 32)
    os.write(g_w, n)
    os.write(up_w, os.read(b_r, 32))
    os.wait()
    os._exit(0)

# A loopback TCP connection with bytes in flight.
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
cli = socket.create_connection(srv.getsockname())
conn, _ = srv.accept()
cli.sendall(b"before")
assert conn.recv(6) == b"before"
cli.sendall(b"inflight")

# Unix sockets: a pair with bytes in flight, and a listener on a path with a client.
ua, ub = socket.socketpair()
ua.sendall(b"unix-pair")
ulisten = socket.socket(socket.AF_UNIX)
ulisten.bind("/tmp/wd/sock")
ulisten.listen(1)
ucli = socket.socket(socket.AF_UNIX)
ucli.connect("/tmp/wd/sock")
userv, _ = ulisten.accept()
ucli.sendall(b"unix-path")

# An interval timer.
ticks = 0


def tick(sig, frame):
    global ticks
    ticks += 1


signal.signal(signal.SIGALRM, tick)
signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)

say("READY", os.getpid())
while not os.path.exists("/tmp/go"):
    time.sleep(0.02)

bad = []


def check(ok, what):
    if not ok:
        bad.append(what)


check(hashlib.sha256(mem).hexdigest() == digest, "memory")
check(heap[99999] == 99999 * 99999 and len(heap) == 100000, "heap")
check(os.getcwd() == "/tmp/wd", "cwd")
check(os.environ.get("ZDTM_ENV") == "kept", "env")
check(f.tell() == 123, "file offset %d" % f.tell())
f.seek(0)
check(f.read() == content, "file content")
check(open("/root/layer.txt").read() == "layer-ok", "writable layer")
check(os.read(pr, 64) == b"in-the-pipe", "pipe")
os.write(down_w, b"21")
check(os.read(up_r, 32) == b"42", "process tree")
check(os.waitpid(child, 0)[1] == 0, "child exit")
conn.settimeout(5)
check(conn.recv(8) == b"inflight", "tcp in flight")
conn.sendall(b"after")
cli.settimeout(5)
check(cli.recv(5) == b"after", "tcp after")
ub.settimeout(5)
check(ub.recv(9) == b"unix-pair", "unix socketpair")
userv.settimeout(5)
check(userv.recv(9) == b"unix-path", "unix socket on a path")
userv.sendall(b"back")
ucli.settimeout(5)
check(ucli.recv(4) == b"back", "unix socket reply")
t0 = ticks
time.sleep(0.2)
check(ticks > t0 + 5, "timer %d -> %d" % (t0, ticks))
signal.setitimer(signal.ITIMER_REAL, 0)
if bad:
    say("FAIL:", ", ".join(bad))
    sys.exit(1)
say("PASS")
