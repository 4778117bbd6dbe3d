/* SPDX-License-Identifier: MIT */
/* sbxd's domain state: the daemon, its sandboxes, snapshots and running commands.
 * Everything here is owned by the loop thread; workers only see what a struct work
 * hands them. Objects with submissions in flight count them (ops) and are freed by
 * the completion that brings the count to zero after they were closed. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "../../sandbox/cgroup.h"
#include "../../sandbox/ctl.h"
#include "apispec.h"
#include "reply.h"
#include "../billing/ledger.h"
#include "../sys/log.h"
#include "../sys/loop.h"
#include "../sys/usage.h"

struct store;
struct sysfilter;
struct meter;
struct rates;

#define NET_DEFAULT_POOL "10.200.0.0/16"

/* An operator's exception to the platform deny set (sbxd --net-allow CIDR[:PORT]). */
struct net_exception {
	struct net_cidr net;
	uint16_t port; /* 0: every port */
};

struct options {
	const char *socket_path, *state_dir, *listen, *images_dir, *init_path;
	bool kill_on_exit, no_favordynmods, no_metering;
	int log_level; /* 0 error, 1 warn, 2 info, 3 debug */
	unsigned max_sandboxes, max_per_tenant, max_snapshots;
	unsigned warm; /* sandboxes of the plain request started ahead (warm.c) */
#define WARM_MAX 16
	/* Connections: TCP in all, unix socket (the host's admins, a pool of its own), TCP
	 * not yet authenticated (in all, and per address), TCP per tenant. */
	unsigned max_conns, max_unix_conns, max_unauth_conns, max_conns_per_peer,
		max_conns_per_tenant;
	uint64_t default_timeout_ns, max_body, max_file, exec_output_max, log_cap, writable_default,
		meter_tick_ns, bill_window_ns;
	/* Limits of sandboxes that set none, and the most any may ask for. */
	struct sandbox_limits default_limits, max_limits;
	uint64_t max_writable, tmp_bytes;
	uint64_t max_image; /* an image archive, and its unpacked data */
	const char *rates_path, *nvidia_root, *nvml_lib, *criu_path;
	int64_t conn_idle_ns, request_ns, auth_ns;
	/* What sbxd holds for clients at once: request bodies being collected and the
	 * collected output of commands (JSON exec), all connections together. */
	uint64_t buffer_memory;
	/* Networking: the address pool, the uplink, the upstream resolver (NULL: defaults),
	 * the operator's exceptions, and each sandbox's cap of concurrent connections. */
	const char *net_pool, *net_uplink, *net_dns;
	const char *domain;   /* published ports are PORT-ID.DOMAIN on the TCP listener */
	const char *e2b_base; /* the image of E2B's default template, "base" */
	bool no_net;
	struct net_exception *net_allow;
	unsigned n_net_allow, net_max_conns;
};

enum box_state {
	BOX_CREATING,
	BOX_RUNNING,
	BOX_EXITED,
	BOX_REMOVED,
};

/* Why a sandbox ended: stored by name (box_reason_name) and read back exactly. */
enum box_reason {
	REASON_NONE, /* it has not ended */
	REASON_EXITED,
	REASON_FAILED, /* its launch failed */
	REASON_CHECKPOINTED,
	REASON_TIMEOUT,
	REASON_IDLE_TIMEOUT,
	REASON_DELETED,
	REASON_LOST, /* gone while sbxd was not watching */
	_REASON_MAX,
};

struct exec;
struct ckpt;

/* A snapshot (snap.c): CRIU images, the writable layer and the log of a sandbox. */
struct snap {
	struct snap *next;
	char id[16]; /* "snap-" + 10 hex */
	char *tenant, *parent, *dir;
	uint64_t size_bytes;
	int64_t created_ns; /* CLOCK_REALTIME */
	json_t *meta;	    /* spec, image, usage, keys, binds (store.h) */
	json_t *stats;	    /* CRIU's figures for its dump, when made by this sbxd */
	int users;	    /* restores reading it */
	bool ephemeral;	    /* a fork's: not listed, removed after */
	bool deleting;
	struct bill_state bill; /* storage, billed per window */
};

