// SPDX-License-Identifier: MIT
/* Fuzz target: the HTTP/1.1 request reader (untrusted: every byte a client sends),
 * fed in pieces whose sizes come from the input, as a socket delivers them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../host/edge/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct http_limits lim = { .max_header_bytes = 4096, .max_body = 1 << 16 };
	struct http_reader *r;
	struct http_request *cur = NULL;
	struct http_collect col;
	size_t step = size ? (size_t)data[0] % 64 + 1 : 1;

	if (http_reader_new(&lim, &r) < 0)
		return 0;
	for (size_t off = size ? 1 : 0; off < size;) {
		size_t n = size - off < step ? size - off : step;
		struct http_request *req;
		enum http_event ev;
		ssize_t k = http_reader_feed(r, (const char *)data + off, n, &ev, &req);
		if (k < 0)
			break;
		if (ev == HTTP_EV_HEADERS) {
			if (!req || cur || !req->path)
				abort();
			cur = req;
			(void)http_request_header(req, "Content-Type");
			if (req->query) {
				char *v;
				if (http_query_get(req->query, "path", &v) == 0)
					free(v);
			}
			/* Every other request's body is collected, the rest refused. */
			if (step % 2) {
				col = (struct http_collect){ .req = req, .max = lim.max_body };
				http_reader_body_to(r, http_collect_body, &col);
			}
		} else if (ev == HTTP_EV_DONE) {
			if (req != cur || req->body_len > lim.max_body)
				abort();
			http_request_free(cur);
			cur = NULL;
		}
		if (k == 0 && ev == HTTP_EV_NONE)
			break;
		off += (size_t)k;
	}
	http_request_free(cur);
	http_reader_free(r);
	return 0;
}
