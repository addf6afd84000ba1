// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Addresses, prefixes, port ranges and names: strict parsing and formatting
 * (see addr.h). The config loader words its messages from the detailed
 * results (enum ps_range_err, enum ps_prefix_err).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/addr.h"

static bool ps_valid_name(const char *s, size_t max_len)
{
	size_t n;

	for (n = 0; s[n]; n++) {
		char c = s[n];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return false;
	}
	return n >= 1 && n <= max_len;
}

bool ps_valid_pool_name(const char *s)
{
	return s && ps_valid_name(s, PS_POOL_NAME_LEN - 1);
}

bool ps_valid_host_name(const char *s)
{
	return s && ps_valid_name(s, PS_HOST_NAME_LEN - 1);
}

/* Digits only: no sign, no base prefix, no blanks, so strtoul is not used. */
static size_t ps_scan_digits(const char *s, unsigned long *val)
{
	size_t n;

	*val = 0;
	for (n = 0; s[n] >= '0' && s[n] <= '9'; n++) {
		if (*val <= 65535)
			*val = *val * 10 + (unsigned long)(s[n] - '0');
	}
	return n;
}

enum ps_range_err ps_range_parse(const char *s, struct ps_port_range *out)
{
	unsigned long lo, hi;
	size_t n1, n2 = 0;

	n1 = ps_scan_digits(s, &lo);
	if (!n1)
		return PS_RANGE_SYNTAX;
	hi = lo;
	if (s[n1] == '-') {
		n2 = ps_scan_digits(s + n1 + 1, &hi);
		if (!n2 || s[n1 + 1 + n2])
			return PS_RANGE_SYNTAX;
	} else if (s[n1]) {
		return PS_RANGE_SYNTAX;
	}
	/* YAML 1.1 reads 020000 as octal; refuse rather than guess. */
	if ((n1 > 1 && s[0] == '0') || (n2 > 1 && s[n1 + 1] == '0'))
		return PS_RANGE_LEADING_ZERO;
	if (!lo || !hi)
		return PS_RANGE_ZERO;
	if (lo > 65535 || hi > 65535)
		return PS_RANGE_TOO_BIG;
	if (lo > hi)
		return PS_RANGE_REVERSED;
	out->lo = (uint16_t)lo;
	out->hi = (uint16_t)hi;
	return PS_RANGE_OK;
}

int ps_parse_port_range(const char *s, struct ps_port_range *out)
{
	struct ps_port_range r;

	if (!s || ps_range_parse(s, &r) != PS_RANGE_OK)
		return -EINVAL;
	*out = r;
	return 0;
}

bool ps_ranges_overlap(struct ps_port_range a, struct ps_port_range b)
{
	return a.lo <= b.hi && b.lo <= a.hi;
}

int ps_addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

int ps_max_prefix_len(int family)
{
	return family == AF_INET ? 32 : 128;
}

bool ps_parse_addr(const char *s, int *family, uint8_t addr[16])
{
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, s, addr) == 1) {
		*family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s, addr) == 1) {
		*family = AF_INET6;
		return true;
	}
	return false;
}

enum ps_prefix_err ps_prefix_parse(const char *s, struct ps_prefix *out)
{
	char addr[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long len;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (alen >= sizeof(addr))
		return PS_PREFIX_BAD_ADDR;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (!ps_parse_addr(addr, &out->family, out->addr))
		return PS_PREFIX_BAD_ADDR;
	if (!slash) {
		out->len = (uint8_t)ps_max_prefix_len(out->family);
		return PS_PREFIX_OK;
	}
	n = ps_scan_digits(slash + 1, &len);
	if (!n || slash[1 + n] || (n > 1 && slash[1] == '0'))
		return PS_PREFIX_BAD_LEN;
	if (len > (unsigned long)ps_max_prefix_len(out->family))
		return PS_PREFIX_LEN_RANGE;
	out->len = (uint8_t)len;
	return PS_PREFIX_OK;
}

bool ps_prefix_host_bits(const struct ps_prefix *p, struct ps_prefix *masked)
{
	int nbytes = ps_addr_len(p->family);
	bool set = false;
	int i;

	*masked = *p;
	for (i = 0; i < nbytes; i++) {
		int bits = p->len - i * 8;
		uint8_t mask = bits >= 8 ? 0xff : bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));

		if (p->addr[i] & ~mask)
			set = true;
		masked->addr[i] &= mask;
	}
	return set;
}

int ps_parse_prefix(const char *s, struct ps_prefix *out)
{
	struct ps_prefix p, masked;

	if (!s || ps_prefix_parse(s, &p) != PS_PREFIX_OK || ps_prefix_host_bits(&p, &masked))
		return -EINVAL;
	*out = p;
	return 0;
}

int ps_format_addr(int family, const uint8_t addr[16], char *buf, size_t len)
{
	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	if (!inet_ntop(family, addr, buf, (socklen_t)(len > 1024 ? 1024 : len)))
		return -ENOSPC;
	return 0;
}

int ps_format_prefix(const struct ps_prefix *p, char *buf, size_t len)
{
	char addr[PS_ADDR_STR_LEN];
	int ret, n;

	ret = ps_format_addr(p->family, p->addr, addr, sizeof(addr));
	if (ret)
		return ret;
	n = snprintf(buf, len, "%s/%u", addr, p->len);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

bool ps_is_v4_mapped(const uint8_t a[16])
{
	static const uint8_t pfx[12] = { [10] = 0xff, [11] = 0xff };

	return !memcmp(a, pfx, sizeof(pfx));
}

bool ps_is_zero(const uint8_t *a, int n)
{
	while (n--)
		if (a[n])
			return false;
	return true;
}

bool ps_valid_ifname(const char *s)
{
	size_t n;

	if (!s || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (n = 0; s[n]; n++)
		if (s[n] == '/' || s[n] == ':' || s[n] == ' ' || s[n] == '\t' || s[n] == '\n' ||
		    s[n] == '\r' || s[n] == '\v' || s[n] == '\f')
			return false;
	return n >= 1 && n < PS_IFNAME_LEN;
}
