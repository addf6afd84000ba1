/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * portslice validate: the command (ps_cmd_validate, in main.c's table).
 * Offline by design: it reads the file it is given and nothing of this
 * machine, so CI can run it anywhere.
 */
#ifndef PS_VALIDATE_H
#define PS_VALIDATE_H

#include "core/cli.h"

extern const struct ps_cmd ps_cmd_validate;

#endif
