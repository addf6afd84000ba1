// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <bpf/bpf.h>
#include <json-c/json.h>

#include "core/log.h"
#include "core/slots.h"
#include "sock/blocks.h"
#include "sock/slots.h"

int ps_select_pools(const struct ps_config *cfg, const char *host, char *const *names, size_t n_names,
		    struct ps_selection *sel, struct ps_error *error)
{
	memset(sel, 0, sizeof(*sel));
	if (n_names) {
		for (size_t i = 0; i < n_names; i++) {
			const struct ps_pool_cfg *pool = ps_config_find_pool(cfg, names[i]);
			const struct ps_slice_cfg *slice;

			if (!pool)
				return ps_fail(error, ENOENT, "%s: no pool named '%s'", cfg->path, names[i]);
			slice = ps_pool_find_slice(pool, host);
			if (!slice)
				return ps_fail(error, ENOENT, "%s:%d: pool '%s' has no slice for host '%s': add one under its slices, or pass --host",
					      cfg->path, pool->line, pool->name, host);
			for (size_t j = 0; j < sel->n; j++)
				if (sel->pool[j] == pool)
					return ps_fail(error, EINVAL, "pool '%s' named twice with --pool", pool->name);
			sel->pool[sel->n] = pool;
			sel->slice[sel->n++] = slice;
		}
		return 0;
	}
	for (size_t i = 0; i < cfg->n_pools && sel->n < PS_MAX_POOLS; i++) {
		const struct ps_slice_cfg *slice = ps_pool_find_slice(&cfg->pools[i], host);

		if (!slice)
			continue;
		sel->pool[sel->n] = &cfg->pools[i];
		sel->slice[sel->n++] = slice;
	}
	if (!sel->n)
		return ps_fail(error, ENOENT, "%s: no pool has a slice for host '%s': pass --host NAME, or add '%s: FIRST-LAST' under a pool's slices",
			      cfg->path, host, host);
	return 0;
}

json_object *ps_selection_pool_json(const struct ps_selection *sel, size_t i)
{
	const struct ps_pool_cfg *pool = sel->pool[i];
	json_object *p = json_object_new_object();
	char addr[PS_ADDR_STR_LEN];

	ps_format_addr(pool->family, pool->addr, addr, sizeof(addr));
	json_object_object_add(p, "name", json_object_new_string(pool->name));
	json_object_object_add(p, "address", json_object_new_string(addr));
	json_object_object_add(p, "first_port", json_object_new_int(sel->slice[i]->range.lo));
	json_object_object_add(p, "last_port", json_object_new_int(sel->slice[i]->range.hi));
	json_object_object_add(p, "dynamic", json_object_new_boolean(pool->dynamic));
	if (pool->dynamic) {
		json_object_object_add(p, "block_size", json_object_new_int((int)pool->dyn.block_size));
		json_object_object_add(p, "min_blocks", json_object_new_int((int)pool->dyn.min_blocks));
		json_object_object_add(p, "max_blocks", json_object_new_int((int)pool->dyn.max_blocks));
	}
	return p;
}

void ps_selection_pool_print(const struct ps_selection *sel, size_t i, const char *indent)
{
	const struct ps_pool_cfg *pool = sel->pool[i];
	char addr[PS_ADDR_STR_LEN];

	ps_format_addr(pool->family, pool->addr, addr, sizeof(addr));
	printf("%spool %-16s %s ports %u-%u", indent, pool->name, addr, sel->slice[i]->range.lo, sel->slice[i]->range.hi);
	if (pool->dynamic)
		printf(" dynamic: blocks of %u, %u to %u leased from etcd", pool->dyn.block_size, pool->dyn.min_blocks,
		       pool->dyn.max_blocks);
	printf("\n");
}

int ps_read_pools(int pools_fd, struct ps_pool pools[PS_MAX_POOLS])
{
	int active = 0;

	memset(pools, 0, sizeof(struct ps_pool) * PS_MAX_POOLS);
	if (pools_fd < 0)
		return 0;
	for (__u32 slot = 0; slot < PS_MAX_POOLS; slot++) {
		if (bpf_map_lookup_elem(pools_fd, &slot, &pools[slot]))
			return -errno;
		active += !!(pools[slot].flags & PS_POOL_ACTIVE);
	}
	return active;
}

