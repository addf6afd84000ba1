/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Internal to the config loader (config*.c): the pools: section, with its
 * pools' slices, destinations and reuse_delay.
 */
#ifndef PS_CONFIG_POOLS_H
#define PS_CONFIG_POOLS_H

#include <yaml.h>

struct ps_ctx;
struct ps_port_range;

/* The pools: list into ((struct ps_config *)obj)->pools; a ps_key handler. */
int ps_parse_pools(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj);

/* A port range ("20000-20999", or "20500" for one port), or the error reported. */
int ps_parse_range_node(struct ps_ctx *ctx, yaml_node_t *rv, const char *sub, struct ps_port_range *r);

#endif /* PS_CONFIG_POOLS_H */
