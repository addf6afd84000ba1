// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* portslice: per-host source-port slices of shared egress addresses. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>

#include "core/build.h"
#include "core/cli.h"
#include "core/env.h"
#include "core/error.h"
#include "core/log.h"
#include "portslice.h"
#include "core/version.h"
#include "agent/agent.h"
#include "doctor/doctor.h"
#include "leases.h"
#include "metrics.h"
#include "sock/cmd.h"
#include "status.h"
#include "steer/cmd.h"
#include "validate.h"

static const struct ps_cmd *const commands[] = {
	&ps_cmd_attach,
	&ps_cmd_detach,
	&ps_cmd_status,
	&ps_cmd_steer,
	&ps_cmd_stats,
	&ps_cmd_doctor,
	&ps_cmd_agent,
	&ps_cmd_leases,
	&ps_cmd_validate,
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: portslice [-v] [-j] [-p] COMMAND [OPTIONS]\n"
		"\n"
		"Gives this host's processes in a cgroup the shared egress addresses of a fleet,\n"
		"each connection with a source port inside this host's slice and a 4-tuple no\n"
		"other socket has, for TCP and UDP, with no change to the applications.\n"
		"\n"
		"Commands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  %-8s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(out, "  %-8s %s\n", "help", "Show this help, or a command's: portslice help COMMAND");
	fprintf(out,
		"\n"
		"Global options (before the command):\n"
		"  -v, --verbose   also print libbpf's messages (verifier logs on failure)\n"
		"  -j, --json      machine-readable output; errors too, as {\"error\": ...}\n"
		"  -p, --pretty    indented JSON (implies --json)\n"
		"  -V, --version   print the version\n"
		"  --bpffs DIR, --cgroup-root DIR\n"
		"                  the host's bpf file system and cgroup2 hierarchy as mounted in\n"
		"                  this mount namespace, when it is not the host's (a container)\n"
		"\n"
		"Environment:\n"
		"  PORTSLICE_PIN_DIR    where the pins live (default /sys/fs/bpf/portslice)\n"
		"  PORTSLICE_LOCK_FILE  lock serialising state changes (default /run/portslice.lock)\n"
		"  PORTSLICE_BPFFS, PORTSLICE_CGROUP_ROOT  as --bpffs and --cgroup-root\n");
}

/* Unambiguous prefixes select a command, as in bpftool. */
static const struct ps_cmd *find_command(const char *name, struct ps_error *error)
{
	const struct ps_cmd *found = NULL;
	size_t len = strlen(name);

	if (!len) {
		ps_fail(error, EINVAL, "empty command name: see 'portslice help'");
		return NULL;
	}

	for (size_t i = 0; i < N_COMMANDS; i++) {
		if (!strcmp(commands[i]->name, name))
			return commands[i];
		if (!commands[i]->full_name_only && !strncmp(commands[i]->name, name, len)) {
			if (found) {
				ps_fail(error, EINVAL, "'%s' is ambiguous: it could be %s or %s", name, found->name,
					      commands[i]->name);
				return NULL;
			}
			found = commands[i];
		}
	}
	if (!found)
		ps_fail(error, EINVAL, "unknown command '%s': see 'portslice help'", name);
	return found;
}

/* The word that names @sub after its command's name: "attach" of "steer attach". */
static const char *sub_word(const struct ps_cmd *cmd, const struct ps_cmd *sub)
{
	return sub->name + strlen(cmd->name) + 1;
}

static const struct ps_cmd *find_subcommand(const struct ps_cmd *cmd, const char *word)
{
	for (const struct ps_cmd *const *sub = cmd->subcommands; *sub; sub++)
		if (!strcmp(sub_word(cmd, *sub), word))
			return *sub;
	return NULL;
}

/* "attach or detach": the words of @cmd's subcommands, for its messages. */
static void sub_words(const struct ps_cmd *cmd, char *buf, size_t len)
{
	size_t n = 0, used = 0;

	while (cmd->subcommands[n])
		n++;
	buf[0] = '\0';
	for (size_t i = 0; i < n && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", !i ? "" : i + 1 == n ? " or " : ", ",
					 sub_word(cmd, cmd->subcommands[i]));
}

