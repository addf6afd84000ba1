// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The fleet's table of blocks as etcd has it (loader/fleet/lease_table.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "fleet/lease_keys.h"
#include "fleet/lease_table.h"

struct row {
	char pool[PS_LEASE_NAME_LEN];
	uint32_t n;
	json_object *block, *claim, *quar;  /* values, NULL when absent */
	int64_t lease;
};

static int cmp_row(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	int c = strcmp(x->pool, y->pool);

	return c ? c : x->n < y->n ? -1 : x->n > y->n;
}

static const char *str_of(json_object *o, const char *name)
{
	json_object *v;

	return o && json_object_object_get_ex(o, name, &v) ? json_object_get_string(v) : "";
}

int ps_lease_table_json(struct ps_etcd *etcd, const char *prefix, const char *pool, json_object **out,
			struct ps_error *error)
{
	char pfx[PS_LEASE_KEY_LEN];
	struct ps_etcd_kvs r;
	struct row *rows;
	size_t n_rows = 0;
	json_object *root, *pools;
	int err;

	*out = NULL;
	snprintf(pfx, sizeof(pfx), "%s/pools/%s%s", prefix, pool ?: "", pool ? "/" : "");
	err = ps_etcd_range(etcd, pfx, PS_ETCD_PREFIX, &r, error);
	if (err)
		return err;
	rows = calloc(r.n ?: 1, sizeof(*rows));
	if (!rows) {
		ps_etcd_kvs_free(&r);
		return ps_fail(error, ENOMEM, "leases: out of memory");
	}
	for (size_t i = 0; i < r.n; i++) {
		/* <prefix>/pools/<pool>/<kind>/<n> */
		char name[PS_LEASE_NAME_LEN], kind[16];
		const char *s = r.kv[i].key + strlen(prefix) + strlen("/pools/"), *slash = strchr(s, '/');
		struct row *row = NULL;
		uint32_t n;

		if (strlen(r.kv[i].key) <= strlen(prefix) + 7 || !slash || (size_t)(slash - s) >= sizeof(name))
			continue;
		memcpy(name, s, slash - s);
		name[slash - s] = '\0';
		if (!ps_lease_parse_key(r.kv[i].key, slash + 1 - r.kv[i].key, kind, sizeof(kind), &n))
			continue;
		for (size_t j = 0; j < n_rows && !row; j++)
			if (rows[j].n == n && !strcmp(rows[j].pool, name))
				row = &rows[j];
		if (!row) {
			row = &rows[n_rows++];
			snprintf(row->pool, sizeof(row->pool), "%s", name);
			row->n = n;
		}
		if (!strcmp(kind, "blocks")) {
			row->block = json_tokener_parse(r.kv[i].value);
			row->lease = r.kv[i].lease;
		} else if (!strcmp(kind, "claims")) {
			row->claim = json_tokener_parse(r.kv[i].value);
		} else if (!strcmp(kind, "quarantine")) {
			row->quar = json_tokener_parse(r.kv[i].value);
		}
	}
	qsort(rows, n_rows, sizeof(*rows), cmp_row);
	root = json_object_new_object();
	pools = json_object_new_array();
	json_object_object_add(root, "revision", json_object_new_int64(r.revision));
	for (size_t i = 0, j; i < n_rows; i = j) {
		json_object *po = json_object_new_object(), *blocks = json_object_new_array();

		json_object_object_add(po, "name", json_object_new_string(rows[i].pool));
		for (j = i; j < n_rows && !strcmp(rows[j].pool, rows[i].pool); j++) {
			struct row *row = &rows[j];
			json_object *b = json_object_new_object();
			const char *state = row->block ? str_of(row->block, "state")
					    : row->quar ? "quarantine" : "orphan";
			json_object *src = row->block ?: row->quar ?: row->claim;
			char lease[24];

			json_object_object_add(b, "block", json_object_new_int64(row->n));
			json_object_object_add(b, "host", json_object_new_string(str_of(src, "host")));
			json_object_object_add(b, "state", json_object_new_string(state));
			snprintf(lease, sizeof(lease), "%llx", (unsigned long long)row->lease);
			if (row->lease)
				json_object_object_add(b, "lease", json_object_new_string(lease));
			json_object_array_add(blocks, b);
			json_object_put(row->block);
			json_object_put(row->claim);
			json_object_put(row->quar);
		}
		json_object_object_add(po, "blocks", blocks);
		json_object_array_add(pools, po);
	}
	json_object_object_add(root, "pools", pools);
	free(rows);
	ps_etcd_kvs_free(&r);
	*out = root;
	return 0;
}
