// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * portslice validate: checks a fleet config before it is rolled out, on any
 * machine (no root, no BPF, nothing changed): every error of the file, each
 * with its file, line and field, and with --host what one host would get.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "core/cli.h"
#include "core/config.h"
#include "core/fleet.h"
#include "core/log.h"
#include "sock/slots.h"
#include "validate.h"

/* What `portslice help validate` says beyond the options. */
static const char validate_details[] =
	"Needs neither root nor BPF and changes nothing: run it in CI or before copying a config\n"
	"to the fleet. Every error is printed as FILE:LINE: FIELD: problem (on stderr; with --json\n"
	"as objects with file, line, field and message keys under \"errors\"). With --host, also\n"
	"checks what that host gets, as attach and the agent would: it has a slice in some pool,\n"
	"every cgroup's pools have a slice for it, and steering: finds it under hosts:.";

/* --host here names the host to check the config for: no hostname default, nothing of this machine is read. */
static const struct ps_opt validate_opts[] = {
	{ "host", PS_OPT_HOST, "NAME", "also check what this host gets: its slices, its cgroups' pools, steering's host entry" },
	{ NULL },
};

/* The file is the config, given as the positional argument. */
static int on_validate_opt(int key, const char *arg, void *ctx, struct ps_error *error)
{
	if (!ps_fleet_opt(ctx, key, arg) && key == PS_OPT_ARG)
		((struct ps_fleet_opts *)ctx)->config = arg;
	return 0;
}

/* The errors found, as validate's own list: every one, in the order found. */
struct findings {
	json_object *errors;
	const char *file;
};

static void add_error(struct findings *f, int line, const char *field, const char *problem)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "file", json_object_new_string(f->file));
	if (line > 0)
		json_object_object_add(o, "line", json_object_new_int(line));
	if (field && *field)
		json_object_object_add(o, "field", json_object_new_string(field));
	json_object_object_add(o, "message", json_object_new_string(problem));
	json_object_array_add(f->errors, o);
	if (ps_json)
		return;
	if (line > 0)
		fprintf(stderr, "%s:%d: %s: %s\n", f->file, line, field && *field ? field : "top level", problem);
	else
		fprintf(stderr, "%s: %s\n", f->file, problem);
}

/* A message of attach's checks without its "FILE:" or "FILE:LINE: " start: add_error prints those. */
static const char *problem_of(const char *msg, const char *file)
{
	size_t n = strlen(file);

	if (strncmp(msg, file, n) || msg[n] != ':')
		return msg;
	msg += n + 1;
	while (*msg >= '0' && *msg <= '9')
		msg++;
	if (*msg == ':')
		msg++;
	return *msg == ' ' ? msg + 1 : msg;
}

/*
 * What --host adds: the host has slices, each cgroup's pools have a slice
 * for it, steering finds it under hosts:. The same checks as attach and
 * the agent make, so a config that passes here is not refused there.
 */
static void check_host(const struct ps_config *cfg, const char *host, struct findings *f, json_object *out)
{
	struct ps_error why = {};
	struct ps_selection sel;
	json_object *pools = json_object_new_array();
	char field[64];

	if (!ps_select_pools(cfg, host, NULL, 0, &sel, &why)) {
		for (size_t i = 0; i < sel.n; i++)
			json_object_array_add(pools, ps_selection_pool_json(&sel, i));
	} else {
		add_error(f, 0, "pools", problem_of(why.msg, cfg->path));
	}
	json_object_object_add(out, "pools", pools);

	if (cfg->steering.present && !ps_config_find_host(cfg, host)) {
		char msg[512];

		snprintf(msg, sizeof(msg),
			 "host '%s' is not listed, and steering: (line %d) needs this host's id and underlay address: add \"%s: {address: ADDR}\" under hosts:",
			 host, cfg->steering.line, host);
		add_error(f, cfg->hosts_line, "hosts", msg);
	}
	for (size_t i = 0; i < cfg->n_cgroups; i++) {
		const struct ps_cgroup_cfg *c = &cfg->cgroups[i];
		char *names[PS_MAX_POOLS];

		for (size_t j = 0; j < c->n_pools && j < PS_MAX_POOLS; j++)
			names[j] = (char *)c->pools[j];
		ps_error_clear(&why);
		if (ps_select_pools(cfg, host, names, c->n_pools, &sel, &why)) {
			snprintf(field, sizeof(field), "cgroups[%zu]", i);
			add_error(f, c->line, field, problem_of(why.msg, cfg->path));
		}
	}
}

