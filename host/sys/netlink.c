// SPDX-License-Identifier: MIT
/* Hand-built netlink requests (no library: each is a handful of attributes). A request
 * is one buffer of a header, a fixed part and nested attributes; every request asks for
 * an acknowledgement, and the answer is read before the next one goes. */
#define _GNU_SOURCE
#include "netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_link.h>
#include <linux/inet_diag.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/veth.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../sandbox/macro.h"

#define MSG_MAX 1024

struct msg {
	union {
		struct nlmsghdr h;
		char buf[MSG_MAX];
	};
	int err; /* -EMSGSIZE once an attribute did not fit */
};

static void *msg_tail(struct msg *m)
{
	return m->buf + NLMSG_ALIGN(m->h.nlmsg_len);
}

static void msg_init(struct msg *m, uint16_t type, uint16_t flags, const void *fixed, size_t len)
{
	memset(m, 0, sizeof(*m));
	m->h.nlmsg_type = type;
	m->h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	m->h.nlmsg_len = NLMSG_LENGTH(len);
	memcpy(NLMSG_DATA(&m->h), fixed, len);
}

static struct nlattr *attr_put(struct msg *m, uint16_t type, const void *data, size_t len)
{
	size_t at = NLMSG_ALIGN(m->h.nlmsg_len);
	if (at + NLA_HDRLEN + NLA_ALIGN(len) > sizeof(m->buf)) {
		m->err = -EMSGSIZE;
		return NULL;
	}
	struct nlattr *a = msg_tail(m);
	a->nla_type = type;
	a->nla_len = (uint16_t)(NLA_HDRLEN + len);
	if (len)
		memcpy((char *)a + NLA_HDRLEN, data, len);
	m->h.nlmsg_len = (uint32_t)(at + NLA_HDRLEN + NLA_ALIGN(len));
	return a;
}

static void attr_u32(struct msg *m, uint16_t type, uint32_t v)
{
	attr_put(m, type, &v, sizeof(v));
}

static void attr_str(struct msg *m, uint16_t type, const char *s)
{
	attr_put(m, type, s, strlen(s) + 1);
}

/* A nest: opened, then closed once its attributes are in. */
static struct nlattr *nest_open(struct msg *m, uint16_t type)
{
	return attr_put(m, type | NLA_F_NESTED, NULL, 0);
}

static void nest_close(struct msg *m, struct nlattr *a)
{
	if (a)
		a->nla_len = (uint16_t)((char *)msg_tail(m) - (char *)a);
}

int nl_open(struct nl *nl)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };

	nl->seq = 0;
	nl->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (nl->fd < 0)
		return -errno;
	if (bind(nl->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;
		closep(&nl->fd);
		return r;
	}
	return 0;
}

void nl_close(struct nl *nl)
{
	closep(&nl->fd);
}

/* Sends @m on @fd and reads its acknowledgement: the kernel's error, or 0. */
static int transact(int fd, uint32_t seq, struct msg *m)
{
	char buf[4096];

	if (m->err)
		return m->err;
	m->h.nlmsg_seq = seq;
	if (send(fd, m->buf, m->h.nlmsg_len, 0) < 0)
		return -errno;
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != seq || h->nlmsg_type != NLMSG_ERROR)
				continue;
			const struct nlmsgerr *e = NLMSG_DATA(h);
			return e->error;
		}
	}
}

static int nl_do(struct nl *nl, struct msg *m)
{
	return transact(nl->fd, ++nl->seq, m);
}

/* IPv6 off on a link of ours: no address is generated for it. */
static void no_ipv6_addresses(struct msg *m)
{
	struct nlattr *spec = nest_open(m, IFLA_AF_SPEC);
	struct nlattr *in6 = nest_open(m, AF_INET6);
	uint8_t mode = IN6_ADDR_GEN_MODE_NONE;

	attr_put(m, IFLA_INET6_ADDR_GEN_MODE, &mode, sizeof(mode));
	nest_close(m, in6);
	nest_close(m, spec);
}

