// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Fleet configuration parser and validator.
 *
 * libyaml's document API builds the node tree; this file walks it with one
 * table of {key, handler} per mapping level, so a new key is one table row
 * plus its handler. The tree (not the event stream) is used because checks
 * need siblings that may come later in the file: a pool's destinations are
 * checked against its address whatever order the keys are written in.
 *
 * Every problem is reported as "FILE:LINE: FIELD: problem[; remedy]". A
 * mapping's keys, the items of a list and the top-level sections are
 * checked independently, so one load finds every error (struct ps_error);
 * a check across sections is skipped while a section it reads has errors. Values are only ever read as
 * strings and parsed here: YAML 1.1 typing (octal 020000, 0x10, yes/no,
 * sexagesimal 20:30) would otherwise silently turn typos into numbers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "config.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Anything bigger is not a hand-written fleet file; refuse before parsing. */
#define PS_CONFIG_MAX_SIZE (64U << 20)

#define PS_PATH_LEN 160

struct ps_ctx {
	const char *file;
	const char *buf;
	size_t len;
	yaml_document_t *doc;
	struct ps_config *cfg;
	struct ps_error *err;
	int dsts_line;                 /* of the pool being parsed, 0: default */
	int key_line;                  /* of the key whose handler runs */
	size_t n_dsts4, n_dsts6;       /* over the pools parsed so far */
	bool pools_failed;             /* pools: had errors: checks that read it are skipped */
	bool hosts_failed;             /* likewise for hosts: */
};

/* The first error, whole, into e->msg (from parts that may live in *e: hence the copy). */
__attribute__((format(printf, 2, 3)))
static void ps_error_msg(struct ps_error *e, const char *fmt, ...)
{
	char buf[sizeof(e->msg)];
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(buf, sizeof(buf), fmt, ap) < 0)
		buf[0] = '\0';
	va_end(ap);
	memcpy(e->msg, buf, sizeof(buf));
}

static void ps_error_init(struct ps_error *e, const char *file)
{
	e->msg[0] = '\0';
	e->n = e->n_more = 0;
	snprintf(e->file, sizeof(e->file), "%s", file);
}

/* An error about the whole file (line 0, no field): it cannot be opened, read, ... */
__attribute__((format(printf, 2, 3)))
static void ps_error_file(struct ps_error *e, const char *fmt, ...)
{
	struct ps_error_item *it = &e->items[0];
	va_list ap;

	e->n = 1;
	it->line = 0;
	it->field[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(it->problem, sizeof(it->problem), fmt, ap);
	va_end(ap);
	ps_error_msg(e, "%s: %s", e->file, it->problem);
}

__attribute__((format(printf, 4, 5)))
static int ps_fail(struct ps_ctx *ctx, int line, const char *field, const char *fmt, ...)
{
	struct ps_error *e = ctx->err;
	struct ps_error_item *it;
	va_list ap;

	if (e->n == PS_MAX_ERRORS) {
		e->n_more++;
		return -EINVAL;
	}
	it = &e->items[e->n++];
	it->line = line;
	snprintf(it->field, sizeof(it->field), "%s", field);
	va_start(ap, fmt);
	vsnprintf(it->problem, sizeof(it->problem), fmt, ap);
	va_end(ap);
	if (e->n == 1)
		ps_error_msg(e, "%s:%d: %s: %s", ctx->file, line, it->field, it->problem);
	return -EINVAL;
}

static int ps_oom(struct ps_ctx *ctx)
{
	ps_error_file(ctx->err, "out of memory");
	return -ENOMEM;
}

/* Keeps the worst result: -ENOMEM ends a load, -EINVAL lets the walk go on. */
static int ps_worse(int have, int ret)
{
	return have == -ENOMEM || !ret ? have : ret;
}

/* ---- generic helpers, also exported ---------------------------------- */

static bool ps_valid_name(const char *s, size_t max_len)
{
	size_t n;

	for (n = 0; s[n]; n++) {
		char c = s[n];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return false;
	}
	return n >= 1 && n <= max_len;
}

bool ps_valid_pool_name(const char *s)
{
	return s && ps_valid_name(s, PS_POOL_NAME_LEN - 1);
}

bool ps_valid_host_name(const char *s)
{
	return s && ps_valid_name(s, PS_HOST_NAME_LEN - 1);
}

enum ps_range_err {
	PS_RANGE_OK,
	PS_RANGE_SYNTAX,
	PS_RANGE_LEADING_ZERO,
	PS_RANGE_ZERO,
	PS_RANGE_TOO_BIG,
	PS_RANGE_REVERSED,
};

/* Digits only: no sign, no base prefix, no blanks, so strtoul is not used. */
static size_t ps_scan_digits(const char *s, unsigned long *val)
{
	size_t n;

	*val = 0;
	for (n = 0; s[n] >= '0' && s[n] <= '9'; n++) {
		if (*val <= 65535)
			*val = *val * 10 + (unsigned long)(s[n] - '0');
	}
	return n;
}

static enum ps_range_err ps_range_parse(const char *s, struct ps_port_range *out)
{
	unsigned long lo, hi;
	size_t n1, n2 = 0;

	n1 = ps_scan_digits(s, &lo);
	if (!n1)
		return PS_RANGE_SYNTAX;
	hi = lo;
	if (s[n1] == '-') {
		n2 = ps_scan_digits(s + n1 + 1, &hi);
		if (!n2 || s[n1 + 1 + n2])
			return PS_RANGE_SYNTAX;
	} else if (s[n1]) {
		return PS_RANGE_SYNTAX;
	}
	/* YAML 1.1 reads 020000 as octal; refuse rather than guess. */
	if ((n1 > 1 && s[0] == '0') || (n2 > 1 && s[n1 + 1] == '0'))
		return PS_RANGE_LEADING_ZERO;
	if (!lo || !hi)
		return PS_RANGE_ZERO;
	if (lo > 65535 || hi > 65535)
		return PS_RANGE_TOO_BIG;
	if (lo > hi)
		return PS_RANGE_REVERSED;
	out->lo = (uint16_t)lo;
	out->hi = (uint16_t)hi;
	return PS_RANGE_OK;
}

int ps_parse_port_range(const char *s, struct ps_port_range *out)
{
	struct ps_port_range r;

	if (!s || ps_range_parse(s, &r) != PS_RANGE_OK)
		return -EINVAL;
	*out = r;
	return 0;
}

bool ps_ranges_overlap(struct ps_port_range a, struct ps_port_range b)
{
	return a.lo <= b.hi && b.lo <= a.hi;
}

static int ps_addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

static int ps_max_prefix_len(int family)
{
	return family == AF_INET ? 32 : 128;
}

static bool ps_parse_addr(const char *s, int *family, uint8_t addr[16])
{
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, s, addr) == 1) {
		*family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s, addr) == 1) {
		*family = AF_INET6;
		return true;
	}
	return false;
}

enum ps_prefix_err {
	PS_PREFIX_OK,
	PS_PREFIX_BAD_ADDR,
	PS_PREFIX_BAD_LEN,
	PS_PREFIX_LEN_RANGE,
};

