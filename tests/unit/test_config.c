// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the fleet configuration parser (loader/core/config.c).
 *
 * Every rejected input is one row of bad_cases[] and runs as its own cmocka
 * test, so a failure names the rule that broke. Expected messages include
 * the line number and field path: both are part of the contract with the
 * operator reading them.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "core/config.h"
#include "fleet/from_config.h"
#include "fleet/lease.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Lines 1-3 of most inputs: one IPv4 pool, slices to follow on line 4. */
#define POOL_HEAD \
	"pools:\n" \
	"  - name: web\n" \
	"    address: 198.18.0.10\n"

/* Lines 1-5: a complete valid pool. */
#define POOL_OK \
	POOL_HEAD \
	"    slices:\n" \
	"      host-a: 20000-20999\n"

/* POOL_OK with reuse_delay: VAL on line 6. */
#define REUSE_DELAY(val) POOL_OK "    reuse_delay: " val "\n"

/* A pool with one slice whose range is given as RANGE on line 5. */
#define SLICE(range) POOL_HEAD "    slices:\n      host-a: " range "\n"

/* An IPv4 pool whose destinations list (line 4) is DSTS. */
#define DSTS4(dsts) POOL_HEAD "    destinations: " dsts "\n    slices: {host-a: 1-2}\n"

/* An IPv6 pool whose destinations list (line 4) is DSTS. */
#define DSTS6(dsts) \
	"pools:\n  - name: web6\n    address: 2001:db8::10\n" \
	"    destinations: " dsts "\n    slices: {host-a: 1-2}\n"

/* A pool whose address (line 3) is ADDR. */
#define ADDR(addr) "pools:\n  - name: web\n    address: " addr "\n    slices: {host-a: 1-2}\n"

/* POOL_OK and, on lines 6-7, hosts: with host-a only. */
#define HOSTS_OK POOL_OK "hosts:\n  host-a: {address: 198.18.10.1}\n"

/* POOL_OK and host-a on line 7 with the address (or flow mapping body) BODY. */
#define HOST_A(body) POOL_OK "hosts:\n  host-a: {" body "}\n"

/* HOSTS_OK and steering: on line 8 whose value is VAL. */
#define STEERING(val) HOSTS_OK "steering: " val "\n"

/* POOL_OK and cgroups: whose first entry starts on line 7 with BODY. */
#define CGROUPS(body) POOL_OK "cgroups:\n  - " body "\n"

/* Lines 1-8: a dynamic pool (slices: dynamic on line 4), keys of its own to follow on line 9. */
#define DYN_POOL \
	POOL_HEAD \
	"    slices: dynamic\n" \
	"    ports: 1024-2047\n" \
	"    block_size: 256\n" \
	"    min_blocks: 1\n" \
	"    max_blocks: 4\n"

/* A dynamic pool whose keys after slices (lines 5-) are KEYS, and a valid etcd: after them. */
#define DYN_KEYS(keys) POOL_HEAD "    slices: dynamic\n" keys "etcd: {endpoints: [http://198.18.200.1:2379]}\n"

/* DYN_POOL and etcd: on line 9 whose body (inside a flow mapping) is BODY. */
#define ETCD(body) DYN_POOL "etcd: {" body "}\n"

/* DYN_POOL and etcd: with endpoints on line 9 and the key KEY: VAL on line 11. */
#define ETCD_KEY(key, val) DYN_POOL "etcd:\n  endpoints: [http://198.18.200.1:2379]\n  " key ": " val "\n"

struct bad_case {
	const char *desc;
	const char *yaml;
	const char *expect; /* substring of the message; a final '$' anchors it at the end */
};

