/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The steering section of `status` and `status --json`. */
#ifndef PS_STEER_STATUS_H
#define PS_STEER_STATUS_H

#include <json-c/json.h>

/*
 * The steering section of `status --json`: {"attached", "interfaces",
 * "counters", "forwarded_to"}. Never fails: what cannot be read is left out.
 */
json_object *ps_steer_status_json(void);
/* The same as text, for `status`. */
void ps_steer_status_print(json_object *steering);

#endif
