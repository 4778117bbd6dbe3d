/* SPDX-License-Identifier: MIT */
/* sbx-oci: an OCI runtime with runc's command line (what containerd's runc shim drives),
 * launching each container as an sbx sandbox with libsandbox and registering it with the
 * node's sbxd for metering and billing. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../../sandbox/cgroup.h"
#include "../../sandbox/spec.h"

#define OCI_VERSION "1.0.2"
#define OCI_DEFAULT_ROOT "/run/sbx-oci"

/* The global flags. */
struct oci_global {
	const char *root;
	const char *log;
	bool log_json;
	bool debug;
	bool quiet; /* errors to --log only (the fuzz target) */
};
extern struct oci_global G;

/* Errors: one line on stderr ("sbx-oci: ...") and, with --log, a record there. Returns
 * -1 (a command's failure) so that a caller can `return oci_error(...)`. */
int oci_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void oci_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* What sbx makes of a bundle's config.json (config.c). Strings point into @json. */
enum oci_ns_kind {
	NS_NEW,
	NS_PATH
};
struct oci_ns {
	enum oci_ns_kind kind;
	const char *path;
};

struct oci_process {
	char **args, **env; /* NULL-terminated; the arrays malloc'd */
	const char *cwd;
	bool terminal;
	unsigned short rows, cols;
	bool set_user;
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	unsigned ngroups;
	bool has_caps;
	struct sandbox_caps caps;
	struct sandbox_rlimit rlimits[16];
	unsigned nrlimits;
	bool has_oom_score;
	int oom_score_adj;
};

struct oci_config {
	json_t *json;
	char *bundle; /* absolute */
	char *rootfs; /* absolute */
	/* An overlayfs root's layers, top first, NULL-terminated (each malloc'd); or NULL:
	 * @rootfs is the container's lower layer (oci_config_root_layers). */
	char **root_layers;
	bool readonly;
	const char *hostname;
	struct oci_process proc;
	struct oci_ns net, ipc, uts;
	bool time_ns; /* a time namespace of its own */
	struct sandbox_mount mounts[SANDBOX_MAX_MOUNTS];
	unsigned nmounts;
	char *clean[SANDBOX_MAX_MOUNTS + 8]; /* the destinations, cleaned (path_clean) */
	unsigned nclean;
	const char **masked, **readonly_paths; /* NULL-terminated, malloc'd */
	struct sandbox_limits limits;
	bool has_memory, has_cpu, has_pids;
	char *seccomp;	     /* linux.seccomp as JSON text, or NULL: sbx's default */
	json_t *annotations; /* borrowed from @json, or NULL */
	const char *cgroups_path;
};

/* Reads @bundle/config.json. 0, or -1 having said which field is refused and why. */
int oci_config_load(const char *bundle, struct oci_config *ret);
/* The same from @len bytes of @text; @bundle (absolute) resolves root.path, or NULL: it
 * is taken as it is (nothing on disk is touched). */
int oci_config_parse(const char *text, size_t len, const char *bundle, struct oci_config *ret);
void oci_config_clear(struct oci_config *c);
/* A bundle root (c->rootfs, resolved) that is an overlayfs mount (containerd's snapshots
 * are): its layers into c->root_layers, for the container's overlay to be made of them
 * directly, not stacked on that mount (files mapped through an overlay over an overlay
 * name a mount outside the container, which CRIU cannot dump). Any other root, or one
 * whose options read otherwise to sbx's overlay: nothing set, the root is the lower layer
 * as it is. Reads /proc/self/mountinfo: for create and restore only. */
void oci_config_root_layers(struct oci_config *c);
/* A "process" object (config.json's, or exec's --process file) into @p; @where names it
 * in errors. Strings point into @obj. */
int oci_process_parse(json_t *obj, const char *where, struct oci_process *p);
void oci_process_clear(struct oci_process *p);
/* linux.resources (or update's JSON) over @lim; @where names it in errors. */
int oci_resources_parse(json_t *res, const char *where, struct sandbox_limits *lim, bool *has_mem,
			bool *has_cpu, bool *has_pids);

