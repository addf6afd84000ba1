// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The watch stream of the etcd v3 JSON gateway (loader/fleet/etcd_watch.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "fleet/etcd.h"
#include "fleet/etcd_kv.h"
#include "fleet/etcd_watch.h"

struct watch_ctx {
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
	if (ps_etcd_json_i64(res, "compact_revision")) {
		w->compacted = true;
		return false;
	}
	w->revision = ps_etcd_header_revision(res);
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
			ps_etcd_kv_parse(kv, &ev[i].kv);
		else
			ev[i].kv.key = strdup(""), ev[i].kv.value = strdup("");
	}
	stop = w->fn(w->ctx, ev, n, w->revision);
	for (size_t i = 0; i < n; i++)
		ps_etcd_kv_free(&ev[i].kv);
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


/* A member that failed before the watch was set up left half a message: another starts afresh. */
static void on_watch_try(void *ud)
{
	struct watch_ctx *w = ud;

	json_tokener_reset(w->tok);
}

/* Once the watch was created, or the stream stopped it, the member answered: no other is asked. */
static bool watch_answered(void *ud)
{
	const struct watch_ctx *w = ud;

	return w->created || w->stop || w->compacted;
}

int ps_etcd_watch(struct ps_etcd *c, const char *key, bool prefix, const struct ps_etcd_watch_opts *o,
		  ps_etcd_watch_fn fn, void *ctx, struct ps_error *error)
{
	json_object *req = json_object_new_object(), *create = ps_etcd_range_request(key, prefix);
	struct watch_ctx w = { .fn = fn, .ctx = ctx };
	const struct ps_etcd_reader reader = {
		.begin = on_watch_try, .data = on_watch_data, .answered = watch_answered, .ctx = &w,
	};
	const char *why;
	int err;

	if (o->start_rev)
		json_object_object_add(create, "start_revision", json_object_new_int64(o->start_rev));
	if (o->progress_notify)
		json_object_object_add(create, "progress_notify", json_object_new_boolean(true));
	json_object_object_add(req, "create_request", create);
	w.tok = json_tokener_new();
	err = ps_etcd_post_stream(c, "/v3/watch", json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN),
				  o->max_ms, o->silence_ms, &reader, &why);
	json_tokener_free(w.tok);
	json_object_put(req);
	if (w.compacted)
		return ps_fail(error, ERANGE, "etcd watch of %s: revision %lld was compacted; read it again",
			       key, (long long)o->start_rev);
	if (w.by_fn || (w.created && err == -ETIMEDOUT))
		return 0;
	if (err == -ECANCELED)
		return ps_fail(error, ECANCELED, "etcd watch of %s: cancelled, the client is being closed", key);
	if (err == -ENODATA)
		return ps_fail(error, ENODATA, "etcd watch of %s: %s from %s, not even a progress notification; "
			       "watch again", key, why, ps_etcd_endpoint(c));
	return ps_fail(error, err ?: EPIPE, "etcd watch of %s: %s; watch again from the last revision seen", key,
		       why);
}
