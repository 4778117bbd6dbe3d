// SPDX-License-Identifier: MIT
/* The buffer budget: what sbxd holds for clients at once (bodies being collected,
 * collected command output, answers waiting for their reader), in shares: a tenant at
 * most a quarter of --buffer-memory, tenants together three quarters, the admins (the
 * unix socket) the rest. */
#include <stdlib.h>
#include <string.h>

#include "../sys/store.h"
#include "edge.h"

static uint64_t left(uint64_t limit, uint64_t used)
{
	return used < limit ? limit - used : 0; /* a charge may have gone past it */
}

uint64_t budget_room(const struct share *s)
{
	if (!s)
		return 0;
	uint64_t all = D.opt.buffer_memory, room = left(all, E.buffered);
	if (s != &E.admin_share) {
		uint64_t tenants = E.buffered - E.admin_share.bytes;
		if (left(all - all / 4, tenants) < room)
			room = left(all - all / 4, tenants);
		if (left(all / 4, s->bytes) < room)
			room = left(all / 4, s->bytes);
	}
	return room;
}

void budget_charge(struct share *s, uint64_t n)
{
	if (!s)
		return;
	s->bytes += n;
	E.buffered += n;
}

bool budget_take(struct share *s, uint64_t n)
{
	if (n > budget_room(s))
		return false;
	budget_charge(s, n);
	return true;
}

void budget_give(struct share *s, uint64_t n)
{
	if (!s)
		return;
	s->bytes -= n;
	E.buffered -= n;
}

/* A tenant's share, made on its first connection (tenants are few: the admins make
 * them); NULL if out of memory. */
struct share *share_of(const char *who)
{
	if (!strcmp(who, ADMIN_TENANT))
		return &E.admin_share;
	for (struct share *s = E.shares; s; s = s->next)
		if (!strcmp(s->name, who))
			return s;
	struct share *s = calloc(1, sizeof(*s));
	if (!s || !(s->name = strdup(who))) {
		free(s);
		return NULL;
	}
	s->next = E.shares;
	E.shares = s;
	return s;
}
