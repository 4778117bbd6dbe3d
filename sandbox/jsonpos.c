// SPDX-License-Identifier: MIT
/* A minimal JSON skipper that walks valid JSON text to a path and counts lines. */
#include "jsonpos.h"

#include <stdbool.h>
#include <string.h>

struct cursor {
	const char *p, *end;
	unsigned line;
};

static void skip_ws(struct cursor *c)
{
	for (; c->p < c->end; c->p++) {
		if (*c->p == '\n')
			c->line++;
		else if (*c->p != ' ' && *c->p != '\t' && *c->p != '\r')
			break;
	}
}

/* At an opening quote: skip the string; report whether it equals @key (no escapes). */
static bool skip_string(struct cursor *c, const char *key)
{
	const char *start = ++c->p;
	bool escaped = false;

	for (; c->p < c->end; c->p++) {
		if (*c->p == '\\') {
			escaped = true;
			c->p++;
		} else if (*c->p == '"') {
			break;
		}
	}
	size_t n = (size_t)(c->p - start);
	if (c->p < c->end)
		c->p++;
	return key && !escaped && strlen(key) == n && memcmp(start, key, n) == 0;
}

static bool is_delim(char ch)
{
	return ch == ',' || ch == ']' || ch == '}' || ch == ' ' || ch == '\t' || ch == '\r' ||
	       ch == '\n';
}

static bool skip_value(struct cursor *c, unsigned depth)
{
	skip_ws(c);
	if (c->p >= c->end || depth > 512)
		return false;
	if (*c->p == '"') {
		skip_string(c, NULL);
		return true;
	}
	if (*c->p == '{' || *c->p == '[') {
		char close = *c->p == '{' ? '}' : ']';
		bool obj = *c->p == '{';
		c->p++;
		for (const char *last = NULL;;) {
			skip_ws(c);
			if (c->p >= c->end || c->p == last)
				return false; /* no progress: give up rather than spin */
			last = c->p;
			if (*c->p == close) {
				c->p++;
				return true;
			}
			if (*c->p == ',') {
				c->p++;
				continue;
			}
			if (obj) {
				skip_string(c, NULL);
				skip_ws(c);
				if (c->p < c->end && *c->p == ':')
					c->p++;
			}
			if (!skip_value(c, depth + 1))
				return false;
		}
	}
	/* A scalar: up to the next delimiter. (strchr would also match '\0', which
	 * then would never be consumed.) */
	while (c->p < c->end && !is_delim(*c->p))
		c->p++;
	return true;
}

unsigned jsonpos_line(const char *text, size_t len, const struct jsonpos_seg *path, size_t depth)
{
	struct cursor c = { .p = text, .end = text + len, .line = 1 };

	for (size_t d = 0; d < depth; d++) {
		bool found = false;

		skip_ws(&c);
		if (c.p >= c.end)
			return 0;
		if (path[d].key && *c.p == '{') {
			c.p++;
			for (const char *last = NULL; !found;) {
				skip_ws(&c);
				if (c.p >= c.end || *c.p == '}' || c.p == last)
					return 0;
				last = c.p;
				if (*c.p == ',') {
					c.p++;
					continue;
				}
				bool match = skip_string(&c, path[d].key);
				skip_ws(&c);
				if (c.p < c.end && *c.p == ':')
					c.p++;
				if (match)
					found = true;
				else if (!skip_value(&c, 0))
					return 0;
			}
		} else if (!path[d].key && *c.p == '[') {
			size_t i = 0;
			c.p++;
			for (const char *last = NULL; !found;) {
				skip_ws(&c);
				if (c.p >= c.end || *c.p == ']' || c.p == last)
					return 0;
				last = c.p;
				if (*c.p == ',') {
					c.p++;
					continue;
				}
				if (i++ == path[d].index)
					found = true;
				else if (!skip_value(&c, 0))
					return 0;
			}
		} else {
			return 0;
		}
	}
	skip_ws(&c);
	return c.line;
}
