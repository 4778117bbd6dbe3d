// SPDX-License-Identifier: MIT
/* Unit tests for what sandbox networking reads of sandbox traffic: hostile input. */
#define _GNU_SOURCE
#include "../../host/domain/netparse.h"

#include <arpa/inet.h>
#include <errno.h>

#include "harness.h"

/* A query for @name (type A), id 0x1234, into @m: its length. */
static size_t query(uint8_t *m, const char *name)
{
	static const uint8_t hdr[12] = { 0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
	size_t at = 12;
	memcpy(m, hdr, 12);
	for (const char *p = name; *p;) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		m[at++] = (uint8_t)l;
		memcpy(m + at, p, l);
		at += l;
		p += l + (dot ? 1 : 0);
	}
	m[at++] = 0;
	memcpy(m + at, "\0\1\0\1", 4);
	return at + 4;
}

TEST(dns_question_and_answers)
{
	uint8_t m[512];
	char name[NAME_MAX_LEN + 1];
	uint16_t type;
	size_t end, len = query(m, "API.Example.COM");
	CHECK_EQ_INT(dns_question(m, len, name, &type, &end), 0);
	CHECK(!strcmp(name, "api.example.com"));
	CHECK_EQ_INT(type, 1);
	CHECK_EQ_INT(end, len);
	/* An answer: a CNAME (compressed), then two A records, one of class CH. */
	m[2] = 0x81, m[3] = 0x80, m[7] = 3;
	static const uint8_t rr[] = {
		0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 30, 0, 2, 0xc0, 12,	    /* CNAME */
		0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 0,  0, 4, 203,  0,  113, 10, /* A, TTL 256 */
		0xc0, 12, 0, 1, 0, 3, 0, 0, 0, 9,  0, 4, 10,   0,  0,	1,  /* A, class CH */
	};
	memcpy(m + len, rr, sizeof(rr));
	uint32_t addrs[4], ttls[4];
	CHECK_EQ_INT(dns_answers_a(m, len + sizeof(rr), addrs, ttls, 4), 1);
	CHECK_EQ_INT(addrs[0], htonl(0xcb00710a));
	CHECK_EQ_INT(ttls[0], 256);
	/* Cut anywhere: never read past the end. */
	for (size_t cut = 0; cut < len + sizeof(rr); cut++)
		CHECK(dns_answers_a(m, cut, addrs, ttls, 4) <= 0 || cut >= len + 28);
	/* REFUSED, echoing the question. */
	uint8_t out[512];
	size_t n = dns_refuse(m, end, out, sizeof(out));
	CHECK_EQ_INT(n, end);
	CHECK_EQ_INT(out[3] & 0xf, 5);
	CHECK(out[2] & 0x80);
	CHECK_EQ_INT(out[7], 0);
}

TEST(dns_hostile_names)
{
	uint8_t m[512];
	char name[NAME_MAX_LEN + 1];
	uint16_t type;
	size_t end, len = query(m, "a.b");
	/* A compression pointer in the question, a label running off the end. */
	m[12] = 0xc0;
	CHECK_EQ_INT(dns_question(m, len, name, &type, &end), -EINVAL);
	len = query(m, "a.b");
	m[12] = 60;
	CHECK_EQ_INT(dns_question(m, len, name, &type, &end), -EINVAL);
	/* Bytes no host name has. */
	len = query(m, "a b.c");
	CHECK_EQ_INT(dns_question(m, len, name, &type, &end), -EINVAL);
	len = query(m, "a\n.c");
	CHECK_EQ_INT(dns_question(m, len, name, &type, &end), -EINVAL);
	/* Two questions. */
	len = query(m, "a.b");
	m[5] = 2;
	CHECK_EQ_INT(dns_question(m, len, name, &type, &end), -EINVAL);
}

