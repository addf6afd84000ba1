/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Addresses, prefixes, port ranges and names as the configuration and the
 * commands write them: parsing (strict, canonical) and formatting. Nothing
 * here knows about the configuration file; commands that take an address or
 * a port range on the command line use the same rules.
 */
#ifndef PS_ADDR_H
#define PS_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <linux/types.h>

#include "portslice.h" /* PS_POOL_NAME_LEN */

/* Longest host name (slice key) plus the terminating NUL. */
#define PS_HOST_NAME_LEN 64

/* Longest interface name (IFNAMSIZ) plus the terminating NUL. */
#define PS_IFNAME_LEN 16

/* Big enough for any ps_format_addr() / ps_format_prefix() result. */
#define PS_ADDR_STR_LEN 46
#define PS_PREFIX_STR_LEN (PS_ADDR_STR_LEN + 4)

struct ps_port_range { uint16_t lo, hi; };           /* inclusive, host order */
struct ps_prefix { int family; uint8_t addr[16]; uint8_t len; }; /* addr in network order; IPv4 uses addr[0..3] */

/*
 * "20000-20999" or "20000": decimal ports 1-65535, lo <= hi, no sign, no
 * whitespace, no leading zeros. -EINVAL otherwise.
 */
int  ps_parse_port_range(const char *s, struct ps_port_range *out);
bool ps_ranges_overlap(struct ps_port_range a, struct ps_port_range b);
/*
 * "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32 or /128). Rejects
 * (-EINVAL) lengths beyond the family's and host bits set past the length,
 * so the result is always canonical.
 */
int  ps_parse_prefix(const char *s, struct ps_prefix *out);
/* 0, -EAFNOSUPPORT, or -ENOSPC when buf is too short (PS_ADDR_STR_LEN is enough). */
int  ps_format_addr(int family, const uint8_t addr[16], char *buf, size_t len);
/* "ADDR/LEN"; same returns as ps_format_addr(). */
int  ps_format_prefix(const struct ps_prefix *p, char *buf, size_t len);

/* Names as the configuration accepts them: [A-Za-z0-9_.-], 1..LEN-1 chars. */
bool ps_valid_pool_name(const char *s);
bool ps_valid_host_name(const char *s);
/* Interface names as the kernel accepts them: 1-15 chars, no '/', ':' or blanks, not "." or "..". */
bool ps_valid_ifname(const char *s);

/*
 * The parsers' detail, for callers (the config loader) that word a message
 * for each way a value is wrong.
 */
enum ps_range_err {
	PS_RANGE_OK,
	PS_RANGE_SYNTAX,
	PS_RANGE_LEADING_ZERO,
	PS_RANGE_ZERO,
	PS_RANGE_TOO_BIG,
	PS_RANGE_REVERSED,
};

enum ps_prefix_err {
	PS_PREFIX_OK,
	PS_PREFIX_BAD_ADDR,
	PS_PREFIX_BAD_LEN,
	PS_PREFIX_LEN_RANGE,
};

/* ps_parse_port_range() with the reason; *out is set on PS_RANGE_OK only. */
enum ps_range_err ps_range_parse(const char *s, struct ps_port_range *out);
/* ps_parse_prefix() with the reason, host bits not checked; *out is zeroed first. */
enum ps_prefix_err ps_prefix_parse(const char *s, struct ps_prefix *out);
/* Whether @p has host bits set past its length; *masked is @p without them. */
bool ps_prefix_host_bits(const struct ps_prefix *p, struct ps_prefix *masked);
/* A bare IPv4 or IPv6 address; addr is zeroed first. */
bool ps_parse_addr(const char *s, int *family, uint8_t addr[16]);
/* 4 or 16 bytes; 32 or 128 bits. */
int  ps_addr_len(int family);
int  ps_max_prefix_len(int family);
/* ::ffff:a.b.c.d */
bool ps_is_v4_mapped(const uint8_t a[16]);
/* The first @n bytes of @a are all 0. */
bool ps_is_zero(const uint8_t *a, int n);

#endif /* PS_ADDR_H */
