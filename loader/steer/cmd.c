// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * portslice steer: XDP reply steering on this host's ingress interfaces.
 *
 * Replies to a pool address arrive at whichever host the network picks. The
 * program (bpf/steer.bpf.c) passes those for this host's ports and forwards
 * the others to the host that owns them. The commands here read the options
 * and print; steer/links.c does the work, for the agent too.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "core/build.h"
#include "core/cli.h"
#include "core/fleet.h"
#include "core/log.h"
#include "core/rtnl.h"
#include "steer/cmd.h"
#include "steer/links.h"
#include "steer/prog.h"

enum {
	OPT_DEV = 'd',
	OPT_ALL = 'a',
};

struct steer_opts {
	const char *devs[PS_MAX_STEER_IFACES];
	size_t n_devs;
	struct ps_fleet_opts fleet;
	bool all;
};

static const struct ps_cmd ps_cmd_steer_attach, ps_cmd_steer_detach;

static int on_steer_opt(int key, const char *arg, void *ctx, struct ps_error *error)
{
	struct steer_opts *o = ctx;

	if (ps_fleet_opt(&o->fleet, key, arg))
		return 0;
	if (key == OPT_ALL)
		o->all = true;
	if (key == OPT_DEV && o->n_devs == PS_MAX_STEER_IFACES)
		return ps_fail(error, E2BIG, "at most %d --dev options", PS_MAX_STEER_IFACES);
	if (key == OPT_DEV)
		o->devs[o->n_devs++] = arg;
	return 0;
}

/* ---- steer attach -------------------------------------------------------- */

static void print_attach(const struct ps_fleet *fleet, const struct ps_steer_dev *devs, size_t n_devs,
			 const struct ps_steer_applied *applied)
{
	const struct ps_config *cfg = &fleet->cfg;
	const char *replaced = applied->replaced_build;
	const int *slot = applied->slot;
	__u32 prog_id = applied->prog_id;
	enum ps_steer_mode mode = cfg->steering.mode;
	char addr[PS_ADDR_STR_LEN];

	if (ps_json) {
		json_object *root = json_object_new_object(), *ifs = json_object_new_array(),
			    *pools = json_object_new_array();

		json_object_object_add(root, "host", json_object_new_string(fleet->self->name));
		json_object_object_add(root, "host_id", json_object_new_int((int)fleet->self_id));
		json_object_object_add(root, "mode", json_object_new_string(ps_steer_mode_name(mode)));
		json_object_object_add(root, "prog_id", json_object_new_uint64(prog_id));
		json_object_object_add(root, "build_id", json_object_new_string(ps_build_id_steer));
		json_object_object_add(root, "replaced_build_id", replaced[0] ? json_object_new_string(replaced) : NULL);
		json_object_object_add(root, "hosts", json_object_new_int((int)cfg->n_hosts));
		for (size_t i = 0; i < n_devs; i++) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "name", json_object_new_string(devs[i].name));
			json_object_object_add(o, "ifindex", json_object_new_uint64(devs[i].ifindex));
			json_object_object_add(o, "link_id", json_object_new_uint64(devs[i].link_id));
			json_object_object_add(o, "result", json_object_new_string(devs[i].result));
			json_object_array_add(ifs, o);
		}
		json_object_object_add(root, "interfaces", ifs);
		for (size_t i = 0; i < cfg->n_pools; i++) {
			const struct ps_pool_cfg *p = &cfg->pools[i];
			json_object *o = json_object_new_object(), *sl = json_object_new_array();

			ps_format_addr(p->family, p->addr, addr, sizeof(addr));
			json_object_object_add(o, "name", json_object_new_string(p->name));
			json_object_object_add(o, "address", json_object_new_string(addr));
			json_object_object_add(o, "slot", json_object_new_int(slot[i]));
			for (size_t j = 0; j < p->n_slices; j++) {
				json_object *s = json_object_new_object();

				json_object_object_add(s, "host", json_object_new_string(p->slices[j].host));
				json_object_object_add(s, "host_id",
						       json_object_new_int((int)p->slices[j].host_id));
				json_object_object_add(s, "first_port", json_object_new_int(p->slices[j].range.lo));
				json_object_object_add(s, "last_port", json_object_new_int(p->slices[j].range.hi));
				json_object_array_add(sl, s);
			}
			json_object_object_add(o, "slices", sl);
			json_object_array_add(pools, o);
		}
		json_object_object_add(root, "pools", pools);
		ps_json_print(root);
		return;
	}
	for (size_t i = 0; i < n_devs; i++)
		printf("steering %s on %s (ifindex %u, link %u, prog %u)\n", devs[i].result, devs[i].name,
		       devs[i].ifindex, devs[i].link_id, prog_id);
	printf("  host %s (id %u of %zu), mode %s\n", fleet->self->name, fleet->self_id, cfg->n_hosts,
	       ps_steer_mode_name(mode));
	if (replaced[0])
		printf("  program of build %s replaced in place by this portslice's build %s (links and maps kept)\n",
		       replaced, ps_build_id_steer);
	for (size_t i = 0; i < cfg->n_pools; i++) {
		const struct ps_pool_cfg *p = &cfg->pools[i];

		ps_format_addr(p->family, p->addr, addr, sizeof(addr));
		printf("  pool %-16s %s (slot %d):", p->name, addr, slot[i]);
		for (size_t j = 0; j < p->n_slices; j++)
			printf(" %s %u-%u", p->slices[j].host, p->slices[j].range.lo, p->slices[j].range.hi);
		printf("\n");
	}
}

