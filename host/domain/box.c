// SPDX-License-Identifier: MIT
/* The sandboxes sbxd knows: their registry (by id, with a hash), their records in the
 * state database, their JSON, ids and the reasons they end for. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <seccomp.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "../../sandbox/image.h"
#include "../../sandbox/instance.h"
#include "../../sandbox/launch.h"
#include "../../sandbox/macro.h"
#include "../../sandbox/rootfs.h"
#include "../../sandbox/sandbox.h"
#include "../../sandbox/text.h"
#include "internal.h"
#include "../sys/recorder.h"
#include "../sys/devices.h"
#include "../sys/layer.h"
#include "../sys/meter.h"
#include "../sys/store.h"
#include "../sys/usage.h"

static const char *const state_names[] = { "creating", "running", "exited", "removed" };
static const char *const reason_names[_REASON_MAX] = {
	[REASON_EXITED] = "exited",
	[REASON_FAILED] = "failed",
	[REASON_CHECKPOINTED] = "checkpointed",
	[REASON_TIMEOUT] = "timeout",
	[REASON_IDLE_TIMEOUT] = "idle_timeout",
	[REASON_DELETED] = "deleted",
	[REASON_LOST] = "lost",
};

const char *box_reason_name(enum box_reason r)
{
	return r > REASON_NONE && r < _REASON_MAX ? reason_names[r] : NULL;
}

int box_reason_parse(const char *name)
{
	for (int r = REASON_NONE + 1; r < _REASON_MAX; r++)
		if (!strcmp(name, reason_names[r]))
			return r;
	return -EINVAL;
}

const char *box_state_name(enum box_state s)
{
	return state_names[s];
}

static unsigned hash_id(const char *id)
{
	unsigned h = 2166136261u;
	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h % ARRAY_SIZE(D.hash);
}

struct box *box_find(const char *id, const char *tenant)
{
	for (struct box *b = D.hash[hash_id(id)]; b; b = b->hnext)
		if (!strcmp(b->id, id) && !b->removing)
			return !tenant || !strcmp(tenant, b->tenant) ? b : NULL;
	return NULL;
}

void box_link(struct box *b)
{
	unsigned h = hash_id(b->id);
	b->hnext = D.hash[h];
	D.hash[h] = b;
	b->prev = D.boxes_tail;
	if (D.boxes_tail)
		D.boxes_tail->next = b;
	else
		D.boxes = b;
	D.boxes_tail = b;
}

void box_unlink(struct box *b)
{
	struct box **walks[] = { &D.scan_next, &D.meter_next, &D.bill_next };
	for (size_t i = 0; i < ARRAY_SIZE(walks); i++)
		if (*walks[i] == b)
			*walks[i] = b->next;
	for (struct box **p = &D.hash[hash_id(b->id)]; *p; p = &(*p)->hnext)
		if (*p == b) {
			*p = b->hnext;
			break;
		}
	if (b->prev)
		b->prev->next = b->next;
	else
		D.boxes = b->next;
	if (b->next)
		b->next->prev = b->prev;
	else
		D.boxes_tail = b->prev;
	b->next = b->prev = NULL;
}

void box_free(struct box *b)
{
	recorder_free(b->rec);
	json_decref(b->spec);
	api_create_clear(&b->req);
	strv_free(b->envp);
	free(b->dir);
	free(b->tenant);
	free(b->cgroup_json);
	free(b->usage_final);
	free(b->labels_json);
	free(b->cg_rel);
	free(b->snapshot_id);
	free(b->restored_from);
	json_decref(b->base);
	json_decref(b->restore_stats);
	closep(&b->ctl_fd);
	if (b->sb)
		sandbox_destroy(b->sb);
	free(b);
}

/* Frees a removed box once nothing refers to it. */
void box_maybe_free(struct box *b)
{
	if (b->state == BOX_REMOVED && !b->ops && !b->jobs && !b->execs && !b->watches &&
	    !b->waiter)
		box_free(b);
}

