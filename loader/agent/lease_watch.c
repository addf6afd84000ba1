// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Steering from the watch: ps_steer_owner follows the lease table (agent/lease_watch.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/types.h>

#include <json-c/json.h>

#include "steer.h"
#include "agent/lease_watch.h"
#include "core/config.h"
#include "core/log.h"
#include "fleet/lease.h"
#include "steer/owners.h"

#define BACKOFF_FIRST_MS 100

struct pool_state {
	struct ps_lease_watch_pool cfg; /* name: our own copy */
	__u32 *owner;                   /* per block, as last written */
};

struct ps_lease_watch {
	pthread_t thread;
	pthread_mutex_t lock;           /* everything below the client, and the map writes */
	pthread_cond_t wake;            /* stop, during a back-off */
	struct ps_etcd *etcd;           /* the follower's thread only */
	char *prefix, *watch_key;
	int owner_fd;
	struct pool_state *pools;
	size_t n_pools;
	ps_lease_watch_host_fn host_id;
	void *host_ctx;
	unsigned int watch_ms, backoff_max_ms;
	bool stop, need_snapshot;
	unsigned int failures;          /* in a row */
	struct ps_lease_watch_stats st;
	uint64_t window[PS_LEASE_WATCH_LAG_WINDOW]; /* the last lags, us */
};

unsigned int ps_lease_watch_config_host(void *ctx, const char *name)
{
	return ps_config_host_id(ctx, name);
}

static uint64_t wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static struct pool_state *pool_named(struct ps_lease_watch *w, const char *name, size_t len)
{
	for (size_t i = 0; i < w->n_pools; i++)
		if (strlen(w->pools[i].cfg.name) == len && !strncmp(w->pools[i].cfg.name, name, len))
			return &w->pools[i];
	return NULL;
}

/* The first port of block @n of @p. */
static __u32 block_lo(const struct pool_state *p, uint32_t n)
{
	return p->cfg.port_lo + n * p->cfg.block_size;
}

/* Writes every block of @p from p->owner. Called with the lock held. */
static int write_pool(struct ps_lease_watch *w, struct pool_state *p, struct ps_error *error)
{
	uint32_t bs = p->cfg.block_size, n = p->cfg.n_blocks;
	__u32 *ports = malloc((size_t)bs * n * sizeof(*ports));
	int err;

	if (!ports)
		return ps_fail(error, ENOMEM, "lease watch: out of memory");
	for (uint32_t b = 0; b < n; b++)
		for (uint32_t i = 0; i < bs; i++)
			ports[b * bs + i] = p->owner[b];
	err = ps_steer_owner_write(w->owner_fd, p->cfg.slot, p->cfg.port_lo, ports, bs * n, error);
	free(ports);
	return err;
}

/* ---- stats ---------------------------------------------------------------- */

static const uint64_t lag_bounds_ms[] = PS_LEASE_WATCH_LAG_BOUNDS_MS;
_Static_assert(sizeof(lag_bounds_ms) / sizeof(lag_bounds_ms[0]) == PS_LEASE_WATCH_LAG_BUCKETS - 1,
	       "one bound per bucket but the last");

