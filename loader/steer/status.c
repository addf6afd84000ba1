// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The steering section of `status`: the links, the program each runs, the counters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "steer.skel.h"
#include "core/addr.h"
#include "core/build.h"
#include "core/percpu.h"
#include "core/pins.h"
#include "core/rtnl.h"
#include "sock/blocks.h"
#include "steer/links.h"
#include "steer/maps.h"
#include "steer/prog.h"
#include "steer/status.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

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

/*
 * Dynamic pools' own ports (struct ps_steer_lease): "pass" while this host's
 * lease and the quarantine may hold them, with the time left; "drop" once
 * over, or before the first lease. Static pools (no limit) are left out.
 */
static json_object *own_ports_json(int lease_fd)
{
	struct ps_steer_pool_entry pools[PS_MAX_POOLS * 2];
	json_object *arr = json_object_new_array();
	int pools_fd = ps_pin_map_open("ps_steer_pools"), n;
	__u64 now = ps_boottime_ns();

	n = pools_fd >= 0 ? ps_steer_pool_entries(pools_fd, pools, ARRAY_SIZE(pools)) : 0;
	for (int i = 0; i < n; i++) {
		struct ps_steer_lease l;
		char addr[64] = "";
		json_object *o;

		if (bpf_map_lookup_elem(lease_fd, &pools[i].slot, &l) || !l.own_until_ns)
			continue;
		o = json_object_new_object();
		ps_format_addr((int)pools[i].key.family, (const uint8_t *)pools[i].key.addr, addr, sizeof(addr));
		json_object_object_add(o, "address", json_object_new_string(addr));
		json_object_object_add(o, "slot", json_object_new_uint64(pools[i].slot));
		json_object_object_add(o, "verdict", json_object_new_string(now < l.own_until_ns ? "pass" : "drop"));
		json_object_object_add(o, "left_ms", json_object_new_uint64(now < l.own_until_ns ?
									      (l.own_until_ns - now) / 1000000 : 0));
		json_object_array_add(arr, o);
	}
	if (pools_fd >= 0)
		close(pools_fd);
	return arr;
}

json_object *ps_steer_status_json(void)
{
	json_object *root = json_object_new_object(), *ifs = json_object_new_array();
	struct ps_steer_link *links = calloc(PS_MAX_STEER_LINKS, sizeof(*links));
	int n = links ? ps_steer_links_list(links, PS_MAX_STEER_LINKS) : 0;
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
		if (pfd >= 0 && !ps_steer_prog_settings(pfd, &have)) {
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
		ps_steer_links_close(links, (size_t)n);
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
	fd = ps_pin_map_open("ps_steer_lease");
	if (fd >= 0)
		json_object_object_add(root, "own_ports", own_ports_json(fd));
	if (fd >= 0)
		close(fd);
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
	if (json_object_object_get_ex(st, "own_ports", &f)) {
		for (size_t i = 0; i < json_object_array_length(f); i++) {
			json_object *o = json_object_array_get_idx(f, i), *a, *v, *left;

			json_object_object_get_ex(o, "address", &a);
			json_object_object_get_ex(o, "verdict", &v);
			json_object_object_get_ex(o, "left_ms", &left);
			if (!strcmp(json_object_get_string(v), "pass"))
				printf("  own ports of %s (dynamic): passed up for %.1f s more, moved on with every keepalive\n",
				       json_object_get_string(a), json_object_get_uint64(left) / 1000.0);
			else
				printf("  own ports of %s (dynamic): dropped, this host's lease and the quarantine are over "
				       "(or it has no lease yet): is the agent running?\n", json_object_get_string(a));
		}
	}
	if (json_object_object_get_ex(st, "forwarded_to", &f) && json_object_object_length(f)) {
		printf("  forwarded to:");
		json_object_object_foreach(f, key, val)
			printf(" %s %s", key, json_object_get_string(val));
		printf("\n");
	}
}

