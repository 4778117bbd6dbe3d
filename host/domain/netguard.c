// SPDX-License-Identifier: MIT
/* The resolver sbxd serves to sandboxes, and the name check of their web connections.
 *
 * Resolver: every sandbox's DNS (UDP, to its gateway) is redirected here and forwarded to
 * the upstream resolver. A sandbox whose allow_out lists names gets answers only for
 * those names (REFUSED otherwise, so DNS is no channel out), and the addresses an answer
 * gives it are admitted for it, for their TTL, before the answer goes back. A name that
 * deny_out lists is REFUSED.
 *
 * Name check: a sandbox whose policy names domains has its TCP connections to ports 80
 * and 443 redirected here. The first bytes name the site (the TLS server name, the HTTP
 * Host); the connection goes on to the address the sandbox asked for only if the policy
 * allows both the address and the name, so that an allowed name cannot carry a
 * connection to another site on a shared address. Then the bytes are spliced through.
 * A refused connection is reset at once.
 *
 * Threads: the resolver's, the name check's listener, and two per checked connection. */
#define _GNU_SOURCE
#include "network.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../sandbox/macro.h"
#include "netparse.h"

#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80 /* linux/netfilter_ipv4.h */
#endif

#define ADMIT_MIN_S 60	 /* an admitted address stays at least this long, */
#define ADMIT_MAX_S 3600 /* and at most this long after its answer */
#define CHECK_WAIT_MS 10000
#define CHECK_HEAD 8192	 /* the most a connection's first bytes are read for its name */
#define ADMIT_MAX 1024	 /* addresses admitted for names, per sandbox */
#define MAX_CHECKED 4096 /* connections through the name check, of all sandboxes */
#define MAX_PORTS 4096	 /* connections to published ports, apart */

/* A pair's policy as the guard applies it. */
struct gpol {
	bool listed;
	char **allow, **deny;
	struct net_cidr allow_c[API_MAX_NET_RULES], deny_c[API_MAX_NET_RULES];
	unsigned nallow_c, ndeny_c;
	struct admitted {
		uint32_t addr;
		int64_t until; /* CLOCK_MONOTONIC ns */
	} * adm;
	unsigned nadm;
	uint64_t denied;
	unsigned conns;
};

static struct {
	pthread_mutex_t lock;
	struct gpol **pol; /* by pair */
	unsigned npol;
	int dns_fd, up_fd, proxy_fd;
	struct sockaddr_in up;
	pthread_t dns, proxy;
	bool started, stop;
	unsigned conns, port_conns;
} G = { .lock = PTHREAD_MUTEX_INITIALIZER, .dns_fd = -1, .up_fd = -1, .proxy_fd = -1 };

static void gpol_free(struct gpol *g)
{
	if (!g)
		return;
	strv_free(g->allow);
	strv_free(g->deny);
	free(g->adm);
	free(g);
}

static char **strv_copy(char **v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	if (!v)
		return NULL;
	char **c = calloc(n + 1, sizeof(*c));
	for (size_t i = 0; c && i < n; i++)
		if (!(c[i] = strdup(v[i]))) {
			strv_free(c);
			return NULL;
		}
	return c;
}

bool guard_checks(const struct net_policy *p)
{
	return p->allow_domains || p->deny_domains;
}

int guard_policy_set(int idx, const struct net_policy *p)
{
	struct gpol *g = NULL;

	if (idx <= 0)
		return -EINVAL;
	if (p && (p->allow_list || guard_checks(p))) {
		if (!(g = calloc(1, sizeof(*g))))
			return -ENOMEM;
		g->listed = p->allow_list;
		g->allow = strv_copy(p->allow_domains);
		g->deny = strv_copy(p->deny_domains);
		if ((p->allow_domains && !g->allow) || (p->deny_domains && !g->deny)) {
			gpol_free(g);
			return -ENOMEM;
		}
		memcpy(g->allow_c, p->allow, sizeof(g->allow_c));
		memcpy(g->deny_c, p->deny, sizeof(g->deny_c));
		g->nallow_c = p->nallow;
		g->ndeny_c = p->ndeny;
	}
	pthread_mutex_lock(&G.lock);
	if ((unsigned)idx >= G.npol) {
		unsigned n = (unsigned)idx + 1024;
		struct gpol **v = realloc(G.pol, n * sizeof(*v));
		if (!v) {
			pthread_mutex_unlock(&G.lock);
			gpol_free(g);
			return -ENOMEM;
		}
		memset(v + G.npol, 0, (n - G.npol) * sizeof(*v));
		G.pol = v;
		G.npol = n;
	}
	struct gpol *old = G.pol[idx];
	if (old && g) {
		g->denied = old->denied; /* counters go on across a policy change */
		g->conns = old->conns;
	}
	G.pol[idx] = g;
	pthread_mutex_unlock(&G.lock);
	gpol_free(old);
	return 0;
}

