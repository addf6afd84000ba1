/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Commands and their options are data: one table per command drives both
 * getopt_long and the --help text, so the two never drift apart.
 */
#ifndef PS_CORE_CLI_H
#define PS_CORE_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "core/error.h"

struct ps_opt {
	const char *name;     /* long option, without "--" */
	int key;              /* short option character or a value >= 256 */
	const char *metavar;  /* NULL for flags */
	const char *help;
};

struct ps_cmd {
	const char *name;
	const char *synopsis; /* arguments, as shown after the command name */
	const char *summary;  /* one line, for the command list */
	const char *details;  /* paragraph(s) for `portslice help CMD`, may be NULL */
	const struct ps_opt *opts; /* terminated by an entry with name NULL */
	int (*run)(int argc, char **argv, struct ps_error *error);
	/*
	 * Selected by its full name only, never by an abbreviation: for a
	 * command added after others that share its first letters (steer vs
	 * status), so that existing abbreviations keep their meaning.
	 */
	bool full_name_only;
	/*
	 * One positional argument, passed to on_opt with key PS_OPT_ARG (NULL:
	 * the command takes none). Options may stand before or after it.
	 */
	const char *positional;
	/* Reads no pins and no mounts (validate): no --bpffs, --cgroup-root. */
	bool offline;
	/*
	 * NULL-terminated: the command is one of these, named by the next word
	 * (a subcommand's name is "COMMAND WORD"); run is then unused.
	 */
	const struct ps_cmd *const *subcommands;
};

#define PS_OPT_ARG 0x7fff

/* Output mode, set by -j/--json anywhere on the command line. */
extern bool ps_json;
extern bool ps_pretty;

/*
 * Parses argv against cmd->opts, calling @on_opt for each option. Handles
 * -h/--help (prints usage, returns 1) and -j/--json. Returns 0, 1 for
 * "help was printed", or a negative errno with the error in @error.
 */
typedef int (*ps_opt_fn)(int key, const char *arg, void *ctx, struct ps_error *error);
int ps_cli_parse(const struct ps_cmd *cmd, int argc, char **argv, ps_opt_fn on_opt, void *ctx,
		 struct ps_error *error);
void ps_cli_usage(FILE *out, const struct ps_cmd *cmd);

#endif
