// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The etcd v3 JSON gateway over libcurl (loader/fleet/etcd.h): the client,
 * its endpoints and failover, TLS. The only file of the client that speaks
 * curl: the requests (etcd_kv.c, etcd_lease.c, etcd_watch.c) speak JSON.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "fleet/etcd.h"

#define MAX_ENDPOINTS 16

struct buf {
	char *p;
	size_t len, cap;
};

struct ps_etcd {
	CURL *h;
	struct curl_slist *headers;
	char *endpoints[MAX_ENDPOINTS];
	size_t n_ep, cur;
	unsigned int timeout_ms, connect_timeout_ms;
	struct buf resp;
	uint64_t requests, failovers;
	char curl_err[CURL_ERROR_SIZE];
};

/* ---- the client ---------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct buf *b = ud;
	size_t n = size * nmemb;

	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *p = realloc(b->p, cap);

		if (!p)
			return 0;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, ptr, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
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
	c->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (!c->h || !c->headers || !c->n_ep) {
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

/* A transport failure another member may not have. */
static bool try_next(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PARTIAL_FILE:
		return true;
	default:
		return false;
	}
}

static int curl_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		return ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
		return EHOSTUNREACH;
	default:
		return EIO;
	}
}

/*
 * gRPC codes as the gateway reports them: NOT_FOUND (5) is a lease that is
 * gone; UNAVAILABLE (14), DEADLINE_EXCEEDED (4) and the like: this member
 * has no quorum or no leader, another one may.
 */
static bool member_unwell(long http, int grpc)
{
	return http >= 500 && grpc != 5 && grpc != 3 && grpc != 9;
}

int ps_etcd_post(struct ps_etcd *c, const char *path, json_object *body, json_object **reply,
		 struct ps_error *error)
{
	const char *text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
	char url[512], last[768] = "";
	int err = 0;

	*reply = NULL;
	for (size_t tries = 0; tries < c->n_ep; tries++) {
		size_t ep = (c->cur + tries) % c->n_ep;
		CURLcode rc;
		long http = 0;
		json_object *ans, *code, *msg;

		snprintf(url, sizeof(url), "%s%s", c->endpoints[ep], path);
		c->resp.len = 0;
		c->curl_err[0] = '\0';
		curl_easy_setopt(c->h, CURLOPT_URL, url);
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_data);
		curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &c->resp);
		curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
		curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
		c->requests++;
		if (tries)
			c->failovers++;
		rc = curl_easy_perform(c->h);
		if (rc != CURLE_OK) {
			snprintf(last, sizeof(last), "%s: %s", c->endpoints[ep],
				 c->curl_err[0] ? c->curl_err : curl_easy_strerror(rc));
			err = curl_errno(rc);
			if (try_next(rc))
				continue;
			break;
		}
		curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &http);
		ans = c->resp.len ? json_tokener_parse(c->resp.p) : NULL;
		if (!ans) {
			snprintf(last, sizeof(last), "%s: HTTP %ld, an answer that is not JSON", c->endpoints[ep], http);
			err = EPROTO;
			if (http >= 500)
				continue;
			break;
		}
		if (http == 200) {
			c->cur = ep;
			json_object_put(body);
			*reply = ans;
			return 0;
		}
		json_object_object_get_ex(ans, "code", &code);
		json_object_object_get_ex(ans, "message", &msg);
		snprintf(last, sizeof(last), "%s: %s", c->endpoints[ep], msg ? json_object_get_string(msg) : "error");
		err = json_object_get_int(code) == 5 ? ENOENT : EIO;
		if (member_unwell(http, json_object_get_int(code))) {
			json_object_put(ans);
			continue;
		}
		json_object_put(ans);
		break;
	}
	json_object_put(body);
	return ps_fail(error, err ?: EIO, "etcd %s: %s; check that the etcd members are up and reachable",
		       path, last);
}


/*
 * Unlike ps_etcd_post(), an endpoint that answered is kept even when the
 * stream then failed: what it sent was handed on already, and the caller
 * starts again from the last revision it saw rather than from another
 * member's answer to the same request.
 */
int ps_etcd_post_stream(struct ps_etcd *c, const char *path, const char *body, unsigned int max_ms,
			const struct ps_etcd_reader *r, const char **why)
{
	char url[512];
	CURLcode rc = CURLE_OK;

	for (size_t tries = 0; tries < c->n_ep; tries++) {
		size_t ep = (c->cur + tries) % c->n_ep;

		snprintf(url, sizeof(url), "%s%s", c->endpoints[ep], path);
		r->begin(r->ctx);
		curl_easy_setopt(c->h, CURLOPT_URL, url);
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, r->data);
		curl_easy_setopt(c->h, CURLOPT_WRITEDATA, r->ctx);
		curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, (long)max_ms);
		curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
		c->requests++;
		if (tries)
			c->failovers++;
		rc = curl_easy_perform(c->h);
		if (r->answered(r->ctx)) {
			c->cur = ep;
			break;
		}
		if (!try_next(rc))
			break;
	}
	*why = rc == CURLE_OK ? "the stream ended" : curl_easy_strerror(rc);
	return rc == CURLE_OK ? 0 : -curl_errno(rc);
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
