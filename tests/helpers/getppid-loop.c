// SPDX-License-Identifier: MIT
/* getppid-loop N [time]: exactly N getppid system calls (raw, never cached), then exit
 * 0; with "time", print the mean nanoseconds per call. Static, for sandboxes without a
 * libc; the meter's accuracy tests and its benchmark use it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 0;
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	clock_gettime(CLOCK_MONOTONIC, &b);
	if (argc > 2 && !strcmp(argv[2], "time") && n > 0)
		printf("%.2f\n",
		       ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / (double)n);
	return 0;
}
