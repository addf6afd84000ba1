// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* doctor's checks of the config against this host: its slices, their addresses and ports. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "core/env.h"
#include "core/trust.h"
#include "doctor/slices.h"
#include "doctor/steering.h"
#include "sock/slots.h"
#include "sock/sockdiag.h"

static void check_addresses(struct ps_doctor_report *r, const struct ps_selection *sel)
{
	struct ifaddrs *ifs = NULL;

	if (getifaddrs(&ifs)) {
		ps_doctor_check(r, PS_CHECK_WARN, "addresses", "run doctor where portslice runs (same network namespace)",
				"cannot list the local addresses: %s", strerror(errno));
		return;
	}
	for (size_t i = 0; i < sel->n; i++) {
		const struct ps_pool_cfg *p = sel->pool[i];
		char name[64], addr[PS_ADDR_STR_LEN], ifname[IF_NAMESIZE + 1], fix[160];

		snprintf(name, sizeof(name), "address.%s", p->name);
		ps_format_addr(p->family, p->addr, addr, sizeof(addr));
		if (ps_env_addr_configured(ifs, p->family, p->addr, ifname, sizeof(ifname))) {
			ps_doctor_check(r, PS_CHECK_OK, name, NULL, "%s is configured on %s", addr, ifname);
			continue;
		}
		snprintf(fix, sizeof(fix), "ip addr add %s/%d dev lo%s (on lo, routing never picks it by itself)", addr,
			 p->family == AF_INET ? 32 : 128, p->family == AF_INET6 ? " nodad" : "");
		ps_doctor_check(r, PS_CHECK_FAIL, name, fix,
				"pool '%s': %s is not configured on any interface of this network namespace: bind() to it fails, so every connect() through the pool fails",
				p->name, addr);
	}
	freeifaddrs(ifs);
}

static void check_local_range(struct ps_doctor_report *r, const struct ps_selection *sel)
{
	struct ps_port_range local;

	if (ps_env_local_port_range(&local)) {
		ps_doctor_check(r, PS_CHECK_WARN, "port_range", "check /proc/sys/net/ipv4/ip_local_port_range", "cannot read ip_local_port_range");
		return;
	}
	for (size_t i = 0; i < sel->n; i++) {
		const struct ps_port_range s = sel->slice[i]->range;
		char name[64], fix[256];
		bool overlap = false;

		for (size_t j = 0; j < sel->slice[i]->n_blocks; j++)
			overlap = overlap || ps_ranges_overlap(sel->slice[i]->blocks[j], local);
		snprintf(name, sizeof(name), "port_range.%s", sel->pool[i]->name);
		if (!overlap) {
			ps_doctor_check(r, PS_CHECK_OK, name, NULL, "slice %u-%u is outside ip_local_port_range %u-%u", s.lo, s.hi, local.lo,
					local.hi);
			continue;
		}
		snprintf(fix, sizeof(fix),
			 "move the slice out of %u-%u in the config, or narrow the range (sysctl -w net.ipv4.ip_local_port_range='%u %u' or a range that avoids %u-%u)",
			 local.lo, local.hi, s.hi < 65535 && s.hi >= local.lo ? s.hi + 1 : local.lo,
			 s.hi < 65535 && s.hi >= local.lo ? local.hi : (unsigned)s.lo - 1, s.lo, s.hi);
		ps_doctor_check(r, PS_CHECK_WARN, name, fix,
				"slice %u-%u overlaps ip_local_port_range %u-%u: ports taken by portslice are skipped by the kernel's own port choice, so other workloads lose them",
				s.lo, s.hi, local.lo, local.hi);
	}
}

/*
 * Is @port in one of @slice's blocks? (Its range is their hull: the ports
 * between may be another host's. A dynamic pool's slice is its whole range:
 * any block of it may become this host's.)
 */
static bool in_blocks(const struct ps_slice_cfg *slice, unsigned int port)
{
	for (size_t i = 0; i < slice->n_blocks; i++)
		if (port >= slice->blocks[i].lo && port <= slice->blocks[i].hi)
			return true;
	return false;
}

struct listen_scan {
	const struct ps_pool_cfg *pool;
	const struct ps_slice_cfg *slice;
	struct ps_port_range range;
	unsigned int count;
	char first[PS_ADDR_STR_LEN + 16];
};

static bool all_zero(const uint8_t *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i])
			return false;
	return true;
}

static int listen_cb(const struct ps_sockinfo *si, void *arg)
{
	struct listen_scan *l = arg;
	size_t alen = si->family == AF_INET ? 4 : 16;
	bool any = all_zero(si->laddr, alen), mine;
	char addr[PS_ADDR_STR_LEN];

	if (!in_blocks(l->slice, si->lport))
		return 0;
	if (si->proto == IPPROTO_TCP && si->state != TCP_LISTEN)
		return 0;
	/* Unconnected UDP on the pool address may be portslice's own bind(pool, 0). */
	if (si->proto == IPPROTO_UDP && (si->state != TCP_CLOSE || !any))
		return 0;
	mine = si->family == l->pool->family && !memcmp(si->laddr, l->pool->addr, alen);
	/* A wildcard IPv6 socket may be dual-stack: it holds the IPv4 port too. */
	if (!mine && !(any && (si->family == l->pool->family || si->family == AF_INET6)))
		return 0;
	if (!l->count++) {
		ps_format_addr(si->family, si->laddr, addr, sizeof(addr));
		snprintf(l->first, sizeof(l->first), "%s %s%s%s:%u", si->proto == IPPROTO_TCP ? "tcp" : "udp",
			 si->family == AF_INET6 ? "[" : "", addr, si->family == AF_INET6 ? "]" : "", si->lport);
	}
	return 0;
}

