// SPDX-License-Identifier: MIT
/* checkpoint and restore, with CRIU as sbxd's own snapshots are made. A checkpoint freezes
 * the container, archives its writable layer (kept on the host in its state directory for
 * this) into --image-path as sbx-layer.tar, and dumps its processes there with what a
 * restore must know (sbx-oci.json: its host ids, its bind mounts, its stdio). A restore
 * makes a new sandbox of the bundle, as create does (new cgroups beside sbxd's, new host
 * ids, the layer back on a fresh tmpfs, the root mounted for CRIU), and CRIU puts the
 * processes back into it; as with runc under containerd's shim, the stdio the container
 * had becomes the restore's own. A failure at any step leaves nothing: the container runs
 * on (checkpoint) or nothing of it exists (restore). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/mount.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../host/sys/criu.h"
#include "../../host/sys/layer.h"
#include "../../sandbox/ctl.h"
#include "../../sandbox/idmap.h"
#include "../../sandbox/launch.h"
#include "../../sandbox/macro.h"
#include "../../sandbox/rootfs.h"
#include "../../sandbox/sandbox.h"
#include "oci.h"

#define META "sbx-oci.json"
#define LAYER_TAR "sbx-layer.tar"
#define META_VERSION 1

/* The flags of both commands (runc's); those that cannot be honoured are refused. */
struct ckpt_opts {
	const char *image, *work, *bundle, *pid_file, *console, *cgroups_mode, *empty_ns;
	const char *parent, *page_server, *status_fd;
	bool leave_running, ext_unix, file_locks, detach, taken;
	bool pre_dump, lazy, auto_dedup, tcp_skip, link_remap;
};

static int ckpt_args(int argc, char **argv, struct ckpt_opts *o, const char **ret_id)
{
	bool restore = !strcmp(argv[0], "restore");
	const struct oci_flag flags[] = {
		{ "--image-path", NULL, &o->image, NULL },
		{ "--work-path", NULL, &o->work, NULL },
		{ "--leave-running", NULL, NULL, restore ? NULL : &o->leave_running },
		{ "--ext-unix-sk", NULL, NULL, &o->ext_unix },
		{ "--file-locks", NULL, NULL, &o->file_locks },
		{ "--manage-cgroups-mode", NULL, &o->cgroups_mode, NULL },
		{ "--empty-ns", NULL, &o->empty_ns, NULL },
		/* Always so here: established connections are kept (their peers are in the
		 * container, or gone), and a job without a terminal is no shell job. */
		{ "--tcp-established", NULL, NULL, &o->taken },
		{ "--shell-job", NULL, NULL, &o->taken },
		/* Refused below. */
		{ "--parent-path", NULL, &o->parent, NULL },
		{ "--page-server", NULL, &o->page_server, NULL },
		{ "--status-fd", NULL, &o->status_fd, NULL },
		{ "--pre-dump", NULL, NULL, restore ? NULL : &o->pre_dump },
		{ "--lazy-pages", NULL, NULL, &o->lazy },
		{ "--auto-dedup", NULL, NULL, &o->auto_dedup },
		{ "--tcp-skip-in-flight", NULL, NULL, &o->tcp_skip },
		{ "--link-remap", NULL, NULL, &o->link_remap },
		/* restore's own */
		{ "--bundle", "-b", restore ? &o->bundle : NULL, NULL },
		{ "--pid-file", NULL, restore ? &o->pid_file : NULL, NULL },
		{ "--console-socket", NULL, restore ? &o->console : NULL, NULL },
		{ "--detach", "-d", NULL, restore ? &o->detach : NULL },
		{ "--no-pivot", NULL, NULL, restore ? &o->taken : NULL },
		{ "--no-subreaper", NULL, NULL, restore ? &o->taken : NULL },
		{ NULL, NULL, NULL, NULL },
	};
	const char *id = NULL;

	*o = (struct ckpt_opts){ .image = "checkpoint", .bundle = "." };
	for (int i = 1; i < argc; i++) {
		int t = argv[i][0] == '-' ? oci_flag_take(argc, argv, &i, flags) : 0;
		if (t < 0)
			return -1;
		if (t > 0)
			continue;
		/* A flag of the other command (its slot is NULL here) is unknown too. */
		if (argv[i][0] == '-')
			return oci_error("%s: unknown flag %s", argv[0], argv[i]);
		if (id)
			return oci_error("%s: one container id, not %s and %s", argv[0], id,
					 argv[i]);
		id = argv[i];
	}
	static const char *const refused[] = { "--parent-path",	       "--page-server",
					       "--status-fd",	       "--pre-dump",
					       "--lazy-pages",	       "--auto-dedup",
					       "--tcp-skip-in-flight", "--link-remap" };
	const bool set[] = { o->parent, o->page_server, o->status_fd, o->pre_dump,
			     o->lazy,	o->auto_dedup,	o->tcp_skip,  o->link_remap };
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++)
		if (set[i])
			return oci_error("%s: %s is not supported by sbx-oci", argv[0], refused[i]);
	if (o->console)
		return oci_error("%s: --console-socket: a container with a terminal cannot be "
				 "checkpointed or restored by sbx-oci",
				 argv[0]);
	if (o->cgroups_mode && strcmp(o->cgroups_mode, "soft") && strcmp(o->cgroups_mode, "full") &&
	    strcmp(o->cgroups_mode, "strict") && strcmp(o->cgroups_mode, "ignore"))
		return oci_error("%s: --manage-cgroups-mode %s: soft, full, strict or ignore",
				 argv[0], o->cgroups_mode);
	if (o->empty_ns && strcmp(o->empty_ns, "network"))
		return oci_error("%s: --empty-ns %s: only network (a restored container gets a "
				 "new empty network namespace anyway)",
				 argv[0], o->empty_ns);
	if (!id)
		return oci_error("%s: a container id is needed", argv[0]);
	if (!spec_oci_id_valid(id))
		return oci_error("container id \"%s\": 1-%d of A-Z a-z 0-9 _ + - .", id,
				 SPEC_OCI_ID_MAX);
	*ret_id = id;
	return 0;
}

