// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* portslice attach: load the socket programs and attach them to one cgroup. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>

#include "sock.skel.h"
#include "sock/attach.h"
#include "core/kernel_features.h"
#include "sock/links.h"
#include "core/cli.h"
#include "core/config.h"
#include "core/env.h"
#include "core/fleet.h"
#include "core/log.h"
#include "sock/slots.h"
#include "core/pins.h"
#include "sock/maps.h"

enum {
	OPT_CGROUP = 'c',
	OPT_POOL = 'P',
	OPT_STRICT = 's',
};

struct attach_opts {
	struct ps_fleet_opts fleet;
	const char *cgroup;
	char *pools[PS_MAX_POOLS];
	size_t n_pools;
	bool strict;
};

static const struct ps_opt attach_opts[] = {
	{ "cgroup", OPT_CGROUP, "DIR", "cgroup v2 directory whose sockets use the pools (required)" },
	PS_FLEET_OPT_CONFIG("fleet config file (required)"),
	PS_FLEET_OPT_HOST,
	{ "pool", OPT_POOL, "NAME", "use this pool; repeat for several (default: every pool with a slice for the host)" },
	{ "strict", OPT_STRICT, NULL, "refuse, instead of warning, when a pool address is not configured in this network namespace" },
	{ NULL },
};

static int on_attach_opt(int key, const char *arg, void *ctx, struct ps_error *error)
{
	struct attach_opts *o = ctx;

	if (ps_fleet_opt(&o->fleet, key, arg))
		return 0;
	switch (key) {
	case OPT_CGROUP:
		o->cgroup = arg;
		break;
	case OPT_POOL:
		if (o->n_pools == PS_MAX_POOLS)
			return ps_fail(error, E2BIG, "at most %d --pool options", PS_MAX_POOLS);
		o->pools[o->n_pools++] = (char *)arg;
		break;
	case OPT_STRICT:
		o->strict = true;
		break;
	}
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

/*
 * The programs in the order they go onto a cgroup: those that give back
 * first, so that no socket is ever placed before its release is in place.
 */
static int ordered_progs(struct ps_sock *skel, struct bpf_program *out[PS_ATTACHMENT_MAX_PROGS], struct ps_error *error)
{
	struct bpf_program *prog;
	int n = 0;

	for (int pass = 0; pass < 2; pass++)
		bpf_object__for_each_program(prog, skel->obj) {
			if (ps_prog_gives_back(bpf_program__name(prog)) != !pass)
				continue;
			if (n == PS_ATTACHMENT_MAX_PROGS)
				return ps_fail(error, E2BIG, "too many programs");
			out[n++] = prog;
		}
	return n;
}

/* Attaches @prog to the cgroup and pins its link at DIR/<program name>. */
static int attach_pinned(struct bpf_program *prog, const struct ps_cgroup *cg, const char *dir, struct ps_error *error)
{
	char path[PATH_MAX + 72];
	struct bpf_link *link;
	int err;

	link = bpf_program__attach_cgroup(prog, cg->fd);
	if (!link)
		return ps_fail(error, errno, "cannot attach %s to %s: %s", bpf_program__name(prog), cg->path,
			      strerror(errno));
	snprintf(path, sizeof(path), "%s/%s", dir, bpf_program__name(prog));
	err = bpf_link__pin(link, path);
	/* The pin holds the link from now on; this only drops our reference. */
	bpf_link__destroy(link);
	if (err)
		return ps_fail(error, err, "cannot pin %s: %s", path, strerror(-err));
	return 0;
}

/* Attaches every program to the cgroup and pins the links, all or nothing. */
static int attach_links(struct ps_sock *skel, const struct ps_cgroup *cg, struct ps_error *error)
{
	char dir[PATH_MAX], tmp[PATH_MAX + 8];
	struct bpf_program *progs[PS_ATTACHMENT_MAX_PROGS];
	int n = ordered_progs(skel, progs, error), err = 0;

	if (n < 0)
		return n;
	err = ps_attachment_dir(cg->id, dir, sizeof(dir));
	if (err)
		return ps_fail(error, err, "pin path too long");
	/* bpffs refuses dots in names, hence a prefix rather than a suffix. */
	if (ps_pin_path(tmp, sizeof(tmp), PS_PINS_CGROUPS "/tmp-%llu", (unsigned long long)cg->id))
		return ps_fail(error, ENAMETOOLONG, "pin path too long");
	ps_attachment_remove_dir(tmp); /* debris of a crashed attach */
	if (ps_attachments_mkdir() || mkdir(tmp, 0700))
		return ps_fail(error, errno, "cannot create %s: %s", tmp, strerror(errno));

	for (int i = 0; i < n && !err; i++)
		err = attach_pinned(progs[i], cg, tmp, error);
	/* The rename publishes every link at once. */
	if (!err && rename(tmp, dir))
		err = ps_fail(error, errno, "cannot rename %s to %s: %s", tmp, dir, strerror(errno));
	if (err)
		ps_attachment_remove_dir(tmp);
	return err;
}

/* Unpins the links under @dir of programs not among @progs: hooks an older build had. */
static int unpin_others(const char *dir, struct bpf_program **progs, int n, struct ps_error *error)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int err = 0;

	if (!d)
		return ps_fail(error, errno, "cannot list %s: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		char path[PATH_MAX + 256];
		bool known = de->d_name[0] == '.';

		for (int i = 0; i < n && !known; i++)
			known = !strcmp(de->d_name, bpf_program__name(progs[i]));
		if (known)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		err = ps_unpin(path) ?: err;
	}
	closedir(d);
	return err ? ps_fail(error, err, "cannot unpin a link under %s: %s", dir, strerror(-err)) : 0;
}

