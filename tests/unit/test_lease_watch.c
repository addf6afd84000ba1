// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of steering from the watch that need no etcd: the owner
 * writes of loader/steer/owners.c on a map shaped like ps_steer_owner, and
 * the follower's (loader/agent/lease_watch.c) checks, its failures against
 * an endpoint nobody listens on, and how fast it stops. The follower
 * against a real cluster: tests/fleet/test_lease_steer.sh. Needs root
 * (a BPF map).
 */
#include <errno.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_owner_set),
		cmocka_unit_test(test_owner_write),
		cmocka_unit_test(test_owner_refused),
		cmocka_unit_test(test_watch_refuses),
		cmocka_unit_test(test_watch_unreachable),
	};

	if (geteuid()) {
		fprintf(stderr, "test_lease_watch: needs root (BPF maps); skipped\n");
		return 0;
	}
	return cmocka_run_group_tests_name("lease_watch", tests, NULL, NULL);
}
