// SPDX-License-Identifier: MIT
/* The files API: a GET, PUT or DELETE of a path inside a sandbox, done by a helper that
 * runs there as its user (sbx-init --file): the path resolves in the sandbox's root,
 * what it writes is the sandbox's and is charged to it. The helper's exit code is 0 or
 * the errno of what failed; a GET's output is the file's size, then the file. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../sandbox/macro.h"
#include "../../sandbox/text.h"
#include "internal.h"

/* Why a transfer of @path failed with @r (the helper's errno), as the caller's errno. */
static int file_why(struct why *w, const char *path, int r)
{
	char p[128];
	text_printable(path, p, sizeof(p));
	switch (-r) {
	case ENOENT:
	case ENOTDIR:
		return why_set(w, -ENOENT, "%s: no such file or directory", p);
	case EISDIR:
		return why_set(w, -EISDIR, "%s: is a directory", p);
	case EPERM:
	case EACCES:
		return why_set(w, -EACCES, "%s: not a regular file the API may touch", p);
	case EFBIG:
		return why_set(w, -EFBIG, "%s: larger than the limit of %" PRIu64 " bytes", p,
			       D.opt.max_file);
	case EROFS:
		return why_set(w, -EROFS, "%s: read-only file system", p);
	case ENOSPC:
	case EDQUOT:
		return why_set(w, -ENOSPC, "%s: no space left in the sandbox", p);
	case ENOMEM:
		return why_set(w, -ENOSPC, "%s: the sandbox is out of memory", p);
	case ENOTEMPTY:
		return why_set(w, -ENOTEMPTY, "%s: directory not empty", p);
	case EEXIST:
		return why_set(w, -EEXIST, "%s: already exists", p);
	case E2BIG:
		return why_set(w, -EFBIG,
			       "%s: a listing larger than this host answers (100000 "
			       "entries, 8 MiB); list less deep",
			       p);
	case EAGAIN:
		return why_set(w, -EAGAIN,
			       "%s: the sandbox cannot start its file helper now (process limit?)",
			       p);
	case EPIPE:
		return why_set(w, -EPIPE, "%s: the upload ended early; nothing changed", p);
	case EINVAL:
	case ELOOP:
	case ENAMETOOLONG:
	case EXDEV:
		return why_set(w, -EINVAL, "%s: %s", p, strerror(-r));
	default:
		return why_set(w, -EIO, "%s: %s", p, strerror(-r));
	}
}

static void file_fail(struct reply *rp, const char *path, int r)
{
	struct why w;
	reply_fail_why(rp, file_why(&w, path, r), &w);
}

/* A GET's helper: the file's size, then the file, sent on as it comes. */
void file_deliver(struct exec *x, const char *data, size_t len)
{
	while (len && x->head_len < sizeof(x->head)) {
		x->head[x->head_len++] = (unsigned char)*data++;
		len--;
	}
	if (x->head_len < sizeof(x->head))
		return;
	if (!x->head_sent) {
		for (int i = 7; i >= 0; i--)
			x->left = x->left << 8 | x->head[i];
		/* The helper runs as the sandbox's own ids: its word is bounded too. */
		if (x->left > D.opt.max_file) {
			struct reply *rp = exec_detach(x);
			struct why w;
			why_set(&w, -EIO,
				"the sandbox's file helper announced %" PRIu64
				" bytes, more than --max-file",
				x->left);
			reply_fail_why(rp, -EIO, &w);
			reply_release(rp);
			return;
		}
		reply_open(x->rp, STREAM_BYTES, x->left);
		x->head_sent = true;
	}
	if (len > x->left)
		len = (size_t)x->left;
	x->left -= len;
	reply_write(x->rp, data, len);
}

/* The most a listing's records take on the host; each byte is charged three times to
 * the caller's share of held memory (its JSON, twice, and the answer). */
#define FS_OUTPUT_MAX (8u << 20)

void fs_collect(struct exec *x, const char *data, size_t len)
{
	if (x->truncated[0] || x->acc_len[0] + len > FS_OUTPUT_MAX || !x->rp ||
	    x->rp->ops->room(x->rp) < 3 * (uint64_t)len) {
		x->truncated[0] = true;
		return;
	}
	x->rp->ops->charge(x->rp, 3 * (uint64_t)len);
	char *p = realloc(x->acc[0], x->acc_len[0] + len);
	if (!p) {
		x->truncated[0] = true;
		return;
	}
	memcpy(p + x->acc_len[0], data, len);
	x->acc[0] = p;
	x->acc_len[0] += len;
}

/* The helper's records (sbx-init --file stat|ls): "KIND MODE SIZE SEC NSEC\0OWNER\0
 * GROUP\0PATH\0TARGET\0" each. NULL when they are malformed. */