/* The interfaces to steer: --dev, else steering.interfaces; each named once, and each must exist. */
static int steer_devs(const struct steer_opts *o, const struct ps_config *cfg, struct ps_steer_dev *devs,
		      size_t *n_devs, struct ps_error *error)
{
	*n_devs = 0;
	for (size_t i = 0; i < (o->n_devs ? o->n_devs : cfg->steering.n_interfaces); i++) {
		const char *name = o->n_devs ? o->devs[i] : cfg->steering.interfaces[i];
		bool dup = false;

		if (!ps_valid_ifname(name))
			return ps_fail(error, EINVAL, "'%s' is not an interface name", name);
		for (size_t j = 0; j < *n_devs; j++)
			dup |= !strcmp(devs[j].name, name);
		if (dup)
			continue;
		ps_steer_dev_init(&devs[*n_devs], name);
		if (!devs[*n_devs].ifindex)
			return ps_steer_no_such_interface(&devs[*n_devs], error);
		(*n_devs)++;
	}
	if (!*n_devs)
		return ps_fail(error, EINVAL, "steer attach needs --dev IFACE, or steering.interfaces in %s", o->fleet.config);
	return 0;
}

/* What steering needs of the config and of this host in it, checked before the kernel is touched. */
static int check_fleet(const struct ps_fleet *fleet, const char *path, struct ps_error *error)
{
	if (!fleet->cfg.n_hosts)
		return ps_fail(error, EINVAL, "%s has no hosts: section: steering forwards each reply to the underlay address of the host "
			      "that owns its port; list every host of the fleet there (host-a: {address: 198.18.10.1})", path);
	if (!fleet->cfg.steering.present)
		return ps_fail(error, EINVAL, "%s has no steering: section: add 'steering: {mode: l2}' (hosts on one segment) "
			      "or 'steering: {mode: encap}' (IP-in-IP to the owner)", path);
	if (!fleet->self)
		return ps_fail(error, ENOENT, "host '%s' is not listed under hosts: in %s: pass --host NAME, or add it there with its underlay address",
			      fleet->host, path);
	return 0;
}

