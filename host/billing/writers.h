/* SPDX-License-Identifier: MIT */
/* The ledger's rows as the exports write them: FOCUS-style CSV, a JSON object per row,
 * CloudEvents 1.0 JSON lines; and the UTC times they carry. The same row gives the same
 * bytes every time (no time of export). Pure: writes only to the FILE given. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ledger.h"

/* "2026-11-26T00:00:00Z" (or "+00:00"), with optional fractional seconds, as ns since
 * the epoch. -EINVAL for anything else, or a time before 1970. */
int writers_parse_time(const char *s, int64_t *ret);
/* @ns as "2026-11-26T00:00:00Z", or "...T00:00:00.000000001Z" when not whole seconds.
 * @size: 64 is enough. */
void writers_format_time(int64_t ns, char *buf, size_t size);

/* @s as one CSV field (RFC 4180: quoted when it holds a comma, a quote, CR or LF; quotes
 * doubled), then ',' or, for the @last of a record, '\n'. Nothing else is changed: a field
 * starting with '=', '+', '-' or '@' is written as it is. */
void writers_csv_field(FILE *f, const char *s, bool last);

/* The FOCUS CSV header line, and a row as one record under it. */
void writers_focus_header(FILE *f);
void writers_focus_row(FILE *f, const struct ledger_row *row);

/* A row as a JSON object (new reference), or NULL when it cannot be made (a string that
 * is not UTF-8). */
json_t *writers_row_json(const struct ledger_row *row);

/* A row as one CloudEvents line (id = row id, type "sbx.usage.SKU", time = end of the
 * window, data = writers_row_json); nothing when the row cannot be made into JSON. */
void writers_cloudevent(FILE *f, const char *source, const struct ledger_row *row);

/* The JSON export: {"currency", "rows" (taken), "count", "total", "total_nano"} and a
 * newline. */
void writers_usage_json(FILE *f, const char *currency, json_t *rows, size_t count,
			uint64_t total_nano);