int ps_assign_slots(int pools_fd, const struct ps_selection *sel, struct ps_attachment *att, struct ps_error *error)
{
	struct ps_slots slots;
	int err = ps_slots_read(pools_fd, &slots);

	if (err < 0)
		return ps_fail(error, err, "cannot read the pinned pools: %s", strerror(-err));
	att->pool_mask = 0;
	att->pool_count = 0;
	for (size_t i = 0; i < sel->n; i++) {
		int slot = ps_slots_named(&slots, sel->pool[i]->name);

		if (slot < 0)
			slot = ps_slots_free(&slots, NULL);
		if (slot < 0)
			return ps_fail(error, ENOSPC, "all %d pool slots are in use on this host: detach cgroups whose pools are gone (portslice status shows them)",
				      PS_MAX_POOLS);
		ps_slots_give(&slots, slot, sel->pool[i]->name);
		att->pool_mask |= 1ULL << slot;
		att->pool_order[att->pool_count++] = slot;
	}
	return 0;
}

static void pool_entry(const struct ps_pool_cfg *cfg, const struct ps_slice_cfg *slice, struct ps_pool *p)
{
	memset(p, 0, sizeof(*p));
	p->flags = PS_POOL_ACTIVE | (cfg->p2p ? PS_POOL_P2P : 0) | (cfg->dynamic ? PS_POOL_DYNAMIC : 0);
	if (cfg->dynamic) {
		p->min_blocks = (__u8)cfg->dyn.min_blocks;
		p->max_blocks = (__u8)cfg->dyn.max_blocks;
	}
	p->family = cfg->family;
	p->port_lo = slice->range.lo;
	p->port_hi = slice->range.hi;
	p->reuse_delay_ms = cfg->reuse_delay_ms;
	memcpy(p->addr, cfg->addr, cfg->family == AF_INET ? 4 : 16);
	snprintf(p->name, sizeof(p->name), "%s", cfg->name);
}

static bool dst_wanted(const struct ps_pool_cfg *cfg, int family, const __u8 *addr, __u32 len)
{
	size_t alen = family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < cfg->n_dsts; i++)
		if (cfg->dsts[i].family == family && cfg->dsts[i].len == len &&
		    !memcmp(cfg->dsts[i].addr, addr, alen))
			return true;
	return false;
}

/* The two destination keys, read through the one layout they share. */
union dst_key {
	struct ps_dst4_key v4;
	struct ps_dst6_key v6;
};
_Static_assert(offsetof(struct ps_dst4_key, slot) == offsetof(struct ps_dst6_key, slot) &&
	       offsetof(struct ps_dst4_key, addr) == offsetof(struct ps_dst6_key, addr),
	       "prune_family() reads both keys as struct ps_dst6_key");

/* Deletes the prefixes of @slot in one family's map that @cfg (NULL: none) no longer lists. */
static int prune_family(int fd, int family, __u8 slot, const struct ps_pool_cfg *cfg)
{
	union dst_key key, next, stale[64];
	size_t n;

	/* Collect first, delete after: deleting while walking restarts the walk. */
	do {
		union dst_key *prev = NULL;

		n = 0;
		while (n < 64 && !bpf_map_get_next_key(fd, prev, &next)) {
			key = next;
			prev = &key;
			if (key.v6.slot == slot &&
			    (!cfg || !dst_wanted(cfg, family, key.v6.addr, key.v6.prefixlen - PS_DST6_PREFIX(0))))
				stale[n++] = key;
		}
		for (size_t i = 0; i < n; i++)
			if (bpf_map_delete_elem(fd, &stale[i]) && errno != ENOENT)
				return -errno;
	} while (n == 64);
	return 0;
}