/* What a checkpoint cannot carry, said by name. */
static int ckpt_refusal(const char *cmd, const struct oci_config *c)
{
	/* CRIU cannot make the restored root read-only again inside the container's user
	 * namespace. */
	if (c->readonly)
		return oci_error("%s: root.readonly: a container with a read-only root cannot be "
				 "checkpointed or restored by sbx-oci",
				 cmd);
	if (c->proc.terminal)
		return oci_error("%s: process.terminal: a container with a terminal cannot be "
				 "checkpointed or restored by sbx-oci",
				 cmd);
	const struct oci_ns *joined[] = { &c->net, &c->ipc, &c->uts };
	const char *names[] = { "network", "ipc", "uts" };
	for (size_t i = 0; i < ARRAY_SIZE(joined); i++)
		if (joined[i]->kind == NS_PATH)
			return oci_error("%s: linux.namespaces[%s].path: a container that joins "
					 "another's namespace cannot be checkpointed or restored "
					 "by sbx-oci",
					 cmd, names[i]);
	return 0;
}

/* @path made (with its parents) as a directory of root's; absolute in @buf. */
static int dir_make(const char *cmd, const char *flag, const char *path, char *buf)
{
	char tmp[PATH_MAX];

	if (strlen(path) >= sizeof(tmp) - 1)
		return oci_error("%s: %s: path too long", cmd, flag);
	snprintf(tmp, sizeof(tmp), "%s/", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			return oci_error("%s: %s %s: %s", cmd, flag, tmp, strerror(errno));
		*p = '/';
	}
	if (!realpath(path, buf))
		return oci_error("%s: %s %s: %s", cmd, flag, path, strerror(errno));
	return 0;
}

/* ---- checkpoint ---- */

struct dump {
	const struct ckpt_opts *o;
	struct oci_state st;
	struct oci_config c;
	char image[PATH_MAX], work[PATH_MAX], log[PATH_MAX + 16];
	char *argv[160];
	size_t n;
	json_t *meta;
};

/* CRIU's keys of the container's stdio (PID 1's, which its workload shares): pipes are
 * given anew at the restore, files outside it are external. */
static int dump_stdio(struct dump *d)
{
	json_t *keys = json_array();
	json_object_set_new(d->meta, "stdio", keys);
	for (int fd = 0; fd < 3; fd++) {
		char path[64], link[256], key[256];
		struct stat sb;
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)d->st.pid, fd);
		ssize_t len = readlink(path, link, sizeof(link) - 1);
		if (len < 0) {
			json_array_append_new(keys, json_null()); /* closed */
			continue;
		}
		link[len] = '\0';
		if (!strncmp(link, "pipe:[", 6)) {
			snprintf(key, sizeof(key), "%s", link);
		} else if (link[0] != '/' || stat(path, &sb) < 0 || !S_ISCHR(sb.st_mode)) {
			/* A file CRIU would open again as the container's root. */
			return oci_error(
				"checkpoint %s: its stdio %d is %s: only pipes and devices "
				"(what containerd's shim gives) can be carried",
				d->st.id, fd, link);
		} else if (file_key(d->st.pid, fd, key, sizeof(key)) < 0) {
			return oci_error("checkpoint %s: its stdio %d: gone", d->st.id, fd);
		}
		bool seen = false;
		for (int j = 0; j < fd; j++)
			seen |= !strcmp(json_string_value(json_array_get(keys, j)) ?: "", key);
		if (!seen && strncmp(key, "pipe:", 5))
			strvcat(d->argv, &d->n, ARRAY_SIZE(d->argv), "--external=%s", key);
		json_array_append_new(keys, json_string(key));
	}
	return 0;
}

/* The CRIU options the caller asked for (runc's flags of both commands). */
static void criu_argv_asked(const struct ckpt_opts *o, char **argv, size_t *n, size_t max)
{
	if (o->ext_unix)
		strvcat(argv, n, max, "--ext-unix-sk");
	if (o->file_locks)
		strvcat(argv, n, max, "--file-locks");
}

