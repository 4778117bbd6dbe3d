// SPDX-License-Identifier: MIT
/* Readers of DNS messages (RFC 1035), TLS ClientHellos (RFC 8446 section 4.1.2, the
 * server_name extension of RFC 6066) and HTTP/1 request heads: bounds first, always. */
#define _GNU_SOURCE
#include "netparse.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A host name: labels of [a-z0-9-_] (upper case folded), 1-63 each, 253 in all. Copied
 * lower-cased into @out; false for anything else. */
static bool host_copy(const char *s, size_t len, char out[NAME_MAX_LEN + 1])
{
	size_t label = 0;

	if (len && s[len - 1] == '.')
		len--;
	if (len == 0 || len > NAME_MAX_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum((unsigned char)c) || c == '-' || c == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
		out[i] = (char)tolower((unsigned char)c);
	}
	out[len] = '\0';
	return label > 0;
}

/* Skips a (possibly compressed) name at @at; the offset past it, or 0. */
static size_t name_skip(const uint8_t *m, size_t len, size_t at)
{
	while (at < len) {
		uint8_t l = m[at];
		if ((l & 0xc0) == 0xc0)
			return at + 2 <= len ? at + 2 : 0;
		if (l & 0xc0)
			return 0;
		if (l == 0)
			return at + 1;
		at += 1 + (size_t)l;
	}
	return 0;
}

int dns_question(const uint8_t *m, size_t len, char name[NAME_MAX_LEN + 1], uint16_t *ret_type,
		 size_t *ret_end)
{
	char text[NAME_MAX_LEN + 2];
	size_t at = 12, n = 0;

	if (len < 12 || be16(m + 4) != 1)
		return -EINVAL;
	/* The question's name is never compressed: nothing comes before it. */
	while (at < len && m[at]) {
		uint8_t l = m[at];
		if (l > 63 || at + 1 + l > len || n + l + 1 > sizeof(text))
			return -EINVAL;
		if (n)
			text[n++] = '.';
		memcpy(text + n, m + at + 1, l);
		n += l;
		at += 1 + (size_t)l;
	}
	if (at + 5 > len || !host_copy(text, n, name))
		return -EINVAL;
	*ret_type = be16(m + at + 1);
	*ret_end = at + 5;
	return 0;
}

int dns_answers_a(const uint8_t *m, size_t len, uint32_t *addrs, uint32_t *ttls, int max)
{
	char name[NAME_MAX_LEN + 1];
	uint16_t type;
	size_t at;
	int n = 0;

	if (dns_question(m, len, name, &type, &at) < 0)
		return -EINVAL;
	for (unsigned k = be16(m + 6); k > 0; k--) {
		if (!(at = name_skip(m, len, at)) || at + 10 > len)
			return -EINVAL;
		uint16_t rtype = be16(m + at), rclass = be16(m + at + 2), rdlen = be16(m + at + 8);
		uint32_t ttl = be32(m + at + 4);
		at += 10;
		if (at + rdlen > len)
			return -EINVAL;
		if (rtype == 1 && rclass == 1 && rdlen == 4 && n < max) {
			memcpy(&addrs[n], m + at, 4);
			ttls[n++] = ttl;
		}
		at += rdlen;
	}
	return n;
}

size_t dns_refuse(const uint8_t *q, size_t qend, uint8_t *out, size_t cap)
{
	if (qend < 12 || qend > cap)
		return 0;
	memcpy(out, q, qend);
	out[2] = (uint8_t)(0x80 | (q[2] & 0x79)); /* a response; opcode and RD kept */
	out[3] = 0x85;				  /* RA, REFUSED */
	memset(out + 6, 0, 6);			  /* no answer, authority or additional */
	return qend;
}

int tls_sni(const uint8_t *b, size_t len, char name[NAME_MAX_LEN + 1])
{
	/* Record: type 22 (handshake), version, length; then ClientHello (type 1). */
	if (len >= 1 && b[0] != 22)
		return -EINVAL;
	if (len < 9)
		return 0;
	size_t rec = be16(b + 3);
	if (b[5] != 1 || rec < 4)
		return -EINVAL;
	/* The ClientHello must fit in its first record (it does in practice: 16 KiB). */
	size_t hs = (size_t)b[6] << 16 | (size_t)be16(b + 7);
	if (hs + 4 > rec)
		return -EINVAL;
	if (len < 5 + rec)
		return 0;
	const uint8_t *p = b + 9, *end = b + 9 + hs;
	/* version(2) random(32) session_id cipher_suites compression_methods extensions */
	if (end - p < 35)
		return -EINVAL;
	p += 34;
	p += 1 + p[0];
	if (end - p < 2 || end - p < 2 + be16(p))
		return -EINVAL;
	p += 2 + be16(p);
	if (end - p < 1 || end - p < 1 + p[0])
		return -EINVAL;
	p += 1 + p[0];
	if (end - p < 2)
		return -EINVAL;
	const uint8_t *ext_end = p + 2 + be16(p);
	if (ext_end > end)
		return -EINVAL;
	for (p += 2; ext_end - p >= 4;) {
		uint16_t type = be16(p), elen = be16(p + 2);
		const uint8_t *e = p + 4;
		if (ext_end - e < elen)
			return -EINVAL;
		p = e + elen;
		if (type != 0)
			continue;
		/* server_name_list: length, then entries of type(1) length(2) name. */
		if (elen < 5 || be16(e) + 2 > elen || e[2] != 0)
			return -EINVAL;
		size_t nlen = be16(e + 3);
		if (nlen + 5 > elen || !host_copy((const char *)e + 5, nlen, name))
			return -EINVAL;
		return 1;
	}
	return -EINVAL;
}

int http_host(const char *buf, size_t len, char name[NAME_MAX_LEN + 1])
{
	const char *end = memmem(buf, len, "\r\n\r\n", 4);
	const char *p, *line;
	int found = 0;

	/* A method token, as a request line starts. */
	for (size_t i = 0; i < len && buf[i] != ' '; i++)
		if (!isupper((unsigned char)buf[i]))
			return -EINVAL;
	if (!end)
		return 0;
	line = memchr(buf, '\n', (size_t)(end - buf));
	for (p = line ? line + 1 : end; p < end;) {
		const char *eol = memchr(p, '\r', (size_t)(end + 2 - p));
		if (!eol)
			return -EINVAL;
		if ((size_t)(eol - p) > 5 && !strncasecmp(p, "host:", 5)) {
			const char *v = p + 5, *ve = eol;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			const char *colon = memchr(v, ':', (size_t)(ve - v));
			if (colon) {
				/* A port: digits only. */
				for (const char *d = colon + 1; d < ve; d++)
					if (!isdigit((unsigned char)*d))
						return -EINVAL;
				ve = colon;
			}
			/* Two Host headers are a request to refuse. */
			if (found++ || !host_copy(v, (size_t)(ve - v), name))
				return -EINVAL;
		}
		p = eol + 2;
	}
	return found ? 1 : -EINVAL;
}

bool domain_match(const char *pattern, const char *name)
{
	if (!strncmp(pattern, "*.", 2)) {
		size_t pl = strlen(pattern + 1), nl = strlen(name);
		/* ".example.com" at the end of a longer name */
		return nl > pl && !strcmp(name + nl - pl, pattern + 1);
	}
	return !strcmp(pattern, name);
}
