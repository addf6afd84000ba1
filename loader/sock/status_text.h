/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The text form of the socket side of status. */
#ifndef PS_SOCK_STATUS_TEXT_H
#define PS_SOCK_STATUS_TEXT_H

#include <json-c/json.h>

/* Prints a ps_status_build() object: attached cgroups, pools, busiest destinations. */
void ps_status_print(json_object *root);

#endif
