// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Attaching and detaching one cgroup: the attach and detach commands and the agent do it here. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>

#include "sock.skel.h"
#include "core/kernel_features.h"
#include "core/log.h"
#include "core/pins.h"
#include "sock/attach.h"
#include "sock/links.h"
#include "sock/maps.h"
#include "sock/slots.h"

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
	err = ps_features_require(PS_PART_SOCKETS, "attach", error) ?: ps_layout_check(&ps_sock_layout, error);
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
			err = ps_attachment_update_links(skel, cg, error);
		if (!err) {
			old.attached_ns = att.attached_ns;
			err = ps_attachment_write(maps.attachments, cg->id, &old, error);
		}
		*verb = current ? "already attached, pools refreshed:" : "upgraded";
		goto out;
	}

	err = ps_install_pools(&maps, sel, &att, error);
	if (!err)
		err = existed ? ps_attachment_update_links(skel, cg, error) : ps_attachment_pin_links(skel, cg, error);
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
