// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * portslice steer: XDP reply steering on this host's ingress interfaces.
 *
 * Replies to a pool address arrive at whichever host the network picks. The
 * program (bpf/steer.bpf.c) passes those for this host's ports and forwards
 * the others to the host that owns them. This file fills its maps from the
 * fleet config and keeps one pinned bpf_link per interface; see steer.h for
 * the pins.
 */
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>

#include "steer.skel.h"
#include "sock/links.h"
#include "core/build.h"
#include "core/cli.h"
#include "core/config.h"
#include "core/env.h"
#include "core/log.h"
#include "core/percpu.h"
#include "core/pins.h"
#include "sock/maps.h"
#include "steer/steering.h"
#include "core/kernel_features.h"
#include "core/rtnl.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Steering links one run lists (interfaces of a host). */
#define PS_MAX_STEER_LINKS 256

enum {
	OPT_DEV = 'd',
	OPT_CONFIG = 'f',
	OPT_HOST = 'H',
	OPT_ALL = 'a',
};

struct steer_opts {
	const char *devs[PS_MAX_STEER_IFACES];
	size_t n_devs;
	const char *config;
	const char *host;
	bool all;
};

static const struct ps_cmd ps_cmd_steer_attach, ps_cmd_steer_detach;

static int on_steer_opt(int key, const char *arg, void *ctx, struct ps_error *error)
{
	struct steer_opts *o = ctx;

	switch (key) {
	case OPT_DEV:
		if (o->n_devs == PS_MAX_STEER_IFACES)
			return ps_fail(error, E2BIG, "at most %d --dev options", PS_MAX_STEER_IFACES);
		o->devs[o->n_devs++] = arg;
		break;
	case OPT_CONFIG:
		o->config = arg;
		break;
	case OPT_HOST:
		o->host = arg;
		break;
	case OPT_ALL:
		o->all = true;
		break;
	}
	return 0;
}

static void print_json(json_object *root)
{
	ps_json_print(root);
}

/* ---- pins ---------------------------------------------------------------- */

/* bpffs refuses '.' in names (eth0.100 is a fine interface name): it is pinned as '%'. */
static void pin_name(const char *ifname, char out[IF_NAMESIZE])
{
	size_t i;

	for (i = 0; ifname[i] && i < IF_NAMESIZE - 1; i++)
		out[i] = ifname[i] == '.' ? '%' : ifname[i];
	out[i] = '\0';
}

static void pin_ifname(const char *pin, char out[IF_NAMESIZE])
{
	size_t i;

	for (i = 0; pin[i] && i < IF_NAMESIZE - 1; i++)
		out[i] = pin[i] == '%' ? '.' : pin[i];
	out[i] = '\0';
}

/* A pinned steering link, as the kernel sees it. */
struct steer_link {
	char ifname[IF_NAMESIZE]; /* from the pin's name */
	char pin[PATH_MAX + 256];
	int fd;
	__u32 link_id, prog_id;
	__u32 ifindex;            /* 0 once the interface is gone */
};

static int link_read(const char *pin, struct steer_link *l)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);

	l->fd = bpf_obj_get(pin);
	if (l->fd < 0)
		return -errno;
	if (bpf_obj_get_info_by_fd(l->fd, &info, &len)) {
		int err = -errno;

		close(l->fd);
		l->fd = -1;
		return err;
	}
	snprintf(l->pin, sizeof(l->pin), "%s", pin);
	l->link_id = info.id;
	l->prog_id = info.prog_id;
	l->ifindex = info.type == BPF_LINK_TYPE_XDP ? info.xdp.ifindex : 0;
	return 0;
}

static void links_close(struct steer_link *links, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (links[i].fd >= 0)
			close(links[i].fd);
}

/* Every pinned steering link, sorted by pin name. Returns how many. */
static int links_list(struct steer_link *links, size_t max)
{
	char dir[PATH_MAX];
	struct dirent **names;
	int n, count = 0;

	if (ps_pin_path(dir, sizeof(dir), PS_PINS_STEER))
		return -ENAMETOOLONG;
	n = scandir(dir, &names, NULL, alphasort);
	if (n < 0)
		return errno == ENOENT ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		char path[PATH_MAX + 256];
		struct steer_link *l = &links[count];

		if (names[i]->d_name[0] != '.' && strncmp(names[i]->d_name, "tmp:", 4) &&
		    (size_t)count < max) {
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
			if (!link_read(path, l)) {
				pin_ifname(names[i]->d_name, l->ifname);
				count++;
			}
		}
		free(names[i]);
	}
	free(names);
	return count;
}

static struct steer_link *links_find(struct steer_link *links, size_t n, const char *ifname)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(links[i].ifname, ifname))
			return &links[i];
	return NULL;
}

/* ---- the loaded program's settings ------------------------------------ */

static bool settings_equal(const struct ps_steer__rodata *a, const struct ps_steer__rodata *b)
{
	return a->ps_self_host == b->ps_self_host && a->ps_steer_mode == b->ps_steer_mode &&
	       a->ps_self_underlay4 == b->ps_self_underlay4 &&
	       !memcmp(a->ps_self_underlay6, b->ps_self_underlay6, sizeof(a->ps_self_underlay6));
}

/* What a loaded steering program was given in .rodata. */
static int prog_settings(int prog_fd, struct ps_steer__rodata *out)
{
	struct bpf_map_info mi;
	__u32 zero = 0;
	int fd = ps_prog_rodata_fd(prog_fd, &mi), err;

	if (fd < 0)
		return fd;
	/* Another size: another build's .rodata, which this one cannot read. */
	err = mi.value_size != sizeof(*out) ? -ENOENT : bpf_map_lookup_elem(fd, &zero, out) ? -errno : 0;
	close(fd);
	return err;
}

/*
 * Is the loaded program @prog_fd the one @want describes: the same settings
 * and this binary's build? If its build differs, @other (when still empty)
 * gets its build id.
 */
static bool prog_is(int prog_fd, const struct ps_steer__rodata *want, char other[PS_BUILD_ID_LEN])
{
	struct ps_steer__rodata have;
	struct ps_prog_build b;

	if (ps_prog_build_read(prog_fd, &b))
		return false;
	if (strcmp(b.build_id, ps_build_id_steer)) {
		if (!other[0])
			snprintf(other, PS_BUILD_ID_LEN, "%s", ps_build_id_str(&b));
		return false;
	}
	return !prog_settings(prog_fd, &have) && settings_equal(&have, want);
}

static __u32 prog_id_of(int prog_fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(prog_fd, &info, &len) ? 0 : info.id;
}

/* ---- loader-made maps: layout stamp and host names ---------------------- */

/* ---- filling the maps ---------------------------------------------------- */

struct steer_maps {
	int pools, owner, hosts, local_macs, peer_macs, gen, meta, names;
};

static void maps_close(struct steer_maps *m)
{
	ps_pin_fds_close((int *)m, sizeof(*m) / sizeof(int));
}

