#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `sbx run` as a user meets it: exit codes, options, environment, and errors that are
# one clear line and change nothing.

t_hello_exit_code() {
	run_sbx run --image base -- sh -c 'echo hello; exit 3'
	assert_eq "$RC" 3 "exit code"
	assert_eq "$OUT" hello "stdout"
	assert_eq "$ERR" "" "stderr"
}

t_host_python() {
	run_sbx run --image host --memory 256M --cpus 0.5 --pids 64 --timeout 10s -- python3 -c 'print(1+1)'
	assert_eq "$RC" 0 "exit ($ERR)"
	assert_eq "$OUT" 2 "python output"
}

t_signal_exit_codes() {
	run_sbx run -- sh -c 'kill -KILL $$'
	assert_eq "$RC" 137 "killed by SIGKILL"
	run_sbx run -- sh -c 'kill -SEGV $$'
	assert_eq "$RC" 139 "killed by SIGSEGV"
	run_sbx run -- false
	assert_eq "$RC" 1 "false"
}

t_missing_and_unexecutable_commands() {
	run_sbx run -- /no/such/cmd
	assert_eq "$RC" 127 "missing command"
	assert_eq "$ERR" "sbx: /no/such/cmd: command not found" "message"
	run_sbx run -- nosuchcommand
	assert_eq "$RC" 127 "missing command on PATH"
	run_sbx run -- /etc/passwd
	assert_eq "$RC" 126 "not executable"
	assert_eq "$ERR" "sbx: /etc/passwd: Permission denied" "message"
}

t_env_workdir_hostname_args() {
	run_sbx run --env FOO=bar --env 'SP=a b' --env PATH=/bin --workdir /etc --hostname h1 -- \
		sh -c 'echo "$FOO|$SP|$PATH|$(pwd)|$(hostname)|$HOME"; printf "<%s>" "$@"' argv0 'x y' '' '$Z'
	assert_eq "$RC" 0 "exit ($ERR)"
	assert_eq "$OUT" $'bar|a b|/bin|/etc|h1|/tmp\n<x y><><$Z>' "env, workdir, hostname, argv"
	# Only what the spec gives: nothing from the caller's environment leaks in.
	SECRET_TOKEN=leak run_sbx run -- env
	assert_not_contains "$OUT" "SECRET_TOKEN" "caller environment"
	# stdin passes through.
	OUT=$(printf 'in\n' | "$SBX" run -- cat)
	assert_eq "$OUT" in "stdin"
}

# Each bad invocation: exit 125, exactly one line on stderr containing $2, no leftovers.
bad() {
	local want=$1
	shift
	local before
	before=$(leftovers)
	run_sbx "$@"
	assert_eq "$RC" 125 "exit code of sbx $*"
	assert_eq "$(printf '%s\n' "$ERR" | wc -l)" 1 "stderr lines of sbx $* ($ERR)"
	assert_contains "$ERR" "$want" "message of sbx $*"
	assert_eq "$OUT" "" "stdout of sbx $*"
	assert_eq "$(leftovers)" "$before" "leftovers after sbx $*"
}

t_bad_options() {
	bad '--memory: invalid size "lots"' run --memory lots -- true
	bad '--memory: invalid size "1k"' run --memory 1k -- true
	bad '--cpus: invalid value "-1"' run --cpus -1 -- true
	bad '--cpus: invalid value "0"' run --cpus 0 -- true
	bad '--pids: invalid value "0"' run --pids 0 -- true
	bad '--timeout: invalid duration "soon"' run --timeout soon -- true
	bad '--net: unknown mode "host"' run --net host -- true
	bad '--env: "NOEQUALS" is not of the form KEY=VALUE' run --env NOEQUALS -- true
	bad '--workdir: "rel" must be an absolute path' run --workdir rel -- true
	bad '--hostname: "bad host" is not a valid hostname' run --hostname 'bad host' -- true
	bad '--user: "root" is not UID[:GID]' run --user root -- true
	bad 'unknown option --frobnicate' run --frobnicate -- true
	bad 'option --memory needs a value' run --memory
	bad 'no command given' run --memory 64M
	bad 'unknown command "nope"' nope
	bad '--workdir /nonexistent: No such file or directory' run --workdir /nonexistent -- true
	bad '--env: "A?B" is not of the form KEY=VALUE' run --env "$(printf 'A\nB')" -- true
}