/* criu dump's command line. */
static int dump_argv(struct dump *d)
{
	char **argv = d->argv;
	size_t *n = &d->n, max = ARRAY_SIZE(d->argv);

	snprintf(d->log, sizeof(d->log), "%s/dump.log", d->work);
	argv[(*n)++] = strdup("dump");
	strvcat(argv, n, max, "--tree=%d", (int)d->st.pid);
	strvcat(argv, n, max, "--images-dir=%s", d->image);
	strvcat(argv, n, max, "--work-dir=%s", d->work);
	strvcat(argv, n, max, "--log-file=%s", d->log);
	strvcat(argv, n, max, "--freeze-cgroup=%s", d->st.cg->v2_path);
	criu_argv_common(argv, n, max, false);
	if (d->o->leave_running)
		strvcat(argv, n, max, "--leave-running");
	criu_argv_asked(d->o, argv, n, max);
	strvcat(argv, n, max, "--external=mnt[/dev/sbx-init]:init");
	json_t *binds = json_array();
	json_object_set_new(d->meta, "binds", binds);
	for (unsigned i = 0; i < d->c.nmounts; i++) {
		if (strcmp(d->c.mounts[i].type, "bind"))
			continue;
		/* CRIU's "mnt[PATH]:KEY" ends PATH at the first "]". */
		if (strchr(d->c.mounts[i].target, ']'))
			return oci_error("checkpoint %s: mounts: a bind at %s cannot be "
					 "checkpointed (a \"]\" in its destination)",
					 d->st.id, d->c.mounts[i].target);
		strvcat(argv, n, max, "--external=mnt[%s]:b%zu", d->c.mounts[i].target,
			json_array_size(binds));
		json_array_append_new(binds, json_string(d->c.mounts[i].target));
	}
	/* The host's device nodes bound in, and the /proc masks made of them. */
	json_t *devs = criu_dev_binds(d->st.pid), *dv;
	if (!devs)
		return oci_error("checkpoint %s: its mounts cannot be read", d->st.id);
	json_object_set_new(d->meta, "devs", devs);
	size_t di;
	json_array_foreach (devs, di, dv)
		strvcat(argv, n, max, "--external=mnt[%s]:d%zu",
			json_string_value(json_array_get(dv, 0)), di);
	if (dump_stdio(d) < 0)
		return -1;
	argv[*n] = NULL;
	for (size_t i = 0; i < *n; i++)
		if (!argv[i])
			return oci_error("checkpoint %s: out of memory", d->st.id);
	return 0;
}

/* Frozen: the layer archived, the processes dumped, the record written. */
static int dump_frozen(struct dump *d, const char *criu)
{
	char dir[PATH_MAX], upper[PATH_MAX + 16], path[PATH_MAX + 32], out[PATH_MAX + 16];
	_cleanup_free_ char *err = NULL;

	snprintf(upper, sizeof(upper), "%s/layer/upper", oci_dir(d->st.id, dir));
	/* An earlier checkpoint's record in the directory never pairs with this one's. */
	snprintf(path, sizeof(path), "%s/" META, d->image);
	if (unlink(path) < 0 && errno != ENOENT)
		return oci_error("checkpoint %s: %s: %s", d->st.id, path, strerror(errno));
	snprintf(path, sizeof(path), "%s/" LAYER_TAR, d->image);
	if (unlink(path) < 0 && errno != ENOENT)
		return oci_error("checkpoint %s: %s: %s", d->st.id, path, strerror(errno));
	snprintf(out, sizeof(out), "%s/tar.log", d->work);
	int r = layer_tar(true, path, upper, out, NULL, &err);
	if (r < 0)
		return oci_error("checkpoint %s: archiving its writable layer: %s", d->st.id,
				 err ? err : strerror(-r));
	snprintf(out, sizeof(out), "%s/dump.out", d->work);
	/* No run_dir (CRIU's kernel-feature cache, which sbxd keeps): it stands in for /run,
	 * where containerd keeps the container's state and the paths CRIU is given. */
	r = criu_exec(&(struct criu_run){ .bin = criu,
					  .argv = (const char *const *)d->argv,
					  .out_path = out,
					  .timeout_ns = CRIU_TIMEOUT_NS },
		      d->log, &err);
	if (r < 0)
		return oci_error("checkpoint %s: criu dump: %s", d->st.id,
				 err ? err : strerror(-r));
	snprintf(path, sizeof(path), "%s/" META, d->image);
	_cleanup_free_ char *text = json_dumps(d->meta, JSON_COMPACT);
	r = text ? write_file_atomic(path, text, strlen(text)) : -ENOMEM;
	if (r < 0)
		return oci_error("checkpoint %s: %s: %s", d->st.id, path, strerror(-r));
	return 0;
}

static int dump_prepare(struct dump *d, char **ret_criu)
{
	char dir[PATH_MAX], upper[PATH_MAX + 16];
	struct stat sb;

	const char *status = oci_status(&d->st);
	if (strcmp(status, "running") && strcmp(status, "paused"))
		return oci_error("checkpoint %s: the container is %s", d->st.id, status);
	if (oci_config_load(d->st.bundle, &d->c) < 0 || ckpt_refusal("checkpoint", &d->c) < 0)
		return -1;
	snprintf(upper, sizeof(upper), "%s/layer/upper", oci_dir(d->st.id, dir));
	if (stat(upper, &sb) < 0)
		return oci_error(
			"checkpoint %s: its writable layer is not on the host (a container "
			"of an older sbx-oci): %s",
			d->st.id, strerror(errno));
	char *why = NULL;
	if (criu_find(NULL, false, ret_criu, &why) < 0) {
		oci_error("checkpoint %s: %s", d->st.id, why ? why : "CRIU is not available");
		free(why);
		return -1;
	}
	if (dir_make("checkpoint", "--image-path", d->o->image, d->image) < 0 ||
	    dir_make("checkpoint", "--work-path", d->o->work ?: d->o->image, d->work) < 0)
		return -1;
	uid_t base = idmap_base_of(d->st.pid);
	if (!idmap_valid(base))
		return oci_error("checkpoint %s: its user namespace's ids cannot be read",
				 d->st.id);
	d->meta = json_pack("{s:i,s:I}", "version", META_VERSION, "uid_base", (json_int_t)base);
	return d->meta ? 0 : oci_error("checkpoint: out of memory");
}

