#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Real workloads run under the default seccomp profile in the host image.

t_python_threads_subprocess_sockets() {
	run_sbx run --image host -- python3 -c '
import threading, subprocess, socket, json, hashlib, tempfile, os
r = []
t = threading.Thread(target=lambda: r.append(sum(range(1000)))); t.start(); t.join()
out = subprocess.run(["sh", "-c", "echo sub"], capture_output=True, text=True).stdout.strip()
a, b = socket.socketpair(); a.send(b"x"); got = b.recv(1)
with tempfile.NamedTemporaryFile(dir="/tmp") as f: f.write(b"data"); f.flush(); size = os.path.getsize(f.name)
print(json.dumps([r[0], out, got.decode(), size, hashlib.sha256(b"").hexdigest()[:8]]))'
	assert_eq "$RC" 0 "exit ($ERR)"
	assert_eq "$OUT" '[499500, "sub", "x", 4, "e3b0c442"]' "python output"
}

t_gcc_compiles_and_runs() {
	command -v gcc >/dev/null || fail "gcc is part of the build: it must be on the host"
	run_sbx run --image host --memory 512M -- sh -c '
cd /tmp && printf "#include <stdio.h>\nint main(void){printf(\"%%d\\\\n\", 6*7);return 0;}\n" > a.c &&
gcc -O2 -o a a.c && ./a'
	assert_eq "$RC" 0 "exit ($ERR)"
	assert_eq "$OUT" 42 "compiled program output"
}

t_node_runs() {
	command -v node >/dev/null || skip "node is not installed on this host"
	run_sbx run --image host --memory 512M -- node -e '
const w = new (require("worker_threads").Worker)("require(\"worker_threads\").parentPort.postMessage(6*7)", {eval: true});
w.on("message", m => { console.log(m, require("crypto").createHash("sha256").update("").digest("hex").slice(0, 8)); });'
	assert_eq "$RC" 0 "exit ($ERR)"
	assert_eq "$OUT" "42 e3b0c442" "node output"
}

t_busybox_tools() {
	run_sbx run -- sh -c 'echo abc | sed s/b/B/ | awk "{print toupper(\$0)}"; seq 3 | sort -r | tr "\n" " "; echo; which sh ls cat wget vi tar'
	assert_eq "$OUT" $'ABC\n3 2 1 \n/bin/sh\n/bin/ls\n/bin/cat\n/usr/bin/wget\n/bin/vi\n/bin/tar' "busybox pipeline and applets"
}

source "$(dirname "$0")/lib.sh"
