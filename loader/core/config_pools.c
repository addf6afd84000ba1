// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The config's pools: section (config_pools.h): each pool's name, shared
 * address, destinations, slices (host: port range, or dynamic: then the keys
 * of config_etcd.c), p2p and reuse_delay, and the checks across pools
 * (unique names and addresses, destination totals).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config_etcd.h"
#include "core/config_pools.h"
#include "core/config_yaml.h"

/* ---- pool keys ------------------------------------------------------- */

static size_t ps_pool_index(struct ps_ctx *ctx, const struct ps_pool_cfg *pool)
{
	return (size_t)(pool - ctx->cfg->pools);
}

static int ps_parse_pool_name(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	struct ps_pool_cfg *pool = obj;
	size_t i, idx = ps_pool_index(ctx, pool);
	const char *s;
	int ret;

	ret = ps_scalar(ctx, val, path, "a pool name", &s);
	if (ret)
		return ret;
	ret = ps_check_name(ctx, ps_line(val), path, "pool", s, !*s, PS_POOL_NAME_LEN - 1,
			    ps_valid_pool_name);
	if (ret)
		return ret;
	for (i = 0; i < idx; i++) {
		if (!strcmp(ctx->cfg->pools[i].name, s))
			return ps_invalid(ctx, ps_line(val), path,
				       "pool name \"%s\" is already used by pools[%zu] (line %d); pool names must be unique",
				       s, i, ctx->cfg->pools[i].line);
	}
	strcpy(pool->name, s);
	return 0;
}

static int ps_pool_addr_taken(struct ps_ctx *ctx, int line, const char *path, const char *str, size_t i)
{
	return ps_invalid(ctx, line, path,
		       "%s is already the address of pool \"%s\" (pools[%zu], line %d); each pool needs its own address",
		       str, ctx->cfg->pools[i].name, i, ctx->cfg->pools[i].line);
}

static const struct ps_own_addr ps_pool_addr = {
	"pool's shared", "a pool address", sizeof(struct ps_pool_cfg),
	offsetof(struct ps_pool_cfg, family), offsetof(struct ps_pool_cfg, addr), ps_pool_addr_taken,
};

static int ps_parse_pool_address(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	return ps_parse_own_addr(ctx, val, path, &ps_pool_addr, ctx->cfg->pools, obj);
}

/* The refusals of a prefix that quote it alone: one message per reason, not one branch each. */
static const char *const ps_prefix_errs[] = {
	[PS_PREFIX_BAD_ADDR] = "\"%.64s\" is not an address prefix; write ADDR/LEN such as 10.0.0.0/8 or 2001:db8::/32",
	[PS_PREFIX_BAD_LEN]  = "\"%.64s\": the prefix length must be a decimal number without leading zeros",
};

