// SPDX-License-Identifier: MIT
/* The /v1 API: authentication, routing, and the handlers that answer from memory. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../sandbox/macro.h"
#include "../../sandbox/spec.h"
#include "../../sandbox/text.h"
#include "e2b.h"
#include "edge.h"
#include "../domain/images.h"
#include "../sys/store.h"

/* Who is asking: NULL (admin) or a tenant name in *ret. Answers 401 and returns false
 * when a token is missing (TCP) or unknown. */
static bool authenticate(struct conn *c, struct http_request *req, char **ret)
{
	const char *h = http_request_header(req, "Authorization");

	*ret = NULL;
	if (!h) {
		if (!c->tcp)
			return true; /* the unix socket's peers are the host's admins */
		respond_error(c, 401, "unauthorized", "missing Authorization: Bearer token");
		return false;
	}
	if (strncasecmp(h, "Bearer ", 7) || !h[7]) {
		respond_error(c, 401, "unauthorized", "Authorization must be \"Bearer TOKEN\"");
		return false;
	}
	int r = store_tenant_by_token(D.store, h + 7, ret);
	if (r < 0) {
		respond_error(c, 401, "unauthorized",
			      r == -ENOENT ? "unknown token" : "cannot check the token");
		return false;
	}
	return true;
}

static void hand_off(struct conn *c, struct http_request *req, struct box *b, uint16_t port,
		     const char *drop, bool upgrade);

static void handle_health(struct conn *c)
{
	json_t *features =
		json_pack("{s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b}", "sandboxes", 1, "exec", 1, "files",
			  1, "user_ns", D.user_ns_ok, "metering", D.meter != NULL, "checkpoint",
			  D.criu != NULL, "gpus", D.ngpus > 0, "network", D.net_on);
	json_t *j = json_pack("{s:s,s:s,s:s,s:o,s:{s:i,s:i},s:I}", "status",
			      D.stopping ? "stopping" : "ok", "version", SBX_VERSION, "cgroup_mode",
			      cgroup_mode_name(D.cgmode), "features", features, "sandboxes", "live",
			      (int)D.live, "max", (int)D.opt.max_sandboxes, "uptime_ms",
			      (json_int_t)((mono_ns() - D.started_mono) / 1000000));
	if (!D.criu)
		json_object_set_new(j, "checkpoint_off",
				    json_string(D.criu_why ? D.criu_why : "CRIU unavailable"));
	if (!D.meter)
		json_object_set_new(j, "metering_off",
				    json_string(D.meter_why ? D.meter_why : "eBPF unavailable"));
	if (!D.net_on)
		json_object_set_new(j, "network_off",
				    json_string(D.net_why ? D.net_why : "unknown"));
	if (D.opt.warm)
		json_object_set_new(j, "warm", warm_json());
	json_object_set_new(j, "ledger", json_string(D.ledger_error ? D.ledger_error : "ok"));
	json_object_set_new(j, "state_db", json_string(D.store_error ? D.store_error : "ok"));
	json_object_set_new(j, "device_allowlist",
			    json_string(D.devices	? "on"
					: D.devices_why ? D.devices_why
							: "off"));
	respond_json(c, 200, j);
}

/* The host's GPUs; a tenant sees which it holds, and that the others are taken. */
static void handle_gpus(struct conn *c)
{
	json_t *arr = json_array();
	for (unsigned i = 0; i < D.ngpus; i++) {
		const struct gpu *g = &D.gpus[i];
		bool mine = g->holder && (!c->tenant || !strcmp(c->tenant, g->holder->tenant));
		json_t *o = json_pack("{s:i,s:s,s:s,s:b}", "index", (int)i, "device", g->nodes[0],
				      "model", g->model, "free", g->holder == NULL);
		json_t *nodes = json_array();
		for (unsigned k = 0; k < g->nnodes; k++)
			json_array_append_new(nodes, json_string(g->nodes[k]));
		json_object_set_new(o, "nodes", nodes);
		json_object_set_new(o, "bus", g->bus ? json_string(g->bus) : json_null());
		json_object_set_new(o, "sandbox", mine ? json_string(g->holder->id) : json_null());
		json_array_append_new(arr, o);
	}
	respond_json(c, 200, json_pack("{s:o}", "gpus", arr));
}

