// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The socket side of status: what is attached, and how full each slice is. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <json-c/json.h>

#include "core/build.h"
#include "core/config.h"
#include "core/percpu.h"
#include "core/pins.h"
#include "sock/blocks.h"
#include "sock/links.h"
#include "sock/maps.h"
#include "sock/slots.h"
#include "sock/status.h"
#include "sock/tw_view.h"

/*
 * One tuple that blocks a slice port for one destination: claimed by a
 * socket (portslice's map) or held in TIME_WAIT (the kernel's table).
 */
struct dest {
	__u32 slot;
	__u32 proto;
	__u32 raddr[4];
	__u32 rport;
	__u32 lport;   /* sorts last: a destination's tuples are one run, by port */
	__u32 tw;      /* 1: TIME_WAIT, 0: claimed */
};
/* The destination: what a run of struct dest shares. */
#define DEST_KEY_LEN offsetof(struct dest, lport)

/* Destinations listed per pool, the busiest first. */
#define TOP_DESTS 5

struct dest_use {
	struct dest key;
	__u64 claimed, time_wait;
	__u32 blocked;        /* slice ports this destination cannot get: claimed, TIME_WAIT or bound */
};

struct pool_usage {
	__u32 size;           /* ports of the held blocks: what connect() searches */
	__u32 block_size;
	json_object *blocks;  /* [{first, last, draining}] */
	__u64 tuples[2];      /* [0] TCP, [1] UDP */
	__u64 ports_in_use;   /* ports with a claim or a bind */
	__u64 ports_bound;    /* ports held by bind() */
	__u64 tw_tuples;      /* TIME_WAIT tuples on the pool address and a slice port */
	__u64 tw_ports;       /* slice ports with at least one */
	/* Per protocol ([0] TCP, [1] UDP): ports held by bind(), which no destination can have. */
	__u64 bound[2][PS_PORTS_PER_POOL / 64];
	__u64 n_bound[2];
	__u64 tw_seen[PS_PORTS_PER_POOL / 64];
	struct dest_use top[TOP_DESTS];
	size_t n_top;
	struct ps_stats stats[2];
};

static bool bit_test(const __u64 *map, __u32 bit)
{
	return map[bit / 64] >> (bit % 64) & 1;
}

static void bit_set(__u64 *map, __u32 bit)
{
	map[bit / 64] |= 1ULL << (bit % 64);
}

static int cmp_dest(const void *a, const void *b)
{
	return memcmp(a, b, offsetof(struct dest, tw));
}

struct dest_list {
	struct dest *d;
	size_t n, cap;
};

static int dest_add(struct dest_list *l, const struct dest *d)
{
	if (l->n == l->cap) {
		struct dest *nd = realloc(l->d, (l->cap = l->cap ? l->cap * 2 : 4096) * sizeof(*nd));

		if (!nd)
			return -ENOMEM;
		l->d = nd;
	}
	l->d[l->n++] = *d;
	return 0;
}

static int slot_of(const struct ps_pool *pools, const struct ps_tuple *t)
{
	for (int s = 0; s < PS_MAX_POOLS; s++)
		if (pools[s].flags & PS_POOL_ACTIVE && pools[s].family == t->family &&
		    !memcmp(pools[s].addr, t->laddr, sizeof(t->laddr)))
			return s;
	return -1;
}

/* Walks every claimed tuple: counts per pool, and each tuple for its destination. */
static int count_tuples(int fd, const struct ps_pool *pools, struct pool_usage *use, struct dest_list *l)
{
	struct ps_tuple key, next, *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		struct dest d = {};
		int slot;

		key = next;
		prev = &key;
		slot = slot_of(pools, &key);
		if (slot < 0)
			continue;
		use[slot].tuples[key.proto == IPPROTO_UDP]++;
		d.slot = slot;
		d.proto = key.proto;
		memcpy(d.raddr, key.raddr, sizeof(key.raddr));
		d.rport = key.rport;
		d.lport = key.lport;
		if (dest_add(l, &d))
			return -ENOMEM;
	}
	return 0;
}

struct tw_arg {
	struct pool_usage *use;
	struct dest_list *l;
};

static int on_time_wait(const struct ps_tw_tuple *t, void *arg)
{
	struct tw_arg *a = arg;
	struct pool_usage *u = &a->use[t->slot];
	struct dest d = { .slot = t->slot, .proto = IPPROTO_TCP, .rport = t->rport, .lport = t->lport, .tw = 1 };

	u->tw_tuples++;
	if (!bit_test(u->tw_seen, t->lport)) {
		bit_set(u->tw_seen, t->lport);
		u->tw_ports++;
	}
	memcpy(d.raddr, t->raddr, sizeof(d.raddr));
	return dest_add(a->l, &d);
}

