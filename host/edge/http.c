// SPDX-License-Identifier: MIT
/* HTTP/1.1 request reader: libhttp-parser callbacks assembling one request at a time. */
#define _GNU_SOURCE
#include "http.h"

#include <errno.h>
#include <http_parser.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../sandbox/macro.h"

struct http_reader {
	http_parser parser;
	http_parser_settings settings;
	struct http_limits lim;
	struct http_request *req; /* being assembled: ours until its headers are given */
	bool given;		  /* req belongs to the caller now */
	enum http_event ev;	  /* what the last callback saw */
	http_body_fn sink;
	void *sink_data;
	uint64_t body_seen;
	size_t field_len, value_len; /* lengths of the header being assembled */
	bool in_value;
	bool want_continue;
	int error; /* status to answer, once set */
};

static int grow_append(char **buf, size_t *len, const char *at, size_t n)
{
	char *p = realloc(*buf, *len + n + 1);
	if (!p)
		return -ENOMEM;
	memcpy(p + *len, at, n);
	*len += n;
	p[*len] = '\0';
	*buf = p;
	return 0;
}

static struct http_reader *reader_of(http_parser *p)
{
	return p->data;
}

static int fail(struct http_reader *r, int status)
{
	if (!r->error)
		r->error = status;
	/* -1 stops the parser from any callback (1 from on_headers_complete would
	 * only mean "no body"). */
	return -1;
}

static void drop_request(struct http_reader *r)
{
	if (!r->given)
		http_request_free(r->req);
	r->req = NULL;
	r->given = false;
	r->sink = NULL;
	r->sink_data = NULL;
}

static int on_message_begin(http_parser *p)
{
	struct http_reader *r = reader_of(p);

	drop_request(r);
	r->req = calloc(1, sizeof(*r->req));
	r->body_seen = 0;
	r->field_len = r->value_len = 0;
	r->in_value = false;
	return r->req ? 0 : fail(r, 500);
}

static int on_url(http_parser *p, const char *at, size_t n)
{
	struct http_reader *r = reader_of(p);
	size_t len = r->req->url ? strlen(r->req->url) : 0;

	if (len + n > r->lim.max_header_bytes)
		return fail(r, 414);
	return grow_append(&r->req->url, &len, at, n) < 0 ? fail(r, 500) : 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
	struct http_reader *r = reader_of(p);
	struct http_request *q = r->req;

	if (r->in_value || q->nheaders == 0 || !q->headers[q->nheaders - 1].name) {
		if (q->nheaders == HTTP_MAX_HEADERS)
			return fail(r, 431);
		q->nheaders++;
		r->field_len = r->value_len = 0;
		r->in_value = false;
	}
	return grow_append(&q->headers[q->nheaders - 1].name, &r->field_len, at, n) < 0
		       ? fail(r, 500)
		       : 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
	struct http_reader *r = reader_of(p);
	struct http_request *q = r->req;

	r->in_value = true;
	return grow_append(&q->headers[q->nheaders - 1].value, &r->value_len, at, n) < 0
		       ? fail(r, 500)
		       : 0;
}