static bool label_match(const struct box *b, const char *kv)
{
	const char *eq = strchr(kv, '=');
	size_t klen = eq ? (size_t)(eq - kv) : strlen(kv);

	for (char **l = b->req.labels; l && l[0]; l += 2)
		if (strlen(l[0]) == klen && !strncmp(l[0], kv, klen) &&
		    (!eq || !strcmp(l[1], eq + 1)))
			return true;
	return false;
}

static void handle_list(struct conn *c, struct http_request *req)
{
	_cleanup_free_ char *state = NULL, *label = NULL, *usage = NULL;
	json_t *arr = json_array();

	if ((req->query && http_query_get(req->query, "state", &state) == -EINVAL) ||
	    (req->query && http_query_get(req->query, "label", &label) == -EINVAL) ||
	    (req->query && http_query_get(req->query, "usage", &usage) == -EINVAL)) {
		json_decref(arr);
		respond_error(c, 400, "bad_request", "query: bad percent-encoding");
		return;
	}
	for (struct box *b = D.boxes; b; b = b->next) {
		if (c->tenant && strcmp(c->tenant, b->tenant))
			continue;
		if (state && strcmp(state, box_state_name(b->state)))
			continue;
		if (label && !label_match(b, label))
			continue;
		json_t *j = box_json(b);
		if (usage && strcmp(usage, "0"))
			json_object_set_new(j, "usage", box_usage_json(b));
		json_array_append_new(arr, j);
	}
	respond_json(c, 200, json_pack("{s:o}", "sandboxes", arr));
}

static void handle_timeout(struct conn *c, struct box *b, struct http_request *req)
{
	json_error_t jerr;
	uint64_t ns = 0;
	json_t *j = json_loadb(req->body ? req->body : "", req->body_len, JSON_REJECT_DUPLICATES,
			       &jerr);
	json_t *t = j ? json_object_get(j, "timeout") : NULL;
	int r = -EINVAL;

	if (j && json_is_object(j) && json_object_size(j) == 1 && t) {
		if (json_is_string(t))
			r = spec_parse_duration(json_string_value(t), &ns);
		else if (json_is_integer(t) && json_integer_value(t) > 0 &&
			 json_integer_value(t) < (json_int_t)(UINT64_MAX / 1000000000))
			r = 0, ns = (uint64_t)json_integer_value(t) * 1000000000ULL;
	}
	json_decref(j);
	if (r < 0 || ns == 0) {
		respond_error(c, 400, "bad_request",
			      "body must be {\"timeout\": DURATION} (\"10m\" or 600), above zero");
		return;
	}
	r = box_set_timeout(b, ns);
	if (r == -ESRCH) {
		respond_error(c, 409, "conflict", "sandbox %s is %s", b->id,
			      box_state_name(b->state));
		return;
	}
	respond_json(c, 200, box_json(b));
}

/* ?path=: an absolute path, no NUL, shorter than PATH_MAX. Answers 400 otherwise. */
static bool file_path(struct conn *c, struct http_request *req, char **ret)
{
	int r = req->query ? http_query_get(req->query, "path", ret) : -ENOENT;
	if (r < 0 || !apispec_file_path_valid(*ret)) {
		respond_error(c, 400, "bad_request",
			      "path: an absolute path inside the sandbox is required "
			      "(?path=/tmp/file)");
		return false;
	}
	return true;
}

/* A domain call's outcome: answered through the reply (0), or refused now. */
static void answer(struct conn *c, int r, const struct why *why)
{
	if (r < 0)
		respond_fail(c, r, why->msg);
}

static bool method_is(struct conn *c, struct http_request *req, int m1, int m2)
{
	if (req->method == m1 || req->method == m2)
		return true;
	respond_error(c, 405, "method_not_allowed", "%s is not allowed on %s", req->method_name,
		      req->path);
	return false;
}