/* Keeps the TOP_DESTS destinations with the fewest ports left, the worst first. */
static void rank_dest(struct pool_usage *u, const struct dest_use *du)
{
	size_t i;

	if (u->n_top == TOP_DESTS && u->top[TOP_DESTS - 1].blocked >= du->blocked)
		return;
	i = u->n_top < TOP_DESTS ? u->n_top++ : TOP_DESTS - 1;
	while (i > 0 && u->top[i - 1].blocked < du->blocked) {
		u->top[i] = u->top[i - 1];
		i--;
	}
	u->top[i] = *du;
}

/*
 * Per destination: the slice ports it cannot get (claimed for it, in
 * TIME_WAIT towards it, or bound whole), one run of the sorted list each.
 */
static void count_dests(struct dest_list *l, struct pool_usage *use)
{
	if (l->n > 1)
		qsort(l->d, l->n, sizeof(*l->d), cmp_dest);
	for (size_t i = 0; i < l->n;) {
		struct pool_usage *u = &use[l->d[i].slot];
		struct dest_use du = { .key = l->d[i] };
		size_t j;

		for (j = i; j < l->n && !memcmp(&l->d[j], &l->d[i], DEST_KEY_LEN); j++) {
			du.claimed += !l->d[j].tw;
			du.time_wait += l->d[j].tw;
			/* A port counts once (a TIME_WAIT tuple reused by a claim), a bound one in ports_bound. */
			if ((j == i || l->d[j].lport != l->d[j - 1].lport) &&
			    !bit_test(u->bound[l->d[j].proto == IPPROTO_UDP], l->d[j].lport))
				du.blocked++;
		}
		rank_dest(u, &du);
		i = j;
	}
}

static int count_ports(int fd, const struct ps_pool *pool, int slot, struct pool_usage *use)
{
	__u32 n = pool->port_hi >= pool->port_lo ? (__u32)pool->port_hi - pool->port_lo + 1 : 0;
	/* TCP's words, UDP's, then the keys a batch lookup returns. */
	__u32 *words = calloc(3 * (size_t)n + 1, sizeof(*words)), *keys = words + 2 * n;
	int err;

	if (!words)
		return -ENOMEM;
	err = ps_array_read(fd, PS_PORT_USERS_INDEX(slot, IPPROTO_TCP, pool->port_lo), n, keys, words) ?:
	      ps_array_read(fd, PS_PORT_USERS_INDEX(slot, IPPROTO_UDP, pool->port_lo), n, keys, words + n);
	for (__u32 i = 0; !err && i < n; i++) {
		__u32 port = pool->port_lo + i, tcp_word = words[i], udp_word = words[n + i];
		__u32 both[2] = { tcp_word, udp_word };

		use->ports_in_use += (tcp_word | udp_word) != 0;
		use->ports_bound += ((tcp_word | udp_word) >> PS_PORT_BIND_SHIFT) != 0;
		/* Holds are per protocol: a UDP bind leaves the port to TCP connects. */
		for (int p = 0; p < 2; p++) {
			if (both[p] >> PS_PORT_BIND_SHIFT) {
				bit_set(use->bound[p], port);
				use->n_bound[p]++;
			}
		}
	}
	free(words);
	return err;
}

static int sum_stats(int fd, int slot, struct pool_usage *use)
{
	for (int p = 0; p < 2; p++) {
		__u32 idx = PS_STATS_INDEX(slot, p ? IPPROTO_UDP : IPPROTO_TCP);
		int err = ps_percpu_sum(fd, &idx, (__u64 *)&use->stats[p], sizeof(use->stats[p]) / sizeof(__u64));

		if (err)
			return err;
	}
	return 0;
}

/* Names of struct ps_stats' fields, in order. */
static const char *const stat_names[] = { PS_SOCK_STAT_NAMES };
_Static_assert(sizeof(stat_names) / sizeof(stat_names[0]) == sizeof(struct ps_stats) / sizeof(__u64),
	       "stat_names must name every field of struct ps_stats");

static json_object *stats_json(const struct ps_stats *s)
{
	json_object *o = json_object_new_object();
	const __u64 *v = (const __u64 *)s;

	for (size_t f = 0; f < sizeof(stat_names) / sizeof(stat_names[0]); f++)
		json_object_object_add(o, stat_names[f], json_object_new_uint64(v[f]));
	return o;
}

