// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Steering's maps: the XDP program's (pinned by libbpf at its load) and the
 * two the loader makes, filled from the fleet config. Every write keeps the
 * running programs' lookups meaningful while it happens.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <bpf/bpf.h>

#include "core/pins.h"
#include "core/rtnl.h"
#include "steer/maps.h"
#include "steer/owners.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

void ps_steer_maps_close(struct ps_steer_maps *m)
{
	ps_pin_fds_close((int *)m, sizeof(*m) / sizeof(int));
}

int ps_steer_maps_open(struct ps_steer_maps *m, struct ps_error *error)
{
	/* In the order of struct ps_steer_maps. */
	static const char *const names[] = { "ps_steer_pools", "ps_steer_owner", "ps_steer_hosts",
					     "ps_steer_local_macs", "ps_steer_peer_macs", "ps_steer_gen",
					     "ps_steer_lease" };
	int err = ps_pin_maps_open(names, (int *)m, ARRAY_SIZE(names), error);

	m->meta = m->names = -1;
	if (err)
		return err;
	m->meta = ps_pin_map_open_or_create(ps_steer_layout.meta_map, BPF_MAP_TYPE_ARRAY, sizeof(struct ps_meta), 1);
	if (m->meta >= 0)
		m->names = ps_pin_map_open_or_create(PS_STEER_NAMES_MAP, BPF_MAP_TYPE_ARRAY, PS_HOST_NAME_LEN,
						     PS_MAX_HOSTS);
	err = m->meta < 0 ? m->meta : m->names < 0 ? m->names : 0;
	if (err) {
		m->meta = m->meta < 0 ? -1 : m->meta;
		m->names = m->names < 0 ? -1 : m->names;
		ps_steer_maps_close(m);
		return ps_fail(error, err, "cannot create the steering maps under %s/%s: %s", ps_pin_dir(), PS_PINS_MAPS,
			       strerror(-err));
	}
	err = ps_layout_stamp(&ps_steer_layout, m->meta, error);
	if (err)
		ps_steer_maps_close(m);
	return err;
}

void ps_steer_addr_key(int family, const uint8_t addr[16], struct ps_addr_key *key)
{
	memset(key, 0, sizeof(*key));
	key->family = (__u32)family;
	memcpy(key->addr, addr, family == AF_INET ? 4 : 16);
}

int ps_steer_pool_entries(int fd, struct ps_steer_pool_entry *out, size_t max)
{
	struct ps_addr_key key, next, *prev = NULL;
	size_t n = 0;

	while (n < max && !bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &out[n].slot))
			continue;
		out[n++].key = key;
	}
	return (int)n;
}

static __u32 owner_vals[PS_PORTS_PER_POOL];

/* Port -> owner id of every port of @pool; 0 for ports of no slice's block. */
static int fill_owner(int fd, __u32 slot, const struct ps_pool_cfg *pool)
{
	memset(owner_vals, 0, sizeof(owner_vals));
	for (size_t i = 0; pool && i < pool->n_slices; i++) {
		const struct ps_slice_cfg *sl = &pool->slices[i];

		/* Per block: the ports between a slice's blocks may be another host's. */
		for (size_t j = 0; j < sl->n_blocks; j++)
			for (__u32 p = sl->blocks[j].lo; p <= sl->blocks[j].hi; p++)
				owner_vals[p] = sl->host_id;
	}
	/* The callers name the pool in their message. */
	return ps_steer_owner_write(fd, slot, 0, owner_vals, PS_PORTS_PER_POOL, NULL);
}

/*
 * A slot's owner table from @pool (NULL: nobody's), and how long its own
 * ports pass: always for a static pool; for a dynamic one only once the
 * leasing task wrote its lease's end (agent/lease_task.c).
 */
static int fill_slot(const struct ps_steer_maps *m, __u32 slot, const struct ps_pool_cfg *pool)
{
	struct ps_steer_lease lease = { .own_until_ns = pool && pool->dynamic ? PS_STEER_LEASE_NONE : 0 };

	if (bpf_map_update_elem(m->lease, &slot, &lease, BPF_ANY))
		return -errno;
	return fill_owner(m->owner, slot, pool);
}

