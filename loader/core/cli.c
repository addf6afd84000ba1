// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "core/cli.h"
#include "core/env.h"
#include "core/log.h"

bool ps_json;
bool ps_pretty;

#define PS_MAX_OPTS 32
#define OPT_HELP 'h'
#define OPT_JSON 'j'
#define OPT_BPFFS 0x7ff0
#define OPT_CGROUP_ROOT 0x7ff1

void ps_cli_usage(FILE *out, const struct ps_cmd *cmd)
{
	fprintf(out, "Usage: portslice %s %s\n\n%s\n", cmd->name, cmd->synopsis, cmd->summary);
	if (cmd->details)
		fprintf(out, "\n%s\n", cmd->details);
	fprintf(out, "\nOptions:\n");
	for (const struct ps_opt *o = cmd->opts; o && o->name; o++) {
		char left[64];

		if (o->key < 256)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", o->key, o->name,
				 o->metavar ? " " : "", o->metavar ?: "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", o->name, o->metavar ? " " : "",
				 o->metavar ?: "");
		fprintf(out, "  %-28s %s\n", left, o->help);
	}
	fprintf(out, "  %-28s %s\n", "-j, --json", "print machine-readable JSON (errors too)");
	if (!cmd->offline) {
		fprintf(out, "  %-28s %s\n", "    --bpffs DIR", "the host's bpf file system as mounted here (another mount namespace)");
		fprintf(out, "  %-28s %s\n", "    --cgroup-root DIR", "the host's cgroup2 hierarchy as mounted here (likewise)");
	}
	fprintf(out, "  %-28s %s\n", "-h, --help", "show this help");
}

int ps_cli_parse(const struct ps_cmd *cmd, int argc, char **argv, ps_opt_fn on_opt, void *ctx,
		 struct ps_error *error)
{
	struct option lopts[PS_MAX_OPTS + 5] = {};
	char sopts[PS_MAX_OPTS * 2 + 8] = "+hj";
	size_t n = 0, s = strlen(sopts);
	int c, err;

	for (const struct ps_opt *o = cmd->opts; o && o->name && n < PS_MAX_OPTS; o++, n++) {
		lopts[n] = (struct option){ o->name, o->metavar ? required_argument : no_argument, NULL, o->key };
		if (o->key < 256) {
			sopts[s++] = (char)o->key;
			if (o->metavar)
				sopts[s++] = ':';
		}
	}
	lopts[n++] = (struct option){ "help", no_argument, NULL, OPT_HELP };
	lopts[n++] = (struct option){ "json", no_argument, NULL, OPT_JSON };
	if (!cmd->offline) {
		lopts[n++] = (struct option){ "bpffs", required_argument, NULL, OPT_BPFFS };
		lopts[n++] = (struct option){ "cgroup-root", required_argument, NULL, OPT_CGROUP_ROOT };
	}
	sopts[s] = '\0';

	optind = 1;
	opterr = 0;
	for (bool took_arg = false;;) {
		c = getopt_long(argc, argv, sopts, lopts, NULL);
		if (c == -1) {
			/* '+' stops at the first argument: take the positional one and go on. */
			if (!cmd->positional || took_arg || optind >= argc)
				break;
			took_arg = true;
			err = on_opt(PS_OPT_ARG, argv[optind++], ctx, error);
			if (err)
				return err;
			continue;
		}
		switch (c) {
		case OPT_HELP:
			ps_cli_usage(stdout, cmd);
			return 1;
		case OPT_JSON:
			ps_json = true;
			ps_log_set_json(true);
			break;
		case OPT_BPFFS:
			ps_env_set_bpffs(optarg);
			break;
		case OPT_CGROUP_ROOT:
			ps_env_set_cgroup_root(optarg);
			break;
		case '?':
			for (const struct ps_opt *o = cmd->opts; optopt && o && o->name; o++)
				if (o->key == optopt)
					return ps_fail(error, EINVAL, "option --%s of '%s' needs a value (%s): see 'portslice %s --help'",
						      o->name, cmd->name, o->metavar, cmd->name);
			return ps_fail(error, EINVAL, "unknown option '%s' for '%s': see 'portslice %s --help'",
				      argv[optind - 1], cmd->name, cmd->name);
		default:
			err = on_opt(c, optarg, ctx, error);
			if (err)
				return err;
		}
	}
	if (optind < argc)
		return ps_fail(error, EINVAL, "unexpected argument '%s' for '%s': see 'portslice %s --help'",
			      argv[optind], cmd->name, cmd->name);
	return 0;
}
