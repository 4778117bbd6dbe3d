#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# sbx-tar, the tar CRIU runs for a sandbox's tmpfs mounts: what it writes is what GNU tar
# writes for the same tree (GNU tar reads it back the same), it hands anything else to
# GNU tar, and an archive made to escape the target directory changes nothing outside.

sbx_tar() { "$B/sbx-tar" "$@"; }
CREATE=(--create --gzip --no-unquote --no-wildcards --one-file-system --check-links
	--preserve-permissions --sparse --numeric-owner --directory /proc/self/fd/0 .)
EXTRACT=(--extract --gzip --no-unquote --no-wildcards --directory)

# The tree under @1, a line per entry: path, mode, owner, size, mtime, link.
tree_of() { (cd "$1" && find . -printf '%p %m %U %G %s %T@ %l\n' | sort); }

# Whether the gzip stream in @1 is sbx-tar's (stored blocks) rather than deflated.
stored() { python3 -c 'import sys; d = open(sys.argv[1], "rb").read(); sys.exit(d[10] & 6)' "$1"; }

# A tree with what sandboxes' tmpfs mounts hold: nested directories, set-id and sticky
# modes, owners, old times, links in and out, an empty file and a file of many blocks.
make_tree() {
	mkdir -p "$1/d1/d2" "$1/emptydir"
	echo hello >"$1/f1"
	head -c 300000 /dev/urandom >"$1/d1/big"
	: >"$1/empty"
	ln -s /proc/self/fd "$1/fd"
	ln -s d1/big "$1/rel"
	chmod 4750 "$1/f1"
	chmod 1777 "$1/d1"
	chown 1000:2000 "$1/d1/big"
	# Whole seconds, as tar keeps them.
	find "$1" -depth -exec touch -h -d '2022-02-02 02:02:02' {} +
	touch -h -d '2020-01-02 03:04:05' "$1/f1" "$1/rel"
	touch -d '2021-05-05' "$1/d1/d2"
}

t_gnu_tar_reads_ours() {
	local d=$TMPD/t1
	mkdir -p "$d/src" "$d/gnu" "$d/ours"
	make_tree "$d/src"
	sbx_tar "${CREATE[@]}" <"$d/src" >"$d/ours.tgz" || fail "sbx-tar --create"
	tar "${CREATE[@]}" <"$d/src" >"$d/gnu.tgz" || fail "tar --create"
	stored "$d/ours.tgz" || fail "sbx-tar handed a plain tree to GNU tar"
	assert_eq "$(tar -tvzf "$d/ours.tgz" | sort)" "$(tar -tvzf "$d/gnu.tgz" | sort)" \
		"GNU tar lists sbx-tar's archive as its own"
	tar -C "$d/gnu" -xzf "$d/ours.tgz" || fail "GNU tar extracts sbx-tar's archive"
	sbx_tar "${EXTRACT[@]}" "$d/ours" <"$d/ours.tgz" || fail "sbx-tar --extract"
	assert_eq "$(tree_of "$d/ours")" "$(tree_of "$d/gnu")" "sbx-tar unpacks as GNU tar does"
	assert_eq "$(tree_of "$d/ours")" "$(tree_of "$d/src")" "the tree comes back whole"
	cmp -s "$d/src/d1/big" "$d/ours/d1/big" || fail "the big file's bytes"
}