static int on_headers_complete(http_parser *p)
{
	struct http_reader *r = reader_of(p);
	struct http_request *q = r->req;
	const char *expect;

	for (size_t i = 0; i < q->nheaders; i++)
		if (!q->headers[i].value && !(q->headers[i].value = strdup("")))
			return fail(r, 500);
	if (!q->url)
		return fail(r, 400);
	/* Headers that mean one thing: two of them are two answers to one question (which
	 * token, which host), and the request is refused rather than one of them taken. */
	static const char *const once[] = { "Authorization", "Host", "Content-Type",
					    "Transfer-Encoding" };
	for (size_t k = 0; k < sizeof(once) / sizeof(once[0]); k++) {
		unsigned seen = 0;
		for (size_t i = 0; i < q->nheaders; i++)
			seen += q->headers[i].name && !strcasecmp(q->headers[i].name, once[k]);
		if (seen > 1)
			return fail(r, 400);
	}
	/* Chunked is the one transfer coding taken; a body in another cannot be read. */
	const char *te = http_request_header(q, "Transfer-Encoding");
	if (te && strcasecmp(te, "chunked"))
		return fail(r, 501);
	if ((p->flags & F_CONTENTLENGTH) && p->content_length > r->lim.max_body)
		return fail(r, 413);
	q->method = p->method;
	q->method_name = http_method_str(p->method);
	q->keep_alive = http_should_keep_alive(p);
	q->chunked = p->flags & F_CHUNKED;
	q->content_length = (p->flags & F_CONTENTLENGTH) ? (int64_t)p->content_length : -1;

	/* Split the target into a decoded path and a raw query. */
	struct http_parser_url u;
	http_parser_url_init(&u);
	if (http_parser_parse_url(q->url, strlen(q->url), p->method == HTTP_CONNECT, &u) != 0 ||
	    !(u.field_set & (1 << UF_PATH)))
		return fail(r, 400);
	if (http_percent_decode(q->url + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len,
				&q->path) < 0)
		return fail(r, 400);
	if ((u.field_set & (1 << UF_QUERY)) &&
	    !(q->query = strndup(q->url + u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len)))
		return fail(r, 500);

	expect = http_request_header(q, "Expect");
	if (expect && !strcasecmp(expect, "100-continue") &&
	    ((p->flags & F_CHUNKED) || p->content_length > 0))
		r->want_continue = true;
	/* Stop here: the caller decides about the request before its body is read. */
	r->ev = HTTP_EV_HEADERS;
	http_parser_pause(p, 1);
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct http_reader *r = reader_of(p);

	r->want_continue = false;
	if (r->body_seen + n > r->lim.max_body || !r->sink)
		return fail(r, 413);
	r->body_seen += n;
	int st = r->sink(r->sink_data, at, n);
	return st < 0 ? fail(r, -st) : 0;
}

/* A chunk announcing more than the body may hold is refused before it arrives. */
static int on_chunk_header(http_parser *p)
{
	struct http_reader *r = reader_of(p);

	if (p->content_length > r->lim.max_body - r->body_seen)
		return fail(r, 413);
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct http_reader *r = reader_of(p);

	r->want_continue = false;
	r->ev = HTTP_EV_DONE;
	/* Stop here so the caller handles this request before the next one. */
	http_parser_pause(p, 1);
	return 0;
}

int http_collect_body(void *userdata, const char *data, size_t len)
{
	struct http_collect *c = userdata;
	struct http_request *q = c->req;

	if (q->body_len + len > c->max)
		return -413;
	if (q->body_len + len + 1 > c->cap) {
		/* Content-Length known: allocate once; chunked: double. */
		size_t cap = q->content_length >= 0 && !c->cap ? (size_t)q->content_length + 1
							       : (q->body_len + len + 1) * 2;
		char *b = realloc(q->body, cap);
		if (!b)
			return -500;
		q->body = b;
		c->cap = cap;
	}
	memcpy(q->body + q->body_len, data, len);
	q->body_len += len;
	q->body[q->body_len] = '\0';
	return 0;
}

int http_reader_new(const struct http_limits *lim, struct http_reader **ret)
{
	struct http_reader *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->lim = *lim;
	http_parser_set_max_header_size(lim->max_header_bytes);
	http_parser_init(&r->parser, HTTP_REQUEST);
	r->parser.data = r;
	http_parser_settings_init(&r->settings);
	r->settings.on_message_begin = on_message_begin;
	r->settings.on_url = on_url;
	r->settings.on_header_field = on_header_field;
	r->settings.on_header_value = on_header_value;
	r->settings.on_headers_complete = on_headers_complete;
	r->settings.on_body = on_body;
	r->settings.on_chunk_header = on_chunk_header;
	r->settings.on_message_complete = on_message_complete;
	*ret = r;
	return 0;
}

