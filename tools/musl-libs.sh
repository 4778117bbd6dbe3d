#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The libraries `sbx` links against musl: libseccomp, libcap, jansson and http-parser,
# built static from Debian's source packages, with Debian's patches, into DEST/lib and
# DEST/include. Debian ships them for glibc only. Each is the source of the -dev package
# installed (the one sbxd and sbx-full link), else the newest the host's apt sources offer
# as deb-src. Called by make; needs the network, as setup.sh does.
#   tools/musl-libs.sh DEST LINUX_INC CFLAGS
# LINUX_INC: the kernel's headers, for musl-gcc; CFLAGS: the hardening to build with.
set -euo pipefail

log() { printf 'musl-libs: %s\n' "$*" >&2; }
die() { printf 'musl-libs: error: %s\n' "$*" >&2; exit 1; }
# shellcheck source=tools/debsrc.sh
. "$(dirname "$0")/debsrc.sh"

[ $# = 3 ] || die "usage: musl-libs.sh DEST LINUX_INC CFLAGS"
dest=$(realpath -m "$1")
inc=$(realpath "$2")
cflags="-O2 -fPIE $3"
jobs=$(nproc)
# The make that runs this passes its command line on (MAKEFLAGS, and the variables in
# the environment): `make CC=clang` would reach the libraries' own makes and build them
# with clang against glibc's headers, and `make CFLAGS=...` drop the hardening.
unset MAKEFLAGS MFLAGS MAKEOVERRIDES MAKELEVEL CC CFLAGS CPPFLAGS LDFLAGS LIBS

work=$(mktemp -d /tmp/sbx-musl.XXXXXX)
trap 'rm -rf "$work" "$dest.new"' EXIT
chmod 755 "$work" # apt downloads as _apt, below it
debsrc_host_parts "$work/parts"
debsrc_init "$work/apt" "" "$work/parts"

# step NAME CMD...: runs CMD quietly; on failure shows the end of its output.
step() {
	local name=$1
	shift
	"$@" >>"$work/$name.log" 2>&1 || { tail -n 30 "$work/$name.log" >&2; die "$name: build failed"; }
}
# unpack SOURCE DEV: SOURCE's package, the version of the installed DEV's source where
# the sources have it, Debian's patches applied, in WORK/SOURCE.
unpack() {
	local v dsc
	v=$(dpkg-query -W -f='${source:Version}\n' "$2" 2>/dev/null | head -n1) || v=
	if [ -z "$v" ] || ! dsc=$(debsrc_get "$1=$v"); then
		log "$1${v:+ $v}: not in the host's sources (or $2 not installed); the newest"
		rm -f "$DEBSRC_WORK/src/$1_"* # what a failed attempt left
		dsc=$(debsrc_get "$1") || { debsrc_why; die "could not download the $1 source package"; }
	fi
	dpkg-source --no-check -x "$dsc" "$work/$1" >/dev/null
	basename "$dsc" .dsc >>"$dest.new/versions"
}

rm -rf "$dest.new"
mkdir -p "$dest.new/lib" "$dest.new/include/sys"
log "building libseccomp, libcap, jansson and http-parser for musl"

unpack libseccomp libseccomp-dev
(cd "$work/libseccomp" &&
	step libseccomp env CC=musl-gcc CFLAGS="$cflags -isystem $inc" ./configure \
		--disable-shared --enable-static --disable-python &&
	step libseccomp make -j"$jobs" -C src libseccomp.la)
cp "$work/libseccomp/src/.libs/libseccomp.a" "$dest.new/lib/"
cp "$work"/libseccomp/include/seccomp{,-syscalls}.h "$dest.new/include/"

unpack libcap2 libcap-dev
step libcap2 make -C "$work/libcap2/libcap" CC=musl-gcc BUILD_CC=gcc COPTS="$cflags" libcap.a
cp "$work/libcap2/libcap/libcap.a" "$dest.new/lib/"
cp "$work/libcap2/libcap/include/sys/capability.h" "$dest.new/include/sys/"

unpack jansson libjansson-dev
step jansson cmake -S "$work/jansson" -B "$work/jansson/build" -DCMAKE_C_COMPILER=musl-gcc \
	-DCMAKE_C_FLAGS="$cflags" -DJANSSON_BUILD_SHARED_LIBS=OFF -DJANSSON_EXAMPLES=OFF \
	-DJANSSON_BUILD_DOCS=OFF -DJANSSON_WITHOUT_TESTS=ON -DCMAKE_INSTALL_PREFIX="$work/jansson/out"
step jansson make -j"$jobs" -C "$work/jansson/build" install
cp "$work/jansson/out/lib/libjansson.a" "$dest.new/lib/"
cp "$work"/jansson/out/include/jansson{,_config}.h "$dest.new/include/"

unpack http-parser libhttp-parser-dev
# shellcheck disable=SC2086 # $cflags is a list of flags
step http-parser musl-gcc $cflags -c -o "$work/http_parser.o" "$work/http-parser/http_parser.c"
ar rcs "$dest.new/lib/libhttp_parser.a" "$work/http_parser.o"
cp "$work/http-parser/http_parser.h" "$dest.new/include/"

# In place at once: a failed build leaves the last good one (the trap removes the new).
rm -rf "$dest"
mv "$dest.new" "$dest"
log "ok: $(paste -sd' ' "$dest/versions")"
