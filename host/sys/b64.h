/* SPDX-License-Identifier: MIT */
/* Base64 (RFC 4648, with padding), for bytes that are not UTF-8 text in JSON. Pure. */
#pragma once

#include <stddef.h>

/* Encodes @len bytes; returns a NUL-terminated string (caller frees) or NULL. */
char *b64_encode(const void *data, size_t len);
/* Decodes @s (@len chars) into a new buffer (caller frees); -EINVAL on bad input. */
int b64_decode(const char *s, size_t len, char **ret, size_t *ret_len);
