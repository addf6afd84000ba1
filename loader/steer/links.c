// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Steering's links: one pinned XDP bpf_link per interface, all running the
 * one loaded program (see steer/links.h for the pins and why).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "steer.skel.h"
#include "core/build.h"
#include "core/kernel_features.h"
#include "core/log.h"
#include "core/pins.h"
#include "sock/links.h"
#include "steer/links.h"
#include "steer/maps.h"
#include "steer/prog.h"
#include "steer/slots.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- pins ---------------------------------------------------------------- */

/* bpffs refuses '.' in names (eth0.100 is a fine interface name): it is pinned as '%'. */
static void pin_name(const char *ifname, char out[IF_NAMESIZE])
{
	size_t i;

	for (i = 0; ifname[i] && i < IF_NAMESIZE - 1; i++)
		out[i] = ifname[i] == '.' ? '%' : ifname[i];
	out[i] = '\0';
}

static void pin_ifname(const char *pin, char out[IF_NAMESIZE])
{
	size_t i;

	for (i = 0; pin[i] && i < IF_NAMESIZE - 1; i++)
		out[i] = pin[i] == '%' ? '.' : pin[i];
	out[i] = '\0';
}

static int link_read(const char *pin, struct ps_steer_link *l)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);

	l->fd = bpf_obj_get(pin);
	if (l->fd < 0)
		return -errno;
	if (bpf_obj_get_info_by_fd(l->fd, &info, &len)) {
		int err = -errno;

		close(l->fd);
		l->fd = -1;
		return err;
	}
	snprintf(l->pin, sizeof(l->pin), "%s", pin);
	l->link_id = info.id;
	l->prog_id = info.prog_id;
	l->ifindex = info.type == BPF_LINK_TYPE_XDP ? info.xdp.ifindex : 0;
	return 0;
}

void ps_steer_links_close(struct ps_steer_link *links, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (links[i].fd >= 0)
			close(links[i].fd);
}

int ps_steer_links_list(struct ps_steer_link *links, size_t max)
{
	char dir[PATH_MAX];
	struct dirent **names;
	int n, count = 0;

	if (ps_pin_path(dir, sizeof(dir), PS_PINS_STEER))
		return -ENAMETOOLONG;
	n = scandir(dir, &names, NULL, alphasort);
	if (n < 0)
		return errno == ENOENT ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		char path[PATH_MAX + 256];
		struct ps_steer_link *l = &links[count];

		if (names[i]->d_name[0] != '.' && strncmp(names[i]->d_name, "tmp:", 4) &&
		    (size_t)count < max) {
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
			if (!link_read(path, l)) {
				pin_ifname(names[i]->d_name, l->ifname);
				count++;
			}
		}
		free(names[i]);
	}
	free(names);
	return count;
}

static struct ps_steer_link *links_find(struct ps_steer_link *links, size_t n, const char *ifname)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(links[i].ifname, ifname))
			return &links[i];
	return NULL;
}

/* ---- attaching: shared by `steer attach` and the agent ------------------- */

void ps_steer_dev_init(struct ps_steer_dev *d, const char *name)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->ifindex = if_nametoindex(name);
}

/* <pin dir>/steer/<interface>, or the temporary name a new link is pinned at first. */
static int link_pin_path(const char *ifname, bool tmp, char *buf, size_t len, struct ps_error *error)
{
	char dir[PATH_MAX], pin[IF_NAMESIZE];

	if (ps_pin_path(dir, sizeof(dir), PS_PINS_STEER))
		return ps_fail(error, ENAMETOOLONG, "pin dir %s: name too long", ps_pin_dir());
	pin_name(ifname, pin);
	if ((size_t)snprintf(buf, len, "%s/%s%s", dir, tmp ? "tmp:" : "", pin) >= len)
		return ps_fail(error, ENAMETOOLONG, "pin dir %s: name too long", ps_pin_dir());
	return 0;
}

