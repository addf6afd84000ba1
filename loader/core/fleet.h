/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What every command that reads the fleet config starts with: the
 * --config and --host options, the config loaded and checked whole, this
 * host found in it once, and, for a command that reads or changes the pins,
 * the host's view of bpffs (and cgroup2), BTF, and the state lock.
 */
#ifndef PS_CORE_FLEET_H
#define PS_CORE_FLEET_H

#include <stdbool.h>

#include "core/config.h"
#include "core/error.h"

/* --config FILE and --host NAME, as every command spells them. */
struct ps_fleet_opts {
	const char *config;
	const char *host;           /* NULL: the hostname */
};

#define PS_OPT_CONFIG 'f'
#define PS_OPT_HOST 'H'
/* The two entries of a command's option table; @config_help says what the command reads in the file. */
#define PS_FLEET_OPT_CONFIG(config_help) { "config", PS_OPT_CONFIG, "FILE", config_help }
#define PS_FLEET_OPT_HOST { "host", PS_OPT_HOST, "NAME", "this host's name in the config's slices (default: hostname)" }

/* Takes --config or --host into @o: true when @key was one of them. */
bool ps_fleet_opt(struct ps_fleet_opts *o, int key, const char *arg);

/* What a command needs beyond the config (ps_fleet_prepare()). */
enum ps_fleet_needs {
	PS_NEED_PINS = 1 << 0,      /* root, and the host's bpffs as this process sees it */
	PS_NEED_CGROUPS = 1 << 1,   /* ... and the host's cgroup2 */
	PS_NEED_BPF = 1 << 2,       /* BTF, and the pin dir on a bpf file system (mounted if need be) */
	PS_NEED_LOCK = 1 << 3,      /* the state lock, held until ps_fleet_close() */
};

struct ps_fleet {
	struct ps_config cfg;       /* empty when no --config was given */
	char host[PS_HOST_NAME_LEN + 192]; /* this host's name (--host, or the hostname) */
	const struct ps_host_cfg *self; /* this host under hosts:, NULL when not listed */
	unsigned int self_id;       /* its id (1-based), 0 when not listed */
	int lock;                   /* the state lock's fd, -1 when not held */
};

/*
 * Names this host (--host, or the hostname) and, when @o names a config,
 * loads it whole and finds the host in it. Checks nothing of the kernel:
 * a command checks what it can without touching it first. Every error of
 * the file is in @error. @f is usable (and to be closed) either way.
 */
int ps_fleet_open(struct ps_fleet *f, const struct ps_fleet_opts *o, struct ps_error *error);
/* Checks what @needs asks for (enum ps_fleet_needs), in that order, and takes the lock last. */
int ps_fleet_prepare(struct ps_fleet *f, unsigned int needs, struct ps_error *error);
/* Frees the config and drops the lock. */
void ps_fleet_close(struct ps_fleet *f);

#endif
