/* SPDX-License-Identifier: MIT */
#include "reply.h"

#include "../../sandbox/text.h"

#include <stdarg.h>
#include <stdio.h>

int why_set(struct why *w, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->msg, sizeof(w->msg), fmt, ap);
	va_end(ap);
	text_sanitize(w->msg); /* one line whatever the values it quotes */
	return err;
}