static enum ps_prefix_err ps_prefix_parse(const char *s, struct ps_prefix *out)
{
	char addr[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long len;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (alen >= sizeof(addr))
		return PS_PREFIX_BAD_ADDR;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (!ps_parse_addr(addr, &out->family, out->addr))
		return PS_PREFIX_BAD_ADDR;
	if (!slash) {
		out->len = (uint8_t)ps_max_prefix_len(out->family);
		return PS_PREFIX_OK;
	}
	n = ps_scan_digits(slash + 1, &len);
	if (!n || slash[1 + n] || (n > 1 && slash[1] == '0'))
		return PS_PREFIX_BAD_LEN;
	if (len > (unsigned long)ps_max_prefix_len(out->family))
		return PS_PREFIX_LEN_RANGE;
	out->len = (uint8_t)len;
	return PS_PREFIX_OK;
}

static bool ps_prefix_host_bits(const struct ps_prefix *p, struct ps_prefix *masked)
{
	int nbytes = ps_addr_len(p->family);
	bool set = false;
	int i;

	*masked = *p;
	for (i = 0; i < nbytes; i++) {
		int bits = p->len - i * 8;
		uint8_t mask = bits >= 8 ? 0xff : bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));

		if (p->addr[i] & ~mask)
			set = true;
		masked->addr[i] &= mask;
	}
	return set;
}

int ps_parse_prefix(const char *s, struct ps_prefix *out)
{
	struct ps_prefix p, masked;

	if (!s || ps_prefix_parse(s, &p) != PS_PREFIX_OK || ps_prefix_host_bits(&p, &masked))
		return -EINVAL;
	*out = p;
	return 0;
}

int ps_format_addr(int family, const uint8_t addr[16], char *buf, size_t len)
{
	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	if (!inet_ntop(family, addr, buf, (socklen_t)(len > 1024 ? 1024 : len)))
		return -ENOSPC;
	return 0;
}

int ps_format_prefix(const struct ps_prefix *p, char *buf, size_t len)
{
	char addr[PS_ADDR_STR_LEN];
	int ret, n;

	ret = ps_format_addr(p->family, p->addr, addr, sizeof(addr));
	if (ret)
		return ret;
	n = snprintf(buf, len, "%s/%u", addr, p->len);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

static bool ps_is_v4_mapped(const uint8_t a[16])
{
	static const uint8_t pfx[12] = { [10] = 0xff, [11] = 0xff };

	return !memcmp(a, pfx, sizeof(pfx));
}

static bool ps_is_zero(const uint8_t *a, int n)
{
	while (n--)
		if (a[n])
			return false;
	return true;
}

/* ---- YAML node helpers ----------------------------------------------- */

static int ps_line(const yaml_node_t *n)
{
	return (int)n->start_mark.line + 1;
}

static yaml_node_t *ps_node(struct ps_ctx *ctx, int index)
{
	return yaml_document_get_node(ctx->doc, index);
}

/* An empty value ("key:" with nothing after it) or an explicit null. */
static bool ps_is_null(const yaml_node_t *n)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	v = (const char *)n->data.scalar.value;
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

static const char *ps_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_SCALAR_NODE:
		return ps_is_null(n) ? "an empty value" : "a single value";
	default:
		return "nothing";
	}
}

static int ps_scalar(struct ps_ctx *ctx, const yaml_node_t *n, const char *path,
		     const char *what, const char **out)
{
	if (n->type != YAML_SCALAR_NODE)
		return ps_fail(ctx, ps_line(n), path, "expected %s, got %s", what, ps_kind(n));
	if (ps_is_null(n))
		return ps_fail(ctx, ps_line(n), path, "value is missing; expected %s", what);
	/* A "\0" escape would make the C string shorter than the value. */
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
		return ps_fail(ctx, ps_line(n), path, "contains a NUL character");
	*out = (const char *)n->data.scalar.value;
	return 0;
}

static size_t ps_seq_len(const yaml_node_t *n)
{
	return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static size_t ps_map_len(const yaml_node_t *n)
{
	return (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
}

/* "parent.key", truncated; by hand as gcc -O3 flags any snprintf for it. */
static void ps_join(char *out, const char *parent, const char *key)
{
	size_t n = 0, k;

	while (*parent && n < PS_PATH_LEN - 1)
		out[n++] = *parent++;
	if (n && n < PS_PATH_LEN - 1)
		out[n++] = '.';
	for (k = 0; key[k] && k < PS_HOST_NAME_LEN - 1 && n < PS_PATH_LEN - 1; k++)
		out[n++] = key[k];
	out[n] = '\0';
}

/* ---- table-driven mappings ------------------------------------------- */

typedef int (*ps_key_fn)(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj);

struct ps_key {
	const char *name;
	bool required;
	ps_key_fn parse;
};

#define PS_MAX_KEYS 16

/*
 * Check a mapping's keys against the table (unknown, repeated and missing
 * keys are errors), then run the handlers in table order rather than file
 * order, so a handler may rely on the rows above it having been parsed.
 */
static int ps_parse_keys(struct ps_ctx *ctx, yaml_node_t *map, const char *path,
			 const char *what, const struct ps_key *keys, size_t n_keys, void *obj)
{
	yaml_node_t *vals[PS_MAX_KEYS] = { 0 };
	int lines[PS_MAX_KEYS] = { 0 };
	const char *field = *path ? path : "top level";
	char sub[PS_PATH_LEN];
	yaml_node_pair_t *pair;
	size_t i;
	int ret = 0;

	if (map->type != YAML_MAPPING_NODE)
		return ps_fail(ctx, ps_line(map), field, "expected %s, got %s", what, ps_kind(map));

	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *key = ps_node(ctx, pair->key);
		const char *name;

		if (key->type != YAML_SCALAR_NODE) {
			ret = ps_fail(ctx, ps_line(key), field, "a key must be a name, got %s",
				      ps_kind(key));
			continue;
		}
		name = (const char *)key->data.scalar.value;
		for (i = 0; i < n_keys; i++)
			if (!strcmp(keys[i].name, name))
				break;
		ps_join(sub, path, name);
		if (i == n_keys) {
			char allowed[256] = "";
			size_t j, off = 0;

			for (j = 0; j < n_keys && off < sizeof(allowed); j++)
				off += (size_t)snprintf(allowed + off, sizeof(allowed) - off, "%s%s",
							j ? ", " : "", keys[j].name);
			ret = ps_fail(ctx, ps_line(key), sub, "unknown key; allowed keys%s%s: %s",
				      *path ? " in " : "", *path ? path : " at the top level",
				      allowed);
			continue;
		}
		if (vals[i]) {
			ret = ps_fail(ctx, ps_line(key), sub,
				      "key given twice (first at line %d); keep one", lines[i]);
			continue;
		}
		vals[i] = ps_node(ctx, pair->value);
		lines[i] = ps_line(key);
	}

	for (i = 0; i < n_keys; i++) {
		if (keys[i].required && !vals[i]) {
			ps_join(sub, path, keys[i].name);
			ret = ps_fail(ctx, ps_line(map), sub, "required key is missing");
		}
	}

	/* Each key is checked even when another one failed: every error is reported. */
	for (i = 0; i < n_keys && ret != -ENOMEM; i++) {
		if (!vals[i])
			continue;
		ps_join(sub, path, keys[i].name);
		ctx->key_line = lines[i];
		ret = ps_worse(ret, keys[i].parse(ctx, vals[i], sub, obj));
	}
	return ret;
}

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
	if (!*s)
		return ps_fail(ctx, ps_line(val), path, "empty pool name");
	if (strlen(s) >= PS_POOL_NAME_LEN)
		return ps_fail(ctx, ps_line(val), path,
			       "pool name \"%.40s...\" is %zu characters long; at most %d are allowed",
			       s, strlen(s), PS_POOL_NAME_LEN - 1);
	if (!ps_valid_pool_name(s))
		return ps_fail(ctx, ps_line(val), path,
			       "invalid pool name \"%s\"; use only letters, digits, '_', '.' and '-'",
			       s);
	for (i = 0; i < idx; i++) {
		if (!strcmp(ctx->cfg->pools[i].name, s))
			return ps_fail(ctx, ps_line(val), path,
				       "pool name \"%s\" is already used by pools[%zu] (line %d); pool names must be unique",
				       s, i, ctx->cfg->pools[i].line);
	}
	strcpy(pool->name, s);
	return 0;
}

