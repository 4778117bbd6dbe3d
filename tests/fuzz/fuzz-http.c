// SPDX-License-Identifier: MIT
/* Fuzz target: the HTTP/1.1 request reader (untrusted: every byte a client sends),
 * fed in pieces whose sizes come from the input, as a socket delivers them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../host/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct http_limits lim = { .max_header_bytes = 4096, .max_body = 1 << 16 };
	struct http_reader *r;
	size_t step = size ? (size_t)data[0] % 64 + 1 : 1;

	if (http_reader_new(&lim, &r) < 0)
		return 0;
	for (size_t off = size ? 1 : 0; off < size;) {
		size_t n = size - off < step ? size - off : step;
		struct http_request *req;
		ssize_t k = http_reader_feed(r, (const char *)data + off, n, &req);
		if (k < 0)
			break;
		if (req) {
			if (!req->path || !req->body || req->body_len > lim.max_body)
				abort();
			(void)http_request_header(req, "Content-Type");
			if (req->query) {
				char *v;
				if (http_query_get(req->query, "path", &v) == 0)
					free(v);
			}
			http_request_free(req);
		}
		if (k == 0 && !req)
			break;
		off += (size_t)k;
	}
	http_reader_free(r);
	return 0;
}
