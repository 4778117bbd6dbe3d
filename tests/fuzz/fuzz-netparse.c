// SPDX-License-Identifier: MIT
/* Fuzz target: what sandbox networking reads of a sandbox's traffic (untrusted: every
 * byte comes from inside a sandbox or from the resolver it asked): DNS messages, TLS
 * ClientHellos, HTTP request heads. Any name returned must be a clean host name. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../host/domain/netparse.h"

static void clean(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > NAME_MAX_LEN)
		abort();
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '_' || *p == '.'))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[NAME_MAX_LEN + 1];
	uint32_t addrs[8], ttls[8];
	uint8_t out[512];
	uint16_t type;
	size_t end;

	if (dns_question(data, size, name, &type, &end) == 0) {
		clean(name);
		if (end > size)
			abort();
		if (dns_refuse(data, end, out, sizeof(out)) > sizeof(out))
			abort();
	}
	if (dns_answers_a(data, size, addrs, ttls, 8) > 8)
		abort();
	if (tls_sni(data, size, name) == 1)
		clean(name);
	if (http_host((const char *)data, size, name) == 1)
		clean(name);
	char *head;
	size_t hlen;
	struct http_framing f;
	if (http_rewrite_head((const char *)data, size, NULL, NULL, &head, &hlen, &f) == 0) {
		if (f.head_len > size || memchr(head, '\0', hlen) ||
		    !memmem(head, hlen, "\r\n\r\n", 4))
			abort();
		free(head);
	}
	return 0;
}
