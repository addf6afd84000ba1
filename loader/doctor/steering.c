// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

#include "core/rtnl.h"
#include "doctor/steering.h"
#include "steer/links.h"

/* Interfaces steering runs on or is meant for: the config's and the attached ones. */
static size_t steer_ifaces(const struct ps_config *cfg, char (*names)[PS_IFNAME_LEN], size_t max)
{
	size_t n = ps_steer_attached_ifnames(names, max);

	for (size_t i = 0; i < cfg->steering.n_interfaces && n < max; i++) {
		bool dup = false;

		for (size_t j = 0; j < n; j++)
			dup |= !strcmp(names[j], cfg->steering.interfaces[i]);
		if (!dup)
			snprintf(names[n++], PS_IFNAME_LEN, "%s", cfg->steering.interfaces[i]);
	}
	return n;
}

/* Does some other host of @cfg have an underlay address of @family? */
static bool steer_family_used(const struct ps_config *cfg, const struct ps_host_cfg *self, int family)
{
	for (size_t i = 0; i < cfg->n_hosts; i++)
		if (&cfg->hosts[i] != self && cfg->hosts[i].family == family)
			return true;
	return false;
}

/*
 * bpf_fib_lookup() looks an owner up as a packet forwarded from the ingress
 * interface, in both modes: with forwarding off there it answers "forwarding
 * disabled" and every reply for another host is dropped (dropped_no_route).
 */
static void check_steer_forwarding(struct ps_doctor_report *r, const struct ps_config *cfg, const struct ps_host_cfg *self,
				   const char *ifname)
{
	static const struct { int family; const char *fmt, *sysctl; } fams[] = {
		{ AF_INET, "/proc/sys/net/ipv4/conf/%s/forwarding", "net.ipv4.conf.%s.forwarding" },
		{ AF_INET6, "/proc/sys/net/ipv6/conf/%s/forwarding", "net.ipv6.conf.%s.forwarding" },
	};

	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		char path[128], key[96], name[64], fix[160], val[8] = "";
		FILE *fp;

		if (!steer_family_used(cfg, self, fams[f].family))
			continue;
		snprintf(path, sizeof(path), fams[f].fmt, ifname);
		snprintf(key, sizeof(key), fams[f].sysctl, ifname);
		snprintf(name, sizeof(name), "steer.forwarding.%s.%s", ifname, fams[f].family == AF_INET ? "ipv4" : "ipv6");
		snprintf(fix, sizeof(fix), "sysctl -w %s=1 (and persist it in /etc/sysctl.d)", key);
		fp = fopen(path, "r");
		if (!fp || !fgets(val, sizeof(val), fp))
			ps_doctor_check(r, PS_CHECK_FAIL, name, "create the interface, or run doctor in its network namespace",
					"cannot read %s: %s", path, strerror(errno));
		else if (val[0] != '1')
			ps_doctor_check(r, PS_CHECK_FAIL, name, fix,
					"%s is 0: bpf_fib_lookup() (both modes) refuses to forward from %s, so every reply for another host's port is dropped (dropped_no_route)",
					key, ifname);
		else
			ps_doctor_check(r, PS_CHECK_OK, name, NULL, "%s is 1", key);
		if (fp)
			fclose(fp);
	}
}

/*
 * On veth, XDP_TX and redirected frames reach the peer only when it runs
 * NAPI, which an XDP program on the peer turns on; with none the kernel
 * drops them (xdp_tx_errors) after portslice counted them as forwarded.
 * Replies that crossed only virtual links may also carry a checksum their
 * sender left to offload (CHECKSUM_PARTIAL): forwarded raw by XDP, they
 * reach the owner corrupt.
 */