/* A running OCI container is containerd's to run, exec in and stop: here it is only
 * looked at (GET). Answers 409 and returns true when @req would do more. */
static bool oci_refused(struct conn *c, struct http_request *req, const struct box *b)
{
	if (!box_oci_container(b) || b->state != BOX_RUNNING || req->method == HTTP_GET ||
	    req->method == HTTP_HEAD)
		return false;
	respond_error(c, 409, "conflict",
		      "sandbox %s is container %.128s of containerd (sbx-oci): run, exec in and "
		      "stop it there",
		      b->id, box_oci_container(b));
	return true;
}

/* POST /v1/oci/containers and /v1/oci/containers/ID/end: sbx-oci's registrations (the
 * host's admins only). */
static void route_oci(struct conn *c, struct http_request *req, char **parts, int n)
{
	struct why why = { "" };
	json_t *j = NULL;

	if (c->tenant || (n != 3 && (n != 5 || strcmp(parts[4], "end")))) {
		respond_error(c, 404, "not_found", "no such endpoint");
		return;
	}
	if (!method_is(c, req, HTTP_POST, HTTP_POST))
		return;
	int r = oci_register(req->body ? req->body : "", req->body_len, n == 5,
			     n == 5 ? parts[3] : NULL, &j, &why);
	if (r < 0)
		respond_fail(c, r, why.msg);
	else
		respond_json(c, n == 5 ? 200 : 201, j);
}

static void route_sandbox(struct conn *c, struct http_request *req, const char *id, const char *sub)
{
	struct box *b = box_find(id, c->tenant);
	struct why why;
	char safe[40];

	if (!b) {
		size_t n = strlen(id);
		snprintf(safe, sizeof(safe), "%.*s%s", 24, id, n > 24 ? "..." : "");
		for (char *p = safe; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == '"' || *p == '\\' ||
			    (unsigned char)*p >= 0x7f)
				*p = '?';
		respond_error(c, 404, "not_found", "no sandbox %s", safe);
		return;
	}
	if (oci_refused(c, req, b))
		return;
	if (!sub) {
		if (!method_is(c, req, HTTP_GET, HTTP_DELETE))
			return;
		if (req->method == HTTP_GET)
			respond_json(c, 200, box_json(b));
		else
			answer(c, box_delete(&c->reply, b, &why), &why);
		return;
	}
	if (!strcmp(sub, "exec")) {
		struct api_exec e = { 0 };
		_cleanup_free_ char *err = NULL, *stream = NULL;
		if (!method_is(c, req, HTTP_POST, HTTP_POST))
			return;
		if (req->query && http_query_get(req->query, "stream", &stream) == -EINVAL) {
			respond_error(c, 400, "bad_request", "query: bad percent-encoding");
			return;
		}
		int r = apispec_parse_exec(req->body ? req->body : "", req->body_len, &e, &err);
		if (r < 0) {
			respond_error(c, 400, "bad_request", "%s", err ? err : strerror(-r));
			return;
		}
		bool on = stream && strcmp(stream, "0") && strcmp(stream, "false");
		answer(c, exec_start(&c->reply, b, &e, on, &why), &why);
		return;
	}
	if (!strcmp(sub, "files")) {
		_cleanup_free_ char *path = NULL;
		/* A PUT never comes here: api_begin() streams its body (begin_upload). */
		if (req->method != HTTP_GET && req->method != HTTP_DELETE) {
			respond_error(c, 405, "method_not_allowed", "%s is not allowed on %s",
				      req->method_name, req->path);
			return;
		}
		if (!file_path(c, req, &path))
			return;
		enum file_op op = req->method == HTTP_GET ? FILE_GET : FILE_RM;
		answer(c, box_files(&c->reply, b, op, path, 0, &why), &why);
		return;
	}
	if (!strcmp(sub, "timeout")) {
		if (method_is(c, req, HTTP_POST, HTTP_POST))
			handle_timeout(c, b, req);
		return;
	}
	if (!strcmp(sub, "connect")) {
		/* POST .../connect?port=N with "Upgrade: tcp": a byte stream to that port. */
		_cleanup_free_ char *p = NULL;
		const char *up = http_request_header(req, "Upgrade");
		char *end;
		if (!method_is(c, req, HTTP_POST, HTTP_POST))
			return;
		unsigned long port = 0;
		if (req->query && http_query_get(req->query, "port", &p) == 0 && p)
			port = strtoul(p, &end, 10);
		if (!p || !*p || *end || port < 1 || port > 65535 || !up || strcasecmp(up, "tcp")) {
			respond_error(c, 400, "bad_request",
				      "connect: needs ?port=1-65535 and \"Upgrade: tcp\"");
			return;
		}
		hand_off(c, req, b, (uint16_t)port, NULL, true);
		return;
	}
	if (!strcmp(sub, "network")) {
		if (method_is(c, req, HTTP_PUT, HTTP_PUT))
			answer(c,
			       box_set_network(&c->reply, b, req->body ? req->body : "",
					       req->body_len, &why),
			       &why);
		return;
	}
	if (!strcmp(sub, "usage")) {
		if (method_is(c, req, HTTP_GET, HTTP_GET))
			respond_json(c, 200, box_usage_json(b));
		return;
	}
	if (!strcmp(sub, "checkpoint") || !strcmp(sub, "fork")) {
		if (!method_is(c, req, HTTP_POST, HTTP_POST))
			return;
		int r;
		if (sub[0] == 'c')
			r = snap_checkpoint(&c->reply, b, req->body, req->body_len, &why);
		else
			r = snap_fork(&c->reply, b, req->body, req->body_len, &why);
		answer(c, r, &why);
		return;
	}
	if (!strcmp(sub, "logs")) {
		_cleanup_free_ char *follow = NULL;
		if (!method_is(c, req, HTTP_GET, HTTP_GET))
			return;
		if (req->query && http_query_get(req->query, "follow", &follow) == -EINVAL) {
			respond_error(c, 400, "bad_request", "query: bad percent-encoding");
			return;
		}
		bool on = follow && strcmp(follow, "0") && strcmp(follow, "false");
		answer(c, box_logs(&c->reply, b, on, &why), &why);
		return;
	}
	respond_error(c, 404, "not_found", "no such endpoint: %s", sub);
}

