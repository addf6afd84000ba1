// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * This host's blocks in etcd: taking, growing, draining, releasing, and
 * reading them back when a change's outcome is unknown
 * (loader/fleet/lease_blocks.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "fleet/lease_blocks.h"
#include "fleet/lease_keys.h"
#include "fleet/lease_orphans.h"

/* Random blocks tried before reading the pool's occupancy. */
#define RANDOM_PROBES 3
/* How long a pool's occupancy, as read, serves for picking blocks. */
#define OCCUPANCY_MS 30000
/* A pool where no block was free is tried again after this long. */
#define GROW_BACKOFF_MS 2000

/* ---- taking, draining, releasing ----------------------------------------- */

int ps_lease_change(struct ps_lease *l, const struct ps_etcd_txn *t, struct ps_etcd_txn_result *res,
		    struct ps_error *error)
{
	int err;

	l->stats.etcd_ops++;
	err = ps_etcd_txn(l->etcd, t, res, error);
	if (err)
		l->reconcile = true;
	return err;
}

/*
 * Tries to take block @n: 1 taken, 0 not free (an orphan met is put in
 * quarantine on the way), negative: etcd failed (the outcome may be
 * unknown: reconcile).
 */
static int take(struct ps_lease *l, unsigned int pool, uint32_t n, uint64_t now, struct ps_error *error)
{
	char kb[PS_LEASE_KEY_LEN], kc[PS_LEASE_KEY_LEN], kq[PS_LEASE_KEY_LEN], vb[256], vc[256];
	struct ps_etcd_cmp cmp[] = {
		{ .key = kb, .target = PS_ETCD_CREATE, .result = PS_ETCD_EQUAL, .number = 0 },
		{ .key = kc, .target = PS_ETCD_CREATE, .result = PS_ETCD_EQUAL, .number = 0 },
		{ .key = kq, .target = PS_ETCD_CREATE, .result = PS_ETCD_EQUAL, .number = 0 },
	};
	struct ps_etcd_op ok[] = {
		{ .type = PS_ETCD_OP_PUT, .key = kb, .value = vb, .lease = l->lease },
		{ .type = PS_ETCD_OP_PUT, .key = kc, .value = vc },
	};
	struct ps_etcd_op fail[] = {
		{ .type = PS_ETCD_OP_RANGE, .key = kb, .prefix = false },
		{ .type = PS_ETCD_OP_RANGE, .key = kc, .prefix = false },
		{ .type = PS_ETCD_OP_RANGE, .key = kq, .prefix = false },
	};
	struct ps_etcd_txn t = { cmp, 3, ok, 2, fail, 3 };
	struct ps_etcd_txn_result res;
	struct ps_lease_block *b;
	bool orphan;
	int err;

	ps_lease_held_values(l, pool, n, kb, vb, kc, vc);
	ps_lease_key(kq, l, pool, "quarantine", n);
	err = ps_lease_change(l, &t, &res, error);
	if (err)
		return err;
	if (res.succeeded) {
		ps_etcd_txn_result_free(&res);
		b = ps_lease_add_block(l, pool, n, PS_BLOCK_HELD, res.revision, now);
		if (!b)
			return ps_fail(error, ENOMEM, "leases: out of memory");
		b->claim_revision = res.revision;
		l->stats.grows++;
		pr_info("leases: host %s took pool %s block %u", l->host, l->cfg.pools[pool].name, n);
		return 1;
	}
	if (res.n_ranges == 3 && res.ranges[0].n && res.ranges[0].kv[0].lease == l->lease) {
		/* Ours already: a retry, after a timeout, of a take etcd had applied. */
		b = ps_lease_add_block(l, pool, n, PS_BLOCK_HELD, res.ranges[0].kv[0].mod_revision, now);
		if (b && res.ranges[1].n)
			b->claim_revision = res.ranges[1].kv[0].mod_revision;
		ps_etcd_txn_result_free(&res);
		if (!b)
			return ps_fail(error, ENOMEM, "leases: out of memory");
		l->stats.grows++;
		return 1;
	}
	l->stats.takes_lost++;
	pr_info("leases: host %s did not get pool %s block %u: %s", l->host, l->cfg.pools[pool].name, n,
		res.n_ranges == 3 && res.ranges[0].n ? "another host holds it" : "not free");
	orphan = res.n_ranges == 3 && !res.ranges[0].n && res.ranges[1].n && !res.ranges[2].n;
	ps_etcd_txn_result_free(&res);
	if (orphan)
		ps_lease_quarantine(l, pool, n, NULL);
	return 0;
}

/* A random block of @pool this host does not hold, or, with @busy, one that @busy says is free. */
static int pick(struct ps_lease *l, unsigned int pool, const uint8_t *busy, uint32_t *out)
{
	uint32_t nb = ps_lease_pool_n_blocks(&l->cfg.pools[pool]), start = ps_lease_random(l) % nb;

	for (uint32_t i = 0; i < nb; i++) {
		uint32_t n = (start + i) % nb;

		if (!ps_lease_find_block(l, pool, n) && (!busy || !busy[n])) {
			*out = n;
			return 0;
		}
		if (!busy)
			break;
	}
	return -1;
}

int ps_lease_occupancy(struct ps_lease *l, unsigned int pool, uint8_t *busy, struct ps_error *error)
{
	const struct ps_lease_pool_cfg *p = &l->cfg.pools[pool];
	uint32_t nb = ps_lease_pool_n_blocks(p);
	uint8_t *kinds = calloc(nb, 1);
	char pfx[PS_LEASE_KEY_LEN], kind[16];
	struct ps_etcd_kvs r;
	int err;

	if (!kinds)
		return ps_fail(error, ENOMEM, "leases: out of memory");
	snprintf(pfx, sizeof(pfx), "%s/pools/%s/", l->prefix, p->name);
	l->stats.etcd_ops++;
	err = ps_etcd_range(l->etcd, pfx, PS_ETCD_PREFIX | PS_ETCD_KEYS_ONLY, &r, error);
	if (err) {
		free(kinds);
		return err;
	}
	for (size_t i = 0; i < r.n; i++) {
		uint32_t n;

		if (!ps_lease_parse_key(r.kv[i].key, strlen(pfx), kind, sizeof(kind), &n) || n >= nb)
			continue;
		kinds[n] |= !strcmp(kind, "blocks") ? 1 : !strcmp(kind, "claims") ? 2 : !strcmp(kind, "quarantine") ? 4 : 0;
	}
	ps_etcd_kvs_free(&r);
	for (uint32_t n = 0; n < nb; n++)
		busy[n] = kinds[n] == 2 ? 2 : !!kinds[n];
	free(kinds);
	return 0;
}

/*
 * One more block for @pool. With no recent occupancy: a few random blocks
 * first (one txn each: cheap while the pool is mostly free), then the
 * occupancy is read (keys only, O(blocks)) and kept OCCUPANCY_MS; takes
 * pick from it, and a take lost marks its block busy in it.
 */
static int grow(struct ps_lease *l, unsigned int pool, uint64_t now, struct ps_error *error)
{
	uint32_t nb = ps_lease_pool_n_blocks(&l->cfg.pools[pool]), n;
	bool fresh = l->busy_at[pool] && now - l->busy_at[pool] < OCCUPANCY_MS;
	uint8_t *busy = l->busy[pool];
	int got, err;

	if (!busy) {
		busy = l->busy[pool] = calloc(nb, 1);
		if (!busy)
			return ps_fail(error, ENOMEM, "leases: out of memory");
	}
	if (!fresh) {
		for (int i = 0; i < RANDOM_PROBES && !pick(l, pool, NULL, &n); i++) {
			got = take(l, pool, n, now, error);
			if (got)
				return got < 0 ? got : 0;
		}
		err = ps_lease_occupancy(l, pool, busy, error);
		if (err)
			return err;
		l->busy_at[pool] = now;
	}
	for (int i = 0; i < RANDOM_PROBES && !pick(l, pool, busy, &n); i++) {
		got = take(l, pool, n, now, error);
		busy[n] = 1;
		if (got)
			return got < 0 ? got : 0;
	}
	/* Nothing free as far as we know: read it again, but not before GROW_BACKOFF_MS. */
	l->busy_at[pool] = 0;
	l->grow_after[pool] = now + GROW_BACKOFF_MS;
	pr_debug("leases: pool %s has no free block for host %s", l->cfg.pools[pool].name, l->host);
	return 0;
}

/* Rewrites blocks/<n> as @state, if it is still ours as we last wrote it. */
static int set_state(struct ps_lease *l, struct ps_lease_block *b, enum ps_block_state state, uint64_t now,
		     struct ps_error *error)
{
	char kb[PS_LEASE_KEY_LEN], vb[256];
	struct ps_etcd_cmp cmp[] = {
		{ .key = kb, .target = PS_ETCD_MOD, .result = PS_ETCD_EQUAL, .number = b->mod_revision },
	};
	struct ps_etcd_op ok[] = { { .type = PS_ETCD_OP_PUT, .key = kb, .value = vb, .lease = l->lease } };
	struct ps_etcd_txn t = { cmp, 1, ok, 1, NULL, 0 };
	struct ps_etcd_txn_result res;
	int err;

	ps_lease_key(kb, l, b->pool, "blocks", b->index);
	ps_lease_block_value(vb, sizeof(vb), l, state);
	err = ps_lease_change(l, &t, &res, error);
	if (err)
		return err;
	if (!res.succeeded) {
		/*
		 * Not as we last wrote it: a retry of this very change after a
		 * timeout (applied the first time), or the lease went with the
		 * block. Read our blocks back before anything else.
		 */
		l->reconcile = true;
		return 0;
	}
	b->state = state;
	b->mod_revision = res.revision;
	b->since_ms = now;
	l->generation++;
	return 0;
}

/* Deletes blocks/<n> and claims/<n> of a drained block: it is free at once. */
static int release(struct ps_lease *l, struct ps_lease_block *b, struct ps_error *error)
{
	char kb[PS_LEASE_KEY_LEN], kc[PS_LEASE_KEY_LEN];
	struct ps_etcd_cmp cmp[] = {
		{ .key = kb, .target = PS_ETCD_MOD, .result = PS_ETCD_EQUAL, .number = b->mod_revision },
	};
	struct ps_etcd_op ok[] = {
		{ .type = PS_ETCD_OP_DELETE, .key = kb },
		{ .type = PS_ETCD_OP_DELETE, .key = kc },
	};
	struct ps_etcd_txn t = { cmp, 1, ok, 2, NULL, 0 };
	struct ps_etcd_txn_result res;
	int err;

	ps_lease_key(kb, l, b->pool, "blocks", b->index);
	ps_lease_key(kc, l, b->pool, "claims", b->index);
	err = ps_lease_change(l, &t, &res, error);
	if (err)
		return err;
	if (res.succeeded) {
		l->stats.releases++;
		pr_info("leases: host %s released pool %s block %u", l->host, l->cfg.pools[b->pool].name, b->index);
	}
	if (res.succeeded)
		ps_lease_drop_block(l, b);
	else
		l->reconcile = true;    /* released already (a retried txn), or gone with the lease */
	return 0;
}

int ps_lease_reconcile(struct ps_lease *l, uint64_t now, struct ps_error *error)
{
	l->reconciles++;
	for (unsigned int p = 0; p < l->cfg.n_pools; p++) {
		char pfx[PS_LEASE_KEY_LEN], kind[16];
		struct ps_etcd_kvs r;
		int err;

		snprintf(pfx, sizeof(pfx), "%s/pools/%s/", l->prefix, l->cfg.pools[p].name);
		l->stats.etcd_ops++;
		err = ps_etcd_range(l->etcd, pfx, PS_ETCD_PREFIX, &r, error);
		if (err)
			return err;
		for (size_t i = 0; i < r.n; i++) {
			struct ps_lease_block *b;
			uint32_t n;
			bool draining;

			if (r.kv[i].lease != l->lease || !ps_lease_parse_key(r.kv[i].key, strlen(pfx), kind, sizeof(kind), &n) ||
			    strcmp(kind, "blocks") || n >= ps_lease_pool_n_blocks(&l->cfg.pools[p]))
				continue;
			draining = strstr(r.kv[i].value, "\"draining\"") != NULL;
			b = ps_lease_find_block(l, p, n);
			if (b)
				b->seen = l->reconciles;
			if (!b) {
				b = ps_lease_add_block(l, p, n, draining ? PS_BLOCK_DRAINING : PS_BLOCK_HELD, r.kv[i].mod_revision, now);
				if (b)
					b->seen = l->reconciles;
				if (b && !draining && !l->adopting)
					l->stats.grows++;
			} else if (b->mod_revision != r.kv[i].mod_revision) {
				b->mod_revision = r.kv[i].mod_revision;
				b->state = draining ? PS_BLOCK_DRAINING : PS_BLOCK_HELD;
				l->generation++;
			}
		}
		ps_etcd_kvs_free(&r);
		/* Ours here, not in etcd under our lease: released already, or gone with a lease. */
		for (size_t i = 0; i < l->n; i++) {
			struct ps_lease_block *b = &l->blocks[i];

			if (b->pool == p && b->state != PS_BLOCK_LOST && b->seen != l->reconciles) {
				b->state = PS_BLOCK_LOST;
				b->since_ms = now;
				l->generation++;
			}
		}
	}
	l->reconcile = false;
	l->adopting = false;
	return 0;
}

/* ---- the pool's step ----------------------------------------------------- */

int ps_lease_tick_pool(struct ps_lease *l, unsigned int pool, uint64_t now, const struct ps_lease_load *load,
		       struct ps_error *error)
{
	const struct ps_lease_pool_cfg *p = &l->cfg.pools[pool];
	uint32_t busiest = load ? load->busiest : 0;
	unsigned int held = ps_lease_count_blocks(l, pool, PS_BLOCK_HELD),
		     draining = ps_lease_count_blocks(l, pool, PS_BLOCK_DRAINING);
	int err = 0;

	/* Drained blocks without claims go back to the pool. */
	for (size_t i = 0; i < l->n && !err; i++) {
		struct ps_lease_block *b = &l->blocks[i];

		if (b->pool == pool && b->state == PS_BLOCK_DRAINING &&
		    (!l->claims || !l->claims(l->claims_ctx, pool, b->index))) {
			err = release(l, b, error);
			i--;
		}
	}
	if (err)
		return err;
	draining = ps_lease_count_blocks(l, pool, PS_BLOCK_DRAINING);
	if (held < p->min_blocks ||
	    (held < p->max_blocks && busiest > p->grow_at * held * p->block_size)) {
		l->quiet_since[pool] = 0;
		/* A draining block comes back first: it costs no new block. */
		for (size_t i = 0; i < l->n; i++) {
			if (l->blocks[i].pool == pool && l->blocks[i].state == PS_BLOCK_DRAINING)
				return set_state(l, &l->blocks[i], PS_BLOCK_HELD, now, error);
		}
		if (held + draining < p->max_blocks && now >= l->grow_after[pool]) {
			err = grow(l, pool, now, error);
			/* Below the minimum: up to it in one tick. */
			while (!err && ps_lease_count_blocks(l, pool, PS_BLOCK_HELD) > held &&
			       ps_lease_count_blocks(l, pool, PS_BLOCK_HELD) < p->min_blocks) {
				held = ps_lease_count_blocks(l, pool, PS_BLOCK_HELD);
				err = grow(l, pool, now, error);
			}
		}
		return err;
	}
	if (held > p->min_blocks && busiest < p->shrink_at * (held - 1) * p->block_size) {
		struct ps_lease_block *last = NULL;

		if (!l->quiet_since[pool]) {
			l->quiet_since[pool] = now;
			return 0;
		}
		if (now - l->quiet_since[pool] < p->quiet_ms)
			return 0;
		for (size_t i = 0; i < l->n; i++)
			if (l->blocks[i].pool == pool && l->blocks[i].state == PS_BLOCK_HELD)
				last = &l->blocks[i];
		l->quiet_since[pool] = now;
		err = set_state(l, last, PS_BLOCK_DRAINING, now, error);
		if (!err && last->state == PS_BLOCK_DRAINING) {
			l->stats.shrinks++;
			pr_info("leases: host %s drains pool %s block %u", l->host, p->name, last->index);
		}
		return err;
	}
	l->quiet_since[pool] = 0;
	return 0;
}
