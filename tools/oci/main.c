// SPDX-License-Identifier: MIT
/* sbx-oci: runc's command line over libsandbox. The global flags and the table of
 * commands. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../sandbox/instance.h"
#include "../../sandbox/macro.h"
#include "oci.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{ "create", cmd_create },
	{ "start", cmd_start },
	{ "run", cmd_run },
	{ "exec", cmd_exec },
	{ "state", cmd_state },
	{ "kill", cmd_kill },
	{ "delete", cmd_delete },
	{ "ps", cmd_ps },
	{ "list", cmd_list },
	{ "pause", cmd_pause },
	{ "resume", cmd_resume },
	{ "update", cmd_update },
	{ "events", cmd_events },
	{ "features", cmd_features },
	{ "checkpoint", cmd_checkpoint },
	{ "restore", cmd_restore },
};

static int usage(void)
{
	fprintf(stderr,
		"usage: sbx-oci [--root DIR] [--log FILE] [--log-format text|json] COMMAND ...\n"
		"commands: create start run exec state kill delete ps list pause resume update\n"
		"          events features checkpoint restore (runc's arguments)\n");
	return 2;
}

int main(int argc, char **argv)
{
	int i = 1;
	const char *root = NULL, *log = NULL, *format = NULL, *criu = NULL, *rootless = NULL;
	bool debug = false, systemd = false, help = false, version = false;
	const struct oci_flag flags[] = {
		{ "--root", NULL, &root, NULL },
		{ "--log", NULL, &log, NULL },
		{ "--log-format", NULL, &format, NULL },
		{ "--criu", NULL, &criu, NULL },
		{ "--rootless", NULL, &rootless, NULL },
		{ "--debug", NULL, NULL, &debug },
		{ "--systemd-cgroup", NULL, NULL, &systemd },
		{ "--help", "-h", NULL, &help },
		{ "--version", "-v", NULL, &version },
		{ NULL, NULL, NULL, NULL },
	};

	/* Its instance (SBX_INSTANCE) scopes its cgroups as sbxd's. */
	if (instance_set(getenv("SBX_INSTANCE")) < 0) {
		fprintf(stderr, "sbx-oci: SBX_INSTANCE: 1-16 of a-z 0-9 - _\n");
		return 1;
	}
	for (; i < argc && argv[i][0] == '-'; i++) {
		int t = oci_flag_take(argc, argv, &i, flags);
		if (t < 0)
			return 1;
		if (t == 0)
			return oci_error("unknown global flag %s", argv[i]), 1;
	}
	(void)criu; /* sbx's own CRIU would be used */
	(void)debug;
	if (version) {
		printf("sbx-oci version 1.0\nspec: %s\n", OCI_VERSION);
		return 0;
	}
	if (help) {
		usage();
		return 0;
	}
	if (systemd)
		return oci_error("--systemd-cgroup: sbx manages its sandboxes' cgroups itself "
				 "(set SystemdCgroup = false)"),
		       1;
	if (rootless && strcmp(rootless, "false") && strcmp(rootless, "auto"))
		return oci_error("--rootless: sbx-oci runs as root"), 1;
	if (format && strcmp(format, "json") && strcmp(format, "text"))
		return oci_error("--log-format: json or text, not %s", format), 1;
	G.log_json = format && !strcmp(format, "json");
	G.log = log && log[0] ? log : NULL;
	G.debug = debug;
	if (root)
		G.root = root;
	if (i >= argc)
		return usage();
	if (G.root[0] != '/')
		return oci_error("--root: %s is not absolute", G.root), 1;
	/* Made as runc makes it, with what is above it. */
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s", G.root);
	for (char *p = path + 1;; p++) {
		bool end = !*p;
		if (*p != '/' && !end)
			continue;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return oci_error("--root %s: %s", G.root, strerror(errno)), 1;
		if (end)
			break;
		*p = '/';
	}
	for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++)
		if (!strcmp(commands[c].name, argv[i]))
			return commands[c].fn(argc - i, argv + i) < 0 ? 1 : 0;
	oci_error("unknown command %s", argv[i]);
	return usage();
}