int cmd_checkpoint(int argc, char **argv)
{
	struct ckpt_opts o;
	struct dump d = { .o = &o };
	_cleanup_free_ char *criu = NULL;
	const char *id;
	int r = -1;

	if (ckpt_args(argc, argv, &o, &id) < 0)
		return -1;
	if (oci_state_load(id, &d.st) < 0)
		return -1;
	bool paused = !strcmp(oci_status(&d.st), "paused");
	if (dump_prepare(&d, &criu) < 0 || dump_argv(&d) < 0)
		goto out;
	int fr = cgroup_freeze(d.st.cg, true);
	if (fr < 0) {
		oci_error("checkpoint %s: cannot freeze it: %s", id, strerror(-fr));
		goto out;
	}
	r = dump_frozen(&d, criu);
	if (r == 0 && !o.leave_running) {
		/* Stopped, as runc leaves it: what CRIU did not end goes now; delete follows. */
		(void)cgroup_kill(d.st.cg);
	}
	if (!paused || (r == 0 && !o.leave_running))
		(void)cgroup_freeze(d.st.cg, false);
out:
	strv_clear(d.argv, d.n);
	json_decref(d.meta);
	if (d.c.json)
		oci_config_clear(&d.c);
	oci_state_clear(&d.st);
	return r < 0 ? -1 : 0;
}

/* ---- restore ---- */

struct rest {
	const struct ckpt_opts *o;
	const char *id;
	struct oci_config c;
	struct oci_state st;
	json_t *meta;
	char dir[PATH_MAX], image[PATH_MAX], work[PATH_MAX], view[PATH_MAX + 16];
	char layer[PATH_MAX + 16], root[PATH_MAX + 32], log[PATH_MAX + 48];
	char userns_img[PATH_MAX + 16], userns_over[PATH_MAX + 80];
	char *criu, *init_path, *init;
	uid_t from, base;
	int userns; /* a user namespace mapping @base (idmap_userns_fd), for idmapped mounts */
	bool made, layered, mounted, viewed;
	unsigned nbinds; /* rest_bind's */
	char *argv[160];
	size_t n;
	int fds[3];
	unsigned nfds;
};

/* "pipe:[DECIMAL]" or "file[HEX:HEX]", CRIU's keys of a pipe and of a file. */
static bool stdio_key_valid(const char *k)
{
	unsigned a, b;
	int end = 0;

	if (!k || strlen(k) > 64)
		return false;
	if (!strncmp(k, "pipe:[", 6))
		return strspn(k + 6, "0123456789") > 0 && sscanf(k, "pipe:[%u]%n", &a, &end) == 1 &&
		       end > 0 && !k[end];
	return !strncmp(k, "file[", 5) && strspn(k + 5, "0123456789abcdef:]") == strlen(k + 5) &&
	       sscanf(k, "file[%x:%x]%n", &a, &b, &end) == 2 && end > 0 && !k[end];
}

/* The checkpoint's record, checked: each of its strings reaches CRIU's command line. */
static int rest_meta(struct rest *t)
{
	char path[PATH_MAX + 32];
	json_error_t jerr;

	snprintf(path, sizeof(path), "%s/" META, t->image);
	t->meta = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!t->meta)
		return oci_error("restore %s: %s: not a checkpoint of sbx-oci (%s)", t->id, path,
				 jerr.text);
	json_t *v = json_object_get(t->meta, "version"), *u = json_object_get(t->meta, "uid_base");
	json_t *binds = json_object_get(t->meta, "binds"), *devs = json_object_get(t->meta, "devs");
	json_t *stdio = json_object_get(t->meta, "stdio"), *e;
	size_t i;
	if (json_integer_value(v) != META_VERSION || !json_is_integer(u) ||
	    !idmap_valid((uid_t)json_integer_value(u)) || !json_is_array(binds) ||
	    !json_is_array(devs) || !json_is_array(stdio) || json_array_size(stdio) != 3)
		return oci_error("restore %s: %s: not a checkpoint of this sbx-oci", t->id, path);
	t->from = (uid_t)json_integer_value(u);
	/* Device binds: only of the nodes every sandbox has (a checkpoint naming another
	 * would bind a host device in). */
	json_array_foreach (devs, i, e) {
		const char *src = json_string_value(json_array_get(e, 1));
		if (!criu_dev_node_known(src))
			return oci_error("restore %s: %s: a device bind of %s, not one of a "
					 "sandbox's",
					 t->id, path, src ? src : "?");
	}
	json_array_foreach (stdio, i, e)
		if (!json_is_null(e) && !stdio_key_valid(json_string_value(e)))
			return oci_error("restore %s: %s: its stdio is unreadable", t->id, path);
	/* Bind mounts come back from today's bundle, by their target. */
	if (json_array_size(binds) > t->c.nmounts)
		return oci_error("restore %s: the bundle has fewer bind mounts than the "
				 "checkpoint",
				 t->id);
	return 0;
}

/* Its cgroups beside sbxd's, its host ids, and its writable layer back from the archive
 * (extracted in its cgroups: the pages are its), owned by the new ids. */