static size_t dynamic_pools(const struct ps_config *cfg)
{
	size_t n = 0;

	for (size_t i = 0; i < cfg->n_pools; i++)
		n += cfg->pools[i].dynamic;
	return n;
}

/* etcd: as in force, defaults filled in (null: no etcd:). */
static json_object *etcd_json(const struct ps_etcd_cfg *e)
{
	json_object *o, *eps;
	char *list, *save = NULL;

	if (!e->present)
		return NULL;
	o = json_object_new_object();
	eps = json_object_new_array();
	list = strdup(e->endpoints);
	for (char *ep = list ? strtok_r(list, ",", &save) : NULL; ep; ep = strtok_r(NULL, ",", &save))
		json_object_array_add(eps, json_object_new_string(ep));
	free(list);
	json_object_object_add(o, "endpoints", eps);
	json_object_object_add(o, "ca", e->ca ? json_object_new_string(e->ca) : NULL);
	json_object_object_add(o, "cert", e->cert ? json_object_new_string(e->cert) : NULL);
	json_object_object_add(o, "key", e->key ? json_object_new_string(e->key) : NULL);
	json_object_object_add(o, "prefix", json_object_new_string(e->prefix));
	json_object_object_add(o, "lease_ttl_ms", json_object_new_int64(e->lease_ttl_s * 1000LL));
	json_object_object_add(o, "keepalive_ms", json_object_new_int64(e->keepalive_ms));
	json_object_object_add(o, "fence_margin_ms", json_object_new_int64(e->fence_margin_ms));
	json_object_object_add(o, "quarantine_ms", json_object_new_int64(e->quarantine_s * 1000LL));
	json_object_object_add(o, "timeout_ms", json_object_new_int64(e->timeout_ms));
	return o;
}

