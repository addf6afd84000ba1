// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the leasing engine's checks (loader/fleet/lease.c) that
 * need no etcd: the invariants a configuration must keep (docs/fleet.md),
 * refused before any lease is taken, and the state of a new engine.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "fleet/lease.h"

/* A valid configuration: 8 blocks of 32 ports, TTL 10 s, defaults otherwise. */
static struct ps_lease_cfg good(void)
{
	struct ps_lease_cfg c = {
		.prefix = "/t", .host = "host-a", .ttl_s = 10, .n_pools = 1,
		.pools = { { .name = "web", .port_lo = 20000, .port_hi = 20255, .block_size = 32,
			     .min_blocks = 1, .max_blocks = 4, .reuse_delay_ms = 1000 } },
	};
	return c;
}

/* ps_lease_new on @c: its return code, and the message into @msg. */
static int try_new(const struct ps_lease_cfg *c, char *msg, size_t len)
{
	struct ps_error e = { 0 };
	struct ps_lease *l;
	int err = ps_lease_new(&l, c, NULL, NULL, NULL, &e);

	snprintf(msg, len, "%s", e.msg);
	ps_lease_free(l, false);
	return err;
}

static void test_defaults(void **state)
{
	struct ps_lease_cfg c = good();
	struct ps_error e = { 0 };
	struct ps_lease *l;
	size_t n;

	assert_int_equal(ps_lease_new(&l, &c, NULL, NULL, NULL, &e), 0);
	/* No lease yet: fenced, nothing to offer, no deadline. */
	assert_true(ps_lease_fenced(l, 1000));
	assert_int_equal(ps_lease_fence_deadline(l), 0);
	assert_int_equal(ps_lease_ttl_left_ms(l, 1000), 0);
	assert_int_equal(ps_lease_id(l), 0);
	ps_lease_blocks(l, &n);
	assert_int_equal(n, 0);
	assert_int_equal(ps_lease_held(l, 0), 0);
	ps_lease_free(l, false);
}

/* Invariant 3: quarantine > TIME_WAIT + reuse_delay. */
static void test_quarantine_too_short(void **state)
{
	struct ps_lease_cfg c = good();
	char msg[1024];

	c.quarantine_s = 61;            /* 60 s TIME_WAIT + 1 s reuse_delay: not longer */
	assert_int_equal(try_new(&c, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "quarantine (61 s) must be longer than TIME_WAIT (60 s)"));
	c.quarantine_s = 62;
	assert_int_equal(try_new(&c, msg, sizeof(msg)), 0);
	/* A test's shorter TIME_WAIT is checked the same way. */
	c.time_wait_s = 1;
	c.quarantine_s = 2;
	assert_int_equal(try_new(&c, msg, sizeof(msg)), -EINVAL);
}

/* Invariant 2: the fencing deadline comes before the lease can expire, and a keepalive before it. */
static void test_fence_margin(void **state)
{
	struct ps_lease_cfg c = good();
	char msg[1024];

	c.fence_margin_ms = 10000;      /* = TTL */
	assert_int_equal(try_new(&c, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "keep keepalive < TTL - margin"));
	c.fence_margin_ms = 2000;
	c.keepalive_ms = 8000;          /* = TTL - margin: the deadline would pass before the keepalive */
	assert_int_equal(try_new(&c, msg, sizeof(msg)), -EINVAL);
	c.keepalive_ms = 3000;
	assert_int_equal(try_new(&c, msg, sizeof(msg)), 0);
}

static void test_pool_shape(void **state)
{
	struct ps_lease_cfg c = good();
	char msg[1024];

	c.pools[0].max_blocks = 9;      /* 8 blocks in 20000-20255 */
	assert_int_equal(try_new(&c, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "hold 8 blocks"));
	c = good();
	c.pools[0].min_blocks = 5;      /* > max_blocks */
	assert_int_equal(try_new(&c, msg, sizeof(msg)), -EINVAL);
	c = good();
	c.pools[0].block_size = 0;
	assert_int_equal(try_new(&c, msg, sizeof(msg)), -EINVAL);
	c = good();
	c.pools[0].min_blocks = 0;
	assert_int_equal(try_new(&c, msg, sizeof(msg)), -EINVAL);
	c = good();
	c.n_pools = 0;
	assert_int_equal(try_new(&c, msg, sizeof(msg)), -EINVAL);
	c = good();
	c.host = "";
	assert_int_equal(try_new(&c, msg, sizeof(msg)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_quarantine_too_short),
		cmocka_unit_test(test_fence_margin),
		cmocka_unit_test(test_pool_shape),
	};

	return cmocka_run_group_tests_name("lease", tests, NULL, NULL);
}
