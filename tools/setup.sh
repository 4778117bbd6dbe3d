#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what sbx needs on a fresh Debian 12 machine: build and runtime packages,
# CRIU >= 4.2 (built from Debian's source package when the installed one is older
# or fails `criu check`), and bpffs. Idempotent; run as root. Called by make.
set -euo pipefail

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }
# shellcheck source=tools/debsrc.sh
. "$(dirname "$0")/debsrc.sh"

[ "$(id -u)" = 0 ] || die "must run as root (it installs packages)"
# Called by make, whose command line (`make CC=clang`, say: in MAKEFLAGS and the
# environment) is not CRIU's build's.
unset MAKEFLAGS MFLAGS MAKEOVERRIDES MAKELEVEL CC CFLAGS CPPFLAGS LDFLAGS LIBS

PKGS=(
	build-essential pkg-config clang llvm clang-format-14 libclang-rt-14-dev cmake gperf
	libseccomp-dev libcap-dev liburing-dev libbpf-dev bpftool linux-libc-dev musl-tools
	libjansson-dev libsqlite3-dev sqlite3 libhttp-parser-dev libssl-dev check
	busybox-static bubblewrap hyperfine iproute2 util-linux procps curl
	ca-certificates python3 xz-utils dpkg-dev prometheus libnftables-dev nftables
	openssl libarchive-dev mmdebstrap zlib1g-dev containerd runc crun
)
# CRIU's build dependencies, from bookworm.
CRIU_DEPS=(
	libbsd-dev libnet1-dev libnftables-dev libnl-3-dev
	libprotobuf-c-dev libprotobuf-dev protobuf-c-compiler protobuf-compiler
	uuid-dev python3-protobuf libcap-dev nftables
)

# The workload tests run node in the host image, and the E2B tests the E2B SDK (npm);
# Debian's nodejs and npm unless they are present.
command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
command -v npm >/dev/null 2>&1 || PKGS+=(npm)

export DEBIAN_FRONTEND=noninteractive
missing=()
for p in "${PKGS[@]}" "${CRIU_DEPS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing: ${missing[*]}"
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	# The tests need promtool; the Prometheus server that the package starts is not ours.
	if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
		systemctl disable --now prometheus.service >/dev/null 2>&1 || true
	fi
fi

criu_ok() {
	command -v criu >/dev/null 2>&1 || return 1
	local v
	v=$(criu --version 2>/dev/null | sed -n 's/^Version: *//p')
	[ -n "$v" ] || return 1
	dpkg --compare-versions "$v" ge 4.2 || return 1
	# Built without GnuTLS (sbx uses no TLS page server): its start-up costs 4 ms of
	# every checkpoint and restore.
	local libs
	libs=$(ldd "$(command -v criu)" 2>/dev/null || true)
	[[ "$libs" != *libgnutls* ]] || return 1
	criu check >/dev/null 2>&1
}

# The first Debian archive of the host's apt sources (deb822 .sources, else one-line
# .list), security archives aside.
host_archive() {
	local u
	u=$(awk '$1 == "URIs:" { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
		/etc/apt/sources.list.d/*.sources 2>/dev/null)
	[ -n "$u" ] || u=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\//) {
		if ($i !~ /security/) { print $i; exit } else break } }' \
		/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null)
	echo "${u%/}"
}

if ! criu_ok; then
	log "building CRIU >= 4.2 from Debian's source package"
	work=$(mktemp -d /tmp/sbx-criu.XXXXXX)
	trap 'rm -rf "$work"' EXIT
	# The host's own Debian archive (its apt sources), for the newer source package.
	archive=$(host_archive)
	[ -n "$archive" ] || die "no Debian archive in the host's apt sources to fetch CRIU's source from"
	printf 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s unstable main\n' \
		"$archive" >"$work/sources.list"
	debsrc_init "$work" "$work/sources.list" ""
	debsrc_get criu >/dev/null || { debsrc_why; die "could not download the criu source package"; }
	origs=("$work"/src/criu_*.orig.tar.*)
	orig=${origs[0]}
	[ -e "$orig" ] || die "the criu source package has no upstream tarball"
	mkdir -p "$work/build"
	tar -xf "$orig" -C "$work/build" --strip-components=1
	# Without GnuTLS and libnftables: the TLS page server and nft network locking are
	# unused (sbx skips the lock), and the two libraries and their dependencies are
	# loaded by every criu run, with its forks copying their mappings.
	printf '#!/bin/sh\ncase " $* " in *" libnftables "*) exit 1 ;; esac\nexec pkg-config "$@"\n' \
		>"$work/pkg-config"
	chmod 0755 "$work/pkg-config"
	make -C "$work/build" -j"$(nproc)" NO_GNUTLS=1 PKG_CONFIG="$work/pkg-config" criu \
		>/dev/null 2>"$work/build.log" ||
		{ tail -n 30 "$work/build.log" >&2; die "criu build failed"; }
	install -m 0755 "$work/build/criu/criu" /usr/local/sbin/criu
	hash -r
	criu_ok || die "criu $(criu --version 2>/dev/null | head -n1) does not pass 'criu check'"
fi

if ! grep -q ' /sys/fs/bpf bpf ' /proc/mounts; then
	mkdir -p /sys/fs/bpf
	mount -t bpf bpf /sys/fs/bpf || log "warning: could not mount bpffs at /sys/fs/bpf"
fi
log "ok: $(criu --version | head -n1), $(bpftool version 2>/dev/null | head -n1)"
