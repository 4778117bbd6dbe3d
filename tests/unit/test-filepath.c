// SPDX-License-Identifier: MIT
/* Unit tests for the files API's path rules: the host's check of ?path= (after percent
 * decoding), and sbx-init --file's split of a path into its directory and the plain name
 * to write or remove. */
#define _GNU_SOURCE
#include "../../host/domain/apispec.h"
#include "../../host/edge/http.h"
#include "../../sandbox/filepath.h"

#include <errno.h>
#include <limits.h>

#include "harness.h"

/* ?@query's path as the host checks it: 1 accepted, 0 refused (400). */
static int host_accepts(const char *query)
{
	char *path = NULL;
	int r = http_query_get(query, "path", &path);
	int ok = r == 0 && apispec_file_path_valid(path);
	free(path);
	return ok;
}

TEST(host_absolute_required)
{
	CHECK(apispec_file_path_valid("/"));
	CHECK(apispec_file_path_valid("/tmp/file"));
	CHECK(apispec_file_path_valid("/tmp/dir/"));
	CHECK(apispec_file_path_valid("//tmp"));
	CHECK(!apispec_file_path_valid(""));
	CHECK(!apispec_file_path_valid("tmp/file"));
	CHECK(!apispec_file_path_valid("./file"));
	CHECK(!apispec_file_path_valid("../file"));
	CHECK(!apispec_file_path_valid(" /tmp/file"));
	CHECK(!apispec_file_path_valid("~/file"));
}

TEST(host_leaves_dots_to_the_sandbox)
{
	/* "..", "." and odd bytes are not the host's to judge: the helper resolves the path
	 * inside the sandbox's root, where ".." cannot lead out. */
	CHECK(apispec_file_path_valid("/../../etc/passwd"));
	CHECK(apispec_file_path_valid("/tmp/.."));
	CHECK(apispec_file_path_valid("/tmp/./x"));
	CHECK(apispec_file_path_valid("/tmp/caf\xc3\xa9"));
	CHECK(apispec_file_path_valid("/tmp/\xff\x01"));
}

TEST(host_length_limit)
{
	char p[PATH_MAX + 2];
	memset(p, 'a', sizeof(p));
	p[0] = '/';
	p[PATH_MAX - 1] = '\0'; /* PATH_MAX - 1 characters: the longest taken */
	CHECK(apispec_file_path_valid(p));
	p[PATH_MAX - 1] = 'a';
	p[PATH_MAX] = '\0';
	CHECK(!apispec_file_path_valid(p));
	p[PATH_MAX] = 'a';
	p[PATH_MAX + 1] = '\0';
	CHECK(!apispec_file_path_valid(p));
}

TEST(host_query_decoding)
{
	CHECK(host_accepts("path=/tmp/file"));
	CHECK(host_accepts("path=%2Ftmp%2Ffile"));
	CHECK(host_accepts("x=1&path=/a+b&y=2"));
	/* An encoded NUL never reaches the rule: the decoder refuses it. */
	CHECK(!host_accepts("path=%00"));
	CHECK(!host_accepts("path=/tmp/a%00b"));
	CHECK(!host_accepts("path=/tmp/%zz"));
	CHECK(!host_accepts("path="));
	CHECK(!host_accepts("path"));
	CHECK(!host_accepts("paths=/tmp/file"));
	CHECK(!host_accepts("path=tmp%2Ffile"));
	CHECK(!host_accepts(""));
}

/* filepath_split of @path: its return, and on success the directory and name. */
static void split_ok(const char *path, const char *dir, const char *base)
{
	char d[64];
	const char *b = NULL;
	memset(d, 'x', sizeof(d));
	CHECK_EQ_INT(filepath_split(path, d, sizeof(d), &b), 0);
	if (strcmp(d, dir) || strcmp(b, base)) {
		fprintf(stderr, "\"%s\" split as \"%s\" + \"%s\", expected \"%s\" + \"%s\"\n", path,
			d, b, dir, base);
		exit(1);
	}
	/* The name points into the path itself. */
	CHECK(b >= path && b < path + strlen(path));
}

static void split_refused(const char *path)
{
	char d[64] = "untouched";
	const char *b = "untouched";
	CHECK_EQ_INT(filepath_split(path, d, sizeof(d), &b), -EINVAL);
	CHECK(!strcmp(d, "untouched") && !strcmp(b, "untouched"));
}

TEST(helper_split)
{
	split_ok("/tmp/file", "/tmp", "file");
	split_ok("/file", "", "file");
	split_ok("//file", "/", "file");
	split_ok("/a/b/c.txt", "/a/b", "c.txt");
	split_ok("/tmp/.hidden", "/tmp", ".hidden");
	split_ok("/tmp/...", "/tmp", "...");
	split_ok("/tmp/caf\xc3\xa9", "/tmp", "caf\xc3\xa9");
}

TEST(helper_dotdot)
{
	/* ".." before the last name is left to the walk in the sandbox's root... */
	split_ok("/../etc/passwd", "/../etc", "passwd");
	split_ok("/a/../../b", "/a/../..", "b");
	/* ...but the name written or removed is a plain name. */
	split_refused("/tmp/..");
	split_refused("/tmp/.");
	split_refused("/..");
	split_refused("/.");
}

TEST(helper_refused)
{
	split_refused("");
	split_refused("file");
	split_refused("tmp/file");
	split_refused("./file");
	/* No name: the root, or a trailing '/'. */
	split_refused("/");
	split_refused("/tmp/");
	split_refused("//");
}

TEST(helper_directory_must_fit)
{
	char path[80], d[16];
	const char *b;
	/* "/" + 14 characters: a 15-character directory fits 16 bytes with its NUL. */
	snprintf(path, sizeof(path), "/%s/name", "aaaaaaaaaaaaaa");
	CHECK_EQ_INT(filepath_split(path, d, sizeof(d), &b), 0);
	CHECK(!strcmp(d, "/aaaaaaaaaaaaaa") && !strcmp(b, "name"));
	snprintf(path, sizeof(path), "/%s/name", "aaaaaaaaaaaaaaa");
	CHECK_EQ_INT(filepath_split(path, d, sizeof(d), &b), -EINVAL);
}