static void note_lag(struct ps_lease_watch *w, uint64_t lag_us, uint64_t write_us)
{
	struct ps_lease_watch_stats *st = &w->st;
	size_t b = 0;

	while (b < sizeof(lag_bounds_ms) / sizeof(lag_bounds_ms[0]) && lag_us > lag_bounds_ms[b] * 1000)
		b++;
	st->lag_buckets[b]++;
	w->window[st->lag_n % PS_LEASE_WATCH_LAG_WINDOW] = lag_us;
	st->lag_n++;
	st->lag_last_us = lag_us;
	st->lag_sum_us += lag_us;
	if (lag_us > st->lag_max_us)
		st->lag_max_us = lag_us;
	st->write_last_us = write_us;
	if (write_us > st->write_max_us)
		st->write_max_us = write_us;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

void ps_lease_watch_stats(const struct ps_lease_watch *w, struct ps_lease_watch_stats *out)
{
	struct ps_lease_watch *m = (struct ps_lease_watch *)w; /* the lock only */
	uint64_t sorted[PS_LEASE_WATCH_LAG_WINDOW];
	size_t n;

	pthread_mutex_lock(&m->lock);
	*out = w->st;
	n = w->st.lag_n < PS_LEASE_WATCH_LAG_WINDOW ? w->st.lag_n : PS_LEASE_WATCH_LAG_WINDOW;
	memcpy(sorted, w->window, n * sizeof(sorted[0]));
	pthread_mutex_unlock(&m->lock);
	if (!n)
		return;
	qsort(sorted, n, sizeof(sorted[0]), cmp_u64);
	out->lag_p50_us = sorted[(n - 1) * 50 / 100];
	out->lag_p90_us = sorted[(n - 1) * 90 / 100];
	out->lag_p99_us = sorted[(n - 1) * 99 / 100];
}

/* After every request: what the client did, and whether etcd answered. Called with the lock held. */
static void note_client(struct ps_lease_watch *w, bool answered)
{
	w->st.etcd_requests = ps_etcd_requests(w->etcd);
	w->st.etcd_failovers = ps_etcd_failovers(w->etcd);
	snprintf(w->st.endpoint, sizeof(w->st.endpoint), "%s", ps_etcd_endpoint(w->etcd));
	w->st.connected = answered;
}

/* ---- the table ------------------------------------------------------------- */

/* The owner a snapshot's block entry gives: its holder's id while blocks/<n> exists. */
static __u32 snapshot_owner(struct ps_lease_watch *w, json_object *b)
{
	json_object *v;
	const char *state = json_object_object_get_ex(b, "state", &v) ? json_object_get_string(v) : "";

	if (!strcmp(state, "orphan") || !strcmp(state, "quarantine"))
		return PS_STEER_NO_HOST;
	if (!json_object_object_get_ex(b, "host", &v))
		return PS_STEER_NO_HOST;
	return w->host_id(w->host_ctx, json_object_get_string(v));
}

/* Fills the owners of every given pool from the table @t into @owners (per pool, per block). */
static void snapshot_owners(struct ps_lease_watch *w, json_object *t, __u32 **owners)
{
	json_object *pools, *po, *v, *blocks;

	if (!json_object_object_get_ex(t, "pools", &pools))
		return;
	for (size_t i = 0; i < json_object_array_length(pools); i++) {
		struct pool_state *p;
		const char *name;

		po = json_object_array_get_idx(pools, i);
		if (!json_object_object_get_ex(po, "name", &v) || !json_object_object_get_ex(po, "blocks", &blocks))
			continue;
		name = json_object_get_string(v);
		p = pool_named(w, name, strlen(name));
		if (!p)
			continue;
		for (size_t j = 0; j < json_object_array_length(blocks); j++) {
			json_object *b = json_object_array_get_idx(blocks, j);
			int64_t n = json_object_object_get_ex(b, "block", &v) ? json_object_get_int64(v) : -1;

			if (n >= 0 && n < p->cfg.n_blocks)
				owners[p - w->pools][n] = snapshot_owner(w, b);
		}
	}
}

/* Reads the whole table and writes every block of the given pools; the watch goes on from its revision. */
static int snapshot(struct ps_lease_watch *w, struct ps_error *error)
{
	__u32 **owners = calloc(w->n_pools, sizeof(*owners));
	json_object *t = NULL, *v;
	int64_t rev;
	int err = owners ? 0 : ps_fail(error, ENOMEM, "lease watch: out of memory");

	for (size_t i = 0; !err && i < w->n_pools; i++)
		if (!(owners[i] = calloc(w->pools[i].cfg.n_blocks, sizeof(**owners))))
			err = ps_fail(error, ENOMEM, "lease watch: out of memory");
	if (!err)
		err = ps_lease_table_json(w->etcd, w->prefix, NULL, &t, error);
	pthread_mutex_lock(&w->lock);
	note_client(w, !err);
	if (!err) {
		rev = json_object_object_get_ex(t, "revision", &v) ? json_object_get_int64(v) : 0;
		snapshot_owners(w, t, owners);
		for (size_t i = 0; !err && i < w->n_pools; i++) {
			memcpy(w->pools[i].owner, owners[i], w->pools[i].cfg.n_blocks * sizeof(**owners));
			err = write_pool(w, &w->pools[i], error);
		}
		if (!err) {
			w->st.revision = rev;
			w->st.snapshots++;
			w->need_snapshot = false;
			pr_info("lease watch: the table at revision %lld is written into the steering (%zu pools)",
				(long long)rev, w->n_pools);
		}
	}
	pthread_mutex_unlock(&w->lock);
	json_object_put(t);
	for (size_t i = 0; owners && i < w->n_pools; i++)
		free(owners[i]);
	free(owners);
	return err;
}

/* ---- the watch -------------------------------------------------------------- */

/* "<pool>/<kind>/<n>" after "<prefix>/pools/": the pool, kind and block, or false. */
static bool parse_key(struct ps_lease_watch *w, const char *key, struct pool_state **pool, const char **kind,
		      uint32_t *n, bool *ours)
{
	size_t len = strlen(w->watch_key);
	const char *s = key + len, *slash, *k, *num;
	char *end;
	unsigned long v;

	*ours = false;
	if (strncmp(key, w->watch_key, len) || !(slash = strchr(s, '/')))
		return false;
	*pool = pool_named(w, s, (size_t)(slash - s));
	if (!*pool)
		return false;
	k = slash + 1;
	num = strchr(k, '/');
	if (!num)
		return false;
	if (!strncmp(k, "claims/", 7))
		return false;
	if (strncmp(k, "blocks/", 7) && strncmp(k, "quarantine/", 11))
		return false;
	*ours = true;
	*kind = k;
	errno = 0;
	v = strtoul(num + 1, &end, 10);
	if (errno || end == num + 1 || *end || num[1] == '-' || num[1] == '+' || v >= (*pool)->cfg.n_blocks)
		return false;
	*n = (uint32_t)v;
	return true;
}

/* The "host" and "since" of a blocks/ value; *since 0 when absent. */
static __u32 value_owner(struct ps_lease_watch *w, const char *value, int64_t *since)
{
	json_object *o = json_tokener_parse(value), *v;
	__u32 id = PS_STEER_NO_HOST;

	*since = 0;
	if (o && json_object_object_get_ex(o, "host", &v)) {
		id = w->host_id(w->host_ctx, json_object_get_string(v));
		if (!id)
			w->st.unknown_hosts++;
	}
	if (o && json_object_object_get_ex(o, "since", &v))
		*since = json_object_get_int64(v);
	json_object_put(o);
	return id;
}

/* One event: the block's owner written. Called with the lock held. */
static int apply(struct ps_lease_watch *w, const struct ps_etcd_event *ev, struct ps_error *error)
{
	struct pool_state *p;
	const char *kind;
	uint32_t n;
	bool ours;
	int64_t since = 0;
	__u32 owner = PS_STEER_NO_HOST;
	uint64_t t0, t1;
	int err;

	if (!parse_key(w, ev->kv.key, &p, &kind, &n, &ours)) {
		if (ours) {
			w->st.ignored++;
			pr_debug("lease watch: %s is about no block of its pool: ignored", ev->kv.key);
		}
		return 0;
	}
	if (!strncmp(kind, "blocks/", 7) && ev->type == PS_ETCD_EV_PUT)
		owner = value_owner(w, ev->kv.value, &since);
	t0 = wall_us();
	err = ps_steer_owner_set(w->owner_fd, p->cfg.slot, block_lo(p, n), block_lo(p, n) + p->cfg.block_size - 1,
				 owner, error);
	if (err)
		return err;
	t1 = wall_us();
	p->owner[n] = owner;
	w->st.applied++;
	if (since > 0)
		note_lag(w, t1 > (uint64_t)since * 1000 ? t1 - (uint64_t)since * 1000 : 0, t1 - t0);
	return 0;
}

struct watch_call {
	struct ps_lease_watch *w;
	struct ps_error *error;
	int err;
};

static bool on_events(void *ctx, const struct ps_etcd_event *ev, size_t n, int64_t revision)
{
	struct watch_call *c = ctx;
	struct ps_lease_watch *w = c->w;
	bool stop;

	pthread_mutex_lock(&w->lock);
	note_client(w, true);
	for (size_t i = 0; i < n && !c->err; i++) {
		w->st.events++;
		c->err = apply(w, &ev[i], c->error);
		/* Not written: the table is read again, which writes every block. */
		if (c->err)
			w->need_snapshot = true;
		else if (ev[i].kv.mod_revision > w->st.revision)
			w->st.revision = ev[i].kv.mod_revision;
	}
	stop = w->stop || c->err;
	pthread_mutex_unlock(&w->lock);
	return stop;
}

static int watch_once(struct ps_lease_watch *w, struct ps_error *error)
{
	struct watch_call c = { .w = w, .error = error };
	int64_t from;
	int err;

	pthread_mutex_lock(&w->lock);
	from = w->st.revision + 1;
	w->st.watches++;
	pthread_mutex_unlock(&w->lock);
	err = ps_etcd_watch(w->etcd, w->watch_key, true, from, w->watch_ms, on_events, &c, error);
	/* The member that answered is known only now. */
	pthread_mutex_lock(&w->lock);
	note_client(w, c.err || !err || err == -ERANGE);
	pthread_mutex_unlock(&w->lock);
	return c.err ?: err;
}

/* ---- the thread ------------------------------------------------------------ */

/* Waits @ms or until stopped; true when stopped. */
static bool pause_ms(struct ps_lease_watch *w, unsigned int ms)
{
	struct timespec until;
	bool stop;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&w->lock);
	while (!w->stop && pthread_cond_timedwait(&w->wake, &w->lock, &until) != ETIMEDOUT)
		;
	stop = w->stop;
	pthread_mutex_unlock(&w->lock);
	return stop;
}

