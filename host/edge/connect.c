// SPDX-License-Identifier: MIT
#include "connect.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../sandbox/macro.h"

int connect_request(const char *body, size_t len, bool enveloped, json_t **ret, char *err,
		    size_t errlen)
{
	json_error_t jerr;

	*ret = NULL;
	if (enveloped) {
		if (len < CONNECT_HEAD) {
			snprintf(err, errlen, "protocol error: incomplete envelope");
			return -EINVAL;
		}
		const unsigned char *h = (const unsigned char *)body;
		uint32_t n =
			(uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 8 | h[4];
		if (h[0] != 0) {
			snprintf(err, errlen,
				 "protocol error: envelope flags 0x%02x (compression "
				 "and end-of-stream are not requests)",
				 h[0]);
			return -EINVAL;
		}
		if (n > CONNECT_MAX_MESSAGE || n != len - CONNECT_HEAD) {
			snprintf(err, errlen,
				 "protocol error: envelope of %u bytes in a body of %zu (one "
				 "message, at most %u bytes)",
				 n, len - CONNECT_HEAD, CONNECT_MAX_MESSAGE);
			return -EINVAL;
		}
		body += CONNECT_HEAD;
		len = n;
	} else if (len > CONNECT_MAX_MESSAGE) {
		snprintf(err, errlen, "message larger than %u bytes", CONNECT_MAX_MESSAGE);
		return -EINVAL;
	}
	if (len == 0) { /* an empty message is {} */
		*ret = json_object();
		return *ret ? 0 : -ENOMEM;
	}
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j || !json_is_object(j)) {
		snprintf(err, errlen, "message: %s", j ? "not a JSON object" : jerr.text);
		json_decref(j);
		return -EINVAL;
	}
	*ret = j;
	return 0;
}

char *connect_envelope(uint8_t flags, const json_t *j, size_t *ret_len)
{
	char *s = json_dumps(j, JSON_COMPACT);
	if (!s)
		return NULL;
	size_t n = strlen(s);
	char *buf = malloc(CONNECT_HEAD + n);
	if (buf) {
		buf[0] = (char)flags;
		buf[1] = (char)(n >> 24);
		buf[2] = (char)(n >> 16);
		buf[3] = (char)(n >> 8);
		buf[4] = (char)n;
		memcpy(buf + CONNECT_HEAD, s, n);
		*ret_len = CONNECT_HEAD + n;
	}
	free(s);
	return buf;
}

const char *connect_code(int err, int *ret_status)
{
	static const struct {
		int err, status;
		const char *code;
	} codes[] = {
		{ EINVAL, 400, "invalid_argument" },   { EISDIR, 400, "invalid_argument" },
		{ ENOTDIR, 400, "invalid_argument" },  { EPIPE, 400, "invalid_argument" },
		{ ENOENT, 404, "not_found" },	       { ESRCH, 404, "not_found" },
		{ EEXIST, 409, "already_exists" },     { EACCES, 403, "permission_denied" },
		{ EPERM, 403, "permission_denied" },   { EBUSY, 400, "failed_precondition" },
		{ EROFS, 400, "failed_precondition" }, { ENOTEMPTY, 400, "failed_precondition" },
		{ EFBIG, 400, "out_of_range" },	       { ENOSPC, 429, "resource_exhausted" },
		{ EAGAIN, 503, "unavailable" },	       { ETIMEDOUT, 504, "deadline_exceeded" },
		{ EOPNOTSUPP, 501, "unimplemented" },  { EUSERS, 429, "resource_exhausted" },
		{ ENOMEM, 429, "resource_exhausted" }, { ENOBUFS, 429, "resource_exhausted" },
		{ EDQUOT, 429, "resource_exhausted" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(codes); i++)
		if (codes[i].err == -err) {
			*ret_status = codes[i].status;
			return codes[i].code;
		}
	*ret_status = 500;
	return "internal";
}
