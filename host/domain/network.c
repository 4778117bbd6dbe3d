// SPDX-License-Identifier: MIT
/* Sandbox networking, mode "internet" (DESIGN.md section 3.3).
 *
 * Each sandbox gets a veth pair of its own, numbered: pair N is the host's link
 * PREFIX<N> with address BASE+2N/31, and the sandbox's eth0 with BASE+2N+1/31, whose
 * default route is the host's end. No bridge: sandboxes share no link. The pair is made
 * with its sandbox end already in the sandbox's namespace (moving a link between
 * namespaces would wait for an RCU grace period, tens of milliseconds), while the
 * sandbox mounts its root. Its policy is in place before: nothing can be sent unchecked.
 *
 * One nftables table per instance holds every rule, keyed by sets and maps (so the cost
 * per packet does not grow with the number of sandboxes): the platform deny set, the
 * operator's exceptions, the tenants' deny and allow entries (source . destination
 * intervals), DNS redirected to sbxd's forwarder, a connection cap, masquerade out of the
 * uplink. A refused packet is answered (TCP reset, ICMP administratively prohibited) and
 * counted per source address.
 *
 * Threads: the launch workers (acquire, attach), the loop (release, policy, counters)
 * and the guard's (netguard.c). N.lock guards the pairs' states. */
#define _GNU_SOURCE
#include "network.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <jansson.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../sandbox/instance.h"
#include "../../sandbox/macro.h"
#include "../../sandbox/nsutil.h"
#include "../sys/log.h"
#include "../sys/netlink.h"
#include "../sys/nft.h"

/* Connections of pair N carry the mark NET_CT_MARK | N (apart from marks others use). */
#define NET_CT_MARK 0x5b000000U

enum pair_state {
	PAIR_FREE,
	PAIR_TAKEN,
};

/* The platform's deny set, besides the pool and the host's own addresses. */
static const char *const platform_deny[] = {
	"0.0.0.0/8",	  "10.0.0.0/8",	   "100.64.0.0/10", "127.0.0.0/8",
	"169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",  "192.168.0.0/16",
	"198.18.0.0/15",  "224.0.0.0/4",   "240.0.0.0/4",
};

static struct {
	struct net_cidr platform[ARRAY_SIZE(platform_deny)]; /* parsed */
	uint32_t base;					     /* host byte order */
	unsigned prefix;
	unsigned npairs;
	char uplink[IF_NAMESIZE];
	char ifprefix[8]; /* "s" + 5 hex + "_" */
	char table[32];
	uint16_t dns_port, proxy_port;
	pthread_mutex_t lock;
	uint8_t *state;
	uint64_t *denied; /* refusals by pair, as last listed (denied_refresh) */
	unsigned next;
	bool threads;
	/* Re-adopted sandboxes' pairs and policies, until the table is installed. */
	struct claim {
		int idx;
		const struct net_policy *p;
	} * claims;
	unsigned nclaims;
} N = { .lock = PTHREAD_MUTEX_INITIALIZER };

static uint32_t host_addr(int idx)
{
	return htonl(N.base + 2U * (unsigned)idx);
}

static uint32_t box_addr(int idx)
{
	return htonl(N.base + 2U * (unsigned)idx + 1);
}

static const char *ntoa(uint32_t a, char buf[static INET_ADDRSTRLEN])
{
	return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

static void link_name(int idx, char buf[static IF_NAMESIZE])
{
	/* 7 + at most 5 digits (pairs number below 65536) */
	snprintf(buf, IF_NAMESIZE, "%.7s%u", N.ifprefix, (unsigned)idx & 0xffff);
}

/* Runs @fn(@idx, @arg) in the network namespace @ns, from the calling thread, which comes
 * back to its own; what @fn returned. */
static int in_netns(int ns, int (*fn)(int idx, uint64_t arg), int idx, uint64_t arg)
{
	_cleanup_close_ int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);

	if (self < 0 || setns(ns, CLONE_NEWNET) < 0)
		return -errno;
	int r = fn(idx, arg);
	if (setns(self, CLONE_NEWNET) < 0)
		abort(); /* cannot fail for a thread that could leave it */
	return r;
}

int net_in_pid(pid_t pid, int (*fn)(int idx, uint64_t arg), int idx, uint64_t arg)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	_cleanup_close_ int ns = open(path, O_RDONLY | O_CLOEXEC);
	return ns < 0 ? -errno : in_netns(ns, fn, idx, arg);
}

/* Inside a pair's namespace: lo, and eth0 with its address and default route. */
static int inside_setup(int idx, uint64_t arg)
{
	struct nl nl;
	int r = nsutil_lo_up(), ifindex;

	(void)arg;
	if (r == 0)
		r = nl_open(&nl);
	if (r < 0)
		return r;
	ifindex = (int)if_nametoindex("eth0");
	r = ifindex ? nl_addr_add(&nl, ifindex, box_addr(idx), 31) : -ENODEV;
	if (r == 0)
		r = nl_link_up(&nl, ifindex);
	if (r == 0)
		r = nl_route_add(&nl, 0, 0, host_addr(idx), ifindex);
	nl_close(&nl);
	return r;
}

