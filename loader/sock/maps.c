// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sock.skel.h"
#include "core/build.h"
#include "core/pins.h"
#include "sock/maps.h"

/* The pinned maps' names, in the order of struct ps_maps' fields. */
static const char *const map_names[] = {
	"ps_pools", "ps_pool_addrs", "ps_dst4", "ps_dst6", "ps_tuples",
	"ps_port_users", "ps_sk_state", "ps_stats", "ps_attachments", "ps_meta", "ps_live",
	"ps_blocks", "ps_blocks_gen", "ps_lease", "ps_port_tw", "ps_quarantine", "ps_quarantine_used",
};
_Static_assert(sizeof(map_names) / sizeof(map_names[0]) == sizeof(struct ps_maps) / sizeof(int),
	       "struct ps_maps and map_names[] must list the same maps");

void ps_maps_close(struct ps_maps *maps)
{
	ps_pin_fds_close((int *)maps, sizeof(*maps) / sizeof(int));
}

int ps_maps_open(struct ps_maps *maps, struct ps_error *error)
{
	/*
	 * The layout first: pins of an older layout lack maps of this one
	 * (layout 3 had no ps_blocks), and their refusal must be the layout's,
	 * with its steps, not a missing map's.
	 */
	int err = ps_layout_check(&ps_sock_layout, error) ?:
		  ps_pin_maps_open(map_names, (int *)maps, sizeof(*maps) / sizeof(int), error);

	if (!err)
		err = ps_layout_check_fd(&ps_sock_layout, maps->meta, error);
	if (err)
		ps_maps_close(maps);
	return err;
}

int ps_skel_load(struct ps_sock **out, const struct ps_attachment *att, __u64 cgroup_id, struct ps_error *error)
{
	char maps_dir[PATH_MAX];
	struct ps_sock *skel;
	int err;

	err = ps_pin_maps_dir(maps_dir, sizeof(maps_dir), error);
	if (err)
		return err;

	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = maps_dir);
	skel = ps_sock__open_opts(&opts);
	if (!skel)
		return ps_fail(error, errno, "cannot open the BPF object: %s", strerror(errno));

	skel->rodata->ps_pool_mask = att->pool_mask;
	skel->rodata->ps_pool_count = att->pool_count;
	skel->rodata->ps_attach_id = cgroup_id;
	memcpy((void *)skel->rodata->bpf_metadata_build_id, ps_build_id_sock, PS_BUILD_ID_LEN);
	memcpy((void *)skel->rodata->ps_pool_order, att->pool_order, sizeof(att->pool_order));

	err = ps_sock__load(skel);
	if (err) {
		ps_sock__destroy(skel);
		return ps_fail(error, err, "the kernel refused portslice's BPF programs (%s); run with -v for the verifier's log, "
			      "and check the kernel requirements in the README", strerror(-err));
	}
	err = ps_layout_stamp(&ps_sock_layout, bpf_map__fd(skel->maps.ps_meta), error);
	if (err) {
		ps_sock__destroy(skel);
		return err;
	}
	*out = skel;
	return 0;
}

void ps_maps_from_skel(struct ps_sock *skel, struct ps_maps *maps)
{
	/* Borrowed fds: they close with the skeleton. */
	maps->pools = bpf_map__fd(skel->maps.ps_pools);
	maps->pool_addrs = bpf_map__fd(skel->maps.ps_pool_addrs);
	maps->dst4 = bpf_map__fd(skel->maps.ps_dst4);
	maps->dst6 = bpf_map__fd(skel->maps.ps_dst6);
	maps->tuples = bpf_map__fd(skel->maps.ps_tuples);
	maps->port_users = bpf_map__fd(skel->maps.ps_port_users);
	maps->sk_state = bpf_map__fd(skel->maps.ps_sk_state);
	maps->stats = bpf_map__fd(skel->maps.ps_stats);
	maps->attachments = bpf_map__fd(skel->maps.ps_attachments);
	maps->meta = bpf_map__fd(skel->maps.ps_meta);
	maps->live = bpf_map__fd(skel->maps.ps_live);
	maps->blocks = bpf_map__fd(skel->maps.ps_blocks);
	maps->blocks_gen = bpf_map__fd(skel->maps.ps_blocks_gen);
	maps->lease = bpf_map__fd(skel->maps.ps_lease);
	maps->port_tw = bpf_map__fd(skel->maps.ps_port_tw);
	maps->quarantine = bpf_map__fd(skel->maps.ps_quarantine);
	maps->quarantine_used = bpf_map__fd(skel->maps.ps_quarantine_used);
}