static void route_snapshot(struct conn *c, struct http_request *req, const char *id,
			   const char *sub)
{
	if (!id) {
		if (method_is(c, req, HTTP_GET, HTTP_HEAD))
			respond_json(c, 200, snap_list(c->tenant));
		return;
	}
	struct snap *s = snap_find(id, c->tenant);
	struct why why;
	if (!s) {
		char safe[40];
		text_printable(id, safe, sizeof(safe));
		respond_error(c, 404, "not_found", "no snapshot %s", safe);
		return;
	}
	if (!sub) {
		if (!method_is(c, req, HTTP_GET, HTTP_DELETE))
			return;
		if (req->method == HTTP_GET)
			respond_json(c, 200, snap_json(s));
		else
			answer(c, snap_delete(&c->reply, s, &why), &why);
		return;
	}
	if (strcmp(sub, "restore")) {
		respond_error(c, 404, "not_found", "no such endpoint: %s", sub);
		return;
	}
	if (method_is(c, req, HTTP_POST, HTTP_POST))
		answer(c, snap_restore_api(&c->reply, s, req->body, req->body_len, &why), &why);
}

/* The path's segments (at most 5; *ret_n is 6 when there are more). */
char *split_path(const char *p, char **parts, int *ret_n)
{
	char *path = strdup(p ? p : "");
	int n = 0;

	if (!path)
		return NULL;
	for (char *save = NULL, *t = strtok_r(path, "/", &save); t;
	     t = strtok_r(NULL, "/", &save)) {
		if (n == 5) {
			n++;
			break;
		}
		parts[n++] = t;
	}
	*ret_n = n;
	return path;
}