uint64_t guard_denied(int idx)
{
	uint64_t n = 0;
	pthread_mutex_lock(&G.lock);
	if (idx > 0 && (unsigned)idx < G.npol && G.pol[idx])
		n = G.pol[idx]->denied;
	pthread_mutex_unlock(&G.lock);
	return n;
}

static bool names_match(char **patterns, const char *name)
{
	for (char **p = patterns; p && *p; p++)
		if (domain_match(*p, name))
			return true;
	return false;
}

static bool in_cidrs(const struct net_cidr *v, unsigned n, uint32_t addr)
{
	for (unsigned i = 0; i < n; i++)
		if (net_cidr_has(&v[i], addr))
			return true;
	return false;
}

/* ---- the resolver ---- */

/* A query in flight upstream, by the id sbxd gave it. */
static struct dns_pending {
	struct sockaddr_in from;
	int64_t at;
	uint64_t qhash;
	uint16_t id;
	int idx;
	bool used;
} pending[65536];

/* What the policy of pair @idx says of a question for @name: forward it, or refuse. */
static bool dns_allowed(int idx, const char *name)
{
	bool ok = true;
	pthread_mutex_lock(&G.lock);
	struct gpol *g = (unsigned)idx < G.npol ? G.pol[idx] : NULL;
	if (g && names_match(g->deny, name))
		ok = false;
	else if (g && g->listed)
		ok = names_match(g->allow, name);
	pthread_mutex_unlock(&G.lock);
	return ok;
}

/* An answer for pair @idx: the addresses of a listed name are admitted (for the name
 * check of its web connections) before it goes. */
static void dns_admit(int idx, const uint8_t *m, size_t len)
{
	char name[NAME_MAX_LEN + 1];
	uint32_t addrs[32], ttls[32];
	uint16_t type;
	size_t end;
	int n;

	if (dns_question(m, len, name, &type, &end) < 0 ||
	    (n = dns_answers_a(m, len, addrs, ttls, 32)) <= 0)
		return;
	int64_t now = mono_ns();
	pthread_mutex_lock(&G.lock);
	struct gpol *g = (unsigned)idx < G.npol ? G.pol[idx] : NULL;
	for (int i = 0; g && g->listed && names_match(g->allow, name) && i < n; i++) {
		uint32_t secs = ttls[i] < ADMIT_MIN_S	? ADMIT_MIN_S
				: ttls[i] > ADMIT_MAX_S ? ADMIT_MAX_S
							: ttls[i];
		/* Its own slot again, or an expired one, or a new one (up to ADMIT_MAX). */
		unsigned k = 0;
		while (k < g->nadm && g->adm[k].addr != addrs[i] && g->adm[k].until > now)
			k++;
		if (k == g->nadm) {
			struct admitted *v = g->nadm < ADMIT_MAX
						     ? realloc(g->adm, (g->nadm + 1) * sizeof(*v))
						     : NULL;
			if (!v)
				break;
			g->adm = v;
			g->nadm++;
		}
		g->adm[k] = (struct admitted){ addrs[i], now + (int64_t)secs * 1000000000 };
	}
	pthread_mutex_unlock(&G.lock);
}

/* The query sbxd sends upstream for question @q (of @qend bytes, its question parsed):
 * made anew, a standard recursive query of that one question with EDNS, so that nothing
 * else of what a sandbox sent (opcode, flags, other sections) reaches the resolver. */
static size_t dns_rebuild(const uint8_t *q, size_t qend, uint16_t id, uint8_t *out, size_t cap)
{
	static const uint8_t opt[11] = { 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0 }; /* 1232 B */
	if (qend + sizeof(opt) > cap)
		return 0;
	memcpy(out, &id, 2);
	out[2] = 0x01, out[3] = 0x00;		/* query, RD */
	memcpy(out + 4, "\0\1\0\0\0\0\0\1", 8); /* one question, one additional */
	memcpy(out + 12, q + 12, qend - 12);
	memcpy(out + qend, opt, sizeof(opt));
	return qend + sizeof(opt);
}