static int maps_open(struct steer_maps *m, struct ps_error *error)
{
	/* In the order of struct steer_maps. */
	static const char *const names[] = { "ps_steer_pools", "ps_steer_owner", "ps_steer_hosts",
					     "ps_steer_local_macs", "ps_steer_peer_macs", "ps_steer_gen" };
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
		maps_close(m);
		return ps_fail(error, err, "cannot create the steering maps under %s/%s: %s", ps_pin_dir(), PS_PINS_MAPS,
			       strerror(-err));
	}
	err = ps_layout_stamp(&ps_steer_layout, m->meta, error);
	if (err)
		maps_close(m);
	return err;
}

static void addr_key(int family, const uint8_t addr[16], struct ps_addr_key *key)
{
	memset(key, 0, sizeof(*key));
	key->family = (__u32)family;
	memcpy(key->addr, addr, family == AF_INET ? 4 : 16);
}

/* An entry of ps_steer_pools. */
struct pool_entry {
	struct ps_addr_key key;
	__u32 slot;
};

static int read_pool_entries(int fd, struct pool_entry *out, size_t max)
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

/*
 * Slots by pool name, the same as the socket side's: a pool the socket side
 * placed keeps its slot (ps_pools, by name); another keeps the slot steering
 * gave its address before, if still free; the rest take free slots, those
 * steering did not use before first (so a refresh never points an address at
 * a table being rewritten for another pool).
 */
static int assign_slots(const struct ps_config *cfg, const struct pool_entry *old, size_t n_old,
			int slot[PS_MAX_POOLS], struct ps_error *error)
{
	bool taken[PS_MAX_POOLS] = {}, used_before[PS_MAX_POOLS] = {};
	struct ps_pool sock[PS_MAX_POOLS] = {};
	int fd = ps_pin_map_open("ps_pools");

	if (fd >= 0) {
		for (__u32 s = 0; s < PS_MAX_POOLS; s++)
			if (bpf_map_lookup_elem(fd, &s, &sock[s]))
				memset(&sock[s], 0, sizeof(sock[s]));
		close(fd);
	}
	for (int s = 0; s < PS_MAX_POOLS; s++)
		taken[s] = sock[s].name[0] != '\0';
	for (size_t i = 0; i < n_old; i++)
		if (old[i].slot < PS_MAX_POOLS)
			used_before[old[i].slot] = true;

	for (size_t i = 0; i < cfg->n_pools; i++) {
		slot[i] = -1;
		for (int s = 0; s < PS_MAX_POOLS && slot[i] < 0; s++)
			if (!strncmp(sock[s].name, cfg->pools[i].name, PS_POOL_NAME_LEN))
				slot[i] = s;
	}
	for (size_t i = 0; i < cfg->n_pools; i++) {
		struct ps_addr_key key;

		if (slot[i] >= 0)
			continue;
		addr_key(cfg->pools[i].family, cfg->pools[i].addr, &key);
		for (size_t j = 0; j < n_old; j++) {
			bool free_slot = old[j].slot < PS_MAX_POOLS && !taken[old[j].slot];

			for (size_t k = 0; free_slot && k < cfg->n_pools; k++)
				free_slot = slot[k] != (int)old[j].slot;
			if (free_slot && !memcmp(&old[j].key, &key, sizeof(key)))
				slot[i] = (int)old[j].slot;
		}
	}
	for (size_t i = 0; i < cfg->n_pools; i++) {
		for (int pass = 0; pass < 2 && slot[i] < 0; pass++) {
			for (int s = 0; s < PS_MAX_POOLS && slot[i] < 0; s++) {
				bool free_slot = !taken[s] && (pass || !used_before[s]);

				for (size_t k = 0; free_slot && k < cfg->n_pools; k++)
					free_slot = slot[k] != s;
				if (free_slot)
					slot[i] = s;
			}
		}
		if (slot[i] < 0)
			return ps_fail(error, ENOSPC, "no free pool slot for pool '%s': the socket side's pools and the config's together exceed %d; "
				      "detach cgroups whose pools are gone (portslice status shows them)",
				      cfg->pools[i].name, PS_MAX_POOLS);
	}
	return 0;
}

static __u32 owner_keys[PS_PORTS_PER_POOL], owner_vals[PS_PORTS_PER_POOL];

static int write_owner_table(int fd, __u32 slot)
{
	__u32 count = PS_PORTS_PER_POOL;

	for (__u32 port = 0; port < PS_PORTS_PER_POOL; port++)
		owner_keys[port] = PS_STEER_OWNER_INDEX(slot, port);
	if (!bpf_map_update_batch(fd, owner_keys, owner_vals, &count, NULL))
		return 0;
	/* Kernels without batch updates of arrays: one entry at a time. */
	for (__u32 port = 0; port < PS_PORTS_PER_POOL; port++)
		if (bpf_map_update_elem(fd, &owner_keys[port], &owner_vals[port], BPF_ANY))
			return -errno;
	return 0;
}

/* Port -> owner id of every port of @pool; 0 for ports of no slice. */
static int fill_owner(int fd, __u32 slot, const struct ps_pool_cfg *pool, const struct ps_config *cfg)
{
	memset(owner_vals, 0, sizeof(owner_vals));
	for (size_t i = 0; pool && i < pool->n_slices; i++) {
		__u32 id = ps_config_host_id(cfg, pool->slices[i].host);

		for (__u32 p = pool->slices[i].range.lo; p <= pool->slices[i].range.hi; p++)
			owner_vals[p] = id;
	}
	return write_owner_table(fd, slot);
}

