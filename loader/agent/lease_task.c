// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "agent/lease_task.h"
#include "core/log.h"
#include "core/percpu.h"
#include "core/pins.h"
#include "fleet/from_config.h"
#include "sock/blocks.h"
#include "sock/maps.h"
#include "steer/maps.h"

#define TICK_MS 100
#define LOAD_EVERY_MS 1000
#define PINS_EVERY_MS 1000
/* The same failure is logged once this often, not every tick. */
#define ERROR_LOG_EVERY_MS 10000

struct ps_lease_task {
	pthread_t thread;
	bool stopping;              /* atomic: set by ps_lease_task_stop() */
	struct ps_lease_cfg lc;     /* strings below are the task's own copies */
	struct ps_etcd_opts eo;
	char *prefix, *host, *endpoints, *ca, *cert, *key;
	pthread_mutex_t *lock;      /* the agent's metrics lock, for *stats */
	struct ps_lease_task_stats *stats;

	struct ps_etcd *etcd;
	struct ps_lease *lease;
	struct ps_maps maps;        /* open while the socket side has pins */
	bool maps_open;
	int slots[PS_LEASE_MAX_POOLS]; /* each dynamic pool's slot in the maps (-1: not attached here) */
	struct ps_pool pool_maps[PS_LEASE_MAX_POOLS]; /* their ps_pools entries, for their addresses */
	uint64_t written_gen;       /* the engine generation the tables were last written for (0: never) */
	/* What each pool's table holds: a block the engine let go stays in it, draining, while used. */
	struct ps_port_range written[PS_LEASE_MAX_POOLS][PS_MAX_BLOCKS];
	size_t n_written[PS_LEASE_MAX_POOLS];
	struct ps_lease_state written_state;
	struct ps_lease_load load[PS_LEASE_MAX_POOLS];
	bool adopt_checked;         /* the lease of before a restart looked up in ps_lease */
	/* Per pool and protocol (TCP, UDP): the counter `bound` last read, and until when binds count. */
	__u64 binds_seen[PS_LEASE_MAX_POOLS][2];
	uint64_t binds_until[PS_LEASE_MAX_POOLS][2];
	bool binds_read[PS_LEASE_MAX_POOLS];
	/* Steering's pins (ps_steer_pools, ps_steer_lease), reopened every PINS_EVERY_MS; -1: none. */
	int steer_pools_fd, steer_lease_fd;
	struct ps_addr_key steer_key[PS_LEASE_MAX_POOLS]; /* each dynamic pool's address, as ps_steer_pools keys it */
	__u64 steer_until_written;  /* the own_until_ns last written to every slot (0: write again) */
	uint64_t tick_errors, table_writes;
	char last_error[sizeof(((struct ps_error *)0)->msg) + 64];
	uint64_t last_error_ms;
};

static uint64_t boottime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A failure of a step: logged when it is new, or again after ERROR_LOG_EVERY_MS. */
static void step_failed(struct ps_lease_task *t, const char *what, const struct ps_error *e, uint64_t now)
{
	char msg[sizeof(t->last_error)];

	t->tick_errors++;
	snprintf(msg, sizeof(msg), "%.48s: %s", what, e->msg[0] ? e->msg : strerror(e->code));
	if (!strcmp(msg, t->last_error) && now - t->last_error_ms < ERROR_LOG_EVERY_MS)
		return;
	snprintf(t->last_error, sizeof(t->last_error), "%s", msg);
	t->last_error_ms = now;
	pr_warn("leases: %s; retrying", msg);
}

/* The slot of each dynamic pool in the pinned ps_pools (pools this host did not attach have none). */
static void resolve_slots(struct ps_lease_task *t)
{
	for (unsigned int i = 0; i < t->lc.n_pools; i++)
		t->slots[i] = -1;
	for (__u32 slot = 0; slot < PS_MAX_POOLS; slot++) {
		struct ps_pool p;

		if (bpf_map_lookup_elem(t->maps.pools, &slot, &p) || !(p.flags & PS_POOL_DYNAMIC))
			continue;
		for (unsigned int i = 0; i < t->lc.n_pools; i++) {
			if (strncmp(p.name, t->lc.pools[i].name, sizeof(p.name)))
				continue;
			t->slots[i] = (int)slot;
			t->pool_maps[i] = p;
		}
	}
}