# An instance name is a name, not a path: sbx and sbxd refuse anything else before they
# make a cgroup, a pin or a directory from it.
t_instance_names() {
	local n long
	long=$(printf 'x%.0s' $(seq 17))
	for n in ../x a/b Bad 'a b' . "$long" "$(printf 'a\nb')"; do
		SBX_INSTANCE=$n bad "SBX_INSTANCE: \"" run -- true
		SBX_INSTANCE=$n "$B/sbxd" --no-net --socket "$TMPD/i.sock" --state-dir "$TMPD/i" 2>"$TMPD/err" &&
			fail "sbxd ran as instance '$n'"
		assert_contains "$(cat "$TMPD/err")" "SBX_INSTANCE: " "sbxd says why ('$n')"
		"$B/sbxd" --no-net --instance "$n" --socket "$TMPD/i.sock" --state-dir "$TMPD/i" 2>"$TMPD/err" &&
			fail "sbxd --instance '$n' ran"
		assert_contains "$(cat "$TMPD/err")" "--instance: " "sbxd --instance says why ('$n')"
	done
	[ ! -e "$TMPD/i" ] || fail "a state directory was made"
	for n in ../x a/b Bad "$long"; do
		[ ! -e "/run/sbx/instance/$n" ] && [ ! -e "/sys/fs/bpf/sbx-$n" ] ||
			fail "something was made for '$n'"
	done
}

t_bad_images() {
	bad 'image nosuch not found in' run --image nosuch -- true
	bad 'image /nonexistent/img: No such file or directory' run --image /nonexistent/img -- true
	mkdir -p "$TMPD/noman/rootfs"
	bad "no manifest.json in $TMPD/noman" run --image "$TMPD/noman" -- true
	mkdir -p "$TMPD/badman/rootfs"
	echo '{"rootfs": 5' >"$TMPD/badman/manifest.json"
	bad "manifest.json:2:" run --image "$TMPD/badman" -- true
	mkdir -p "$TMPD/ctlman/rootfs"
	printf '{"\\\nvv' >"$TMPD/ctlman/manifest.json" # the parser's excerpt holds a newline
	bad "manifest.json:2: invalid escape near" run --image "$TMPD/ctlman" -- true
	mkdir -p "$TMPD/nomnt/rootfs/bin"
	echo '{}' >"$TMPD/nomnt/manifest.json"
	bad 'sandbox setup failed at mount /tmp: No such file or directory' run --image "$TMPD/nomnt" -- true
}

