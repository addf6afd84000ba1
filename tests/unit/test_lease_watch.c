// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of steering from the watch that need no etcd: the owner
 * writes of loader/steer/owners.c on a map shaped like ps_steer_owner, and
 * the follower's (loader/agent/lease_watch.c) checks, its failures against
 * an endpoint nobody listens on, and how fast it stops; the etcd client's
 * cancel hook and stream deadlines (loader/fleet/etcd.c) against fake
 * members on loopback that hang or fall quiet on cue. The follower
 * against a real cluster: tests/fleet/test_lease_steer.sh. Needs root
 * (a BPF map).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/types.h>
#include <bpf/bpf.h>
#include <cmocka.h>

#include "fake_etcd.h"
#include "steer.h"
#include "agent/lease_watch.h"
#include "steer/owners.h"

static int owner_map(void)
{
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t_owner", 4, 4, PS_STEER_OWNER_ENTRIES, NULL);

	assert_true(fd >= 0);
	return fd;
}

static __u32 owner(int fd, __u32 slot, __u32 port)
{
	__u32 key = PS_STEER_OWNER_INDEX(slot, port), v = 0xdead;

	assert_int_equal(bpf_map_lookup_elem(fd, &key, &v), 0);
	return v;
}

static void test_owner_set(void **state)
{
	struct ps_error e = { 0 };
	int fd = owner_map();

	assert_int_equal(ps_steer_owner_set(fd, 3, 20032, 20063, 7, &e), 0);
	assert_int_equal(owner(fd, 3, 20031), 0);
	assert_int_equal(owner(fd, 3, 20032), 7);
	assert_int_equal(owner(fd, 3, 20063), 7);
	assert_int_equal(owner(fd, 3, 20064), 0);
	/* Another slot's same ports are untouched. */
	assert_int_equal(owner(fd, 2, 20032), 0);
	assert_int_equal(owner(fd, 4, 20032), 0);
	/* More than one batch (4096 a batch): the whole port space of a slot, to its last port. */
	assert_int_equal(ps_steer_owner_set(fd, 31, 0, 65535, 9, &e), 0);
	assert_int_equal(owner(fd, 31, 0), 9);
	assert_int_equal(owner(fd, 31, 4095), 9);
	assert_int_equal(owner(fd, 31, 4096), 9);
	assert_int_equal(owner(fd, 31, 65535), 9);
	assert_int_equal(ps_steer_owner_set(fd, 31, 4000, 4200, 0, &e), 0);
	assert_int_equal(owner(fd, 31, 3999), 9);
	assert_int_equal(owner(fd, 31, 4000), 0);
	assert_int_equal(owner(fd, 31, 4200), 0);
	assert_int_equal(owner(fd, 31, 4201), 9);
	assert_false(ps_failed(&e));
	close(fd);
}

static void test_owner_write(void **state)
{
	static __u32 vals[10000];
	struct ps_error e = { 0 };
	int fd = owner_map();

	for (__u32 i = 0; i < 10000; i++)
		vals[i] = i % 7;
	assert_int_equal(ps_steer_owner_write(fd, 1, 30000, vals, 10000, &e), 0);
	assert_int_equal(owner(fd, 1, 29999), 0);
	for (__u32 i = 0; i < 10000; i += 97)
		assert_int_equal(owner(fd, 1, 30000 + i), i % 7);
	assert_int_equal(owner(fd, 1, 39999), 9999 % 7);
	assert_int_equal(owner(fd, 1, 40000), 0);
	close(fd);
}

static void test_owner_refused(void **state)
{
	struct ps_error e = { 0 };
	int fd = owner_map();

	assert_int_equal(ps_steer_owner_set(fd, PS_MAX_POOLS, 0, 1, 1, &e), -ERANGE);
	assert_non_null(strstr(e.msg, "outside ps_steer_owner"));
	ps_error_clear(&e);
	assert_int_equal(ps_steer_owner_set(fd, 0, 65535, 65536, 1, &e), -ERANGE);
	ps_error_clear(&e);
	assert_int_equal(ps_steer_owner_set(fd, 0, 10, 9, 1, &e), -EINVAL);
	ps_error_clear(&e);
	close(fd);
	/* A closed map: the batch and the fallback both fail, with the errno. */
	assert_int_equal(ps_steer_owner_set(fd, 0, 10, 20, 1, &e), -EBADF);
	assert_non_null(strstr(e.msg, "ports 10-20 of pool slot 0"));
}

static unsigned int no_hosts(void *ctx, const char *name)
{
	return 0;
}

static const struct ps_etcd_opts nobody = { .endpoints = "http://127.0.0.1:1", .timeout_ms = 200 };