/* Names no resolver of the internet answers, which would only tell about the host's own
 * network (its search domains, mDNS, LLMNR): refused. */
static bool dns_local_name(const char *name)
{
	size_t n = strlen(name);
	return !strchr(name, '.') || (n >= 6 && !strcmp(name + n - 6, ".local"));
}

/* FNV-1a of a question section: an answer must carry the one its query asked. */
static uint64_t dns_qhash(const uint8_t *q, size_t end)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 12; i < end; i++)
		h = (h ^ (uint8_t)(q[i] | ((q[i] >= 'A' && q[i] <= 'Z') ? 0x20 : 0))) *
		    1099511628211ULL;
	return h;
}

/* Queries of one pair in flight at most, and how long one waits for its answer. */
#define DNS_INFLIGHT 64
#define DNS_WAIT_NS 10000000000LL
static uint8_t inflight[65536];

static void dns_forget(struct dns_pending *q)
{
	if (q->used && q->idx > 0 && q->idx < 65536 && inflight[q->idx])
		inflight[q->idx]--;
	q->used = false;
}

/* Queries unanswered for too long are forgotten (each second). */
static void dns_expire(int64_t now)
{
	static int64_t last;
	if (now - last < 1000000000)
		return;
	last = now;
	for (size_t i = 0; i < 65536; i++)
		if (pending[i].used && now - pending[i].at > DNS_WAIT_NS)
			dns_forget(&pending[i]);
}

static void dns_query(void)
{
	uint8_t buf[4096], out[512];
	char name[NAME_MAX_LEN + 1];
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	uint16_t type, id;
	size_t end;
	ssize_t n =
		recvfrom(G.dns_fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
	int idx = n >= 12 ? net_pair_of(from.sin_addr.s_addr) : 0;

	/* A standard query (QR 0, opcode 0) of one valid name, from a sandbox. */
	if (idx <= 0 || idx >= 65536 || (buf[2] & 0xf8) ||
	    dns_question(buf, (size_t)n, name, &type, &end) < 0)
		return;
	if (!dns_allowed(idx, name) || dns_local_name(name) || inflight[idx] >= DNS_INFLIGHT) {
		size_t r = dns_refuse(buf, end, out, sizeof(out));
		if (r)
			(void)sendto(G.dns_fd, out, r, MSG_DONTWAIT, (struct sockaddr *)&from, fl);
		return;
	}
	/* A random id for upstream, not one in use: answers are matched by it. */
	int64_t now = mono_ns();
	for (int tries = 0;; tries++) {
		if (getrandom(&id, sizeof(id), 0) != sizeof(id) || tries == 8)
			return;
		if (!pending[id].used)
			break;
	}
	struct dns_pending *q = &pending[id];
	*q = (struct dns_pending){
		.from = from, .at = now, .idx = idx, .used = true, .qhash = dns_qhash(buf, end)
	};
	memcpy(&q->id, buf, 2);
	inflight[idx]++;
	size_t len = dns_rebuild(buf, end, id, out, sizeof(out));
	if (!len || send(G.up_fd, out, len, MSG_DONTWAIT) < 0)
		dns_forget(q);
}

static void dns_answer(void)
{
	uint8_t buf[4096];
	char name[NAME_MAX_LEN + 1];
	ssize_t n = recv(G.up_fd, buf, sizeof(buf), MSG_DONTWAIT);
	uint16_t id, type;
	size_t end;

	if (n < 12)
		return;
	memcpy(&id, buf, 2);
	struct dns_pending *q = &pending[id];
	/* An answer (QR 1) to the question asked under that id. */
	if (!q->used || !(buf[2] & 0x80) || dns_question(buf, (size_t)n, name, &type, &end) < 0 ||
	    dns_qhash(buf, end) != q->qhash)
		return;
	struct sockaddr_in to = q->from;
	int idx = q->idx;
	memcpy(buf, &q->id, 2);
	dns_forget(q);
	dns_admit(idx, buf, (size_t)n);
	(void)sendto(G.dns_fd, buf, (size_t)n, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof(to));
}

static void *dns_main(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&G.stop, __ATOMIC_ACQUIRE)) {
		struct pollfd p[2] = { { .fd = G.dns_fd, .events = POLLIN },
				       { .fd = G.up_fd, .events = POLLIN } };
		if (poll(p, 2, 500) < 0 && errno != EINTR)
			break;
		if (p[0].revents & POLLIN)
			dns_query();
		if (p[1].revents & POLLIN)
			dns_answer();
		dns_expire(mono_ns());
	}
	return NULL;
}

