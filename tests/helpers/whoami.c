// SPDX-License-Identifier: MIT
/* Prints the real and effective ids and effective capabilities of this process, to
 * show whether executing it (setuid, say) gained anything. Static. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
	char line[256], capeff[64] = "?";
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "CapEff:", 7))
			sscanf(line + 7, "%63s", capeff);
	printf("uid=%d euid=%d gid=%d egid=%d capeff=%s\n", (int)getuid(), (int)geteuid(),
	       (int)getgid(), (int)getegid(), capeff);
	return 0;
}
