// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The contract of the configuration loader, checked on one input (config_check.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "core/config.h"
#include "config_check.h"

static char ch_msg[768];

static const char *ch_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *ch_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ch_msg, sizeof(ch_msg), fmt, ap);
	va_end(ap);
	return ch_msg;
}

static bool ch_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n--)
		if (b[n])
			return false;
	return true;
}

static void ch_warn(const char *msg, void *arg)
{
	(*(int *)arg)++;
	(void)msg;
}

/*
 * A dynamic pool and the etcd: it needs (config_etcd.c): what the leasing
 * engine (loader/fleet/lease.c) and the etcd client would refuse.
 */
/*
 * Slice @s of static pool @p: its blocks lie in its hull and overlap no
 * block of its own or of an earlier slice. Hulls may interleave: a slice's
 * blocks need not be contiguous.
 */
static const char *ch_check_blocks(const struct ps_pool_cfg *p, size_t s)
{
	const struct ps_slice_cfg *a = &p->slices[s];
	static char msg[256];

	if (a->n_blocks < 1 || a->n_blocks > PS_MAX_BLOCKS)
		return "a slice with no blocks or too many";
	for (size_t k = 0; k < a->n_blocks; k++) {
		struct ps_port_range r = a->blocks[k];

		if (r.lo < a->range.lo || r.hi > a->range.hi || r.lo > r.hi) {
			snprintf(msg, sizeof(msg), "slices.%s: block %u-%u outside its hull %u-%u",
				 a->host, r.lo, r.hi, a->range.lo, a->range.hi);
			return msg;
		}
		for (size_t t = 0; t <= s; t++) {
			const struct ps_slice_cfg *b = &p->slices[t];

			for (size_t m = 0; m < (t == s ? k : b->n_blocks); m++)
				if (ps_ranges_overlap(r, b->blocks[m])) {
					snprintf(msg, sizeof(msg), "blocks of slices %s and %s overlap",
						 a->host, b->host);
					return msg;
				}
		}
	}
	return NULL;
}

static const char *ch_check_dynamic(const struct ps_config *cfg, const struct ps_pool_cfg *p)
{
	const struct ps_dynamic_cfg *d = &p->dyn;
	const struct ps_etcd_cfg *e = &cfg->etcd;
	uint32_t blocks = d->block_size ? ((uint32_t)d->ports.hi - d->ports.lo + 1) / d->block_size : 0;

	if (p->n_slices || p->slices)
		return "a dynamic pool with slices";
	if (!d->ports.lo || d->ports.lo > d->ports.hi || !blocks || d->min_blocks < 1 || d->min_blocks > d->max_blocks ||
	    d->max_blocks > blocks || d->max_blocks > PS_MAX_BLOCKS)
		return "accepted blocks that do not fit";
	if (!(d->grow_at > 0 && d->grow_at <= 1) || !d->shrink_after_ms)
		return "accepted grow_at or shrink_after out of range";
	if (ps_pool_find_slice(p, "any") != &p->any_host || p->any_host.n_blocks != 1 ||
	    p->any_host.range.lo != d->ports.lo || p->any_host.range.hi != d->ports.hi)
		return "its slice for every host is not its range";
	if (!e->present || !e->endpoints || !e->n_endpoints || e->prefix[0] != '/')
		return "accepted without etcd: endpoints and a prefix";
	if (e->lease_ttl_s < 2 || e->fence_margin_ms < 1000 || e->fence_margin_ms >= e->lease_ttl_s * 1000 ||
	    !e->keepalive_ms || e->keepalive_ms >= e->lease_ttl_s * 1000 - e->fence_margin_ms || !e->timeout_ms)
		return "accepted a lease the engine refuses (TTL, fencing margin, keepalive)";
	if ((uint64_t)e->quarantine_s * 1000 <= PS_TIME_WAIT_MS + (uint64_t)p->reuse_delay_ms)
		return "accepted a quarantine within TIME_WAIT + reuse_delay";
	return NULL;
}