/*
 * A single unicast address: what pools and hosts are identified by. @whose
 * completes "give the ... address" ("pool's shared", "host's underlay").
 */
static int ps_parse_unicast(struct ps_ctx *ctx, yaml_node_t *val, const char *path,
			    const char *whose, const char *role, int *family, uint8_t addr[16])
{
	char str[PS_ADDR_STR_LEN];
	const char *s;
	int ret;

	ret = ps_scalar(ctx, val, path, "an IPv4 or IPv6 address", &s);
	if (ret)
		return ret;
	if (!ps_parse_addr(s, family, addr))
		return ps_fail(ctx, ps_line(val), path, "\"%.64s\" is not an IPv4 or IPv6 address%s%s%s",
			       s, strchr(s, '/') ? "; give the single " : "",
			       strchr(s, '/') ? (strstr(whose, "shared") ? "shared" : "underlay") : "",
			       strchr(s, '/') ? " address, without a prefix length" : "");

	if (*family == AF_INET) {
		if (ps_is_zero(addr, 4))
			return ps_fail(ctx, ps_line(val), path,
				       "%s is the unspecified address; give the %s address", s, whose);
		if ((addr[0] & 0xf0) == 0xe0)
			return ps_fail(ctx, ps_line(val), path,
				       "%s is a multicast address; %s must be unicast", s, role);
		if (!memcmp(addr, "\xff\xff\xff\xff", 4))
			return ps_fail(ctx, ps_line(val), path,
				       "%s is the broadcast address; %s must be unicast", s, role);
	} else {
		if (ps_is_zero(addr, 16))
			return ps_fail(ctx, ps_line(val), path,
				       "%s is the unspecified address; give the %s address", s, whose);
		if (addr[0] == 0xff)
			return ps_fail(ctx, ps_line(val), path,
				       "%s is a multicast address; %s must be unicast", s, role);
		if (ps_is_v4_mapped(addr)) {
			uint8_t v4[16] = { 0 };

			memcpy(v4, addr + 12, 4);
			ps_format_addr(AF_INET, v4, str, sizeof(str));
			return ps_fail(ctx, ps_line(val), path,
				       "%s is an IPv4-mapped IPv6 address; write the IPv4 form %s",
				       s, str);
		}
	}
	return 0;
}

static int ps_parse_pool_address(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	struct ps_pool_cfg *pool = obj;
	size_t i, idx = ps_pool_index(ctx, pool);
	char str[PS_ADDR_STR_LEN];
	int ret;

	ret = ps_parse_unicast(ctx, val, path, "pool's shared", "a pool address", &pool->family,
			       pool->addr);
	if (ret)
		return ret;
	for (i = 0; i < idx; i++) {
		const struct ps_pool_cfg *o = &ctx->cfg->pools[i];

		if (o->family == pool->family &&
		    !memcmp(o->addr, pool->addr, (size_t)ps_addr_len(pool->family))) {
			ps_format_addr(pool->family, pool->addr, str, sizeof(str));
			return ps_fail(ctx, ps_line(val), path,
				       "%s is already the address of pool \"%s\" (pools[%zu], line %d); each pool needs its own address",
				       str, o->name, i, o->line);
		}
	}
	return 0;
}

static int ps_parse_pool_dsts(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	const char *fam_name, *other_name;
	struct ps_pool_cfg *pool = obj;
	char sub[PS_PATH_LEN];
	size_t i, j, n;
	int ret;

	fam_name = pool->family == AF_INET ? "IPv4" : "IPv6";
	other_name = pool->family == AF_INET ? "IPv6" : "IPv4";

	if (ps_is_null(val) || (val->type == YAML_SEQUENCE_NODE && !ps_seq_len(val)))
		return ps_fail(ctx, ps_line(val), path,
			       "empty; list destination prefixes, or drop the key to reach all %s destinations",
			       fam_name);
	if (val->type != YAML_SEQUENCE_NODE)
		return ps_fail(ctx, ps_line(val), path,
			       "expected a list of prefixes such as [10.0.0.0/8], got %s", ps_kind(val));
	ctx->dsts_line = ps_line(val);
	n = ps_seq_len(val);
	if (n > PS_MAX_POOL_DSTS)
		return ps_fail(ctx, ps_line(ps_node(ctx, val->data.sequence.items.start[PS_MAX_POOL_DSTS])),
			       path, "%zu destinations; at most %d per pool are allowed",
			       n, PS_MAX_POOL_DSTS);

	pool->dsts = calloc(n, sizeof(*pool->dsts));
	if (!pool->dsts)
		return ps_oom(ctx);

	for (i = 0; i < n; i++) {
		yaml_node_t *item = ps_node(ctx, val->data.sequence.items.start[i]);
		struct ps_prefix *p = &pool->dsts[i], masked;
		char str[PS_PREFIX_STR_LEN];
		const char *s;

		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		ret = ps_scalar(ctx, item, sub, "a destination prefix such as 10.0.0.0/8", &s);
		if (ret)
			return ret;
		switch (ps_prefix_parse(s, p)) {
		case PS_PREFIX_OK:
			break;
		case PS_PREFIX_BAD_ADDR:
			return ps_fail(ctx, ps_line(item), sub,
				       "\"%.64s\" is not an address prefix; write ADDR/LEN such as 10.0.0.0/8 or 2001:db8::/32",
				       s);
		case PS_PREFIX_BAD_LEN:
			return ps_fail(ctx, ps_line(item), sub,
				       "\"%.64s\": the prefix length must be a decimal number without leading zeros",
				       s);
		case PS_PREFIX_LEN_RANGE:
			return ps_fail(ctx, ps_line(item), sub,
				       "\"%.64s\": prefix length out of range; %s prefixes are /0 to /%d",
				       s, p->family == AF_INET ? "IPv4" : "IPv6",
				       ps_max_prefix_len(p->family));
		}
		/* family 0: the address had an error of its own, reported already. */
		if (pool->family && p->family != pool->family)
			return ps_fail(ctx, ps_line(item), sub,
				       "\"%s\" is an %s prefix but the pool address is %s (wrong family); list %s destinations in an %s pool",
				       s, other_name, fam_name, other_name, other_name);
		if (p->family == AF_INET6 && p->len >= 96 && ps_is_v4_mapped(p->addr))
			return ps_fail(ctx, ps_line(item), sub,
				       "\"%s\" is an IPv4-mapped prefix; list IPv4 destinations in an IPv4 pool",
				       s);
		if (ps_prefix_host_bits(p, &masked)) {
			ps_format_prefix(&masked, str, sizeof(str));
			return ps_fail(ctx, ps_line(item), sub,
				       "\"%s\" has host bits set beyond /%u; did you mean %s?",
				       s, p->len, str);
		}
		for (j = 0; j < i; j++) {
			if (pool->dsts[j].len == p->len && !memcmp(pool->dsts[j].addr, p->addr, 16))
				return ps_fail(ctx, ps_line(item), sub,
					       "\"%s\" is listed twice (first at line %d); keep one",
					       s, ps_line(ps_node(ctx, val->data.sequence.items.start[j])));
		}
		pool->n_dsts = i + 1;
	}
	return 0;
}

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

