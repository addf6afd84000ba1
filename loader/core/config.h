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
#include "core/addr.h"  /* ports, prefixes, names: also used without a configuration */
#include "core/error.h"
#include "steer.h" /* include/steer.h: types shared with bpf/steer.bpf.c */

/* Destination prefixes one pool may list; all pools share PS_MAX_DST_PREFIXES. */
#define PS_MAX_POOL_DSTS 1024

struct ps_slice_cfg {
	char *host;
	struct ps_port_range range; /* the hull of the blocks: first port of the first, last of the last */
	/* The slice's blocks, in file order: one range, or a list of ranges of one size. */
	struct ps_port_range blocks[PS_MAX_BLOCKS]; size_t n_blocks;
	int line;
	unsigned int host_id;       /* the host's id under hosts: (1-based), 0: not listed (or no hosts:) */
};
/*
 * slices: dynamic (issue 17, docs/fleet.md): the pool's ports: range is cut
 * into blocks of block_size ports, which every host leases from etcd
 * (struct ps_etcd_cfg) as it needs them. Read by the leasing engine
 * (loader/fleet/from_config.h).
 */
struct ps_dynamic_cfg {
	struct ps_port_range ports; /* the range cut into blocks; block n: lo + n * block_size ... */
	uint32_t block_size;        /* 1-65535 */
	uint32_t min_blocks;        /* 1 <= min <= max <= min(PS_MAX_BLOCKS, the range's blocks) */
	uint32_t max_blocks;
	double grow_at;             /* 0 < x <= 1 (default 0.75): grow when the busiest destination uses more */
	uint32_t shrink_after_ms;   /* drain a block after this long quiet (default 60 s) */
	int line;                   /* of "slices: dynamic" */
};

#define PS_GROW_AT_DEFAULT 0.75
#define PS_SHRINK_AFTER_DEFAULT_MS 60000
/* Dynamic pools in one file: the leasing engine's PS_LEASE_MAX_POOLS. */
#define PS_MAX_DYNAMIC_POOLS 16

struct ps_pool_cfg {
	char name[PS_POOL_NAME_LEN];
	int family;                 /* AF_INET / AF_INET6 */
	uint8_t addr[16];           /* network order; IPv4 in addr[0..3] */
	struct ps_prefix *dsts; size_t n_dsts;   /* default (key absent): one prefix 0.0.0.0/0 or ::/0 */
	struct ps_slice_cfg *slices; size_t n_slices;
	uint32_t reuse_delay_ms;    /* a tuple that ended is not handed out again for this long */
	bool p2p;                   /* p2p: true (README "Peer-to-peer applications") */
	bool dynamic;               /* slices: dynamic: no slices (n_slices 0), blocks leased from etcd */
	struct ps_dynamic_cfg dyn;  /* ... its range and blocks */
	/*
	 * A dynamic pool's slice for every host, which ps_pool_find_slice()
	 * gives: host NULL, its range and one block the whole ports: range
	 * (any of its ports may become the host's). Not its table: that is the
	 * agent's (sock/blocks.h).
	 */
	struct ps_slice_cfg any_host;
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

/* etcd.endpoints: the etcd client's limits. */
#define PS_MAX_ETCD_ENDPOINTS 16
#define PS_ETCD_URL_LEN 256
#define PS_ETCD_PREFIX_LEN 128
/* TIME_WAIT (the kernel's TCP_TIMEWAIT_LEN), which an orphaned block's quarantine must outlast. */
#define PS_TIME_WAIT_MS 60000

/*
 * etcd: where dynamic pools lease their blocks (docs/fleet.md, "Wiring").
 * Every default is filled in: the values are those in force.
 */
struct ps_etcd_cfg {
	bool present;
	char *endpoints;            /* "http://10.0.0.1:2379,https://..." (comma-separated, as the client takes them) */
	size_t n_endpoints;
	char *ca, *cert, *key;      /* TLS files (NULL: none; no ca: the system's CAs) */
	char prefix[PS_ETCD_PREFIX_LEN]; /* the keys' prefix (default /portslice) */
	uint32_t lease_ttl_s;       /* default 10 */
	uint32_t keepalive_ms;      /* default lease_ttl / 3 */
	uint32_t fence_margin_ms;   /* default lease_ttl / 4, at least 1 s */
	uint32_t quarantine_s;      /* default TIME_WAIT + the largest reuse_delay of the dynamic pools + 5 s */
	uint32_t timeout_ms;        /* one request (default 2 s) */
	int line;                   /* of the etcd key */
};

struct ps_config {
	char *path;
	struct ps_pool_cfg *pools; size_t n_pools;
	struct ps_host_cfg *hosts; size_t n_hosts;   /* n_hosts 0: no hosts: section */
	int hosts_line;
	struct ps_steering_cfg steering;
	struct ps_cgroup_cfg *cgroups; size_t n_cgroups;
	struct ps_etcd_cfg etcd;
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
/* @host's slice of @pool, or NULL; a dynamic pool has one for every host (ps_pool_cfg.any_host). */
const struct ps_slice_cfg *ps_pool_find_slice(const struct ps_pool_cfg *pool, const char *host);

/* hosts: entries. The id of a host is 1-based in hosts: order (0: not listed). */
const struct ps_host_cfg  *ps_config_find_host(const struct ps_config *cfg, const char *name);
unsigned int ps_config_host_id(const struct ps_config *cfg, const char *name);
/* The host with @id (1-based), or NULL. */
const struct ps_host_cfg  *ps_config_host_by_id(const struct ps_config *cfg, unsigned int id);
/* "l2" / "encap". */
const char *ps_steer_mode_name(enum ps_steer_mode mode);

/* Calls warn(msg, arg) for every slice of `host` that overlaps [lo, hi]
 * (the netns ip_local_port_range); returns how many. */
int  ps_config_warn_local_range(const struct ps_config *cfg, const char *host, struct ps_port_range local,
                               void (*warn)(const char *msg, void *arg), void *arg);

#endif /* PS_CONFIG_H */
