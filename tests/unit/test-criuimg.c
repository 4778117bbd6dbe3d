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
