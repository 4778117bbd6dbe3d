// SPDX-License-Identifier: MIT
/* sbx image: the image store of sbxd. ls, inspect and rm call it once; import uploads an
 * archive (a directory is made into a tar first) and build asks for a recipe, then both
 * follow their job: a progress bar on a terminal, a line a step otherwise. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../sandbox/macro.h"
#include "sbx.h"

enum {
	OPT_NAME = OPT_VERB,
	OPT_PUBLIC,
	OPT_SETUID,
};

struct image_args {
	const char *sock, *name, *arg;
	bool json, public_, keep_setuid;
};

static int image_parse(int argc, char **argv, struct image_args *a)
{
	static const struct option opts[] = {
		SBX_SOCKET_OPTION,
		SBX_JSON_OPTION,
		{ "name", required_argument, NULL, OPT_NAME },
		{ "public", no_argument, NULL, OPT_PUBLIC },
		{ "keep-setuid", no_argument, NULL, OPT_SETUID },
		{ 0 },
	};
	int c, at;

	while ((c = sbx_getopt(argc, argv, "-:", opts, &at)) != -1) {
		if (c == OPT_SOCKET)
			a->sock = optarg;
		else if (c == OPT_JSON)
			a->json = true;
		else if (c == OPT_NAME)
			a->name = optarg;
		else if (c == OPT_PUBLIC)
			a->public_ = true;
		else if (c == OPT_SETUID)
			a->keep_setuid = true;
		else if (c == 1 && !a->arg)
			a->arg = optarg;
		else
			return sbx_die("unexpected argument: %s", argv[at]);
	}
	if (optind < argc && !a->arg)
		a->arg = argv[optind++];
	if (optind < argc)
		return sbx_die("unexpected argument: %s", argv[optind]);
	return 0;
}

static void human(uint64_t b, char *out, size_t size)
{
	if (b >= (1ULL << 30))
		snprintf(out, size, "%.1f GiB", (double)b / (1ULL << 30));
	else if (b >= (1ULL << 20))
		snprintf(out, size, "%.1f MiB", (double)b / (1ULL << 20));
	else
		snprintf(out, size, "%.1f KiB", (double)b / 1024);
}

static int image_ls(const struct image_args *a)
{
	json_t *j, *v;
	size_t i;
	int r = sbx_call_json(sbx_socket_path(a->sock), "GET", "/v1/images", NULL, &j);

	if (r)
		return r;
	if (a->json) {
		r = sbx_print_json(json_object_get(j, "images"));
		json_decref(j);
		return r;
	}
	printf("%-24s %-14s %-8s %6s %10s\n", "NAME", "ID", "OWNER", "LAYERS", "SIZE");
	json_array_foreach (json_object_get(j, "images"), i, v) {
		char size[32];
		human((uint64_t)json_integer_value(json_object_get(v, "size_bytes")), size,
		      sizeof(size));
		printf("%-24s %-14.12s %-8s %6zu %10s\n",
		       json_string_value(json_object_get(v, "name")),
		       json_string_value(json_object_get(v, "id")),
		       json_string_value(json_object_get(v, "owner")),
		       json_array_size(json_object_get(v, "layers")), size);
	}
	json_t *rec = json_object_get(j, "recipes");
	if (json_array_size(rec)) {
		printf("\nRecipes not built yet (sbx image build NAME):");
		json_array_foreach (rec, i, v)
			printf(" %s", json_string_value(v));
		printf("\n");
	}
	json_decref(j);
	return 0;
}

static char *image_target(const char *name)
{
	_cleanup_free_ char *esc = client_query_escape(name);
	char *t = NULL;
	if (!esc || strchr(name, '/') || asprintf(&t, "/v1/images/%s", esc) < 0)
		return NULL;
	return t;
}

static int image_inspect_rm(const struct image_args *a, bool rm)
{
	if (!a->arg)
		return sbx_die("usage: sbx image %s NAME", rm ? "rm" : "inspect");
	_cleanup_free_ char *target = image_target(a->arg);
	json_t *j;
	if (!target)
		return sbx_die("invalid image name \"%s\"", a->arg);
	int r = sbx_call_json(sbx_socket_path(a->sock), rm ? "DELETE" : "GET", target, NULL, &j);
	if (r)
		return r;
	if (!rm)
		r = sbx_print_json(j);
	json_decref(j);
	return r;
}

/* Progress: a bar redrawn in place on a terminal, one line per step otherwise. */
struct bar {
	bool tty;
	char last[128];
	int64_t drawn_ns;
};