struct box {
	struct box *next, *prev; /* all boxes, oldest first */
	struct box *hnext;	 /* id hash chain */
	char id[16];
	char *tenant;
	enum box_state state;
	json_t *spec; /* the create request as given */
	struct api_create req;
	char **envp;
	char *dir; /* state-dir/sandboxes/ID: log, status */
	uid_t host_uid;
	gid_t host_gid;
	struct sandbox *sb;
	char *cgroup_json;
	pid_t pid;
	uint64_t start_time;
	int64_t created_ns, started_ns, ended_ns, deadline_ns; /* CLOCK_REALTIME */
	int64_t last_active;				       /* CLOCK_MONOTONIC */
	int exit_code;					       /* -1 while none */
	enum box_reason reason;
	bool adopted, killing, removing, torn_down;
	int slot;	   /* the meter's slot, or -1 */
	int net_idx;	   /* its link pair (network.c), or 0 */
	uint64_t cg_id;	   /* cgroup-v2 id, as eBPF sees it */
	char *usage_final; /* JSON: the usage when it ended */
	struct bill_state bill;
	char *labels_json; /* for ledger rows */
	int gpu_idx[8];	   /* indices into D.gpus of the devices it holds */
	struct {
		uint64_t busy_ns, mem_bytes, mem_peak_bytes, last_ts;
	} gpu_use[8];	  /* from NVML */
	char *cg_rel;	  /* its cgroup-v2 path below the mount, as /proc/PID/cgroup shows it */
	int64_t gpu_tick; /* CLOCK_MONOTONIC of the last NVML sample */
	unsigned ngpu;
	usage_byte_ns mem_byte_ns; /* memory integrated over time, up to mem_tick */
	int64_t mem_tick;	   /* CLOCK_MONOTONIC of the last sample; 0 = none yet */
	int ctl_fd;
	/* Its control channel closed while unused (CTL_IDLE_NS), connected again on demand
	 * (parked); the receive of the closed one not yet ended (parking: none is armed on
	 * the next connection until it has); a receive in flight (armed). */
	bool ctl_parked, ctl_parking, ctl_armed;
	int64_t ctl_since;	 /* CLOCK_MONOTONIC: when it last connected */
	int64_t ctl_retry_until; /* CLOCK_MONOTONIC: connecting again until then */
	struct ctl_reply ctl_buf;
	struct loop_op ctl_op, pid_op;
	int ops;  /* ring submissions in flight */
	int jobs; /* worker jobs in flight */
	struct exec *execs;
	struct watch *watches; /* directories watched (watch.c) */
	uint32_t next_exec_id;
	struct reply *waiter; /* a delete waiting for the teardown */
	/* checkpoints */
	struct ckpt *ckpt;	/* one in progress */
	bool exit_pending;	/* it exited during one: handled after */
	char *snapshot_id;	/* the snapshot it was checkpointed to (stopped) */
	struct snap *from;	/* being restored from it (a launch) */
	char *restored_from;	/* snapshot id */
	json_t *base;		/* usage at that checkpoint: counters go on from it */
	uint64_t cpu_offset_ns; /* CPU that CRIU's restore spent in its cgroup */
	double restore_ms;	/* how long its restore took */
	json_t *restore_stats;	/* CRIU's restore figures */
	struct recorder *rec;	/* what its workload opens (record_files), or NULL */
	bool pooled;		/* restored ahead for a template's warm pool, not taken yet */
};

enum exec_kind {
	EXEC_COMMAND,  /* a command: its output answered as JSON, or streamed as NDJSON
			* events (exec.stream) */
	EXEC_FILE_GET, /* the files API's helper (sbx-init --file) */
	EXEC_FILE_PUT,
	EXEC_FILE_RM,
	EXEC_FILE_FS, /* box_fs(): its output collected, parsed at its end */
};

struct exec_tap;

struct exec {
	struct exec *next;
	struct box *box;
	struct reply *rp; /* NULL once answered, or its reader went away */
	uint32_t id;
	enum exec_kind kind;
	bool stream, started, exited, failed, timed_out, finished;
	/* A kept process (api_exec.keep): it runs on when its readers go; more readers
	 * attach to its stream (exec_attach); its stdin takes input while it runs. */
	bool keep, stdin_keep, in_busy;
	bool stopped; /* its sandbox was checkpointed and stopped around it */
	bool tty;     /* its stdio a terminal: tty_fd its master */
	int tty_fd;
	int pid;	 /* inside the sandbox, once started */
	int signal_sent; /* the last signal a caller sent it */
	char **argv, **env_given, *cwd, *tag;
	struct exec_tap *taps;
	/* A file transfer: its path, its size (PUT), the size header of a GET and what of
	 * the file is still to send. */
	char *path;
	uint64_t size, left;
	unsigned char head[8];
	unsigned head_len;
	bool head_sent;
	int code;
	int out_fd, err_fd, in_fd;
	struct loop_op out_op, err_op, in_op;
	bool out_eof, err_eof, out_armed, err_armed;
	char out_buf[16384], err_buf[16384];
	char *stdin_data; /* the write in flight (in_busy) is of it */
	size_t stdin_len;
	char *stdin_more; /* input that came during that write */
	size_t stdin_more_len;
	char *acc[2]; /* JSON mode: stdout, stderr so far */
	size_t acc_len[2];
	bool truncated[2];
	int64_t deadline, grace; /* CLOCK_MONOTONIC; 0 = none */
	int64_t hold_until;	 /* the most its last output waits for a slow reader */
	int ops;
	char argv0[64];
};

