// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The leasing engine of dynamic slices (loader/fleet/lease.h, docs/fleet.md):
 * its configuration, its etcd lease and fencing, the block set, the tick.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "fleet/lease.h"
#include "fleet/lease_blocks.h"
#include "fleet/lease_orphans.h"

uint32_t ps_lease_random(struct ps_lease *l)
{
	uint32_t x = l->rng;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return l->rng = x;
}

uint32_t ps_lease_pool_n_blocks(const struct ps_lease_pool_cfg *p)
{
	return (p->port_hi - p->port_lo + 1) / p->block_size;
}

/* Fills in the defaults of @c and checks the invariants it can (docs/fleet.md). */
static int check_cfg(struct ps_lease_cfg *c, struct ps_error *error)
{
	uint32_t max_reuse = 0;

	if (!c->host || !*c->host || !c->prefix || !*c->prefix)
		return ps_fail(error, EINVAL, "leases: a host name and an etcd key prefix are needed");
	if (!c->n_pools || c->n_pools > PS_LEASE_MAX_POOLS)
		return ps_fail(error, EINVAL, "leases: 1 to %d dynamic pools, not %u", PS_LEASE_MAX_POOLS, c->n_pools);
	if (!c->ttl_s)
		c->ttl_s = 10;
	if (!c->keepalive_ms)
		c->keepalive_ms = c->ttl_s * 1000 / 3;
	if (!c->fence_margin_ms)
		c->fence_margin_ms = c->ttl_s * 1000 / 4 < 1000 ? 1000 : c->ttl_s * 1000 / 4;
	if (!c->time_wait_s)
		c->time_wait_s = 60;
	for (unsigned int i = 0; i < c->n_pools; i++) {
		struct ps_lease_pool_cfg *p = &c->pools[i];

		if (!p->grow_at)
			p->grow_at = 0.75;
		if (!p->shrink_at)
			p->shrink_at = 0.5;
		if (!p->quiet_ms)
			p->quiet_ms = 60000;
		if (p->reuse_delay_ms > max_reuse)
			max_reuse = p->reuse_delay_ms;
		if (!p->block_size || p->port_lo > p->port_hi || p->port_hi > 65535 || !ps_lease_pool_n_blocks(p) ||
		    !p->min_blocks || p->min_blocks > p->max_blocks || p->max_blocks > ps_lease_pool_n_blocks(p))
			return ps_fail(error, EINVAL,
				       "leases: pool %s: ports %u-%u in blocks of %u hold %u blocks, which min_blocks %u "
				       "and max_blocks %u must fit (1 <= min <= max <= blocks)",
				       p->name, p->port_lo, p->port_hi, p->block_size,
				       p->block_size && p->port_lo <= p->port_hi ? ps_lease_pool_n_blocks(p) : 0, p->min_blocks,
				       p->max_blocks);
	}
	if (!c->quarantine_s)
		c->quarantine_s = c->time_wait_s + (max_reuse + 999) / 1000 + 5;
	/* Invariant 3: a quarantine outlasts TIME_WAIT and every pool's reuse_delay. */
	if ((uint64_t)c->quarantine_s * 1000 <= (uint64_t)c->time_wait_s * 1000 + max_reuse)
		return ps_fail(error, EINVAL,
			       "leases: the quarantine (%u s) must be longer than TIME_WAIT (%u s) plus the largest "
			       "reuse_delay (%u ms); raise etcd.quarantine", c->quarantine_s, c->time_wait_s, max_reuse);
	/* Invariant 2: the host fences itself before the lease can expire, and keeps it alive before that. */
	if (c->fence_margin_ms >= c->ttl_s * 1000 || c->keepalive_ms >= c->ttl_s * 1000 - c->fence_margin_ms)
		return ps_fail(error, EINVAL,
			       "leases: keepalives every %u ms and a fencing margin of %u ms do not fit a TTL of %u s; "
			       "keep keepalive < TTL - margin", c->keepalive_ms, c->fence_margin_ms, c->ttl_s);
	return 0;
}

int ps_lease_new(struct ps_lease **out, const struct ps_lease_cfg *cfg, struct ps_etcd *etcd, ps_lease_claims_fn claims,
		 void *claims_ctx, struct ps_error *error)
{
	struct ps_lease_cfg c = *cfg;
	struct ps_lease *l;
	int err;

	*out = NULL;
	err = check_cfg(&c, error);
	if (err)
		return err;
	l = calloc(1, sizeof(*l));
	if (!l)
		return ps_fail(error, ENOMEM, "leases: out of memory");
	l->cfg = c;
	snprintf(l->prefix, sizeof(l->prefix), "%s", c.prefix);
	snprintf(l->host, sizeof(l->host), "%s", c.host);
	l->cfg.prefix = l->prefix;
	l->cfg.host = l->host;
	l->etcd = etcd;
	l->claims = claims;
	l->claims_ctx = claims_ctx;
	l->rng = c.seed;
	if (!l->rng) {
		l->rng = 2166136261u;
		for (const char *s = l->host; *s; s++)
			l->rng = (l->rng ^ (unsigned char)*s) * 16777619u;
		l->rng ^= (uint32_t)time(NULL);
	}
	l->rng |= 1;
	l->fenced = true;
	*out = l;
	return 0;
}

