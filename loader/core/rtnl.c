// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* rtnetlink reads for steering: links, neighbours, one route. See rtnl.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "core/rtnl.h"

#define RTNL_BUF 32768

/* Called for each answer of a request; non-zero stops and is returned. */
typedef int (*rtnl_cb)(const struct nlmsghdr *nlh, void *arg);

/*
 * Sends @req (its nlmsg_len set) and feeds every answer to @cb until the
 * dump ends, or the one answer of a plain request came. 0 or -errno.
 */
static int rtnl_talk(struct nlmsghdr *req, rtnl_cb cb, void *arg)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	bool dump = req->nlmsg_flags & NLM_F_DUMP;
	char *buf = malloc(RTNL_BUF);
	int fd, err = 0, done = 0;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0 || !buf) {
		err = fd < 0 ? -errno : -ENOMEM;
		goto out;
	}
	req->nlmsg_seq = 1;
	if (sendto(fd, req, req->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
		err = -errno;
		goto out;
	}
	while (!done && !err) {
		ssize_t len = recv(fd, buf, RTNL_BUF, 0);
		struct nlmsghdr *nlh;

		if (len < 0 && errno == EINTR)
			continue;
		if (len <= 0) {
			err = len < 0 ? -errno : -EIO;
			break;
		}
		for (nlh = (struct nlmsghdr *)buf; !done && !err && NLMSG_OK(nlh, (size_t)len);
		     nlh = NLMSG_NEXT(nlh, len)) {
			if (nlh->nlmsg_type == NLMSG_DONE) {
				done = 1;
			} else if (nlh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(nlh);

				err = e->error;
				done = 1;
			} else {
				err = cb(nlh, arg);
				done = !dump;
			}
		}
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return err;
}

/* Appends an attribute to the request @nlh (room is the caller's). */
static void rtnl_put(struct nlmsghdr *nlh, unsigned short type, const void *data, size_t len)
{
	struct rtattr *rta = (struct rtattr *)((char *)nlh + NLMSG_ALIGN(nlh->nlmsg_len));

	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	nlh->nlmsg_len = NLMSG_ALIGN(nlh->nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

/* Attributes from @rta on (@len bytes), indexed by type (up to @max). */
static void rtnl_parse(struct rtattr *rta, int len, struct rtattr **tb, int max)
{
	memset(tb, 0, sizeof(*tb) * (size_t)(max + 1));
	for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len))
		if (rta->rta_type <= max)
			tb[rta->rta_type] = rta;
}

/* The attributes after a message's fixed header of @hdr bytes. */
static void rtnl_attrs(const struct nlmsghdr *nlh, size_t hdr, struct rtattr **tb, int max)
{
	rtnl_parse((struct rtattr *)((char *)NLMSG_DATA(nlh) + NLMSG_ALIGN(hdr)),
		   (int)nlh->nlmsg_len - (int)NLMSG_LENGTH(hdr), tb, max);
}

/* The attributes nested in @nest. */
static void rtnl_nested(const struct rtattr *nest, struct rtattr **tb, int max)
{
	rtnl_parse(RTA_DATA(nest), (int)RTA_PAYLOAD(nest), tb, max);
}

static int rta_int(const struct rtattr *rta)
{
	int v = 0;

	if (rta && RTA_PAYLOAD(rta) >= sizeof(v))
		memcpy(&v, RTA_DATA(rta), sizeof(v));
	return v;
}

/* ---- links --------------------------------------------------------------- */

struct grow {
	void *items;
	size_t n, cap, size;
};

static void *grow_next(struct grow *g)
{
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 16;
		void *p = realloc(g->items, cap * g->size);

		if (!p)
			return NULL;
		g->items = p;
		g->cap = cap;
	}
	return memset((char *)g->items + g->n++ * g->size, 0, g->size);
}

/* A dump whose @cb appends items of @size to a struct grow: the array goes to *out. */
static int rtnl_dump(struct nlmsghdr *req, rtnl_cb cb, size_t size, void **out, size_t *n)
{
	struct grow g = { .size = size };
	int err = rtnl_talk(req, cb, &g);

	if (err) {
		free(g.items);
		return err;
	}
	*out = g.items;
	*n = g.n;
	return 0;
}