/*
 * The programs of the attachment's pinned links, each with its build id, and
 * "build_ids" (the distinct ones) and "build_current" (every program runs
 * this binary's build; if not, attach again or the agent replaces them).
 */
static void add_programs(json_object *o, __u64 id)
{
	struct ps_prog_build progs[PS_ATTACHMENT_MAX_PROGS];
	int n = ps_attachment_progs(id, progs, PS_ATTACHMENT_MAX_PROGS);
	json_object *arr = json_object_new_array(), *builds = json_object_new_array();
	bool current = true;

	for (int i = 0; i < n; i++) {
		json_object *p = json_object_new_object();
		const char *b = ps_build_id_str(&progs[i]);
		bool seen = false;

		json_object_object_add(p, "name", json_object_new_string(progs[i].name));
		json_object_object_add(p, "link_id", json_object_new_uint64(progs[i].link_id));
		ps_prog_build_json(p, &progs[i], ps_build_id_sock);
		json_object_array_add(arr, p);
		current = current && !strcmp(progs[i].build_id, ps_build_id_sock);
		for (size_t j = 0; j < json_object_array_length(builds) && !seen; j++)
			seen = !strcmp(json_object_get_string(json_object_array_get_idx(builds, j)), b);
		if (!seen)
			json_object_array_add(builds, json_object_new_string(b));
	}
	json_object_object_add(o, "build_ids", builds);
	json_object_object_add(o, "build_current", json_object_new_boolean(current));
	json_object_object_add(o, "programs", arr);
}

struct att_list {
	json_object *arr;
	const struct ps_pool *pools;
	const char *mnt;
	size_t live, removed, draining;
	char *live_dirs[PS_MAX_ATTACHMENTS]; /* of the live ones, for the kernel's view of their sockets */
};

static int attachment_cb(__u64 id, const struct ps_attachment *att, void *arg)
{
	struct att_list *l = arg;
	json_object *o = json_object_new_object(), *names = json_object_new_array();
	char path[PATH_MAX + 256];
	struct stat st;
	/* The same path may hold a new cgroup since: compare the id too. */
	bool exists, draining = att->flags & PS_ATT_DRAINING;

	snprintf(path, sizeof(path), "%s%s", l->mnt, att->path);
	exists = !stat(path, &st) && st.st_ino == id;
	json_object_object_add(o, "cgroup", json_object_new_string(path));
	json_object_object_add(o, "cgroup_id", json_object_new_uint64(id));
	json_object_object_add(o, "cgroup_exists", json_object_new_boolean(exists));
	json_object_object_add(o, "links_pinned", json_object_new_boolean(ps_attachment_exists(id)));
	/* Detached, keeping its release programs until its sockets gave back. */
	json_object_object_add(o, "draining", json_object_new_boolean(draining));
	for (__u32 i = 0; i < att->pool_count && i < PS_MAX_POOLS; i++)
		json_object_array_add(names, json_object_new_string(l->pools[att->pool_order[i]].name));
	json_object_object_add(o, "pools", names);
	add_programs(o, id);
	json_object_array_add(l->arr, o);
	/* Attached means placing sockets: not a removed cgroup's pins, nor a detached one draining. */
	if (draining)
		l->draining++;
	else if (!exists)
		l->removed++;
	else if ((l->live_dirs[l->live] = strdup(path)))
		l->live++;
	return 0;
}

/* A destination, with its headroom: the slice ports a connect() to it may still get. */
static json_object *dest_json(const struct ps_pool *p, const struct pool_usage *u, const struct dest_use *du)
{
	json_object *b = json_object_new_object();
	__u32 size = u->size ?: 1;
	__u64 taken = du->blocked + u->n_bound[du->key.proto == IPPROTO_UDP], left = taken < size ? size - taken : 0;
	char addr[PS_ADDR_STR_LEN];

	ps_format_addr(p->family, (const uint8_t *)du->key.raddr, addr, sizeof(addr));
	json_object_object_add(b, "proto", json_object_new_string(du->key.proto == IPPROTO_UDP ? "udp" : "tcp"));
	json_object_object_add(b, "address", json_object_new_string(addr));
	json_object_object_add(b, "port", json_object_new_int(du->key.rport));
	json_object_object_add(b, "tuples", json_object_new_uint64(du->claimed));
	json_object_object_add(b, "time_wait", json_object_new_uint64(du->time_wait));
	json_object_object_add(b, "headroom", json_object_new_uint64(left));
	json_object_object_add(b, "percent_full", json_object_new_double(100.0 * (size - left) / size));
	return b;
}