static int create_link(int prog_fd, struct ps_steer_dev *d, struct ps_error *error)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = XDP_FLAGS_DRV_MODE);
	char dir[PATH_MAX], pin[PATH_MAX + 256], tmp[PATH_MAX + 256];
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	int fd, err;

	if (ps_pin_path(dir, sizeof(dir), PS_PINS_STEER))
		return ps_fail(error, ENAMETOOLONG, "pin dir %s: name too long", ps_pin_dir());
	if (mkdir(dir, 0700) && errno != EEXIST)
		return ps_fail(error, errno, "cannot create %s: %s", dir, strerror(errno));
	err = link_pin_path(d->name, true, tmp, sizeof(tmp), error) ?: link_pin_path(d->name, false, pin, sizeof(pin), error);
	if (err)
		return err;
	ps_unpin(tmp); /* debris of a crashed attach */

	fd = bpf_link_create(prog_fd, (int)d->ifindex, BPF_XDP, &opts);
	if (fd < 0) {
		err = errno;
		if (err == EOPNOTSUPP)
			return ps_fail(error, err, "the driver of %s has no native XDP support, which steering needs "
				      "(generic XDP cannot forward at line rate and is not used): pick an interface whose driver supports XDP",
				      d->name);
		if (err == EBUSY || err == EEXIST)
			return ps_fail(error, err, "%s already has an XDP program that portslice did not attach: remove it first "
				      "(ip link set dev %s xdp off) or pick another interface", d->name, d->name);
		return ps_fail(error, err, "cannot attach the steering program to %s: %s", d->name, strerror(err));
	}
	if (bpf_obj_pin(fd, tmp) || rename(tmp, pin)) {
		err = errno;
		ps_unpin(tmp);
		close(fd);
		return ps_fail(error, err, "cannot pin the steering link of %s at %s: %s", d->name, pin, strerror(err));
	}
	if (!bpf_obj_get_info_by_fd(fd, &info, &len))
		d->link_id = info.id;
	d->created = true;
	d->result = "attached";
	/* The pin holds the link from now on. */
	close(fd);
	return 0;
}

int ps_steer_no_such_interface(const struct ps_steer_dev *d, struct ps_error *error)
{
	return ps_fail(error, ENODEV, "no interface named '%s' in this network namespace: check 'ip link'", d->name);
}

/* Steering on @d: its pinned link adopted (the program swapped in if it is not @prog_fd), or a new one. */
static int attach_dev(int prog_fd, __u32 prog_id, struct ps_steer_link *links, size_t n_links, struct ps_steer_dev *d, struct ps_error *error)
{
	struct ps_steer_link *l = links_find(links, n_links, d->name);

	if (!d->ifindex)
		return ps_steer_no_such_interface(d, error);
	if (l && !l->ifindex) {
		/* The interface was deleted since: its link is dead. */
		ps_unpin(l->pin);
		l = NULL;
	}
	if (l && l->ifindex != d->ifindex)
		return ps_fail(error, EEXIST, "%s holds the steering link of another interface (ifindex %u, not %u): renamed, "
			      "or in another network namespace sharing this pin dir (use one PORTSLICE_PIN_DIR per host); "
			      "run 'portslice steer detach --dev %s' first",
			      l->pin, l->ifindex, d->ifindex, d->name);
	if (!l)
		return create_link(prog_fd, d, error);
	d->link_id = l->link_id;
	d->result = "refreshed";
	if (l->prog_id == prog_id)
		return 0;
	if (bpf_link_update(l->fd, prog_fd, NULL))
		return ps_fail(error, errno, "cannot update the steering link of %s: %s", d->name, strerror(errno));
	/* The link now runs prog_id: the pass over the links not named must not swap it again. */
	l->prog_id = prog_id;
	d->result = "updated";
	return 0;
}

/* Forgets what an earlier run did with @d: its name and interface stay. */
static void dev_forget(struct ps_steer_dev *d)
{
	struct ps_steer_dev kept = { .ifindex = d->ifindex };

	memcpy(kept.name, d->name, sizeof(kept.name));
	*d = kept;
}

/*
 * @d could not be attached (@err): all or nothing, that ends the run; when
 * keeping going, @d keeps the message and the run goes on.
 */
static int dev_failed(struct ps_steer_dev *d, int err, enum ps_steer_on_failure on_failure, struct ps_error *error)
{
	if (on_failure == PS_STEER_ALL_OR_NOTHING)
		return err;
	d->result = NULL;
	d->err = err;
	snprintf(d->error, sizeof(d->error), "%s", error->msg);
	ps_error_clear(error);
	return 0;
}

