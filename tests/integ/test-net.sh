#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Sandbox networking, mode "internet", on real kernel networking: each case builds its own
# "internet" (a network namespace holding documentation addresses with a DNS server and
# TCP servers) and runs sbxd in a namespace of its own whose only uplink leads there.
# Nothing is sent anywhere else: the host's own routes are never used.

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB=
# The servers: 203.0.113.10 and .11 (TCP 80, 25 and 9000, TLS 443 with a certificate of
# the lab's own CA for every name below), DNS at 203.0.113.53 knowing a.test and c.test
# -> .10 (two names on one address), b.test and x.w.test -> .11; the router
# 198.51.100.1; sbxd's uplink 198.51.100.2.
lab_up() {
	LAB=sbxn$$
	ip netns add "${LAB}u" && ip netns add "${LAB}h" || fail "ip netns add"
	ip link add "${LAB}a" type veth peer name "${LAB}b" || fail "veth"
	ip link set "${LAB}a" netns "${LAB}u" && ip link set "${LAB}b" netns "${LAB}h" || fail "veth move"
	U=(nsenter --net=/run/netns/${LAB}u)
	H=(nsenter --net=/run/netns/${LAB}h)
	"${U[@]}" sh -ec "ip link set lo up; ip link set ${LAB}a name up0; ip link set up0 up
		ip addr add 198.51.100.1/24 dev up0
		for a in 10 11 53; do ip addr add 203.0.113.\$a/32 dev lo; done
		ip addr add 10.66.0.1/32 dev lo" || fail "lab upstream"
	"${H[@]}" sh -ec "ip link set lo up; ip link set ${LAB}b name uplink0; ip link set uplink0 up
		ip addr add 198.51.100.2/24 dev uplink0; ip route add default via 198.51.100.1" ||
		fail "lab host"
	trap 'cleanup; lab_down' EXIT
	: >"$TMPD/tcp.log"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=lab-ca -keyout "$TMPD/ca.key" \
		-out "$TMPD/ca.pem" -addext basicConstraints=critical,CA:TRUE 2>/dev/null &&
		openssl req -newkey rsa:2048 -nodes -subj /CN=a.test -keyout "$TMPD/srv.key" \
			-out "$TMPD/srv.csr" 2>/dev/null &&
		printf 'subjectAltName=DNS:a.test,DNS:b.test,DNS:c.test,DNS:x.w.test\n' >"$TMPD/san" &&
		openssl x509 -req -in "$TMPD/srv.csr" -CA "$TMPD/ca.pem" -CAkey "$TMPD/ca.key" \
			-CAcreateserial -days 2 -extfile "$TMPD/san" -out "$TMPD/srv.pem" 2>/dev/null ||
		fail "the lab's certificates"
	"${U[@]}" python3 "$HERE/netlab.py" dns 203.0.113.53 \
		a.test=203.0.113.10,c.test=203.0.113.10,b.test=203.0.113.11,x.w.test=203.0.113.11 \
		>"$TMPD/dns.out" 2>"$TMPD/dns.log" &
	for a in 10 11; do
		for p in 80 25 9000; do
			"${U[@]}" python3 "$HERE/netlab.py" tcp 203.0.113.$a $p "$TMPD/tcp.log" >"$TMPD/tcp.$a.$p" &
		done
		"${U[@]}" python3 "$HERE/netlab.py" tcp 203.0.113.$a 443 "$TMPD/tcp.log" \
			"$TMPD/srv.pem" "$TMPD/srv.key" >"$TMPD/tcp.$a.443" &
	done
	# A private address (an operator's mirror, say): 10.66.0.1, TCP 80 and 9000.
	for p in 80 9000; do
		"${U[@]}" python3 "$HERE/netlab.py" tcp 10.66.0.1 $p "$TMPD/tcp.log" >"$TMPD/tcp.p.$p" &
	done
	for _ in $(seq 200); do
		[ "$(cat "$TMPD"/dns.out "$TMPD"/tcp.* 2>/dev/null | grep -c ready)" = 11 ] && break
		sleep 0.05
	done
	export SBXD_WRAP="nsenter --net=/run/netns/${LAB}h" SBXD_NET=1
}
lab_down() {
	local p
	for p in $(ip netns pids "${LAB}u" 2>/dev/null); do kill "$p" 2>/dev/null; done
	ip netns del "${LAB}u" 2>/dev/null
	ip netns del "${LAB}h" 2>/dev/null
}
# lab_sbxd [OPTIONS]: sbxd in the lab's host namespace, its resolver upstream the lab's.
lab_sbxd() {
	start_sbxd --images "$(sbxd_images)" --net-dns 203.0.113.53 "$@"
	local h
	h=$(curl -s --unix-socket "$SBX_SOCKET" http://x/v1/health)
	[ "$(jget "$h" 'j["features"]["network"]')" = True ] ||
		fail "networking is off: $(jget "$h" 'j.get("network_off")')"
}
# netbox [JSON of net [MORE MEMBERS]]: a sandbox of the host image (python3), waiting for
# commands; its id in NB.
netbox() {
	api POST /v1/sandboxes -d "{\"image\":\"host\",\"net\":${1:-\"internet\"}${2:+,$2}}"
	[ "$CODE" = 201 ] || fail "create: $CODE $BODY"
	NB=$(jget "$BODY" 'j["id"]')
}
# probe ID HOST:PORT...: each connection's outcome and time, "HOST:PORT open|refused|... MS".
probe() {
	local id=$1
	shift
	"$SBX" exec "$id" -- python3 -c '
import socket, sys, time
for a in sys.argv[1:]:
    h, p = a.rsplit(":", 1)
    t = time.time(); s = socket.socket(); s.settimeout(3)
    try:
        s.connect((h, int(p))); r = "open"
    except ConnectionRefusedError: r = "refused"
    except OSError as e: r = type(e).__name__
    print(a, r, int((time.time() - t) * 1000))' "$@"
}
# expect open|refused ID HOST:PORT...: each so (refused: within 100 ms).
expect() {
	local want=$1 id=$2 out dst r ms
	shift 2
	out=$(probe "$id" "$@")
	[ -n "$out" ] || fail "probe $id: no answer"
	while read -r dst r ms; do
		[ "$r" = "$want" ] && { [ "$want" = open ] || [ "$ms" -lt 100 ]; } ||
			fail "$dst: $r after $ms ms (expected $want)"
	done <<<"$out"
}
expect_refused() { expect refused "$@"; }
expect_open() { expect open "$@"; }
# What sbxd's instance holds in its namespace: links and table entries.
lab_links() { "${H[@]}" ip -o link | grep -c ': s[0-9a-f]\{5\}_[0-9]*p\?@' ; }
lab_marks() { "${H[@]}" nft list map inet sbx_test marks 2>/dev/null | grep -o ' : 0x' | wc -l ; }

t_internet_reaches_servers_by_name() {
	lab_up
	lab_sbxd
	local id out
	netbox
	id=$NB
	out=$("$SBX" exec "$id" -- python3 -c '
import socket
a = socket.gethostbyname("a.test")
s = socket.create_connection((a, 80), timeout=3); s.sendall(b"HTTP hello"); print(a, s.recv(100).split(b"\r\n")[-1].decode())')
	assert_eq "$out" "203.0.113.10 ok" "a.test through the sandbox's resolver"
	grep -q '^Q a.test 1' "$TMPD/dns.log" || fail "the lab's DNS server saw no query: $(cat "$TMPD/dns.log")"
	# Its record says its address; resolv.conf names its gateway.
	api GET "/v1/sandboxes/$id"
	local addr
	addr=$(jget "$BODY" 'j["address"]')
	[[ "$addr" == 10.200.* ]] || fail "address: $addr"
	out=$("$SBX" exec "$id" -- cat /etc/resolv.conf)
	assert_contains "$out" "nameserver 10.200." "resolv.conf"
}

t_none_and_loopback_have_no_route() {
	lab_up
	lab_sbxd
	local id out
	for mode in none loopback; do
		netbox "\"$mode\""
	id=$NB
		out=$(probe "$id" 203.0.113.10:80)
		[[ "$out" == *" OSError "* || "$out" == *"Unreachable"* || "$out" == *refused* ]] ||
			fail "$mode: $out"
		local ms=${out##* }
		[ "$ms" -lt 100 ] || fail "$mode: no fast failure: $out"
	done
}

t_platform_deny_set_beats_allow_out() {
	lab_up
	lab_sbxd --listen 0.0.0.0:7777
	local other id oaddr
	netbox
	other=$NB
	api GET "/v1/sandboxes/$other"
	oaddr=$(jget "$BODY" 'j["address"]')
	# Every one named in allow_out: the platform deny set still wins.
	netbox '{"mode":"internet","allow_out":["0.0.0.0/0","169.254.169.254","198.51.100.2","10.0.0.0/8","203.0.113.10"]}'
	id=$NB
	local gw
	gw=$("$SBX" exec "$id" -- sh -c 'sed -n "s/nameserver //p" /etc/resolv.conf')
	expect_refused "$id" 169.254.169.254:80 198.51.100.2:7777 198.51.100.2:22 "$gw:7777" \
		"$oaddr:80" 10.1.2.3:80 192.168.0.1:80 172.16.0.1:80 100.64.0.1:80 127.0.0.53:53 \
		203.0.113.10:25
	expect_open "$id" 203.0.113.10:80
	local denied
	denied=$(usage "$id" 'j["net"]["denied"]')
	# 127.0.0.53 is the sandbox's own loopback (refused there, not by the policy).
	[ "$denied" -ge 10 ] || fail "denied: $denied (expected at least 10)"
	# No IPv6 at all: no address but loopback's, no route.
	local v6
	v6=$("$SBX" exec "$id" -- python3 -c '
import socket
s = socket.socket(socket.AF_INET6); s.settimeout(2)
print(s.connect_ex(("2001:db8::1", 80)), open("/proc/net/if_inet6").read().count("\n"))')
	assert_eq "$v6" "101 1" "IPv6: ENETUNREACH, and ::1 the only address"
}

t_allow_and_deny_lists() {
	lab_up
	lab_sbxd
	local a d
	netbox '{"mode":"internet","allow_out":["203.0.113.10"]}'
	a=$NB
	expect_open "$a" 203.0.113.10:80 203.0.113.10:9000
	expect_refused "$a" 203.0.113.11:80
	# DNS goes to sbxd's resolver only, even to a server allow_out names.
	local out
	out=$("$SBX" exec "$a" -- python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
s.connect(("203.0.113.10", 53))
try: s.send(b"\0" * 17); s.recv(10); print("answered")
except socket.timeout: print("timeout")
except OSError: print("refused")')
	assert_eq "$out" refused "direct DNS in allowlist mode"
	netbox '{"mode":"internet","deny_out":["203.0.113.11/32"]}'
	d=$NB
	expect_open "$d" 203.0.113.10:80
	expect_refused "$d" 203.0.113.11:80 203.0.113.11:9000
	# The live update: deny .10 as well, then allow everything again.
	api PUT "/v1/sandboxes/$d/network" -d '{"deny_out":["203.0.113.10","203.0.113.11"]}'
	[ "$CODE" = 200 ] || fail "PUT network: $CODE $BODY"
	expect_refused "$d" 203.0.113.10:80
	api PUT "/v1/sandboxes/$d/network" -d '{}'
	expect_open "$d" 203.0.113.10:80 203.0.113.11:80
}

# web ID HOST PORT NAME: an HTTP request (port 80) or TLS handshake and request (443)
# naming NAME, to HOST; prints "ok" or why not.
web() {
	"$SBX" exec "$1" -- python3 -c '
import socket, ssl, sys
host, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
try:
    s = socket.create_connection((host, port), timeout=3)
    if port == 443:
        ctx = ssl.create_default_context(cafile="/tmp/ca.pem")
        s = ctx.wrap_socket(s, server_hostname=name)
    s.sendall(b"GET / HTTP/1.1\r\nHost: " + name.encode() + b"\r\n\r\n")
    print(s.recv(200).split(b"\r\n")[-1].decode() or "empty")
except ConnectionResetError: print("reset")
except Exception as e: print(type(e).__name__)' "$2" "$3" "$4"
}
# resolve ID NAME: the address, or the error's name.
resolve() {
	"$SBX" exec "$1" -- python3 -c '
import socket, sys
try: print(socket.gethostbyname(sys.argv[1]))
except socket.gaierror as e: print("gaierror")' "$2"
}

t_domains_admit_by_name() {
	lab_up
	lab_sbxd
	local id
	netbox '{"mode":"internet","allow_out":["a.test","*.w.test"]}'
	id=$NB
	"$SBX" cp "$TMPD/ca.pem" "$id:/tmp/ca.pem" >/dev/null || fail "cp ca.pem"
	# Nothing reachable before its name is resolved.
	expect_refused "$id" 203.0.113.10:9000
	assert_eq "$(resolve "$id" a.test)" 203.0.113.10 "a.test"
	# Names allow_out does not list are not resolved: DNS is no way out.
	assert_eq "$(resolve "$id" b.test)" gaierror "b.test"
	grep -q '^Q b.test' "$TMPD/dns.log" && fail "b.test went upstream"
	# A name opens its addresses to web connections (TCP 80 and 443) that name it, and
	# to nothing else: not other ports, not UDP (QUIC).
	expect_refused "$id" 203.0.113.10:9000 203.0.113.11:9000
	assert_eq "$("$SBX" exec "$id" -- python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1); s.connect(("203.0.113.10", 443))
try: s.send(b"q"); s.recv(10); print("answered")
except socket.timeout: print("timeout")
except OSError: print("refused")')" refused "UDP 443 (QUIC) to an admitted address"
	# On the web ports the name must be allowed too: c.test shares a.test's address.
	assert_eq "$(web "$id" 203.0.113.10 80 a.test)" ok "HTTP, Host a.test"
	assert_eq "$(web "$id" 203.0.113.10 80 c.test)" reset "HTTP, Host c.test"
	assert_eq "$(web "$id" 203.0.113.10 443 a.test)" ok "TLS, SNI a.test"
	assert_eq "$(web "$id" 203.0.113.10 443 c.test)" reset "TLS, SNI c.test"
	# One request a connection: a second one naming another site never goes on, nor does
	# an absolute target naming another host than Host.
	: >"$TMPD/tcp.log"
	out=$("$SBX" exec "$id" -- python3 -c '
import socket
s = socket.create_connection(("203.0.113.10", 80), timeout=3)
s.sendall(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\nGET / HTTP/1.1\r\nHost: c.test\r\n\r\n")
d = b""
while True:
    k = s.recv(4096)
    if not k: break
    d += k
print(d.count(b"200 OK"))
t = socket.create_connection(("203.0.113.10", 80), timeout=3)
t.sendall(b"GET http://c.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n")
try: print(t.recv(100) or b"closed")
except ConnectionResetError: print("reset")')
	assert_eq "$out" "1
reset" "a second request on one connection; an absolute target"
	for _ in $(seq 20); do grep -q HOSTS "$TMPD/tcp.log" && break; sleep 0.05; done
	assert_eq "$(grep HOSTS "$TMPD/tcp.log")" "HOSTS a.test" "what the server saw"
	# A wildcard: x.w.test admits .11, where b.test is not allowed by name.
	assert_eq "$(resolve "$id" x.w.test)" 203.0.113.11 "x.w.test"
	assert_eq "$(web "$id" 203.0.113.11 443 x.w.test)" ok "TLS, SNI x.w.test"
	assert_eq "$(web "$id" 203.0.113.11 443 b.test)" reset "TLS, SNI b.test"
	local denied
	denied=$(usage "$id" 'j["net"]["denied"]')
	[ "$denied" -ge 5 ] || fail "denied: $denied"
	# A name that deny_out lists, in a sandbox without an allow list.
	netbox '{"mode":"internet","deny_out":["b.test"]}'
	id=$NB
	"$SBX" cp "$TMPD/ca.pem" "$id:/tmp/ca.pem" >/dev/null || fail "cp ca.pem"
	assert_eq "$(resolve "$id" b.test)" gaierror "denied b.test"
	assert_eq "$(resolve "$id" c.test)" 203.0.113.10 "c.test"
	# Names only the host's own network would answer are never asked upstream.
	assert_eq "$(resolve "$id" gateway)" gaierror "a single-label name"
	assert_eq "$(resolve "$id" printer.local)" gaierror "an mDNS name"
	grep -q '^Q \(gateway\|printer.local\)' "$TMPD/dns.log" && fail "a local name went upstream"
	assert_eq "$(web "$id" 203.0.113.11 443 b.test)" reset "TLS, SNI b.test (denied)"
	assert_eq "$(web "$id" 203.0.113.11 80 x.w.test)" ok "HTTP, Host x.w.test"
}

# lab_port: the TCP port of a daemon started with --listen 127.0.0.1:0 (in its namespace).
lab_port() {
	"${H[@]}" ss -ltnp 2>/dev/null | grep "pid=$SBXD_PID," | grep -o '127.0.0.1:[0-9]*' | head -n1 | cut -d: -f2
}
# pget TOKEN HOST PATH: a GET through sbxd's listener with Host HOST (TOKEN "-": none);
# prints "CODE BODY".
pget() {
	local auth=()
	[ "$1" = - ] || auth=(-H "X-Sbx-Token: $1")
	"${H[@]}" curl -s -m 5 -o "$TMPD/pget" -w '%{http_code}' "${auth[@]}" -H "Host: $2" \
		"http://127.0.0.1:$LPORT$3"
	echo " $(head -c 200 "$TMPD/pget")"
}
# A WebSocket handshake and one echoed message through sbxd (TOKEN "-": none): prints
# "echo: MESSAGE", or the status line it got.
ws_echo() {
	"${H[@]}" python3 - "$LPORT" "$2" "$1" <<'EOF'
import base64, hashlib, os, socket, sys
port, host, tok = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port), timeout=5)
key = base64.b64encode(os.urandom(16))
h = b"GET /ws HTTP/1.1\r\nHost: " + host.encode() + b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n"
if tok != "-":
    h += b"X-Sbx-Token: " + tok.encode() + b"\r\n"
s.sendall(h + b"\r\n")
d = b""
while b"\r\n\r\n" not in d:
    k = s.recv(4096)
    if not k: break
    d += k
head = d.split(b"\r\n\r\n")[0].decode()
want = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()).decode()
if not head.startswith("HTTP/1.1 101") or want not in head:
    print(head.split("\r\n")[0]); sys.exit(0)
m = os.urandom(4); p = b"hello ws"
s.sendall(bytes([0x81, 0x80 | len(p)]) + m + bytes(b ^ m[i % 4] for i, b in enumerate(p)))
r = s.recv(2); n = r[1] & 127; out = b""
while len(out) < n: out += s.recv(n - len(out))
print("echo:", out.decode())
EOF
}

t_published_ports_http_websocket_and_forward() {
	lab_up
	local ta tb id ws out
	ta=$("$B/sbxd" tenant add alice --state-dir "$TMPD/state") || fail "tenant alice"
	tb=$("$B/sbxd" tenant add bob --state-dir "$TMPD/state") || fail "tenant bob"
	lab_sbxd --listen 127.0.0.1:0
	LPORT=$(lab_port)
	[ -n "$LPORT" ] || fail "no TCP listener"
	# Alice's sandbox serves HTTP on 8080 and publishes it.
	CODE=$("${H[@]}" curl -s -o "$TMPD/c" -w '%{http_code}' -H "Authorization: Bearer $ta" \
		"http://127.0.0.1:$LPORT/v1/sandboxes" -d '{"image":"host","net":{"mode":"internet","ports":[8080]},
		"cmd":["sh","-c","echo hello-from-sandbox >/tmp/index.html; cd /tmp; exec python3 -m http.server 8080"]}')
	[ "$CODE" = 201 ] || fail "create: $CODE $(cat "$TMPD/c")"
	id=$(jget "$(cat "$TMPD/c")" 'j["id"]')
	assert_eq "$(jget "$(cat "$TMPD/c")" 'j["hosts"]')" "['8080-$id.sbx.localhost']" "hosts"
	local host=8080-$id.sbx.localhost
	for _ in $(seq 100); do [[ "$(pget "$ta" "$host" /index.html)" == 200* ]] && break; sleep 0.05; done
	assert_eq "$(pget "$ta" "$host" /index.html)" "200 hello-from-sandbox" "with alice's token"
	[[ "$(pget - "$host" /index.html)" == 401* ]] || fail "without a token: $(pget - "$host" /index.html)"
	[[ "$(pget "$tb" "$host" /index.html)" == 404* ]] || fail "bob's token: $(pget "$tb" "$host" /index.html)"
	[[ "$(pget "$ta" "8081-$id.sbx.localhost" /)" == 404* ]] || fail "a port not published"
	[[ "$(pget "$ta" "8080-000000000000.sbx.localhost" /)" == 404* ]] || fail "no such sandbox"
	# Another domain is no published port's: the API answers it (and wants a token).
	[[ "$(pget "$ta" "8080-$id.elsewhere.test" /index.html)" == 401* ]] || fail "another domain"
	assert_eq "$(pget "$ta" "8080-$id.sbx.localhost:$LPORT" /index.html)" "200 hello-from-sandbox" "Host with a port"
	# The token never reaches the sandbox; keep-alive requests follow on the same stream.
	out=$("${H[@]}" curl -s -m 5 -H "Host: $host" -H "X-Sbx-Token: $ta" \
		"http://127.0.0.1:$LPORT/index.html" "http://127.0.0.1:$LPORT/index.html")
	assert_eq "$out" "hello-from-sandbox
hello-from-sandbox" "two requests on one connection"
	# Neither token reaches the sandbox's server, on any request of a connection.
	CODE=$("${H[@]}" curl -s -o "$TMPD/c" -w '%{http_code}' -H "Authorization: Bearer $ta" \
		"http://127.0.0.1:$LPORT/v1/sandboxes" -d '{"image":"host","net":{"mode":"internet","ports":[8090]},
		"cmd":["python3","-c","import http.server as h\nclass E(h.BaseHTTPRequestHandler):\n    protocol_version = \"HTTP/1.1\"\n    def do_GET(self):\n        b = str(self.headers).encode()\n        self.send_response(200); self.send_header(\"Content-Length\", str(len(b))); self.end_headers(); self.wfile.write(b)\nh.HTTPServer((\"0.0.0.0\", 8090), E).serve_forever()"]}')
	[ "$CODE" = 201 ] || fail "create echo: $CODE $(cat "$TMPD/c")"
	local echo_host
	echo_host=8090-$(jget "$(cat "$TMPD/c")" 'j["id"]').sbx.localhost
	for _ in $(seq 100); do [[ "$(pget "$ta" "$echo_host" /)" == 200* ]] && break; sleep 0.05; done
	out=$("${H[@]}" curl -s -m 5 -H "Host: $echo_host" -H "X-Sbx-Token: $ta" -H "Authorization: Bearer $ta" \
		"http://127.0.0.1:$LPORT/a" "http://127.0.0.1:$LPORT/b")
	assert_contains "$out" "X-Forwarded-For" "the echoed headers"
	[[ "$out" == *"$ta"* ]] && fail "a token reached the sandbox: $out"
	out=$("${H[@]}" curl -s -m 5 -H "Host: $echo_host" -H "X-Sbx-Token: $ta" "http://127.0.0.1:$LPORT/a")
	[[ "$out" == *"$ta"* || "$out" == *"X-Sbx-Token"* ]] && fail "X-Sbx-Token reached the sandbox: $out"
	# Made public: no token needed.
	api PUT "/v1/sandboxes/$id/network" -d '{"ports":[8080],"public":true}'
	[ "$CODE" = 200 ] || fail "PUT network: $CODE $BODY"
	assert_eq "$(pget - "$host" /index.html)" "200 hello-from-sandbox" "public, without a token"
	# A WebSocket, with and without the token (sbx port publishes its port).
	cat >"$TMPD/ws.py" <<'EOF'
import base64, hashlib, socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8765)); s.listen()
while True:
    c, _ = s.accept(); d = b""
    while b"\r\n\r\n" not in d:
        d += c.recv(4096)
    key = [l.split(b":", 1)[1].strip() for l in d.split(b"\r\n") if l.lower().startswith(b"sec-websocket-key")][0]
    acc = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acc + b"\r\n\r\n")
    h = c.recv(2); n = h[1] & 127; m = c.recv(4); p = c.recv(n)
    c.sendall(bytes([0x81, n]) + bytes(b ^ m[i % 4] for i, b in enumerate(p))); c.close()
EOF
	python3 -c 'import json, sys; print(json.dumps({"image": "host", "net": "internet", "cmd": ["python3", "-c", open(sys.argv[1]).read()]}))' \
		"$TMPD/ws.py" >"$TMPD/ws.json"
	CODE=$("${H[@]}" curl -s -o "$TMPD/c" -w '%{http_code}' -H "Authorization: Bearer $ta" \
		"http://127.0.0.1:$LPORT/v1/sandboxes" -d @"$TMPD/ws.json")
	[ "$CODE" = 201 ] || fail "create ws: $CODE $(cat "$TMPD/c")"
	ws=$(jget "$(cat "$TMPD/c")" 'j["id"]')
	out=$("$SBX" port "$ws" 8765) || fail "sbx port: $out"
	assert_eq "$out" "8765-$ws.sbx.localhost" "sbx port"
	for _ in $(seq 100); do [[ "$(ws_echo "$ta" "$out")" == echo* ]] && break; sleep 0.05; done
	assert_eq "$(ws_echo "$ta" "$out")" "echo: hello ws" "WebSocket with the token"
	assert_contains "$(ws_echo - "$out")" "401" "WebSocket without the token"
	# Plain TCP from the host, through the unix socket.
	"${H[@]}" "$SBX" port-forward "$id" 8080 18080 >"$TMPD/pf" 2>&1 &
	local pf=$!
	for _ in $(seq 100); do grep -q 127.0.0.1:18080 "$TMPD/pf" && break; sleep 0.05; done
	out=$("${H[@]}" curl -s -m 5 http://127.0.0.1:18080/index.html)
	kill "$pf"
	assert_eq "$out" hello-from-sandbox "port-forward"
	"$SBX" port-forward "$id" 9 19009 >"$TMPD/pf2" 2>&1 &
	pf=$!
	for _ in $(seq 100); do grep -q 127.0.0.1:19009 "$TMPD/pf2" && break; sleep 0.05; done
	out=$(curl -s -m 5 http://127.0.0.1:19009/ 2>&1; echo "rc=$?")
	kill "$pf"
	assert_contains "$(cat "$TMPD/pf2")" "nothing listens on that port" "port-forward to a closed port"
}

# The E2B surface's networking (tests/e2b/lab/network.mjs): internet by default, its
# allow and deny lists, no internet, and getHost on every port, public or with the
# sandbox's traffic token.
t_e2b_network_and_get_host() {
	local e2b
	e2b=$(cd "$HERE/../e2b" && pwd)
	command -v node >/dev/null || skip "node is not installed (tools/setup.sh installs it)"
	[ -d "$e2b/node_modules/e2b" ] || skip "the E2B SDK is not installed (make test runs npm ci in tests/e2b)"
	lab_up
	local ta
	ta=$("$B/sbxd" tenant add alice --state-dir "$TMPD/state") || fail "tenant alice"
	lab_sbxd --listen 127.0.0.1:0
	LPORT=$(lab_port)
	[ -n "$LPORT" ] || fail "no TCP listener"
	"${H[@]}" env E2B_API_URL="http://127.0.0.1:$LPORT" E2B_SANDBOX_URL="http://127.0.0.1:$LPORT" \
		E2B_API_KEY="$ta" SBX_SOCKET="$SBX_SOCKET" node "$e2b/run.mjs" e2b_network >"$TMPD/node.out" 2>&1 || { cat "$TMPD/node.out" >&2;
		fail "the E2B networking case"; }
}

t_checkpoint_restore_and_fork_get_addresses_of_their_own() {
	lab_up
	lab_sbxd
	need_criu
	cat >"$TMPD/hold.py" <<'EOF'
import socket, sys, time
o = socket.create_connection(("203.0.113.10", 9000))
print("ready", flush=True)
try:
    d = o.recv(1)
    print("outside connection ended", repr(d), flush=True)
except OSError as e:
    print("outside connection reset", e.errno, flush=True)
time.sleep(3600)
EOF
	python3 -c 'import json, sys; print(json.dumps({"image": "host", "cmd": ["python3", "-c", open(sys.argv[1]).read()],
		"net": {"mode": "internet", "allow_out": ["203.0.113.10", "a.test"]}}))' "$TMPD/hold.py" >"$TMPD/hold.json"
	api POST /v1/sandboxes -d @"$TMPD/hold.json"
	[ "$CODE" = 201 ] || fail "create: $CODE $BODY"
	local id old snap new addr
	id=$(jget "$BODY" 'j["id"]')
	old=$(jget "$BODY" 'j["address"]')
	wait_log "$id" ready
	api POST "/v1/sandboxes/$id/checkpoint" -d '{}'
	[ "$CODE" = 201 ] || fail "checkpoint: $CODE $BODY"
	snap=$(jget "$BODY" 'j["id"]')
	# The upstream end saw its connection end at the checkpoint.
	for _ in $(seq 40); do grep -q '^IN 0' "$TMPD/tcp.log" && break; sleep 0.05; done
	grep -q '^IN 0' "$TMPD/tcp.log" || fail "the outside connection was not reset: $(cat "$TMPD/tcp.log")"
	api POST "/v1/snapshots/$snap/restore" -d '{}'
	[ "$CODE" = 201 ] || fail "restore: $CODE $BODY"
	new=$(jget "$BODY" 'j["id"]')
	addr=$(jget "$BODY" 'j["address"]')
	[[ "$addr" == 10.200.* && "$addr" != "$old" ]] || fail "restored address $addr (was $old)"
	assert_eq "$(jget "$BODY" 'j["net"]["allow_out"]')" "['203.0.113.10', 'a.test']" "the policy it carried"
	wait_log "$new" "outside connection"
	expect_open "$new" 203.0.113.10:9000
	expect_refused "$new" 203.0.113.11:9000
	assert_eq "$(resolve "$new" a.test)" 203.0.113.10 "a.test through its new gateway"
	assert_contains "$("$SBX" exec "$new" -- cat /etc/resolv.conf)" "nameserver ${addr%.*}." "resolv.conf"
	# Forks: each its own address.
	api POST "/v1/sandboxes/$new/fork" -d '{"count":2}'
	[ "$CODE" = 201 ] || fail "fork: $CODE $BODY"
	local f1 f2 a1 a2
	f1=$(jget "$BODY" 'j["sandboxes"][0]')
	f2=$(jget "$BODY" 'j["sandboxes"][1]')
	api GET "/v1/sandboxes/$f1"
	a1=$(jget "$BODY" 'j["address"]')
	api GET "/v1/sandboxes/$f2"
	a2=$(jget "$BODY" 'j["address"]')
	[ "$a1" != "$a2" ] && [ "$a1" != "$addr" ] && [ "$a2" != "$addr" ] || fail "fork addresses: $a1 $a2 ($addr)"
	expect_open "$f1" 203.0.113.10:9000
	expect_refused "$f2" 203.0.113.11:9000
}

