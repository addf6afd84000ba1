// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* portslice status: what is attached, and how full each slice is. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>

#include "attachments.h"
#include "build.h"
#include "cli.h"
#include "config.h"
#include "env.h"
#include "log.h"
#include "pools.h"
#include "state.h"
#include "steering.h"
#include "usage.h"

static const struct ps_opt status_opts[] = {
	{ NULL },
};

/* One claimed tuple, reduced to what the per-destination counts need. */
struct dest {
	__u32 slot;
	__u32 proto;
	__u32 raddr[4];
	__u32 rport;
};

struct pool_usage {
	__u64 tuples[2];      /* [0] TCP, [1] UDP */
	__u64 ports_in_use;   /* ports with a claim or a bind */
	__u64 ports_bound;    /* ports held by bind() */
	struct dest busiest;
	__u64 busiest_tuples;
	struct ps_stats stats[2];
};

static int cmp_dest(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct dest));
}

static int slot_of(const struct ps_pool *pools, const struct ps_tuple *t)
{
	for (int s = 0; s < PS_MAX_POOLS; s++)
		if (pools[s].flags & PS_POOL_ACTIVE && pools[s].family == t->family &&
		    !memcmp(pools[s].addr, t->laddr, sizeof(t->laddr)))
			return s;
	return -1;
}

/* Walks every claimed tuple: counts per pool and the busiest destination. */
static int count_tuples(int fd, const struct ps_pool *pools, struct pool_usage *use)
{
	struct ps_tuple key, next, *prev = NULL;
	struct dest *dests = NULL;
	size_t n = 0, cap = 0;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		int slot;

		key = next;
		prev = &key;
		slot = slot_of(pools, &key);
		if (slot < 0)
			continue;
		use[slot].tuples[key.proto == IPPROTO_UDP]++;
		if (n == cap) {
			struct dest *d = realloc(dests, (cap = cap ? cap * 2 : 4096) * sizeof(*d));

			if (!d) {
				free(dests);
				return -ENOMEM;
			}
			dests = d;
		}
		memset(&dests[n], 0, sizeof(dests[n]));
		dests[n].slot = slot;
		dests[n].proto = key.proto;
		memcpy(dests[n].raddr, key.raddr, sizeof(key.raddr));
		dests[n++].rport = key.rport;
	}
	if (n > 1)
		qsort(dests, n, sizeof(*dests), cmp_dest);
	for (size_t i = 0, run = 1; i < n; i++, run++) {
		if (i + 1 < n && !cmp_dest(&dests[i], &dests[i + 1]))
			continue;
		if (run > use[dests[i].slot].busiest_tuples) {
			use[dests[i].slot].busiest_tuples = run;
			use[dests[i].slot].busiest = dests[i];
		}
		run = 0;
	}
	free(dests);
	return 0;
}

static int count_ports(int fd, const struct ps_pool *pool, int slot, struct pool_usage *use)
{
	for (__u32 port = pool->port_lo; port <= pool->port_hi; port++) {
		__u32 idx = slot * PS_PORTS_PER_POOL + port, word;

		if (bpf_map_lookup_elem(fd, &idx, &word))
			return -errno;
		use->ports_in_use += word != 0;
		use->ports_bound += (word >> PS_PORT_BIND_SHIFT) != 0;
	}
	return 0;
}

static int sum_stats(int fd, int slot, struct pool_usage *use)
{
	int ncpus = libbpf_num_possible_cpus();
	struct ps_stats *per_cpu;

	if (ncpus <= 0)
		return -EINVAL;
	per_cpu = calloc(ncpus, sizeof(*per_cpu));
	if (!per_cpu)
		return -ENOMEM;
	for (int p = 0; p < 2; p++) {
		__u32 idx = PS_STATS_INDEX(slot, p ? IPPROTO_UDP : IPPROTO_TCP);
		__u64 *out = (__u64 *)&use->stats[p];

		if (bpf_map_lookup_elem(fd, &idx, per_cpu)) {
			free(per_cpu);
			return -errno;
		}
		for (int c = 0; c < ncpus; c++) {
			const __u64 *in = (const __u64 *)&per_cpu[c];

			for (size_t f = 0; f < sizeof(struct ps_stats) / sizeof(__u64); f++)
				out[f] += in[f];
		}
	}
	free(per_cpu);
	return 0;
}