/*
 * Swaps the programs of an existing attachment for newly loaded ones, in
 * place (bpf_link_update): no socket is ever placed without its release
 * program. A draining attachment lost its placement links at detach; those
 * are attached anew.
 */
static int update_links(struct ps_sock *skel, const struct ps_cgroup *cg, struct ps_error *error)
{
	char dir[PATH_MAX], path[PATH_MAX + 64];
	struct bpf_program *progs[PS_ATTACHMENT_MAX_PROGS];
	int n = ordered_progs(skel, progs, error), err;

	if (n < 0)
		return n;
	err = ps_attachment_dir(cg->id, dir, sizeof(dir));
	if (err)
		return ps_fail(error, err, "pin path too long");
	for (int i = 0; i < n; i++) {
		struct bpf_link *link;

		snprintf(path, sizeof(path), "%s/%s", dir, bpf_program__name(progs[i]));
		link = bpf_link__open(path);
		if (!link && errno == ENOENT) {
			err = attach_pinned(progs[i], cg, dir, error);
			if (err)
				return err;
			continue;
		}
		if (!link)
			return ps_fail(error, errno, "cannot open the pinned link %s: %s; run 'portslice detach --cgroup %s' and attach again",
				      path, strerror(errno), cg->path);
		err = bpf_link__update_program(link, progs[i]);
		bpf_link__destroy(link);
		if (err)
			return ps_fail(error, err, "cannot update %s: %s", path, strerror(-err));
	}
	return unpin_others(dir, progs, n, error);
}

static void print_result(const struct ps_cgroup *cg, const struct ps_selection *sel, const char *host,
			 const char *verb, const char *replaced)
{
	char addr[PS_ADDR_STR_LEN];

	if (ps_json) {
		json_object *root = json_object_new_object(), *pools = json_object_new_array();

		json_object_object_add(root, "cgroup", json_object_new_string(cg->path));
		json_object_object_add(root, "cgroup_id", json_object_new_uint64(cg->id));
		json_object_object_add(root, "host", json_object_new_string(host));
		json_object_object_add(root, "result", json_object_new_string(verb));
		json_object_object_add(root, "build_id", json_object_new_string(ps_build_id_sock));
		/* The build of the programs this run replaced ("none": they carried no build id). */
		json_object_object_add(root, "replaced_build_id", replaced[0] ? json_object_new_string(replaced) : NULL);
		for (size_t i = 0; i < sel->n; i++) {
			json_object *p = json_object_new_object();

			ps_format_addr(sel->pool[i]->family, sel->pool[i]->addr, addr, sizeof(addr));
			json_object_object_add(p, "name", json_object_new_string(sel->pool[i]->name));
			json_object_object_add(p, "address", json_object_new_string(addr));
			json_object_object_add(p, "first_port", json_object_new_int(sel->slice[i]->range.lo));
			json_object_object_add(p, "last_port", json_object_new_int(sel->slice[i]->range.hi));
			json_object_array_add(pools, p);
		}
		json_object_object_add(root, "pools", pools);
		ps_json_print(root);
		return;
	}
	printf("%s %s (host %s):\n", verb, cg->path, host);
	for (size_t i = 0; i < sel->n; i++) {
		ps_format_addr(sel->pool[i]->family, sel->pool[i]->addr, addr, sizeof(addr));
		printf("  pool %-16s %s ports %u-%u\n", sel->pool[i]->name, addr, sel->slice[i]->range.lo,
		       sel->slice[i]->range.hi);
	}
	if (replaced[0])
		printf("  programs of build %s replaced in place by this portslice's build %s (links, maps and claims kept)\n",
		       replaced, ps_build_id_sock);
}

