// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The config loader's walk over libyaml's node tree (config_yaml.h):
 * error recording, node helpers, the key-table dispatcher and the value
 * checks several sections share.
 *
 * Every problem is reported as "FILE:LINE: FIELD: problem[; remedy]". A
 * mapping's keys, the items of a list and the top-level sections are
 * checked independently, so one load finds every error (struct ps_error).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config_yaml.h"

/* ---- errors ---------------------------------------------------------- */

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

void ps_error_init(struct ps_error *e, const char *file)
{
	ps_error_clear(e);
	snprintf(e->file, sizeof(e->file), "%s", file);
}

int ps_error_done(struct ps_error *e, int ret)
{
	if (!ret)
		return 0;
	e->code = -ret;
	if (e->n) {
		e->line = e->items[0].line;
		snprintf(e->field, sizeof(e->field), "%s", e->items[0].field);
	}
	return ret;
}

__attribute__((format(printf, 2, 3)))
void ps_error_file(struct ps_error *e, const char *fmt, ...)
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
int ps_invalid(struct ps_ctx *ctx, int line, const char *field, const char *fmt, ...)
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

int ps_oom(struct ps_ctx *ctx)
{
	ps_error_file(ctx->err, "out of memory");
	return -ENOMEM;
}

int ps_worse(int have, int ret)
{
	return have == -ENOMEM || !ret ? have : ret;
}

/* ---- YAML node helpers ----------------------------------------------- */

int ps_line(const yaml_node_t *n)
{
	return (int)n->start_mark.line + 1;
}

yaml_node_t *ps_node(struct ps_ctx *ctx, int index)
{
	return yaml_document_get_node(ctx->doc, index);
}

bool ps_is_null(const yaml_node_t *n)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	v = (const char *)n->data.scalar.value;
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

const char *ps_kind(const yaml_node_t *n)
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

int ps_scalar(struct ps_ctx *ctx, const yaml_node_t *n, const char *path,
	      const char *what, const char **out)
{
	if (n->type != YAML_SCALAR_NODE)
		return ps_invalid(ctx, ps_line(n), path, "expected %s, got %s", what, ps_kind(n));
	if (ps_is_null(n))
		return ps_invalid(ctx, ps_line(n), path, "value is missing; expected %s", what);
	/* A "\0" escape would make the C string shorter than the value. */
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
		return ps_invalid(ctx, ps_line(n), path, "contains a NUL character");
	*out = (const char *)n->data.scalar.value;
	return 0;
}

