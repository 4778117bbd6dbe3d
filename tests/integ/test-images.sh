#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The image store: built-in images taken in, docker-save and OCI imports run as
# sandboxes (whiteouts, opaque directories, the config's defaults), layers stored once,
# images in use kept, the unused collected, tenants apart, and hostile archives refused
# or neutralised with nothing left behind.

MKIMAGE=$(dirname "$0")/mkimage.py

# layers: the store's layer directories, one a line.
layers() { ls "$TMPD/state/images/layers"; }

t_builtins_in_store() {
	start_sbxd
	run_sbx image ls --json
	assert_eq "$RC" 0 "image ls"
	assert_eq "$(jget "$OUT" '",".join(sorted(i["name"] for i in j if i["owner"] == "public" and i["name"] in ("base", "host")))')" \
		base,host "built-in images"
	[ "$(jget "$OUT" '[i["size_bytes"] for i in j if i["name"] == "base"][0]')" -gt 500000 ] ||
		fail "base's size_bytes"
	local id iid
	id=$("$SBX" create) || fail "create"
	iid=$(jget "$("$SBX" inspect --json "$id" 2>/dev/null || "$SBX" inspect "$id")" 'j["image_id"]')
	[ -f "$TMPD/state/images/manifests/$iid.json" ] || fail "its pinned manifest $iid"
	run_sbx exec "$id" -- sh -c 'echo ok > /x; cat /x; stat -c %a /tmp'
	assert_eq "$OUT" "ok
1777" "a sandbox of the stored base"
	# A second start takes nothing in again: the same ids.
	local before after
	before=$(layers)
	stop_sbxd
	start_sbxd
	after=$(layers)
	assert_eq "$after" "$before" "layers after a restart"
}

# What a case mounted below the host's /usr, taken down whatever the case's outcome.
USR_MOUNTS=()
case_cleanup() {
	local m
	for m in ${USR_MOUNTS[@]+"${USR_MOUNTS[@]}"}; do
		umount "$m" 2>/dev/null
		rm -rf "$m"
	done
}

# The host image is the host's /usr as the host sees it: a file system mounted below it (a
# driver tree such as /usr/local/nvidia) and a file bound there show in the sandbox,
# read-only. A plain bind of /usr would show an empty directory and an empty file.
t_host_image_keeps_mounts_below_usr() {
	local d f
	d=$(mktemp -d /usr/local/lib/sbx-test-tree.XXXXXX) || fail "mktemp"
	USR_MOUNTS+=("$d")
	mount -t tmpfs -o size=1m sbx-test "$d" || fail "mount a tmpfs at $d"
	echo driver >"$d/lib.so"
	f=$(mktemp /usr/local/lib/sbx-test-file.XXXXXX) || fail "mktemp"
	USR_MOUNTS+=("$f")
	echo bound >"$TMPD/src"
	mount --bind "$TMPD/src" "$f" || fail "bind a file at $f"
	bash "$(dirname "$0")/../../images/build.sh" host "$TMPD/host" || fail "build.sh host"
	run_sbx run --image "$TMPD/host" -- sh -c "cat $d/lib.so $f; echo x >$d/new || echo refused"
	assert_eq "$RC:$OUT" "0:driver
bound
refused" "the host's mounts below /usr, read-only"
	[ -e "$d/new" ] && fail "the sandbox wrote into the host's $d"
	return 0
}

