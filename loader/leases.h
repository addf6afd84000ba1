/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * portslice leases: the command (ps_cmd_leases, in main.c's table). Reads
 * etcd only: no root, no BPF, nothing changed.
 */
#ifndef PS_LEASES_H
#define PS_LEASES_H

#include "core/cli.h"

extern const struct ps_cmd ps_cmd_leases;

#endif
