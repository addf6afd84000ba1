// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * portslice leases: the fleet's table of dynamic blocks as etcd has it,
 * read with the config's etcd: settings. Needs neither root nor BPF and
 * changes nothing; any host (or a laptop with the certificates) can run it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>

#include "core/cli.h"
#include "core/config.h"
#include "core/fleet.h"
#include "core/log.h"
#include "fleet/etcd.h"
#include "fleet/from_config.h"
#include "fleet/lease.h"
#include "leases.h"

static const char leases_details[] =
	"Reads etcd (the config's etcd: section) and prints, for each dynamic pool, every block\n"
	"that is not free: its ports, the host that holds it, its state (held, draining, orphan:\n"
	"the holder's lease expired and nobody put it in quarantine yet, quarantine: waiting out\n"
	"TIME_WAIT and reuse_delay before it is free again) and the lease. Free blocks are\n"
	"counted, not listed. Needs neither root nor BPF and changes nothing.";

struct leases_opts {
	struct ps_fleet_opts fleet;
	const char *pool;
};

static const struct ps_opt leases_opts[] = {
	PS_FLEET_OPT_CONFIG("the fleet config: its etcd: section and dynamic pools"),
	{ "pool", 'P', "NAME", "only this dynamic pool" },
	{ NULL },
};

static int on_leases_opt(int key, const char *arg, void *ctx, struct ps_error *error)
{
	struct leases_opts *o = ctx;

	if (ps_fleet_opt(&o->fleet, key, arg))
		return 0;
	if (key == 'P')
		o->pool = arg;
	return 0;
}

static const struct ps_pool_cfg *find_dynamic(const struct ps_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_pools; i++)
		if (cfg->pools[i].dynamic && !strcmp(cfg->pools[i].name, name))
			return &cfg->pools[i];
	return NULL;
}

/*
 * Adds each block's ports ("first", "last") from the config, and per pool
 * the count of blocks and of free ones: etcd's table has the block numbers
 * only.
 */
static void add_ports(json_object *table, const struct ps_config *cfg)
{
	json_object *pools;

	if (!json_object_object_get_ex(table, "pools", &pools))
		return;
	for (size_t i = 0; i < json_object_array_length(pools); i++) {
		json_object *p = json_object_array_get_idx(pools, i), *name, *blocks;
		const struct ps_pool_cfg *pc;
		uint32_t total;
		size_t used;

		if (!json_object_object_get_ex(p, "name", &name) || !json_object_object_get_ex(p, "blocks", &blocks))
			continue;
		pc = find_dynamic(cfg, json_object_get_string(name));
		if (!pc)
			continue;
		total = (pc->dyn.ports.hi - pc->dyn.ports.lo + 1) / pc->dyn.block_size;
		used = json_object_array_length(blocks);
		for (size_t j = 0; j < used; j++) {
			json_object *b = json_object_array_get_idx(blocks, j), *n;
			uint32_t lo;

			if (!json_object_object_get_ex(b, "block", &n))
				continue;
			lo = pc->dyn.ports.lo + (uint32_t)json_object_get_int64(n) * pc->dyn.block_size;
			json_object_object_add(b, "first", json_object_new_int64(lo));
			json_object_object_add(b, "last", json_object_new_int64(lo + pc->dyn.block_size - 1));
		}
		json_object_object_add(p, "block_size", json_object_new_int64(pc->dyn.block_size));
		json_object_object_add(p, "total_blocks", json_object_new_int64(total));
		json_object_object_add(p, "free_blocks", json_object_new_int64(total > used ? total - used : 0));
	}
}

static const char *str_of(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "-";
}

static void print_text(json_object *table)
{
	json_object *pools, *rev;

	if (json_object_object_get_ex(table, "revision", &rev))
		printf("etcd revision %s\n", json_object_get_string(rev));
	if (!json_object_object_get_ex(table, "pools", &pools))
		return;
	for (size_t i = 0; i < json_object_array_length(pools); i++) {
		json_object *p = json_object_array_get_idx(pools, i), *blocks;

		printf("pool %s: %s free of %s blocks of %s ports\n", str_of(p, "name"), str_of(p, "free_blocks"),
		       str_of(p, "total_blocks"), str_of(p, "block_size"));
		if (!json_object_object_get_ex(p, "blocks", &blocks))
			continue;
		if (json_object_array_length(blocks))
			printf("  %-6s %-13s %-24s %-10s %s\n", "BLOCK", "PORTS", "HOST", "STATE", "LEASE");
		for (size_t j = 0; j < json_object_array_length(blocks); j++) {
			json_object *b = json_object_array_get_idx(blocks, j);
			char ports[32];

			snprintf(ports, sizeof(ports), "%s-%s", str_of(b, "first"), str_of(b, "last"));
			printf("  %-6s %-13s %-24s %-10s %s\n", str_of(b, "block"), ports, str_of(b, "host"),
			       str_of(b, "state"), str_of(b, "lease"));
		}
	}
}

static int run_leases(int argc, char **argv, struct ps_error *error)
{
	struct leases_opts o = {};
	struct ps_lease_cfg lc;
	struct ps_etcd_opts eo;
	struct ps_etcd *etcd = NULL;
	struct ps_fleet f;
	json_object *table = NULL;
	int err;

	err = ps_cli_parse(&ps_cmd_leases, argc, argv, on_leases_opt, &o, error);
	if (err)
		return err > 0 ? 0 : err;
	if (!o.fleet.config)
		return ps_fail(error, EINVAL, "leases needs --config FILE: the fleet config with the etcd: section");
	err = ps_fleet_open(&f, &o.fleet, error);
	if (err)
		goto out;
	if (!ps_config_has_dynamic(&f.cfg)) {
		err = ps_fail(error, EINVAL, "%s has no pool with 'slices: dynamic': there are no leases to show",
			      o.fleet.config);
		goto out;
	}
	if (o.pool && !find_dynamic(&f.cfg, o.pool)) {
		err = ps_fail(error, ENOENT, "--pool %s: no dynamic pool of that name in %s", o.pool, o.fleet.config);
		goto out;
	}
	err = ps_fleet_lease_config(&f.cfg, f.host, &lc, &eo, error) ?: ps_etcd_open(&etcd, &eo, error) ?:
	      ps_lease_table_json(etcd, lc.prefix, o.pool, &table, error);
	if (err)
		goto out;
	add_ports(table, &f.cfg);
	if (ps_json)
		ps_json_print(table);
	else
		print_text(table);
out:
	json_object_put(table);
	if (etcd)
		ps_etcd_close(etcd);
	ps_fleet_close(&f);
	return err;
}

const struct ps_cmd ps_cmd_leases = {
	.name = "leases", .run = run_leases, .opts = leases_opts, .details = leases_details,
	.synopsis = "--config FILE [--pool NAME]",
	.summary = "List the fleet's dynamic blocks as etcd has them: holder, state, lease.",
	.offline = true, .full_name_only = true,
};