t_import_docker_runs() {
	start_sbxd
	python3 "$MKIMAGE" docker "$TMPD/img.tar" || fail "mkimage"
	run_sbx image import "$TMPD/img.tar" --name bb
	assert_eq "$RC" 0 "import: $ERR"
	assert_contains "$OUT" "bb " "import prints the image"
	assert_contains "$ERR" "image bb is ready" "progress lines off a terminal"
	local id
	id=$("$SBX" create --image bb) || fail "create from the import"
	# The config's defaults: user app (1000), workdir /app, Env, Entrypoint + Cmd.
	run_sbx exec "$id" -- sh -c 'id -u; pwd; echo "$GREETING"; ./hello.sh; cat /proc/1/cmdline | tr "\0" " "'
	assert_eq "$OUT" "1000
/app
hi there
hello from the image
sbx-init --ctl --log 16777216 --status -- /bin/sh -c sleep 1000 " "defaults"
	# Whiteouts and opaque directories of the upper layer.
	run_sbx exec "$id" -- sh -c 'ls /old; ls /data'
	assert_eq "$OUT" "keep
upper.txt" "whiteout and opaque directory"
	# Writable above its layers; the layers themselves untouched.
	run_sbx exec "$id" -- sh -c 'echo sbx-mark-4711 > /app/new && rm /app/hello.sh && ls /app'
	assert_eq "$OUT" "new" "writes go to the sandbox's layer: $ERR"
	grep -rl "sbx-mark-4711" "$TMPD/state/images/layers" >/dev/null 2>&1 && fail "a write reached a stored layer"
	[ -n "$(find "$TMPD/state/images/layers" -name hello.sh)" ] || fail "a removal reached a stored layer"
	# An exec's own user and workdir still win.
	run_sbx exec --workdir /tmp "$id" -- pwd
	assert_eq "$OUT" /tmp "exec --workdir"
	# User namespaces: the image's root-owned files belong to the sandbox's root.
	api POST /v1/sandboxes -d '{"image":"bb","user_ns":true,"user":"0:0","cmd":["sleep","100"]}'
	assert_eq "$CODE" 201 "user_ns create: $BODY"
	local un
	un=$(jget "$BODY" 'j["id"]')
	run_sbx exec "$un" -- stat -c '%u %a' /bin/busybox
	assert_eq "$OUT" "0 755" "user_ns: the image's files"
	# sbx run, without the daemon, finds the image in the store too.
	SBX_STATE_DIR=$TMPD/state run_sbx run --image bb -- sh -c 'id -u; pwd; cat /app/hello.sh | wc -l'
	assert_eq "$OUT" "1000
/app
2" "sbx run --image from the store: $ERR"
}

t_import_oci_and_sharing() {
	start_sbxd
	python3 "$MKIMAGE" oci "$TMPD/oci" || fail "mkimage"
	python3 "$MKIMAGE" oci "$TMPD/oci.tar" || fail "mkimage"
	run_sbx image import "$TMPD/oci" --name from-dir
	assert_eq "$RC" 0 "import of an OCI layout directory: $ERR"
	local n1
	n1=$(layers | wc -l)
	run_sbx image import "$TMPD/oci.tar" --name from-tar
	assert_eq "$RC" 0 "import of an OCI layout tar: $ERR"
	assert_eq "$(layers | wc -l)" "$n1" "the same layers are stored once"
	local id
	id=$("$SBX" create --image from-tar) || fail "create"
	run_sbx exec "$id" -- sh -c 'ls /old /data'
	assert_eq "$OUT" "/data:
upper.txt

/old:
keep" "OCI whiteouts"
	# Two sandboxes of one image mount the same layer directories.
	local id2 a b
	id2=$("$SBX" create --image from-tar) || fail "create"
	a=$(jget "$("$SBX" inspect "$id")" 'j["image_id"]')
	b=$(jget "$("$SBX" inspect "$id2")" 'j["image_id"]')
	assert_eq "$a" "$b" "one image id"
	run_sbx exec "$id" -- stat -c %i /bin/busybox
	local ino=$OUT
	run_sbx exec "$id2" -- stat -c %i /bin/busybox
	assert_eq "$OUT" "$ino" "one inode for both sandboxes"
}