/* Opens the socket side's pins once they exist, and lets go of them once they are gone. */
static void follow_pins(struct ps_lease_task *t)
{
	struct ps_error e = {};

	if (t->maps_open && !ps_state_exists()) {
		ps_maps_close(&t->maps);
		t->maps_open = false;
	}
	if (!t->maps_open && ps_state_exists()) {
		if (ps_maps_open(&t->maps, &e)) {
			pr_debug("leases: socket-side pins not usable yet: %s", e.msg);
			return;
		}
		t->maps_open = true;
		t->written_gen = 0; /* a new set of maps holds none of our tables */
		memset(t->n_written, 0, sizeof(t->n_written));
		memset(&t->written_state, 0, sizeof(t->written_state));
	}
	if (t->maps_open)
		resolve_slots(t);
}

/* The engine asks how many uses a draining block still has: it is released at 0. */
static uint32_t block_users(void *ctx, unsigned int pool, uint32_t block)
{
	struct ps_lease_task *t = ctx;
	const struct ps_lease_pool_cfg *p = &t->lc.pools[pool];
	__u32 lo = p->port_lo + block * p->block_size, users = 0;

	/* Unknown (no maps, or the pool is not attached here): nothing of ours can be in it. */
	if (!t->maps_open || t->slots[pool] < 0)
		return 0;
	if (ps_blocks_users(&t->maps, (__u32)t->slots[pool], lo, lo + p->block_size - 1, &users))
		return 1; /* cannot tell: keep the block */
	return users;
}

static bool in_offered_block(const struct ps_lease_block *b, size_t n, unsigned int pool, __u32 port)
{
	for (size_t i = 0; i < n; i++)
		if (b[i].pool == pool && b[i].offer && port >= b[i].lo && port <= b[i].hi)
			return true;
	return false;
}

/* One claim, reduced to what tells destinations apart. */
struct dest {
	__u32 pool;
	__u32 proto;
	__u32 rport;
	__u32 raddr[4];
};

static int cmp_dest(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct dest));
}

/*
 * Binds' load of each pool, per protocol: a socket bound with bind(pool, 0)
 * needs a port nobody uses, whatever its destination, so the ports binds
 * cannot take (used, or in TIME_WAIT) count as load as the busiest
 * destination's claims do, while the pool has binds: ones that hold ports
 * now, or new ones (the counter `bound`) within the last TIME_WAIT. Without
 * it a host whose applications bind (wget --bind-address, UDP sockets)
 * never grew, or stopped growing once short connections had left their
 * ports in TIME_WAIT: binds failed with EADDRINUSE while few sockets went
 * to any one destination.
 */
static void add_bind_load(struct ps_lease_task *t, const struct ps_lease_block *blocks, size_t nb, uint64_t now)
{
	static const __u32 protos[2] = { IPPROTO_TCP, IPPROTO_UDP };
	struct ps_bind_use use[PS_LEASE_MAX_POOLS][2] = {};

	for (unsigned int p = 0; p < t->lc.n_pools; p++) {
		for (int k = 0; k < 2 && t->slots[p] >= 0; k++) {
			__u32 key = PS_STATS_INDEX((__u32)t->slots[p], protos[k]);
			struct ps_stats st;

			if (ps_percpu_sum(t->maps.stats, &key, (__u64 *)&st, sizeof(st) / sizeof(__u64)))
				continue;
			/* The first read only learns the counter: binds of before a restart are no news. */
			if (t->binds_read[p] && st.bound != t->binds_seen[p][k])
				t->binds_until[p][k] = now + PS_TW_HOLD_NS / 1000000;
			t->binds_seen[p][k] = st.bound;
		}
		t->binds_read[p] = t->slots[p] >= 0;
	}
	for (size_t i = 0; i < nb; i++) {
		unsigned int p = blocks[i].pool;

		if (!blocks[i].offer || t->slots[p] < 0)
			continue;
		/* A read that fails leaves the claims alone as the load. */
		for (int k = 0; k < 2; k++)
			ps_blocks_bind_use(&t->maps, (__u32)t->slots[p], protos[k], blocks[i].lo, blocks[i].hi, &use[p][k]);
	}
	/* Without binds now or lately, the ports others use are the destinations' load, not this one. */
	for (unsigned int p = 0; p < t->lc.n_pools; p++)
		for (int k = 0; k < 2; k++)
			if ((use[p][k].bound || now < t->binds_until[p][k]) && use[p][k].unbindable > t->load[p].busiest)
				t->load[p].busiest = use[p][k].unbindable;
}

