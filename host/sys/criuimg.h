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

/* CRIU's inventory (inventory.img: a 4-byte magic, then one entry of a 32-bit
 * little-endian size and a protobuf InventoryEntry {..., TaskKobjIdsEntry root_ids = 3,
 * ...}, TaskKobjIdsEntry {..., uint32 net_ns_id = 6, ...}) with root_ids' net_ns_id set
 * to 0, which no namespace has. A dump run inside the tree's own network namespace (that
 * namespace is then CRIU's, so not dumped) restores as one that had a namespace of its
 * own: the restore makes a new one, which --empty-ns=net leaves empty. Everything else
 * stays as it is. Returns the new image's size, -EINVAL for an image it does not
 * understand, -ENOSPC if @out is too small. Pure: no I/O. */
ssize_t criuimg_inventory_own_netns(const uint8_t *in, size_t len, uint8_t *out, size_t size);

/* Whether CRIU's image of a tree's open files (files.img: an 8-byte magic, then entries
 * of a 32-bit little-endian size and a protobuf FileEntry {fd_types type = 1, ...}) holds
 * one whose restore may need the network namespace's loopback up: an inet or packet
 * socket, a tun file, an external file, or a type this does not know (1); only others
 * (0); -EINVAL for an image it does not understand. Pure: no I/O. */
int criuimg_files_need_net(const uint8_t *in, size_t len);

/* The pages that CRIU's pagemap image (pagemap-N.img: an 8-byte magic, then an entry of
 * a protobuf PagemapHead {uint32 pages_id = 1}, then entries of a PagemapEntry {uint64
 * vaddr = 1, uint32 compat_nr_pages = 2, bool in_parent = 3, uint32 flags = 4, uint64
 * nr_pages = 5}) says are in its pages-ID.img, ID in *ret_pages_id: the sum of nr_pages
 * (compat_nr_pages when absent) of the entries flagged present (PE_PRESENT; without
 * flags, those not in the parent). -EINVAL for an image it does not understand. Pure: no
 * I/O. A restore checks the pages images against it: a short one (a damaged snapshot)
 * can leave CRIU spinning until its deadline. */
int64_t criuimg_pagemap_pages(const uint8_t *in, size_t len, uint32_t *ret_pages_id);
