/* SPDX-License-Identifier: MIT */
/* The sandbox spec: what a caller asks for, as a flat struct, and the pure parsers
 * for its user-facing values (sizes, durations, decimal CPUs). No I/O here.
 * Return convention: 0 on success, -EINVAL (or -ERANGE) on bad input. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum net_mode {
	NET_NONE = 0, /* new network namespace with only lo, up */
	NET_LOOPBACK, /* the same: lo only, no route out */
	NET_INTERNET, /* lo, and a veth to the host, routed out through NAT (sbxd only) */
};

struct sysfilter;
struct cgroup;

struct sandbox_limits {
	uint64_t memory_bytes; /* 0 = unlimited */
	uint32_t cpu_milli;    /* thousandths of a core; 0 = unlimited */
	uint32_t cpu_shares;   /* cgroup v1's cpu.shares (2-262144; v2: cpu.weight as runc
				* maps it); 0 = the default */
	uint64_t pids;	       /* 0 = unlimited */
	uint64_t timeout_ns;   /* wall clock; 0 = none */
	bool memory_account;   /* a memory cgroup even without a limit, to meter it */
	bool cpu_account;      /* hybrid: a v1 cpuacct cgroup too (what OCI tools read) */
};

/* A mount an OCI bundle asks for (sbx-oci), made in the sandbox's root before it is
 * entered, at a target resolved inside that root (missing directories made). */
#define SANDBOX_MAX_MOUNTS 32
/* The host's device nodes bound into every sandbox's /dev (a user namespace cannot make
 * its own); the masks of /proc are binds of the first. */
#define SANDBOX_DEV_NODES                                                                          \
	"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"
struct sandbox_mount {
	const char *type;   /* "bind", "tmpfs", "sysfs", "mqueue" or "cgroup2" (of the
			     * sandbox's own cgroup namespace: made once it has one) */
	const char *source; /* bind: a host path (a directory or a file) */
	const char *target; /* absolute, inside the sandbox */
	uint64_t attrs;	    /* MOUNT_ATTR_RDONLY, _NOSUID, _NODEV, _NOEXEC */
	const char *data;   /* tmpfs: its options ("size=64m,mode=755"), or NULL */
	bool recursive;	    /* bind: with the mounts below the source */
};

/* Whether the launcher makes mount @m and sends it to the child: a bind (a clone of a
 * host path), or a sysfs or mqueue of a network or ipc namespace the sandbox joins (only
 * the launcher, in it, may mount those). Pure. */
static inline bool sandbox_mount_by_parent(const struct sandbox_mount *m, bool share_net,
					   bool share_ipc)
{
	return !__builtin_strcmp(m->type, "bind") ||
	       (share_net && !__builtin_strcmp(m->type, "sysfs")) ||
	       (share_ipc && !__builtin_strcmp(m->type, "mqueue"));
}

struct sandbox_rlimit {
	int resource; /* RLIMIT_* */
	uint64_t soft, hard;
};

/* Capability sets of the workload's PID 1 (cap numbers as bits); without them, none. */
struct sandbox_caps {
	uint64_t bounding, effective, permitted, inheritable, ambient;
};

