// SPDX-License-Identifier: MIT
/* sbx: the command-line client. A table of verbs, each in its own file; `sbx run`
 * launches a one-shot sandbox with libsandbox directly, the others talk to sbxd. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../sandbox/instance.h"
#include "../../sandbox/macro.h"
#include "sbx.h"

#ifndef SBX_VERSION
#define SBX_VERSION "0.0.0"
#endif

/* The help's second column, and the width a line may take before its help moves below. */
#define HELP_COLUMN 36
#define HELP_WIDTH 80

struct command {
	const char *name; /* NULL: a further line of the verb above's help */
	int (*run)(int argc, char **argv);
	const char *synopsis; /* its lines each indented by two spaces */
	const char *help;     /* one line, or lines for the second column */
	const char *section;  /* a heading printed before this row */
};

static const struct command commands[] = {
	{ .name = "run",
	  .run = cmd_run,
	  .synopsis = "run [OPTIONS] [--] CMD [ARG...]",
	  .help = "run a one-shot sandbox (see sbx run --help)",
	  .section = "Without a daemon:" },
	{ .name = "create",
	  .run = cmd_create,
	  .synopsis = "create [OPTIONS] [-- CMD...]",
	  .help = "create a sandbox; prints its id",
	  .section = "Through sbxd (start it with `make run`, or build/sbxd):" },
	{ .name = "exec",
	  .run = cmd_exec,
	  .synopsis = "exec [-i] [--env K=V] [--workdir D] [--timeout T] ID [--] CMD [ARG...]",
	  .help = "run a command in it; streams its output" },
	{ .name = "cp",
	  .run = cmd_cp,
	  .synopsis = "cp SRC DST",
	  .help = "copy a file in or out: ID:/path, a local\n"
		  "path, or - for stdin/stdout" },
	{ .name = "ls",
	  .run = cmd_ls,
	  .synopsis = "ls [--json] [--state S] [--label K=V]",
	  .help = "list sandboxes" },
	{ .name = "inspect",
	  .run = cmd_inspect,
	  .synopsis = "inspect ID",
	  .help = "the sandbox's record (JSON)" },
	{ .name = "rm",
	  .run = cmd_rm,
	  .synopsis = "rm ID...",
	  .help = "stop and remove sandboxes (and snap-...\n"
		  "snapshots)" },
	{ .name = "port",
	  .run = cmd_port,
	  .synopsis = "port ID PORT",
	  .help = "publish its TCP port PORT on sbxd's listener;\n"
		  "prints the Host that reaches it" },
	{ .name = "port-forward",
	  .run = cmd_port_forward,
	  .synopsis = "port-forward ID PORT [LOCAL]",
	  .help = "127.0.0.1:LOCAL on this host reaches its\n"
		  "port PORT (plain TCP, through sbxd)" },
	{ .name = "checkpoint",
	  .run = cmd_checkpoint,
	  .synopsis = "checkpoint [--leave-running] ID",
	  .help = "snapshot it with CRIU (and stop it, unless\n"
		  "--leave-running); prints the snapshot id" },
	{ .name = "restore",
	  .run = cmd_restore,
	  .synopsis = "restore SNAPSHOT",
	  .help = "a new sandbox from a snapshot; prints its id" },
	{ .name = "fork",
	  .run = cmd_fork,
	  .synopsis = "fork [-n N] ID",
	  .help = "N running copies of it; prints their ids" },
	{ .name = "snapshots",
	  .run = cmd_snapshots,
	  .synopsis = "snapshots [--json]",
	  .help = "list snapshots" },
	{ .name = "logs",
	  .run = cmd_logs,
	  .synopsis = "logs [-f] ID",
	  .help = "the workload's output (-f: as it grows)" },
	{ .name = "usage",
	  .run = cmd_usage,
	  .synopsis = "usage [--json] ID",
	  .help = "CPU, memory, syscalls (by name), network" },
	{ .name = "top",
	  .run = cmd_top,
	  .synopsis = "top [--sort cpu|memory|syscalls]",
	  .help = "live table of sandboxes; q quits (one plain\n"
		  "table when not on a terminal)" },
	{ .name = "bill",
	  .run = cmd_bill,
	  .synopsis = "bill [--from T] [--to T] [--tenant T] [--sandbox ID]\n"
		      "     [--format table|focus|cloudevents|json]",
	  .help = "the priced ledger" },
	{ .synopsis = "bill verify", .help = "check the ledger's hash chain" },
	{ .name = "gpus",
	  .run = cmd_gpus,
	  .synopsis = "gpus [--json]",
	  .help = "the host's GPUs and who holds each" },
	{ .name = "image",
	  .run = cmd_image,
	  .synopsis = "image ls [--json] | inspect NAME | rm NAME",
	  .help = "the image store" },
	{ .synopsis = "image import FILE|DIR --name NAME",
	  .help = "a docker-save tar or an OCI layout\n(--public, --keep-setuid: admins)" },
	{ .synopsis = "image build RECIPE [--name NAME]",
	  .help = "an images/ recipe, into the store" },
	{ .synopsis = "image slim NAME --from IMAGE -- CMD...",
	  .help = "only the files CMD opens, run in IMAGE" },
	{ .name = "template",
	  .run = cmd_template,
	  .synopsis = "template create NAME [--ready CMD] [--pool N]\n"
		      "     [CREATE OPTIONS] -- CMD...",
	  .help = "start, wait until ready, snapshot: sbx\ncreate --template NAME restores it\n"
		  "(--pool: N kept warm, billed as running)" },
	{ .synopsis = "template ls [--json] | inspect NAME | rm NAME", .help = "templates" },
};

