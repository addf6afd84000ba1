// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The agent's steering of dynamic pools (agent/steer_follow.h): the lease
 * follower for the config in force, started, kept or restarted from what
 * the config and the pinned steering maps say.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "agent/steer_follow.h"
#include "core/log.h"
#include "core/pins.h"
#include "fleet/from_config.h"
#include "steer/maps.h"

/* What a follower runs with; every string is its own, the config may go. */
struct follow_want {
	char endpoints[1024], ca[256], cert[256], key[256], prefix[128];
	unsigned int timeout_ms, connect_timeout_ms;
	struct ps_lease_watch_pool pools[PS_LEASE_WATCH_MAX_POOLS];
	char pool_names[PS_LEASE_WATCH_MAX_POOLS][PS_POOL_NAME_LEN];
	size_t n_pools;
	char hosts[PS_MAX_HOSTS][PS_HOST_NAME_LEN]; /* host id i + 1 */
	size_t n_hosts;
	__u32 owner_map_id;         /* a recreated map is another map: the follower's fd would be stale */
};

struct ps_steer_follow {
	struct follow_want want;
	struct ps_lease_watch *watch;
};

/* A ps_lease_watch_host_fn over the copied host names (@ctx: a struct follow_want). */
static unsigned int host_id(void *ctx, const char *name)
{
	const struct follow_want *w = ctx;

	for (size_t i = 0; i < w->n_hosts; i++)
		if (!strcmp(w->hosts[i], name))
			return (unsigned int)i + 1;
	return PS_STEER_NO_HOST;
}

static void copy_str(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ?: "");
}

/*
 * @w for @cfg and the maps @pools_fd and @owner_fd. A dynamic pool whose
 * address has no slot (yet) is left out: nothing steers to it.
 */
static int want_for(struct follow_want *w, const struct ps_config *cfg, const char *host, int pools_fd,
		    int owner_fd, struct ps_error *error)
{
	struct bpf_map_info info = {};
	__u32 info_len = sizeof(info);
	struct ps_lease_cfg lc;
	struct ps_etcd_opts eo;
	int err;

	memset(w, 0, sizeof(*w));
	err = ps_fleet_lease_config(cfg, host, &lc, &eo, error);
	if (err)
		return err;
	copy_str(w->endpoints, sizeof(w->endpoints), eo.endpoints);
	copy_str(w->ca, sizeof(w->ca), eo.ca_file);
	copy_str(w->cert, sizeof(w->cert), eo.cert_file);
	copy_str(w->key, sizeof(w->key), eo.key_file);
	copy_str(w->prefix, sizeof(w->prefix), lc.prefix);
	w->timeout_ms = eo.timeout_ms;
	w->connect_timeout_ms = eo.connect_timeout_ms;
	for (size_t i = 0; i < cfg->n_hosts && i < PS_MAX_HOSTS; i++)
		copy_str(w->hosts[w->n_hosts++], PS_HOST_NAME_LEN, cfg->hosts[i].name);
	for (size_t i = 0; i < cfg->n_pools && w->n_pools < PS_LEASE_WATCH_MAX_POOLS; i++) {
		const struct ps_pool_cfg *p = &cfg->pools[i];
		struct ps_lease_watch_pool *lp = &w->pools[w->n_pools];
		struct ps_addr_key key;
		__u32 slot;

		if (!p->dynamic)
			continue;
		ps_steer_addr_key(p->family, p->addr, &key);
		if (bpf_map_lookup_elem(pools_fd, &key, &slot) || slot >= PS_MAX_POOLS)
			continue;
		copy_str(w->pool_names[w->n_pools], PS_POOL_NAME_LEN, p->name);
		lp->name = w->pool_names[w->n_pools];
		lp->slot = slot;
		lp->port_lo = p->dyn.ports.lo;
		lp->block_size = p->dyn.block_size;
		lp->n_blocks = (p->dyn.ports.hi - p->dyn.ports.lo + 1) / p->dyn.block_size;
		w->n_pools++;
	}
	if (bpf_obj_get_info_by_fd(owner_fd, &info, &info_len))
		return ps_fail(error, errno, "cannot read ps_steer_owner's map id: %s", strerror(errno));
	w->owner_map_id = info.id;
	return 0;
}

