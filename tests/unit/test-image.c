// SPDX-License-Identifier: MIT
/* Unit tests for image lookup and manifest validation. */
#define _GNU_SOURCE
#include "../../sandbox/image.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

#include "harness.h"

static char dir[] = "/tmp/sbx-test-image.XXXXXX";

static void remove_dir(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	(void)!system(cmd);
}

static void make_image(const char *name, const char *manifest, bool rootfs)
{
	char path[512];
	FILE *f;

	static bool made;
	if (!made) {
		made = true;
		CHECK(mkdtemp(dir));
		atexit(remove_dir);
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	CHECK(mkdir(path, 0755) == 0);
	if (rootfs) {
		snprintf(path, sizeof(path), "%s/%s/rootfs", dir, name);
		CHECK(mkdir(path, 0755) == 0);
	}
	if (manifest) {
		snprintf(path, sizeof(path), "%s/%s/manifest.json", dir, name);
		CHECK((f = fopen(path, "w")) != NULL);
		fputs(manifest, f);
		fclose(f);
	}
}

static void expect_error(const char *name, int r_want, const char *want)
{
	struct image *img = NULL;
	char *err = NULL;
	CHECK_EQ_INT(image_open(name, dir, &img, &err), r_want);
	CHECK(img == NULL);
	CHECK_STR_CONTAINS(err, want);
	free(err);
}

TEST(valid_manifest)
{
	struct image *img = NULL;
	char *err = NULL;
	make_image("ok",
		   "{\"rootfs\": \"rootfs\", \"binds\": [{\"source\": \"/usr\", "
		   "\"target\": \"/usr\"}], \"env\": {\"PATH\": \"/bin\"}}",
		   true);
	CHECK_EQ_INT(image_open("ok", dir, &img, &err), 0);
	CHECK_STR_CONTAINS(img->rootfs, "/ok/rootfs");
	CHECK(!strcmp(img->binds[0], "/usr") && !strcmp(img->binds[1], "/usr") && !img->binds[2]);
	CHECK(!strcmp(img->env[0], "PATH=/bin") && !img->env[1]);
	image_free(img);
}

TEST(bad_images)
{
	make_image("nomanifest", NULL, true);
	make_image("broken", "{\"rootfs\": ", true);
	make_image("relbind", "{\"binds\": [{\"source\": \"usr\", \"target\": \"/usr\"}]}", true);
	make_image("dotdot", "{\"binds\": [{\"source\": \"/usr/../etc\", \"target\": \"/x\"}]}",
		   true);
	make_image("escape", "{\"rootfs\": \"../../etc\"}", true);
	make_image("norootfs", "{}", false);
	make_image("badenv", "{\"env\": {\"A\": 1}}", true);
	expect_error("missing", -ENOENT, "image missing not found in");
	expect_error("nomanifest", -ENOENT, "no manifest.json");
	expect_error("broken", -EINVAL, "manifest.json:1:");
	expect_error("relbind", -EINVAL, "binds[0]: source and target must be clean absolute");
	expect_error("dotdot", -EINVAL, "binds[0]");
	expect_error("escape", -EINVAL, "\"rootfs\" must be a relative path");
	expect_error("norootfs", -ENOENT, "is not a directory");
	expect_error("badenv", -EINVAL, "env.A must be a string");
	expect_error("Bad/../Name", -ENOENT, "Bad/../Name");
	expect_error(".hidden", -EINVAL, "is invalid");
	expect_error("", -EINVAL, "empty");
}
