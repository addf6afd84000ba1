// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The XDP steering program as the tests drive it (steer_env.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "steer_env.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

const char *const steer_stat_names[STEER_N_STATS] = { PS_STEER_STAT_NAMES };

const char *steer_verdict_name(uint32_t verdict)
{
	static const char *const names[] = { "XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX",
					     "XDP_REDIRECT" };

	return verdict < ARRAY_SIZE(names) ? names[verdict] : "?";
}

struct ps_steer *steer_env_load(uint32_t self_host, enum ps_steer_mode mode,
				const char *underlay4, const char *underlay6)
{
	struct ps_steer *skel = ps_steer__open();
	struct bpf_map *map;
	uint32_t a4;

	if (!skel)
		return NULL;
	/* No pins: the maps live and die with the test process. */
	bpf_object__for_each_map(map, skel->obj)
		bpf_map__set_pin_path(map, NULL);
	skel->rodata->ps_self_host = self_host;
	skel->rodata->ps_steer_mode = mode;
	if (underlay4 && inet_pton(AF_INET, underlay4, &a4) == 1)
		skel->rodata->ps_self_underlay4 = a4;
	if (underlay6)
		inet_pton(AF_INET6, underlay6, (void *)skel->rodata->ps_self_underlay6);
	if (ps_steer__load(skel)) {
		ps_steer__destroy(skel);
		return NULL;
	}
	return skel;
}

int steer_env_run(struct ps_steer *skel, int ifindex, const uint8_t *in, size_t len,
		  uint8_t *out, size_t *out_len, uint32_t *retval)
{
	struct xdp_md md = { .data_end = (__u32)len, .ingress_ifindex = (__u32)ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = in,
		.data_size_in = (__u32)len,
		.data_out = out,
		.data_size_out = (__u32)*out_len,
		.ctx_in = &md,
		.ctx_size_in = sizeof(md),
	);
	int err = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.ps_steer), &opts);

	*retval = opts.retval;
	*out_len = opts.data_size_out;
	return err;
}

/* Room for one per-CPU value of ps_steer_stats (the largest) from every CPU. */
static __u64 *percpu_buf(int *ncpu)
{
	static __u64 *vals;
	static int n;

	if (!vals) {
		n = libbpf_num_possible_cpus();
		if (n <= 0)
			return NULL;
		vals = calloc((size_t)n, sizeof(struct ps_steer_stats));
	}
	*ncpu = n;
	return vals;
}

int steer_env_read_stats(struct ps_steer *skel, __u64 stats[STEER_N_STATS])
{
	__u32 key = 0;
	int ncpu;
	__u64 *vals = percpu_buf(&ncpu);

	if (!vals)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.ps_steer_stats), &key, vals))
		return -errno;
	memset(stats, 0, STEER_N_STATS * sizeof(__u64));
	for (int c = 0; c < ncpu; c++)
		for (size_t f = 0; f < STEER_N_STATS; f++)
			stats[f] += vals[(size_t)c * STEER_N_STATS + f];
	return 0;
}

int steer_env_read_fwd(struct ps_steer *skel, __u64 fwd[PS_MAX_HOSTS])
{
	int ncpu;
	__u64 *vals = percpu_buf(&ncpu);

	if (!vals)
		return -ENOMEM;
	memset(fwd, 0, PS_MAX_HOSTS * sizeof(__u64));
	for (__u32 key = 0; key < PS_MAX_HOSTS; key++) {
		if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.ps_steer_fwd), &key, vals))
			return -errno;
		for (int c = 0; c < ncpu; c++)
			fwd[key] += vals[c];
	}
	return 0;
}

int steer_env_add_pool(struct ps_steer *skel, int af, const char *addr, __u32 slot)
{
	struct ps_addr_key key = { .family = (__u32)af };

	if (inet_pton(af, addr, key.addr) != 1)
		return -EINVAL;
	return bpf_map_update_elem(bpf_map__fd(skel->maps.ps_steer_pools), &key, &slot,
				   BPF_NOEXIST) ? -errno : 0;
}

int steer_env_set_owner(struct ps_steer *skel, __u32 slot, uint16_t port, __u32 host)
{
	__u32 idx = PS_STEER_OWNER_INDEX(slot, port);

	return bpf_map_update_elem(bpf_map__fd(skel->maps.ps_steer_owner), &idx, &host,
				   BPF_ANY) ? -errno : 0;
}

int steer_env_set_host(struct ps_steer *skel, __u32 id, int af, const char *addr, int ifindex)
{
	struct ps_steer_host v = {
		.flags = PS_STEER_HOST_VALID,
		.family = (__u32)af,
		.ifindex = (__u32)ifindex,
	};

	if (inet_pton(af, addr, v.addr) != 1)
		return -EINVAL;
	return bpf_map_update_elem(bpf_map__fd(skel->maps.ps_steer_hosts), &id, &v,
				   BPF_ANY) ? -errno : 0;
}

int steer_env_set_mac(int fd, const uint8_t mac[6], __u32 val)
{
	struct ps_mac_key key = {};

	memcpy(key.mac, mac, 6);
	return bpf_map_update_elem(fd, &key, &val, BPF_ANY) ? -errno : 0;
}
