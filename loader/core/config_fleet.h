/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Internal to the config loader (config*.c): the hosts:, steering: and
 * cgroups: sections. Each is a ps_key handler filling the struct ps_config
 * passed as obj; they run after pools: (table order in config.c).
 */
#ifndef PS_CONFIG_FLEET_H
#define PS_CONFIG_FLEET_H

#include <yaml.h>

struct ps_ctx;

int ps_parse_hosts(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj);
int ps_parse_steering(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj);
int ps_parse_cgroups(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj);

#endif /* PS_CONFIG_FLEET_H */
