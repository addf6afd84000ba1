// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * XDP programs of the steering benchmark (bench/psbench.c "steer"):
 *
 *   xdp_sink     on the receiving namespace's veth: count and drop, so the
 *                sink costs the same whatever path delivered the frame
 *   xdp_drop     on the forwarder's ingress veth: count and drop; what the
 *                sender and the veth hop cost alone (the baseline that
 *                is subtracted to get the cost of forwarding itself)
 *   xdp_ceiling  on the forwarder's ingress veth: the least a forwarding
 *                XDP program can do, rewrite the MACs and bpf_redirect() to
 *                a fixed device; the ceiling the steering program is
 *                measured against
 *   xdp_floor    test runs only: the verdict and nothing else, what a
 *                BPF_PROG_TEST_RUN repetition costs by itself (subtracted
 *                to get the programs' own work)
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 redirect_ifindex = 0;
const volatile __u8 new_dmac[6] = {};
const volatile __u8 new_smac[6] = {};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sink_count SEC(".maps");

SEC("xdp")
int xdp_sink(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&sink_count, &zero);

	if (n)
		(*n)++;
	return XDP_DROP;
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drop_count SEC(".maps");

SEC("xdp")
int xdp_drop(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&drop_count, &zero);

	if (n)
		(*n)++;
	return XDP_DROP;
}

SEC("xdp")
int xdp_ceiling(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u8 *eth = data;

	if (data + 14 > end)
		return XDP_DROP;
	for (int i = 0; i < 6; i++) {
		eth[i] = new_dmac[i];
		eth[6 + i] = new_smac[i];
	}
	return bpf_redirect(redirect_ifindex, 0);
}

SEC("xdp")
int xdp_floor(struct xdp_md *ctx)
{
	return XDP_REDIRECT;
}