t_in_use_and_collect() {
	start_sbxd
	python3 "$MKIMAGE" docker "$TMPD/img.tar" || fail "mkimage"
	"$SBX" image import "$TMPD/img.tar" --name one >/dev/null 2>&1 || fail "import one"
	local base_layers id
	base_layers=$(layers | wc -l)
	id=$("$SBX" create --image one) || fail "create"
	api DELETE /v1/images/one
	assert_eq "$CODE" 409 "in use"
	assert_contains "$BODY" "sandbox $id" "names its user"
	# A new image under the name: the running sandbox keeps its own.
	python3 "$MKIMAGE" docker "$TMPD/img2.tar" --pad 1 || fail "mkimage"
	"$SBX" image import "$TMPD/img2.tar" --name one >/dev/null 2>&1 || fail "import again"
	run_sbx exec "$id" -- sh -c 'test -e /pad.bin && echo new || echo old'
	assert_eq "$OUT" old "the sandbox keeps the image it started with"
	"$SBX" rm "$id" >/dev/null
	api DELETE /v1/images/one
	assert_eq "$CODE" 200 "removed once unused: $BODY"
	for _ in $(seq 50); do
		[ "$(layers | wc -l)" -lt "$base_layers" ] && break
		sleep 0.1
	done
	[ "$(layers | wc -l)" -lt "$base_layers" ] || fail "unused layers are collected"
	# The built-in images' layers stay.
	id=$("$SBX" create) || fail "create base after collection"
	api DELETE /v1/images/nosuch
	assert_eq "$CODE" 404 "unknown image"
	ls "$TMPD/state/images/tmp" | grep -v '^gc-' | grep -q . && fail "tmp/ holds $(ls "$TMPD/state/images/tmp")"
	true
}

t_tenants_apart() {
	local port=$((20000 + RANDOM % 20000)) ta tb
	ta=$("$B/sbxd" tenant add alice --state-dir "$TMPD/state") || fail "tenant add"
	tb=$("$B/sbxd" tenant add bob --state-dir "$TMPD/state") || fail "tenant add"
	start_sbxd --listen "127.0.0.1:$port"
	SBXD_PORT=$port
	python3 "$MKIMAGE" docker "$TMPD/img.tar" || fail "mkimage"
	tcp "$ta" POST "/v1/images?name=mine" --data-binary "@$TMPD/img.tar"
	assert_eq "$CODE" 201 "alice imports: $BODY"
	local job
	job=$(jget "$BODY" 'j["id"]')
	for _ in $(seq 100); do
		tcp "$ta" GET "/v1/jobs/$job"
		[ "$(jget "$BODY" 'j["state"]')" = done ] && break
		sleep 0.1
	done
	assert_eq "$(jget "$BODY" 'j["state"]')" done "alice's job"
	tcp "$tb" GET "/v1/jobs/$job"
	assert_eq "$CODE" 404 "bob does not see alice's job"
	tcp "$tb" GET /v1/images
	assert_eq "$(jget "$BODY" 'sorted(set(i["owner"] for i in j["images"]))')" "['public']" \
		"bob sees the public images only"
	tcp "$tb" POST /v1/sandboxes -d '{"image":"mine"}'
	assert_eq "$CODE" 400 "bob cannot run alice's image"
	tcp "$tb" POST /v1/sandboxes -d "{\"image\":\"base\",\"image_id\":\"$(printf 'a%.0s' $(seq 64))\"}"
	assert_eq "$CODE" 400 "nobody pins an id"
	tcp "$tb" DELETE /v1/images/mine
	assert_eq "$CODE" 404 "bob cannot remove it"
	tcp "$tb" DELETE /v1/images/base
	assert_eq "$CODE" 404 "nor a public one"
	tcp "$tb" POST "/v1/images?name=x&public=1" --data-binary "@$TMPD/img.tar"
	assert_eq "$CODE" 403 "a tenant cannot publish"
	tcp "$tb" POST "/v1/images?name=x&recipe=base"
	assert_eq "$CODE" 403 "a tenant cannot build"
	tcp "$ta" POST /v1/sandboxes -d '{"image":"mine"}'
	assert_eq "$CODE" 201 "alice runs hers"
}

