/* SPDX-License-Identifier: MIT */
/* sbxd's log, on stderr: "sbxd: LEVEL: message". */
#pragma once

/* 0 error, 1 warn, 2 info, 3 debug: what is written (messages of a higher level are not). */
extern int log_level;

void logmsg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
