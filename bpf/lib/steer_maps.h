/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Maps, per-load settings and counters of the steering program. The maps
 * are pinned by name (the loader picks the directory); none is shared with
 * bpf/sock.bpf.c, so the two programs load and update independently.
 */
#ifndef PS_BPF_STEER_MAPS_H
#define PS_BPF_STEER_MAPS_H

#include "common.h"
#include "steer.h"

/*
 * Set by the loader between open and load. The underlay addresses (network
 * byte order) are the outer sources of encapsulated replies; a family left
 * at zero cannot be encapsulated into.
 */
const volatile __u32 ps_self_host = PS_STEER_NO_HOST; /* this host's id */
const volatile __u32 ps_steer_mode = PS_STEER_L2;     /* enum ps_steer_mode */
const volatile __u32 ps_self_underlay4 = 0;
const volatile __u32 ps_self_underlay6[4] = {};

/* Pool address -> pool slot (< PS_MAX_POOLS). Written by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PS_MAX_POOLS);
	__type(key, struct ps_addr_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_steer_pools SEC(".maps");

/* PS_STEER_OWNER_INDEX(slot, port) -> owning host id (0: none). Written by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PS_STEER_OWNER_ENTRIES);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_steer_owner SEC(".maps");

/* Host id -> underlay address and FIB hints. Written by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PS_MAX_HOSTS);
	__type(key, __u32);
	__type(value, struct ps_steer_host);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_steer_hosts SEC(".maps");

/*
 * MAC -> ifindex of the device that has it: the MACs of the steered
 * interfaces and of the devices stacked on them (VLANs, bridges, bonds).
 * Only frames addressed to one of them are steered. Written by the loader.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PS_STEER_MAX_LOCAL_MACS);
	__type(key, struct ps_mac_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_steer_local_macs SEC(".maps");

/*
 * MAC of another fleet host -> its host id: a frame from one was steered
 * already. Written by the loader (the neighbour entries of the hosts'
 * underlay addresses) and by this program (the MAC the FIB gave an owner
 * it reaches on-link), so a host is known from its first forward on.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PS_STEER_MAX_PEER_MACS);
	__type(key, struct ps_mac_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_steer_peer_macs SEC(".maps");

/* One entry of verdict counters. Written by the XDP program, read by status. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ps_steer_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_steer_stats SEC(".maps");

/* Host id -> packets forwarded to it. Written by the XDP program, read by status. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PS_MAX_HOSTS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_steer_fwd SEC(".maps");

/*
 * One CPU's last successful FIB result for a host: what ps_steer_forward()
 * needs to send another packet there without asking the FIB again (the FIB
 * lookup is most of a forward's cost). Valid only within the jiffy it was
 * made in, and only for the same question (host entry, ingress device, L4
 * protocol, a length known to fit); failures are never kept. BPF-only.
 */
struct ps_steer_fib_memo {
	__u64 jiffies;      /* bpf_jiffies64() of the lookup */
	__u32 family;       /* the ps_steer_hosts entry it was made for */
	__u32 addr[4];
	__u32 host_ifindex;
	__u32 in_ifindex;   /* ctx->ingress_ifindex */
	__u32 out_ifindex;  /* the FIB's egress device */
	__u32 mtu;          /* a length known to fit: the route MTU, or the tot_len asked */
	__u8 l4_proto;      /* as asked (policy routing may match it) */
	__u8 dmac[6];
	__u8 smac[6];
	__u8 pad[3];
};

/* Host id -> this CPU's last FIB result for it (struct ps_steer_fib_memo). Written by the XDP program; not pinned, per load. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PS_MAX_HOSTS);
	__type(key, __u32);
	__type(value, struct ps_steer_fib_memo);
} ps_steer_fib_memo SEC(".maps");

/* Per-CPU counters: a plain increment is race-free. */
#define ps_steer_count(field)                                                    \
	do {                                                                     \
		__u32 __zero = 0;                                                \
		struct ps_steer_stats *__s = bpf_map_lookup_elem(&ps_steer_stats, &__zero); \
		if (__s)                                                         \
			__s->field++;                                            \
	} while (0)

/* Count @field and evaluate to @verdict: `return ps_steer_verdict(passed_own, XDP_PASS);` */
#define ps_steer_verdict(field, verdict) \
	({                               \
		ps_steer_count(field);   \
		(verdict);               \
	})

#define ps_steer_drop(field) ps_steer_verdict(field, XDP_DROP)

static __always_inline void ps_steer_count_fwd(__u32 host)
{
	__u64 *n = bpf_map_lookup_elem(&ps_steer_fwd, &host);

	if (n)
		(*n)++;
}

/* Is @addr a pool address? Its pool's slot goes to *slot. */
static __always_inline bool ps_steer_pool_slot(__u32 family, const __u32 addr[4], __u32 *slot)
{
	struct ps_addr_key key = { .family = family };
	__u32 *found;

	__builtin_memcpy(key.addr, addr, sizeof(key.addr));
	found = bpf_map_lookup_elem(&ps_steer_pools, &key);
	if (!found)
		return false;
	*slot = *found;
	return true;
}

/* The host owning @port of pool @slot, or PS_STEER_NO_HOST. */
static __always_inline __u32 ps_steer_owner_of(__u32 slot, __u32 port)
{
	__u32 idx = PS_STEER_OWNER_INDEX(slot, port);
	__u32 *owner;

	/* A slot past the table would alias another pool's ports: nobody owns it. */
	if (slot >= PS_MAX_POOLS)
		return PS_STEER_NO_HOST;
	owner = bpf_map_lookup_elem(&ps_steer_owner, &idx);
	return owner ? *owner : PS_STEER_NO_HOST;
}

#endif