/* Names of struct ps_stats' fields, in order. */
static const char *const stat_names[] = {
	"allocated", "released", "exhausted", "map_full", "conflicts",
	"kernel_held", "bind_failed", "bound", "bind_denied", "send_denied", "released_unseen",
	"release_lost", "tw_reused", "quarantined", "send_conflicts", "bind_in_use",
};
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
};

static int attachment_cb(__u64 id, const struct ps_attachment *att, void *arg)
{
	struct att_list *l = arg;
	json_object *o = json_object_new_object(), *names = json_object_new_array();
	char path[PATH_MAX + 256];
	struct stat st;

	snprintf(path, sizeof(path), "%s%s", l->mnt, att->path);
	json_object_object_add(o, "cgroup", json_object_new_string(path));
	json_object_object_add(o, "cgroup_id", json_object_new_uint64(id));
	/* The same path may hold a new cgroup since: compare the id too. */
	json_object_object_add(o, "cgroup_exists", json_object_new_boolean(!stat(path, &st) && st.st_ino == id));
	json_object_object_add(o, "links_pinned", json_object_new_boolean(ps_attachment_exists(id)));
	/* Detached, keeping its release programs until its sockets gave back. */
	json_object_object_add(o, "draining", json_object_new_boolean(att->flags & PS_ATT_DRAINING));
	for (__u32 i = 0; i < att->pool_count && i < PS_MAX_POOLS; i++)
		json_object_array_add(names, json_object_new_string(l->pools[att->pool_order[i]].name));
	json_object_object_add(o, "pools", names);
	add_programs(o, id);
	json_object_array_add(l->arr, o);
	return 0;
}

/* This binary's build ids: {"sock": ..., "steer": ...}. */
static json_object *build_ids_json(void)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "sock", json_object_new_string(ps_build_id_sock));
	json_object_object_add(o, "steer", json_object_new_string(ps_build_id_steer));
	return o;
}