/* PUT .../files streams: the sandbox's helper takes the body as it arrives. */
static bool begin_upload(struct conn *c, struct http_request *req, const char *id)
{
	_cleanup_free_ char *path = NULL;
	struct box *b = box_find(id, c->tenant);

	if (!b) {
		char safe[40];
		respond_error(c, 404, "not_found", "no sandbox %s",
			      text_printable(id, safe, sizeof(safe)));
		return false;
	}
	if (oci_refused(c, req, b))
		return false;
	if (!file_path(c, req, &path))
		return false;
	if (req->chunked || req->content_length < 0) {
		respond_error(c, 411, "length_required",
			      "an upload needs Content-Length (at most %" PRIu64 " bytes)",
			      D.opt.max_file);
		return false;
	}
	if ((uint64_t)req->content_length > D.opt.max_file) {
		respond_error(c, 413, "too_large",
			      "file larger than the limit of %" PRIu64 " bytes", D.opt.max_file);
		return false;
	}
	struct why why;
	int r = box_files(&c->reply, b, FILE_PUT, path, (uint64_t)req->content_length, &why);
	answer(c, r, &why);
	return r == 0;
}

/* A query flag: "1" or "true". */
static bool query_flag(const struct http_request *req, const char *key)
{
	_cleanup_free_ char *v = NULL;
	return req->query && http_query_get(req->query, key, &v) == 0 && v &&
	       (!strcmp(v, "1") || !strcmp(v, "true"));
}

/* POST /v1/images?name=N: the body, an archive, streams into an import; with
 * &recipe=R (no body), a build. Answered with the job. */
static bool begin_image(struct conn *c, struct http_request *req)
{
	_cleanup_free_ char *name = NULL, *recipe = NULL, *slim = NULL;
	struct why why;
	int r;

	if (req->query && (http_query_get(req->query, "name", &name) == -EINVAL ||
			   http_query_get(req->query, "recipe", &recipe) == -EINVAL ||
			   http_query_get(req->query, "slim_from", &slim) == -EINVAL)) {
		respond_error(c, 400, "bad_request", "query: bad percent-encoding");
		return false;
	}
	if (slim) {
		r = images_slim(&c->reply, c->tenant, name, slim, &why);
		answer(c, r, &why);
		return false;
	}
	if (recipe) {
		r = images_build(&c->reply, c->tenant, recipe, name, &why);
		answer(c, r, &why);
		return false; /* no body to stream: the request is answered once it is read */
	}
	if (req->chunked || req->content_length < 0) {
		respond_error(c, 411, "length_required",
			      "an import needs Content-Length (at most %" PRIu64 " bytes)",
			      D.opt.max_image);
		return false;
	}
	r = images_import(&c->reply, c->tenant, name, query_flag(req, "public"),
			  query_flag(req, "keep_setuid"), req->content_length, &why);
	answer(c, r, &why);
	return r == 0;
}

static void route_image(struct conn *c, struct http_request *req, const char *name)
{
	struct why why;
	json_t *j = NULL;

	if (!name) {
		if (method_is(c, req, HTTP_GET, HTTP_HEAD))
			respond_json(c, 200, images_list(c->tenant));
		return;
	}
	if (!method_is(c, req, HTTP_GET, HTTP_DELETE))
		return;
	if (req->method == HTTP_DELETE) {
		int r = images_delete(c->tenant, name, &why);
		if (r == 0)
			respond_json(c, 200, json_pack("{s:s}", "deleted", name));
		answer(c, r, &why);
		return;
	}
	int r = images_get(c->tenant, name, &j, &why);
	if (r == 0)
		respond_json(c, 200, j);
	answer(c, r, &why);
}

