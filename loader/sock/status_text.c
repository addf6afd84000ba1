// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The socket side of status as text: what ps_status_build() reports, for a person. */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>

#include "core/build.h"
#include "sock/status_text.h"

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

/* Dynamic pools (blocks leased by the agent) and, once, the lease they hand out ports under. */
static void print_dynamic(json_object *root, json_object *pools)
{
	json_object *lease, *id;

	for (size_t i = 0; i < json_object_array_length(pools); i++) {
		json_object *p = json_object_array_get_idx(pools, i), *blocks = NULL;
		size_t held = 0, nb;

		if (!json_object_get_boolean(json_object_object_get(p, "dynamic")))
			continue;
		nb = json_object_object_get_ex(p, "blocks", &blocks) ? json_object_array_length(blocks) : 0;
		for (size_t j = 0; j < nb; j++)
			held += !json_object_get_boolean(json_object_object_get(json_object_array_get_idx(blocks, j), "draining"));
		printf("\nDynamic pool %s: ports %llu-%llu in blocks of %llu, %llu to %llu leased: %zu held, %zu draining\n",
		       json_object_get_string(json_object_object_get(p, "name")), (unsigned long long)jget(p, "first_port", NULL),
		       (unsigned long long)jget(p, "last_port", NULL), (unsigned long long)jget(p, "block_size", NULL),
		       (unsigned long long)jget(p, "min_blocks", NULL), (unsigned long long)jget(p, "max_blocks", NULL), held,
		       nb - held);
	}
	if (!json_object_object_get_ex(root, "lease", &lease))
		return;
	id = json_object_object_get(lease, "lease_id");
	printf("Lease: %s, TTL left %.1f s, fencing deadline in %.1f s, fenced: %s, etcd: %s\n",
	       id ? json_object_get_string(id) : "none", jget(lease, "ttl_left_ms", NULL) / 1000.0,
	       jget(lease, "fence_left_ms", NULL) / 1000.0,
	       json_object_get_boolean(json_object_object_get(lease, "fenced")) ? "yes (dynamic pools take no new claim)" : "no",
	       json_object_get_boolean(json_object_object_get(lease, "etcd_ok")) ? "ok" : "not answering");
}

void ps_status_print(json_object *root)
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
	print_dynamic(root, pools);
	/* A slice of several blocks, or with one draining: the table's columns show only its first and last port. */
	for (size_t i = 0; i < n; i++) {
		json_object *p = json_object_array_get_idx(pools, i), *blocks;
		size_t nb;

		if (!json_object_object_get_ex(p, "blocks", &blocks) || (nb = json_object_array_length(blocks)) < 2)
			continue;
		printf("\nBlocks of %s:", json_object_get_string(json_object_object_get(p, "name")));
		for (size_t j = 0; j < nb; j++) {
			json_object *bl = json_object_array_get_idx(blocks, j);

			printf("%s %llu-%llu%s", j ? "," : "", (unsigned long long)jget(bl, "first", NULL),
			       (unsigned long long)jget(bl, "last", NULL),
			       json_object_get_boolean(json_object_object_get(bl, "draining")) ? " (draining)" : "");
		}
		printf("\n");
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
