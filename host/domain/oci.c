// SPDX-License-Identifier: MIT
/* Containers that sbx-oci (containerd's runtime) launched on this node: sbxd meters and
 * bills them as sandboxes of its own, without running them. A container is registered
 * by sbx-oci (POST /v1/oci/containers) or found in the spool it writes
 * (<run dir>/oci/<id>.json) when sbxd starts; its end is told the same ways. It is
 * adopted as a re-adopted sandbox is: its PID 1 by pid and start time, checked to live
 * in the cgroup the record names, which must be one of this instance's. Its cgroups
 * stay sbx-oci's: sbxd reads them and never removes them. The Kubernetes namespace (or
 * containerd's) is its tenant, its annotations its labels. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../sandbox/instance.h"
#include "../../sandbox/launch.h"
#include "../../sandbox/macro.h"
#include "../../sandbox/sandbox.h"
#include "../../sandbox/spec.h"
#include "../sys/log.h"
#include "../sys/meter.h"
#include "../sys/store.h"
#include "../sys/usage.h"
#include "apispec.h"
#include "internal.h"

#define OCI_LABEL "sbx.oci.container"
#define OCI_NS_LABEL "sbx.oci.namespace"

const char *box_oci_container(const struct box *b)
{
	for (char **l = b->req.labels; l && l[0]; l += 2)
		if (!strcmp(l[0], OCI_LABEL))
			return l[1];
	return NULL;
}

static bool hex_id(const char *s)
{
	return s && strlen(s) == 2 * LAUNCH_ID_BYTES && strspn(s, "0123456789abcdef") == strlen(s);
}

/* A cgroup path a record may name: under the cgroup mount, of this instance's parent,
 * named by the sandbox id, nothing that climbs. */
static bool cgroup_path_ours(const char *path, const char *id)
{
	char tail[64];

	if (!path || strncmp(path, "/sys/fs/cgroup/", 15) || strstr(path, "/../") ||
	    strstr(path, "/./"))
		return false;
	snprintf(tail, sizeof(tail), "/%s/%s", instance_cgroup_parent(), id);
	size_t n = strlen(path), t = strlen(tail);
	return n > t && !strcmp(path + n - t, tail);
}

/* Its tenant: the pod's namespace as containerd's CRI writes it (a key of its own, which
 * a pod's pass-through annotations cannot set); outside the CRI's containerd namespace
 * (k8s.io), the annotation io.kubernetes.pod.namespace of whoever made the container;
 * else the containerd namespace. Each only when a valid tenant name; else "oci". */
static const char *tenant_of(json_t *ann, const char *ns)
{
	const char *cri =
		json_string_value(json_object_get(ann, "io.kubernetes.cri.sandbox-namespace"));
	if (cri)
		return store_tenant_name_valid(cri) ? cri : "oci";
	const char *k8s = json_string_value(json_object_get(ann, "io.kubernetes.pod.namespace"));
	if (k8s && (!ns || strcmp(ns, "k8s.io")) && store_tenant_name_valid(k8s))
		return k8s;
	if (ns && store_tenant_name_valid(ns))
		return ns;
	return "oci";
}

struct record {
	const char *id, *container_id, *ns, *v2;
	const char *v1[_CG_V1_MAX];
	enum cgroup_mode mode;
	pid_t pid;
	uint64_t start_time;
	int64_t created_ns;
	json_t *annotations, *limits, *ended;
};

