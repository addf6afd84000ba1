// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The config's fleet-wide sections (config_fleet.h): hosts: (each host's
 * underlay address; a slice's owner must be listed), steering: (reply
 * steering mode and interfaces) and cgroups: (the agent's cgroups and the
 * pools their sockets use).
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config_fleet.h"
#include "core/config_yaml.h"

/* ---- hosts ----------------------------------------------------------- */

static int ps_host_addr_taken(struct ps_ctx *ctx, int line, const char *path, const char *str, size_t i)
{
	return ps_invalid(ctx, line, path,
		       "%s is already the address of host \"%s\" (line %d); each host needs its own underlay address",
		       str, ctx->cfg->hosts[i].name, ctx->cfg->hosts[i].line);
}

static const struct ps_own_addr ps_host_addr = {
	"host's underlay", "a host address", sizeof(struct ps_host_cfg),
	offsetof(struct ps_host_cfg, family), offsetof(struct ps_host_cfg, addr), ps_host_addr_taken,
};

static int ps_parse_host_address(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	return ps_parse_own_addr(ctx, val, path, &ps_host_addr, ctx->cfg->hosts, obj);
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
			return ps_invalid(ctx, sl->line, sub,
				       "host \"%s\" is not listed under hosts (line %d); add it there with its underlay address, e.g. \"%s: {address: 198.18.10.1}\"",
				       sl->host, cfg->hosts_line, sl->host);
		}
	}
	return 0;
}

static const struct ps_collection ps_host_list = {
	YAML_MAPPING_NODE,
	"list every host of the fleet with its underlay address, e.g. \"host-a: {address: 198.18.10.1}\", or drop the key",
	"a mapping of host names to their addresses (host-a: {address: 198.18.10.1})",
	PS_MAX_HOSTS - 1, "hosts", "", sizeof(struct ps_host_cfg),
};