# Each attack is refused with one line naming it, or made harmless; nothing is written
# outside the store, and a refused import leaves no layer, manifest or temporary file.
t_hostile_archives() {
	start_sbxd --max-image 3M
	rm -f /tmp/sbx-escape-* /srv/sbx-escape-*
	local before kind
	before=$(layers)
	for kind in dotdot:"a path outside the image" symlink-out:"a parent is a symlink" \
		hardlink-out:"leaves the image" hardlink-abs:"not a file of this archive" \
		truncated:"Truncated tar archive" digest:"does not match its digest" \
		big:"more data than the limit allows" deep:"a path outside the image" \
		dirs:"more data than the limit allows" dir-with-data:"no file carries data" \
		many-layers:"an image of 71 layers" fifo-manifest:"neither a docker-save"; do
		python3 "$MKIMAGE" hostile "${kind%%:*}" "$TMPD/h.tar" || fail "mkimage ${kind%%:*}"
		run_sbx image import "$TMPD/h.tar" --name "h-${kind%%:*}"
		assert_eq "$RC" 125 "${kind%%:*} refused"
		assert_contains "$ERR" "${kind#*:}" "${kind%%:*}: the reason"
		[ "$(echo "$ERR" | grep -c '^sbx')" = 1 ] || fail "${kind%%:*}: one error line: $ERR"
		assert_eq "$(layers)" "$before" "${kind%%:*}: no layer left"
		[ -z "$(ls "$TMPD/state/images/tmp" | grep -v '^gc-')" ] ||
			fail "${kind%%:*}: tmp/ holds $(ls "$TMPD/state/images/tmp")"
	done
	ls /tmp/sbx-escape-* /srv/sbx-escape-* 2>/dev/null && fail "a file escaped the store"
	run_sbx image ls --json
	assert_eq "$(jget "$OUT" 'len([i for i in j if i["owner"] != "public"])')" 0 \
		"no image of a refused archive"
	# An archive over --max-image is refused before a byte of it is read.
	head -c 4M /dev/zero >"$TMPD/huge.tar"
	run_sbx image import "$TMPD/huge.tar" --name huge
	assert_eq "$RC" 125 "over --max-image"
	assert_contains "$ERR" "over the limit" "over --max-image"
	# Neutralised: an absolute path lands inside the image; device nodes are dropped;
	# setuid and setgid bits are dropped; xattrs (overlayfs' own) are never applied.
	local k id
	for k in absolute device setuid opaque-xattr; do
		python3 "$MKIMAGE" hostile "$k" "$TMPD/$k.tar" || fail "mkimage $k"
		run_sbx image import "$TMPD/$k.tar" --name "$k"
		assert_eq "$RC" 0 "$k imported: $ERR"
	done
	id=$("$SBX" create --image absolute) || fail "create"
	run_sbx exec "$id" -- cat /srv/sbx-escape-absolute
	assert_eq "$OUT" inside "an absolute path, inside the image"
	[ -e /srv/sbx-escape-absolute ] && fail "an absolute path reached the host"
	id=$("$SBX" create --image device) || fail "create"
	run_sbx exec "$id" -- sh -c 'ls /dev-sda /mem 2>&1 | wc -l; ls /dev-sda 2>/dev/null'
	assert_eq "$OUT" 2 "device nodes dropped"
	id=$("$SBX" create --image setuid) || fail "create"
	run_sbx exec "$id" -- stat -c %a /bin/su-copy /bin/sg-copy
	assert_eq "$OUT" "755
755" "setuid and setgid dropped"
	python3 - "$TMPD/state/images/layers" <<'PY' || fail "an overlayfs xattr from an archive"
import os, sys
for root, dirs, files in os.walk(sys.argv[1]):
    for n in dirs + files:
        p = os.path.join(root, n)
        for a in os.listxattr(p, follow_symlinks=False):
            assert a == "trusted.overlay.opaque" and os.path.basename(p) == "data", (p, a)
PY
	id=$("$SBX" create --image opaque-xattr) || fail "create"
	run_sbx exec "$id" -- sh -c 'ls /redir; test -e /redir/passwd && echo redirected'
	assert_eq "$OUT" f "no redirect"
}

