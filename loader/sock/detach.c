// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* portslice detach: take the programs off one cgroup, or off every cgroup. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <json-c/json.h>

#include "sock/attach.h"
#include "sock/links.h"
#include "core/cli.h"
#include "core/env.h"
#include "core/log.h"
#include "core/pins.h"
#include "sock/maps.h"

enum {
	OPT_CGROUP = 'c',
	OPT_ALL = 'a',
};

struct detach_opts {
	const char *cgroup;
	bool all;
};

static const struct ps_opt detach_opts[] = {
	{ "cgroup", OPT_CGROUP, "DIR", "the attached cgroup (it may have been removed since)" },
	{ "all", OPT_ALL, NULL, "detach every cgroup and remove all of portslice's pins" },
	{ NULL },
};

static int on_detach_opt(int key, const char *arg, void *ctx, struct ps_error *error)
{
	struct detach_opts *o = ctx;

	if (key == OPT_CGROUP)
		o->cgroup = arg;
	else if (key == OPT_ALL)
		o->all = true;
	return 0;
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

static __u64 live_sockets(const struct ps_maps *maps, __u64 id)
{
	__u64 n = 0;

	bpf_map_lookup_elem(maps->live, &id, &n);
	return n;
}

/* Unpins @id's placement links; its release programs stay until its sockets are gone. */
static int drain(const struct ps_maps *maps, __u64 id, struct ps_error *error)
{
	struct ps_attachment att;
	char dir[PATH_MAX];
	int err;

	if (ps_attachment_dir(id, dir, sizeof(dir)))
		return ps_fail(error, ENAMETOOLONG, "pin path too long");
	err = ps_attachment_unpin(dir, ps_prog_gives_back);
	if (err)
		return ps_fail(error, err, "cannot unpin the links under %s: %s", dir, strerror(-err));
	if (ps_attachment_read(maps->attachments, id, &att))
		return 0;
	att.flags |= PS_ATT_DRAINING;
	return ps_attachment_write(maps->attachments, id, &att, error);
}

/*
 * Removes the draining attachments whose last socket gave back. One that
 * cannot be removed now is no failure of this detach: the next one retries.
 */
static int reap_cb(__u64 id, const struct ps_attachment *att, void *arg)
{
	const struct ps_maps *maps = arg;

	if ((att->flags & PS_ATT_DRAINING) && !live_sockets(maps, id))
		ps_attachment_remove(id, maps, NULL);
	return 0;
}

int ps_detach_id_locked(__u64 id, struct ps_detached *out, struct ps_error *error)
{
	struct ps_maps maps = PS_MAPS_NONE;
	struct ps_detached res = {};
	struct ps_attachment att;
	int err = 0;

	if (out)
		*out = res;
	if (!ps_state_exists())
		return 0;
	err = ps_maps_open(&maps, error);
	if (err)
		return err;
	if (ps_attachment_exists(id)) {
		res.was_draining = !ps_attachment_read(maps.attachments, id, &att) && (att.flags & PS_ATT_DRAINING);
		/*
		 * Placement links first; then wait out the programs still
		 * running on them (membarrier's global command is a
		 * synchronize_rcu(), and cgroup programs run under RCU): a
		 * socket they place is counted before the count is read.
		 */
		err = drain(&maps, id, error);
		if (!err && syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0))
			pr_debug("membarrier: %s; reading the socket count without it", strerror(errno));
		if (!err)
			res.draining = live_sockets(&maps, id);
		if (!err && !res.draining)
			err = ps_attachment_remove(id, &maps, error);
	}
	if (!err)
		ps_attachments_for_each(maps.attachments, reap_cb, &maps);
	ps_maps_close(&maps);
	if (err)
		return err;
	if (!ps_cgroups_any()) {
		/*
		 * No cgroup is attached, and no detached one has a socket that
		 * holds a claim: drop the socket side's pins. Steering, if
		 * attached, keeps its own.
		 */
		err = ps_state_remove_sock(error);
		res.removed_all = !err;
	}
	if (out)
		*out = res;
	return err;
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
	struct detach_opts o = {};
	struct ps_maps maps = PS_MAPS_NONE;
	struct ps_detached res = {};
	bool was_attached = false;
	int lock = -1, err;
	__u64 id;

	err = ps_cli_parse(&ps_cmd_detach, argc, argv, on_detach_opt, &o, error);
	if (err)
		return err > 0 ? 0 : err;
	if (!o.cgroup == !o.all)
		return ps_fail(error, EINVAL, "detach needs exactly one of --cgroup DIR or --all");
	err = ps_env_require_host(true, error);
	if (err)
		return err;
	lock = ps_state_lock(error);
	if (lock < 0)
		return lock;

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
	ps_state_unlock(lock);
	return err;
}

const struct ps_cmd ps_cmd_detach = {
	.name = "detach",
	.synopsis = "--cgroup DIR | --all",
	.summary = "Take portslice's programs off a cgroup; its new sockets get the kernel's default ports again.",
	.details =
		"Sockets that already have a slice port keep it until they close; while some hold\n"
		"claims the cgroup drains (its release programs stay; status shows it) and the\n"
		"next detach removes it. When the last cgroup is detached and drained, every pin\n"
		"under the pin directory is removed. --all removes everything at once. Detaching\n"
		"a cgroup that is not attached succeeds and says so.",
	.opts = detach_opts,
	.run = run_detach,
};
