// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Dynamic pools and the etcd: section (config_etcd.h; docs/fleet.md,
 * "Wiring"). Whatever is accepted here, the leasing engine
 * (ps_lease_new(), loader/fleet/lease.c) and the etcd client
 * (ps_etcd_open()) accept too: their invariants are checked here, each
 * error with the file, line and key (tests/unit/test_config.c loads every
 * good input into ps_lease_new()).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config_etcd.h"
#include "core/config_pools.h"
#include "core/config_yaml.h"

/* ---- slices: dynamic and its keys --------------------------------------- */

int ps_parse_slices_dynamic(struct ps_ctx *ctx, yaml_node_t *val, const char *path, struct ps_pool_cfg *pool)
{
	const char *s;
	int ret = ps_scalar(ctx, val, path, "a mapping of host names to port ranges, or dynamic", &s);

	if (ret)
		return ret;
	if (strcmp(s, "dynamic"))
		return ps_invalid(ctx, ps_line(val), path,
			       "expected a mapping of host names to port ranges (host-a: 20000-20999) or \"dynamic\" (the hosts lease blocks of ports from etcd), got \"%.40s\"",
			       s);
	if (ctx->n_dynamic == PS_MAX_DYNAMIC_POOLS)
		return ps_invalid(ctx, ps_line(val), path,
			       "a dynamic pool more than the %d a host's leasing engine keeps; make this pool static (slices: host: FIRST-LAST)",
			       PS_MAX_DYNAMIC_POOLS);
	ctx->n_dynamic++;
	pool->dynamic = true;
	pool->dyn.line = ps_line(val);
	pool->dyn.grow_at = PS_GROW_AT_DEFAULT;
	pool->dyn.shrink_after_ms = PS_SHRINK_AFTER_DEFAULT_MS;
	return 0;
}

/*
 * The dynamic pool a key belongs to; NULL when the pool is static (*ret:
 * the error), or when its slices had errors (*ret 0: whether it is dynamic
 * is unknown, and those errors say enough).
 */
static struct ps_pool_cfg *ps_dyn_pool(struct ps_ctx *ctx, void *obj, const char *path, int *ret)
{
	struct ps_pool_cfg *pool = obj;

	*ret = 0;
	if (pool->dynamic)
		return pool;
	if (ctx->slices_ok == pool)
		*ret = ps_invalid(ctx, ctx->key_line, path,
			       "only a dynamic pool (slices: dynamic) has this key; a static pool's ports are its hosts' slices");
	return NULL;
}

/* Blocks of @size in @r. */
static uint32_t ps_blocks_in(struct ps_port_range r, uint32_t size)
{
	return ((uint32_t)r.hi - r.lo + 1) / size;
}

int ps_parse_pool_ports(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	int ret;
	struct ps_pool_cfg *pool = ps_dyn_pool(ctx, obj, path, &ret);

	return pool ? ps_parse_range_node(ctx, val, path, &pool->dyn.ports) : ret;
}

static const char ps_blocks_range[] = "a host holds 1 to 32 blocks of a pool, the size of its block table";

/*
 * A dynamic pool's number (1 to @max, @range why): its dyn in *@d, or the
 * error (a static pool, a bad number; *@d NULL and 0: not a dynamic pool's).
 */
static int ps_dyn_count(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj, uint32_t max,
			const char *range, struct ps_dynamic_cfg **d, uint32_t *v)
{
	int ret;
	struct ps_pool_cfg *pool = ps_dyn_pool(ctx, obj, path, &ret);

	*d = pool ? &pool->dyn : NULL;
	return pool ? ps_parse_count(ctx, val, path, 1, max, range, v) : ret;
}

int ps_parse_pool_block_size(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	struct ps_dynamic_cfg *d;
	uint32_t size;
	int ret = ps_dyn_count(ctx, val, path, obj, 65535, "ports a block", &d, &size);

	if (ret || !d)
		return ret;
	/* ports, parsed before, without errors. */
	if (d->ports.lo && !ps_blocks_in(d->ports, size))
		return ps_invalid(ctx, ps_line(val), path,
			       "blocks of %u ports do not fit the pool's ports %u-%u (%u ports); take a smaller block_size or a larger range",
			       size, d->ports.lo, d->ports.hi, d->ports.hi - d->ports.lo + 1U);
	d->block_size = size;
	return 0;
}