/* ---- the name check ---- */

struct checked {
	int fd, up; /* the sandbox's connection, and ours to where it asked */
	int idx;
	struct sockaddr_in dst;
};

/* Whether pair @idx may reach @dst (port @port) naming @name (NULL: none found). */
static bool check_allows(int idx, uint32_t dst, uint16_t port, const char *name)
{
	bool ok;

	if (net_platform_denied(dst, port))
		return false;
	pthread_mutex_lock(&G.lock);
	struct gpol *g = (unsigned)idx < G.npol ? G.pol[idx] : NULL;
	if (!g) {
		ok = true;
	} else if (in_cidrs(g->deny_c, g->ndeny_c, dst) || (name && names_match(g->deny, name))) {
		ok = false;
	} else if (!g->listed || in_cidrs(g->allow_c, g->nallow_c, dst)) {
		ok = true;
	} else {
		/* Admitted for a listed name, and the connection names a listed name. */
		ok = false;
		for (unsigned k = 0; k < g->nadm && !ok; k++)
			ok = g->adm[k].addr == dst && g->adm[k].until > mono_ns();
		ok = ok && name && names_match(g->allow, name);
	}
	if (!ok && g)
		g->denied++;
	pthread_mutex_unlock(&G.lock);
	return ok;
}

/* The first bytes of @c, until they name a site (or cannot): 1 with @name, 0 without. */
static int read_head(struct checked *c, uint8_t *buf, size_t *len, char *name)
{
	bool tls = ntohs(c->dst.sin_port) == 443;
	int64_t deadline = mono_ns() + (int64_t)CHECK_WAIT_MS * 1000000;

	for (*len = 0; *len < CHECK_HEAD;) {
		int left = (int)((deadline - mono_ns()) / 1000000);
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		if (left <= 0 || poll(&p, 1, left) <= 0)
			return 0;
		ssize_t n = recv(c->fd, buf + *len, CHECK_HEAD - *len, 0);
		if (n <= 0)
			return 0;
		*len += (size_t)n;
		int r = tls ? tls_sni(buf, *len, name) : http_host((const char *)buf, *len, name);
		if (r != 0)
			return r > 0;
	}
	return 0;
}

static void splice_through(int from, int to)
{
	int pipefd[2];

	if (pipe2(pipefd, O_CLOEXEC) == 0) {
		/* A larger pipe moves more a call (the default holds 64 KiB). */
		int size = fcntl(pipefd[1], F_SETPIPE_SZ, 1 << 20);
		size_t chunk = size > 0 ? (size_t)size : 1 << 16;
		for (;;) {
			ssize_t n = splice(from, NULL, pipefd[1], NULL, chunk, SPLICE_F_MOVE);
			if (n <= 0)
				break;
			while (n > 0) {
				ssize_t w =
					splice(pipefd[0], NULL, to, NULL, (size_t)n, SPLICE_F_MOVE);
				if (w <= 0)
					goto out;
				n -= w;
			}
		}
	out:
		close(pipefd[0]);
		close(pipefd[1]);
	}
	shutdown(to, SHUT_WR);
}

static void *back_main(void *arg)
{
	struct checked *c = arg;
	splice_through(c->up, c->fd);
	return NULL;
}

static void conn_end(struct checked *c)
{
	pthread_mutex_lock(&G.lock);
	struct gpol *g = (unsigned)c->idx < G.npol ? G.pol[c->idx] : NULL;
	if (g && g->conns)
		g->conns--;
	G.conns--;
	pthread_mutex_unlock(&G.lock);
	closep(&c->fd);
	closep(&c->up);
	free(c);
}

/* A refused connection is reset, not closed: the sandbox's side fails at once. */
static void reset(int fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };
	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

/* ---- one HTTP request at a time ---- */

#define IDLE_S 900 /* a forwarded connection quiet this long goes */

static int send_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EPIPE;
		p += n, len -= (size_t)n;
	}
	return 0;
}

