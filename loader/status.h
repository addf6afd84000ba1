/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The status command: the socket side (sock/status.h), then steering. */
#ifndef PS_STATUS_H
#define PS_STATUS_H

#include "core/cli.h"
/*
 * metrics.c still reaches ps_status_build() through this header; once it
 * includes "sock/status.h" itself, this include goes.
 */
#include "sock/status.h"

extern const struct ps_cmd ps_cmd_status;

#endif