static int ps_cmp_slice_lo(const void *a, const void *b)
{
	const struct ps_slice_cfg *x = *(const struct ps_slice_cfg * const *)a;
	const struct ps_slice_cfg *y = *(const struct ps_slice_cfg * const *)b;

	if (x->range.lo != y->range.lo)
		return x->range.lo < y->range.lo ? -1 : 1;
	return x < y ? -1 : x > y;
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
	struct ps_slice_cfg **v, *max;
	size_t i, n = pool->n_slices;
	char sub[PS_PATH_LEN];
	int ret = 0;

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
	if (second) {
		ps_join(sub, path, second->host);
		ret = ps_fail(ctx, second->line, sub,
			      "host \"%s\" is listed twice in this pool (first at line %d); give each host one slice per pool",
			      second->host, first->line);
		goto out;
	}

	qsort(v, n, sizeof(*v), ps_cmp_slice_lo);
	max = v[0];
	for (i = 1; i < n; i++) {
		struct ps_slice_cfg *a = max, *b = v[i];

		if (ps_ranges_overlap(a->range, b->range)) {
			if (a > b) {
				a = v[i];
				b = max;
			}
			if (!second || b < second || (b == second && a < first)) {
				first = a;
				second = b;
			}
		}
		if (v[i]->range.hi > max->range.hi)
			max = v[i];
	}
	if (second) {
		char r1[12], r2[12];

		ps_join(sub, path, second->host);
		ret = ps_fail(ctx, second->line, sub,
			      "%s overlaps %s of host \"%s\" (line %d); slices of one pool must not overlap",
			      ps_range_str(second->range, r1), ps_range_str(first->range, r2),
			      first->host, first->line);
	}
out:
	free(v);
	return ret;
}

/* A host name used as a mapping key (slices, hosts). */
static int ps_host_key(struct ps_ctx *ctx, const yaml_node_t *key, const char *path, const char **out)
{
	const char *host;

	if (key->type != YAML_SCALAR_NODE)
		return ps_fail(ctx, ps_line(key), path, "expected a host name as key, got %s",
			       ps_kind(key));
	host = (const char *)key->data.scalar.value;
	if (strlen(host) != key->data.scalar.length)
		return ps_fail(ctx, ps_line(key), path, "host name contains a NUL character");
	if (!*host || ps_is_null(key))
		return ps_fail(ctx, ps_line(key), path, "empty host name");
	if (strlen(host) >= PS_HOST_NAME_LEN)
		return ps_fail(ctx, ps_line(key), path,
			       "host name \"%.40s...\" is %zu characters long; at most %d are allowed",
			       host, strlen(host), PS_HOST_NAME_LEN - 1);
	if (!ps_valid_host_name(host))
		return ps_fail(ctx, ps_line(key), path,
			       "invalid host name \"%s\"; use only letters, digits, '_', '.' and '-'",
			       host);
	*out = host;
	return 0;
}

static int ps_parse_pool_slices(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	struct ps_pool_cfg *pool = obj;
	yaml_node_pair_t *pair;
	char sub[PS_PATH_LEN];
	size_t n;
	int ret;

	if (ps_is_null(val) || (val->type == YAML_MAPPING_NODE && !ps_map_len(val)))
		return ps_fail(ctx, ps_line(val), path,
			       "empty; give at least one host a port range, e.g. \"host-a: 20000-20999\"");
	if (val->type != YAML_MAPPING_NODE)
		return ps_fail(ctx, ps_line(val), path,
			       "expected a mapping of host names to port ranges (host-a: 20000-20999), got %s",
			       ps_kind(val));
	n = ps_map_len(val);
	pool->slices = calloc(n, sizeof(*pool->slices));
	if (!pool->slices)
		return ps_oom(ctx);

	for (pair = val->data.mapping.pairs.start; pair < val->data.mapping.pairs.top; pair++) {
		struct ps_slice_cfg *slice = &pool->slices[pool->n_slices];
		yaml_node_t *key = ps_node(ctx, pair->key);
		yaml_node_t *rv = ps_node(ctx, pair->value);
		const char *host, *s;

		ret = ps_host_key(ctx, key, path, &host);
		if (ret)
			return ret;
		ps_join(sub, path, host);

		ret = ps_scalar(ctx, rv, sub, "a port range such as 20000-20999", &s);
		if (ret)
			return ret;
		switch (ps_range_parse(s, &slice->range)) {
		case PS_RANGE_OK:
			break;
		case PS_RANGE_SYNTAX:
			return ps_fail(ctx, ps_line(rv), sub,
				       "\"%.40s\" is not a port range; write LO-HI (e.g. 20000-20999) or a single port, decimal, without blanks or signs",
				       s);
		case PS_RANGE_LEADING_ZERO:
			return ps_fail(ctx, ps_line(rv), sub,
				       "\"%s\": write ports without leading zeros", s);
		case PS_RANGE_ZERO:
			return ps_fail(ctx, ps_line(rv), sub,
				       "\"%s\": port 0 is not a usable port; ports are 1-65535", s);
		case PS_RANGE_TOO_BIG:
			return ps_fail(ctx, ps_line(rv), sub,
				       "\"%.40s\": port out of range; ports are 1-65535", s);
		case PS_RANGE_REVERSED: {
			const char *dash = strchr(s, '-');

			return ps_fail(ctx, ps_line(rv), sub,
				       "\"%s\" is reversed (LO > HI); write %s-%.*s",
				       s, dash + 1, (int)(dash - s), s);
		}
		}
		slice->host = strdup(host);
		if (!slice->host)
			return ps_oom(ctx);
		slice->line = ps_line(key);
		pool->n_slices++;
	}
	return ps_check_slices(ctx, pool, path);
}

/* reuse_delay: milliseconds, written N, Nms or Ns. */
static int ps_parse_pool_reuse_delay(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	struct ps_pool_cfg *pool = obj;
	unsigned long ms = 0;
	const char *s;
	size_t n;
	int ret;

	ret = ps_scalar(ctx, val, path, "a duration such as 500ms or 2s", &s);
	if (ret)
		return ret;
	for (n = 0; s[n] >= '0' && s[n] <= '9'; n++)
		if (ms <= PS_MAX_REUSE_DELAY_MS)
			ms = ms * 10 + (unsigned long)(s[n] - '0');
	if (n && !strcmp(s + n, "s"))
		ms *= 1000;
	else if (!n || (s[n] && strcmp(s + n, "ms")))
		return ps_fail(ctx, ps_line(val), path,
			       "\"%.40s\" is not a duration; write milliseconds (500 or 500ms) or seconds (2s)", s);
	if (ms > PS_MAX_REUSE_DELAY_MS)
		return ps_fail(ctx, ps_line(val), path,
			       "\"%.40s\" is longer than the %ds allowed; a longer quarantine only keeps ports idle",
			       s, PS_MAX_REUSE_DELAY_MS / 1000);
	pool->reuse_delay_ms = (uint32_t)ms;
	return 0;
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
		return ps_fail(ctx, ps_line(val), path, "\"%.40s\": write true or false", s);
	/* reuse_delay, read next, may say otherwise. */
	pool->reuse_delay_ms = pool->p2p ? PS_P2P_REUSE_DELAY_MS : 0;
	return 0;
}

