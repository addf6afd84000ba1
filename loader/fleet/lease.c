// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The leasing engine of dynamic slices (loader/fleet/lease.h, docs/fleet.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "fleet/lease.h"

#define KEY_LEN 384
/* Random blocks tried before reading the pool's occupancy. */
#define RANDOM_PROBES 3
/* How long a pool's occupancy, as read, serves for picking blocks. */
#define OCCUPANCY_MS 30000
/* A pool where no block was free is tried again after this long. */
#define GROW_BACKOFF_MS 2000

struct ps_lease {
	struct ps_lease_cfg cfg;
	char prefix[128];
	char host[128];
	struct ps_etcd *etcd;
	ps_lease_claims_fn claims;
	void *claims_ctx;

	int64_t lease;              /* 0: none */
	uint64_t ka_ok_sent_ms;     /* when the last keepalive (or the grant) that got an answer was sent */
	uint64_t next_ka_ms;
	bool etcd_ok;
	bool reconcile;             /* a change timed out: its outcome is unknown, read our blocks back */
	uint64_t reconciles;        /* reconciles begun (ps_lease_block.seen) */

	struct ps_lease_block *blocks;
	size_t n, cap;
	uint64_t quiet_since[PS_LEASE_MAX_POOLS];
	uint8_t *busy[PS_LEASE_MAX_POOLS]; /* a pool's occupancy as last read (occupancy()) */
	uint64_t busy_at[PS_LEASE_MAX_POOLS]; /* ... when (0: not read, or used up) */
	uint64_t grow_after[PS_LEASE_MAX_POOLS]; /* no block was free: no take before this */
	uint64_t next_sweep_ms;
	uint64_t generation;
	bool fenced;                /* as of the last tick */
	uint64_t fenced_at;
	uint32_t rng;
	struct ps_lease_stats stats;
};

static uint32_t rnd(struct ps_lease *l)
{
	uint32_t x = l->rng;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return l->rng = x;
}

static uint32_t n_blocks(const struct ps_lease_pool_cfg *p)
{
	return (p->port_hi - p->port_lo + 1) / p->block_size;
}