json_object *ps_status_build(const struct ps_maps *maps, const char *mnt)
{
	struct ps_pool pools[PS_MAX_POOLS];
	struct pool_usage *use = calloc(PS_MAX_POOLS, sizeof(*use));
	json_object *root = json_object_new_object(), *jpools = json_object_new_array();
	struct att_list atts = { .arr = json_object_new_array(), .pools = pools, .mnt = mnt };
	int err = 0;

	if (!use)
		err = -ENOMEM;
	if (!err && (err = ps_read_pools(maps->pools, pools)) >= 0)
		err = count_tuples(maps->tuples, pools, use);
	for (int s = 0; !err && s < PS_MAX_POOLS; s++) {
		if (!(pools[s].flags & PS_POOL_ACTIVE))
			continue;
		err = count_ports(maps->port_users, &pools[s], s, &use[s]);
		if (!err)
			err = sum_stats(maps->stats, s, &use[s]);
	}
	if (err) {
		free(use);
		json_object_put(root);
		json_object_put(jpools);
		json_object_put(atts.arr);
		ps_err(err, "cannot read portslice's maps: %s", strerror(-err));
		return NULL;
	}

	ps_attachments_for_each(maps->attachments, attachment_cb, &atts);
	for (int s = 0; s < PS_MAX_POOLS; s++) {
		const struct ps_pool *p = &pools[s];
		json_object *o, *t, *c;
		char addr[PS_ADDR_STR_LEN];
		__u32 size = (__u32)p->port_hi - p->port_lo + 1;

		if (!(p->flags & PS_POOL_ACTIVE))
			continue;
		o = json_object_new_object();
		ps_format_addr(p->family, (const uint8_t *)p->addr, addr, sizeof(addr));
		json_object_object_add(o, "name", json_object_new_string(p->name));
		json_object_object_add(o, "slot", json_object_new_int(s));
		json_object_object_add(o, "address", json_object_new_string(addr));
		json_object_object_add(o, "first_port", json_object_new_int(p->port_lo));
		json_object_object_add(o, "last_port", json_object_new_int(p->port_hi));
		json_object_object_add(o, "slice_size", json_object_new_int(size));
		t = json_object_new_object();
		json_object_object_add(t, "tcp", json_object_new_uint64(use[s].tuples[0]));
		json_object_object_add(t, "udp", json_object_new_uint64(use[s].tuples[1]));
		json_object_object_add(t, "total", json_object_new_uint64(use[s].tuples[0] + use[s].tuples[1]));
		json_object_object_add(o, "tuples", t);
		json_object_object_add(o, "ports_in_use", json_object_new_uint64(use[s].ports_in_use));
		json_object_object_add(o, "ports_bound", json_object_new_uint64(use[s].ports_bound));
		if (use[s].busiest_tuples) {
			json_object *b = json_object_new_object();

			ps_format_addr(p->family, (const uint8_t *)use[s].busiest.raddr, addr, sizeof(addr));
			json_object_object_add(b, "proto", json_object_new_string(use[s].busiest.proto == IPPROTO_UDP ? "udp" : "tcp"));
			json_object_object_add(b, "address", json_object_new_string(addr));
			json_object_object_add(b, "port", json_object_new_int(use[s].busiest.rport));
			json_object_object_add(b, "tuples", json_object_new_uint64(use[s].busiest_tuples));
			json_object_object_add(b, "percent_full", json_object_new_double(100.0 * use[s].busiest_tuples / size));
			json_object_object_add(o, "busiest_destination", b);
		}
		c = json_object_new_object();
		json_object_object_add(c, "tcp", stats_json(&use[s].stats[0]));
		json_object_object_add(c, "udp", stats_json(&use[s].stats[1]));
		json_object_object_add(o, "counters", c);
		json_object_array_add(jpools, o);
	}
	free(use);
	json_object_object_add(root, "attached", json_object_new_boolean(json_object_array_length(atts.arr) > 0));
	json_object_object_add(root, "layout_version", json_object_new_int(PS_LAYOUT_VERSION));
	json_object_object_add(root, "build_ids", build_ids_json());
	json_object_object_add(root, "pin_dir", json_object_new_string(ps_pin_dir()));
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
	printf("Attached cgroups: %zu\n", n);
	for (size_t i = 0; i < n; i++) {
		json_object *a = json_object_array_get_idx(atts, i), *names, *cg, *ex, *dr;

		json_object_object_get_ex(a, "cgroup", &cg);
		json_object_object_get_ex(a, "pools", &names);
		json_object_object_get_ex(a, "cgroup_exists", &ex);
		json_object_object_get_ex(a, "draining", &dr);
		printf("  %s%s%s  pools:", json_object_get_string(cg),
		       json_object_get_boolean(ex) ? "" : " (removed)",
		       json_object_get_boolean(dr) ? " (detached, draining: its open sockets still hold claims)" : "");
		for (size_t j = 0; j < json_object_array_length(names); j++)
			printf(" %s", json_object_get_string(json_object_array_get_idx(names, j)));
		printf("\n");
		print_builds(a, ps_build_id_sock);
	}
	n = json_object_array_length(pools);
	printf("\nPools: %zu\n", n);
	if (n)
		printf("  %-16s %-24s %-13s %7s %7s %7s %9s %9s %9s\n", "POOL", "ADDRESS", "SLICE", "TCP", "UDP",
		       "PORTS", "BUSIEST%", "EXHAUST", "CONFLICT");
	for (size_t i = 0; i < n; i++) {
		json_object *p = json_object_array_get_idx(pools, i), *name, *addr, *b, *pct;
		char slice[16];
		double busiest = 0;

		json_object_object_get_ex(p, "name", &name);
		json_object_object_get_ex(p, "address", &addr);
		if (json_object_object_get_ex(p, "busiest_destination", &b) &&
		    json_object_object_get_ex(b, "percent_full", &pct))
			busiest = json_object_get_double(pct);
		snprintf(slice, sizeof(slice), "%llu-%llu", (unsigned long long)jget(p, "first_port", NULL),
			 (unsigned long long)jget(p, "last_port", NULL));
		json_object *c;
		json_object_object_get_ex(p, "counters", &c);
		printf("  %-16s %-24s %-13s %7llu %7llu %7llu %8.1f%% %9llu %9llu\n", json_object_get_string(name),
		       json_object_get_string(addr), slice, (unsigned long long)jget(p, "tuples", "tcp"),
		       (unsigned long long)jget(p, "tuples", "udp"), (unsigned long long)jget(p, "ports_in_use", NULL),
		       busiest, (unsigned long long)(jget(c, "tcp", "exhausted") + jget(c, "udp", "exhausted")),
		       (unsigned long long)(jget(c, "tcp", "conflicts") + jget(c, "udp", "conflicts")));
	}
	if (n)
		printf("\nTCP/UDP: 4-tuples in use; PORTS: slice ports with a claim or a bind; BUSIEST%%: tuples to the\n"
		       "busiest destination against the slice size (connect() fails at 100%%); --json has every counter.\n");
}

