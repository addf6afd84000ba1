/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Keys, values and transactions (loader/fleet/etcd.h: the client, its
 * errors). Keys and values are plain strings here; base64 is the gateway's.
 */
#ifndef PS_FLEET_ETCD_KV_H
#define PS_FLEET_ETCD_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "core/error.h"

struct ps_etcd;

struct ps_etcd_kv {
	char *key;
	char *value;                /* NUL-terminated ("" when empty) */
	size_t value_len;
	int64_t create_revision;
	int64_t mod_revision;
	int64_t version;
	int64_t lease;              /* 0: none */
};

struct ps_etcd_kvs {
	struct ps_etcd_kv *kv;
	size_t n;
	int64_t revision;           /* the store's revision the answer is of */
	int64_t count;              /* how many keys matched */
	bool more;
};

void ps_etcd_kvs_free(struct ps_etcd_kvs *r);

enum ps_etcd_range_flags {
	PS_ETCD_PREFIX = 1 << 0,    /* every key that starts with the key */
	PS_ETCD_KEYS_ONLY = 1 << 1, /* keys and revisions, no values */
	PS_ETCD_COUNT_ONLY = 1 << 2, /* only how many (kvs n 0, count set) */
};

/* The keys equal to @key (or starting with it: PS_ETCD_PREFIX); @flags enum ps_etcd_range_flags. */
int ps_etcd_range(struct ps_etcd *c, const char *key, unsigned int flags, struct ps_etcd_kvs *out,
		  struct ps_error *error);
/* @lease 0: none. @revision (may be NULL): the revision the put made. */
int ps_etcd_put(struct ps_etcd *c, const char *key, const char *value, int64_t lease, int64_t *revision,
		struct ps_error *error);
/* @deleted (may be NULL): how many keys went. */
int ps_etcd_delete(struct ps_etcd *c, const char *key, bool prefix, int64_t *deleted, struct ps_error *error);

enum ps_etcd_target { PS_ETCD_CREATE, PS_ETCD_MOD, PS_ETCD_VERSION, PS_ETCD_VALUE, PS_ETCD_LEASE };
enum ps_etcd_result { PS_ETCD_EQUAL, PS_ETCD_NOT_EQUAL, PS_ETCD_GREATER, PS_ETCD_LESS };

struct ps_etcd_cmp {
	const char *key;
	enum ps_etcd_target target;
	enum ps_etcd_result result;
	int64_t number;             /* CREATE, MOD, VERSION: the revision; LEASE: the lease */
	const char *value;          /* VALUE */
};

enum ps_etcd_op_type { PS_ETCD_OP_PUT, PS_ETCD_OP_DELETE, PS_ETCD_OP_RANGE };

struct ps_etcd_op {
	enum ps_etcd_op_type type;
	const char *key;
	const char *value;          /* PUT */
	int64_t lease;              /* PUT; 0: none */
	bool prefix;                /* DELETE, RANGE */
};

struct ps_etcd_txn {
	const struct ps_etcd_cmp *cmp;
	size_t n_cmp;
	const struct ps_etcd_op *success;
	size_t n_success;
	const struct ps_etcd_op *failure;
	size_t n_failure;
};

struct ps_etcd_txn_result {
	bool succeeded;             /* every comparison held: the success ops ran */
	int64_t revision;
	/* One per RANGE op of the branch that ran, in order. */
	struct ps_etcd_kvs ranges[8];
	size_t n_ranges;
};

void ps_etcd_txn_result_free(struct ps_etcd_txn_result *r);
/* @out may be NULL when the caller needs only the return code and not the ranges. */
int ps_etcd_txn(struct ps_etcd *c, const struct ps_etcd_txn *t, struct ps_etcd_txn_result *out,
		struct ps_error *error);

/* ---- for the client's own files: the watch reads and asks for keys the same way ---- */

/* A KeyValue of an answer into @kv (its strings to free with ps_etcd_kv_free()). */
void ps_etcd_kv_parse(json_object *o, struct ps_etcd_kv *kv);
void ps_etcd_kv_free(struct ps_etcd_kv *kv);
/* {"key", "range_end"}: @key, or every key that starts with it (@prefix). */
json_object *ps_etcd_range_request(const char *key, bool prefix);

#endif