static void bar_draw(struct bar *b, const char *what, uint64_t done, uint64_t total, bool force)
{
	char d[32], t[32];
	int64_t now = sbx_now_ns();

	if (!b->tty) {
		if (strcmp(b->last, what)) {
			fprintf(stderr, "%s\n", what);
			snprintf(b->last, sizeof(b->last), "%s", what);
		}
		return;
	}
	if (!force && now - b->drawn_ns < 100000000)
		return;
	b->drawn_ns = now;
	human(done, d, sizeof(d));
	if (total) {
		int fill = (int)(30 * (double)done / (double)total);
		char bar[31];
		memset(bar, '#', (size_t)fill);
		memset(bar + fill, '.', (size_t)(30 - fill));
		bar[30] = '\0';
		human(total, t, sizeof(t));
		fprintf(stderr, "\r\033[K[%s] %3d%% %s / %s  %s", bar, (int)(100.0 * done / total),
			d, t, what);
	} else {
		fprintf(stderr, "\r\033[K%s  %s", what, d);
	}
	fflush(stderr);
}

static void upload_progress(size_t sent, size_t total, void *ud)
{
	bar_draw(ud, "uploading", sent, total, sent == total);
}

/* Polls the job until it ends; prints the image (or its id with --json's whole job). */
static int follow_job(const struct image_args *a, struct bar *b, const char *id)
{
	char target[128];
	snprintf(target, sizeof(target), "/v1/jobs/%s", id);
	for (;;) {
		json_t *j;
		int r = sbx_call_json(sbx_socket_path(a->sock), "GET", target, NULL, &j);
		if (r)
			return r;
		const char *state = json_string_value(json_object_get(j, "state"));
		const char *step = json_string_value(json_object_get(j, "step"));
		json_t *p = json_object_get(j, "progress");
		char what[128];
		snprintf(what, sizeof(what), "%s: %s", state ? state : "?", step ? step : "");
		uint64_t un = (uint64_t)json_integer_value(json_object_get(p, "unpacked_bytes"));
		bool end = state && (!strcmp(state, "done") || !strcmp(state, "failed"));
		bar_draw(b, what, un, 0, end);
		if (end) {
			if (b->tty)
				fputc('\n', stderr);
			if (!strcmp(state, "failed")) {
				r = sbx_die("%s", json_string_value(json_object_get(j, "error")));
			} else if (a->json) {
				r = sbx_print_json(json_object_get(j, "image"));
			} else {
				json_t *img = json_object_get(j, "image");
				printf("%s %s\n", json_string_value(json_object_get(img, "name")),
				       json_string_value(json_object_get(img, "id")));
			}
			json_decref(j);
			return r;
		}
		json_decref(j);
		struct timespec ts = { 0, 200000000 };
		nanosleep(&ts, NULL);
	}
}

/* The job that answer @j names, followed to its end. */
static int follow_answer(const struct image_args *a, struct bar *b, json_t *j)
{
	const char *id = json_string_value(json_object_get(j, "id"));
	return id ? follow_job(a, b, id) : sbx_die("sbxd answered no job");
}

/* An OCI layout directory, as a tar in a temporary file (unlinked; its descriptor). */
static int tar_dir(const char *dir)
{
	char tmpl[] = "/tmp/sbx-image-XXXXXX";
	int fd = mkstemp(tmpl);
	if (fd < 0)
		return -errno;
	unlink(tmpl);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fd, 1);
		execlp("tar", "tar", "-C", dir, "-cf", "-", ".", (char *)NULL);
		_exit(127);
	}
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
		close(fd);
		return -EIO;
	}
	return fd;
}