json_t *time_json(int64_t ns)
{
	char buf[40];
	time_t s = (time_t)(ns / 1000000000);
	struct tm tm;

	if (!ns)
		return json_null();
	gmtime_r(&s, &tm);
	size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, sizeof(buf) - n, ".%03dZ", (int)(ns / 1000000 % 1000));
	return json_string(buf);
}

json_t *box_json(const struct box *b)
{
	json_t *labels = json_object();
	for (char **l = b->req.labels; l && l[0]; l += 2)
		json_object_set_new(labels, l[0], json_string(l[1]));
	json_t *cmd = json_array();
	for (char **a = b->req.cmd; a && *a; a++)
		json_array_append_new(cmd, json_string(*a));
	const struct sandbox_limits *lim = &b->req.limits;
	json_t *limits =
		json_pack("{s:I,s:f,s:I,s:I,s:I}", "memory_bytes", (json_int_t)lim->memory_bytes,
			  "cpus", lim->cpu_milli / 1000.0, "pids", (json_int_t)lim->pids,
			  "timeout_s", (json_int_t)(lim->timeout_ns / 1000000000ULL),
			  "idle_timeout_s", (json_int_t)(b->req.idle_timeout_ns / 1000000000ULL));
	json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "id", b->id,
			      "state", box_state_name(b->state), "tenant", b->tenant, "image",
			      b->req.image ? b->req.image : LAUNCH_DEFAULT_IMAGE, "cmd", cmd,
			      "labels", labels, "limits", limits, "created_at",
			      time_json(b->created_ns), "started_at", time_json(b->started_ns),
			      "ended_at", time_json(b->ended_ns), "deadline_at",
			      time_json(b->state == BOX_RUNNING ? b->deadline_ns : 0), "spec",
			      json_incref(b->spec));
	if (b->req.image_id)
		json_object_set_new(j, "image_id", json_string(b->req.image_id));
	if (box_oci_container(b))
		json_object_set_new(j, "container_id", json_string(box_oci_container(b)));
	if (b->pooled)
		json_object_set_new(j, "pooled", json_true());
	json_object_set_new(j, "exit_code",
			    b->exit_code >= 0 ? json_integer(b->exit_code) : json_null());
	json_object_set_new(j, "reason",
			    b->reason ? json_string(box_reason_name(b->reason)) : json_null());
	json_object_set_new(j, "pid",
			    b->state == BOX_RUNNING && b->pid > 0 ? json_integer(b->pid)
								  : json_null());
	json_object_set_new(j, "hostname", json_string(launch_hostname(b->req.hostname, b->id)));
	char addr[16];
	json_object_set_new(
		j, "net",
		b->req.net == NET_INTERNET
			? net_policy_json(&b->req.netp)
			: json_string(b->req.net == NET_LOOPBACK ? "loopback" : "none"));
	json_t *hosts = json_array();
	for (unsigned i = 0; b->req.net == NET_INTERNET && i < b->req.netp.nports; i++) {
		char h[320];
		snprintf(h, sizeof(h), "%u-%s.%s", b->req.netp.ports[i], b->id, D.opt.domain);
		json_array_append_new(hosts, json_string(h));
	}
	json_object_set_new(j, "hosts", hosts);
	json_object_set_new(j, "address",
			    b->net_idx && b->state == BOX_RUNNING && net_address(b->net_idx, addr)
				    ? json_string(addr)
				    : json_null());
	if (b->restored_from)
		json_object_set_new(j, "restored_from", json_string(b->restored_from));
	if (b->snapshot_id)
		json_object_set_new(j, "snapshot", json_string(b->snapshot_id));
	return j;
}

