// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * portslice attach and detach: their options, the fleet and the lock, and
 * what they print; sock/attach.c does the work.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <json-c/json.h>

#include "core/cli.h"
#include "core/config.h"
#include "core/env.h"
#include "core/fleet.h"
#include "core/log.h"
#include "core/pins.h"
#include "sock/attach.h"
#include "sock/cmd.h"
#include "sock/links.h"
#include "sock/maps.h"
#include "sock/slots.h"

enum {
	OPT_CGROUP = 'c',
	OPT_POOL = 'P',
	OPT_STRICT = 's',
	OPT_ALL = 'a',
};

static const struct ps_opt attach_opts[] = {
	{ "cgroup", OPT_CGROUP, "DIR", "cgroup v2 directory whose sockets use the pools (required)" },
	PS_FLEET_OPT_CONFIG("fleet config file (required)"),
	PS_FLEET_OPT_HOST,
	{ "pool", OPT_POOL, "NAME", "use this pool; repeat for several (default: every pool with a slice for the host)" },
	{ "strict", OPT_STRICT, NULL, "refuse, instead of warning, when a pool address is not configured in this network namespace" },
	{ NULL },
};

static const struct ps_opt detach_opts[] = {
	{ "cgroup", OPT_CGROUP, "DIR", "the attached cgroup (it may have been removed since)" },
	{ "all", OPT_ALL, NULL, "detach every cgroup and remove all of portslice's pins" },
	{ NULL },
};

static const char attach_details[] =
	"The programs stay attached after the command exits (their links are pinned under\n"
	"/sys/fs/bpf/portslice). Attaching again is safe: the same pools are refreshed from\n"
	"the config (a moved slice or new destinations take effect at once), other pools\n"
	"swap the programs in place. A cgroup nested inside an attached one is refused.\n"
	"A pool address that no interface of this network namespace has is warned about\n"
	"(with --strict, refused): connect() through it fails unless the cgroup's sockets\n"
	"live in a namespace that has it.\n"
	"Programs of another portslice build are replaced in place (an upgrade, or a\n"
	"rollback): links, maps and claims stay.";

static const char detach_details[] =
	"Sockets that already have a slice port keep it until they close; while some hold\n"
	"claims the cgroup drains (its release programs stay; status shows it) and the\n"
	"next detach removes it. When the last cgroup is detached and drained, every pin\n"
	"under the pin directory is removed. --all removes everything at once. Detaching\n"
	"a cgroup that is not attached succeeds and says so.";

static int run_attach(int argc, char **argv, struct ps_error *error);
static int run_detach(int argc, char **argv, struct ps_error *error);

const struct ps_cmd ps_cmd_attach = {
	.name = "attach", .synopsis = "--cgroup DIR --config FILE [--host NAME] [--pool NAME]... [--strict]",
	.summary = "Make every TCP/UDP socket of a cgroup leave from the pools' shared addresses with a source port in this host's slice.",
	.details = attach_details, .opts = attach_opts, .run = run_attach,
};

const struct ps_cmd ps_cmd_detach = {
	.name = "detach", .synopsis = "--cgroup DIR | --all",
	.summary = "Take portslice's programs off a cgroup; its new sockets get the kernel's default ports again.",
	.details = detach_details, .opts = detach_opts, .run = run_detach,
};

/* The options of both commands: each command's table admits only its own. */
struct sock_cmd_opts {
	struct ps_fleet_opts fleet;
	const char *cgroup;
	char *pools[PS_MAX_POOLS];
	size_t n_pools;
	bool strict;
	bool all;
};

static int on_opt(int key, const char *arg, void *ctx, struct ps_error *error)
{
	struct sock_cmd_opts *o = ctx;

	if (ps_fleet_opt(&o->fleet, key, arg))
		return 0;
	if (key == OPT_CGROUP)
		o->cgroup = arg;
	else if (key == OPT_STRICT)
		o->strict = true;
	else if (key == OPT_ALL)
		o->all = true;
	else if (key == OPT_POOL && o->n_pools == PS_MAX_POOLS)
		return ps_fail(error, E2BIG, "at most %d --pool options", PS_MAX_POOLS);
	else if (key == OPT_POOL)
		o->pools[o->n_pools++] = (char *)arg;
	return 0;
}

static int attach_opts_check(const struct sock_cmd_opts *o, struct ps_error *error)
{
	if (!o->cgroup)
		return ps_fail(error, EINVAL, "attach needs --cgroup DIR: the cgroup v2 directory whose sockets use the pools");
	if (!o->fleet.config)
		return ps_fail(error, EINVAL, "attach needs --config FILE: the fleet config");
	return 0;
}

static void warn_cb(const char *msg, void *arg)
{
	pr_warn("%s", msg);
}

/*
 * A pool address no interface of this network namespace has: bpf_bind()
 * fails on it, so every connect() through the pool would fail, unless the
 * cgroup's sockets live in another namespace that has it. A warning, or
 * with --strict the reason to change nothing.
 */