int ps_parse_pool_min_blocks(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	struct ps_dynamic_cfg *d;
	uint32_t min;
	int ret = ps_dyn_count(ctx, val, path, obj, PS_MAX_BLOCKS, ps_blocks_range, &d, &min);

	if (!ret && d)
		d->min_blocks = min;
	return ret;
}

int ps_parse_pool_max_blocks(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	struct ps_dynamic_cfg *d;
	uint32_t max;
	int ret = ps_dyn_count(ctx, val, path, obj, PS_MAX_BLOCKS, ps_blocks_range, &d, &max);

	if (ret || !d)
		return ret;
	/* min_blocks, ports and block_size come first: checked against those that parsed. */
	if (d->min_blocks > max)
		return ps_invalid(ctx, ps_line(val), path, "%u is less than min_blocks (%u); min_blocks <= max_blocks",
			       max, d->min_blocks);
	if (d->ports.lo && d->block_size && max > ps_blocks_in(d->ports, d->block_size))
		return ps_invalid(ctx, ps_line(val), path,
			       "%u blocks are more than the pool's ports %u-%u hold in blocks of %u (%u)", max, d->ports.lo,
			       d->ports.hi, d->block_size, ps_blocks_in(d->ports, d->block_size));
	d->max_blocks = max;
	return 0;
}

int ps_parse_pool_grow_at(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	int ret;
	struct ps_pool_cfg *pool = ps_dyn_pool(ctx, obj, path, &ret);
	const char *s;
	size_t n = 0, f = 0;
	double v;

	if (!pool)
		return ret;
	ret = ps_scalar(ctx, val, path, "a share such as 0.75", &s);
	if (ret)
		return ret;
	/* Digits, then maybe a point and digits: no sign, exponent, hex or blank for strtod to take. */
	while (s[n] >= '0' && s[n] <= '9')
		n++;
	if (n && s[n] == '.')
		while (s[n + 1 + f] >= '0' && s[n + 1 + f] <= '9')
			f++;
	v = strtod(s, NULL);
	if (!n || (s[n] && (s[n] != '.' || !f || s[n + 1 + f])) || !(v > 0 && v <= 1))
		return ps_invalid(ctx, ps_line(val), path,
			       "\"%.40s\" is not a share above 0 and at most 1, such as 0.75 (grow when the busiest destination uses more of the held ports)",
			       s);
	pool->dyn.grow_at = v;
	return 0;
}

int ps_parse_pool_shrink_after(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	int ret;
	struct ps_pool_cfg *pool = ps_dyn_pool(ctx, obj, path, &ret);
	uint32_t ms;

	if (!pool)
		return ret;
	ret = ps_parse_duration(ctx, val, path, 86400000, "a day is the longest quiet period", &ms);
	if (!ret && !ms)
		ret = ps_invalid(ctx, ps_line(val), path,
			      "0 would drain a block the moment it is not needed; give the quiet period before one is drained, e.g. 60s");
	if (!ret)
		pool->dyn.shrink_after_ms = ms;
	return ret;
}

int ps_dynamic_pool_done(struct ps_ctx *ctx, struct ps_pool_cfg *pool, const char *path)
{
	static const char *const keys[] = { "ports", "block_size", "min_blocks", "max_blocks" };
	const struct ps_dynamic_cfg *d = &pool->dyn;
	const bool have[] = { d->ports.lo != 0, d->block_size != 0, d->min_blocks != 0, d->max_blocks != 0 };
	char sub[PS_PATH_LEN];
	int ret = 0;

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		if (have[i])
			continue;
		ps_join(sub, path, keys[i]);
		ret = ps_invalid(ctx, pool->line, sub,
			      "required key is missing: a dynamic pool (slices: dynamic, line %d) needs ports, block_size, min_blocks and max_blocks",
			      d->line);
	}
	if (ret)
		return ret;
	/* Any port of the range may become any host's. */
	pool->any_host = (struct ps_slice_cfg){
		.range = d->ports, .blocks = { d->ports }, .n_blocks = 1, .line = d->line,
	};
	return 0;
}

/* ---- etcd: ---------------------------------------------------------------- */

/* The keys the checks across keys name: their lines in ctx->etcd_lines[]. */
enum { ETCD_TTL, ETCD_KEEPALIVE, ETCD_FENCE_MARGIN, ETCD_QUARANTINE };