static const struct bad_case bad_cases[] = {
	/* reuse_delay */
	{ "reuse_delay without a number", REUSE_DELAY("soon"),
	  "t.yaml:6: pools[0].reuse_delay: \"soon\" is not a duration; write milliseconds (500 or 500ms) or seconds (2s, 2.5s)" },
	{ "reuse_delay with a fraction of a millisecond", REUSE_DELAY("1.0005s"),
	  "t.yaml:6: pools[0].reuse_delay: \"1.0005s\" is not a duration; write seconds with at most three decimals (2.5s)" },
	{ "reuse_delay with a fraction of milliseconds", REUSE_DELAY("1.5ms"), "t.yaml:6: pools[0].reuse_delay: \"1.5ms\" is not a duration" },
	{ "reuse_delay with a bare point", REUSE_DELAY("1.s"), "t.yaml:6: pools[0].reuse_delay: \"1.s\" is not a duration" },
	{ "reuse_delay with an unknown unit", REUSE_DELAY("2m"), "t.yaml:6: pools[0].reuse_delay: \"2m\" is not a duration" },
	{ "reuse_delay negative", REUSE_DELAY("-1"), "t.yaml:6: pools[0].reuse_delay: \"-1\" is not a duration" },
	{ "reuse_delay too long", REUSE_DELAY("601s"),
	  "t.yaml:6: pools[0].reuse_delay: \"601s\" is longer than the 600s allowed" },
	{ "reuse_delay far too long does not wrap", REUSE_DELAY("99999999999999999999ms"), "is longer than the 600s allowed" },
	{ "reuse_delay as a list", REUSE_DELAY("[1]"), "t.yaml:6: pools[0].reuse_delay: expected a duration such as 500ms or 2s" },
	/* p2p */
	{ "p2p not a boolean", POOL_OK "    p2p: yes\n", "t.yaml:6: pools[0].p2p: \"yes\": write true or false" },
	{ "p2p as a list", POOL_OK "    p2p: [true]\n", "t.yaml:6: pools[0].p2p: expected true or false" },
	/* slices: dynamic and a dynamic pool's keys */
	{ "dynamic pool without etcd",
	  DYN_POOL,
	  "t.yaml:4: etcd: required key is missing: pool \"web\" is dynamic (slices: dynamic), and its hosts lease their blocks from etcd; add an etcd: section with its endpoints$" },
	{ "dynamic pool without etcd, after a static one",
	  POOL_OK "  - name: dyn\n    address: 198.18.0.11\n    slices: dynamic\n    ports: 1-100\n    block_size: 10\n"
	  "    min_blocks: 1\n    max_blocks: 2\n",
	  "t.yaml:8: etcd: required key is missing: pool \"dyn\" is dynamic" },
	{ "slices: a word other than dynamic",
	  POOL_HEAD "    slices: dynamc\n",
	  "t.yaml:4: pools[0].slices: expected a mapping of host names to port ranges (host-a: 20000-20999) or \"dynamic\" (the hosts lease blocks of ports from etcd), got \"dynamc\"" },
	{ "a dynamic pool has no per-host slices",
	  POOL_HEAD "    slices:\n      host-a: dynamic\n",
	  "t.yaml:5: pools[0].slices.host-a: a pool is dynamic as a whole, with no per-host slices: write \"slices: dynamic\"" },
	{ "a dynamic pool's slices given twice",
	  DYN_POOL "    slices: {host-a: 1-2}\netcd: {endpoints: [http://a:1]}\n",
	  "t.yaml:9: pools[0].slices: key given twice (first at line 4); keep one" },
	{ "ports in a static pool",
	  POOL_OK "    ports: 1024-2047\n",
	  "t.yaml:6: pools[0].ports: only a dynamic pool (slices: dynamic) has this key; a static pool's ports are its hosts' slices" },
	{ "block_size in a static pool",
	  POOL_OK "    block_size: 256\n",
	  "t.yaml:6: pools[0].block_size: only a dynamic pool (slices: dynamic) has this key" },
	{ "min_blocks, max_blocks, grow_at, shrink_after in a static pool: the first named",
	  POOL_OK "    shrink_after: 60s\n    min_blocks: 1\n",
	  "t.yaml:7: pools[0].min_blocks: only a dynamic pool" },
	{ "dynamic pool without ports",
	  DYN_KEYS("    block_size: 256\n    min_blocks: 1\n    max_blocks: 4\n"),
	  "t.yaml:2: pools[0].ports: required key is missing: a dynamic pool (slices: dynamic, line 4) needs ports, block_size, min_blocks and max_blocks" },
	{ "dynamic pool without block_size",
	  DYN_KEYS("    ports: 1024-2047\n    min_blocks: 1\n    max_blocks: 4\n"),
	  "t.yaml:2: pools[0].block_size: required key is missing" },
	{ "dynamic pool without min_blocks",
	  DYN_KEYS("    ports: 1024-2047\n    block_size: 256\n    max_blocks: 4\n"),
	  "t.yaml:2: pools[0].min_blocks: required key is missing" },
	{ "dynamic pool without max_blocks",
	  DYN_KEYS("    ports: 1024-2047\n    block_size: 256\n    min_blocks: 1\n"),
	  "t.yaml:2: pools[0].max_blocks: required key is missing" },
	{ "ports from 0",
	  DYN_KEYS("    ports: 0-2047\n    block_size: 256\n    min_blocks: 1\n    max_blocks: 4\n"),
	  "t.yaml:5: pools[0].ports: \"0-2047\": port 0 is not a usable port; ports are 1-65535" },
	{ "ports past 65535",
	  DYN_KEYS("    ports: 1024-65536\n    block_size: 256\n    min_blocks: 1\n    max_blocks: 4\n"),
	  "t.yaml:5: pools[0].ports: \"1024-65536\": port out of range; ports are 1-65535" },
	{ "ports reversed",
	  DYN_KEYS("    ports: 2047-1024\n    block_size: 256\n    min_blocks: 1\n    max_blocks: 4\n"),
	  "t.yaml:5: pools[0].ports: \"2047-1024\" is reversed (LO > HI); write 1024-2047" },
	{ "ports as a list",
	  DYN_KEYS("    ports: [1024-2047]\n    block_size: 256\n    min_blocks: 1\n    max_blocks: 4\n"),
	  "t.yaml:5: pools[0].ports: expected a port range such as 20000-20999, got a list" },
	{ "block_size 0",
	  DYN_KEYS("    ports: 1024-2047\n    block_size: 0\n    min_blocks: 1\n    max_blocks: 4\n"),
	  "t.yaml:6: pools[0].block_size: 0 is out of range: 1 to 65535 (ports a block)" },
	{ "block_size not a number",
	  DYN_KEYS("    ports: 1024-2047\n    block_size: 2e8\n    min_blocks: 1\n    max_blocks: 4\n"),
	  "t.yaml:6: pools[0].block_size: \"2e8\" is not a number; write a decimal number without sign or leading zeros" },
	{ "block_size with a leading zero",
	  DYN_KEYS("    ports: 1024-2047\n    block_size: 0256\n    min_blocks: 1\n    max_blocks: 4\n"),
	  "t.yaml:6: pools[0].block_size: \"0256\" is not a number" },
	{ "block_size larger than the range",
	  DYN_KEYS("    ports: 1024-1100\n    block_size: 256\n    min_blocks: 1\n    max_blocks: 1\n"),
	  "t.yaml:6: pools[0].block_size: blocks of 256 ports do not fit the pool's ports 1024-1100 (77 ports); take a smaller block_size or a larger range" },
	{ "min_blocks 0",
	  DYN_KEYS("    ports: 1024-2047\n    block_size: 256\n    min_blocks: 0\n    max_blocks: 4\n"),
	  "t.yaml:7: pools[0].min_blocks: 0 is out of range: 1 to 32 (a host holds 1 to 32 blocks of a pool, the size of its block table)" },
	{ "min_blocks above max_blocks",
	  DYN_KEYS("    ports: 1024-2047\n    block_size: 256\n    min_blocks: 3\n    max_blocks: 2\n"),
	  "t.yaml:8: pools[0].max_blocks: 2 is less than min_blocks (3); min_blocks <= max_blocks" },
	{ "max_blocks above PS_MAX_BLOCKS",
	  DYN_KEYS("    ports: 1024-65535\n    block_size: 256\n    min_blocks: 1\n    max_blocks: 33\n"),
	  "t.yaml:8: pools[0].max_blocks: 33 is out of range: 1 to 32" },
	{ "max_blocks above the blocks of the range",
	  DYN_KEYS("    ports: 1024-2047\n    block_size: 256\n    min_blocks: 1\n    max_blocks: 5\n"),
	  "t.yaml:8: pools[0].max_blocks: 5 blocks are more than the pool's ports 1024-2047 hold in blocks of 256 (4)" },
	{ "max_blocks: a partial block at the end does not count",
	  DYN_KEYS("    ports: 1024-2050\n    block_size: 256\n    min_blocks: 1\n    max_blocks: 5\n"),
	  "t.yaml:8: pools[0].max_blocks: 5 blocks are more than the pool's ports 1024-2050 hold in blocks of 256 (4)" },
	{ "grow_at 0",
	  DYN_POOL "    grow_at: 0\netcd: {endpoints: [http://a:1]}\n",
	  "t.yaml:9: pools[0].grow_at: \"0\" is not a share above 0 and at most 1, such as 0.75" },
	{ "grow_at above 1",
	  DYN_POOL "    grow_at: 1.01\netcd: {endpoints: [http://a:1]}\n",
	  "t.yaml:9: pools[0].grow_at: \"1.01\" is not a share" },
	{ "grow_at with an exponent",
	  DYN_POOL "    grow_at: 5e-1\netcd: {endpoints: [http://a:1]}\n",
	  "t.yaml:9: pools[0].grow_at: \"5e-1\" is not a share" },
	{ "grow_at as a percentage",
	  DYN_POOL "    grow_at: 75%\netcd: {endpoints: [http://a:1]}\n",
	  "t.yaml:9: pools[0].grow_at: \"75%\" is not a share" },
	{ "grow_at with a bare point",
	  DYN_POOL "    grow_at: 0.\netcd: {endpoints: [http://a:1]}\n",
	  "t.yaml:9: pools[0].grow_at: \"0.\" is not a share" },
	{ "shrink_after 0",
	  DYN_POOL "    shrink_after: 0s\netcd: {endpoints: [http://a:1]}\n",
	  "t.yaml:9: pools[0].shrink_after: 0 would drain a block the moment it is not needed" },
	{ "shrink_after not a duration",
	  DYN_POOL "    shrink_after: 1m\netcd: {endpoints: [http://a:1]}\n",
	  "t.yaml:9: pools[0].shrink_after: \"1m\" is not a duration" },
	{ "shrink_after longer than a day",
	  DYN_POOL "    shrink_after: 86401s\netcd: {endpoints: [http://a:1]}\n",
	  "t.yaml:9: pools[0].shrink_after: \"86401s\" is longer than the 86400s allowed" },
	/* etcd: */
	{ "etcd is a list",
	  DYN_POOL "etcd: [http://a:1]\n",
	  "t.yaml:9: etcd: expected a mapping with endpoints and, optionally, ca, cert, key, prefix, lease_ttl, keepalive, fence_margin, quarantine and timeout, got a list" },
	{ "etcd without endpoints",
	  ETCD("lease_ttl: 10s"),
	  "t.yaml:9: etcd.endpoints: required key is missing" },
	{ "etcd endpoints empty",
	  ETCD("endpoints: []"),
	  "t.yaml:9: etcd.endpoints: empty; list etcd's client URLs, e.g. [https://10.0.0.1:2379]" },
	{ "etcd endpoints a string",
	  ETCD("endpoints: http://a:1"),
	  "t.yaml:9: etcd.endpoints: expected a list of URLs such as [https://10.0.0.1:2379], got a single value" },
	{ "etcd endpoint without a scheme",
	  ETCD("endpoints: [10.0.0.1:2379]"),
	  "t.yaml:9: etcd.endpoints[0]: \"10.0.0.1:2379\" is not an http:// or https:// URL; write http://HOST:PORT or https://HOST:PORT" },
	{ "etcd endpoint of another scheme",
	  ETCD("endpoints: [http://a:1, 'unix:///run/etcd.sock']"),
	  "t.yaml:9: etcd.endpoints[1]: \"unix:///run/etcd.sock\" is not an http:// or https:// URL" },
	{ "etcd endpoint without a host",
	  ETCD("endpoints: ['https://']"),
	  "t.yaml:9: etcd.endpoints[0]: \"https://\" has no host" },
	{ "etcd endpoint with a path",
	  ETCD("endpoints: ['http://10.0.0.1:2379/v3']"),
	  "t.yaml:9: etcd.endpoints[0]: \"http://10.0.0.1:2379/v3\" has more than a scheme, a host and a port (no path, user, blank or comma)" },
	{ "etcd endpoint with a comma",
	  ETCD("endpoints: ['http://a:1,http://b:2']"),
	  "t.yaml:9: etcd.endpoints[0]: \"http://a:1,http://b:2\" has more than a scheme, a host and a port" },
	{ "etcd endpoint listed twice",
	  DYN_POOL "etcd:\n  endpoints:\n    - http://a:1\n    - http://a:1\n",
	  "t.yaml:12: etcd.endpoints[1]: \"http://a:1\" is listed twice (first at line 11); keep one" },
	{ "etcd with 17 endpoints",
	  ETCD("endpoints: [http://a:1, http://a:2, http://a:3, http://a:4, http://a:5, http://a:6, http://a:7, http://a:8, "
	       "http://a:9, http://a:10, http://a:11, http://a:12, http://a:13, http://a:14, http://a:15, http://a:16, http://a:17]"),
	  "t.yaml:9: etcd.endpoints: 17 endpoints; at most 16 are allowed" },
	{ "etcd unknown key names the allowed ones",
	  ETCD("endpoints: [http://a:1], ttl: 10s"),
	  "t.yaml:9: etcd.ttl: unknown key; allowed keys in etcd: endpoints, ca, cert, key, prefix, lease_ttl, keepalive, fence_margin, quarantine, timeout$" },
	{ "etcd ca relative",
	  ETCD_KEY("ca", "etcd/ca.pem"),
	  "t.yaml:11: etcd.ca: \"etcd/ca.pem\" is not an absolute path; give the file's, e.g. /etc/portslice/etcd/ca.pem" },
	{ "etcd cert without key",
	  ETCD_KEY("cert", "/etc/portslice/etcd/client.pem"),
	  "t.yaml:9: etcd.key: required key is missing: a client certificate (cert) goes with its key (key)" },
	{ "etcd key without cert",
	  ETCD_KEY("key", "/etc/portslice/etcd/client-key.pem"),
	  "t.yaml:9: etcd.cert: required key is missing: a client certificate (cert) goes with its key (key)" },
	{ "etcd prefix without a slash",
	  ETCD_KEY("prefix", "portslice"),
	  "t.yaml:11: etcd.prefix: \"portslice\" is not a key prefix; write / and up to 126 printable characters without blanks, not ending in /" },
	{ "etcd prefix ending in a slash",
	  ETCD_KEY("prefix", "/portslice/"),
	  "t.yaml:11: etcd.prefix: \"/portslice/\" is not a key prefix" },
	{ "etcd prefix with a blank",
	  ETCD_KEY("prefix", "'/port slice'"),
	  "t.yaml:11: etcd.prefix: \"/port slice\" is not a key prefix" },
	{ "etcd prefix /",
	  ETCD_KEY("prefix", "/"),
	  "t.yaml:11: etcd.prefix: \"/\" is not a key prefix" },
	{ "lease_ttl not a duration",
	  ETCD_KEY("lease_ttl", "ten"),
	  "t.yaml:11: etcd.lease_ttl: \"ten\" is not a duration" },
	{ "lease_ttl not whole seconds",
	  ETCD_KEY("lease_ttl", "10.5s"),
	  "t.yaml:11: etcd.lease_ttl: \"10.5s\" is not a whole number of seconds; etcd counts leases in seconds" },
	{ "lease_ttl 1s",
	  ETCD_KEY("lease_ttl", "1s"),
	  "t.yaml:11: etcd.lease_ttl: \"1s\" is too short: at least 2s, for a fencing margin of at least 1s and a keepalive before it" },
	{ "lease_ttl longer than an hour",
	  ETCD_KEY("lease_ttl", "3601s"),
	  "t.yaml:11: etcd.lease_ttl: \"3601s\" is longer than the 3600s allowed" },
	{ "fence_margin under 1s",
	  ETCD_KEY("fence_margin", "999ms"),
	  "t.yaml:11: etcd.fence_margin: \"999ms\" is too short: at least 1s between the host fencing itself and etcd expiring its lease" },
	{ "fence_margin as long as lease_ttl",
	  ETCD_KEY("fence_margin", "10s"),
	  "t.yaml:11: etcd.fence_margin: 10000ms is not shorter than lease_ttl (10s): the host must fence itself before etcd can expire its lease" },
	{ "fence_margin longer than lease_ttl given after it",
	  DYN_POOL "etcd:\n  endpoints: [http://a:1]\n  fence_margin: 5s\n  lease_ttl: 4s\n",
	  "t.yaml:11: etcd.fence_margin: 5000ms is not shorter than lease_ttl (4s)" },
	{ "fence_margin leaves no room for the default keepalive",
	  ETCD_KEY("fence_margin", "7s"),
	  "t.yaml:11: etcd.fence_margin: 7000ms leaves 3000ms before the host fences itself, not more than the default keepalive period (lease_ttl / 3, 3333ms); shorten it, or set a shorter keepalive" },
	{ "keepalive not shorter than lease_ttl - fence_margin",
	  DYN_POOL "etcd:\n  endpoints: [http://a:1]\n  lease_ttl: 10s\n  fence_margin: 4s\n  keepalive: 6s\n",
	  "t.yaml:13: etcd.keepalive: 6000ms is not shorter than lease_ttl - fence_margin (6000ms): a keepalive must be answered before the host fences itself" },
	{ "keepalive against the default fence_margin",
	  ETCD_KEY("keepalive", "7500ms"),
	  "t.yaml:11: etcd.keepalive: 7500ms is not shorter than lease_ttl - fence_margin (7500ms)" },
	{ "keepalive 0",
	  ETCD_KEY("keepalive", "0"),
	  "t.yaml:11: etcd.keepalive: \"0\" is too short: give how often the lease is renewed, e.g. 3s" },
	{ "quarantine not longer than TIME_WAIT",
	  ETCD_KEY("quarantine", "60s"),
	  "t.yaml:11: etcd.quarantine: 60s is not longer than TIME_WAIT (60s) plus the reuse_delay of pool \"web\" (0ms, line 2)" },
	{ "quarantine not longer than TIME_WAIT plus the largest reuse_delay",
	  POOL_OK "    reuse_delay: 30s\n"
	  "  - name: d1\n    address: 198.18.0.11\n    slices: dynamic\n    ports: 1-100\n    block_size: 10\n"
	  "    min_blocks: 1\n    max_blocks: 2\n    reuse_delay: 2s\n"
	  "  - name: d2\n    address: 198.18.0.12\n    slices: dynamic\n    ports: 1-100\n    block_size: 10\n"
	  "    min_blocks: 1\n    max_blocks: 2\n    reuse_delay: 5500ms\n"
	  "etcd:\n  endpoints: [http://a:1]\n  quarantine: 65s\n",
	  "t.yaml:25: etcd.quarantine: 65s is not longer than TIME_WAIT (60s) plus the reuse_delay of pool \"d2\" (5500ms, line 15): a block whose holder died must not be leased again while its tuples may still be in use; raise it above 65500ms" },
	{ "quarantine not whole seconds",
	  ETCD_KEY("quarantine", "65.5s"),
	  "t.yaml:11: etcd.quarantine: \"65.5s\" is not a whole number of seconds" },
	{ "quarantine without dynamic pools",
	  POOL_OK "etcd:\n  endpoints: [http://a:1]\n  quarantine: 30s\n",
	  "t.yaml:8: etcd.quarantine: 30s is not longer than TIME_WAIT (60s): a block whose holder died must not be leased again while its tuples may still be in TIME_WAIT" },
	{ "timeout 0",
	  ETCD_KEY("timeout", "0ms"),
	  "t.yaml:11: etcd.timeout: \"0ms\" is too short: give how long one request may take, e.g. 2s" },
	{ "timeout longer than a minute",
	  ETCD_KEY("timeout", "61s"),
	  "t.yaml:11: etcd.timeout: \"61s\" is longer than the 60s allowed" },
	{ "etcd given twice",
	  ETCD("endpoints: [http://a:1]") "etcd: {endpoints: [http://b:1]}\n",
	  "t.yaml:10: etcd: key given twice (first at line 9); keep one" },

	/* YAML and document structure */
	{ "syntax error reports libyaml's line",
	  "pools:\n  - name: web\n    address: [1\n",
	  "t.yaml:4: syntax error: did not find expected ',' or ']'" },
	{ "tab indentation",
	  "pools:\n\t- name: web\n",
	  "t.yaml:2: syntax error: found character that cannot start any token (while scanning for the next token at line 2); indent with spaces, YAML does not allow tabs" },
	{ "bad indentation",
	  "pools:\n  - name: web\n   address: 1.2.3.4\n",
	  "t.yaml:3: syntax error:" },
	{ "undefined alias",
	  "pools: *nope\n",
	  "t.yaml:1: syntax error: found undefined alias" },
	{ "invalid UTF-8 gets a line too",
	  "pools:\n  - name: web\n    address: \xff\n",
	  "t.yaml:3: syntax error: invalid leading UTF-8 octet" },
	{ "unquoted :: is a YAML error, not an address",
	  "pools:\n  - name: web\n    address: ::\n",
	  "t.yaml:3: syntax error: mapping values are not allowed in this context; quote IPv6 values that start with ':'" },
	{ "unquoted ::/0 in a flow list gets the quoting hint",
	  DSTS6("[2001:db8::/32, ::/0]"),
	  "t.yaml:4: syntax error: did not find expected node content (while parsing a flow node at line 4); quote IPv6 values that start with ':', e.g. '::/0'" },
	{ "no quoting hint for unrelated errors on a line with ::",
	  DSTS6("\n    - 2001:db8::/32\n   - '::/0'"),
	  "t.yaml:6: syntax error: did not find expected '-' indicator (while parsing a block collection at line 2)$" },
	{ "empty file",
	  "",
	  "t.yaml:1: top level: the configuration is empty" },
	{ "only comments",
	  "# nothing here\n\n",
	  "t.yaml:1: top level: the configuration is empty" },
	{ "top level is a list",
	  "- name: web\n",
	  "t.yaml:1: top level: expected a mapping with a \"pools\" list, got a list" },
	{ "top level is a scalar",
	  "pools\n",
	  "t.yaml:1: top level: expected a mapping with a \"pools\" list, got a single value" },
	{ "second document",
	  POOL_OK "---\npools: []\n",
	  "t.yaml:6: top level: a second YAML document starts here" },
	{ "pools missing",
	  "{}\n",
	  "t.yaml:1: pools: required key is missing" },
	{ "unknown top-level key names the allowed ones",
	  POOL_OK "colour: {}\n",
	  "t.yaml:6: colour: unknown key; allowed keys at the top level: pools, hosts, steering, cgroups, etcd$" },
	{ "top-level key given twice",
	  POOL_OK "pools: []\n",
	  "t.yaml:6: pools: key given twice (first at line 1)" },
	{ "top-level key not a scalar",
	  "? [a, b]\n: 1\n",
	  "t.yaml:1: top level: a key must be a name, got a list" },
	{ "pools is a scalar",
	  "pools: web\n",
	  "t.yaml:1: pools: expected a list of pools (\"- name: ...\" entries), got a single value" },
	{ "pools is a mapping",
	  "pools:\n  name: web\n",
	  "t.yaml:2: pools: expected a list of pools (\"- name: ...\" entries), got a mapping" },
	{ "pools is empty",
	  "pools: []\n",
	  "t.yaml:1: pools: empty; define at least one pool" },
	{ "pools has no value",
	  "pools:\n",
	  "t.yaml:1: pools: empty; define at least one pool" },
	{ "pool is a scalar",
	  "pools:\n  - web\n",
	  "t.yaml:2: pools[0]: expected a pool (a mapping with name, address and slices), got a single value" },
	{ "pool is empty",
	  "pools:\n  -\n",
	  "t.yaml:2: pools[0]: expected a pool (a mapping with name, address and slices), got an empty value" },

	/* pool keys */
	{ "unknown pool key names the allowed ones",
	  POOL_OK "    adress: 198.18.0.11\n",
	  "t.yaml:6: pools[0].adress: unknown key; allowed keys in pools[0]: name, address, destinations, slices" },
	{ "unknown key in the second pool",
	  POOL_OK "  - name: web2\n    address: 198.18.0.11\n    slice: {}\n",
	  "t.yaml:8: pools[1].slice: unknown key" },
	{ "pool key given twice",
	  POOL_OK "    name: web2\n",
	  "t.yaml:6: pools[0].name: key given twice (first at line 2); keep one" },
	{ "pool key not a scalar",
	  POOL_OK "    ? {a: 1}\n    : x\n",
	  "t.yaml:6: pools[0]: a key must be a name, got a mapping" },
	{ "name missing",
	  "pools:\n  - address: 198.18.0.10\n    slices: {host-a: 1-2}\n",
	  "t.yaml:2: pools[0].name: required key is missing" },
	{ "address missing",
	  "pools:\n  - name: web\n    slices: {host-a: 1-2}\n",
	  "t.yaml:2: pools[0].address: required key is missing" },
	{ "slices missing",
	  POOL_HEAD,
	  "t.yaml:2: pools[0].slices: required key is missing" },

	/* name */
	{ "name is a list",
	  "pools:\n  - name: [web]\n    address: 198.18.0.10\n    slices: {host-a: 1-2}\n",
	  "t.yaml:2: pools[0].name: expected a pool name, got a list" },
	{ "name has no value",
	  "pools:\n  - name:\n    address: 198.18.0.10\n    slices: {host-a: 1-2}\n",
	  "t.yaml:2: pools[0].name: value is missing; expected a pool name" },
	{ "name is an empty string",
	  "pools:\n  - name: ''\n    address: 198.18.0.10\n    slices: {host-a: 1-2}\n",
	  "t.yaml:2: pools[0].name: empty pool name" },
	{ "name too long",
	  "pools:\n  - name: abcdefghijklmnopqrstuvwxyz012345\n    address: 198.18.0.10\n"
	  "    slices: {host-a: 1-2}\n",
	  "t.yaml:2: pools[0].name: pool name \"abcdefghijklmnopqrstuvwxyz012345...\" is 32 characters long; at most 31 are allowed" },
	{ "name with a blank",
	  "pools:\n  - name: web pool\n    address: 198.18.0.10\n    slices: {host-a: 1-2}\n",
	  "t.yaml:2: pools[0].name: invalid pool name \"web pool\"; use only letters, digits" },
	{ "name with a slash",
	  "pools:\n  - name: web/1\n    address: 198.18.0.10\n    slices: {host-a: 1-2}\n",
	  "t.yaml:2: pools[0].name: invalid pool name \"web/1\"" },
	{ "name with a NUL",
	  "pools:\n  - name: \"we\\0b\"\n    address: 198.18.0.10\n    slices: {host-a: 1-2}\n",
	  "t.yaml:2: pools[0].name: contains a NUL character" },
	{ "duplicate pool name names the first one",
	  POOL_OK "  - name: web\n    address: 198.18.0.11\n    slices: {host-a: 1-2}\n",
	  "t.yaml:6: pools[1].name: pool name \"web\" is already used by pools[0] (line 2)" },

	/* address */
	{ "address is not an IP literal",
	  ADDR("egress.example.com"),
	  "t.yaml:3: pools[0].address: \"egress.example.com\" is not an IPv4 or IPv6 address" },
	{ "address with a prefix length",
	  ADDR("198.18.0.10/32"),
	  "t.yaml:3: pools[0].address: \"198.18.0.10/32\" is not an IPv4 or IPv6 address; give the single shared address, without a prefix length" },
	{ "address with leading zeros",
	  ADDR("198.018.0.10"),
	  "t.yaml:3: pools[0].address: \"198.018.0.10\" is not an IPv4 or IPv6 address" },
	{ "address with a zone",
	  ADDR("fe80::1%eth0"),
	  "t.yaml:3: pools[0].address: \"fe80::1%eth0\" is not an IPv4 or IPv6 address" },
	{ "address is a list",
	  ADDR("[198.18.0.10]"),
	  "t.yaml:3: pools[0].address: expected an IPv4 or IPv6 address, got a list" },
	{ "address 0.0.0.0",
	  ADDR("0.0.0.0"),
	  "t.yaml:3: pools[0].address: 0.0.0.0 is the unspecified address" },
	{ "address ::",
	  ADDR("'::'"),
	  "t.yaml:3: pools[0].address: :: is the unspecified address" },
	{ "address IPv4 multicast",
	  ADDR("224.0.0.1"),
	  "t.yaml:3: pools[0].address: 224.0.0.1 is a multicast address" },
	{ "address IPv6 multicast",
	  ADDR("ff02::1"),
	  "t.yaml:3: pools[0].address: ff02::1 is a multicast address" },
	{ "address broadcast",
	  ADDR("255.255.255.255"),
	  "t.yaml:3: pools[0].address: 255.255.255.255 is the broadcast address" },
	{ "address IPv4-mapped",
	  ADDR("::ffff:198.18.0.10"),
	  "t.yaml:3: pools[0].address: ::ffff:198.18.0.10 is an IPv4-mapped IPv6 address; write the IPv4 form 198.18.0.10" },
	{ "duplicate IPv4 address",
	  POOL_OK "  - name: web2\n    address: 198.18.0.10\n    slices: {host-a: 1-2}\n",
	  "t.yaml:7: pools[1].address: 198.18.0.10 is already the address of pool \"web\" (pools[0], line 2)" },
	{ "duplicate IPv6 address spelled differently",
	  "pools:\n  - name: a\n    address: 2001:db8::10\n    slices: {h: 1}\n"
	  "  - name: b\n    address: 2001:0db8:0:0:0::0010\n    slices: {h: 1}\n",
	  "t.yaml:6: pools[1].address: 2001:db8::10 is already the address of pool \"a\" (pools[0], line 2)" },

	/* destinations */
	{ "destinations is a scalar",
	  DSTS4("0.0.0.0/0"),
	  "t.yaml:4: pools[0].destinations: expected a list of prefixes such as [10.0.0.0/8], got a single value" },
	{ "destinations is a mapping",
	  DSTS4("{a: 1}"),
	  "t.yaml:4: pools[0].destinations: expected a list of prefixes" },
	{ "destinations is empty",
	  DSTS4("[]"),
	  "t.yaml:4: pools[0].destinations: empty; list destination prefixes, or drop the key to reach all IPv4 destinations" },
	{ "destinations has no value",
	  DSTS4(""),
	  "t.yaml:4: pools[0].destinations: empty; list destination prefixes" },
	{ "destination is a list",
	  DSTS4("[[10.0.0.0/8]]"),
	  "t.yaml:4: pools[0].destinations[0]: expected a destination prefix such as 10.0.0.0/8, got a list" },
	{ "destination is not a prefix",
	  DSTS4("[10.0.0.0/8, internal]"),
	  "t.yaml:4: pools[0].destinations[1]: \"internal\" is not an address prefix; write ADDR/LEN" },
	{ "destination address truncated",
	  DSTS4("[10.0.0/8]"),
	  "t.yaml:4: pools[0].destinations[0]: \"10.0.0/8\" is not an address prefix" },
	{ "destination with non-numeric length",
	  DSTS4("[10.0.0.0/x]"),
	  "t.yaml:4: pools[0].destinations[0]: \"10.0.0.0/x\": the prefix length must be a decimal number" },
	{ "destination with empty length",
	  DSTS4("[10.0.0.0/]"),
	  "pools[0].destinations[0]: \"10.0.0.0/\": the prefix length must be a decimal number" },
	{ "destination with zero-padded length",
	  DSTS4("[10.0.0.0/08]"),
	  "pools[0].destinations[0]: \"10.0.0.0/08\": the prefix length must be a decimal number without leading zeros" },
	{ "IPv4 prefix length out of range",
	  DSTS4("[10.0.0.0/33]"),
	  "t.yaml:4: pools[0].destinations[0]: \"10.0.0.0/33\": prefix length out of range; IPv4 prefixes are /0 to /32" },
	{ "IPv6 prefix length out of range",
	  DSTS6("['2001:db8::/129']"),
	  "t.yaml:4: pools[0].destinations[0]: \"2001:db8::/129\": prefix length out of range; IPv6 prefixes are /0 to /128" },
	{ "IPv4 host bits set",
	  DSTS4("[10.0.0.1/8]"),
	  "t.yaml:4: pools[0].destinations[0]: \"10.0.0.1/8\" has host bits set beyond /8; did you mean 10.0.0.0/8?" },
	{ "IPv6 host bits set",
	  DSTS6("['2001:db8::1/32']"),
	  "t.yaml:4: pools[0].destinations[0]: \"2001:db8::1/32\" has host bits set beyond /32; did you mean 2001:db8::/32?" },
	{ "IPv6 destination in an IPv4 pool",
	  DSTS4("['::/0']"),
	  "t.yaml:4: pools[0].destinations[0]: \"::/0\" is an IPv6 prefix but the pool address is IPv4 (wrong family)" },
	{ "IPv4 destination in an IPv6 pool",
	  DSTS6("[10.0.0.0/8]"),
	  "t.yaml:4: pools[0].destinations[0]: \"10.0.0.0/8\" is an IPv4 prefix but the pool address is IPv6 (wrong family)" },
	{ "IPv4-mapped destination in an IPv6 pool",
	  DSTS6("['::ffff:10.0.0.0/104']"),
	  "pools[0].destinations[0]: \"::ffff:10.0.0.0/104\" is an IPv4-mapped prefix" },
	{ "destination listed twice",
	  POOL_HEAD "    destinations:\n      - 10.0.0.0/8\n      - 192.168.0.0/16\n      - 10.0.0.0/8\n"
	  "    slices: {host-a: 1-2}\n",
	  "t.yaml:7: pools[0].destinations[2]: \"10.0.0.0/8\" is listed twice (first at line 5)" },
	{ "wrong family checked whatever the key order",
	  "pools:\n  - destinations: [10.0.0.0/8]\n    slices: {h: 1}\n    name: w\n    address: 2001:db8::1\n",
	  "t.yaml:2: pools[0].destinations[0]: \"10.0.0.0/8\" is an IPv4 prefix but the pool address is IPv6" },

	/* slices */
	{ "slices is a list",
	  POOL_HEAD "    slices: [host-a]\n",
	  "t.yaml:4: pools[0].slices: expected a mapping of host names to port ranges (host-a: 20000-20999), got a list" },
	{ "slices is a scalar",
	  POOL_HEAD "    slices: host-a\n",
	  "t.yaml:4: pools[0].slices: expected a mapping of host names" },
	{ "slices is empty",
	  POOL_HEAD "    slices: {}\n",
	  "t.yaml:4: pools[0].slices: empty; give at least one host a port range" },
	{ "slices has no value",
	  POOL_HEAD "    slices:\n",
	  "t.yaml:4: pools[0].slices: empty; give at least one host a port range" },
	{ "host name with a blank",
	  POOL_HEAD "    slices:\n      host a: 20000-20999\n",
	  "t.yaml:5: pools[0].slices: invalid host name \"host a\"; use only letters, digits" },
	{ "host name with a non-ASCII letter",
	  POOL_HEAD "    slices:\n      h\xc3\xb4st: 20000-20999\n",
	  "t.yaml:5: pools[0].slices: invalid host name \"h\xc3\xb4st\"" },
	{ "host name too long",
	  POOL_HEAD "    slices:\n"
	  "      h123456789012345678901234567890123456789012345678901234567890123: 1\n",
	  "t.yaml:5: pools[0].slices: host name \"h123456789012345678901234567890123456789...\" is 64 characters long; at most 63 are allowed" },
	{ "host name empty",
	  POOL_HEAD "    slices:\n      '': 20000-20999\n",
	  "t.yaml:5: pools[0].slices: empty host name" },
	{ "host name not a scalar",
	  POOL_HEAD "    slices:\n      ? [a]\n      : 1\n",
	  "t.yaml:5: pools[0].slices: expected a host name as key, got a list" },
	{ "host listed twice names the first line",
	  POOL_HEAD "    slices:\n      host-a: 20000-20999\n      host-b: 21000-21999\n      host-a: 22000-22999\n",
	  "t.yaml:7: pools[0].slices.host-a: host \"host-a\" is listed twice in this pool (first at line 5)" },
	{ "range is a mapping",
	  SLICE("{lo: 20000}"),
	  "t.yaml:5: pools[0].slices.host-a: expected a port range such as 20000-20999, got a mapping" },
	/* blocks: a slice as a list of ranges */
	{ "blocks: empty list",
	  SLICE("[]"),
	  "t.yaml:5: pools[0].slices.host-a: empty; list port ranges such as [20000-20255, 21024-21279], or write one range" },
	{ "blocks: an item is not a range",
	  SLICE("[20000-20255, x]"),
	  "t.yaml:5: pools[0].slices.host-a[1]: \"x\" is not a port range; write LO-HI" },
	{ "blocks: an item is a list",
	  SLICE("[[20000-20255]]"),
	  "t.yaml:5: pools[0].slices.host-a[0]: expected a port range such as 20000-20999, got a list" },
	{ "blocks: an item is reversed",
	  SLICE("[20000-20255, 21279-21024]"),
	  "t.yaml:5: pools[0].slices.host-a[1]: \"21279-21024\" is reversed (LO > HI); write 21024-21279" },
	{ "blocks: of different sizes",
	  SLICE("[20000-20255, 21024-21279, 22000-22099]"),
	  "t.yaml:5: pools[0].slices.host-a[2]: 22000-22099 has 100 ports but 20000-20255 has 256; the blocks of a slice must all have the same size" },
	{ "blocks: too many",
	  SLICE("[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33]"),
	  "t.yaml:5: pools[0].slices.host-a: 33 blocks; at most 32 per slice are allowed" },
	{ "blocks: two of one slice overlap",
	  SLICE("[20000-20255, 20100-20355]"),
	  "t.yaml:5: pools[0].slices.host-a: 20100-20355 overlaps 20000-20255, another block of the same slice; the blocks of a slice must not overlap" },
	{ "blocks: the same block twice",
	  SLICE("[20000-20255, 21000-21255, 20000-20255]"),
	  "t.yaml:5: pools[0].slices.host-a: 20000-20255 overlaps 20000-20255, another block of the same slice" },
	{ "blocks: a block overlaps another host's block",
	  POOL_HEAD "    slices:\n      host-a: [20000-20255, 21024-21279]\n      host-b: [21200-21455]\n",
	  "t.yaml:6: pools[0].slices.host-b: 21200-21455 overlaps 21024-21279 of host \"host-a\" (line 5); slices of one pool must not overlap" },
	{ "blocks: a later host's second block overlaps an earlier range",
	  POOL_HEAD "    slices:\n      host-a: 1000-1999\n      host-b: [3000-3099, 1500-1599]\n",
	  "t.yaml:6: pools[0].slices.host-b: 1500-1599 overlaps 1000-1999 of host \"host-a\" (line 5)" },
	{ "blocks: an earlier host's block inside a later host's range",
	  POOL_HEAD "    slices:\n      host-a: [100-109, 5000-5009]\n      host-b: 4000-6000\n",
	  "t.yaml:6: pools[0].slices.host-b: 4000-6000 overlaps 5000-5009 of host \"host-a\" (line 5)" },
	{ "range has no value",
	  SLICE(""),
	  "t.yaml:5: pools[0].slices.host-a: value is missing; expected a port range" },
	{ "range without HI",
	  SLICE("20000-"),
	  "t.yaml:5: pools[0].slices.host-a: \"20000-\" is not a port range; write LO-HI (e.g. 20000-20999) or a single port" },
	{ "range without LO",
	  SLICE("-20999"),
	  "t.yaml:5: pools[0].slices.host-a: \"-20999\" is not a port range" },
	{ "negative port",
	  SLICE("-5"),
	  "t.yaml:5: pools[0].slices.host-a: \"-5\" is not a port range" },
	{ "hex port",
	  SLICE("0x10"),
	  "t.yaml:5: pools[0].slices.host-a: \"0x10\" is not a port range" },
	{ "three parts",
	  SLICE("20000-20999-3"),
	  "t.yaml:5: pools[0].slices.host-a: \"20000-20999-3\" is not a port range" },
	{ "leading plus",
	  SLICE("+20000"),
	  "t.yaml:5: pools[0].slices.host-a: \"+20000\" is not a port range" },
	{ "plus on HI",
	  SLICE("20000-+20999"),
	  "t.yaml:5: pools[0].slices.host-a: \"20000-+20999\" is not a port range" },
	{ "blanks around the dash",
	  SLICE("20000 - 20999"),
	  "t.yaml:5: pools[0].slices.host-a: \"20000 - 20999\" is not a port range" },
	{ "quoted leading blank",
	  SLICE("' 20000'"),
	  "t.yaml:5: pools[0].slices.host-a: \" 20000\" is not a port range" },
	{ "quoted trailing blank",
	  SLICE("'20000-20999 '"),
	  "t.yaml:5: pools[0].slices.host-a: \"20000-20999 \" is not a port range" },
	{ "float",
	  SLICE("2e4"),
	  "t.yaml:5: pools[0].slices.host-a: \"2e4\" is not a port range" },
	{ "decimal point",
	  SLICE("20000.5"),
	  "t.yaml:5: pools[0].slices.host-a: \"20000.5\" is not a port range" },
	{ "underscore digit separator",
	  SLICE("20_000"),
	  "t.yaml:5: pools[0].slices.host-a: \"20_000\" is not a port range" },
	{ "word instead of a range",
	  SLICE("all"),
	  "t.yaml:5: pools[0].slices.host-a: \"all\" is not a port range" },
	{ "leading zero (octal in YAML 1.1)",
	  SLICE("020000"),
	  "t.yaml:5: pools[0].slices.host-a: \"020000\": write ports without leading zeros" },
	{ "leading zero on HI",
	  SLICE("20000-020999"),
	  "t.yaml:5: pools[0].slices.host-a: \"20000-020999\": write ports without leading zeros" },
	{ "port 0",
	  SLICE("0"),
	  "t.yaml:5: pools[0].slices.host-a: \"0\": port 0 is not a usable port; ports are 1-65535" },
	{ "range starting at port 0",
	  SLICE("0-1023"),
	  "t.yaml:5: pools[0].slices.host-a: \"0-1023\": port 0 is not a usable port" },
	{ "port above 65535",
	  SLICE("65536"),
	  "t.yaml:5: pools[0].slices.host-a: \"65536\": port out of range; ports are 1-65535" },
	{ "HI above 65535",
	  SLICE("60000-70000"),
	  "t.yaml:5: pools[0].slices.host-a: \"60000-70000\": port out of range" },
	{ "huge number does not wrap",
	  SLICE("18446744073709551617"),
	  "t.yaml:5: pools[0].slices.host-a: \"18446744073709551617\": port out of range" },
	{ "reversed range suggests the fix",
	  SLICE("20999-20000"),
	  "t.yaml:5: pools[0].slices.host-a: \"20999-20000\" is reversed (LO > HI); write 20000-20999" },
	{ "overlap names both hosts and the other line",
	  POOL_HEAD "    slices:\n      host-a: 20000-20999\n      host-b: 20500-21999\n",
	  "t.yaml:6: pools[0].slices.host-b: 20500-21999 overlaps 20000-20999 of host \"host-a\" (line 5); slices of one pool must not overlap" },
	{ "overlap at a single shared port",
	  POOL_HEAD "    slices:\n      host-a: 20000-20999\n      host-b: 20999-21999\n",
	  "t.yaml:6: pools[0].slices.host-b: 20999-21999 overlaps 20000-20999 of host \"host-a\" (line 5)" },
	{ "single port inside another slice",
	  POOL_HEAD "    slices:\n      host-a: 20000-20999\n      host-b: 21000-21999\n      host-c: 20500\n",
	  "t.yaml:7: pools[0].slices.host-c: 20500 overlaps 20000-20999 of host \"host-a\" (line 5)" },
	{ "overlap reported at the later slice even when it has the lower ports",
	  POOL_HEAD "    slices:\n      host-a: 30000-30999\n      host-b: 10000-19999\n      host-c: 1000-40000\n",
	  "t.yaml:7: pools[0].slices.host-c: 1000-40000 overlaps" },
	{ "overlap hidden behind a wide slice",
	  POOL_HEAD "    slices:\n      host-a: 1000-9000\n      host-b: 2000-2999\n      host-c: 5000-5999\n",
	  "t.yaml:6: pools[0].slices.host-b: 2000-2999 overlaps 1000-9000 of host \"host-a\" (line 5)" },
	{ "overlap in the second pool",
	  POOL_OK "  - name: web6\n    address: 2001:db8::10\n    slices:\n      host-a: 1-100\n      host-b: 100-200\n",
	  "t.yaml:10: pools[1].slices.host-b: 100-200 overlaps 1-100 of host \"host-a\" (line 9)" },

	/* hosts */
	{ "hosts empty",
	  POOL_OK "hosts: {}\n",
	  "t.yaml:6: hosts: empty; list every host of the fleet with its underlay address" },
	{ "hosts without a value",
	  POOL_OK "hosts:\n",
	  "t.yaml:6: hosts: empty;" },
	{ "hosts is a list",
	  POOL_OK "hosts: [host-a]\n",
	  "t.yaml:6: hosts: expected a mapping of host names to their addresses (host-a: {address: 198.18.10.1}), got a list" },
	{ "host given as a bare address",
	  POOL_OK "hosts:\n  host-a: 198.18.10.1\n",
	  "t.yaml:7: hosts.host-a: expected a host (a mapping with its address, e.g. {address: 198.18.10.1}), got a single value" },
	{ "host without address",
	  HOST_A(""),
	  "t.yaml:7: hosts.host-a.address: required key is missing" },
	{ "unknown host key names the allowed ones",
	  HOST_A("address: 198.18.10.1, mac: 02:00:00:00:00:01"),
	  "t.yaml:7: hosts.host-a.mac: unknown key; allowed keys in hosts.host-a: address$" },
	{ "host address not an address",
	  HOST_A("address: host-a.example"),
	  "t.yaml:7: hosts.host-a.address: \"host-a.example\" is not an IPv4 or IPv6 address$" },
	{ "host address with a prefix length",
	  HOST_A("address: 198.18.10.0/24"),
	  "t.yaml:7: hosts.host-a.address: \"198.18.10.0/24\" is not an IPv4 or IPv6 address; give the single underlay address, without a prefix length" },
	{ "host address multicast",
	  HOST_A("address: 224.0.0.1"),
	  "t.yaml:7: hosts.host-a.address: 224.0.0.1 is a multicast address; a host address must be unicast" },
	{ "host address unspecified IPv6",
	  HOST_A("address: '::'"),
	  "t.yaml:7: hosts.host-a.address: :: is the unspecified address; give the host's underlay address" },
	{ "host address IPv4-mapped",
	  HOST_A("address: '::ffff:198.18.10.1'"),
	  "t.yaml:7: hosts.host-a.address: ::ffff:198.18.10.1 is an IPv4-mapped IPv6 address; write the IPv4 form 198.18.10.1" },
	{ "host address empty",
	  HOST_A("address: "),
	  "t.yaml:7: hosts.host-a.address: value is missing; expected an IPv4 or IPv6 address" },
	{ "host listed twice",
	  HOSTS_OK "  host-a: {address: 198.18.10.2}\n",
	  "t.yaml:8: hosts.host-a: host \"host-a\" is listed twice (first at line 7); keep one" },
	{ "two hosts share an address",
	  HOSTS_OK "  host-b: {address: 198.18.10.1}\n",
	  "t.yaml:8: hosts.host-b.address: 198.18.10.1 is already the address of host \"host-a\" (line 7); each host needs its own underlay address" },
	{ "two hosts share an IPv6 address written differently",
	  POOL_OK "hosts:\n  host-a: {address: '2001:db8:0::1'}\n  host-b: {address: '2001:db8::1'}\n",
	  "t.yaml:8: hosts.host-b.address: 2001:db8::1 is already the address of host \"host-a\" (line 7)" },
	{ "invalid host name in hosts",
	  POOL_OK "hosts:\n  'host a': {address: 198.18.10.1}\n",
	  "t.yaml:7: hosts: invalid host name \"host a\"" },
	{ "host key not a name",
	  POOL_OK "hosts:\n  [a]: {address: 198.18.10.1}\n",
	  "t.yaml:7: hosts: expected a host name as key, got a list" },
	{ "slice of a host missing from hosts names the slice line",
	  POOL_HEAD "    slices:\n      host-a: 20000-20999\n      host-b: 21000-21999\n"
	  "hosts:\n  host-a: {address: 198.18.10.1}\n",
	  "t.yaml:6: pools[0].slices.host-b: host \"host-b\" is not listed under hosts (line 7); add it there with its underlay address" },
	{ "missing host in the second pool",
	  POOL_OK "  - name: web6\n    address: 2001:db8::10\n    slices:\n      host-a: 1-100\n      host-c: 200\n"
	  "hosts:\n  host-a: {address: 198.18.10.1}\n",
	  "t.yaml:10: pools[1].slices.host-c: host \"host-c\" is not listed under hosts (line 11)" },
	{ "missing host found even when hosts come first",
	  "hosts:\n  host-b: {address: 198.18.10.2}\n" POOL_OK,
	  "t.yaml:7: pools[0].slices.host-a: host \"host-a\" is not listed under hosts (line 1)" },
	{ "hosts given twice",
	  HOSTS_OK "hosts: {}\n",
	  "t.yaml:8: hosts: key given twice (first at line 6)" },

	/* steering */
	{ "steering without hosts",
	  POOL_OK "steering:\n  mode: l2\n",
	  "t.yaml:6: steering: needs a hosts: section listing every host with its underlay address" },
	{ "steering mode unknown",
	  HOSTS_OK "steering:\n  mode: l3\n",
	  "t.yaml:9: steering.mode: \"l3\" is not a steering mode; use l2 (hosts share a segment: MAC rewrite) or encap (IP-in-IP to the owner's underlay address)" },
	{ "steering mode is case-sensitive",
	  STEERING("{mode: L2}"),
	  "t.yaml:8: steering.mode: \"L2\" is not a steering mode" },
	{ "steering mode missing",
	  STEERING("{interfaces: [eth0]}"),
	  "t.yaml:8: steering.mode: required key is missing" },
	{ "steering mode is a list",
	  STEERING("{mode: [l2]}"),
	  "t.yaml:8: steering.mode: expected l2 or encap, got a list" },
	{ "unknown steering key names the allowed ones",
	  STEERING("{mode: l2, iface: eth0}"),
	  "t.yaml:8: steering.iface: unknown key; allowed keys in steering: mode, interfaces$" },
	{ "steering is a scalar",
	  STEERING("l2"),
	  "t.yaml:8: steering: expected a mapping with mode (l2 or encap) and optionally interfaces, got a single value" },
	{ "steering without a value",
	  HOSTS_OK "steering:\n",
	  "t.yaml:8: steering: expected a mapping with mode (l2 or encap) and optionally interfaces, got an empty value" },
	{ "steering interfaces empty",
	  STEERING("{mode: l2, interfaces: []}"),
	  "t.yaml:8: steering.interfaces: empty; list the interfaces replies arrive on" },
	{ "steering interfaces a scalar",
	  STEERING("{mode: l2, interfaces: eth0}"),
	  "t.yaml:8: steering.interfaces: expected a list of interface names such as [eth0], got a single value" },
	{ "steering interface with a slash",
	  STEERING("{mode: l2, interfaces: [eth0, 'a/b']}"),
	  "t.yaml:8: steering.interfaces[1]: \"a/b\" is not an interface name; names have 1-15 characters" },
	{ "steering interface name too long",
	  STEERING("{mode: encap, interfaces: [abcdefghijklmnop]}"),
	  "t.yaml:8: steering.interfaces[0]: \"abcdefghijklmnop\" is not an interface name" },
	{ "steering interface listed twice",
	  HOSTS_OK "steering:\n  mode: l2\n  interfaces:\n    - eth0\n    - eth0\n",
	  "t.yaml:12: steering.interfaces[1]: \"eth0\" is listed twice (first at line 11); keep one" },

	/* cgroups */
	{ "cgroups is a scalar",
	  POOL_OK "cgroups: /sys/fs/cgroup/app.slice\n",
	  "t.yaml:6: cgroups: expected a list of cgroups (\"- path: ...\" entries), got a single value" },
	/* A pool name longer than any pool's, checked while pools: has errors: once copied past its buffer. */
	{ "cgroup's pool name too long, pools: in error",
	  ADDR("0.0.0.0") "cgroups:\n  - path: /sys/fs/cgroup/app.slice\n    pools: [aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\n",
	  "t.yaml:3: pools[0].address" },
	{ "cgroups empty",
	  POOL_OK "cgroups: []\n",
	  "t.yaml:6: cgroups: empty; list cgroups" },
	{ "cgroup is a scalar",
	  CGROUPS("/sys/fs/cgroup/app.slice"),
	  "t.yaml:7: cgroups[0]: expected a cgroup (a mapping with path and, optionally, pools), got a single value" },
	{ "cgroup without path",
	  CGROUPS("pools: [web]"),
	  "t.yaml:7: cgroups[0].path: required key is missing" },
	{ "cgroup path relative",
	  CGROUPS("path: app.slice"),
	  "t.yaml:7: cgroups[0].path: \"app.slice\" is not an absolute path; give the cgroup v2 directory" },
	{ "cgroup listed twice, trailing slash or not",
	  CGROUPS("path: /sys/fs/cgroup/a") "  - path: /sys/fs/cgroup/a/\n",
	  "t.yaml:8: cgroups[1].path: /sys/fs/cgroup/a/ is already listed as cgroups[0] (line 7); keep one" },
	{ "unknown cgroup key names the allowed ones",
	  CGROUPS("path: /a\n    weight: 10"),
	  "t.yaml:8: cgroups[0].weight: unknown key; allowed keys in cgroups[0]: path, pools$" },
	{ "cgroup pools name an unknown pool",
	  CGROUPS("path: /a\n    pools: [web, api]"),
	  "t.yaml:8: cgroups[0].pools[1]: no pool is named \"api\"; the pools are: web$" },
	{ "cgroup pools empty",
	  CGROUPS("path: /a\n    pools: []"),
	  "t.yaml:8: cgroups[0].pools: empty; name pools, or drop the key to use every pool with a slice for the host" },
	{ "cgroup pools a scalar",
	  CGROUPS("path: /a\n    pools: web"),
	  "t.yaml:8: cgroups[0].pools: expected a list of pool names such as [web], got a single value" },
	{ "cgroup pool listed twice",
	  CGROUPS("path: /a\n    pools:\n      - web\n      - web"),
	  "t.yaml:10: cgroups[0].pools[1]: \"web\" is listed twice (first at line 9); keep one" },
	{ "unknown pool in the second cgroup",
	  CGROUPS("path: /a") "  - path: /b\n    pools: [web6]\n",
	  "t.yaml:9: cgroups[1].pools[0]: no pool is named \"web6\"" },
};

