// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* portslice status: what is attached, and how full each slice is. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>

#include "sock/links.h"
#include "core/build.h"
#include "core/cli.h"
#include "core/config.h"
#include "core/env.h"
#include "core/log.h"
#include "core/percpu.h"
#include "sock/slots.h"
#include "core/pins.h"
#include "sock/maps.h"
#include "steer/status.h"
#include "sock/tw_view.h"
#include "status.h"

#define MAX_NETNS_OPTS 16

static const struct ps_opt status_opts[] = {
	{ "netns", 'n', "NAME|PATH", "also read TIME_WAIT sockets in this network namespace (/run/netns/NAME or a path such as /proc/PID/ns/net); repeat for several" },
	{ NULL },
};

/* --netns: namespaces to read besides this one and those of the attached cgroups' processes. */
static char netns_paths[MAX_NETNS_OPTS][PATH_MAX];
static const char *netns_list[MAX_NETNS_OPTS];
static size_t n_netns_opts;

static int on_status_opt(int key, const char *arg, void *ctx, struct ps_error *error)
{
	char *path;
	int fd;

	(void)ctx;
	if (key != 'n')
		return 0;
	if (n_netns_opts == MAX_NETNS_OPTS)
		return ps_fail(error, E2BIG, "at most %d --netns options", MAX_NETNS_OPTS);
	path = netns_paths[n_netns_opts];
	if (strchr(arg, '/'))
		snprintf(path, PATH_MAX, "%s", arg);
	else
		snprintf(path, PATH_MAX, "/run/netns/%s", arg);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ps_fail(error, EINVAL, "--netns %s: cannot open %s: %s (name one of 'ip netns list', or give a path such as /proc/PID/ns/net)",
			      arg, path, strerror(errno));
	close(fd);
	netns_list[n_netns_opts++] = path;
	return 0;
}

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
	for (__u32 port = pool->port_lo; port <= pool->port_hi; port++) {
		__u32 tcp = PS_PORT_USERS_INDEX(slot, IPPROTO_TCP, port), udp = PS_PORT_USERS_INDEX(slot, IPPROTO_UDP, port);
		__u32 tcp_word, udp_word;

		if (bpf_map_lookup_elem(fd, &tcp, &tcp_word) || bpf_map_lookup_elem(fd, &udp, &udp_word))
			return -errno;
		__u32 words[2] = { tcp_word, udp_word };

		use->ports_in_use += (tcp_word | udp_word) != 0;
		use->ports_bound += ((tcp_word | udp_word) >> PS_PORT_BIND_SHIFT) != 0;
		/* Holds are per protocol: a UDP bind leaves the port to TCP connects. */
		for (int p = 0; p < 2; p++) {
			if (words[p] >> PS_PORT_BIND_SHIFT) {
				bit_set(use->bound[p], port);
				use->n_bound[p]++;
			}
		}
	}
	return 0;
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
	__u32 size = (__u32)p->port_hi - p->port_lo + 1;
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
	__u32 size = (__u32)p->port_hi - p->port_lo + 1;

	ps_format_addr(p->family, (const uint8_t *)p->addr, addr, sizeof(addr));
	json_object_object_add(o, "name", json_object_new_string(p->name));
	json_object_object_add(o, "slot", json_object_new_int(s));
	json_object_object_add(o, "address", json_object_new_string(addr));
	json_object_object_add(o, "first_port", json_object_new_int(p->port_lo));
	json_object_object_add(o, "last_port", json_object_new_int(p->port_hi));
	json_object_object_add(o, "slice_size", json_object_new_int(size));
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

