// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include "form.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* @s with %22, %0D and %0A undone (nothing else is escaped in a filename). */
static void filename_unescape(char *s)
{
	static const struct {
		const char *esc;
		char ch;
	} map[] = { { "%22", '"' }, { "%0D", '\r' }, { "%0A", '\n' } };
	char *o = s;
	for (const char *p = s; *p;) {
		bool done = false;
		for (size_t i = 0; i < sizeof(map) / sizeof(map[0]) && !done; i++)
			if (!strncasecmp(p, map[i].esc, 3)) {
				*o++ = map[i].ch;
				p += 3;
				done = true;
			}
		if (!done)
			*o++ = *p++;
	}
	*o = '\0';
}

/* A quoted parameter (@key="...") of a header's value @h of @hl bytes into @out. */
static void param(const char *h, size_t hl, const char *key, char *out, size_t size)
{
	size_t kl = strlen(key);
	*out = '\0';
	for (size_t i = 0; i + kl + 2 <= hl; i++) {
		/* a whole parameter name: after ';' or a space */
		if ((i && h[i - 1] != ';' && h[i - 1] != ' ') || strncasecmp(h + i, key, kl) ||
		    h[i + kl] != '=' || h[i + kl + 1] != '"')
			continue;
		const char *v = h + i + kl + 2, *end = memchr(v, '"', hl - (size_t)(v - h));
		if (!end)
			return;
		size_t n = (size_t)(end - v);
		if (n >= size)
			n = size - 1;
		memcpy(out, v, n);
		out[n] = '\0';
		return;
	}
}

int form_multipart(const char *ctype, const char *body, size_t len, form_part_fn fn, void *ud)
{
	const char *bp = ctype ? strcasestr(ctype, "boundary=") : NULL;
	char delim[256];
	if (!bp)
		return -EINVAL;
	bp += 9;
	size_t bl = strcspn(bp, ";");
	if (bl >= 2 && bp[0] == '"' && bp[bl - 1] == '"')
		bp++, bl -= 2;
	if (!bl || bl > 200)
		return -EINVAL;
	/* "\r\n--B": the first may come without its CRLF, at the body's start */
	int dl = snprintf(delim, sizeof(delim), "\r\n--%.*s", (int)bl, bp);
	const char *end = body + len, *p;
	if (len >= (size_t)dl - 2 && !memcmp(body, delim + 2, (size_t)dl - 2))
		p = body + dl - 2;
	else if ((p = memmem(body, len, delim, (size_t)dl)))
		p += dl;
	else
		return -EINVAL;
	for (;;) {
		if (end - p >= 2 && p[0] == '-' && p[1] == '-')
			return 0; /* the closing delimiter */
		if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
			return -EINVAL;
		p += 2;
		const char *hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
		const char *hend0 = end - p >= 2 && p[0] == '\r' && p[1] == '\n' ? p : NULL;
		const char *data;
		char name[64] = "", fname[4096] = "";
		if (hend0) { /* no headers at all */
			data = p + 2;
		} else if (hend) {
			for (const char *h = p; h < hend + 2;) {
				const char *eol = memmem(h, (size_t)(hend + 2 - h), "\r\n", 2);
				size_t hl = (size_t)(eol - h);
				if (hl > 20 && !strncasecmp(h, "Content-Disposition:", 20)) {
					param(h + 20, hl - 20, "name", name, sizeof(name));
					param(h + 20, hl - 20, "filename", fname, sizeof(fname));
				}
				h = eol + 2;
			}
			data = hend + 4;
		} else {
			return -EINVAL;
		}
		const char *next = memmem(data, (size_t)(end - data), delim, (size_t)dl);
		if (!next)
			return -EINVAL;
		filename_unescape(fname);
		int r = fn(ud, name, fname, data, (size_t)(next - data));
		if (r < 0)
			return r;
		p = next + dl;
	}
}
