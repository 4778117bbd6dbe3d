// SPDX-License-Identifier: MIT
/* Unit tests for the HTTP/1.1 request reader. */
#define _GNU_SOURCE
#include "../../host/edge/http.h"

#include <errno.h>
#include <http_parser.h>

#include "harness.h"

static const struct http_limits lim = { .max_header_bytes = 8192, .max_body = 1 << 20 };

/* Feeds @in in pieces of @step bytes, collecting bodies; collects up to 4 requests;
 * returns the last feed result (<0: error status). */
static ssize_t feed_all(const char *in, size_t len, size_t step, struct http_request **reqs,
			int *nreq)
{
	struct http_reader *r;
	struct http_collect col[5];
	struct http_request *pending = NULL;
	ssize_t n = 0;

	CHECK_EQ_INT(http_reader_new(&lim, &r), 0);
	*nreq = 0;
	for (size_t off = 0; off < len;) {
		size_t chunk = len - off < step ? len - off : step;
		enum http_event ev;
		struct http_request *req;
		n = http_reader_feed(r, in + off, chunk, &ev, &req);
		if (n < 0)
			break;
		if (ev == HTTP_EV_HEADERS) {
			CHECK(*nreq < 4 && !pending);
			pending = req;
			col[*nreq] = (struct http_collect){ .req = req, .max = lim.max_body };
			http_reader_body_to(r, http_collect_body, &col[*nreq]);
		} else if (ev == HTTP_EV_DONE) {
			CHECK(req == pending);
			reqs[(*nreq)++] = req;
			pending = NULL;
		}
		off += (size_t)n;
		if (n == 0 && ev == HTTP_EV_NONE)
			break;
	}
	http_request_free(pending);
	http_reader_free(r);
	return n;
}

TEST(get_with_query_and_headers)
{
	static const char in[] =
		"GET /v1/sandboxes/ab%20c/files?path=%2Ftmp%2Fx&mode=1 HTTP/1.1\r\n"
		"Host: x\r\nX-Thing:  spaced \r\n\r\n";
	struct http_request *reqs[4];
	int n;
	CHECK(feed_all(in, sizeof(in) - 1, 4096, reqs, &n) >= 0);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(reqs[0]->method, HTTP_GET);
	CHECK(!strcmp(reqs[0]->path, "/v1/sandboxes/ab c/files"));
	CHECK(!strcmp(reqs[0]->query, "path=%2Ftmp%2Fx&mode=1"));
	CHECK(!strcmp(http_request_header(reqs[0], "host"), "x"));
	CHECK(!strcmp(http_request_header(reqs[0], "X-THING"), "spaced "));
	CHECK(http_request_header(reqs[0], "Missing") == NULL);
	CHECK(reqs[0]->keep_alive);
	CHECK_EQ_INT(reqs[0]->body_len, 0);
	CHECK(reqs[0]->content_length == -1);
	char *v;
	CHECK_EQ_INT(http_query_get(reqs[0]->query, "path", &v), 0);
	CHECK(!strcmp(v, "/tmp/x"));
	free(v);
	CHECK_EQ_INT(http_query_get(reqs[0]->query, "pat", &v), -ENOENT);
	http_request_free(reqs[0]);
}

TEST(pipelined_in_order_byte_by_byte)
{
	static const char in[] = "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
				 "PUT /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
				 "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
				 "DELETE /c HTTP/1.0\r\n\r\n";
	for (size_t step = 1; step <= sizeof(in); step += 7) {
		struct http_request *reqs[4];
		int n;
		CHECK(feed_all(in, sizeof(in) - 1, step, reqs, &n) >= 0);
		CHECK_EQ_INT(n, 3);
		CHECK(!strcmp(reqs[0]->path, "/a") && !strcmp(reqs[0]->body, "hello"));
		CHECK(!strcmp(reqs[1]->path, "/b") && !strcmp(reqs[1]->body, "abcde"));
		CHECK(reqs[1]->chunked && reqs[1]->body_len == 5);
		CHECK(!strcmp(reqs[2]->path, "/c") && reqs[2]->method == HTTP_DELETE);
		CHECK(!reqs[2]->keep_alive); /* HTTP/1.0 without keep-alive */
		for (int i = 0; i < n; i++)
			http_request_free(reqs[i]);
	}
}

TEST(binary_body)
{
	char in[256];
	int len = snprintf(in, sizeof(in), "PUT /f HTTP/1.1\r\nContent-Length: 4\r\n\r\n");
	memcpy(in + len, "\0\1\377\0", 4);
	struct http_request *reqs[4];
	int n;
	CHECK(feed_all(in, (size_t)len + 4, 3, reqs, &n) >= 0);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(reqs[0]->body_len, 4);
	CHECK(!memcmp(reqs[0]->body, "\0\1\377\0", 4));
	http_request_free(reqs[0]);
}

