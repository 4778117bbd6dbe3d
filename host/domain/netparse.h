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
 * needed, -EINVAL if it is not a ClientHello or names no valid host. */
int tls_sni(const uint8_t *buf, size_t len, char name[NAME_MAX_LEN + 1]);
/* The Host of an HTTP/1 request starting @buf (port dropped): 1, 0 if the header block is
 * not complete yet, -EINVAL if it is not a request with one valid Host. */
int http_host(const char *buf, size_t len, char name[NAME_MAX_LEN + 1]);

/* Whether @name matches @pattern: "api.example.com" itself, "*.example.com" any name
 * below example.com (not example.com itself). Both lower case. */
bool domain_match(const char *pattern, const char *name);