t_seccomp_profiles() {
	cat >"$TMPD/deny-mkdir.json" <<'J'
{
  "defaultAction": "SCMP_ACT_ALLOW",
  "syscalls": [
    { "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13 }
  ]
}
J
	run_sbx run --seccomp "$TMPD/deny-mkdir.json" -- mkdir /tmp/d
	assert_eq "$RC" 1 "mkdir under a profile that denies it"
	assert_eq "$ERR" "mkdir: can't create directory '/tmp/d': Permission denied" "mkdir error"
	run_sbx run --seccomp default -- sh -c 'mkdir /tmp/d && echo made'
	assert_eq "$OUT" made "mkdir under the default profile"
	cat >"$TMPD/bad.json" <<'J'
{
  "defaultAction": "SCMP_ACT_ERRNO",
  "syscalls": [
    { "names": ["read", "write"], "action": "SCMP_ACT_ALLOW" },
    { "names": ["read",
                "fly_to_moon"], "action": "SCMP_ACT_ALLOW" }
  ]
}
J
	bad "--seccomp: $TMPD/bad.json:6: syscalls[1].names[1]: unknown syscall \"fly_to_moon\"" run --seccomp "$TMPD/bad.json" -- true
	printf '{\n"defaultAction": "SCMP_ACT_ALLOW",\n"syscalls": [\n' >"$TMPD/trunc.json"
	bad "--seccomp: $TMPD/trunc.json:4:" run --seccomp "$TMPD/trunc.json" -- true
	bad "--seccomp: seccomp profile /nonexistent.json: No such file or directory" run --seccomp /nonexistent.json -- true
}

t_help_and_version() {
	run_sbx --version
	assert_eq "$RC" 0 "--version exit"
	[[ "$OUT" =~ ^sbx\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "--version printed '$OUT'"
	run_sbx run --help
	assert_eq "$RC" 0 "run --help exit"
	assert_contains "$OUT" "Usage: sbx run [OPTIONS] [--] CMD [ARG...]" "run --help"
	for o in --image --memory --cpus --pids --timeout --net --env --workdir --hostname --seccomp --user-ns --writable-size; do
		assert_contains "$OUT" "$o" "run --help lists $o"
	done
	run_sbx --help
	assert_contains "$OUT" "run [OPTIONS]" "sbx --help"
	run_sbx
	assert_eq "$RC" 125 "no arguments"
}

# sbx is the CLI against musl: a static PIE (musl's start, not glibc's) whose relocated
# data is sealed read-only once it runs (musl's static start leaves it writable; lean.c
# seals it). A run that needs SQLite or libbpf is sbx-full's: without it beside sbx, one
# clear line and nothing left.
t_musl_cli() {
	local syms h
	syms=$(readelf -sW "$SBX")
	[[ "$syms" != *__asan_init* && "$syms" != *__tsan_init* && "$syms" != *__ubsan_handle* &&
		"$syms" != *__lsan_* ]] ||
		skip "a sanitizer build, whose sbx is the glibc one"
	h=$(readelf -hlW "$SBX")
	assert_contains "$h" "DYN (" "sbx's ELF type"
	assert_not_contains "$h" "INTERP" "sbx's program headers"
	grep -qE '[[:space:]]_start_c$' <<<"$syms" || fail "sbx does not start with musl's static PIE start"
	assert_not_contains "$syms" "_dl_relocate_static_pie" "sbx's symbols (glibc's static start)"
	"$SBX" run --image base -- sleep 30 >/dev/null 2>&1 &
	local pid=$! i
	for i in $(seq 100); do
		[ -n "$(pgrep -P "$pid")" ] && break
		sleep 0.05
	done
	kill -0 "$pid" 2>/dev/null && [ -n "$(pgrep -P "$pid")" ] ||
		{ kill "$pid" 2>/dev/null; wait "$pid"; fail "sbx run did not start"; }
	python3 - "$pid" "$(readlink -f "$SBX")" "$h" <<'PY' || { kill "$pid"; wait "$pid"; fail "sbx's relocated data is writable"; }
import sys
pid, exe, hdr = sys.argv[1:]
relro = [l.split() for l in hdr.splitlines() if l.split()[:1] == ["GNU_RELRO"]]
assert relro, "no GNU_RELRO header"
va, size = int(relro[0][2], 16), int(relro[0][5], 16)
mine = [m for m in (l.split() for l in open(f"/proc/{pid}/maps")) if len(m) > 5 and m[5] == exe]
assert mine, f"no mapping of {exe}"
base = min(int(m[0].split("-")[0], 16) for m in mine if int(m[2], 16) == 0)
lo, hi = (base + va) & ~4095, (base + va + size) & ~4095
assert hi > lo, "an empty RELRO range"
for m in mine:
    a, b = (int(x, 16) for x in m[0].split("-"))
    if a < hi and b > lo and "w" in m[1]:
        sys.exit(f"{m[0]} {m[1]} overlaps RELRO {lo:x}-{hi:x}")
PY
	kill "$pid"
	wait "$pid"
	local d=$TMPD/alone
	# A store of its own: not $TMPD/state, whose database the cleanup would start an sbxd on.
	mkdir -p "$d" "$TMPD/store"
	cp "$SBX" "$d/"
	: >"$TMPD/store/sbx.db"
	export SBX_IMAGES=$B/images SBX_INIT=$B/sbx-init SBX_STATE_DIR=$TMPD/store
	SBX="$d/sbx" bad "sbx run: --usage needs $d/sbx-full: No such file or directory" \
		run --usage - -- true
	SBX="$d/sbx" bad "sbx run: an image of sbxd's store needs $d/sbx-full: No such file or directory" \
		run --image nosuch -- true
	# With no store at all, the image is simply not there.
	rm "$TMPD/store/sbx.db"
	SBX="$d/sbx" bad "sbx run: image nosuch not found in $B/images" run --image nosuch -- true
	# sbx-full that is sbx itself would become itself again.
	ln "$d/sbx" "$d/sbx-full"
	SBX="$d/sbx" bad "sbx run: --usage needs $d/sbx-full: it is this sbx, not the glibc build" \
		run --usage - -- true
}

source "$(dirname "$0")/lib.sh"
