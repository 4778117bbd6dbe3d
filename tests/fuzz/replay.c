// SPDX-License-Identifier: MIT
/* Replays a fuzz target over its corpus (tests/fuzz/corpus/NAME/) without libFuzzer,
 * for `make test`. Runner protocol: `--list` prints "corpus"; `corpus` replays. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
	char dir[512], path[1024];
	const char *self = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	int n = 0;

	if (argc == 2 && !strcmp(argv[1], "--list")) {
		puts("corpus");
		return 0;
	}
	/* build/tests/fuzz-NAME-replay -> tests/fuzz/corpus/NAME */
	snprintf(dir, sizeof(dir), "tests/fuzz/corpus/%.*s", (int)(strlen(self) - 12), self + 5);
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "no corpus at %s\n", dir);
		return 1;
	}
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "rb");
		if (!f)
			continue;
		uint8_t *buf = malloc(1 << 16);
		size_t len = fread(buf, 1, 1 << 16, f);
		fclose(f);
		LLVMFuzzerTestOneInput(buf, len);
		free(buf);
		n++;
	}
	closedir(d);
	printf("replayed %d inputs from %s\n", n, dir);
	return n > 0 ? 0 : 1;
}
