/* SPDX-License-Identifier: MIT */
/* Quoting untrusted text (a field name, a parser's excerpt of its input) inside a
 * one-line error message. Pure; async-signal-safe. */
#pragma once

#include <stddef.h>

/* Copies @in into @buf (@size >= 4): control bytes become '?', and text that does not
 * fit is cut and ends in "...". Returns @buf. */
const char *text_printable(const char *in, char *buf, size_t size);

/* Replaces control bytes in @s with '?', in place. Returns @s (NULL stays NULL). */
char *text_sanitize(char *s);
