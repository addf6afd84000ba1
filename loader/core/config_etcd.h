/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Internal to the config loader (config*.c): dynamic pools (slices:
 * dynamic, with ports, block_size, min_blocks, max_blocks, grow_at and
 * shrink_after) and the etcd: section their hosts lease blocks from
 * (docs/fleet.md, "Wiring").
 */
#ifndef PS_CONFIG_ETCD_H
#define PS_CONFIG_ETCD_H

#include <yaml.h>

struct ps_ctx;
struct ps_pool_cfg;

/* slices: VALUE, a scalar: "dynamic", or the error. */
int ps_parse_slices_dynamic(struct ps_ctx *ctx, yaml_node_t *val, const char *path, struct ps_pool_cfg *pool);

/* A dynamic pool's keys: ps_key handlers of config_pools.c's table, after slices. */
int ps_parse_pool_ports(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj);
int ps_parse_pool_block_size(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj);
int ps_parse_pool_min_blocks(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj);
int ps_parse_pool_max_blocks(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj);
int ps_parse_pool_grow_at(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj);
int ps_parse_pool_shrink_after(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj);

/* A dynamic pool that parsed without errors (@path its path): its required keys, its slice for every host. */
int ps_dynamic_pool_done(struct ps_ctx *ctx, struct ps_pool_cfg *pool, const char *path);

/* The etcd: section into ((struct ps_config *)obj)->etcd; a ps_key handler that runs after pools:. */
int ps_parse_etcd(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj);

/* After the top level: a dynamic pool needs etcd:. */
int ps_check_etcd_needed(struct ps_ctx *ctx);

#endif /* PS_CONFIG_ETCD_H */