void ps_lease_free(struct ps_lease *l, bool revoke)
{
	if (!l)
		return;
	if (revoke && l->lease)
		ps_etcd_lease_revoke(l->etcd, l->lease, NULL);
	for (unsigned int p = 0; p < PS_LEASE_MAX_POOLS; p++)
		free(l->busy[p]);
	free(l->blocks);
	free(l);
}

/* ---- the block set ------------------------------------------------------- */

struct ps_lease_block *ps_lease_find_block(struct ps_lease *l, unsigned int pool, uint32_t index)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->blocks[i].pool == pool && l->blocks[i].index == index)
			return &l->blocks[i];
	return NULL;
}

static int cmp_block(const void *a, const void *b)
{
	const struct ps_lease_block *x = a, *y = b;

	if (x->pool != y->pool)
		return x->pool < y->pool ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

struct ps_lease_block *ps_lease_add_block(struct ps_lease *l, unsigned int pool, uint32_t index,
					  enum ps_block_state state, int64_t rev, uint64_t now)
{
	const struct ps_lease_pool_cfg *p = &l->cfg.pools[pool];
	struct ps_lease_block *b = ps_lease_find_block(l, pool, index);

	if (!b) {
		if (l->n == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 16;
			struct ps_lease_block *nb = realloc(l->blocks, cap * sizeof(*nb));

			if (!nb)
				return NULL;
			l->blocks = nb;
			l->cap = cap;
		}
		b = &l->blocks[l->n++];
	}
	*b = (struct ps_lease_block){
		.pool = pool, .index = index, .state = state, .mod_revision = rev, .since_ms = now,
		.lo = p->port_lo + index * p->block_size, .hi = p->port_lo + (index + 1) * p->block_size - 1,
	};
	qsort(l->blocks, l->n, sizeof(*l->blocks), cmp_block);
	l->generation++;
	return ps_lease_find_block(l, pool, index);
}

void ps_lease_drop_block(struct ps_lease *l, struct ps_lease_block *b)
{
	size_t i = b - l->blocks;

	memmove(&l->blocks[i], &l->blocks[i + 1], (l->n - i - 1) * sizeof(*b));
	l->n--;
	l->generation++;
}

unsigned int ps_lease_count_blocks(const struct ps_lease *l, unsigned int pool, enum ps_block_state state)
{
	unsigned int c = 0;

	for (size_t i = 0; i < l->n; i++)
		c += l->blocks[i].pool == pool && l->blocks[i].state == state;
	return c;
}

unsigned int ps_lease_held(const struct ps_lease *l, unsigned int pool)
{
	return ps_lease_count_blocks(l, pool, PS_BLOCK_HELD) + ps_lease_count_blocks(l, pool, PS_BLOCK_DRAINING);
}

/* ---- the lease ---------------------------------------------------------- */

static void lease_lost(struct ps_lease *l, uint64_t now)
{
	bool had = false;

	for (size_t i = 0; i < l->n; i++) {
		if (l->blocks[i].state != PS_BLOCK_LOST) {
			l->blocks[i].state = PS_BLOCK_LOST;
			l->blocks[i].since_ms = now;
			had = true;
		}
	}
	if (l->lease || had) {
		l->stats.lease_losses++;
		pr_warn("leases: lease %llx of host %s is gone; its %zu blocks stop taking new ports and go to "
			"quarantine", (unsigned long long)l->lease, l->host, l->n);
	}
	l->lease = 0;
	l->generation++;
}

static int ensure_lease(struct ps_lease *l, uint64_t now, struct ps_error *error)
{
	int64_t granted;
	int err;

	if (l->lease)
		return 0;
	if (l->adopt) {
		err = ps_lease_adopt_step(l, now, error);
		if (err) {
			l->etcd_ok = false;
			return err;
		}
		if (l->lease)
			return 0;
	}
	l->stats.etcd_ops++;
	err = ps_etcd_lease_grant(l->etcd, l->cfg.ttl_s, &l->lease, &granted, error);
	if (err) {
		l->etcd_ok = false;
		return err;
	}
	l->stats.lease_grants++;
	l->etcd_ok = true;
	l->ka_ok_sent_ms = now;
	l->next_ka_ms = now + l->cfg.keepalive_ms;
	pr_info("leases: host %s has lease %llx (TTL %lld s)", l->host, (unsigned long long)l->lease,
		(long long)granted);
	return 0;
}

static int keepalive(struct ps_lease *l, uint64_t now, struct ps_error *error)
{
	int64_t ttl;
	int err;

	if (!l->lease || now < l->next_ka_ms)
		return 0;
	l->stats.etcd_ops++;
	l->stats.keepalives++;
	err = ps_etcd_lease_keepalive(l->etcd, l->lease, &ttl, error);
	if (!err) {
		/* etcd renewed it at or after @now: it cannot expire before now + TTL. */
		l->ka_ok_sent_ms = now;
		l->next_ka_ms = now + l->cfg.keepalive_ms;
		l->etcd_ok = true;
		return 0;
	}
	l->stats.keepalive_failures++;
	if (err == -ENOENT) {
		lease_lost(l, now);
		l->etcd_ok = true;
		return err;
	}
	l->etcd_ok = false;
	/* Sooner than the period: the deadline is getting closer. */
	l->next_ka_ms = now + (l->cfg.keepalive_ms / 4 ?: 1);
	return err;
}

uint64_t ps_lease_fence_deadline(const struct ps_lease *l)
{
	if (!l->lease)
		return 0;
	return l->ka_ok_sent_ms + (uint64_t)l->cfg.ttl_s * 1000 - l->cfg.fence_margin_ms;
}

bool ps_lease_fenced(const struct ps_lease *l, uint64_t now_ms)
{
	return !l->lease || now_ms >= ps_lease_fence_deadline(l);
}

uint64_t ps_lease_own_until_ms(const struct ps_lease *l)
{
	if (!l->lease)
		return 0;
	return l->ka_ok_sent_ms + ((uint64_t)l->cfg.ttl_s + l->cfg.quarantine_s) * 1000;
}

uint64_t ps_lease_ttl_left_ms(const struct ps_lease *l, uint64_t now_ms)
{
	uint64_t end = l->lease ? l->ka_ok_sent_ms + (uint64_t)l->cfg.ttl_s * 1000 : 0;

	return end > now_ms ? end - now_ms : 0;
}

/* ---- the tick ------------------------------------------------------------ */

/* Ports come only from HELD blocks, and from none while fenced. */
static void update_offers(struct ps_lease *l, bool fenced)
{
	for (size_t i = 0; i < l->n; i++) {
		bool offer = !fenced && l->blocks[i].state == PS_BLOCK_HELD;

		if (l->blocks[i].offer != offer) {
			l->blocks[i].offer = offer;
			l->generation++;
		}
	}
}

int ps_lease_tick(struct ps_lease *l, uint64_t now, const struct ps_lease_load *load, struct ps_error *error)
{
	bool fenced;
	int err;

	/* Lost blocks are forgotten once others may have them: after the quarantine. */
	for (size_t i = 0; i < l->n; i++) {
		if (l->blocks[i].state == PS_BLOCK_LOST &&
		    now - l->blocks[i].since_ms >= (uint64_t)l->cfg.quarantine_s * 1000) {
			ps_lease_drop_block(l, &l->blocks[i]);
			i--;
		}
	}
	err = ensure_lease(l, now, error);
	if (!err)
		err = keepalive(l, now, error);
	if (err == -ENOENT) {
		/* Lost: a new lease at once, new blocks with it. */
		ps_error_clear(error);
		err = ensure_lease(l, now, error);
	}
	fenced = ps_lease_fenced(l, now);
	if (fenced != l->fenced) {
		l->generation++;
		if (fenced) {
			l->fenced_at = now;
			l->stats.fences += l->lease != 0;
			pr_warn("leases: host %s is fenced: no keepalive answered since %llu ms; no new ports from "
				"its blocks", l->host, (unsigned long long)(now - l->ka_ok_sent_ms));
		} else {
			l->stats.fenced_ms += now - l->fenced_at;
		}
		l->fenced = fenced;
	}
	update_offers(l, fenced);
	/* Nothing changes in etcd while fenced or unsure of etcd: the lease may be gone already. */
	if (err || fenced || !l->etcd_ok)
		return err;
	if (l->reconcile) {
		err = ps_lease_reconcile(l, now, error);
		if (err)
			return err;
	}
	for (size_t i = 0; i < l->n && !err; i++)
		if (l->blocks[i].state == PS_BLOCK_LOST && l->blocks[i].claim_revision)
			err = ps_lease_readopt(l, &l->blocks[i], now, error);
	for (unsigned int p = 0; p < l->cfg.n_pools && !err; p++)
		err = ps_lease_tick_pool(l, p, now, load ? &load[p] : NULL, error);
	if (l->cfg.sweep_ms && !l->next_sweep_ms)
		l->next_sweep_ms = now + ps_lease_random(l) % l->cfg.sweep_ms;
	if (!err && l->cfg.sweep_ms && now >= l->next_sweep_ms) {
		l->next_sweep_ms = now + l->cfg.sweep_ms / 2 + ps_lease_random(l) % (l->cfg.sweep_ms + 1);
		for (unsigned int p = 0; p < l->cfg.n_pools && !err; p++)
			err = ps_lease_sweep(l, p, NULL, error);
	}
	update_offers(l, false);
	return err;
}

const struct ps_lease_block *ps_lease_blocks(const struct ps_lease *l, size_t *n)
{
	*n = l->n;
	return l->blocks;
}

uint64_t ps_lease_generation(const struct ps_lease *l)
{
	return l->generation;
}

int64_t ps_lease_id(const struct ps_lease *l)
{
	return l->lease;
}

bool ps_lease_etcd_ok(const struct ps_lease *l)
{
	return l->etcd_ok;
}

const struct ps_lease_stats *ps_lease_stats(const struct ps_lease *l)
{
	return &l->stats;
}