int ps_parse_hosts(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	struct ps_config *cfg = obj;
	yaml_node_pair_t *pair;
	char sub[PS_PATH_LEN];
	bool bad = false;
	int ret;

	ctx->hosts_failed = true; /* until every host passed */
	cfg->hosts_line = ctx->key_line;
	cfg->hosts = ps_collection_alloc(ctx, val, path, &ps_host_list, &ret);
	if (!cfg->hosts)
		return ret;

	for (pair = val->data.mapping.pairs.start; pair < val->data.mapping.pairs.top; pair++) {
		yaml_node_t *key = ps_node(ctx, pair->key);
		struct ps_host_cfg *host = &cfg->hosts[cfg->n_hosts];
		const struct ps_host_cfg *dup;
		const char *name;

		if (ps_host_key(ctx, key, path, &name)) {
			bad = true;
			continue;
		}
		ps_join(sub, path, name);
		dup = ps_config_find_host(cfg, name);
		if (dup) {
			ps_invalid(ctx, ps_line(key), sub, "host \"%s\" is listed twice (first at line %d); keep one",
				name, dup->line);
			bad = true;
			continue;
		}
		strcpy(host->name, name);
		host->line = ps_line(key);
		cfg->n_hosts++;
		ret = ps_parse_keys(ctx, ps_node(ctx, pair->value), sub,
				    "a host (a mapping with its address, e.g. {address: 198.18.10.1})",
				    PS_KEYS(ps_host_keys), host);
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


/* ---- name lists (steering.interfaces, cgroups[].pools) ----------------- */

/* Checks a name of a ps_parse_names() list: 0, or the error it reported. */
typedef int (*ps_name_fn)(struct ps_ctx *ctx, const yaml_node_t *item, const char *path, const char *s);

/* A list of distinct names (list.size: one stored name, NUL included) and what one item is. */
struct ps_names {
	struct ps_collection list;
	const char *what;       /* one item, for ps_scalar() */
	ps_name_fn check;
};

/*
 * A list of distinct names: a new array of one spec->list.size-byte string per
 * item, *count of them stored, to be freed even when *ret (0 or the error)
 * says an item had an error.
 */
static void *ps_parse_names(struct ps_ctx *ctx, const yaml_node_t *val, const char *path,
			    const struct ps_names *spec, size_t *count, int *ret)
{
	size_t i, j, size = spec->list.size;
	char sub[PS_PATH_LEN], *names;

	names = ps_collection_alloc(ctx, val, path, &spec->list, ret);
	if (!names)
		return NULL;
	for (i = 0; i < ps_seq_len(val); i++) {
		yaml_node_t *item = ps_node(ctx, val->data.sequence.items.start[i]);
		const char *s;

		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		*ret = ps_scalar(ctx, item, sub, spec->what, &s);
		if (!*ret)
			*ret = spec->check(ctx, item, sub, s);
		for (j = 0; j < i && !*ret; j++)
			if (!strcmp(names + j * size, s))
				*ret = ps_invalid(ctx, ps_line(item), sub,
						  "\"%s\" is listed twice (first at line %d); keep one", s,
						  ps_item_line(ctx, val, j));
		if (*ret)
			break;
		snprintf(names + i * size, size, "%s", s);
		*count = i + 1;
	}
	return names;
}

static int ps_check_ifname(struct ps_ctx *ctx, const yaml_node_t *item, const char *path, const char *s)
{
	if (!ps_valid_ifname(s))
		return ps_invalid(ctx, ps_line(item), path,
			       "\"%.40s\" is not an interface name; names have 1-%d characters, none of them '/', ':' or blank",
			       s, PS_IFNAME_LEN - 1);
	return 0;
}

static const struct ps_names ps_ifnames = {
	{ YAML_SEQUENCE_NODE, "list the interfaces replies arrive on, e.g. [eth0], or drop the key and pass --dev",
	  "a list of interface names such as [eth0]", PS_MAX_STEER_IFACES, "interfaces", "", PS_IFNAME_LEN },
	"an interface name such as eth0", ps_check_ifname,
};

/* A pool the file defines; pools with errors of their own are not a list to check names against. */
static int ps_check_pool_ref(struct ps_ctx *ctx, const yaml_node_t *item, const char *path, const char *s)
{
	const struct ps_config *cfg = ctx->cfg;
	char names[256] = "";
	size_t j, off = 0;

	if (ctx->pools_failed || !cfg->n_pools || ps_config_find_pool(cfg, s))
		return 0;
	for (j = 0; j < cfg->n_pools && off < sizeof(names); j++)
		off += (size_t)snprintf(names + off, sizeof(names) - off, "%s%s",
					j ? ", " : "", cfg->pools[j].name);
	return ps_invalid(ctx, ps_line(item), path,
		       "no pool is named \"%.40s\"; the pools are: %s", s, names);
}

static const struct ps_names ps_pool_names = {
	{ YAML_SEQUENCE_NODE, "name pools, or drop the key to use every pool with a slice for the host",
	  "a list of pool names such as [web]", PS_MAX_POOLS, "pools", "", PS_POOL_NAME_LEN },
	"a pool name", ps_check_pool_ref,
};

/* The key handlers: each list's array has its own type, hence one handler per list. */
static int ps_parse_steering_ifaces(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	struct ps_steering_cfg *st = obj;
	int ret;

	st->interfaces = ps_parse_names(ctx, val, path, &ps_ifnames, &st->n_interfaces, &ret);
	return ret;
}

static int ps_parse_cgroup_pools(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	struct ps_cgroup_cfg *cg = obj;
	int ret;

	cg->pools = ps_parse_names(ctx, val, path, &ps_pool_names, &cg->n_pools, &ret);
	return ret;
}

/* ---- steering -------------------------------------------------------- */

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
		return ps_invalid(ctx, ps_line(val), path,
			       "\"%.40s\" is not a steering mode; use l2 (hosts share a segment: MAC rewrite) or encap (IP-in-IP to the owner's underlay address)",
			       s);
	return 0;
}

static const struct ps_key ps_steering_keys[] = {
	{ "mode",       true,  ps_parse_steering_mode },
	{ "interfaces", false, ps_parse_steering_ifaces },
};

int ps_parse_steering(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	struct ps_config *cfg = obj;

	cfg->steering.line = ctx->key_line;
	/* hosts runs first (table order): its absence is known here. */
	if (!cfg->n_hosts && !ctx->hosts_failed)
		return ps_invalid(ctx, ctx->key_line, path,
			       "needs a hosts: section listing every host with its underlay address (replies are forwarded to their owner's)");
	cfg->steering.present = true;
	return ps_parse_keys(ctx, val, path, "a mapping with mode (l2 or encap) and optionally interfaces",
			     PS_KEYS(ps_steering_keys), &cfg->steering);
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
		return ps_invalid(ctx, ps_line(val), path,
			       "\"%.64s\" is not an absolute path; give the cgroup v2 directory, e.g. /sys/fs/cgroup/app.slice",
			       s);
	if (strlen(s) >= PATH_MAX)
		return ps_invalid(ctx, ps_line(val), path, "longer than %d characters", PATH_MAX - 1);
	n = ps_path_len(s);
	for (i = 0; i < idx; i++) {
		const struct ps_cgroup_cfg *o = &ctx->cfg->cgroups[i];

		if (ps_path_len(o->path) == n && !strncmp(o->path, s, n))
			return ps_invalid(ctx, ps_line(val), path,
				       "%s is already listed as cgroups[%zu] (line %d); keep one", s, i,
				       o->line);
	}
	cg->path = strndup(s, n);
	return cg->path ? 0 : ps_oom(ctx);
}

static const struct ps_key ps_cgroup_keys[] = {
	{ "path",  true,  ps_parse_cgroup_path },
	{ "pools", false, ps_parse_cgroup_pools },
};

static const struct ps_entries ps_cgroup_list = {
	.list = {
		YAML_SEQUENCE_NODE, "list cgroups (\"- path: /sys/fs/cgroup/app.slice\"), or drop the key",
		"a list of cgroups (\"- path: ...\" entries)", PS_MAX_ATTACHMENTS, "cgroups", "",
		sizeof(struct ps_cgroup_cfg),
	},
	.what = "a cgroup (a mapping with path and, optionally, pools)",
	.line = offsetof(struct ps_cgroup_cfg, line),
};

int ps_parse_cgroups(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj)
{
	struct ps_config *cfg = obj;
	int ret;

	cfg->cgroups = ps_collection_alloc(ctx, val, path, &ps_cgroup_list.list, &ret);
	if (!cfg->cgroups)
		return ret;
	return ps_parse_entries(ctx, val, path, &ps_cgroup_list, PS_KEYS(ps_cgroup_keys), cfg->cgroups,
				&cfg->n_cgroups);
}