static int fill_hosts(const struct steer_maps *m, const struct ps_config *cfg, struct ps_error *error)
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
static int point_pool(int fd, struct pool_entry *cur, int *n_cur, const struct ps_addr_key *key, __u32 slot)
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
static bool slot_busy(const struct pool_entry *cur, int n_cur, __u32 slot, const struct ps_addr_key *key)
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
static int fill_maps(const struct steer_maps *m, const struct ps_config *cfg, const int slot[PS_MAX_POOLS], struct ps_error *error)
{
	struct pool_entry cur[PS_MAX_POOLS * 2 + 1];
	struct ps_addr_key keys[PS_MAX_POOLS];
	bool used[PS_MAX_POOLS] = {}, touched[PS_MAX_POOLS] = {}, pending[PS_MAX_POOLS] = {};
	int n_cur, left = (int)cfg->n_pools, err;

	n_cur = read_pool_entries(m->pools, cur, PS_MAX_POOLS * 2);
	err = fill_hosts(m, cfg, error);
	if (err)
		return err;
	for (size_t i = 0; i < cfg->n_pools; i++) {
		addr_key(cfg->pools[i].family, cfg->pools[i].addr, &keys[i]);
		used[slot[i]] = true;
		pending[i] = true;
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
			err = fill_owner(m->owner, s, &cfg->pools[i], cfg);
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
				err = fill_owner(m->owner, s, &cfg->pools[i], cfg);
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
			err = fill_owner(m->owner, s, NULL, cfg);
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
static int fill_guards(const struct steer_maps *m, const struct ps_config *cfg, __u32 self_id,
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
static int bump_gen(int fd, struct ps_error *error)
{
	size_t len = (size_t)sysconf(_SC_PAGESIZE);
	__u64 *gen = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (gen == MAP_FAILED)
		return ps_fail(error, errno, "cannot map ps_steer_gen: %s", strerror(errno));
	__atomic_add_fetch(gen, 1, __ATOMIC_SEQ_CST);
	munmap(gen, len);
	return 0;
}

/* ---- attaching: shared by `steer attach` and the agent ------------------- */

void ps_steer_dev_init(struct ps_steer_dev *d, const char *name)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->ifindex = if_nametoindex(name);
}

/* <pin dir>/steer/<interface>, or the temporary name a new link is pinned at first. */
static int link_pin_path(const char *ifname, bool tmp, char *buf, size_t len, struct ps_error *error)
{
	char dir[PATH_MAX], pin[IF_NAMESIZE];

	if (ps_pin_path(dir, sizeof(dir), PS_PINS_STEER))
		return ps_fail(error, ENAMETOOLONG, "pin dir %s: name too long", ps_pin_dir());
	pin_name(ifname, pin);
	if ((size_t)snprintf(buf, len, "%s/%s%s", dir, tmp ? "tmp:" : "", pin) >= len)
		return ps_fail(error, ENAMETOOLONG, "pin dir %s: name too long", ps_pin_dir());
	return 0;
}

/* The settings the program gets in .rodata: this host's id, the mode, this host's underlay address. */
static void program_settings(const struct ps_config *cfg, const struct ps_host_cfg *self,
			     struct ps_steer__rodata *want)
{
	memset(want, 0, sizeof(*want));
	want->ps_self_host = ps_config_host_id(cfg, self->name);
	want->ps_steer_mode = cfg->steering.mode;
	memcpy((void *)want->bpf_metadata_build_id, ps_build_id_steer, PS_BUILD_ID_LEN);
	if (self->family == AF_INET)
		memcpy((void *)&want->ps_self_underlay4, self->addr, 4);
	else
		memcpy((void *)want->ps_self_underlay6, self->addr, 16);
}

void ps_steer_warn_config(const struct ps_config *cfg, const struct ps_host_cfg *self)
{
	if (cfg->steering.mode != PS_STEER_ENCAP)
		return;
	for (size_t i = 0; i < cfg->n_hosts; i++)
		if (cfg->hosts[i].family != self->family)
			pr_warn("host %s has an %s underlay address but this host (%s) has an %s one: replies owned by it are dropped (dropped_no_route)",
				cfg->hosts[i].name, cfg->hosts[i].family == AF_INET ? "IPv4" : "IPv6", self->name,
				self->family == AF_INET ? "IPv4" : "IPv6");
}

static int load_program(struct ps_steer **out, const struct ps_steer__rodata *want, struct ps_error *error)
{
	char maps_dir[PATH_MAX];
	struct ps_steer *skel;
	int err;

	if (ps_pin_path(maps_dir, sizeof(maps_dir), "maps"))
		return ps_fail(error, ENAMETOOLONG, "pin dir %s: name too long", ps_pin_dir());
	if (mkdir(ps_pin_dir(), 0700) && errno != EEXIST)
		return ps_fail(error, errno, "cannot create %s: %s", ps_pin_dir(), strerror(errno));
	if (mkdir(maps_dir, 0700) && errno != EEXIST)
		return ps_fail(error, errno, "cannot create %s: %s", maps_dir, strerror(errno));

	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = maps_dir);
	skel = ps_steer__open_opts(&opts);
	if (!skel)
		return ps_fail(error, errno, "cannot open the steering BPF object: %s", strerror(errno));
	*skel->rodata = *want;
	err = ps_steer__load(skel);
	if (err) {
		ps_steer__destroy(skel);
		return ps_fail(error, err, "the kernel refused the steering program (%s); run with -v for the verifier's log, "
			      "and check the kernel requirements in the README", strerror(-err));
	}
	*out = skel;
	return 0;
}

/* A new native-mode XDP link on @d, pinned at once (temporary name, then rename). */
static int create_link(int prog_fd, struct ps_steer_dev *d, struct ps_error *error)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = XDP_FLAGS_DRV_MODE);
	char dir[PATH_MAX], pin[PATH_MAX + 256], tmp[PATH_MAX + 256];
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	int fd, err;

	if (ps_pin_path(dir, sizeof(dir), PS_PINS_STEER))
		return ps_fail(error, ENAMETOOLONG, "pin dir %s: name too long", ps_pin_dir());
	if (mkdir(dir, 0700) && errno != EEXIST)
		return ps_fail(error, errno, "cannot create %s: %s", dir, strerror(errno));
	err = link_pin_path(d->name, true, tmp, sizeof(tmp), error) ?: link_pin_path(d->name, false, pin, sizeof(pin), error);
	if (err)
		return err;
	ps_unpin(tmp); /* debris of a crashed attach */

	fd = bpf_link_create(prog_fd, (int)d->ifindex, BPF_XDP, &opts);
	if (fd < 0) {
		err = errno;
		if (err == EOPNOTSUPP)
			return ps_fail(error, err, "the driver of %s has no native XDP support, which steering needs "
				      "(generic XDP cannot forward at line rate and is not used): pick an interface whose driver supports XDP",
				      d->name);
		if (err == EBUSY || err == EEXIST)
			return ps_fail(error, err, "%s already has an XDP program that portslice did not attach: remove it first "
				      "(ip link set dev %s xdp off) or pick another interface", d->name, d->name);
		return ps_fail(error, err, "cannot attach the steering program to %s: %s", d->name, strerror(err));
	}
	if (bpf_obj_pin(fd, tmp) || rename(tmp, pin)) {
		err = errno;
		ps_unpin(tmp);
		close(fd);
		return ps_fail(error, err, "cannot pin the steering link of %s at %s: %s", d->name, pin, strerror(err));
	}
	if (!bpf_obj_get_info_by_fd(fd, &info, &len))
		d->link_id = info.id;
	d->created = true;
	d->result = "attached";
	/* The pin holds the link from now on. */
	close(fd);
	return 0;
}

static int no_such_interface(const struct ps_steer_dev *d, struct ps_error *error)
{
	return ps_fail(error, ENODEV, "no interface named '%s' in this network namespace: check 'ip link'", d->name);
}