size_t ps_seq_len(const yaml_node_t *n)
{
	return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

size_t ps_map_len(const yaml_node_t *n)
{
	return (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
}

/* "parent.key", truncated; by hand as gcc -O3 flags any snprintf for it. */
void ps_join(char *out, const char *parent, const char *key)
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

int ps_item_line(struct ps_ctx *ctx, const yaml_node_t *seq, size_t i)
{
	return ps_line(ps_node(ctx, seq->data.sequence.items.start[i]));
}

int ps_collection(struct ps_ctx *ctx, const yaml_node_t *val, const char *path, yaml_node_type_t type,
		  const char *if_empty, const char *expected, size_t max, const char *items,
		  const char *per, size_t *n)
{
	bool seq = type == YAML_SEQUENCE_NODE;

	if (ps_is_null(val) || (val->type == type && !(seq ? ps_seq_len(val) : ps_map_len(val))))
		return ps_invalid(ctx, ps_line(val), path, "empty; %s", if_empty);
	if (val->type != type)
		return ps_invalid(ctx, ps_line(val), path, "expected %s, got %s", expected, ps_kind(val));
	*n = seq ? ps_seq_len(val) : ps_map_len(val);
	if (max && *n > max)
		return ps_invalid(ctx, seq ? ps_item_line(ctx, val, max) :
				  ps_line(ps_node(ctx, val->data.mapping.pairs.start[max].key)),
				  path, "%zu %s; at most %zu%s are allowed", *n, items, max, per);
	return 0;
}

/* ---- table-driven mappings ------------------------------------------- */

int ps_parse_keys(struct ps_ctx *ctx, yaml_node_t *map, const char *path,
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
		return ps_invalid(ctx, ps_line(map), field, "expected %s, got %s", what, ps_kind(map));

	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *key = ps_node(ctx, pair->key);
		const char *name;

		if (key->type != YAML_SCALAR_NODE) {
			ret = ps_invalid(ctx, ps_line(key), field, "a key must be a name, got %s",
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
			ret = ps_invalid(ctx, ps_line(key), sub, "unknown key; allowed keys%s%s: %s",
				      *path ? " in " : "", *path ? path : " at the top level",
				      allowed);
			continue;
		}
		if (vals[i]) {
			ret = ps_invalid(ctx, ps_line(key), sub,
				      "key given twice (first at line %d); keep one", lines[i]);
			continue;
		}
		vals[i] = ps_node(ctx, pair->value);
		lines[i] = ps_line(key);
	}

	for (i = 0; i < n_keys; i++) {
		if (keys[i].required && !vals[i]) {
			ps_join(sub, path, keys[i].name);
			ret = ps_invalid(ctx, ps_line(map), sub, "required key is missing");
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

void *ps_collection_alloc(struct ps_ctx *ctx, const yaml_node_t *val, const char *path,
			  const struct ps_collection *c, int *ret)
{
	void *array;
	size_t n;

	*ret = ps_collection(ctx, val, path, c->type, c->if_empty, c->expected, c->max, c->items,
			     c->per, &n);
	if (*ret)
		return NULL;
	array = calloc(n, c->size);
	if (!array)
		*ret = ps_oom(ctx);
	return array;
}

int ps_parse_entries(struct ps_ctx *ctx, yaml_node_t *val, const char *path,
		     const struct ps_entries *spec, const struct ps_key *keys, size_t n_keys,
		     void *array, size_t *count)
{
	char sub[PS_PATH_LEN];
	bool bad = false;
	size_t i;
	int ret;

	for (i = 0; i < ps_seq_len(val); i++) {
		yaml_node_t *item = ps_node(ctx, val->data.sequence.items.start[i]);
		char *entry = (char *)array + i * spec->list.size;

		*count = i + 1;
		*(int *)(entry + spec->line) = ps_line(item);
		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		ret = ps_parse_keys(ctx, item, sub, spec->what, keys, n_keys, entry);
		if (!ret && spec->done)
			ret = spec->done(ctx, entry, sub);
		if (ret == -ENOMEM)
			return ret;
		bad |= ret != 0;
	}
	return bad ? -EINVAL : 0;
}

/* ---- values several sections check ----------------------------------- */

static bool ps_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The leading digits of @s into *@v, which stops growing past @cap (no wrap); how many there are. */
static size_t ps_digits(const char *s, unsigned long long cap, unsigned long long *v)
{
	size_t n;

	*v = 0;
	for (n = 0; ps_digit(s[n]); n++)
		if (*v <= cap)
			*v = *v * 10 + (unsigned long long)(s[n] - '0');
	return n;
}

int ps_parse_duration(struct ps_ctx *ctx, yaml_node_t *val, const char *path, uint32_t max_ms,
		      const char *too_long, uint32_t *ms)
{
	unsigned long long v;
	size_t n, k = 0;
	const char *s;
	int ret;

	ret = ps_scalar(ctx, val, path, "a duration such as 500ms or 2s", &s);
	if (ret)
		return ret;
	n = ps_digits(s, max_ms, &v);
	/* Seconds with up to three decimals: milliseconds, exactly. */
	if (n && s[n] == '.') {
		for (k = 1; ps_digit(s[n + k]) && k <= 3; k++)
			v = v * 10 + (unsigned long long)(s[n + k] - '0');
		for (size_t pad = k; pad <= 3; pad++)
			v *= 10;
		if (k == 1 || ps_digit(s[n + k]) || strcmp(s + n + k, "s"))
			return ps_invalid(ctx, ps_line(val), path,
				       "\"%.40s\" is not a duration; write seconds with at most three decimals (2.5s), milliseconds (500 or 500ms) or whole seconds (2s)",
				       s);
	} else if (n && !strcmp(s + n, "s")) {
		v *= 1000;
	} else if (!n || (s[n] && strcmp(s + n, "ms"))) {
		return ps_invalid(ctx, ps_line(val), path,
			       "\"%.40s\" is not a duration; write milliseconds (500 or 500ms) or seconds (2s, 2.5s)", s);
	}
	if (v > max_ms)
		return ps_invalid(ctx, ps_line(val), path, "\"%.40s\" is longer than the %us allowed; %s", s,
			       max_ms / 1000, too_long);
	*ms = (uint32_t)v;
	return 0;
}

int ps_parse_count(struct ps_ctx *ctx, yaml_node_t *val, const char *path, uint32_t min, uint32_t max,
		   const char *range, uint32_t *out)
{
	unsigned long long v;
	const char *s;
	size_t n;
	int ret;

	ret = ps_scalar(ctx, val, path, "a number", &s);
	if (ret)
		return ret;
	n = ps_digits(s, max, &v);
	if (!n || s[n] || (s[0] == '0' && n > 1))
		return ps_invalid(ctx, ps_line(val), path,
			       "\"%.40s\" is not a number; write a decimal number without sign or leading zeros", s);
	if (v < min || v > max)
		return ps_invalid(ctx, ps_line(val), path, "%.40s is out of range: %u to %u (%s)", s, min, max, range);
	*out = (uint32_t)v;
	return 0;
}

int ps_check_name(struct ps_ctx *ctx, int line, const char *path, const char *kind, const char *s,
		  bool empty, size_t max, bool (*valid)(const char *s))
{
	if (empty)
		return ps_invalid(ctx, line, path, "empty %s name", kind);
	if (strlen(s) > max)
		return ps_invalid(ctx, line, path,
			       "%s name \"%.40s...\" is %zu characters long; at most %zu are allowed",
			       kind, s, strlen(s), max);
	if (!valid(s))
		return ps_invalid(ctx, line, path,
			       "invalid %s name \"%s\"; use only letters, digits, '_', '.' and '-'",
			       kind, s);
	return 0;
}

int ps_host_key(struct ps_ctx *ctx, const yaml_node_t *key, const char *path, const char **out)
{
	const char *host;
	int ret;

	if (key->type != YAML_SCALAR_NODE)
		return ps_invalid(ctx, ps_line(key), path, "expected a host name as key, got %s",
			       ps_kind(key));
	host = (const char *)key->data.scalar.value;
	if (strlen(host) != key->data.scalar.length)
		return ps_invalid(ctx, ps_line(key), path, "host name contains a NUL character");
	ret = ps_check_name(ctx, ps_line(key), path, "host", host, !*host || ps_is_null(key),
			    PS_HOST_NAME_LEN - 1, ps_valid_host_name);
	if (ret)
		return ret;
	*out = host;
	return 0;
}

int ps_parse_unicast(struct ps_ctx *ctx, yaml_node_t *val, const char *path,
		     const char *whose, const char *role, int *family, uint8_t addr[16])
{
	char str[PS_ADDR_STR_LEN];
	const char *s;
	int ret;

	ret = ps_scalar(ctx, val, path, "an IPv4 or IPv6 address", &s);
	if (ret)
		return ret;
	if (!ps_parse_addr(s, family, addr))
		return ps_invalid(ctx, ps_line(val), path, "\"%.64s\" is not an IPv4 or IPv6 address%s%s%s",
			       s, strchr(s, '/') ? "; give the single " : "",
			       strchr(s, '/') ? (strstr(whose, "shared") ? "shared" : "underlay") : "",
			       strchr(s, '/') ? " address, without a prefix length" : "");

	if (*family == AF_INET) {
		if (ps_is_zero(addr, 4))
			return ps_invalid(ctx, ps_line(val), path,
				       "%s is the unspecified address; give the %s address", s, whose);
		if ((addr[0] & 0xf0) == 0xe0)
			return ps_invalid(ctx, ps_line(val), path,
				       "%s is a multicast address; %s must be unicast", s, role);
		if (!memcmp(addr, "\xff\xff\xff\xff", 4))
			return ps_invalid(ctx, ps_line(val), path,
				       "%s is the broadcast address; %s must be unicast", s, role);
	} else {
		if (ps_is_zero(addr, 16))
			return ps_invalid(ctx, ps_line(val), path,
				       "%s is the unspecified address; give the %s address", s, whose);
		if (addr[0] == 0xff)
			return ps_invalid(ctx, ps_line(val), path,
				       "%s is a multicast address; %s must be unicast", s, role);
		if (ps_is_v4_mapped(addr)) {
			uint8_t v4[16] = { 0 };

			memcpy(v4, addr + 12, 4);
			ps_format_addr(AF_INET, v4, str, sizeof(str));
			return ps_invalid(ctx, ps_line(val), path,
				       "%s is an IPv4-mapped IPv6 address; write the IPv4 form %s",
				       s, str);
		}
	}
	return 0;
}

int ps_parse_own_addr(struct ps_ctx *ctx, yaml_node_t *val, const char *path,
		      const struct ps_own_addr *own, const void *entries, void *entry)
{
	size_t i, idx = (size_t)((const char *)entry - (const char *)entries) / own->size;
	int *family = (int *)((char *)entry + own->family);
	uint8_t *addr = (uint8_t *)entry + own->addr;
	char str[PS_ADDR_STR_LEN];
	int ret;

	ret = ps_parse_unicast(ctx, val, path, own->whose, own->role, family, addr);
	if (ret)
		return ret;
	for (i = 0; i < idx; i++) {
		const char *o = (const char *)entries + i * own->size;

		if (*(const int *)(o + own->family) == *family &&
		    !memcmp(o + own->addr, addr, (size_t)ps_addr_len(*family))) {
			ps_format_addr(*family, addr, str, sizeof(str));
			return own->taken(ctx, ps_line(val), path, str, i);
		}
	}
	return 0;
}

/* ---- syntax errors --------------------------------------------------- */

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

int ps_yaml_error(struct ps_ctx *ctx, const yaml_parser_t *p)
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
			return ps_invalid(ctx, line, "syntax error", "%s (byte 0x%02x at offset %zu)",
				       problem, (unsigned int)p->problem_value & 0xff,
				       p->problem_offset);
		return ps_invalid(ctx, line, "syntax error", "%s", problem);
	default:
		line = (int)p->problem_mark.line + 1;
		hint = ps_syntax_hint(ctx, p);
		if (p->context)
			return ps_invalid(ctx, line, "syntax error", "%s (%s at line %d)%s",
				       problem, p->context, (int)p->context_mark.line + 1, hint);
		return ps_invalid(ctx, line, "syntax error", "%s%s", problem, hint);
	}
}

int ps_check_single_doc(struct ps_ctx *ctx, yaml_parser_t *parser)
{
	yaml_document_t next;
	yaml_node_t *root;
	int ret = 0;

	if (!yaml_parser_load(parser, &next))
		return ps_yaml_error(ctx, parser);
	root = yaml_document_get_root_node(&next);
	if (root)
		ret = ps_invalid(ctx, (int)next.start_mark.line + 1, "top level",
			      "a second YAML document starts here; keep the whole configuration in one document");
	yaml_document_delete(&next);
	return ret;
}
