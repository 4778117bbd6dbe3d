// SPDX-License-Identifier: MIT
/* Fuzz target: sbx-oci's reading of a bundle's config.json (tools/oci/config.c), every
 * field either taken or refused, on arbitrary text; then a process JSON as exec reads
 * it. Nothing on disk is touched (no bundle directory). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/oci/oci.h"

/* Absolute, and no component empty, "." or "..". */
static bool target_clean(const char *t)
{
	if (!t || t[0] != '/')
		return false;
	if (!t[1])
		return true;
	for (const char *p = t + 1;;) {
		size_t n = strcspn(p, "/");
		if (!n || (n == 1 && p[0] == '.') || (n == 2 && !strncmp(p, "..", 2)))
			return false;
		if (!p[n])
			return true;
		p += n + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oci_config c;
	struct oci_process p;

	G.quiet = true;
	if (oci_config_parse((const char *)data, size, NULL, &c) == 0) {
		/* What it took holds what the launch relies on. */
		if (!c.proc.args || !c.proc.args[0] || !c.proc.cwd || c.proc.cwd[0] != '/' ||
		    c.nmounts > SANDBOX_MAX_MOUNTS)
			abort();
		for (unsigned i = 0; i < c.nmounts; i++)
			if (!target_clean(c.mounts[i].target))
				abort();
	}
	oci_config_clear(&c);
	json_t *j = json_loadb((const char *)data, size, 0, NULL);
	if (j && oci_process_parse(j, "process", &p) == 0)
		oci_process_clear(&p);
	json_decref(j);
	return 0;
}