/* Egress of @rate bits a second on eth0, beyond the sandbox's reach. */
static int inside_rate(int idx, uint64_t rate)
{
	struct nl nl;
	int r = nl_open(&nl), ifindex = (int)if_nametoindex("eth0");
	uint64_t bytes = rate / 8;
	/* A burst of 1/100 s at the rate, at least 16 KiB. */
	uint32_t burst = bytes / 100 > 16384 ? (uint32_t)(bytes / 100) : 16384;

	(void)idx;
	if (r < 0)
		return r;
	r = ifindex ? nl_qdisc_tbf(&nl, ifindex, bytes, burst) : -ENODEV;
	nl_close(&nl);
	return r;
}

/* Pair @idx, its sandbox end made in the network namespace @ns: both ends configured.
 * 0 or -errno (nothing left then). */
static int pair_make(int idx, int ns)
{
	char name[IF_NAMESIZE], path[96];
	struct nl nl;
	int r, ifindex = 0;

	if ((r = nl_open(&nl)) < 0)
		return r;
	link_name(idx, name);
	r = nl_veth_add(&nl, name, "eth0", ns);
	ifindex = r == 0 ? (int)if_nametoindex(name) : 0;
	if (r == 0 && !ifindex)
		r = -ENODEV;
	if (r == 0)
		r = nl_addr_add(&nl, ifindex, host_addr(idx), 31);
	if (r == 0)
		r = nl_link_up(&nl, ifindex);
	if (r == 0) {
		/* Forwarding on for this link only: the host's own setting is not touched. */
		snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/forwarding", name);
		_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, "1", 1) != 1)
			r = -errno;
	}
	if (r == 0)
		r = in_netns(ns, inside_setup, idx, 0);
	if (r < 0 && ifindex)
		(void)nl_link_del(&nl, ifindex);
	nl_close(&nl);
	return r;
}

/* A free pair number, marked @state; -ENOSPC when every one is in use. Locked. */
static int pair_pick(enum pair_state state)
{
	for (unsigned k = 0; k < N.npairs; k++) {
		unsigned i = (N.next + k) % N.npairs;
		if (i == 0 || N.state[i] != PAIR_FREE)
			continue;
		N.state[i] = (uint8_t)state;
		N.next = i + 1;
		return (int)i;
	}
	return -ENOSPC;
}

/* ---- nftables ---- */

/* Appends to a command being built; false once it no longer fits. */
struct cmd {
	char *buf;
	size_t len, cap;
	bool full;
};

static void __attribute__((format(printf, 2, 3))) cmd_add(struct cmd *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = c->full ? -1 : vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		c->full = true;
		return;
	}
	if (c->cap - c->len <= (size_t)n) {
		size_t cap = c->cap ? c->cap : 4096;
		while (cap - c->len <= (size_t)n)
			cap *= 2;
		char *b = realloc(c->buf, cap);
		if (!b) {
			c->full = true;
			return;
		}
		c->buf = b, c->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(c->buf + c->len, c->cap - c->len, fmt, ap);
	va_end(ap);
	c->len += (size_t)n;
}

static int cmd_run(struct cmd *c, char *err, size_t size)
{
	if (err && size)
		snprintf(err, size, "out of memory");
	int r = c->full ? -ENOMEM : nft_run(c->buf ? c->buf : "", err, size);
	if (r < 0 && err)
		logmsg(3, "network: nft refused: %s\n%s", err, c->buf ? c->buf : "");
	free(c->buf);
	*c = (struct cmd){ 0 };
	return r;
}

/* The table, made or brought up to date: its chains anew, its sets (and what the
 * sandboxes still running put in them) kept. */
static void policy_elements(struct cmd *c, const char *verb, int idx, const struct net_policy *p);

