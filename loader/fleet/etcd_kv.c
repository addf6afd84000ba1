// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Keys, values and transactions on the etcd v3 JSON gateway (loader/fleet/etcd_kv.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "fleet/etcd.h"
#include "fleet/etcd_kv.h"

/* ---- base64 (keys and values on the gateway) ----------------------------- */

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

/* ---- keys and values as JSON --------------------------------------------- */

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

void ps_etcd_kv_parse(json_object *o, struct ps_etcd_kv *kv)
{
	kv->key = dup_b64(o, "key", NULL);
	kv->value = dup_b64(o, "value", &kv->value_len);
	kv->create_revision = ps_etcd_json_i64(o, "create_revision");
	kv->mod_revision = ps_etcd_json_i64(o, "mod_revision");
	kv->version = ps_etcd_json_i64(o, "version");
	kv->lease = ps_etcd_json_i64(o, "lease");
}

void ps_etcd_kv_free(struct ps_etcd_kv *kv)
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
		out->revision = ps_etcd_json_i64(hdr, "revision");
	out->more = json_object_object_get_ex(o, "more", &more) && json_object_get_boolean(more);
	out->count = ps_etcd_json_i64(o, "count");
	if (!json_object_object_get_ex(o, "kvs", &kvs))
		return 0;
	n = json_object_array_length(kvs);
	out->kv = calloc(n ?: 1, sizeof(*out->kv));
	if (!out->kv)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		ps_etcd_kv_parse(json_object_array_get_idx(kvs, i), &out->kv[i]);
	out->n = n;
	return 0;
}

void ps_etcd_kvs_free(struct ps_etcd_kvs *r)
{
	for (size_t i = 0; i < r->n; i++)
		ps_etcd_kv_free(&r->kv[i]);
	free(r->kv);
	memset(r, 0, sizeof(*r));
}

/* ---- requests ------------------------------------------------------------ */

json_object *ps_etcd_range_request(const char *key, bool prefix)
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
	json_object *req = ps_etcd_range_request(key, flags & PS_ETCD_PREFIX), *ans;
	int err;

	if (flags & PS_ETCD_KEYS_ONLY)
		json_object_object_add(req, "keys_only", json_object_new_boolean(1));
	if (flags & PS_ETCD_COUNT_ONLY)
		json_object_object_add(req, "count_only", json_object_new_boolean(1));
	memset(out, 0, sizeof(*out));
	err = ps_etcd_post(c, "/v3/kv/range", req, &ans, error);
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
	int err = ps_etcd_post(c, "/v3/kv/put", put_request(key, value, lease), &ans, error);

	if (err)
		return err;
	if (revision)
		*revision = ps_etcd_header_revision(ans);
	json_object_put(ans);
	return 0;
}

int ps_etcd_delete(struct ps_etcd *c, const char *key, bool prefix, int64_t *deleted, struct ps_error *error)
{
	json_object *ans;
	int err = ps_etcd_post(c, "/v3/kv/deleterange", ps_etcd_range_request(key, prefix), &ans, error);

	if (err)
		return err;
	if (deleted)
		*deleted = ps_etcd_json_i64(ans, "deleted");
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
			json_object_object_add(o, "request_delete_range", ps_etcd_range_request(op->key, op->prefix));
			break;
		case PS_ETCD_OP_RANGE:
			json_object_object_add(o, "request_range", ps_etcd_range_request(op->key, op->prefix));
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
	err = ps_etcd_post(c, "/v3/kv/txn", req, &ans, error);
	if (err)
		return err;
	if (!out)
		out = &local;
	memset(out, 0, sizeof(*out));
	out->succeeded = json_object_object_get_ex(ans, "succeeded", &v) && json_object_get_boolean(v);
	out->revision = ps_etcd_header_revision(ans);
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