static void check_listeners(struct ps_doctor_report *r, const struct ps_selection *sel)
{
	for (size_t i = 0; i < sel->n; i++) {
		struct listen_scan l = { .pool = sel->pool[i], .slice = sel->slice[i], .range = sel->slice[i]->range };
		char name[64];
		int err = 0;

		snprintf(name, sizeof(name), "listeners.%s", sel->pool[i]->name);
		for (int f = 0; f < 2 && !err; f++)
			for (int p = 0; p < 2 && !err; p++)
				err = ps_sockdiag_dump(f ? AF_INET6 : AF_INET, p ? IPPROTO_UDP : IPPROTO_TCP, listen_cb, &l);
		if (err)
			ps_doctor_check(r, PS_CHECK_WARN, name, "run doctor as root in portslice's network namespace",
					"cannot read the socket table: %s", strerror(-err));
		else if (l.count)
			ps_doctor_check(r, PS_CHECK_WARN, name, "move those servers to ports outside the slice, or move the slice",
					"%u listening socket(s) hold ports of slice %u-%u (first: %s): connect() skips those ports and bind() to them is refused",
					l.count, l.range.lo, l.range.hi, l.first);
		else
			ps_doctor_check(r, PS_CHECK_OK, name, NULL, "no listening socket on the pool address or the wildcard address in slice %u-%u",
					l.range.lo, l.range.hi);
	}
}
bool ps_doctor_check_config(struct ps_doctor_report *r, const struct ps_fleet *fleet, const char *file,
			    const struct ps_error *load)
{
	const struct ps_config *cfg = &fleet->cfg;
	const char *host = fleet->host, *fix_file = "correct the file at the line and field named";
	struct ps_error why = {};
	struct ps_selection sel;
	char names[512] = "";
	size_t used = 0;
	int err;

	if (ps_failed(load)) {
		/* Every error of the file, one line each. */
		for (size_t i = 0; i < load->n; i++) {
			const struct ps_error_item *it = &load->items[i];

			if (!i)
				ps_doctor_check(r, PS_CHECK_FAIL, "config", fix_file, "%s", load->msg);
			else
				ps_doctor_check(r, PS_CHECK_FAIL, "config", fix_file, "%s:%d: %s: %s", load->file, it->line,
						it->field, it->problem);
		}
		if (!load->n)
			ps_doctor_check(r, PS_CHECK_FAIL, "config", fix_file, "%s", load->msg);
		return false;
	}
	ps_doctor_check(r, PS_CHECK_OK, "config", NULL, "%s: %zu pool(s), valid", file, cfg->n_pools);
	if (ps_config_trusted(file, &why)) {
		char msg[1024], *fix;

		/* The message ends in "; fix: ...": that part is the fix. */
		snprintf(msg, sizeof(msg), "%s", why.msg);
		fix = strstr(msg, "; fix: ");
		if (fix) {
			*fix = '\0';
			fix += 7;
		}
		ps_doctor_check(r, PS_CHECK_WARN, "config_perms", fix ?: "make root the only writer of the file and its directory",
				"portslice agent would refuse it (attach accepts it): %s", msg);
	} else {
		ps_doctor_check(r, PS_CHECK_OK, "config_perms", NULL,
				"root owns, and only root may write, %s and every directory and symlink on its path", file);
	}
	err = ps_select_pools(cfg, host, NULL, 0, &sel, NULL);
	if (err) {
		char fix[sizeof(fleet->host) + 64];

		snprintf(fix, sizeof(fix), "pass --host NAME, or add '%s: FIRST-LAST' under a pool's slices", host);
		ps_doctor_check(r, PS_CHECK_FAIL, "host", fix, "no pool has a slice for host '%s'", host);
		return false;
	}
	for (size_t i = 0; i < sel.n; i++)
		used += snprintf(names + used, used < sizeof(names) ? sizeof(names) - used : 0, "%s%s %u-%u%s",
				 i ? ", " : "", sel.pool[i]->name, sel.slice[i]->range.lo, sel.slice[i]->range.hi,
				 sel.pool[i]->dynamic ? " (dynamic: blocks leased from etcd)" : "");
	ps_doctor_check(r, PS_CHECK_OK, "host", NULL, "host '%s' has slices: %s", host, names);
	check_addresses(r, &sel);
	check_local_range(r, &sel);
	check_listeners(r, &sel);
	ps_doctor_check_steering(r, fleet);
	return true;
}
