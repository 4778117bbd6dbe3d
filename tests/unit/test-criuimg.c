// SPDX-License-Identifier: MIT
/* Unit tests for the rewrite of CRIU's user-namespace image. */
#include "../../host/sys/criuimg.h"

#include <errno.h>

#include "harness.h"

/* As CRIU 4.2 wrote it for a sandbox mapped 0-65535 -> 100000-165535. */
static const uint8_t dumped[] = { 0x19, 0x43, 0x56, 0x54, 0x06, 0x49, 0x47, 0x55, 0x18,
				  0x00, 0x00, 0x00, 0x0a, 0x0a, 0x08, 0x00, 0x10, 0xa0,
				  0x8d, 0x06, 0x18, 0x80, 0x80, 0x04, 0x12, 0x0a, 0x08,
				  0x00, 0x10, 0xa0, 0x8d, 0x06, 0x18, 0x80, 0x80, 0x04 };

TEST(remaps_both_maps)
{
	uint8_t out[128], back[128];
	ssize_t n =
		criuimg_userns_remap(dumped, sizeof(dumped), 100000, 1u << 30, out, sizeof(out));
	/* lower_first grows from 3 varint bytes to 5: each extent by 2, the entry by 4. */
	CHECK_EQ_INT(n, (ssize_t)sizeof(dumped) + 4);
	CHECK(!memcmp(out, dumped, 8));
	CHECK(out[8] == 0x1c && out[9] == 0 && out[10] == 0 && out[11] == 0);
	static const uint8_t extent[] = { 0x0a, 0x0c, 0x08, 0x00, 0x10, 0x80, 0x80,
					  0x80, 0x80, 0x04, 0x18, 0x80, 0x80, 0x04 };
	CHECK(!memcmp(out + 12, extent, sizeof(extent)));
	CHECK(out[12 + sizeof(extent)] == 0x12);
	/* And back: the same bytes CRIU wrote. */
	CHECK_EQ_INT(criuimg_userns_remap(out, (size_t)n, 1u << 30, 100000, back, sizeof(back)),
		     sizeof(dumped));
	CHECK(!memcmp(back, dumped, sizeof(dumped)));
}

TEST(refuses_what_it_does_not_understand)
{
	uint8_t img[sizeof(dumped)], out[128];

	/* A map outside the range it was told of. */
	CHECK_EQ_INT(
		criuimg_userns_remap(dumped, sizeof(dumped), 200000, 1u << 30, out, sizeof(out)),
		-ERANGE);
	/* Truncated anywhere. */
	for (size_t len = 0; len < sizeof(dumped); len++)
		CHECK(criuimg_userns_remap(dumped, len, 100000, 1u << 30, out, sizeof(out)) < 0 ||
		      len == 8);
	/* An unknown field in an extent. */
	memcpy(img, dumped, sizeof(img));
	img[14] = 0x20;
	CHECK_EQ_INT(criuimg_userns_remap(img, sizeof(img), 100000, 1u << 30, out, sizeof(out)),
		     -EINVAL);
	/* An output too small. */
	CHECK_EQ_INT(criuimg_userns_remap(dumped, sizeof(dumped), 100000, 1u << 30, out, 20),
		     -ENOSPC);
}

/* CRIU 4.2's inventory of a dump run inside the tree's own network namespace: root_ids
 * (field 3) says net_ns_id 2 (field 6), the tree's own. */
static const uint8_t inventory[] = {
	0x16, 0x31, 0x31, 0x58, 0x4e, 0x00, 0x00, 0x00, 0x08, 0x02, 0x10, 0x01, 0x1a, 0x18, 0x08,
	0x01, 0x10, 0x01, 0x18, 0x01, 0x20, 0x01, 0x28, 0x01, 0x30, 0x02, 0x38, 0x03, 0x40, 0x04,
	0x48, 0x06, 0x50, 0x07, 0x58, 0x08, 0x60, 0x05, 0x20, 0x01, 0x28, 0x01, 0x30, 0x00, 0x58,
	0x02, 0x62, 0x00, 0x6a, 0x24, 0x35, 0x32, 0x38, 0x62, 0x35, 0x39, 0x34, 0x35, 0x2d, 0x37,
	0x36, 0x62, 0x31, 0x2d, 0x34, 0x35, 0x39, 0x31, 0x2d, 0x39, 0x38, 0x65, 0x36, 0x2d, 0x61,
	0x32, 0x39, 0x33, 0x62, 0x66, 0x62, 0x63, 0x62, 0x30, 0x33, 0x66
};