/* "  SYNOPSIS  HELP": the help in its column when the synopsis leaves room, three spaces
 * after it when the line still fits, else on the next line; later help lines below it. */
static void usage_row(FILE *f, const struct command *c)
{
	const char *syn = c->synopsis, *help = c->help;
	int len = (int)strcspn(syn, "\n"), n = (int)strcspn(help, "\n");

	for (; syn[len]; syn += len + 1, len = (int)strcspn(syn, "\n"))
		fprintf(f, "  %.*s\n", len, syn);
	if (2 + len + 2 <= HELP_COLUMN)
		fprintf(f, "  %s%*s%.*s\n", syn, HELP_COLUMN - 2 - len, "", n, help);
	else if (2 + len + 3 + n <= HELP_WIDTH)
		fprintf(f, "  %s   %.*s\n", syn, n, help);
	else
		fprintf(f, "  %s\n%*s%.*s\n", syn, HELP_COLUMN, "", n, help);
	for (help += n; *help; help += n) {
		help++;
		n = (int)strcspn(help, "\n");
		fprintf(f, "%*s%.*s\n", HELP_COLUMN, "", n, help);
	}
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: sbx COMMAND [OPTIONS]\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		if (commands[i].section)
			fprintf(f, "\n%s\n", commands[i].section);
		usage_row(f, &commands[i]);
	}
	fprintf(f, "\n"
		   "  Every daemon command takes --socket PATH (or $SBX_SOCKET); $SBX_TOKEN is\n"
		   "  sent as a bearer token.\n\n"
		   "  sbx --version | --help\n");
}

char **sbx_argv;

int main(int argc, char **argv)
{
	sbx_argv = argv;
	if (argc < 2) {
		usage(stderr);
		return EXIT_SBX;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("sbx %s\n", SBX_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	/* One-shot sandboxes of `sbx run` belong to the instance the environment names. */
	const char *inst = getenv("SBX_INSTANCE");
	if (inst && instance_set(inst) < 0)
		return sbx_die("SBX_INSTANCE: \"%s\" is not 1-%d of a-z 0-9 - _", inst,
			       INSTANCE_NAME_MAX);
	opterr = 0;
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (commands[i].name && !strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	return sbx_die("unknown command \"%s\" (see sbx --help)", argv[1]);
}