static int run_steer_attach(int argc, char **argv, struct ps_error *error)
{
	struct steer_opts o = {};
	struct ps_fleet fleet = { .lock = -1 };
	struct ps_steer_dev devs[PS_MAX_STEER_IFACES];
	struct ps_steer_applied applied = {};
	size_t n_devs = 0;
	int err;

	err = ps_cli_parse(&ps_cmd_steer_attach, argc, argv, on_steer_opt, &o, error);
	if (err)
		return err > 0 ? 0 : err;
	if (!o.fleet.config)
		return ps_fail(error, EINVAL, "steer attach needs --config FILE: the fleet config with hosts: and steering:");

	/* Everything that can be checked without touching the kernel first. */
	err = ps_fleet_open(&fleet, &o.fleet, error) ?: check_fleet(&fleet, o.fleet.config, error) ?:
	      steer_devs(&o, &fleet.cfg, devs, &n_devs, error);
	if (!err) {
		ps_steer_warn_config(&fleet.cfg, fleet.self);
		err = ps_fleet_prepare(&fleet, PS_NEED_PINS | PS_NEED_BPF | PS_NEED_LOCK, error) ?:
		      ps_steer_apply_locked(&fleet.cfg, fleet.self, devs, n_devs, PS_STEER_ALL_OR_NOTHING, &applied, error);
	}
	if (!err)
		print_attach(&fleet, devs, n_devs, &applied);
	ps_fleet_close(&fleet);
	return err;
}

/* ---- steer detach -------------------------------------------------------- */

/* The interfaces `steer detach` took steering off: names for the output, indexes to match renamed ones. */
struct detached {
	json_object *names;
	__u32 ifindex[PS_MAX_STEER_LINKS];
};

static void note_detached(const char *ifname, __u32 ifindex, void *arg)
{
	struct detached *d = arg;
	size_t n = json_object_array_length(d->names);

	if (n < PS_MAX_STEER_LINKS)
		d->ifindex[n] = ifindex;
	json_object_array_add(d->names, json_object_new_string(ifname));
}

static int run_steer_detach(int argc, char **argv, struct ps_error *error)
{
	struct steer_opts o = {};
	struct detached *detached = calloc(1, sizeof(*detached));
	json_object *missing = json_object_new_array();
	struct ps_fleet fleet = { .lock = -1 };
	bool removed = false;
	int err;

	if (!detached) {
		json_object_put(missing);
		return ps_fail(error, ENOMEM, "out of memory");
	}
	detached->names = json_object_new_array();
	err = ps_cli_parse(&ps_cmd_steer_detach, argc, argv, on_steer_opt, &o, error);
	if (err) {
		err = err > 0 ? 0 : err;
		goto out;
	}
	if (!o.n_devs == !o.all) {
		err = ps_fail(error, EINVAL, "steer detach needs exactly one of --dev IFACE or --all");
		goto out;
	}
	for (size_t i = 0; i < o.n_devs; i++) {
		if (!ps_valid_ifname(o.devs[i])) {
			err = ps_fail(error, EINVAL, "'%s' is not an interface name", o.devs[i]);
			goto out;
		}
	}
	/* --all: every interface but none. */
	err = ps_fleet_prepare(&fleet, PS_NEED_PINS | PS_NEED_LOCK, error) ?:
	      ps_steer_detach_locked(o.devs, o.n_devs, o.all, note_detached, detached, &removed, error);
	if (err)
		goto out;
	for (size_t j = 0; j < o.n_devs; j++) {
		unsigned int idx = if_nametoindex(o.devs[j]);
		bool found = false;

		/* By name, or an interface renamed since whose link this was. */
		for (size_t k = 0; k < json_object_array_length(detached->names) && !found; k++) {
			const char *name = json_object_get_string(json_object_array_get_idx(detached->names, k));

			found = !strcmp(name, o.devs[j]) ||
				(k < PS_MAX_STEER_LINKS && idx && detached->ifindex[k] == idx && !if_nametoindex(name));
		}
		if (!found)
			json_object_array_add(missing, json_object_new_string(o.devs[j]));
	}
	if (ps_json) {
		json_object *root = json_object_new_object();

		json_object_object_add(root, "detached", json_object_get(detached->names));
		json_object_object_add(root, "not_attached", json_object_get(missing));
		json_object_object_add(root, "steering_removed", json_object_new_boolean(removed));
		ps_json_print(root);
	} else {
		for (size_t k = 0; k < json_object_array_length(detached->names); k++)
			printf("steering detached from %s\n",
			       json_object_get_string(json_object_array_get_idx(detached->names, k)));
		for (size_t k = 0; k < json_object_array_length(missing); k++)
			printf("%s had no steering attached: nothing to do\n",
			       json_object_get_string(json_object_array_get_idx(missing, k)));
		if (o.all && !json_object_array_length(detached->names))
			printf("no interface had steering attached: nothing to do\n");
		if (removed)
			printf("no interface has steering any more: its maps are removed\n");
	}
out:
	json_object_put(detached->names);
	free(detached);
	json_object_put(missing);
	ps_fleet_close(&fleet);
	return err;
}
/* ---- the command --------------------------------------------------------- */