static void check_empty(const struct ps_config *cfg)
{
	assert_null(cfg->path);
	assert_null(cfg->pools);
	assert_int_equal(cfg->n_pools, 0);
	assert_null(cfg->hosts);
	assert_int_equal(cfg->n_hosts, 0);
	assert_false(cfg->steering.present);
	assert_null(cfg->steering.interfaces);
	assert_null(cfg->cgroups);
	assert_int_equal(cfg->n_cgroups, 0);
}

static void test_bad_case(void **state)
{
	const struct bad_case *c = *state;
	struct ps_config cfg;
	struct ps_error err;
	const char *found, *p;
	bool anchored;
	size_t len;
	int ret;

	memset(&cfg, 0xa5, sizeof(cfg));
	memset(&err, 0, sizeof(err));
	ret = ps_config_load_buf("t.yaml", c->yaml, strlen(c->yaml), &cfg, &err);
	len = strlen(c->expect);
	anchored = len && c->expect[len - 1] == '$';
	if (anchored)
		len--;
	found = NULL;
	for (p = err.msg; *p && !found; p++)
		if (!strncmp(p, c->expect, len) && (!anchored || !p[len]))
			found = p;
	if (ret != -EINVAL || !found)
		fail_msg("%s:\n  got      %d \"%s\"\n  expected -EINVAL \"...%s...\"",
			 c->desc, ret, err.msg, c->expect);
	check_empty(&cfg);
}