/* Rows run in this order: destinations needs the address's family; p2p sets reuse_delay's default. */
static const struct ps_key ps_pool_keys[] = {
	{ "name",         true,  ps_parse_pool_name },
	{ "address",      true,  ps_parse_pool_address },
	{ "destinations", false, ps_parse_pool_dsts },
	{ "slices",       true,  ps_parse_pool_slices },
	{ "p2p",          false, ps_parse_pool_p2p },
	{ "reuse_delay",  false, ps_parse_pool_reuse_delay },
};

/* ---- top level ------------------------------------------------------- */

/*
 * The destination maps are sized for PS_MAX_DST_PREFIXES (pool, prefix)
 * entries per family. A host may be in every pool, so the whole file must
 * fit, not only one host's share of it.
 */
static int ps_check_dst_total(struct ps_ctx *ctx, const struct ps_pool_cfg *pool, const char *path)
{
	size_t *total = pool->family == AF_INET ? &ctx->n_dsts4 : &ctx->n_dsts6;
	char sub[PS_PATH_LEN];

	*total += pool->n_dsts;
	if (*total <= PS_MAX_DST_PREFIXES)
		return 0;
	ps_join(sub, path, "destinations");
	return ps_fail(ctx, ctx->dsts_line ? ctx->dsts_line : pool->line, sub,
		       "brings the %s destinations of all pools to %zu; at most %d fit, counting each pool's prefixes separately (a pool without destinations counts 1)",
		       pool->family == AF_INET ? "IPv4" : "IPv6", *total, PS_MAX_DST_PREFIXES);
}

static int ps_parse_pools(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	struct ps_config *cfg = obj;
	char sub[PS_PATH_LEN];
	bool bad = false;
	size_t i, n;
	int ret;

	ctx->pools_failed = true; /* until every pool passed */
	if (ps_is_null(val) || (val->type == YAML_SEQUENCE_NODE && !ps_seq_len(val)))
		return ps_fail(ctx, ps_line(val), path, "empty; define at least one pool");
	if (val->type != YAML_SEQUENCE_NODE)
		return ps_fail(ctx, ps_line(val), path,
			       "expected a list of pools (\"- name: ...\" entries), got %s", ps_kind(val));
	n = ps_seq_len(val);
	if (n > PS_MAX_POOLS)
		return ps_fail(ctx, ps_line(ps_node(ctx, val->data.sequence.items.start[PS_MAX_POOLS])),
			       path, "%zu pools; at most %d are allowed", n, PS_MAX_POOLS);

	cfg->pools = calloc(n, sizeof(*cfg->pools));
	if (!cfg->pools)
		return ps_oom(ctx);

	for (i = 0; i < n; i++) {
		yaml_node_t *item = ps_node(ctx, val->data.sequence.items.start[i]);
		struct ps_pool_cfg *pool = &cfg->pools[i];

		/* Counted before parsing so that a failure frees what is half-built. */
		cfg->n_pools = i + 1;
		pool->line = ps_line(item);
		ctx->dsts_line = 0;
		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		ret = ps_parse_keys(ctx, item, sub, "a pool (a mapping with name, address and slices)",
				    ps_pool_keys, ARRAY_SIZE(ps_pool_keys), pool);
		if (ret == -ENOMEM)
			return ret;
		if (ret) {
			/* The next pool is checked all the same. */
			bad = true;
			continue;
		}
		if (!pool->dsts) {
			pool->dsts = calloc(1, sizeof(*pool->dsts));
			if (!pool->dsts)
				return ps_oom(ctx);
			pool->dsts[0].family = pool->family;
			pool->n_dsts = 1;
		}
		if (ps_check_dst_total(ctx, pool, sub))
			bad = true;
	}
	ctx->pools_failed = bad;
	return bad ? -EINVAL : 0;
}

/* ---- hosts ----------------------------------------------------------- */

static int ps_parse_host_address(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	struct ps_host_cfg *host = obj;
	size_t i, idx = (size_t)(host - ctx->cfg->hosts);
	char str[PS_ADDR_STR_LEN];
	int ret;

	ret = ps_parse_unicast(ctx, val, path, "host's underlay", "a host address", &host->family,
			       host->addr);
	if (ret)
		return ret;
	for (i = 0; i < idx; i++) {
		const struct ps_host_cfg *o = &ctx->cfg->hosts[i];

		if (o->family == host->family &&
		    !memcmp(o->addr, host->addr, (size_t)ps_addr_len(host->family))) {
			ps_format_addr(host->family, host->addr, str, sizeof(str));
			return ps_fail(ctx, ps_line(val), path,
				       "%s is already the address of host \"%s\" (line %d); each host needs its own underlay address",
				       str, o->name, o->line);
		}
	}
	return 0;
}

static const struct ps_key ps_host_keys[] = {
	{ "address", true, ps_parse_host_address },
};

/* With hosts: given, every slice must belong to a listed host: it is steered to it. */
static int ps_check_slice_hosts(struct ps_ctx *ctx)
{
	const struct ps_config *cfg = ctx->cfg;
	char sub[PS_PATH_LEN], pool[48];

	for (size_t i = 0; i < cfg->n_pools; i++) {
		for (size_t j = 0; j < cfg->pools[i].n_slices; j++) {
			const struct ps_slice_cfg *sl = &cfg->pools[i].slices[j];

			if (ps_config_find_host(cfg, sl->host))
				continue;
			snprintf(pool, sizeof(pool), "pools[%zu].slices", i);
			ps_join(sub, pool, sl->host);
			return ps_fail(ctx, sl->line, sub,
				       "host \"%s\" is not listed under hosts (line %d); add it there with its underlay address, e.g. \"%s: {address: 198.18.10.1}\"",
				       sl->host, cfg->hosts_line, sl->host);
		}
	}
	return 0;
}

