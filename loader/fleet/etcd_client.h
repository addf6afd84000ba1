/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Internal to the etcd client (etcd.c: the client, etcd_http.c: its
 * requests over curl): the client's state. The files of the requests
 * (etcd_kv.c, etcd_lease.c, etcd_watch.c) do not see it.
 */
#ifndef PS_FLEET_ETCD_CLIENT_H
#define PS_FLEET_ETCD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#define MAX_ENDPOINTS 16

struct buf {
	char *p;
	size_t len, cap;
};

struct ps_etcd {
	CURL *h;
	/*
	 * Every transfer runs in this multi handle rather than in
	 * curl_easy_perform(): its poll is what ps_etcd_cancel() wakes from
	 * another thread (curl_multi_wakeup()), at once, where a progress
	 * callback would be called only about once a second on an idle stream.
	 * It also holds the connection cache, so connections are kept as before.
	 */
	CURLM *multi;
	bool cancelled;             /* atomic: set by ps_etcd_cancel(), never cleared */
	struct curl_slist *headers;
	char *endpoints[MAX_ENDPOINTS];
	size_t n_ep, cur;
	unsigned int timeout_ms, connect_timeout_ms;
	struct buf resp;
	uint64_t requests, failovers;
	char curl_err[CURL_ERROR_SIZE];
};

#endif
