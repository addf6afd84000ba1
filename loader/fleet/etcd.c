// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The etcd v3 JSON gateway over libcurl (loader/fleet/etcd.h): the client,
 * its endpoints, TLS, cancel, status. With etcd_http.c (the requests over
 * curl, failover, deadlines), the only files of the client that speak
 * curl: the requests (etcd_kv.c, etcd_lease.c, etcd_watch.c) speak JSON.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "fleet/etcd.h"
#include "fleet/etcd_client.h"

/* ---- the client ---------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int ps_etcd_open(struct ps_etcd **client, const struct ps_etcd_opts *o, struct ps_error *error)
{
	struct ps_etcd *c;
	char *list, *save = NULL;

	*client = NULL;
	if (!o->endpoints || !*o->endpoints)
		return ps_fail(error, EINVAL, "etcd: no endpoints; give etcd.endpoints, e.g. http://10.0.0.1:2379");
	pthread_once(&curl_once, curl_init);
	c = calloc(1, sizeof(*c));
	list = strdup(o->endpoints);
	if (!c || !list) {
		free(c);
		free(list);
		return ps_fail(error, ENOMEM, "etcd: out of memory");
	}
	for (char *ep = strtok_r(list, ", ", &save); ep; ep = strtok_r(NULL, ", ", &save)) {
		if (c->n_ep == MAX_ENDPOINTS)
			break;
		c->endpoints[c->n_ep++] = strdup(ep);
	}
	free(list);
	c->timeout_ms = o->timeout_ms ?: 2000;
	c->connect_timeout_ms = o->connect_timeout_ms ?: 500;
	c->h = curl_easy_init();
	c->multi = curl_multi_init();
	c->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (!c->h || !c->multi || !c->headers || !c->n_ep) {
		ps_etcd_close(c);
		return ps_fail(error, ENOMEM, "etcd: cannot set up the HTTP client (libcurl)");
	}
	curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, c->curl_err);
	curl_easy_setopt(c->h, CURLOPT_TCP_NODELAY, 1L);
	if (o->ca_file)
		curl_easy_setopt(c->h, CURLOPT_CAINFO, o->ca_file);
	if (o->cert_file)
		curl_easy_setopt(c->h, CURLOPT_SSLCERT, o->cert_file);
	if (o->key_file)
		curl_easy_setopt(c->h, CURLOPT_SSLKEY, o->key_file);
	*client = c;
	return 0;
}

void ps_etcd_close(struct ps_etcd *c)
{
	if (!c)
		return;
	/* No transfer is left in the multi handle: each one is removed when it ends. */
	if (c->multi)
		curl_multi_cleanup(c->multi);
	if (c->h)
		curl_easy_cleanup(c->h);
	curl_slist_free_all(c->headers);
	for (size_t i = 0; i < c->n_ep; i++)
		free(c->endpoints[i]);
	free(c->resp.p);
	free(c);
}

const char *ps_etcd_endpoint(const struct ps_etcd *c)
{
	return c->endpoints[c->cur];
}

uint64_t ps_etcd_requests(const struct ps_etcd *c)
{
	return c->requests;
}

uint64_t ps_etcd_failovers(const struct ps_etcd *c)
{
	return c->failovers;
}

void ps_etcd_cancel(struct ps_etcd *c)
{
	__atomic_store_n(&c->cancelled, true, __ATOMIC_RELEASE);
	/* A poll in progress returns; one that starts after this returns at once, so no wakeup is lost. */
	curl_multi_wakeup(c->multi);
}

/* ---- the gateway's JSON -------------------------------------------------- */

int64_t ps_etcd_json_i64(json_object *o, const char *name)
{
	json_object *v;

	return json_object_object_get_ex(o, name, &v) ? json_object_get_int64(v) : 0;
}

int64_t ps_etcd_header_revision(json_object *o)
{
	json_object *hdr;

	return json_object_object_get_ex(o, "header", &hdr) ? ps_etcd_json_i64(hdr, "revision") : 0;
}

/* ---- status -------------------------------------------------------------- */

int ps_etcd_status(struct ps_etcd *c, struct ps_etcd_status *st, struct ps_error *error)
{
	json_object *ans, *hdr, *v;
	int err = ps_etcd_post(c, "/v3/maintenance/status", json_object_new_object(), &ans, error);

	if (err)
		return err;
	memset(st, 0, sizeof(*st));
	if (json_object_object_get_ex(ans, "version", &v))
		snprintf(st->version, sizeof(st->version), "%s", json_object_get_string(v));
	st->db_size = ps_etcd_json_i64(ans, "dbSize");
	st->db_size_in_use = ps_etcd_json_i64(ans, "dbSizeInUse");
	st->raft_term = ps_etcd_json_i64(ans, "raftTerm");
	st->raft_index = ps_etcd_json_i64(ans, "raftIndex");
	if (json_object_object_get_ex(ans, "leader", &v))
		st->leader = json_object_get_uint64(v);
	if (json_object_object_get_ex(ans, "header", &hdr) && json_object_object_get_ex(hdr, "member_id", &v))
		st->member_id = json_object_get_uint64(v);
	json_object_put(ans);
	return 0;
}
