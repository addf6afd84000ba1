/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * doctor's steering checks: what the XDP program needs of the interfaces
 * and of the routes to the other hosts, none of which it can see failing
 * but as drop counters.
 */
#ifndef PS_DOCTOR_STEERING_H
#define PS_DOCTOR_STEERING_H

#include "core/fleet.h"
#include "doctor/doctor.h"

/* The steering prerequisites, when the fleet's config has a steering: section. */
void ps_doctor_check_steering(struct ps_doctor_report *r, const struct ps_fleet *fleet);

#endif
