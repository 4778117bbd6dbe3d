// SPDX-License-Identifier: MIT
/* A container's record under --root: <root>/<id>/state.json, written whole and renamed
 * into place; its status read from the kernel (the process, its start time, the
 * freezer), never from the record alone. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../sandbox/macro.h"
#include "../../host/sys/usage.h"
#include "../../sandbox/sandbox.h"
#include "oci.h"

const char *oci_dir(const char *id, char *buf)
{
	snprintf(buf, PATH_MAX, "%s/%s", G.root, id);
	return buf;
}

int oci_state_save(const struct oci_state *s)
{
	char dir[PATH_MAX], path[PATH_MAX + 16];
	json_t *v1 = json_array();

	for (int c = 0; c < _CG_V1_MAX; c++)
		json_array_append_new(v1, s->cg && s->cg->v1_path[c]
						  ? json_string(s->cg->v1_path[c])
						  : json_null());
	json_t *j =
		json_pack("{s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:b, s:{s:s, s:s?, s:o}, "
			  "s:O?, s:o, s:s?}",
			  "id", s->id, "sbx_id", s->sbx_id, "bundle", s->bundle, "rootfs",
			  s->rootfs, "pid", (int)s->pid, "start_time", (json_int_t)s->start_time,
			  "created", (json_int_t)s->created_ns, "started", s->started, "cgroup",
			  "mode", s->cg ? cgroup_mode_name(s->cg->mode) : "", "v2",
			  s->cg ? s->cg->v2_path : NULL, "v1", v1, "annotations", s->annotations,
			  "limits", oci_limits_json(&s->limits), "seccomp", s->seccomp);
	if (!j)
		return oci_error("state of %s: out of memory", s->id);
	_cleanup_free_ char *text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!text)
		return oci_error("state of %s: out of memory", s->id);
	snprintf(path, sizeof(path), "%s/state.json", oci_dir(s->id, dir));
	int r = write_file_atomic(path, text, strlen(text));
	return r < 0 ? oci_error("%s: %s", path, strerror(-r)) : 0;
}

void oci_state_clear(struct oci_state *s)
{
	free(s->bundle);
	free(s->rootfs);
	free(s->seccomp);
	json_decref(s->annotations);
	if (s->cg)
		cgroup_forget(s->cg); /* the cgroups stay */
	*s = (struct oci_state){ 0 };
}

static int dup_str(json_t *j, const char *key, char **ret)
{
	const char *v = json_string_value(json_object_get(j, key));
	*ret = v ? strdup(v) : NULL;
	return v && !*ret ? -ENOMEM : 0;
}

int oci_state_load(const char *id, struct oci_state *s)
{
	char dir[PATH_MAX], path[PATH_MAX + 16];
	json_error_t jerr;
	size_t len;

	*s = (struct oci_state){ 0 };
	if (!spec_oci_id_valid(id))
		return oci_error("container id \"%s\": 1-%d of A-Z a-z 0-9 _ + - .", id,
				 SPEC_OCI_ID_MAX);
	snprintf(path, sizeof(path), "%s/state.json", oci_dir(id, dir));
	_cleanup_free_ char *text = read_text(path, 1 << 20, &len);
	if (!text) {
		if (errno == ENOENT) {
			oci_error("container \"%s\" does not exist", id);
			return -ENOENT;
		}
		return oci_error("%s: %s", path, strerror(errno));
	}
	json_t *j = json_loadb(text, len, 0, &jerr);
	if (!j)
		return oci_error("%s: %s", path, jerr.text);
	snprintf(s->id, sizeof(s->id), "%s", id);
	snprintf(s->sbx_id, sizeof(s->sbx_id), "%s",
		 json_string_value(json_object_get(j, "sbx_id")) ?: "");
	s->pid = (pid_t)json_integer_value(json_object_get(j, "pid"));
	s->start_time = (uint64_t)json_integer_value(json_object_get(j, "start_time"));
	s->created_ns = json_integer_value(json_object_get(j, "created"));
	s->started = json_is_true(json_object_get(j, "started"));
	s->annotations = json_incref(json_object_get(j, "annotations"));
	json_t *lim = json_object_get(j, "limits");
	s->limits = (struct sandbox_limits){
		.memory_bytes = (uint64_t)json_integer_value(json_object_get(lim, "memory")),
		.cpu_milli = (uint32_t)json_integer_value(json_object_get(lim, "cpu_milli")),
		.cpu_shares = (uint32_t)json_integer_value(json_object_get(lim, "cpu_shares")),
		.pids = (uint64_t)json_integer_value(json_object_get(lim, "pids")),
	};
	int r = dup_str(j, "bundle", &s->bundle);
	if (r == 0)
		r = dup_str(j, "rootfs", &s->rootfs);
	if (r == 0)
		r = dup_str(j, "seccomp", &s->seccomp);
	json_t *cg = json_object_get(j, "cgroup");
	const char *mode = json_string_value(json_object_get(cg, "mode"));
	const char *v2 = json_string_value(json_object_get(cg, "v2"));
	const char *v1[_CG_V1_MAX] = { NULL };
	for (int c = 0; c < _CG_V1_MAX; c++)
		v1[c] = json_string_value(json_array_get(json_object_get(cg, "v1"), (size_t)c));
	if (r == 0 && v2 && mode)
		r = cgroup_from_paths(strcmp(mode, "hybrid") ? CGROUP_UNIFIED : CGROUP_HYBRID, v2,
				      v1, &s->cg);
	json_decref(j);
	if (r < 0) {
		oci_state_clear(s);
		return oci_error("%s: %s", path, strerror(-r));
	}
	return 0;
}

json_t *oci_limits_json(const struct sandbox_limits *l)
{
	return json_pack("{s:I, s:i, s:i, s:I}", "memory", (json_int_t)l->memory_bytes, "cpu_milli",
			 (int)l->cpu_milli, "cpu_shares", (int)l->cpu_shares, "pids",
			 (json_int_t)l->pids);
}

bool oci_alive(const struct oci_state *s)
{
	/* The same process, not a later one that got its pid. */
	return sandbox_running(s->pid, s->start_time);
}

static bool frozen(const struct oci_state *s)
{
	char path[PATH_MAX];
	uint64_t v = 0;

	if (!s->cg || !s->cg->v2_path)
		return false;
	snprintf(path, sizeof(path), "%s/cgroup.events", s->cg->v2_path);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	(void)usage_pread(fd, "frozen", &v);
	close(fd);
	return v == 1;
}

const char *oci_status(const struct oci_state *s)
{
	if (!oci_alive(s))
		return "stopped";
	if (frozen(s))
		return "paused";
	return s->started ? "running" : "created";
}