/* Exactly @n body bytes from @from to @to, those already read (@pre) first. */
static int copy_n(int from, int to, const char *pre, size_t pre_len, uint64_t n)
{
	char buf[65536];
	size_t k = pre_len < n ? pre_len : (size_t)n;

	if (send_all(to, pre, k) < 0)
		return -EPIPE;
	for (n -= k; n > 0; n -= k) {
		ssize_t r = recv(from, buf, n < sizeof(buf) ? (size_t)n : sizeof(buf), 0);
		if (r < 0 && errno == EINTR) {
			k = 0;
			continue;
		}
		if (r <= 0 || send_all(to, buf, (size_t)r) < 0)
			return -EPIPE;
		k = (size_t)r;
	}
	return 0;
}

/* A chunked body, passed on as it is up to its end (the last chunk and the trailers),
 * and not a byte more. */
struct chunked {
	enum {
		CH_SIZE,
		CH_DATA,
		CH_DATA_END,
		CH_TRAILER,
		CH_DONE
	} st;
	uint64_t left; /* of the chunk's data */
	char line[256];
	size_t ll;
};

/* Consumes @len bytes of @p; how many belong to the body (fewer once it has ended), or
 * -EINVAL. */
static ssize_t chunked_feed(struct chunked *c, const char *p, size_t len)
{
	size_t i = 0;
	while (i < len && c->st != CH_DONE) {
		if (c->st == CH_DATA) {
			size_t k = len - i < c->left ? len - i : (size_t)c->left;
			i += k, c->left -= k;
			if (!c->left)
				c->st = CH_DATA_END, c->ll = 0;
			continue;
		}
		char ch = p[i++];
		if (c->ll == sizeof(c->line) - 1)
			return -EINVAL;
		c->line[c->ll++] = ch;
		if (ch != '\n')
			continue;
		if (c->ll < 2 || c->line[c->ll - 2] != '\r')
			return -EINVAL;
		c->line[c->ll - 2] = '\0';
		c->ll = 0;
		if (c->st == CH_DATA_END) {
			if (c->line[0])
				return -EINVAL;
			c->st = CH_SIZE;
		} else if (c->st == CH_SIZE) {
			char *end;
			if (!isxdigit((unsigned char)c->line[0]) || strlen(c->line) > 200)
				return -EINVAL;
			errno = 0;
			c->left = strtoull(c->line, &end, 16);
			if (errno || (*end && *end != ';'))
				return -EINVAL;
			c->st = c->left ? CH_DATA : CH_TRAILER;
		} else if (!c->line[0]) { /* CH_TRAILER: an empty line ends it */
			c->st = CH_DONE;
		}
	}
	return (ssize_t)i;
}

static int copy_chunked(int from, int to, const char *pre, size_t pre_len)
{
	struct chunked c = { 0 };
	char buf[65536];
	const char *p = pre;
	ssize_t n = (ssize_t)pre_len;

	for (;;) {
		ssize_t k = chunked_feed(&c, p, (size_t)n);
		if (k < 0 || send_all(to, p, (size_t)k) < 0)
			return -EPIPE;
		if (c.st == CH_DONE)
			return 0;
		do
			n = recv(from, buf, sizeof(buf), 0);
		while (n < 0 && errno == EINTR);
		if (n <= 0)
			return -EPIPE;
		p = buf;
	}
}

static void idle_timeout(int fd)
{
	struct timeval tv = { .tv_sec = IDLE_S };
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* Both ways at once, until either side has ended both. */
static void both_ways(int client, int up)
{
	struct checked c = { .fd = client, .up = up };
	pthread_attr_t at;
	pthread_t back;

	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, 64 << 10);
	if (pthread_create(&back, &at, back_main, &c) == 0) {
		splice_through(client, up);
		pthread_join(back, NULL);
	}
	pthread_attr_destroy(&at);
}

/* One request (its head complete in @buf, @len bytes with what followed) from @client to
 * @up, rewritten (http_rewrite_head: less @drop, @extra added, "Connection: close"), its
 * body to its end and no further: a second request on the connection never reaches @up
 * unchecked. Then the answer back; an upgrade answered 101 goes on as a stream both ways.
 * -EINVAL: a request to refuse. */
