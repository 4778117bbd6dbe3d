// SPDX-License-Identifier: MIT
/* One libnftables context for the process, created on first use, its output and errors
 * captured in buffers rather than printed. */
#define _GNU_SOURCE
#include "nft.h"

#include <errno.h>
#include <nftables/libnftables.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t nft_lock = PTHREAD_MUTEX_INITIALIZER;
static struct nft_ctx *nft;

/* Copies the first line of nft's error output into @err. */
static void first_line(const char *text, char *err, size_t size)
{
	if (!err || !size)
		return;
	const char *s = text && *text ? text : "nft: failed";
	if (!strncmp(s, "Error: ", 7))
		s += 7;
	size_t n = strcspn(s, "\n");
	snprintf(err, size, "%.*s", (int)n, s);
}

static char *run_locked(const char *cmd, char *err, size_t size)
{
	if (!nft) {
		nft = nft_ctx_new(NFT_CTX_DEFAULT);
		if (!nft || nft_ctx_buffer_output(nft) || nft_ctx_buffer_error(nft)) {
			first_line("cannot start libnftables", err, size);
			if (nft)
				nft_ctx_free(nft);
			nft = NULL;
			return NULL;
		}
	}
	int r = nft_run_cmd_from_buffer(nft, cmd);
	const char *out = nft_ctx_get_output_buffer(nft);
	const char *e = nft_ctx_get_error_buffer(nft);
	if (r != 0) {
		first_line(e, err, size);
		return NULL;
	}
	return strdup(out ? out : "");
}

int nft_run(const char *cmd, char *err, size_t size)
{
	pthread_mutex_lock(&nft_lock);
	char *out = run_locked(cmd, err, size);
	pthread_mutex_unlock(&nft_lock);
	if (!out)
		return -EINVAL;
	free(out);
	return 0;
}

char *nft_query(const char *cmd, char *err, size_t size)
{
	pthread_mutex_lock(&nft_lock);
	char *out = run_locked(cmd, err, size);
	pthread_mutex_unlock(&nft_lock);
	return out;
}