static json_object *pool_json(const struct ps_pool *p, int s, const struct pool_usage *u)
{
	json_object *o = json_object_new_object(), *t, *c, *tw, *dests;
	char addr[PS_ADDR_STR_LEN];
	__u32 size = u->size;

	ps_format_addr(p->family, (const uint8_t *)p->addr, addr, sizeof(addr));
	json_object_object_add(o, "name", json_object_new_string(p->name));
	json_object_object_add(o, "slot", json_object_new_int(s));
	json_object_object_add(o, "address", json_object_new_string(addr));
	json_object_object_add(o, "first_port", json_object_new_int(p->port_lo));
	json_object_object_add(o, "last_port", json_object_new_int(p->port_hi));
	json_object_object_add(o, "slice_size", json_object_new_int(size));
	json_object_object_add(o, "blocks", u->blocks ?: json_object_new_array());
	json_object_object_add(o, "p2p", json_object_new_boolean(p->flags & PS_POOL_P2P));
	/* Dynamic: the agent leases its blocks (first_port, last_port: its whole ports: range). */
	json_object_object_add(o, "dynamic", json_object_new_boolean(p->flags & PS_POOL_DYNAMIC));
	if (p->flags & PS_POOL_DYNAMIC) {
		json_object_object_add(o, "block_size", json_object_new_int((int)u->block_size));
		json_object_object_add(o, "min_blocks", json_object_new_int(p->min_blocks));
		json_object_object_add(o, "max_blocks", json_object_new_int(p->max_blocks));
	}
	json_object_object_add(o, "reuse_delay_ms", json_object_new_int64(p->reuse_delay_ms));
	t = json_object_new_object();
	json_object_object_add(t, "tcp", json_object_new_uint64(u->tuples[0]));
	json_object_object_add(t, "udp", json_object_new_uint64(u->tuples[1]));
	json_object_object_add(t, "total", json_object_new_uint64(u->tuples[0] + u->tuples[1]));
	json_object_object_add(o, "tuples", t);
	json_object_object_add(o, "ports_in_use", json_object_new_uint64(u->ports_in_use));
	json_object_object_add(o, "ports_bound", json_object_new_uint64(u->ports_bound));
	tw = json_object_new_object();
	json_object_object_add(tw, "tuples", json_object_new_uint64(u->tw_tuples));
	json_object_object_add(tw, "ports", json_object_new_uint64(u->tw_ports));
	json_object_object_add(o, "time_wait", tw);
	/* A destination nothing was sent to yet: every port but those bound. */
	json_object_object_add(o, "headroom_new_destination",
			       json_object_new_uint64(u->ports_bound < size ? size - u->ports_bound : 0));
	dests = json_object_new_array();
	for (size_t i = 0; i < u->n_top; i++)
		json_object_array_add(dests, dest_json(p, u, &u->top[i]));
	/* The least any destination has left: connect() fails somewhere once it is 0. */
	if (u->n_top) {
		json_object *b = json_object_array_get_idx(dests, 0);

		json_object_object_add(o, "busiest_destination", json_object_get(b));
		json_object_object_add(o, "headroom", json_object_get(json_object_object_get(b, "headroom")));
	} else {
		json_object_object_add(o, "headroom", json_object_get(json_object_object_get(o, "headroom_new_destination")));
	}
	json_object_object_add(o, "destinations", dests);
	c = json_object_new_object();
	json_object_object_add(c, "tcp", stats_json(&u->stats[0]));
	json_object_object_add(c, "udp", stats_json(&u->stats[1]));
	json_object_object_add(o, "counters", c);
	return o;
}

/* This binary's build ids: {"sock": ..., "steer": ...}. */
static json_object *build_ids_json(void)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "sock", json_object_new_string(ps_build_id_sock));
	json_object_object_add(o, "steer", json_object_new_string(ps_build_id_steer));
	return o;
}