int ps_attach_locked(const struct ps_cgroup *cg, const struct ps_selection *sel, const char **verb,
		     char replaced[PS_BUILD_ID_LEN], struct ps_error *error)
{
	struct ps_attachment att = {}, old = {};
	struct ps_maps maps;
	struct ps_sock *skel = NULL;
	char other[PS_BUILD_ID_LEN] = "";
	bool fresh = false, existed = false, current = true;
	int pools_fd = -1, err;

	if (replaced)
		replaced[0] = '\0';
	err = ps_features_require(PS_PART_SOCKETS, "attach", error);
	if (err)
		return err;
	err = ps_layout_check(&ps_sock_layout, error);
	if (err)
		goto out;
	fresh = !ps_state_exists();
	if (!fresh) {
		pools_fd = ps_pin_map_open("ps_pools");
		if (pools_fd < 0) {
			err = ps_fail(error, pools_fd, "cannot open %s/%s/ps_pools: %s", ps_pin_dir(), PS_PINS_MAPS,
				      strerror(-pools_fd));
			goto out;
		}
	}
	err = ps_assign_slots(pools_fd, sel, &att, error);
	if (err)
		goto out;
	att.attached_ns = (__u64)time(NULL) * 1000000000ULL;
	if (strlen(cg->rel) >= sizeof(att.path)) {
		err = ps_fail(error, ENAMETOOLONG, "cgroup path %s is longer than %zu characters", cg->rel, sizeof(att.path) - 1);
		goto out;
	}
	memcpy(att.path, cg->rel, strlen(cg->rel) + 1);

	existed = !fresh && ps_attachment_exists(cg->id);
	if (!fresh) {
		err = ps_attachment_check_nesting(cg, error);
		if (err)
			goto out;
	}

	err = ps_skel_load(&skel, &att, cg->id, error);
	if (err)
		goto out;
	ps_maps_from_skel(skel, &maps);
	/* Kept across re-attaches: it counts sockets placed by earlier programs too. */
	if (bpf_map_update_elem(maps.live, &cg->id, &(__u64){ 0 }, BPF_NOEXIST) && errno != EEXIST) {
		err = ps_fail(error, errno, "cannot record the attachment's socket count: %s", strerror(errno));
		goto out;
	}

	/* Programs of another build (an upgrade, or a rollback) are replaced whatever else changed. */
	current = !existed || ps_attachment_build_current(cg->id, other);
	if (existed && !ps_attachment_read(maps.attachments, cg->id, &old) &&
	    !(old.flags & PS_ATT_DRAINING) && old.pool_count == att.pool_count &&
	    !memcmp(old.pool_order, att.pool_order, sizeof(att.pool_order))) {
		/* Same pools: only their settings may have changed, and the build. */
		err = ps_install_pools(&maps, sel, &att, error);
		if (!err && !current)
			err = update_links(skel, cg, error);
		if (!err) {
			old.attached_ns = att.attached_ns;
			err = ps_attachment_write(maps.attachments, cg->id, &old, error);
		}
		*verb = current ? "already attached, pools refreshed:" : "upgraded";
		goto out;
	}

	err = ps_install_pools(&maps, sel, &att, error);
	if (!err)
		err = existed ? update_links(skel, cg, error) : attach_links(skel, cg, error);
	if (!err)
		err = ps_attachment_write(maps.attachments, cg->id, &att, error);
	*verb = existed ? "updated" : "attached";
out:
	if (!err && !current && replaced)
		snprintf(replaced, PS_BUILD_ID_LEN, "%s", other);
	if (err && !existed && skel)
		ps_attachment_remove(cg->id, &maps, error);
	ps_sock__destroy(skel);
	/* A failed first attach leaves nothing behind. */
	if (err && fresh && !ps_cgroups_any())
		ps_state_remove_sock(error);
	if (pools_fd >= 0)
		close(pools_fd);
	return err;
}

static int run_attach(int argc, char **argv, struct ps_error *error)
{
	struct attach_opts o = {};
	struct ps_fleet fleet = { .lock = -1 };
	struct ps_selection sel;
	struct ps_cgroup cg = { .fd = -1 };
	struct ps_port_range local;
	const char *verb = "attached";
	char replaced[PS_BUILD_ID_LEN];
	int err;

	err = ps_cli_parse(&ps_cmd_attach, argc, argv, on_attach_opt, &o, error);
	if (err)
		return err > 0 ? 0 : err;
	if (!o.cgroup)
		return ps_fail(error, EINVAL, "attach needs --cgroup DIR: the cgroup v2 directory whose sockets use the pools");
	if (!o.fleet.config)
		return ps_fail(error, EINVAL, "attach needs --config FILE: the fleet config");

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

const struct ps_cmd ps_cmd_attach = {
	.name = "attach",
	.synopsis = "--cgroup DIR --config FILE [--host NAME] [--pool NAME]... [--strict]",
	.summary = "Make every TCP/UDP socket of a cgroup leave from the pools' shared addresses with a source port in this host's slice.",
	.details =
		"The programs stay attached after the command exits (their links are pinned under\n"
		"/sys/fs/bpf/portslice). Attaching again is safe: the same pools are refreshed from\n"
		"the config (a moved slice or new destinations take effect at once), other pools\n"
		"swap the programs in place. A cgroup nested inside an attached one is refused.\n"
		"A pool address that no interface of this network namespace has is warned about\n"
		"(with --strict, refused): connect() through it fails unless the cgroup's sockets\n"
		"live in a namespace that has it.\n"
		"Programs of another portslice build are replaced in place (an upgrade, or a\n"
		"rollback): links, maps and claims stay.",
	.opts = attach_opts,
	.run = run_attach,
};