struct daemon {
	struct options opt;
	struct loop loop;
	struct store *store;
	struct sysfilter *filter;
	enum cgroup_mode cgmode;
	/* The mount namespace sandboxes' are copied from: the host's without sbx's own
	 * mounts (a writable layer per sandbox), or 0 (sandbox_mntns_template). */
	int mntns_fd;
	int devnull;
	struct box *boxes, *boxes_tail;
	struct box *hash[1024];
	unsigned live; /* creating + running */
	bool stopping;
	int64_t box_tick_last;
	/* Walks over the sandboxes that span ticks, each where the next tick goes on
	 * (box_unlink moves one off a sandbox that leaves the list). */
	struct box *scan_next, *meter_next, *bill_next;
	int64_t stop_deadline, started_mono;
	bool user_ns_ok;
	struct meter *meter; /* NULL: metering is off, meter_why says why */
	char *meter_why;
	bool net_on; /* mode "internet" is available; else net_why says why not */
	char *net_why;
	unsigned char *slot_used; /* D.nslots: as many as the meter counts */
	unsigned nslots;
	struct gpu {
		char *model, *bus;
		char *nodes[6]; /* the GPU's own node first, then the companions it needs */
		uint64_t node_rdev[6];
		unsigned nnodes;
		struct box *holder;
		void *nvml_dev; /* NULL: not an NVML device */
	} gpus[16];
	struct nvml *nvml; /* NULL: nvml_why says why */
	char *nvml_why;
	struct devices *devices; /* the device allowlist; NULL: off, devices_why says why */
	char *devices_why;
	unsigned ngpus, gpus_held;
	struct rates *rates;
	struct ledger *ledger;
	char *ledger_error; /* why rows wait, or NULL */
	char *store_error;  /* why the last sandbox record was not written, or NULL */
	int64_t bill_boundary;
	bool bill_behind; /* windows up to bill_boundary not all billed yet */
	char *criu;	  /* the criu binary; NULL: checkpoints are off, criu_why says why */
	char *criu_why;
	struct snap *snaps;
};

extern struct daemon D;

/* bill.c */
int bill_init(void);
void bill_start(struct box *b);
void bill_final(struct box *b);
/* Bills the windows that ended: as many sandboxes as TICK_WORK_NS allows, the rest at
 * the next ticks. */
void bill_tick(int64_t real);
void bill_metrics(FILE *f);
/* The rate card was replaced (@old still readable). */
void bill_rates_changed(const struct rates *old);
/* Snapshot storage: windows of snapshot-gib-hour while it is kept. */
void bill_snapshot_start(struct snap *s);
void bill_snapshot_final(struct snap *s);

/* gpu.c */
struct launch_io;
int gpu_add(const char *path, const char *model, const char *bus);
int gpu_discover_nvidia(const char *root);
size_t gpu_nodes_of(const struct box *b, const char **paths, uint64_t *rdevs, size_t max);
/* Each GPU's own node, in @rdevs (room for 8); returns how many. */
unsigned gpu_rdevs_of(const struct box *b, uint64_t *rdevs);
/* Copies into @io the nodes that a launch of @b binds and meters. Loop thread. */
void gpu_launch_io(const struct box *b, struct launch_io *io);

void gpu_nvml_init(void);
void gpu_nvml_tick(struct box *b, int64_t mono);

/* box.c (registry), launch.c, lifecycle.c, readopt.c, metering.c. Calls that take a reply return 0 when the
 * answer goes through it (now or later), or -errno with why (nothing was started). */
struct box *box_find(const char *id, const char *tenant);
json_t *box_json(const struct box *b);
int box_create(struct reply *rp, const char *tenant, const char *body, size_t len, struct why *why);
/* The same; with @own_labels, labels of sbxd's own ("sbx.") are taken (another surface of
 * sbxd's that sets them, not its caller). */
int box_create_as(struct reply *rp, const char *tenant, const char *body, size_t len,
		  bool own_labels, struct why *why);
int box_delete(struct reply *rp, struct box *b, struct why *why);
int box_readopt_all(void);
/* network.c: mode "internet" on this host (D.net_on, or D.net_why), before re-adoption;
 * then its table and threads, after it; stopped at exit. */