/* Steering on @d: its pinned link adopted (the program swapped in if it is not @prog_fd), or a new one. */
static int attach_dev(int prog_fd, __u32 prog_id, struct steer_link *links, size_t n_links, struct ps_steer_dev *d, struct ps_error *error)
{
	struct steer_link *l = links_find(links, n_links, d->name);

	if (!d->ifindex)
		return no_such_interface(d, error);
	if (l && !l->ifindex) {
		/* The interface was deleted since: its link is dead. */
		ps_unpin(l->pin);
		l = NULL;
	}
	if (l && l->ifindex != d->ifindex)
		return ps_fail(error, EEXIST, "%s holds the steering link of another interface (ifindex %u, not %u): renamed, "
			      "or in another network namespace sharing this pin dir (use one PORTSLICE_PIN_DIR per host); "
			      "run 'portslice steer detach --dev %s' first",
			      l->pin, l->ifindex, d->ifindex, d->name);
	if (!l)
		return create_link(prog_fd, d, error);
	d->link_id = l->link_id;
	d->result = "refreshed";
	if (l->prog_id == prog_id)
		return 0;
	if (bpf_link_update(l->fd, prog_fd, NULL))
		return ps_fail(error, errno, "cannot update the steering link of %s: %s", d->name, strerror(errno));
	/* The link now runs prog_id: the pass over the links not named must not swap it again. */
	l->prog_id = prog_id;
	d->result = "updated";
	return 0;
}

/*
 * @d could not be attached (@err): all or nothing, that ends the run; when
 * keeping going, @d keeps the message and the run goes on.
 */
static int dev_failed(struct ps_steer_dev *d, int err, enum ps_steer_on_failure on_failure, struct ps_error *error)
{
	if (on_failure == PS_STEER_ALL_OR_NOTHING)
		return err;
	d->result = NULL;
	d->err = err;
	snprintf(d->error, sizeof(d->error), "%s", error->msg);
	ps_error_clear(error);
	return 0;
}

int ps_steer_apply_locked(const struct ps_config *cfg, const struct ps_host_cfg *self, struct ps_steer_dev *devs,
			  size_t n_devs, enum ps_steer_on_failure on_failure, struct ps_steer_applied *out, struct ps_error *error)
{
	struct steer_link *links = NULL;
	struct steer_maps maps = { -1, -1, -1, -1, -1, -1, -1, -1 };
	struct ps_steer__rodata want;
	struct ps_steer *skel = NULL;
	size_t to_attach = 0;
	int n_links = 0, prog_fd = -1, err;
	bool fresh = false;

	memset(out, 0, sizeof(*out));
	program_settings(cfg, self, &want);
	for (size_t i = 0; i < n_devs; i++) {
		devs[i].link_id = 0;
		devs[i].result = NULL;
		devs[i].err = 0;
		devs[i].error[0] = '\0';
		devs[i].created = false;
	}
	err = ps_features_require(PS_PART_STEERING, "steer attach", error);
	if (err)
		goto out;
	err = ps_layout_check(&ps_steer_layout, error);
	if (err)
		goto out;

	links = calloc(PS_MAX_STEER_LINKS, sizeof(*links));
	if (!links) {
		err = ps_fail(error, ENOMEM, "out of memory");
		goto out;
	}
	n_links = links_list(links, PS_MAX_STEER_LINKS);
	if (n_links < 0) {
		err = ps_fail(error, n_links, "cannot list the steering links under %s: %s", ps_pin_dir(), strerror(-n_links));
		n_links = 0;
		goto out;
	}
	fresh = !n_links;
	/* Interfaces that do not exist fail before anything is loaded: a run with none left costs nothing. */
	for (size_t i = 0; i < n_devs && !err; i++) {
		if (devs[i].ifindex)
			to_attach++;
		else
			err = dev_failed(&devs[i], no_such_interface(&devs[i], error), on_failure, error);
	}
	if (err || (fresh && !to_attach))
		goto out;

	/*
	 * Reuse the running program when its settings and build are these: maps
	 * change, programs do not. Otherwise a new one replaces it in every link.
	 */
	for (int i = 0; i < n_links && prog_fd < 0; i++) {
		int fd = links[i].ifindex ? bpf_prog_get_fd_by_id(links[i].prog_id) : -1;

		if (fd >= 0 && prog_is(fd, &want, out->replaced_build))
			prog_fd = fd;
		else if (fd >= 0)
			close(fd);
	}
	if (prog_fd < 0) {
		err = load_program(&skel, &want, error);
		if (err)
			goto out;
		prog_fd = dup(bpf_program__fd(skel->progs.ps_steer));
	}
	out->prog_id = prog_id_of(prog_fd);

	err = maps_open(&maps, error);
	if (!err) {
		struct pool_entry old[PS_MAX_POOLS * 2];
		int n_old = read_pool_entries(maps.pools, old, ARRAY_SIZE(old));

		err = assign_slots(cfg, old, (size_t)n_old, out->slot, error);
	}
	if (!err)
		err = fill_maps(&maps, cfg, out->slot, error);
	if (!err) {
		/* Before a new link runs: a frame it sees must find its interface's MAC. */
		__u32 ifindex[PS_MAX_STEER_LINKS + PS_MAX_STEER_IFACES];
		size_t n_if = 0;

		for (int i = 0; i < n_links; i++)
			if (links[i].ifindex)
				ifindex[n_if++] = links[i].ifindex;
		for (size_t i = 0; i < n_devs; i++)
			if (devs[i].ifindex)
				ifindex[n_if++] = devs[i].ifindex;
		err = fill_guards(&maps, cfg, want.ps_self_host, ifindex, n_if, error);
	}
	/* After every write, even when one failed half-way: no memo may outlive what it read. */
	if (maps.gen >= 0) {
		int bumped = bump_gen(maps.gen, error);

		err = err ? err : bumped;
	}
	if (err)
		goto out;

	for (size_t i = 0; i < n_devs && !err; i++) {
		if (devs[i].ifindex)
			err = attach_dev(prog_fd, out->prog_id, links, (size_t)n_links, &devs[i], error);
		if (err)
			err = dev_failed(&devs[i], err, on_failure, error);
	}
	/* Every interface runs the same settings: new ones go to the links not named too. */
	for (int i = 0; i < n_links && !err; i++) {
		if (!links[i].ifindex || links[i].prog_id == out->prog_id)
			continue;
		if (bpf_link_update(links[i].fd, prog_fd, NULL))
			err = ps_fail(error, errno, "cannot update the steering link of %s: %s", links[i].ifname, strerror(errno));
	}
out:
	if (err) {
		for (size_t i = 0; i < n_devs; i++) {
			char pin[PATH_MAX + 256];

			if (devs[i].created && !link_pin_path(devs[i].name, false, pin, sizeof(pin), error))
				ps_unpin(pin);
			if (devs[i].created)
				devs[i].result = NULL;
			devs[i].created = false;
		}
	}
	links_close(links, (size_t)n_links);
	free(links);
	maps_close(&maps);
	if (prog_fd >= 0)
		close(prog_fd);
	ps_steer__destroy(skel);
	/* Steering that had no link before and has none now leaves nothing behind. */
	if (fresh && !ps_steer_links_any())
		ps_state_remove_steer(error);
	return err;
}