static int ps_parse_pool_dsts(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	const char *fam_name, *other_name;
	struct ps_pool_cfg *pool = obj;
	char sub[PS_PATH_LEN], if_empty[80];
	size_t i, j, n;
	int ret;

	fam_name = pool->family == AF_INET ? "IPv4" : "IPv6";
	other_name = pool->family == AF_INET ? "IPv6" : "IPv4";

	snprintf(if_empty, sizeof(if_empty),
		 "list destination prefixes, or drop the key to reach all %s destinations", fam_name);
	ret = ps_collection(ctx, val, path, YAML_SEQUENCE_NODE, if_empty,
			    "a list of prefixes such as [10.0.0.0/8]", PS_MAX_POOL_DSTS,
			    "destinations", " per pool", &n);
	if (ret)
		return ret;
	ctx->dsts_line = ps_line(val);

	pool->dsts = calloc(n, sizeof(*pool->dsts));
	if (!pool->dsts)
		return ps_oom(ctx);

	for (i = 0; i < n; i++) {
		yaml_node_t *item = ps_node(ctx, val->data.sequence.items.start[i]);
		struct ps_prefix *p = &pool->dsts[i], masked;
		enum ps_prefix_err err;
		char str[PS_PREFIX_STR_LEN];
		const char *s;

		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		ret = ps_scalar(ctx, item, sub, "a destination prefix such as 10.0.0.0/8", &s);
		if (ret)
			return ret;
		err = ps_prefix_parse(s, p);
		if (err == PS_PREFIX_LEN_RANGE)
			return ps_invalid(ctx, ps_line(item), sub,
				       "\"%.64s\": prefix length out of range; %s prefixes are /0 to /%d",
				       s, p->family == AF_INET ? "IPv4" : "IPv6",
				       ps_max_prefix_len(p->family));
		if (err != PS_PREFIX_OK)
			return ps_invalid(ctx, ps_line(item), sub, ps_prefix_errs[err], s);
		/* family 0: the address had an error of its own, reported already. */
		if (pool->family && p->family != pool->family)
			return ps_invalid(ctx, ps_line(item), sub,
				       "\"%s\" is an %s prefix but the pool address is %s (wrong family); list %s destinations in an %s pool",
				       s, other_name, fam_name, other_name, other_name);
		if (p->family == AF_INET6 && p->len >= 96 && ps_is_v4_mapped(p->addr))
			return ps_invalid(ctx, ps_line(item), sub,
				       "\"%s\" is an IPv4-mapped prefix; list IPv4 destinations in an IPv4 pool",
				       s);
		if (ps_prefix_host_bits(p, &masked)) {
			ps_format_prefix(&masked, str, sizeof(str));
			return ps_invalid(ctx, ps_line(item), sub,
				       "\"%s\" has host bits set beyond /%u; did you mean %s?",
				       s, p->len, str);
		}
		for (j = 0; j < i; j++) {
			if (pool->dsts[j].len == p->len && !memcmp(pool->dsts[j].addr, p->addr, 16))
				return ps_invalid(ctx, ps_line(item), sub,
					       "\"%s\" is listed twice (first at line %d); keep one",
					       s, ps_item_line(ctx, val, j));
		}
		pool->n_dsts = i + 1;
	}
	return 0;
}

/* Likewise for a port range. */
static const char *const ps_range_errs[] = {
	[PS_RANGE_SYNTAX]       = "\"%.40s\" is not a port range; write LO-HI (e.g. 20000-20999) or a single port, decimal, without blanks or signs",
	[PS_RANGE_LEADING_ZERO] = "\"%s\": write ports without leading zeros",
	[PS_RANGE_ZERO]         = "\"%s\": port 0 is not a usable port; ports are 1-65535",
	[PS_RANGE_TOO_BIG]      = "\"%.40s\": port out of range; ports are 1-65535",
};

/* "20000-20999", or "20500" for a single port, as it is written. */
static const char *ps_range_str(struct ps_port_range r, char buf[12])
{
	if (r.lo == r.hi)
		snprintf(buf, 12, "%u", r.lo);
	else
		snprintf(buf, 12, "%u-%u", r.lo, r.hi);
	return buf;
}

static int ps_cmp_slice_host(const void *a, const void *b)
{
	const struct ps_slice_cfg *x = *(const struct ps_slice_cfg * const *)a;
	const struct ps_slice_cfg *y = *(const struct ps_slice_cfg * const *)b;
	int c = strcmp(x->host, y->host);

	if (c)
		return c;
	return x < y ? -1 : x > y;
}

/* One block of a slice, for the overlap check across every host's blocks. */
struct ps_block_ref {
	const struct ps_slice_cfg *slice;
	size_t i;                          /* its index in slice->blocks */
	struct ps_port_range r;
};