int nl_veth_add(struct nl *nl, const char *name, const char *peer, int peer_netns_fd)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct msg m;

	msg_init(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof(ifi));
	attr_str(&m, IFLA_IFNAME, name);
	struct nlattr *info = nest_open(&m, IFLA_LINKINFO);
	attr_str(&m, IFLA_INFO_KIND, "veth");
	struct nlattr *data = nest_open(&m, IFLA_INFO_DATA);
	struct nlattr *p = nest_open(&m, VETH_INFO_PEER);
	/* The peer's ifinfomsg, then its attributes. */
	struct ifinfomsg *pi = msg_tail(&m);
	if (m.h.nlmsg_len + sizeof(*pi) < sizeof(m.buf)) {
		memset(pi, 0, sizeof(*pi));
		m.h.nlmsg_len += (uint32_t)NLMSG_ALIGN(sizeof(*pi));
	}
	attr_str(&m, IFLA_IFNAME, peer);
	if (peer_netns_fd >= 0)
		attr_u32(&m, IFLA_NET_NS_FD, (uint32_t)peer_netns_fd);
	nest_close(&m, p);
	nest_close(&m, data);
	nest_close(&m, info);
	return nl_do(nl, &m);
}

int nl_link_up(struct nl *nl, int ifindex)
{
	struct ifinfomsg ifi = {
		.ifi_family = AF_UNSPEC,
		.ifi_index = ifindex,
		.ifi_flags = IFF_UP,
		.ifi_change = IFF_UP,
	};
	struct ifinfomsg mode = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex };
	struct msg m;

	/* No IPv6 address on links of ours, not even link-local: set before the link goes up
	 * (which is when one would be made), and after a move to another namespace (which
	 * gives the link that namespace's defaults again). */
	msg_init(&m, RTM_NEWLINK, 0, &mode, sizeof(mode));
	no_ipv6_addresses(&m);
	int r = nl_do(nl, &m);
	if (r < 0)
		return r;
	msg_init(&m, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
	return nl_do(nl, &m);
}

int nl_link_del(struct nl *nl, int ifindex)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex };
	struct msg m;

	msg_init(&m, RTM_DELLINK, 0, &ifi, sizeof(ifi));
	return nl_do(nl, &m);
}

int nl_addr_add(struct nl *nl, int ifindex, uint32_t addr, unsigned prefix)
{
	struct ifaddrmsg ifa = {
		.ifa_family = AF_INET,
		.ifa_prefixlen = (uint8_t)prefix,
		.ifa_scope = RT_SCOPE_UNIVERSE,
		.ifa_index = (uint32_t)ifindex,
	};
	struct msg m;

	msg_init(&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof(ifa));
	attr_u32(&m, IFA_LOCAL, addr);
	attr_u32(&m, IFA_ADDRESS, addr);
	return nl_do(nl, &m);
}

int nl_addr_del(struct nl *nl, int ifindex, uint32_t addr, unsigned prefix)
{
	struct ifaddrmsg ifa = {
		.ifa_family = AF_INET,
		.ifa_prefixlen = (uint8_t)prefix,
		.ifa_index = (uint32_t)ifindex,
	};
	struct msg m;

	msg_init(&m, RTM_DELADDR, 0, &ifa, sizeof(ifa));
	attr_u32(&m, IFA_LOCAL, addr);
	int r = nl_do(nl, &m);
	return r == -EADDRNOTAVAIL ? 0 : r;
}

int nl_route_add(struct nl *nl, uint32_t dst, unsigned prefix, uint32_t gw, int ifindex)
{
	struct rtmsg rt = {
		.rtm_family = AF_INET,
		.rtm_dst_len = (uint8_t)prefix,
		.rtm_table = RT_TABLE_MAIN,
		.rtm_protocol = RTPROT_STATIC,
		.rtm_scope = gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK,
		.rtm_type = RTN_UNICAST,
	};
	struct msg m;

	msg_init(&m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, &rt, sizeof(rt));
	if (prefix)
		attr_u32(&m, RTA_DST, dst);
	if (gw)
		attr_u32(&m, RTA_GATEWAY, gw);
	attr_u32(&m, RTA_OIF, (uint32_t)ifindex);
	return nl_do(nl, &m);
}

int nl_route_del_default(struct nl *nl)
{
	struct rtmsg rt = {
		.rtm_family = AF_INET,
		.rtm_table = RT_TABLE_MAIN,
		.rtm_scope = RT_SCOPE_NOWHERE,
	};
	struct msg m;

	msg_init(&m, RTM_DELROUTE, 0, &rt, sizeof(rt));
	int r = nl_do(nl, &m);
	return r == -ESRCH || r == -ENOENT ? 0 : r;
}

