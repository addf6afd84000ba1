/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Dynamic slices: the leasing engine. Pure logic over the etcd client
 * (loader/fleet/etcd.h), no BPF: the agent calls ps_lease_tick() and
 * writes what ps_lease_blocks() gives into the BPF side's block map; the
 * simulator (tests/tools/pslease_sim.c) runs a thousand of them.
 *
 * A pool with `slices: dynamic` is cut into blocks of block_size ports
 * from its port range; block n is ports lo + n * block_size ... Each host
 * holds its blocks under one etcd lease. The keys, under the configured
 * prefix P (docs/fleet.md, "Key schema"):
 *
 *   P/pools/<pool>/blocks/<n>     {"host","state":"held|draining","since","lease"}
 *                                 under the holder's lease: gone when the
 *                                 lease expires or is revoked ("since": the
 *                                 holder's wall clock in ms when it wrote it)
 *   P/pools/<pool>/claims/<n>     {"host","lease"}, no lease: written and
 *                                 deleted with blocks/<n> in one txn, so a
 *                                 claim without its block is an orphan: its
 *                                 holder's lease expired with the block held
 *   P/pools/<pool>/quarantine/<n> {"host","since","ttl"} under a lease of
 *                                 quarantine_s seconds that etcd expires:
 *                                 what an orphan becomes; the block is free
 *                                 when etcd deletes it
 *
 * A block is free when none of the three keys exists; taking it is a txn
 * that compares all three create_revisions with 0 and puts blocks/<n> and
 * claims/<n>: two hosts cannot both succeed. An orphan is turned into a
 * quarantine by a txn that compares blocks/<n> absent and claims/<n>
 * unchanged. A drained block is released by a txn that deletes both of its
 * keys when blocks/<n> is still this host's (its mod_revision).
 *
 * A host whose lease expired and that gets a new one takes its own
 * orphans back (a txn that compares claims/<n> with the revision it wrote it
 * at), unless another host put them in quarantine first: no other host can
 * have taken them (the claim was there), and their flows are this host's.
 * Without it, an overloaded etcd that lets leases expire turns every
 * expiry into a quarantine and the pool runs dry (docs/fleet.md, "Scale").
 *
 * Fencing: every successful keepalive is timed when it was sent; when the
 * last is older than TTL - fence_margin, the host offers no port from any
 * block (ps_lease_fenced(), and the deadline for the BPF side in
 * ps_lease_fence_deadline()) before etcd can expire the lease anywhere.
 *
 * Not thread-safe: one engine belongs to one thread (the agent's leasing
 * task), as its etcd client does.
 */
#ifndef PS_FLEET_LEASE_H
#define PS_FLEET_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "core/error.h"
#include "fleet/etcd.h"
/* The parts of the engine others call: including this header gives them all. */
#include "fleet/lease_orphans.h"
#include "fleet/lease_table.h"

#define PS_LEASE_MAX_POOLS 16
#define PS_LEASE_NAME_LEN 64

struct ps_lease_pool_cfg {
	char name[PS_LEASE_NAME_LEN];
	uint32_t port_lo, port_hi;  /* the pool's dynamic range, both included */
	uint32_t block_size;        /* ports a block (power of two not required) */
	uint32_t min_blocks;        /* held at all times (when etcd lets) */
	uint32_t max_blocks;
	double grow_at;             /* grow when the busiest destination uses more than this share of the
				     * offered ports (0: 0.75) */
	double shrink_at;           /* drain one when it would use less than this share of one block fewer ... */
	uint32_t quiet_ms;          /* ... for this long (0: 60000) */
	uint32_t reuse_delay_ms;    /* the pool's reuse_delay: the quarantine must exceed TIME_WAIT plus it */
};

struct ps_lease_cfg {
	const char *prefix;         /* key prefix, e.g. "/portslice" */
	const char *host;           /* this host's name */
	uint32_t ttl_s;             /* the lease's TTL (0: 10) */
	uint32_t keepalive_ms;      /* keepalive period (0: TTL / 3) */
	uint32_t fence_margin_ms;   /* fence this long before the lease can expire (0: TTL / 4, >= 1000) */
	uint32_t quarantine_s;      /* an orphan's quarantine (0: time_wait_s + the largest reuse_delay + 5) */
	uint32_t time_wait_s;       /* TIME_WAIT the quarantine must exceed (0: 60, Linux's; tests shorten it) */
	uint32_t sweep_ms;          /* look for orphans to quarantine this often (0: never but when met) */
	uint32_t seed;              /* for the random choice of blocks (0: from the host's name) */
	struct ps_lease_pool_cfg pools[PS_LEASE_MAX_POOLS];
	unsigned int n_pools;
};

enum ps_block_state {
	PS_BLOCK_HELD,              /* ours, ports are handed out from it (unless fenced) */
	PS_BLOCK_DRAINING,          /* ours, no new ports; released when no claim in it remains */
	PS_BLOCK_LOST,              /* was ours, the lease is gone: no new ports; its flows go on until
				     * the quarantine others keep it in is over */
};

struct ps_lease_block {
	unsigned int pool;          /* index into cfg.pools */
	uint32_t index;             /* block n of the pool */
	uint32_t lo, hi;            /* its ports, both included */
	enum ps_block_state state;
	bool offer;                 /* new ports may come from it: HELD and not fenced */
	int64_t mod_revision;       /* of blocks/<n> as this host last wrote it */
	int64_t claim_revision;     /* of claims/<n> as this host wrote it (0: unknown) */
	uint64_t since_ms;          /* when it entered its state (the caller's clock) */
	uint64_t seen;              /* internal: the last reconcile that found it in etcd */
};

struct ps_lease_stats {
	uint64_t grows, shrinks, releases, takes_lost; /* a take another host won */
	uint64_t lease_grants, lease_losses, keepalives, keepalive_failures;
	uint64_t quarantined;       /* orphans this host put in quarantine */
	uint64_t readopted;         /* own blocks taken back under a new lease after a loss */
	uint64_t adopted;           /* leases kept across a restart (ps_lease_adopt()) */
	uint64_t etcd_ops;          /* requests sent */
	uint64_t fences;            /* times the host fenced itself while it had a lease */
	uint64_t fenced_ms;         /* time spent fenced (closed periods) */
};

struct ps_lease;

/*
 * Claims still alive in a block (sockets, TIME_WAIT, reuse_delay), as the
 * BPF side counts them: a draining block is released at 0.
 */
typedef uint32_t (*ps_lease_claims_fn)(void *ctx, unsigned int pool, uint32_t block);

/* Checks @cfg (quarantine > TIME_WAIT + reuse_delay, fence margin < TTL, ...) and keeps @etcd (not owned). */
int ps_lease_new(struct ps_lease **l, const struct ps_lease_cfg *cfg, struct ps_etcd *etcd, ps_lease_claims_fn claims,
		 void *claims_ctx, struct ps_error *error);
/*
 * Before the first tick: the lease this host held before a restart (the
 * BPF side keeps its id, struct ps_lease_state). The first tick keeps it
 * alive instead of granting one: if etcd still has it, it is this host's
 * lease again and its blocks are read back, so no block of a host that
 * restarted within its TTL ever goes to quarantine; if it expired, the
 * blocks this host's claims still name are taken back under the new lease
 * unless another host put them in quarantine first.
 */
void ps_lease_adopt(struct ps_lease *l, int64_t lease_id);
/* Revokes the lease when @revoke (a graceful stop: the blocks go to quarantine at once), frees @l. */
void ps_lease_free(struct ps_lease *l, bool revoke);

/* What the agent measures, one per pool, before each tick. */
struct ps_lease_load {
	uint32_t busiest;           /* ports in use towards the busiest destination, in this pool's blocks
				     * (or, if more, ports that binds hold whole: each needs its own) */
};

/*
 * One step, at @now_ms (CLOCK_BOOTTIME, milliseconds: it runs on through a
 * suspend, as etcd's clock does; the BPF side reads it with
 * bpf_ktime_get_boot_ns()): grant a lease when
 * there is none, keep it alive when due, fence when the deadline passed,
 * take blocks up to min_blocks and when the busiest destination passes
 * grow_at, drain after a quiet period, release drained blocks without
 * claims, quarantine orphans met. @load: one per pool (NULL: no load).
 * Returns 0, or the etcd failure (the engine stays usable: tick again).
 * Whether the block set changed: ps_lease_generation().
 */
int ps_lease_tick(struct ps_lease *l, uint64_t now_ms, const struct ps_lease_load *load, struct ps_error *error);

/* The blocks, for the BPF map writer: HELD, DRAINING and LOST, in pool and index order. */
const struct ps_lease_block *ps_lease_blocks(const struct ps_lease *l, size_t *n);
/* Bumped whenever a block or its offer changes: rewrite the map when it moved. */
uint64_t ps_lease_generation(const struct ps_lease *l);
/* Ports may not be handed out from any block (no lease, or past the fencing deadline). */
bool ps_lease_fenced(const struct ps_lease *l, uint64_t now_ms);
/* The fencing deadline (CLOCK_BOOTTIME ms; 0: none, fenced): for the BPF side to check by itself. */
uint64_t ps_lease_fence_deadline(const struct ps_lease *l);
int64_t ps_lease_id(const struct ps_lease *l);
/* Milliseconds until etcd can expire the lease at the earliest, by this host's reckoning (0: gone). */
uint64_t ps_lease_ttl_left_ms(const struct ps_lease *l, uint64_t now_ms);
/*
 * Until when no other host can hold this host's blocks (CLOCK_BOOTTIME ms;
 * 0: no lease): the earliest etcd can expire the lease, plus the quarantine
 * every other host keeps an orphaned block in before it takes it.
 */
uint64_t ps_lease_own_until_ms(const struct ps_lease *l);
/* The last keepalive got an answer. */
bool ps_lease_etcd_ok(const struct ps_lease *l);
const struct ps_lease_stats *ps_lease_stats(const struct ps_lease *l);
/* Blocks of pool @pool this host holds (HELD and DRAINING). */
unsigned int ps_lease_held(const struct ps_lease *l, unsigned int pool);

/*
 * ---- for the engine's own files (lease_*.c) ------------------------------
 * The engine's state, shared by its files; callers use the functions above.
 */

struct ps_lease {
	struct ps_lease_cfg cfg;
	char prefix[128];
	char host[128];
	struct ps_etcd *etcd;
	ps_lease_claims_fn claims;
	void *claims_ctx;

	int64_t lease;              /* 0: none */
	int64_t adopt;              /* a lease to try before granting one (ps_lease_adopt()), 0: none */
	bool adopting;              /* the reconcile reads an adopted lease's blocks back: no grows */
	uint64_t ka_ok_sent_ms;     /* when the last keepalive (or the grant) that got an answer was sent */
	uint64_t next_ka_ms;
	bool etcd_ok;
	bool reconcile;             /* a change timed out: its outcome is unknown, read our blocks back */
	uint64_t reconciles;        /* reconciles begun (ps_lease_block.seen) */

	struct ps_lease_block *blocks;
	size_t n, cap;
	uint64_t quiet_since[PS_LEASE_MAX_POOLS];
	uint8_t *busy[PS_LEASE_MAX_POOLS]; /* a pool's occupancy as last read (ps_lease_occupancy()) */
	uint64_t busy_at[PS_LEASE_MAX_POOLS]; /* ... when (0: not read, or used up) */
	uint64_t grow_after[PS_LEASE_MAX_POOLS]; /* no block was free: no take before this */
	uint64_t next_sweep_ms;
	uint64_t generation;
	bool fenced;                /* as of the last tick */
	uint64_t fenced_at;
	uint32_t rng;
	struct ps_lease_stats stats;
};

/* Seeded per host, so that hosts started together neither try the same blocks nor sweep at once. */
uint32_t ps_lease_random(struct ps_lease *l);
/* Blocks of @p's range (a tail shorter than a block is no block). */
uint32_t ps_lease_pool_n_blocks(const struct ps_lease_pool_cfg *p);

/* The block set, in pool and index order: what ps_lease_blocks() gives. */
struct ps_lease_block *ps_lease_find_block(struct ps_lease *l, unsigned int pool, uint32_t index);
/* Adds block @index of @pool (or overwrites it); NULL when out of memory. */
struct ps_lease_block *ps_lease_add_block(struct ps_lease *l, unsigned int pool, uint32_t index,
					  enum ps_block_state state, int64_t rev, uint64_t now);
void ps_lease_drop_block(struct ps_lease *l, struct ps_lease_block *b);
unsigned int ps_lease_count_blocks(const struct ps_lease *l, unsigned int pool, enum ps_block_state state);

#endif