static int load_ok(const char *yaml, struct ps_config *cfg)
{
	struct ps_error err = { 0 };
	int ret;

	ret = ps_config_load_buf("ok.yaml", yaml, strlen(yaml), cfg, &err);
	if (ret)
		fail_msg("unexpected error %d: %s", ret, err.msg);
	return ret;
}

static void assert_addr(int family, const uint8_t *addr, const char *want)
{
	uint8_t buf[16] = { 0 };

	assert_int_equal(inet_pton(family, want, buf), 1);
	assert_memory_equal(addr, buf, 16);
}

static const char spec_example[] =
	"pools:\n"                                   /* 1 */
	"  - name: web\n"                            /* 2 */
	"    address: 198.18.0.10          # IPv4\n" /* 3 */
	"    destinations: [0.0.0.0/0]\n"            /* 4 */
	"    slices:\n"                              /* 5 */
	"      host-a: 20000-20999\n"                /* 6 */
	"      host-b: 21000-21999\n"                /* 7 */
	"  - name: web6\n"                           /* 8 */
	"    address: 2001:db8::10\n"                /* 9 */
	"    slices:\n"                              /* 10 */
	"      host-a: 20000-20999\n";               /* 11 */

static void test_spec_example(void **state)
{
	const struct ps_pool_cfg *p;
	struct ps_config cfg;

	(void)state;
	load_ok(spec_example, &cfg);
	assert_string_equal(cfg.path, "ok.yaml");
	assert_int_equal(cfg.n_pools, 2);

	p = &cfg.pools[0];
	assert_string_equal(p->name, "web");
	assert_int_equal(p->family, AF_INET);
	assert_addr(AF_INET, p->addr, "198.18.0.10");
	assert_int_equal(p->line, 2);
	assert_int_equal(p->n_dsts, 1);
	assert_int_equal(p->dsts[0].family, AF_INET);
	assert_int_equal(p->dsts[0].len, 0);
	assert_addr(AF_INET, p->dsts[0].addr, "0.0.0.0");
	assert_int_equal(p->n_slices, 2);
	assert_string_equal(p->slices[0].host, "host-a");
	assert_int_equal(p->slices[0].range.lo, 20000);
	assert_int_equal(p->slices[0].range.hi, 20999);
	assert_int_equal(p->slices[0].line, 6);
	assert_string_equal(p->slices[1].host, "host-b");
	assert_int_equal(p->slices[1].range.lo, 21000);
	assert_int_equal(p->slices[1].range.hi, 21999);
	assert_int_equal(p->slices[1].line, 7);

	p = &cfg.pools[1];
	assert_string_equal(p->name, "web6");
	assert_int_equal(p->family, AF_INET6);
	assert_addr(AF_INET6, p->addr, "2001:db8::10");
	assert_int_equal(p->line, 8);
	/* default destinations: all of the family */
	assert_int_equal(p->n_dsts, 1);
	assert_int_equal(p->dsts[0].family, AF_INET6);
	assert_int_equal(p->dsts[0].len, 0);
	assert_addr(AF_INET6, p->dsts[0].addr, "::");
	assert_int_equal(p->n_slices, 1);
	assert_string_equal(p->slices[0].host, "host-a");
	assert_int_equal(p->slices[0].range.lo, 20000);
	assert_int_equal(p->slices[0].range.hi, 20999);
	assert_int_equal(p->slices[0].line, 11);

	assert_ptr_equal(ps_config_find_pool(&cfg, "web6"), &cfg.pools[1]);
	assert_null(ps_config_find_pool(&cfg, "web7"));
	assert_ptr_equal(ps_pool_find_slice(&cfg.pools[0], "host-b"), &cfg.pools[0].slices[1]);
	assert_null(ps_pool_find_slice(&cfg.pools[1], "host-b"));

	ps_config_free(&cfg);
	check_empty(&cfg);
	/* freeing twice is harmless */
	ps_config_free(&cfg);
}