/* A ClientHello naming @sni (NULL: no server_name), in @b: its length. */
static size_t hello(uint8_t *b, const char *sni)
{
	uint8_t ext[300];
	size_t el = 0, n = sni ? strlen(sni) : 0;
	if (sni) {
		uint8_t e[] = { 0, 0, 0, (uint8_t)(n + 5), 0, (uint8_t)(n + 3), 0, 0, (uint8_t)n };
		memcpy(ext, e, sizeof(e));
		memcpy(ext + sizeof(e), sni, n);
		el = sizeof(e) + n;
	}
	uint8_t body[600];
	size_t at = 0;
	body[at++] = 3, body[at++] = 3; /* legacy_version */
	memset(body + at, 7, 32), at += 32;
	body[at++] = 0;			/* session id */
	body[at++] = 0, body[at++] = 2; /* cipher suites */
	body[at++] = 0x13, body[at++] = 1;
	body[at++] = 1, body[at++] = 0; /* compression */
	body[at++] = 0, body[at++] = (uint8_t)el;
	memcpy(body + at, ext, el), at += el;
	b[0] = 22, b[1] = 3, b[2] = 1, b[3] = (uint8_t)((at + 4) >> 8), b[4] = (uint8_t)(at + 4);
	b[5] = 1, b[6] = 0, b[7] = (uint8_t)(at >> 8), b[8] = (uint8_t)at;
	memcpy(b + 9, body, at);
	return 9 + at;
}

TEST(tls_server_name)
{
	uint8_t b[700];
	char name[NAME_MAX_LEN + 1];
	size_t len = hello(b, "Pkg.Example.org");
	CHECK_EQ_INT(tls_sni(b, len, name), 1);
	CHECK(!strcmp(name, "pkg.example.org"));
	/* Bytes still to come: more are needed, never a guess. */
	for (size_t cut = 0; cut < len; cut++)
		CHECK_EQ_INT(tls_sni(b, cut, name), 0);
	CHECK_EQ_INT(tls_sni(b, hello(b, NULL), name), -EINVAL);
	CHECK_EQ_INT(tls_sni(b, hello(b, "bad name"), name), -EINVAL);
	CHECK_EQ_INT(tls_sni(b, hello(b, "1.2.3.4:443"), name), -EINVAL);
	CHECK_EQ_INT(tls_sni((const uint8_t *)"GET / HTTP/1.1\r\n", 16, name), -EINVAL);
	/* Lengths that point past the record. */
	len = hello(b, "a.b");
	b[8] = 0xff;
	CHECK_EQ_INT(tls_sni(b, len, name), -EINVAL);
}

TEST(http_host_header)
{
	char name[NAME_MAX_LEN + 1];
	static const char ok[] = "GET / HTTP/1.1\r\nAccept: */*\r\nhOsT:  A.test:8080 \r\n\r\n";
	CHECK_EQ_INT(http_host(ok, strlen(ok), name), 1);
	CHECK(!strcmp(name, "a.test"));
	CHECK_EQ_INT(http_host(ok, 20, name), 0);
	static const char two[] = "GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n";
	CHECK_EQ_INT(http_host(two, strlen(two), name), -EINVAL);
	static const char none[] = "GET / HTTP/1.1\r\nX: y\r\n\r\n";
	CHECK_EQ_INT(http_host(none, strlen(none), name), -EINVAL);
	static const char port[] = "GET / HTTP/1.1\r\nHost: a.test:80x\r\n\r\n";
	CHECK_EQ_INT(http_host(port, strlen(port), name), -EINVAL);
	static const char tls[] = "\x16\x03\x01";
	CHECK_EQ_INT(http_host(tls, 3, name), -EINVAL);
	static const char at[] = "GET / HTTP/1.1\r\nHost: evil@a.test\r\n\r\n";
	CHECK_EQ_INT(http_host(at, strlen(at), name), -EINVAL);
}

TEST(domain_patterns)
{
	CHECK(domain_match("api.example.com", "api.example.com"));
	CHECK(!domain_match("api.example.com", "x.api.example.com"));
	CHECK(domain_match("*.pkg.example", "a.pkg.example"));
	CHECK(domain_match("*.pkg.example", "a.b.pkg.example"));
	CHECK(!domain_match("*.pkg.example", "pkg.example"));
	CHECK(!domain_match("*.pkg.example", "evilpkg.example"));
	CHECK(!domain_match("*.pkg.example", "pkg.example.evil"));
}

