/* SPDX-License-Identifier: MIT */
/* The path rule of sbx-init --file put and rm (the files API's helper inside a sandbox):
 * what names the node to write or remove. sbx-init is built alone, so it is inline here;
 * the tests include it too. Pure and async-signal-safe. */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <string.h>

/* Splits absolute @path into the directory holding it, copied into @dir (@size bytes; ""
 * for "/"), and its last component, *ret_base (pointing into @path), which must be a plain
 * name: not empty (a trailing '/'), "." or "..". ".." before the last component is left to
 * the walk in the sandbox's root. 0, or -EINVAL (also for a directory that does not fit). */
static inline int filepath_split(const char *path, char *dir, size_t size, const char **ret_base)
{
	const char *slash = strrchr(path, '/');

	if (path[0] != '/' || !slash)
		return -EINVAL;
	const char *base = slash + 1;
	size_t dlen = (size_t)(slash - path);
	if (!*base || !strcmp(base, ".") || !strcmp(base, "..") || dlen >= size)
		return -EINVAL;
	memcpy(dir, path, dlen);
	dir[dlen] = '\0';
	*ret_base = base;
	return 0;
}
