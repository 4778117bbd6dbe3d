/* SPDX-License-Identifier: MIT */
/* multipart/form-data bodies (RFC 7578), as the E2B SDK uploads files: each part's name
 * and filename from its Content-Disposition, and its bytes, in place. Pure: no I/O. */
#pragma once

#include <stddef.h>

/* One part: @name and @filename ("" when absent; at most 63 and 4095 bytes, the
 * filename with %22, %0D and %0A, the escapes a browser's or undici's FormData writes,
 * undone), @data of @len bytes inside the body. Returns 0 to go on, or -errno to stop. */
typedef int (*form_part_fn)(void *ud, const char *name, const char *filename, const char *data,
			    size_t len);

/* The parts of @body under the boundary of @ctype ("multipart/form-data;
 * boundary=..."): 0 once the closing delimiter is reached, what @fn returned if it
 * stopped, or -EINVAL for a body that is not one (no boundary, a part cut short, no
 * closing delimiter). */
int form_multipart(const char *ctype, const char *body, size_t len, form_part_fn fn, void *ud);
