#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds an sbx image directory (manifest.json + rootfs/) from its recipe directory
# images/IMAGE/, after images/common/; images/README.md describes both.
#   build.sh IMAGE OUTDIR [SBX_INIT]   SBX_INIT: the sbx-init binary, for recipes that say `init`
set -euo pipefail

usage="usage: build.sh IMAGE OUTDIR [SBX_INIT]"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
name=${1:?$usage}
out=${2:?$usage}
init=${3:-}

die() {
	echo "build.sh: $*" >&2
	exit 1
}

known_images() {
	local r names=()
	for r in "$here"/*/recipe; do
		r=${r%/recipe}
		r=${r##*/}
		[ "$r" = common ] || names+=("$r")
	done
	echo "${names[*]}"
}

if [ "$name" = common ] || [[ "$name" == */* ]] || [ ! -f "$here/$name/recipe" ]; then
	die "unknown image '$name' (one of: $(known_images))"
fi

tmp="$out.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp"
root="$tmp/rootfs"
mkdir -p "$root"
binds=() # host paths bound read-only at the same path, in manifest order
# add_bind PATH [below]: the host's PATH bound read-only at PATH, its mount point made;
# with `below`, then every host mount below PATH (a driver tree mounted at
# /usr/local/nvidia, say), in the order the host mounted them: a bind is not recursive, so
# without these the image would show empty directories there. Mount points whose names
# need escaping are left out, as recipe paths would be. An image holds at most 32 binds
# (sandbox/image.c).
add_bind() {
	local sub
	mkdir -p "$root$1"
	binds+=("$1")
	[ "${2:-}" = below ] || return 0
	while read -r sub; do
		[[ "$sub" =~ ^/[A-Za-z0-9._+/-]+$ ]] && [[ "$sub" != *..* ]] && [ -e "$sub" ] || continue
		binds+=("$sub")
	done < <(awk -v p="${1%/}/" 'index($5, p) == 1 && !seen[$5]++ { print $5 }' /proc/self/mountinfo)
	[ ${#binds[@]} -le 32 ] || die "$1: ${#binds[@]} binds with the host's mounts below it; an image takes 32"
}

# One recipe line: VERB PATH... (chmod: VERB MODE PATH...). $where names the line.
do_verb() {
	local verb=$1 where=$2 p applet
	shift 2
	local mode=
	if [ "$verb" = chmod ]; then
		mode=${1:-}
		[[ "$mode" =~ ^[0-7]{3,4}$ ]] || die "$where: chmod wants an octal mode, not '$mode'"
		shift
	fi
	[ $# -gt 0 ] || die "$where: $verb wants at least one path"
	[ "$verb" = debian ] && return 0
	for p in "$@"; do
		# Plain absolute paths only: they go into the manifest's JSON unescaped.
		if ! [[ "$p" =~ ^/[A-Za-z0-9._+/-]+$ ]] || [[ "$p" == *..* ]]; then
			die "$where: '$p' must be an absolute path of [A-Za-z0-9._+-/] without '..'"
		fi
		case "$verb" in
		dir) mkdir -p "$root$p" ;;
		chmod) chmod "$mode" "$root$p" ;;
		busybox)
			# The host's busybox-static at the same path, and a link to it per applet.
			[ -x "$p" ] || die "busybox-static is not installed ($p)"
			install -m 0755 "$p" "$root$p"
			"$p" --list-full | while read -r applet; do
				case "$applet" in "${p#/}" | linuxrc) continue ;; esac
				ln -sf "$p" "$root/$applet"
			done
			;;
		init)
			[ -n "$init" ] || die "image '$name' installs sbx-init: build.sh $name OUTDIR SBX_INIT"
			install -m 0755 "$init" "$root$p"
			;;
		bind)
			add_bind "$p" below
			;;
		bind-if-dir)
			if [ -d "$p" ]; then add_bind "$p"; fi
			;;
		mirror)
			if [ -L "$p" ]; then
				ln -s "$(readlink "$p")" "$root$p"
			elif [ -d "$p" ]; then
				add_bind "$p"
			fi
			;;
		copy)
			if [ -f "$p" ]; then cp "$p" "$root$p"; fi
			;;
		copy-as-is)
			if [ -e "$p" ]; then cp -P "$p" "$root$p"; fi
			;;
		debian) ;; # done first, into the empty rootfs (debian_base)
		*) die "$where: unknown verb '$verb'" ;;
		esac
	done
}

run_recipe() {
	local file=$1 line n=0
	local -a words
	while IFS= read -r line || [ -n "$line" ]; do
		n=$((n + 1))
		line=${line%%#*}
		read -ra words <<<"$line"
		[ ${#words[@]} -gt 0 ] || continue
		do_verb "${words[0]}" "${file#"$here"/}:$n" "${words[@]:1}"
	done <"$file"
}

# The files of /etc, verbatim: common/etc/ first, then the image's own etc/ over them.
copy_etc() {
	local f
	for f in "$here/common/etc"/* "$here/$name/etc"/*; do
		[ -e "$f" ] || continue
		[ -f "$f" ] || die "${f#"$here"/}: only plain files belong in etc/"
		cat "$f" >"$root/etc/${f##*/}"
	done
}

