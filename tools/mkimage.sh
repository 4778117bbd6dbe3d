#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds an sbx image directory: manifest.json + rootfs/.
#   mkimage.sh base OUTDIR SBX_INIT   busybox-static with applet links, plus sbx-init
#   mkimage.sh host OUTDIR            the host's /usr (and friends) bound read-only,
#                                     with a minimal generated /etc
set -euo pipefail

kind=${1:?usage: mkimage.sh base|host OUTDIR [SBX_INIT]}
out=${2:?usage: mkimage.sh base|host OUTDIR [SBX_INIT]}
tmp="$out.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp"
root="$tmp/rootfs"
mkdir -p "$root"/{dev,proc,tmp,root,etc,run,var/tmp,home}
chmod 1777 "$root/tmp" "$root/var/tmp"

write_etc() {
	cat >"$root/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
sandbox:x:1000:1000:sandbox:/tmp:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
P
	cat >"$root/etc/group" <<'G'
root:x:0:
sandbox:x:1000:
nogroup:x:65534:
G
	printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
	printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
	: >"$root/etc/resolv.conf"
}

case "$kind" in
base)
	init=${3:?usage: mkimage.sh base OUTDIR SBX_INIT}
	bb=/bin/busybox # from busybox-static: needs no libc inside the image
	[ -x "$bb" ] || { echo "mkimage: busybox-static is not installed" >&2; exit 1; }
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin}
	install -m 0755 "$bb" "$root/bin/busybox"
	install -m 0755 "$init" "$root/sbin/sbx-init"
	"$bb" --list-full | while read -r applet; do
		case "$applet" in bin/busybox | linuxrc) continue ;; esac
		ln -sf /bin/busybox "$root/$applet"
	done
	write_etc
	cat >"$tmp/manifest.json" <<'M'
{
  "name": "base",
  "rootfs": "rootfs",
  "env": { "PATH": "/bin:/sbin:/usr/bin:/usr/sbin" }
}
M
	;;
host)
	binds=('{ "source": "/usr", "target": "/usr" }')
	mkdir -p "$root/usr"
	# Mirror the host's top-level layout: merged-/usr symlinks, or bound directories.
	for d in bin sbin lib lib32 lib64 libx32; do
		if [ -L "/$d" ]; then
			ln -s "$(readlink "/$d")" "$root/$d"
		elif [ -d "/$d" ]; then
			mkdir -p "$root/$d"
			binds+=("{ \"source\": \"/$d\", \"target\": \"/$d\" }")
		fi
	done
	write_etc
	[ -f /etc/ld.so.cache ] && cp /etc/ld.so.cache "$root/etc/ld.so.cache"
	[ -e /etc/os-release ] && cp -P /etc/os-release "$root/etc/os-release"
	for d in ssl ca-certificates alternatives; do
		if [ -d "/etc/$d" ]; then
			mkdir -p "$root/etc/$d"
			binds+=("{ \"source\": \"/etc/$d\", \"target\": \"/etc/$d\" }")
		fi
	done
	{
		printf '{\n  "name": "host",\n  "rootfs": "rootfs",\n  "binds": [\n'
		for i in "${!binds[@]}"; do
			sep=,
			[ "$i" -eq $((${#binds[@]} - 1)) ] && sep=
			printf '    %s%s\n' "${binds[$i]}" "$sep"
		done
		printf '  ],\n  "env": { "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" }\n}\n'
	} >"$tmp/manifest.json"
	;;
*)
	echo "mkimage: unknown image kind '$kind' (base or host)" >&2
	exit 1
	;;
esac
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