int ps_steer_apply_locked(const struct ps_config *cfg, const struct ps_host_cfg *self, struct ps_steer_dev *devs,
			  size_t n_devs, enum ps_steer_on_failure on_failure, struct ps_steer_applied *out, struct ps_error *error)
{
	struct ps_steer_link *links = NULL;
	struct ps_steer_maps maps = PS_STEER_MAPS_CLOSED;
	struct ps_steer__rodata want;
	struct ps_steer *skel = NULL;
	size_t to_attach = 0;
	int n_links = 0, prog_fd = -1, err;
	bool fresh = false;

	memset(out, 0, sizeof(*out));
	/* @self is one of cfg's hosts, and a host's id is its place under hosts:. */
	ps_steer_prog_want(cfg, self, (__u32)(self - cfg->hosts) + 1, &want);
	for (size_t i = 0; i < n_devs; i++)
		dev_forget(&devs[i]);
	err = ps_features_require(PS_PART_STEERING, "steer attach", error) ?: ps_layout_check(&ps_steer_layout, error);
	if (err)
		goto out;

	links = calloc(PS_MAX_STEER_LINKS, sizeof(*links));
	if (!links) {
		err = ps_fail(error, ENOMEM, "out of memory");
		goto out;
	}
	n_links = ps_steer_links_list(links, PS_MAX_STEER_LINKS);
	if (n_links < 0) {
		err = ps_fail(error, n_links, "cannot list the steering links under %s: %s", ps_pin_dir(), strerror(-n_links));
		n_links = 0;
		goto out;
	}
	fresh = !n_links;
	/* Interfaces that do not exist fail before anything is loaded: a run with none left costs nothing. */
	for (size_t i = 0; i < n_devs && !err; i++) {
		if (devs[i].ifindex)
			to_attach++;
		else
			err = dev_failed(&devs[i], ps_steer_no_such_interface(&devs[i], error), on_failure, error);
	}
	if (err || (fresh && !to_attach))
		goto out;

	/*
	 * Reuse the running program when its settings and build are these: maps
	 * change, programs do not. Otherwise a new one replaces it in every link.
	 */
	for (int i = 0; i < n_links && prog_fd < 0; i++) {
		int fd = links[i].ifindex ? bpf_prog_get_fd_by_id(links[i].prog_id) : -1;

		if (fd >= 0 && ps_steer_prog_is(fd, &want, out->replaced_build))
			prog_fd = fd;
		else if (fd >= 0)
			close(fd);
	}
	if (prog_fd < 0) {
		err = ps_steer_prog_load(&skel, &want, error);
		if (err)
			goto out;
		prog_fd = dup(bpf_program__fd(skel->progs.ps_steer));
	}
	out->prog_id = ps_steer_prog_id(prog_fd);

	err = ps_steer_maps_open(&maps, error);
	if (!err) {
		struct ps_steer_pool_entry old[PS_MAX_POOLS * 2];
		int n_old = ps_steer_pool_entries(maps.pools, old, ARRAY_SIZE(old));

		err = ps_steer_assign_slots(cfg, old, (size_t)n_old, out->slot, error);
	}
	if (!err)
		err = ps_steer_maps_fill(&maps, cfg, out->slot, error);
	if (!err) {
		/* Before a new link runs: a frame it sees must find its interface's MAC. */
		__u32 ifindex[PS_MAX_STEER_LINKS + PS_MAX_STEER_IFACES];
		size_t n_if = 0;

		for (int i = 0; i < n_links; i++)
			if (links[i].ifindex)
				ifindex[n_if++] = links[i].ifindex;
		for (size_t i = 0; i < n_devs; i++)
			if (devs[i].ifindex)
				ifindex[n_if++] = devs[i].ifindex;
		err = ps_steer_guards_fill(&maps, cfg, want.ps_self_host, ifindex, n_if, error);
	}
	/* After every write, even when one failed half-way: no memo may outlive what it read. */
	if (maps.gen >= 0) {
		int bumped = ps_steer_gen_bump(maps.gen, error);

		err = err ? err : bumped;
	}
	if (err)
		goto out;

	for (size_t i = 0; i < n_devs && !err; i++) {
		if (devs[i].ifindex)
			err = attach_dev(prog_fd, out->prog_id, links, (size_t)n_links, &devs[i], error);
		if (err)
			err = dev_failed(&devs[i], err, on_failure, error);
	}
	/* Every interface runs the same settings: new ones go to the links not named too. */
	for (int i = 0; i < n_links && !err; i++) {
		if (!links[i].ifindex || links[i].prog_id == out->prog_id)
			continue;
		if (bpf_link_update(links[i].fd, prog_fd, NULL))
			err = ps_fail(error, errno, "cannot update the steering link of %s: %s", links[i].ifname, strerror(errno));
	}
out:
	if (err) {
		for (size_t i = 0; i < n_devs; i++) {
			char pin[PATH_MAX + 256];

			if (devs[i].created && !link_pin_path(devs[i].name, false, pin, sizeof(pin), error))
				ps_unpin(pin);
			if (devs[i].created)
				devs[i].result = NULL;
			devs[i].created = false;
		}
	}
	ps_steer_links_close(links, (size_t)n_links);
	free(links);
	ps_steer_maps_close(&maps);
	if (prog_fd >= 0)
		close(prog_fd);
	ps_steer__destroy(skel);
	/* Steering that had no link before and has none now leaves nothing behind. */
	if (fresh && !ps_steer_links_any())
		ps_state_remove_steer(error);
	return err;
}