static int table_install(char *err, size_t size)
{
	const char *t = N.table, *p = N.ifprefix;
	char pool[INET_ADDRSTRLEN], a[INET_ADDRSTRLEN];
	struct cmd c = { 0 };
	struct ifaddrs *ifa = NULL;

	ntoa(htonl(N.base), pool);
	cmd_add(&c, "add table inet %s\n", t);
	cmd_add(&c,
		"add set inet %s platform { type ipv4_addr; flags interval; auto-merge; }\n"
		"flush set inet %s platform\n",
		t, t);
	for (size_t i = 0; i < ARRAY_SIZE(platform_deny); i++)
		cmd_add(&c, "add element inet %s platform { %s }\n", t, platform_deny[i]);
	cmd_add(&c, "add element inet %s platform { %s/%u }\n", t, pool, N.prefix);
	/* The host's own addresses (the uplink's, whatever they are). */
	if (getifaddrs(&ifa) == 0) {
		for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
			if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
				continue;
			uint32_t x = ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr;
			cmd_add(&c, "add element inet %s platform { %s }\n", t, ntoa(x, a));
		}
		freeifaddrs(ifa);
	}
	cmd_add(&c,
		"add set inet %s exceptions { type ipv4_addr . inet_service; flags interval; }\n"
		"flush set inet %s exceptions\n",
		t, t);
	for (unsigned i = 0; i < D.opt.n_net_allow; i++) {
		const struct net_exception *e = &D.opt.net_allow[i];
		cmd_add(&c, "add element inet %s exceptions { %s/%u . %u-%u }\n", t,
			ntoa(e->net.addr, a), e->net.prefix, e->port ? e->port : 0,
			e->port ? e->port : 65535);
	}
	cmd_add(&c,
		"add set inet %s deny { type ipv4_addr . ipv4_addr; flags interval; }\n"
		"add set inet %s allow { type ipv4_addr . ipv4_addr; flags interval,timeout; }\n"
		"add set inet %s listed { type ipv4_addr; }\n"
		"add set inet %s checked { type ipv4_addr; }\n"
		"add map inet %s marks { type ipv4_addr : mark; }\n"
		"add set inet %s denied { type ipv4_addr; size 65535; flags dynamic; }\n"
		"add set inet %s conns { type ipv4_addr; size 65535; flags dynamic; }\n"
		"flush set inet %s deny\nflush set inet %s allow\nflush set inet %s listed\n"
		"flush set inet %s checked\n",
		t, t, t, t, t, t, t, t, t, t, t);
	/* The policies of the sandboxes still running, in the same transaction: never a
	 * moment without them. */
	for (unsigned i = 0; i < N.nclaims; i++)
		policy_elements(&c, "add", N.claims[i].idx, N.claims[i].p);
	static const struct {
		const char *name, *hook;
	} chains[] = {
		{ "prerouting", "type filter hook prerouting priority -150;" },
		{ "dns", "type nat hook prerouting priority -100;" },
		{ "input", "type filter hook input priority 0;" },
		{ "forward", "type filter hook forward priority 0;" },
		{ "postrouting", "type nat hook postrouting priority 100;" },
		{ "output", "type filter hook output priority 0;" },
		{ "sandbox_out", "" },
		{ "tenant", "" },
		{ "refuse", "" },
		{ "sandbox_in", "" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(chains); i++)
		cmd_add(&c, "add chain inet %s %s { %s }\nflush chain inet %s %s\n", t,
			chains[i].name, chains[i].hook, t, chains[i].name);
	cmd_add(&c,
		"add rule inet %s prerouting iifname \"%s*\" meta nfproto ipv6 drop\n"
		"add rule inet %s prerouting iifname \"%s*\" fib saddr . iif oif missing drop\n",
		t, p, t, p);
	cmd_add(&c,
		"add rule inet %s dns iifname \"%s*\" fib daddr type local udp dport 53 "
		"redirect to :%u\n"
		"add rule inet %s dns iifname \"%s*\" ip saddr @checked tcp dport { 80, 443 } "
		"redirect to :%u\n",
		t, p, N.dns_port, t, p, N.proxy_port);
	cmd_add(&c,
		"add rule inet %s input iifname \"%s*\" jump sandbox_in\n"
		"add rule inet %s sandbox_in ct state established,related accept\n"
		"add rule inet %s sandbox_in udp dport %u accept\n"
		"add rule inet %s sandbox_in ip saddr @checked tcp dport %u accept\n"
		"add rule inet %s sandbox_in goto refuse\n",
		t, p, t, t, N.dns_port, t, N.proxy_port, t);
	cmd_add(&c,
		"add rule inet %s forward iifname \"%s*\" jump sandbox_out\n"
		"add rule inet %s forward oifname \"%s*\" ct state established,related accept\n"
		"add rule inet %s forward oifname \"%s*\" drop\n",
		t, p, t, p, t, p);
	/* Where sbxd turned the uplink's forwarding on (it was off), it forwards from there
	 * to its sandboxes' links only: the host routes nothing else it did not before. */
	char mark[256];
	snprintf(mark, sizeof(mark), "%s/net-forwarding", instance_run_dir());
	if (access(mark, F_OK) == 0)
		cmd_add(&c, "add rule inet %s forward iifname \"%s\" oifname != \"%s*\" drop\n", t,
			N.uplink, p);
	cmd_add(&c,
		"add rule inet %s sandbox_out ct state established,related accept\n"
		"add rule inet %s sandbox_out meta nfproto ipv6 goto refuse\n"
		"add rule inet %s sandbox_out oifname != \"%s\" goto refuse\n"
		"add rule inet %s sandbox_out ct state new ct mark set ip saddr map @marks\n"
		"add rule inet %s sandbox_out tcp dport 25 goto refuse\n"
		"add rule inet %s sandbox_out ip daddr . th dport @exceptions goto tenant\n"
		"add rule inet %s sandbox_out ip daddr @platform goto refuse\n"
		"add rule inet %s sandbox_out goto tenant\n",
		t, t, t, N.uplink, t, t, t, t, t);
	cmd_add(&c,
		"add rule inet %s tenant ip saddr . ip daddr @deny goto refuse\n"
		"add rule inet %s tenant ip saddr @listed ip saddr . ip daddr != @allow goto "
		"refuse\n"
		"add rule inet %s tenant ip saddr @listed meta l4proto { tcp, udp } th dport 53 "
		"goto refuse\n"
		"add rule inet %s tenant ip saddr @checked udp dport { 80, 443 } goto refuse\n"
		"add rule inet %s tenant add @conns { ip saddr ct count over %u } goto refuse\n"
		"add rule inet %s tenant accept\n",
		t, t, t, t, t, D.opt.net_max_conns, t);
	/* The host's other users do not reach sandboxes (a published port wants a token). */
	cmd_add(&c, "add rule inet %s output oifname \"%s*\" ct state new meta skuid != 0 reject\n",
		t, p);
	cmd_add(&c,
		"add rule inet %s refuse update @denied { ip saddr counter }\n"
		"add rule inet %s refuse meta l4proto tcp reject with tcp reset\n"
		"add rule inet %s refuse reject with icmpx admin-prohibited\n",
		t, t, t);
	cmd_add(&c, "add rule inet %s postrouting ip saddr %s/%u oifname \"%s\" masquerade\n", t,
		pool, N.prefix, N.uplink);
	return cmd_run(&c, err, size);
}