/* What is wrong with an endpoint URL, or NULL: the etcd client appends /v3/... to it. */
static const char *ps_url_problem(const char *s)
{
	const char *host = !strncmp(s, "http://", 7) ? s + 7 : !strncmp(s, "https://", 8) ? s + 8 : NULL;

	if (!host)
		return "is not an http:// or https:// URL";
	if (strlen(s) >= PS_ETCD_URL_LEN)
		return "is too long";
	if (!*host)
		return "has no host";
	for (const char *p = host; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr(".-_:[]", *p)))
			return "has more than a scheme, a host and a port (no path, user, blank or comma)";
	return NULL;
}

static int ps_parse_etcd_endpoints(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	struct ps_etcd_cfg *e = obj;
	char sub[PS_PATH_LEN];
	const char *why;
	size_t n;
	int ret;

	ret = ps_collection(ctx, val, path, YAML_SEQUENCE_NODE, "list etcd's client URLs, e.g. [https://10.0.0.1:2379]",
			    "a list of URLs such as [https://10.0.0.1:2379]", PS_MAX_ETCD_ENDPOINTS, "endpoints", "", &n);
	if (ret)
		return ret;
	e->endpoints = calloc(n, PS_ETCD_URL_LEN);
	if (!e->endpoints)
		return ps_oom(ctx);
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = ps_node(ctx, val->data.sequence.items.start[i]);
		const char *s;

		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		ret = ps_scalar(ctx, item, sub, "a URL such as https://10.0.0.1:2379", &s);
		if (ret)
			return ret;
		why = ps_url_problem(s);
		if (why)
			return ps_invalid(ctx, ps_line(item), sub,
				       "\"%.64s\" %s; write http://HOST:PORT or https://HOST:PORT, e.g. https://10.0.0.1:2379", s, why);
		for (size_t j = 0; j < i; j++)
			if (!strcmp((const char *)ps_node(ctx, val->data.sequence.items.start[j])->data.scalar.value, s))
				return ps_invalid(ctx, ps_line(item), sub, "\"%s\" is listed twice (first at line %d); keep one",
					       s, ps_item_line(ctx, val, j));
		/* As the client takes them: comma-separated. */
		strcat(strcat(e->endpoints, i ? "," : ""), s);
		e->n_endpoints = i + 1;
	}
	return 0;
}

/* ca, cert, key: an absolute path (the agent's working directory is nobody's business). */
static int ps_parse_etcd_file(struct ps_ctx *ctx, yaml_node_t *val, const char *path, char **out)
{
	const char *s;
	int ret = ps_scalar(ctx, val, path, "a file such as /etc/portslice/etcd/ca.pem", &s);

	if (ret)
		return ret;
	if (s[0] != '/' || strlen(s) >= PATH_MAX)
		return ps_invalid(ctx, ps_line(val), path, "\"%.64s\" is not an absolute path; give the file's, e.g. /etc/portslice/etcd/%s.pem",
			       s, strrchr(path, '.') + 1);
	*out = strdup(s);
	return *out ? 0 : ps_oom(ctx);
}

static int ps_parse_etcd_ca(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	return ps_parse_etcd_file(ctx, val, path, &((struct ps_etcd_cfg *)obj)->ca);
}

static int ps_parse_etcd_cert(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	return ps_parse_etcd_file(ctx, val, path, &((struct ps_etcd_cfg *)obj)->cert);
}

static int ps_parse_etcd_key(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	return ps_parse_etcd_file(ctx, val, path, &((struct ps_etcd_cfg *)obj)->key);
}

static int ps_parse_etcd_prefix(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	struct ps_etcd_cfg *e = obj;
	size_t n, i;
	const char *s;
	int ret = ps_scalar(ctx, val, path, "a key prefix such as /portslice", &s);

	if (ret)
		return ret;
	n = strlen(s);
	for (i = 0; i < n && s[i] > ' ' && s[i] < 0x7f; i++)
		;
	if (s[0] != '/' || n < 2 || n >= sizeof(e->prefix) || s[n - 1] == '/' || i < n)
		return ps_invalid(ctx, ps_line(val), path,
			       "\"%.64s\" is not a key prefix; write / and up to %zu printable characters without blanks, not ending in /, e.g. /portslice",
			       s, sizeof(e->prefix) - 2);
	memcpy(e->prefix, s, n + 1);
	return 0;
}

/*
 * One of etcd's durations into *@out: @min_ms (@short_why) to @max_ms, in
 * whole seconds when @seconds (etcd counts leases in seconds; *@out then
 * in seconds); its line kept in etcd_lines[@which] (-1: not kept) for the
 * checks across keys. *@out changes only when the value is good.
 */
