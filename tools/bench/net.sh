#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Networking benchmark, on a lab of network namespaces (nothing leaves the machine): an
# "internet" namespace with TCP servers at 203.0.113.10 (ports 80 and 9000) and a DNS
# server naming it bulk.test, and sbxd in a namespace whose only uplink leads there.
# Each figure has its baseline from the same run:
#   1. create with net "internet" against net "none" (interleaved, p50/p99);
#   2. a request's round trip (connect, a small request, its first byte back) and a bulk
#      download, through NAT, against the same from sbxd's namespace;
#   3. the same through the name check (allow_out ["bulk.test"], port 80) against NAT;
#   4. the same with SCALE (default 1000) networked sandboxes running, against the first
#      run (their rules are sets: the cost should not grow).
# ROUNDS=N (default 40), MB=N (default 200), SCALE=N change the sizes.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${B:-build}
ROUNDS=${ROUNDS:-40}
MB=${MB:-200}
SCALE=${SCALE:-1000}
tmp=$(mktemp -d /tmp/sbx-bench-net.XXXXXX)
lab=sbxb$$
U=(nsenter --net=/run/netns/${lab}u)
H=(nsenter --net=/run/netns/${lab}h)
pid=
cleanup() {
	[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	for p in $(ip netns pids "${lab}u" 2>/dev/null); do kill "$p" 2>/dev/null; done
	ip netns del "${lab}u" 2>/dev/null || true
	ip netns del "${lab}h" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "${lab}u"
ip netns add "${lab}h"
ip link add "${lab}a" type veth peer name "${lab}b"
ip link set "${lab}a" netns "${lab}u"
ip link set "${lab}b" netns "${lab}h"
"${U[@]}" sh -ec "ip link set lo up; ip link set ${lab}a name up0; ip link set up0 up
	ip addr add 198.51.100.1/24 dev up0; ip addr add 203.0.113.10/32 dev lo
	ip addr add 203.0.113.53/32 dev lo"
"${H[@]}" sh -ec "ip link set lo up; ip link set ${lab}b name uplink0; ip link set uplink0 up
	ip addr add 198.51.100.2/24 dev uplink0; ip route add default via 198.51.100.1"
"${U[@]}" python3 tests/integ/netlab.py tcp 203.0.113.10 9000 /dev/null >"$tmp/ready.1" &
"${U[@]}" python3 tests/integ/netlab.py tcp 203.0.113.10 80 /dev/null >"$tmp/ready.2" &
"${U[@]}" python3 tests/integ/netlab.py dns 203.0.113.53 bulk.test=203.0.113.10 >"$tmp/ready.3" 2>/dev/null &
for _ in $(seq 100); do [ "$(cat "$tmp"/ready.* | grep -c ready)" = 3 ] && break; sleep 0.05; done

"${H[@]}" "$B/sbxd" --instance bench --socket "$tmp/sock" --state-dir "$tmp/state" \
	--log-level warn --kill-on-exit --net-dns 203.0.113.53 --max-per-tenant 100000 &
pid=$!
for _ in $(seq 100); do curl -sf --unix-socket "$tmp/sock" http://x/v1/health >/dev/null 2>&1 && break; sleep 0.05; done
export SBX_SOCKET=$tmp/sock

# The client measures a request's round trip (p50/p99 of N) and a download of MB
# megabytes, from 203.0.113.10:PORT; with NAME it resolves it first and sends it as Host.
cat >"$tmp/client.py" <<'EOF'
import json, socket, sys, time
n, mb, port = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
name = sys.argv[4] if len(sys.argv) > 4 else "bulk.test"
addr = socket.gethostbyname(name) if len(sys.argv) > 4 else "203.0.113.10"
def req(k):
    return b"GET %d HTTP/1.1\r\nHost: %s\r\n\r\n" % (k, name.encode())
ts = []
for _ in range(n):
    t = time.perf_counter(); s = socket.create_connection((addr, port)); s.sendall(req(1)); s.recv(1)
    ts.append(time.perf_counter() - t); s.close()
ts.sort()
s = socket.create_connection((addr, port))
s.sendall(req(mb << 20)); got = 0; t = time.perf_counter()
buf = bytearray(1 << 20)
while True:
    k = s.recv_into(buf)
    if not k: break
    got += k
dt = time.perf_counter() - t
print(json.dumps({"connect_p50_ms": ts[n // 2] * 1e3, "connect_p99_ms": ts[min(n - 1, n * 99 // 100)] * 1e3, "mbit_s": got * 8 / dt / 1e6, "bytes": got}))
EOF

python3 - "$tmp" "$ROUNDS" <<'EOF'
import http.client, json, socket, statistics, sys, time
tmp, rounds = sys.argv[1], int(sys.argv[2])
class U(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX); self.sock.connect(tmp + "/sock")
c = U("x")
def call(m, p, body=None):
    c.request(m, p, body=body, headers={"Content-Type": "application/json"})
    r = c.getresponse(); d = r.read(); return r.status, d
t = {"none": [], "internet": []}
for i in range(rounds + 5):
    for mode in ("none", "internet"):
        t0 = time.perf_counter()
        st, d = call("POST", "/v1/sandboxes", json.dumps({"net": mode}))
        dt = time.perf_counter() - t0
        assert st == 201, d
        call("DELETE", "/v1/sandboxes/" + json.loads(d)["id"])
        if i >= 5:
            t[mode].append(dt * 1e3)
def p(v, q): v = sorted(v); return v[min(len(v) - 1, int(len(v) * q))]
n50, i50 = p(t["none"], .5), p(t["internet"], .5)
print("create  none:     p50 %.2f ms  p99 %.2f ms" % (n50, p(t["none"], .99)))
print("create  internet: p50 %.2f ms  p99 %.2f ms  (+%.2f ms p50 over none; target <= 1 ms)" % (i50, p(t["internet"], .99), i50 - n50))
EOF

# Three downloads each, interleaved; the median run (by throughput) is reported.
median() { python3 -c 'import json,sys; v=sorted((json.loads(l) for l in sys.stdin if l.strip()), key=lambda j: j["mbit_s"]); print(json.dumps(v[len(v)//2]))'; }
id=$("$B/sbx" create --image host --net internet)
chk=$("$B/sbx" create --image host --net internet --allow-out bulk.test)
for b in "$id" "$chk"; do "$B/sbx" cp "$tmp/client.py" "$b:/tmp/client.py" >/dev/null; done
: >"$tmp/host" && : >"$tmp/box" && : >"$tmp/chk"
for _ in 1 2 3; do
	"${H[@]}" python3 "$tmp/client.py" 200 "$MB" 9000 >>"$tmp/host"
	"$B/sbx" exec "$id" -- python3 /tmp/client.py 200 "$MB" 9000 >>"$tmp/box"
	"$B/sbx" exec "$chk" -- python3 /tmp/client.py 200 "$MB" 80 bulk.test >>"$tmp/chk"
done
host=$(median <"$tmp/host")
box=$(median <"$tmp/box")
checked=$(median <"$tmp/chk")
report() { # LABEL BASE_JSON JSON TARGET%
	python3 - "$@" <<'EOF'
import json, sys
label, b, s, target = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
print("%-36s request p50 %.3f ms (baseline %.3f, +%.3f; target <= 0.5)  p99 %.3f ms" % (label, s["connect_p50_ms"], b["connect_p50_ms"], s["connect_p50_ms"] - b["connect_p50_ms"], s["connect_p99_ms"]))
print("%-36s download %.0f Mbit/s (baseline %.0f: %.0f%%; target >= %s%%)" % (label, s["mbit_s"], b["mbit_s"], 100 * s["mbit_s"] / b["mbit_s"], target))
EOF
}
report "through NAT vs sbxd's namespace:" "$host" "$box" 90
report "through the name check vs NAT:" "$box" "$checked" 80

# SCALE networked sandboxes at once, then the same measurements from the first one.
t0=$(date +%s.%N)
for i in $(seq 2 "$SCALE"); do
	curl -sf --unix-socket "$tmp/sock" -X POST http://x/v1/sandboxes -d '{"net":"internet"}' >/dev/null ||
		{ echo "bench: create $i of $SCALE failed" >&2; break; }
done
t1=$(date +%s.%N)
n=$(curl -s --unix-socket "$tmp/sock" http://x/v1/health | python3 -c 'import json,sys; print(json.load(sys.stdin)["sandboxes"]["live"])')
echo "$n networked sandboxes running (created in $(python3 -c "print('%.1f' % ($t1 - $t0))") s)"
# The same pair again under that load (the daemon's tick over 1,000 sandboxes takes CPU
# from both paths): the ratio NAT / sbxd's namespace is what the rules would change.
: >"$tmp/host2" && : >"$tmp/box2"
for _ in 1 2 3; do
	"${H[@]}" python3 "$tmp/client.py" 200 "$MB" 9000 >>"$tmp/host2"
	"$B/sbx" exec "$id" -- python3 /tmp/client.py 200 "$MB" 9000 >>"$tmp/box2"
done
host2=$(median <"$tmp/host2")
box2=$(median <"$tmp/box2")
report "with $n sandboxes, NAT vs sbxd's ns:" "$host2" "$box2" 90
python3 - "$host" "$box" "$host2" "$box2" "$n" <<'EOF'
import json, sys
h, b, h2, b2 = (json.loads(x) for x in sys.argv[1:5])
r1, r2 = b["mbit_s"] / h["mbit_s"], b2["mbit_s"] / h2["mbit_s"]
print("NAT/namespace download ratio: %.0f%% with 2 sandboxes, %.0f%% with %s (the rules' cost: %+.0f points)" % (100 * r1, 100 * r2, sys.argv[5], 100 * (r2 - r1)))
print("request p50 over sbxd's ns: +%.3f ms with 2, +%.3f ms with %s" % (b["connect_p50_ms"] - h["connect_p50_ms"], b2["connect_p50_ms"] - h2["connect_p50_ms"], sys.argv[5]))
EOF