/* Equal wants run the same follower (the names' pointers aside, which point into each). */
static bool want_same(const struct follow_want *a, const struct follow_want *b)
{
	if (a->n_pools != b->n_pools || a->n_hosts != b->n_hosts || a->owner_map_id != b->owner_map_id ||
	    a->timeout_ms != b->timeout_ms || a->connect_timeout_ms != b->connect_timeout_ms ||
	    strcmp(a->endpoints, b->endpoints) || strcmp(a->ca, b->ca) || strcmp(a->cert, b->cert) ||
	    strcmp(a->key, b->key) || strcmp(a->prefix, b->prefix))
		return false;
	for (size_t i = 0; i < a->n_pools; i++) {
		const struct ps_lease_watch_pool *p = &a->pools[i], *q = &b->pools[i];

		if (strcmp(p->name, q->name) || p->slot != q->slot || p->port_lo != q->port_lo ||
		    p->block_size != q->block_size || p->n_blocks != q->n_blocks)
			return false;
	}
	for (size_t i = 0; i < a->n_hosts; i++)
		if (strcmp(a->hosts[i], b->hosts[i]))
			return false;
	return true;
}

static int follow_start(struct ps_steer_follow **out, struct ps_steer_follow *f, int owner_fd,
			 struct ps_error *error)
{
	const struct follow_want *w = &f->want;
	struct ps_etcd_opts eo = {
		.endpoints = w->endpoints,
		.ca_file = w->ca[0] ? w->ca : NULL,
		.cert_file = w->cert[0] ? w->cert : NULL,
		.key_file = w->key[0] ? w->key : NULL,
		.timeout_ms = w->timeout_ms,
		.connect_timeout_ms = w->connect_timeout_ms,
	};
	struct ps_lease_watch_opts o = {
		.etcd = &eo,
		.prefix = w->prefix,
		.owner_fd = owner_fd,
		.pools = w->pools,
		.n_pools = w->n_pools,
		.host_id = host_id,
		.host_ctx = &f->want, /* lives as long as the follower: freed after ps_lease_watch_stop() */
	};
	int err = ps_lease_watch_start(&f->watch, &o, error);

	if (err) {
		free(f);
		return err;
	}
	pr_info("steering follows the leases of %zu dynamic pool(s) from etcd %s, prefix %s", w->n_pools, w->endpoints,
		w->prefix);
	*out = f;
	return 0;
}

int ps_steer_follow_sync(struct ps_steer_follow **f, const struct ps_config *cfg, const char *host,
			 struct ps_error *error)
{
	struct ps_steer_follow *next = NULL;
	int pools_fd = -1, owner_fd = -1, err = 0;

	/* No steering section, no dynamic pool, or no steering maps (no interface steers): nothing to follow. */
	if (cfg->steering.present && ps_config_has_dynamic(cfg) && ps_config_find_host(cfg, host)) {
		pools_fd = ps_pin_map_open("ps_steer_pools");
		owner_fd = pools_fd >= 0 ? ps_pin_map_open("ps_steer_owner") : -1;
	}
	if (owner_fd >= 0) {
		next = calloc(1, sizeof(*next));
		err = next ? want_for(&next->want, cfg, host, pools_fd, owner_fd, error)
			   : ps_fail(error, ENOMEM, "out of memory");
		if (!err && !next->want.n_pools) {
			free(next);
			next = NULL;
		}
	}
	/* A failure keeps what runs: a follower on stale settings drops less than none. */
	if (err || (*f && next && want_same(&(*f)->want, &next->want))) {
		free(next);
		goto out;
	}
	if (*f)
		pr_info("steering: %s", next ? "the dynamic pools, their slots or etcd changed: restarting the lease follower"
					     : "no dynamic pool to steer any more: the lease follower stops");
	ps_steer_follow_stop(*f);
	*f = NULL;
	if (next)
		err = follow_start(f, next, owner_fd, error);
out:
	if (pools_fd >= 0)
		close(pools_fd);
	if (owner_fd >= 0)
		close(owner_fd);
	return err;
}

void ps_steer_follow_stop(struct ps_steer_follow *f)
{
	if (!f)
		return;
	ps_lease_watch_stop(f->watch);
	free(f);
}

void ps_steer_follow_stats(const struct ps_steer_follow *f, struct ps_lease_watch_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (f)
		ps_lease_watch_stats(f->watch, out);
}

size_t ps_steer_follow_pools(const struct ps_steer_follow *f)
{
	return f ? f->want.n_pools : 0;
}
