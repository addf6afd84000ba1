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
#define PS_LAYOUT_VERSION 4

/*
 * A build id names one BPF object as built: the first 16 hex digits of its
 * SHA-256 (the Makefile computes it). The loader writes its own into
 * .rodata's bpf_metadata_build_id at every load (bpftool prog show prints
 * it), and replaces running programs that carry another one. Programs of
 * another build but the same PS_LAYOUT_VERSION read the pinned maps alike.
 */
#define PS_BUILD_ID_LEN 17 /* 16 hex digits and the NUL */

/*
 * Pools are addressed by a stable slot, which is also a bit in a pool mask.
 * The per-port words take PS_MAX_POOLS * 2 protocols * 64 Ki * 4 bytes
 * (16 MiB) of kernel memory, which is what keeps this number small.
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

/*
 * Index of a port's word in ps_port_users: one word per protocol, since a
 * TCP and a UDP socket on the same port never collide (a UDP bind() does
 * not keep TCP connects off the port, and a search for a TCP port is not
 * put off by UDP sockets).
 */
#define PS_PORT_USERS_INDEX(slot, proto, port) \
	(((slot) * 2 + ((proto) == 17 /* UDP */)) * PS_PORTS_PER_POOL + ((port) & 0xffff))

/* ps_pool.flags */
#define PS_POOL_ACTIVE (1U << 0) /* this host has a slice in the pool */
/*
 * Peer-to-peer pool (config `p2p: true`, README "Peer-to-peer
 * applications"): a wildcard bind of a slice port is moved to the pool
 * address, binds of a slice port share it as BSD does, and a bound socket
 * cannot connect on a quarantined tuple. Programs that predate the bit
 * ignore it: the pins' layout is unchanged.
 */
#define PS_POOL_P2P (1U << 1)
/*
 * Dynamic pool (config `slices: dynamic`, docs/fleet.md): the agent's
 * leasing task writes its blocks (ps_blocks) as it leases them from etcd,
 * and its hull (port_lo..port_hi) is the pool's whole `ports:` range.
 * Every new claim in its blocks (a port search, a tuple, a named port, a
 * datagram on a tuple nobody holds) first checks the lease's fencing
 * deadline (ps_lease); static pools never read it.
 */
#define PS_POOL_DYNAMIC (1U << 2)

/* A pool as this host sees it: its shared address and this host's slice. */
struct ps_pool {
	__u32 flags;
	__u16 family;    /* AF_INET or AF_INET6 */
	__u16 port_lo;   /* this host's slice, host byte order, inclusive: the hull of */
	__u16 port_hi;   /* its blocks (ps_blocks says which ports are in it); dynamic: the ports: range */
	__u8 min_blocks; /* PS_POOL_DYNAMIC: the blocks the agent keeps leased, at least ... */
	__u8 max_blocks; /* ... and at most (for status; the programs do not read them) */
	__u32 reuse_delay_ms; /* a tuple that ended is not handed out again for this long */
	__u32 addr[4];   /* network byte order; IPv4 uses addr[0] */
	char name[PS_POOL_NAME_LEN];
};

/*
 * A host's slice of a pool is up to PS_MAX_BLOCKS blocks of ports, all of
 * one size (config `host-a: [20000-20255, 21024-21279]`; one range is one
 * block). ps_blocks holds two tables per pool slot (index slot * 2 + buffer)
 * and ps_blocks_gen one generation per slot: the table in force is buffer
 * gen & 1. The loader writes the other buffer whole, then stores gen + 1:
 * a search reads the generation once, then only the buffer it names, so it
 * never sees half a table (README "Blocks").
 *
 * Blocks [0, n_held) give new ports: a search runs over the virtual index
 * 0 .. n_held * size - 1, index v being port start[v / size] + v % size.
 * Blocks [n_held, n_all) are draining: they give no new ports, but their
 * ports are still the slice's (binds, sends and releases of them are
 * accepted, claims in them stay valid).
 */
#define PS_MAX_BLOCKS 32

struct ps_blocks {
	__u16 size;      /* ports per block; 0: no table (the pool is not active) */
	__u8 n_held;
	__u8 n_all;
	__u32 pad;
	__u16 start[PS_MAX_BLOCKS]; /* first port of each block, host byte order */
};

/*
 * The host's etcd lease, the single entry of ps_lease (docs/fleet.md,
 * "Wiring"): written by the agent's leasing task with every keepalive, read
 * by the programs before a new claim in a PS_POOL_DYNAMIC pool. Times
 * are CLOCK_BOOTTIME nanoseconds (bpf_ktime_get_boot_ns()), which runs on
 * through a suspend as etcd's clock does.
 */
struct ps_lease_state {
	__u64 fence_ns;   /* no new claim in a dynamic pool at or after this; 0: fenced (no lease) */
	__u64 lease_id;   /* etcd's lease id; 0: none */
	__u64 expires_ns; /* the earliest etcd may expire the lease */
	__u32 flags;      /* PS_LEASE_* */
	__u32 pad;
};

/* ps_lease_state.flags: the last keepalive was answered. */
#define PS_LEASE_ETCD_OK (1U << 0)

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

/*
 * Who holds a claimed tuple. A claim lives exactly as long as its socket:
 * it is given back by the socket's release program at close(), or when TCP
 * moves the socket to CLOSE (the sock_ops state callback), which also comes
 * for sockets whose release program never runs (MPTCP subflows, kernel
 * sockets). It is never taken over while the socket exists.
 */
struct ps_claim {
	__u64 cookie;    /* socket cookie of the owner */
};

