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

/*
 * Pool slot -> until when this host's own ports of it pass (struct
 * ps_steer_lease). Written by the loader (0 for a static pool, "none" for a
 * dynamic pool new to its slot) and by the agent's leasing task.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PS_MAX_POOLS);
	__type(key, __u32);
	__type(value, struct ps_steer_lease);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_steer_lease SEC(".maps");

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
 * One CPU's last successful FIB result for a host, with what it was asked
 * from its ps_steer_hosts entry: all ps_steer_forward() needs to send
 * another packet there without the host entry or the FIB (the FIB lookup
 * is most of a forward's cost). Valid only within the jiffy it was made
 * in, while ps_steer_gen is unchanged (the host entry is the same), and
 * only for the same question (ingress device, L4 protocol, a length known
 * to fit); failures are never kept. BPF-only.
 */
struct ps_steer_fib_memo {
	__u64 jiffies;      /* bpf_jiffies64() of the lookup */
	__u64 gen;          /* ps_steer_gen then */
	__u32 macs[3];      /* the FIB's destination and source MACs, as a frame carries them */
	__u32 in_ifindex;   /* ctx->ingress_ifindex */
	__u32 out_ifindex;  /* the FIB's egress device */
	__u32 mtu;          /* a length known to fit: the route MTU, or the tot_len asked */
	__u32 outer;        /* bytes of outer IP header in front of the packet (encap), or 0 */
	__u32 family;       /* the owner's underlay address (the outer destination) */
	__u32 addr[4];
	__u8 l4_proto;      /* as asked (policy routing may match it) */
	__u8 pad[3];
};

/* Host id -> this CPU's last FIB result for it (struct ps_steer_fib_memo). Written by the XDP program; not pinned, per load. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PS_MAX_HOSTS);
	__type(key, __u32);
	__type(value, struct ps_steer_fib_memo);
} ps_steer_fib_memo SEC(".maps");

/*
 * Generation of the maps whose answers each CPU keeps (struct
 * ps_steer_memo, struct ps_steer_fib_memo): ps_steer_pools,
 * ps_steer_hosts, ps_steer_local_macs, ps_steer_peer_macs. Every writer
 * adds one after it wrote (the loader after each sync, this program after
 * learning a peer), which voids every memo made before. Mmapable, so that
 * user space adds atomically as the program does.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_steer_gen SEC(".maps");

/*
 * One CPU's last answers of the hash lookups a forwarded packet needs
 * (most of the program's cost when asked every time): which pool an
 * address is, and that frames from one MAC to another may be steered.
 * Replies reach a host for few pool addresses, from few routers, so
 * consecutive packets ask the same questions. An answer holds while
 * ps_steer_gen is the one it was made at, and only within its jiffy: a
 * writer that does not add to the generation (a hand edit with bpftool)
 * is seen at most one jiffy late, as a route change is (struct
 * ps_steer_fib_memo). Only answers that let a packet go on are kept;
 * refusals are looked up every time. BPF-only.
 */
struct ps_steer_memo {
	__u64 pool_jiffies;   /* bpf_jiffies64() of the pool lookup */
	__u64 pool_gen;       /* ps_steer_gen then */
	__u32 pool_family;    /* pool_addr (network byte order) of pool_family */
	__u32 pool_addr[4];
	__u32 pool_slot;      /* is the pool address of this slot */
	__u64 guard_jiffies;  /* bpf_jiffies64() of the loop guard's lookups */
	__u64 guard_gen;      /* ps_steer_gen then */
	__u32 guard_macs[3];  /* the frame's first 12 bytes, destination and
				 source MAC: such a frame may be steered */
	__u32 pad;
};

/* This CPU's memo (one entry, struct ps_steer_memo). Written by the XDP program; not pinned, per load. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ps_steer_memo);
} ps_steer_memo SEC(".maps");

/* What a packet's lookups may reuse: this CPU's memo at this jiffy and generation. */
struct ps_steer_recall {
	struct ps_steer_memo *memo; /* NULL: look everything up */
	__u64 now;                  /* bpf_jiffies64() */
	__u64 gen;                  /* ps_steer_gen */
};

/*
 * The generation is read before any lookup whose answer is kept: a write
 * that lands after this read has its generation added after it, so the
 * answer, kept under the older generation, is void from then on.
 */
static __always_inline void ps_steer_recall_open(struct ps_steer_recall *rc)
{
	__u32 zero = 0;
	__u64 *gen = bpf_map_lookup_elem(&ps_steer_gen, &zero);

	rc->memo = NULL;
	rc->now = bpf_jiffies64();
	if (!gen)
		return;
	rc->gen = *(volatile __u64 *)gen;
	rc->memo = bpf_map_lookup_elem(&ps_steer_memo, &zero);
}

/* This program wrote a map the memos answer from: void every CPU's memo. */
static __always_inline void ps_steer_gen_bump(void)
{
	__u32 zero = 0;
	__u64 *gen = bpf_map_lookup_elem(&ps_steer_gen, &zero);

	if (gen)
		__sync_fetch_and_add(gen, 1);
}

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
static __always_inline bool ps_steer_pool_slot(const struct ps_steer_recall *rc, __u32 family,
					       const __u32 addr[4], __u32 *slot)
{
	struct ps_steer_memo *memo = rc->memo;
	struct ps_addr_key key = { .family = family };
	__u32 *found;

	/* The address first: most packets that miss are not for a pool at all. */
	if (memo && memo->pool_family == family && ps_addr_eq(memo->pool_addr, addr) &&
	    memo->pool_jiffies == rc->now && memo->pool_gen == rc->gen) {
		*slot = memo->pool_slot;
		return true;
	}
	__builtin_memcpy(key.addr, addr, sizeof(key.addr));
	found = bpf_map_lookup_elem(&ps_steer_pools, &key);
	if (!found)
		return false;
	*slot = *found;
	if (memo) {
		memo->pool_jiffies = rc->now;
		memo->pool_gen = rc->gen;
		memo->pool_family = family;
		__builtin_memcpy(memo->pool_addr, addr, sizeof(memo->pool_addr));
		memo->pool_slot = *slot;
	}
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

/*
 * Has this host's hold on its ports of @slot run out (a dynamic pool whose
 * lease, plus the quarantine, can be over)? Read only for this host's own
 * ports: other hosts' leases are theirs to keep.
 */
static __always_inline bool ps_steer_own_lapsed(__u32 slot)
{
	struct ps_steer_lease *l = bpf_map_lookup_elem(&ps_steer_lease, &slot);
	__u64 until;

	if (!l)
		return false;
	until = *(volatile __u64 *)&l->own_until_ns;
	return until && bpf_ktime_get_boot_ns() >= until;
}

#endif