/* Whether entry @i of @v is inside another (or the same as an earlier one): an interval
 * set holds no overlaps, and the wider entry says it all. */
static bool covered(const struct net_cidr *v, unsigned n, unsigned i)
{
	for (unsigned k = 0; k < n; k++) {
		if (k != i && v[k].prefix <= v[i].prefix && net_cidr_has(&v[k], v[i].addr) &&
		    (v[k].prefix < v[i].prefix || k < i))
			return true;
	}
	return false;
}

static void cidr_elements(struct cmd *c, const char *verb, const char *set, const char *src,
			  const struct net_cidr *v, unsigned n)
{
	char a[INET_ADDRSTRLEN];

	for (unsigned i = 0; i < n; i++)
		if (!covered(v, n, i))
			cmd_add(c, "%s element inet %s %s { %s . %s/%u }\n", verb, N.table, set,
				src, ntoa(v[i].addr, a), v[i].prefix);
}

/* The elements of pair @idx's policy, added ("add") or removed ("delete"). */
static void policy_elements(struct cmd *c, const char *verb, int idx, const struct net_policy *p)
{
	char src[INET_ADDRSTRLEN];

	ntoa(box_addr(idx), src);
	cidr_elements(c, verb, "deny", src, p->deny, p->ndeny);
	if (guard_checks(p))
		cmd_add(c, "%s element inet %s checked { %s }\n", verb, N.table, src);
	if (!p->allow_list)
		return;
	cmd_add(c, "%s element inet %s listed { %s }\n", verb, N.table, src);
	cidr_elements(c, verb, "allow", src, p->allow, p->nallow);
}

/* ---- start-up ---- */

/* The interface of the host's IPv4 default route, from /proc/net/route. */
static int default_uplink(char buf[static IF_NAMESIZE])
{
	char line[256], ifname[64];
	unsigned long dst, mask;
	FILE *f = fopen("/proc/net/route", "re");
	int r = -ENOENT;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %lx %*x %*x %*d %*d %*d %lx", ifname, &dst, &mask) == 3 &&
		    dst == 0 && mask == 0 && strlen(ifname) < IF_NAMESIZE) {
			strcpy(buf, ifname);
			r = 0;
			break;
		}
	if (f)
		fclose(f);
	return r;
}

