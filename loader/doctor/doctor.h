/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * portslice doctor's report, which its checks (doctor/host, doctor/slices,
 * doctor/cgroups, doctor/steer) add to: one line a check, or one object
 * of "checks" with --json.
 */
#ifndef PS_DOCTOR_DOCTOR_H
#define PS_DOCTOR_DOCTOR_H

#include "core/cli.h"

#include <json-c/json.h>

enum ps_check_verdict { PS_CHECK_OK, PS_CHECK_WARN, PS_CHECK_FAIL };

struct ps_doctor_report {
	json_object *checks; /* --json: the checks so far; NULL: they are printed */
	int n[3];            /* checks by verdict */
};

/*
 * One check: "ok|warn|fail NAME: detail", with "; fix: @fix" on a warning
 * or failure (@fix may be NULL).
 */
void ps_doctor_check(struct ps_doctor_report *r, enum ps_check_verdict v, const char *name, const char *fix,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

extern const struct ps_cmd ps_cmd_doctor;

#endif
