/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The status command: the socket side (sock/status.h), then steering. */
#ifndef PS_STATUS_H
#define PS_STATUS_H

#include "core/cli.h"

extern const struct ps_cmd ps_cmd_status;

#endif