static void test_default_destination_ipv4(void **state)
{
	struct ps_config cfg;

	(void)state;
	load_ok(POOL_OK, &cfg);
	assert_int_equal(cfg.pools[0].n_dsts, 1);
	assert_int_equal(cfg.pools[0].dsts[0].family, AF_INET);
	assert_int_equal(cfg.pools[0].dsts[0].len, 0);
	assert_addr(AF_INET, cfg.pools[0].dsts[0].addr, "0.0.0.0");
	ps_config_free(&cfg);
}

static void test_reuse_delay(void **state)
{
	static const struct { const char *val; uint32_t ms; } cases[] = {
		{ "0", 0 }, { "1500", 1500 }, { "250ms", 250 }, { "2s", 2000 }, { "600s", 600000 },
	};
	struct ps_config cfg;

	(void)state;
	load_ok(POOL_OK, &cfg);
	assert_int_equal(cfg.pools[0].reuse_delay_ms, 0);
	ps_config_free(&cfg);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char yaml[256];

		snprintf(yaml, sizeof(yaml), REUSE_DELAY("%s"), cases[i].val);
		load_ok(yaml, &cfg);
		assert_int_equal(cfg.pools[0].reuse_delay_ms, cases[i].ms);
		ps_config_free(&cfg);
	}
}

/* p2p: a P2P pool quarantines for 15 s unless reuse_delay says otherwise, in either key order. */
static void test_p2p(void **state)
{
	static const struct { const char *keys; bool p2p; uint32_t ms; } cases[] = {
		{ "    p2p: true\n", true, 15000 },
		{ "    p2p: false\n", false, 0 },
		{ "    p2p: true\n    reuse_delay: 2s\n", true, 2000 },
		{ "    reuse_delay: 0\n    p2p: true\n", true, 0 },
	};
	struct ps_config cfg;

	(void)state;
	load_ok(POOL_OK, &cfg);
	assert_false(cfg.pools[0].p2p);
	ps_config_free(&cfg);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char yaml[256];

		snprintf(yaml, sizeof(yaml), POOL_OK "%s", cases[i].keys);
		load_ok(yaml, &cfg);
		assert_int_equal(cfg.pools[0].p2p, cases[i].p2p);
		assert_int_equal(cfg.pools[0].reuse_delay_ms, cases[i].ms);
		ps_config_free(&cfg);
	}
}

static void test_explicit_destinations(void **state)
{
	const struct ps_pool_cfg *p;
	struct ps_config cfg;

	(void)state;
	load_ok("pools:\n"
		"  - name: v6\n"
		"    address: 2001:db8::10\n"
		"    destinations:\n"
		"      - 2001:db8:1::/48\n"
		"      - '::/0'\n"
		"      - 2001:db8::53\n"
		"    slices: {h: 1}\n"
		"  - name: v4\n"
		"    address: 10.1.2.3\n"
		"    destinations: [10.0.0.0/8, 192.0.2.1, 0.0.0.0/0]\n"
		"    slices: {h: 1}\n", &cfg);
	p = &cfg.pools[0];
	assert_int_equal(p->n_dsts, 3);
	assert_int_equal(p->dsts[0].family, AF_INET6);
	assert_int_equal(p->dsts[0].len, 48);
	assert_addr(AF_INET6, p->dsts[0].addr, "2001:db8:1::");
	assert_int_equal(p->dsts[1].len, 0);
	assert_addr(AF_INET6, p->dsts[1].addr, "::");
	assert_int_equal(p->dsts[2].len, 128);
	assert_addr(AF_INET6, p->dsts[2].addr, "2001:db8::53");
	p = &cfg.pools[1];
	assert_int_equal(p->n_dsts, 3);
	assert_int_equal(p->dsts[0].family, AF_INET);
	assert_int_equal(p->dsts[0].len, 8);
	assert_addr(AF_INET, p->dsts[0].addr, "10.0.0.0");
	assert_int_equal(p->dsts[1].len, 32);
	assert_addr(AF_INET, p->dsts[1].addr, "192.0.2.1");
	assert_int_equal(p->dsts[2].len, 0);
	ps_config_free(&cfg);
}

/* Flow style, quoting, any key order, scalar ports, edge ports, anchors. */
static void test_yaml_variants(void **state)
{
	const struct ps_pool_cfg *p;
	struct ps_config cfg;

	(void)state;
	load_ok("# fleet\n"
		"pools:\n"
		"- slices: &s {\"host-a\": '1-1023', host-b: 1024, host_c.x: 65535}\n"
		"  address: \"203.0.113.7\"\n"
		"  name: 'a.b_c-9'\n"
		"- {name: twin, address: 203.0.113.8, slices: *s}\n", &cfg);
	assert_int_equal(cfg.n_pools, 2);
	p = &cfg.pools[0];
	assert_string_equal(p->name, "a.b_c-9");
	assert_int_equal(p->line, 3);
	assert_addr(AF_INET, p->addr, "203.0.113.7");
	assert_int_equal(p->n_slices, 3);
	assert_int_equal(p->slices[0].range.lo, 1);
	assert_int_equal(p->slices[0].range.hi, 1023);
	assert_int_equal(p->slices[1].range.lo, 1024);
	assert_int_equal(p->slices[1].range.hi, 1024);
	assert_string_equal(p->slices[2].host, "host_c.x");
	assert_int_equal(p->slices[2].range.lo, 65535);
	assert_int_equal(p->slices[2].range.hi, 65535);
	assert_int_equal(p->slices[2].line, 3);
	p = &cfg.pools[1];
	assert_string_equal(p->name, "twin");
	assert_int_equal(p->line, 6);
	assert_int_equal(p->n_slices, 3);
	assert_int_equal(p->slices[1].range.lo, 1024);
	ps_config_free(&cfg);
}

static void test_adjacent_slices_and_crlf(void **state)
{
	struct ps_config cfg;

	(void)state;
	load_ok("pools:\r\n"
		"  - name: web\r\n"
		"    address: 198.18.0.10\r\n"
		"    slices:\r\n"
		"      host-b: 21000-21999\r\n"
		"      host-a: 20000-20999\r\n"
		"      host-c: 22000\r\n"
		"      host-d: 22001-65535\r\n", &cfg);
	assert_int_equal(cfg.pools[0].n_slices, 4);
	assert_int_equal(cfg.pools[0].slices[3].line, 8);
	assert_int_equal(cfg.pools[0].slices[3].range.hi, 65535);
	ps_config_free(&cfg);
}

/* A slice of blocks: each block in file order, the hull in range; one range is one block. */
static void test_blocks(void **state)
{
	const struct ps_slice_cfg *a, *b;
	struct ps_config cfg;

	(void)state;
	load_ok(POOL_HEAD
		"    slices:\n"
		"      host-a: [21024-21279, 20000-20255]\n"
		"      host-b: 20256-21023\n"
		"      host-c:\n"
		"        - 30000-30255\n", &cfg);
	a = ps_pool_find_slice(&cfg.pools[0], "host-a");
	b = ps_pool_find_slice(&cfg.pools[0], "host-b");
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(a->n_blocks, 2);
	assert_int_equal(a->blocks[0].lo, 21024);
	assert_int_equal(a->blocks[0].hi, 21279);
	assert_int_equal(a->blocks[1].lo, 20000);
	assert_int_equal(a->range.lo, 20000);
	assert_int_equal(a->range.hi, 21279);
	assert_int_equal(b->n_blocks, 1);
	assert_int_equal(b->blocks[0].lo, 20256);
	assert_int_equal(b->blocks[0].hi, 21023);
	assert_int_equal(cfg.pools[0].slices[2].n_blocks, 1);
	assert_int_equal(cfg.pools[0].slices[2].line, 7);
	ps_config_free(&cfg);

	/* 32 blocks of one port each, the most a slice may have. */
	load_ok(POOL_HEAD "    slices:\n      host-a: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32]\n", &cfg);
	assert_int_equal(cfg.pools[0].slices[0].n_blocks, PS_MAX_BLOCKS);
	assert_int_equal(cfg.pools[0].slices[0].blocks[31].lo, 32);
	ps_config_free(&cfg);
}

static void test_longest_names(void **state)
{
	struct ps_config cfg;

	(void)state;
	load_ok("pools:\n"
		"  - name: abcdefghijklmnopqrstuvwxyz01234\n"
		"    address: 198.18.0.10\n"
		"    slices:\n"
		"      h12345678901234567890123456789012345678901234567890123456789012: 1\n",
		&cfg);
	assert_int_equal(strlen(cfg.pools[0].name), PS_POOL_NAME_LEN - 1);
	assert_int_equal(strlen(cfg.pools[0].slices[0].host), PS_HOST_NAME_LEN - 1);
	ps_config_free(&cfg);
}

/* The buffer need not be NUL-terminated: only len bytes are read. */
static void test_buffer_length(void **state)
{
	static const char text[] = POOL_OK "garbage: [";
	struct ps_config cfg;
	struct ps_error err;

	(void)state;
	assert_int_equal(ps_config_load_buf("b", text, strlen(POOL_OK), &cfg, NULL), 0);
	ps_config_free(&cfg);
	assert_int_equal(ps_config_load_buf("b", text, sizeof(text) - 1, &cfg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "b:7: syntax error"));
	/* NULL error buffer and NULL name are allowed */
	assert_int_equal(ps_config_load_buf(NULL, "x: 1", 4, &cfg, NULL), -EINVAL);
	check_empty(&cfg);
	assert_int_equal(ps_config_load_buf(NULL, NULL, 0, &cfg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "<config>:1: top level: the configuration is empty"));
}

static char *build_pools(int n_pools, int n_dsts)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	int i, j;

	assert_non_null(f);
	fprintf(f, "pools:\n");
	for (i = 0; i < n_pools; i++) {
		/* 3 lines per pool, 1 + n_dsts more with destinations; pools[0] on line 2 */
		fprintf(f, "  - name: p%d\n    address: 10.0.%d.%d\n    slices: {h: %d}\n",
			i, i / 200, i % 200 + 1, i + 1);
		if (n_dsts) {
			fprintf(f, "    destinations:\n");
			for (j = 0; j < n_dsts; j++)
				fprintf(f, "      - 10.%d.%d.0/24\n", j / 256, j % 256);
		}
	}
	fclose(f);
	return text;
}

static void test_max_pools(void **state)
{
	struct ps_config cfg;
	struct ps_error err;
	char *text, want[128];

	(void)state;
	text = build_pools(PS_MAX_POOLS, 0);
	assert_int_equal(ps_config_load_buf("m", text, strlen(text), &cfg, &err), 0);
	assert_int_equal(cfg.n_pools, PS_MAX_POOLS);
	assert_int_equal(cfg.pools[PS_MAX_POOLS - 1].line, 2 + 3 * (PS_MAX_POOLS - 1));
	ps_config_free(&cfg);
	free(text);

	text = build_pools(PS_MAX_POOLS + 1, 0);
	assert_int_equal(ps_config_load_buf("m", text, strlen(text), &cfg, &err), -EINVAL);
	snprintf(want, sizeof(want), "m:%d: pools: %d pools; at most %d are allowed",
		 2 + 3 * PS_MAX_POOLS, PS_MAX_POOLS + 1, PS_MAX_POOLS);
	assert_string_equal(err.msg, want);
	check_empty(&cfg);
	free(text);
}