void http_reader_free(struct http_reader *r)
{
	if (!r)
		return;
	drop_request(r);
	free(r);
}

static int status_of(struct http_reader *r)
{
	enum http_errno e = HTTP_PARSER_ERRNO(&r->parser);

	if (r->error)
		return r->error;
	if (e == HPE_HEADER_OVERFLOW)
		return 431;
	if (e == HPE_INVALID_METHOD)
		return 501;
	return 400;
}

ssize_t http_reader_feed(struct http_reader *r, const char *data, size_t len,
			 enum http_event *ret_ev, struct http_request **ret_req)
{
	*ret_ev = HTTP_EV_NONE;
	*ret_req = NULL;
	if (r->error)
		return -r->error;
	if (HTTP_PARSER_ERRNO(&r->parser) == HPE_PAUSED)
		http_parser_pause(&r->parser, 0);
	r->ev = HTTP_EV_NONE;
	size_t n = http_parser_execute(&r->parser, &r->settings, data, len);
	enum http_errno e = HTTP_PARSER_ERRNO(&r->parser);

	if (e != HPE_OK && e != HPE_PAUSED) {
		r->error = status_of(r);
		return -r->error;
	}
	*ret_ev = r->ev;
	if (r->ev == HTTP_EV_HEADERS) {
		r->given = true;
		*ret_req = r->req;
	} else if (r->ev == HTTP_EV_DONE) {
		*ret_req = r->req;
		/* The caller's now; a next request starts afresh. */
		r->req = NULL;
		r->given = false;
		r->sink = NULL;
		r->sink_data = NULL;
	}
	return (ssize_t)n;
}

void http_reader_body_to(struct http_reader *r, http_body_fn fn, void *userdata)
{
	r->sink = fn;
	r->sink_data = userdata;
}

bool http_reader_take_continue(struct http_reader *r)
{
	bool c = r->want_continue;
	r->want_continue = false;
	return c;
}

bool http_reader_mid_request(const struct http_reader *r)
{
	return r->req != NULL;
}

void http_request_free(struct http_request *req)
{
	if (!req)
		return;
	for (size_t i = 0; i < req->nheaders; i++) {
		free(req->headers[i].name);
		free(req->headers[i].value);
	}
	free(req->url);
	free(req->path);
	free(req->query);
	free(req->body);
	free(req);
}

const char *http_request_header(const struct http_request *req, const char *name)
{
	for (size_t i = 0; i < req->nheaders; i++)
		if (req->headers[i].name && !strcasecmp(req->headers[i].name, name))
			return req->headers[i].value;
	return NULL;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int http_percent_decode(const char *in, size_t len, char **ret)
{
	char *out = malloc(len + 1);
	size_t o = 0;

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		if (in[i] != '%') {
			out[o++] = in[i];
			continue;
		}
		/* "%XY": both digits must be there. */
		int hi = i + 2 < len ? hexval(in[i + 1]) : -1;
		int lo = i + 2 < len ? hexval(in[i + 2]) : -1;
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
			free(out);
			return -EINVAL;
		}
		out[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	out[o] = '\0';
	*ret = out;
	return 0;
}

int http_query_get(const char *query, const char *key, char **ret)
{
	size_t klen = strlen(key);

	for (const char *p = query; p && *p;) {
		size_t n = strcspn(p, "&");
		const char *eq = memchr(p, '=', n);
		size_t name_len = eq ? (size_t)(eq - p) : n;
		if (name_len == klen && !memcmp(p, key, klen))
			return eq ? http_percent_decode(eq + 1, n - name_len - 1, ret)
				  : http_percent_decode("", 0, ret);
		p += n;
		if (*p == '&')
			p++;
	}
	return -ENOENT;
}

const char *http_status_reason(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 507:
		return "Insufficient Storage";
	default:
		return "Unknown";
	}
}