static const struct ps_opt steer_attach_opts[] = {
	{ "dev", OPT_DEV, "IFACE", "interface replies arrive on; repeat for several (default: steering.interfaces)" },
	PS_FLEET_OPT_CONFIG("fleet config file with hosts: and steering: (required)"),
	{ "host", PS_OPT_HOST, "NAME", "this host's name under hosts: (default: hostname)" },
	{ NULL },
};

static const char steer_attach_details[] =
	"Loads the XDP program (native mode: the driver must support XDP) and pins its link\n"
	"under <pin dir>/steer/IFACE. The maps get every pool of the config: its address, and\n"
	"for each port the host whose slice holds it (ports of no slice are dropped). Host\n"
	"ids are positions in hosts:, so every host must read the same file. Attaching again\n"
	"only rewrites the maps (a host joins, a slice moves): program and link stay; a\n"
	"changed mode, host id or underlay address swaps the program inside the same links.";

static const struct ps_opt steer_detach_opts[] = {
	{ "dev", OPT_DEV, "IFACE", "take steering off this interface; repeat for several" },
	{ "all", OPT_ALL, NULL, "take steering off every interface and remove its maps" },
	{ NULL },
};

static const char steer_details[] =
	"Subcommands (each has --help):\n"
	"  portslice steer attach [--dev IFACE]... --config FILE [--host NAME]\n"
	"      Load or refresh steering on the interfaces (default: steering.interfaces).\n"
	"  portslice steer detach --dev IFACE... | --all\n"
	"      Take steering off interfaces.\n"
	"\n"
	"Replies to a pool address reach whichever host the network picks. On every host,\n"
	"the program passes replies for ports of this host's slices and forwards the others\n"
	"to their owner: l2 mode rewrites the MACs (hosts on one segment), encap mode wraps\n"
	"them in IP-in-IP to the owner's underlay address (hosts: in the config). Replies\n"
	"for ports of no slice are dropped. 'portslice status' shows the counters.";

static const struct ps_cmd ps_cmd_steer_attach = {
	.name = "steer attach", .opts = steer_attach_opts, .run = run_steer_attach, .details = steer_attach_details,
	.synopsis = "[--dev IFACE]... --config FILE [--host NAME]",
	.summary = "Forward replies for other hosts' ports to their owner; pass those for this host's ports.",
};

static const struct ps_cmd ps_cmd_steer_detach = {
	.name = "steer detach", .opts = steer_detach_opts, .run = run_steer_detach, .synopsis = "--dev IFACE... | --all",
	.summary = "Take steering off interfaces; with the last one, its maps go too.",
	.details = "Detaching an interface that has no steering succeeds and says so. Cgroup\n"
		   "attachments are not touched ('portslice detach --all' removes both).",
};

static const struct ps_cmd *const steer_subcommands[] = { &ps_cmd_steer_attach, &ps_cmd_steer_detach, NULL };

const struct ps_cmd ps_cmd_steer = {
	.name = "steer", .subcommands = steer_subcommands, .full_name_only = true, .details = steer_details,
	.synopsis = "attach [--dev IFACE]... --config FILE [--host NAME] | detach --dev IFACE... | --all",
	.summary = "Steer replies to the host that owns their port (XDP on the ingress interfaces).",
};
