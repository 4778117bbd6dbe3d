#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# sbxd end to end: a real daemon started by each case, driven through sbx and curl.

t_quickstart() {
	start_sbxd
	local id
	id=$("$SBX" create --image base --memory 128M --timeout 10m) || fail "create"
	run_sbx exec "$id" -- sh -c 'echo hi; echo err >&2; exit 4'
	assert_eq "$RC" 4 "exec exit code"
	assert_eq "$OUT" hi "exec stdout"
	assert_eq "$ERR" err "exec stderr"
	echo data | "$SBX" cp - "$id:/tmp/in.txt" || fail "cp in"
	assert_eq "$("$SBX" cp "$id:/tmp/in.txt" -)" data "cp out"
	run_sbx ls
	assert_contains "$OUT" "$id" "ls"
	assert_contains "$OUT" running "ls state"
	run_sbx inspect "$id"
	assert_eq "$(jget "$OUT" 'j["limits"]["memory_bytes"]')" 134217728 "inspect memory"
	api GET /v1/sandboxes
	assert_eq "$CODE" 200 "curl list"
	assert_contains "$BODY" "\"$id\"" "curl list"
	run_sbx rm "$id"
	assert_eq "$RC" 0 "rm"
	run_sbx inspect "$id"
	assert_eq "$RC" 125 "inspect after rm"
	assert_contains "$ERR" "no sandbox $id" "inspect after rm"
}

