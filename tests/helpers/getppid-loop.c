// SPDX-License-Identifier: MIT
/* getppid-loop N: exactly N getppid system calls (raw, never cached), then exit 0.
 * Static, for sandboxes without a libc; the meter's accuracy tests count them. */
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 0;
	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	return 0;
}