static int fill_hosts(const struct ps_steer_maps *m, const struct ps_config *cfg, struct ps_error *error)
{
	for (__u32 id = 1; id < PS_MAX_HOSTS; id++) {
		const struct ps_host_cfg *h = ps_config_host_by_id(cfg, id);
		struct ps_steer_host v = {};
		char name[PS_HOST_NAME_LEN] = "";

		if (h) {
			v.flags = PS_STEER_HOST_VALID;
			v.family = (__u32)h->family;
			memcpy(v.addr, h->addr, h->family == AF_INET ? 4 : 16);
			snprintf(name, sizeof(name), "%s", h->name);
		}
		if (bpf_map_update_elem(m->hosts, &id, &v, BPF_ANY) ||
		    bpf_map_update_elem(m->names, &id, name, BPF_ANY))
			return ps_fail(error, errno, "cannot write host %u into the steering maps: %s", id, strerror(errno));
	}
	return 0;
}

static bool key_eq(const struct ps_addr_key *a, const struct ps_addr_key *b)
{
	return !memcmp(a, b, sizeof(*a));
}

/* Points @key at @slot in the map and in @cur, the map's entries as they are now. */
static int point_pool(int fd, struct ps_steer_pool_entry *cur, int *n_cur, const struct ps_addr_key *key, __u32 slot)
{
	int j;

	if (bpf_map_update_elem(fd, key, &slot, BPF_ANY))
		return -errno;
	for (j = 0; j < *n_cur && !key_eq(&cur[j].key, key); j++)
		;
	cur[j].key = *key;
	cur[j].slot = slot;
	if (j == *n_cur)
		(*n_cur)++;
	return 0;
}

/* Is @slot the table of an address other than @key right now? */
static bool slot_busy(const struct ps_steer_pool_entry *cur, int n_cur, __u32 slot, const struct ps_addr_key *key)
{
	for (int j = 0; j < n_cur; j++)
		if (cur[j].slot == slot && !key_eq(&cur[j].key, key))
			return true;
	return false;
}

/*
 * Writes the whole config into the maps, in an order that keeps every
 * lookup meaningful while it runs: hosts first; then addresses no pool has
 * any more go; then each pool's owner table is written into its slot and
 * its address pointed at it, but only once no other address points at that
 * slot (a pool that moves leaves it first). Pools that would wait on each
 * other (two swap slots) pass through a spare slot. Slots left unused are
 * cleared last.
 */
