// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Steering from the watch: ps_steer_owner follows the lease table
 * (agent/lease_watch.h). This file: the thread that follows etcd, its
 * stats, start and stop; the owners it writes: lease_watch_owners.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/types.h>

#include "steer.h"
#include "agent/lease_watch.h"
#include "agent/lease_watch_owners.h"
#include "core/config.h"
#include "core/log.h"

#define BACKOFF_FIRST_MS 100
/*
 * A watch request is renewed this often even when it stays healthy: not
 * for liveness (silence_ms is) but so that no request lives for ever.
 */
#define WATCH_MS_DEFAULT (10 * 60 * 1000)
/*
 * Silence before the watch is set up again (and a member that does not
 * answer then passed over): the bound on following a member that died
 * without a reset (a hung process, a host gone) is this plus the client's
 * timeout, 12 s with the defaults. Well inside a block's quarantine (at
 * least TIME_WAIT's 60 s), so no reply is ever steered by an owner older
 * than the quarantine; about one lease TTL (10 s by default), so a member's
 * death costs the steering what it costs the leasing. Members that send
 * progress notifications every 3 s or less keep a healthy watch from ever
 * falling silent this long (etcd skips one after a tick with events: up to
 * twice the interval, plus 10% jitter, between two messages).
 */
#define SILENCE_MS_DEFAULT 10000

unsigned int ps_lease_watch_config_host(void *ctx, const char *name)
{
	return ps_config_host_id(ctx, name);
}

/* ---- stats ---------------------------------------------------------------- */

static const uint64_t lag_bounds_ms[] = PS_LEASE_WATCH_LAG_BOUNDS_MS;
_Static_assert(sizeof(lag_bounds_ms) / sizeof(lag_bounds_ms[0]) == PS_LEASE_WATCH_LAG_BUCKETS - 1,
	       "one bound per bucket but the last");

void ps_lease_watch_note_lag(struct ps_lease_watch *w, uint64_t lag_us, uint64_t write_us)
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

/* After every request: what the client did, and whether etcd answered. */
void ps_lease_watch_note_client(struct ps_lease_watch *w, bool answered)
{
	w->st.etcd_requests = ps_etcd_requests(w->etcd);
	w->st.etcd_failovers = ps_etcd_failovers(w->etcd);
	snprintf(w->st.endpoint, sizeof(w->st.endpoint), "%s", ps_etcd_endpoint(w->etcd));
	w->st.connected = answered;
}

/* ---- the watch -------------------------------------------------------------- */

struct watch_call {
	struct ps_lease_watch *w;
	struct ps_error *error;
	int err;
	bool created;               /* the first call of a request (no event) is its set-up, not progress */
};

/*
 * A progress notification: every event up to @revision was delivered, so
 * a watch that fails later resumes from there, not from a revision that
 * etcd may have compacted meanwhile (which would cost a table read).
 * Called with the lock held.
 */
static void note_progress(struct ps_lease_watch *w, int64_t revision)
{
	w->st.progress_notifies++;
	if (revision > w->st.revision)
		w->st.revision = revision;
}

static bool on_events(void *ctx, const struct ps_etcd_event *ev, size_t n, int64_t revision)
{
	struct watch_call *c = ctx;
	struct ps_lease_watch *w = c->w;
	bool stop;

	pthread_mutex_lock(&w->lock);
	ps_lease_watch_note_client(w, true);
	if (!n && c->created)
		note_progress(w, revision);
	c->created = true;
	for (size_t i = 0; i < n && !c->err; i++) {
		w->st.events++;
		c->err = ps_lease_watch_apply(w, &ev[i], c->error);
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
	struct ps_etcd_watch_opts o = {
		.max_ms = w->watch_ms, .silence_ms = w->silence_ms, .progress_notify = true,
	};
	int err;

	pthread_mutex_lock(&w->lock);
	o.start_rev = w->st.revision + 1;
	w->st.watches++;
	pthread_mutex_unlock(&w->lock);
	err = ps_etcd_watch(w->etcd, w->watch_key, true, &o, on_events, &c, error);
	/* The member that answered is known only now. */
	pthread_mutex_lock(&w->lock);
	ps_lease_watch_note_client(w, c.err || !err || err == -ERANGE || err == -ENODATA);
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
		err = snap ? ps_lease_watch_snapshot(w, &error) : watch_once(w, &error);
		/* Stopped (ps_etcd_cancel()): no member failed. */
		if (err == -ECANCELED)
			break;
		/*
		 * Quiet, or a member gone silent: the next watch tells which,
		 * at once (no back-off): a member that does not answer it within
		 * the client's timeout is passed over.
		 */
		if (err == -ENODATA && !snap) {
			pr_debug("lease watch: %s", error.msg);
			pthread_mutex_lock(&w->lock);
			w->st.silences++;
			pthread_mutex_unlock(&w->lock);
			continue;
		}
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
	w->watch_ms = o->watch_ms ?: WATCH_MS_DEFAULT;
	w->silence_ms = o->silence_ms ?: SILENCE_MS_DEFAULT;
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
	/* A watch may have minutes to run, a table read seconds: end either now. */
	ps_etcd_cancel(w->etcd);
	pthread_join(w->thread, NULL);
	free_watch(w);
}

int ps_lease_watch_reapply(struct ps_lease_watch *w, struct ps_error *error)
{
	int err = 0;

	pthread_mutex_lock(&w->lock);
	/* Before the first table read there is nothing to write again: that read writes every block. */
	for (size_t i = 0; !err && w->st.snapshots && i < w->n_pools; i++)
		err = ps_lease_watch_write_pool(w, &w->pools[i], error);
	pthread_mutex_unlock(&w->lock);
	return err;
}
