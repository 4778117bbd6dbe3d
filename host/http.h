/* SPDX-License-Identifier: MIT */
/* HTTP/1.1 request reader for sbxd: bytes in, whole requests out, one at a time, so
 * pipelined requests are handled in order. Parsing is Debian's libhttp-parser; this
 * layer adds limits (header bytes, header count, body bytes), chunked and
 * Content-Length bodies, keep-alive and Expect: 100-continue. Pure: no I/O.
 * Errors are returned as -status (-400, -413, -431, -501). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP_MAX_HEADERS 64

struct http_limits {
	uint32_t max_header_bytes; /* request line + headers */
	uint64_t max_body;
};

struct http_header {
	char *name; /* as sent; compare case-insensitively */
	char *value;
};

struct http_request {
	int method;		 /* enum http_method from http_parser.h */
	const char *method_name; /* static */
	char *url;		 /* request target as sent */
	char *path;		 /* percent-decoded path, without the query */
	char *query;		 /* raw query string, without '?', or NULL */
	struct http_header headers[HTTP_MAX_HEADERS];
	size_t nheaders;
	char *body; /* NUL-terminated for convenience; body_len excludes it */
	size_t body_len;
	bool keep_alive;
	bool chunked;
};

struct http_reader;

/* The limits apply to every reader; the header limit is process-wide in the parser. */
int http_reader_new(const struct http_limits *lim, struct http_reader **ret);
void http_reader_free(struct http_reader *r);

/* Consumes bytes from @data. Returns how many were consumed (possibly fewer than @len
 * when a request ended: feed the rest after handling it) and sets *ret_req (caller
 * frees) when a whole request has arrived, else leaves it NULL. Returns -status when
 * the input is bad; the connection should then answer that status and close. */
ssize_t http_reader_feed(struct http_reader *r, const char *data, size_t len,
			 struct http_request **ret_req);

/* True once per request whose headers asked for "Expect: 100-continue" and whose body
 * has not arrived: the server should send "HTTP/1.1 100 Continue" now. */
bool http_reader_take_continue(struct http_reader *r);

/* True between a request's first byte and its end. */
bool http_reader_mid_request(const struct http_reader *r);

void http_request_free(struct http_request *req);
static inline void http_request_freep(struct http_request **req)
{
	http_request_free(*req);
}

/* The first header named @name (case-insensitive), or NULL. */
const char *http_request_header(const struct http_request *req, const char *name);

/* Finds @key in a query string and returns its percent-decoded value (malloc'd), or
 * -ENOENT; -EINVAL for bad encoding. "+" stays "+" (this is not form decoding). */
int http_query_get(const char *query, const char *key, char **ret);

/* Percent-decodes @in into a new string; -EINVAL on bad escapes or an encoded NUL. */
int http_percent_decode(const char *in, size_t len, char **ret);

/* Reason phrase for a status code. */
const char *http_status_reason(int status);