static int link_parse(const struct nlmsghdr *nlh, struct ps_link *l)
{
	const struct ifinfomsg *ifi = NLMSG_DATA(nlh);
	struct rtattr *tb[IFLA_MAX + 1], *info[IFLA_INFO_MAX + 1], *xdp[IFLA_XDP_MAX + 1];

	if (nlh->nlmsg_type != RTM_NEWLINK)
		return 0;
	rtnl_attrs(nlh, sizeof(*ifi), tb, IFLA_MAX);
	l->ifindex = ifi->ifi_index;
	l->up = ifi->ifi_flags & IFF_UP;
	l->link_netnsid = tb[IFLA_LINK_NETNSID] ? rta_int(tb[IFLA_LINK_NETNSID]) : -1;
	l->master = rta_int(tb[IFLA_MASTER]);
	l->link = rta_int(tb[IFLA_LINK]);
	if (tb[IFLA_IFNAME])
		snprintf(l->name, sizeof(l->name), "%s", (const char *)RTA_DATA(tb[IFLA_IFNAME]));
	if (tb[IFLA_ADDRESS] && RTA_PAYLOAD(tb[IFLA_ADDRESS]) == sizeof(l->mac)) {
		memcpy(l->mac, RTA_DATA(tb[IFLA_ADDRESS]), sizeof(l->mac));
		l->has_mac = true;
	}
	if (tb[IFLA_LINKINFO]) {
		rtnl_nested(tb[IFLA_LINKINFO], info, IFLA_INFO_MAX);
		if (info[IFLA_INFO_KIND])
			snprintf(l->kind, sizeof(l->kind), "%s", (const char *)RTA_DATA(info[IFLA_INFO_KIND]));
	}
	if (tb[IFLA_XDP]) {
		rtnl_nested(tb[IFLA_XDP], xdp, IFLA_XDP_MAX);
		l->xdp = xdp[IFLA_XDP_ATTACHED] && *(__u8 *)RTA_DATA(xdp[IFLA_XDP_ATTACHED]) != XDP_ATTACHED_NONE;
	}
	return 0;
}

static int link_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct ps_link *l;

	if (nlh->nlmsg_type != RTM_NEWLINK)
		return 0;
	l = grow_next(arg);
	return l ? link_parse(nlh, l) : -ENOMEM;
}

struct link_req {
	struct nlmsghdr nlh;
	struct ifinfomsg ifi;
	char attrs[64];
};

int ps_rtnl_links(struct ps_link **out, size_t *n)
{
	struct link_req req = {
		.nlh = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)), .nlmsg_type = RTM_GETLINK,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.ifi = { .ifi_family = AF_UNSPEC },
	};

	return rtnl_dump(&req.nlh, link_cb, sizeof(struct ps_link), (void **)out, n);
}

static int one_link_cb(const struct nlmsghdr *nlh, void *arg)
{
	return link_parse(nlh, arg);
}

int ps_rtnl_link_in(int netnsid, int ifindex, struct ps_link *out)
{
	struct link_req req = {
		.nlh = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)), .nlmsg_type = RTM_GETLINK,
			 .nlmsg_flags = NLM_F_REQUEST },
		.ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex },
	};
	__s32 id = netnsid;

	memset(out, 0, sizeof(*out));
	if (netnsid >= 0)
		rtnl_put(&req.nlh, IFLA_TARGET_NETNSID, &id, sizeof(id));
	return rtnl_talk(&req.nlh, one_link_cb, out);
}

/* ---- neighbours ------------------------------------------------------------ */

static int neigh_cb(const struct nlmsghdr *nlh, void *arg)
{
	const struct ndmsg *ndm = NLMSG_DATA(nlh);
	struct rtattr *tb[NDA_MAX + 1];
	struct ps_neigh *e;
	size_t alen;

	if (nlh->nlmsg_type != RTM_NEWNEIGH)
		return 0;
	rtnl_attrs(nlh, sizeof(*ndm), tb, NDA_MAX);
	alen = ndm->ndm_family == AF_INET ? 4 : 16;
	if (!tb[NDA_DST] || RTA_PAYLOAD(tb[NDA_DST]) != alen)
		return 0;
	e = grow_next(arg);
	if (!e)
		return -ENOMEM;
	e->family = ndm->ndm_family;
	e->ifindex = ndm->ndm_ifindex;
	e->state = ndm->ndm_state;
	memcpy(e->addr, RTA_DATA(tb[NDA_DST]), alen);
	if (tb[NDA_LLADDR] && RTA_PAYLOAD(tb[NDA_LLADDR]) == sizeof(e->mac)) {
		memcpy(e->mac, RTA_DATA(tb[NDA_LLADDR]), sizeof(e->mac));
		e->has_mac = true;
	}
	e->managed = rta_int(tb[NDA_FLAGS_EXT]) & NTF_EXT_MANAGED;
	return 0;
}

int ps_rtnl_neighs(int family, struct ps_neigh **out, size_t *n)
{
	struct {
		struct nlmsghdr nlh;
		struct ndmsg ndm;
	} req = {
		.nlh = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct ndmsg)), .nlmsg_type = RTM_GETNEIGH,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.ndm = { .ndm_family = (__u8)family },
	};

	return rtnl_dump(&req.nlh, neigh_cb, sizeof(struct ps_neigh), (void **)out, n);
}

bool ps_neigh_valid(uint16_t state)
{
	/* NUD_VALID of the kernel's net/neighbour.h, which uapi does not export. */
	return state & (NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE | NUD_PROBE | NUD_STALE | NUD_DELAY);
}

