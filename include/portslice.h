/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Types and constants read by both the BPF programs (bpf/) and the loader
 * (loader/). Everything the two sides exchange through maps is declared here
 * and nowhere else.
 *
 * The BPF side includes vmlinux.h before this file; user space includes
 * <linux/types.h>. Both provide the __u8/__u16/__u32/__u64 types used below.
 */
#ifndef PORTSLICE_H
#define PORTSLICE_H

/*
 * Version of the pinned map layout. Bump it whenever a struct below, a map's
 * key/value size or the meaning of a map entry changes: a loader refuses to
 * reuse pins whose layout version differs instead of misreading them.
 */
#define PS_LAYOUT_VERSION 1

/*
 * Pools are addressed by a stable slot, which is also a bit in a pool mask.
 * The per-port words take PS_MAX_POOLS * 64 Ki * 4 bytes (8 MiB) of kernel
 * memory, which is what keeps this number small.
 */
#define PS_MAX_POOLS 32
#define PS_POOL_NAME_LEN 32

/* Claims of (proto, local addr, local port, remote addr, remote port). */
#ifndef PS_MAX_TUPLES
#define PS_MAX_TUPLES (1U << 20)
#endif

/* Destination prefixes over all pools, per family. */
#define PS_MAX_DST_PREFIXES 4096

/* Cgroups that may be attached at once. */
#define PS_MAX_ATTACHMENTS 1024

/*
 * The per-port word in ps_port_users packs two counters so that connect()
 * and bind() can exclude each other with one atomic operation: the low bits
 * count 4-tuple claims made by connect(), the high bits count sockets that
 * hold the whole port through bind().
 */
#define PS_PORT_BIND_SHIFT 24
#define PS_PORT_BIND_ONE (1U << PS_PORT_BIND_SHIFT)
#define PS_PORT_USERS_MASK (PS_PORT_BIND_ONE - 1)

#define PS_PORTS_PER_POOL 65536U

/* ps_pool.flags */
#define PS_POOL_ACTIVE (1U << 0) /* this host has a slice in the pool */

/* A pool as this host sees it: its shared address and this host's slice. */
struct ps_pool {
	__u32 flags;
	__u16 family;    /* AF_INET or AF_INET6 */
	__u16 port_lo;   /* this host's slice, host byte order, inclusive */
	__u16 port_hi;
	__u16 pad;
	__u32 addr[4];   /* network byte order; IPv4 uses addr[0] */
	char name[PS_POOL_NAME_LEN];
};

/*
 * One claimed 4-tuple. Ports are in host byte order, addresses in network
 * byte order; IPv4 addresses use the first word, the rest is zero.
 */
struct ps_tuple {
	__u8 proto;      /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 family;     /* AF_INET or AF_INET6 */
	__u16 lport;
	__u16 rport;
	__u16 pad;
	__u32 laddr[4];
	__u32 raddr[4];
};

/* Who holds a claimed tuple. */
struct ps_claim {
	__u64 cookie;    /* socket cookie of the owner */
	__u64 since_ns;  /* bpf_ktime_get_ns() when the owner took it */
	__u32 flags;     /* PS_CLAIM_* */
	__u32 pad;
};

/* ps_claim.flags */
#define PS_CLAIM_PORT_USER (1U << 0) /* the owner also holds a user count of the port */

/*
 * A claim this old whose tuple the kernel has no socket for is stale: its
 * owner went away without its release program running (it was detached).
 * Every live owner is in the kernel's tables well within this time: a UDP
 * socket from its bpf_bind() on, a TCP one from connect()'s hashing on.
 */
#define PS_STALE_CLAIM_NS (2ULL * 1000 * 1000 * 1000)

/* ps_sock_state.flags: what a socket holds and must give back on release */
#define PS_HOLDS_TUPLE     (1U << 0) /* an entry of ps_tuples */
#define PS_HOLDS_PORT_USER (1U << 1) /* one user count of its port's word */
#define PS_HOLDS_PORT_BIND (1U << 2) /* one bind count of its port's word */

/* Per-socket record (socket local storage) of what the socket holds. */
struct ps_sock_state {
	__u32 flags;
	__u32 pool;      /* pool slot of the port word */
	__u16 port;      /* host byte order */
	__u16 pad[3];
	struct ps_tuple tuple;
};

/*
 * LPM keys for the destinations of pools. The pool slot leads the data, so
 * each pool's prefixes form their own subtree: a pool's destinations change
 * without touching any other pool's, and a lookup asks one pool at a time.
 */
#define PS_DST4_PREFIX(len) (8 + (len))
#define PS_DST6_PREFIX(len) (8 + (len))

struct ps_dst4_key {
	__u32 prefixlen; /* 8 (slot) + prefix length */
	__u8 slot;
	__u8 addr[4];    /* network byte order */
	__u8 pad[3];
};

struct ps_dst6_key {
	__u32 prefixlen; /* 8 (slot) + prefix length */
	__u8 slot;
	__u8 addr[16];
	__u8 pad[3];
};

/* Per-pool, per-protocol counters (index: pool slot * 2 + (proto == UDP)). */
struct ps_stats {
	__u64 allocated;      /* tuples handed out by connect() */
	__u64 released;       /* tuples given back on socket release */
	__u64 exhausted;      /* connect() refused: no free tuple in the slice */
	__u64 map_full;       /* connect() refused: ps_tuples has no room */
	__u64 conflicts;      /* connect() of a bound socket refused: tuple taken */
	__u64 kernel_held;    /* candidates skipped: the kernel holds the tuple */
	__u64 bind_failed;    /* candidates skipped: bpf_bind() failed */
	__u64 bound;          /* bind(pool, 0) given a slice port */
	__u64 bind_denied;    /* bind to the pool address outside the slice */
	__u64 send_denied;    /* sendmsg from the pool address outside the slice */
	__u64 reclaimed;      /* stale claims taken over (their owner left unseen) */
	__u64 release_lost;   /* releases that found their claim gone or not theirs */
};

#define PS_STATS_INDEX(pool, proto) ((pool) * 2 + ((proto) == 17 /* UDP */))
#define PS_STATS_ENTRIES (PS_MAX_POOLS * 2)

/* What one attached cgroup asked for, written by the loader at attach. */
struct ps_attachment {
	__u64 pool_mask;   /* pools the cgroup's sockets use */
	__u32 pool_count;
	__u8 pool_order[PS_MAX_POOLS]; /* slots, in config order */
	__u32 pad;
	__u64 attached_ns; /* CLOCK_REALTIME of the (latest) attach */
	char path[256];    /* cgroup path relative to the cgroup2 mount */
};

/* Key of ps_pool_addrs: a pool address. */
struct ps_addr_key {
	__u32 family;
	__u32 addr[4];   /* network byte order; IPv4 uses addr[0] */
};

/* Layout stamp, the single entry of ps_meta. */
struct ps_meta {
	__u32 layout_version;
	__u32 pad;
};

#endif /* PORTSLICE_H */
