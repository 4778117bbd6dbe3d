// SPDX-License-Identifier: MIT
/* sbx against musl (the Makefile says why): linked into sbx in place of runfull.c. The runs
 * that need SQLite or libbpf are sbx-full's, the same CLI on glibc beside this executable,
 * which this one becomes with the same command line. */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../sandbox/image.h"
#include "sbx.h"

/* musl's static start relocates the binary but, unlike a dynamic loader or glibc's static
 * start, leaves what the linker marked read-only after relocation (the relocated
 * pointers: function tables, the GOT) writable. Sealed here, before main. */
extern const ElfW(Ehdr) __ehdr_start;

__attribute__((constructor)) static void relro_seal(void)
{
	const uintptr_t base = (uintptr_t)&__ehdr_start;
	const ElfW(Phdr) *ph = (const ElfW(Phdr) *)(base + __ehdr_start.e_phoff);
	const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);

	for (unsigned i = 0; i < __ehdr_start.e_phnum; i++) {
		if (ph[i].p_type != PT_GNU_RELRO)
			continue;
		uintptr_t start = (base + ph[i].p_vaddr) & ~(page - 1);
		uintptr_t end = (base + ph[i].p_vaddr + ph[i].p_memsz) & ~(page - 1);
		if (end > start && mprotect((void *)start, end - start, PROT_READ) < 0) {
			fprintf(stderr, "sbx: cannot make its relocated data read-only: %s\n",
				strerror(errno));
			_exit(EXIT_SBX);
		}
	}
}

/* Becomes sbx-full with this command line, for @what; returns only on failure, with the
 * line that says so in *ret_error (caller frees). Called before a run blocks any signal. */
static void exec_full(const char *what, char **ret_error)
{
	char *full = image_beside_exe("sbx-full");
	struct stat self, st;
	const char *why = strerror(ENOENT);

	/* A copy of this program there would become itself again, for ever. */
	if (full && stat("/proc/self/exe", &self) == 0 && stat(full, &st) == 0 &&
	    self.st_dev == st.st_dev && self.st_ino == st.st_ino)
		why = "it is this sbx, not the glibc build";
	else if (full) {
		execv(full, sbx_argv);
		why = strerror(errno);
	}
	if (asprintf(ret_error, "%s needs %s: %s", what, full ? full : "sbx-full beside sbx", why) <
	    0)
		*ret_error = NULL;
	free(full);
}

/* Without sbxd's database there is no store, and so no such image: sbx-full is not needed
 * to say so. */
int run_store_image(const char *name, struct image **ret, char **ret_error)
{
	char db[PATH_MAX];

	snprintf(db, sizeof(db), "%s/sbx.db", sbx_state_dir());
	if (access(db, F_OK) < 0 && errno == ENOENT)
		return -ENOENT;
	exec_full("an image of sbxd's store", ret_error);
	return -ENOEXEC;
}

struct run_usage *run_usage_start(const char *id, const char *out, struct sandbox_spec *spec)
{
	char *why = NULL;

	exec_full("--usage", &why);
	sbx_die("%s", why ? why : strerror(ENOMEM));
	free(why);
	return NULL;
}

/* sbx never holds a run_usage: run_usage_start() returns none here. */
void run_usage_write(const struct run_usage *u, struct sandbox *sb,
		     const struct sandbox_limits *lim, int64_t wall_ns, int code)
{
}

void run_usage_free(struct run_usage *u)
{
}
