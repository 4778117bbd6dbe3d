/* SPDX-License-Identifier: MIT */
/* The post-clone child half of a launch: one ordered function over a flat plan that
 * the parent prepared. Everything here is async-signal-safe: no malloc, no stdio. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/capability.h>

#include "rootfs.h"
#include "sandbox.h"

/* The descriptors the child keeps, at fixed numbers: stdio 0-2, the log and status files
 * (ctl.h LOG_FD, STATUS_FD), and the channel to the parent. Everything else it inherited
 * is closed before it touches anything a caller named. The parent hands its copies over
 * at CHILD_FD_FIRST and above, where moving them into place clobbers none. */
#define CHILD_SYNC_FD 6
/* The one-byte message on that channel that says the child's network namespace exists
 * (its other messages are a struct child_report, on failure). */
#define CHILD_NETNS_MADE 'n'
/* RLIMIT_NOFILE's soft limit in a sandbox (its hard limit is the launcher's). */
#define SANDBOX_NOFILE_SOFT 1024
#define CHILD_FD_FIRST 10
/* Mounts the parent sends with the first "go", in this order: the root, sbx-init, the
 * shared /dev (with dev_shared), the layer's shm/ (with scratch_layer), the image's binds,
 * the granted devices. */
enum {
	CHILD_MNT_ROOT,
	CHILD_MNT_INIT,
	CHILD_MNT_DEV,	    /* with dev_shared; the ones after it move up a place without */
	CHILD_MNT_SHM,	    /* with scratch_layer */
	CHILD_MNT_BINDS_MAX /* the most before the binds */
};
/* ... then the detached clones of the spec's bind mounts (struct sandbox_mount). */
#define CHILD_MAX_MOUNTS                                                                           \
	(CHILD_MNT_BINDS_MAX + ROOTFS_MAX_BINDS + ROOTFS_MAX_DEVICES + SANDBOX_MAX_MOUNTS)

struct child_plan {
	int sync_fd;   /* SOCK_SEQPACKET: "go" (with the mounts) arrives here, failures leave */
	bool control;  /* create the control socket (ctl.h) at fd 3 */
	int log_fd;    /* for LOG_FD, or -1 */
	int status_fd; /* for STATUS_FD, or -1 */
	int stdio[3];  /* for 0-2, or -1: keep the inherited one */
	const char *scratch;	  /* host directory the root is attached on (a mount point only) */
	char tmp_opts[64];	  /* tmpfs options for /tmp */
	char log_cap[24];	  /* sbx-init's --log argument */
	char console_size[16];	  /* sbx-init's --console argument: "ROWSxCOLS" */
	const char *const *binds; /* the spec's (source, target) pairs, in the order sent */
	unsigned nbinds;
	bool dev_shared; /* /dev: the shared one (rootfs_runtime_dev), not a tmpfs */
	/* spec.h scratch_in_layer: /dev/shm is the layer's (a mount sent), /tmp the root's
	 * own directory where it is sticky and world-writable */
	bool scratch_layer;
	char **devices; /* "dev/NAME" of each granted device, NULL-terminated, or NULL */
	unsigned ndevices;
	const char *hostname;
	const char *workdir;
	bool set_user, die_with_parent;
	uid_t uid;
	gid_t gid;
	cap_t no_caps;	   /* an empty capability set, from cap_init() */
	unsigned cap_last; /* highest capability number the kernel knows */
	const struct sysfilter *filter;
	/* OCI containers: their descriptors (for START_FD, CONSOLE_FD, or -1), their own
	 * capabilities (NULL: none), limits, mounts and masks (spec.h). */
	int start_fd, console_fd;
	bool share_net, share_ipc, share_uts, root_readonly;
	cap_t caps;
	uint64_t cap_bounding, cap_ambient;
	const struct sandbox_rlimit *rlimits;
	unsigned nrlimits;
	const gid_t *groups;
	unsigned ngroups;
	const struct sandbox_mount *mounts;
	unsigned nmounts, nbind_mounts; /* of them, the parent's (binds...): they come last */
	const char *const *masked, *const *readonly;
	char *const *argv; /* sbx-init's argv */
	char *const *envp;
};

struct child_report {
	int32_t stage; /* enum sandbox_stage */
	int32_t err;   /* positive errno */
};

/* How many mounts the parent sends, and where the bind and device ones start. */
static inline unsigned child_mnt_binds(const struct child_plan *p)
{
	return CHILD_MNT_DEV + p->dev_shared + p->scratch_layer;
}

static inline unsigned child_mnt_devices(const struct child_plan *p)
{
	return child_mnt_binds(p) + p->nbinds;
}

static inline unsigned child_mnt_bind_mounts(const struct child_plan *p)
{
	return child_mnt_devices(p) + p->ndevices;
}

static inline unsigned child_mnt_count(const struct child_plan *p)
{
	return child_mnt_bind_mounts(p) + p->nbind_mounts;
}

_Noreturn void child_main(const struct child_plan *p);