static int rest_sandbox(struct rest *t)
{
	struct sandbox_limits lim;
	_cleanup_free_ char *sbxd_cg = oci_sbxd_cgroup(), *err = NULL;
	char path[PATH_MAX + 32], out[PATH_MAX + 32];

	uint64_t writable = oci_limits(&t->c, &lim);
	if (launch_id_new("", t->st.sbx_id, sizeof(t->st.sbx_id)) < 0)
		return oci_error("restore %s: no random id", t->id);
	int r = cgroup_create_as(t->st.sbx_id, &lim, sbxd_cg, &t->st.cg);
	if (r < 0)
		return oci_error("restore %s: cgroups: %s", t->id, strerror(-r));
	t->st.limits = lim;
	r = idmap_alloc(t->st.cg->v2_path, &t->base);
	if (r < 0)
		return oci_error("restore %s: host ids: %s", t->id, strerror(-r));
	t->userns = idmap_userns_fd(t->base);
	if (t->userns < 0)
		return oci_error("restore %s: a user namespace for its ids: %s", t->id,
				 strerror(-t->userns));
	snprintf(t->layer, sizeof(t->layer), "%s/layer", t->dir);
	r = layer_mount(t->layer, writable);
	if (r < 0)
		return oci_error("restore %s: its writable layer %s: %s", t->id, t->layer,
				 strerror(-r));
	t->layered = true;
	snprintf(path, sizeof(path), "%s/" LAYER_TAR, t->image);
	snprintf(out, sizeof(out), "%s/upper", t->layer);
	snprintf(t->log, sizeof(t->log), "%s/restore-tar.log", t->work);
	r = layer_tar(false, path, out, t->log, t->st.cg, &err);
	if (r < 0)
		return oci_error("restore %s: its writable layer: %s", t->id,
				 err ? err : strerror(-r));
	r = layer_shift_owners(out, t->from, t->base);
	if (r < 0)
		return oci_error("restore %s: its writable layer's owners: %s", t->id,
				 strerror(-r));
	return 0;
}

/* The root, as create makes it (the bundle's root idmapped to the new ids under the
 * layer), where CRIU's --root wants it; the checkpoint's user namespace rewritten for the
 * new ids. */