static int ps_parse_hosts(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	struct ps_config *cfg = obj;
	yaml_node_pair_t *pair;
	char sub[PS_PATH_LEN];
	bool bad = false;
	size_t n;
	int ret;

	ctx->hosts_failed = true; /* until every host passed */
	cfg->hosts_line = ctx->key_line;
	if (ps_is_null(val) || (val->type == YAML_MAPPING_NODE && !ps_map_len(val)))
		return ps_fail(ctx, ps_line(val), path,
			       "empty; list every host of the fleet with its underlay address, e.g. \"host-a: {address: 198.18.10.1}\", or drop the key");
	if (val->type != YAML_MAPPING_NODE)
		return ps_fail(ctx, ps_line(val), path,
			       "expected a mapping of host names to their addresses (host-a: {address: 198.18.10.1}), got %s",
			       ps_kind(val));
	n = ps_map_len(val);
	if (n > PS_MAX_HOSTS - 1)
		return ps_fail(ctx, ps_line(ps_node(ctx, val->data.mapping.pairs.start[PS_MAX_HOSTS - 1].key)),
			       path, "%zu hosts; at most %d are allowed", n, PS_MAX_HOSTS - 1);
	cfg->hosts = calloc(n, sizeof(*cfg->hosts));
	if (!cfg->hosts)
		return ps_oom(ctx);

	for (pair = val->data.mapping.pairs.start; pair < val->data.mapping.pairs.top; pair++) {
		struct ps_host_cfg *host = &cfg->hosts[cfg->n_hosts];
		yaml_node_t *key = ps_node(ctx, pair->key);
		const struct ps_host_cfg *dup;
		const char *name;

		if (ps_host_key(ctx, key, path, &name)) {
			bad = true;
			continue;
		}
		ps_join(sub, path, name);
		dup = ps_config_find_host(cfg, name);
		if (dup) {
			ps_fail(ctx, ps_line(key), sub, "host \"%s\" is listed twice (first at line %d); keep one",
				name, dup->line);
			bad = true;
			continue;
		}
		strcpy(host->name, name);
		host->line = ps_line(key);
		cfg->n_hosts++;
		ret = ps_parse_keys(ctx, ps_node(ctx, pair->value), sub,
				    "a host (a mapping with its address, e.g. {address: 198.18.10.1})",
				    ps_host_keys, ARRAY_SIZE(ps_host_keys), host);
		if (ret == -ENOMEM)
			return ret;
		bad |= ret != 0;
	}
	ctx->hosts_failed = bad;
	/* Slices are checked against a complete list only: a bad entry would make them all look unlisted. */
	if (bad || ctx->pools_failed)
		return bad ? -EINVAL : 0;
	return ps_check_slice_hosts(ctx);
}

/* ---- steering -------------------------------------------------------- */

