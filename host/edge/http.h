/* SPDX-License-Identifier: MIT */
/* HTTP/1.1 request reader for sbxd: bytes in, requests out, one at a time, so pipelined
 * requests are handled in order. A request comes in two steps: its headers
 * (HTTP_EV_HEADERS), so that the caller authenticates and routes it before a byte of
 * its body is read, then its end (HTTP_EV_DONE); in between, the body goes to the sink
 * the caller chose (http_reader_body_to), as it arrives: the reader never buffers a
 * body. Parsing is Debian's libhttp-parser; this layer adds limits (header bytes,
 * header count, body bytes), chunked and Content-Length bodies, keep-alive and
 * Expect: 100-continue. Pure: no I/O. Errors are returned as -status (-400, -413,
 * -431, -501). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP_MAX_HEADERS 64

struct http_limits {
	uint32_t max_header_bytes; /* request line + headers */
	uint64_t max_body;	   /* the most any request may send, whatever its sink */
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
	int64_t content_length; /* -1: none given (no body, or chunked) */
	bool chunked;
	bool keep_alive;
	/* Filled by the caller's sink, if it collects the body: NUL-terminated for
	 * convenience, body_len excludes the NUL. Freed with the request. */
	char *body;
	size_t body_len;
};

enum http_event {
	HTTP_EV_NONE,	 /* more input is needed */
	HTTP_EV_HEADERS, /* a request's headers arrived: route it, choose a sink */
	HTTP_EV_DONE,	 /* its body (if any) went to the sink: answer it */
};

/* Takes @len bytes of a body; 0, or -status to refuse the request (-413, -503...). */
typedef int (*http_body_fn)(void *userdata, const char *data, size_t len);

struct http_reader;

/* The limits apply to every reader; the header limit is process-wide in the parser. */
int http_reader_new(const struct http_limits *lim, struct http_reader **ret);
void http_reader_free(struct http_reader *r);

/* Consumes bytes from @data, up to the next event. Returns how many were consumed
 * (possibly fewer than @len: feed the rest after handling the event) and sets *ret_ev.
 * At HTTP_EV_HEADERS *ret_req is the new request, which the caller now owns (and must
 * keep until HTTP_EV_DONE, or stop feeding); at HTTP_EV_DONE it is that request again.
 * Returns -status when the input is bad, or a sink refused it; the connection should
 * then answer that status and close. */
ssize_t http_reader_feed(struct http_reader *r, const char *data, size_t len,
			 enum http_event *ret_ev, struct http_request **ret_req);

/* Where the current request's body goes; called between its HTTP_EV_HEADERS and its
 * first body byte. Without a sink a body is refused (-413). */
void http_reader_body_to(struct http_reader *r, http_body_fn fn, void *userdata);

/* A sink that collects the body into @req->body, at most @max bytes (-413 beyond); its
 * userdata is a struct http_collect, zeroed but for @req and @max. */
struct http_collect {
	struct http_request *req;
	size_t max, cap;
};
int http_collect_body(void *userdata, const char *data, size_t len);

/* True once per request whose headers asked for "Expect: 100-continue" and whose body
 * has not arrived: the server should send "HTTP/1.1 100 Continue" now. */
bool http_reader_take_continue(struct http_reader *r);

/* True between a request's first byte and its end (its body included). */
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
