# SPDX-License-Identifier: MIT
# Sourced by setup.sh and musl-libs.sh: Debian source packages, fetched with apt through a
# private state directory, so that the host's apt configuration and lists stay untouched.

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

# debsrc_fetch WORK LIST PARTS PKG...: downloads the source packages PKG (the newest each
# source of LIST, a one-line file, and of the directory PARTS offers; either may be
# empty) into WORK/src. The download is checked against the signed index apt fetched.
debsrc_fetch() {
	local work=$1 list=$2 parts=$3
	shift 3
	mkdir -p "$work/lists/partial" "$work/src"
	chmod 755 "$work"
	[ -n "$list" ] || { list=$work/none.list && : >"$list"; }
	[ -n "$parts" ] || parts=-
	local aopt=(-o "Dir::Etc::SourceList=$list" -o "Dir::Etc::SourceParts=$parts"
		-o "Dir::State::Lists=$work/lists" -o "APT::Get::List-Cleanup=0")
	apt-get "${aopt[@]}" update -qq
	(cd "$work/src" && apt-get "${aopt[@]}" source --download-only "$@" >/dev/null 2>&1) || true
}
