/* SPDX-License-Identifier: MIT */
/* CRIU's image of a user namespace (userns-N.img), rewritten for a restore into a range
 * of host ids other than the one it was dumped with: every sandbox, restored copies
 * included, has ids of its own (sandbox/idmap.h). The image is CRIU's framing (an
 * 8-byte magic, then entries of a 32-bit little-endian size and a protobuf
 * UsernsEntry {repeated UidGidExtent uid_map = 1, gid_map = 2}, UidGidExtent {uint32
 * first = 1, lower_first = 2, count = 3}). Pure: no I/O.
 * Returns the new image's size, -EINVAL for an image it does not understand, -ERANGE
 * for a map that is not within [@from, @from + 65536), -ENOSPC if @out is too small. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

ssize_t criuimg_userns_remap(const uint8_t *in, size_t len, uint32_t from, uint32_t to,
			     uint8_t *out, size_t size);