bool ps_valid_ifname(const char *s)
{
	size_t n;

	if (!s || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (n = 0; s[n]; n++)
		if (s[n] == '/' || s[n] == ':' || s[n] == ' ' || s[n] == '\t' || s[n] == '\n' ||
		    s[n] == '\r' || s[n] == '\v' || s[n] == '\f')
			return false;
	return n >= 1 && n < PS_IFNAME_LEN;
}

const char *ps_steer_mode_name(enum ps_steer_mode mode)
{
	return mode == PS_STEER_ENCAP ? "encap" : "l2";
}

static int ps_parse_steering_mode(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	struct ps_steering_cfg *st = obj;
	const char *s;
	int ret;

	ret = ps_scalar(ctx, val, path, "l2 or encap", &s);
	if (ret)
		return ret;
	if (!strcmp(s, "l2"))
		st->mode = PS_STEER_L2;
	else if (!strcmp(s, "encap"))
		st->mode = PS_STEER_ENCAP;
	else
		return ps_fail(ctx, ps_line(val), path,
			       "\"%.40s\" is not a steering mode; use l2 (hosts share a segment: MAC rewrite) or encap (IP-in-IP to the owner's underlay address)",
			       s);
	return 0;
}

static int ps_parse_steering_ifaces(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	struct ps_steering_cfg *st = obj;
	char sub[PS_PATH_LEN];
	size_t i, j, n;
	int ret;

	if (ps_is_null(val) || (val->type == YAML_SEQUENCE_NODE && !ps_seq_len(val)))
		return ps_fail(ctx, ps_line(val), path,
			       "empty; list the interfaces replies arrive on, e.g. [eth0], or drop the key and pass --dev");
	if (val->type != YAML_SEQUENCE_NODE)
		return ps_fail(ctx, ps_line(val), path,
			       "expected a list of interface names such as [eth0], got %s", ps_kind(val));
	n = ps_seq_len(val);
	if (n > PS_MAX_STEER_IFACES)
		return ps_fail(ctx, ps_line(ps_node(ctx, val->data.sequence.items.start[PS_MAX_STEER_IFACES])),
			       path, "%zu interfaces; at most %d are allowed", n, PS_MAX_STEER_IFACES);
	st->interfaces = calloc(n, sizeof(*st->interfaces));
	if (!st->interfaces)
		return ps_oom(ctx);
	for (i = 0; i < n; i++) {
		yaml_node_t *item = ps_node(ctx, val->data.sequence.items.start[i]);
		const char *s;

		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		ret = ps_scalar(ctx, item, sub, "an interface name such as eth0", &s);
		if (ret)
			return ret;
		if (!ps_valid_ifname(s))
			return ps_fail(ctx, ps_line(item), sub,
				       "\"%.40s\" is not an interface name; names have 1-%d characters, none of them '/', ':' or blank",
				       s, PS_IFNAME_LEN - 1);
		for (j = 0; j < i; j++)
			if (!strcmp(st->interfaces[j], s))
				return ps_fail(ctx, ps_line(item), sub,
					       "\"%s\" is listed twice (first at line %d); keep one", s,
					       ps_line(ps_node(ctx, val->data.sequence.items.start[j])));
		strcpy(st->interfaces[i], s);
		st->n_interfaces = i + 1;
	}
	return 0;
}

static const struct ps_key ps_steering_keys[] = {
	{ "mode",       true,  ps_parse_steering_mode },
	{ "interfaces", false, ps_parse_steering_ifaces },
};

static int ps_parse_steering(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	struct ps_config *cfg = obj;

	cfg->steering.line = ctx->key_line;
	/* hosts runs first (table order): its absence is known here. */
	if (!cfg->n_hosts && !ctx->hosts_failed)
		return ps_fail(ctx, ctx->key_line, path,
			       "needs a hosts: section listing every host with its underlay address (replies are forwarded to their owner's)");
	cfg->steering.present = true;
	return ps_parse_keys(ctx, val, path, "a mapping with mode (l2 or encap) and optionally interfaces",
			     ps_steering_keys, ARRAY_SIZE(ps_steering_keys), &cfg->steering);
}

/* ---- cgroups --------------------------------------------------------- */

/* Length of @s without trailing slashes (but "/" stays 1). */
static size_t ps_path_len(const char *s)
{
	size_t n = strlen(s);

	while (n > 1 && s[n - 1] == '/')
		n--;
	return n;
}

static int ps_parse_cgroup_path(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	struct ps_cgroup_cfg *cg = obj;
	size_t i, n, idx = (size_t)(cg - ctx->cfg->cgroups);
	const char *s;
	int ret;

	ret = ps_scalar(ctx, val, path, "a cgroup directory such as /sys/fs/cgroup/app.slice", &s);
	if (ret)
		return ret;
	if (s[0] != '/')
		return ps_fail(ctx, ps_line(val), path,
			       "\"%.64s\" is not an absolute path; give the cgroup v2 directory, e.g. /sys/fs/cgroup/app.slice",
			       s);
	if (strlen(s) >= PATH_MAX)
		return ps_fail(ctx, ps_line(val), path, "longer than %d characters", PATH_MAX - 1);
	n = ps_path_len(s);
	for (i = 0; i < idx; i++) {
		const struct ps_cgroup_cfg *o = &ctx->cfg->cgroups[i];

		if (ps_path_len(o->path) == n && !strncmp(o->path, s, n))
			return ps_fail(ctx, ps_line(val), path,
				       "%s is already listed as cgroups[%zu] (line %d); keep one", s, i,
				       o->line);
	}
	cg->path = strndup(s, n);
	if (!cg->path)
		return ps_oom(ctx);
	return 0;
}

static int ps_parse_cgroup_pools(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	struct ps_cgroup_cfg *cg = obj;
	const struct ps_config *cfg = ctx->cfg;
	char sub[PS_PATH_LEN];
	size_t i, j, n;
	int ret;

	if (ps_is_null(val) || (val->type == YAML_SEQUENCE_NODE && !ps_seq_len(val)))
		return ps_fail(ctx, ps_line(val), path,
			       "empty; name pools, or drop the key to use every pool with a slice for the host");
	if (val->type != YAML_SEQUENCE_NODE)
		return ps_fail(ctx, ps_line(val), path,
			       "expected a list of pool names such as [web], got %s", ps_kind(val));
	n = ps_seq_len(val);
	if (n > PS_MAX_POOLS)
		return ps_fail(ctx, ps_line(ps_node(ctx, val->data.sequence.items.start[PS_MAX_POOLS])),
			       path, "%zu pools; at most %d are allowed", n, PS_MAX_POOLS);
	cg->pools = calloc(n, sizeof(*cg->pools));
	if (!cg->pools)
		return ps_oom(ctx);
	for (i = 0; i < n; i++) {
		yaml_node_t *item = ps_node(ctx, val->data.sequence.items.start[i]);
		const char *s;

		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		ret = ps_scalar(ctx, item, sub, "a pool name", &s);
		if (ret)
			return ret;
		/* Pools with errors of their own are not a list to check names against. */
		if (!ctx->pools_failed && cfg->n_pools && !ps_config_find_pool(cfg, s)) {
			char names[256] = "";
			size_t off = 0;

			for (j = 0; j < cfg->n_pools && off < sizeof(names); j++)
				off += (size_t)snprintf(names + off, sizeof(names) - off, "%s%s",
							j ? ", " : "", cfg->pools[j].name);
			return ps_fail(ctx, ps_line(item), sub,
				       "no pool is named \"%.40s\"; the pools are: %s", s, names);
		}
		for (j = 0; j < i; j++)
			if (!strcmp(cg->pools[j], s))
				return ps_fail(ctx, ps_line(item), sub,
					       "\"%s\" is listed twice (first at line %d); keep one", s,
					       ps_line(ps_node(ctx, val->data.sequence.items.start[j])));
		strcpy(cg->pools[i], s);
		cg->n_pools = i + 1;
	}
	return 0;
}

static const struct ps_key ps_cgroup_keys[] = {
	{ "path",  true,  ps_parse_cgroup_path },
	{ "pools", false, ps_parse_cgroup_pools },
};

static int ps_parse_cgroups(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	struct ps_config *cfg = obj;
	char sub[PS_PATH_LEN];
	bool bad = false;
	size_t i, n;
	int ret;

	if (ps_is_null(val) || (val->type == YAML_SEQUENCE_NODE && !ps_seq_len(val)))
		return ps_fail(ctx, ps_line(val), path,
			       "empty; list cgroups (\"- path: /sys/fs/cgroup/app.slice\"), or drop the key");
	if (val->type != YAML_SEQUENCE_NODE)
		return ps_fail(ctx, ps_line(val), path,
			       "expected a list of cgroups (\"- path: ...\" entries), got %s", ps_kind(val));
	n = ps_seq_len(val);
	if (n > PS_MAX_ATTACHMENTS)
		return ps_fail(ctx, ps_line(ps_node(ctx, val->data.sequence.items.start[PS_MAX_ATTACHMENTS])),
			       path, "%zu cgroups; at most %d are allowed", n, PS_MAX_ATTACHMENTS);
	cfg->cgroups = calloc(n, sizeof(*cfg->cgroups));
	if (!cfg->cgroups)
		return ps_oom(ctx);
	for (i = 0; i < n; i++) {
		yaml_node_t *item = ps_node(ctx, val->data.sequence.items.start[i]);
		struct ps_cgroup_cfg *cg = &cfg->cgroups[i];

		cfg->n_cgroups = i + 1;
		cg->line = ps_line(item);
		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		ret = ps_parse_keys(ctx, item, sub, "a cgroup (a mapping with path and, optionally, pools)",
				    ps_cgroup_keys, ARRAY_SIZE(ps_cgroup_keys), cg);
		if (ret == -ENOMEM)
			return ret;
		bad |= ret != 0;
	}
	return bad ? -EINVAL : 0;
}

/* Rows run in this order: hosts checks the pools' slices, steering needs hosts, cgroups names pools. */
static const struct ps_key ps_top_keys[] = {
	{ "pools",    true,  ps_parse_pools },
	{ "hosts",    false, ps_parse_hosts },
	{ "steering", false, ps_parse_steering },
	{ "cgroups",  false, ps_parse_cgroups },
};

_Static_assert(ARRAY_SIZE(ps_pool_keys) <= PS_MAX_KEYS, "raise PS_MAX_KEYS");
_Static_assert(ARRAY_SIZE(ps_top_keys) <= PS_MAX_KEYS, "raise PS_MAX_KEYS");
_Static_assert(ARRAY_SIZE(ps_steering_keys) <= PS_MAX_KEYS, "raise PS_MAX_KEYS");
_Static_assert(ARRAY_SIZE(ps_cgroup_keys) <= PS_MAX_KEYS, "raise PS_MAX_KEYS");

static int ps_parse_root(struct ps_ctx *ctx)
{
	yaml_node_t *root = yaml_document_get_root_node(ctx->doc);

	if (!root || ps_is_null(root))
		return ps_fail(ctx, root ? ps_line(root) : 1, "top level",
			       "the configuration is empty; expected a mapping with a \"pools\" list");
	return ps_parse_keys(ctx, root, "", "a mapping with a \"pools\" list", ps_top_keys,
			     ARRAY_SIZE(ps_top_keys), ctx->cfg);
}

/* libyaml's wording does not point at the two mistakes people make most. */
static const char *ps_syntax_hint(const struct ps_ctx *ctx, const yaml_parser_t *p)
{
	size_t i, start = p->problem_mark.index, end;

	if (start < ctx->len && ctx->buf[start] == '\t')
		return "; indent with spaces, YAML does not allow tabs";
	/*
	 * A plain value cannot start with ':' (::1, ::/0): libyaml then reports
	 * one of these two on that line.
	 */
	if (!p->problem || (strcmp(p->problem, "mapping values are not allowed in this context") &&
			    strcmp(p->problem, "did not find expected node content")))
		return "";
	while (start > 0 && start <= ctx->len && ctx->buf[start - 1] != '\n')
		start--;
	for (end = start; end < ctx->len && ctx->buf[end] != '\n'; end++)
		;
	for (i = start; i + 2 < end; i++) {
		if ((ctx->buf[i] == ' ' || ctx->buf[i] == '[' || ctx->buf[i] == ',') &&
		    ctx->buf[i + 1] == ':' && ctx->buf[i + 2] == ':')
			return "; quote IPv6 values that start with ':', e.g. '::/0'";
	}
	return "";
}

static int ps_yaml_error(struct ps_ctx *ctx, const yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "malformed YAML";
	const char *hint;
	size_t i, end;
	int line = 1;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		return ps_oom(ctx);
	case YAML_READER_ERROR:
		/* libyaml gives reader errors as a byte offset only. */
		end = p->problem_offset < ctx->len ? p->problem_offset : ctx->len;
		for (i = 0; i < end; i++)
			line += ctx->buf[i] == '\n';
		if (p->problem_value != -1)
			return ps_fail(ctx, line, "syntax error", "%s (byte 0x%02x at offset %zu)",
				       problem, (unsigned int)p->problem_value & 0xff,
				       p->problem_offset);
		return ps_fail(ctx, line, "syntax error", "%s", problem);
	default:
		line = (int)p->problem_mark.line + 1;
		hint = ps_syntax_hint(ctx, p);
		if (p->context)
			return ps_fail(ctx, line, "syntax error", "%s (%s at line %d)%s",
				       problem, p->context, (int)p->context_mark.line + 1, hint);
		return ps_fail(ctx, line, "syntax error", "%s%s", problem, hint);
	}
}