int ps_steer_maps_fill(const struct ps_steer_maps *m, const struct ps_config *cfg, const int slot[PS_MAX_POOLS], struct ps_error *error)
{
	struct ps_steer_pool_entry cur[PS_MAX_POOLS * 2 + 1];
	struct ps_addr_key keys[PS_MAX_POOLS];
	bool used[PS_MAX_POOLS] = {}, touched[PS_MAX_POOLS] = {}, pending[PS_MAX_POOLS] = {};
	bool follower_owns[PS_MAX_POOLS] = {};
	int n_cur, left = (int)cfg->n_pools, err;

	n_cur = ps_steer_pool_entries(m->pools, cur, PS_MAX_POOLS * 2);
	err = fill_hosts(m, cfg, error);
	if (err)
		return err;
	for (size_t i = 0; i < cfg->n_pools; i++) {
		ps_steer_addr_key(cfg->pools[i].family, cfg->pools[i].addr, &keys[i]);
		used[slot[i]] = true;
		pending[i] = true;
		/*
		 * A dynamic pool staying in its slot keeps its owners: they are the
		 * lease follower's (agent/steer_follow.h), which the config does not
		 * know, and zeroing them would drop its replies until the follower
		 * wrote them again. A pool new to its slot starts at "nobody".
		 */
		for (int j = 0; j < n_cur && cfg->pools[i].dynamic; j++)
			if (key_eq(&cur[j].key, &keys[i]) && cur[j].slot == (__u32)slot[i])
				follower_owns[i] = true;
	}
	for (int j = 0; j < n_cur; j++) {
		bool wanted = false;

		if (cur[j].slot < PS_MAX_POOLS)
			touched[cur[j].slot] = true;
		for (size_t i = 0; i < cfg->n_pools && !wanted; i++)
			wanted = key_eq(&keys[i], &cur[j].key);
		if (wanted)
			continue;
		if (bpf_map_delete_elem(m->pools, &cur[j].key) && errno != ENOENT)
			return ps_fail(error, errno, "cannot remove a stale pool from ps_steer_pools: %s", strerror(errno));
		cur[j--] = cur[--n_cur];
	}

	while (left) {
		bool progress = false;

		for (size_t i = 0; i < cfg->n_pools; i++) {
			__u32 s = (__u32)slot[i];

			if (!pending[i] || slot_busy(cur, n_cur, s, &keys[i]))
				continue;
			err = follower_owns[i] ? 0 : fill_slot(m, s, &cfg->pools[i]);
			if (!err)
				err = point_pool(m->pools, cur, &n_cur, &keys[i], s);
			if (err)
				return ps_fail(error, err, "cannot write pool '%s' into the steering maps: %s", cfg->pools[i].name,
					      strerror(-err));
			touched[s] = true;
			pending[i] = false;
			progress = true;
			left--;
		}
		if (progress || !left)
			continue;
		/*
		 * A cycle: move a pool that sits in the slot another pending pool
		 * wants to a slot nobody points at or wants; that one goes next.
		 */
		for (size_t i = 0; i < cfg->n_pools && !progress; i++) {
			bool blocks = false;

			for (int j = 0; pending[i] && j < n_cur && !blocks; j++) {
				if (!key_eq(&cur[j].key, &keys[i]))
					continue;
				for (size_t k = 0; k < cfg->n_pools && !blocks; k++)
					blocks = k != i && pending[k] && (__u32)slot[k] == cur[j].slot;
			}
			for (__u32 s = 0; blocks && s < PS_MAX_POOLS && !progress; s++) {
				if (used[s] || slot_busy(cur, n_cur, s, &keys[i]))
					continue;
				err = fill_slot(m, s, &cfg->pools[i]);
				if (!err)
					err = point_pool(m->pools, cur, &n_cur, &keys[i], s);
				if (err)
					return ps_fail(error, err, "cannot move pool '%s' in the steering maps: %s",
						      cfg->pools[i].name, strerror(-err));
				touched[s] = true;
				progress = true;
			}
		}
		if (!progress)
			return ps_fail(error, ENOSPC, "no spare pool slot to reorder the steering maps: run 'portslice steer detach --all' and attach again");
	}
	for (__u32 s = 0; s < PS_MAX_POOLS; s++) {
		if (touched[s] && !used[s]) {
			err = fill_slot(m, s, NULL);
			if (err)
				return ps_fail(error, err, "cannot clear pool slot %u of ps_steer_owner: %s", s, strerror(-err));
		}
	}
	return 0;
}

/* ---- loop guards: this host's MACs, the other hosts' MACs --------------- */

/* At most this many MACs of each kind are written; the maps hold as many. */
#define GUARD_MACS (PS_STEER_MAX_LOCAL_MACS > PS_STEER_MAX_PEER_MACS ? PS_STEER_MAX_LOCAL_MACS : PS_STEER_MAX_PEER_MACS)

struct mac_set {
	struct ps_mac_key key[GUARD_MACS];
	__u32 val[GUARD_MACS];
	size_t n, max;
};

static bool mac_set_has(const struct mac_set *m, const uint8_t mac[6])
{
	for (size_t i = 0; i < m->n; i++)
		if (!memcmp(m->key[i].mac, mac, 6))
			return true;
	return false;
}

static void mac_set_add(struct mac_set *m, const uint8_t mac[6], __u32 val)
{
	if (m->n == m->max || mac_set_has(m, mac))
		return;
	memset(&m->key[m->n], 0, sizeof(m->key[m->n]));
	memcpy(m->key[m->n].mac, mac, 6);
	m->val[m->n++] = val;
}

/* Makes the map @fd hold exactly @m: new entries first, then the stale ones go. */
static int mac_map_sync(int fd, const struct mac_set *m)
{
	struct ps_mac_key key, next, *prev = NULL;

	for (size_t i = 0; i < m->n; i++)
		if (bpf_map_update_elem(fd, &m->key[i], &m->val[i], BPF_ANY))
			return -errno;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (!mac_set_has(m, key.mac) && !bpf_map_delete_elem(fd, &key))
			prev = NULL; /* deleted: start over, the walk order changed */
	}
	return 0;
}

/* Devices whose frames carry the same traffic as their lower one's, under their own MAC. */
static bool stacking_kind(const char *kind)
{
	return !strcmp(kind, "vlan") || !strcmp(kind, "macvlan") || !strcmp(kind, "macvtap") ||
	       !strcmp(kind, "ipvlan");
}