TEST(inventory_root_net_ns_zeroed)
{
	uint8_t out[256], img[sizeof(inventory) + 1];

	CHECK_EQ_INT(criuimg_inventory_own_netns(inventory, sizeof(inventory), out, sizeof(out)),
		     sizeof(inventory));
	/* Only root_ids' net_ns_id differs; lsmtype (top-level field 6, also 0x30) stays. */
	for (size_t i = 0; i < sizeof(inventory); i++)
		CHECK(out[i] == (i == 25 ? 0 : inventory[i]));
	/* A net_ns_id of two varint bytes (128): the message and the entry one byte shorter. */
	memcpy(img, inventory, 25);
	img[25] = 0x80;
	img[26] = 0x01;
	memcpy(img + 27, inventory + 26, sizeof(inventory) - 26);
	img[4] = 0x4f;
	img[13] = 0x19;
	CHECK_EQ_INT(criuimg_inventory_own_netns(img, sizeof(img), out, sizeof(out)),
		     sizeof(inventory));
	CHECK(out[4] == 0x4e && out[13] == 0x18 && out[25] == 0);
	CHECK(!memcmp(out + 26, inventory + 26, sizeof(inventory) - 26));
}

TEST(inventory_refused)
{
	uint8_t img[sizeof(inventory)], out[256];

	for (size_t len = 0; len < sizeof(inventory); len++)
		CHECK(criuimg_inventory_own_netns(inventory, len, out, sizeof(out)) == -EINVAL);
	/* root_ids without net_ns_id (field 6 renamed 15). */
	memcpy(img, inventory, sizeof(img));
	img[24] = 0x78;
	CHECK_EQ_INT(criuimg_inventory_own_netns(img, sizeof(img), out, sizeof(out)), -EINVAL);
	/* No root_ids (field 3 renamed 7). */
	memcpy(img, inventory, sizeof(img));
	img[12] = 0x3a;
	CHECK_EQ_INT(criuimg_inventory_own_netns(img, sizeof(img), out, sizeof(out)), -EINVAL);
	/* A length past the end. */
	memcpy(img, inventory, sizeof(img));
	img[13] = 0x7f;
	CHECK_EQ_INT(criuimg_inventory_own_netns(img, sizeof(img), out, sizeof(out)), -EINVAL);
	CHECK_EQ_INT(criuimg_inventory_own_netns(inventory, sizeof(inventory), out, 40), -ENOSPC);
}

/* files.img: the magic, then entries of {type = 1, id = 2} alone. */
static size_t files_img(uint8_t *buf, const uint8_t *types, size_t n)
{
	static const uint8_t magic[] = { 0x19, 0x43, 0x56, 0x54, 0x38, 0x31, 0x30, 0x56 };
	size_t len = sizeof(magic);

	memcpy(buf, magic, len);
	for (size_t i = 0; i < n; i++) {
		const uint8_t e[] = { 4, 0, 0, 0, 0x08, types[i], 0x10, (uint8_t)(i + 1) };
		memcpy(buf + len, e, sizeof(e));
		len += sizeof(e);
	}
	return len;
}