static int record_parse(json_t *j, struct record *r, struct why *why)
{
	*r = (struct record){ 0 };
	if (!json_is_object(j))
		return why_set(why, -EINVAL, "an OCI record is a JSON object");
	r->id = json_string_value(json_object_get(j, "id"));
	r->container_id = json_string_value(json_object_get(j, "container_id"));
	r->ns = json_string_value(json_object_get(j, "namespace"));
	json_t *cg = json_object_get(j, "cgroup");
	const char *mode = json_string_value(json_object_get(cg, "mode"));
	r->v2 = json_string_value(json_object_get(cg, "v2"));
	r->mode = mode && !strcmp(mode, "hybrid") ? CGROUP_HYBRID : CGROUP_UNIFIED;
	json_int_t pid = json_integer_value(json_object_get(j, "pid"));
	json_int_t st = json_integer_value(json_object_get(j, "start_time"));
	r->pid = pid > 0 && pid < INT32_MAX ? (pid_t)pid : 0;
	r->start_time = st > 0 ? (uint64_t)st : 0;
	r->created_ns = json_integer_value(json_object_get(j, "created"));
	r->annotations = json_object_get(j, "annotations");
	if (json_is_null(r->annotations))
		r->annotations = NULL;
	r->limits = json_object_get(j, "limits");
	r->ended = json_object_get(j, "ended");
	if (json_is_null(r->ended))
		r->ended = NULL;
	if (!hex_id(r->id))
		return why_set(why, -EINVAL, "id: a sandbox id is 12 hex digits");
	if (!spec_oci_id_valid(r->container_id))
		return why_set(why, -EINVAL, "container_id: 1-128 of A-Z a-z 0-9 _ + - .");
	if (!r->pid || !r->start_time)
		return why_set(why, -EINVAL, "pid, start_time: needed");
	if (!mode || !cgroup_path_ours(r->v2, r->id))
		return why_set(why, -EINVAL, "cgroup: not a cgroup of this sbxd's sandboxes");
	for (int c = 0; c < _CG_V1_MAX; c++) {
		json_t *v = json_array_get(json_object_get(cg, "v1"), (size_t)c);
		r->v1[c] = json_string_value(v);
		if (r->v1[c] && !cgroup_path_ours(r->v1[c], r->id))
			return why_set(why, -EINVAL,
				       "cgroup.v1: not a cgroup of this sbxd's sandboxes");
	}
	if (r->annotations && !json_is_object(r->annotations))
		return why_set(why, -EINVAL, "annotations: an object of strings");
	if (r->ended && !json_is_object(r->ended))
		return why_set(why, -EINVAL, "ended: an object");
	return 0;
}

/* The create request it is recorded as (what a re-adoption parses again): its labels
 * (annotations that make valid labels; the others are named in @skipped) and limits. */
static json_t *record_spec(const struct record *r, json_t *skipped)
{
	json_t *labels = json_object();
	const char *k;
	json_t *v;
	size_t n = 0;

	json_object_foreach (r->annotations, k, v) {
		const char *s = json_string_value(v);
		if (!s || !k[0] || strlen(k) > 255 || strchr(k, '=') ||
		    json_string_length(v) > 4096 || strlen(s) != json_string_length(v) ||
		    !strncmp(k, "sbx.", 4) || n + 2 >= API_MAX_LABELS) {
			json_array_append_new(skipped, json_string(k));
			continue;
		}
		json_object_set(labels, k, v);
		n++;
	}
	json_object_set_new(labels, OCI_LABEL, json_string(r->container_id));
	json_object_set_new(labels, OCI_NS_LABEL, json_string(r->ns ? r->ns : ""));
	json_t *limits = json_object();
	json_int_t mem = json_integer_value(json_object_get(r->limits, "memory"));
	json_int_t pids = json_integer_value(json_object_get(r->limits, "pids"));
	json_int_t milli = json_integer_value(json_object_get(r->limits, "cpu_milli"));
	if (mem >= (4 << 20))
		json_object_set_new(limits, "memory", json_integer(mem));
	if (pids > 0 && pids <= 4194304)
		json_object_set_new(limits, "pids", json_integer(pids));
	if (milli >= 10 && milli <= 1024000) {
		char cpus[32];
		snprintf(cpus, sizeof(cpus), "%" JSON_INTEGER_FORMAT ".%03" JSON_INTEGER_FORMAT,
			 milli / 1000, milli % 1000);
		json_object_set_new(limits, "cpus", json_string(cpus));
	}
	return json_pack("{s:s, s:o, s:o}", "image", "oci", "labels", labels, "limits", limits);
}

/* The CPU time a record says it used in all (sbx-oci read it as it deleted it), as a
 * base its usage and bill count on from. */
static void ended_base(struct box *b, const struct record *r)
{
	json_int_t usec = json_integer_value(json_object_get(r->ended, "cpu_usec"));
	json_int_t at = json_integer_value(json_object_get(r->ended, "at"));

	if (usec > 0) {
		json_decref(b->base);
		b->base = json_pack("{s:I}", "cpu_ns", (json_int_t)(usec * 1000));
	}
	if (at > 0)
		b->ended_ns = at > b->bill.billed_until ? at : b->bill.billed_until;
}