json_object *ps_status_build(const struct ps_maps *maps, const char *mnt, struct ps_error *error)
{
	struct ps_pool pools[PS_MAX_POOLS];
	struct pool_usage *use = calloc(PS_MAX_POOLS, sizeof(*use));
	json_object *root = json_object_new_object(), *jpools = json_object_new_array();
	struct att_list atts = { .arr = json_object_new_array(), .pools = pools, .mnt = mnt };
	struct dest_list dests = {};
	struct tw_arg twa = { .use = use, .l = &dests };
	unsigned int n_netns = 0;
	int err = 0, tw_err = 0;

	if (!use)
		err = -ENOMEM;
	if (!err && (err = ps_read_pools(maps->pools, pools)) >= 0)
		err = count_tuples(maps->tuples, pools, use, &dests);
	for (int s = 0; !err && s < PS_MAX_POOLS; s++) {
		if (!(pools[s].flags & PS_POOL_ACTIVE))
			continue;
		err = count_ports(maps->port_users, &pools[s], s, &use[s]);
		if (!err)
			err = sum_stats(maps->stats, s, &use[s]);
	}
	if (!err)
		ps_attachments_for_each(maps->attachments, attachment_cb, &atts);
	/* The kernel's view: a failure to read it is reported, not fatal. */
	if (!err) {
		struct ps_tw_where where = { .cgroups = atts.live_dirs, .n_cgroups = atts.live,
					     .netns = netns_list, .n_netns = n_netns_opts };

		tw_err = ps_tw_scan(pools, &where, on_time_wait, &twa, &n_netns);
	}
	if (!err && tw_err == -ENOMEM)
		err = tw_err;
	if (!err)
		count_dests(&dests, use);
	free(dests.d);
	for (size_t i = 0; i < atts.live; i++)
		free(atts.live_dirs[i]);
	if (err) {
		free(use);
		json_object_put(root);
		json_object_put(jpools);
		json_object_put(atts.arr);
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
	json_object_object_add(root, "network_namespaces_read", json_object_new_uint64(n_netns));
	if (tw_err)
		json_object_object_add(root, "time_wait_error", json_object_new_string(strerror(-tw_err)));
	json_object_object_add(root, "attachments", atts.arr);
	json_object_object_add(root, "pools", jpools);
	return root;
}

static __u64 jget(json_object *o, const char *a, const char *b)
{
	json_object *x;

	if (!json_object_object_get_ex(o, a, &x))
		return 0;
	if (b && !json_object_object_get_ex(x, b, &x))
		return 0;
	return json_object_get_uint64(x);
}

/* "    programs: build X (this portslice's)", or what runs instead and what replaces it. */
static void print_builds(json_object *a, const char *want)
{
	json_object *builds, *cur;
	size_t n;

	if (!json_object_object_get_ex(a, "build_ids", &builds) || !(n = json_object_array_length(builds)))
		return;
	json_object_object_get_ex(a, "build_current", &cur);
	printf("    programs: build%s", n > 1 ? "s" : "");
	for (size_t i = 0; i < n; i++)
		printf("%s %s", i ? "," : "", json_object_get_string(json_object_array_get_idx(builds, i)));
	if (json_object_get_boolean(cur))
		printf(" (this portslice's)\n");
	else
		printf(", not this portslice's %s: attach again (or the agent) replaces them in place\n", want);
}

static void print_text(json_object *root)
{
	json_object *atts, *pools;
	size_t n;

	json_object_object_get_ex(root, "attachments", &atts);
	json_object_object_get_ex(root, "pools", &pools);
	n = json_object_array_length(atts);
	/* Only cgroups whose sockets are placed count as attached. */
	printf("Attached cgroups: %llu", (unsigned long long)jget(root, "attached_cgroups", NULL));
	if (jget(root, "removed_cgroups", NULL) || jget(root, "draining_cgroups", NULL))
		printf(" (and %llu removed, %llu draining)", (unsigned long long)jget(root, "removed_cgroups", NULL),
		       (unsigned long long)jget(root, "draining_cgroups", NULL));
	printf("\n");
	for (size_t i = 0; i < n; i++) {
		json_object *a = json_object_array_get_idx(atts, i), *names, *cg, *ex, *dr;

		json_object_object_get_ex(a, "cgroup", &cg);
		json_object_object_get_ex(a, "pools", &names);
		json_object_object_get_ex(a, "cgroup_exists", &ex);
		json_object_object_get_ex(a, "draining", &dr);
		printf("  %s%s%s  pools:", json_object_get_string(cg),
		       json_object_get_boolean(dr) ? " (detached, draining: its open sockets still hold claims)" :
		       json_object_get_boolean(ex) ? "" : " (removed: not attached; 'portslice detach --cgroup' drops its pins)",
		       "");
		for (size_t j = 0; j < json_object_array_length(names); j++)
			printf(" %s", json_object_get_string(json_object_array_get_idx(names, j)));
		printf("\n");
		print_builds(a, ps_build_id_sock);
	}
	n = json_object_array_length(pools);
	printf("\nPools: %zu\n", n);
	if (n)
		printf("  %-12s %-20s %-11s %6s %6s %6s %6s %8s %8s %8s %8s\n", "POOL", "ADDRESS", "SLICE", "TCP", "UDP",
		       "PORTS", "TW", "BUSIEST%", "HEADROOM", "EXHAUST", "CONFLICT");
	for (size_t i = 0; i < n; i++) {
		json_object *p = json_object_array_get_idx(pools, i), *name, *addr, *b, *c;
		char slice[16], headroom[16];
		double busiest = 0;

		json_object_object_get_ex(p, "name", &name);
		json_object_object_get_ex(p, "address", &addr);
		json_object_object_get_ex(p, "counters", &c);
		snprintf(headroom, sizeof(headroom), "%llu", (unsigned long long)jget(p, "headroom_new_destination", NULL));
		if (json_object_object_get_ex(p, "busiest_destination", &b)) {
			busiest = json_object_get_double(json_object_object_get(b, "percent_full"));
			snprintf(headroom, sizeof(headroom), "%llu", (unsigned long long)jget(b, "headroom", NULL));
		}
		snprintf(slice, sizeof(slice), "%llu-%llu", (unsigned long long)jget(p, "first_port", NULL),
			 (unsigned long long)jget(p, "last_port", NULL));
		printf("  %-12s %-20s %-11s %6llu %6llu %6llu %6llu %7.1f%% %8s %8llu %8llu\n", json_object_get_string(name),
		       json_object_get_string(addr), slice, (unsigned long long)jget(p, "tuples", "tcp"),
		       (unsigned long long)jget(p, "tuples", "udp"), (unsigned long long)jget(p, "ports_in_use", NULL),
		       (unsigned long long)jget(p, "time_wait", "tuples"), busiest, headroom,
		       (unsigned long long)(jget(c, "tcp", "exhausted") + jget(c, "udp", "exhausted")),
		       (unsigned long long)(jget(c, "tcp", "conflicts") + jget(c, "udp", "conflicts")));
	}
	for (size_t i = 0; i < n; i++) {
		json_object *p = json_object_array_get_idx(pools, i), *dests;

		if (!json_object_object_get_ex(p, "destinations", &dests) || !json_object_array_length(dests))
			continue;
		printf("\nBusiest destinations of %s:\n", json_object_get_string(json_object_object_get(p, "name")));
		for (size_t j = 0; j < json_object_array_length(dests); j++) {
			json_object *d = json_object_array_get_idx(dests, j);
			const char *a = json_object_get_string(json_object_object_get(d, "address"));

			printf("  %s %s%s%s:%llu  in use %llu, TIME_WAIT %llu, headroom %llu (%.1f%% full)\n",
			       json_object_get_string(json_object_object_get(d, "proto")), strchr(a, ':') ? "[" : "", a,
			       strchr(a, ':') ? "]" : "", (unsigned long long)jget(d, "port", NULL),
			       (unsigned long long)jget(d, "tuples", NULL), (unsigned long long)jget(d, "time_wait", NULL),
			       (unsigned long long)jget(d, "headroom", NULL),
			       json_object_get_double(json_object_object_get(d, "percent_full")));
		}
	}
	if (n)
		printf("\nTCP/UDP: 4-tuples in use; PORTS: slice ports with a claim or a bind; TW: tuples the kernel holds\n"
		       "in TIME_WAIT on slice ports; BUSIEST%%, HEADROOM: of the destination with the fewest ports left\n"
		       "(in use, in TIME_WAIT or bound: connect() to it fails at 100%%, when HEADROOM is 0; without one,\n"
		       "the ports a new destination gets); --json has every counter and destination.\n");
}

static int run_status(int argc, char **argv, struct ps_error *error)
{
	json_object *steering;
	struct ps_maps maps;
	char mnt[PATH_MAX] = "";
	json_object *root;
	int err;

	err = ps_cli_parse(&ps_cmd_status, argc, argv, on_status_opt, NULL, error);
	if (err)
		return err > 0 ? 0 : err;
	err = ps_env_require_host(true, error);
	if (err)
		return err;
	steering = ps_steer_status_json();
	if (!ps_state_exists()) {
		if (ps_json) {
			root = json_object_new_object();
			json_object_object_add(root, "attached", json_object_new_boolean(false));
			json_object_object_add(root, "attached_cgroups", json_object_new_uint64(0));
			json_object_object_add(root, "layout_version", json_object_new_int(PS_LAYOUT_VERSION));
			json_object_object_add(root, "build_ids", build_ids_json());
			json_object_object_add(root, "pin_dir", json_object_new_string(ps_pin_dir()));
			json_object_object_add(root, "attachments", json_object_new_array());
			json_object_object_add(root, "pools", json_object_new_array());
			json_object_object_add(root, "steering", steering);
			ps_json_print(root);
			return 0;
		}
		if (!ps_steer_links_any()) {
			printf("portslice is not attached to any cgroup on this host (no pins under %s)\n", ps_pin_dir());
		} else {
			printf("portslice is not attached to any cgroup on this host\n");
			ps_steer_status_print(steering);
		}
		json_object_put(steering);
		return 0;
	}
	err = ps_maps_open(&maps, error);
	if (err) {
		json_object_put(steering);
		return err;
	}
	ps_env_cgroup2_mount(mnt, sizeof(mnt), error);
	root = ps_status_build(&maps, mnt, error);
	ps_maps_close(&maps);
	if (!root) {
		json_object_put(steering);
		return -EIO;
	}
	if (ps_json) {
		json_object_object_add(root, "steering", steering);
		ps_json_print(root);
	} else {
		print_text(root);
		ps_steer_status_print(steering);
		json_object_put(steering);
		json_object_put(root);
	}
	return 0;
}

const struct ps_cmd ps_cmd_status = {
	.name = "status",
	.synopsis = "[--netns NAME|PATH]... [--json]",
	.summary = "Show the attached cgroups and, per pool, its slice, the 4-tuples in use, TIME_WAIT, each destination's headroom and the counters; and steering.",
	.details =
		"A destination's headroom is the slice ports a connect() to it may still get: the slice\n"
		"less the ports claimed towards it, those the kernel holds in TIME_WAIT towards it (read\n"
		"with sock_diag, as ss does, in this network namespace, in those of the attached\n"
		"cgroups' processes and in each --netns) and those bound whole by bind(). A cgroup\n"
		"removed since it was attached, or detached and draining, is listed but not counted\n"
		"as attached.",
	.opts = status_opts,
	.run = run_status,
};
