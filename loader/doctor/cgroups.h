/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* doctor's cgroup checks: what else runs on the hooks portslice uses. */
#ifndef PS_DOCTOR_CGROUPS_H
#define PS_DOCTOR_CGROUPS_H

#include <stddef.h>

#include "doctor/doctor.h"

/*
 * Checks @cgroups[0..@n) and every attached cgroup (found under the cgroup2
 * mount @mnt): a program of someone else's on portslice's hooks may rewrite
 * what portslice chose.
 */
void ps_doctor_check_cgroups(struct ps_doctor_report *r, const char *const *cgroups, size_t n, const char *mnt);

#endif
