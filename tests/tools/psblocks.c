// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * psblocks: what the agent's leasing task writes into the socket side's
 * pinned maps, for tests without the agent or etcd (tests/sock/
 * test_dynamic.sh). It calls the loader's own functions (sock/blocks.h),
 * under the state lock as attach does, on the pins of PORTSLICE_PIN_DIR.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "core/addr.h"
#include "core/pins.h"
#include "sock/blocks.h"
#include "sock/maps.h"

static const char usage_text[] =
	"usage: psblocks COMMAND [OPTIONS]\n"
	"\n"
	"  write --pool NAME --size N [--held LO-HI]... [--draining LO-HI]...\n"
	"        the pool's block table (ps_blocks_install_list()): held blocks give\n"
	"        ports, draining ones none; no --held and no --draining: empty\n"
	"  lease [--fence-in MS | --fenced] [--lease-id HEX] [--expires-in MS] [--etcd-ok]\n"
	"        the lease state (ps_lease_state_write()): the fencing deadline MS\n"
	"        milliseconds from now (negative: past), or 0 (--fenced); the\n"
	"        expiry likewise (default: the deadline)\n"
	"  users --pool NAME --ports LO-HI\n"
	"        prints ps_blocks_users() of those ports\n"
	"\n"
	"Exit: 0 done, 1 failed (the error on stderr), 2 usage error.\n";

#define MAX_LIST PS_MAX_BLOCKS

struct opts {
	const char *pool;
	unsigned long size;
	struct ps_port_range held[MAX_LIST], draining[MAX_LIST], ports;
	size_t n_held, n_draining;
	long long fence_in_ms, expires_in_ms;
	bool fence_given, fenced, expires_given, etcd_ok, ports_given;
	unsigned long long lease_id;
};

static int usage(const char *why)
{
	fprintf(stderr, "psblocks: %s\n%s", why, usage_text);
	return 2;
}

static int add_range(struct ps_port_range *list, size_t *n, const char *arg)
{
	if (*n == MAX_LIST || ps_parse_port_range(arg, &list[*n]))
		return -1;
	(*n)++;
	return 0;
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
		{ "pool", required_argument, NULL, 'p' },     { "size", required_argument, NULL, 's' },
		{ "held", required_argument, NULL, 'h' },     { "draining", required_argument, NULL, 'd' },
		{ "fence-in", required_argument, NULL, 'f' }, { "fenced", no_argument, NULL, 'F' },
		{ "lease-id", required_argument, NULL, 'l' }, { "expires-in", required_argument, NULL, 'e' },
		{ "etcd-ok", no_argument, NULL, 'o' },        { "ports", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		char *end = NULL;

		switch (c) {
		case 'p': o->pool = optarg; break;
		case 's': o->size = strtoul(optarg, &end, 10); break;
		case 'h': if (add_range(o->held, &o->n_held, optarg)) return -1; break;
		case 'd': if (add_range(o->draining, &o->n_draining, optarg)) return -1; break;
		case 'f': o->fence_in_ms = strtoll(optarg, &end, 10); o->fence_given = true; break;
		case 'F': o->fenced = true; break;
		case 'l': o->lease_id = strtoull(optarg, &end, 16); break;
		case 'e': o->expires_in_ms = strtoll(optarg, &end, 10); o->expires_given = true; break;
		case 'o': o->etcd_ok = true; break;
		case 'P': if (ps_parse_port_range(optarg, &o->ports)) return -1; o->ports_given = true; break;
		default: return -1;
		}
		if (end && *end)
			return -1;
	}
	return optind == argc ? 0 : -1;
}

static int pool_slot(const struct ps_maps *maps, const char *name, struct ps_error *error)
{
	struct ps_pool p;

	for (__u32 slot = 0; slot < PS_MAX_POOLS; slot++)
		if (!bpf_map_lookup_elem(maps->pools, &slot, &p) && (p.flags & PS_POOL_ACTIVE) &&
		    !strncmp(p.name, name, sizeof(p.name)))
			return (int)slot;
	return ps_fail(error, ENOENT, "no pool named '%s' is pinned", name);
}

/* The deadline @in_ms from now on CLOCK_BOOTTIME, in ns. */
static __u64 from_now(long long in_ms)
{
	long long ns = (long long)ps_boottime_ns() + in_ms * 1000000LL;

	return ns > 0 ? (__u64)ns : 1;
}

static int run(const char *cmd, const struct opts *o, const struct ps_maps *maps, struct ps_error *error)
{
	int slot = 0;

	if (strcmp(cmd, "lease")) {
		slot = o->pool ? pool_slot(maps, o->pool, error) : ps_fail(error, EINVAL, "--pool is needed");
		if (slot < 0)
			return slot;
	}
	if (!strcmp(cmd, "write"))
		return ps_blocks_install_list(maps, (__u32)slot, (__u32)o->size, o->held, o->n_held, o->draining,
					      o->n_draining, error);
	if (!strcmp(cmd, "users")) {
		__u32 users;
		int err;

		if (!o->ports_given)
			return ps_fail(error, EINVAL, "--ports is needed");
		err = ps_blocks_users(maps, (__u32)slot, o->ports.lo, o->ports.hi, &users);
		if (err)
			return ps_fail(error, err, "ps_blocks_users: %s", strerror(-err));
		printf("%u\n", users);
		return 0;
	}
	if (!strcmp(cmd, "lease")) {
		struct ps_lease_state ls = { .lease_id = o->lease_id, .flags = o->etcd_ok ? PS_LEASE_ETCD_OK : 0 };

		if (o->fence_given && !o->fenced)
			ls.fence_ns = from_now(o->fence_in_ms);
		ls.expires_ns = o->expires_given ? from_now(o->expires_in_ms) : ls.fence_ns;
		return ps_lease_state_write(maps, &ls, error);
	}
	return ps_fail(error, EINVAL, "unknown command '%s'", cmd);
}

int main(int argc, char **argv)
{
	struct ps_maps maps = PS_MAPS_NONE;
	struct ps_error error = {};
	struct opts o = {};
	int lock, err;

	if (argc < 2 || parse(argc - 1, argv + 1, &o))
		return usage("bad arguments");
	lock = ps_state_lock(&error);
	err = lock < 0 ? lock : ps_maps_open(&maps, &error);
	if (!err)
		err = run(argv[1], &o, &maps, &error);
	ps_maps_close(&maps);
	if (lock >= 0)
		ps_state_unlock(lock);
	if (err) {
		fprintf(stderr, "psblocks: %s\n", error.msg);
		return 1;
	}
	return 0;
}