/* libyaml loads one document per call; a second one would be ignored. */
static int ps_check_single_doc(struct ps_ctx *ctx, yaml_parser_t *parser)
{
	yaml_document_t next;
	yaml_node_t *root;
	int ret = 0;

	if (!yaml_parser_load(parser, &next))
		return ps_yaml_error(ctx, parser);
	root = yaml_document_get_root_node(&next);
	if (root)
		ret = ps_fail(ctx, (int)next.start_mark.line + 1, "top level",
			      "a second YAML document starts here; keep the whole configuration in one document");
	yaml_document_delete(&next);
	return ret;
}

void ps_config_free(struct ps_config *cfg)
{
	size_t i, j;

	if (!cfg)
		return;
	for (i = 0; i < cfg->n_pools; i++) {
		struct ps_pool_cfg *pool = &cfg->pools[i];

		for (j = 0; j < pool->n_slices; j++)
			free(pool->slices[j].host);
		free(pool->slices);
		free(pool->dsts);
	}
	free(cfg->pools);
	for (i = 0; i < cfg->n_cgroups; i++) {
		free(cfg->cgroups[i].path);
		free(cfg->cgroups[i].pools);
	}
	free(cfg->cgroups);
	free(cfg->hosts);
	free(cfg->steering.interfaces);
	free(cfg->path);
	memset(cfg, 0, sizeof(*cfg));
}

int ps_config_load_buf(const char *name, const char *buf, size_t len, struct ps_config *cfg,
		       struct ps_error *err)
{
	struct ps_config tmp = { 0 };
	struct ps_error dummy;
	yaml_parser_t parser;
	yaml_document_t doc;
	struct ps_ctx ctx;
	int ret;

	if (!name)
		name = "<config>";
	if (!err)
		err = &dummy;
	ps_error_init(err, name);
	memset(cfg, 0, sizeof(*cfg));
	if (!buf)
		buf = "";
	ctx = (struct ps_ctx){
		.file = name, .buf = buf, .len = len, .doc = &doc, .cfg = &tmp, .err = err,
	};

	tmp.path = strdup(name);
	if (!tmp.path)
		return ps_oom(&ctx);
	if (!yaml_parser_initialize(&parser)) {
		free(tmp.path);
		return ps_oom(&ctx);
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		ret = ps_yaml_error(&ctx, &parser);
		goto out;
	}
	ret = ps_parse_root(&ctx);
	if (!ret)
		ret = ps_check_single_doc(&ctx, &parser);
	yaml_document_delete(&doc);
out:
	yaml_parser_delete(&parser);
	if (ret) {
		ps_config_free(&tmp);
		return ret;
	}
	*cfg = tmp;
	return 0;
}

int ps_config_load_file(const char *path, struct ps_config *cfg, struct ps_error *err)
{
	struct ps_error dummy;
	size_t len = 0, cap;
	char *buf = NULL, *nbuf;
	struct stat st;
	int fd, ret;
	ssize_t n;

	if (!err)
		err = &dummy;
	ps_error_init(err, path);
	memset(cfg, 0, sizeof(*cfg));

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		ps_error_file(err, "cannot open: %s", strerror(-ret));
		return ret;
	}
	cap = 4096;
	if (!fstat(fd, &st) && S_ISREG(st.st_mode) && st.st_size > 0) {
		if ((uint64_t)st.st_size > PS_CONFIG_MAX_SIZE)
			goto too_big;
		/* One byte more than the size, so EOF is seen without a realloc. */
		cap = (size_t)st.st_size + 1;
	}
	buf = malloc(cap);
	if (!buf)
		goto oom;

	for (;;) {
		if (len == cap) {
			if (len >= PS_CONFIG_MAX_SIZE)
				goto too_big;
			cap *= 2;
			nbuf = realloc(buf, cap);
			if (!nbuf)
				goto oom;
			buf = nbuf;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			ps_error_file(err, "cannot read: %s", strerror(-ret));
			goto out;
		}
		if (!n)
			break;
		len += (size_t)n;
	}
	ret = ps_config_load_buf(path, buf, len, cfg, err);
	goto out;
too_big:
	ret = -EFBIG;
	ps_error_file(err, "larger than %u MiB; not a portslice configuration", PS_CONFIG_MAX_SIZE >> 20);
	goto out;
oom:
	ret = -ENOMEM;
	ps_error_file(err, "out of memory");
out:
	free(buf);
	close(fd);
	return ret;
}

const struct ps_pool_cfg *ps_config_find_pool(const struct ps_config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->n_pools; i++)
		if (!strcmp(cfg->pools[i].name, name))
			return &cfg->pools[i];
	return NULL;
}

const struct ps_slice_cfg *ps_pool_find_slice(const struct ps_pool_cfg *pool, const char *host)
{
	size_t i;

	for (i = 0; i < pool->n_slices; i++)
		if (!strcmp(pool->slices[i].host, host))
			return &pool->slices[i];
	return NULL;
}

const struct ps_host_cfg *ps_config_find_host(const struct ps_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_hosts; i++)
		if (!strcmp(cfg->hosts[i].name, name))
			return &cfg->hosts[i];
	return NULL;
}

unsigned int ps_config_host_id(const struct ps_config *cfg, const char *name)
{
	const struct ps_host_cfg *h = ps_config_find_host(cfg, name);

	return h ? (unsigned int)(h - cfg->hosts) + 1 : PS_STEER_NO_HOST;
}

const struct ps_host_cfg *ps_config_host_by_id(const struct ps_config *cfg, unsigned int id)
{
	return id >= 1 && id <= cfg->n_hosts ? &cfg->hosts[id - 1] : NULL;
}

int ps_config_warn_local_range(const struct ps_config *cfg, const char *host,
			       struct ps_port_range local,
			       void (*warn)(const char *msg, void *arg), void *arg)
{
	char msg[512], addr[PS_ADDR_STR_LEN];
	int count = 0;
	size_t i;

	for (i = 0; i < cfg->n_pools; i++) {
		const struct ps_pool_cfg *pool = &cfg->pools[i];
		const struct ps_slice_cfg *s = ps_pool_find_slice(pool, host);
		unsigned int lo, hi;

		if (!s || !ps_ranges_overlap(s->range, local))
			continue;
		count++;
		if (!warn)
			continue;
		lo = s->range.lo > local.lo ? s->range.lo : local.lo;
		hi = s->range.hi < local.hi ? s->range.hi : local.hi;
		ps_format_addr(pool->family, pool->addr, addr, sizeof(addr));
		snprintf(msg, sizeof(msg),
			 "pool %s (%s): ports %u-%u of the slice %u-%u of host %s are inside the local port range %u-%u (net.ipv4.ip_local_port_range); the kernel may hand them to other sockets and portslice then has to skip them; move the slice or shrink the local port range",
			 pool->name, addr, lo, hi, s->range.lo, s->range.hi, host,
			 local.lo, local.hi);
		warn(msg, arg);
	}
	return count;
}
