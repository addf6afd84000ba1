// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The lease table and its watch events into ps_steer_owner (agent/lease_watch_owners.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/types.h>

#include <json-c/json.h>

#include "steer.h"
#include "agent/lease_watch_owners.h"
#include "core/log.h"
#include "fleet/lease.h"
#include "steer/owners.h"

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

int ps_lease_watch_write_pool(struct ps_lease_watch *w, struct pool_state *p, struct ps_error *error)
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

int ps_lease_watch_snapshot(struct ps_lease_watch *w, struct ps_error *error)
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
	ps_lease_watch_note_client(w, !err);
	if (!err) {
		rev = json_object_object_get_ex(t, "revision", &v) ? json_object_get_int64(v) : 0;
		snapshot_owners(w, t, owners);
		for (size_t i = 0; !err && i < w->n_pools; i++) {
			memcpy(w->pools[i].owner, owners[i], w->pools[i].cfg.n_blocks * sizeof(**owners));
			err = ps_lease_watch_write_pool(w, &w->pools[i], error);
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

/* ---- the watch's events ---------------------------------------------------- */

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

int ps_lease_watch_apply(struct ps_lease_watch *w, const struct ps_etcd_event *ev, struct ps_error *error)
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
		ps_lease_watch_note_lag(w, t1 > (uint64_t)since * 1000 ? t1 - (uint64_t)since * 1000 : 0, t1 - t0);
	return 0;
}
