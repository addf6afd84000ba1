// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The etcd v3 JSON gateway over libcurl (loader/fleet/etcd.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* ---- base64 (keys and values on the gateway) ---------------------------- */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const char *in, size_t len)
{
	const unsigned char *s = (const unsigned char *)in;
	char *out = malloc(4 * ((len + 2) / 3) + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = s[i] << 16 | (i + 1 < len ? s[i + 1] << 8 : 0) | (i + 2 < len ? s[i + 2] : 0);

		*o++ = b64chars[v >> 18 & 63];
		*o++ = b64chars[v >> 12 & 63];
		*o++ = i + 1 < len ? b64chars[v >> 6 & 63] : '=';
		*o++ = i + 2 < len ? b64chars[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static int b64_val(char ch)
{
	const char *p = ch ? strchr(b64chars, ch) : NULL;

	return p ? (int)(p - b64chars) : -1;
}

/* NULL when @in is not base64. */
static char *b64_decode(const char *in, size_t *len)
{
	size_t n = strlen(in);
	char *out = malloc(n / 4 * 3 + 1);
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n && in[i] != '='; i++) {
		int v = b64_val(in[i]);

		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = acc << 6 | v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = acc >> bits & 0xff;
		}
	}
	out[o] = '\0';
	if (len)
		*len = o;
	return out;
}

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

/*
 * POSTs @body (taken) to @path, on the current endpoint and then the
 * others; *@reply the answer's JSON (put it).
 */
static int request(struct ps_etcd *c, const char *path, json_object *body, json_object **reply,
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

/* ---- JSON helpers -------------------------------------------------------- */

static int64_t get_i64(json_object *o, const char *name)
{
	json_object *v;

	return json_object_object_get_ex(o, name, &v) ? json_object_get_int64(v) : 0;
}

static void add_b64(json_object *o, const char *name, const char *s)
{
	char *e = b64_encode(s, strlen(s));

	json_object_object_add(o, name, json_object_new_string(e ?: ""));
	free(e);
}

/* The key one past every key that starts with @key: a prefix's range_end. */
static void add_prefix_end(json_object *o, const char *key)
{
	size_t n = strlen(key);
	char *end = strdup(key);

	while (n && (unsigned char)end[n - 1] == 0xff)
		n--;
	if (n) {
		end[n - 1]++;
		end[n] = '\0';
		add_b64(o, "range_end", end);
	} else {
		json_object_object_add(o, "range_end", json_object_new_string("AA=="));
	}
	free(end);
}

static char *dup_b64(json_object *o, const char *name, size_t *len)
{
	json_object *v;
	char *s = json_object_object_get_ex(o, name, &v) ? b64_decode(json_object_get_string(v), len) : NULL;

	if (!s) {
		s = strdup("");
		if (len)
			*len = 0;
	}
	return s;
}

static void parse_kv(json_object *o, struct ps_etcd_kv *kv)
{
	kv->key = dup_b64(o, "key", NULL);
	kv->value = dup_b64(o, "value", &kv->value_len);
	kv->create_revision = get_i64(o, "create_revision");
	kv->mod_revision = get_i64(o, "mod_revision");
	kv->version = get_i64(o, "version");
	kv->lease = get_i64(o, "lease");
}

static void kv_free(struct ps_etcd_kv *kv)
{
	free(kv->key);
	free(kv->value);
}

static int parse_kvs(json_object *o, struct ps_etcd_kvs *out)
{
	json_object *kvs, *hdr, *more;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (json_object_object_get_ex(o, "header", &hdr))
		out->revision = get_i64(hdr, "revision");
	out->more = json_object_object_get_ex(o, "more", &more) && json_object_get_boolean(more);
	out->count = get_i64(o, "count");
	if (!json_object_object_get_ex(o, "kvs", &kvs))
		return 0;
	n = json_object_array_length(kvs);
	out->kv = calloc(n ?: 1, sizeof(*out->kv));
	if (!out->kv)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		parse_kv(json_object_array_get_idx(kvs, i), &out->kv[i]);
	out->n = n;
	return 0;
}

void ps_etcd_kvs_free(struct ps_etcd_kvs *r)
{
	for (size_t i = 0; i < r->n; i++)
		kv_free(&r->kv[i]);
	free(r->kv);
	memset(r, 0, sizeof(*r));
}

static int64_t header_revision(json_object *o)
{
	json_object *hdr;

	return json_object_object_get_ex(o, "header", &hdr) ? get_i64(hdr, "revision") : 0;
}

/* ---- KV ------------------------------------------------------------------ */

static json_object *range_request(const char *key, bool prefix)
{
	json_object *req = json_object_new_object();

	add_b64(req, "key", key);
	if (prefix)
		add_prefix_end(req, key);
	return req;
}

static json_object *put_request(const char *key, const char *value, int64_t lease)
{
	json_object *req = json_object_new_object();

	add_b64(req, "key", key);
	add_b64(req, "value", value ?: "");
	if (lease)
		json_object_object_add(req, "lease", json_object_new_int64(lease));
	return req;
}

int ps_etcd_range(struct ps_etcd *c, const char *key, unsigned int flags, struct ps_etcd_kvs *out,
		  struct ps_error *error)
{
	json_object *req = range_request(key, flags & PS_ETCD_PREFIX), *ans;
	int err;

	if (flags & PS_ETCD_KEYS_ONLY)
		json_object_object_add(req, "keys_only", json_object_new_boolean(1));
	if (flags & PS_ETCD_COUNT_ONLY)
		json_object_object_add(req, "count_only", json_object_new_boolean(1));
	memset(out, 0, sizeof(*out));
	err = request(c, "/v3/kv/range", req, &ans, error);
	if (err)
		return err;
	err = parse_kvs(ans, out);
	json_object_put(ans);
	return err ? ps_fail(error, ENOMEM, "etcd: out of memory reading %s", key) : 0;
}

int ps_etcd_put(struct ps_etcd *c, const char *key, const char *value, int64_t lease, int64_t *revision,
		struct ps_error *error)
{
	json_object *ans;
	int err = request(c, "/v3/kv/put", put_request(key, value, lease), &ans, error);

	if (err)
		return err;
	if (revision)
		*revision = header_revision(ans);
	json_object_put(ans);
	return 0;
}

int ps_etcd_delete(struct ps_etcd *c, const char *key, bool prefix, int64_t *deleted, struct ps_error *error)
{
	json_object *ans;
	int err = request(c, "/v3/kv/deleterange", range_request(key, prefix), &ans, error);

	if (err)
		return err;
	if (deleted)
		*deleted = get_i64(ans, "deleted");
	json_object_put(ans);
	return 0;
}

static const char *const target_names[] = {
	[PS_ETCD_CREATE] = "CREATE", [PS_ETCD_MOD] = "MOD", [PS_ETCD_VERSION] = "VERSION",
	[PS_ETCD_VALUE] = "VALUE", [PS_ETCD_LEASE] = "LEASE",
};
static const char *const target_fields[] = {
	[PS_ETCD_CREATE] = "create_revision", [PS_ETCD_MOD] = "mod_revision", [PS_ETCD_VERSION] = "version",
	[PS_ETCD_VALUE] = "value", [PS_ETCD_LEASE] = "lease",
};
static const char *const result_names[] = {
	[PS_ETCD_EQUAL] = "EQUAL", [PS_ETCD_NOT_EQUAL] = "NOT_EQUAL",
	[PS_ETCD_GREATER] = "GREATER", [PS_ETCD_LESS] = "LESS",
};

static json_object *ops_json(const struct ps_etcd_op *ops, size_t n)
{
	json_object *arr = json_object_new_array();

	for (size_t i = 0; i < n; i++) {
		const struct ps_etcd_op *op = &ops[i];
		json_object *o = json_object_new_object();

		switch (op->type) {
		case PS_ETCD_OP_PUT:
			json_object_object_add(o, "request_put", put_request(op->key, op->value, op->lease));
			break;
		case PS_ETCD_OP_DELETE:
			json_object_object_add(o, "request_delete_range", range_request(op->key, op->prefix));
			break;
		case PS_ETCD_OP_RANGE:
			json_object_object_add(o, "request_range", range_request(op->key, op->prefix));
			break;
		}
		json_object_array_add(arr, o);
	}
	return arr;
}

void ps_etcd_txn_result_free(struct ps_etcd_txn_result *r)
{
	for (size_t i = 0; i < r->n_ranges; i++)
		ps_etcd_kvs_free(&r->ranges[i]);
	r->n_ranges = 0;
}

int ps_etcd_txn(struct ps_etcd *c, const struct ps_etcd_txn *t, struct ps_etcd_txn_result *out,
		struct ps_error *error)
{
	json_object *req = json_object_new_object(), *cmps = json_object_new_array(), *ans, *v, *resps;
	struct ps_etcd_txn_result local;
	int err;

	for (size_t i = 0; i < t->n_cmp; i++) {
		const struct ps_etcd_cmp *cm = &t->cmp[i];
		json_object *o = json_object_new_object();

		add_b64(o, "key", cm->key);
		json_object_object_add(o, "target", json_object_new_string(target_names[cm->target]));
		json_object_object_add(o, "result", json_object_new_string(result_names[cm->result]));
		if (cm->target == PS_ETCD_VALUE)
			add_b64(o, "value", cm->value ?: "");
		else
			json_object_object_add(o, target_fields[cm->target], json_object_new_int64(cm->number));
		json_object_array_add(cmps, o);
	}
	json_object_object_add(req, "compare", cmps);
	json_object_object_add(req, "success", ops_json(t->success, t->n_success));
	json_object_object_add(req, "failure", ops_json(t->failure, t->n_failure));
	err = request(c, "/v3/kv/txn", req, &ans, error);
	if (err)
		return err;
	if (!out)
		out = &local;
	memset(out, 0, sizeof(*out));
	out->succeeded = json_object_object_get_ex(ans, "succeeded", &v) && json_object_get_boolean(v);
	out->revision = header_revision(ans);
	if (json_object_object_get_ex(ans, "responses", &resps)) {
		for (size_t i = 0; i < json_object_array_length(resps); i++) {
			json_object *r = json_object_array_get_idx(resps, i), *rr;

			if (!json_object_object_get_ex(r, "response_range", &rr) ||
			    out->n_ranges == sizeof(out->ranges) / sizeof(out->ranges[0]))
				continue;
			parse_kvs(rr, &out->ranges[out->n_ranges++]);
		}
	}
	json_object_put(ans);
	if (out == &local)
		ps_etcd_txn_result_free(&local);
	return 0;
}

/* ---- leases -------------------------------------------------------------- */

static json_object *id_request(int64_t id)
{
	json_object *req = json_object_new_object();

	json_object_object_add(req, "ID", json_object_new_int64(id));
	return req;
}

int ps_etcd_lease_grant(struct ps_etcd *c, int64_t ttl, int64_t *id, int64_t *granted_ttl, struct ps_error *error)
{
	json_object *req = json_object_new_object(), *ans;
	int err;

	json_object_object_add(req, "TTL", json_object_new_int64(ttl));
	err = request(c, "/v3/lease/grant", req, &ans, error);
	if (err)
		return err;
	*id = get_i64(ans, "ID");
	if (granted_ttl)
		*granted_ttl = get_i64(ans, "TTL");
	json_object_put(ans);
	if (!*id)
		return ps_fail(error, EPROTO, "etcd /v3/lease/grant: no lease in the answer");
	return 0;
}

int ps_etcd_lease_keepalive(struct ps_etcd *c, int64_t id, int64_t *ttl, struct ps_error *error)
{
	json_object *ans, *result;
	int64_t left;
	int err = request(c, "/v3/lease/keepalive", id_request(id), &ans, error);

	if (err)
		return err;
	/*
	 * A stream of one: {"result": {"ID", "TTL"}}, no TTL when the lease is
	 * gone; a failure inside the stream comes with HTTP 200 as {"error": ...}
	 * (a follower that could not reach the leader): not a lost lease.
	 */
	if (!json_object_object_get_ex(ans, "result", &result)) {
		json_object *msg = NULL, *e;

		if (json_object_object_get_ex(ans, "error", &e))
			json_object_object_get_ex(e, "message", &msg);
		err = ps_fail(error, EIO, "etcd /v3/lease/keepalive: %s; the lease may still be alive, try again",
			      msg ? json_object_get_string(msg) : json_object_to_json_string(ans));
		json_object_put(ans);
		return err;
	}
	left = get_i64(result, "TTL");
	json_object_put(ans);
	if (ttl)
		*ttl = left;
	if (left <= 0)
		return ps_fail(error, ENOENT, "etcd: lease %llx has expired; its keys are gone",
			       (unsigned long long)id);
	return 0;
}

int ps_etcd_lease_revoke(struct ps_etcd *c, int64_t id, struct ps_error *error)
{
	json_object *ans;
	int err = request(c, "/v3/lease/revoke", id_request(id), &ans, error);

	if (!err)
		json_object_put(ans);
	return err;
}

int ps_etcd_lease_ttl(struct ps_etcd *c, int64_t id, int64_t *ttl, int64_t *granted, struct ps_error *error)
{
	json_object *ans;
	int err = request(c, "/v3/lease/timetolive", id_request(id), &ans, error);

	if (err)
		return err;
	*ttl = get_i64(ans, "TTL");
	if (granted)
		*granted = get_i64(ans, "grantedTTL");
	json_object_put(ans);
	return 0;
}

/* ---- watch --------------------------------------------------------------- */

struct watch_ctx {
	struct buf pending;
	json_tokener *tok;
	ps_etcd_watch_fn fn;
	void *ctx;
	bool created, stop, by_fn, compacted;
	int64_t revision;
};

/* One {"result": WatchResponse} of the stream: false to stop. */
static bool watch_message(struct watch_ctx *w, json_object *msg)
{
	json_object *res, *evs, *v;
	struct ps_etcd_event *ev;
	size_t n;
	bool stop;

	if (!json_object_object_get_ex(msg, "result", &res))
		return false;
	if (get_i64(res, "compact_revision")) {
		w->compacted = true;
		return false;
	}
	w->revision = header_revision(res);
	if (json_object_object_get_ex(res, "created", &v) && json_object_get_boolean(v))
		w->created = true;
	if (json_object_object_get_ex(res, "canceled", &v) && json_object_get_boolean(v))
		return false;
	n = json_object_object_get_ex(res, "events", &evs) ? json_object_array_length(evs) : 0;
	ev = calloc(n ?: 1, sizeof(*ev));
	if (!ev)
		return false;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(evs, i), *t, *kv;

		ev[i].type = json_object_object_get_ex(e, "type", &t) && !strcmp(json_object_get_string(t), "DELETE")
				     ? PS_ETCD_EV_DELETE : PS_ETCD_EV_PUT;
		if (json_object_object_get_ex(e, "kv", &kv))
			parse_kv(kv, &ev[i].kv);
		else
			ev[i].kv.key = strdup(""), ev[i].kv.value = strdup("");
	}
	stop = w->fn(w->ctx, ev, n, w->revision);
	for (size_t i = 0; i < n; i++)
		kv_free(&ev[i].kv);
	free(ev);
	w->by_fn = stop;
	return !stop;
}

static size_t on_watch_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct watch_ctx *w = ud;
	size_t n = size * nmemb, off = 0;

	while (off < n) {
		json_object *msg = json_tokener_parse_ex(w->tok, ptr + off, (int)(n - off));
		enum json_tokener_error jerr = json_tokener_get_error(w->tok);
		size_t used = json_tokener_get_parse_end(w->tok);

		if (jerr == json_tokener_continue)
			return n;
		if (!msg) {
			w->stop = true;
			return 0;
		}
		off += used;
		json_tokener_reset(w->tok);
		if (!watch_message(w, msg)) {
			json_object_put(msg);
			w->stop = true;
			return 0;
		}
		json_object_put(msg);
		while (off < n && (ptr[off] == '\n' || ptr[off] == '\r' || ptr[off] == ' '))
			off++;
	}
	return n;
}

