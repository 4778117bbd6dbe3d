# SPDX-License-Identifier: MIT
# Sourced by setup.sh and musl-libs.sh: Debian source packages, fetched with apt through a
# private state directory and cache, so that the host's apt lists and caches stay as they
# were.

# debsrc_host_parts DIR: the host's own apt sources (deb822 .sources, one-line .list)
# rewritten as deb-src entries, into DIR.
debsrc_host_parts() {
	local dir=$1 f
	mkdir -p "$dir"
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -e "$f" ] || continue
		sed 's/^Types:.*/Types: deb-src/' "$f" >"$dir/$(basename "$f")"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -e "$f" ] || continue
		sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$f" >"$dir/host-$(basename "$f" .list).list"
	done
}

# debsrc_init WORK LIST PARTS: apt state in WORK for the sources of LIST, a one-line file,
# and of the directory PARTS (either may be empty), updated. A source that cannot be
# updated (a third-party repository's expired key, say) is passed over: what matters is
# whether a package arrives, which debsrc_get says. apt's output is in WORK/apt.log.
debsrc_init() {
	DEBSRC_WORK=$1
	local list=$2 parts=$3
	mkdir -p "$DEBSRC_WORK/lists/partial" "$DEBSRC_WORK/cache/archives/partial" "$DEBSRC_WORK/src"
	chmod 755 "$DEBSRC_WORK"
	# apt downloads as its own user where that user may write (else as root, with a warning).
	if id _apt >/dev/null 2>&1; then
		chown _apt "$DEBSRC_WORK/lists/partial" "$DEBSRC_WORK/cache/archives/partial" \
			"$DEBSRC_WORK/src"
	fi
	[ -n "$list" ] || { list=$DEBSRC_WORK/none.list && : >"$list"; }
	[ -n "$parts" ] || parts=-
	DEBSRC_OPT=(-o "Dir::Etc::SourceList=$list" -o "Dir::Etc::SourceParts=$parts"
		-o "Dir::State::Lists=$DEBSRC_WORK/lists" -o "Dir::Cache=$DEBSRC_WORK/cache"
		-o "APT::Get::List-Cleanup=0")
	apt-get "${DEBSRC_OPT[@]}" update -qq >>"$DEBSRC_WORK/apt.log" 2>&1 || true
}

# debsrc_get PKG[=VERSION]: downloads the source package (the newest the sources offer,
# without a version) into WORK/src, checked against the signed index apt fetched, and
# prints the path of its .dsc; fails, printing nothing, when it is not to be had.
debsrc_get() {
	local f pkg=${1%%=*} ver=
	[ "$pkg" = "$1" ] || ver=${1#*=}
	(cd "$DEBSRC_WORK/src" && apt-get "${DEBSRC_OPT[@]}" source --download-only "$1") \
		>>"$DEBSRC_WORK/apt.log" 2>&1 || return 1
	# The one asked for, not another an earlier attempt left (file names carry no epoch).
	for f in "$DEBSRC_WORK/src/${pkg}_${ver:+${ver#*:}}"*.dsc; do
		[ -e "$f" ] && echo "$f" && return 0
	done
	return 1
}

# debsrc_why: apt's errors and warnings so far, the last few (for a failed download).
debsrc_why() {
	grep -E '^(E|W|Err):' "$DEBSRC_WORK/apt.log" | tail -n 5 >&2 || true
}