t_operator_exceptions_open_the_platform_deny_set() {
	lab_up
	lab_sbxd --net-allow 10.66.0.0/16:9000
	local id
	netbox
	id=$NB
	expect_open "$id" 10.66.0.1:9000
	expect_refused "$id" 10.66.0.1:80 169.254.169.254:9000
	# The tenant's own lists still apply.
	netbox '{"mode":"internet","deny_out":["10.66.0.0/16"]}'
	expect_refused "$NB" 10.66.0.1:9000
	netbox '{"mode":"internet","allow_out":["203.0.113.10"]}'
	expect_refused "$NB" 10.66.0.1:9000
	local out
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$B/sbxd" --net-allow 10.66.0.0/16:99999 2>&1)
	assert_contains "$out" "--net-allow 10.66.0.0/16:99999: the port must be 1-65535" "a bad --net-allow"
}

t_sbx_run_with_internet() {
	lab_up
	lab_sbxd
	local out rc
	out=$("${H[@]}" "$SBX" run --net internet --image host -- python3 -c '
import socket, sys
s = socket.create_connection((socket.gethostbyname("a.test"), 80), timeout=3); s.sendall(b"HTTP x")
print(s.recv(100).split(b"\r\n")[-1].decode()); sys.exit(3)')
	rc=$?
	assert_eq "$out $rc" "ok 3" "sbx run --net internet: output and status"
	out=$("${H[@]}" "$SBX" run --net internet --deny-out 203.0.113.10 --image host -- python3 -c '
import socket
try: socket.create_connection(("203.0.113.10", 80), timeout=3); print("open")
except ConnectionRefusedError: print("refused")')
	assert_eq "$out" refused "sbx run --deny-out"
	api GET /v1/sandboxes
	assert_eq "$(jget "$BODY" 'len([s for s in j["sandboxes"] if s["state"] != "exited"])')" 0 "sandboxes left running"
	out=$("$SBX" run --allow-out 203.0.113.10 -- true 2>&1)
	assert_contains "$out" "need --net internet" "--allow-out without --net internet"
}

t_uplink_forwards_only_to_sandboxes() {
	lab_up
	# Another network behind sbxd's namespace: 192.0.2.0/24, a host at .2.
	ip netns add "${LAB}o" || fail "netns"
	ip link add "${LAB}c" type veth peer name "${LAB}d" || fail "veth"
	ip link set "${LAB}c" netns "${LAB}h" && ip link set "${LAB}d" netns "${LAB}o" || fail "veth move"
	"${H[@]}" sh -ec "ip link set ${LAB}c up; ip addr add 192.0.2.1/24 dev ${LAB}c
		echo 1 >/proc/sys/net/ipv4/conf/${LAB}c/forwarding"
	nsenter --net="/run/netns/${LAB}o" sh -ec "ip link set lo up; ip link set ${LAB}d up
		ip addr add 192.0.2.2/24 dev ${LAB}d; ip route add default via 192.0.2.1"
	"${U[@]}" ip route add 192.0.2.0/24 via 198.51.100.2 || fail "route"
	trap 'cleanup; lab_down; for p in $(ip netns pids "${LAB}o"); do kill $p; done; ip netns del "${LAB}o" 2>/dev/null' EXIT
	nsenter --net="/run/netns/${LAB}o" python3 "$HERE/netlab.py" tcp 192.0.2.2 9000 /dev/null >"$TMPD/o.ready" &
	for _ in $(seq 100); do grep -q ready "$TMPD/o.ready" && break; sleep 0.05; done
	lab_sbxd
	# Sandboxes leave by the uplink only, not into the host's other networks.
	netbox
	expect_refused "$NB" 192.0.2.2:9000
	# The uplink's forwarding was off: sbxd turned it on, for its sandboxes only.
	local out
	out=$("${U[@]}" python3 -c '
import socket
s = socket.socket(); s.settimeout(1)
try: s.connect(("192.0.2.2", 9)); print("open")
except ConnectionRefusedError: print("reached")
except OSError: print("dropped")')
	assert_eq "$out" dropped "a packet from the uplink to another network of the host"
}

t_bad_network_requests_change_nothing() {
	lab_up
	lab_sbxd
	local before body
	before=$(lab_links)
	for body in '{"net":"intranet"}' '{"net":{"mode":"internet","allow_out":["::1"]}}' \
		'{"net":{"mode":"internet","allow_out":["300.1.1.1"]}}' \
		'{"net":{"mode":"internet","deny_out":["a..b"]}}' \
		'{"net":{"mode":"internet","deny_out":"203.0.113.10"}}' \
		'{"net":{"mode":"loopback"}}' '{"net":"internet","limits":{"net_rate":"fast"}}' \
		'{"net":"none","limits":{"net_rate":"1mbit"}}' \
		'{"net":{"mode":"internet","surprise":1}}'; do
		api POST /v1/sandboxes -d "$body"
		[ "$CODE" = 400 ] || fail "$body: $CODE $BODY"
		[ "$(jget "$BODY" 'j["error"]["message"].count(chr(10))')" = 0 ] || fail "not one line: $BODY"
	done
	assert_eq "$(lab_links)" "$before" "links after refused requests"
	local id
	netbox '"none"'
	id=$NB
	api PUT "/v1/sandboxes/$id/network" -d '{"deny_out":["203.0.113.10"]}'
	[ "$CODE" = 400 ] || fail "PUT network of a none sandbox: $CODE"
}

t_no_net_leaves_the_host_alone() {
	lab_up
	start_sbxd --images "$(sbxd_images)" --no-net
	local h
	h=$(curl -s --unix-socket "$SBX_SOCKET" http://x/v1/health)
	assert_eq "$(jget "$h" 'j["features"]["network"], j["network_off"]')" "(False, 'disabled by --no-net')" "health"
	api POST /v1/sandboxes -d '{"net":"internet"}'
	[ "$CODE" = 400 ] || fail "internet with --no-net: $CODE"
	assert_contains "$BODY" "off on this host" "the error"
	"${H[@]}" nft list tables | grep -q sbx && fail "a table was made"
	assert_eq "$("${H[@]}" cat /proc/sys/net/ipv4/conf/uplink0/forwarding)" 0 "uplink forwarding"
}

t_rate_limit_and_connection_cap() {
	lab_up
	lab_sbxd --net-max-conns 8
	local id out
	netbox '"internet"' '"limits":{"net_rate":"40mbit"}'
	id=$NB
	# 4 MB out: at 40 Mbit/s, 0.8 s.
	out=$("$SBX" exec "$id" -- python3 -c '
import socket, time
s = socket.create_connection(("203.0.113.10", 9000)); t = time.time()
s.sendall(b"x" * 4000000); s.shutdown(socket.SHUT_WR); s.recv(1); print(int(4000000 * 8 / (time.time() - t)))')
	python3 -c "import sys; r=$out; sys.exit(0 if 0.9*40e6 <= r <= 1.1*40e6 else 1)" ||
		fail "measured $out bit/s for a 40 Mbit/s limit"
	# Eight at once, then the ninth is refused.
	out=$("$SBX" exec "$id" -- python3 -c '
import socket
held = [socket.create_connection(("203.0.113.10", 9000), timeout=3) for _ in range(8)]
try: socket.create_connection(("203.0.113.10", 9000), timeout=3); print("open")
except ConnectionRefusedError: print("refused")')
	assert_eq "$out" refused "the ninth concurrent connection"
}

t_byte_counts_split_internet_and_local() {
	lab_up
	lab_sbxd
	local id resent
	netbox
	id=$NB
	# What TCP sent again is counted again (tcpi_bytes_retrans, read once all is acked).
	resent=$("$SBX" exec "$id" -- python3 -c '
import socket, struct, threading, time
s = socket.create_connection(("203.0.113.11", 9000)); s.sendall(b"x" * 1000000)
for _ in range(1000):
    info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 216)
    if struct.unpack_from("I", info, 24)[0] == 0:
        break
    time.sleep(0.01)
s.close()
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen()
def eat():
    c, _ = l.accept()
    while c.recv(65536): pass
t = threading.Thread(target=eat); t.start()
c = socket.create_connection(l.getsockname()); c.sendall(b"y" * 300000); c.close(); t.join()
print(struct.unpack_from("Q", info, 208)[0])') || fail "transfers"
	for _ in $(seq 40); do grep -q 'IN 1000000' "$TMPD/tcp.log" && break; sleep 0.05; done
	grep -q 'IN 1000000' "$TMPD/tcp.log" || fail "the server did not get 1000000 bytes: $(cat "$TMPD/tcp.log")"
	local tx txp ltx sent=$((1000000 + resent))
	tx=$(usage "$id" 'j["net"]["internet"]["tx_bytes"]')
	txp=$(usage "$id" 'j["net"]["internet"]["tx_packets"]')
	ltx=$(usage "$id" 'j["net"]["local"]["tx_bytes"]')
	# Payload (and what was sent again) plus IP and TCP headers, at most 80 bytes a packet.
	[ "$tx" -ge $sent ] && [ "$tx" -le $((sent + txp * 80)) ] ||
		fail "internet tx $tx in $txp packets for $sent bytes ($resent resent)"
	[ "$ltx" -ge 300000 ] && [ "$ltx" -le 400000 ] || fail "local tx $ltx"
}

t_lifecycle_leaves_nothing_behind() {
	lab_up
	lab_sbxd
	local ids=() id i
	for i in $(seq 200); do
		netbox '"internet"' '"limits":{"memory":"64M"}'
		ids+=("$NB")
	done
	[ "$(lab_marks)" = 200 ] || fail "marks: $(lab_marks)"
	expect_open "${ids[0]}" 203.0.113.10:80
	# A crash of sbxd in the middle: the sandboxes keep their network, and the next sbxd
	# takes it over.
	kill_sbxd
	# What no sandbox holds (a crash mid-launch, say) goes at the restart.
	"${H[@]}" nft add element inet sbx_test marks '{ 10.200.200.201 : 0x5b006464 }' || fail "nft"
	lab_sbxd
	[ "$(lab_marks)" = 200 ] || fail "marks after the restart: $(lab_marks)"
	expect_open "${ids[1]}" 203.0.113.10:80 a.test:80
	expect_refused "${ids[1]}" 169.254.169.254:80
	for id in "${ids[@]}"; do "$SBX" rm "$id" >/dev/null || fail "rm $id"; done
	# One exits by itself, one times out.
	api POST /v1/sandboxes -d '{"image":"host","net":"internet","cmd":["true"]}'
	id=$(jget "$BODY" 'j["id"]')
	wait_exit "$id" >/dev/null
	api POST /v1/sandboxes -d '{"image":"host","net":"internet","cmd":["sleep","60"],"limits":{"timeout":1}}'
	id=$(jget "$BODY" 'j["id"]')
	wait_exit "$id" >/dev/null
	assert_eq "$(lab_marks)" 0 "marks left"
	"${H[@]}" nft list set inet sbx_test deny | grep -q elements && fail "deny entries left"
	local left
	left=$("${H[@]}" ip -o link | grep -c 's[0-9a-f]\{5\}_[0-9]*p\?@')
	# The pairs made ahead (4) are all that stays; none is held by a sandbox.
	[ "$left" -le 8 ] || fail "$left links left"
	"${H[@]}" ip -o addr | grep -q ' eth0 ' && fail "a sandbox end left"
	local ct
	# Sandboxes' connections carry the marks 0x5b000000 + pair.
	ct=$("${H[@]}" cat /proc/net/nf_conntrack 2>/dev/null |
		awk -F'mark=' 'NF > 1 { split($2, a, " "); if (a[1] >= 1526726656 && a[1] < 1526792192) n++ } END { print n + 0 }')
	assert_eq "$ct" 0 "conntrack entries of sandboxes"
	# A clean stop with no networked sandbox left puts the host back as it was.
	stop_sbxd
	"${H[@]}" nft list tables | grep -q sbx_test && fail "the table stayed after sbxd stopped"
	assert_eq "$("${H[@]}" cat /proc/sys/net/ipv4/conf/uplink0/forwarding)" 0 "the uplink's forwarding"
}

source "$(dirname "$0")/lib.sh"
