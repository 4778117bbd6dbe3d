/* SPDX-License-Identifier: MIT */
/* The Connect protocol's framing, as the E2B surface speaks it (JSON codec): a
 * streaming request or response is a sequence of envelopes, a flags byte and a 32-bit
 * big-endian length before each message; the last of a response carries the flag
 * CONNECT_END_STREAM and {} or {"error": {...}}. Pure: no I/O. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONNECT_COMPRESSED 0x01
#define CONNECT_END_STREAM 0x02
#define CONNECT_HEAD 5
/* The most a request message may take. */
#define CONNECT_MAX_MESSAGE (16u << 20)

/* The one message of a request: an envelope holding all of @body (@enveloped), or the
 * body itself (a unary call). A JSON object in *ret; or -EINVAL with why in @err: a cut,
 * compressed, trailing or oversized envelope, or not a JSON object. */
int connect_request(const char *body, size_t len, bool enveloped, json_t **ret, char *err,
		    size_t errlen);

/* An envelope of @j (not taken) with @flags into a new buffer of *ret_len bytes; NULL
 * when out of memory. */
char *connect_envelope(uint8_t flags, const json_t *j, size_t *ret_len);

/* The Connect code of a -errno, and its HTTP status for a unary answer. */
const char *connect_code(int err, int *ret_status);