static int check_addresses(const struct ps_config *cfg, const struct ps_selection *sel, bool strict, struct ps_error *error)
{
	struct ifaddrs *ifs = NULL;
	char addr[PS_ADDR_STR_LEN], ifname[IF_NAMESIZE + 1];
	int err = 0;

	if (getifaddrs(&ifs))
		return strict ? ps_fail(error, errno, "--strict: cannot list this namespace's addresses: %s", strerror(errno)) : 0;
	for (size_t i = 0; i < sel->n && !err; i++) {
		const struct ps_pool_cfg *p = sel->pool[i];
		const char *why = "is not configured on any interface of this network namespace: connect() through it fails "
				  "with EADDRNOTAVAIL unless the cgroup's sockets live in a namespace that has it";

		if (ps_env_addr_configured(ifs, p->family, p->addr, ifname, sizeof(ifname)))
			continue;
		ps_format_addr(p->family, p->addr, addr, sizeof(addr));
		if (strict) {
			char field[48];

			snprintf(field, sizeof(field), "pools[%zu].address", (size_t)(p - cfg->pools));
			err = ps_fail_at(error, EADDRNOTAVAIL, cfg->path, p->line, field,
					 "--strict: %s:%d: %s: pool '%s': %s %s; add it (ip addr add %s/%d dev lo) or "
					 "run attach in the workloads' network namespace (nsenter --net=/run/netns/NAME)",
					 cfg->path, p->line, field, p->name, addr, why, addr, p->family == AF_INET ? 32 : 128);
		} else
			pr_warn("pool '%s': %s %s (ip addr add %s/%d dev lo; 'portslice doctor' checks it; --strict refuses)",
				p->name, addr, why, addr, p->family == AF_INET ? 32 : 128);
	}
	freeifaddrs(ifs);
	return err;
}

static void print_result(const struct ps_cgroup *cg, const struct ps_selection *sel, const char *host,
			 const char *verb, const char *replaced)
{
	if (ps_json) {
		json_object *root = json_object_new_object(), *pools = json_object_new_array();

		json_object_object_add(root, "cgroup", json_object_new_string(cg->path));
		json_object_object_add(root, "cgroup_id", json_object_new_uint64(cg->id));
		json_object_object_add(root, "host", json_object_new_string(host));
		json_object_object_add(root, "result", json_object_new_string(verb));
		json_object_object_add(root, "build_id", json_object_new_string(ps_build_id_sock));
		/* The build of the programs this run replaced ("none": they carried no build id). */
		json_object_object_add(root, "replaced_build_id", replaced[0] ? json_object_new_string(replaced) : NULL);
		for (size_t i = 0; i < sel->n; i++)
			json_object_array_add(pools, ps_selection_pool_json(sel, i));
		json_object_object_add(root, "pools", pools);
		ps_json_print(root);
		return;
	}
	printf("%s %s (host %s):\n", verb, cg->path, host);
	for (size_t i = 0; i < sel->n; i++)
		ps_selection_pool_print(sel, i, "  ");
	if (replaced[0])
		printf("  programs of build %s replaced in place by this portslice's build %s (links, maps and claims kept)\n",
		       replaced, ps_build_id_sock);
}

static int run_attach(int argc, char **argv, struct ps_error *error)
{
	struct sock_cmd_opts o = {};
	struct ps_fleet fleet = { .lock = -1 };
	struct ps_selection sel;
	struct ps_cgroup cg = { .fd = -1 };
	struct ps_port_range local;
	const char *verb = "attached";
	char replaced[PS_BUILD_ID_LEN];
	int err;

	err = ps_cli_parse(&ps_cmd_attach, argc, argv, on_opt, &o, error) ?: attach_opts_check(&o, error);
	if (err)
		return err > 0 ? 0 : err;

	/* Everything that can be checked without touching the kernel first. */
	err = ps_fleet_open(&fleet, &o.fleet, error);
	if (!err)
		err = ps_select_pools(&fleet.cfg, fleet.host, o.pools, o.n_pools, &sel, error);
	if (err)
		goto out;
	if (!ps_env_local_port_range(&local))
		ps_config_warn_local_range(&fleet.cfg, fleet.host, local, warn_cb, NULL);
	err = check_addresses(&fleet.cfg, &sel, o.strict, error) ?:
	      ps_fleet_prepare(&fleet, PS_NEED_CGROUPS | PS_NEED_BPF, error) ?:
	      ps_cgroup_open(o.cgroup, &cg, error) ?:
	      ps_fleet_prepare(&fleet, PS_NEED_LOCK, error) ?:
	      ps_attach_locked(&cg, &sel, &verb, replaced, error);
	if (!err)
		print_result(&cg, &sel, fleet.host, verb, replaced);
out:
	ps_fleet_close(&fleet);
	ps_cgroup_close(&cg);
	return err;
}