/*
 * Claims towards each pool's busiest destination, in the blocks that offer
 * ports, or the binds' load if more: what the engine grows by.
 * One batched read of ps_tuples, and of the port words of those blocks.
 */
static void measure_load(struct ps_lease_task *t, uint64_t now)
{
	const struct ps_lease_block *blocks;
	struct dest *d = NULL;
	size_t nb, n = 0, cap = 0;
	__u32 batch = 0, count;
	bool first = true;

	memset(t->load, 0, sizeof(t->load));
	if (!t->maps_open)
		return;
	blocks = ps_lease_blocks(t->lease, &nb);
	for (;;) {
		struct ps_tuple keys[512];
		struct ps_claim vals[512];
		int err;

		count = 512;
		err = bpf_map_lookup_batch(t->maps.tuples, first ? NULL : &batch, &batch, keys, vals, &count, NULL);
		first = false;
		if (err && errno != ENOENT)
			break;
		for (__u32 i = 0; i < count; i++) {
			for (unsigned int p = 0; p < t->lc.n_pools; p++) {
				const struct ps_pool *pm = &t->pool_maps[p];

				if (t->slots[p] < 0 || pm->family != keys[i].family ||
				    memcmp(pm->addr, keys[i].laddr, sizeof(pm->addr)) ||
				    !in_offered_block(blocks, nb, p, keys[i].lport))
					continue;
				if (n == cap) {
					size_t c = cap ? cap * 2 : 1024;
					struct dest *nd = realloc(d, c * sizeof(*d));

					if (!nd)
						goto out;
					d = nd;
					cap = c;
				}
				d[n] = (struct dest){ .pool = p, .proto = keys[i].proto, .rport = keys[i].rport };
				memcpy(d[n].raddr, keys[i].raddr, sizeof(d[n].raddr));
				n++;
				break;
			}
		}
		if (err)
			break; /* ENOENT: that was the last batch */
	}
	if (n) /* qsort(NULL, 0) is undefined */
		qsort(d, n, sizeof(*d), cmp_dest);
	for (size_t i = 0, run = 0; i < n; i++) {
		run = i && !cmp_dest(&d[i], &d[i - 1]) ? run + 1 : 1;
		if (run > t->load[d[i].pool].busiest)
			t->load[d[i].pool].busiest = (uint32_t)run;
	}
	add_bind_load(t, blocks, nb, now);
out:
	free(d);
}

static bool listed(const struct ps_port_range *r, size_t n, __u32 lo)
{
	for (size_t i = 0; i < n; i++)
		if (r[i].lo == lo)
			return true;
	return false;
}

/*
 * One pool's table from the engine's blocks: those that offer ports held,
 * the others draining. A block the engine no longer lists (released, or
 * lost and gone from etcd) stays draining while sockets use it: its
 * replies and releases are still this host's.
 */
static int write_table(struct ps_lease_task *t, unsigned int p, const struct ps_lease_block *b, size_t nb,
		       struct ps_error *error)
{
	struct ps_port_range held[PS_MAX_BLOCKS], draining[PS_MAX_BLOCKS];
	__u32 slot = (__u32)t->slots[p], size = t->lc.pools[p].block_size;
	size_t nh = 0, nd = 0;
	int err;

	for (size_t i = 0; i < nb; i++) {
		struct ps_port_range r = { b[i].lo, b[i].hi };

		if (b[i].pool != p || nh + nd == PS_MAX_BLOCKS)
			continue;
		if (b[i].offer)
			held[nh++] = r;
		else
			draining[nd++] = r;
	}
	for (size_t i = 0; i < t->n_written[p] && nh + nd < PS_MAX_BLOCKS; i++) {
		const struct ps_port_range *r = &t->written[p][i];
		__u32 users = 1;

		if (listed(held, nh, r->lo) || listed(draining, nd, r->lo))
			continue;
		if (ps_blocks_users(&t->maps, slot, r->lo, r->hi, &users) || users)
			draining[nd++] = *r;
	}
	err = ps_blocks_install_list(&t->maps, slot, size, held, nh, draining, nd, error);
	if (err)
		return err;
	memcpy(t->written[p], held, nh * sizeof(*held));
	memcpy(t->written[p] + nh, draining, nd * sizeof(*draining));
	t->n_written[p] = nh + nd;
	return 0;
}

