// SPDX-License-Identifier: MIT
/* Fuzz target: the spec value parsers (sizes, durations, CPUs, hostnames) and the
 * JSON line locator on arbitrary text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../sandbox/jsonpos.h"
#include "../../sandbox/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	uint64_t v;
	uint32_t m;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	(void)spec_parse_size(s, &v);
	(void)spec_parse_duration(s, &v);
	if (spec_parse_cpus(s, &m) == 0 && (m == 0 || m > 1024000))
		abort();
	(void)spec_hostname_valid(s);
	struct jsonpos_seg path[] = { { "a", 0 }, { NULL, 1 }, { "b", 0 } };
	unsigned line = jsonpos_line(s, size, path, 3);
	size_t nl = 1;
	for (size_t i = 0; i < size; i++)
		nl += s[i] == '\n';
	if (line > nl)
		abort();
	free(s);
	return 0;
}