static int ps_etcd_duration(struct ps_ctx *ctx, yaml_node_t *val, const char *path, int which, uint32_t min_ms,
			    uint32_t max_ms, bool seconds, const char *short_why, uint32_t *out)
{
	uint32_t ms = 0;
	int ret = ps_parse_duration(ctx, val, path, max_ms, "a lease, a keepalive or a request that long is no use", &ms);

	if (which >= 0)
		ctx->etcd_lines[which] = ps_line(val);
	if (ret)
		return ret;
	if (ms < min_ms)
		return ps_invalid(ctx, ps_line(val), path, "\"%.40s\" is too short: %s", (const char *)val->data.scalar.value,
			       short_why);
	if (seconds && ms % 1000)
		return ps_invalid(ctx, ps_line(val), path, "\"%.40s\" is not a whole number of seconds; etcd counts leases in seconds",
			       (const char *)val->data.scalar.value);
	*out = seconds ? ms / 1000 : ms;
	return 0;
}

static int ps_parse_etcd_ttl(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	return ps_etcd_duration(ctx, val, path, ETCD_TTL, 2000, 3600000, true,
				"at least 2s, for a fencing margin of at least 1s and a keepalive before it",
				&((struct ps_etcd_cfg *)obj)->lease_ttl_s);
}

static int ps_parse_etcd_keepalive(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	return ps_etcd_duration(ctx, val, path, ETCD_KEEPALIVE, 1, 3600000, false,
				"give how often the lease is renewed, e.g. 3s", &((struct ps_etcd_cfg *)obj)->keepalive_ms);
}

static int ps_parse_etcd_fence_margin(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	return ps_etcd_duration(ctx, val, path, ETCD_FENCE_MARGIN, 1000, 3600000, false,
				"at least 1s between the host fencing itself and etcd expiring its lease",
				&((struct ps_etcd_cfg *)obj)->fence_margin_ms);
}

static int ps_parse_etcd_quarantine(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	return ps_etcd_duration(ctx, val, path, ETCD_QUARANTINE, 1000, 86400000, true,
				"longer than TIME_WAIT (60s) plus the dynamic pools' reuse_delay",
				&((struct ps_etcd_cfg *)obj)->quarantine_s);
}

static int ps_parse_etcd_timeout(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	return ps_etcd_duration(ctx, val, path, -1, 1, 60000, false, "give how long one request may take, e.g. 2s",
				&((struct ps_etcd_cfg *)obj)->timeout_ms);
}

static const struct ps_key ps_etcd_keys[] = {
	{ "endpoints",    true,  ps_parse_etcd_endpoints },
	{ "ca",           false, ps_parse_etcd_ca },
	{ "cert",         false, ps_parse_etcd_cert },
	{ "key",          false, ps_parse_etcd_key },
	{ "prefix",       false, ps_parse_etcd_prefix },
	{ "lease_ttl",    false, ps_parse_etcd_ttl },
	{ "keepalive",    false, ps_parse_etcd_keepalive },
	{ "fence_margin", false, ps_parse_etcd_fence_margin },
	{ "quarantine",   false, ps_parse_etcd_quarantine },
	{ "timeout",      false, ps_parse_etcd_timeout },
};

/* An error about etcd's key @key (its line in etcd_lines[@which]). */
static int ps_etcd_invalid(struct ps_ctx *ctx, const char *path, const char *key, int which, const char *msg)
{
	char sub[PS_PATH_LEN];

	ps_join(sub, path, key);
	return ps_invalid(ctx, ctx->etcd_lines[which], sub, "%s", msg);
}