/* The limits a container of @c gets (sbx's defaults for those it does not set), in
 * @lim; returns the size of its writable layer (run.c). */
uint64_t oci_limits(const struct oci_config *c, struct sandbox_limits *lim);

/* A container's record in --root (state.c). */
struct oci_state {
	char id[SPEC_OCI_ID_MAX + 1];
	char sbx_id[16]; /* its sandbox id: names its cgroups */
	char *bundle, *rootfs;
	pid_t pid;
	uint64_t start_time;
	int64_t created_ns;
	bool started;
	struct cgroup *cg;
	json_t *annotations;
	struct sandbox_limits limits; /* as applied */
	char *seccomp;		      /* the profile its processes get, or NULL: sbx's default */
};

/* Its limits as its record (and sbxd's) says them: {"memory", "cpu_milli", "cpu_shares",
 * "pids"}. */
json_t *oci_limits_json(const struct sandbox_limits *l);
/* <root>/<id>, in @buf (PATH_MAX). */
const char *oci_dir(const char *id, char *buf);
int oci_state_save(const struct oci_state *s);
/* 0, -ENOENT (no such container: said), or -1 (said). */
int oci_state_load(const char *id, struct oci_state *ret);
void oci_state_clear(struct oci_state *s);
/* "created", "running", "paused" or "stopped". */
const char *oci_status(const struct oci_state *s);
bool oci_alive(const struct oci_state *s);

/* The commands (run.c, ctl.c). argv[0] is the command's name. */
int cmd_create(int argc, char **argv);
int cmd_start(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_state(int argc, char **argv);
int cmd_kill(int argc, char **argv);
int cmd_delete(int argc, char **argv);
int cmd_ps(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_pause(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_update(int argc, char **argv);
int cmd_events(int argc, char **argv);
int cmd_features(int argc, char **argv);
int cmd_checkpoint(int argc, char **argv);
int cmd_restore(int argc, char **argv);

/* Registration with the node's sbxd (register.c): best effort, never failing a
 * container. */
void oci_register(const struct oci_state *s);
void oci_unregister(const struct oci_state *s);
/* sbxd's cgroups, as it published them beside its socket (hybrid hosts place containers'
 * cgroups under its), or NULL. Caller frees. */
char *oci_sbxd_cgroup(void);

/* A command's flags: runc's "--name value", "--name=value", "-name ..." or a short @alt;
 * a flag with @set takes no value, one with neither @value nor @set is not taken. The
 * table ends with a NULL name. */
struct oci_flag {
	const char *name, *alt;
	const char **value;
	bool *set;
};
/* argv[*i] as one of @flags (*i past its value): 1; not one of them: 0; -1 (said): a
 * value is missing or given to a flag without one. */
int oci_flag_take(int argc, char **argv, int *i, const struct oci_flag *flags);

/* Loads the one container id of @argv past its @flags (NULL: none), and the argument
 * after it into *@rest if it takes one (ctl.c). */
int oci_one_container(int argc, char **argv, struct oci_state *st, const struct oci_flag *flags,
		      char **rest);

/* run.c, for exec too: the console socket connected; the seccomp program of a profile
 * (NULL: sbx's default); @pid into --pid-file @path (NULL: none). -1 said. */
int console_connect(const char *path);
struct sysfilter;
int oci_filter(const char *profile, struct sysfilter **ret);
int write_pid_file(const char *path, pid_t pid);
/* sbx-init's path: beside sbx-oci, or $SBX_INIT. Caller frees; NULL if none. */
char *oci_init_path(void);

/* Small helpers (util.c). */
int write_file_atomic(const char *path, const char *data, size_t len);
char *read_text(const char *path, size_t max, size_t *ret_len);
int signal_parse(const char *s);