static int http_one(int client, int up, const char *buf, size_t len, const char *const *drop,
		    const char *extra)
{
	struct http_framing f;
	char *head, status[1024];
	size_t hl, sl = 0;
	int r = http_rewrite_head(buf, len, drop, extra, &head, &hl, &f);

	if (r < 0)
		return r;
	idle_timeout(client);
	idle_timeout(up);
	r = send_all(up, head, hl);
	free(head);
	const char *rest = buf + f.head_len;
	size_t rl = len - f.head_len;
	if (r == 0 && f.chunked)
		r = copy_chunked(client, up, rest, rl);
	else if (r == 0 && f.content_length > 0)
		r = copy_n(client, up, rest, rl, (uint64_t)f.content_length);
	if (r < 0)
		return 0; /* the client or server went: nothing to answer */
	if (!f.upgrade) {
		splice_through(up, client);
		return 0;
	}
	/* An upgrade: its answer's status line says whether the connection turns. */
	while (sl < sizeof(status) && !memmem(status, sl, "\r\n", 2)) {
		ssize_t n = recv(up, status + sl, sizeof(status) - sl, 0);
		if (n <= 0)
			return 0;
		sl += (size_t)n;
	}
	if (send_all(client, status, sl) < 0)
		return 0;
	if (sl > 12 &&
	    (!strncmp(status, "HTTP/1.1 101", 12) || !strncmp(status, "HTTP/1.0 101", 12)))
		both_ways(client, up);
	else
		splice_through(up, client);
	return 0;
}

static void *checked_main(void *arg)
{
	struct checked *c = arg;
	uint8_t buf[CHECK_HEAD];
	char name[NAME_MAX_LEN + 1];
	size_t len;

	bool named = read_head(c, buf, &len, name) == 1;
	if (!check_allows(c->idx, c->dst.sin_addr.s_addr, ntohs(c->dst.sin_port),
			  named ? name : NULL)) {
		reset(c->fd);
		conn_end(c);
		return NULL;
	}
	struct timeval tv = { .tv_sec = 10 };
	bool tls = ntohs(c->dst.sin_port) == 443;
	c->up = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->up < 0 || setsockopt(c->up, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(c->up, (struct sockaddr *)&c->dst, sizeof(c->dst)) < 0) {
		reset(c->fd);
		conn_end(c);
		return NULL;
	}
	tv.tv_sec = 0;
	(void)setsockopt(c->up, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	int one = 1;
	(void)setsockopt(c->up, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (tls) {
		/* TLS: the name it asked for holds for the whole connection. */
		idle_timeout(c->fd);
		idle_timeout(c->up);
		if (send_all(c->up, (const char *)buf, len) == 0)
			both_ways(c->fd, c->up);
	} else if (http_one(c->fd, c->up, (const char *)buf, len, NULL, NULL) < 0) {
		/* HTTP: this request only; the next one comes on a connection checked anew. */
		reset(c->fd);
	}
	conn_end(c);
	return NULL;
}

static void proxy_accept(void)
{
	struct sockaddr_in peer;
	socklen_t pl = sizeof(peer), dl = sizeof(struct sockaddr_in);
	int fd = accept4(G.proxy_fd, (struct sockaddr *)&peer, &pl, SOCK_CLOEXEC);
	struct checked *c = fd >= 0 ? calloc(1, sizeof(*c)) : NULL;
	pthread_attr_t at;
	pthread_t t;

	if (!c) {
		if (fd >= 0) {
			reset(fd);
			close(fd);
		}
		return;
	}
	*c = (struct checked){ .fd = fd, .up = -1, .idx = net_pair_of(peer.sin_addr.s_addr) };
	pthread_mutex_lock(&G.lock);
	struct gpol *g = c->idx > 0 && (unsigned)c->idx < G.npol ? G.pol[c->idx] : NULL;
	bool room = g && G.conns < MAX_CHECKED && g->conns < D.opt.net_max_conns;
	if (room) {
		g->conns++;
		G.conns++;
	} else if (g) {
		g->denied++;
	}
	pthread_mutex_unlock(&G.lock);
	if (!room) {
		reset(fd);
		close(fd);
		free(c);
		return;
	}
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, 128 << 10);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &c->dst, &dl) < 0 ||
	    pthread_create(&t, &at, checked_main, c) != 0) {
		reset(fd);
		conn_end(c);
	}
	pthread_attr_destroy(&at);
}

static void *proxy_main(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&G.stop, __ATOMIC_ACQUIRE)) {
		struct pollfd p = { .fd = G.proxy_fd, .events = POLLIN };
		if (poll(&p, 1, 500) < 0 && errno != EINTR)
			break;
		if (p.revents & POLLIN)
			proxy_accept();
	}
	return NULL;
}

