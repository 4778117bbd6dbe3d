#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The rooms of sbxd keep their order: tools/check-layers.sh passes on the tree, and
# fails, naming the file and line, on an include planted against the order.

t_rooms_in_order() {
	bash tools/check-layers.sh >/dev/null || fail "check-layers fails on the tree"
}

# A copy of the checked folders with one include added at the top of @file.
plant() {
	local dir=$1 file=$2 inc=$3
	mkdir -p "$dir/tools"
	cp -r sandbox bpf host "$dir/"
	cp tools/check-layers.sh "$dir/tools/"
	sed -i "1a #include \"$inc\"" "$dir/$file"
}

t_planted_includes_fail() {
	local tmp out case
	tmp=$(mktemp -d)
	# room file, what it may not include
	for case in "host/sys/loop.c ../domain/domain.h" \
		"host/billing/ledger.c ../edge/edge.h" \
		"host/domain/exec.c ../edge/http.h" \
		"sandbox/spec.c ../host/sys/log.h" \
		"host/edge/api.c ../sbxd.c"; do
		set -- $case
		rm -rf "${tmp:?}"/*
		plant "$tmp" "$1" "$2"
		if out=$(bash "$tmp/tools/check-layers.sh" 2>&1); then
			fail "check-layers passed with $1 including $2"
		fi
		assert_contains "$out" "$1:2: includes" "check-layers names the planted include"
	done
	rm -rf "$tmp"
}
source "$(dirname "$0")/lib.sh"
