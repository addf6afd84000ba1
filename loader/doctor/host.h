/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* doctor's checks of the host itself: root, kernel, BTF, namespaces, cgroup2, bpffs, features, pins. */
#ifndef PS_DOCTOR_HOST_H
#define PS_DOCTOR_HOST_H

#include <stddef.h>

#include "doctor/doctor.h"

/* Every host check, in order; @cgroup_mnt gets the host's cgroup2 mount ("" when none is seen). */
void ps_doctor_check_host(struct ps_doctor_report *r, char *cgroup_mnt, size_t len);

#endif
