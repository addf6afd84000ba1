// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * portslice doctor: checks a host before use and says what is wrong and how
 * to fix it. Every check prints one line, "ok|warn|fail NAME: detail", with
 * "; fix: ..." on warnings and failures. Kernel features are probed by
 * loading tiny programs, not guessed from the version.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <limits.h>
#include <json-c/json.h>

#include "core/cli.h"
#include "core/fleet.h"
#include "core/log.h"
#include "doctor/cgroups.h"
#include "doctor/doctor.h"
#include "doctor/host.h"
#include "doctor/slices.h"

/* What `portslice help doctor` says beyond the options. */
static const char doctor_details[] =
	"Prints one line per check, \"ok|warn|fail NAME: detail; fix: ...\". Kernel features\n"
	"are probed by loading tiny programs. With --config: the pool addresses must be\n"
	"configured in this network namespace, slices should stay out of\n"
	"ip_local_port_range and clear of listening sockets, and the cgroups (the\n"
	"config's, --cgroup's and the attached ones) should carry no other program on\n"
	"portslice's hooks. With steering: in the config, the steering prerequisites: forwarding\n"
	"on the steered interfaces, a veth peer's XDP program, checksum offload, and how every\n"
	"other host is reached right now. Exit status 0 when nothing failed (warnings allowed), 1 otherwise.";

enum {
	OPT_CGROUP = 'c',
};

#define DOCTOR_MAX_CGROUPS 64

struct doctor_opts {
	struct ps_fleet_opts fleet;
	const char *cgroups[DOCTOR_MAX_CGROUPS]; /* --cgroup's, then the config's */
	size_t n_cgroups;
};

static const struct ps_opt doctor_opts[] = {
	PS_FLEET_OPT_CONFIG("also check the fleet config: pool addresses, slices, listeners, cgroups"),
	PS_FLEET_OPT_HOST,
	{ "cgroup", OPT_CGROUP, "DIR", "also check this cgroup's hooks; repeatable (attached cgroups are always checked)" },
	{ NULL },
};

static int on_doctor_opt(int key, const char *arg, void *ctx, struct ps_error *error)
{
	struct doctor_opts *o = ctx;

	if (ps_fleet_opt(&o->fleet, key, arg) || key != OPT_CGROUP)
		return 0;
	if (o->n_cgroups == DOCTOR_MAX_CGROUPS)
		return ps_fail(error, E2BIG, "at most %d --cgroup options", DOCTOR_MAX_CGROUPS);
	o->cgroups[o->n_cgroups++] = arg;
	return 0;
}

static const char *const verdict_str[] = { "ok", "warn", "fail" };

void ps_doctor_check(struct ps_doctor_report *r, enum ps_check_verdict v, const char *name, const char *fix, const char *fmt, ...)
{
	char detail[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	r->n[v]++;
	if (ps_json) {
		json_object *c = json_object_new_object();

		json_object_object_add(c, "result", json_object_new_string(verdict_str[v]));
		json_object_object_add(c, "name", json_object_new_string(name));
		json_object_object_add(c, "detail", json_object_new_string(detail));
		if (v != PS_CHECK_OK && fix)
			json_object_object_add(c, "fix", json_object_new_string(fix));
		json_object_array_add(r->checks, c);
		return;
	}
	if (v != PS_CHECK_OK && fix)
		printf("%s %s: %s; fix: %s\n", verdict_str[v], name, detail, fix);
	else
		printf("%s %s: %s\n", verdict_str[v], name, detail);
	fflush(stdout);
}

static void print_summary(const struct ps_doctor_report *r)
{
	if (ps_json) {
		json_object *root = json_object_new_object();

		json_object_object_add(root, "ok", json_object_new_boolean(!r->n[PS_CHECK_FAIL]));
		json_object_object_add(root, "failures", json_object_new_int(r->n[PS_CHECK_FAIL]));
		json_object_object_add(root, "warnings", json_object_new_int(r->n[PS_CHECK_WARN]));
		json_object_object_add(root, "checks", r->checks);
		ps_json_print(root);
	} else {
		printf("%d ok, %d warning(s), %d failure(s)\n", r->n[PS_CHECK_OK], r->n[PS_CHECK_WARN], r->n[PS_CHECK_FAIL]);
	}
	fflush(stdout);
}

static int run_doctor(int argc, char **argv, struct ps_error *error)
{
	struct doctor_opts o = {};
	struct ps_doctor_report r = {};
	struct ps_error load = {};
	struct ps_fleet fleet;
	char mnt[PATH_MAX] = "";
	int err;

	err = ps_cli_parse(&ps_cmd_doctor, argc, argv, on_doctor_opt, &o, error);
	if (err)
		return err > 0 ? 0 : err;
	/* A config that does not load is a finding of the report, not the command's failure. */
	err = ps_fleet_open(&fleet, &o.fleet, &load);
	if (err && !fleet.host[0]) {
		ps_fleet_close(&fleet);
		return ps_fail(error, load.code, "%s", load.msg);
	}
	if (ps_json)
		r.checks = json_object_new_array();

	ps_doctor_check_host(&r, mnt, sizeof(mnt));
	if (o.fleet.config && ps_doctor_check_config(&r, &fleet, o.fleet.config, &load)) {
		for (size_t i = 0; i < fleet.cfg.n_cgroups && o.n_cgroups < DOCTOR_MAX_CGROUPS; i++)
			o.cgroups[o.n_cgroups++] = fleet.cfg.cgroups[i].path;
	}
	if (mnt[0] && geteuid() == 0)
		ps_doctor_check_cgroups(&r, o.cgroups, o.n_cgroups, mnt);
	print_summary(&r);
	ps_fleet_close(&fleet);
	/* The report is the output: a failed check is not a command error. */
	if (r.n[PS_CHECK_FAIL])
		exit(1);
	return 0;
}

const struct ps_cmd ps_cmd_doctor = {
	.name = "doctor", .run = run_doctor, .opts = doctor_opts, .details = doctor_details,
	.synopsis = "[--config FILE] [--host NAME] [--cgroup DIR]... [--json]",
	.summary = "Check this host before use: kernel features, cgroup v2, bpffs, BTF, and the config's pools, slices and cgroups.",
};
