// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Orphans: blocks whose holder's lease expired with them held. Putting
 * them in quarantine, the sweep that finds them, and a host taking its own
 * back under a new lease (loader/fleet/lease_orphans.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/log.h"
#include "fleet/lease_blocks.h"
#include "fleet/lease_keys.h"
#include "fleet/lease_orphans.h"

/* The "host" of a JSON value, into @buf ("" when none). */
static void value_host(const char *value, char *buf, size_t len)
{
	json_object *o = json_tokener_parse(value), *h;

	snprintf(buf, len, "%s", o && json_object_object_get_ex(o, "host", &h) ? json_object_get_string(h) : "");
	json_object_put(o);
}

int ps_lease_quarantine(struct ps_lease *l, unsigned int pool, uint32_t n, struct ps_error *error)
{
	char kb[PS_LEASE_KEY_LEN], kc[PS_LEASE_KEY_LEN], kq[PS_LEASE_KEY_LEN], host[128], val[512];
	struct ps_etcd_kvs claim;
	struct ps_etcd_txn_result res;
	int64_t qlease, rev;
	int err;

	ps_lease_key(kb, l, pool, "blocks", n);
	ps_lease_key(kc, l, pool, "claims", n);
	ps_lease_key(kq, l, pool, "quarantine", n);
	l->stats.etcd_ops++;
	err = ps_etcd_range(l->etcd, kc, 0, &claim, error);
	if (err)
		return err;
	if (!claim.n) {
		ps_etcd_kvs_free(&claim);
		return 0;
	}
	value_host(claim.kv[0].value, host, sizeof(host));
	rev = claim.kv[0].mod_revision;
	ps_etcd_kvs_free(&claim);
	l->stats.etcd_ops++;
	err = ps_etcd_lease_grant(l->etcd, l->cfg.quarantine_s, &qlease, NULL, error);
	if (err)
		return err;
	snprintf(val, sizeof(val), "{\"host\":\"%s\",\"since\":%lld,\"ttl\":%u,\"by\":\"%s\"}", host,
		 ps_lease_wall_ms(), l->cfg.quarantine_s, l->host);
	{
		struct ps_etcd_cmp cmp[] = {
			{ .key = kb, .target = PS_ETCD_CREATE, .result = PS_ETCD_EQUAL, .number = 0 },
			{ .key = kc, .target = PS_ETCD_MOD, .result = PS_ETCD_EQUAL, .number = rev },
		};
		struct ps_etcd_op ok[] = {
			{ .type = PS_ETCD_OP_DELETE, .key = kc },
			{ .type = PS_ETCD_OP_PUT, .key = kq, .value = val, .lease = qlease },
		};
		struct ps_etcd_txn t = { cmp, 2, ok, 2, NULL, 0 };

		l->stats.etcd_ops++;
		err = ps_etcd_txn(l->etcd, &t, &res, error);
	}
	if (err)
		return err;
	if (res.succeeded) {
		l->stats.quarantined++;
		pr_info("leases: pool %s block %u of host %s (lease expired) is in quarantine for %u s",
			l->cfg.pools[pool].name, n, host, l->cfg.quarantine_s);
	}
	ps_etcd_txn_result_free(&res);
	return 0;
}

int ps_lease_readopt(struct ps_lease *l, struct ps_lease_block *b, uint64_t now, struct ps_error *error)
{
	char kb[PS_LEASE_KEY_LEN], kc[PS_LEASE_KEY_LEN], vb[256], vc[256];
	struct ps_etcd_cmp cmp[] = {
		{ .key = kb, .target = PS_ETCD_CREATE, .result = PS_ETCD_EQUAL, .number = 0 },
		{ .key = kc, .target = PS_ETCD_MOD, .result = PS_ETCD_EQUAL, .number = b->claim_revision },
	};
	struct ps_etcd_op ok[] = {
		{ .type = PS_ETCD_OP_PUT, .key = kb, .value = vb, .lease = l->lease },
		{ .type = PS_ETCD_OP_PUT, .key = kc, .value = vc },
	};
	struct ps_etcd_txn t = { cmp, 2, ok, 2, NULL, 0 };
	struct ps_etcd_txn_result res;
	int err;

	ps_lease_held_values(l, b->pool, b->index, kb, vb, kc, vc);
	err = ps_lease_change(l, &t, &res, error);
	if (err)
		return err;
	if (res.succeeded) {
		b->state = PS_BLOCK_HELD;
		b->mod_revision = b->claim_revision = res.revision;
		b->since_ms = now;
		l->stats.readopted++;
		l->generation++;
		pr_info("leases: host %s took back pool %s block %u under its new lease", l->host,
			l->cfg.pools[b->pool].name, b->index);
	} else {
		b->claim_revision = 0;  /* quarantined by another host: it waits its quarantine out */
	}
	return 0;
}

int ps_lease_sweep(struct ps_lease *l, unsigned int pool, unsigned int *found, struct ps_error *error)
{
	uint32_t nb = ps_lease_pool_n_blocks(&l->cfg.pools[pool]);
	uint8_t *busy = calloc(nb, 1);
	unsigned int q = 0;
	int err;

	if (!busy)
		return ps_fail(error, ENOMEM, "leases: out of memory");
	err = ps_lease_occupancy(l, pool, busy, error);
	for (uint32_t n = 0; !err && n < nb; n++) {
		if (busy[n] != 2)
			continue;
		err = ps_lease_quarantine(l, pool, n, error);
		q += !err;
	}
	free(busy);
	if (found)
		*found = q;
	return err;
}

/*
 * This host's orphans of pool @pool (claims/<n> naming it, no blocks/<n>)
 * listed as LOST blocks with the claim's revision: the tick takes each back
 * (ps_lease_readopt()) unless its claim changed, i.e. another host put it
 * in quarantine first.
 */
static int list_own_orphans(struct ps_lease *l, unsigned int pool, uint64_t now, unsigned int *found,
			    struct ps_error *error)
{
	uint32_t nb = ps_lease_pool_n_blocks(&l->cfg.pools[pool]);
	char pfx[PS_LEASE_KEY_LEN], kind[16], host[128];
	int64_t *claim_rev = calloc(nb, sizeof(*claim_rev));
	struct ps_etcd_kvs r;
	uint32_t n;
	int err;

	if (!claim_rev)
		return ps_fail(error, ENOMEM, "leases: out of memory");
	snprintf(pfx, sizeof(pfx), "%s/pools/%s/", l->prefix, l->cfg.pools[pool].name);
	l->stats.etcd_ops++;
	err = ps_etcd_range(l->etcd, pfx, PS_ETCD_PREFIX, &r, error);
	if (err) {
		free(claim_rev);
		return err;
	}
	/* Claims first, then blocks/<n> (whoever holds it) strikes its claim out. */
	for (size_t i = 0; i < r.n; i++) {
		if (!ps_lease_parse_key(r.kv[i].key, strlen(pfx), kind, sizeof(kind), &n) || n >= nb ||
		    strcmp(kind, "claims"))
			continue;
		value_host(r.kv[i].value, host, sizeof(host));
		if (!strcmp(host, l->host))
			claim_rev[n] = r.kv[i].mod_revision;
	}
	for (size_t i = 0; i < r.n; i++)
		if (ps_lease_parse_key(r.kv[i].key, strlen(pfx), kind, sizeof(kind), &n) && n < nb &&
		    !strcmp(kind, "blocks"))
			claim_rev[n] = 0;
	ps_etcd_kvs_free(&r);
	for (n = 0; n < nb && !err; n++) {
		struct ps_lease_block *b;

		if (!claim_rev[n] || ps_lease_find_block(l, pool, n))
			continue;
		b = ps_lease_add_block(l, pool, n, PS_BLOCK_LOST, 0, now);
		if (!b)
			err = ps_fail(error, ENOMEM, "leases: out of memory");
		else
			b->claim_revision = claim_rev[n];
		*found += !err;
	}
	free(claim_rev);
	return err;
}

void ps_lease_adopt(struct ps_lease *l, int64_t lease_id)
{
	if (!l->lease)
		l->adopt = lease_id;
}

int ps_lease_adopt_step(struct ps_lease *l, uint64_t now, struct ps_error *error)
{
	unsigned int found = 0;
	int64_t ttl;
	int err;

	l->stats.etcd_ops++;
	err = ps_etcd_lease_keepalive(l->etcd, l->adopt, &ttl, error);
	if (err && err != -ENOENT)
		return err; /* etcd does not answer: tried again at the next tick */
	if (!err) {
		l->lease = l->adopt;
		l->adopt = 0;
		l->stats.adopted++;
		l->ka_ok_sent_ms = now;
		l->next_ka_ms = now + l->cfg.keepalive_ms;
		l->etcd_ok = true;
		l->reconcile = l->adopting = true; /* its blocks are read back at this tick */
		pr_info("leases: host %s kept lease %llx across the restart (TTL left %lld s); its blocks are read back",
			l->host, (unsigned long long)l->lease, (long long)ttl);
		return 0;
	}
	ps_error_clear(error);
	err = 0;
	for (unsigned int p = 0; p < l->cfg.n_pools && !err; p++)
		err = list_own_orphans(l, p, now, &found, error);
	if (err)
		return err;
	pr_info("leases: host %s's lease %llx from before the restart has expired; %u block(s) its claims still name "
		"are taken back under a new lease unless another host quarantined them", l->host,
		(unsigned long long)l->adopt, found);
	l->adopt = 0;
	return 0;
}
