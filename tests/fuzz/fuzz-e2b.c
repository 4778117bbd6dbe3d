// SPDX-License-Identifier: MIT
/* Fuzz target: what the E2B surface reads of a request's body (untrusted: any client of
 * sbxd's listener): Connect envelopes (streaming calls) and messages (unary ones), and
 * multipart/form-data uploads. The first byte picks the reader; for multipart the
 * Content-Type is the input's first line. Every part must lie inside the body. */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../host/edge/connect.h"
#include "../../host/edge/form.h"

struct span {
	const char *body;
	size_t len, parts;
};

static int part(void *ud, const char *name, const char *filename, const char *data, size_t len)
{
	struct span *s = ud;
	if (strlen(name) > 63 || strlen(filename) > 4095 || data < s->body ||
	    data + len > s->body + s->len)
		abort();
	s->parts++;
	return s->parts > 10000 ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	json_t *j = NULL;

	if (size < 1)
		return 0;
	const char *body = (const char *)data + 1;
	size_t len = size - 1;
	switch (data[0] % 3) {
	case 0:
	case 1:
		if (connect_request(body, len, data[0] % 3 == 0, &j, err, sizeof(err)) == 0) {
			if (!json_is_object(j))
				abort();
			json_decref(j);
		} else if (j || !memchr(err, '\0', sizeof(err)) || !err[0]) {
			abort();
		}
		break;
	case 2: {
		const char *nl = memchr(body, '\n', len);
		if (!nl)
			return 0;
		char *ctype = strndup(body, (size_t)(nl - body));
		struct span s = { .body = nl + 1, .len = len - (size_t)(nl + 1 - body) };
		/* the body is copied so that a read past it is one past an allocation */
		char *copy = malloc(s.len ? s.len : 1);
		memcpy(copy, s.body, s.len);
		s.body = copy;
		(void)form_multipart(ctype, copy, s.len, part, &s);
		free(copy);
		free(ctype);
		break;
	}
	}
	return 0;
}
