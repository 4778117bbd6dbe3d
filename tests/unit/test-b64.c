// SPDX-License-Identifier: MIT
/* Unit tests for base64 (RFC 4648 with padding): the standard's vectors, round trips of
 * every byte, and what the decoder refuses. */
#define _GNU_SOURCE
#include "../../host/sys/b64.h"

#include <errno.h>
#include <stdint.h>

#include "harness.h"

/* @s decodes to the @n bytes of @want, NUL-terminated. */
static void decodes_to(const char *s, const void *want, size_t n)
{
	char *out = NULL;
	size_t len = 0;
	CHECK_EQ_INT(b64_decode(s, strlen(s), &out, &len), 0);
	CHECK_EQ_INT(len, n);
	CHECK(!memcmp(out, want, n));
	CHECK_EQ_INT(out[n], '\0');
	free(out);
}

static void refused(const char *s, size_t len)
{
	char *out = (char *)"untouched";
	size_t n = 12345;
	CHECK_EQ_INT(b64_decode(s, len, &out, &n), -EINVAL);
	CHECK(!strcmp(out, "untouched"));
	CHECK_EQ_INT(n, 12345);
}

TEST(rfc4648_vectors)
{
	/* RFC 4648 section 10. */
	static const char *const v[][2] = {
		{ "", "" },
		{ "f", "Zg==" },
		{ "fo", "Zm8=" },
		{ "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *enc = b64_encode(v[i][0], strlen(v[i][0]));
		CHECK(enc != NULL);
		if (strcmp(enc, v[i][1])) {
			fprintf(stderr, "\"%s\" encoded as \"%s\", expected \"%s\"\n", v[i][0], enc,
				v[i][1]);
			exit(1);
		}
		free(enc);
		decodes_to(v[i][1], v[i][0], strlen(v[i][0]));
	}
}

TEST(whole_alphabet)
{
	/* The 64 digits in order, and the last two ('+', '/') that the URL alphabet
	 * replaces. */
	static const unsigned char seq[] = { 0x00, 0x10, 0x83, 0x10, 0x51, 0x87, 0x20, 0x92,
					     0x8b, 0x30, 0xd3, 0x8f, 0x41, 0x14, 0x93, 0x51,
					     0x55, 0x97, 0x61, 0x96, 0x9b, 0x71, 0xd7, 0x9f,
					     0x82, 0x18, 0xa3, 0x92, 0x59, 0xa7, 0xa2, 0x9a,
					     0xab, 0xb2, 0xdb, 0xaf, 0xc3, 0x1c, 0xb3, 0xd3,
					     0x5d, 0xb7, 0xe3, 0x9e, 0xbb, 0xf3, 0xdf, 0xbf };
	static const char all[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *enc = b64_encode(seq, sizeof(seq));
	CHECK(enc && !strcmp(enc, all));
	free(enc);
	decodes_to(all, seq, sizeof(seq));
	enc = b64_encode("\xfb\xff", 2);
	CHECK(enc && !strcmp(enc, "+/8="));
	free(enc);
}

TEST(round_trip_bytes)
{
	/* Every byte value, NULs included, at every length mod 3, up to 600 bytes. */
	unsigned char data[600];
	uint32_t x = 2463534242u;
	for (size_t i = 0; i < sizeof(data); i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		data[i] = i < 256 ? (unsigned char)i : (unsigned char)x;
	}
	for (size_t len = 0; len <= sizeof(data); len++) {
		char *enc = b64_encode(data, len);
		CHECK(enc != NULL);
		CHECK_EQ_INT(strlen(enc), (len + 2) / 3 * 4);
		size_t pad = strlen(enc) - strcspn(enc, "=");
		CHECK_EQ_INT(pad, (3 - len % 3) % 3);
		char *dec = NULL;
		size_t n = 0;
		CHECK_EQ_INT(b64_decode(enc, strlen(enc), &dec, &n), 0);
		CHECK_EQ_INT(n, len);
		CHECK(!memcmp(dec, data, len));
		free(dec);
		free(enc);
	}
}

TEST(length_not_whole_quanta)
{
	refused("Zg=", 3);
	refused("Zg", 2);
	refused("Zm9vY", 5);
	refused("Zm9vYmFy=", 9);
	/* Only @len characters count, even when valid ones follow. */
	refused("Zm9vYmFy", 6);
	refused("Zm9vYmFy", 7);
	/* Padding is required: unpadded input is refused. */
	refused("Zm9vYg", 6);
}

TEST(bad_characters)
{
	refused("Zm9*", 4);
	refused("Zm 9", 4);
	refused("Zm9v Zm9", 8);
	refused("Zm9\n", 4);
	refused("Zm9v\r\nAA", 8);
	refused("Z.9v", 4);
	/* The URL-safe alphabet's digits are not this one's. */
	refused("-_8=", 4);
	/* A NUL inside the given length. */
	refused("Zm\0v", 4);
	/* Not UTF-8 either. */
	refused("Zm\xc3\xa9", 4);
}

TEST(padding_rules)
{
	/* '=' only in the last two places of the last quantum... */
	refused("=AAA", 4);
	refused("A===", 4);
	refused("====", 4);
	refused("Zg==Zm8=", 8);
	refused("Zm8=Zm9v", 8);
	/* ...and nothing after it. */
	refused("Zg=v", 4);
	/* One or two pad characters, not three. */
	decodes_to("Zm8=", "fo", 2);
	decodes_to("Zg==", "f", 1);
}

TEST(noncanonical_pad_bits)
{
	/* RFC 4648 3.5: the bits under the padding should be zero; this decoder ignores
	 * them (as it documents no more), so "Zh==" and "Zg==" both give "f". */
	decodes_to("Zh==", "f", 1);
	decodes_to("Zm9=", "fo", 2);
}

TEST(length_bounds_only)
{
	/* Only @len characters are read: what follows is not looked at. */
	char *out = NULL;
	size_t n = 99;
	CHECK_EQ_INT(b64_decode("Zm9v!!!!", 4, &out, &n), 0);
	CHECK_EQ_INT(n, 3);
	CHECK(!strcmp(out, "foo"));
	free(out);
	CHECK_EQ_INT(b64_decode("", 0, &out, &n), 0);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(out[0], '\0');
	free(out);
}
