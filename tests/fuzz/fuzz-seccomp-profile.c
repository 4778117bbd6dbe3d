// SPDX-License-Identifier: MIT
/* Fuzz target: seccomp JSON profiles (untrusted: `--seccomp PATH`), including the
 * line locator used in their error messages. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../sandbox/sysfilter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sysfilter *f = NULL;
	char *err = NULL;

	if (size > 1 << 16)
		return 0;
	int r = sysfilter_new_from_json("fuzz.json", (const char *)data, size, &f, &err);
	if (r == 0 && (!f || f->prog.len == 0))
		abort();
	if (r < 0 && err && strchr(err, '\n'))
		abort(); /* errors are one line */
	sysfilter_free(f);
	free(err);
	return 0;
}