static bool stopping(struct ps_lease_watch *w)
{
	bool stop;

	pthread_mutex_lock(&w->lock);
	stop = w->stop;
	pthread_mutex_unlock(&w->lock);
	return stop;
}

static void *run(void *arg)
{
	struct ps_lease_watch *w = arg;
	unsigned int backoff = 0;

	while (!stopping(w)) {
		struct ps_error error = {};
		bool snap;
		int err;

		pthread_mutex_lock(&w->lock);
		snap = w->need_snapshot;
		pthread_mutex_unlock(&w->lock);
		err = snap ? snapshot(w, &error) : watch_once(w, &error);
		if (err == -ERANGE && !snap) {
			pr_info("lease watch: %s", error.msg);
			pthread_mutex_lock(&w->lock);
			w->need_snapshot = true;
			w->st.compactions++;
			pthread_mutex_unlock(&w->lock);
			continue;
		}
		if (!err) {
			if (w->failures)
				pr_info("lease watch: following again after %u failures", w->failures);
			w->failures = 0;
			backoff = 0;
			continue;
		}
		pthread_mutex_lock(&w->lock);
		w->st.errors++;
		pthread_mutex_unlock(&w->lock);
		backoff = backoff ? backoff * 2 : BACKOFF_FIRST_MS;
		if (backoff > w->backoff_max_ms)
			backoff = w->backoff_max_ms;
		/* The first failure of a run is a warning; the others until it works again, debug. */
		if (!w->failures++)
			pr_warn("lease watch: %s (steering keeps the owners it has; again in %u ms)", error.msg, backoff);
		else
			pr_debug("lease watch: %s (failure %u; again in %u ms)", error.msg, w->failures, backoff);
		if (pause_ms(w, backoff))
			break;
	}
	return NULL;
}