/* Each attached dynamic pool's table, under the state lock that attach takes too. */
static int write_tables(struct ps_lease_task *t, struct ps_error *error)
{
	size_t nb;
	const struct ps_lease_block *b = ps_lease_blocks(t->lease, &nb);
	int lock = ps_state_lock(error), err = 0;

	if (lock < 0)
		return lock;
	for (unsigned int p = 0; p < t->lc.n_pools && !err; p++)
		if (t->slots[p] >= 0)
			err = write_table(t, p, b, nb, error);
	ps_state_unlock(lock);
	if (!err)
		t->table_writes++;
	return err;
}

/* Blocks kept draining for their users: rewritten once they have none left. */
static bool lingering(const struct ps_lease_task *t)
{
	size_t nb;
	const struct ps_lease_block *b = ps_lease_blocks(t->lease, &nb);
	long extra = 0; /* signed: the engine may list blocks a full table had no room for */

	for (unsigned int p = 0; p < t->lc.n_pools; p++)
		if (t->slots[p] >= 0)
			extra += (long)t->n_written[p];
	for (size_t i = 0; i < nb; i++)
		if (t->slots[b[i].pool] >= 0)
			extra--;
	return extra > 0;
}

/* The lease state the BPF side fences by; written when it changed. */
static int write_state(struct ps_lease_task *t, uint64_t now, struct ps_error *error)
{
	struct ps_lease_state st = {
		.fence_ns = ps_lease_fence_deadline(t->lease) * 1000000ULL,
		.lease_id = (__u64)ps_lease_id(t->lease),
		.flags = ps_lease_etcd_ok(t->lease) ? PS_LEASE_ETCD_OK : 0,
	};
	uint64_t left = ps_lease_ttl_left_ms(t->lease, now);
	int err;

	st.expires_ns = left ? (now + left) * 1000000ULL : 0;
	if (!memcmp(&st, &t->written_state, sizeof(st)))
		return 0;
	err = ps_lease_state_write(&t->maps, &st, error);
	if (!err)
		t->written_state = st;
	return err;
}

static void steer_pins_close(struct ps_lease_task *t)
{
	if (t->steer_pools_fd >= 0)
		close(t->steer_pools_fd);
	if (t->steer_lease_fd >= 0)
		close(t->steer_lease_fd);
	t->steer_pools_fd = t->steer_lease_fd = -1;
}

/*
 * Steering passes up replies for this host's own ports of a dynamic pool
 * only until no other host can hold them (struct ps_steer_lease): moved on
 * with every keepalive, and left where it is without a lease, so that an
 * agent that dies, or loses etcd, stops passing them up by itself once
 * another host may have them. @reopen: the pins again (steering may have
 * been attached, detached or replaced since).
 */
static void write_steer_lease(struct ps_lease_task *t, bool reopen, uint64_t now)
{
	struct ps_steer_lease want = { .own_until_ns = ps_lease_own_until_ms(t->lease) * 1000000ULL };
	struct ps_error e = {};

	if (reopen) {
		steer_pins_close(t);
		t->steer_pools_fd = ps_pin_map_open("ps_steer_pools");
		t->steer_lease_fd = t->steer_pools_fd >= 0 ? ps_pin_map_open("ps_steer_lease") : -1;
		if (t->steer_lease_fd < 0)
			steer_pins_close(t);
	}
	/* Unchanged, and the pins as before: the entries hold it (a slot a reload moved is seen at the reopen). */
	if (!want.own_until_ns || t->steer_lease_fd < 0 || (!reopen && want.own_until_ns == t->steer_until_written))
		return;
	t->steer_until_written = want.own_until_ns;
	for (unsigned int p = 0; p < t->lc.n_pools; p++) {
		struct ps_steer_lease cur;
		__u32 slot;

		if (bpf_map_lookup_elem(t->steer_pools_fd, &t->steer_key[p], &slot) || slot >= PS_MAX_POOLS)
			continue;
		if (!bpf_map_lookup_elem(t->steer_lease_fd, &slot, &cur) && cur.own_until_ns == want.own_until_ns)
			continue;
		if (bpf_map_update_elem(t->steer_lease_fd, &slot, &want, BPF_ANY)) {
			t->steer_until_written = 0; /* again at the next tick */
			ps_fail(&e, errno, "pool %s, slot %u: %s", t->lc.pools[p].name, slot, strerror(errno));
			step_failed(t, "writing the steering's lease", &e, now);
		}
	}
}

