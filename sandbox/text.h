/* SPDX-License-Identifier: MIT */
/* Quoting untrusted text (a field name, a parser's excerpt of its input) inside a
 * one-line error message. Pure; async-signal-safe. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* Copies @in into @buf (@size >= 4): control bytes become '?', and text that does not
 * fit is cut and ends in "...". Returns @buf. */
const char *text_printable(const char *in, char *buf, size_t size);

/* Formats a one-line error into *ret_error (malloc'd; NULL if out of memory), with
 * control bytes replaced, and returns @r: `return text_error(&err, -EINVAL, ...)`. */
int text_error(char **ret_error, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same with a va_list, for callers that take a format of their own. */
int text_verror(char **ret_error, int r, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* Replaces control bytes in @s with '?', in place. Returns @s (NULL stays NULL). */
char *text_sanitize(char *s);

/* Whether @s is a name sbx accepts for tenants and instances: 1 to @max of a-z 0-9 - _. */
bool text_is_name(const char *s, size_t max);

/* The fields of a /proc/PID/mountinfo line, split in place at spaces (at most @max): "ID
 * PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS...] - TYPE SOURCE SUPER". Returns their
 * number, with the index of "-" in *ret_dash (0: none, the line is not one). */
size_t text_mountinfo_fields(char *line, char **field, size_t max, size_t *ret_dash);