static struct box *box_new_oci(const struct record *r, json_t *skipped, struct why *why)
{
	_cleanup_free_ char *err = NULL;
	struct box *b = calloc(1, sizeof(*b));
	json_t *spec = record_spec(r, skipped);
	char *text = spec ? json_dumps(spec, JSON_COMPACT) : NULL;

	if (!b || !text) {
		free(b);
		free(text);
		json_decref(spec);
		why_set(why, -ENOMEM, "out of memory");
		return NULL;
	}
	b->ctl_fd = -1;
	b->slot = -1;
	b->exit_code = -1;
	memcpy(b->id, r->id, strlen(r->id));
	b->tenant = strdup(tenant_of(r->annotations, r->ns));
	b->spec = spec;
	b->created_ns = b->started_ns = r->created_ns > 0 ? r->created_ns : real_ns();
	b->pid = r->pid;
	b->start_time = r->start_time;
	int e = apispec_parse_create(text, strlen(text), &b->req, &err);
	free(text);
	if (e < 0 || !b->tenant ||
	    asprintf(&b->dir, "%s/sandboxes/%s", D.opt.state_dir, b->id) < 0) {
		b->dir = NULL;
		box_free(b);
		why_set(why, e < 0 ? e : -ENOMEM, "%s", err ? err : "out of memory");
		return NULL;
	}
	(void)mkdir(b->dir, 0700);
	return b;
}

/* A record of a container that is gone: kept as an exited sandbox, billed for what it
 * says it used (its memory over time is not known). */
static struct box *register_ended(const struct record *r, json_t *skipped, struct why *why)
{
	struct box *b = box_new_oci(r, skipped, why);
	if (!b)
		return NULL;
	box_link(b);
	bill_start(b);
	ended_base(b, r);
	if (!b->ended_ns)
		b->ended_ns = real_ns();
	b->state = BOX_EXITED;
	b->reason = REASON_EXITED;
	usage_finalize(b);
	box_persist(b);
	logmsg(2, "container %s (sandbox %s) recorded as it ended while sbxd was away",
	       r->container_id, b->id);
	return b;
}

static struct box *register_running(const struct record *r, json_t *skipped, struct why *why)
{
	struct cgroup *cg = NULL;
	int e = cgroup_from_paths(r->mode, r->v2, r->v1, &cg);

	if (e == 0 && D.live >= D.opt.max_sandboxes) {
		cgroup_forget(cg);
		why_set(why, -EAGAIN, "this host runs %u sandboxes, its most", D.opt.max_sandboxes);
		return NULL;
	}
	struct box *b = e == 0 ? box_new_oci(r, skipped, why) : NULL;
	if (!b) {
		if (cg)
			cgroup_forget(cg);
		if (e < 0)
			why_set(why, e, "cgroup: %s", strerror(-e));
		return NULL;
	}
	/* Its cgroups are not ours to remove, whatever happens here. */
	e = sandbox_borrow(b->id, r->pid, r->start_time, cg, &b->sb);
	if (e < 0) {
		box_free(b);
		why_set(why, e, "container %s: its process %d is not running in its cgroup",
			r->container_id, (int)r->pid);
		return NULL;
	}
	box_link(b);
	(void)usage_cgroup_id(b->sb->cg->v2_path, &b->cg_id);
	if (D.meter && b->cg_id && (b->slot = slot_alloc()) >= 0 &&
	    meter_attach(D.meter, b->cg_id, (uint32_t)b->slot, true) < 0)
		slot_free(b);
	bill_start(b);
	b->adopted = true;
	box_running(b);
	D.live++;
	box_persist(b);
	logmsg(2, "container %s registered as sandbox %s (pid %d, tenant %s)", r->container_id,
	       b->id, (int)b->pid, b->tenant);
	return b;
}

/* A known container's end: if sbxd still watches it, it ends now (its cgroups are still
 * there to read). */
static void end_known(struct box *b, const struct record *r)
{
	if (b->state != BOX_RUNNING) {
		if (r->ended && b->reason == REASON_LOST) {
			/* Lost while sbxd was away: what it used after the last bill, now known. */
			b->reason = REASON_EXITED;
			box_persist(b);
		}
		return;
	}
	b->reason = REASON_EXITED;
	box_exited(b);
}

