/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A fake etcd member on 127.0.0.1 (an ephemeral port), for what a real one
 * cannot be made to do on cue, served by a thread of its own:
 *
 *   FAKE_HUNG    accepts connections and never answers: a stopped process,
 *                whose kernel still completes the handshake;
 *   FAKE_QUIET   answers a range with an empty table at revision 7 and a
 *                watch with "created", then says nothing more: a quiet key
 *                on a member that sends no progress notifications.
 *
 * Used by the unit tests (tests/unit/test_lease_watch.c).
 */
#ifndef PS_TESTS_FAKE_ETCD_H
#define PS_TESTS_FAKE_ETCD_H

#include <poll.h>
#include <pthread.h>
#include <stdbool.h>

enum fake_etcd_kind { FAKE_HUNG, FAKE_QUIET };

#define FAKE_ETCD_MAX_CONNS 8

struct fake_etcd {
	char url[64];               /* http://127.0.0.1:PORT, for ps_etcd_opts.endpoints */
	enum fake_etcd_kind kind;
	bool stop;                  /* atomic */
	struct pollfd fds[1 + FAKE_ETCD_MAX_CONNS]; /* the listener, then connections */
	nfds_t n;
	pthread_t thread;
};

/* 0, or -errno (reported on stderr). */
int fake_etcd_start(struct fake_etcd *f, enum fake_etcd_kind kind);
/* Ends the thread and closes every connection. */
void fake_etcd_stop(struct fake_etcd *f);

#endif