static void publish(struct ps_lease_task *t, uint64_t now)
{
	struct ps_lease_task_stats s = { .running = true };
	const struct ps_lease_block *b;
	size_t nb;

	s.etcd_ok = ps_lease_etcd_ok(t->lease);
	s.fenced = ps_lease_fenced(t->lease, now);
	s.lease_id = ps_lease_id(t->lease);
	s.ttl_left_ms = ps_lease_ttl_left_ms(t->lease, now);
	s.n_pools = t->lc.n_pools;
	b = ps_lease_blocks(t->lease, &nb);
	for (unsigned int p = 0; p < t->lc.n_pools; p++)
		snprintf(s.pools[p].name, sizeof(s.pools[p].name), "%s", t->lc.pools[p].name);
	for (size_t i = 0; i < nb; i++) {
		if (b[i].state == PS_BLOCK_HELD)
			s.pools[b[i].pool].held++;
		else if (b[i].state == PS_BLOCK_DRAINING)
			s.pools[b[i].pool].draining++;
		else
			s.pools[b[i].pool].lost++;
	}
	s.engine = *ps_lease_stats(t->lease);
	s.etcd_requests = ps_etcd_requests(t->etcd);
	s.etcd_failovers = ps_etcd_failovers(t->etcd);
	s.tick_errors = t->tick_errors;
	s.table_writes = t->table_writes;
	pthread_mutex_lock(t->lock);
	*t->stats = s;
	pthread_mutex_unlock(t->lock);
}

/* One tick: the engine's step, then the maps in step with it. */
static void tick(struct ps_lease_task *t, uint64_t now, uint64_t *next_load, uint64_t *next_pins)
{
	bool slow = now >= *next_load; /* once a second: the load, and blocks kept for their users */
	bool pins = now >= *next_pins;
	struct ps_error e = {};
	int err;

	if (pins) {
		follow_pins(t);
		*next_pins = now + PINS_EVERY_MS;
	}
	if (slow) {
		measure_load(t, now);
		*next_load = now + LOAD_EVERY_MS;
	}
	if (!t->adopt_checked && t->maps_open) {
		struct ps_lease_state old;

		t->adopt_checked = true;
		if (!ps_lease_state_read(&t->maps, &old, &e) && old.lease_id && !ps_lease_id(t->lease))
			ps_lease_adopt(t->lease, (int64_t)old.lease_id);
		ps_error_clear(&e);
	}
	err = ps_lease_tick(t->lease, now, t->load, &e);
	/*
	 * Stopping (ps_lease_task_stop() cancelled the request): no failure to
	 * log, and the maps keep what the last whole tick wrote rather than an
	 * engine's view of requests that never completed.
	 */
	if (err == -ECANCELED)
		return;
	if (err)
		step_failed(t, "etcd", &e, now);
	if (t->maps_open && (t->written_gen != ps_lease_generation(t->lease) || (slow && lingering(t)))) {
		ps_error_clear(&e);
		if (write_tables(t, &e))
			step_failed(t, "writing the block tables", &e, now);
		else
			t->written_gen = ps_lease_generation(t->lease);
	}
	if (t->maps_open) {
		ps_error_clear(&e);
		if (write_state(t, now, &e))
			step_failed(t, "writing the lease state", &e, now);
	}
	write_steer_lease(t, pins, now);
	publish(t, now);
}