struct find_ctx {
	const char *rel;
	__u64 id;
	bool found;
};

static int find_by_path(__u64 id, const struct ps_attachment *att, void *arg)
{
	struct find_ctx *f = arg;

	if (strcmp(att->path, f->rel))
		return 0;
	f->id = id;
	f->found = true;
	return 1;
}

/* The cgroup id of DIR, from the directory or, once it is gone, from the entries. */
static int resolve_cgroup(const char *dir, const struct ps_maps *maps, __u64 *id, struct ps_error *error)
{
	char mnt[PATH_MAX], rel[PATH_MAX];
	struct ps_cgroup cg;
	struct find_ctx f = { .rel = rel };
	size_t mlen;
	int err;

	if (!access(dir, F_OK)) {
		err = ps_cgroup_open(dir, &cg, error);
		if (err)
			return err;
		*id = cg.id;
		snprintf(rel, sizeof(rel), "%s", cg.rel);
		ps_cgroup_close(&cg);
		if (ps_attachment_exists(*id))
			return 0;
		/* Re-created at that path (systemd does): the attachment is the old directory's. */
		ps_attachments_for_each(maps->attachments, find_by_path, &f);
		if (f.found)
			*id = f.id;
		return 0;
	}
	err = ps_env_cgroup2_mount(mnt, sizeof(mnt), error);
	if (err)
		return err;
	mlen = strlen(mnt);
	snprintf(rel, sizeof(rel), "%s", !strncmp(dir, mnt, mlen) && dir[mlen] == '/' ? dir + mlen : dir);
	ps_attachments_for_each(maps->attachments, find_by_path, &f);
	if (!f.found)
		return ps_fail(error, ENOENT, "%s does not exist and no attached cgroup had that path: see 'portslice status'", dir);
	*id = f.id;
	return 0;
}

static void print_done(const char *what, bool was_attached, const struct ps_detached *res)
{
	if (ps_json) {
		json_object *root = json_object_new_object();

		json_object_object_add(root, "detached", json_object_new_string(what));
		json_object_object_add(root, "was_attached", json_object_new_boolean(was_attached));
		json_object_object_add(root, "draining_sockets", json_object_new_uint64(res->draining));
		json_object_object_add(root, "state_removed", json_object_new_boolean(res->removed_all));
		ps_json_print(root);
		return;
	}
	if (!was_attached && !strcmp(what, "no cgroup"))
		printf("no cgroup was attached: nothing to do\n");
	else if (!was_attached)
		printf("%s was not attached: nothing to do\n", what);
	else if (res->draining)
		printf("detached %s: its new sockets get the kernel's ports; %llu of its sockets still hold claims, "
		       "so its release programs stay until they close (status shows it draining; the next detach removes it)\n",
		       what, (unsigned long long)res->draining);
	else
		printf("detached %s%s\n", what, !res->removed_all ? "" : ps_steer_links_any() ?
		       "; no cgroup is attached any more, the socket side's pins removed (steering stays attached)" :
		       "; no cgroup is attached any more, all pins removed");
}

static int run_detach(int argc, char **argv, struct ps_error *error)
{
	struct sock_cmd_opts o = {};
	/* detach reads no config: only the host's view and the lock. */
	struct ps_fleet fleet = { .lock = -1 };
	struct ps_maps maps = PS_MAPS_NONE;
	struct ps_detached res = {};
	bool was_attached = false;
	int err;
	__u64 id;

	err = ps_cli_parse(&ps_cmd_detach, argc, argv, on_opt, &o, error);
	if (!err && !o.cgroup == !o.all)
		err = ps_fail(error, EINVAL, "detach needs exactly one of --cgroup DIR or --all");
	if (err)
		return err > 0 ? 0 : err;
	err = ps_fleet_prepare(&fleet, PS_NEED_CGROUPS | PS_NEED_LOCK, error);
	if (err)
		goto out;

	if (o.all) {
		was_attached = !access(ps_pin_dir(), F_OK);
		err = was_attached ? ps_state_remove_all(error) : 0;
		res.removed_all = was_attached && !err;
		if (!err)
			print_done(was_attached ? "all cgroups" : "no cgroup", was_attached, &res);
		goto out;
	}
	if (!ps_state_exists()) {
		print_done(o.cgroup, false, &res);
		goto out;
	}
	err = ps_maps_open(&maps, error);
	if (err)
		goto out;
	err = resolve_cgroup(o.cgroup, &maps, &id, error);
	if (err)
		goto out;
	was_attached = ps_attachment_exists(id);
	ps_maps_close(&maps);
	err = ps_detach_id_locked(id, &res, error);
	if (!err)
		print_done(o.cgroup, was_attached, &res);
out:
	ps_maps_close(&maps);
	ps_fleet_close(&fleet);
	return err;
}
