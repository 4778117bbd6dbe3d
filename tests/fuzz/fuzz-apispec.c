// SPDX-License-Identifier: MIT
/* Fuzz target: /v1 request bodies (untrusted JSON from any API client). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../host/domain/apispec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_create c;
	struct api_exec e;
	char *err = NULL;

	if (apispec_parse_create((const char *)data, size, &c, &err) == 0) {
		if (!c.image || !c.env || !c.gpus || !c.labels)
			abort();
		api_create_clear(&c);
	} else if (!err || strchr(err, '\n')) {
		abort(); /* every refusal says why, in one line */
	}
	free(err);
	err = NULL;
	if (apispec_parse_exec((const char *)data, size, &e, &err) == 0) {
		if (!e.cmd || !e.cmd[0] || !e.env)
			abort();
		api_exec_clear(&e);
	}
	free(err);
	return 0;
}