static int rest_root(struct rest *t)
{
	struct rootfs_mounts m = ROOTFS_MOUNTS_INIT;
	char name[64], images[PATH_MAX];

	struct rootfs_plan plan = { .image = t->c.root_layers ? t->c.root_layers[0] : t->c.rootfs,
				    .lowers = t->c.root_layers
						      ? (const char *const *)t->c.root_layers + 1
						      : NULL,
				    .writable_bytes = 1,
				    .layer_dir = t->layer,
				    .base = t->base };
	int r = rootfs_prepare(&plan, t->userns, &m);
	snprintf(t->root, sizeof(t->root), "%s/root", t->layer);
	if (r == 0 &&
	    syscall(SYS_move_mount, m.root, "", AT_FDCWD, t->root, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		r = -errno;
	rootfs_mounts_close(&m);
	if (r < 0)
		return oci_error("restore %s: its root file system: %s", t->id, strerror(-r));
	t->mounted = true;
	snprintf(t->userns_img, sizeof(t->userns_img), "%s/userns.img", t->dir);
	snprintf(images, sizeof(images), "%s", t->image);
	r = criu_userns_image(images, t->from, t->base, t->userns_img, name, sizeof(name));
	if (r < 0)
		return oci_error("restore %s: the checkpoint's user namespace: %s", t->id,
				 strerror(-r));
	snprintf(t->userns_over, sizeof(t->userns_over), "%s/%s", t->view, name);
	return 0;
}

/* The bundle's bind @m as create makes it (an idmapped clone of its source, with its
 * mount options), mounted on the host for CRIU to bind from, its path in @at: in the
 * runtime tmpfs, which the container's root (as which CRIU opens it) may walk. Unmounted
 * once CRIU is done (rest_binds_drop). */
static int rest_bind(struct rest *t, const struct sandbox_mount *m, size_t i, char *at, size_t size)
{
	char dir[PATH_MAX];
	struct stat st;

	snprintf(dir, sizeof(dir), ROOTFS_RUNTIME_DIR "/binds-%s", t->st.sbx_id);
	snprintf(at, size, "%s/%zu", dir, i);
	if (stat(m->source, &st) < 0)
		return oci_error("restore %s: bind of %s: %s", t->id, m->source, strerror(errno));
	if ((mkdir(dir, 0711) < 0 && errno != EEXIST) ||
	    (S_ISDIR(st.st_mode) ? mkdir(at, 0700) : mknod(at, S_IFREG | 0600, 0)) < 0)
		return oci_error("restore %s: %s: %s", t->id, at, strerror(errno));
	t->nbinds = i + 1;
	int fd = rootfs_clone_mount(m->source, m->recursive, m->attrs, t->userns);
	if (fd < 0)
		return oci_error("restore %s: bind of %s: %s", t->id, m->source, strerror(-fd));
	int r = (int)syscall(SYS_move_mount, fd, "", AT_FDCWD, at, MOVE_MOUNT_F_EMPTY_PATH);
	int e = errno;
	close(fd);
	return r < 0 ? oci_error("restore %s: bind of %s: %s", t->id, m->source, strerror(e)) : 0;
}

/* The binds rest_bind made, gone from the host (the restored container holds its own). */
static void rest_binds_drop(struct rest *t)
{
	char path[PATH_MAX + 48];

	for (unsigned i = 0; i < t->nbinds; i++) {
		snprintf(path, sizeof(path), ROOTFS_RUNTIME_DIR "/binds-%s/%u", t->st.sbx_id, i);
		(void)umount2(path, MNT_DETACH);
		if (rmdir(path) < 0)
			(void)unlink(path);
	}
	snprintf(path, sizeof(path), ROOTFS_RUNTIME_DIR "/binds-%s", t->st.sbx_id);
	(void)rmdir(path);
	t->nbinds = 0;
}

/* criu restore's command line. */
static int rest_argv(struct rest *t)
{
	char **argv = t->argv;
	size_t *n = &t->n, max = ARRAY_SIZE(t->argv), i;
	json_t *e;

	snprintf(t->log, sizeof(t->log), "%s/restore.log", t->work);
	argv[(*n)++] = strdup("restore");
	strvcat(argv, n, max, "--images-dir=%s", t->view);
	strvcat(argv, n, max, "--work-dir=%s", t->work);
	strvcat(argv, n, max, "--log-file=%s", t->log);
	strvcat(argv, n, max, "--pidfile=%s/criu.pid", t->dir);
	strvcat(argv, n, max, "--root=%s", t->root);
	/* Its processes become our children, then its caller's (the shim, a subreaper),
	 * stopped until sbx-init executed itself again (rest_resume). */
	criu_argv_common(argv, n, max, true);
	strvcat(argv, n, max, "--action-script=%s", t->init_path);
	criu_argv_asked(t->o, argv, n, max);
	strvcat(argv, n, max, "--external=mnt[init]:%s", t->init);
	json_array_foreach (json_object_get(t->meta, "binds"), i, e) {
		const struct sandbox_mount *m = NULL;
		char at[PATH_MAX + 48];
		for (unsigned j = 0; j < t->c.nmounts; j++)
			if (!strcmp(t->c.mounts[j].type, "bind") &&
			    !strcmp(t->c.mounts[j].target, json_string_value(e) ?: ""))
				m = &t->c.mounts[j];
		if (!m)
			return oci_error("restore %s: the bundle no longer binds %s", t->id,
					 json_string_value(e) ?: "?");
		if (rest_bind(t, m, i, at, sizeof(at)) < 0)
			return -1;
		strvcat(argv, n, max, "--external=mnt[b%zu]:%s", i, at);
	}
	json_array_foreach (json_object_get(t->meta, "devs"), i, e)
		strvcat(argv, n, max, "--external=mnt[d%zu]:%s", i,
			json_string_value(json_array_get(e, 1)));
	/* Its stdio then is ours now (at 10, 11, 12 in CRIU), once for each key. */
	json_t *stdio = json_object_get(t->meta, "stdio");
	for (int fd = 0; fd < 3; fd++) {
		const char *key = json_string_value(json_array_get(stdio, (size_t)fd));
		bool seen = false;
		for (int j = 0; key && j < fd; j++)
			seen |= !strcmp(json_string_value(json_array_get(stdio, (size_t)j)) ?: "",
					key);
		t->fds[t->nfds] = fd;
		if (key && !seen)
			strvcat(argv, n, max, "--inherit-fd=fd[%u]:%s", 10 + t->nfds, key);
		t->nfds++;
	}
	argv[*n] = NULL;
	for (size_t k = 0; k < *n; k++)
		if (!argv[k])
			return oci_error("restore %s: out of memory", t->id);
	return 0;
}

/* The restored container, left stopped by CRIU: sbx-init alone goes on and executes
 * itself again inside the container's user namespace, as a created one did (so that a
 * later checkpoint accepts it, and it is not dumpable), then lets the rest go on. One
 * that does not within 5 s: the container runs on anyway, and only its next checkpoint
 * would fail. */
static void rest_resume(struct rest *t)
{
	char path[64], buf[64];

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)t->st.pid);
	if (kill(t->st.pid, SIGCONT) == 0 && kill(t->st.pid, INIT_REEXEC_SIGNAL) == 0)
		for (int i = 0; i < 500; i++) {
			_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
			ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
			/* "sbx-init\0--resume\0N" */
			if (n > 9 && !memcmp(buf + 9, "--resume", 8))
				return;
			nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
		}
	oci_log("warning", "restore %s: sbx-init did not start again; the container runs on",
		t->id);
	(void)cgroup_signal(t->st.cg, SIGCONT);
}

/* CRIU reads some images as host root and others as the container's root once its
 * credentials are restored, some (timens) in between, as root of a user namespace that
 * may not map an id yet. It reads them through a view of them: a directory of ours
 * (a tmpfs, 0711, searchable by all of them) in which each image file is bound read-only
 * from --image-path, keeping its owner and mode (root's, 0644, as CRIU writes them).
 * The image directory itself is not changed. */
static int rest_images_view(struct rest *t)
{
	snprintf(t->view, sizeof(t->view), "%s/images", t->dir);
	if (mkdir(t->view, 0700) < 0 ||
	    mount("sbx-images", t->view, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "mode=0711,size=1m,nr_inodes=4096") < 0)
		return oci_error("restore %s: %s: %s", t->id, t->view, strerror(errno));
	t->viewed = true;
	DIR *d = opendir(t->image);
	if (!d)
		return oci_error("restore %s: --image-path %s: %s", t->id, t->image,
				 strerror(errno));
	int r = 0;
	for (struct dirent *e; r == 0 && (e = readdir(d));) {
		char from[PATH_MAX + 264], to[PATH_MAX + 288];
		if (e->d_type != DT_REG)
			continue; /* CRIU's images are files: no links followed, no directories */
		snprintf(from, sizeof(from), "%s/%s", t->image, e->d_name);
		snprintf(to, sizeof(to), "%s/%s", t->view, e->d_name);
		if (mknod(to, S_IFREG | 0600, 0) < 0 || mount(from, to, NULL, MS_BIND, NULL) < 0 ||
		    mount(NULL, to, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
			  NULL) < 0)
			r = oci_error("restore %s: %s: %s", t->id, from, strerror(errno));
	}
	closedir(d);
	return r;
}