/* Deletes the prefixes of @slot that @cfg (NULL: none) no longer lists. */
static int prune_dsts(const struct ps_maps *maps, __u8 slot, const struct ps_pool_cfg *cfg)
{
	_Static_assert(PS_DST4_PREFIX(0) == PS_DST6_PREFIX(0), "one slot prefix for both families");
	return prune_family(maps->dst4, AF_INET, slot, cfg) ?: prune_family(maps->dst6, AF_INET6, slot, cfg);
}

static int add_dsts(const struct ps_maps *maps, __u8 slot, const struct ps_pool_cfg *cfg)
{
	__u8 one = 1;

	for (size_t i = 0; i < cfg->n_dsts; i++) {
		const struct ps_prefix *p = &cfg->dsts[i];
		int err;

		if (p->family == AF_INET) {
			struct ps_dst4_key k = { .prefixlen = PS_DST4_PREFIX(p->len), .slot = slot };

			memcpy(k.addr, p->addr, 4);
			err = bpf_map_update_elem(maps->dst4, &k, &one, BPF_ANY);
		} else {
			struct ps_dst6_key k = { .prefixlen = PS_DST6_PREFIX(p->len), .slot = slot };

			memcpy(k.addr, p->addr, 16);
			err = bpf_map_update_elem(maps->dst6, &k, &one, BPF_ANY);
		}
		if (err)
			return -errno;
	}
	return 0;
}

int ps_install_pools(const struct ps_maps *maps, const struct ps_selection *sel,
		     const struct ps_attachment *att, struct ps_error *error)
{
	for (size_t i = 0; i < sel->n; i++) {
		const struct ps_pool_cfg *cfg = sel->pool[i];
		__u32 slot = att->pool_order[i];
		struct ps_addr_key akey = { .family = cfg->family };
		struct ps_port_range hull;
		struct ps_pool old, entry;
		int err;

		pool_entry(cfg, sel->slice[i], &entry);
		memcpy(akey.addr, cfg->addr, sizeof(akey.addr));
		if (bpf_map_lookup_elem(maps->pools, &slot, &old))
			return ps_fail(error, errno, "cannot read pool slot %u: %s", slot, strerror(errno));

		/* The address may have moved: drop the old address entry first. */
		if (old.flags & PS_POOL_ACTIVE &&
		    (old.family != entry.family || memcmp(old.addr, entry.addr, sizeof(old.addr)))) {
			struct ps_addr_key okey = { .family = old.family };

			memcpy(okey.addr, old.addr, sizeof(okey.addr));
			bpf_map_delete_elem(maps->pool_addrs, &okey);
		}
		/* A dynamic pool's table is the agent's: its hull is the whole ports: range. */
		hull = sel->slice[i]->range;
		if (cfg->dynamic)
			err = ps_blocks_install_dynamic(maps, slot, cfg->name, cfg->dyn.block_size,
							(old.flags & (PS_POOL_ACTIVE | PS_POOL_DYNAMIC)) ==
								(PS_POOL_ACTIVE | PS_POOL_DYNAMIC),
							error);
		else
			err = ps_blocks_install(maps, slot, cfg->name, sel->slice[i], &hull, error);
		if (err)
			return err;
		entry.port_lo = hull.lo;
		entry.port_hi = hull.hi;
		err = add_dsts(maps, slot, cfg);
		if (!err)
			err = prune_dsts(maps, slot, cfg);
		if (!err && bpf_map_update_elem(maps->pool_addrs, &akey, &slot, BPF_ANY))
			err = -errno;
		if (!err && bpf_map_update_elem(maps->pools, &slot, &entry, BPF_ANY))
			err = -errno;
		if (err)
			return ps_fail(error, err, "cannot write pool '%s' into the maps: %s", cfg->name, strerror(-err));
		if (old.flags & PS_POOL_ACTIVE &&
		    (old.port_lo != entry.port_lo || old.port_hi != entry.port_hi))
			pr_info("pool '%s': slice moved from %u-%u to %u-%u; sockets keep the ports they have",
				cfg->name, old.port_lo, old.port_hi, entry.port_lo, entry.port_hi);
	}
	return 0;
}