static void route_template(struct conn *c, struct http_request *req, const char *name)
{
	struct why why;
	json_t *j = NULL;
	int r;

	if (!name) {
		if (!method_is(c, req, HTTP_GET, HTTP_POST))
			return;
		if (req->method == HTTP_GET) {
			respond_json(c, 200, templates_list(c->tenant));
			return;
		}
		r = templates_add(c->tenant, req->body ? req->body : "", req->body_len, &j, &why);
		if (r == 0)
			respond_json(c, 201, j);
		answer(c, r, &why);
		return;
	}
	if (!method_is(c, req, HTTP_GET, HTTP_DELETE))
		return;
	if (req->method == HTTP_DELETE) {
		answer(c, templates_delete(&c->reply, c->tenant, name, &why), &why);
		return;
	}
	r = templates_get(c->tenant, name, &j, &why);
	if (r == 0)
		respond_json(c, 200, j);
	answer(c, r, &why);
}

/* POST /v1/sandboxes {"template": NAME}: a restore of the template, nothing else asked. */
static bool create_from_template(struct conn *c, struct http_request *req)
{
	json_t *body = json_loadb(req->body ? req->body : "", req->body_len, 0, NULL);
	json_t *t = json_object_get(body, "template");
	struct why why;

	if (!t) {
		json_decref(body);
		return false;
	}
	if (!json_is_string(t) || json_object_size(body) != 1)
		respond_error(
			c, 400, "bad_request",
			"template: a sandbox from a template takes only {\"template\": NAME}");
	else
		answer(c, templates_launch(&c->reply, c->tenant, json_string_value(t), &why), &why);
	json_decref(body);
	return true;
}

/* "8080-0123456789ab.DOMAIN": the Host of a sandbox's published port. */
static bool port_host(const struct http_request *req, uint16_t *ret_port, char id[13])
{
	const char *h = http_request_header(req, "Host"), *i;
	char *end;

	if (!h || !isdigit((unsigned char)h[0]))
		return false;
	unsigned long port = strtoul(h, &end, 10);
	if (*end != '-' || end - h > 5 || port < 1 || port > 65535)
		return false;
	i = end + 1;
	for (int k = 0; k < 12; k++)
		if (!isdigit((unsigned char)i[k]) && !(i[k] >= 'a' && i[k] <= 'f'))
			return false;
	/* Then ".DOMAIN" (sbxd --domain), an optional port, and nothing else. */
	size_t dl = strlen(D.opt.domain);
	if (i[12] != '.' || strncasecmp(i + 13, D.opt.domain, dl) ||
	    (i[13 + dl] && (i[13 + dl] != ':' || !isdigit((unsigned char)i[14 + dl]) ||
			    strspn(i + 14 + dl, "0123456789") != strlen(i + 14 + dl))))
		return false;
	memcpy(id, i, 12);
	id[12] = '\0';
	*ret_port = (uint16_t)port;
	return true;
}

/* The token of a request to a published port: X-Sbx-Token, or Authorization: Bearer. */
static const char *port_token(const struct http_request *req)
{
	const char *t = http_request_header(req, "X-Sbx-Token");
	if (t)
		return t;
	t = http_request_header(req, "Authorization");
	return t && !strncasecmp(t, "Bearer ", 7) && t[7] ? t + 7 : NULL;
}

/* Whether the request's Authorization carries a token of sbxd's (any tenant's, whether
 * or not it was the one checked): such a header never reaches a sandbox. */
static bool auth_is_sbxd(const struct http_request *req)
{
	const char *a = http_request_header(req, "Authorization");
	_cleanup_free_ char *t = NULL;
	return a && !strncasecmp(a, "Bearer ", 7) && a[7] &&
	       store_tenant_by_token(D.store, a + 7, &t) == 0;
}

/* The connection goes to the sandbox's port with what it sent: the request's head again
 * (less sbxd's token) and what followed it. The edge lets it go. */
