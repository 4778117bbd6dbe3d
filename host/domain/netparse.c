// SPDX-License-Identifier: MIT
/* Readers of DNS messages (RFC 1035), TLS ClientHellos (RFC 8446 section 4.1.2, the
 * server_name extension of RFC 6066) and HTTP/1 request heads: bounds first, always. */
#define _GNU_SOURCE
#include "netparse.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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
	int found = -EINVAL;
	for (p += 2; ext_end - p >= 4;) {
		uint16_t type = be16(p), elen = be16(p + 2);
		const uint8_t *e = p + 4;
		if (ext_end - e < elen)
			return -EINVAL;
		p = e + elen;
		/* Encrypted Client Hello: the name it shows is not the one it asks for. */
		if (type == 0xfe0d)
			return -EINVAL;
		if (type != 0 || found == 1)
			continue;
		/* server_name_list: length, then entries of type(1) length(2) name. */
		if (elen < 5 || be16(e) + 2 > elen || e[2] != 0)
			return -EINVAL;
		size_t nlen = be16(e + 3);
		if (nlen + 5 > elen || !host_copy((const char *)e + 5, nlen, name))
			return -EINVAL;
		found = 1;
	}
	return found;
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

/* Whether @c may stand in a header's name (RFC 9110 token). */
static bool tchar(char c)
{
	return isalnum((unsigned char)c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool header_is(const char *name, size_t n, const char *want)
{
	return strlen(want) == n && !strncasecmp(name, want, n);
}

/* Whether the comma-separated list @v (@n bytes) has the token @tok. */
static bool list_has(const char *v, size_t n, const char *tok)
{
	size_t tl = strlen(tok);
	for (size_t i = 0; i < n;) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t s = i;
		while (i < n && v[i] != ',')
			i++;
		size_t e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - s == tl && !strncasecmp(v + s, tok, tl))
			return true;
	}
	return false;
}

int http_rewrite_head(const char *buf, size_t len, const char *const *drop, const char *extra,
		      char **ret, size_t *ret_len, struct http_framing *ret_f)
{
	const char *end = memmem(buf, len, "\r\n\r\n", 4), *p, *host = NULL, *target;
	size_t host_len = 0, target_len;
	struct http_framing f = { .content_length = -1 };
	bool conn_upgrade = false, has_upgrade = false;
	char *out = NULL;
	size_t out_len = 0;

	if (!end)
		return -EINVAL;
	end += 2; /* the last header line's CRLF; the empty line follows */
	/* No bare CR or LF anywhere in the head: each line ends CRLF. */
	for (p = buf; p < end + 2; p++)
		if ((*p == '\r' && p[1] != '\n') || (*p == '\n' && (p == buf || p[-1] != '\r')) ||
		    *p == '\0')
			return -EINVAL;
	const char *line_end = memchr(buf, '\r', (size_t)(end - buf));
	/* METHOD SP target SP HTTP/1.x */
	const char *sp1 = memchr(buf, ' ', (size_t)(line_end - buf));
	const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(line_end - sp1 - 1)) : NULL;
	if (!sp1 || !sp2 || sp1 == buf || sp2 == sp1 + 1 || line_end - sp2 != 9 ||
	    strncmp(sp2 + 1, "HTTP/1.", 7))
		return -EINVAL;
	for (p = buf; p < sp1; p++)
		if (!tchar(*p))
			return -EINVAL;
	target = sp1 + 1;
	target_len = (size_t)(sp2 - target);
	FILE *o = open_memstream(&out, &out_len);
	if (!o)
		return -ENOMEM;
	fwrite(buf, 1, (size_t)(line_end - buf) + 2, o);
	int r = 0;
	for (p = line_end + 2; p < end && r == 0;) {
		const char *eol = memchr(p, '\r', (size_t)(end - p));
		const char *colon = memchr(p, ':', (size_t)(eol - p));
		if (!colon || colon == p) {
			r = -EINVAL; /* no name (an obs-fold line starts with a space) */
			break;
		}
		for (const char *q = p; q < colon; q++)
			if (!tchar(*q))
				r = -EINVAL;
		size_t nl = (size_t)(colon - p);
		const char *v = colon + 1, *ve = eol;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		size_t vl = (size_t)(ve - v);
		bool keep = true;
		if (header_is(p, nl, "Host")) {
			if (host)
				r = -EINVAL;
			host = v, host_len = vl;
		} else if (header_is(p, nl, "Content-Length")) {
			char num[24];
			if (vl == 0 || vl >= sizeof(num) || strspn(v, "0123456789") < vl)
				r = -EINVAL;
			else {
				memcpy(num, v, vl), num[vl] = '\0';
				int64_t cl = strtoll(num, NULL, 10);
				if (f.content_length >= 0 && f.content_length != cl)
					r = -EINVAL;
				f.content_length = cl;
			}
		} else if (header_is(p, nl, "Transfer-Encoding")) {
			if (!(vl == 7 && !strncasecmp(v, "chunked", 7)) || f.chunked)
				r = -EINVAL; /* only chunked, once */
			f.chunked = true;
		} else if (header_is(p, nl, "Connection")) {
			conn_upgrade |= list_has(v, vl, "upgrade");
			keep = false;
		} else if (header_is(p, nl, "Keep-Alive") || header_is(p, nl, "Proxy-Connection")) {
			keep = false;
		} else if (header_is(p, nl, "Upgrade")) {
			has_upgrade = true;
		}
		for (const char *const *d = drop; d && *d && keep; d++)
			keep = !header_is(p, nl, *d);
		if (keep)
			fwrite(p, 1, (size_t)(eol - p) + 2, o);
		p = eol + 2;
	}
	if (r == 0 && (!host || (f.chunked && f.content_length >= 0)))
		r = -EINVAL;
	/* An absolute target names the same host as Host (a server would go by it). */
	if (r == 0 && target_len > 7 &&
	    (!strncasecmp(target, "http://", 7) || !strncasecmp(target, "https://", 8))) {
		const char *h = target + (target[4] == ':' ? 7 : 8);
		size_t hl = strcspn(h, "/?#");
		if (hl > (size_t)(target + target_len - h))
			hl = (size_t)(target + target_len - h);
		if (hl != host_len || strncasecmp(h, host, hl))
			r = -EINVAL;
	}
	f.upgrade = has_upgrade && conn_upgrade;
	if (r == 0) {
		fprintf(o, "%s%s\r\n", f.upgrade ? "Connection: Upgrade" : "Connection: close", "");
		if (extra)
			fputs(extra, o);
		fputs("\r\n", o);
	}
	if (fclose(o) != 0 && r == 0)
		r = -ENOMEM;
	if (r < 0) {
		free(out);
		return r;
	}
	f.head_len = (size_t)(end + 2 - buf);
	*ret = out;
	*ret_len = out_len;
	*ret_f = f;
	return 0;
}
