// SPDX-License-Identifier: MIT
/* Unit tests for the JSON path -> line locator. */
#include "../../sandbox/jsonpos.h"

#include <string.h>

#include "harness.h"

static const char doc[] = "{\n"
			  "  \"a\": 1,\n"
			  "  \"s\": \"x\\\"y\",\n"
			  "  \"list\": [\n"
			  "    {\"k\": [1, 2]},\n"
			  "    {\"k\": [\"p\",\n"
			  "            \"q\"]}\n"
			  "  ],\n"
			  "  \"last\": {\"deep\": null}\n"
			  "}\n";

static unsigned line_of(const struct jsonpos_seg *p, size_t n)
{
	return jsonpos_line(doc, strlen(doc), p, n);
}

TEST(top_level_members)
{
	struct jsonpos_seg a[] = { { "a", 0 } }, last[] = { { "last", 0 } };
	CHECK_EQ_INT(line_of(a, 1), 2);
	CHECK_EQ_INT(line_of(last, 1), 9);
	CHECK_EQ_INT(line_of(NULL, 0), 1);
}

TEST(nested_arrays)
{
	struct jsonpos_seg q[] = { { "list", 0 }, { NULL, 1 }, { "k", 0 }, { NULL, 1 } };
	struct jsonpos_seg first[] = { { "list", 0 }, { NULL, 0 }, { "k", 0 } };
	CHECK_EQ_INT(line_of(q, 4), 7);
	CHECK_EQ_INT(line_of(first, 3), 5);
}

TEST(missing_paths)
{
	struct jsonpos_seg nokey[] = { { "nope", 0 } };
	struct jsonpos_seg past[] = { { "list", 0 }, { NULL, 5 } };
	struct jsonpos_seg wrongkind[] = { { "a", 0 }, { NULL, 0 } };
	CHECK_EQ_INT(line_of(nokey, 1), 0);
	CHECK_EQ_INT(line_of(past, 2), 0);
	CHECK_EQ_INT(line_of(wrongkind, 2), 0);
}

TEST(escaped_keys_do_not_match)
{
	static const char t[] = "{\"a\\\"b\": 1,\n\"c\": 2}";
	struct jsonpos_seg c[] = { { "c", 0 } };
	CHECK_EQ_INT(jsonpos_line(t, strlen(t), c, 1), 2);
}

TEST(nul_after_scalar_terminates)
{
	/* Found by fuzzing: jansson accepts a NUL after a number; the locator must not spin. */
	static const char t[] = "{\"a\":[{\"b\":1\0,\"c\":2}]}";
	struct jsonpos_seg p[] = { { "zz", 0 } }, c[] = { { "a", 0 }, { NULL, 0 }, { "c", 0 } };
	CHECK_EQ_INT(jsonpos_line(t, sizeof(t) - 1, p, 1), 0);
	(void)jsonpos_line(t, sizeof(t) - 1, c, 3); /* any answer, but an answer */
}