static int run_status(int argc, char **argv)
{
	json_object *steering;
	struct ps_maps maps;
	char mnt[PATH_MAX] = "";
	json_object *root;
	int err;

	err = ps_cli_parse(&ps_cmd_status, argc, argv, NULL, NULL);
	if (err)
		return err > 0 ? 0 : err;
	err = ps_env_require_root();
	if (err)
		return err;
	steering = ps_steer_status_json();
	if (!ps_state_exists()) {
		if (ps_json) {
			root = json_object_new_object();
			json_object_object_add(root, "attached", json_object_new_boolean(false));
			json_object_object_add(root, "layout_version", json_object_new_int(PS_LAYOUT_VERSION));
			json_object_object_add(root, "build_ids", build_ids_json());
			json_object_object_add(root, "pin_dir", json_object_new_string(ps_pin_dir()));
			json_object_object_add(root, "attachments", json_object_new_array());
			json_object_object_add(root, "pools", json_object_new_array());
			json_object_object_add(root, "steering", steering);
			puts(json_object_to_json_string_ext(root, ps_pretty ? JSON_C_TO_STRING_PRETTY : JSON_C_TO_STRING_PLAIN));
			json_object_put(root);
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
	err = ps_maps_open(&maps);
	if (err) {
		json_object_put(steering);
		return err;
	}
	ps_env_cgroup2_mount(mnt, sizeof(mnt));
	root = ps_status_build(&maps, mnt);
	ps_maps_close(&maps);
	if (!root) {
		json_object_put(steering);
		return -EIO;
	}
	if (ps_json) {
		json_object_object_add(root, "steering", steering);
		puts(json_object_to_json_string_ext(root, ps_pretty ? JSON_C_TO_STRING_PRETTY : JSON_C_TO_STRING_PLAIN));
	} else {
		print_text(root);
		ps_steer_status_print(steering);
		json_object_put(steering);
	}
	json_object_put(root);
	return 0;
}

const struct ps_cmd ps_cmd_status = {
	.name = "status",
	.synopsis = "[--json]",
	.summary = "Show the attached cgroups and, per pool, its slice, the 4-tuples in use and the counters; and steering.",
	.opts = status_opts,
	.run = run_status,
};