int net_init(void);
void net_start(void);
void net_shutdown(void);
/* Whether @b (mode "internet", running) publishes TCP port @port; *ret_public: without
 * its tenant's token. */
bool box_port_published(const struct box *b, uint16_t port, bool *ret_public);
/* A client's connection @fd (taken on success) to port @port of @b, on threads of their
 * own: @head (@len bytes, a request's head and what followed it) goes first; with
 * @upgrade the client is answered "101 Switching Protocols" once it is connected. Then
 * bytes flow both ways until either side closes. 0, or -errno with why. */
int box_port_connect(struct box *b, uint16_t port, int fd, const char *head, size_t len,
		     bool upgrade, struct why *why);
/* PUT .../network: @b's policy replaced by the body's. */
int box_set_network(struct reply *rp, struct box *b, const char *body, size_t len, struct why *why);
void box_tick(int64_t mono, int64_t real);
/* Something may be due sooner than the timers thought: the next tick looks. */
void box_tick_soon(void);
/* Samples memory for its time integral (every --meter-tick). */
/* Samples the memory of the sandboxes whose last sample is --meter-tick old, as many as
 * TICK_WORK_NS allows (the rest at the next tick). */
void box_meter_tick(int64_t mono);
void box_kill_all(void);
/* warm.c (sbxd --warm): the pool topped up and its ended members dropped (the tick);
 * whether launches for it are under way; its members stopped and removed (sbxd exits);
 * its figures for GET /v1/health. */
void warm_tick(int64_t mono);
bool warm_starting(void);
void warm_drain(void);
json_t *warm_json(void);
unsigned box_count_live(const char *tenant);
int box_set_timeout(struct box *b, uint64_t timeout_ns);
json_t *box_usage_json(struct box *b);
const char *box_state_name(enum box_state s);
/* NULL for REASON_NONE. box_reason_parse: the reason of that name; -EINVAL if none. */
const char *box_reason_name(enum box_reason r);
int box_reason_parse(const char *name);
int box_new_id(char *buf, size_t size);
void box_kill(struct box *b, enum box_reason reason);
void box_maybe_free(struct box *b);
/* Connects its control channel and watches it: at once, or (its backlog full) from the
 * tick for a while, never waiting (the caller makes the next tick look: box_tick_soon).
 * 0, or -errno when it cannot be served. */
int box_ctl_connect(struct box *b);
/* Connects its control channel again if it was closed while idle: 0 (b->ctl_fd may still
 * be -1: a full backlog, retried by the tick), or -errno. */
int box_ctl_ready(struct box *b);
/* Its PID 1 exited: records it and tears it down. */
void box_exited(struct box *b);

/* oci.c: containers of sbx-oci (containerd's runtime), metered and billed here. */
/* The container id of an OCI container's sandbox, or NULL for sbxd's own. */
const char *box_oci_container(const struct box *b);
/* A container's record (sbx-oci's JSON): registered (adopted by pid, start time and
 * cgroup) or, with @end (and @id its sandbox id), its end. *ret: the sandbox. */
int oci_register(const char *body, size_t len, bool end, const char *id, json_t **ret,
		 struct why *why);
/* The records sbx-oci spooled while sbxd was away: registered, or closed; and where
 * sbx-oci puts containers' cgroups (beside our sandboxes'). */
void oci_spool_scan(void);
/* A restore of @s into a new sandbox, answered on @rp. */
int box_create_from(struct reply *rp, struct snap *s, struct why *why);
/* The same, with @labels (an object of strings; not taken) added to the snapshot's. */
int box_create_from_labeled(struct reply *rp, struct snap *s, json_t *labels, struct why *why);

/* exec.c: a command in @b; its output collected into one answer, or streamed as
 * events (@stream). */
int exec_start(struct reply *rp, struct box *b, struct api_exec *e, bool stream, struct why *why);
/* Kept processes: the one of @b with pid @pid (inside the sandbox), or with tag @tag;
 * NULL if none runs. */
struct exec *exec_find_kept(struct box *b, int pid, const char *tag);
/* Another reader of its events, from now on ("start" first, then its output, its end). */
int exec_attach(struct reply *rp, struct exec *x, struct why *why);
/* Bytes for its stdin, in order; or its stdin closed (EOF). */
int exec_input(struct exec *x, const void *data, size_t len, struct why *why);
int exec_close_stdin(struct exec *x, struct why *why);
int exec_signal(struct exec *x, int sig, struct why *why);
/* A terminal's window (api_exec.tty). */
int exec_resize(struct exec *x, unsigned rows, unsigned cols, struct why *why);