/* ---- start, stop ------------------------------------------------------------ */

static void free_watch(struct ps_lease_watch *w)
{
	for (size_t i = 0; w->pools && i < w->n_pools; i++) {
		free((char *)w->pools[i].cfg.name);
		free(w->pools[i].owner);
	}
	free(w->pools);
	ps_etcd_close(w->etcd);
	if (w->owner_fd >= 0)
		close(w->owner_fd);
	free(w->prefix);
	free(w->watch_key);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

static int check_opts(const struct ps_lease_watch_opts *o, struct ps_error *error)
{
	if (!o->etcd || !o->prefix || !o->host_id || o->owner_fd < 0)
		return ps_fail(error, EINVAL, "lease watch: etcd options, prefix, host ids and ps_steer_owner are needed");
	if (o->n_pools > PS_LEASE_WATCH_MAX_POOLS)
		return ps_fail(error, EINVAL, "lease watch: %zu pools, at most %d", o->n_pools, PS_LEASE_WATCH_MAX_POOLS);
	for (size_t i = 0; i < o->n_pools; i++) {
		const struct ps_lease_watch_pool *p = &o->pools[i];

		if (!p->name || !*p->name || strchr(p->name, '/'))
			return ps_fail(error, EINVAL, "lease watch: pool %zu has no name, or one with '/'", i);
		if (p->slot >= PS_MAX_POOLS || !p->block_size || !p->n_blocks ||
		    (uint64_t)p->port_lo + (uint64_t)p->n_blocks * p->block_size > PS_PORTS_PER_POOL)
			return ps_fail(error, EINVAL, "lease watch: pool %s: slot %u, ports %u + %u blocks of %u do not fit "
				       "(slot < %d, ports < %d)", p->name, p->slot, p->port_lo, p->n_blocks,
				       p->block_size, PS_MAX_POOLS, PS_PORTS_PER_POOL);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(o->pools[j].name, p->name) || o->pools[j].slot == p->slot)
				return ps_fail(error, EINVAL, "lease watch: pools %s and %s: the same name or slot",
					       o->pools[j].name, p->name);
	}
	return 0;
}