static void hand_off(struct conn *c, struct http_request *req, struct box *b, uint16_t port,
		     const char *drop, bool upgrade)
{
	struct why why;
	char *head = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&head, &len);

	if (!f) {
		respond_error(c, 500, "internal", "out of memory");
		return;
	}
	if (!upgrade) {
		/* No token of sbxd's goes on (X-Sbx-Token never; Authorization when it
		 * carries one: @drop), nor a client's own X-Forwarded-For. */
		fprintf(f, "%s %s HTTP/1.1\r\n", req->method_name, req->url);
		for (size_t i = 0; i < req->nheaders; i++) {
			const char *n = req->headers[i].name;
			if ((drop && !strcasecmp(n, drop)) || !strcasecmp(n, "X-Sbx-Token") ||
			    !strcasecmp(n, "X-Forwarded-For"))
				continue;
			fprintf(f, "%s: %s\r\n", n, req->headers[i].value);
		}
		fprintf(f, "X-Forwarded-For: %s\r\n\r\n", c->peer);
	}
	fwrite(c->in + c->in_off, 1, c->in_len - c->in_off, f);
	if (fclose(f) != 0) {
		free(head);
		respond_error(c, 500, "internal", "out of memory");
		return;
	}
	int fd = c->sending || out_pending(c) ? -1 : fcntl(c->fd, F_DUPFD_CLOEXEC, 3);
	int r = fd < 0 ? why_set(&why, -EAGAIN, "answers to earlier requests are still being sent")
		       : box_port_connect(b, port, fd, head, len, upgrade, &why);
	free(head);
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		answer(c, r, &why);
		return;
	}
	c->in_off = c->in_len;
	c->reading = false;
	c->handed_off = true;
	conn_close(c);
}

/* A request to a published port (the Host names it): the tenant's token unless public. */
static void port_request(struct conn *c, struct http_request *req, uint16_t port, const char *id)
{
	struct box *b = box_find(id, NULL);
	_cleanup_free_ char *tenant = NULL;
	const char *tok;
	bool pub = false;

	if (!b || b->state != BOX_RUNNING)
		b = e2b_port_box(id); /* a resumed E2B sandbox, by its first id */
	if (!b || !box_port_published(b, port, &pub)) {
		respond_error(c, 404, "not_found", "no published port %u of sandbox %s", port, id);
		return;
	}
	if (!pub && !e2b_traffic_ok(b, req)) {
		if (!(tok = port_token(req))) {
			respond_error(
				c, 401, "unauthorized",
				"port %u of sandbox %s needs its tenant's token (X-Sbx-Token, "
				"or Authorization: Bearer)",
				port, id);
			return;
		}
		if (store_tenant_by_token(D.store, tok, &tenant) < 0 || strcmp(tenant, b->tenant)) {
			respond_error(c, 404, "not_found", "no published port %u of sandbox %s",
				      port, id);
			return;
		}
	}
	hand_off(c, req, b, port, auth_is_sbxd(req) ? "Authorization" : NULL, false);
}

bool api_begin(struct conn *c, struct http_request *req)
{
	char *parts[5] = { 0 };
	char id[13];
	uint16_t port;
	int n;

	conn_reply_init(c);
	c->e2b = 0;
	if (c->tcp && port_host(req, &port, id)) {
		port_request(c, req, port, id);
		return false;
	}
	if (e2b_claims(req))
		return e2b_begin(c, req);
	if (!authenticate(c, req, &c->tenant))
		return false;
	if (c->tcp && !conn_admit(c, c->tenant))
		return false;
	if (req->method != HTTP_PUT && req->method != HTTP_POST)
		return true;
	_cleanup_free_ char *path = split_path(req->path, parts, &n);
	if (!path) {
		respond_error(c, 500, "internal", "out of memory");
		return false;
	}
	if (req->method == HTTP_PUT && n == 4 && !strcmp(parts[0], "v1") &&
	    !strcmp(parts[1], "sandboxes") && !strcmp(parts[3], "files"))
		return begin_upload(c, req, parts[2]);
	if (req->method == HTTP_POST && n == 2 && !strcmp(parts[0], "v1") &&
	    !strcmp(parts[1], "images"))
		return begin_image(c, req);
	return true;
}