int ps_etcd_watch(struct ps_etcd *c, const char *key, bool prefix, int64_t start_rev, unsigned int max_ms,
		  ps_etcd_watch_fn fn, void *ctx, struct ps_error *error)
{
	json_object *req = json_object_new_object(), *create = range_request(key, prefix);
	struct watch_ctx w = { .fn = fn, .ctx = ctx };
	char url[512];
	CURLcode rc = CURLE_OK;
	int err = 0;

	if (start_rev)
		json_object_object_add(create, "start_revision", json_object_new_int64(start_rev));
	json_object_object_add(req, "create_request", create);
	w.tok = json_tokener_new();
	for (size_t tries = 0; tries < c->n_ep; tries++) {
		size_t ep = (c->cur + tries) % c->n_ep;

		snprintf(url, sizeof(url), "%s/v3/watch", c->endpoints[ep]);
		json_tokener_reset(w.tok);
		curl_easy_setopt(c->h, CURLOPT_URL, url);
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN));
		curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_watch_data);
		curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &w);
		curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, (long)max_ms);
		curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
		c->requests++;
		if (tries)
			c->failovers++;
		rc = curl_easy_perform(c->h);
		if (w.created || w.stop || w.compacted) {
			c->cur = ep;
			break;
		}
		if (!try_next(rc))
			break;
	}
	json_tokener_free(w.tok);
	json_object_put(req);
	if (w.compacted)
		return ps_fail(error, ERANGE, "etcd watch of %s: revision %lld was compacted; read it again",
			       key, (long long)start_rev);
	if (w.by_fn || (w.created && rc == CURLE_OPERATION_TIMEDOUT))
		return 0;
	err = rc == CURLE_OK ? EPIPE : curl_errno(rc);
	return ps_fail(error, err, "etcd watch of %s: %s; watch again from the last revision seen", key,
		       rc == CURLE_OK ? "the stream ended" : curl_easy_strerror(rc));
}

int ps_etcd_status(struct ps_etcd *c, struct ps_etcd_status *st, struct ps_error *error)
{
	json_object *ans, *hdr, *v;
	int err = request(c, "/v3/maintenance/status", json_object_new_object(), &ans, error);

	if (err)
		return err;
	memset(st, 0, sizeof(*st));
	if (json_object_object_get_ex(ans, "version", &v))
		snprintf(st->version, sizeof(st->version), "%s", json_object_get_string(v));
	st->db_size = get_i64(ans, "dbSize");
	st->db_size_in_use = get_i64(ans, "dbSizeInUse");
	st->raft_term = get_i64(ans, "raftTerm");
	st->raft_index = get_i64(ans, "raftIndex");
	if (json_object_object_get_ex(ans, "leader", &v))
		st->leader = json_object_get_uint64(v);
	if (json_object_object_get_ex(ans, "header", &hdr) && json_object_object_get_ex(hdr, "member_id", &v))
		st->member_id = json_object_get_uint64(v);
	json_object_put(ans);
	return 0;
}
