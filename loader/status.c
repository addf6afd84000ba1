// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* portslice status: the socket side (sock/status.c), then steering. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>

#include "core/cli.h"
#include "core/env.h"
#include "core/fleet.h"
#include "core/log.h"
#include "core/pins.h"
#include "sock/links.h"
#include "sock/maps.h"
#include "sock/status.h"
#include "sock/status_text.h"
#include "steer/status.h"
#include "status.h"

#define MAX_NETNS_OPTS 16

static const struct ps_opt status_opts[] = {
	{ "netns", 'n', "NAME|PATH", "also read TIME_WAIT sockets in this network namespace (/run/netns/NAME or a path such as /proc/PID/ns/net); repeat for several" },
	{ NULL },
};

static const char status_details[] =
	"A destination's headroom is the slice ports a connect() to it may still get: the slice\n"
	"less the ports claimed towards it, those the kernel holds in TIME_WAIT towards it (read\n"
	"with sock_diag, as ss does, in this network namespace, in those of the attached\n"
	"cgroups' processes and in each --netns) and those bound whole by bind(). A cgroup\n"
	"removed since it was attached, or detached and draining, is listed but not counted\n"
	"as attached.";

static int run_status(int argc, char **argv, struct ps_error *error);

const struct ps_cmd ps_cmd_status = {
	.name = "status", .synopsis = "[--netns NAME|PATH]... [--json]",
	.summary = "Show the attached cgroups and, per pool, its slice, the 4-tuples in use, TIME_WAIT, each destination's headroom and the counters; and steering.",
	.details = status_details, .opts = status_opts, .run = run_status,
};

/* --netns: namespaces to read besides this one and those of the attached cgroups' processes. */
struct status_opts {
	char paths[MAX_NETNS_OPTS][PATH_MAX];
	const char *netns[MAX_NETNS_OPTS];
	size_t n_netns;
};

static int on_status_opt(int key, const char *arg, void *ctx, struct ps_error *error)
{
	struct status_opts *o = ctx;
	char *path;
	int fd;

	if (key != 'n')
		return 0;
	if (o->n_netns == MAX_NETNS_OPTS)
		return ps_fail(error, E2BIG, "at most %d --netns options", MAX_NETNS_OPTS);
	path = o->paths[o->n_netns];
	if (strchr(arg, '/'))
		snprintf(path, PATH_MAX, "%s", arg);
	else
		snprintf(path, PATH_MAX, "/run/netns/%s", arg);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ps_fail(error, EINVAL, "--netns %s: cannot open %s: %s (name one of 'ip netns list', or give a path such as /proc/PID/ns/net)",
			      arg, path, strerror(errno));
	close(fd);
	o->netns[o->n_netns++] = path;
	return 0;
}

/* The socket side read from the pinned maps; NULL, with *err, when they cannot be read. */
static json_object *attached_status(const struct status_opts *o, int *err, struct ps_error *error)
{
	struct ps_maps maps;
	char mnt[PATH_MAX] = "";
	json_object *root;

	*err = ps_maps_open(&maps, error);
	if (*err)
		return NULL;
	ps_env_cgroup2_mount(mnt, sizeof(mnt), error);
	root = ps_status_build_netns(&maps, mnt, o->netns, o->n_netns, error);
	ps_maps_close(&maps);
	*err = root ? 0 : -EIO;
	return root;
}

static void print_unattached(json_object *steering)
{
	if (!ps_steer_links_any()) {
		printf("portslice is not attached to any cgroup on this host (no pins under %s)\n", ps_pin_dir());
		return;
	}
	printf("portslice is not attached to any cgroup on this host\n");
	ps_steer_status_print(steering);
}

static int run_status(int argc, char **argv, struct ps_error *error)
{
	struct status_opts o = {};
	struct ps_fleet fleet = { .lock = -1 };
	json_object *sock = NULL, *steering;
	bool attached;
	int err;

	err = ps_cli_parse(&ps_cmd_status, argc, argv, on_status_opt, &o, error);
	if (err)
		return err > 0 ? 0 : err;
	err = ps_fleet_prepare(&fleet, PS_NEED_CGROUPS, error);
	if (err)
		return err;
	steering = ps_steer_status_json();
	attached = ps_state_exists();
	if (attached)
		sock = attached_status(&o, &err, error);
	else if (ps_json)
		sock = ps_status_unattached();
	if (err) {
		json_object_put(steering);
	} else if (ps_json) {
		json_object_object_add(sock, "steering", steering);
		ps_json_print(sock);
	} else {
		if (attached) {
			ps_status_print(sock);
			ps_steer_status_print(steering);
		} else {
			print_unattached(steering);
		}
		json_object_put(steering);
		json_object_put(sock);
	}
	ps_fleet_close(&fleet);
	return err;
}