static void test_max_destinations(void **state)
{
	struct ps_config cfg;
	struct ps_error err;
	char *text;

	(void)state;
	text = build_pools(1, PS_MAX_POOL_DSTS);
	assert_int_equal(ps_config_load_buf("d", text, strlen(text), &cfg, &err), 0);
	assert_int_equal(cfg.pools[0].n_dsts, PS_MAX_POOL_DSTS);
	assert_int_equal(cfg.pools[0].dsts[1023].len, 24);
	assert_addr(AF_INET, cfg.pools[0].dsts[1023].addr, "10.3.255.0");
	ps_config_free(&cfg);
	free(text);

	text = build_pools(1, PS_MAX_POOL_DSTS + 1);
	assert_int_equal(ps_config_load_buf("d", text, strlen(text), &cfg, &err), -EINVAL);
	assert_string_equal(err.msg,
			    "d:1030: pools[0].destinations: 1025 destinations; at most 1024 per pool are allowed");
	check_empty(&cfg);
	free(text);
}

/*
 * One load reports every independent error, each with its line and field,
 * and skips the checks across sections that have errors of their own.
 */
static void test_every_error_reported(void **state)
{
	static const char text[] =
		"pools:\n"                                     /* 1 */
		"  - name: web\n"                              /* 2 */
		"    address: 198.18.0.300\n"                  /* 3 */
		"    destinations: [10.0.0.0/8]\n"             /* 4 */
		"    colour: blue\n"                           /* 5 */
		"    slices: {host-a: 20000-20999}\n"          /* 6 */
		"  - name: api\n"                              /* 7 */
		"    address: 198.18.0.11\n"                   /* 8 */
		"    slices: {host-a: 21000-20000}\n"          /* 9 */
		"cgroups:\n"                                   /* 10 */
		"  - path: relative/cg\n"                      /* 11 */
		"    pools: [nosuch]\n";                       /* 12 */
	struct ps_config cfg;
	struct ps_error err;

	(void)state;
	assert_int_equal(ps_config_load_buf("f.yaml", text, strlen(text), &cfg, &err), -EINVAL);
	assert_int_equal(err.n, 4);
	assert_int_equal(err.n_more, 0);
	assert_string_equal(err.file, "f.yaml");
	assert_int_equal(err.items[0].line, 5);
	assert_string_equal(err.items[0].field, "pools[0].colour");
	assert_int_equal(err.items[1].line, 3);
	assert_string_equal(err.items[1].field, "pools[0].address");
	assert_int_equal(err.items[2].line, 9);
	assert_string_equal(err.items[2].field, "pools[1].slices.host-a");
	assert_int_equal(err.items[3].line, 11);
	assert_string_equal(err.items[3].field, "cgroups[0].path");
	/* The first error is the whole message, as before. */
	assert_non_null(strstr(err.msg, "f.yaml:5: pools[0].colour: unknown key"));
	/* No consequence of the bad pools: "nosuch" is not checked against them. */
	for (size_t i = 0; i < err.n; i++)
		assert_null(strstr(err.items[i].problem, "nosuch"));
	check_empty(&cfg);
}

/* Each pool's destinations fit, but not all pools' together. */
static void test_total_destinations(void **state)
{
	int per_pool = PS_MAX_POOL_DSTS, fit = PS_MAX_DST_PREFIXES / per_pool;
	struct ps_config cfg;
	struct ps_error err;
	char *text, want[256];

	(void)state;
	assert_true(fit < PS_MAX_POOLS);
	text = build_pools(fit, per_pool);
	assert_int_equal(ps_config_load_buf("t", text, strlen(text), &cfg, &err), 0);
	ps_config_free(&cfg);
	free(text);

	text = build_pools(fit + 1, per_pool);
	assert_int_equal(ps_config_load_buf("t", text, strlen(text), &cfg, &err), -EINVAL);
	snprintf(want, sizeof(want),
		 "t:%d: pools[%d].destinations: brings the IPv4 destinations of all pools to %d; at most %d fit",
		 2 + fit * (4 + per_pool) + 4, fit, (fit + 1) * per_pool, PS_MAX_DST_PREFIXES);
	if (!strstr(err.msg, want))
		fail_msg("got \"%s\"\nwant \"%s...\"", err.msg, want);
	check_empty(&cfg);
	free(text);
}

/* Many hosts in one pool: duplicates and overlaps are still found. */
static void test_many_slices(void **state)
{
	struct ps_config cfg;
	struct ps_error err;
	char *text = NULL;
	size_t size = 0;
	FILE *f;
	int i;

	(void)state;
	f = open_memstream(&text, &size);
	assert_non_null(f);
	fprintf(f, POOL_HEAD "    slices:\n");
	for (i = 0; i < 20000; i++)
		fprintf(f, "      h%d: %d-%d\n", i, 1 + 3 * i, 3 + 3 * i);
	fprintf(f, "      late: 30000\n");
	fclose(f);
	assert_int_equal(ps_config_load_buf("s", text, size, &cfg, &err), -EINVAL);
	assert_string_equal(err.msg,
			    "s:20005: pools[0].slices.late: 30000 overlaps 29998-30000 of host \"h9999\" (line 10004); slices of one pool must not overlap");
	/* drop the last line: valid */
	*strstr(text, "      late:") = '\0';
	assert_int_equal(load_ok(text, &cfg), 0);
	assert_int_equal(cfg.pools[0].n_slices, 20000);
	ps_config_free(&cfg);
	free(text);
}

static char tmp_path[64];

static int write_tmp(const char *text)
{
	int fd;

	strcpy(tmp_path, "/tmp/test_config.XXXXXX");
	fd = mkstemp(tmp_path);
	if (fd < 0)
		return -1;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static void test_load_file(void **state)
{
	struct ps_config cfg;
	struct ps_error err;
	char want[128];

	(void)state;
	assert_int_equal(write_tmp(spec_example), 0);
	assert_int_equal(ps_config_load_file(tmp_path, &cfg, &err), 0);
	assert_string_equal(cfg.path, tmp_path);
	assert_int_equal(cfg.n_pools, 2);
	assert_int_equal(cfg.pools[1].slices[0].line, 11);
	ps_config_free(&cfg);
	unlink(tmp_path);

	/* errors inside the file name the file */
	assert_int_equal(write_tmp(POOL_HEAD "    slices: {host-a: 0}\n"), 0);
	assert_int_equal(ps_config_load_file(tmp_path, &cfg, &err), -EINVAL);
	snprintf(want, sizeof(want), "%s:4: pools[0].slices.host-a:", tmp_path);
	assert_non_null(strstr(err.msg, want));
	check_empty(&cfg);
	unlink(tmp_path);

	assert_int_equal(write_tmp(""), 0);
	assert_int_equal(ps_config_load_file(tmp_path, &cfg, &err), -EINVAL);
	snprintf(want, sizeof(want), "%s:1: top level: the configuration is empty", tmp_path);
	assert_non_null(strstr(err.msg, want));
	unlink(tmp_path);
}

static void test_load_file_missing(void **state)
{
	const char *path = "/nonexistent/portslice/fleet.yaml";
	struct ps_config cfg;
	struct ps_error err;
	char want[256];

	(void)state;
	memset(&cfg, 0x5a, sizeof(cfg));
	assert_int_equal(ps_config_load_file(path, &cfg, &err), -ENOENT);
	snprintf(want, sizeof(want), "%s: cannot open: %s", path, strerror(ENOENT));
	assert_string_equal(err.msg, want);
	check_empty(&cfg);
	assert_int_equal(ps_config_load_file(path, &cfg, NULL), -ENOENT);
}

static void test_load_file_directory(void **state)
{
	struct ps_config cfg;
	struct ps_error err;
	char want[256];

	(void)state;
	assert_int_equal(ps_config_load_file("/", &cfg, &err), -EISDIR);
	snprintf(want, sizeof(want), "/: cannot read: %s", strerror(EISDIR));
	assert_string_equal(err.msg, want);
	check_empty(&cfg);
}

static void test_parse_port_range(void **state)
{
	static const struct {
		const char *s;
		int lo, hi; /* lo == 0: rejected */
	} cases[] = {
		{ "20000-20999", 20000, 20999 },
		{ "20000", 20000, 20000 },
		{ "1", 1, 1 },
		{ "65535", 65535, 65535 },
		{ "1-65535", 1, 65535 },
		{ "5-5", 5, 5 },
		{ "", 0, 0 },
		{ "-", 0, 0 },
		{ "0", 0, 0 },
		{ "0-10", 0, 0 },
		{ "10-0", 0, 0 },
		{ "65536", 0, 0 },
		{ "1-65536", 0, 0 },
		{ "99999999999999999999", 0, 0 },
		{ "20000-", 0, 0 },
		{ "-5", 0, 0 },
		{ "0x10", 0, 0 },
		{ "20000-20999-3", 0, 0 },
		{ "+20000", 0, 0 },
		{ " 20000", 0, 0 },
		{ "20000 ", 0, 0 },
		{ "20000 -20999", 0, 0 },
		{ "20000\t", 0, 0 },
		{ "020000", 0, 0 },
		{ "00", 0, 0 },
		{ "20999-20000", 0, 0 },
		{ "2e4", 0, 0 },
		{ "20000--20999", 0, 0 },
		{ "\xd9\xa1", 0, 0 }, /* ARABIC-INDIC DIGIT ONE */
	};
	struct ps_port_range r;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		int ret;

		r.lo = r.hi = 7;
		ret = ps_parse_port_range(cases[i].s, &r);
		if (!cases[i].lo) {
			if (ret != -EINVAL)
				fail_msg("\"%s\": got %d, want -EINVAL", cases[i].s, ret);
			/* out untouched on failure */
			assert_int_equal(r.lo, 7);
			continue;
		}
		if (ret || r.lo != cases[i].lo || r.hi != cases[i].hi)
			fail_msg("\"%s\": got %d %u-%u", cases[i].s, ret, r.lo, r.hi);
	}
	assert_int_equal(ps_parse_port_range(NULL, &r), -EINVAL);
}

static void test_parse_prefix(void **state)
{
	static const struct {
		const char *s;
		int family; /* 0: rejected */
		const char *addr;
		int len;
	} cases[] = {
		{ "10.0.0.0/8", AF_INET, "10.0.0.0", 8 },
		{ "0.0.0.0/0", AF_INET, "0.0.0.0", 0 },
		{ "192.0.2.1", AF_INET, "192.0.2.1", 32 },
		{ "192.0.2.1/32", AF_INET, "192.0.2.1", 32 },
		{ "192.0.2.128/25", AF_INET, "192.0.2.128", 25 },
		{ "2001:db8::/32", AF_INET6, "2001:db8::", 32 },
		{ "::/0", AF_INET6, "::", 0 },
		{ "2001:db8::1", AF_INET6, "2001:db8::1", 128 },
		{ "2001:db8::1/128", AF_INET6, "2001:db8::1", 128 },
		{ "2001:db8:8000::/33", AF_INET6, "2001:db8:8000::", 33 },
		{ "::ffff:10.0.0.0/104", AF_INET6, "::ffff:10.0.0.0", 104 },
		{ "10.0.0.1/8", 0, NULL, 0 },         /* host bits */
		{ "2001:db8::1/32", 0, NULL, 0 },     /* host bits */
		{ "192.0.2.129/25", 0, NULL, 0 },     /* host bit in a partial byte */
		{ "10.0.0.0/33", 0, NULL, 0 },
		{ "::/129", 0, NULL, 0 },
		{ "10.0.0.0/", 0, NULL, 0 },
		{ "10.0.0.0/08", 0, NULL, 0 },
		{ "10.0.0.0/-8", 0, NULL, 0 },
		{ "10.0.0.0/+8", 0, NULL, 0 },
		{ "10.0.0.0/8/8", 0, NULL, 0 },
		{ "10.0.0.0 /8", 0, NULL, 0 },
		{ "10.0.0/8", 0, NULL, 0 },
		{ "/8", 0, NULL, 0 },
		{ "", 0, NULL, 0 },
		{ "example.com/8", 0, NULL, 0 },
		{ "fe80::1%eth0/64", 0, NULL, 0 },
		{ "1234567890123456789012345678901234567890123456789/8", 0, NULL, 0 },
	};
	struct ps_prefix p;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		int ret = ps_parse_prefix(cases[i].s, &p);

		if (!cases[i].family) {
			if (ret != -EINVAL)
				fail_msg("\"%s\": got %d, want -EINVAL", cases[i].s, ret);
			continue;
		}
		if (ret || p.family != cases[i].family || p.len != cases[i].len)
			fail_msg("\"%s\": got %d family %d len %u", cases[i].s, ret, p.family, p.len);
		assert_addr(cases[i].family, p.addr, cases[i].addr);
	}
	assert_int_equal(ps_parse_prefix(NULL, &p), -EINVAL);
}