static void *lease_main(void *arg)
{
	struct ps_lease_task *t = arg;
	uint64_t next_load = 0, next_pins = 0;

	while (!__atomic_load_n(&t->stopping, __ATOMIC_ACQUIRE)) {
		uint64_t start = boottime_ms(), spent;

		tick(t, start, &next_load, &next_pins);
		spent = boottime_ms() - start;
		if (spent < TICK_MS)
			usleep((useconds_t)(TICK_MS - spent) * 1000);
	}
	return NULL;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void task_free(struct ps_lease_task *t)
{
	if (t->lease)
		ps_lease_free(t->lease, false);
	if (t->etcd)
		ps_etcd_close(t->etcd);
	if (t->maps_open)
		ps_maps_close(&t->maps);
	steer_pins_close(t);
	free(t->prefix);
	free(t->host);
	free(t->endpoints);
	free(t->ca);
	free(t->cert);
	free(t->key);
	free(t);
}

int ps_lease_task_start(struct ps_lease_task **out, const struct ps_config *cfg, const char *host,
			pthread_mutex_t *lock, struct ps_lease_task_stats *stats, struct ps_error *error)
{
	struct ps_lease_task *t;
	int err;

	*out = NULL;
	if (!ps_config_has_dynamic(cfg))
		return 0;
	t = calloc(1, sizeof(*t));
	if (!t)
		return ps_fail(error, ENOMEM, "out of memory");
	t->maps = (struct ps_maps)PS_MAPS_NONE;
	t->steer_pools_fd = t->steer_lease_fd = -1;
	t->lock = lock;
	t->stats = stats;
	err = ps_fleet_lease_config(cfg, host, &t->lc, &t->eo, error);
	if (err)
		goto fail;
	/* Copies: the config is freed at the next reload, the thread goes on. */
	t->prefix = dup_or_null(t->lc.prefix);
	t->host = dup_or_null(t->lc.host);
	t->endpoints = dup_or_null(t->eo.endpoints);
	t->ca = dup_or_null(t->eo.ca_file);
	t->cert = dup_or_null(t->eo.cert_file);
	t->key = dup_or_null(t->eo.key_file);
	if (!t->prefix || !t->host || !t->endpoints || (t->eo.ca_file && !t->ca) || (t->eo.cert_file && !t->cert) ||
	    (t->eo.key_file && !t->key)) {
		err = ps_fail(error, ENOMEM, "out of memory");
		goto fail;
	}
	t->lc.prefix = t->prefix;
	t->lc.host = t->host;
	t->eo.endpoints = t->endpoints;
	t->eo.ca_file = t->ca;
	t->eo.cert_file = t->cert;
	t->eo.key_file = t->key;
	for (unsigned int i = 0; i < PS_LEASE_MAX_POOLS; i++)
		t->slots[i] = -1;
	for (unsigned int i = 0; i < t->lc.n_pools; i++)
		for (size_t j = 0; j < cfg->n_pools; j++)
			if (!strcmp(cfg->pools[j].name, t->lc.pools[i].name))
				ps_steer_addr_key(cfg->pools[j].family, cfg->pools[j].addr, &t->steer_key[i]);
	err = ps_etcd_open(&t->etcd, &t->eo, error) ?:
	      ps_lease_new(&t->lease, &t->lc, t->etcd, block_users, t, error);
	if (err)
		goto fail;
	err = -pthread_create(&t->thread, NULL, lease_main, t);
	if (err) {
		ps_fail(error, err, "cannot start the leasing thread: %s", strerror(-err));
		goto fail;
	}
	pr_info("leases: %u dynamic pool(s) from etcd %s, prefix %s, lease TTL %u s", t->lc.n_pools, t->endpoints,
		t->prefix, t->lc.ttl_s);
	*out = t;
	return 0;
fail:
	task_free(t);
	return err;
}

void ps_lease_task_stop(struct ps_lease_task *t)
{
	if (!t)
		return;
	__atomic_store_n(&t->stopping, true, __ATOMIC_RELEASE);
	/* A request to a member that hangs would hold the stop for the client's timeout, per endpoint. */
	ps_etcd_cancel(t->etcd);
	pthread_join(t->thread, NULL);
	pthread_mutex_lock(t->lock);
	memset(t->stats, 0, sizeof(*t->stats));
	pthread_mutex_unlock(t->lock);
	task_free(t);
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

bool ps_lease_task_same(const struct ps_lease_task *t, const struct ps_config *cfg, const char *host)
{
	struct ps_lease_cfg lc = {}, mine;
	struct ps_etcd_opts eo = {};
	struct ps_error e = {};

	if (!t || !ps_config_has_dynamic(cfg) || ps_fleet_lease_config(cfg, host, &lc, &eo, &e))
		return false;
	if (!str_eq(lc.prefix, t->lc.prefix) || !str_eq(lc.host, t->lc.host) || !str_eq(eo.endpoints, t->eo.endpoints) ||
	    !str_eq(eo.ca_file, t->eo.ca_file) || !str_eq(eo.cert_file, t->eo.cert_file) ||
	    !str_eq(eo.key_file, t->eo.key_file) || eo.timeout_ms != t->eo.timeout_ms ||
	    eo.connect_timeout_ms != t->eo.connect_timeout_ms)
		return false;
	/* Everything but the strings, compared as values. */
	mine = t->lc;
	mine.prefix = lc.prefix;
	mine.host = lc.host;
	return !memcmp(&mine, &lc, sizeof(lc));
}