void api_handle(struct conn *c, struct http_request *req)
{
	char *parts[5] = { 0 };
	int n = 0;
	_cleanup_free_ char *path = split_path(req->path, parts, &n);

	if (c->e2b) {
		e2b_handle(c, req);
		return;
	}
	if (!path) {
		respond_error(c, 500, "internal", "out of memory");
		return;
	}
	if (n == 1 && !strcmp(parts[0], "metrics")) {
		if (c->tenant) { /* every tenant's series: the host's admins only */
			respond_error(c, 404, "not_found", "no such endpoint");
			return;
		}
		if (method_is(c, req, HTTP_GET, HTTP_HEAD))
			metrics_handle(c);
		return;
	}
	if (n == 2 && !strcmp(parts[0], "v1") && !strcmp(parts[1], "usage")) {
		if (method_is(c, req, HTTP_GET, HTTP_HEAD))
			export_usage(c, req);
		return;
	}
	if (n == 2 && !strcmp(parts[0], "v1") && !strcmp(parts[1], "rates")) {
		if (method_is(c, req, HTTP_GET, HTTP_HEAD))
			export_rates(c);
		return;
	}
	if (n == 3 && !strcmp(parts[0], "v1") && !strcmp(parts[1], "ledger") &&
	    !strcmp(parts[2], "verify")) {
		if (c->tenant) { /* the whole chain: the host's admins only */
			respond_error(c, 404, "not_found", "no such endpoint");
			return;
		}
		if (method_is(c, req, HTTP_GET, HTTP_HEAD))
			export_verify(c);
		return;
	}
	if (n == 2 && !strcmp(parts[0], "v1") && !strcmp(parts[1], "gpus")) {
		if (method_is(c, req, HTTP_GET, HTTP_HEAD))
			handle_gpus(c);
		return;
	}
	if (n == 2 && !strcmp(parts[0], "v1") && !strcmp(parts[1], "health")) {
		if (method_is(c, req, HTTP_GET, HTTP_HEAD))
			handle_health(c);
		return;
	}
	if (n >= 2 && n <= 4 && !strcmp(parts[0], "v1") && !strcmp(parts[1], "sandboxes")) {
		if (n == 2) {
			if (!method_is(c, req, HTTP_GET, HTTP_POST))
				return;
			if (req->method == HTTP_GET) {
				handle_list(c, req);
			} else if (!create_from_template(c, req)) {
				struct why why;
				int r = box_create(&c->reply, c->tenant, req->body ? req->body : "",
						   req->body_len, &why);
				answer(c, r, &why);
			}
			return;
		}
		route_sandbox(c, req, parts[2], n == 4 ? parts[3] : NULL);
		return;
	}
	if (n >= 3 && n <= 5 && !strcmp(parts[0], "v1") && !strcmp(parts[1], "oci") &&
	    !strcmp(parts[2], "containers")) {
		route_oci(c, req, parts, n);
		return;
	}
	if (n >= 2 && n <= 3 && !strcmp(parts[0], "v1") && !strcmp(parts[1], "images")) {
		/* A POST to /v1/images streamed (api_begin); one here is of a subpath. */
		route_image(c, req, n == 3 ? parts[2] : NULL);
		return;
	}
	if (n >= 2 && n <= 3 && !strcmp(parts[0], "v1") && !strcmp(parts[1], "templates")) {
		route_template(c, req, n == 3 ? parts[2] : NULL);
		return;
	}
	if (n == 3 && !strcmp(parts[0], "v1") && !strcmp(parts[1], "jobs")) {
		struct why why;
		json_t *j = NULL;
		if (!method_is(c, req, HTTP_GET, HTTP_HEAD))
			return;
		if (query_flag(req, "follow")) {
			answer(c, images_job_follow(&c->reply, c->tenant, parts[2], &why), &why);
			return;
		}
		int r = images_job(c->tenant, parts[2], &j, &why);
		if (r == 0)
			respond_json(c, 200, j);
		answer(c, r, &why);
		return;
	}
	if (n >= 2 && n <= 4 && !strcmp(parts[0], "v1") && !strcmp(parts[1], "snapshots")) {
		route_snapshot(c, req, n > 2 ? parts[2] : NULL, n == 4 ? parts[3] : NULL);
		return;
	}
	respond_error(c, 404, "not_found",
		      "no such endpoint (the API is under /v1; see GET /v1/health)");
}