size_t ps_steer_attached_ifnames(char (*names)[PS_IFNAME_LEN], size_t max)
{
	struct steer_link *links = calloc(PS_MAX_STEER_LINKS, sizeof(*links));
	int n_links = links ? links_list(links, PS_MAX_STEER_LINKS) : -ENOMEM;
	size_t n = 0;

	for (int i = 0; i < n_links && n < max; i++)
		if (links[i].ifindex)
			snprintf(names[n++], PS_IFNAME_LEN, "%s", links[i].ifname);
	if (n_links > 0)
		links_close(links, (size_t)n_links);
	free(links);
	return n;
}

bool ps_steer_build_current(void)
{
	struct steer_link *links = calloc(PS_MAX_STEER_LINKS, sizeof(*links));
	int n_links = links ? links_list(links, PS_MAX_STEER_LINKS) : -ENOMEM;
	bool current = n_links >= 0;

	for (int i = 0; i < n_links && current; i++) {
		struct ps_prog_build b;
		int fd = links[i].ifindex ? bpf_prog_get_fd_by_id(links[i].prog_id) : -1;

		if (fd < 0)
			continue;
		current = !ps_prog_build_read(fd, &b) && !strcmp(b.build_id, ps_build_id_steer);
		close(fd);
	}
	if (n_links > 0)
		links_close(links, (size_t)n_links);
	free(links);
	return current;
}

bool ps_steer_attached_all(const struct ps_steer_dev *devs, size_t n_devs)
{
	struct steer_link *links = calloc(PS_MAX_STEER_LINKS, sizeof(*links));
	int n_links = links ? links_list(links, PS_MAX_STEER_LINKS) : -ENOMEM;
	bool all = n_links >= 0;

	for (size_t i = 0; i < n_devs && all; i++) {
		const struct steer_link *l = links_find(links, (size_t)n_links, devs[i].name);

		all = l && devs[i].ifindex && l->ifindex == devs[i].ifindex;
	}
	if (n_links > 0)
		links_close(links, (size_t)n_links);
	free(links);
	return all;
}

/* ---- steer attach -------------------------------------------------------- */

static void print_attach(const struct ps_config *cfg, const struct ps_host_cfg *self, enum ps_steer_mode mode,
			 const struct ps_steer_dev *devs, size_t n_devs, const int slot[PS_MAX_POOLS], __u32 prog_id,
			 const char *replaced)
{
	char addr[PS_ADDR_STR_LEN];

	if (ps_json) {
		json_object *root = json_object_new_object(), *ifs = json_object_new_array(),
			    *pools = json_object_new_array();

		json_object_object_add(root, "host", json_object_new_string(self->name));
		json_object_object_add(root, "host_id", json_object_new_int(ps_config_host_id(cfg, self->name)));
		json_object_object_add(root, "mode", json_object_new_string(ps_steer_mode_name(mode)));
		json_object_object_add(root, "prog_id", json_object_new_uint64(prog_id));
		json_object_object_add(root, "build_id", json_object_new_string(ps_build_id_steer));
		json_object_object_add(root, "replaced_build_id", replaced[0] ? json_object_new_string(replaced) : NULL);
		json_object_object_add(root, "hosts", json_object_new_int((int)cfg->n_hosts));
		for (size_t i = 0; i < n_devs; i++) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "name", json_object_new_string(devs[i].name));
			json_object_object_add(o, "ifindex", json_object_new_uint64(devs[i].ifindex));
			json_object_object_add(o, "link_id", json_object_new_uint64(devs[i].link_id));
			json_object_object_add(o, "result", json_object_new_string(devs[i].result));
			json_object_array_add(ifs, o);
		}
		json_object_object_add(root, "interfaces", ifs);
		for (size_t i = 0; i < cfg->n_pools; i++) {
			const struct ps_pool_cfg *p = &cfg->pools[i];
			json_object *o = json_object_new_object(), *sl = json_object_new_array();

			ps_format_addr(p->family, p->addr, addr, sizeof(addr));
			json_object_object_add(o, "name", json_object_new_string(p->name));
			json_object_object_add(o, "address", json_object_new_string(addr));
			json_object_object_add(o, "slot", json_object_new_int(slot[i]));
			for (size_t j = 0; j < p->n_slices; j++) {
				json_object *s = json_object_new_object();

				json_object_object_add(s, "host", json_object_new_string(p->slices[j].host));
				json_object_object_add(s, "host_id",
						       json_object_new_int(ps_config_host_id(cfg, p->slices[j].host)));
				json_object_object_add(s, "first_port", json_object_new_int(p->slices[j].range.lo));
				json_object_object_add(s, "last_port", json_object_new_int(p->slices[j].range.hi));
				json_object_array_add(sl, s);
			}
			json_object_object_add(o, "slices", sl);
			json_object_array_add(pools, o);
		}
		json_object_object_add(root, "pools", pools);
		print_json(root);
		return;
	}
	for (size_t i = 0; i < n_devs; i++)
		printf("steering %s on %s (ifindex %u, link %u, prog %u)\n", devs[i].result, devs[i].name,
		       devs[i].ifindex, devs[i].link_id, prog_id);
	printf("  host %s (id %u of %zu), mode %s\n", self->name, ps_config_host_id(cfg, self->name), cfg->n_hosts,
	       ps_steer_mode_name(mode));
	if (replaced[0])
		printf("  program of build %s replaced in place by this portslice's build %s (links and maps kept)\n",
		       replaced, ps_build_id_steer);
	for (size_t i = 0; i < cfg->n_pools; i++) {
		const struct ps_pool_cfg *p = &cfg->pools[i];

		ps_format_addr(p->family, p->addr, addr, sizeof(addr));
		printf("  pool %-16s %s (slot %d):", p->name, addr, slot[i]);
		for (size_t j = 0; j < p->n_slices; j++)
			printf(" %s %u-%u", p->slices[j].host, p->slices[j].range.lo, p->slices[j].range.hi);
		printf("\n");
	}
}

