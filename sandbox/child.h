/* SPDX-License-Identifier: MIT */
/* The post-clone child half of a launch: one ordered function over a flat plan that
 * the parent prepared. Everything here is async-signal-safe: no malloc, no stdio. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/capability.h>

#include "sandbox.h"

struct child_plan {
	int sync_fd;	       /* SOCK_SEQPACKET, CLOEXEC: "go" arrives here, failures leave here */
	const char *init_path; /* sbx-init on the host (absolute): bound to /dev/sbx-init */
	bool control;	       /* create the control socket (ctl.h) at fd 3 */
	int log_fd;	       /* fd 4 there, or -1 */
	int status_fd;	       /* fd 5 there, or -1 */
	int stdio[3];
	const char *scratch;	  /* host directory the child mounts its private tmpfs on, or
				   * with @layer, the caller's tmpfs holding upper/, work/, root/ */
	bool layer;		  /* @scratch is already mounted (by the caller, on the host) */
	char scratch_opts[64];	  /* tmpfs options for it, with a writable layer */
	char tmp_opts[64];	  /* tmpfs options for /tmp */
	char log_cap[24];	  /* sbx-init's --log argument */
	const char *rootfs;	  /* image root (lower layer) */
	char *overlay_opts;	  /* NULL: read-only bind of rootfs; else overlay options */
	const char *const *binds; /* source, target pairs */
	char **devices;		  /* host node, "dev/NAME" pairs, or NULL */
	const char *hostname;
	const char *workdir;
	bool user_ns, set_user, die_with_parent;
	uid_t uid;
	gid_t gid;
	cap_t no_caps;	   /* an empty capability set, from cap_init() */
	unsigned cap_last; /* highest capability number the kernel knows */
	const struct sysfilter *filter;
	char *const *argv; /* sbx-init's argv */
	char *const *envp;
};

struct child_report {
	int32_t stage; /* enum sandbox_stage */
	int32_t err;   /* positive errno */
};

_Noreturn void child_main(const struct child_plan *p);
