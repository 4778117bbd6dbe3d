#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The libraries `sbx` links against musl: libseccomp, libcap, jansson and http-parser,
# built static from Debian's source packages of the host's own release (its apt sources,
# as deb-src), with Debian's patches, into DEST/lib and DEST/include. Debian ships them for
# glibc only. Called by make; needs the network the first time, as setup.sh does.
#   tools/musl-libs.sh DEST LINUX_INC    LINUX_INC: the kernel's headers, for musl-gcc
set -euo pipefail

log() { printf 'musl-libs: %s\n' "$*" >&2; }
die() { printf 'musl-libs: error: %s\n' "$*" >&2; exit 1; }
# shellcheck source=tools/debsrc.sh
. "$(dirname "$0")/debsrc.sh"

[ $# = 2 ] || die "usage: musl-libs.sh DEST LINUX_INC"
dest=$(realpath -m "$1")
inc=$(realpath "$2")
jobs=$(nproc)
# The hardening Debian builds these with, but _FORTIFY_SOURCE, which musl lacks.
cflags="-O2 -fPIE -fstack-protector-strong -fstack-clash-protection -fcf-protection"

work=$(mktemp -d /tmp/sbx-musl.XXXXXX)
trap 'rm -rf "$work"' EXIT
debsrc_host_parts "$work/parts"
debsrc_fetch "$work" "" "$work/parts" libseccomp libcap2 jansson http-parser
# step NAME CMD...: runs CMD quietly; on failure shows the end of its output.
step() {
	local name=$1
	shift
	"$@" >>"$work/$name.log" 2>&1 || { tail -n 30 "$work/$name.log" >&2; die "$name: build failed"; }
}
# unpack PKG: the source package, Debian's patches applied, in WORK/PKG.
unpack() {
	local dsc
	dsc=$(ls "$work"/src/"$1"_*.dsc 2>/dev/null | head -n1)
	[ -n "$dsc" ] || die "could not download the $1 source package"
	dpkg-source --no-check -x "$dsc" "$work/$1" >/dev/null
	basename "$dsc" .dsc >>"$work/versions"
}

rm -rf "$dest"
mkdir -p "$dest/lib" "$dest/include/sys"

log "building libseccomp, libcap, jansson and http-parser for musl"
unpack libseccomp
(cd "$work/libseccomp" &&
	step libseccomp env CC=musl-gcc CFLAGS="$cflags -isystem $inc" ./configure \
		--disable-shared --enable-static --disable-python &&
	step libseccomp make -j"$jobs" -C src libseccomp.la)
cp "$work/libseccomp/src/.libs/libseccomp.a" "$dest/lib/"
cp "$work"/libseccomp/include/seccomp{,-syscalls}.h "$dest/include/"

unpack libcap2
step libcap2 make -C "$work/libcap2/libcap" CC=musl-gcc BUILD_CC=gcc COPTS="$cflags" libcap.a
cp "$work/libcap2/libcap/libcap.a" "$dest/lib/"
cp "$work/libcap2/libcap/include/sys/capability.h" "$dest/include/sys/"

unpack jansson
step jansson cmake -S "$work/jansson" -B "$work/jansson/build" -DCMAKE_C_COMPILER=musl-gcc \
	-DCMAKE_C_FLAGS="$cflags" -DJANSSON_BUILD_SHARED_LIBS=OFF -DJANSSON_EXAMPLES=OFF \
	-DJANSSON_BUILD_DOCS=OFF -DJANSSON_WITHOUT_TESTS=ON -DCMAKE_INSTALL_PREFIX="$work/jansson/out"
step jansson make -j"$jobs" -C "$work/jansson/build" install
cp "$work/jansson/out/lib/libjansson.a" "$dest/lib/"
cp "$work"/jansson/out/include/jansson{,_config}.h "$dest/include/"

unpack http-parser
step http-parser musl-gcc $cflags -c -o "$work/http_parser.o" "$work/http-parser/http_parser.c"
ar rcs "$dest/lib/libhttp_parser.a" "$work/http_parser.o"
cp "$work/http-parser/http_parser.h" "$dest/include/"

cp "$work/versions" "$dest/versions"
log "ok: $(paste -sd' ' "$dest/versions")"