/* The view of the images gone (its binds with it). */
static void rest_view_drop(struct rest *t)
{
	if (!t->viewed)
		return;
	(void)umount2(t->view, MNT_DETACH);
	(void)rmdir(t->view);
	t->viewed = false;
}

/* The namespace @ns of @pid (or of "self"): its device and inode in *ret. */
static int ns_of(const char *pid, const char *tid, const char *ns, struct stat *ret)
{
	char path[128];

	snprintf(path, sizeof(path), "/proc/%s%s%s/ns/%s", pid, tid ? "/task/" : "", tid ? tid : "",
		 ns);
	return stat(path, ret) < 0 ? -errno : 0;
}

/* "0 @base 65536", the one line of @pid's uid_map or gid_map @file. */
static bool map_is(pid_t pid, const char *file, uid_t base)
{
	char path[64], buf[256];
	unsigned a, b, n;
	int end = 0;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t len = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (len <= 0)
		return false;
	buf[len] = '\0';
	return sscanf(buf, " %u %u %u%n", &a, &b, &n, &end) == 3 && a == 0 && b == base &&
	       n == IDMAP_SIZE && strspn(buf + end, " \n") == strlen(buf + end);
}

/* One thread of the container, stopped: in the container's user namespace, its own pid
 * and mount namespaces, with no_new_privs and a seccomp filter. */
static bool task_confined(const char *pid, const char *tid, const struct stat *user)
{
	struct stat u, p, m, hp, hm;
	char path[300], line[256];
	int nnp = 0, secc = 0;

	if (ns_of(pid, tid, "user", &u) < 0 || ns_of(pid, tid, "pid", &p) < 0 ||
	    ns_of(pid, tid, "mnt", &m) < 0 || ns_of("self", NULL, "pid", &hp) < 0 ||
	    ns_of("self", NULL, "mnt", &hm) < 0)
		return false;
	if (u.st_ino != user->st_ino || u.st_dev != user->st_dev || p.st_ino == hp.st_ino ||
	    m.st_ino == hm.st_ino)
		return false;
	snprintf(path, sizeof(path), "/proc/%s/task/%s/status", pid, tid);
	FILE *f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		nnp |= !strcmp(line, "NoNewPrivs:\t1\n");
		secc |= !strcmp(line, "Seccomp:\t2\n");
	}
	if (f)
		fclose(f);
	return nnp && secc;
}

/* What CRIU made is held to what create makes, whatever its images say (they are read as
 * root): its PID 1 in a user namespace of its own mapping the new ids alone, and every
 * thread in the container's cgroup confined (task_confined). Checked while all of them
 * are still stopped. */
static int rest_verify(struct rest *t)
{
	char pid1[16], path[PATH_MAX + 32];
	struct stat user, host;

	snprintf(pid1, sizeof(pid1), "%d", (int)t->st.pid);
	if (ns_of(pid1, NULL, "user", &user) < 0 || ns_of("self", NULL, "user", &host) < 0 ||
	    user.st_ino == host.st_ino || !map_is(t->st.pid, "uid_map", t->base) ||
	    !map_is(t->st.pid, "gid_map", t->base))
		return oci_error("restore %s: the restored container is not in a user namespace "
				 "of its own ids",
				 t->id);
	snprintf(path, sizeof(path), "%s/cgroup.procs", t->st.cg->v2_path);
	FILE *f = fopen(path, "re");
	int bad = f ? 0 : -1, n = 0;
	for (int pid; bad == 0 && f && fscanf(f, "%d", &pid) == 1; n++) {
		char p[16], tasks[64];
		snprintf(p, sizeof(p), "%d", pid);
		snprintf(tasks, sizeof(tasks), "/proc/%d/task", pid);
		DIR *d = opendir(tasks);
		bad = d ? 0 : pid;
		for (struct dirent *e; d && bad == 0 && (e = readdir(d));)
			if (e->d_name[0] != '.' && !task_confined(p, e->d_name, &user))
				bad = pid;
		if (d)
			closedir(d);
	}
	if (f)
		fclose(f);
	if (bad || !n)
		return oci_error("restore %s: a restored process (%d) is not confined as the "
				 "container's are (namespaces, no_new_privs, seccomp)",
				 t->id, bad);
	return 0;
}

/* criu restore, run in the new cgroups: the restored PID 1 in t->st.pid. */
static int rest_criu(struct rest *t)
{
	char out[PATH_MAX + 48], path[PATH_MAX + 16];
	_cleanup_free_ char *err = NULL;

	snprintf(out, sizeof(out), "%s/restore.out", t->work);
	int r = criu_exec(&(struct criu_run){ .bin = t->criu,
					      .argv = (const char *const *)t->argv,
					      .fds = t->fds,
					      .nfds = t->nfds,
					      .out_path = out,
					      .cg = t->st.cg,
					      .binds = { { t->userns_img, t->userns_over } },
					      .timeout_ns = CRIU_TIMEOUT_NS },
			  t->log, &err);
	(void)unlink(t->userns_img);
	rest_binds_drop(t);
	rest_view_drop(t);
	if (r < 0)
		return oci_error("restore %s: criu restore: %s", t->id, err ? err : strerror(-r));
	snprintf(path, sizeof(path), "%s/criu.pid", t->dir);
	FILE *f = fopen(path, "re");
	int pid = 0;
	if (!f || fscanf(f, "%d", &pid) != 1 || pid <= 1) {
		if (f)
			fclose(f);
		return oci_error("restore %s: criu restore left no pid", t->id);
	}
	fclose(f);
	(void)unlink(path);
	t->st.pid = pid;
	/* The restored processes hold their own copy of the root. */
	(void)umount2(t->root, MNT_DETACH);
	t->mounted = false;
	if (sandbox_start_time(pid, &t->st.start_time) < 0)
		return oci_error("restore %s: the restored container is gone", t->id);
	if (rest_verify(t) < 0)
		return -1;
	rest_resume(t);
	return 0;
}