static int ps_cmp_block_lo(const void *a, const void *b)
{
	const struct ps_block_ref *x = a, *y = b;

	if (x->r.lo != y->r.lo)
		return x->r.lo < y->r.lo ? -1 : 1;
	if (x->slice != y->slice)
		return x->slice < y->slice ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* File order of two blocks: by slice, then by position in the slice's list. */
static bool ps_block_before(const struct ps_block_ref *x, const struct ps_block_ref *y)
{
	return x->slice != y->slice ? x->slice < y->slice : x->i < y->i;
}

/* The pair of overlapping blocks whose later block comes first in the file; 0 if none. */
static int ps_check_block_overlap(struct ps_ctx *ctx, struct ps_pool_cfg *pool, const char *path)
{
	const struct ps_block_ref *first = NULL, *second = NULL, *max;
	struct ps_block_ref *v;
	size_t i, j, n = 0;
	char sub[PS_PATH_LEN], r1[12], r2[12];
	int ret = 0;

	for (i = 0; i < pool->n_slices; i++)
		n += pool->slices[i].n_blocks;
	v = malloc((n ?: 1) * sizeof(*v));
	if (!v)
		return ps_oom(ctx);
	n = 0;
	for (i = 0; i < pool->n_slices; i++)
		for (j = 0; j < pool->slices[i].n_blocks; j++)
			v[n++] = (struct ps_block_ref){ &pool->slices[i], j, pool->slices[i].blocks[j] };
	qsort(v, n, sizeof(*v), ps_cmp_block_lo);
	max = v;
	for (i = 1; i < n; i++) {
		const struct ps_block_ref *a = max, *b = &v[i];

		if (ps_ranges_overlap(a->r, b->r)) {
			if (ps_block_before(b, a)) {
				a = &v[i];
				b = max;
			}
			if (!second || ps_block_before(b, second) || (b == second && ps_block_before(a, first))) {
				first = a;
				second = b;
			}
		}
		if (v[i].r.hi > max->r.hi)
			max = &v[i];
	}
	if (second) {
		ps_join(sub, path, second->slice->host);
		if (first->slice == second->slice)
			ret = ps_invalid(ctx, second->slice->line, sub,
				      "%s overlaps %s, another block of the same slice; the blocks of a slice must not overlap",
				      ps_range_str(second->r, r1), ps_range_str(first->r, r2));
		else
			ret = ps_invalid(ctx, second->slice->line, sub,
				      "%s overlaps %s of host \"%s\" (line %d); slices of one pool must not overlap",
				      ps_range_str(second->r, r1), ps_range_str(first->r, r2),
				      first->slice->host, first->slice->line);
	}
	free(v);
	return ret;
}

/*
 * Duplicate hosts and overlapping ranges are found by sorting, since a
 * pool may hold one slice per host of a large fleet. Of all offending
 * pairs, the one whose later slice comes first in the file is reported, so
 * the message does not depend on the sort.
 */
static int ps_check_slices(struct ps_ctx *ctx, struct ps_pool_cfg *pool, const char *path)
{
	const struct ps_slice_cfg *first = NULL, *second = NULL;
	struct ps_slice_cfg **v;
	size_t i, n = pool->n_slices;
	char sub[PS_PATH_LEN];

	v = malloc(n * sizeof(*v));
	if (!v)
		return ps_oom(ctx);
	for (i = 0; i < n; i++)
		v[i] = &pool->slices[i];

	qsort(v, n, sizeof(*v), ps_cmp_slice_host);
	for (i = 1; i < n; i++) {
		if (strcmp(v[i - 1]->host, v[i]->host))
			continue;
		if (!second || v[i] < second) {
			first = v[i - 1];
			second = v[i];
		}
	}
	free(v);
	if (second) {
		ps_join(sub, path, second->host);
		return ps_invalid(ctx, second->line, sub,
			       "host \"%s\" is listed twice in this pool (first at line %d); give each host one slice per pool",
			       second->host, first->line);
	}
	return ps_check_block_overlap(ctx, pool, path);
}

int ps_parse_range_node(struct ps_ctx *ctx, yaml_node_t *rv, const char *sub, struct ps_port_range *r)
{
	enum ps_range_err err;
	const char *s;
	int ret;

	ret = ps_scalar(ctx, rv, sub, "a port range such as 20000-20999", &s);
	if (ret)
		return ret;
	err = ps_range_parse(s, r);
	if (err == PS_RANGE_REVERSED) {
		const char *dash = strchr(s, '-');

		return ps_invalid(ctx, ps_line(rv), sub,
			       "\"%s\" is reversed (LO > HI); write %s-%.*s",
			       s, dash + 1, (int)(dash - s), s);
	}
	if (err != PS_RANGE_OK)
		return ps_invalid(ctx, ps_line(rv), sub, ps_range_errs[err], s);
	return 0;
}

/*
 * A slice: one range (one block), or a list of ranges of one size (blocks;
 * the BPF search maps its index to a port by block size, README "Blocks").
 */
static int ps_parse_slice_blocks(struct ps_ctx *ctx, yaml_node_t *rv, const char *path,
				 struct ps_slice_cfg *slice)
{
	char sub[PS_PATH_LEN], r1[12], r2[12];
	size_t i, n;
	int ret;

	if (rv->type == YAML_SCALAR_NODE && !strcmp((const char *)rv->data.scalar.value, "dynamic"))
		return ps_invalid(ctx, ps_line(rv), path,
			       "a pool is dynamic as a whole, with no per-host slices: write \"slices: dynamic\" with the pool's ports, block_size, min_blocks and max_blocks");
	if (rv->type != YAML_SEQUENCE_NODE) {
		slice->n_blocks = 1;
		ret = ps_parse_range_node(ctx, rv, path, &slice->blocks[0]);
		slice->range = slice->blocks[0];
		return ret;
	}
	ret = ps_collection(ctx, rv, path, YAML_SEQUENCE_NODE,
			    "list port ranges such as [20000-20255, 21024-21279], or write one range",
			    "a list of port ranges", PS_MAX_BLOCKS, "blocks", " per slice", &n);
	if (ret)
		return ret;
	for (i = 0; i < n; i++) {
		yaml_node_t *item = ps_node(ctx, rv->data.sequence.items.start[i]);
		struct ps_port_range *r = &slice->blocks[i];

		/* The return value is read so that gcc takes the truncation as meant (as ps_join's). */
		if (snprintf(sub, sizeof(sub), "%s[%zu]", path, i) >= (int)sizeof(sub))
			sub[sizeof(sub) - 1] = '\0';
		ret = ps_parse_range_node(ctx, item, sub, r);
		if (ret)
			return ret;
		if (i && r->hi - r->lo != slice->blocks[0].hi - slice->blocks[0].lo)
			return ps_invalid(ctx, ps_line(item), sub,
				       "%s has %u ports but %s has %u; the blocks of a slice must all have the same size",
				       ps_range_str(*r, r1), r->hi - r->lo + 1U,
				       ps_range_str(slice->blocks[0], r2), slice->blocks[0].hi - slice->blocks[0].lo + 1U);
		if (!i || r->lo < slice->range.lo)
			slice->range.lo = r->lo;
		if (!i || r->hi > slice->range.hi)
			slice->range.hi = r->hi;
		slice->n_blocks = i + 1;
	}
	return 0;
}

static const struct ps_collection ps_slice_list = {
	YAML_MAPPING_NODE, "give at least one host a port range, e.g. \"host-a: 20000-20999\"",
	"a mapping of host names to port ranges (host-a: 20000-20999)", 0, NULL, NULL,
	sizeof(struct ps_slice_cfg),
};

static int ps_parse_pool_slices(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	struct ps_pool_cfg *pool = obj;
	yaml_node_pair_t *pair;
	char sub[PS_PATH_LEN];
	int ret;

	/* slices: dynamic: the hosts lease blocks from etcd (config_etcd.c). */
	if (val->type == YAML_SCALAR_NODE && !ps_is_null(val)) {
		ret = ps_parse_slices_dynamic(ctx, val, path, pool);
		if (!ret)
			ctx->slices_ok = pool;
		return ret;
	}
	pool->slices = ps_collection_alloc(ctx, val, path, &ps_slice_list, &ret);
	if (!pool->slices)
		return ret;

	for (pair = val->data.mapping.pairs.start; pair < val->data.mapping.pairs.top; pair++) {
		struct ps_slice_cfg *slice = &pool->slices[pool->n_slices];
		yaml_node_t *key = ps_node(ctx, pair->key);
		yaml_node_t *rv = ps_node(ctx, pair->value);
		const char *host;

		ret = ps_host_key(ctx, key, path, &host);
		if (ret)
			return ret;
		ps_join(sub, path, host);

		ret = ps_parse_slice_blocks(ctx, rv, sub, slice);
		if (ret)
			return ret;
		slice->host = strdup(host);
		if (!slice->host)
			return ps_oom(ctx);
		slice->line = ps_line(key);
		pool->n_slices++;
	}
	ret = ps_check_slices(ctx, pool, path);
	if (!ret)
		ctx->slices_ok = pool;
	return ret;
}

/* reuse_delay: a duration (milliseconds, N or Nms, or seconds, Ns). */
static int ps_parse_pool_reuse_delay(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	struct ps_pool_cfg *pool = obj;

	return ps_parse_duration(ctx, val, path, PS_MAX_REUSE_DELAY_MS, "a longer quarantine only keeps ports idle",
				 &pool->reuse_delay_ms);
}

/* p2p: true or false; a P2P pool's reuse_delay defaults to PS_P2P_REUSE_DELAY_MS. */
static int ps_parse_pool_p2p(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	struct ps_pool_cfg *pool = obj;
	const char *s;
	int ret = ps_scalar(ctx, val, path, "true or false", &s);

	if (ret)
		return ret;
	pool->p2p = !strcmp(s, "true");
	if (!pool->p2p && strcmp(s, "false"))
		return ps_invalid(ctx, ps_line(val), path, "\"%.40s\": write true or false", s);
	/* reuse_delay, read next, may say otherwise. */
	pool->reuse_delay_ms = pool->p2p ? PS_P2P_REUSE_DELAY_MS : 0;
	return 0;
}

/*
 * Rows run in this order: destinations needs the address's family; p2p sets
 * reuse_delay's default; slices says whether the pool is dynamic, which the
 * keys after it (a dynamic pool's, config_etcd.c) read, in this order.
 */
static const struct ps_key ps_pool_keys[] = {
	{ "name",         true,  ps_parse_pool_name },
	{ "address",      true,  ps_parse_pool_address },
	{ "destinations", false, ps_parse_pool_dsts },
	{ "slices",       true,  ps_parse_pool_slices },
	{ "p2p",          false, ps_parse_pool_p2p },
	{ "reuse_delay",  false, ps_parse_pool_reuse_delay },
	{ "ports",        false, ps_parse_pool_ports },
	{ "block_size",   false, ps_parse_pool_block_size },
	{ "min_blocks",   false, ps_parse_pool_min_blocks },
	{ "max_blocks",   false, ps_parse_pool_max_blocks },
	{ "grow_at",      false, ps_parse_pool_grow_at },
	{ "shrink_after", false, ps_parse_pool_shrink_after },
};

/* ---- pools: ---------------------------------------------------------- */

/*
 * The destination maps are sized for PS_MAX_DST_PREFIXES (pool, prefix)
 * entries per family. A host may be in every pool, so the whole file must
 * fit, not only one host's share of it.
 */
static int ps_check_dst_total(struct ps_ctx *ctx, const struct ps_pool_cfg *pool, const char *path,
			      int line)
{
	size_t *total = pool->family == AF_INET ? &ctx->n_dsts4 : &ctx->n_dsts6;
	char sub[PS_PATH_LEN];

	*total += pool->n_dsts;
	if (*total <= PS_MAX_DST_PREFIXES)
		return 0;
	ps_join(sub, path, "destinations");
	return ps_invalid(ctx, line, sub,
		       "brings the %s destinations of all pools to %zu; at most %d fit, counting each pool's prefixes separately (a pool without destinations counts 1)",
		       pool->family == AF_INET ? "IPv4" : "IPv6", *total, PS_MAX_DST_PREFIXES);
}

/* A pool without errors of its own: its default destinations, then the totals of all pools. */
static int ps_pool_done(struct ps_ctx *ctx, void *entry, const char *path)
{
	struct ps_pool_cfg *pool = entry;
	/* A pool that parsed with destinations had its destinations key parsed last. */
	int line = pool->dsts ? ctx->dsts_line : pool->line;

	if (pool->dynamic && ps_dynamic_pool_done(ctx, pool, path))
		return -EINVAL;
	if (!pool->dsts) {
		pool->dsts = calloc(1, sizeof(*pool->dsts));
		if (!pool->dsts)
			return ps_oom(ctx);
		pool->dsts[0].family = pool->family;
		pool->n_dsts = 1;
	}
	return ps_check_dst_total(ctx, pool, path, line);
}

static const struct ps_entries ps_pool_list = {
	.list = {
		YAML_SEQUENCE_NODE, "define at least one pool", "a list of pools (\"- name: ...\" entries)",
		PS_MAX_POOLS, "pools", "", sizeof(struct ps_pool_cfg),
	},
	.what = "a pool (a mapping with name, address and slices)",
	.line = offsetof(struct ps_pool_cfg, line),
	.done = ps_pool_done,
};

int ps_parse_pools(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	struct ps_config *cfg = obj;
	int ret;

	ctx->pools_failed = true; /* until every pool passed */
	cfg->pools = ps_collection_alloc(ctx, val, path, &ps_pool_list.list, &ret);
	if (!cfg->pools)
		return ret;
	ret = ps_parse_entries(ctx, val, path, &ps_pool_list, PS_KEYS(ps_pool_keys), cfg->pools,
			       &cfg->n_pools);
	ctx->pools_failed = ret != 0;
	return ret;
}
