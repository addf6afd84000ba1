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
 * one thread, but for ps_etcd_cancel(), which any thread may call. Several endpoints: a request that cannot reach one (connect
 * refused, timed out, 5xx) goes to the next, at most once round the list;
 * the one that answered is used first from then on. A request that timed
 * out may still have been applied: the leasing engine makes every change a
 * transaction whose comparisons fail when it was (loader/fleet/lease.h).
 *
 * Errors: ECONNREFUSED / ETIMEDOUT / EHOSTUNREACH when no endpoint
 * answered, ENOENT for a lease etcd does not know (any more), EPROTO for an
 * answer that is not what the gateway sends, EIO for any other error etcd
 * reports (its message is in the error), ECANCELED once the client was
 * cancelled (no member failed: callers count it as neither a failure nor a
 * failover).
 */
#ifndef PS_FLEET_ETCD_H
#define PS_FLEET_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "core/error.h"
/* The requests, by concern: including this header gives the whole client. */
#include "fleet/etcd_kv.h"
#include "fleet/etcd_lease.h"
#include "fleet/etcd_watch.h"

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

/*
 * Ends the request in flight, from any thread, within a poll's wakeup (not
 * a progress callback's second), and every later one at once: they return
 * -ECANCELED and try no other endpoint. For a thread that is stopping: the
 * client is then only to be closed (after that thread is joined).
 */
void ps_etcd_cancel(struct ps_etcd *c);

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

/*
 * ---- for the client's own files (etcd_kv.c, etcd_lease.c, etcd_watch.c) --
 * They build the gateway's JSON; etcd.c and etcd_http.c alone know the
 * endpoints and curl, so that failover, TLS, cancel and deadlines are done
 * once.
 */

/*
 * POSTs @body (taken) to @path, on the current endpoint and then the
 * others; *@reply the answer's JSON (put it).
 */
int ps_etcd_post(struct ps_etcd *c, const char *path, json_object *body, json_object **reply,
		 struct ps_error *error);

/* How ps_etcd_post_stream() hands on an answer that comes over time. */
struct ps_etcd_reader {
	void (*begin)(void *ctx);   /* before each endpoint is tried */
	/* curl's write callback: the answer's bytes as they come; less than size * nmemb ends the stream */
	size_t (*data)(char *ptr, size_t size, size_t nmemb, void *ctx);
	bool (*answered)(void *ctx); /* this endpoint answered: no other is tried */
	void *ctx;
};

/*
 * POSTs @body (not taken) to @path and hands the answer to @r as it comes,
 * for at most @max_ms (0: no limit), trying the next endpoint while none
 * answered. An endpoint has the client's timeout_ms to answer (a hung
 * member accepts connections and stays silent); once it did, a stream
 * that brings nothing for @silence_ms (0: no limit) is ended.
 * Returns 0 when the stream ended, -ETIMEDOUT when @max_ms was up (or no
 * endpoint answered), -ENODATA when it fell silent, -ECANCELED when the
 * client was cancelled, another negative errno when the transfer failed;
 * *@why says which, in words (the caller words the failure; valid until
 * the next request).
 */
int ps_etcd_post_stream(struct ps_etcd *c, const char *path, const char *body, unsigned int max_ms,
			unsigned int silence_ms, const struct ps_etcd_reader *r, const char **why);

/* A 64-bit number of an answer (the gateway writes them as strings); 0 when absent. */
int64_t ps_etcd_json_i64(json_object *o, const char *name);
/* The store's revision an answer is of (its header's). */
int64_t ps_etcd_header_revision(json_object *o);

#endif
