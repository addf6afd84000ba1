/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Fleet configuration: one YAML file describes every pool of shared egress
 * addresses and the slice of source ports each host owns in it. Every host
 * reads the same file and picks the slices filed under its own name.
 *
 * The loader validates the whole file, not only the calling host's entries,
 * so that a mistake is caught on the first host that reads it instead of on
 * the one host it affects.
 */
#ifndef PS_CONFIG_H
#define PS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <linux/types.h>

#include "portslice.h"
#include "steer.h" /* include/steer.h: types shared with bpf/steer.bpf.c */

/* Longest host name (slice key) plus the terminating NUL. */
#define PS_HOST_NAME_LEN 64

/* Destination prefixes one pool may list; all pools share PS_MAX_DST_PREFIXES. */
#define PS_MAX_POOL_DSTS 1024

/* Big enough for any ps_format_addr() / ps_format_prefix() result. */
#define PS_ADDR_STR_LEN 46
#define PS_PREFIX_STR_LEN (PS_ADDR_STR_LEN + 4)

struct ps_port_range { uint16_t lo, hi; };           /* inclusive, host order */
struct ps_prefix { int family; uint8_t addr[16]; uint8_t len; }; /* addr in network order; IPv4 uses addr[0..3] */
struct ps_slice_cfg { char *host; struct ps_port_range range; int line; };
struct ps_pool_cfg {
	char name[PS_POOL_NAME_LEN];
	int family;                 /* AF_INET / AF_INET6 */
	uint8_t addr[16];           /* network order; IPv4 in addr[0..3] */
	struct ps_prefix *dsts; size_t n_dsts;   /* default (key absent): one prefix 0.0.0.0/0 or ::/0 */
	struct ps_slice_cfg *slices; size_t n_slices;
	uint32_t reuse_delay_ms;    /* a tuple that ended is not handed out again for this long */
	bool p2p;                   /* p2p: true (README "Peer-to-peer applications") */
	int line;
};

/*
 * reuse_delay of a P2P pool that sets none: above the 10 s a Linux NAT keeps
 * a reset connection (nf_conntrack_tcp_timeout_close), with a margin for the
 * lazy expiry of such entries; README "Peer-to-peer applications".
 */
#define PS_P2P_REUSE_DELAY_MS 15000

/* reuse_delay's ceiling: a longer quarantine only wastes ports. */
#define PS_MAX_REUSE_DELAY_MS 600000
/* hosts: one host of the fleet; its id is its 1-based position in the list. */
struct ps_host_cfg {
	char name[PS_HOST_NAME_LEN];
	int family;                 /* of the underlay address */
	uint8_t addr[16];           /* underlay address, network order; IPv4 in addr[0..3] */
	int line;                   /* of the host's key */
};

/* Longest interface name (IFNAMSIZ) plus the terminating NUL. */
#define PS_IFNAME_LEN 16
/* Interfaces steering.interfaces may list. */
#define PS_MAX_STEER_IFACES 64

/* steering: reply steering settings (present only when the key is). */
struct ps_steering_cfg {
	bool present;
	enum ps_steer_mode mode;
	char (*interfaces)[PS_IFNAME_LEN]; size_t n_interfaces; /* default for `steer attach` */
	int line;                   /* of the steering key's value */
};

/* cgroups: a cgroup of this host's fleet agent and the pools its sockets use. */
struct ps_cgroup_cfg {
	char *path;                 /* absolute */
	char (*pools)[PS_POOL_NAME_LEN]; size_t n_pools; /* n_pools 0: pools omitted = every pool with a slice for the host */
	int line;
};

