/* SPDX-License-Identifier: MIT */
#include "reply.h"

#include <stdarg.h>
#include <stdio.h>

int why_set(struct why *w, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->msg, sizeof(w->msg), fmt, ap);
	va_end(ap);
	/* One line whatever the values it quotes. */
	for (char *p = w->msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return err;
}