/* An address or route of the host inside the pool: its sandboxes would be unreachable. */
static bool pool_overlaps(char *why, size_t size)
{
	struct ifaddrs *ifa = NULL;
	uint32_t mask = N.prefix ? ~0U << (32 - N.prefix) : 0;
	bool hit = false;
	char a[INET_ADDRSTRLEN];

	if (getifaddrs(&ifa) < 0)
		return false;
	for (struct ifaddrs *i = ifa; i && !hit; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET ||
		    !strncmp(i->ifa_name, N.ifprefix, strlen(N.ifprefix)))
			continue;
		uint32_t x = ntohl(((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr);
		if ((x & mask) == N.base) {
			hit = true;
			snprintf(why, size, "--net-pool: the host's address %s (%s) is in it",
				 ntoa(htonl(x), a), i->ifa_name);
		}
	}
	freeifaddrs(ifa);
	return hit;
}

/* Turns forwarding on for the uplink (replies to sandboxes come in there); says so. */
static int uplink_forwarding(char *why, size_t size)
{
	char path[96], v = 0;
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/forwarding", N.uplink);
	_cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0 || read(fd, &v, 1) != 1) {
		snprintf(why, size, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (v == '1')
		return 0;
	if (pwrite(fd, "1", 1, 0) != 1) {
		snprintf(why, size, "%s: %s", path, strerror(errno));
		return -errno;
	}
	logmsg(2, "network: host change: net.ipv4.conf.%s.forwarding 0 -> 1", N.uplink);
	/* Remembered (past a crash too), so that the sbxd that last stops puts it back. */
	char mark[256];
	snprintf(mark, sizeof(mark), "%s/net-forwarding", instance_run_dir());
	_cleanup_close_ int m = instance_run_dir_make() == 0
					? open(mark, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)
					: -1;
	if (m >= 0 && write(m, N.uplink, strlen(N.uplink)) < 0)
		logmsg(1, "network: %s: %s", mark, strerror(errno));
	return 0;
}

/* sbxd stops with no networked sandbox left: what it changed on the host goes back (its
 * table, and the uplink's forwarding if an sbxd of this instance turned it on). */
static void net_undo_host(void)
{
	char cmd[96], mark[256], dev[IF_NAMESIZE + 1] = "", path[96];

	snprintf(cmd, sizeof(cmd), "delete table inet %s", N.table);
	if (nft_run(cmd, NULL, 0) == 0)
		logmsg(2, "network: table inet %s removed", N.table);
	snprintf(mark, sizeof(mark), "%s/net-forwarding", instance_run_dir());
	_cleanup_close_ int m = open(mark, O_RDONLY | O_CLOEXEC);
	ssize_t n = m >= 0 ? read(m, dev, IF_NAMESIZE) : -1;
	if (n <= 0)
		return;
	dev[n] = '\0';
	(void)unlink(mark);
	if (strspn(dev, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-@") !=
	    strlen(dev))
		return;
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/forwarding", dev);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0 && write(fd, "0", 1) == 1)
		logmsg(2, "network: host change undone: net.ipv4.conf.%s.forwarding 1 -> 0", dev);
}

static int net_setup(char *why, size_t size)
{
	struct net_cidr pool;
	const char *inst = instance_name();
	uint32_t h = 2166136261U;
	int r;

	for (const char *s = inst; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619U;
	snprintf(N.ifprefix, sizeof(N.ifprefix), "s%05x_", h & 0xfffff);
	snprintf(N.table, sizeof(N.table), "sbx%s%s", *inst ? "_" : "", inst);
	if (apispec_parse_cidr(D.opt.net_pool, &pool) < 0 || pool.prefix < 8 || pool.prefix > 28) {
		snprintf(why, size, "--net-pool %s: not an IPv4 network from /8 to /28",
			 D.opt.net_pool);
		return -EINVAL;
	}
	N.base = ntohl(pool.addr);
	N.prefix = pool.prefix;
	for (size_t i = 0; i < ARRAY_SIZE(platform_deny); i++)
		(void)apispec_parse_cidr(platform_deny[i], &N.platform[i]);
	N.npairs = 1U << (31 - pool.prefix);
	if (N.npairs > 65536)
		N.npairs = 65536;
	if (pool_overlaps(why, size))
		return -EEXIST;
	if (D.opt.net_uplink)
		snprintf(N.uplink, sizeof(N.uplink), "%s", D.opt.net_uplink);
	else if (default_uplink(N.uplink) < 0) {
		snprintf(why, size, "no IPv4 default route to find the uplink (give --net-uplink)");
		return -ENOENT;
	}
	/* It goes into the table's rules: a name of plain characters only. */
	if (strspn(N.uplink,
		   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-@") !=
	    strlen(N.uplink)) {
		snprintf(why, size, "uplink %s: a name of letters, digits and _.-@ only", N.uplink);
		return -EINVAL;
	}
	if (!if_nametoindex(N.uplink)) {
		snprintf(why, size, "uplink %s: no such interface", N.uplink);
		return -ENODEV;
	}
	N.state = calloc(N.npairs, 1);
	if (!N.state)
		return -ENOMEM;
	if ((r = guard_open(&N.dns_port, &N.proxy_port, why, size)) < 0 ||
	    (r = uplink_forwarding(why, size)) < 0)
		return r;
	/* libnftables is there and nftables works: the table itself waits for net_start. */
	char err[256];
	if (nft_run("list tables", err, sizeof(err)) < 0) {
		snprintf(why, size, "nftables: %s", err);
		return -EOPNOTSUPP;
	}
	return 0;
}

int net_init(void)
{
	char why[320] = "";
	int r;

	if (D.opt.no_net) {
		D.net_why = strdup("disabled by --no-net");
		return 0;
	}
	r = net_setup(why, sizeof(why));
	if (r < 0) {
		D.net_why = strdup(why);
		logmsg(1, "network: off: %s", why);
		return 0;
	}
	D.net_on = true;
	char a[INET_ADDRSTRLEN];
	logmsg(2, "network: pool %s/%u, uplink %s, table inet %s, links %s*, resolver port %u",
	       ntoa(htonl(N.base), a), N.prefix, N.uplink, N.table, N.ifprefix, N.dns_port);
	return 0;
}

/* The pair whose sandbox end is @addr, taken or not; 0 if none. */
static int net_pair_index(uint32_t addr)
{
	uint32_t x = ntohl(addr) - N.base;
	return x % 2 == 1 && x / 2 > 0 && x / 2 < N.npairs ? (int)(x / 2) : 0;
}

/* Each element of the set or map @name of the table: its address (network byte order)
 * and its counter's packets (0 without one), read from one listing in nft's language
 * ("elements = { 10.200.0.3 counter packets 5 bytes 300, 10.200.0.5 : 0x5b000002 }"). */
static void set_each(const char *kind, const char *name,
		     void (*fn)(uint32_t addr, uint64_t packets, void *ud), void *ud)
{
	char cmd[128], *save = NULL;
	struct in_addr a;
	uint32_t addr = 0;
	uint64_t packets = 0;
	bool want = false;

	snprintf(cmd, sizeof(cmd), "list %s inet %s %s", kind, N.table, name);
	char *out = nft_query(cmd, NULL, 0);
	for (char *t = out ? strtok_r(out, " \t\n{},=", &save) : NULL; t;
	     t = strtok_r(NULL, " \t\n{},=", &save)) {
		if (inet_pton(AF_INET, t, &a) == 1) {
			if (addr)
				fn(addr, packets, ud);
			addr = a.s_addr, packets = 0, want = false;
		} else if (!strcmp(t, "packets")) {
			want = true;
		} else if (want) {
			packets = strtoull(t, NULL, 10), want = false;
		}
	}
	if (addr)
		fn(addr, packets, ud);
	free(out);
}

/* An element of a pair no running sandbox holds goes (@ud: its set's name). */
static void sweep_one(uint32_t addr, uint64_t packets, void *ud)
{
	int idx = net_pair_index(addr);
	char cmd[128], a[INET_ADDRSTRLEN];

	(void)packets;
	if (idx > 0 && N.state[idx] == PAIR_TAKEN)
		return;
	snprintf(cmd, sizeof(cmd), "delete element inet %s %s { %s }", N.table, (const char *)ud,
		 ntoa(addr, a));
	(void)nft_run(cmd, NULL, 0);
}

/* Links and table entries that no sandbox holds (a previous sbxd's), removed; then the
 * threads start. After re-adoption, which claims what is still in use. */
void net_start(void)
{
	struct if_nameindex *ifs;
	struct nl nl;

	if (!D.net_on)
		return;
	if ((ifs = if_nameindex()) && nl_open(&nl) == 0) {
		size_t plen = strlen(N.ifprefix);
		for (struct if_nameindex *i = ifs; i->if_index; i++) {
			char *end;
			if (strncmp(i->if_name, N.ifprefix, plen))
				continue;
			long idx = strtol(i->if_name + plen, &end, 10);
			bool held = idx > 0 && (unsigned long)idx < N.npairs && *end == '\0' &&
				    N.state[idx] == PAIR_TAKEN;
			if (!held)
				(void)nl_link_del(&nl, (int)i->if_index);
		}
		nl_close(&nl);
	}
	if (ifs)
		if_freenameindex(ifs);
	char err[256];
	if (table_install(err, sizeof(err)) < 0) {
		logmsg(0, "network: nftables: %s", err);
		D.net_on = false;
		free(D.net_why);
		D.net_why = strdup(err);
		return;
	}
	free(N.claims);
	N.claims = NULL;
	N.nclaims = 0;
	static const char *const sets[] = { "marks", "denied", "conns" };
	for (size_t i = 0; i < ARRAY_SIZE(sets); i++)
		set_each(i ? "set" : "map", sets[i], sweep_one, (void *)sets[i]);
	/* And their resolv.conf files. */
	char dir[256];
	snprintf(dir, sizeof(dir), "%s/resolv", instance_run_dir());
	DIR *d = opendir(dir);
	for (struct dirent *e; d && (e = readdir(d));) {
		char *end;
		long idx = strtol(e->d_name, &end, 10);
		if (e->d_name[0] != '.' && (*end || idx <= 0 || (unsigned long)idx >= N.npairs ||
					    N.state[idx] != PAIR_TAKEN))
			(void)unlinkat(dirfd(d), e->d_name, 0);
	}
	if (d)
		closedir(d);
	if (guard_start() < 0)
		logmsg(0, "network: cannot start the resolver: %s", strerror(EAGAIN));
	else
		N.threads = true;
}

void net_shutdown(void)
{
	if (!N.threads)
		return;
	guard_stop();
	N.threads = false;
	bool held = false;
	for (unsigned i = 1; i < N.npairs && !held; i++)
		held = N.state[i] == PAIR_TAKEN;
	if (!held)
		net_undo_host();
}

/* ---- for the guard ---- */

int net_pair_of(uint32_t addr)
{
	uint32_t x = ntohl(addr) - N.base;
	unsigned idx = x / 2;

	if (!D.net_on || x % 2 != 1 || idx == 0 || idx >= N.npairs)
		return 0;
	pthread_mutex_lock(&N.lock);
	bool taken = N.state[idx] == PAIR_TAKEN;
	pthread_mutex_unlock(&N.lock);
	return taken ? (int)idx : 0;
}

bool net_platform_denied(uint32_t addr, uint16_t port)
{
	struct net_cidr c;

	if (port == 25)
		return true;
	for (unsigned i = 0; i < D.opt.n_net_allow; i++)
		if (net_cidr_has(&D.opt.net_allow[i].net, addr) &&
		    (!D.opt.net_allow[i].port || D.opt.net_allow[i].port == port))
			return false;
	for (size_t i = 0; i < ARRAY_SIZE(N.platform); i++)
		if (net_cidr_has(&N.platform[i], addr))
			return true;
	c = (struct net_cidr){ htonl(N.base), (uint8_t)N.prefix };
	if (net_cidr_has(&c, addr))
		return true;
	/* The host's addresses as they are now (one added since the table was made too). */
	struct ifaddrs *ifa = NULL;
	bool local = false;
	if (getifaddrs(&ifa) < 0)
		return true;
	for (struct ifaddrs *i = ifa; i && !local; i = i->ifa_next)
		local = i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
			((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr == addr;
	freeifaddrs(ifa);
	return local;
}

/* ---- a sandbox's pair ---- */

int net_check(const struct net_policy *p, struct why *why)
{
	if (!D.net_on)
		return why_set(why, -EINVAL, "net: \"internet\" is off on this host: %s",
			       D.net_why ? D.net_why : "unknown");
	return 0;
}

int box_set_network(struct reply *rp, struct box *b, const char *body, size_t len, struct why *why)
{
	struct net_policy p = b->req.netp;
	_cleanup_free_ char *perr = NULL;
	char err[320];

	if (b->req.net != NET_INTERNET)
		return why_set(why, -EINVAL, "net: sandbox %s has no network (mode \"%s\")", b->id,
			       b->req.net == NET_LOOPBACK ? "loopback" : "none");
	if (b->state != BOX_RUNNING || !b->net_idx)
		return why_set(why, -EBUSY, "sandbox %s is not running", b->id);
	p.allow_domains = p.deny_domains = NULL;
	int r = apispec_parse_network(body, len, &p, &perr);
	if (r < 0)
		return why_set(why, -EINVAL, "%s", perr ? perr : strerror(-r));
	if ((r = net_check(&p, why)) < 0) {
		net_policy_clear(&p);
		return r;
	}
	r = net_policy_replace(b->net_idx, &b->req.netp, &p, err, sizeof(err));
	if (r < 0) {
		net_policy_clear(&p);
		return why_set(why, -EIO, "%s", err);
	}
	net_policy_clear(&b->req.netp);
	b->req.netp = p;
	/* Its record says what a restart of sbxd puts back. */
	json_object_set_new(b->spec, "net", net_policy_json(&p));
	(void)box_persist(b);
	logmsg(2, "sandbox %s: network policy replaced", b->id);
	reply_done(rp, REPLY_OK, box_json(b));
	return 0;
}

const char *net_resolv_conf(int idx, char buf[static 256])
{
	snprintf(buf, 256, "%s/resolv/%d", instance_run_dir(), idx);
	return buf;
}

/* Pair @idx's resolv.conf, naming its gateway: where a sandbox's restore (CRIU, inside
 * its user namespace) can open it too, under the instance's run directory. */
static int resolv_write(int idx)
{
	char path[256], dir[256], gw[INET_ADDRSTRLEN], text[128];
	int r = instance_run_dir_make();

	snprintf(dir, sizeof(dir), "%s/resolv", instance_run_dir());
	if (r < 0 || (mkdir(dir, 0711) < 0 && errno != EEXIST))
		return r < 0 ? r : -errno;
	int len = snprintf(text, sizeof(text), "nameserver %s\noptions edns0\n",
			   ntoa(host_addr(idx), gw));
	_cleanup_close_ int fd =
		open(net_resolv_conf(idx, path), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, text, (size_t)len) != len)
		return -errno;
	return 0;
}

int net_acquire(const struct net_policy *p, int *ret_idx, char *err, size_t size)
{
	char a[INET_ADDRSTRLEN], nerr[256];
	struct cmd c = { 0 };
	int idx, r;

	if (!D.net_on) {
		snprintf(err, size, "net: \"internet\" is off on this host: %s",
			 D.net_why ? D.net_why : "unknown");
		return -EOPNOTSUPP;
	}
	pthread_mutex_lock(&N.lock);
	idx = pair_pick(PAIR_TAKEN);
	pthread_mutex_unlock(&N.lock);
	if (idx < 0) {
		snprintf(err, size, "net: the address pool is exhausted");
		return -EAGAIN;
	}
	/* Its policy is in place before its link exists. */
	cmd_add(&c, "add element inet %s marks { %s : 0x%08x }\n", N.table, ntoa(box_addr(idx), a),
		NET_CT_MARK | (unsigned)idx);
	policy_elements(&c, "add", idx, p);
	r = cmd_run(&c, nerr, sizeof(nerr));
	if (r < 0)
		snprintf(err, size, "net: policy: %s", nerr);
	else if ((r = guard_policy_set(idx, p)) < 0)
		snprintf(err, size, "net: policy: %s", strerror(-r));
	else if ((r = resolv_write(idx)) < 0)
		snprintf(err, size, "net: resolv.conf: %s", strerror(-r));
	if (r < 0) {
		net_release(idx, p);
		return r;
	}
	*ret_idx = idx;
	return 0;
}

int net_attach(int idx, pid_t pid, uint64_t rate)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	_cleanup_close_ int ns = open(path, O_RDONLY | O_CLOEXEC);
	int r = ns < 0 ? -errno : pair_make(idx, ns);

	if (r == 0 && rate)
		r = in_netns(ns, inside_rate, idx, rate);
	return r;
}

void net_release(int idx, const struct net_policy *p)
{
	char name[IF_NAMESIZE], a[INET_ADDRSTRLEN], err[256];
	struct nl nl;
	struct cmd c = { 0 };

	if (idx <= 0 || !D.net_on)
		return;
	link_name(idx, name);
	int ifindex = (int)if_nametoindex(name);
	if (ifindex && nl_open(&nl) == 0) {
		(void)nl_link_del(&nl, ifindex);
		nl_close(&nl);
	}
	/* One command each: removing what is not there fails its whole command. */
	ntoa(box_addr(idx), a);
	if (p) {
		policy_elements(&c, "delete", idx, p);
		if (c.len && cmd_run(&c, err, sizeof(err)) < 0)
			logmsg(1, "network: pair %d: removing its policy: %s", idx, err);
		free(c.buf);
		c = (struct cmd){ 0 };
	}
	static const char *const sets[] = { "marks", "denied", "conns" };
	for (size_t i = 0; i < ARRAY_SIZE(sets); i++) {
		cmd_add(&c, "delete element inet %s %s { %s }\n", N.table, sets[i], a);
		(void)cmd_run(&c, NULL, 0);
	}
	(void)nl_ct_flush_mark(NET_CT_MARK | (uint32_t)idx);
	(void)guard_policy_set(idx, NULL);
	char path[256];
	(void)unlink(net_resolv_conf(idx, path));
	pthread_mutex_lock(&N.lock);
	N.state[idx] = PAIR_FREE;
	pthread_mutex_unlock(&N.lock);
}

struct reset_out {
	uint32_t addrs[NET_RESTORE_ADDRS];
	unsigned n;
};

static int reset_inside(int idx, uint64_t arg)
{
	struct reset_out *o = (struct reset_out *)(uintptr_t)arg;
	(void)idx;
	return nl_inet_reset_outside(o->addrs, NET_RESTORE_ADDRS, &o->n);
}

int net_reset_outside(pid_t pid, char *ret_addrs, size_t size)
{
	char a[INET_ADDRSTRLEN];
	struct reset_out o = { 0 };
	int r = net_in_pid(pid, reset_inside, 0, (uint64_t)(uintptr_t)&o);

	ret_addrs[0] = '\0';
	for (unsigned i = 0; r == 0 && i < o.n; i++)
		snprintf(ret_addrs + strlen(ret_addrs), size - strlen(ret_addrs), "%s%s",
			 i ? "," : "", ntoa(o.addrs[i], a));
	return r;
}

/* What sbx-init set up for CRIU's restore of sockets undone: the old addresses on lo
 * (@arg: "A,B,...") and the default route through lo. */
static int restore_undo(int idx, uint64_t arg)
{
	const char *list = (const char *)(uintptr_t)arg;
	char buf[NET_RESTORE_ADDRS * 16];
	struct nl nl;
	struct in_addr a;

	(void)idx;
	snprintf(buf, sizeof(buf), "%s", list);
	int r = nl_open(&nl);
	if (r < 0)
		return r;
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); r == 0 && t;
	     t = strtok_r(NULL, ",", &save))
		if (inet_pton(AF_INET, t, &a) == 1)
			r = nl_addr_del(&nl, 1, a.s_addr, 32);
	if (r == 0)
		r = nl_route_del_default(&nl);
	nl_close(&nl);
	return r;
}

static int lo_up_inside(int idx, uint64_t arg)
{
	(void)idx;
	(void)arg;
	return nsutil_lo_up();
}

int net_restored(pid_t pid, const char *old_addrs, bool lo_up)
{
	int r = lo_up ? net_in_pid(pid, lo_up_inside, 0, 0) : 0;
	if (r < 0 || !old_addrs || !*old_addrs)
		return r;
	return net_in_pid(pid, restore_undo, 0, (uint64_t)(uintptr_t)old_addrs);
}

int net_claim(int idx, const struct net_policy *p)
{
	if (!D.net_on || idx <= 0 || (unsigned)idx >= N.npairs || N.state[idx] == PAIR_TAKEN)
		return -EINVAL;
	struct claim *c = realloc(N.claims, (N.nclaims + 1) * sizeof(*c));
	if (!c)
		return -ENOMEM;
	N.claims = c;
	N.claims[N.nclaims++] = (struct claim){ idx, p };
	N.state[idx] = PAIR_TAKEN;
	return guard_policy_set(idx, p);
}

int net_policy_replace(int idx, const struct net_policy *old, const struct net_policy *p, char *err,
		       size_t size)
{
	struct cmd c = { 0 };

	policy_elements(&c, "delete", idx, old);
	policy_elements(&c, "add", idx, p);
	char nerr[256];
	int r = cmd_run(&c, nerr, sizeof(nerr));
	if (r == 0)
		r = guard_policy_set(idx, p);
	if (r < 0)
		snprintf(err, size, "net: policy: %s", r == -EINVAL ? nerr : strerror(-r));
	return r;
}

/* The refusals of every pair, read in one listing of the set at most every 250 ms (a
 * listing of usage or metrics asks for each sandbox's). Loop thread. */
static void denied_one(uint32_t addr, uint64_t packets, void *ud)
{
	int idx = net_pair_index(addr);
	(void)ud;
	if (idx > 0)
		N.denied[idx] = packets;
}

static void denied_refresh(void)
{
	static int64_t at;

	if (N.denied && mono_ns() - at < 250000000)
		return;
	if (!N.denied && !(N.denied = calloc(N.npairs, sizeof(*N.denied))))
		return;
	at = mono_ns();
	memset(N.denied, 0, N.npairs * sizeof(*N.denied));
	set_each("set", "denied", denied_one, NULL);
}

uint64_t net_denied(int idx)
{
	if (!D.net_on || idx <= 0 || (unsigned)idx >= N.npairs)
		return 0;
	denied_refresh();
	return (N.denied ? N.denied[idx] : 0) + guard_denied(idx);
}

uint32_t net_pair_address(int idx)
{
	return idx > 0 && D.net_on ? box_addr(idx) : 0;
}

const char *net_address(int idx, char buf[static INET_ADDRSTRLEN])
{
	return idx > 0 && D.net_on ? ntoa(box_addr(idx), buf) : NULL;
}
