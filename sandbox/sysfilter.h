/* SPDX-License-Identifier: MIT */
/* Seccomp profiles: built once in the parent with libseccomp and exported as a raw
 * classic-BPF program, which the post-clone child installs with one syscall.
 * Parent only. Returns 0 or -errno; *ret_error (malloc'd, caller frees) says why. */
#pragma once

#include <linux/filter.h>
#include <stddef.h>

struct sysfilter {
	struct sock_fprog prog; /* prog.filter is owned by this struct */
};

/* The built-in allowlist: runs busybox, python3, gcc and node; EPERM for the
 * dangerous calls, ENOSYS for anything unknown. On x86-64 the program is assembled
 * here, a search over runs of syscall numbers, shorter than libseccomp's. */
int sysfilter_new_default(struct sysfilter **ret);

/* The same rules compiled by libseccomp: what the assembled default must decide like. */
int sysfilter_default_reference(struct sysfilter **ret);

#define SYSFILTER_CACHE_DIR "/run/sbx/seccomp"

/* The default, compiled once per (rules, libseccomp version) and cached in @cache_dir
 * (root-only): compiling it takes milliseconds with libseccomp, and even assembling it
 * looks up every name in libseccomp's tables. NULL: no cache. */
int sysfilter_new_default_cached(const char *cache_dir, struct sysfilter **ret);

/* A profile in the OCI seccomp JSON shape (defaultAction, defaultErrnoRet,
 * syscalls[].names/action/errnoRet/args). Errors name the file, line and field. */
int sysfilter_new_from_json(const char *path, const char *text, size_t len, struct sysfilter **ret,
			    char **ret_error);

/* "default" (cached) or a path to a JSON profile. */
int sysfilter_new_named(const char *name, struct sysfilter **ret, char **ret_error);

void sysfilter_free(struct sysfilter *f);
static inline void sysfilter_freep(struct sysfilter **f)
{
	sysfilter_free(*f);
}

/* Installs @f on the calling thread. Async-signal-safe: for the post-clone child.
 * The caller must have set no_new_privs. */
int sysfilter_install(const struct sysfilter *f);