/* ps_sock_state.flags: what a socket holds and must give back on release */
#define PS_HOLDS_TUPLE     (1U << 0) /* an entry of ps_tuples */
#define PS_HOLDS_PORT_USER (1U << 1) /* one user count of its port's word */
#define PS_HOLDS_PORT_BIND (1U << 2) /* one bind count of its port's word */
#define PS_HOLDS (PS_HOLDS_TUPLE | PS_HOLDS_PORT_USER | PS_HOLDS_PORT_BIND)
/* ps_sock_state.flags: how the socket is getting on */
#define PS_CLOSED          (1U << 3) /* close() ran; a TCP socket's rest waits for TCP's CLOSE */
#define PS_MAY_TIME_WAIT   (1U << 4) /* TCP closed first by this side: TIME_WAIT follows */
#define PS_DEV_BOUND       (1U << 5) /* bound to a device: the kernel's lookups miss it */
#define PS_COUNTED         (1U << 6) /* counted in ps_live under .owner */

/*
 * How long the kernel may still hold a TCP port after the socket that closed
 * first reached CLOSE: TIME_WAIT lasts TCP_TIMEWAIT_LEN (60 s). Stamps count
 * in units of 2^30 ns (about 1.07 s), so 57 units cover it with a margin.
 */
#define PS_TW_STAMP_SHIFT 30
#define PS_TW_HOLD_UNITS 57
#define PS_TW_HOLD_NS (60ULL * 1000 * 1000 * 1000)

/*
 * A port given back is still in the kernel's bind table for the moment
 * between the release programs and the kernel's own unhash (close() runs
 * them first; softirqs may come in between), and a bind() without
 * SO_REUSEADDR that lands on it then gets EADDRINUSE. Stamps of when a port
 * was given back count in units of 2^16 ns (65.5 us). bind(pool, 0) first
 * looks for a port given back over PS_FREED_SETTLED_UNITS ago (about 4 ms),
 * then over PS_FREED_MIN_UNITS (about 1 ms), and only then takes any.
 */
#define PS_FREED_STAMP_SHIFT 16
#define PS_FREED_SETTLED_UNITS 64
#define PS_FREED_MIN_UNITS 16

/* reuse_delay quarantine entries kept at most (least recently used go first). */
#define PS_MAX_QUARANTINE (1U << 16)

/* Per-socket record (ps_sk_state, by socket cookie) of what the socket holds. */
struct ps_sock_state {
	__u64 cookie;    /* the socket's cookie, the key of its record */
	__u64 owner;     /* cgroup id of the attachment whose programs placed it */
	__u32 flags;
	__u32 pool;      /* pool slot of the port word */
	__u16 port;      /* host byte order */
	__u8 proto;      /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad[5];
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

/*
 * Per-pool, per-protocol counters (ps_stats; index: pool slot * 2 + (proto
 * == UDP)), as X(name, what it counts): the struct's fields below, and the
 * names status, metrics and the tests read, all expand this one list.
 */
#define PS_SOCK_COUNTERS(X)                                                                        \
	X(allocated, "tuples handed out by connect()")                                              \
	X(released, "tuples given back on socket release")                                          \
	X(exhausted, "connect() refused: no free tuple in the slice")                               \
	X(map_full, "connect() refused: ps_tuples has no room")                                      \
	X(conflicts, "connect() of a bound socket refused: tuple taken")                             \
	X(kernel_held, "candidates skipped: the kernel holds the tuple")                             \
	X(bind_failed, "candidates skipped: bpf_bind() failed")                                      \
	X(bound, "bind(pool, 0) given a slice port")                                                 \
	X(bind_denied, "bind to the pool address outside the slice")                                 \
	X(send_denied, "sendmsg from the pool address outside the slice")                            \
	X(released_unseen, "claims given back at TCP's CLOSE of a socket whose release never ran")   \
	X(release_lost, "releases that found their claim gone or not theirs (a bug)")                \
	X(tw_reused, "TIME_WAIT tuples handed out again, as the kernel would reuse them")            \
	X(quarantined, "candidates skipped, or P2P dials refused: the tuple ended less than reuse_delay ago") \
	X(send_conflicts, "sendmsg refused: another socket holds the tuple")                         \
	X(bind_in_use, "bind(pool, P) refused: connected sockets use the port")                     \
	X(fenced, "new claims in a dynamic pool refused past the lease's fencing deadline: connect(), bind(), sendmsg()")

#define PS_COUNTER_FIELD(name, what) __u64 name;
#define PS_COUNTER_NAME(name, what) #name,

struct ps_stats {
	PS_SOCK_COUNTERS(PS_COUNTER_FIELD)
};

/* static const char *const names[] = { PS_SOCK_STAT_NAMES }: the fields' names, in order. */
#define PS_SOCK_STAT_NAMES PS_SOCK_COUNTERS(PS_COUNTER_NAME)

#define PS_STATS_INDEX(pool, proto) ((pool) * 2 + ((proto) == 17 /* UDP */))
#define PS_STATS_ENTRIES (PS_MAX_POOLS * 2)

/* What one attached cgroup asked for, written by the loader at attach. */
struct ps_attachment {
	__u64 pool_mask;   /* pools the cgroup's sockets use */
	__u32 pool_count;
	__u8 pool_order[PS_MAX_POOLS]; /* slots, in config order */
	__u32 flags;       /* PS_ATT_* */
	__u64 attached_ns; /* CLOCK_REALTIME of the (latest) attach */
	char path[256];    /* cgroup path relative to the cgroup2 mount */
};

/*
 * ps_attachment.flags: detached, but its sockets still hold claims, so the
 * programs that give back (sock_release, sock_ops) stay until they are gone.
 */
#define PS_ATT_DRAINING (1U << 0)

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