static int try_start(const struct ps_lease_watch_pool *pools, size_t n, int fd, char *msg, size_t len)
{
	struct ps_lease_watch_opts o = { .etcd = &nobody, .prefix = "/t", .owner_fd = fd, .pools = pools,
					 .n_pools = n, .host_id = no_hosts };
	struct ps_error e = { 0 };
	struct ps_lease_watch *w;
	int err = ps_lease_watch_start(&w, &o, &e);

	snprintf(msg, len, "%s", e.msg);
	ps_lease_watch_stop(w);
	return err;
}

static void test_watch_refuses(void **state)
{
	struct ps_lease_watch_pool p[2] = {
		{ .name = "web", .slot = 0, .port_lo = 20000, .block_size = 32, .n_blocks = 8 },
		{ .name = "api", .slot = 1, .port_lo = 20000, .block_size = 32, .n_blocks = 8 },
	};
	char msg[1024];
	int fd = owner_map();

	p[1].n_blocks = 2048; /* 20000 + 65536 ports */
	assert_int_equal(try_start(p, 2, fd, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "pool api"));
	p[1].n_blocks = 8;
	p[1].slot = 0;
	assert_int_equal(try_start(p, 2, fd, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "the same name or slot"));
	p[1].slot = PS_MAX_POOLS;
	assert_int_equal(try_start(p, 2, fd, msg, sizeof(msg)), -EINVAL);
	p[1].slot = 1;
	p[1].name = "a/b";
	assert_int_equal(try_start(p, 2, fd, msg, sizeof(msg)), -EINVAL);
	p[1].name = "api";
	p[1].block_size = 0;
	assert_int_equal(try_start(p, 2, fd, msg, sizeof(msg)), -EINVAL);
	assert_int_equal(try_start(p, 1, -1, msg, sizeof(msg)), -EINVAL);
	close(fd);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Nobody listens: it fails, backs off, counts, writes nothing, and stops at once. */
static void test_watch_unreachable(void **state)
{
	struct ps_lease_watch_pool p = { .name = "web", .slot = 2, .port_lo = 20000, .block_size = 32, .n_blocks = 8 };
	struct ps_lease_watch_opts o = { .etcd = &nobody, .prefix = "/t", .pools = &p, .n_pools = 1,
					 .host_id = no_hosts, .backoff_max_ms = 400 };
	struct ps_lease_watch_stats st;
	struct ps_error e = { 0 };
	struct ps_lease_watch *w;
	uint64_t t0;
	int fd = owner_map();

	o.owner_fd = fd;
	assert_int_equal(ps_steer_owner_set(fd, 2, 20000, 20255, 5, &e), 0);
	assert_int_equal(ps_lease_watch_start(&w, &o, &e), 0);
	/* The follower has its own fd. */
	close(fd);
	usleep(800 * 1000);
	ps_lease_watch_stats(w, &st);
	assert_true(st.errors >= 2);
	assert_int_equal(st.snapshots, 0);
	assert_false(st.connected);
	assert_string_equal(st.endpoint, "http://127.0.0.1:1");
	/* Nothing read yet: nothing to write again. */
	assert_int_equal(ps_lease_watch_reapply(w, &e), 0);
	t0 = mono_ms();
	ps_lease_watch_stop(w);
	assert_true(mono_ms() - t0 < 300);
}

struct status_call {
	struct ps_etcd *c;
	struct ps_etcd_status st;
	struct ps_error e;
	int err;
};

static void *status_thread(void *arg)
{
	struct status_call *s = arg;

	s->err = ps_etcd_status(s->c, &s->st, &s->e);
	return NULL;
}

/* A request to a hung member, cancelled from another thread: it ends at once, as no member's failure. */
static void test_cancel_from_another_thread(void **state)
{
	struct fake_etcd hung, hung2;
	struct status_call s = { 0 };
	struct ps_etcd_opts o = { .timeout_ms = 10000 };
	char endpoints[160];
	pthread_t t;
	uint64_t t0, requests;

	assert_int_equal(fake_etcd_start(&hung, FAKE_HUNG), 0);
	assert_int_equal(fake_etcd_start(&hung2, FAKE_HUNG), 0);
	snprintf(endpoints, sizeof(endpoints), "%s,%s", hung.url, hung2.url);
	o.endpoints = endpoints;
	assert_int_equal(ps_etcd_open(&s.c, &o, &s.e), 0);
	assert_int_equal(pthread_create(&t, NULL, status_thread, &s), 0);
	usleep(300 * 1000);
	t0 = mono_ms();
	ps_etcd_cancel(s.c);
	pthread_join(t, NULL);
	printf("a request to a hung member (timeout 10 s) ended %llu ms after ps_etcd_cancel()\n",
	       (unsigned long long)(mono_ms() - t0));
	assert_true(mono_ms() - t0 < 3000);
	assert_int_equal(s.err, -ECANCELED);
	assert_int_equal(ps_etcd_failovers(s.c), 0);
	/* And every later one, at once, sending nothing. */
	requests = ps_etcd_requests(s.c);
	ps_error_clear(&s.e);
	t0 = mono_ms();
	assert_int_equal(ps_etcd_status(s.c, &s.st, &s.e), -ECANCELED);
	assert_true(mono_ms() - t0 < 1000);
	assert_int_equal(ps_etcd_requests(s.c), requests);
	ps_etcd_close(s.c);
	fake_etcd_stop(&hung);
	fake_etcd_stop(&hung2);
}

static bool count_calls(void *ctx, const struct ps_etcd_event *ev, size_t n, int64_t revision)
{
	(*(int *)ctx)++;
	return false;
}

/*
 * A watch: the hung member does not answer within the client's timeout and
 * is passed over; the quiet one answers, then falls silent: ENODATA, and
 * it is the member used from then on.
 */
static void test_watch_deadlines(void **state)
{
	struct fake_etcd hung, quiet;
	struct ps_etcd_opts o = { .timeout_ms = 300 };
	struct ps_etcd_watch_opts wo = { .max_ms = 60000, .silence_ms = 500, .progress_notify = true };
	struct ps_error e = { 0 };
	struct ps_etcd *c;
	char endpoints[160];
	int calls = 0;
	uint64_t t0;

	assert_int_equal(fake_etcd_start(&hung, FAKE_HUNG), 0);
	assert_int_equal(fake_etcd_start(&quiet, FAKE_QUIET), 0);
	snprintf(endpoints, sizeof(endpoints), "%s,%s", hung.url, quiet.url);
	o.endpoints = endpoints;
	assert_int_equal(ps_etcd_open(&c, &o, &e), 0);
	t0 = mono_ms();
	assert_int_equal(ps_etcd_watch(c, "/t/", true, &wo, count_calls, &calls, &e), -ENODATA);
	printf("watch: passed over the hung member and met the silence in %llu ms (300 + 500 ms of deadlines)\n",
	       (unsigned long long)(mono_ms() - t0));
	assert_true(mono_ms() - t0 < 30000);
	assert_non_null(strstr(e.msg, "not even a progress notification"));
	assert_int_equal(calls, 1); /* created */
	assert_int_equal(ps_etcd_failovers(c), 1);
	assert_string_equal(ps_etcd_endpoint(c), quiet.url);
	ps_etcd_close(c);
	fake_etcd_stop(&hung);
	fake_etcd_stop(&quiet);
}

static void watch_stop_against(enum fake_etcd_kind kind, const char *what)
{
	struct ps_lease_watch_pool p = { .name = "web", .slot = 2, .port_lo = 20000, .block_size = 32, .n_blocks = 8 };
	struct fake_etcd f;
	struct ps_etcd_opts eo = { .timeout_ms = 10000 };
	struct ps_lease_watch_opts o = { .etcd = &eo, .prefix = "/t", .pools = &p, .n_pools = 1,
					 .host_id = no_hosts, .watch_ms = 60000 };
	struct ps_lease_watch_stats st;
	struct ps_error e = { 0 };
	struct ps_lease_watch *w;
	uint64_t t0;
	int fd = owner_map();

	assert_int_equal(fake_etcd_start(&f, kind), 0);
	eo.endpoints = f.url;
	o.owner_fd = fd;
	assert_int_equal(ps_lease_watch_start(&w, &o, &e), 0);
	close(fd);
	for (int i = 0; i < 100; i++) {
		ps_lease_watch_stats(w, &st);
		if (kind == FAKE_HUNG || st.watches)
			break;
		usleep(50 * 1000);
	}
	usleep(300 * 1000);
	ps_lease_watch_stats(w, &st);
	if (kind == FAKE_QUIET) {
		assert_int_equal(st.snapshots, 1);
		assert_int_equal(st.watches, 1);
		assert_true(st.connected);
	}
	t0 = mono_ms();
	ps_lease_watch_stop(w);
	printf("%s: the follower stopped in %llu ms\n", what, (unsigned long long)(mono_ms() - t0));
	assert_true(mono_ms() - t0 < 3000);
	fake_etcd_stop(&f);
}

/* Stop during a table read that a hung member never answers (timeout 10 s), and during a 60 s watch. */
static void test_watch_stop_in_flight(void **state)
{
	watch_stop_against(FAKE_HUNG, "a table read from a hung member (timeout 10 s)");
	watch_stop_against(FAKE_QUIET, "a quiet watch (watch_ms 60 s, silence 10 s)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_owner_set),
		cmocka_unit_test(test_owner_write),
		cmocka_unit_test(test_owner_refused),
		cmocka_unit_test(test_watch_refuses),
		cmocka_unit_test(test_watch_unreachable),
		cmocka_unit_test(test_cancel_from_another_thread),
		cmocka_unit_test(test_watch_deadlines),
		cmocka_unit_test(test_watch_stop_in_flight),
	};

	if (geteuid()) {
		fprintf(stderr, "test_lease_watch: needs root (BPF maps); skipped\n");
		return 0;
	}
	return cmocka_run_group_tests_name("lease_watch", tests, NULL, NULL);
}