static int run_steer_attach(int argc, char **argv, struct ps_error *error)
{
	struct steer_opts o = {};
	struct ps_config cfg = {};
	struct ps_steer_dev devs[PS_MAX_STEER_IFACES];
	struct ps_steer_applied applied = {};
	const struct ps_host_cfg *self;
	size_t n_devs = 0;
	int lock = -1, err;
	char hostbuf[256];

	err = ps_cli_parse(&ps_cmd_steer_attach, argc, argv, on_steer_opt, &o, error);
	if (err)
		return err > 0 ? 0 : err;
	if (!o.config)
		return ps_fail(error, EINVAL, "steer attach needs --config FILE: the fleet config with hosts: and steering:");
	if (!o.host) {
		if (gethostname(hostbuf, sizeof(hostbuf)))
			return ps_fail(error, errno, "cannot read the hostname: pass --host NAME");
		hostbuf[sizeof(hostbuf) - 1] = '\0';
		o.host = hostbuf;
	}

	/* Everything that can be checked without touching the kernel first. */
	err = ps_config_load_file(o.config, &cfg, error);
	if (err)
		return err;
	if (!cfg.n_hosts) {
		err = ps_fail(error, EINVAL, "%s has no hosts: section: steering forwards each reply to the underlay address of the host "
			     "that owns its port; list every host of the fleet there (host-a: {address: 198.18.10.1})", o.config);
		goto out;
	}
	if (!cfg.steering.present) {
		err = ps_fail(error, EINVAL, "%s has no steering: section: add 'steering: {mode: l2}' (hosts on one segment) "
			     "or 'steering: {mode: encap}' (IP-in-IP to the owner)", o.config);
		goto out;
	}
	self = ps_config_find_host(&cfg, o.host);
	if (!self) {
		err = ps_fail(error, ENOENT, "host '%s' is not listed under hosts: in %s: pass --host NAME, or add it there with its underlay address",
			     o.host, o.config);
		goto out;
	}
	for (size_t i = 0; i < (o.n_devs ? o.n_devs : cfg.steering.n_interfaces); i++) {
		const char *name = o.n_devs ? o.devs[i] : cfg.steering.interfaces[i];
		bool dup = false;

		if (!ps_valid_ifname(name)) {
			err = ps_fail(error, EINVAL, "'%s' is not an interface name", name);
			goto out;
		}
		for (size_t j = 0; j < n_devs; j++)
			dup |= !strcmp(devs[j].name, name);
		if (dup)
			continue;
		ps_steer_dev_init(&devs[n_devs], name);
		if (!devs[n_devs].ifindex) {
			err = no_such_interface(&devs[n_devs], error);
			goto out;
		}
		n_devs++;
	}
	if (!n_devs) {
		err = ps_fail(error, EINVAL, "steer attach needs --dev IFACE, or steering.interfaces in %s", o.config);
		goto out;
	}
	ps_steer_warn_config(&cfg, self);

	err = ps_env_require_host(false, error);
	if (!err)
		err = ps_env_require_btf(error);
	if (!err)
		err = ps_env_require_bpffs(ps_pin_dir(), error);
	if (err)
		goto out;
	lock = ps_state_lock(error);
	if (lock < 0) {
		err = lock;
		goto out;
	}
	err = ps_steer_apply_locked(&cfg, self, devs, n_devs, PS_STEER_ALL_OR_NOTHING, &applied, error);
	if (!err)
		print_attach(&cfg, self, cfg.steering.mode, devs, n_devs, applied.slot, applied.prog_id,
			     applied.replaced_build);
out:
	ps_state_unlock(lock);
	ps_config_free(&cfg);
	return err;
}

/* ---- detaching: shared by `steer detach` and the agent ------------------- */

/* Does @l belong to the interfaces @names? By name, and with @by_index for an interface renamed since. */
static bool link_named(const struct steer_link *l, const char *const *names, size_t n_names, bool by_index)
{
	for (size_t j = 0; j < n_names; j++) {
		unsigned int idx;

		if (!strcmp(l->ifname, names[j]))
			return true;
		idx = by_index ? if_nametoindex(names[j]) : 0;
		if (idx && idx == l->ifindex && !if_nametoindex(l->ifname))
			return true;
	}
	return false;
}

int ps_steer_detach_locked(const char *const *names, size_t n_names, bool all_but_named,
			   ps_steer_detached_fn on_detached, void *arg, bool *maps_removed, struct ps_error *error)
{
	struct steer_link *links = calloc(PS_MAX_STEER_LINKS, sizeof(*links));
	int n_links, err = 0;

	*maps_removed = false;
	if (!links)
		return ps_fail(error, ENOMEM, "out of memory");
	n_links = links_list(links, PS_MAX_STEER_LINKS);
	if (n_links < 0) {
		err = ps_fail(error, n_links, "cannot list the steering links under %s: %s", ps_pin_dir(), strerror(-n_links));
		n_links = 0;
		goto out;
	}
	for (int i = 0; i < n_links; i++) {
		/* Renamed interfaces are found by index only when naming what goes: what stays is asked for by name. */
		if (link_named(&links[i], names, n_names, !all_but_named) == all_but_named)
			continue;
		err = ps_unpin(links[i].pin);
		if (err) {
			err = ps_fail(error, err, "cannot remove %s: %s", links[i].pin, strerror(-err));
			goto out;
		}
		if (on_detached)
			on_detached(links[i].ifname, links[i].ifindex, arg);
	}
	if (!ps_steer_links_any()) {
		char meta[PATH_MAX], dir[PATH_MAX];

		ps_pin_path(meta, sizeof(meta), PS_PINS_MAPS "/%s", ps_steer_layout.meta_map);
		ps_pin_path(dir, sizeof(dir), PS_PINS_STEER);
		*maps_removed = !access(meta, F_OK) || !access(dir, F_OK);
		err = ps_state_remove_steer(error);
	}
out:
	links_close(links, (size_t)n_links);
	free(links);
	return err;
}

/* ---- steer detach -------------------------------------------------------- */

/* The interfaces `steer detach` took steering off: names for the output, indexes to match renamed ones. */
struct detached {
	json_object *names;
	__u32 ifindex[PS_MAX_STEER_LINKS];
};

static void note_detached(const char *ifname, __u32 ifindex, void *arg)
{
	struct detached *d = arg;
	size_t n = json_object_array_length(d->names);

	if (n < PS_MAX_STEER_LINKS)
		d->ifindex[n] = ifindex;
	json_object_array_add(d->names, json_object_new_string(ifname));
}

static int run_steer_detach(int argc, char **argv, struct ps_error *error)
{
	struct steer_opts o = {};
	struct detached *detached = calloc(1, sizeof(*detached));
	json_object *missing = json_object_new_array();
	bool removed = false;
	int lock = -1, err;

	if (!detached) {
		json_object_put(missing);
		return ps_fail(error, ENOMEM, "out of memory");
	}
	detached->names = json_object_new_array();
	err = ps_cli_parse(&ps_cmd_steer_detach, argc, argv, on_steer_opt, &o, error);
	if (err) {
		err = err > 0 ? 0 : err;
		goto out;
	}
	if (!o.n_devs == !o.all) {
		err = ps_fail(error, EINVAL, "steer detach needs exactly one of --dev IFACE or --all");
		goto out;
	}
	for (size_t i = 0; i < o.n_devs; i++) {
		if (!ps_valid_ifname(o.devs[i])) {
			err = ps_fail(error, EINVAL, "'%s' is not an interface name", o.devs[i]);
			goto out;
		}
	}
	err = ps_env_require_host(false, error);
	if (err)
		goto out;
	lock = ps_state_lock(error);
	if (lock < 0) {
		err = lock;
		goto out;
	}
	/* --all: every interface but none. */
	err = ps_steer_detach_locked(o.devs, o.n_devs, o.all, note_detached, detached, &removed, error);
	if (err)
		goto out;
	for (size_t j = 0; j < o.n_devs; j++) {
		unsigned int idx = if_nametoindex(o.devs[j]);
		bool found = false;

		/* By name, or an interface renamed since whose link this was. */
		for (size_t k = 0; k < json_object_array_length(detached->names) && !found; k++) {
			const char *name = json_object_get_string(json_object_array_get_idx(detached->names, k));

			found = !strcmp(name, o.devs[j]) ||
				(k < PS_MAX_STEER_LINKS && idx && detached->ifindex[k] == idx && !if_nametoindex(name));
		}
		if (!found)
			json_object_array_add(missing, json_object_new_string(o.devs[j]));
	}
	if (ps_json) {
		json_object *root = json_object_new_object();

		json_object_object_add(root, "detached", json_object_get(detached->names));
		json_object_object_add(root, "not_attached", json_object_get(missing));
		json_object_object_add(root, "steering_removed", json_object_new_boolean(removed));
		print_json(root);
	} else {
		for (size_t k = 0; k < json_object_array_length(detached->names); k++)
			printf("steering detached from %s\n",
			       json_object_get_string(json_object_array_get_idx(detached->names, k)));
		for (size_t k = 0; k < json_object_array_length(missing); k++)
			printf("%s had no steering attached: nothing to do\n",
			       json_object_get_string(json_object_array_get_idx(missing, k)));
		if (o.all && !json_object_array_length(detached->names))
			printf("no interface had steering attached: nothing to do\n");
		if (removed)
			printf("no interface has steering any more: its maps are removed\n");
	}
out:
	json_object_put(detached->names);
	free(detached);
	json_object_put(missing);
	ps_state_unlock(lock);
	return err;
}