int nl_qdisc_tbf(struct nl *nl, int ifindex, uint64_t rate, uint32_t burst)
{
	struct tcmsg tc = {
		.tcm_family = AF_UNSPEC,
		.tcm_ifindex = ifindex,
		.tcm_handle = 1U << 16,
		.tcm_parent = TC_H_ROOT,
	};
	/* A queue of 50 ms at the rate (at least two bursts) before packets drop. */
	uint64_t limit = rate / 20 > 2ULL * burst ? rate / 20 : 2ULL * burst;
	struct tc_tbf_qopt q = {
		.rate = { .rate = rate > UINT32_MAX ? UINT32_MAX : (uint32_t)rate,
			  .linklayer = TC_LINKLAYER_ETHERNET },
		.limit = limit > UINT32_MAX ? UINT32_MAX : (uint32_t)limit,
	};
	struct msg m;

	msg_init(&m, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE, &tc, sizeof(tc));
	attr_str(&m, TCA_KIND, "tbf");
	struct nlattr *o = nest_open(&m, TCA_OPTIONS);
	attr_put(&m, TCA_TBF_PARMS, &q, sizeof(q));
	if (rate > UINT32_MAX)
		attr_put(&m, TCA_TBF_RATE64, &rate, sizeof(rate));
	attr_u32(&m, TCA_TBF_BURST, burst);
	nest_close(&m, o);
	return nl_do(nl, &m);
}

int nl_ct_flush_mark(uint32_t mark)
{
	struct nfgenmsg g = { .nfgen_family = AF_INET, .version = NFNETLINK_V0 };
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	_cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	struct msg m;

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	msg_init(&m, (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE, 0, &g, sizeof(g));
	attr_u32(&m, CTA_MARK, htonl(mark));
	attr_u32(&m, CTA_MARK_MASK, htonl(UINT32_MAX));
	int r = transact(fd, 1, &m);
	return r == -ENOENT ? 0 : r;
}

/* Adds @a to the set @v (of @max, *@n in it). */
static void addr_note(uint32_t a, uint32_t *v, unsigned max, unsigned *n)
{
	for (unsigned i = 0; i < *n; i++)
		if (v[i] == a)
			return;
	if (*n < max)
		v[(*n)++] = a;
}

/* The sockets of @proto in this namespace bound to an address that is neither loopback
 * nor the wildcard, each destroyed (reset: its peer is told); their addresses noted. */
static int destroy_bound(int fd, uint8_t proto, uint32_t *addrs, unsigned max, unsigned *naddrs)
{
	struct inet_diag_req_v2 req = {
		.sdiag_family = AF_INET,
		.sdiag_protocol = proto,
		.idiag_states = ~0U,
	};
	struct msg m;
	char buf[16384];
	int r = 0, n_destroy = 0;
	struct inet_diag_sockid victims[256];

	msg_init(&m, SOCK_DIAG_BY_FAMILY, NLM_F_DUMP, &req, sizeof(req));
	m.h.nlmsg_flags &= (uint16_t)~NLM_F_ACK;
	m.h.nlmsg_seq = 1;
	if (send(fd, m.buf, m.h.nlmsg_len, 0) < 0)
		return -errno;
	for (bool done = false; !done;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0)
			return errno == EINTR ? 0 : -errno;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR)
				return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
			const struct inet_diag_msg *d = NLMSG_DATA(h);
			uint32_t a = ntohl(d->id.idiag_src[0]);
			if (a == 0 || (a >> 24) == 127)
				continue;
			addr_note(d->id.idiag_src[0], addrs, max, naddrs);
			if (d->idiag_state != TCP_CLOSE && n_destroy < (int)ARRAY_SIZE(victims))
				victims[n_destroy++] = d->id;
		}
	}
	for (int i = 0; i < n_destroy; i++) {
		req.id = victims[i];
		msg_init(&m, SOCK_DESTROY, 0, &req, sizeof(req));
		int e = transact(fd, (uint32_t)i + 2, &m);
		if (e < 0 && e != -ENOENT && !r)
			r = e;
	}
	return r;
}

int nl_inet_reset_outside(uint32_t *addrs, unsigned max, unsigned *ret_n)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	_cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	int r;

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	*ret_n = 0;
	r = destroy_bound(fd, IPPROTO_TCP, addrs, max, ret_n);
	int u = destroy_bound(fd, IPPROTO_UDP, addrs, max, ret_n);
	return r ? r : u;
}