/* Its record, as create and start leave one. */
static int rest_state(struct rest *t)
{
	struct timespec now;

	snprintf(t->st.id, sizeof(t->st.id), "%s", t->id);
	t->st.bundle = strdup(t->c.bundle);
	t->st.rootfs = strdup(t->c.rootfs);
	t->st.annotations = json_incref(t->c.annotations);
	t->st.seccomp = t->c.seccomp ? strdup(t->c.seccomp) : NULL;
	t->st.started = true;
	clock_gettime(CLOCK_REALTIME, &now);
	t->st.created_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	if (!t->st.bundle || !t->st.rootfs || (t->c.seccomp && !t->st.seccomp))
		return oci_error("restore %s: out of memory", t->id);
	return oci_state_save(&t->st) < 0 || write_pid_file(t->o->pid_file, t->st.pid) < 0 ? -1 : 0;
}

/* A restore that failed: what CRIU made of it (our children) killed and reaped, its
 * cgroups, ids, layer and directory gone. */
static void rest_unwind(struct rest *t)
{
	char path[PATH_MAX + 16];

	if (t->st.cg) {
		(void)cgroup_freeze(t->st.cg, false);
		(void)cgroup_kill(t->st.cg);
		/* The restored tree's root is our child (--restore-sibling): reaped, for at
		 * most 5 s (sbx-oci has no other child by now). */
		for (int i = 0; i < 500; i++) {
			pid_t p = waitpid(-1, NULL, WNOHANG);
			if (p < 0 && errno != EINTR)
				break;
			if (p == 0)
				nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
		}
		cgroup_destroy(t->st.cg);
		t->st.cg = NULL;
	}
	if (t->base)
		idmap_release(t->base);
	if (t->mounted)
		(void)umount2(t->root, MNT_DETACH);
	if (t->layered)
		layer_unmount(t->layer);
	(void)unlink(t->userns_img);
	rest_binds_drop(t);
	rest_view_drop(t);
	if (t->made) {
		snprintf(path, sizeof(path), "%s/state.json", t->dir);
		(void)unlink(path);
		snprintf(path, sizeof(path), "%s/criu.pid", t->dir);
		(void)unlink(path);
		(void)rmdir(t->dir);
	}
}

static int restore(struct rest *t)
{
	char *why = NULL;

	if (oci_config_load(t->o->bundle, &t->c) < 0 || ckpt_refusal("restore", &t->c) < 0)
		return -1;
	oci_config_root_layers(&t->c);
	if (criu_find(NULL, false, &t->criu, &why) < 0) {
		oci_error("restore %s: %s", t->id, why ? why : "CRIU is not available");
		free(why);
		return -1;
	}
	t->init_path = oci_init_path();
	if (!t->init_path)
		return oci_error("sbx-init not found beside sbx-oci (or SBX_INIT)");
	int r = rootfs_runtime_init(t->init_path, &t->init);
	if (r < 0)
		return oci_error("restore %s: sbx-init's copy: %s", t->id, strerror(-r));
	if (!realpath(t->o->image, t->image))
		return oci_error("restore %s: --image-path %s: %s", t->id, t->o->image,
				 strerror(errno));
	if (rest_meta(t) < 0)
		return -1;
	oci_dir(t->id, t->dir);
	if (mkdir(t->dir, 0700) < 0)
		return oci_error(errno == EEXIST ? "container \"%s\" already exists" : "%s: %s",
				 errno == EEXIST ? t->id : t->dir, strerror(errno));
	t->made = true;
	if (dir_make("restore", "--work-path", t->o->work ?: t->o->image, t->work) < 0 ||
	    rest_images_view(t) < 0)
		return -1;
	if (rest_sandbox(t) < 0 || rest_root(t) < 0 || rest_argv(t) < 0 || rest_criu(t) < 0)
		return -1;
	return rest_state(t);
}

int cmd_restore(int argc, char **argv)
{
	struct ckpt_opts o;
	struct rest t = { .o = &o, .userns = -1 };

	if (ckpt_args(argc, argv, &o, &t.id) < 0)
		return -1;
	int r = restore(&t);
	if (r < 0)
		rest_unwind(&t);

	strv_clear(t.argv, t.n);
	json_decref(t.meta);
	free(t.criu);
	free(t.init_path);
	free(t.init);
	if (t.userns >= 0)
		close(t.userns);
	if (t.c.json)
		oci_config_clear(&t.c);
	if (r == 0) {
		oci_register(&t.st);
		if (!o.detach) {
			int status = 0;
			pid_t pid = t.st.pid;
			oci_state_clear(&t.st);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		}
	}
	oci_state_clear(&t.st);
	return r < 0 ? -1 : 0;
}