/* Every rule of the configuration reference, on a config that loaded. */
static const char *ch_check_valid(const struct ps_config *cfg)
{
	size_t total[2] = { 0, 0 };
	char buf[PS_PREFIX_STR_LEN];

	if (cfg->n_pools < 1 || cfg->n_pools > PS_MAX_POOLS || !cfg->pools)
		return ch_fail("accepted %zu pools", cfg->n_pools);
	for (size_t i = 0; i < cfg->n_pools; i++) {
		const struct ps_pool_cfg *p = &cfg->pools[i];
		size_t alen = p->family == AF_INET ? 4 : 16;

		if (strnlen(p->name, sizeof(p->name)) == sizeof(p->name) || !ps_valid_pool_name(p->name))
			return ch_fail("pools[%zu]: accepted an invalid name", i);
		if (p->family != AF_INET && p->family != AF_INET6)
			return ch_fail("pools[%zu]: family %d", i, p->family);
		if (ch_zero(p->addr, alen))
			return ch_fail("pools[%zu]: accepted the unspecified address", i);
		if (p->family == AF_INET && ((p->addr[0] & 0xf0) == 0xe0 ||
					     !memcmp(p->addr, "\xff\xff\xff\xff", 4)))
			return ch_fail("pools[%zu]: accepted a multicast/broadcast address", i);
		if (p->family == AF_INET6 && (p->addr[0] == 0xff ||
					      (ch_zero(p->addr, 10) && p->addr[10] == 0xff &&
					       p->addr[11] == 0xff)))
			return ch_fail("pools[%zu]: accepted a multicast or IPv4-mapped address", i);
		if (ps_format_addr(p->family, p->addr, buf, sizeof(buf)))
			return ch_fail("pools[%zu]: address does not format", i);
		if (ps_config_find_pool(cfg, p->name) != p)
			return ch_fail("pools[%zu]: name \"%s\" is not unique", i, p->name);
		for (size_t j = 0; j < i; j++)
			if (cfg->pools[j].family == p->family && !memcmp(cfg->pools[j].addr, p->addr, alen))
				return ch_fail("pools[%zu]: address shared with pools[%zu]", i, j);

		if (p->n_dsts < 1 || p->n_dsts > PS_MAX_POOL_DSTS || !p->dsts)
			return ch_fail("pools[%zu]: accepted %zu destinations", i, p->n_dsts);
		total[p->family == AF_INET6] += p->n_dsts;
		for (size_t d = 0; d < p->n_dsts; d++) {
			const struct ps_prefix *x = &p->dsts[d];
			struct ps_prefix back;

			if (x->family != p->family || x->len > alen * 8)
				return ch_fail("pools[%zu].destinations[%zu]: family/length", i, d);
			for (size_t b = x->len; b < alen * 8; b++)
				if (x->addr[b / 8] & (0x80 >> (b % 8)))
					return ch_fail("pools[%zu].destinations[%zu]: host bits past /%u",
						       i, d, x->len);
			/* Canonical: formatting and parsing again gives the same prefix. */
			if (ps_format_prefix(x, buf, sizeof(buf)) || ps_parse_prefix(buf, &back) ||
			    back.family != x->family || back.len != x->len ||
			    memcmp(back.addr, x->addr, alen))
				return ch_fail("pools[%zu].destinations[%zu]: %s does not round-trip",
					       i, d, buf);
		}

		if (p->dynamic) {
			const char *bad = ch_check_dynamic(cfg, p);

			if (bad)
				return ch_fail("pools[%zu]: %s", i, bad);
			continue;
		}
		if (p->n_slices < 1 || !p->slices)
			return ch_fail("pools[%zu]: accepted %zu slices", i, p->n_slices);
		for (size_t s = 0; s < p->n_slices; s++) {
			const struct ps_slice_cfg *a = &p->slices[s];
			const char *bad;

			if (!a->host || !ps_valid_host_name(a->host))
				return ch_fail("pools[%zu]: accepted an invalid host name", i);
			if (a->range.lo < 1 || a->range.lo > a->range.hi)
				return ch_fail("pools[%zu].slices.%s: %u-%u", i, a->host, a->range.lo,
					       a->range.hi);
			if (ps_pool_find_slice(p, a->host) != a)
				return ch_fail("pools[%zu].slices.%s: host listed twice", i, a->host);
			bad = ch_check_blocks(p, s);
			if (bad)
				return ch_fail("pools[%zu]: %s", i, bad);
		}
	}
	if (total[0] > PS_MAX_DST_PREFIXES || total[1] > PS_MAX_DST_PREFIXES)
		return ch_fail("accepted %zu/%zu destinations in all", total[0], total[1]);
	return NULL;
}

/* Load @data as a configuration; NULL when the contract held. */
const char *config_check(const uint8_t *data, size_t size)
{
	struct ps_config cfg;
	struct ps_error err;
	struct ps_port_range r;
	struct ps_prefix pfx;
	const char *bad = NULL;
	char *str;
	int ret, n = 0;

	memset(&cfg, 0xa5, sizeof(cfg)); /* "overwritten (not freed) first" */
	ret = ps_config_load_buf("fuzz.yaml", (const char *)data, size, &cfg, &err);
	if (ret == 0) {
		bad = ch_check_valid(&cfg);
		if (!bad && (!cfg.path || strcmp(cfg.path, "fuzz.yaml")))
			bad = ch_fail("cfg.path is not the name given");
		if (!bad) {
			struct ps_port_range local = { 1, 65535 };

			/* A dynamic pool has a slice for every host. */
			ps_config_warn_local_range(&cfg, cfg.pools[0].dynamic ? "any" : cfg.pools[0].slices[0].host, local,
						   ch_warn, &n);
			if (n < 1)
				bad = ch_fail("a slice inside 1-65535 did not warn");
		}
	} else {
		if (ret != -EINVAL && ret != -ENOMEM)
			bad = ch_fail("load returned %d", ret);
		else if (cfg.pools || cfg.n_pools || cfg.path)
			bad = ch_fail("a failed load left a config behind");
		else if (strncmp(err.msg, "fuzz.yaml", 9) || strnlen(err.msg, sizeof(err.msg)) == sizeof(err.msg))
			bad = ch_fail("error message does not name the file: %.200s", err.msg);
	}
	ps_config_free(&cfg);
	ps_config_free(&cfg); /* safe on a freed config */
	if (bad)
		return bad;

	/* The exported scalar parsers, on the same bytes as a C string. */
	str = malloc(size + 1);
	if (!str)
		return NULL;
	memcpy(str, data, size);
	str[size] = '\0';
	if (ps_parse_port_range(str, &r) == 0 && (r.lo < 1 || r.lo > r.hi))
		bad = ch_fail("port range \"%.40s\" parsed as %u-%u", str, r.lo, r.hi);
	if (!bad && ps_parse_prefix(str, &pfx) == 0) {
		char buf[PS_PREFIX_STR_LEN];
		struct ps_prefix back;

		if (ps_format_prefix(&pfx, buf, sizeof(buf)) || ps_parse_prefix(buf, &back) ||
		    back.len != pfx.len || memcmp(back.addr, pfx.addr, 16))
			bad = ch_fail("prefix \"%.60s\" does not round-trip", str);
	}
	ps_valid_pool_name(str);
	ps_valid_host_name(str);
	free(str);
	return bad;
}