/* ---- start and stop ---- */

/* The upstream resolver: --net-dns, else the host's first IPv4 nameserver. */
static int dns_upstream(struct sockaddr_in *ret, char *why, size_t size)
{
	char line[256], addr[64] = "";
	*ret = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(53) };

	if (D.opt.net_dns) {
		snprintf(addr, sizeof(addr), "%s", D.opt.net_dns);
	} else {
		FILE *f = fopen("/etc/resolv.conf", "re");
		while (f && fgets(line, sizeof(line), f) && !*addr) {
			char a[64];
			struct in_addr tmp;
			if (sscanf(line, "nameserver %63s", a) == 1 &&
			    inet_pton(AF_INET, a, &tmp) == 1)
				strcpy(addr, a);
		}
		if (f)
			fclose(f);
	}
	if (!*addr || inet_pton(AF_INET, addr, &ret->sin_addr) != 1) {
		snprintf(why, size,
			 *addr ? "--net-dns %s: not an IPv4 address"
			       : "no IPv4 nameserver in /etc/resolv.conf (give --net-dns)",
			 addr);
		return -EINVAL;
	}
	return 0;
}

/* A socket of @type bound to a free port below 1024 of every address (one only root can
 * take: no other user of the host can stand in while sbxd is down and its table still
 * sends sandboxes' DNS and web connections there): its port. */
static int bind_any(int type, int *ret_fd)
{
	struct sockaddr_in any = { .sin_family = AF_INET };
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0), r = -EADDRINUSE;

	if (fd < 0)
		return -errno;
	for (unsigned port = 1023; port >= 600 && r == -EADDRINUSE; port--) {
		any.sin_port = htons((uint16_t)port);
		r = bind(fd, (struct sockaddr *)&any, sizeof(any)) == 0 ? (int)port : -errno;
	}
	if (r > 0 && type == SOCK_STREAM && listen(fd, 1024) < 0)
		r = -errno;
	if (r < 0) {
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return r;
}

int guard_open(uint16_t *ret_dns_port, uint16_t *ret_proxy_port, char *why, size_t size)
{
	int r = dns_upstream(&G.up, why, size), dport = 0, pport = 0;

	if (r < 0)
		return r;
	G.up_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (G.up_fd < 0 || connect(G.up_fd, (struct sockaddr *)&G.up, sizeof(G.up)) < 0 ||
	    (dport = bind_any(SOCK_DGRAM, &G.dns_fd)) < 0 ||
	    (pport = bind_any(SOCK_STREAM, &G.proxy_fd)) < 0) {
		r = dport < 0 ? dport : pport < 0 ? pport : -errno;
		snprintf(why, size, "resolver and name check sockets: %s", strerror(-r));
		return r;
	}
	*ret_dns_port = (uint16_t)dport;
	*ret_proxy_port = (uint16_t)pport;
	return 0;
}

int guard_start(void)
{
	if (pthread_create(&G.dns, NULL, dns_main, NULL) != 0)
		return -EAGAIN;
	if (pthread_create(&G.proxy, NULL, proxy_main, NULL) != 0) {
		__atomic_store_n(&G.stop, true, __ATOMIC_RELEASE);
		pthread_join(G.dns, NULL);
		return -EAGAIN;
	}
	G.started = true;
	return 0;
}

void guard_stop(void)
{
	if (!G.started)
		return;
	__atomic_store_n(&G.stop, true, __ATOMIC_RELEASE);
	pthread_join(G.dns, NULL);
	pthread_join(G.proxy, NULL);
	G.started = false;
	closep(&G.dns_fd);
	closep(&G.up_fd);
	closep(&G.proxy_fd);
}

/* ---- connections to a sandbox's ports ---- */

struct portconn {
	int fd, up;
	bool upgrade;
	bool netns; /* by its namespace's loopback, not its address */
	pid_t pid;
	struct sockaddr_in dst;
	char *head;
	size_t head_len;
};

/* A socket in the network namespace of @pid (its loopback is then reachable). */
static int tcp_socket(int idx, uint64_t arg)
{
	(void)idx, (void)arg;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
}

/* The length of PORT_FAIL_BODY (checked where it is used), as a string too. */
#define PORT_FAIL_LEN 74
#define PORT_STR_(x) #x
#define PORT_STR(x) PORT_STR_(x)