t_hands_over_the_rest() {
	local d=$TMPD/t2 what
	mkdir -p "$d/src"
	make_tree "$d/src"
	# GNU tar's archives (deflated) are unpacked by GNU tar, the same.
	tar "${CREATE[@]}" <"$d/src" >"$d/gnu.tgz"
	mkdir "$d/out" && sbx_tar "${EXTRACT[@]}" "$d/out" <"$d/gnu.tgz" || fail "GNU's archive"
	assert_eq "$(tree_of "$d/out")" "$(tree_of "$d/src")" "GNU tar's archive, unpacked"
	# What sbx-tar does not archive: GNU tar archives all of it.
	for what in fifo hardlink longname sparse; do
		rm -rf "$d/x" && cp -a "$d/src" "$d/x"
		case $what in
		fifo) mkfifo "$d/x/p" ;;
		hardlink) ln "$d/x/f1" "$d/x/f2" ;;
		longname) mkdir -p "$d/x/$(printf 'a%.0s' {1..70})/$(printf 'b%.0s' {1..70})" ;;
		sparse) truncate -s 10M "$d/x/holes" ;;
		esac
		find "$d/x" -depth -exec touch -h -d '2022-02-02 02:02:02' {} +
		sbx_tar "${CREATE[@]}" <"$d/x" >"$d/$what.tgz" || fail "$what: create"
		stored "$d/$what.tgz" && fail "$what: sbx-tar archived it itself"
		rm -rf "$d/y" && mkdir "$d/y"
		sbx_tar "${EXTRACT[@]}" "$d/y" <"$d/$what.tgz" || fail "$what: extract"
		assert_eq "$(tree_of "$d/y")" "$(tree_of "$d/x")" "$what: the tree comes back"
	done
	# Another command line is GNU tar's.
	assert_eq "$(sbx_tar --version | head -n 1)" "$(tar --version | head -n 1)" "--version"
}

# Archives of stored gzip blocks (sbx-tar's own format) made to write outside the target
# directory: through a symlink the archive plants, a ".." or an absolute name, or over
# a planted link. Each fails or is refused by GNU tar; nothing outside changes.
t_hostile_archives() {
	local d=$TMPD/t3 h out
	mkdir -p "$d/outside"
	echo original >"$d/victim"
	python3 - "$d" <<'EOF' || fail "making the archives"
import gzip, io, sys, tarfile
d = sys.argv[1]
def arch(name, entries):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for path, kind, extra in entries:
            ti = tarfile.TarInfo(path)
            ti.uname = ti.gname = ""
            if kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                t.addfile(ti)
            elif kind == "sym":
                ti.type, ti.linkname = tarfile.SYMTYPE, extra
                t.addfile(ti)
            else:
                ti.size, ti.mode = len(extra), 0o4755
                t.addfile(ti, io.BytesIO(extra))
    open(f"{d}/{name}.tgz", "wb").write(gzip.compress(b.getvalue(), compresslevel=0))
top = ("./", "dir", None)
arch("through-link", [top, ("./a", "sym", f"{d}/outside"), ("./a/f", "file", b"out")])
arch("dir-over-link", [top, ("./l", "sym", f"{d}/outside"), ("./l/", "dir", None),
                       ("./l/g", "file", b"out")])
arch("link-to-self", [top, ("./s", "sym", "."), ("./s/f", "file", b"out")])
arch("dotdot", [top, ("./../escaped", "file", b"out")])
arch("absolute", [top, (f"{d}/outside/abs", "file", b"out")])
arch("over-link", [top, ("./v", "sym", f"{d}/victim"), ("./v", "file", b"replaced")])
EOF
	for h in through-link dir-over-link link-to-self dotdot absolute over-link; do
		rm -rf "$d/in" && mkdir "$d/in"
		sbx_tar "${EXTRACT[@]}" "$d/in" <"$d/$h.tgz" >"$d/$h.out" 2>&1
		assert_eq "$(ls -A "$d/outside")" "" "$h: nothing written outside"
		assert_eq "$(cat "$d/victim")" original "$h: the planted link's target"
		[ ! -e "$d/escaped" ] || fail "$h: escaped through .."
	done
	# The link replaced by the file, inside; its mode as archived.
	assert_eq "$(cat "$d/in/v")" replaced "over-link: the file is made inside"
	assert_eq "$(stat -c %a "$d/in/v")" 4755 "over-link: its mode"
	out=$(cat "$d/through-link.out")
	assert_contains "$out" "sbx-tar: a/f" "a planted link is not followed, and named"
}

source "$(dirname "$0")/lib.sh"