static json_t *fs_entries(const char *p, size_t len)
{
	static const struct {
		char c;
		const char *name;
	} kinds[] = { { 'f', "file" }, { 'd', "dir" }, { 'l', "symlink" }, { 'o', "other" } };
	const char *end = p + len, *f[5];
	json_t *arr = json_array();

	while (p < end) {
		for (int i = 0; i < 5; i++) {
			const char *nul = memchr(p, '\0', (size_t)(end - p));
			if (!nul)
				goto bad;
			f[i] = p;
			p = nul + 1;
		}
		char kind;
		unsigned mode;
		long long size, sec;
		long nsec;
		int used = 0;
		if (sscanf(f[0], "%c %o %lld %lld %ld%n", &kind, &mode, &size, &sec, &nsec,
			   &used) != 5 ||
		    f[0][used])
			goto bad;
		const char *kname = NULL;
		for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
			if (kinds[i].c == kind)
				kname = kinds[i].name;
		if (!kname)
			goto bad;
		json_t *e = json_pack("{s:s,s:s,s:i,s:I,s:I,s:s,s:s}", "path", f[3], "kind", kname,
				      "mode", (int)mode, "size", (json_int_t)size, "mtime_ns",
				      (json_int_t)(sec * 1000000000LL + nsec), "owner", f[1],
				      "group", f[2]);
		if (!e) /* not UTF-8 */
			continue;
		if (kind == 'l')
			json_object_set_new(e, "target", json_string(f[4]));
		/* then "N\0" and N keys and values: its metadata (a helper of an older build, in
		 * a sandbox that outlived it, says none: the next record starts with a letter) */
		const char *nul = p < end ? memchr(p, '\0', (size_t)(end - p)) : NULL;
		unsigned long nmeta = 0;
		if (nul && nul > p && strspn(p, "0123456789") == (size_t)(nul - p)) {
			nmeta = strtoul(p, NULL, 10);
			p = nul + 1;
		}
		if (nmeta > 32) {
			json_decref(e);
			goto bad;
		}
		json_t *meta = json_object();
		const char *key = "";
		for (unsigned long k = 0; k < 2 * nmeta; k++) {
			const char *z = memchr(p, '\0', (size_t)(end - p));
			if (!z) {
				json_decref(meta);
				json_decref(e);
				goto bad;
			}
			if (k % 2)
				json_object_set_new(meta, key,
						    json_string(p)); /* NULL if not UTF-8 */
			else
				key = p;
			p = z + 1;
		}
		if (json_object_size(meta))
			json_object_set_new(e, "metadata", meta);
		else
			json_decref(meta);
		json_array_append_new(arr, e);
	}
	return json_pack("{s:o}", "entries", arr);
bad:
	json_decref(arr);
	return NULL;
}

/* The helper's exit answers the request: its code is 0 or the errno of the failure. */
void file_answer(struct reply *rp, struct exec *x)
{
	int err = x->failed	  ? x->code
		  : x->code > 128 ? ENOMEM /* killed: in a sandbox, the OOM killer */
				  : x->code;

	if (x->kind == EXEC_FILE_FS) {
		json_t *j = NULL;
		if (!err && x->truncated[0])
			err = E2BIG;
		if (!err && !(j = fs_entries(x->acc[0] ? x->acc[0] : "", x->acc_len[0]))) {
			struct why w;
			why_set(&w, -EIO, "the sandbox's file helper answered malformed records");
			reply_fail_why(rp, -EIO, &w);
			return;
		}
		if (err)
			file_fail(rp, x->path, -err);
		else
			reply_done(rp, REPLY_OK, j);
		return;
	}

	if (x->kind == EXEC_FILE_GET && x->head_sent)
		/* Cut short (the file shrank, the helper died): the length was promised. */
		reply_close(rp, !x->left && !x->code);
	else if (err)
		file_fail(rp, x->path, -err);
	else if (x->kind == EXEC_FILE_GET) /* an empty answer: it never said a size */
		file_fail(rp, x->path, -EIO);
	else
		reply_done(rp, REPLY_OK,
			   json_pack("{s:s,s:I}", "path", x->path, "size", (json_int_t)x->size));
}

/* The helper, sbx-init itself (sbx-init --file @argv...), started inside @b as its user:
 * a path is resolved in its root, what it writes is charged to it, and it owns it. @in
 * and @out are the sandbox's ends of its stdin and stdout (-1: /dev/null); the exec, in
 * *ret, reads and writes nothing yet and answers @rp; -errno when nothing started. */