TEST(files_that_need_the_network)
{
	/* REG, PIPE, UNIXSK, SIGNALFD, EVENTPOLL, NETLINKSK, MEMFD, PIDFD: a sandbox's. */
	static const uint8_t quiet[] = { 1, 2, 5, 9, 7, 13, 18, 20 };
	uint8_t buf[256], types[16];

	CHECK_EQ_INT(criuimg_files_need_net(buf, files_img(buf, quiet, sizeof(quiet))), 0);
	CHECK_EQ_INT(criuimg_files_need_net(buf, files_img(buf, quiet, 0)), 0);
	/* INETSK, PACKETSK, TUNF, EXT, one it does not know, UND: wherever they are. */
	static const uint8_t loud[] = { 4, 10, 15, 16, 21, 0 };
	for (size_t i = 0; i < sizeof(loud); i++) {
		memcpy(types, quiet, sizeof(quiet));
		types[i] = loud[i];
		CHECK_EQ_INT(criuimg_files_need_net(buf, files_img(buf, types, sizeof(quiet))), 1);
	}
	size_t len = files_img(buf, quiet, sizeof(quiet));
	/* Cut anywhere but between entries. */
	for (size_t l = 0; l < len; l++)
		CHECK_EQ_INT(criuimg_files_need_net(buf, l),
			     l >= 8 && (l - 8) % 8 == 0 ? 0 : -EINVAL);
	/* An entry whose first field is not its type. */
	buf[8 + 4] = 0x10;
	CHECK_EQ_INT(criuimg_files_need_net(buf, len), -EINVAL);
}

/* A pagemap in CRIU 4.2's framing (its magic, as in pagemap-1.img): pages_id 7, then
 * entries of each kind a dump writes. */
/* clang-format off */
static const uint8_t pagemap[] = {
	0x19, 0x43, 0x56, 0x54, 0x25, 0x40, 0x08, 0x56, /* the magic */
	0x02, 0x00, 0x00, 0x00, 0x08, 0x07, /* head: pages_id 7 */
	/* present (flags 4), nr_pages 3 (field 5), compat_nr_pages 0: 3 */
	0x09, 0x00, 0x00, 0x00, 0x08, 0x80, 0x20, 0x10, 0x00, 0x20, 0x04, 0x28, 0x03,
	/* in the parent (flags 1), 5 pages: none here */
	0x09, 0x00, 0x00, 0x00, 0x08, 0x80, 0x40, 0x10, 0x00, 0x20, 0x01, 0x28, 0x05,
	/* lazy and present (flags 6), compat_nr_pages 7 only: 7 */
	0x07, 0x00, 0x00, 0x00, 0x08, 0x80, 0x60, 0x10, 0x07, 0x20, 0x06,
	/* no flags, in_parent: none here */
	0x08, 0x00, 0x00, 0x00, 0x08, 0x80, 0x80, 0x01, 0x10, 0x02, 0x18, 0x01,
	/* no flags, not in the parent, a field it does not know (a string): 4 */
	0x0a, 0x00, 0x00, 0x00, 0x08, 0x80, 0xa0, 0x01, 0x10, 0x04, 0x32, 0x02, 0x61, 0x62
};
/* clang-format on */

TEST(pagemap_pages)
{
	uint32_t id = 0;
	uint8_t img[sizeof(pagemap)];

	CHECK_EQ_INT(criuimg_pagemap_pages(pagemap, sizeof(pagemap), &id), 14);
	CHECK_EQ_INT(id, 7);
	/* The head alone: no pages. */
	CHECK_EQ_INT(criuimg_pagemap_pages(pagemap, 14, &id), 0);
	/* Cut inside the head or an entry. */
	static const size_t cuts[] = { 0, 7, 8, 11, 13, 15, 20, 26, 33, sizeof(pagemap) - 1 };
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
		CHECK_EQ_INT(criuimg_pagemap_pages(pagemap, cuts[i], &id), -EINVAL);
	/* A head without pages_id. */
	memcpy(img, pagemap, sizeof(img));
	img[12] = 0x10;
	CHECK_EQ_INT(criuimg_pagemap_pages(img, sizeof(img), &id), -EINVAL);
	/* A varint that never ends. */
	memcpy(img, pagemap, sizeof(img));
	memset(img + sizeof(img) - 8, 0xff, 8);
	CHECK_EQ_INT(criuimg_pagemap_pages(img, sizeof(img), &id), -EINVAL);
}