static void key(char *buf, const struct ps_lease *l, unsigned int pool, const char *kind, uint32_t n)
{
	snprintf(buf, KEY_LEN, "%s/pools/%s/%s/%u", l->prefix, l->cfg.pools[pool].name, kind, n);
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
		if (!p->block_size || p->port_lo > p->port_hi || p->port_hi > 65535 || !n_blocks(p) ||
		    !p->min_blocks || p->min_blocks > p->max_blocks || p->max_blocks > n_blocks(p))
			return ps_fail(error, EINVAL,
				       "leases: pool %s: ports %u-%u in blocks of %u hold %u blocks, which min_blocks %u "
				       "and max_blocks %u must fit (1 <= min <= max <= blocks)",
				       p->name, p->port_lo, p->port_hi, p->block_size,
				       p->block_size && p->port_lo <= p->port_hi ? n_blocks(p) : 0, p->min_blocks,
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

/* ---- the block set ------------------------------------------------------ */

static struct ps_lease_block *find(struct ps_lease *l, unsigned int pool, uint32_t index)
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

static struct ps_lease_block *add(struct ps_lease *l, unsigned int pool, uint32_t index, enum ps_block_state state,
				  int64_t rev, uint64_t now)
{
	const struct ps_lease_pool_cfg *p = &l->cfg.pools[pool];
	struct ps_lease_block *b = find(l, pool, index);

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
	return find(l, pool, index);
}

static void drop(struct ps_lease *l, struct ps_lease_block *b)
{
	size_t i = b - l->blocks;

	memmove(&l->blocks[i], &l->blocks[i + 1], (l->n - i - 1) * sizeof(*b));
	l->n--;
	l->generation++;
}

static unsigned int count(const struct ps_lease *l, unsigned int pool, enum ps_block_state state)
{
	unsigned int c = 0;

	for (size_t i = 0; i < l->n; i++)
		c += l->blocks[i].pool == pool && l->blocks[i].state == state;
	return c;
}

unsigned int ps_lease_held(const struct ps_lease *l, unsigned int pool)
{
	return count(l, pool, PS_BLOCK_HELD) + count(l, pool, PS_BLOCK_DRAINING);
}

/* ---- values ------------------------------------------------------------- */

static const char *const state_names[] = {
	[PS_BLOCK_HELD] = "held", [PS_BLOCK_DRAINING] = "draining", [PS_BLOCK_LOST] = "lost",
};

/* Wall clock, ms: the "since" of values, for people and for measuring how fast watchers see a change. */
static long long wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void block_value(char *buf, size_t len, const struct ps_lease *l, enum ps_block_state state)
{
	snprintf(buf, len, "{\"host\":\"%s\",\"state\":\"%s\",\"since\":%lld,\"lease\":\"%llx\"}", l->host,
		 state_names[state], wall_ms(), (unsigned long long)l->lease);
}

/* The "host" of a JSON value, into @buf ("" when none). */
static void value_host(const char *value, char *buf, size_t len)
{
	json_object *o = json_tokener_parse(value), *h;

	snprintf(buf, len, "%s", o && json_object_object_get_ex(o, "host", &h) ? json_object_get_string(h) : "");
	json_object_put(o);
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

uint64_t ps_lease_ttl_left_ms(const struct ps_lease *l, uint64_t now_ms)
{
	uint64_t end = l->lease ? l->ka_ok_sent_ms + (uint64_t)l->cfg.ttl_s * 1000 : 0;

	return end > now_ms ? end - now_ms : 0;
}

/* ---- taking, draining, releasing ---------------------------------------- */

/*
 * Puts orphan @n (claims/<n> without blocks/<n>) in quarantine: a lease of
 * quarantine_s that etcd expires, and a txn that holds only when the block
 * is still an orphan.
 */
static int quarantine(struct ps_lease *l, unsigned int pool, uint32_t n, struct ps_error *error)
{
	char kb[KEY_LEN], kc[KEY_LEN], kq[KEY_LEN], host[128], val[512];
	struct ps_etcd_kvs claim;
	struct ps_etcd_txn_result res;
	int64_t qlease, rev;
	int err;

	key(kb, l, pool, "blocks", n);
	key(kc, l, pool, "claims", n);
	key(kq, l, pool, "quarantine", n);
	l->stats.etcd_ops++;
	err = ps_etcd_range(l->etcd, kc, 0, &claim, error);
	if (err)
		return err;
	if (!claim.n) {
		ps_etcd_kvs_free(&claim);
		return 0;
	}
	value_host(claim.kv[0].value, host, sizeof(host));
	rev = claim.kv[0].mod_revision;
	ps_etcd_kvs_free(&claim);
	l->stats.etcd_ops++;
	err = ps_etcd_lease_grant(l->etcd, l->cfg.quarantine_s, &qlease, NULL, error);
	if (err)
		return err;
	snprintf(val, sizeof(val), "{\"host\":\"%s\",\"since\":%lld,\"ttl\":%u,\"by\":\"%s\"}", host,
		 wall_ms(), l->cfg.quarantine_s, l->host);
	{
		struct ps_etcd_cmp cmp[] = {
			{ .key = kb, .target = PS_ETCD_CREATE, .result = PS_ETCD_EQUAL, .number = 0 },
			{ .key = kc, .target = PS_ETCD_MOD, .result = PS_ETCD_EQUAL, .number = rev },
		};
		struct ps_etcd_op ok[] = {
			{ .type = PS_ETCD_OP_DELETE, .key = kc },
			{ .type = PS_ETCD_OP_PUT, .key = kq, .value = val, .lease = qlease },
		};
		struct ps_etcd_txn t = { cmp, 2, ok, 2, NULL, 0 };

		l->stats.etcd_ops++;
		err = ps_etcd_txn(l->etcd, &t, &res, error);
	}
	if (err)
		return err;
	if (res.succeeded) {
		l->stats.quarantined++;
		pr_info("leases: pool %s block %u of host %s (lease expired) is in quarantine for %u s",
			l->cfg.pools[pool].name, n, host, l->cfg.quarantine_s);
	}
	ps_etcd_txn_result_free(&res);
	return 0;
}

/* The keys and values of a block this host holds: blocks/<n> (256 bytes) and claims/<n> (256). */
static void held_values(const struct ps_lease *l, unsigned int pool, uint32_t n, char *kb, char *vb, char *kc, char *vc)
{
	key(kb, l, pool, "blocks", n);
	key(kc, l, pool, "claims", n);
	block_value(vb, 256, l, PS_BLOCK_HELD);
	snprintf(vc, 256, "{\"host\":\"%s\",\"lease\":\"%llx\"}", l->host, (unsigned long long)l->lease);
}

/* A txn that changes our blocks; when it fails it may have been applied all the same: read them back. */
static int change(struct ps_lease *l, const struct ps_etcd_txn *t, struct ps_etcd_txn_result *res,
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
	char kb[KEY_LEN], kc[KEY_LEN], kq[KEY_LEN], vb[256], vc[256];
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

	held_values(l, pool, n, kb, vb, kc, vc);
	key(kq, l, pool, "quarantine", n);
	err = change(l, &t, &res, error);
	if (err)
		return err;
	if (res.succeeded) {
		ps_etcd_txn_result_free(&res);
		b = add(l, pool, n, PS_BLOCK_HELD, res.revision, now);
		if (!b)
			return ps_fail(error, ENOMEM, "leases: out of memory");
		b->claim_revision = res.revision;
		l->stats.grows++;
		pr_info("leases: host %s took pool %s block %u", l->host, l->cfg.pools[pool].name, n);
		return 1;
	}
	if (res.n_ranges == 3 && res.ranges[0].n && res.ranges[0].kv[0].lease == l->lease) {
		/* Ours already: a retry, after a timeout, of a take etcd had applied. */
		b = add(l, pool, n, PS_BLOCK_HELD, res.ranges[0].kv[0].mod_revision, now);
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
		quarantine(l, pool, n, NULL);
	return 0;
}

/*
 * After a lease loss, with a new lease: takes back a LOST block whose claim
 * is still the one this host wrote (nobody put it in quarantine yet).
 */
static int readopt(struct ps_lease *l, struct ps_lease_block *b, uint64_t now, struct ps_error *error)
{
	char kb[KEY_LEN], kc[KEY_LEN], vb[256], vc[256];
	struct ps_etcd_cmp cmp[] = {
		{ .key = kb, .target = PS_ETCD_CREATE, .result = PS_ETCD_EQUAL, .number = 0 },
		{ .key = kc, .target = PS_ETCD_MOD, .result = PS_ETCD_EQUAL, .number = b->claim_revision },
	};
	struct ps_etcd_op ok[] = {
		{ .type = PS_ETCD_OP_PUT, .key = kb, .value = vb, .lease = l->lease },
		{ .type = PS_ETCD_OP_PUT, .key = kc, .value = vc },
	};
	struct ps_etcd_txn t = { cmp, 2, ok, 2, NULL, 0 };
	struct ps_etcd_txn_result res;
	int err;

	held_values(l, b->pool, b->index, kb, vb, kc, vc);
	err = change(l, &t, &res, error);
	if (err)
		return err;
	if (res.succeeded) {
		b->state = PS_BLOCK_HELD;
		b->mod_revision = b->claim_revision = res.revision;
		b->since_ms = now;
		l->stats.readopted++;
		l->generation++;
		pr_info("leases: host %s took back pool %s block %u under its new lease", l->host,
			l->cfg.pools[b->pool].name, b->index);
	} else {
		b->claim_revision = 0;  /* quarantined by another host: it waits its quarantine out */
	}
	return 0;
}

/* A random block of @pool this host does not hold, or, with @busy, one that @busy says is free. */
static int pick(struct ps_lease *l, unsigned int pool, const uint8_t *busy, uint32_t *out)
{
	uint32_t nb = n_blocks(&l->cfg.pools[pool]), start = rnd(l) % nb;

	for (uint32_t i = 0; i < nb; i++) {
		uint32_t n = (start + i) % nb;

		if (!find(l, pool, n) && (!busy || !busy[n])) {
			*out = n;
			return 0;
		}
		if (!busy)
			break;
	}
	return -1;
}

/* The suffix of "P/pools/<pool>/<kind>/<n>" after the pool's prefix: kind and n. */
static bool parse_key(const char *k, size_t plen, char *kind, size_t klen, uint32_t *n)
{
	const char *s = k + plen, *slash = strchr(s, '/');

	if (!slash || (size_t)(slash - s) >= klen)
		return false;
	memcpy(kind, s, slash - s);
	kind[slash - s] = '\0';
	*n = strtoul(slash + 1, NULL, 10);
	return true;
}

/*
 * The pool's occupancy, keys only: @busy[n] is set for a block with any
 * key; orphans (a claim without its block, and no quarantine) get 2.
 */
static int occupancy(struct ps_lease *l, unsigned int pool, uint8_t *busy, struct ps_error *error)
{
	const struct ps_lease_pool_cfg *p = &l->cfg.pools[pool];
	uint32_t nb = n_blocks(p);
	uint8_t *kinds = calloc(nb, 1);
	char pfx[KEY_LEN], kind[16];
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

		if (!parse_key(r.kv[i].key, strlen(pfx), kind, sizeof(kind), &n) || n >= nb)
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
	uint32_t nb = n_blocks(&l->cfg.pools[pool]), n;
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
		err = occupancy(l, pool, busy, error);
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
	char kb[KEY_LEN], vb[256];
	struct ps_etcd_cmp cmp[] = {
		{ .key = kb, .target = PS_ETCD_MOD, .result = PS_ETCD_EQUAL, .number = b->mod_revision },
	};
	struct ps_etcd_op ok[] = { { .type = PS_ETCD_OP_PUT, .key = kb, .value = vb, .lease = l->lease } };
	struct ps_etcd_txn t = { cmp, 1, ok, 1, NULL, 0 };
	struct ps_etcd_txn_result res;
	int err;

	key(kb, l, b->pool, "blocks", b->index);
	block_value(vb, sizeof(vb), l, state);
	err = change(l, &t, &res, error);
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
	char kb[KEY_LEN], kc[KEY_LEN];
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

	key(kb, l, b->pool, "blocks", b->index);
	key(kc, l, b->pool, "claims", b->index);
	err = change(l, &t, &res, error);
	if (err)
		return err;
	if (res.succeeded) {
		l->stats.releases++;
		pr_info("leases: host %s released pool %s block %u", l->host, l->cfg.pools[b->pool].name, b->index);
	}
	if (res.succeeded)
		drop(l, b);
	else
		l->reconcile = true;    /* released already (a retried txn), or gone with the lease */
	return 0;
}

/* After a change whose outcome is unknown: our blocks as etcd has them, under our lease. */
static int reconcile(struct ps_lease *l, uint64_t now, struct ps_error *error)
{
	l->reconciles++;
	for (unsigned int p = 0; p < l->cfg.n_pools; p++) {
		char pfx[KEY_LEN], kind[16];
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

			if (r.kv[i].lease != l->lease || !parse_key(r.kv[i].key, strlen(pfx), kind, sizeof(kind), &n) ||
			    strcmp(kind, "blocks") || n >= n_blocks(&l->cfg.pools[p]))
				continue;
			draining = strstr(r.kv[i].value, "\"draining\"") != NULL;
			b = find(l, p, n);
			if (b)
				b->seen = l->reconciles;
			if (!b) {
				b = add(l, p, n, draining ? PS_BLOCK_DRAINING : PS_BLOCK_HELD, r.kv[i].mod_revision, now);
				if (b)
					b->seen = l->reconciles;
				if (b && !draining)
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
	return 0;
}

int ps_lease_sweep(struct ps_lease *l, unsigned int pool, unsigned int *found, struct ps_error *error)
{
	uint32_t nb = n_blocks(&l->cfg.pools[pool]);
	uint8_t *busy = calloc(nb, 1);
	unsigned int q = 0;
	int err;

	if (!busy)
		return ps_fail(error, ENOMEM, "leases: out of memory");
	err = occupancy(l, pool, busy, error);
	for (uint32_t n = 0; !err && n < nb; n++) {
		if (busy[n] != 2)
			continue;
		err = quarantine(l, pool, n, error);
		q += !err;
	}
	free(busy);
	if (found)
		*found = q;
	return err;
}

/* ---- the tick ----------------------------------------------------------- */

static int tick_pool(struct ps_lease *l, unsigned int pool, uint64_t now, const struct ps_lease_load *load,
		     struct ps_error *error)
{
	const struct ps_lease_pool_cfg *p = &l->cfg.pools[pool];
	uint32_t busiest = load ? load->busiest : 0;
	unsigned int held = count(l, pool, PS_BLOCK_HELD), draining = count(l, pool, PS_BLOCK_DRAINING);
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
	draining = count(l, pool, PS_BLOCK_DRAINING);
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
			while (!err && count(l, pool, PS_BLOCK_HELD) > held && count(l, pool, PS_BLOCK_HELD) < p->min_blocks) {
				held = count(l, pool, PS_BLOCK_HELD);
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
			drop(l, &l->blocks[i]);
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
		err = reconcile(l, now, error);
		if (err)
			return err;
	}
	for (size_t i = 0; i < l->n && !err; i++)
		if (l->blocks[i].state == PS_BLOCK_LOST && l->blocks[i].claim_revision)
			err = readopt(l, &l->blocks[i], now, error);
	for (unsigned int p = 0; p < l->cfg.n_pools && !err; p++)
		err = tick_pool(l, p, now, load ? &load[p] : NULL, error);
	if (l->cfg.sweep_ms && !l->next_sweep_ms)
		l->next_sweep_ms = now + rnd(l) % l->cfg.sweep_ms;
	if (!err && l->cfg.sweep_ms && now >= l->next_sweep_ms) {
		l->next_sweep_ms = now + l->cfg.sweep_ms / 2 + rnd(l) % (l->cfg.sweep_ms + 1);
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

/* ---- the fleet's table -------------------------------------------------- */

struct row {
	char pool[PS_LEASE_NAME_LEN];
	uint32_t n;
	json_object *block, *claim, *quar;  /* values, NULL when absent */
	int64_t lease;
};

static int cmp_row(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	int c = strcmp(x->pool, y->pool);

	return c ? c : x->n < y->n ? -1 : x->n > y->n;
}

static const char *str_of(json_object *o, const char *name)
{
	json_object *v;

	return o && json_object_object_get_ex(o, name, &v) ? json_object_get_string(v) : "";
}

int ps_lease_table_json(struct ps_etcd *etcd, const char *prefix, const char *pool, json_object **out,
			struct ps_error *error)
{
	char pfx[KEY_LEN];
	struct ps_etcd_kvs r;
	struct row *rows;
	size_t n_rows = 0;
	json_object *root, *pools;
	int err;

	*out = NULL;
	snprintf(pfx, sizeof(pfx), "%s/pools/%s%s", prefix, pool ?: "", pool ? "/" : "");
	err = ps_etcd_range(etcd, pfx, PS_ETCD_PREFIX, &r, error);
	if (err)
		return err;
	rows = calloc(r.n ?: 1, sizeof(*rows));
	if (!rows) {
		ps_etcd_kvs_free(&r);
		return ps_fail(error, ENOMEM, "leases: out of memory");
	}
	for (size_t i = 0; i < r.n; i++) {
		/* <prefix>/pools/<pool>/<kind>/<n> */
		char name[PS_LEASE_NAME_LEN], kind[16];
		const char *s = r.kv[i].key + strlen(prefix) + strlen("/pools/"), *slash = strchr(s, '/');
		struct row *row = NULL;
		uint32_t n;

		if (strlen(r.kv[i].key) <= strlen(prefix) + 7 || !slash || (size_t)(slash - s) >= sizeof(name))
			continue;
		memcpy(name, s, slash - s);
		name[slash - s] = '\0';
		if (!parse_key(r.kv[i].key, slash + 1 - r.kv[i].key, kind, sizeof(kind), &n))
			continue;
		for (size_t j = 0; j < n_rows && !row; j++)
			if (rows[j].n == n && !strcmp(rows[j].pool, name))
				row = &rows[j];
		if (!row) {
			row = &rows[n_rows++];
			snprintf(row->pool, sizeof(row->pool), "%s", name);
			row->n = n;
		}
		if (!strcmp(kind, "blocks")) {
			row->block = json_tokener_parse(r.kv[i].value);
			row->lease = r.kv[i].lease;
		} else if (!strcmp(kind, "claims")) {
			row->claim = json_tokener_parse(r.kv[i].value);
		} else if (!strcmp(kind, "quarantine")) {
			row->quar = json_tokener_parse(r.kv[i].value);
		}
	}
	qsort(rows, n_rows, sizeof(*rows), cmp_row);
	root = json_object_new_object();
	pools = json_object_new_array();
	json_object_object_add(root, "revision", json_object_new_int64(r.revision));
	for (size_t i = 0, j; i < n_rows; i = j) {
		json_object *po = json_object_new_object(), *blocks = json_object_new_array();

		json_object_object_add(po, "name", json_object_new_string(rows[i].pool));
		for (j = i; j < n_rows && !strcmp(rows[j].pool, rows[i].pool); j++) {
			struct row *row = &rows[j];
			json_object *b = json_object_new_object();
			const char *state = row->block ? str_of(row->block, "state")
					    : row->quar ? "quarantine" : "orphan";
			json_object *src = row->block ?: row->quar ?: row->claim;
			char lease[24];

			json_object_object_add(b, "block", json_object_new_int64(row->n));
			json_object_object_add(b, "host", json_object_new_string(str_of(src, "host")));
			json_object_object_add(b, "state", json_object_new_string(state));
			snprintf(lease, sizeof(lease), "%llx", (unsigned long long)row->lease);
			if (row->lease)
				json_object_object_add(b, "lease", json_object_new_string(lease));
			json_object_array_add(blocks, b);
			json_object_put(row->block);
			json_object_put(row->claim);
			json_object_put(row->quar);
		}
		json_object_object_add(po, "blocks", blocks);
		json_object_array_add(pools, po);
	}
	json_object_object_add(root, "pools", pools);
	free(rows);
	ps_etcd_kvs_free(&r);
	*out = root;
	return 0;
}
