/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The kernel's links, neighbours and routes of the current network
 * namespace, read through rtnetlink (what ip(8) shows), and the drivers'
 * XDP counters (what ethtool -S shows). Steering needs
 * them: the MACs replies are addressed to, the MACs of the other fleet
 * hosts, and for doctor how each owner is reached right now.
 *
 * /sys/class/net is not used: it shows the namespace /sys was mounted in,
 * which is not the current one under `nsenter --net`.
 */
#ifndef PS_RTNL_H
#define PS_RTNL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <net/if.h>

struct ps_link {
	int ifindex;
	char name[IF_NAMESIZE];
	uint8_t mac[6];
	bool has_mac;        /* an Ethernet address (6 bytes) */
	int master;          /* IFLA_MASTER: bridge or bond it is a port of; 0 none */
	int link;            /* IFLA_LINK: lower device (vlan, macvlan) or veth peer; 0 none */
	int link_netnsid;    /* the namespace of @link, -1: this one */
	char kind[16];       /* IFLA_INFO_KIND: "veth", "vlan", "bridge", ...; "" for hardware */
	bool xdp;            /* an XDP program is attached, in any mode */
	bool up;             /* IFF_UP */
};

/* Every link of the namespace into a malloc'ed array (free it). 0 or -errno. */
int ps_rtnl_links(struct ps_link **out, size_t *n);

/* Link @ifindex of the namespace this one calls @netnsid (IFLA_TARGET_NETNSID). */
int ps_rtnl_link_in(int netnsid, int ifindex, struct ps_link *out);

struct ps_neigh {
	int family;
	int ifindex;
	uint8_t addr[16];    /* network order, IPv4 in [0..3] */
	uint8_t mac[6];
	bool has_mac;
	uint16_t state;      /* NUD_* */
	bool managed;        /* NTF_EXT_MANAGED: the kernel keeps it resolved */
};

/* Every neighbour entry of @family into a malloc'ed array (free it). 0 or -errno. */
int ps_rtnl_neighs(int family, struct ps_neigh **out, size_t *n);

/* Is @state one bpf_fib_lookup() uses (NUD_VALID)? */
bool ps_neigh_valid(uint16_t state);
/* "reachable", "stale", "failed", ... as ip(8) prints it. */
const char *ps_neigh_state_name(uint16_t state);

struct ps_route {
	int oif;             /* egress device */
	bool has_gw;         /* reached through a gateway ... */
	uint8_t gw[16];      /* ... this one */
	int type;            /* RTN_UNICAST, RTN_UNREACHABLE, ... */
};

/* `ip route get ADDR`: how @addr (network order) is reached. 0 or -errno (-ENETUNREACH, ...). */
int ps_rtnl_route_get(int family, const uint8_t *addr, struct ps_route *out);

/*
 * The driver's own XDP counters of @ifname (`ethtool -S`: every statistic
 * whose name holds "xdp"), summed over queues: rx_queue_0_xdp_tx and
 * rx_queue_1_xdp_tx are reported once, as xdp_tx. @cb gets each name and
 * sum. They count what the driver did after the program returned, e.g.
 * XDP_TX frames a veth could not hand to its peer (xdp_tx_errors).
 * 0 or -errno (-EOPNOTSUPP: the driver has no statistics).
 */
typedef void (*ps_xdp_stat_cb)(const char *name, uint64_t value, void *arg);
int ps_dev_xdp_stats(const char *ifname, ps_xdp_stat_cb cb, void *arg);

#endif
