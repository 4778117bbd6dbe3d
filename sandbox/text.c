// SPDX-License-Identifier: MIT
/* Making untrusted text safe to quote in one-line errors. */
#define _GNU_SOURCE
#include "text.h"

#include <stdio.h>

#include <string.h>

const char *text_printable(const char *in, char *buf, size_t size)
{
	size_t i = 0;

	for (; in[i] && i + 4 < size; i++)
		buf[i] = (unsigned char)in[i] < 0x20 || in[i] == 0x7f ? '?' : in[i];
	if (in[i])
		memcpy(buf + i, "...", 4);
	else
		buf[i] = '\0';
	return buf;
}

int text_verror(char **ret_error, int r, const char *fmt, va_list ap)
{
	if (vasprintf(ret_error, fmt, ap) < 0)
		*ret_error = NULL;
	text_sanitize(*ret_error); /* messages may quote untrusted text */
	return r;
}

int text_error(char **ret_error, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	r = text_verror(ret_error, r, fmt, ap);
	va_end(ap);
	return r;
}

char *text_sanitize(char *s)
{
	for (char *p = s; p && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return s;
}

bool text_is_name(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n < 1 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

size_t text_mountinfo_fields(char *line, char **field, size_t max, size_t *ret_dash)
{
	char *save = NULL;
	size_t n = 0;

	*ret_dash = 0;
	for (char *t = strtok_r(line, " \n", &save); t && n < max;
	     t = strtok_r(NULL, " \n", &save)) {
		if (!*ret_dash && n >= 6 && !strcmp(t, "-"))
			*ret_dash = n;
		field[n++] = t;
	}
	return n;
}