/* files.c: a file in @b, by a helper inside it: GET streams it, PUT (@size bytes) reads
 * it from the reply's body, RM removes it. */
enum file_op {
	FILE_GET,
	FILE_PUT,
	FILE_RM
};
int box_files(struct reply *rp, struct box *b, enum file_op op, const char *path, uint64_t size,
	      struct why *why);
/* A PUT of @len bytes of @data (copied), the file's missing directories made first, the
 * file written in place; @meta ("KEY=VALUE", NULL-terminated, at most 32, or NULL): its
 * user.e2b.KEY extended attributes. */
int box_files_data(struct reply *rp, struct box *b, const char *path, const char *data, size_t len,
		   char *const *meta, struct why *why);

/* Directories and metadata, by the same helper: the entry at a path (STAT) or those
 * below it, @depth levels (LS), made with its parents (MKDIR; -EEXIST when it was a
 * directory already), renamed to @path2 (MOVE), removed with all below it (REMOVE).
 * Answers {"entries": [{"path", "kind": "file"|"dir"|"symlink"|"other", "mode", "size",
 * "mtime_ns", "owner", "group", "target"?}]} (STAT and LS), or {}. */
enum fs_op {
	FS_STAT,
	FS_LS,
	FS_MKDIR,
	FS_MOVE,
	FS_REMOVE,
};
int box_fs(struct reply *rp, struct box *b, enum fs_op op, const char *path, const char *path2,
	   unsigned depth, struct why *why);

/* watch.c: changes below @path (absolute, in @b's root; with @recursive its
 * subdirectories too; @with_entry: each with what is at its name now) as REV_FS events, after one REV_WATCHING, until the reader goes,
 * the directory goes, or @b stops. */
int box_watch(struct reply *rp, struct box *b, const char *path, bool recursive, bool with_entry,
	      struct why *why);

/* logs.c: what its log has, as the reader takes it; with @follow, on as it grows until
 * the sandbox stopped. */
int box_logs(struct reply *rp, struct box *b, bool follow, struct why *why);

/* A launch, run on a worker: what the worker reads, copied or left unchanged by the loop
 * thread while it runs, and what it hands back through the work's completion. The worker
 * never touches the box, the daemon's GPUs or the meter's own state. */
struct launch_io {
	/* in */
	const char *id, *dir;
	const struct api_create *req; /* the box's, unchanged while the launch runs */
	int slot;		      /* the meter's, or -1 */
	const struct snap *from;      /* a restore's snapshot (its users count holds it) */
	struct recorder *rec;	      /* record_files: marks the root it mounts */
	const char *nodes[8 * 6];     /* the GPUs' device nodes (their strings live as D) */
	uint64_t node_rdevs[8 * 6];
	size_t nnodes;
	uint64_t gpu_rdevs[8]; /* each GPU's own node, for the meter */
	unsigned ngpu;
	/* out */
	int net_idx; /* its link pair (mode "internet"), 0 = none */
	char **envp;
	uint64_t start_time, cg_id;
	uint64_t cpu_offset_ns; /* a restore: the CPU that CRIU spent in its cgroup */
	double restore_ms;
	json_t *restore_stats;
	int proc_fds[3 * 32]; /* a restore: the host's ends of its kept processes' pipes */
	unsigned nproc_fds;
};

/* snap.c (registry), checkpoint.c, fork.c, restore.c */
int snap_init(void);
struct snap *snap_find(const char *id, const char *tenant);
json_t *snap_json(const struct snap *s);
/* Snapshots of @tenant (NULL: every one), as {"snapshots": [...]}. */
json_t *snap_list(const char *tenant);
int snap_checkpoint(struct reply *rp, struct box *b, const char *body, size_t len, struct why *why);
/* Its timeout came and it asked for a checkpoint then (on_timeout): started, or -errno
 * (the caller kills it). */
int snap_checkpoint_timeout(struct box *b);
int snap_fork(struct reply *rp, struct box *b, const char *body, size_t len, struct why *why);
int snap_restore_api(struct reply *rp, struct snap *s, const char *body, size_t len,
		     struct why *why);
int snap_delete(struct reply *rp, struct snap *s, struct why *why);
/* The control channel of a box being checkpointed has closed: the dump starts. */
void snap_ckpt_go(struct box *b);
struct sandbox_spec;
struct image;
struct sandbox;
/* The restore step of a launch, on a worker: the sandbox in *ret, or why in *ret_err. */
int snap_restore(struct launch_io *io, const struct sandbox_spec *spec, const struct image *img,
		 int log_fd, int status_fd, struct sandbox **ret, char **ret_err);
