/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The socket side's commands, for main.c's command table. */
#ifndef PS_SOCK_CMD_H
#define PS_SOCK_CMD_H

#include "core/cli.h"

extern const struct ps_cmd ps_cmd_attach;
extern const struct ps_cmd ps_cmd_detach;

#endif