t_stream_order() {
	start_sbxd
	local id
	id=$("$SBX" create --image base) || fail "create"
	api POST "/v1/sandboxes/$id/exec?stream=1" \
		-d '{"cmd":["sh","-c","echo 1; sleep 0.1; echo 2 >&2; sleep 0.1; echo 3; exit 9"]}'
	assert_eq "$CODE" 200 "stream status"
	local types
	types=$(echo "$BODY" | python3 -c 'import json,sys
for l in sys.stdin:
    e=json.loads(l); print(e["type"], e.get("data","").strip() if "data" in e else e.get("exit_code",""))')
	assert_eq "$(echo "$types" | tr '\n' ' ')" "start  stdout 1 stderr 2 stdout 3 exit 9 " "event order"
	# The JSON form keeps the two streams apart.
	api POST "/v1/sandboxes/$id/exec" -d '{"cmd":["sh","-c","echo o; echo e >&2; exit 3"]}'
	assert_eq "$(jget "$BODY" 'j["exit_code"], j["stdout"], j["stderr"]')" "(3, 'o\n', 'e\n')" "json exec"
	# Signals: 128+N.
	run_sbx exec "$id" -- sh -c 'kill -TERM $$'
	assert_eq "$RC" 143 "killed by SIGTERM"
	run_sbx exec "$id" nosuchcommand
	assert_eq "$RC" 127 "not found"
	assert_contains "$ERR" "command not found" "not found message"
	run_sbx exec "$id" /etc
	assert_eq "$RC" 126 "not executable"
}

# A workload that ends before sbxd has connected to the sandbox (`true`) is a launch
# like any other: created (201), then exited with its code; never a failed create.
t_short_lived() {
	start_sbxd
	local ids=() id i
	for i in $(seq 40); do
		api POST /v1/sandboxes -d "{\"image\":\"base\",\"cmd\":[\"sh\",\"-c\",\"exit $((i % 3))\"]}"
		assert_eq "$CODE" 201 "create of a short workload ($BODY)"
		ids+=("$(jget "$BODY" 'j["id"]')")
	done
	i=1
	for id in "${ids[@]}"; do
		assert_eq "$(wait_exit "$id")" $((i % 3)) "exit code of short workload $i"
		i=$((i + 1))
	done
}

# A reader that takes a download in bursts with pauses longer than the grace a command's
# last output gets: the file arrives whole (reading waits while the reader does).
t_slow_reader() {
	start_sbxd
	local id
	id=$("$SBX" create --image base) || fail create
	head -c $((3 << 20)) /dev/urandom >"$TMPD/big"
	"$SBX" cp "$TMPD/big" "$id:/tmp/big" || fail "cp in"
	local want got
	want=$(sha256sum <"$TMPD/big" | cut -d' ' -f1)
	got=$(python3 - "$SBX_SOCKET" "$id" <<'PY'
import hashlib, socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(f"GET /v1/sandboxes/{sys.argv[2]}/files?path=/tmp/big HTTP/1.1\r\nHost: x\r\n\r\n".encode())
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(65536)
head, body = buf.split(b"\r\n\r\n", 1)
n = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
h = hashlib.sha256(body); got = len(body); burst = got
s.settimeout(5)
while got < n:
    d = s.recv(min(65536, n - got))
    if not d:
        break
    h.update(d); got += len(d); burst += len(d)
    if burst >= 192 << 10:
        time.sleep(0.3); burst = 0
print(h.hexdigest() if got == n else f"short: {got} of {n}")
PY
)
	assert_eq "$got" "$want" "a download taken in bursts"
}

t_stdin() {
	start_sbxd
	local id
	id=$("$SBX" create --image base) || fail "create"
	head -c 1048576 /dev/urandom >"$TMPD/in.bin"
	local want got
	want=$(sha256sum <"$TMPD/in.bin" | cut -d' ' -f1)
	got=$("$SBX" exec -i "$id" -- sha256sum <"$TMPD/in.bin" | cut -d' ' -f1)
	assert_eq "$got" "$want" "binary stdin through exec -i"
	# Binary output comes back byte for byte.
	got=$("$SBX" exec -i "$id" -- cat <"$TMPD/in.bin" | sha256sum | cut -d' ' -f1)
	assert_eq "$got" "$want" "binary stdout"
	api POST "/v1/sandboxes/$id/exec" -d '{"cmd":["cat"],"stdin":"line one\nline two\n"}'
	assert_eq "$(jget "$BODY" 'repr(j["stdout"])')" "'line one\\nline two\\n'" "JSON stdin"
	# Without -i a command reading stdin sees EOF at once.
	run_sbx exec "$id" -- cat
	assert_eq "$RC$OUT" 0 "no stdin"
}

t_concurrent_execs() {
	start_sbxd
	local id pids=()
	id=$("$SBX" create --image base --pids 512) || fail "create"
	for i in $(seq 40); do
		("$SBX" exec "$id" -- sh -c "sleep 0.2; echo out-$i; exit $((i % 7))" >"$TMPD/o.$i" 2>&1
			echo $? >"$TMPD/rc.$i") &
		pids+=($!)
	done
	wait "${pids[@]}"
	for i in $(seq 40); do
		assert_eq "$(cat "$TMPD/o.$i")" "out-$i" "exec $i output"
		assert_eq "$(cat "$TMPD/rc.$i")" "$((i % 7))" "exec $i status"
	done
}

t_files() {
	start_sbxd
	local id
	id=$("$SBX" create --image base) || fail "create"
	head -c 1000003 /dev/urandom >"$TMPD/bin"
	"$SBX" cp "$TMPD/bin" "$id:/tmp/bin" || fail "cp binary in"
	"$SBX" cp "$id:/tmp/bin" "$TMPD/bin.back" || fail "cp binary out"
	cmp "$TMPD/bin" "$TMPD/bin.back" || fail "binary round trip differs"
	assert_eq "$("$SBX" exec "$id" -- sh -c 'wc -c </tmp/bin')" 1000003 "size inside"
	# 50 MiB, into the writable layer over the image.
	head -c 52428800 /dev/urandom >"$TMPD/big"
	"$SBX" cp "$TMPD/big" "$id:/big" || fail "cp 50 MiB in"
	"$SBX" cp "$id:/big" "$TMPD/big.back" || fail "cp 50 MiB out"
	cmp "$TMPD/big" "$TMPD/big.back" || fail "50 MiB round trip differs"
	api DELETE "/v1/sandboxes/$id/files?path=/big"
	assert_eq "$CODE" 200 "delete file"
	api GET "/v1/sandboxes/$id/files?path=/big"
	assert_eq "$CODE" 404 "deleted file"
	api GET "/v1/sandboxes/$id/files?path=/tmp"
	assert_eq "$CODE" 400 "directory"
	api PUT "/v1/sandboxes/$id/files?path=/nodir/x" --data-binary x
	assert_eq "$CODE" 404 "missing parent"
	api PUT "/v1/sandboxes/$id/files?path=relative" --data-binary x
	assert_eq "$CODE" 400 "relative path"
	# Files belong to the sandbox's user.
	local u
	u=$("$SBX" create --image base --user 1000:1000 --user-ns) || fail "create userns"
	echo hi | "$SBX" cp - "$u:/tmp/mine" || fail "cp into user-ns sandbox"
	assert_eq "$("$SBX" exec "$u" -- stat -c %u:%g /tmp/mine)" 1000:1000 "owner inside"
	"$SBX" exec "$u" -- sh -c 'echo more >>/tmp/mine' || fail "the sandbox's user can write it"
}

t_file_escapes() {
	start_sbxd
	local id secret=$TMPD/host-secret
	echo TOPSECRET >"$secret"
	id=$("$SBX" create --image base) || fail "create"
	"$SBX" exec "$id" -- sh -c "mkdir -p $(dirname "$secret") &&
		ln -s / /tmp/rootlink && ln -s $secret /tmp/abs && ln -s ../../../../../../$secret /tmp/rel &&
		ln -s /proc/1/root /tmp/magic && ln -s /etc /tmp/etclink" || fail "make links"
	for p in "/../../../..$secret" "$secret" /tmp/abs /tmp/rel "/tmp/rootlink$secret" \
		"/tmp/magic$secret" /proc/self/root/etc/passwd /proc/1/environ; do
		api GET "/v1/sandboxes/$id/files?path=$p"
		assert_not_contains "$BODY" TOPSECRET "GET $p"
		[ "$CODE" = 200 ] && fail "GET $p answered 200: $BODY"
	done
	api GET "/v1/sandboxes/$id/files?path=/dev/zero"
	assert_eq "$CODE" 403 "device node"
	api PUT "/v1/sandboxes/$id/files?path=/proc/sys/kernel/hostname" --data-binary x
	assert_eq "$CODE" 403 "procfs"
	# Writes through links land inside the sandbox, never on the host.
	api PUT "/v1/sandboxes/$id/files?path=/tmp/etclink/sbx-escape-test" --data-binary pwned
	[ -e /etc/sbx-escape-test ] && { rm -f /etc/sbx-escape-test; fail "PUT escaped to the host"; }
	api PUT "/v1/sandboxes/$id/files?path=/tmp/rootlink$TMPD/escaped" --data-binary pwned
	[ -e "$TMPD/escaped" ] && fail "PUT through a root link escaped"
	# An existing device node is replaced, never opened for writing.
	"$SBX" exec "$id" -- sh -c 'mkfifo /tmp/fifo' || fail mkfifo
	api PUT "/v1/sandboxes/$id/files?path=/tmp/fifo" --data-binary data --max-time 5
	assert_eq "$CODE" 200 "PUT over a FIFO"
	assert_eq "$("$SBX" exec "$id" -- cat /tmp/fifo)" data "FIFO replaced by the file"
	# A race: a directory and a symlink to / swap places under the walk.
	"$SBX" exec "$id" -- sh -c 'mkdir -p /tmp/d/etc && echo inside >/tmp/d/etc/f' || fail prep
	"$SBX" exec "$id" -- sh -c 'end=$(($(date +%s)+2)); while [ $(date +%s) -lt $end ]; do
		mv /tmp/d /tmp/dd; ln -s / /tmp/d; rm /tmp/d; mv /tmp/dd /tmp/d; done' &
	local racer=$! hits=0
	for _ in $(seq 150); do
		api GET "/v1/sandboxes/$id/files?path=/tmp/d/etc/f"
		[ "$CODE" = 200 ] && { assert_eq "$BODY" inside "race read"; hits=$((hits + 1)); }
		api GET "/v1/sandboxes/$id/files?path=/tmp/d$secret"
		assert_not_contains "$BODY" TOPSECRET "race escape"
	done
	wait $racer
	echo "race: $hits of 150 reads found the directory"
}

t_timeouts() {
	start_sbxd
	local a b c
	a=$("$SBX" create --image base --timeout 1s) || fail "create a"
	b=$("$SBX" create --image base --idle-timeout 1s) || fail "create b"
	c=$("$SBX" create --image base --timeout 1s) || fail "create c"
	api POST "/v1/sandboxes/$c/timeout" -d '{"timeout":"1m"}'
	assert_eq "$CODE" 200 "extend timeout"
	"$SBX" exec "$b" -- sleep 0.5 # activity postpones the idle timeout
	sleep 1.6
	run_sbx inspect "$a"
	assert_eq "$(jget "$OUT" 'j["state"], j["exit_code"], j["reason"]')" "('exited', 124, 'timeout')" "wall timeout"
	run_sbx inspect "$b"
	assert_eq "$(jget "$OUT" 'j["state"], j["reason"]')" "('exited', 'idle_timeout')" "idle timeout"
	run_sbx inspect "$c"
	assert_eq "$(jget "$OUT" 'j["state"]')" running "extended timeout"
	run_sbx exec --timeout 500ms "$c" -- sleep 10
	assert_eq "$RC" 124 "exec timeout"
	run_sbx exec "$a" -- true
	assert_eq "$RC" 125 "exec in an exited sandbox"
	assert_contains "$ERR" "is exited" "exec in an exited sandbox"
	api POST "/v1/sandboxes/$c/timeout" -d '{"timeout":0}'
	assert_eq "$CODE" 400 "zero timeout"
}

t_tenants() {
	local port=$((20000 + RANDOM % 20000)) ta tb
	ta=$("$B/sbxd" tenant add alice --state-dir "$TMPD/state") || fail "tenant add"
	tb=$("$B/sbxd" tenant add bob --state-dir "$TMPD/state") || fail "tenant add"
	run_sbx_d() { "$B/sbxd" "$@" >"$TMPD/out" 2>"$TMPD/err"; RC=$?; ERR=$(cat "$TMPD/err"); }
	run_sbx_d tenant add alice --state-dir "$TMPD/state"
	assert_eq "$RC" 1 "duplicate tenant"
	assert_contains "$ERR" "exists already" "duplicate tenant"
	run_sbx_d tenant add admin --state-dir "$TMPD/state"
	assert_eq "$RC" 1 "reserved name"
	sqlite3 "$TMPD/state/sbx.db" 'select token_sha256 from tenants' | grep -q "${ta#sbx_}" &&
		fail "token stored in the clear"
	start_sbxd --listen "127.0.0.1:$port"
	local U="http://127.0.0.1:$port"
	tcp() { BODY=$(curl -s -o "$TMPD/body" -w '%{http_code}' "$@"); CODE=$BODY; BODY=$(cat "$TMPD/body"); }
	tcp "$U/v1/sandboxes"
	assert_eq "$CODE" 401 "no token"
	tcp -H "Authorization: Bearer sbx_wrong" "$U/v1/sandboxes"
	assert_eq "$CODE" 401 "wrong token"
	tcp -H "Authorization: Bearer $ta" -X POST "$U/v1/sandboxes" -d '{"image":"base"}'
	assert_eq "$CODE" 201 "alice creates"
	local id
	id=$(jget "$BODY" 'j["id"]')
	assert_eq "$(jget "$BODY" 'j["tenant"]')" alice "owner"
	for req in "GET /v1/sandboxes/$id" "DELETE /v1/sandboxes/$id" "POST /v1/sandboxes/$id/exec" \
		"GET /v1/sandboxes/$id/files?path=/etc/passwd" "POST /v1/sandboxes/$id/timeout" \
		"GET /v1/sandboxes/$id/logs"; do
		tcp -H "Authorization: Bearer $tb" -X "${req%% *}" "$U${req#* }" -d '{"cmd":["true"],"timeout":5}'
		assert_eq "$CODE" 404 "bob: $req"
	done
	tcp -H "Authorization: Bearer $tb" "$U/v1/sandboxes"
	assert_eq "$(jget "$BODY" 'len(j["sandboxes"])')" 0 "bob sees none"
	tcp -H "Authorization: Bearer $ta" "$U/v1/sandboxes"
	assert_eq "$(jget "$BODY" 'len(j["sandboxes"])')" 1 "alice sees hers"
	tcp -H "Authorization: Bearer $ta" -X POST "$U/v1/sandboxes/$id/exec" -d '{"cmd":["echo","hi"]}'
	assert_eq "$(jget "$BODY" 'j["stdout"]')" hi "alice execs"
	# The unix socket is the admin: it sees every tenant's sandboxes.
	run_sbx ls
	assert_contains "$OUT" "$id" "admin sees alice's"
	# A token over the unix socket acts as that tenant.
	SBX_TOKEN=$tb run_sbx inspect "$id"
	assert_eq "$RC" 125 "bob over the unix socket"
	tcp -H "Authorization: Bearer $ta" -X DELETE "$U/v1/sandboxes/$id"
	assert_eq "$CODE" 200 "alice deletes"
}

t_errors() {
	start_sbxd --max-sandboxes 2 --max-file 1M
	api GET /v1/sandboxes/nosuchid
	assert_eq "$CODE" 404 "unknown id"
	assert_eq "$(jget "$BODY" 'j["error"]["code"]')" not_found "error shape"
	api GET /nowhere
	assert_eq "$CODE" 404 "unknown path"
	api PATCH /v1/sandboxes
	assert_eq "$CODE" 405 "method"
	local a b
	a=$("$SBX" create --image base) || fail create
	b=$("$SBX" create --image base -- sleep 0.5) || fail create
	api POST /v1/sandboxes -d '{"image":"base"}'
	assert_eq "$CODE" 429 "capacity"
	assert_contains "$BODY" "maximum of 2 sandboxes" "capacity message"
	sleep 0.8
	api POST "/v1/sandboxes/$b/exec" -d '{"cmd":["true"]}'
	assert_eq "$CODE" 409 "exec in an exited sandbox"
	head -c 1100000 /dev/zero >"$TMPD/big"
	api PUT "/v1/sandboxes/$a/files?path=/tmp/big" --data-binary @"$TMPD/big"
	assert_eq "$CODE" 413 "file over the limit"
	head -c 2200000 /dev/zero >"$TMPD/huge"
	api PUT "/v1/sandboxes/$a/files?path=/tmp/big" --data-binary @"$TMPD/huge"
	assert_eq "$CODE" 413 "body over the limit"
	api POST /v1/sandboxes -d '{"image":"nosuch"}'
	assert_eq "$CODE" 400 "unknown image"
	assert_contains "$BODY" "image" "unknown image message"
	api POST /v1/sandboxes -d '{"image":"base","workdir":"/nonexistent"}'
	assert_eq "$CODE" 400 "bad workdir"
	assert_contains "$BODY" "workdir" "bad workdir message"
	run_sbx ls --json
	assert_eq "$(jget "$OUT" 'sorted(s["state"] for s in j)')" "['exited', 'running']" "failed creates leave nothing"
}

t_malformed() {
	start_sbxd
	local id before
	id=$("$SBX" create --image base) || fail create
	before=$(curl -s --unix-socket "$SBX_SOCKET" http://x/v1/sandboxes)
	raw() { printf "$1" | rawhttp | head -1 | tr -d '\r'; }
	assert_contains "$(raw 'GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n')" "200" "raw request works"
	assert_contains "$(raw 'POST /v1/sandboxes HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"ima')" "" "truncated body"
	assert_contains "$(raw 'GARBAGE\r\n\r\n')" "501" "unknown method"
	assert_contains "$(raw 'GET /v1/health HTTP/1.1\r\nno colon here\r\n\r\n')" "400" "bad header line"
	assert_contains "$(raw "GET /v1/health HTTP/1.1\r\nX: $(head -c 20000 /dev/zero | tr '\0' a)\r\n\r\n")" "431" "oversized headers"
	assert_contains "$(raw 'POST /v1/sandboxes HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nxx\r\n0\r\n\r\n')" "400" "bad chunking"
	assert_contains "$(raw 'POST /v1/sandboxes HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"ima\r\n8\r\nge":"bas\r\n3\r\ne"}\r\n0\r\n\r\n')" "201" "good chunking"
	for body in '{"image":' 'not json' '[]' '{"image":5}' '{"cmd":"sh"}' '{"limits":{"memory":"lots"}}' \
		'{"limits":{"cpus":-1}}' '{"limits":{"cpus":0.005}}' '{"unknown":1}' '{"env":{"A":1}}' '{"net":"host"}' '{"seccomp":"/etc/x"}' \
		'{"gpus":["0"]}' '{"image":"../../etc"}'; do
		api POST /v1/sandboxes -d "$body"
		assert_eq "$CODE" 400 "create $body"
		assert_contains "$BODY" '"bad_request"' "create $body"
	done
	for body in '{}' '{"cmd":[]}' '{"cmd":["x"],"timeout":"soon"}' '{"cmd":["x"],"stdin_b64":"!!"}' '{"cmd":["x"],"bogus":1}'; do
		api POST "/v1/sandboxes/$id/exec" -d "$body"
		assert_eq "$CODE" 400 "exec $body"
	done
	# Pipelined requests are answered in order on one connection.
	local out
	out=$(printf 'GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/sandboxes/nope HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' |
		rawhttp | grep -a '^HTTP/1.1' | tr -d '\r' | tr '\n' ' ')
	assert_eq "$out" "HTTP/1.1 200 OK HTTP/1.1 404 Not Found HTTP/1.1 200 OK " "pipelining"
	# Behind requests answered later (a command, a create): each in its turn.
	local ex='{"cmd":["sh","-c","sleep 0.2; echo hi"]}'
	out=$(printf 'POST /v1/sandboxes/%s/exec HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%sPOST /v1/sandboxes HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\n\r\n{"image":"base"}GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' \
		"$id" ${#ex} "$ex" | rawhttp | grep -a '^HTTP/1.1' | tr -d '\r' | tr '\n' ' ')
	assert_eq "$out" "HTTP/1.1 200 OK HTTP/1.1 201 Created HTTP/1.1 200 OK " "pipelined behind later answers"
	kill -0 "$SBXD_PID" || fail "sbxd died"
	local after
	after=$(curl -s --unix-socket "$SBX_SOCKET" http://x/v1/sandboxes)
	# Only the well-formed chunked create (and the pipelined one) added a sandbox.
	assert_eq "$(jget "$after" 'len(j["sandboxes"])')" 3 "state after malformed input"
	assert_eq "$(jget "$before" 'len(j["sandboxes"])')" 1 "state before"
}

t_many_clients() {
	start_sbxd
	local id pids=()
	id=$("$SBX" create --image base) || fail create
	for i in $(seq 200); do
		curl -s -o /dev/null -w '%{http_code}\n' --unix-socket "$SBX_SOCKET" "http://x/v1/sandboxes/$id" >"$TMPD/c.$i" &
		pids+=($!)
	done
	wait "${pids[@]}"
	local ok
	ok=$(cat "$TMPD"/c.* | grep -c '^200$')
	assert_eq "$ok" 200 "200 concurrent clients answered"
	# And 20 concurrent creates and deletes.
	pids=()
	for i in $(seq 20); do
		(x=$("$SBX" create --image base) && "$SBX" exec "$x" -- echo "$i" && "$SBX" rm "$x" >/dev/null) >"$TMPD/l.$i" 2>&1 &
		pids+=($!)
	done
	wait "${pids[@]}"
	for i in $(seq 20); do assert_eq "$(cat "$TMPD/l.$i")" "$i" "lifecycle $i"; done
	run_sbx ls --json
	assert_eq "$(jget "$OUT" 'len(j)')" 1 "only the first is left"
}

t_restart() {
	start_sbxd
	local idle work timed
	idle=$("$SBX" create --image base --label keep=yes --env A=1) || fail create
	local env_before
	env_before=$("$SBX" exec --env B=2 "$idle" -- env | sort)
	work=$("$SBX" create --image base -- sh -c 'echo started; sleep 1; echo finished; exit 7') || fail create
	timed=$("$SBX" create --image base --timeout 2s) || fail create
	echo before | "$SBX" cp - "$idle:/tmp/f" || fail cp
	kill_sbxd
	sleep 2.5 # the workload finishes and the deadline passes while sbxd is away
	start_sbxd
	run_sbx exec "$idle" -- cat /tmp/f
	assert_eq "$RC:$OUT" "0:before" "exec in a re-adopted sandbox"
	echo after | "$SBX" cp - "$idle:/tmp/g" || fail "files in a re-adopted sandbox"
	# A command's environment starts from the sandbox's, as before the restart.
	assert_eq "$("$SBX" exec --env B=2 "$idle" -- env | sort)" "$env_before" "env after the restart"
	assert_contains "$env_before" "A=1" "the sandbox's env"
	assert_contains "$env_before" "HOSTNAME=$idle" "the default env"
	run_sbx inspect "$idle"
	assert_eq "$(jget "$OUT" 'j["state"], j["labels"]')" "('running', {'keep': 'yes'})" "re-adopted record"
	run_sbx inspect "$work"
	assert_eq "$(jget "$OUT" 'j["state"], j["exit_code"]')" "('exited', 7)" "exit status kept across the restart"
	assert_eq "$("$SBX" logs "$work")" "started
finished" "logs across the restart"
	sleep 0.2
	run_sbx inspect "$timed"
	assert_eq "$(jget "$OUT" 'j["state"], j["reason"]')" "('exited', 'timeout')" "timeout fires after the restart"
	local pid
	pid=$(jget "$OUT" 'j["pid"]')
	run_sbx rm "$idle"
	assert_eq "$RC" 0 "delete a re-adopted sandbox"
	[ "$(ps -o stat= -p "$pid" | cut -c1)" = Z ] || ! kill -0 "$pid" 2>/dev/null || fail "still running after rm"
}

t_sigterm() {
	start_sbxd
	local id pid
	id=$("$SBX" create --image base) || fail create
	pid=$(jget "$("$SBX" inspect "$id")" 'j["pid"]')
	"$SBX" exec "$id" -- sh -c 'sleep 0.7; echo finished' >"$TMPD/exec.out" &
	local ex=$!
	sleep 0.3
	kill -TERM "$SBXD_PID"
	wait $ex
	assert_eq "$(cat "$TMPD/exec.out")" finished "the request in flight is finished"
	wait "$SBXD_PID"
	assert_eq "$?" 0 "sbxd exit status"
	SBXD_PID=
	[ -S "$SBX_SOCKET" ] && fail "socket left behind"
	kill -0 "$pid" || fail "the sandbox stopped with sbxd"
	start_sbxd
	run_sbx exec "$id" -- echo back
	assert_eq "$OUT" back "served again after the restart"
	# --kill-on-exit stops them.
	stop_sbxd
	start_sbxd --kill-on-exit
	id=$("$SBX" create --image base) || fail create
	pid=$(jget "$("$SBX" inspect "$id")" 'j["pid"]')
	kill -TERM "$SBXD_PID"
	wait "$SBXD_PID"
	SBXD_PID=
	[ "$(ps -o stat= -p "$pid" | cut -c1)" = Z ] || ! kill -0 "$pid" 2>/dev/null || fail "--kill-on-exit left it running"
}

t_exec_restrictions() {
	start_sbxd
	local id
	id=$("$SBX" create --image base -- sleep 1000) || fail create
	local w e
	# The workload (pid 2 in the sandbox) and an exec'd command: the same restrictions.
	e=$("$SBX" exec "$id" -- sh -c 'grep -E "^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):" /proc/self/status')
	w=$("$SBX" exec "$id" -- sh -c 'grep -E "^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):" /proc/2/status')
	assert_eq "$e" "$w" "status of exec vs workload"
	assert_contains "$e" "CapEff:	0000000000000000" "no capabilities"
	assert_contains "$e" "NoNewPrivs:	1" "no new privileges"
	assert_contains "$e" "Seccomp:	2" "seccomp"
	for ns in cgroup ipc mnt net pid time user uts; do
		assert_eq "$("$SBX" exec "$id" -- readlink /proc/self/ns/$ns)" \
			"$("$SBX" exec "$id" -- readlink /proc/2/ns/$ns)" "namespace $ns"
	done
	assert_eq "$("$SBX" exec "$id" -- cat /proc/self/cgroup)" "$("$SBX" exec "$id" -- cat /proc/2/cgroup)" "cgroup"
	run_sbx exec "$id" -- sh -c 'mount -t tmpfs x /mnt'
	assert_eq "$RC" 1 "mount refused"
	run_sbx exec "$id" -- sh -c 'kill -9 1; echo alive'
	assert_eq "$OUT" alive "init survives"
	# The host's daemon socket and state are not visible inside.
	run_sbx exec "$id" -- sh -c "ls $SBX_SOCKET $TMPD/state /run/sbx 2>&1"
	assert_contains "$OUT" "No such file" "host paths hidden"
	"$SBX" rm "$id" >/dev/null
	# sbx-init's control socket is an abstract name in the sandbox's network namespace:
	# reachable from inside, it serves only the host.
	start_sbxd_again_with_helpers
	id=$("$SBX" create --image helpers -- sleep 1000) || fail create
	run_sbx exec "$id" -- /t/ctl-probe
	assert_eq "$RC" 0 "ctl-probe exit"
	assert_contains "$OUT" "refused" "control socket from inside"
	run_sbx exec "$id" -- sh -c 'ls /tmp/pwned 2>&1'
	assert_contains "$OUT" "No such file" "nothing ran"
	run_sbx exec "$id" -- echo still
	assert_eq "$OUT" still "the channel still serves the host"
}

start_sbxd_again_with_helpers() {
	stop_sbxd
	start_sbxd --images "$(sbxd_images)"
}

t_delete_cleans() {
	local base
	base=$(leftovers)
	start_sbxd
	local ids=() id
	for _ in 1 2 3; do ids+=("$("$SBX" create --image base --memory 64M --pids 32)") || fail create; done
	"$SBX" exec "${ids[0]}" -- sh -c 'sleep 100 & sleep 100 & echo x >/tmp/x' || fail exec
	id=$("$SBX" create --image base -- true) || fail create
	sleep 0.3
	"$SBX" rm "${ids[@]}" "$id" >/dev/null || fail rm
	for x in "${ids[@]}" "$id"; do
		[ -e "$TMPD/state/sandboxes/$x" ] && fail "state of $x left"
	done
	sleep 0.2
	assert_eq "$(leftovers)" "$base" "cgroups, mounts and processes after rm"
	# The record stays in the database, as removed.
	assert_eq "$(sqlite3 "$TMPD/state/sbx.db" "select state from sandboxes where id='${ids[0]}'")" removed "db record"
}

# sbxd --warm N: sandboxes of the plain request started ahead, owned by no tenant, never
# timed out or billed while they wait. A create that asks for nothing more takes one: it
# becomes its tenant's, and its clock, timeout and bill start then. Any other request is
# launched. Nothing of the pool outlives sbxd, stopped or killed.
t_warm() {
	local port=$((20000 + RANDOM % 20000)) ta tb
	ta=$("$B/sbxd" tenant add alice --state-dir "$TMPD/state") || fail "tenant add"
	tb=$("$B/sbxd" tenant add bob --state-dir "$TMPD/state") || fail "tenant add"
	start_sbxd --listen "127.0.0.1:$port" --warm 2 --default-timeout 2s
	local U="http://127.0.0.1:$port"
	tcp() { BODY=$(curl -s -o "$TMPD/body" -w '%{http_code}' "$@"); CODE=$BODY; BODY=$(cat "$TMPD/body"); }
	warm_ready() {
		for _ in $(seq 200); do
			api GET /v1/health
			[ "$(jget "$BODY" 'j.get("warm", {}).get("ready")')" = "$1" ] && return 0
			sleep 0.05
		done
		fail "the pool did not reach $1 ready: $BODY"
	}
	pool() {
		api GET /v1/sandboxes
		jget "$BODY" '" ".join(sorted(s["id"] for s in j["sandboxes"] if s.get("pooled") and s["tenant"] == "sbx.warm" and s["state"] == "running"))'
	}
	warm_ready 2
	local pooled id cold pid
	pooled=$(pool)
	assert_eq "$(wc -w <<<"$pooled")" 2 "two pooled sandboxes: $BODY"
	assert_eq "$(live_inits)" 2 "the pool's sbx-init processes"
	for id in $pooled; do
		inst_cgroups | grep -q "/$id\$" || fail "no cgroup of $id"
	done
	tcp -H "Authorization: Bearer $tb" "$U/v1/sandboxes"
	assert_eq "$(jget "$BODY" 'len(j["sandboxes"])')" 0 "a tenant sees none of the pool"
	# One an admin ran a command in is not taken as it is: it stops and is replaced.
	local used=${pooled%% *}
	run_sbx exec "$used" -- sleep 0.3 # longer than a tick: it is not stopped under the command
	assert_eq "$RC" 0 "an admin's command in a waiting one"
	api POST "/v1/sandboxes/${pooled##* }/checkpoint" -d '{}'
	assert_eq "$CODE" 409 "a checkpoint of a waiting one: $BODY"
	for _ in $(seq 100); do [[ " $(pool) " == *" $used "* ]] || break; sleep 0.05; done
	[[ " $(pool) " == *" $used "* ]] && fail "$used was used and is still in the pool"
	run_sbx inspect "$used"
	assert_eq "$(jget "$OUT" 'j["state"]')" exited "the used one stopped"
	sleep 5 # a replacement waits a little after one ended
	warm_ready 2
	pooled=$(pool)
	sleep 2.5 # past --default-timeout: the waiting ones run on
	assert_eq "$(pool)" "$pooled" "the pool after its sandboxes' default timeout"

	# Alice's plain create takes one, with her labels and timeout; its clock starts then.
	local t0 t1 wall
	t0=$(date +%s%N)
	tcp -H "Authorization: Bearer $ta" -X POST "$U/v1/sandboxes" -d '{"labels":{"app":"x"},"limits":{"timeout":"6s"}}'
	assert_eq "$CODE" 201 "alice creates: $BODY"
	id=$(jget "$BODY" 'j["id"]')
	pid=$(jget "$BODY" 'j["pid"]')
	[[ " $pooled " == *" $id "* ]] || fail "alice's $id is not one of the pool's ($pooled)"
	assert_eq "$(jget "$BODY" 'j["tenant"], j["labels"], j.get("pooled"), j["limits"]["timeout_s"], j["created_at"] == j["started_at"]')" \
		"('alice', {'app': 'x'}, None, 6, True)" "taken: its record"
	wall=$(usage "$id" 'j["wall_ns"]')
	t1=$(date +%s%N)
	[ "$wall" -le $((t1 - t0)) ] || fail "wall time counted from before the take: $wall ns in $((t1 - t0)) ns"
	[ "$(sqlite3 "$TMPD/state/sbx.db" "select created_ns from sandboxes where id='$id'")" -ge "$t0" ] ||
		fail "created before the take"
	# The limits it records are its cgroups' (the defaults, as a launch of it would have).
	local d pids mem
	for d in $(inst_cgroups | grep "/$id\$"); do
		[ -f "$d/pids.max" ] && pids=$(cat "$d/pids.max")
		[ -f "$d/memory.max" ] && mem=$(cat "$d/memory.max")
		[ -f "$d/memory.limit_in_bytes" ] && mem=$(cat "$d/memory.limit_in_bytes")
	done
	run_sbx inspect "$id"
	assert_eq "${pids:-}:${mem:-}" "$(jget "$OUT" '"%d:%d" % (j["limits"]["pids"], j["limits"]["memory_bytes"])')" "its cgroups' limits"
	tcp -H "Authorization: Bearer $ta" -X POST "$U/v1/sandboxes/$id/exec" -d '{"cmd":["hostname"]}'
	assert_eq "$(jget "$BODY" 'j["stdout"]')" "$id" "alice execs in it"
	tcp -H "Authorization: Bearer $tb" "$U/v1/sandboxes/$id"
	assert_eq "$CODE" 404 "bob does not see alice's"
	# Anything more than the plain request is launched.
	tcp -H "Authorization: Bearer $ta" -X POST "$U/v1/sandboxes" -d '{"cmd":["sleep","100"],"limits":{"timeout":"1m"}}'
	assert_eq "$CODE" 201 "a create with a cmd"
	cold=$(jget "$BODY" 'j["id"]')
	[[ " $pooled " == *" $cold "* ]] && fail "a create with a cmd took a warm sandbox"
	# Her timeout runs from the take.
	while [ $(($(date +%s%N) - t0)) -lt 6600000000 ]; do sleep 0.1; done
	run_sbx inspect "$id"
	assert_eq "$(jget "$OUT" 'j["state"], j["reason"]')" "('exited', 'timeout')" "the timeout of a taken one"
	[ "$(ps -o stat= -p "$pid" | cut -c1)" = Z ] || ! kill -0 "$pid" 2>/dev/null || fail "timed out, still running"
	# Billed to alice from the take; nothing to the pool.
	local created first
	created=$(sqlite3 "$TMPD/state/sbx.db" "select created_ns from sandboxes where id='$id'")
	first=$(sqlite3 "$TMPD/state/sbx.db" "select min(start_ns) from ledger where sandbox='$id' and tenant='alice'")
	[ -n "$first" ] && [ "$first" -ge "$created" ] || fail "alice's bill starts at $first, before the take ($created)"
	assert_eq "$(sqlite3 "$TMPD/state/sbx.db" "select count(*) from ledger where tenant='sbx.warm'")" 0 "the pool billed"
	# Topped up again.
	warm_ready 2
	assert_eq "$(live_inits)" 3 "the pool and the cmd's sandbox"

	# A crash: the next sbxd removes the pool, process, cgroup and record.
	pooled=$(pool)
	kill_sbxd
	start_sbxd
	assert_eq "$(pool)" "" "the pool after a crash"
	assert_eq "$(live_inits)" 1 "what runs after a crash: the cmd's sandbox"
	for id in $pooled; do
		inst_cgroups | grep -q "/$id\$" && fail "cgroup of $id left"
		assert_eq "$(sqlite3 "$TMPD/state/sbx.db" "select state from sandboxes where id='$id'")" removed "record of $id"
	done
	# A stop: the pool goes with sbxd; the rest runs on.
	stop_sbxd_keep() { kill -TERM "$SBXD_PID"; wait "$SBXD_PID"; assert_eq "$?" 0 "sbxd exit status"; SBXD_PID=; }
	stop_sbxd_keep
	start_sbxd --warm 1
	warm_ready 1
	assert_eq "$(live_inits)" 2 "the pool of one and the cmd's sandbox"
	stop_sbxd_keep
	assert_eq "$(live_inits)" 1 "what runs after sbxd stopped: the cmd's sandbox"
	start_sbxd
	assert_eq "$(pool)" "" "the pool after a stop"
	run_sbx exec "$cold" -- true
	assert_eq "$RC" 0 "the launched one served again"
	# A full host: a launch takes the place of a waiting one, which stops.
	stop_sbxd_keep
	start_sbxd --warm 2 --max-sandboxes 4
	warm_ready 2
	api POST /v1/sandboxes -d '{"cmd":["sleep","100"]}'
	assert_eq "$CODE" 201 "a launch with two waiting and one running: $BODY"
	api POST /v1/sandboxes -d '{"cmd":["sleep","100"]}'
	assert_eq "$CODE" 201 "a launch in a waiting one's place: $BODY"
	sleep 0.5
	assert_eq "$(wc -w <<<"$(pool)")" 1 "the pool of a full host"
	assert_eq "$(live_inits)" 4 "sandboxes on the full host"
	run_sbx_d() { "$B/sbxd" "$@" >"$TMPD/out" 2>"$TMPD/err"; RC=$?; ERR=$(cat "$TMPD/err"); }
	run_sbx_d --warm 17 --socket "$TMPD/x.sock" --state-dir "$TMPD/state2"
	assert_eq "$RC:$ERR" "1:sbxd: --warm: \"17\" is not a count from 0 to 16" "--warm 17"
}

# An idle sandbox holds one descriptor in sbxd, its pidfd, so that RLIMIT_NOFILE does not
# bound the sandboxes one sbxd holds: its cgroup files are opened per read, its launch's
# descriptors closed once it runs, its control channel closed after 5 s unused and opened
# again by the next command. The meter is sized by --max-sandboxes (past 4096).
t_idle_descriptors() {
	local other=fds$$ ids="" id i n0 pid0
	SBX_INSTANCE=$other start_sbxd --max-sandboxes 5000 --kill-on-exit
	fds() { find "/proc/$SBXD_PID/fd" -mindepth 1 | wc -l; }
	pidfds() { find "/proc/$SBXD_PID/fd" -mindepth 1 -lname 'anon_inode:\[pidfd\]' | wc -l; }
	sleep 1.5 # past the first checkpoint of the state database (SQLite may keep its file open)
	n0=$(fds)
	pid0=$(pidfds)
	for i in 1 2 3 4 5 6; do
		api POST /v1/sandboxes -d '{"cmd":["/bin/sleep","infinity"]}'
		assert_eq "$CODE" 201 "create $i: $BODY"
		ids="$ids $(jget "$BODY" 'j["id"]')"
	done
	[ $(($(fds) - n0)) -ge 12 ] || fail "fewer than two descriptors each while new: $(($(fds) - n0))"
	for _ in $(seq 100); do [ $(($(fds) - n0)) -le 6 ] && break; sleep 0.1; done
	assert_eq "$(($(fds) - n0)) $(($(pidfds) - pid0))" "6 6" "descriptors (all, pidfds) of six idle sandboxes: $(ls -l "/proc/$SBXD_PID/fd")"
	for id in $ids; do
		ls -l "/proc/$SBXD_PID/fd" | grep -q "$id" && fail "a descriptor of $id's cgroup or layer is open"
	done
	# A command connects again; the channel stays while in use, then closes.
	id=${ids# }
	id=${id%% *}
	local u0 u1
	u0=$(usage "$id" 'j["syscalls_total"], j["memory_kib_ms"]')
	run_sbx exec "$id" -- sh -c 'echo hi; sleep 1'
	assert_eq "$RC $OUT" "0 hi" "a command in an idle sandbox: $ERR"
	assert_eq "$(($(fds) - n0))" 7 "its channel open after the command"
	u1=$(usage "$id" 'j["syscalls_total"], j["memory_kib_ms"]')
	python3 -c 'import sys; a, b = eval(sys.argv[1]), eval(sys.argv[2]); assert b[0] > a[0] and b[1] > a[1], (a, b)' \
		"$u0" "$u1" || fail "its meters went on: $u0 then $u1"
	for _ in $(seq 100); do [ $(($(fds) - n0)) -le 6 ] && break; sleep 0.1; done
	assert_eq "$(($(fds) - n0))" 6 "its channel closed again once unused"
	# A checkpoint of an idle one, left running: its channel is connected for the close
	# that comes before the dump, and again after; commands go on.
	api POST "/v1/sandboxes/$id/checkpoint" -d '{"leave_running": true}'
	assert_eq "$CODE" 201 "a checkpoint of an idle sandbox: $BODY"
	run_sbx exec "$id" -- echo again
	assert_eq "$RC $OUT" "0 again" "a command after its checkpoint: $ERR"
	# The meter counts 5000 sandboxes: whole units of 4096.
	ls "/sys/fs/bpf/sbx-$other" | grep -q '^sys_enter-L[0-9]*-S8192-' ||
		fail "no meter sized for 8192: $(ls "/sys/fs/bpf/sbx-$other")"
	stop_sbxd
	rm -rf "/sys/fs/bpf/sbx-$other" "/run/sbx/instance/$other"
	find /sys/fs/cgroup -maxdepth 6 -type d -name "sbx-$other" -exec rmdir {} + 2>/dev/null
	"$B/sbxd" --max-sandboxes 32769 --socket "$TMPD/x.sock" --state-dir "$TMPD/x" >"$TMPD/out" 2>&1 &&
		fail "--max-sandboxes 32769 accepted"
	assert_eq "$(wc -l <"$TMPD/out")" 1 "one line: $(cat "$TMPD/out")"
	grep -q 'max-sandboxes.*32768' "$TMPD/out" || fail "the error: $(cat "$TMPD/out")"
}

t_logs_follow() {
	start_sbxd
	local id t0 t1
	id=$("$SBX" create --image base -- sh -c 'for i in 1 2 3 4 5; do echo line $i; sleep 0.3; done; echo err >&2; exit 2') || fail create
	t0=$(date +%s%N)
	run_sbx logs -f "$id"
	t1=$(date +%s%N)
	assert_eq "$RC" 0 "logs -f"
	assert_eq "$OUT" "line 1
line 2
line 3
line 4
line 5
err" "everything, in order, until the end"
	[ $(((t1 - t0) / 1000000)) -ge 1000 ] || fail "logs -f returned before the workload ended"
	# Following an ended sandbox prints its log and returns.
	run_sbx logs -f "$id"
	assert_eq "$(echo "$OUT" | wc -l)" 6 "an ended sandbox's log"
	run_sbx logs -f nosuch
	assert_eq "$RC" 125 "unknown sandbox"
}

# The tests run as an instance of their own: another sbxd serving on the host (an instance
# named apart, as a production one is by default) keeps its sandbox, cgroups, layer and
# counters through test cases that start, sweep, kill and stop their own daemons.
# The other sbxd of instances_apart, stopped (its sandboxes with it) when the case fails.
OTHER_SBXD=
case_cleanup() {
	[ -n "$OTHER_SBXD" ] || return 0
	kill -TERM "$OTHER_SBXD" 2>/dev/null
	wait "$OTHER_SBXD" 2>/dev/null
}

t_instances_apart() {
	local other=apart$$ osock=$TMPD/other.sock opid id cg u0= u1
	SBX_INSTANCE=$other "$B/sbxd" --no-net --socket "$osock" --state-dir "$TMPD/other" --kill-on-exit \
		>>"$TMPD/other.log" 2>&1 &
	opid=$!
	OTHER_SBXD=$opid
	for _ in $(seq 200); do [ -S "$osock" ] && break; sleep 0.02; done
	id=$(SBX_SOCKET=$osock "$SBX" create --image base -- sh -c 'while :; do sleep 0.01; done') ||
		fail "the other sbxd: $(cat "$TMPD/other.log")"
	cg=$(find /sys/fs/cgroup -maxdepth 8 -type d -path "*/sbx-$other/$id" | head -n 1)
	[ -n "$cg" ] || fail "no cgroup of the other instance's sandbox"
	[ -d "/run/sbx/instance/$other/layers/$id/upper" ] || fail "no layer of its own"
	[ -e "/sys/fs/bpf/sbx-$other/slots" ] || fail "no pinned meter of its own"
	for _ in $(seq 100); do # until its meter has counted
		u0=$(curl -s --unix-socket "$osock" "http://x/v1/sandboxes/$id/usage")
		[ "$(jget "$u0" 'j["syscalls_total"]')" -gt 0 ] && break
		sleep 0.05
	done
	for c in test-cgroups.sh:stale_cgroups_swept test-ckpt.sh:killed_mid_dump test-sbxd.sh:restart; do
		bash "$(dirname "$0")/${c%%:*}" "${c#*:}" >"$TMPD/case.log" 2>&1 ||
			fail "$c beside another sbxd: $(tail -n 5 "$TMPD/case.log")"
	done
	u1=$(curl -s --unix-socket "$osock" "http://x/v1/sandboxes/$id/usage")
	assert_eq "$(jget "$u1" 'j["state"]')" running "the other instance's sandbox"
	[ -d "$cg" ] && [ -n "$(cat "$cg/cgroup.procs")" ] || fail "its cgroup was swept"
	[ -d "/run/sbx/instance/$other/layers/$id/upper" ] || fail "its layer was removed"
	python3 - "$u0" "$u1" <<'PY' || fail "its counters"
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert b["syscalls_total"] > a["syscalls_total"] > 0, (a["syscalls_total"], b["syscalls_total"])
assert b["cpu_ns"] > a["cpu_ns"], "cpu"
PY
	SBX_SOCKET=$osock "$SBX" rm "$id" >/dev/null
	kill -TERM "$opid"
	OTHER_SBXD=
	wait "$opid" || fail "the other sbxd exited with $?"
	rm -rf "/sys/fs/bpf/sbx-$other" "/run/sbx/instance/$other"
	find /sys/fs/cgroup -maxdepth 6 -type d -name "sbx-$other" -exec rmdir {} + 2>/dev/null
	true
}

source "$(dirname "$0")/lib.sh"