static void test_format(void **state)
{
	uint8_t a4[16] = { 198, 18, 0, 10 }, a6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x10 };
	struct ps_prefix p = { .family = AF_INET6, .len = 32, .addr = { 0x20, 0x01, 0x0d, 0xb8 } };
	char buf[PS_PREFIX_STR_LEN];

	(void)state;
	assert_int_equal(ps_format_addr(AF_INET, a4, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "198.18.0.10");
	assert_int_equal(ps_format_addr(AF_INET6, a6, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "2001:db8::10");
	assert_int_equal(ps_format_addr(AF_INET, a4, buf, 5), -ENOSPC);
	assert_int_equal(ps_format_addr(AF_UNIX, a4, buf, sizeof(buf)), -EAFNOSUPPORT);
	assert_int_equal(ps_format_prefix(&p, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "2001:db8::/32");
	assert_int_equal(ps_format_prefix(&p, buf, 12), -ENOSPC);
	p = (struct ps_prefix){ .family = AF_INET };
	assert_int_equal(ps_format_prefix(&p, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "0.0.0.0/0");
}

static void test_ranges_overlap(void **state)
{
	struct ps_port_range a = { 100, 200 };

	(void)state;
	assert_true(ps_ranges_overlap(a, (struct ps_port_range){ 100, 200 }));
	assert_true(ps_ranges_overlap(a, (struct ps_port_range){ 200, 300 }));
	assert_true(ps_ranges_overlap(a, (struct ps_port_range){ 1, 100 }));
	assert_true(ps_ranges_overlap(a, (struct ps_port_range){ 150, 150 }));
	assert_true(ps_ranges_overlap(a, (struct ps_port_range){ 1, 65535 }));
	assert_true(ps_ranges_overlap((struct ps_port_range){ 150, 150 }, a));
	assert_false(ps_ranges_overlap(a, (struct ps_port_range){ 201, 300 }));
	assert_false(ps_ranges_overlap(a, (struct ps_port_range){ 1, 99 }));
	assert_false(ps_ranges_overlap((struct ps_port_range){ 201, 300 }, a));
}

static void test_valid_names(void **state)
{
	(void)state;
	assert_true(ps_valid_pool_name("web-1.a_b"));
	assert_false(ps_valid_pool_name(""));
	assert_false(ps_valid_pool_name("a b"));
	assert_false(ps_valid_pool_name("abcdefghijklmnopqrstuvwxyz012345"));
	assert_true(ps_valid_pool_name("abcdefghijklmnopqrstuvwxyz01234"));
	assert_false(ps_valid_pool_name(NULL));
	assert_true(ps_valid_host_name("host-a.example.com"));
	assert_false(ps_valid_host_name("host/a"));
	assert_false(ps_valid_host_name(""));
}

struct warnings {
	int n;
	char msgs[4][512];
};

static void collect(const char *msg, void *arg)
{
	struct warnings *w = arg;

	if (w->n < 4)
		strcpy(w->msgs[w->n], msg);
	w->n++;
}

static void test_warn_local_range(void **state)
{
	struct ps_config cfg;
	struct warnings w = { 0 };

	(void)state;
	load_ok("pools:\n"
		"  - name: web\n    address: 198.18.0.10\n"
		"    slices: {host-a: 20000-20999, host-b: 40000-40999}\n"
		"  - name: web6\n    address: 2001:db8::10\n"
		"    slices: {host-a: 32000-33000}\n", &cfg);

	/* Debian's default 32768-60999 catches host-a's web6 slice only */
	assert_int_equal(ps_config_warn_local_range(&cfg, "host-a", (struct ps_port_range){ 32768, 60999 },
						   collect, &w), 1);
	assert_int_equal(w.n, 1);
	assert_string_equal(w.msgs[0],
			    "pool web6 (2001:db8::10): ports 32768-33000 of the slice 32000-33000 of host host-a "
			    "are inside the local port range 32768-60999 (net.ipv4.ip_local_port_range); "
			    "the kernel may hand them to other sockets and portslice then has to skip them; "
			    "move the slice or shrink the local port range");

	memset(&w, 0, sizeof(w));
	assert_int_equal(ps_config_warn_local_range(&cfg, "host-a", (struct ps_port_range){ 20999, 60999 },
						   collect, &w), 2);
	assert_int_equal(w.n, 2);
	assert_non_null(strstr(w.msgs[0], "pool web (198.18.0.10): ports 20999-20999 of the slice 20000-20999"));

	memset(&w, 0, sizeof(w));
	assert_int_equal(ps_config_warn_local_range(&cfg, "host-b", (struct ps_port_range){ 32768, 39999 },
						   collect, &w), 0);
	assert_int_equal(ps_config_warn_local_range(&cfg, "host-b", (struct ps_port_range){ 32768, 60999 },
						   collect, &w), 1);
	assert_int_equal(ps_config_warn_local_range(&cfg, "nobody", (struct ps_port_range){ 1, 65535 },
						   collect, &w), 0);
	/* A dynamic pool: every host may lease any block of its range. */
	ps_config_free(&cfg);
	load_ok(DYN_POOL "etcd: {endpoints: [http://a:1]}\n", &cfg);
	memset(&w, 0, sizeof(w));
	assert_int_equal(ps_config_warn_local_range(&cfg, "anyone", (struct ps_port_range){ 2000, 60999 },
						   collect, &w), 1);
	assert_string_equal(w.msgs[0],
			    "pool web (198.18.0.10): ports 2000-2047 of the dynamic range 1024-2047 (blocks of it may be leased) "
			    "of host anyone are inside the local port range 2000-60999 (net.ipv4.ip_local_port_range); "
			    "the kernel may hand them to other sockets and portslice then has to skip them; "
			    "move the pool's ports or shrink the local port range");
	ps_config_free(&cfg);
	load_ok("pools:\n"
		"  - name: web\n    address: 198.18.0.10\n"
		"    slices: {host-a: 20000-20999, host-b: 40000-40999}\n"
		"  - name: web6\n    address: 2001:db8::10\n"
		"    slices: {host-a: 32000-33000}\n", &cfg);
	memset(&w, 0, sizeof(w));
	assert_int_equal(ps_config_warn_local_range(&cfg, "host-b", (struct ps_port_range){ 32768, 60999 },
						   collect, &w), 1);
	/* without a callback it only counts */
	assert_int_equal(ps_config_warn_local_range(&cfg, "host-a", (struct ps_port_range){ 1, 65535 },
						   NULL, NULL), 2);
	assert_int_equal(w.n, 1);
	ps_config_free(&cfg);
}

/* docs/fleet.md's "Wiring" example (max_blocks within PS_MAX_BLOCKS), with a static pool beside it. */
static const char dynamic_example[] =
	"etcd:\n"                                                    /* 1 */
	"  endpoints: [https://10.0.0.1:2379, https://10.0.0.2:2379, https://10.0.0.3:2379]\n" /* 2 */
	"  ca: /etc/portslice/etcd/ca.pem\n"                         /* 3 */
	"  cert: /etc/portslice/etcd/client.pem\n"                   /* 4 */
	"  key: /etc/portslice/etcd/client-key.pem\n"                /* 5 */
	"  prefix: /portslice\n"                                     /* 6 */
	"  lease_ttl: 10s\n"                                         /* 7 */
	"  keepalive: 3s\n"                                          /* 8 */
	"  fence_margin: 2.5s\n"                                     /* 9 */
	"  quarantine: 65s\n"                                        /* 10 */
	"  timeout: 2s\n"                                            /* 11 */
	"pools:\n"                                                   /* 12 */
	"  - name: web\n"                                            /* 13 */
	"    address: 198.18.0.10\n"                                 /* 14 */
	"    slices: dynamic\n"                                      /* 15 */
	"    ports: 1024-65535\n"                                    /* 16 */
	"    block_size: 256\n"                                      /* 17 */
	"    min_blocks: 1\n"                                        /* 18 */
	"    max_blocks: 32\n"                                       /* 19 */
	"    grow_at: 0.75\n"                                        /* 20 */
	"    shrink_after: 60s\n"                                    /* 21 */
	"    reuse_delay: 1s\n"                                      /* 22 */
	"  - name: legacy\n"                                         /* 23 */
	"    address: 198.18.0.11\n"                                 /* 24 */
	"    slices: { host-a: 20000-29999, host-b: 30000-39999 }\n"; /* 25 */

/* Whatever the parser accepts, ps_lease_new() accepts: the config's options, as the agent passes them. */
static void assert_lease_accepts(const struct ps_config *cfg, const char *host)
{
	struct ps_error err = { 0 };
	struct ps_lease_cfg lc;
	struct ps_etcd_opts eo;
	struct ps_lease *l = NULL;

	if (ps_fleet_lease_config(cfg, host, &lc, &eo, &err))
		fail_msg("ps_fleet_lease_config: %s", err.msg);
	if (ps_lease_new(&l, &lc, NULL, NULL, NULL, &err))
		fail_msg("ps_lease_new refused what the config accepted: %s", err.msg);
	ps_lease_free(l, false);
}

static void test_dynamic_example(void **state)
{
	const struct ps_pool_cfg *p;
	const struct ps_etcd_cfg *e;
	struct ps_config cfg;
	struct ps_lease_cfg lc;
	struct ps_etcd_opts eo;
	struct ps_error err = { 0 };
	char yaml[sizeof(dynamic_example) + 256];

	(void)state;
	load_ok(dynamic_example, &cfg);
	e = &cfg.etcd;
	assert_true(e->present);
	assert_int_equal(e->line, 1);
	assert_string_equal(e->endpoints, "https://10.0.0.1:2379,https://10.0.0.2:2379,https://10.0.0.3:2379");
	assert_int_equal(e->n_endpoints, 3);
	assert_string_equal(e->ca, "/etc/portslice/etcd/ca.pem");
	assert_string_equal(e->cert, "/etc/portslice/etcd/client.pem");
	assert_string_equal(e->key, "/etc/portslice/etcd/client-key.pem");
	assert_string_equal(e->prefix, "/portslice");
	assert_int_equal(e->lease_ttl_s, 10);
	assert_int_equal(e->keepalive_ms, 3000);
	assert_int_equal(e->fence_margin_ms, 2500);
	assert_int_equal(e->quarantine_s, 65);
	assert_int_equal(e->timeout_ms, 2000);

	p = &cfg.pools[0];
	assert_true(p->dynamic);
	assert_int_equal(p->n_slices, 0);
	assert_null(p->slices);
	assert_int_equal(p->dyn.ports.lo, 1024);
	assert_int_equal(p->dyn.ports.hi, 65535);
	assert_int_equal(p->dyn.block_size, 256);
	assert_int_equal(p->dyn.min_blocks, 1);
	assert_int_equal(p->dyn.max_blocks, 32);
	assert_true(p->dyn.grow_at == 0.75);
	assert_int_equal(p->dyn.shrink_after_ms, 60000);
	assert_int_equal(p->dyn.line, 15);
	assert_int_equal(p->reuse_delay_ms, 1000);
	/* Every host has the whole range as its slice: any block of it may become its own. */
	assert_ptr_equal(ps_pool_find_slice(p, "host-a"), &p->any_host);
	assert_ptr_equal(ps_pool_find_slice(p, "anyone"), &p->any_host);
	assert_null(p->any_host.host);
	assert_int_equal(p->any_host.range.lo, 1024);
	assert_int_equal(p->any_host.range.hi, 65535);
	assert_int_equal(p->any_host.n_blocks, 1);
	assert_int_equal(p->any_host.blocks[0].lo, 1024);
	assert_int_equal(p->any_host.line, 15);

	p = &cfg.pools[1];
	assert_false(p->dynamic);
	assert_int_equal(p->n_slices, 2);
	assert_null(ps_pool_find_slice(p, "anyone"));
	assert_true(ps_config_has_dynamic(&cfg));

	/* What the agent gives the engine and the client. */
	assert_int_equal(ps_fleet_lease_config(&cfg, "host-a", &lc, &eo, &err), 0);
	assert_string_equal(lc.prefix, "/portslice");
	assert_string_equal(lc.host, "host-a");
	assert_int_equal(lc.ttl_s, 10);
	assert_int_equal(lc.keepalive_ms, 3000);
	assert_int_equal(lc.fence_margin_ms, 2500);
	assert_int_equal(lc.quarantine_s, 65);
	assert_int_equal(lc.time_wait_s, 0);
	assert_int_equal(lc.sweep_ms, 30000); /* no hosts: section */
	assert_int_equal(lc.n_pools, 1);
	assert_string_equal(lc.pools[0].name, "web");
	assert_int_equal(lc.pools[0].port_lo, 1024);
	assert_int_equal(lc.pools[0].port_hi, 65535);
	assert_int_equal(lc.pools[0].block_size, 256);
	assert_int_equal(lc.pools[0].min_blocks, 1);
	assert_int_equal(lc.pools[0].max_blocks, 32);
	assert_true(lc.pools[0].grow_at == 0.75);
	assert_int_equal(lc.pools[0].quiet_ms, 60000);
	assert_int_equal(lc.pools[0].reuse_delay_ms, 1000);
	assert_ptr_equal(eo.endpoints, cfg.etcd.endpoints);
	assert_string_equal(eo.ca_file, "/etc/portslice/etcd/ca.pem");
	assert_string_equal(eo.cert_file, "/etc/portslice/etcd/client.pem");
	assert_string_equal(eo.key_file, "/etc/portslice/etcd/client-key.pem");
	assert_int_equal(eo.timeout_ms, 2000);
	assert_lease_accepts(&cfg, "host-a");
	/* A host name is needed; the static pool alone has nothing to lease. */
	assert_int_equal(ps_fleet_lease_config(&cfg, "bad host", &lc, &eo, &err), -EINVAL);
	ps_config_free(&cfg);

	/* The orphan sweep: 500 ms per host under hosts:. */
	snprintf(yaml, sizeof(yaml), "%shosts:\n  host-a: {address: 198.18.10.1}\n  host-b: {address: 198.18.10.2}\n"
		 "  host-c: {address: 198.18.10.3}\n", dynamic_example);
	load_ok(yaml, &cfg);
	assert_int_equal(ps_fleet_lease_config(&cfg, "host-a", &lc, &eo, &err), 0);
	assert_int_equal(lc.sweep_ms, 1500);
	assert_lease_accepts(&cfg, "host-a");
	ps_config_free(&cfg);

	load_ok(spec_example, &cfg);
	assert_false(ps_config_has_dynamic(&cfg));
	assert_false(cfg.etcd.present);
	assert_int_equal(ps_fleet_lease_config(&cfg, "host-a", &lc, &eo, &err), -EINVAL);
	ps_config_free(&cfg);
}

/* The defaults of etcd: and of a dynamic pool, and extremes every check lets through, into ps_lease_new(). */
static void test_dynamic_defaults(void **state)
{
	static const struct {
		const char *yaml;
		uint32_t ttl_s, keepalive_ms, fence_margin_ms, quarantine_s, timeout_ms;
	} cases[] = {
		/* TTL 10 s: keepalive TTL/3, margin TTL/4, quarantine 60 + 0 + 5 */
		{ DYN_POOL "etcd: {endpoints: [http://198.18.200.1:2379]}\n", 10, 3333, 2500, 65, 2000 },
		/* the largest reuse_delay of the dynamic pools, rounded up to seconds */
		{ DYN_POOL "    reuse_delay: 1500ms\netcd: {endpoints: [http://a:1]}\n", 10, 3333, 2500, 67, 2000 },
		/* a static pool's reuse_delay does not count */
		{ DYN_POOL "  - name: s\n    address: 198.18.0.11\n    slices: {h: 1-2}\n    reuse_delay: 600s\n"
		  "etcd: {endpoints: [http://a:1]}\n", 10, 3333, 2500, 65, 2000 },
		/* the shortest TTL: the margin's floor of 1 s */
		{ DYN_POOL "etcd: {endpoints: ['http://[2001:db8::1]:2379'], lease_ttl: 2s}\n", 2, 666, 1000, 65, 2000 },
		{ DYN_POOL "etcd: {endpoints: [http://a:1], lease_ttl: 3600s, timeout: 60s}\n", 3600, 1200000, 900000, 65, 60000 },
		/* the tightest values each check lets through */
		{ DYN_POOL "    reuse_delay: 600s\netcd: {endpoints: [http://a:1], lease_ttl: 3s, fence_margin: 2998ms, keepalive: 1ms, quarantine: 661s, timeout: 1}\n",
		  3, 1, 2998, 661, 1 },
		{ DYN_POOL "etcd: {endpoints: [http://a:1], lease_ttl: 10s, fence_margin: 1s, keepalive: 8999ms, quarantine: 61s}\n",
		  10, 8999, 1000, 61, 2000 },
	};
	struct ps_config cfg;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		load_ok(cases[i].yaml, &cfg);
		assert_int_equal(cfg.etcd.lease_ttl_s, cases[i].ttl_s);
		assert_int_equal(cfg.etcd.keepalive_ms, cases[i].keepalive_ms);
		assert_int_equal(cfg.etcd.fence_margin_ms, cases[i].fence_margin_ms);
		assert_int_equal(cfg.etcd.quarantine_s, cases[i].quarantine_s);
		assert_int_equal(cfg.etcd.timeout_ms, cases[i].timeout_ms);
		assert_string_equal(cfg.etcd.prefix, "/portslice");
		assert_null(cfg.etcd.ca);
		assert_true(cfg.pools[0].dyn.grow_at == 0.75);
		assert_int_equal(cfg.pools[0].dyn.shrink_after_ms, 60000);
		assert_lease_accepts(&cfg, "host-a");
		ps_config_free(&cfg);
	}

	/* A dynamic pool's extremes: one port in one block; every block of the range; grow_at 1 and .5 written 0.5. */
	load_ok(POOL_HEAD "    slices: dynamic\n    ports: 65535\n    block_size: 1\n    min_blocks: 1\n    max_blocks: 1\n"
		"    grow_at: 1\n    shrink_after: 86400s\n"
		"  - name: d2\n    address: 2001:db8::10\n    slices: dynamic\n    ports: 1-65535\n    block_size: 2047\n"
		"    min_blocks: 32\n    max_blocks: 32\n    grow_at: 0.5\n    shrink_after: 1.5s\n"
		"etcd: {endpoints: [http://a:1]}\n", &cfg);
	assert_int_equal(cfg.pools[0].dyn.ports.lo, 65535);
	assert_true(cfg.pools[0].dyn.grow_at == 1.0);
	assert_int_equal(cfg.pools[0].dyn.shrink_after_ms, 86400000);
	assert_int_equal(cfg.pools[1].dyn.block_size, 2047);
	assert_true(cfg.pools[1].dyn.grow_at == 0.5);
	assert_int_equal(cfg.pools[1].dyn.shrink_after_ms, 1500);
	assert_lease_accepts(&cfg, "h");
	ps_config_free(&cfg);

	/* etcd: without a dynamic pool is allowed (a fleet getting ready for one). */
	load_ok(POOL_OK "etcd: {endpoints: [http://a:1]}\n", &cfg);
	assert_true(cfg.etcd.present);
	assert_int_equal(cfg.etcd.quarantine_s, 65);
	ps_config_free(&cfg);
}

/* At most PS_MAX_DYNAMIC_POOLS dynamic pools (the engine's limit); static pools besides them. */
static void test_max_dynamic_pools(void **state)
{
	char *yaml = malloc(16384), *p = yaml;
	struct ps_config cfg;
	struct ps_error err;

	(void)state;
	p += sprintf(p, "pools:\n");
	for (int i = 0; i < PS_MAX_DYNAMIC_POOLS + 1; i++)
		p += sprintf(p, "  - name: d%d\n    address: 198.18.1.%d\n    slices: dynamic\n    ports: 1-100\n"
			     "    block_size: 10\n    min_blocks: 1\n    max_blocks: 2\n", i, i + 1);
	p += sprintf(p, "  - name: s\n    address: 198.18.2.1\n    slices: {h: 1-2}\netcd: {endpoints: [http://a:1]}\n");
	assert_int_equal(ps_config_load_buf("t.yaml", yaml, strlen(yaml), &cfg, &err), -EINVAL);
	assert_string_equal(err.msg, "t.yaml:116: pools[16].slices: a dynamic pool more than the 16 a host's leasing engine keeps; make this pool static (slices: host: FIRST-LAST)");
	assert_int_equal(err.n, 1);

	/* Sixteen of them, and the static one. */
	p = strstr(yaml, "  - name: d16\n");
	sprintf(p, "  - name: s\n    address: 198.18.2.1\n    slices: {h: 1-2}\netcd: {endpoints: [http://a:1]}\n");
	load_ok(yaml, &cfg);
	assert_int_equal(cfg.n_pools, PS_MAX_DYNAMIC_POOLS + 1);
	assert_lease_accepts(&cfg, "h");
	ps_config_free(&cfg);
	free(yaml);
}

/* The example of the steering issue, with line numbers. */
static const char fleet_example[] =
	"pools:\n"                                     /* 1 */
	"  - name: web\n"                              /* 2 */
	"    address: 198.18.0.10\n"                   /* 3 */
	"    slices:\n"                                /* 4 */
	"      host-a: 20000-20999\n"                  /* 5 */
	"      host-b: 21000-21999\n"                  /* 6 */
	"  - name: api\n"                              /* 7 */
	"    address: 198.18.0.11\n"                   /* 8 */
	"    slices: {host-b: 22000-22999}\n"          /* 9 */
	"hosts:                 # every host\n"        /* 10 */
	"  host-a: {address: 198.18.10.1}\n"           /* 11 */
	"  host-b: {address: 198.18.10.2}\n"           /* 12 */
	"  host-c:\n"                                  /* 13 */
	"    address: 2001:db8:10::3\n"                /* 14 */
	"steering:\n"                                  /* 15 */
	"  mode: l2\n"                                 /* 16 */
	"  interfaces: [eth0, eth1.100]\n"             /* 17 */
	"cgroups:\n"                                   /* 18 */
	"  - path: /sys/fs/cgroup/app.slice\n"         /* 19 */
	"    pools: [web]\n"                           /* 20 */
	"  - path: /sys/fs/cgroup/batch.slice/\n";     /* 21 */

static void test_fleet_example(void **state)
{
	struct ps_config cfg;

	(void)state;
	load_ok(fleet_example, &cfg);
	assert_int_equal(cfg.n_pools, 2);
	assert_int_equal(cfg.n_hosts, 3);
	assert_int_equal(cfg.hosts_line, 10);
	assert_string_equal(cfg.hosts[0].name, "host-a");
	assert_int_equal(cfg.hosts[0].family, AF_INET);
	assert_addr(AF_INET, cfg.hosts[0].addr, "198.18.10.1");
	assert_int_equal(cfg.hosts[0].line, 11);
	assert_string_equal(cfg.hosts[1].name, "host-b");
	assert_addr(AF_INET, cfg.hosts[1].addr, "198.18.10.2");
	assert_string_equal(cfg.hosts[2].name, "host-c");
	assert_int_equal(cfg.hosts[2].family, AF_INET6);
	assert_addr(AF_INET6, cfg.hosts[2].addr, "2001:db8:10::3");
	assert_int_equal(cfg.hosts[2].line, 13);

	/* ids are 1-based in hosts: order; 0 is "no host" */
	assert_int_equal(ps_config_host_id(&cfg, "host-a"), 1);
	assert_int_equal(ps_config_host_id(&cfg, "host-b"), 2);
	assert_int_equal(ps_config_host_id(&cfg, "host-c"), 3);
	assert_int_equal(ps_config_host_id(&cfg, "host-d"), PS_STEER_NO_HOST);
	assert_ptr_equal(ps_config_find_host(&cfg, "host-b"), &cfg.hosts[1]);
	assert_null(ps_config_find_host(&cfg, "host"));
	assert_ptr_equal(ps_config_host_by_id(&cfg, 3), &cfg.hosts[2]);
	assert_null(ps_config_host_by_id(&cfg, 0));
	assert_null(ps_config_host_by_id(&cfg, 4));

	assert_true(cfg.steering.present);
	assert_int_equal(cfg.steering.mode, PS_STEER_L2);
	assert_int_equal(cfg.steering.line, 15);
	assert_int_equal(cfg.steering.n_interfaces, 2);
	assert_string_equal(cfg.steering.interfaces[0], "eth0");
	assert_string_equal(cfg.steering.interfaces[1], "eth1.100");

	assert_int_equal(cfg.n_cgroups, 2);
	assert_string_equal(cfg.cgroups[0].path, "/sys/fs/cgroup/app.slice");
	assert_int_equal(cfg.cgroups[0].line, 19);
	assert_int_equal(cfg.cgroups[0].n_pools, 1);
	assert_string_equal(cfg.cgroups[0].pools[0], "web");
	/* pools omitted: every pool with a slice for the host; trailing slash dropped */
	assert_string_equal(cfg.cgroups[1].path, "/sys/fs/cgroup/batch.slice");
	assert_int_equal(cfg.cgroups[1].n_pools, 0);
	assert_null(cfg.cgroups[1].pools);
	assert_int_equal(cfg.cgroups[1].line, 21);

	ps_config_free(&cfg);
	check_empty(&cfg);
	ps_config_free(&cfg);
}

/* Sections in any file order, encap, IPv6 underlays, no interfaces. */
static void test_sections_any_order(void **state)
{
	struct ps_config cfg;

	(void)state;
	load_ok("cgroups:\n"
		"  - {path: /x, pools: [v6, v4]}\n"
		"steering: {mode: encap}\n"
		"hosts:\n"
		"  h1: {address: '2001:db8::1'}\n"
		"  h2: {address: 10.0.0.2}\n"
		"pools:\n"
		"  - {name: v4, address: 198.18.0.1, slices: {h2: 1000-1999, h1: 2000}}\n"
		"  - {name: v6, address: '2001:db8::10', slices: {h1: 1000-1999}}\n", &cfg);
	assert_int_equal(cfg.n_hosts, 2);
	assert_int_equal(cfg.steering.mode, PS_STEER_ENCAP);
	assert_true(cfg.steering.present);
	assert_int_equal(cfg.steering.n_interfaces, 0);
	assert_int_equal(ps_config_host_id(&cfg, "h2"), 2);
	assert_int_equal(cfg.cgroups[0].n_pools, 2);
	assert_string_equal(cfg.cgroups[0].pools[0], "v6");
	assert_string_equal(ps_steer_mode_name(cfg.steering.mode), "encap");
	assert_string_equal(ps_steer_mode_name(PS_STEER_L2), "l2");
	ps_config_free(&cfg);
}

/* Without hosts: nothing is required of slice keys, and there is no steering. */
static void test_without_hosts(void **state)
{
	struct ps_config cfg;

	(void)state;
	load_ok(POOL_OK, &cfg);
	assert_int_equal(cfg.n_hosts, 0);
	assert_null(cfg.hosts);
	assert_false(cfg.steering.present);
	assert_int_equal(cfg.n_cgroups, 0);
	assert_int_equal(ps_config_host_id(&cfg, "host-a"), PS_STEER_NO_HOST);
	ps_config_free(&cfg);

	/* hosts may list hosts that own no slice (yet) */
	load_ok(HOSTS_OK "  spare: {address: 198.18.10.9}\n", &cfg);
	assert_int_equal(cfg.n_hosts, 2);
	assert_int_equal(ps_config_host_id(&cfg, "spare"), 2);
	ps_config_free(&cfg);
}

/* "hosts:" then COUNT hosts h0..: one line each. */
static char *build_hosts(int count)
{
	size_t cap = 64 + (size_t)count * 64;
	char *text = malloc(cap);
	size_t off;

	assert_non_null(text);
	off = (size_t)snprintf(text, cap, POOL_HEAD "    slices: {h0: 1}\nhosts:\n");
	for (int i = 0; i < count; i++)
		off += (size_t)snprintf(text + off, cap - off, "  h%d: {address: 10.0.%d.%d}\n", i,
					i / 250, i % 250 + 1);
	return text;
}

static void test_max_hosts(void **state)
{
	struct ps_config cfg;
	struct ps_error err;
	char *text, want[128];

	(void)state;
	text = build_hosts(PS_MAX_HOSTS - 1);
	assert_int_equal(ps_config_load_buf("m", text, strlen(text), &cfg, &err), 0);
	assert_int_equal(cfg.n_hosts, PS_MAX_HOSTS - 1);
	assert_int_equal(ps_config_host_id(&cfg, "h254"), PS_MAX_HOSTS - 1);
	ps_config_free(&cfg);
	free(text);

	text = build_hosts(PS_MAX_HOSTS);
	assert_int_equal(ps_config_load_buf("m", text, strlen(text), &cfg, &err), -EINVAL);
	/* lines 1-4 are the pool, 5 "hosts:", host i on line 6 + i */
	snprintf(want, sizeof(want), "m:%d: hosts: %d hosts; at most %d are allowed",
		 6 + PS_MAX_HOSTS - 1, PS_MAX_HOSTS, PS_MAX_HOSTS - 1);
	assert_string_equal(err.msg, want);
	check_empty(&cfg);
	free(text);
}

static void test_valid_ifname(void **state)
{
	(void)state;
	assert_true(ps_valid_ifname("eth0"));
	assert_true(ps_valid_ifname("eth0.100"));
	assert_true(ps_valid_ifname("abcdefghijklmno"));
	assert_false(ps_valid_ifname("abcdefghijklmnop"));
	assert_false(ps_valid_ifname(""));
	assert_false(ps_valid_ifname("."));
	assert_false(ps_valid_ifname(".."));
	assert_false(ps_valid_ifname("a/b"));
	assert_false(ps_valid_ifname("a:b"));
	assert_false(ps_valid_ifname("a b"));
	assert_false(ps_valid_ifname(NULL));
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_spec_example),
		cmocka_unit_test(test_default_destination_ipv4),
		cmocka_unit_test(test_reuse_delay),
		cmocka_unit_test(test_p2p),
		cmocka_unit_test(test_explicit_destinations),
		cmocka_unit_test(test_yaml_variants),
		cmocka_unit_test(test_adjacent_slices_and_crlf),
		cmocka_unit_test(test_blocks),
		cmocka_unit_test(test_dynamic_example),
		cmocka_unit_test(test_dynamic_defaults),
		cmocka_unit_test(test_max_dynamic_pools),
		cmocka_unit_test(test_longest_names),
		cmocka_unit_test(test_buffer_length),
		cmocka_unit_test(test_max_pools),
		cmocka_unit_test(test_max_destinations),
		cmocka_unit_test(test_total_destinations),
		cmocka_unit_test(test_many_slices),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_load_file_missing),
		cmocka_unit_test(test_load_file_directory),
		cmocka_unit_test(test_parse_port_range),
		cmocka_unit_test(test_parse_prefix),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_ranges_overlap),
		cmocka_unit_test(test_valid_names),
		cmocka_unit_test(test_warn_local_range),
		cmocka_unit_test(test_fleet_example),
		cmocka_unit_test(test_every_error_reported),
		cmocka_unit_test(test_sections_any_order),
		cmocka_unit_test(test_without_hosts),
		cmocka_unit_test(test_max_hosts),
		cmocka_unit_test(test_valid_ifname),
	};
	size_t n_fixed = ARRAY_SIZE(fixed), n_bad = ARRAY_SIZE(bad_cases), i;
	struct CMUnitTest *tests;
	int ret;

	/* One cmocka test per table row, named after its description. */
	tests = calloc(n_fixed + n_bad, sizeof(*tests));
	if (!tests)
		return 1;
	memcpy(tests, fixed, sizeof(fixed));
	for (i = 0; i < n_bad; i++) {
		tests[n_fixed + i] = (struct CMUnitTest){
			.name = bad_cases[i].desc,
			.test_func = test_bad_case,
			.initial_state = (void *)&bad_cases[i],
		};
	}
	ret = _cmocka_run_group_tests("config", tests, n_fixed + n_bad, NULL, NULL);
	free(tests);
	return ret;
}