static void check_steer_veth(struct ps_doctor_report *r, const struct ps_link *l)
{
	char name[64], fix[256];
	struct ps_link peer;
	int err;

	snprintf(name, sizeof(name), "steer.veth_peer.%s", l->name);
	err = ps_rtnl_link_in(l->link_netnsid, l->link, &peer);
	snprintf(fix, sizeof(fix), "attach an XDP program to %s's peer (ifindex %d%s), one returning XDP_PASS is enough "
		 "(ip link set dev PEER xdpdrv obj xdp_pass.o sec xdp); GRO alone leaves frames waiting",
		 l->name, l->link, l->link_netnsid >= 0 ? ", in another network namespace" : "");
	if (err)
		ps_doctor_check(r, PS_CHECK_WARN, name, fix, "%s is a veth; its peer (ifindex %d) cannot be read: %s", l->name, l->link,
				strerror(-err));
	else if (!peer.xdp)
		ps_doctor_check(r, PS_CHECK_FAIL, name, fix,
				"%s is a veth whose peer %s has no XDP program: every frame steering sends back out (XDP_TX) is dropped by the kernel (xdp_tx_errors in 'portslice status')",
				l->name, peer.name);
	else
		ps_doctor_check(r, PS_CHECK_OK, name, NULL, "%s's veth peer %s runs an XDP program: XDP_TX frames reach it", l->name, peer.name);

	snprintf(name, sizeof(name), "steer.checksum.%s", l->name);
	ps_doctor_check(r, PS_CHECK_WARN, name,
			"turn TX checksum offload off on the sending side: the interface the replies' sender (the server, or the last host that builds them) transmits on "
			"when every link up to this host is virtual (ethtool -K DEV tx off); not on the fleet hosts, whose own offload does not matter",
			"%s is a veth: replies that reached it through virtual links only may carry a checksum their sender left to offload, "
			"and steered on by XDP they arrive corrupt at their owner (a physical NIC on the path fills checksums in)", l->name);
}

static void check_steer_iface(struct ps_doctor_report *r, const struct ps_config *cfg, const struct ps_host_cfg *self,
			      const char *ifname, const struct ps_link *links, size_t n_links)
{
	const struct ps_link *l = NULL;
	char name[64];

	for (size_t i = 0; i < n_links && !l; i++)
		if (!strcmp(links[i].name, ifname))
			l = &links[i];
	snprintf(name, sizeof(name), "steer.interface.%s", ifname);
	if (!l) {
		ps_doctor_check(r, PS_CHECK_FAIL, name, "check 'ip link', run doctor in the interfaces' network namespace, or fix steering.interfaces",
				"no interface named '%s' in this network namespace", ifname);
		return;
	}
	ps_doctor_check(r, PS_CHECK_OK, name, NULL, "%s (ifindex %d, %s)%s", ifname, l->ifindex, l->kind[0] ? l->kind : "hardware",
			l->xdp ? ", an XDP program attached" : "");
	check_steer_forwarding(r, cfg, self, ifname);
	if (!strcmp(l->kind, "veth"))
		check_steer_veth(r, l);
}

/*
 * How each other host is reached right now, as bpf_fib_lookup() sees it:
 * a route to its underlay address (l2: on the link), and a neighbour entry
 * of the next hop in a state the lookup uses (it never resolves one).
 */
