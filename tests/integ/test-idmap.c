// SPDX-License-Identifier: MIT
/* A user namespace for a range of host ids, made from several threads at once, as
 * sbxd's workers do when they restore a fork's copies together: every call returns,
 * promptly, and leaves no child behind. Runs as root. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../sandbox/idmap.h"
#include "../unit/harness.h"

#define CALLERS 4
#define ROUNDS 300

/* ROUNDS namespaces for the range @arg (an index), each closed; NULL or the failure. */
static void *caller(void *arg)
{
	uid_t base = IDMAP_FIRST + (uid_t)(uintptr_t)arg * IDMAP_SIZE;

	for (int i = 0; i < ROUNDS; i++) {
		int ns = idmap_userns_fd(base);
		if (ns < 0)
			return (void *)(intptr_t)ns;
		close(ns);
	}
	return NULL;
}

/* Each call's child, which holds the namespace until the parent has opened it, once
 * kept a copy of every descriptor open when it was cloned, another call's pipe among
 * them: two calls that made their pipes before either cloned then waited for each
 * other's child forever. The alarm fails the case instead of hanging it. */
TEST(userns_fd_concurrent_callers)
{
	pthread_t t[CALLERS];

	alarm(60);
	for (uintptr_t i = 0; i < CALLERS; i++)
		CHECK(pthread_create(&t[i], NULL, caller, (void *)i) == 0);
	for (int i = 0; i < CALLERS; i++) {
		void *r;
		CHECK(pthread_join(t[i], &r) == 0);
		CHECK(r == NULL);
	}
	alarm(0);
	CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD);
}
