/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* doctor's checks of the fleet config against this host. */
#ifndef PS_DOCTOR_SLICES_H
#define PS_DOCTOR_SLICES_H

#include <stdbool.h>

#include "core/fleet.h"
#include "doctor/doctor.h"

/*
 * The config @file as loaded into @fleet (@load: what its load found
 * wrong), whether the agent would trust it, this host's slices with their
 * addresses, ports and listeners, and steering. True when the config
 * loaded and gives this host slices: its cgroups are worth checking then.
 */
bool ps_doctor_check_config(struct ps_doctor_report *r, const struct ps_fleet *fleet, const char *file,
			    const struct ps_error *load);

#endif
