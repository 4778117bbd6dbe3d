/* SPDX-License-Identifier: MIT */
/* Finds the line of a value in JSON text by its path, so errors found after
 * parsing (a bad field, an unknown name) can say where they are. Pure; the text
 * must already be valid JSON (jansson parsed it). */
#pragma once

#include <stddef.h>

struct jsonpos_seg {
	const char *key; /* object member name, or NULL for an array index */
	size_t index;
};

/* Returns the 1-based line where the value at @path starts, or 0 if not found. */
unsigned jsonpos_line(const char *text, size_t len, const struct jsonpos_seg *path, size_t depth);
