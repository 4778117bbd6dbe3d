/* SPDX-License-Identifier: MIT */
/* Sandbox cgroups on two layouts, detected at start:
 *  - unified: pure cgroup v2; one cgroup under /sys/fs/cgroup/sbx holds identity and limits.
 *  - hybrid: v1 controllers plus cgroup2 at /sys/fs/cgroup/unified without controllers;
 *    a v2 cgroup gives identity (the id eBPF sees), cgroup.kill and freezing, and limits
 *    go in v1 memory/cpu/pids cgroups nested under the caller's own v1 cgroups.
 * Parent only. Functions return 0 or -errno. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "spec.h"

enum cgroup_mode {
	CGROUP_UNIFIED,
	CGROUP_HYBRID,
};

enum cgroup_v1_ctl {
	CG_V1_MEMORY,
	CG_V1_CPU,
	CG_V1_PIDS,
	CG_V1_CPUACCT, /* accounting only (sandbox_limits.cpu_account), where it is a
			* hierarchy apart from cpu's */
	_CG_V1_MAX,
};

struct cgroup {
	enum cgroup_mode mode;
	char *v2_path;		   /* the sandbox's v2 cgroup directory */
	int v2_fd;		   /* O_DIRECTORY fd of it, for CLONE_INTO_CGROUP; sbxd
				    * closes it once the sandbox runs (-1) */
	char *v1_path[_CG_V1_MAX]; /* hybrid: v1 cgroups holding limits; NULL when unused */
	char *v1_self;		   /* hybrid, until cgroup_create_v1: the /proc/PID/cgroup
				    * text the v1 cgroups are placed by */
	bool v1_self_as;	   /* ... which is another process's (no pool then) */
};

int cgroup_detect(enum cgroup_mode *ret);
const char *cgroup_mode_name(enum cgroup_mode m);

/* Creates the cgroups of sandbox @id with @lim applied. Nothing is left behind on failure.
 * -EOPNOTSUPP: a limit's controller is not available (pure v2 without delegation). */
int cgroup_create(const char *id, const struct sandbox_limits *lim, struct cgroup **ret);
/* The same, placed as if this process's cgroups were those @as lists (another process's
 * /proc/PID/cgroup: sbx-oci's containers go where sbxd's sandboxes go); NULL: ours. */
int cgroup_create_as(const char *id, const struct sandbox_limits *lim, const char *as,
		     struct cgroup **ret);
/* cgroup_create_as in two halves, for a launch that makes the v1 cgroups while its child
 * sets itself up: first the v2 cgroup (where clone3 places the child); then, on a hybrid
 * host, the v1 ones with the limits, which the child joins before its workload runs. A
 * failed second half leaves @cg for cgroup_destroy. */
int cgroup_create_v2_as(const char *id, const struct sandbox_limits *lim, const char *as,
			struct cgroup **ret);
int cgroup_create_v1(struct cgroup *cg, const char *id, const struct sandbox_limits *lim);
/* Remounts the cgroup2 hierarchy with favordynmods (keeping its other options) unless it
 * has it: moving a process between cgroups, which a hybrid host's v1 limits need at
 * every launch, then no longer waits for an RCU grace period (p99 18 ms -> 8 ms here),
 * at a small cost to fork and exit. Returns 1 when it remounted, 0 when there was
 * nothing to do, or -errno. */
int cgroup_favor_dynmods(void);
/* A daemon's pool of @size empty v1 cgroups per controller (hybrid hosts), which its
 * launches rename instead of making theirs (1 ms a memory cgroup): enabled once, at the
 * start (an earlier daemon's pool removed), topped up by cgroup_pool_fill() off the
 * launches' path, removed by cgroup_pool_drain() at the end. No-ops elsewhere. */
int cgroup_pool_enable(unsigned size);
int cgroup_pool_fill(void);
void cgroup_pool_drain(void);
/* The v2 directory under which this process makes sandbox cgroups (created if needed),
 * and the cgroup level of a sandbox cgroup below it (the root is level 0). */
int cgroup_sandbox_parent(char **ret_path, unsigned *ret_level);
/* The cgroups of a sandbox created earlier (by a launcher that has since exited), from
 * the paths it recorded: @v1 holds _CG_V1_MAX paths or NULLs. */
int cgroup_from_paths(enum cgroup_mode mode, const char *v2_path, const char *const *v1,
		      struct cgroup **ret);
/* The cgroups a launch of sandbox @id would have made here, if they exist (a launch or
 * restore that its launcher did not live to record): what is in them is killed and they
 * are removed. 1 when there were some, 0 when not, or -errno. */
int cgroup_reclaim(const char *id);
/* Sets @lim (every limit it holds, the others left as they are) on a sandbox's cgroups.
 * -EOPNOTSUPP: hybrid, and a limit's v1 cgroup was not made with the sandbox. */
int cgroup_set_limits(const struct cgroup *cg, const struct sandbox_limits *lim);
/* Hybrid: moves @pid into the v1 cgroups (the v2 one is entered with CLONE_INTO_CGROUP). */
int cgroup_attach_v1(const struct cgroup *cg, pid_t pid);
/* Freezes (waiting until every task has stopped, at most 1 s) or thaws the sandbox. */
int cgroup_freeze(const struct cgroup *cg, bool frozen);
/* Kills every process in the sandbox cgroup. */
int cgroup_kill(const struct cgroup *cg);
/* Sends @sig to every process in the sandbox's v2 cgroup. */
int cgroup_signal(const struct cgroup *cg, int sig);
/* Frees @cg, leaving its cgroups as they are (another program's). */
void cgroup_forget(struct cgroup *cg);
/* Kills what is left, waits for the cgroups to empty, removes them, frees @cg. */
int cgroup_destroy(struct cgroup *cg);
/* Whether the sandbox's v2 cgroup still has processes. */
bool cgroup_populated(const struct cgroup *cg);