static int rewrite(const char *req, char **out, struct http_framing *f)
{
	static const char *const drop[] = { "X-Sbx-Token", NULL };
	size_t len;
	return http_rewrite_head(req, strlen(req), drop, "X-Forwarded-For: 1.2.3.4\r\n", out, &len,
				 f);
}

TEST(http_rewrite_one_request)
{
	char *out;
	struct http_framing f;
	static const char ok[] =
		"POST /x HTTP/1.1\r\nHost: a.test\r\nX-Sbx-Token: secret\r\n"
		"Connection: keep-alive\r\nKeep-Alive: 5\r\nContent-Length: 3\r\n\r\n"
		"abcGET / HTTP/1.1\r\nHost: b.test\r\n\r\n";
	CHECK_EQ_INT(rewrite(ok, &out, &f), 0);
	CHECK(!strcmp(out, "POST /x HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\n"
			   "Connection: close\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n"));
	CHECK_EQ_INT(f.content_length, 3);
	CHECK(!f.chunked && !f.upgrade);
	CHECK_EQ_INT(f.head_len, strstr(ok, "abc") - ok);
	free(out);
	static const char ws[] = "GET /ws HTTP/1.1\r\nHost: a.test\r\nUpgrade: websocket\r\n"
				 "Connection: keep-alive, Upgrade\r\n\r\n";
	CHECK_EQ_INT(rewrite(ws, &out, &f), 0);
	CHECK(f.upgrade);
	CHECK_STR_CONTAINS(out, "Connection: Upgrade\r\n");
	free(out);
	static const char ch[] = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
	CHECK_EQ_INT(rewrite(ch, &out, &f), 0);
	CHECK(f.chunked && f.content_length == -1);
	free(out);
}

TEST(http_rewrite_refuses_ambiguity)
{
	char *out;
	struct http_framing f;
	static const char *const bad[] = {
		"GET / HTTP/1.1\r\nHost: a\r\nX: \rHost: b\r\n\r\n", /* a bare CR */
		"GET / HTTP/1.1\r\nHost: a\nHost: b\r\n\r\n",	     /* a bare LF */
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",	     /* two Hosts */
		"GET / HTTP/1.1\r\nX: y\r\n\r\n",		     /* none */
		"GET http://b/ HTTP/1.1\r\nHost: a\r\n\r\n",	     /* another host */
		"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",	     /* obs-fold */
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		/* both framings */
		("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		 "Content-Length: 1\r\n\r\n"),
		"GET / HTTP/2\r\nHost: a\r\n\r\n", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n", /* not complete */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ_INT(rewrite(bad[i], &out, &f), -EINVAL);
	static const char same[] = "GET http://A:80/p HTTP/1.1\r\nHost: a:80\r\n\r\n";
	CHECK_EQ_INT(rewrite(same, &out, &f), 0);
	free(out);
}

TEST(tls_encrypted_client_hello_refused)
{
	uint8_t b[700];
	char name[NAME_MAX_LEN + 1];
	size_t len = hello(b, "cover.example");
	/* An ECH extension (0xfe0d, empty) appended to the extensions. */
	size_t ext_len_at = 9 + 2 + 32 + 1 + 2 + 2 + 2;
	uint16_t el = (uint16_t)(b[ext_len_at] << 8 | b[ext_len_at + 1]);
	memcpy(b + len, "\xfe\x0d\x00\x00", 4);
	len += 4, el += 4;
	b[ext_len_at] = (uint8_t)(el >> 8), b[ext_len_at + 1] = (uint8_t)el;
	size_t hs = len - 9, rec = len - 5;
	b[7] = (uint8_t)(hs >> 8), b[8] = (uint8_t)hs, b[3] = (uint8_t)(rec >> 8),
	b[4] = (uint8_t)rec;
	CHECK_EQ_INT(tls_sni(b, len, name), -EINVAL);
}
