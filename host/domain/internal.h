/* SPDX-License-Identifier: MIT */
/* Between the domain's own files: what one part of a sandbox's life hands another. */
#pragma once

#include "domain.h"

#define EXEC_GRACE_NS 200000000LL /* output still draining after a command exited */

#define EXITED_KEEP_NS 3600000000000LL /* exited sandboxes stay listed this long */
#define CTL_RETRY_NS 30000000000LL     /* a control channel that cannot be reached yet */
#define CTL_IDLE_NS 5000000000LL       /* an unused control channel is closed after this */
/* The most a tick spends on each kind of work that grows with the sandboxes (memory
 * samples; the bill's windows with their ledger writes): the loop answers requests in
 * between, whatever their number. */
#define TICK_WORK_NS 1500000LL

struct cgroup;

/* box.c: the registry */
void box_link(struct box *b);
/* @path (absolute) opened in @b's root as its processes see it: no "..", magic link or
 * (with @resolve's RESOLVE_ flags) symlink leads out of it. A descriptor or -errno. */
int box_open_in_root(const struct box *b, const char *path, int flags, uint64_t resolve);
void box_unlink(struct box *b);
void box_free(struct box *b);
/* Its record in the state database, as it is now. 0 or -errno (D.store_error says). */
int box_persist(struct box *b);
/* @ns (CLOCK_REALTIME) as RFC 3339 UTC with milliseconds; null for 0. */
json_t *time_json(int64_t ns);
/* An exited sandbox's record leaves the list (its time is up). */
void box_expire(struct box *b);
/* A tenant keeps at most --max-per-tenant exited sandboxes: the oldest go. */
void box_trim_exited(const char *tenant);

/* warm.c: a waiting warm sandbox that a create of @spec (its record: limits and image
 * filled in) may take, out of the pool; or NULL. Whether @tenant is the pool's own. */
#define WARM_TENANT "sbx.warm" /* not a tenant's name: store_tenant_name_valid() */
struct box *warm_take(const json_t *spec);
bool warm_tenant(const char *tenant);
/* The host is full: a waiting warm sandbox is stopped to make room for a launch (its
 * place is free once it is reaped). Whether there was one. */
bool warm_evict(void);

/* metering.c */
int slot_alloc(void);
void slot_free(struct box *b);
/* Registers the GPUs (their nodes' rdevs) of meter slot @slot. */
int gpus_meter(int slot, const uint64_t *rdevs, unsigned ngpu, const uint64_t *nodes, size_t nnodes,
	       bool fresh);
void gpus_release(struct box *b);
/* libsandbox's hook once the sandbox's cgroup exists: its meter slot and devices. */
int on_cgroup(const struct cgroup *cg, void *userdata);
/* Its usage as it ended, kept for its record and its bill. */
void usage_finalize(struct box *b);

/* network.c: mode "internet". Numbers of link pairs are > 0. */
/* Whether a sandbox of mode "internet" with policy @p can be made here: 0, or -EINVAL
 * with why. */
int net_check(const struct net_policy *p, struct why *why);
/* A pair for a sandbox, with @p in place (before its link exists): 0, or -errno with
 * @err (one line). A launch worker. */
int net_acquire(const struct net_policy *p, int *ret_idx, char *err, size_t size);
/* Pair @idx made, its sandbox end in @pid's network namespace (its egress shaped to
 * @rate bits a second, 0: not). 0 or -errno. A launch worker, while the sandbox mounts
 * its root, or after a restore before it goes on. */
int net_attach(int idx, pid_t pid, uint64_t rate);
/* Its link, entries (@p: its policy's, or NULL) and connections gone; the number free. */
void net_release(int idx, const struct net_policy *p);
/* A re-adopted sandbox's pair and policy, before net_start(). */
int net_claim(int idx, const struct net_policy *p);
int net_policy_replace(int idx, const struct net_policy *old, const struct net_policy *p, char *err,
		       size_t size);
/* The TCP and UDP sockets of @pid's network namespace on an address of its own (not
 * loopback) destroyed: their connections reset (before a checkpoint). The addresses
 * they were bound to, "A,B,..." in @ret_addrs (a restore lends them to lo). */
