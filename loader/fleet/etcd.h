/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A small etcd v3 client: the JSON gateway etcd serves beside gRPC
 * (grpc-gateway; etcd 3.4 as Debian 12 packages it: /v3/kv/range,
 * /v3/kv/put, /v3/kv/deleterange, /v3/kv/txn, /v3/lease/grant,
 * /v3/lease/keepalive, /v3/lease/revoke, /v3/lease/timetolive, /v3/watch,
 * /v3/maintenance/status), over libcurl, with json-c. Keys and values go
 * base64 on the wire; this interface takes and gives plain strings.
 *
 * One client is one curl handle with its connection kept open: it is for
 * one thread. Several endpoints: a request that cannot reach one (connect
 * refused, timed out, 5xx) goes to the next, at most once round the list;
 * the one that answered is used first from then on. A request that timed
 * out may still have been applied: the leasing engine makes every change a
 * transaction whose comparisons fail when it was (loader/fleet/lease.h).
 *
 * Errors: ECONNREFUSED / ETIMEDOUT / EHOSTUNREACH when no endpoint
 * answered, ENOENT for a lease etcd does not know (any more), EPROTO for an
 * answer that is not what the gateway sends, EIO for any other error etcd
 * reports (its message is in the error).
 */
#ifndef PS_FLEET_ETCD_H
#define PS_FLEET_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

struct ps_etcd_opts {
	const char *endpoints;      /* "http://10.0.0.1:2379,https://..." (comma-separated) */
	const char *ca_file;        /* TLS: the CA that signed the members' certificates (NULL: system CAs) */
	const char *cert_file;      /* ... this client's certificate (NULL: none) */
	const char *key_file;       /* ... and its key */
	unsigned int timeout_ms;    /* one request, connect included (0: 2000) */
	unsigned int connect_timeout_ms; /* the connect alone (0: 500) */
};

struct ps_etcd;

int ps_etcd_open(struct ps_etcd **client, const struct ps_etcd_opts *o, struct ps_error *error);
void ps_etcd_close(struct ps_etcd *c);
/* The endpoint the last request went to (for status and logs). */
const char *ps_etcd_endpoint(const struct ps_etcd *c);
/* Requests sent so far, and those that failed over to another endpoint. */
uint64_t ps_etcd_requests(const struct ps_etcd *c);
uint64_t ps_etcd_failovers(const struct ps_etcd *c);

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

int ps_etcd_lease_grant(struct ps_etcd *c, int64_t ttl, int64_t *id, int64_t *granted_ttl, struct ps_error *error);
/* One keepalive: @ttl the TTL etcd gave it again; ENOENT when the lease is gone. */
int ps_etcd_lease_keepalive(struct ps_etcd *c, int64_t id, int64_t *ttl, struct ps_error *error);
/* Revoking deletes the lease's keys at once. ENOENT: no such lease. */
int ps_etcd_lease_revoke(struct ps_etcd *c, int64_t id, struct ps_error *error);
/* @ttl the seconds left (-1: expired or unknown), @granted the TTL it was granted with. */
int ps_etcd_lease_ttl(struct ps_etcd *c, int64_t id, int64_t *ttl, int64_t *granted, struct ps_error *error);

enum ps_etcd_event_type { PS_ETCD_EV_PUT, PS_ETCD_EV_DELETE };

struct ps_etcd_event {
	enum ps_etcd_event_type type;
	struct ps_etcd_kv kv;       /* a DELETE has the key and its mod_revision only */
};

/*
 * Called with every batch of events a watch brings, and once (n 0) when
 * the watch is set up. Returning true ends the watch.
 */
typedef bool (*ps_etcd_watch_fn)(void *ctx, const struct ps_etcd_event *ev, size_t n, int64_t revision);

/*
 * Watches @key (a prefix with @prefix) from @start_rev (0: from now), for
 * at most @max_ms, calling @fn as events come. Returns 0 when @fn ended it
 * or the time was up, ERANGE when @start_rev was compacted (read the range
 * again and watch from its revision + 1), another error when the endpoint
 * was lost (watch again, from the last revision seen + 1).
 */
int ps_etcd_watch(struct ps_etcd *c, const char *key, bool prefix, int64_t start_rev, unsigned int max_ms,
		  ps_etcd_watch_fn fn, void *ctx, struct ps_error *error);

struct ps_etcd_status {
	char version[32];
	int64_t db_size;
	int64_t db_size_in_use;
	uint64_t member_id;
	uint64_t leader;            /* 0: no leader known */
	int64_t raft_term;
	int64_t raft_index;
};

/* /v3/maintenance/status of the endpoint the client uses (failing over as any request). */
int ps_etcd_status(struct ps_etcd *c, struct ps_etcd_status *st, struct ps_error *error);

#endif