static void check_steer_owner(struct ps_doctor_report *r, const struct ps_config *cfg, const struct ps_host_cfg *h,
			      const struct ps_neigh *ne, size_t n_ne, const struct ps_link *links, size_t n_links)
{
	char name[96], addr[PS_ADDR_STR_LEN], nh[PS_ADDR_STR_LEN], dev[IF_NAMESIZE] = "?", fix[320];
	const struct ps_neigh *e = NULL;
	size_t alen = h->family == AF_INET ? 4 : 16;
	const uint8_t *nh_addr;
	struct ps_route rt;
	int err;

	snprintf(name, sizeof(name), "steer.owner.%s", h->name);
	ps_format_addr(h->family, h->addr, addr, sizeof(addr));
	err = ps_rtnl_route_get(h->family, h->addr, &rt);
	if (err || rt.type != RTN_UNICAST) {
		snprintf(fix, sizeof(fix), "add a route to %s, or give %s's slices to another host in the config", addr, h->name);
		ps_doctor_check(r, PS_CHECK_FAIL, name, fix, "owner unreachable right now: no route to %s's underlay address %s (%s): replies for its ports are dropped (dropped_no_route)",
				h->name, addr, err ? strerror(-err) : "unreachable route");
		return;
	}
	for (size_t i = 0; i < n_links; i++)
		if (links[i].ifindex == rt.oif)
			snprintf(dev, sizeof(dev), "%s", links[i].name);
	if (rt.has_gw && cfg->steering.mode == PS_STEER_L2) {
		ps_format_addr(h->family, rt.gw, nh, sizeof(nh));
		ps_doctor_check(r, PS_CHECK_FAIL, name, "put the hosts on one segment, or use steering: {mode: encap}",
				"%s (%s) is reached through the gateway %s: l2 mode forwards only to hosts on the link, so replies for its ports are dropped (dropped_not_on_link)",
				h->name, addr, nh);
		return;
	}
	nh_addr = rt.has_gw ? rt.gw : h->addr;
	ps_format_addr(h->family, nh_addr, nh, sizeof(nh));
	for (size_t i = 0; i < n_ne && !e; i++)
		if (ne[i].family == h->family && ne[i].ifindex == rt.oif && !memcmp(ne[i].addr, nh_addr, alen))
			e = &ne[i];
	snprintf(fix, sizeof(fix), "check that %s is up; keep the entry resolved: ip neigh replace %s dev %s managed (bpf_fib_lookup never resolves one)",
		 h->name, nh, dev);
	if (!e || !ps_neigh_valid(e->state))
		ps_doctor_check(r, PS_CHECK_FAIL, name, fix,
				"owner unreachable right now: the neighbour entry of %s on %s is %s: replies for %s's ports are dropped (dropped_no_neigh)",
				nh, dev, e ? ps_neigh_state_name(e->state) : "missing", h->name);
	else if (!e->managed && !(e->state & (NUD_PERMANENT | NUD_NOARP)))
		ps_doctor_check(r, PS_CHECK_WARN, name, fix,
				"%s (%s) via %s: neighbour %s is %s but not managed: once it expires, replies for its ports are dropped until other traffic resolves it",
				h->name, addr, dev, nh, ps_neigh_state_name(e->state));
	else
		ps_doctor_check(r, PS_CHECK_OK, name, NULL, "%s (%s) via %s: neighbour %s is %s%s", h->name, addr, dev, nh,
				ps_neigh_state_name(e->state), e->managed ? " (managed)" : "");
}

void ps_doctor_check_steering(struct ps_doctor_report *r, const struct ps_fleet *fleet)
{
	const struct ps_config *cfg = &fleet->cfg;
	const struct ps_host_cfg *self = fleet->self;
	const char *host = fleet->host;
	char ifnames[PS_MAX_STEER_IFACES][PS_IFNAME_LEN];
	struct ps_neigh *ne4 = NULL, *ne6 = NULL, *ne = NULL;
	struct ps_link *links = NULL;
	size_t n_if, n_links = 0, n4 = 0, n6 = 0;
	char fix[sizeof(fleet->host) + 64];

	if (!cfg->steering.present)
		return;
	if (!self) {
		snprintf(fix, sizeof(fix), "pass --host NAME, or add '%s: {address: ADDR}' under hosts:", host);
		ps_doctor_check(r, PS_CHECK_FAIL, "steer.host", fix, "host '%s' is not listed under hosts:, which steering needs", host);
		return;
	}
	if (ps_rtnl_links(&links, &n_links) || ps_rtnl_neighs(AF_INET, &ne4, &n4) || ps_rtnl_neighs(AF_INET6, &ne6, &n6)) {
		ps_doctor_check(r, PS_CHECK_WARN, "steer.netlink", "run doctor as root in the interfaces' network namespace",
				"cannot read links and neighbours: %s", strerror(errno));
		goto out;
	}
	n_if = steer_ifaces(cfg, ifnames, PS_MAX_STEER_IFACES);
	if (!n_if)
		ps_doctor_check(r, PS_CHECK_WARN, "steer.interfaces", "list them under steering.interfaces, or run 'portslice steer attach --dev IFACE'",
				"steering: is configured but no interface is named or attached");
	for (size_t i = 0; i < n_if; i++)
		check_steer_iface(r, cfg, self, ifnames[i], links, n_links);
	ne = calloc(n4 + n6 + 1, sizeof(*ne));
	if (!ne)
		goto out;
	memcpy(ne, ne4, n4 * sizeof(*ne));
	memcpy(ne + n4, ne6, n6 * sizeof(*ne));
	for (size_t i = 0; i < cfg->n_hosts; i++)
		if (&cfg->hosts[i] != self)
			check_steer_owner(r, cfg, &cfg->hosts[i], ne, n4 + n6, links, n_links);
out:
	free(ne);
	free(ne4);
	free(ne6);
	free(links);
}