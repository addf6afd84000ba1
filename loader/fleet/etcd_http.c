// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The etcd client's requests over curl (loader/fleet/etcd.h): one POST and
 * its failover, a stream and its deadlines, both ended at once by
 * ps_etcd_cancel(). The client itself: etcd.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "fleet/etcd.h"
#include "fleet/etcd_client.h"

/* One answer, whole, into c->resp. */
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

static bool cancelled(const struct ps_etcd *c)
{
	return __atomic_load_n(&c->cancelled, __ATOMIC_ACQUIRE);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- transfers ------------------------------------------------------------ */

/*
 * What a stream is watched for besides curl's own timeouts: an endpoint
 * that accepted the connection but does not answer (a hung member: its
 * kernel still completes the handshake and acknowledges, TCP keepalive
 * included), and an answered stream that then goes silent.
 */
struct stream {
	struct ps_etcd *c;
	const struct ps_etcd_reader *r;
	size_t ep;                  /* the endpoint tried */
	unsigned int answer_ms;     /* until r->answered() */
	unsigned int silence_ms;    /* then, between two writes of the answer (0: no limit) */
	uint64_t start_ms, last_data_ms;
	bool silent;                /* ended because of silence_ms */
};

static size_t on_stream_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct stream *s = ud;

	size_t used = s->r->data(ptr, size, nmemb, s->r->ctx);

	s->last_data_ms = mono_ms();
	/* Now rather than when the stream ends, minutes later: ps_etcd_endpoint() tells the truth meanwhile. */
	if (s->r->answered(s->r->ctx))
		s->c->cur = s->ep;
	return used;
}

/* CURLE_OK while @s may go on; *@wait_ms: how long until it must be checked again. */
static CURLcode stream_check(struct ps_etcd *c, struct stream *s, long *wait_ms)
{
	uint64_t now = mono_ms(), until;

	if (!s->r->answered(s->r->ctx)) {
		until = s->start_ms + s->answer_ms;
		if (now >= until) {
			snprintf(c->curl_err, sizeof(c->curl_err), "no answer within %u ms", s->answer_ms);
			return CURLE_OPERATION_TIMEDOUT;
		}
	} else if (s->silence_ms) {
		until = (s->last_data_ms > s->start_ms ? s->last_data_ms : s->start_ms) + s->silence_ms;
		if (now >= until) {
			snprintf(c->curl_err, sizeof(c->curl_err), "nothing came for %u ms", s->silence_ms);
			s->silent = true;
			return CURLE_OPERATION_TIMEDOUT;
		}
	} else {
		return CURLE_OK;
	}
	if ((long)(until - now) < *wait_ms)
		*wait_ms = (long)(until - now);
	return CURLE_OK;
}

/* How the transfer on c->h that curl finished ended. */
static CURLcode transfer_result(struct ps_etcd *c)
{
	CURLcode rc = CURLE_GOT_NOTHING;
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(c->multi, &left)))
		if (m->msg == CURLMSG_DONE && m->easy_handle == c->h)
			rc = m->data.result;
	return rc;
}

/*
 * The transfer set up on c->h, to its end (as curl_easy_perform() would),
 * unless the client is cancelled (CURLE_ABORTED_BY_CALLBACK) or @s, a
 * stream, misses one of its deadlines (CURLE_OPERATION_TIMEDOUT). Ending a
 * transfer early closes its connection.
 */
static CURLcode perform(struct ps_etcd *c, struct stream *s)
{
	CURLcode rc = CURLE_OK;
	int running = 1;

	if (curl_multi_add_handle(c->multi, c->h) != CURLM_OK)
		return CURLE_OUT_OF_MEMORY;
	for (;;) {
		/* Without a stream, curl's own timeouts end the wait: this is only an upper bound. */
		long wait_ms = 1000;

		if (cancelled(c)) {
			snprintf(c->curl_err, sizeof(c->curl_err), "cancelled");
			rc = CURLE_ABORTED_BY_CALLBACK;
			break;
		}
		if (curl_multi_perform(c->multi, &running) != CURLM_OK) {
			rc = CURLE_OUT_OF_MEMORY;
			break;
		}
		if (!running) {
			rc = transfer_result(c);
			break;
		}
		if (s && (rc = stream_check(c, s, &wait_ms)) != CURLE_OK)
			break;
		if (curl_multi_poll(c->multi, NULL, 0, (int)wait_ms, NULL) != CURLM_OK) {
			rc = CURLE_OUT_OF_MEMORY;
			break;
		}
	}
	curl_multi_remove_handle(c->multi, c->h);
	return rc;
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
	case CURLE_ABORTED_BY_CALLBACK:
		return ECANCELED;
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
	/* As if cancelled when the client was before this request: nothing is sent then. */
	CURLcode rc = CURLE_ABORTED_BY_CALLBACK;
	int err = 0;

	*reply = NULL;
	for (size_t tries = 0; !cancelled(c) && tries < c->n_ep; tries++) {
		size_t ep = (c->cur + tries) % c->n_ep;
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
		rc = perform(c, NULL);
		if (rc == CURLE_ABORTED_BY_CALLBACK)
			break;
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
	/* Not a member's failure: the caller is stopping and counts nothing. */
	if (rc == CURLE_ABORTED_BY_CALLBACK)
		return ps_fail(error, ECANCELED, "etcd %s: cancelled, the client is being closed", path);
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
			unsigned int silence_ms, const struct ps_etcd_reader *r, const char **why)
{
	struct stream s = { .c = c, .r = r, .answer_ms = c->timeout_ms, .silence_ms = silence_ms };
	char url[512];
	CURLcode rc = CURLE_ABORTED_BY_CALLBACK; /* see ps_etcd_post() */

	for (size_t tries = 0; !cancelled(c) && tries < c->n_ep; tries++) {
		size_t ep = (c->cur + tries) % c->n_ep;

		snprintf(url, sizeof(url), "%s%s", c->endpoints[ep], path);
		r->begin(r->ctx);
		c->curl_err[0] = '\0';
		curl_easy_setopt(c->h, CURLOPT_URL, url);
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_stream_data);
		curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &s);
		curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, (long)max_ms);
		curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
		c->requests++;
		if (tries)
			c->failovers++;
		s.ep = ep;
		s.start_ms = mono_ms();
		s.last_data_ms = 0;
		s.silent = false;
		rc = perform(c, &s);
		if (r->answered(r->ctx) || !try_next(rc))
			break;
	}
	if (rc == CURLE_OK) {
		*why = "the stream ended";
		return 0;
	}
	if (rc == CURLE_ABORTED_BY_CALLBACK) {
		*why = "cancelled";
		return -ECANCELED;
	}
	*why = c->curl_err[0] ? c->curl_err : curl_easy_strerror(rc);
	return s.silent ? -ENODATA : -curl_errno(rc);
}
