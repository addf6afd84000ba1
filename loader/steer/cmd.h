/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* `portslice steer attach|detach`: its subcommands are in ps_cmd_steer.subcommands. */
#ifndef PS_STEER_CMD_H
#define PS_STEER_CMD_H

#include "core/cli.h"

extern const struct ps_cmd ps_cmd_steer;

#endif