size_t ps_steer_attached_ifnames(char (*names)[PS_IFNAME_LEN], size_t max)
{
	struct ps_steer_link *links = calloc(PS_MAX_STEER_LINKS, sizeof(*links));
	int n_links = links ? ps_steer_links_list(links, PS_MAX_STEER_LINKS) : -ENOMEM;
	size_t n = 0;

	for (int i = 0; i < n_links && n < max; i++)
		if (links[i].ifindex)
			snprintf(names[n++], PS_IFNAME_LEN, "%s", links[i].ifname);
	if (n_links > 0)
		ps_steer_links_close(links, (size_t)n_links);
	free(links);
	return n;
}

bool ps_steer_build_current(void)
{
	struct ps_steer_link *links = calloc(PS_MAX_STEER_LINKS, sizeof(*links));
	int n_links = links ? ps_steer_links_list(links, PS_MAX_STEER_LINKS) : -ENOMEM;
	bool current = n_links >= 0;

	for (int i = 0; i < n_links && current; i++) {
		struct ps_prog_build b;
		int fd = links[i].ifindex ? bpf_prog_get_fd_by_id(links[i].prog_id) : -1;

		if (fd < 0)
			continue;
		current = !ps_prog_build_read(fd, &b) && !strcmp(b.build_id, ps_build_id_steer);
		close(fd);
	}
	if (n_links > 0)
		ps_steer_links_close(links, (size_t)n_links);
	free(links);
	return current;
}

bool ps_steer_attached_all(const struct ps_steer_dev *devs, size_t n_devs)
{
	struct ps_steer_link *links = calloc(PS_MAX_STEER_LINKS, sizeof(*links));
	int n_links = links ? ps_steer_links_list(links, PS_MAX_STEER_LINKS) : -ENOMEM;
	bool all = n_links >= 0;

	for (size_t i = 0; i < n_devs && all; i++) {
		const struct ps_steer_link *l = links_find(links, (size_t)n_links, devs[i].name);

		all = l && devs[i].ifindex && l->ifindex == devs[i].ifindex;
	}
	if (n_links > 0)
		ps_steer_links_close(links, (size_t)n_links);
	free(links);
	return all;
}

/* ---- detaching: shared by `steer detach` and the agent ------------------- */

/* Does @l belong to the interfaces @names? By name, and with @by_index for an interface renamed since. */
static bool link_named(const struct ps_steer_link *l, const char *const *names, size_t n_names, bool by_index)
{
	for (size_t j = 0; j < n_names; j++) {
		unsigned int idx;

		if (!strcmp(l->ifname, names[j]))
			return true;
		idx = by_index ? if_nametoindex(names[j]) : 0;
		if (idx && idx == l->ifindex && !if_nametoindex(l->ifname))
			return true;
	}
	return false;
}

int ps_steer_detach_locked(const char *const *names, size_t n_names, bool all_but_named,
			   ps_steer_detached_fn on_detached, void *arg, bool *maps_removed, struct ps_error *error)
{
	struct ps_steer_link *links = calloc(PS_MAX_STEER_LINKS, sizeof(*links));
	int n_links, err = 0;

	*maps_removed = false;
	if (!links)
		return ps_fail(error, ENOMEM, "out of memory");
	n_links = ps_steer_links_list(links, PS_MAX_STEER_LINKS);
	if (n_links < 0) {
		err = ps_fail(error, n_links, "cannot list the steering links under %s: %s", ps_pin_dir(), strerror(-n_links));
		n_links = 0;
		goto out;
	}
	for (int i = 0; i < n_links; i++) {
		/* Renamed interfaces are found by index only when naming what goes: what stays is asked for by name. */
		if (link_named(&links[i], names, n_names, !all_but_named) == all_but_named)
			continue;
		err = ps_unpin(links[i].pin);
		if (err) {
			err = ps_fail(error, err, "cannot remove %s: %s", links[i].pin, strerror(-err));
			goto out;
		}
		if (on_detached)
			on_detached(links[i].ifname, links[i].ifindex, arg);
	}
	if (!ps_steer_links_any()) {
		char meta[PATH_MAX], dir[PATH_MAX];

		ps_pin_path(meta, sizeof(meta), PS_PINS_MAPS "/%s", ps_steer_layout.meta_map);
		ps_pin_path(dir, sizeof(dir), PS_PINS_STEER);
		*maps_removed = !access(meta, F_OK) || !access(dir, F_OK);
		err = ps_state_remove_steer(error);
	}
out:
	ps_steer_links_close(links, (size_t)n_links);
	free(links);
	return err;
}

