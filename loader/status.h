/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What `portslice status --json` reports, as a json-c object: the attached
 * cgroups and, per pool, slice, tuples in use and counters. Built in
 * status.c; the metrics (stats --prometheus, the agent's endpoint) are
 * derived from the same object, so the two never disagree.
 */
#ifndef PS_USAGE_H
#define PS_USAGE_H

#include "core/error.h"

#include <json-c/json.h>

#include "core/pins.h"
#include "sock/maps.h"

/* @mnt: the cgroup2 mount (for absolute paths). NULL on error (recorded). */
json_object *ps_status_build(const struct ps_maps *maps, const char *mnt, struct ps_error *error);

#endif
