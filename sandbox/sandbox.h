/* SPDX-License-Identifier: MIT */
/* libsandbox: a spec in, a running sandbox out. The parent prepares everything that
 * can fail or is slow (cgroups, seccomp program, image paths, id maps), clones into
 * new namespaces, and the child runs one ordered function before it executes
 * sbx-init as PID 1. Parent-side API; not thread-safe per sandbox.
 * Returns 0 or -errno; on failure *ret_err says at which stage. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"
#include "spec.h"

enum sandbox_stage {
	STAGE_SPEC = 1,
	STAGE_CGROUP,
	STAGE_INIT,
	STAGE_CONTROL,
	STAGE_CLONE,
	STAGE_ATTACH,
	STAGE_IDMAP,
	STAGE_SYNC,
	STAGE_CGROUPNS,
	STAGE_MOUNTNS,
	STAGE_SCRATCH,
	STAGE_ROOT,
	STAGE_BINDS,
	STAGE_PROC,
	STAGE_DEV,
	STAGE_TMP,
	STAGE_MASK,
	STAGE_PIVOT,
	STAGE_HOSTNAME,
	STAGE_NET,
	STAGE_WORKDIR,
	STAGE_STDIO,
	STAGE_SESSION,
	STAGE_RLIMITS,
	STAGE_USER,
	STAGE_CAPS,
	STAGE_NNP,
	STAGE_SECCOMP,
	STAGE_EXEC,
	STAGE_NETNS,
	_STAGE_MAX,
};

struct sandbox_error {
	enum sandbox_stage stage;
	int err; /* positive errno */
};

struct sandbox {
	char *id;
	pid_t pid; /* sbx-init, as seen from the host */
	int pidfd;
	struct cgroup *cg;
	uid_t uid_base;	  /* host id of its root (idmap.h); 0 when unknown */
	int layer_fds[2]; /* its root's layers, detached mounts: closed with it (off the
			   * launch's path: closing one waits for an RCU grace period) */
	int *lower_fds;	  /* the image's further layers, the same way */
	unsigned nlower_fds;
	bool reaped;
	/* Another program's (an OCI runtime's, sandbox_borrow): sandbox_destroy never kills
	 * it nor removes its cgroups or gives back its ids; it only lets go of them. */
	bool borrowed;
};

const char *sandbox_stage_name(enum sandbox_stage s);

/* @init_path: the sbx-init binary. */
int sandbox_start(const struct sandbox_spec *spec, const char *init_path, struct sandbox **ret,
		  struct sandbox_error *ret_err);
/* Hands its root's layers (detached mounts, which nothing needs once it runs) to the
 * caller, which closes them: each close waits for an RCU grace period, so a launcher does
 * it off its hot path. A malloc'd array of *n descriptors; NULL and 0 when there are none
 * (or no memory: they are then closed with the sandbox, as before). */
int *sandbox_take_layers(struct sandbox *sb, unsigned *n);
/* Sends @sig to sbx-init, which forwards it to the workload. */
int sandbox_signal(struct sandbox *sb, int sig);
/* Kills every process of the sandbox. */
int sandbox_kill(struct sandbox *sb);
/* Reaps sbx-init (blocking) and returns its wait status as a shell exit code:
 * the code, or 128+N for signal N. */
int sandbox_wait(struct sandbox *sb);
/* Kills what is left, reaps, removes the cgroups, frees. Returns the cgroup teardown result. */
int sandbox_destroy(struct sandbox *sb);

/* The start time of process @pid (clock ticks since boot, /proc/PID/stat field 22):
 * with the pid, it names one process for the life of the system. */
int sandbox_start_time(pid_t pid, uint64_t *ret);
/* Whether process @pid is the one that started at @start_time and has not ended (a
 * zombie has). */
bool sandbox_running(pid_t pid, uint64_t start_time);
/* Takes a sandbox that a previous launcher started back under control: a pidfd for
 * @pid, checked to be the same process (@start_time) and to live in @cg's v2 cgroup,
 * never trusted by pid alone. Takes @cg; on failure the cgroups
 * are removed. -ESRCH: it is gone (a zombie too) or is another process. The result is not our child:
 * sandbox_wait() says -ECHILD (its exit code is in the status file). */
int sandbox_adopt(const char *id, pid_t pid, uint64_t start_time, struct cgroup *cg,
		  struct sandbox **ret);
/* The same for a sandbox another program owns and ends (an OCI runtime's container): the
 * result is borrowed (see struct sandbox). On failure @cg is let go of, not removed. */
int sandbox_borrow(const char *id, pid_t pid, uint64_t start_time, struct cgroup *cg,
		   struct sandbox **ret);
/* Takes @pid, a child of this process that another program placed in @cg (a restored
 * sandbox's PID 1, made our child by CRIU's --restore-sibling). Takes @cg; on failure
 * kills what is in it and removes it. */
int sandbox_attach(const char *id, pid_t pid, struct cgroup *cg, struct sandbox **ret);

/* A mount namespace for spec->mntns_fd: a small tmpfs root with the host's /proc and
 * /dev bound in and the scratch directory (what a launch's child uses before its
 * pivot), nothing else of the host: a descriptor or -errno. A new sandbox's namespace
 * is a copy of its launcher's, and a copy costs as many mounts as there are (a daemon's
 * holds a writable layer per sandbox: 12 ms with 2,900 here); this one holds no host
 * mount alive but /proc and /dev. */
int sandbox_mntns_template(void);