json_object *ps_status_build_netns(const struct ps_maps *maps, const char *mnt, const char *const *netns,
				   size_t n_netns, struct ps_error *error)
{
	struct ps_pool pools[PS_MAX_POOLS];
	struct pool_usage *use = calloc(PS_MAX_POOLS, sizeof(*use));
	json_object *root = json_object_new_object(), *jpools = json_object_new_array();
	struct att_list atts = { .arr = json_object_new_array(), .pools = pools, .mnt = mnt };
	struct dest_list dests = {};
	struct tw_arg twa = { .use = use, .l = &dests };
	unsigned int n_netns_read = 0;
	struct ps_lease_state lease;
	json_object *lease_json = NULL;
	bool dynamic = false;
	int err = 0, tw_err = 0;

	if (!use)
		err = -ENOMEM;
	if (!err && (err = ps_read_pools(maps->pools, pools)) >= 0)
		err = count_tuples(maps->tuples, pools, use, &dests);
	for (int s = 0; !err && s < PS_MAX_POOLS; s++) {
		struct ps_blocks b = {};

		if (!(pools[s].flags & PS_POOL_ACTIVE))
			continue;
		err = ps_blocks_status(maps, s, &b, &use[s].blocks) ?:
		      count_ports(maps->port_users, &pools[s], s, &use[s]);
		use[s].size = (__u32)b.n_held * b.size;
		use[s].block_size = b.size;
		if (!err)
			err = sum_stats(maps->stats, s, &use[s]);
		dynamic = dynamic || (pools[s].flags & PS_POOL_DYNAMIC);
	}
	/* The lease the dynamic pools hand out ports under, once. */
	if (!err && dynamic && !ps_lease_state_read(maps, &lease, error))
		lease_json = ps_lease_state_json(&lease, ps_boottime_ns());
	else if (!err && dynamic)
		err = -EIO;
	if (!err)
		ps_attachments_for_each(maps->attachments, attachment_cb, &atts);
	/* The kernel's view: a failure to read it is reported, not fatal. */
	if (!err) {
		struct ps_tw_where where = { .cgroups = atts.live_dirs, .n_cgroups = atts.live,
					     .netns = netns, .n_netns = n_netns };

		tw_err = ps_tw_scan(pools, &where, on_time_wait, &twa, &n_netns_read);
	}
	if (!err && tw_err == -ENOMEM)
		err = tw_err;
	if (!err)
		count_dests(&dests, use);
	free(dests.d);
	for (size_t i = 0; i < atts.live; i++)
		free(atts.live_dirs[i]);
	if (err) {
		for (int s = 0; use && s < PS_MAX_POOLS; s++)
			json_object_put(use[s].blocks);
		free(use);
		json_object_put(root);
		json_object_put(jpools);
		json_object_put(atts.arr);
		json_object_put(lease_json);
		ps_fail(error, err, "cannot read portslice's maps: %s", strerror(-err));
		return NULL;
	}

	for (int s = 0; s < PS_MAX_POOLS; s++)
		if (pools[s].flags & PS_POOL_ACTIVE)
			json_object_array_add(jpools, pool_json(&pools[s], s, &use[s]));
	free(use);
	json_object_object_add(root, "attached", json_object_new_boolean(atts.live > 0));
	json_object_object_add(root, "attached_cgroups", json_object_new_uint64(atts.live));
	json_object_object_add(root, "removed_cgroups", json_object_new_uint64(atts.removed));
	json_object_object_add(root, "draining_cgroups", json_object_new_uint64(atts.draining));
	json_object_object_add(root, "layout_version", json_object_new_int(PS_LAYOUT_VERSION));
	json_object_object_add(root, "build_ids", build_ids_json());
	json_object_object_add(root, "pin_dir", json_object_new_string(ps_pin_dir()));
	json_object_object_add(root, "network_namespaces_read", json_object_new_uint64(n_netns_read));
	if (tw_err)
		json_object_object_add(root, "time_wait_error", json_object_new_string(strerror(-tw_err)));
	json_object_object_add(root, "attachments", atts.arr);
	json_object_object_add(root, "pools", jpools);
	if (lease_json)
		json_object_object_add(root, "lease", lease_json);
	return root;
}

json_object *ps_status_build(const struct ps_maps *maps, const char *mnt, struct ps_error *error)
{
	return ps_status_build_netns(maps, mnt, NULL, 0, error);
}

json_object *ps_status_unattached(void)
{
	json_object *root = json_object_new_object();

	json_object_object_add(root, "attached", json_object_new_boolean(false));
	json_object_object_add(root, "attached_cgroups", json_object_new_uint64(0));
	json_object_object_add(root, "layout_version", json_object_new_int(PS_LAYOUT_VERSION));
	json_object_object_add(root, "build_ids", build_ids_json());
	json_object_object_add(root, "pin_dir", json_object_new_string(ps_pin_dir()));
	json_object_object_add(root, "attachments", json_object_new_array());
	json_object_object_add(root, "pools", json_object_new_array());
	return root;
}