struct sandbox_spec {
	const char *id;	    /* unique; names the cgroups */
	const char *rootfs; /* image root directory (read-only lower layer) */
	const char *const
		*lowers;	  /* the image's layers below @rootfs, top first; NULL-terminated */
	const char *const *binds; /* pairs: host source, sandbox target; NULL-terminated */
	char *const *argv;	  /* workload, run by sbx-init; argv[0] looked up in PATH;
				   * NULL with control: the sandbox only serves commands */
	char *const *envp;	  /* complete environment, NULL-terminated */
	const char *workdir;	  /* inside the sandbox, resolved in its root; default "/" */
	const char *hostname;	  /* default: the id (launch_hostname()) */
	bool set_user;
	uid_t uid;
	gid_t gid;
	struct sandbox_limits limits;
	uint64_t writable_bytes; /* size of the writable layer over /; 0 = / read-only */
	/* With writable_bytes: a tmpfs the caller mounted on the host holding empty upper/
	 * and work/ (the layer stays reachable from the host, for checkpoints); NULL: a
	 * private one. */
	const char *layer_dir;
	/* With layer_dir: /tmp and /dev/shm are the layer's, as a container's root file
	 * system holds them. /tmp is the root's own directory where the image's is sticky
	 * and world-writable; /dev/shm binds the layer's shm/ (nosuid, nodev, noexec).
	 * Neither is then a mount of its own that a checkpoint must archive, and what is
	 * written there counts toward writable_bytes. Otherwise both are tmpfs mounts. */
	bool scratch_in_layer;
	uint64_t tmp_bytes; /* size of /tmp, where it is a tmpfs */
	enum net_mode net;
	/* Every sandbox has a user namespace: its root is a host id of a range of its own
	 * (idmap.h), never the host's root. */
	bool time_ns;	      /* own time namespace */
	bool die_with_parent; /* SIGKILL the sandbox when the launcher dies */
	bool control;	      /* serve the control channel (ctl.h); argv may then be NULL */
	const struct sysfilter *filter; /* seccomp program, built by the caller */
	int stdio[3];			/* fds for 0,1,2; -1 = inherit */
	/* Daemon mode (both > 2 to use, else 0): the workload's stdout and stderr are
	 * relayed by sbx-init into @log_fd, at most @log_cap bytes; sbx-init writes the
	 * workload's exit code to @status_fd, a host file that outlives the launcher. */
	int log_fd;
	uint64_t log_cap;
	int status_fd;
	/* Called once the v2 cgroup exists (a hybrid host's v1 ones are made later, while
	 * the child mounts), before anything runs in it (a meter attaches here); a negative
	 * return fails the launch at STAGE_CGROUP. */
	int (*on_cgroup)(const struct cgroup *cg, void *userdata);
	/* Called in the launching thread once the sandbox's network namespace exists (its
	 * loopback up), while its root is being mounted: links of its own go in here; a
	 * negative return fails the launch at STAGE_NET. */
	int (*on_netns)(pid_t pid, void *userdata);
	/* Called with the sandbox's root (a detached mount) before the child attaches it:
	 * a recorder of the files its workload opens marks it here; a negative return fails
	 * the launch. */
	int (*on_root)(int root_fd, void *userdata);
	void *userdata;
	/* Device nodes granted to the sandbox (GPUs): pairs of a host node and its name in
	 * /dev; NULL-terminated, or NULL. */
	const char *const *devices;
	/* /dev: the shared read-only one (rootfs_runtime_dev) in place of a tmpfs of its
	 * own, unless it has @devices or @mounts (whose mount points /dev may lack). */
	bool dev_shared;
	/* OCI containers (sbx-oci). @start_fd (> 2): sbx-init waits for a byte on it before
	 * it starts the workload (EOF: it exits without). @console_fd (> 2): a unix socket
	 * over which sbx-init sends the master of a terminal of the sandbox's own devpts,
	 * the workload's stdio and controlling terminal. */
	int start_fd, console_fd;
	unsigned short console_rows, console_cols; /* its size at the start, if known */
	/* The launcher's own namespace of that kind (joined beforehand: a pod's), not a new
	 * one. */
	bool share_net, share_ipc, share_uts;
	/* With writable_bytes: the root made read-only once its mounts are in place (their
	 * mount points may be made in the writable layer first). */
	bool root_readonly;
	const struct sandbox_caps *caps; /* NULL: none */
	const gid_t *groups;		 /* supplementary groups (with set_user) */
	unsigned ngroups;
	const struct sandbox_rlimit *rlimits;
	unsigned nrlimits;
	const struct sandbox_mount *mounts;
	unsigned nmounts;
	/* Hybrid hosts: the cgroups whose sandbox parents it goes under, as /proc/PID/cgroup
	 * lists them (another launcher's), or NULL: the launcher's own. */
	const char *cgroup_as;
	/* Paths hidden (a file: /dev/null over it; a directory: an empty read-only tmpfs)
	 * and made read-only, when they exist; NULL-terminated, or NULL. */
	const char *const *masked, *const *readonly;
	/* A mount namespace (a descriptor, > 2) the sandbox's is copied from instead of the
	 * launcher's (sandbox_mntns_template), so that a launch does not copy the host's
	 * mounts, one per sandbox already running in a daemon's; 0: the launcher's. */
	int mntns_fd;
};

/* "256M", "1G", "512k", "1048576": binary units, case-insensitive, optional "iB"/"B". */
int spec_parse_size(const char *s, uint64_t *ret);
/* "30s", "10m", "1h", "250ms", "2": seconds unless a unit is given. */
int spec_parse_duration(const char *s, uint64_t *ret_ns);
/* The limits of a sandbox that sets none, unless an operator says otherwise: sbxd's
 * --default-* options, and sbx run's. */
#define SPEC_DEFAULT_MEMORY (512ULL << 20)
#define SPEC_DEFAULT_CPU_MILLI 1000
#define SPEC_DEFAULT_PIDS 512

/* The host's memory in bytes, 0 if unknown: what no limit or tmpfs may go past. */
uint64_t spec_host_memory(void);

/* "0.5", "2", "1.25": decimal cores, at most 3 decimals, 0.01 to 1024. */
int spec_parse_cpus(const char *s, uint32_t *ret_milli);
/* "UID" or "UID:GID", decimal digits only, each 0-65535 (a sandbox's own ids); GID is
 * UID when not given. */
int spec_parse_user(const char *s, uid_t *ret_uid, gid_t *ret_gid);
/* An OCI container id as sbx-oci and sbxd take it (it names a directory): 1 to
 * SPEC_OCI_ID_MAX of A-Z a-z 0-9 _ + - ., not "." or "..". */
#define SPEC_OCI_ID_MAX 128
bool spec_oci_id_valid(const char *s);
/* A hostname the kernel and resolvers accept: 1-63 chars of [A-Za-z0-9-.], no leading '-'. */
bool spec_hostname_valid(const char *s);
