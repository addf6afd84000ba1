// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The leasing engine's and the etcd client's options from a fleet config (fleet/from_config.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fleet/from_config.h"

_Static_assert(PS_MAX_DYNAMIC_POOLS == PS_LEASE_MAX_POOLS, "the config accepts as many dynamic pools as the engine keeps");
/* The orphan sweep (ps_lease_cfg.sweep_ms): per host listed, without hosts:, at the least. */
#define PS_SWEEP_MS_PER_HOST 500
#define PS_SWEEP_MS_NO_HOSTS 30000
#define PS_SWEEP_MS_MIN 1000

_Static_assert(PS_POOL_NAME_LEN <= PS_LEASE_NAME_LEN, "a pool's name fits the engine's");

bool ps_config_has_dynamic(const struct ps_config *cfg)
{
	for (size_t i = 0; i < cfg->n_pools; i++)
		if (cfg->pools[i].dynamic)
			return true;
	return false;
}

int ps_fleet_lease_config(const struct ps_config *cfg, const char *host, struct ps_lease_cfg *lc,
			  struct ps_etcd_opts *eo, struct ps_error *error)
{
	const struct ps_etcd_cfg *e = &cfg->etcd;

	memset(lc, 0, sizeof(*lc));
	memset(eo, 0, sizeof(*eo));
	if (!ps_config_has_dynamic(cfg) || !e->present)
		return ps_fail(error, EINVAL, "%s: no dynamic pool (slices: dynamic) with an etcd: section: nothing to lease",
			       cfg->path);
	if (!host || !ps_valid_host_name(host))
		return ps_fail(error, EINVAL, "'%s' is not a host name", host ? host : "");
	for (size_t i = 0; i < cfg->n_pools && lc->n_pools < PS_LEASE_MAX_POOLS; i++) {
		const struct ps_pool_cfg *p = &cfg->pools[i];
		struct ps_lease_pool_cfg *lp = &lc->pools[lc->n_pools];

		if (!p->dynamic)
			continue;
		snprintf(lp->name, sizeof(lp->name), "%s", p->name);
		lp->port_lo = p->dyn.ports.lo;
		lp->port_hi = p->dyn.ports.hi;
		lp->block_size = p->dyn.block_size;
		lp->min_blocks = p->dyn.min_blocks;
		lp->max_blocks = p->dyn.max_blocks;
		lp->grow_at = p->dyn.grow_at;
		lp->quiet_ms = p->dyn.shrink_after_ms;
		lp->reuse_delay_ms = p->reuse_delay_ms;
		lc->n_pools++;
	}
	lc->prefix = e->prefix;
	lc->host = host;
	lc->ttl_s = e->lease_ttl_s;
	lc->keepalive_ms = e->keepalive_ms;
	lc->fence_margin_ms = e->fence_margin_ms;
	lc->quarantine_s = e->quarantine_s;
	/*
	 * Without a sweep a dead host's blocks stay orphans, of use to nobody,
	 * until a take happens to probe one. Each host sweeps every 500 ms
	 * times the fleet's hosts, so the fleet sweeps twice a second whatever
	 * its size (docs/fleet.md, "Arithmetic for 10,000 hosts").
	 */
	lc->sweep_ms = cfg->n_hosts ? (uint32_t)cfg->n_hosts * PS_SWEEP_MS_PER_HOST : PS_SWEEP_MS_NO_HOSTS;
	if (lc->sweep_ms < PS_SWEEP_MS_MIN)
		lc->sweep_ms = PS_SWEEP_MS_MIN;
	eo->endpoints = e->endpoints;
	eo->ca_file = e->ca;
	eo->cert_file = e->cert;
	eo->key_file = e->key;
	eo->timeout_ms = e->timeout_ms;
	return 0;
}