int ps_lease_watch_start(struct ps_lease_watch **out, const struct ps_lease_watch_opts *o, struct ps_error *error)
{
	struct ps_lease_watch *w;
	pthread_condattr_t ca;
	int err = check_opts(o, error);

	*out = NULL;
	if (err)
		return err;
	w = calloc(1, sizeof(*w));
	if (!w)
		return ps_fail(error, ENOMEM, "lease watch: out of memory");
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->wake, &ca);
	pthread_condattr_destroy(&ca);
	w->owner_fd = fcntl(o->owner_fd, F_DUPFD_CLOEXEC, 0);
	w->pools = calloc(o->n_pools ?: 1, sizeof(*w->pools));
	w->n_pools = o->n_pools;
	w->prefix = strdup(o->prefix);
	w->watch_key = malloc(strlen(o->prefix) + sizeof("/pools/"));
	if (w->watch_key)
		sprintf(w->watch_key, "%s/pools/", o->prefix);
	err = w->owner_fd < 0 ? ps_fail(error, errno, "lease watch: cannot duplicate the ps_steer_owner fd: %s", strerror(errno))
	      : !w->pools || !w->prefix || !w->watch_key ? ps_fail(error, ENOMEM, "lease watch: out of memory") : 0;
	for (size_t i = 0; !err && i < o->n_pools; i++) {
		w->pools[i].cfg = o->pools[i];
		w->pools[i].cfg.name = strdup(o->pools[i].name);
		w->pools[i].owner = calloc(o->pools[i].n_blocks, sizeof(*w->pools[i].owner));
		if (!w->pools[i].cfg.name || !w->pools[i].owner)
			err = ps_fail(error, ENOMEM, "lease watch: out of memory");
	}
	if (!err)
		err = ps_etcd_open(&w->etcd, o->etcd, error);
	if (err) {
		free_watch(w);
		return err;
	}
	w->host_id = o->host_id;
	w->host_ctx = o->host_ctx;
	w->watch_ms = o->watch_ms ?: 1000;
	w->backoff_max_ms = o->backoff_max_ms ?: 2000;
	w->need_snapshot = true;
	snprintf(w->st.endpoint, sizeof(w->st.endpoint), "%s", ps_etcd_endpoint(w->etcd));
	err = pthread_create(&w->thread, NULL, run, w);
	if (err) {
		free_watch(w);
		return ps_fail(error, err, "lease watch: cannot start its thread: %s", strerror(err));
	}
	*out = w;
	return 0;
}

void ps_lease_watch_stop(struct ps_lease_watch *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_broadcast(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	free_watch(w);
}

int ps_lease_watch_reapply(struct ps_lease_watch *w, struct ps_error *error)
{
	int err = 0;

	pthread_mutex_lock(&w->lock);
	/* Before the first table read there is nothing to write again: that read writes every block. */
	for (size_t i = 0; !err && w->st.snapshots && i < w->n_pools; i++)
		err = write_pool(w, &w->pools[i], error);
	pthread_mutex_unlock(&w->lock);
	return err;
}