static int helper_start(struct reply *rp, struct box *b, enum exec_kind kind, const char *path,
			char *const argv[], int in, int out, struct exec **ret)
{
	char *envp[] = { NULL };
	struct exec *x = calloc(1, sizeof(*x));
	if (!x || !(x->path = strdup(path))) {
		free(x);
		return -ENOMEM;
	}
	x->id = ++b->next_exec_id;
	int stdio[3] = { in >= 0 ? in : D.devnull, out >= 0 ? out : D.devnull, D.devnull };
	int r = ctl_send_exec(b->ctl_fd, x->id, argv, envp, "/", stdio);
	if (r < 0) {
		free(x->path);
		free(x);
		return r;
	}
	snprintf(x->argv0, sizeof(x->argv0), "file helper");
	x->kind = kind;
	x->out_fd = x->err_fd = x->in_fd = -1;
	x->out_eof = x->err_eof = true;
	exec_link(x, b, rp);
	box_tick_soon();
	*ret = x;
	return 0;
}

int box_files(struct reply *rp, struct box *b, enum file_op op, const char *path, uint64_t size,
	      struct why *why)
{
	static const char *const ops[] = {
		[FILE_GET] = "get", [FILE_PUT] = "put", [FILE_RM] = "rm"
	};
	enum exec_kind kind = op == FILE_GET   ? EXEC_FILE_GET
			      : op == FILE_PUT ? EXEC_FILE_PUT
					       : EXEC_FILE_RM;
	int out[2] = { -1, -1 }, in[2] = { -1, -1 }, r;
	struct exec *x;
	char num[24];

	r = exec_refused(b, why);
	if (r < 0)
		return r;
	snprintf(num, sizeof(num), "%" PRIu64, op == FILE_PUT ? size : D.opt.max_file);
	char *argv[] = { "/dev/sbx-init",
			 "--file",
			 (char *)ops[op],
			 (char *)path,
			 op == FILE_RM ? NULL : num,
			 NULL };
	r = op == FILE_PUT ? rp->ops->body_prepare(rp) : 0;
	if (r == 0 && ((op == FILE_GET && pipe2(out, O_CLOEXEC) < 0) ||
		       (op == FILE_PUT && pipe2(in, O_CLOEXEC) < 0)))
		r = -errno;
	if (r == 0)
		r = helper_start(rp, b, kind, path, argv, in[0], out[1], &x);
	closep(&out[1]);
	closep(&in[0]);
	if (r < 0) {
		closep(&out[0]);
		closep(&in[1]);
		return file_why(why, path, r);
	}
	x->size = size;
	x->out_fd = out[0];
	x->out_eof = kind != EXEC_FILE_GET;
	if (op == FILE_PUT)
		rp->ops->body_to_fd(rp, in[1]);
	return 0;
}

int box_fs(struct reply *rp, struct box *b, enum fs_op op, const char *path, const char *path2,
	   unsigned depth, struct why *why)
{
	static const char *const ops[] = { [FS_STAT] = "stat",
					   [FS_LS] = "ls",
					   [FS_MKDIR] = "mkdir",
					   [FS_MOVE] = "mv",
					   [FS_REMOVE] = "rmrf" };
	int out[2] = { -1, -1 }, r;
	struct exec *x;
	char num[16];

	r = exec_refused(b, why);
	if (r < 0)
		return r;
	snprintf(num, sizeof(num), "%u", depth);
	char *argv[] = { "/dev/sbx-init",
			 "--file",
			 (char *)ops[op],
			 (char *)path,
			 op == FS_LS	 ? num
			 : op == FS_MOVE ? (char *)path2
					 : NULL,
			 NULL };
	r = pipe2(out, O_CLOEXEC) < 0 ? -errno : 0;
	if (r == 0)
		r = helper_start(rp, b, EXEC_FILE_FS, path, argv, -1, out[1], &x);
	closep(&out[1]);
	if (r < 0) {
		closep(&out[0]);
		return file_why(why, path, r);
	}
	x->out_fd = out[0];
	x->out_eof = false;
	return 0;
}

int box_files_data(struct reply *rp, struct box *b, const char *path, const char *data, size_t len,
		   char *const *meta, struct why *why)
{
	int in[2] = { -1, -1 }, r;
	struct exec *x;
	char num[24];

	r = exec_refused(b, why);
	if (r < 0)
		return r;
	if (len > D.opt.max_file)
		return file_why(why, path, -EFBIG);
	snprintf(num, sizeof(num), "%zu", len);
	char *argv[5 + 32 + 1] = { "/dev/sbx-init", "--file", "putp", (char *)path, num };
	for (size_t i = 0; meta && meta[i] && i < 32; i++)
		argv[5 + i] = meta[i];
	char *copy = malloc(len ? len : 1);
	r = !copy ? -ENOMEM : pipe2(in, O_CLOEXEC) < 0 ? -errno : 0;
	if (r == 0)
		r = helper_start(rp, b, EXEC_FILE_PUT, path, argv, in[0], -1, &x);
	closep(&in[0]);
	if (r < 0) {
		closep(&in[1]);
		free(copy);
		return file_why(why, path, r);
	}
	memcpy(copy, data, len);
	x->size = len;
	x->in_fd = in[1];
	exec_feed(x, copy, len);
	return 0;
}