/*
 * The MACs replies to this host arrive addressed to, on @ifindex (the
 * steered interfaces): theirs, and those of the devices stacked on them
 * (VLANs, macvlans, the bridge or bond they are ports of), recursively.
 */
static int local_macs(const __u32 *ifindex, size_t n_if, struct mac_set *out)
{
	struct ps_link *links;
	size_t n;
	bool *in, more = true;
	int err = ps_rtnl_links(&links, &n);

	if (err)
		return err;
	in = calloc(n + 1, sizeof(*in));
	if (!in) {
		free(links);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n_if; j++)
			in[i] |= links[i].ifindex == (int)ifindex[j];
	while (more) {
		more = false;
		for (size_t i = 0; i < n; i++) {
			for (size_t j = 0; j < n && !in[i]; j++) {
				bool upper = links[j].master == links[i].ifindex ||
					     (links[i].link == links[j].ifindex && links[i].link_netnsid < 0 &&
					      stacking_kind(links[i].kind));

				in[i] = in[j] && upper;
				more |= in[i];
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		if (in[i] && links[i].has_mac)
			mac_set_add(out, links[i].mac, (__u32)links[i].ifindex);
	free(in);
	free(links);
	return 0;
}

/* The MACs of the other fleet hosts, as this host's neighbour entries of their underlay addresses know them. */
static int peer_macs(const struct ps_config *cfg, __u32 self_id, const struct mac_set *local, struct mac_set *out)
{
	static const int families[] = { AF_INET, AF_INET6 };

	for (size_t f = 0; f < ARRAY_SIZE(families); f++) {
		struct ps_neigh *ne;
		size_t n;
		int err = ps_rtnl_neighs(families[f], &ne, &n);

		if (err)
			return err;
		for (size_t i = 0; i < n; i++) {
			for (__u32 id = 1; id <= cfg->n_hosts; id++) {
				const struct ps_host_cfg *h = ps_config_host_by_id(cfg, id);

				if (id == self_id || !h || h->family != ne[i].family || !ne[i].has_mac ||
				    !ps_neigh_valid(ne[i].state) || mac_set_has(local, ne[i].mac) ||
				    memcmp(h->addr, ne[i].addr, h->family == AF_INET ? 4 : 16))
					continue;
				mac_set_add(out, ne[i].mac, id);
			}
		}
		free(ne);
	}
	return 0;
}

/*
 * Fills the loop guards' maps: this host's MACs on @ifindex (the steered
 * interfaces) and the other hosts' MACs. The program learns more peers by
 * itself as it forwards.
 */
int ps_steer_guards_fill(const struct ps_steer_maps *m, const struct ps_config *cfg, __u32 self_id,
		       const __u32 *ifindex, size_t n_if, struct ps_error *error)
{
	struct mac_set *local = calloc(1, sizeof(*local)), *peers = calloc(1, sizeof(*peers));
	int err = local && peers ? 0 : -ENOMEM;

	if (!err) {
		local->max = PS_STEER_MAX_LOCAL_MACS;
		peers->max = PS_STEER_MAX_PEER_MACS;
		err = local_macs(ifindex, n_if, local);
	}
	if (!err)
		err = peer_macs(cfg, self_id, local, peers);
	if (!err)
		err = mac_map_sync(m->local_macs, local);
	if (!err)
		err = mac_map_sync(m->peer_macs, peers);
	free(local);
	free(peers);
	if (err)
		return ps_fail(error, err, "cannot write the MACs of this host and of the fleet into ps_steer_local_macs/ps_steer_peer_macs: %s",
			      strerror(-err));
	return 0;
}

/*
 * Adds one to ps_steer_gen (mmapped: atomically, as the program adds): the
 * running programs' per-CPU memos of ps_steer_pools, ps_steer_hosts and the
 * MAC maps were made before the writes just done, and are void from now on.
 */
int ps_steer_gen_bump(int fd, struct ps_error *error)
{
	size_t len = (size_t)sysconf(_SC_PAGESIZE);
	__u64 *gen = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (gen == MAP_FAILED)
		return ps_fail(error, errno, "cannot map ps_steer_gen: %s", strerror(errno));
	__atomic_add_fetch(gen, 1, __ATOMIC_SEQ_CST);
	munmap(gen, len);
	return 0;
}