const char *ps_neigh_state_name(uint16_t state)
{
	static const struct { uint16_t bit; const char *name; } names[] = {
		{ NUD_PERMANENT, "permanent" }, { NUD_NOARP, "noarp" }, { NUD_REACHABLE, "reachable" },
		{ NUD_STALE, "stale" }, { NUD_DELAY, "delay" }, { NUD_PROBE, "probe" },
		{ NUD_INCOMPLETE, "incomplete" }, { NUD_FAILED, "failed" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (state & names[i].bit)
			return names[i].name;
	return "none";
}

/* ---- one route ------------------------------------------------------------- */

static int route_cb(const struct nlmsghdr *nlh, void *arg)
{
	const struct rtmsg *rtm = NLMSG_DATA(nlh);
	struct rtattr *tb[RTA_MAX + 1];
	struct ps_route *r = arg;

	if (nlh->nlmsg_type != RTM_NEWROUTE)
		return 0;
	rtnl_attrs(nlh, sizeof(*rtm), tb, RTA_MAX);
	r->type = rtm->rtm_type;
	r->oif = rta_int(tb[RTA_OIF]);
	if (tb[RTA_GATEWAY] && RTA_PAYLOAD(tb[RTA_GATEWAY]) <= sizeof(r->gw)) {
		memcpy(r->gw, RTA_DATA(tb[RTA_GATEWAY]), RTA_PAYLOAD(tb[RTA_GATEWAY]));
		r->has_gw = true;
	}
	return 0;
}

int ps_rtnl_route_get(int family, const uint8_t *addr, struct ps_route *out)
{
	struct {
		struct nlmsghdr nlh;
		struct rtmsg rtm;
		char attrs[64];
	} req = {
		.nlh = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg)), .nlmsg_type = RTM_GETROUTE,
			 .nlmsg_flags = NLM_F_REQUEST },
		.rtm = { .rtm_family = (unsigned char)family, .rtm_dst_len = family == AF_INET ? 32 : 128 },
	};

	memset(out, 0, sizeof(*out));
	rtnl_put(&req.nlh, RTA_DST, addr, family == AF_INET ? 4 : 16);
	return rtnl_talk(&req.nlh, route_cb, out);
}

/* ---- the driver's XDP counters (ethtool) --------------------------------- */

#define XDP_STATS_MAX 32

static int ethtool(int fd, const char *ifname, void *cmd)
{
	struct ifreq ifr = {};

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = cmd;
	return ioctl(fd, SIOCETHTOOL, &ifr) ? -errno : 0;
}

/* "rx_queue_3_xdp_tx" and "tx_queue_0_xdp_xmit" lose their queue: "xdp_tx", "xdp_xmit". */
static const char *xdp_stat_name(const char *name)
{
	const char *p = name;

	if (strncmp(p, "rx_queue_", 9) && strncmp(p, "tx_queue_", 9))
		return name;
	p += 9;
	while (*p >= '0' && *p <= '9')
		p++;
	return *p == '_' ? p + 1 : name;
}

int ps_dev_xdp_stats(const char *ifname, ps_xdp_stat_cb cb, void *arg)
{
	struct {
		struct ethtool_sset_info hdr;
		__u32 len;
	} sset = { .hdr = { .cmd = ETHTOOL_GSSET_INFO, .sset_mask = 1ULL << ETH_SS_STATS } };
	struct ethtool_gstrings *strings = NULL;
	struct ethtool_stats *stats = NULL;
	char names[XDP_STATS_MAX][ETH_GSTRING_LEN + 1];
	uint64_t sums[XDP_STATS_MAX] = {};
	size_t n_names = 0;
	int fd, err;
	__u32 n;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	err = ethtool(fd, ifname, &sset);
	n = sset.len;
	if (!err && !(sset.hdr.sset_mask & (1ULL << ETH_SS_STATS)))
		err = -EOPNOTSUPP;
	if (!err) {
		strings = calloc(1, sizeof(*strings) + (size_t)n * ETH_GSTRING_LEN);
		stats = calloc(1, sizeof(*stats) + (size_t)n * sizeof(__u64));
		err = strings && stats ? 0 : -ENOMEM;
	}
	if (!err) {
		strings->cmd = ETHTOOL_GSTRINGS;
		strings->string_set = ETH_SS_STATS;
		strings->len = n;
		stats->cmd = ETHTOOL_GSTATS;
		stats->n_stats = n;
		err = ethtool(fd, ifname, strings) ?: ethtool(fd, ifname, stats);
	}
	for (__u32 i = 0; !err && i < n; i++) {
		char full[ETH_GSTRING_LEN + 1];
		const char *name;
		size_t j;

		memcpy(full, strings->data + (size_t)i * ETH_GSTRING_LEN, ETH_GSTRING_LEN);
		full[ETH_GSTRING_LEN] = '\0';
		if (!strstr(full, "xdp"))
			continue;
		name = xdp_stat_name(full);
		for (j = 0; j < n_names && strcmp(names[j], name); j++)
			;
		if (j == n_names && n_names < XDP_STATS_MAX)
			snprintf(names[n_names++], sizeof(names[0]), "%s", name);
		if (j < n_names)
			sums[j] += stats->data[i];
	}
	for (size_t j = 0; !err && j < n_names; j++)
		cb(names[j], sums[j], arg);
	free(strings);
	free(stats);
	close(fd);
	return err;
}