static int apply(json_t *j, bool from_spool, json_t **ret, struct why *why)
{
	struct record r;
	int e = record_parse(j, &r, why);

	if (e < 0)
		return e;
	struct box *b = box_find(r.id, NULL);
	if (b && (!box_oci_container(b) || strcmp(box_oci_container(b), r.container_id)))
		return why_set(why, -EEXIST, "sandbox %s exists and is not container %s", r.id,
			       r.container_id);
	json_t *skipped = json_array();
	if (b && r.ended)
		end_known(b, &r);
	else if (!b && (r.ended || (from_spool && !sandbox_running(r.pid, r.start_time))))
		b = register_ended(&r, skipped, why);
	else if (!b)
		b = register_running(&r, skipped, why);
	if (!b) {
		json_decref(skipped);
		return -EINVAL;
	}
	if (ret) {
		json_t *out = box_json(b);
		if (json_array_size(skipped))
			json_object_set(out, "labels_skipped", skipped);
		*ret = out;
	}
	json_decref(skipped);
	return 0;
}

int oci_register(const char *body, size_t len, bool end, const char *id, json_t **ret,
		 struct why *why)
{
	json_error_t jerr;
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);

	if (!j)
		return why_set(why, -EINVAL, "body: %s", jerr.text);
	const char *rid = json_string_value(json_object_get(j, "id"));
	int r;
	if (end && (!rid || strcmp(rid, id)))
		r = why_set(why, -EINVAL, "id: the record is not of sandbox %s", id);
	else if (end && !json_is_object(json_object_get(j, "ended")))
		r = why_set(why, -EINVAL, "ended: needed");
	else
		r = apply(j, false, ret, why);
	json_decref(j);
	return r;
}

/* The spool: "oci" beside sbxd's socket (/run/sbx/oci for the default one), where
 * sbx-oci, finding sbxd by that socket, writes. */
static const char *spool_dir(char buf[static PATH_MAX])
{
	const char *sock = D.opt.socket_path, *slash = strrchr(sock, '/');
	snprintf(buf, PATH_MAX, "%.*s/oci", slash ? (int)(slash - sock) : 1, slash ? sock : ".");
	return buf;
}

/* Where sbx-oci's containers' cgroups go (hybrid hosts): under ours, as our sandboxes',
 * so that the meter's network programs and its cgroup level are theirs too. Our
 * /proc/self/cgroup, in the spool as sbxd.cgroup. */
static void publish_cgroup(const char *dir)
{
	char path[PATH_MAX + 16], buf[4096];
	int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf));

	if (fd >= 0)
		close(fd);
	if (n <= 0 || n == (ssize_t)sizeof(buf))
		return;
	snprintf(path, sizeof(path), "%s/sbxd.cgroup", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || write(fd, buf, (size_t)n) != n)
		logmsg(1, "oci: %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

void oci_spool_scan(void)
{
	char dir[PATH_MAX];

	spool_dir(dir);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		logmsg(1, "oci: %s: %s", dir, strerror(errno));
	publish_cgroup(dir);
	DIR *d = opendir(dir);
	for (struct dirent *e; d && (e = readdir(d));) {
		char path[PATH_MAX + 300];
		const char *dot = strrchr(e->d_name, '.');
		if (e->d_name[0] == '.' || !dot || strcmp(dot, ".json"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		json_error_t jerr;
		json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
		struct why why = { "" };
		bool ended = j && json_is_object(json_object_get(j, "ended"));
		if (!j || apply(j, true, NULL, &why) < 0)
			logmsg(1, "oci spool %s: %s", e->d_name, j ? why.msg : jerr.text);
		/* An ended one is done with (sbx-oci left it for us); a running one is sbx-oci's
		 * to remove when it ends. */
		if (!j || ended)
			(void)unlink(path);
		json_decref(j);
	}
	if (d)
		closedir(d);
}

/* A lost container's end, if sbx-oci left it in the spool: when it ended and its CPU. */
void oci_readopt_lost(struct box *b)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];

	if (!box_oci_container(b))
		return;
	snprintf(path, sizeof(path), "%s/%s.json", spool_dir(dir), b->id);
	json_t *j = json_load_file(path, 0, NULL);
	struct record r;
	struct why why;
	if (j && record_parse(j, &r, &why) == 0 && r.ended &&
	    !strcmp(r.container_id, box_oci_container(b))) {
		ended_base(b, &r);
		b->reason = REASON_EXITED;
	}
	json_decref(j);
}