static int run_validate(int argc, char **argv, struct ps_error *error)
{
	struct ps_fleet_opts o = {};
	struct ps_config cfg = {};
	struct ps_error cerr = {};
	struct findings f;
	json_object *out;
	size_t n_errors;
	int err;

	err = ps_cli_parse(&ps_cmd_validate, argc, argv, on_validate_opt, &o, error);
	if (err)
		return err > 0 ? 0 : err;
	if (!o.config)
		return ps_fail(error, EINVAL, "validate needs FILE: the fleet config to check (see 'portslice validate --help')");
	if (o.host && !ps_valid_host_name(o.host))
		return ps_fail(error, EINVAL, "--host '%s' is not a host name: 1-%d characters of A-Z a-z 0-9 _ . -", o.host,
			      PS_HOST_NAME_LEN - 1);

	f = (struct findings){ .errors = json_object_new_array(), .file = o.config };
	out = json_object_new_object();
	/* The file's errors are this command's findings, not its failure. */
	err = ps_config_load_file(o.config, &cfg, &cerr);
	if (err == -ENOMEM) {
		json_object_put(f.errors);
		json_object_put(out);
		*error = cerr;
		return err;
	}
	for (size_t i = 0; err && i < cerr.n; i++)
		add_error(&f, cerr.items[i].line, cerr.items[i].field, cerr.items[i].problem);
	if (err && cerr.n_more) {
		char msg[128];

		snprintf(msg, sizeof(msg), "%zu more errors not listed: correct those above first", cerr.n_more);
		add_error(&f, 0, NULL, msg);
	}
	if (!err) {
		json_object_object_add(out, "pools_defined", json_object_new_int((int)cfg.n_pools));
		json_object_object_add(out, "hosts_defined", json_object_new_int((int)cfg.n_hosts));
		json_object_object_add(out, "cgroups_defined", json_object_new_int((int)cfg.n_cgroups));
		json_object_object_add(out, "steering", json_object_new_boolean(cfg.steering.present));
		json_object_object_add(out, "dynamic_pools", json_object_new_int((int)dynamic_pools(&cfg)));
		json_object_object_add(out, "etcd", etcd_json(&cfg.etcd));
		if (o.host)
			check_host(&cfg, o.host, &f, out);
	}
	n_errors = json_object_array_length(f.errors) + (err ? cerr.n_more : 0);

	json_object_object_add(out, "file", json_object_new_string(o.config));
	json_object_object_add(out, "host", o.host ? json_object_new_string(o.host) : NULL);
	json_object_object_add(out, "valid", json_object_new_boolean(!n_errors));
	if (n_errors) {
		json_object *first = json_object_array_get_idx(f.errors, 0), *v;

		/* Like every command's error object: the first error's message and place. */
		json_object_object_add(out, "error", json_object_new_string(cerr.n && err ? cerr.msg :
					json_object_get_string(json_object_object_get(first, "message"))));
		if (json_object_object_get_ex(first, "line", &v))
			json_object_object_add(out, "line", json_object_get(v));
		if (json_object_object_get_ex(first, "field", &v))
			json_object_object_add(out, "field", json_object_get(v));
	}
	json_object_object_add(out, "errors", f.errors);

	if (ps_json) {
		ps_json_print(out);
	} else {
		char dyn[32] = "";

		if (dynamic_pools(&cfg))
			snprintf(dyn, sizeof(dyn), " (%zu dynamic)", dynamic_pools(&cfg));
		if (!n_errors)
			printf("%s: valid: %zu pool%s%s, %zu host%s listed, %zu cgroup%s%s%s\n", o.config, cfg.n_pools,
			       cfg.n_pools == 1 ? "" : "s", dyn, cfg.n_hosts, cfg.n_hosts == 1 ? "" : "s", cfg.n_cgroups, cfg.n_cgroups == 1 ? "" : "s",
			       cfg.steering.present ? ", steering" : "", cfg.etcd.present ? ", etcd" : "");
		if (!n_errors && o.host) {
			json_object *pools = json_object_object_get(out, "pools");

			for (size_t i = 0; i < json_object_array_length(pools); i++) {
				json_object *p = json_object_array_get_idx(pools, i);

				printf("  host %s: pool %-16s %s ports %d-%d", o.host,
				       json_object_get_string(json_object_object_get(p, "name")),
				       json_object_get_string(json_object_object_get(p, "address")),
				       json_object_get_int(json_object_object_get(p, "first_port")),
				       json_object_get_int(json_object_object_get(p, "last_port")));
				if (json_object_get_boolean(json_object_object_get(p, "dynamic")))
					printf(" dynamic: blocks of %d, %d to %d leased from etcd",
					       json_object_get_int(json_object_object_get(p, "block_size")),
					       json_object_get_int(json_object_object_get(p, "min_blocks")),
					       json_object_get_int(json_object_object_get(p, "max_blocks")));
				printf("\n");
			}
		}
		if (n_errors)
			fprintf(stderr, "portslice: error: %s: %zu error%s\n", o.config, n_errors, n_errors == 1 ? "" : "s");
		json_object_put(out);
	}
	ps_config_free(&cfg);
	/* Reported above, in full: exit 1 without another error line. */
	return n_errors ? 1 : 0;
}

const struct ps_cmd ps_cmd_validate = {
	.name = "validate", .run = run_validate, .opts = validate_opts, .details = validate_details,
	.synopsis = "FILE [--host NAME]",
	.summary = "Check a fleet config before rollout: every error with its file, line and field; exit 0 valid, 1 not.",
	.positional = "FILE",
	.offline = true,
};