/* ---- status -------------------------------------------------------------- */

/* Names of struct ps_steer_stats' fields, in order. */
static const char *const steer_stat_names[] = { PS_STEER_STAT_NAMES };
_Static_assert(ARRAY_SIZE(steer_stat_names) == sizeof(struct ps_steer_stats) / sizeof(__u64),
	       "steer_stat_names must name every field of struct ps_steer_stats");

static void add_xdp_stat(const char *name, uint64_t value, void *arg)
{
	json_object_object_add(arg, name, json_object_new_uint64(value));
}

static void host_name(int names_fd, __u32 id, char out[PS_HOST_NAME_LEN])
{
	out[0] = '\0';
	if (names_fd >= 0 && bpf_map_lookup_elem(names_fd, &id, out))
		out[0] = '\0';
	out[PS_HOST_NAME_LEN - 1] = '\0';
	if (!out[0])
		snprintf(out, PS_HOST_NAME_LEN, "host-id-%u", id);
}

json_object *ps_steer_status_json(void)
{
	json_object *root = json_object_new_object(), *ifs = json_object_new_array();
	struct steer_link *links = calloc(PS_MAX_STEER_LINKS, sizeof(*links));
	int n = links ? links_list(links, PS_MAX_STEER_LINKS) : 0;
	int names_fd = ps_pin_map_open(PS_STEER_NAMES_MAP), fd;

	for (int i = 0; i < n; i++) {
		json_object *o = json_object_new_object();
		struct ps_steer__rodata have;
		struct ps_prog_build build;
		char name[PS_HOST_NAME_LEN];
		int pfd = bpf_prog_get_fd_by_id(links[i].prog_id);

		json_object_object_add(o, "name", json_object_new_string(links[i].ifname));
		json_object_object_add(o, "ifindex", json_object_new_uint64(links[i].ifindex));
		/* An interface deleted since leaves a link attached to nothing. */
		json_object_object_add(o, "interface_exists", json_object_new_boolean(links[i].ifindex != 0));
		json_object_object_add(o, "link_id", json_object_new_uint64(links[i].link_id));
		json_object_object_add(o, "prog_id", json_object_new_uint64(links[i].prog_id));
		if (pfd >= 0 && !ps_prog_build_read(pfd, &build))
			ps_prog_build_json(o, &build, ps_build_id_steer);
		if (pfd >= 0 && !prog_settings(pfd, &have)) {
			host_name(names_fd, have.ps_self_host, name);
			json_object_object_add(o, "mode", json_object_new_string(ps_steer_mode_name(have.ps_steer_mode)));
			json_object_object_add(o, "self_host", json_object_new_string(name));
			json_object_object_add(o, "self_host_id", json_object_new_uint64(have.ps_self_host));
		}
		if (pfd >= 0)
			close(pfd);
		/* What the driver did with what the program returned: XDP_TX errors show only here. */
		if (links[i].ifindex) {
			json_object *k = json_object_new_object();

			if (ps_dev_xdp_stats(links[i].ifname, add_xdp_stat, k))
				json_object_put(k);
			else
				json_object_object_add(o, "kernel_xdp", k);
		}
		json_object_array_add(ifs, o);
	}
	if (n > 0)
		links_close(links, (size_t)n);
	free(links);
	json_object_object_add(root, "attached", json_object_new_boolean(n > 0));
	json_object_object_add(root, "layout_version", json_object_new_int(PS_STEER_LAYOUT_VERSION));
	json_object_object_add(root, "interfaces", ifs);

	fd = ps_pin_map_open("ps_steer_stats");
	if (fd >= 0) {
		struct ps_steer_stats st;
		__u32 zero = 0;
		json_object *c = json_object_new_object();

		if (!ps_percpu_sum(fd, &zero, (__u64 *)&st, sizeof(st) / sizeof(__u64))) {
			for (size_t f = 0; f < ARRAY_SIZE(steer_stat_names); f++)
				json_object_object_add(c, steer_stat_names[f],
						       json_object_new_uint64(((__u64 *)&st)[f]));
		}
		json_object_object_add(root, "counters", c);
		close(fd);
	}
	fd = ps_pin_map_open("ps_steer_fwd");
	if (fd >= 0) {
		json_object *f = json_object_new_object();

		for (__u32 id = 1; id < PS_MAX_HOSTS; id++) {
			char name[PS_HOST_NAME_LEN] = "";
			__u64 count;

			if (ps_percpu_sum(fd, &id, &count, 1))
				continue;
			if (names_fd >= 0 && !bpf_map_lookup_elem(names_fd, &id, name) && name[0] == '\0' && !count)
				continue; /* no such host, nothing counted */
			if (names_fd < 0 && !count)
				continue;
			host_name(names_fd, id, name);
			json_object_object_add(f, name, json_object_new_uint64(count));
		}
		json_object_object_add(root, "forwarded_to", f);
		close(fd);
	}
	if (names_fd >= 0)
		close(names_fd);
	return root;
}

/* The driver's XDP counters of one interface, and what a refusal means. */
static void print_kernel_xdp(json_object *iface)
{
	json_object *k, *v;
	__u64 refused = 0;

	if (!json_object_object_get_ex(iface, "kernel_xdp", &k) || !json_object_object_length(k))
		return;
	printf("    kernel XDP counters:");
	json_object_object_foreach(k, key, val) {
		printf(" %s %s", key, json_object_get_string(val));
		if (!strcmp(key, "xdp_tx_errors") || !strcmp(key, "xdp_xmit_errors"))
			refused += json_object_get_uint64(val);
	}
	printf("\n");
	if (refused && json_object_object_get_ex(iface, "name", &v))
		printf("    the driver refused %llu frames the program sent on (counted as forwarded): "
		       "on veth the peer needs an XDP program (portslice doctor --config FILE)\n",
		       (unsigned long long)refused);
}