int box_persist(struct box *b)
{
	char *spec = json_dumps(b->spec, JSON_COMPACT | JSON_SORT_KEYS), *base = NULL;
	if (b->restored_from || b->snapshot_id) {
		json_t *o = json_pack("{s:s?,s:s?,s:O?,s:I}", "restored_from", b->restored_from,
				      "snapshot", b->snapshot_id, "usage", b->base, "cpu_offset_ns",
				      (json_int_t)b->cpu_offset_ns);
		base = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		json_decref(o);
	}
	json_t *env = b->envp ? json_array() : NULL;
	for (char **e = b->envp; e && *e; e++)
		json_array_append_new(env, json_string(*e));
	char *env_json = env ? json_dumps(env, JSON_COMPACT) : NULL;
	json_decref(env);
	struct store_sandbox s = {
		.id = b->id,
		.tenant = b->tenant,
		.state = box_state_name(b->state),
		.spec = spec ? spec : "{}",
		.cgroup = b->cgroup_json,
		.reason = box_reason_name(b->reason),
		.created_ns = b->created_ns,
		.ended_ns = b->ended_ns,
		.deadline_ns = b->deadline_ns,
		.exit_code = b->exit_code,
		.pid = b->state == BOX_RUNNING ? b->pid : 0,
		.start_time = b->start_time,
		.slot = b->slot,
		.usage = b->usage_final,
		.base = base,
		.env = env_json,
		.net_pair = b->net_idx,
	};
	int r = store_sandbox_put(D.store, &s);
	if (r < 0) {
		logmsg(0, "state database: cannot record sandbox %s: %s", b->id, strerror(-r));
		free(D.store_error);
		if (asprintf(&D.store_error, "cannot record sandboxes: %s", strerror(-r)) < 0)
			D.store_error = NULL;
	} else if (D.store_error) {
		free(D.store_error);
		D.store_error = NULL;
	}
	free(spec);
	free(base);
	free(env_json);
	return r;
}

unsigned box_count_live(const char *tenant)
{
	unsigned n = 0;
	for (struct box *b = D.boxes; b; b = b->next)
		n += (b->state == BOX_CREATING || b->state == BOX_RUNNING) && !b->removing &&
		     (!tenant || !strcmp(tenant, b->tenant));
	return n;
}

/* An exited sandbox leaves the list (the database keeps its record), and its log and
 * status files go. */
void box_expire(struct box *b)
{
	remove_state_dir(b->dir);
	b->state = BOX_REMOVED;
	box_unlink(b);
	box_maybe_free(b);
}

/* Exited sandboxes a tenant keeps listed (with their logs on disk): as many as it may
 * run; past that its oldest goes, so that creating sandboxes that exit at once does not
 * fill the host's disk with logs. */
void box_trim_exited(const char *tenant)
{
	struct box *oldest = NULL;
	unsigned n = 0;

	for (struct box *b = D.boxes; b; b = b->next)
		if (b->state == BOX_EXITED && !b->removing && !b->jobs && !b->execs &&
		    !strcmp(b->tenant, tenant)) {
			n++;
			if (!oldest || b->ended_ns < oldest->ended_ns)
				oldest = b;
		}
	if (oldest && n >= D.opt.max_per_tenant)
		box_expire(oldest);
}

int box_new_id(char *buf, size_t size)
{
	int r;

	do
		r = launch_id_new("", buf, size);
	while (r == 0 && box_find(buf, NULL));
	return r;
}

int box_open_in_root(const struct box *b, const char *path, int flags, uint64_t resolve)
{
	struct open_how how = { .flags = (uint64_t)flags | O_CLOEXEC,
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | resolve };
	char root[64];

	if (b->pid <= 0)
		return -ESRCH;
	snprintf(root, sizeof(root), "/proc/%d/root", (int)b->pid);
	int rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		return -errno;
	int fd =
		(int)syscall(SYS_openat2, rfd, path[0] == '/' ? path + 1 : path, &how, sizeof(how));
	int r = fd < 0 ? -errno : fd;
	close(rfd);
	return r;
}