/* The fencing margin and the keepalive period against the TTL (invariant 2 of docs/fleet.md). */
static int ps_check_fencing(struct ps_ctx *ctx, struct ps_etcd_cfg *e, const char *path)
{
	uint32_t ttl_ms = e->lease_ttl_s * 1000;
	bool keepalive_given = e->keepalive_ms != 0;
	char msg[320];

	if (!e->fence_margin_ms)
		e->fence_margin_ms = ttl_ms / 4 < 1000 ? 1000 : ttl_ms / 4;
	if (!keepalive_given)
		e->keepalive_ms = ttl_ms / 3;
	if (e->fence_margin_ms >= ttl_ms) {
		snprintf(msg, sizeof(msg), "%ums is not shorter than lease_ttl (%us): the host must fence itself before etcd can expire its lease",
			 e->fence_margin_ms, e->lease_ttl_s);
		return ps_etcd_invalid(ctx, path, "fence_margin", ETCD_FENCE_MARGIN, msg);
	}
	if (e->keepalive_ms < ttl_ms - e->fence_margin_ms)
		return 0;
	if (keepalive_given) {
		snprintf(msg, sizeof(msg), "%ums is not shorter than lease_ttl - fence_margin (%ums): a keepalive must be answered before the host fences itself",
			 e->keepalive_ms, ttl_ms - e->fence_margin_ms);
		return ps_etcd_invalid(ctx, path, "keepalive", ETCD_KEEPALIVE, msg);
	}
	snprintf(msg, sizeof(msg), "%ums leaves %ums before the host fences itself, not more than the default keepalive period (lease_ttl / 3, %ums); shorten it, or set a shorter keepalive",
		 e->fence_margin_ms, ttl_ms - e->fence_margin_ms, e->keepalive_ms);
	return ps_etcd_invalid(ctx, path, "fence_margin", ETCD_FENCE_MARGIN, msg);
}

/* An orphaned block's quarantine outlasts TIME_WAIT and every dynamic pool's reuse_delay (invariant 3). */
static int ps_check_quarantine(struct ps_ctx *ctx, struct ps_etcd_cfg *e, const char *path)
{
	const struct ps_pool_cfg *worst = NULL;
	uint32_t max_reuse = 0;
	char msg[320];

	for (size_t i = 0; i < ctx->cfg->n_pools; i++) {
		const struct ps_pool_cfg *p = &ctx->cfg->pools[i];

		if (p->dynamic && (!worst || p->reuse_delay_ms > max_reuse)) {
			worst = p;
			max_reuse = p->reuse_delay_ms;
		}
	}
	if (!e->quarantine_s) {
		e->quarantine_s = PS_TIME_WAIT_MS / 1000 + (max_reuse + 999) / 1000 + 5;
		return 0;
	}
	/* The pools' values are sound only when pools: had no errors. */
	if (ctx->pools_failed || (uint64_t)e->quarantine_s * 1000 > PS_TIME_WAIT_MS + (uint64_t)max_reuse)
		return 0;
	if (worst)
		snprintf(msg, sizeof(msg), "%us is not longer than TIME_WAIT (60s) plus the reuse_delay of pool \"%s\" (%ums, line %d): a block whose holder died must not be leased again while its tuples may still be in use; raise it above %ums",
			 e->quarantine_s, worst->name, max_reuse, worst->line, PS_TIME_WAIT_MS + max_reuse);
	else
		snprintf(msg, sizeof(msg), "%us is not longer than TIME_WAIT (60s): a block whose holder died must not be leased again while its tuples may still be in TIME_WAIT",
			 e->quarantine_s);
	return ps_etcd_invalid(ctx, path, "quarantine", ETCD_QUARANTINE, msg);
}

int ps_parse_etcd(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	struct ps_etcd_cfg *e = &((struct ps_config *)obj)->etcd;
	char sub[PS_PATH_LEN];
	int ret;

	e->present = true;
	e->line = ctx->key_line;
	ret = ps_parse_keys(ctx, val, path, "a mapping with endpoints and, optionally, ca, cert, key, prefix, lease_ttl, keepalive, fence_margin, quarantine and timeout",
			    PS_KEYS(ps_etcd_keys), e);
	if (ret)
		return ret;
	if (!e->cert != !e->key) {
		ps_join(sub, path, e->cert ? "key" : "cert");
		return ps_invalid(ctx, e->line, sub, "required key is missing: a client certificate (cert) goes with its key (key)");
	}
	if (!e->prefix[0])
		snprintf(e->prefix, sizeof(e->prefix), "/portslice");
	if (!e->lease_ttl_s)
		e->lease_ttl_s = 10;
	if (!e->timeout_ms)
		e->timeout_ms = 2000;
	return ps_worse(ps_check_fencing(ctx, e, path), ps_check_quarantine(ctx, e, path));
}

int ps_check_etcd_needed(struct ps_ctx *ctx)
{
	const struct ps_config *cfg = ctx->cfg;

	if (cfg->etcd.present)
		return 0;
	for (size_t i = 0; i < cfg->n_pools; i++)
		if (cfg->pools[i].dynamic)
			return ps_invalid(ctx, cfg->pools[i].dyn.line, "etcd",
				       "required key is missing: pool \"%s\" is dynamic (slices: dynamic), and its hosts lease their blocks from etcd; add an etcd: section with its endpoints",
				       cfg->pools[i].name);
	return 0;
}
