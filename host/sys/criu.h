/* SPDX-License-Identifier: MIT */
/* Running CRIU (the criu binary, >= 4.2) for checkpoints and restores, from a worker
 * thread: a child process with chosen descriptors, optionally placed in a sandbox's
 * cgroups and a cgroup namespace of its own (a restore: what CRIU forks is born there),
 * waited for with a deadline. Return 0 or -errno. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "../../sandbox/cgroup.h"

/* Looks for criu (@path, or in PATH and /usr/local/sbin, /usr/sbin), checks its version
 * and, with @check, runs `criu check` (tens of ms: once, where a daemon starts). 0 with
 * the binary in *ret_path, or -errno with why in *ret_why. */
int criu_find(const char *path, bool check, char **ret_path, char **ret_why);

/* CRIU's cache of kernel features kept on the runtime tmpfs (CRIU keeps it only on a
 * tmpfs; without it every run probes the kernel again), made if need be: the directory
 * that criu_run's run_dir takes, or NULL (then none). */
const char *criu_cache_dir_make(void);

#define CRIU_BINDS 2

struct criu_run {
	const char *bin;
	const char *const *argv; /* arguments after the binary's name; NULL-terminated */
	const int *fds;		 /* descriptors the child gets at 10, 11, ...: */
	unsigned nfds;
	const char *out_path;	 /* stdout and stderr (appended), e.g. for --display-stats */
	const struct cgroup *cg; /* NULL: stays in sbxd's cgroups */
	/* A directory on a tmpfs that stands in for /run (CRIU keeps its cache of kernel
	 * features there only on a tmpfs; /run/sbx stays reachable), or NULL. */
	const char *run_dir;
	/* Source and target pairs bound in the child's own mount namespace: a snapshot's
	 * image rewritten for one restore, a directory where CRIU's unprivileged side
	 * reaches it; NULL sources for none. */
	const char *binds[CRIU_BINDS][2];
	/* "NAME=VALUE" added to its environment (its action scripts see it), or NULL. */
	const char *env_add;
	/* A pidfd whose network namespace criu runs in (a dump's: CRIU then neither dumps
	 * that namespace nor scans the host's sockets), or -1; 0 is taken as -1. */
	int net_pidfd;
	/* Killed (SIGKILL) when the sbxd thread that started it ends: a daemon that would
	 * otherwise wait on for a peer that never comes (criu lazy-pages). */
	bool die_with_parent;
	int64_t timeout_ns;
};

/* Runs criu to its end (killed at the deadline: -ETIMEDOUT). -EPROTO: it failed; then
 * *ret_err is one line from its log @log_path (the last error it reported). */
int criu_exec(const struct criu_run *run, const char *log_path, char **ret_err);
/* criu_exec in two halves: criu started, its pidfd in *ret_pidfd; then waited for (its
 * deadline counted from this call), reaped, and the pidfd closed. */
int criu_start(const struct criu_run *run, int *ret_pidfd);
int criu_wait(const struct criu_run *run, int pidfd, const char *log_path, char **ret_err);
/* Rewrites the inventory in the images directory @images for a dump that ran inside the
 * tree's network namespace (criuimg_inventory_own_netns). */
int criu_inventory_own_netns(const char *images);
/* Whether the restore of the dump in @images may need its network namespace's loopback
 * up (criuimg_files_need_net); true also when that cannot be read. */
bool criu_files_need_net(const char *images);
/* Each pages image in @images at least as long as its pagemap says (criuimg_pagemap_pages):
 * 0 with the bytes of the pages they name in *ret_bytes; -EBADMSG with what is wrong, one
 * phrase, in @why (a damaged snapshot); -errno if @images cannot be read. */
int criu_pages_check(const char *images, uint64_t *ret_bytes, char *why, size_t size);
/* A figure of --display-stats ("Frozen time: 1234 us") from @path, or -1. */
int64_t criu_stat(const char *path, const char *name);

#define CRIU_TIMEOUT_NS (120 * 1000000000LL)
/* Appends the options every criu dump (@restore false) or restore of sbx takes, sbxd's
 * and sbx-oci's: established TCP kept, cgroups left to sbx, figures shown, a new network
 * namespace; a dump skips the network lock; a restore leaves the restored tree stopped,
 * detached, as the caller's child (--restore-sibling). */
void criu_argv_common(char **argv, size_t *n, size_t max, bool restore);

/* CRIU's key of an open file of @pid (--external, --inherit-fd): "file[MNT_ID:INODE]". */
int file_key(pid_t pid, int fd, char *buf, size_t size);
/* The mounts of @pid's mount namespace that bind a node of the host's devtmpfs, or the
 * shared /dev (rootfs_runtime_dev): [target inside, source on the host] pairs (CRIU's
 * externals; binds of a directory of the shared /dev, the /proc masks, are restored as
 * binds of it). NULL if they cannot be read, or one cannot be named to CRIU ("]" or an
 * escaped character in its path). */
json_t *criu_dev_binds(pid_t pid);
/* Whether the sandbox of @pid has its layer's shm/ (the tmpfs at @layer_dir) as its
 * /dev/shm (sandbox.h scratch_in_layer): a checkpoint then keeps it with the layer. */
bool criu_shm_in_layer(pid_t pid, const char *layer_dir);
/* Whether @src is one of the host's nodes a sandbox has (SANDBOX_DEV_NODES), or the
 * shared /dev: the only device binds a restore makes. */
bool criu_dev_node_known(const char *src);
/* Whether @src is the shared /dev (made again, if it went, before a restore). */
bool criu_dev_shared(const char *src);
/* The image of the user namespace in @images (its name in @ret_name), rewritten from the
 * ids at @from to those at @to, into @out (bound over the original for one restore). */
int criu_userns_image(const char *images, uid_t from, uid_t to, const char *out, char *ret_name,
		      size_t size);

/* Appends a formatted argument to @argv (of @max), NULL-terminated; NULL if no room. */
char *strvcat(char **argv, size_t *n, size_t max, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void strv_clear(char **argv, size_t n);
void rm_rf(const char *path);
uint64_t du_bytes(const char *path);