void ps_steer_status_print(json_object *st)
{
	json_object *ifs, *c, *f;
	size_t n;

	if (!json_object_object_get_ex(st, "interfaces", &ifs) || !(n = json_object_array_length(ifs))) {
		printf("\nSteering: not attached to any interface\n");
		return;
	}
	printf("\nSteering: %zu interface%s\n", n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(ifs, i), *v;
		const char *mode = "?", *self = "?";

		if (json_object_object_get_ex(o, "mode", &v))
			mode = json_object_get_string(v);
		if (json_object_object_get_ex(o, "self_host", &v))
			self = json_object_get_string(v);
		json_object_object_get_ex(o, "name", &v);
		printf("  %-16s", json_object_get_string(v));
		json_object_object_get_ex(o, "interface_exists", &v);
		if (!json_object_get_boolean(v)) {
			printf(" (interface gone: portslice steer detach --dev NAME)\n");
			continue;
		}
		json_object_object_get_ex(o, "ifindex", &v);
		printf(" ifindex %-5s mode %-6s host %s", json_object_get_string(v), mode, self);
		json_object_object_get_ex(o, "link_id", &v);
		printf("  (link %s", json_object_get_string(v));
		json_object_object_get_ex(o, "prog_id", &v);
		printf(", prog %s", json_object_get_string(v));
		if (json_object_object_get_ex(o, "build_id", &v)) {
			json_object *cur;

			printf(", build %s", v ? json_object_get_string(v) : "none");
			if (json_object_object_get_ex(o, "build_current", &cur) && !json_object_get_boolean(cur))
				printf(", not this portslice's %s: steer attach again (or the agent) replaces it in place",
				       ps_build_id_steer);
		}
		printf(")\n");
		print_kernel_xdp(o);
	}
	if (json_object_object_get_ex(st, "counters", &c)) {
		printf("  counters:");
		json_object_object_foreach(c, key, val) {
			if (!strcmp(key, "dropped_no_owner") || !strcmp(key, "dropped_no_route"))
				printf("\n           ");
			printf(" %s %s", key, json_object_get_string(val));
		}
		printf("\n");
	}
	if (json_object_object_get_ex(st, "forwarded_to", &f) && json_object_object_length(f)) {
		printf("  forwarded to:");
		json_object_object_foreach(f, key, val)
			printf(" %s %s", key, json_object_get_string(val));
		printf("\n");
	}
}

/* ---- the command --------------------------------------------------------- */

static const struct ps_opt steer_attach_opts[] = {
	{ "dev", OPT_DEV, "IFACE", "interface replies arrive on; repeat for several (default: steering.interfaces)" },
	{ "config", OPT_CONFIG, "FILE", "fleet config file with hosts: and steering: (required)" },
	{ "host", OPT_HOST, "NAME", "this host's name under hosts: (default: hostname)" },
	{ NULL },
};

static const struct ps_opt steer_detach_opts[] = {
	{ "dev", OPT_DEV, "IFACE", "take steering off this interface; repeat for several" },
	{ "all", OPT_ALL, NULL, "take steering off every interface and remove its maps" },
	{ NULL },
};

static const struct ps_opt steer_opts_none[] = {
	{ NULL },
};

static const struct ps_cmd ps_cmd_steer_attach = {
	.name = "steer attach",
	.synopsis = "[--dev IFACE]... --config FILE [--host NAME]",
	.summary = "Forward replies for other hosts' ports to their owner; pass those for this host's ports.",
	.details =
		"Loads the XDP program (native mode: the driver must support XDP) and pins its link\n"
		"under <pin dir>/steer/IFACE. The maps get every pool of the config: its address, and\n"
		"for each port the host whose slice holds it (ports of no slice are dropped). Host\n"
		"ids are positions in hosts:, so every host must read the same file. Attaching again\n"
		"only rewrites the maps (a host joins, a slice moves): program and link stay; a\n"
		"changed mode, host id or underlay address swaps the program inside the same links.",
	.opts = steer_attach_opts,
	.run = run_steer_attach,
};

static const struct ps_cmd ps_cmd_steer_detach = {
	.name = "steer detach",
	.synopsis = "--dev IFACE... | --all",
	.summary = "Take steering off interfaces; with the last one, its maps go too.",
	.details =
		"Detaching an interface that has no steering succeeds and says so. Cgroup\n"
		"attachments are not touched ('portslice detach --all' removes both).",
	.opts = steer_detach_opts,
	.run = run_steer_detach,
};

static const struct ps_cmd *const steer_subcommands[] = {
	&ps_cmd_steer_attach,
	&ps_cmd_steer_detach,
};

static int run_steer(int argc, char **argv, struct ps_error *error)
{
	int i;

	/* -j/--json may come before the subcommand too. */
	for (i = 1; i < argc && (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json")); i++)
		ps_json = true;
	if (i == argc)
		return ps_fail(error, EINVAL, "steer needs a subcommand, attach or detach: see 'portslice help steer'");
	if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help") || !strcmp(argv[i], "help")) {
		const struct ps_cmd *sub = NULL;

		for (size_t k = 0; i + 1 < argc && k < ARRAY_SIZE(steer_subcommands); k++)
			if (!strcmp(steer_subcommands[k]->name + 6, argv[i + 1]))
				sub = steer_subcommands[k];
		ps_cli_usage(stdout, sub ? sub : &ps_cmd_steer);
		return 0;
	}
	for (size_t k = 0; k < ARRAY_SIZE(steer_subcommands); k++)
		if (!strcmp(steer_subcommands[k]->name + 6, argv[i]))
			return steer_subcommands[k]->run(argc - i, argv + i, error);
	return ps_fail(error, EINVAL, "unknown steer subcommand '%s': use attach or detach (see 'portslice help steer')", argv[i]);
}

const struct ps_cmd ps_cmd_steer = {
	.name = "steer",
	.synopsis = "attach [--dev IFACE]... --config FILE [--host NAME] | detach --dev IFACE... | --all",
	.summary = "Steer replies to the host that owns their port (XDP on the ingress interfaces).",
	.details =
		"Subcommands (each has --help):\n"
		"  portslice steer attach [--dev IFACE]... --config FILE [--host NAME]\n"
		"      Load or refresh steering on the interfaces (default: steering.interfaces).\n"
		"  portslice steer detach --dev IFACE... | --all\n"
		"      Take steering off interfaces.\n"
		"\n"
		"Replies to a pool address reach whichever host the network picks. On every host,\n"
		"the program passes replies for ports of this host's slices and forwards the others\n"
		"to their owner: l2 mode rewrites the MACs (hosts on one segment), encap mode wraps\n"
		"them in IP-in-IP to the owner's underlay address (hosts: in the config). Replies\n"
		"for ports of no slice are dropped. 'portslice status' shows the counters.",
	.opts = steer_opts_none,
	.run = run_steer,
	.full_name_only = true,
};