static void *port_main(void *arg)
{
	struct portconn *p = arg;
	struct timeval tv = { .tv_sec = 5 };
#define PORT_FAIL_BODY                                                                             \
	"{\"error\":{\"code\":\"bad_gateway\",\"message\":\"nothing listens on that port\"}}\n"
	static const char fail[] = "HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\n"
				   "Connection: close\r\nContent-Length: " PORT_STR(
					   PORT_FAIL_LEN) "\r\n\r\n" PORT_FAIL_BODY;
	_Static_assert(sizeof(PORT_FAIL_BODY) - 1 == PORT_FAIL_LEN, "the 502's Content-Length");
	static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
				  "Connection: close\r\n\r\n";
	static const char ok[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: tcp\r\n"
				 "Connection: Upgrade\r\n\r\n";

	p->up = p->netns ? net_in_pid(p->pid, tcp_socket, 0, 0) : tcp_socket(0, 0);
	bool up = p->up >= 0 && setsockopt(p->up, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0 &&
		  connect(p->up, (struct sockaddr *)&p->dst, sizeof(p->dst)) == 0;
	if (up) {
		tv.tv_sec = 0;
		(void)setsockopt(p->up, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	if (!up) {
		(void)send(p->fd, fail, sizeof(fail) - 1, MSG_NOSIGNAL);
	} else if (p->upgrade) {
		/* A byte stream (sbx port-forward). */
		idle_timeout(p->fd);
		idle_timeout(p->up);
		if (send_all(p->fd, ok, sizeof(ok) - 1) == 0 &&
		    send_all(p->up, p->head, p->head_len) == 0)
			both_ways(p->fd, p->up);
	} else if (http_one(p->fd, p->up, p->head, p->head_len, NULL, NULL) < 0) {
		/* One request a connection: each is authenticated (and stripped) by sbxd. */
		(void)send(p->fd, bad, sizeof(bad) - 1, MSG_NOSIGNAL);
	}
	pthread_mutex_lock(&G.lock);
	G.port_conns--;
	pthread_mutex_unlock(&G.lock);
	closep(&p->fd);
	closep(&p->up);
	free(p->head);
	free(p);
	return NULL;
}

bool box_port_published(const struct box *b, uint16_t port, bool *ret_public)
{
	*ret_public = b->req.netp.public_ports;
	if (b->req.net != NET_INTERNET || b->state != BOX_RUNNING || !b->net_idx)
		return false;
	if (b->req.netp.all_ports)
		return true;
	for (unsigned i = 0; i < b->req.netp.nports; i++)
		if (b->req.netp.ports[i] == port)
			return true;
	return false;
}

int box_port_connect(struct box *b, uint16_t port, int fd, const char *head, size_t len,
		     bool upgrade, struct why *why)
{
	struct portconn *p;
	pthread_attr_t at;
	pthread_t t;

	if (b->state != BOX_RUNNING || b->pid <= 0)
		return why_set(why, -EBUSY, "sandbox %s is not running", b->id);
	if (!(p = calloc(1, sizeof(*p))) || (len && !(p->head = malloc(len)))) {
		free(p);
		return why_set(why, -ENOMEM, "out of memory");
	}
	*p = (struct portconn){ .fd = -1,
				.up = -1,
				.upgrade = upgrade,
				.pid = b->pid,
				.head = p->head,
				.head_len = len };
	if (len)
		memcpy(p->head, head, len);
	p->dst = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(port) };
	/* By its address when it has one (what it serves outside is billed as such), else
	 * by its own loopback. */
	p->dst.sin_addr.s_addr = b->net_idx ? net_pair_address(b->net_idx) : 0;
	if (!p->dst.sin_addr.s_addr)
		p->dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK), p->netns = true;
	pthread_mutex_lock(&G.lock);
	bool room = G.port_conns < MAX_PORTS;
	if (room)
		G.port_conns++;
	pthread_mutex_unlock(&G.lock);
	if (!room) {
		free(p->head);
		free(p);
		return why_set(why, -EAGAIN, "too many connections to sandbox ports; retry");
	}
	p->fd = fd;
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, 128 << 10);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	int r = pthread_create(&t, &at, port_main, p);
	pthread_attr_destroy(&at);
	if (r != 0) {
		pthread_mutex_lock(&G.lock);
		G.port_conns--;
		pthread_mutex_unlock(&G.lock);
		free(p->head);
		free(p);
		return why_set(why, -EAGAIN, "cannot start a thread; retry");
	}
	return 0;
}
