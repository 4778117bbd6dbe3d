/* SPDX-License-Identifier: MIT */
/* What sandbox networking reads of a sandbox's traffic (netparse.c), pure: the question
 * and A records of DNS messages, the server name of a TLS ClientHello, the Host of an
 * HTTP/1 request, and domain patterns. Every input is hostile: lengths are checked, names
 * are copied only when they are host names (lower-cased). No I/O. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NAME_MAX_LEN 253

/* The question of DNS message @m: its name (lower case, no trailing dot) in @name, its
 * type, and the offset just past it. 0, or -EINVAL. */
int dns_question(const uint8_t *m, size_t len, char name[NAME_MAX_LEN + 1], uint16_t *ret_type,
		 size_t *ret_end);
/* Each A record (class IN) of the answer section of DNS message @m: its address (network
 * byte order) and TTL. Returns how many, or -EINVAL for a malformed message. */
int dns_answers_a(const uint8_t *m, size_t len, uint32_t *addrs, uint32_t *ttls, int max);
/* A reply REFUSED (rcode 5) to query @q, whose question ends at @qend: written to @out (of
 * @cap bytes); its length, or 0 if it does not fit. */
size_t dns_refuse(const uint8_t *q, size_t qend, uint8_t *out, size_t cap);

/* The server name of a TLS ClientHello starting @buf: 1 (in @name), 0 if more bytes are
 * needed, -EINVAL if it is not a ClientHello, names no valid host, or hides the name it
 * asks for (Encrypted Client Hello). */
int tls_sni(const uint8_t *buf, size_t len, char name[NAME_MAX_LEN + 1]);
/* The Host of an HTTP/1 request starting @buf (port dropped): 1, 0 if the header block is
 * not complete yet, -EINVAL if it is not a request with one valid Host. */
int http_host(const char *buf, size_t len, char name[NAME_MAX_LEN + 1]);

/* Whether @name matches @pattern: "api.example.com" itself, "*.example.com" any name
 * below example.com (not example.com itself). Both lower case. */
bool domain_match(const char *pattern, const char *name);

/* How the body of a request goes (what a forwarder must pass on, and no more). */
struct http_framing {
	size_t head_len;	/* bytes of the head, its empty line included */
	int64_t content_length; /* -1: none given */
	bool chunked;
	bool upgrade; /* Connection: upgrade and Upgrade: the connection may turn into another
		       * protocol (if the answer is 101) */
};

/* The head of the HTTP/1 request starting @buf (complete: it ends with an empty line)
 * for a server behind sbxd: the same request line and headers but the hop-by-hop ones
 * (Connection, Keep-Alive, Proxy-Connection) and those named in @drop (NULL-terminated),
 * then "Connection: close" (or "Connection: Upgrade" for an upgrade), then @extra (header
 * lines, CRLF-ended, or NULL). In *ret (caller frees), with its framing. -EINVAL for what
 * a server might read otherwise than sbxd: a bare CR or LF, a folded or nameless header,
 * no Host or two, an absolute target naming another host, two Content-Lengths that
 * differ, a Transfer-Encoding other than chunked, or both. */
int http_rewrite_head(const char *buf, size_t len, const char *const *drop, const char *extra,
		      char **ret, size_t *ret_len, struct http_framing *ret_f);