/* A command made of subcommands: the next word picks one (or asks for help). */
static int run_subcommand(const struct ps_cmd *cmd, int argc, char **argv, struct ps_error *error)
{
	const struct ps_cmd *sub;
	char words[256];
	int i;

	sub_words(cmd, words, sizeof(words));
	/* -j/--json may come before the subcommand too. */
	for (i = 1; i < argc && (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json")); i++)
		ps_json = true;
	if (i == argc)
		return ps_fail(error, EINVAL, "%s needs a subcommand, %s: see 'portslice help %s'", cmd->name, words,
			       cmd->name);
	if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help") || !strcmp(argv[i], "help")) {
		sub = i + 1 < argc ? find_subcommand(cmd, argv[i + 1]) : NULL;
		ps_cli_usage(stdout, sub ?: cmd);
		return 0;
	}
	sub = find_subcommand(cmd, argv[i]);
	if (!sub)
		return ps_fail(error, EINVAL, "unknown %s subcommand '%s': use %s (see 'portslice help %s')", cmd->name,
			       argv[i], words, cmd->name);
	return sub->run(argc - i, argv + i, error);
}

static int run_help(int argc, char **argv, struct ps_error *error)
{
	const struct ps_cmd *sub = NULL;

	const struct ps_cmd *cmd;

	if (argc < 2) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	cmd = find_command(argv[1], error);
	if (!cmd)
		return -error->code;
	/* portslice help steer attach */
	if (cmd->subcommands && argc > 2)
		sub = find_subcommand(cmd, argv[2]);
	ps_cli_usage(stdout, sub ?: cmd);
	return 0;
}

static void report_error(const struct ps_error *error)
{
	char text[sizeof(error->msg) + 512];

	if (ps_json) {
		json_object *root = ps_error_json(error), *warnings = ps_log_warnings();

		if (warnings)
			json_object_object_add(root, "warnings", warnings);
		puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
		json_object_put(root);
	} else {
		fprintf(stderr, "portslice: error: %s\n", ps_error_text(error, text, sizeof(text)));
	}
}

int main(int argc, char **argv)
{
	struct ps_error error = {};
	const struct ps_cmd *cmd;
	int i, err;

	libbpf_set_print(ps_libbpf_print);
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			ps_log_set_level(PS_LOG_DEBUG);
		} else if (!strcmp(a, "-j") || !strcmp(a, "--json")) {
			ps_json = true;
			ps_log_set_json(true);
		} else if (!strcmp(a, "-p") || !strcmp(a, "--pretty")) {
			ps_json = ps_pretty = true;
			ps_log_set_json(true);
		} else if ((!strcmp(a, "--bpffs") || !strcmp(a, "--cgroup-root")) && i + 1 < argc) {
			(a[2] == 'b' ? ps_env_set_bpffs : ps_env_set_cgroup_root)(argv[++i]);
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
			printf("portslice %s (layout %d, libbpf %s, commit %s, build sock %s steer %s)\n", PS_VERSION,
			       PS_LAYOUT_VERSION, libbpf_version_string(), ps_git_commit, ps_build_id_sock, ps_build_id_steer);
			return 0;
		} else {
			ps_fail(&error, EINVAL, "unknown option '%s': see 'portslice help'", a);
			report_error(&error);
			return 2;
		}
	}
	if (i == argc) {
		if (ps_json) {
			ps_fail(&error, EINVAL, "no command given: see 'portslice help'");
			report_error(&error);
		} else {
			usage(stderr);
		}
		return 2;
	}
	if (!strcmp(argv[i], "help"))
		return run_help(argc - i, argv + i, &error) ? (report_error(&error), 2) : 0;
	cmd = find_command(argv[i], &error);
	if (!cmd) {
		report_error(&error);
		return 2;
	}
	err = cmd->subcommands ? run_subcommand(cmd, argc - i, argv + i, &error) : cmd->run(argc - i, argv + i, &error);
	if (err > 0)
		return err; /* the command reported its failure itself */
	if (err) {
		report_error(&error);
		return err == -EINVAL ? 2 : 1;
	}
	return 0;
}