# A terminal gets a progress bar; an upload cut short leaves nothing.
t_progress_and_cut_uploads() {
	start_sbxd
	python3 "$MKIMAGE" docker "$TMPD/img.tar" --pad 8 || fail "mkimage"
	script -qfec "$SBX image import $TMPD/img.tar --name tty" /dev/null >"$TMPD/tty.out" 2>&1
	grep -q '\[#*\.*\] *[0-9]*%' "$TMPD/tty.out" || fail "no progress bar: $(head -c 300 "$TMPD/tty.out")"
	grep -q "image tty is ready" "$TMPD/tty.out" || fail "no end line"
	# Through the API: the job, followed to its end.
	api POST "/v1/images?name=followed" --data-binary "@$TMPD/img.tar"
	assert_eq "$CODE" 201 "import: $BODY"
	local job
	job=$(jget "$BODY" 'j["id"]')
	curl -sN --max-time 60 --unix-socket "$SBX_SOCKET" "http://x/v1/jobs/$job?follow=1" >"$TMPD/follow"
	[ "$(wc -l <"$TMPD/follow")" -ge 1 ] || fail "no job lines"
	assert_eq "$(jget "$(tail -n 1 "$TMPD/follow")" 'j["state"]')" done "the last line of a followed job"
	# Half an archive, then the connection closes.
	local before
	before=$(layers)
	python3 - "$SBX_SOCKET" "$TMPD/img.tar" <<'PY' || fail "cut upload"
import os, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
data = open(sys.argv[2], "rb").read()
s.sendall(b"POST /v1/images?name=cut HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(data))
s.sendall(data[: len(data) // 2]); s.close()
PY
	sleep 1
	api GET /v1/images/cut
	assert_eq "$CODE" 404 "no image of a cut upload"
	assert_eq "$(layers)" "$before" "no layer of a cut upload"
	[ -z "$(ls "$TMPD/state/images/tmp")" ] || fail "tmp/ after a cut upload: $(ls "$TMPD/state/images/tmp")"
}

# A template: the workload started, ready, checkpointed; sandboxes from it are restores
# that start where it stood (its state in memory included), as often as asked.
t_templates() {
	start_sbxd
	need_criu
	run_sbx template create warm --image base --ready 'test -e /tmp/ready' -- \
		sh -c 'n=41; n=$((n + 1)); echo $n > /tmp/state; touch /tmp/ready; sleep 1000'
	assert_eq "$RC" 0 "template create: $ERR"
	assert_contains "$ERR" "checkpointing" "its steps"
	run_sbx template ls --json
	assert_eq "$(jget "$OUT" '[t["name"] for t in j]')" "['warm']" "template ls"
	local snap a b
	snap=$(jget "$OUT" 'j[0]["snapshot"]')
	a=$("$SBX" create --template warm) || fail "create --template"
	b=$("$SBX" create --template warm) || fail "a second one"
	run_sbx exec "$a" -- sh -c 'cat /tmp/state; ps -o comm | grep -cx sleep'
	assert_eq "$OUT" "42
1" "the template's state and workload"
	run_sbx exec "$b" -- cat /tmp/state
	assert_eq "$OUT" 42 "the second sandbox"
	[ "$(jget "$("$SBX" inspect "$a")" 'j["restored_from"]')" = "$snap" ] || fail "restored from its snapshot"
	# The template holds its snapshot; removing the template removes both.
	api DELETE "/v1/snapshots/$snap"
	assert_eq "$CODE" 409 "its snapshot is kept"
	assert_contains "$BODY" "template warm" "says why"
	api POST /v1/sandboxes -d '{"template":"warm","image":"base"}'
	assert_eq "$CODE" 400 "a template takes nothing else"
	api POST /v1/sandboxes -d '{"template":"nosuch"}'
	assert_eq "$CODE" 400 "unknown template"
	run_sbx template rm warm
	assert_eq "$RC" 0 "template rm: $ERR"
	api GET "/v1/snapshots/$snap"
	assert_eq "$CODE" 404 "its snapshot went with it"
	# A workload that never gets ready leaves nothing behind.
	run_sbx template create never --image base --ready false --ready-timeout 1s -- sleep 100
	assert_eq "$RC" 125 "never ready"
	assert_contains "$ERR" "not ready" "never ready"
	api GET /v1/sandboxes
	assert_eq "$(jget "$BODY" 'len([s for s in j["sandboxes"] if s["state"] == "running"])')" 2 \
		"only the two restored sandboxes run"
}

# A slim image: only what a recorded run opened (and every symlink), and still runs it.
t_slim_from_a_run() {
	start_sbxd
	python3 "$MKIMAGE" docker "$TMPD/img.tar" --pad 4 || fail "mkimage"
	"$SBX" image import "$TMPD/img.tar" --name full >/dev/null 2>&1 || fail "import"
	api POST /v1/sandboxes -d '{"image":"full","record_files":true,"cmd":["sh","-c","./hello.sh; cat /data/upper.txt"]}'
	assert_eq "$CODE" 201 "a recorded run: $BODY"
	local id
	id=$(jget "$BODY" 'j["id"]')
	assert_eq "$(wait_exit "$id")" 0 "the recorded run"
	api POST "/v1/images?name=slim&slim_from=$id"
	assert_eq "$CODE" 201 "slim job: $BODY"
	local job
	job=$(jget "$BODY" 'j["id"]')
	for _ in $(seq 100); do
		api GET "/v1/jobs/$job"
		[ "$(jget "$BODY" 'j["state"]')" = done ] && break
		sleep 0.1
	done
	assert_eq "$(jget "$BODY" 'j["state"]')" done "slim job: $BODY"
	run_sbx image ls --json
	local full slim
	full=$(jget "$OUT" '[i["size_bytes"] for i in j if i["name"] == "full"][0]')
	slim=$(jget "$OUT" '[i["size_bytes"] for i in j if i["name"] == "slim"][0]')
	[ "$slim" -lt $((full / 2)) ] || fail "slim ($slim) is not under half of full ($full)"
	id=$("$SBX" create --image slim) || fail "create slim"
	run_sbx exec "$id" -- sh -c './hello.sh; cat /data/upper.txt; id -u; pwd'
	assert_eq "$OUT" "hello from the image
upper
1000
/app" "the slim image runs the workload, with the image's defaults"
	run_sbx exec "$id" -- sh -c 'test -e /pad.bin || echo gone; test -e /etc/group || echo gone'
	assert_eq "$OUT" "gone
gone" "what it did not open is not there"
	# Only a finished, recorded run makes one.
	id=$("$SBX" create --image full) || fail "create"
	api POST "/v1/images?name=x&slim_from=$id"
	assert_eq "$CODE" 400 "not recorded"
	assert_contains "$BODY" "record_files" "says how"
}

# A template is of its owner's snapshot: no tenant (nor the host's admins) names
# another's, and none starts another's.
t_templates_of_others() {
	local port=$((20000 + RANDOM % 20000)) ta tb
	ta=$("$B/sbxd" tenant add alice --state-dir "$TMPD/state") || fail "tenant add"
	tb=$("$B/sbxd" tenant add bob --state-dir "$TMPD/state") || fail "tenant add"
	start_sbxd --listen "127.0.0.1:$port"
	need_criu
	SBXD_PORT=$port
	tcp "$ta" POST /v1/sandboxes -d '{"image":"base","cmd":["sleep","1000"]}'
	assert_eq "$CODE" 201 "alice creates"
	local id sid
	id=$(jget "$BODY" 'j["id"]')
	tcp "$ta" POST "/v1/sandboxes/$id/checkpoint" -d '{}'
	assert_eq "$CODE" 201 "alice checkpoints: $BODY"
	sid=$(jget "$BODY" 'j["id"]')
	tcp "$tb" POST /v1/templates -d "{\"name\":\"t\",\"snapshot\":\"$sid\"}"
	assert_eq "$CODE" 404 "bob names alice's snapshot"
	api POST /v1/templates -d "{\"name\":\"t\",\"snapshot\":\"$sid\"}"
	assert_eq "$CODE" 404 "the admins name alice's snapshot"
	tcp "$ta" POST /v1/templates -d "{\"name\":\"t\",\"snapshot\":\"$sid\",\"pool\":1}"
	assert_eq "$CODE" 201 "alice names hers: $BODY"
	tcp "$tb" POST /v1/sandboxes -d '{"template":"t"}'
	assert_eq "$CODE" 400 "bob starts alice's template"
	tcp "$tb" GET /v1/templates
	assert_eq "$(jget "$BODY" 'len(j["templates"])')" 0 "bob sees none"
	tcp "$ta" POST /v1/sandboxes -d '{"template":"t"}'
	assert_eq "$CODE" 201 "alice starts hers"
	assert_eq "$(jget "$BODY" 'j["tenant"]')" alice "hers"
	tcp "$ta" DELETE /v1/templates/t
	assert_eq "$CODE" 200 "alice removes hers: $BODY"
}

source "$(dirname "$0")/lib.sh"