struct ps_config {
	char *path;
	struct ps_pool_cfg *pools; size_t n_pools;
	struct ps_host_cfg *hosts; size_t n_hosts;   /* n_hosts 0: no hosts: section */
	int hosts_line;
	struct ps_steering_cfg steering;
	struct ps_cgroup_cfg *cgroups; size_t n_cgroups;
};
/* Errors a load reports at the most; more are counted in n_more. */
#define PS_MAX_ERRORS 16
struct ps_error_item {
	int line;                    /* 1-based; 0: the file as a whole */
	char field[160];             /* "pools[0].slices.host-a", "syntax error", "top level" */
	char problem[512];           /* what is wrong and the remedy, without file, line and field */
};
struct ps_error {
	char msg[512];               /* the first error, whole: "FILE:LINE: FIELD: problem" */
	char file[256];              /* the file every item is about ("" before a load) */
	size_t n;                    /* items[0..n) are every error found, in file order of discovery */
	size_t n_more;               /* errors found beyond PS_MAX_ERRORS */
	struct ps_error_item items[PS_MAX_ERRORS];
};

/*
 * Load and validate a whole configuration. cfg is overwritten (not freed)
 * first, so pass a zeroed or already freed one. Returns 0, or a negative
 * errno with cfg left empty and err->msg set to "FILE:LINE: FIELD: problem":
 * -EINVAL for anything wrong with the content, -ENOMEM, or the errno of
 * opening/reading the file. err may be NULL.
 *
 * Content errors do not stop the walk at the first one: each pool, host,
 * cgroup and top-level section is checked on its own, so err->items lists
 * every error found (a check that needs a section with errors is skipped
 * rather than reporting their consequences). Opening, reading and YAML
 * syntax errors are one item with line 0 or the syntax error's line.
 *
 * Lines (ps_pool_cfg.line, ps_slice_cfg.line) are 1-based: a pool's is the
 * line where its mapping starts (its first key), a slice's that of its host
 * key.
 */
int  ps_config_load_file(const char *path, struct ps_config *cfg, struct ps_error *err);
/* name is used in messages and as cfg->path; buf need not be NUL-terminated. */
int  ps_config_load_buf(const char *name, const char *buf, size_t len, struct ps_config *cfg, struct ps_error *err);
/* Safe on a zeroed or already freed cfg; leaves cfg zeroed. */
void ps_config_free(struct ps_config *cfg);

const struct ps_pool_cfg  *ps_config_find_pool(const struct ps_config *cfg, const char *name);
const struct ps_slice_cfg *ps_pool_find_slice(const struct ps_pool_cfg *pool, const char *host);

/* hosts: entries. The id of a host is 1-based in hosts: order (0: not listed). */
const struct ps_host_cfg  *ps_config_find_host(const struct ps_config *cfg, const char *name);
unsigned int ps_config_host_id(const struct ps_config *cfg, const char *name);
/* The host with @id (1-based), or NULL. */
const struct ps_host_cfg  *ps_config_host_by_id(const struct ps_config *cfg, unsigned int id);
/* "l2" / "encap". */
const char *ps_steer_mode_name(enum ps_steer_mode mode);
/* Interface names as the kernel accepts them: 1-15 chars, no '/', ':' or blanks, not "." or "..". */
bool ps_valid_ifname(const char *s);

/*
 * "20000-20999" or "20000": decimal ports 1-65535, lo <= hi, no sign, no
 * whitespace, no leading zeros. -EINVAL otherwise.
 */
int  ps_parse_port_range(const char *s, struct ps_port_range *out);
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
bool ps_ranges_overlap(struct ps_port_range a, struct ps_port_range b);

/* Names as the configuration accepts them: [A-Za-z0-9_.-], 1..LEN-1 chars. */
bool ps_valid_pool_name(const char *s);
bool ps_valid_host_name(const char *s);

/* Calls warn(msg, arg) for every slice of `host` that overlaps [lo, hi]
 * (the netns ip_local_port_range); returns how many. */
int  ps_config_warn_local_range(const struct ps_config *cfg, const char *host, struct ps_port_range local,
                               void (*warn)(const char *msg, void *arg), void *arg);

#endif /* PS_CONFIG_H */