static void expect_status(const char *in, int status)
{
	struct http_request *reqs[4];
	int n;
	ssize_t r = feed_all(in, strlen(in), 5, reqs, &n);
	for (int i = 0; i < n; i++)
		http_request_free(reqs[i]);
	CHECK_EQ_INT(r, -status);
}

TEST(limits_and_errors)
{
	char big[10000];
	expect_status("FROB / HTTP/1.1\r\n\r\n", 501);
	expect_status("GET / HTP/1.1\r\n\r\n", 400);
	expect_status("GET /a b HTTP/1.1\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", 413);
	expect_status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFF\r\n", 413);
	expect_status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n", 400);
	expect_status("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400);
	/* Two tokens, two hosts: refused, not one of them taken. */
	expect_status(
		"GET / HTTP/1.1\r\nAuthorization: Bearer a\r\nauthorization: Bearer b\r\n\r\n",
		400);
	expect_status("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
	/* Only chunked is a transfer coding a body can come in. */
	expect_status("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501);
	expect_status("GET /%zz HTTP/1.1\r\n\r\n", 400);
	expect_status("GET /%00 HTTP/1.1\r\n\r\n", 400);
	int off = snprintf(big, sizeof(big), "GET / HTTP/1.1\r\n");
	for (int i = 0; i < 65; i++)
		off += snprintf(big + off, sizeof(big) - (size_t)off, "H%d: v\r\n", i);
	snprintf(big + off, sizeof(big) - (size_t)off, "\r\n");
	expect_status(big, 431);
	off = snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nX: ");
	memset(big + off, 'a', 9000);
	strcpy(big + off + 9000, "\r\n\r\n");
	expect_status(big, 431);
}

TEST(expect_continue)
{
	static const char head[] =
		"PUT /f HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
	struct http_reader *r;
	struct http_request *req, *got;
	enum http_event ev;
	CHECK_EQ_INT(http_reader_new(&lim, &r), 0);
	/* The headers stop the reader one byte short; the rest follows. */
	ssize_t n = http_reader_feed(r, head, sizeof(head) - 1, &ev, &req);
	CHECK(n > 0 && ev == HTTP_EV_HEADERS && req && req->content_length == 3);
	CHECK(http_reader_take_continue(r));
	CHECK(!http_reader_take_continue(r)); /* once */
	struct http_collect col = { .req = req, .max = 16 };
	http_reader_body_to(r, http_collect_body, &col);
	CHECK_EQ_INT(http_reader_feed(r, head + n, sizeof(head) - 1 - (size_t)n, &ev, &got),
		     sizeof(head) - 1 - (size_t)n);
	CHECK(ev == HTTP_EV_NONE && http_reader_mid_request(r));
	CHECK_EQ_INT(http_reader_feed(r, "abc", 3, &ev, &got), 3);
	CHECK(ev == HTTP_EV_DONE && got == req && !strcmp(req->body, "abc"));
	CHECK(!http_reader_mid_request(r));
	http_request_free(req);
	http_reader_free(r);
}

/* A body is read only once the caller chose where it goes; without a sink, or past
 * the sink's limit, the request is refused. */
TEST(body_needs_a_sink)
{
	static const char in[] = "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
	struct http_reader *r;
	struct http_request *req;
	enum http_event ev;
	CHECK_EQ_INT(http_reader_new(&lim, &r), 0);
	ssize_t n = http_reader_feed(r, in, sizeof(in) - 1, &ev, &req);
	CHECK(ev == HTTP_EV_HEADERS);
	CHECK_EQ_INT(http_reader_feed(r, in + n, sizeof(in) - 1 - (size_t)n, &ev, &req), -413);
	http_request_free(req);
	http_reader_free(r);

	CHECK_EQ_INT(http_reader_new(&lim, &r), 0);
	n = http_reader_feed(r, in, sizeof(in) - 1, &ev, &req);
	struct http_collect col = { .req = req, .max = 4 };
	http_reader_body_to(r, http_collect_body, &col);
	CHECK_EQ_INT(http_reader_feed(r, in + n, sizeof(in) - 1 - (size_t)n, &ev, &req), -413);
	http_request_free(col.req);
	http_reader_free(r);
}

TEST(percent_decoding)
{
	char *v;
	CHECK_EQ_INT(http_percent_decode("a%2Fb+c", 7, &v), 0);
	CHECK(!strcmp(v, "a/b+c"));
	free(v);
	CHECK_EQ_INT(http_percent_decode("%4", 2, &v), -EINVAL);
	CHECK_EQ_INT(http_percent_decode("%", 1, &v), -EINVAL);
	CHECK_EQ_INT(http_percent_decode("%g0", 3, &v), -EINVAL);
	CHECK_EQ_INT(http_query_get("a=1&b&c=%41", "b", &v), 0);
	CHECK(!strcmp(v, ""));
	free(v);
	CHECK_EQ_INT(http_query_get("a=1&b&c=%41", "c", &v), 0);
	CHECK(!strcmp(v, "A"));
	free(v);
	CHECK(!strcmp(http_status_reason(413), "Content Too Large"));
}