#define NET_RESTORE_ADDRS 8
int net_reset_outside(pid_t pid, char *ret_addrs, size_t size);
/* A restored sandbox's namespace as a launch makes it again: lo put up (@lo_up: CRIU ran
 * no action script to do it), what sbx-init set up for CRIU's restore of its sockets
 * bound to @old_addrs ("A,B,...", or NULL: none) undone. */
int net_restored(pid_t pid, const char *old_addrs, bool lo_up);
/* Pair @idx's resolv.conf (naming its gateway, where sbxd answers), in @buf. */
const char *net_resolv_conf(int idx, char buf[static 256]);
/* Connections refused to pair @idx so far. */
uint64_t net_denied(int idx);
/* Its address (dotted), or NULL. */
const char *net_address(int idx, char buf[static 16]);

/* launch.c */
struct image;
/* Whether @img has an /etc/resolv.conf (a file) for sbxd's to be bound over. */
bool image_has_resolv_conf(const struct image *img);
char *cgroup_to_json(const struct cgroup *cg);
void remove_state_dir(const char *dir);

/* lifecycle.c */
/* Ended here and now, as sbxd exits: what it used recorded, nothing of it left running;
 * with @remove its record says removed and its state directory goes too. */
void box_end_now(struct box *b, bool remove);
/* It runs: its exit watch and control channel are armed, its meters opened. */
void box_running(struct box *b);
int ctl_open(struct box *b);
/* Closes its control channel while unused; box_ctl_ready() connects it again. */
void ctl_park(struct box *b);
/* The exit code sbx-init wrote in @dir/status, or -1. */
int read_status(const char *dir);

/* snap.c: snapshots' registry and what checkpoint.c and restore.c share */
/* CRIU's cache of kernel features, kept on a tmpfs (or NULL: probed every run). */
extern const char *criu_cache_dir;
void snap_free(struct snap *s);
int snap_persist(struct snap *s, const char *state);
/* Removes @s (on a worker), answering @rp (held) when done, if not NULL. */
void snap_remove(struct snap *s, struct reply *rp);

/* oci.c: a lost OCI container's end, from sbx-oci's spool if it left one there. */
void oci_readopt_lost(struct box *b);

/* fork.c: @count copies of @s, answered on @rp (held by the caller; taken). */
void fork_start(struct reply *rp, struct snap *s, unsigned count, int64_t t0);

/* exec.c */
/* A message of sbx-init about command @r->id. */
void exec_event(struct box *b, const struct ctl_reply *r);
/* The sandbox stopped: its commands end. */
void exec_all_stopped(struct box *b);
/* watch.c: the sandbox stopped; its watches end. */
void watch_all_stopped(struct box *b);
/* Deadlines and ends of @b's commands, at the box tick. */
void exec_tick(struct box *b, int64_t mono);
/* Why nothing can run in @b now (-EBUSY, -EAGAIN), or 0. */
int exec_refused(struct box *b, struct why *why);
/* A started command or transfer joins its sandbox and its reply (held, watched). */
void exec_link(struct exec *x, struct box *b, struct reply *rp);
/* Its reply, no longer watched or written by it (the caller releases it), or NULL. */
struct reply *exec_detach(struct exec *x);

/* files.c */
void file_deliver(struct exec *x, const char *data, size_t len);
void file_answer(struct reply *rp, struct exec *x);
void fs_collect(struct exec *x, const char *data, size_t len);
/* @len bytes of @data (taken) for @x's stdin, which closes after them. */
void exec_feed(struct exec *x, char *data, size_t len);
/* Checkpoints: whether @b's commands keep it from one (*why says how); its kept
 * processes as the snapshot records them ({"pid", "argv", "env", "cwd", "tag", "in",
 * "out", "err"}: CRIU's keys of their pipes, or null); those processes back in a
 * restored @b, wired to @fds (the host's ends of new pipes, in the order of their
 * keys); and, once its control channel is there, taken over from sbx-init. */
bool exec_blocks_checkpoint(const struct box *b, const char **why);
json_t *exec_carried(const struct box *b);
void exec_restore_kept(struct box *b, json_t *procs, const int *fds, unsigned nfds);
void exec_adopt_all(struct box *b);