static int image_import(const struct image_args *a)
{
	struct stat st;
	struct bar b = { .tty = isatty(2) };
	struct client_resp resp;

	if (!a->arg || !a->name)
		return sbx_die("usage: sbx image import FILE|DIR --name NAME [--public] "
			       "[--keep-setuid]");
	if (stat(a->arg, &st) < 0)
		return sbx_die("%s: %s", a->arg, strerror(errno));
	int fd = S_ISDIR(st.st_mode) ? tar_dir(a->arg) : open(a->arg, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sbx_die("%s: %s", a->arg,
			       fd == -EIO ? "cannot make a tar of it" : strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return sbx_die("%s: not a file or directory", a->arg);
	}
	lseek(fd, 0, SEEK_SET);
	_cleanup_free_ char *esc = client_query_escape(a->name), *target = NULL;
	if (!esc || asprintf(&target, "/v1/images?name=%s%s%s", esc, a->public_ ? "&public=1" : "",
			     a->keep_setuid ? "&keep_setuid=1" : "") < 0) {
		close(fd);
		return sbx_die("out of memory");
	}
	const char *sock = sbx_socket_path(a->sock);
	int r = client_call_fd(sock, "POST", target, "application/x-tar", fd, (size_t)st.st_size,
			       upload_progress, &b, &resp);
	close(fd);
	if (b.tty)
		fputc('\n', stderr);
	if (r < 0)
		return sbx_die("sbxd at %s: %s", sock, strerror(-r));
	r = sbx_api_check(&resp);
	json_t *j = r ? NULL : json_loads(resp.body, 0, NULL);
	client_resp_clear(&resp);
	if (r)
		return r;
	r = follow_answer(a, &b, j);
	json_decref(j);
	return r;
}

static int image_build(const struct image_args *a)
{
	struct bar b = { .tty = isatty(2) };
	json_t *j;

	if (!a->arg)
		return sbx_die("usage: sbx image build RECIPE [--name NAME]");
	_cleanup_free_ char *er = client_query_escape(a->arg),
			    *en = client_query_escape(a->name ? a->name : a->arg), *target = NULL;
	if (!er || !en || asprintf(&target, "/v1/images?recipe=%s&name=%s", er, en) < 0)
		return sbx_die("out of memory");
	int r = sbx_call_json(sbx_socket_path(a->sock), "POST", target, NULL, &j);
	if (r)
		return r;
	r = follow_answer(a, &b, j);
	json_decref(j);
	return r;
}

/* sbx image slim NAME --from IMAGE -- CMD...: the command run in a sandbox of IMAGE whose
 * opened files are recorded, then an image of those files alone. */
static int image_slim(int argc, char **argv)
{
	const char *name = NULL, *from = NULL, *sock = NULL;
	struct bar b = { .tty = isatty(2) };
	bool json = false;
	int i = 1;

	for (; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--from") && i + 1 < argc)
			from = argv[++i];
		else if (!strcmp(argv[i], "--socket") && i + 1 < argc)
			sock = argv[++i];
		else if (!strcmp(argv[i], "--json"))
			json = true;
		else if (argv[i][0] != '-' && !name)
			name = argv[i];
		else
			return sbx_die("unexpected argument: %s", argv[i]);
	}
	if (!name || !from || i + 1 >= argc)
		return sbx_die("usage: sbx image slim NAME --from IMAGE -- CMD...");
	struct image_args a = { .sock = sock, .json = json };
	json_t *cmd = json_array(), *j = NULL;
	for (i++; i < argc; i++)
		json_array_append_new(cmd, json_string(argv[i]));
	json_t *req = json_pack("{s:s,s:o,s:b}", "image", from, "cmd", cmd, "record_files", 1);
	char *body = json_dumps(req, JSON_COMPACT), target[256], id[32] = "";
	json_decref(req);
	const char *path = sbx_socket_path(sock);
	bar_draw(&b, "running the workload, its opened files recorded", 0, 0, true);
	int r = sbx_create_id(path, body, id);
	if (r)
		return r;
	snprintf(target, sizeof(target), "/v1/sandboxes/%s", id);
	for (r = -1; r < 0;) {
		if (sbx_call_json(path, "GET", target, NULL, &j)) {
			r = EXIT_SBX;
			break;
		}
		const char *state = json_string_value(json_object_get(j, "state"));
		json_t *code = json_object_get(j, "exit_code");
		if (state && !strcmp(state, "exited"))
			r = json_integer_value(code) == 0
				    ? 0
				    : sbx_die("the workload exited with %d: a slim image is made "
					      "from a run that succeeds",
					      (int)json_integer_value(code));
		json_decref(j);
		struct timespec ts = { 0, 50000000 };
		if (r < 0)
			nanosleep(&ts, NULL);
	}
	if (b.tty)
		fputc('\n', stderr);
	if (r == 0) {
		_cleanup_free_ char *en = client_query_escape(name);
		char t2[400];
		snprintf(t2, sizeof(t2), "/v1/images?name=%s&slim_from=%s", en ? en : "", id);
		r = sbx_call_json(path, "POST", t2, NULL, &j);
		if (r == 0)
			r = follow_answer(&a, &b, j);
		json_decref(j);
	}
	struct client_resp resp;
	if (!sbx_api(path, "DELETE", target, NULL, NULL, 0, &resp, NULL, NULL))
		client_resp_clear(&resp);
	return r;
}

int cmd_image(int argc, char **argv)
{
	struct image_args a = { 0 };
	const char *sub = argc > 1 ? argv[1] : NULL;

	if (!sub)
		return sbx_die("usage: sbx image ls|inspect|import|build|slim|rm ...");
	if (!strcmp(sub, "slim"))
		return image_slim(argc - 1, argv + 1);
	int r = image_parse(argc - 1, argv + 1, &a);
	if (r)
		return r;
	if (!strcmp(sub, "ls"))
		return image_ls(&a);
	if (!strcmp(sub, "inspect"))
		return image_inspect_rm(&a, false);
	if (!strcmp(sub, "rm"))
		return image_inspect_rm(&a, true);
	if (!strcmp(sub, "import"))
		return image_import(&a);
	if (!strcmp(sub, "build"))
		return image_build(&a);
	return sbx_die("unknown image command \"%s\" (ls, inspect, import, build, slim, rm)", sub);
}