# The image's manifest.json, its line @BINDS@ replaced by the binds the recipe made.
write_manifest() {
	local template="$here/$name/manifest.json" line i sep placed=0
	[ -f "$template" ] || die "${template#"$here"/} is missing"
	while IFS= read -r line || [ -n "$line" ]; do
		if [ "$line" != "@BINDS@" ]; then
			printf '%s\n' "$line"
			continue
		fi
		placed=1
		for i in "${!binds[@]}"; do
			sep=,
			if [ "$i" -eq $((${#binds[@]} - 1)) ]; then sep=; fi
			printf '    { "source": "%s", "target": "%s" }%s\n' "${binds[$i]}" "${binds[$i]}" "$sep"
		done
	done <"$template" >"$tmp/manifest.json"
	if [ ${#binds[@]} -gt 0 ] && [ "$placed" -eq 0 ]; then
		die "$name/manifest.json has no @BINDS@ line for the recipe's ${#binds[@]} binds"
	fi
}

# The recipe's `debian PKG...` lines: one Debian root filesystem of the host's release
# with those packages, from the host's own apt sources and configuration, made by
# mmdebstrap into the still-empty rootfs before any other step. Documentation, manual
# pages and translations are left out.
debian_base() {
	local pkgs=() line words suite srcs=() f
	while IFS= read -r line || [ -n "$line" ]; do
		line=${line%%#*}
		read -ra words <<<"$line"
		[ "${words[0]:-}" = debian ] || continue
		for f in "${words[@]:1}"; do
			[[ "$f" =~ ^[a-z0-9][a-z0-9.+-]*$ ]] || die "debian: '$f' is not a package name"
			pkgs+=("$f")
		done
	done <"$here/$name/recipe"
	[ ${#pkgs[@]} -gt 0 ] || return 0
	command -v mmdebstrap >/dev/null || die "mmdebstrap is not installed (make setup)"
	suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	[ -n "$suite" ] || die "the host's release has no codename in /etc/os-release"
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] && grep -qE '^(deb |Types:.*deb)' "$f" && srcs+=("$f")
	done
	[ ${#srcs[@]} -gt 0 ] || die "the host has no apt sources to build from"
	rmdir "$root"
	mmdebstrap --quiet --mode=root --variant=minbase --format=directory \
		--aptopt='APT::Install-Recommends "false"' \
		--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
		--include="$(
			IFS=,
			echo "${pkgs[*]}"
		)" "$suite" "$root" "${srcs[@]}" || die "mmdebstrap failed"
	rm -rf "$root/var/cache/apt/archives"/*.deb "$root/var/lib/apt/lists"/* "$root/dev"/*
}

debian_base
run_recipe "$here/common/recipe"
run_recipe "$here/$name/recipe"
copy_etc
write_manifest
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
