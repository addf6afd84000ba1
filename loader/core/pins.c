// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sock.skel.h"
#include "core/build.h"
#include "core/env.h"
#include "core/log.h"
#include "core/pins.h"

const char *ps_pin_dir(void)
{
	static char below_bpffs[PATH_MAX];
	const char *dir = getenv("PORTSLICE_PIN_DIR");

	if (dir && *dir)
		return dir;
	/* --bpffs DIR: the host's bpffs as this namespace sees it. */
	if (ps_env_bpffs()) {
		snprintf(below_bpffs, sizeof(below_bpffs), "%s/portslice", ps_env_bpffs());
		return below_bpffs;
	}
	return PS_PIN_DIR_DEFAULT;
}

int ps_pin_path(char *buf, size_t len, const char *sub)
{
	int n = snprintf(buf, len, "%s/%s", ps_pin_dir(), sub);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

bool ps_state_exists(void)
{
	char path[PATH_MAX];

	return !ps_pin_path(path, sizeof(path), "maps/ps_meta") && !access(path, F_OK);
}

int ps_state_lock(struct ps_error *error)
{
	const char *path = getenv("PORTSLICE_LOCK_FILE");
	int fd;

	if (!path || !*path)
		path = PS_LOCK_FILE_DEFAULT;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return ps_fail(error, errno, "cannot open lock file %s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		if (errno != EWOULDBLOCK) {
			close(fd);
			return ps_fail(error, errno, "cannot lock %s: %s", path, strerror(errno));
		}
		pr_info("waiting for another portslice command to finish (lock %s)", path);
		if (flock(fd, LOCK_EX)) {
			close(fd);
			return ps_fail(error, errno, "cannot lock %s: %s", path, strerror(errno));
		}
	}
	return fd;
}

void ps_state_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

static int open_pinned(const char *name)
{
	char sub[128], path[PATH_MAX];
	int fd;

	snprintf(sub, sizeof(sub), "maps/%s", name);
	if (ps_pin_path(path, sizeof(path), sub))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

static int read_layout(int meta_fd, __u32 *version)
{
	struct ps_meta meta;
	__u32 key = 0;

	if (bpf_map_lookup_elem(meta_fd, &key, &meta))
		return -errno;
	*version = meta.layout_version;
	return 0;
}

static int check_layout_fd(int meta_fd, struct ps_error *error)
{
	__u32 version = 0;
	int err = read_layout(meta_fd, &version);

	if (err)
		return ps_fail(error, err, "cannot read the layout version of the pins under %s: %s", ps_pin_dir(), strerror(-err));
	if (version != PS_LAYOUT_VERSION)
		return ps_layout_refused("pins", version, PS_LAYOUT_VERSION, "portslice detach --all",
					 "every cgroup and interface loses portslice: their new sockets get the kernel's ports, replies are not steered",
					 "start its agent, or run 'portslice attach' for each cgroup and 'portslice steer attach'", error);
	return 0;
}

int ps_layout_refused(const char *what, unsigned int have, unsigned int want, const char *detach,
		      const char *meanwhile, const char *reattach, struct ps_error *error)
{
	return ps_fail(error, EPROTO, "the %s under %s have layout version %u, this portslice reads version %u: "
		      "their maps cannot be carried over, and nothing was changed. To move to this portslice: "
		      "1. stop the agent if one runs (systemctl stop portslice); 2. run '%s' (until step 3 %s; "
		      "open connections keep their ports); 3. attach again with this portslice (%s). "
		      "To stay on layout %u, run the portslice that attached them. See \"Upgrading\" in the README",
		      what, ps_pin_dir(), have, want, detach, meanwhile, reattach, have);
}

int ps_state_check_layout(struct ps_error *error)
{
	int fd, err;

	if (!ps_state_exists())
		return 0;
	fd = open_pinned("ps_meta");
	if (fd < 0)
		return ps_fail(error, fd, "cannot open %s/maps/ps_meta: %s", ps_pin_dir(), strerror(-fd));
	err = check_layout_fd(fd, error);
	close(fd);
	return err;
}

void ps_maps_close(struct ps_maps *maps)
{
	int *fds = (int *)maps;

	for (size_t i = 0; i < sizeof(*maps) / sizeof(int); i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

int ps_maps_open(struct ps_maps *maps, struct ps_error *error)
{
	static const char *const names[] = {
		"ps_pools", "ps_pool_addrs", "ps_dst4", "ps_dst6", "ps_tuples",
		"ps_port_users", "ps_sk_state", "ps_stats", "ps_attachments", "ps_meta", "ps_live",
	};
	int *fds = (int *)maps;
	int err;

	_Static_assert(sizeof(names) / sizeof(names[0]) == sizeof(struct ps_maps) / sizeof(int),
		       "ps_maps and names[] must list the same maps");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		fds[i] = -1;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		fds[i] = open_pinned(names[i]);
		if (fds[i] < 0) {
			err = fds[i];
			fds[i] = -1;
			ps_maps_close(maps);
			return ps_fail(error, err, "cannot open the pinned map %s/maps/%s: %s", ps_pin_dir(), names[i],
				      strerror(-err));
		}
	}
	err = check_layout_fd(maps->meta, error);
	if (err)
		ps_maps_close(maps);
	return err;
}

int ps_skel_load(struct ps_sock **out, const struct ps_attachment *att, __u64 cgroup_id, struct ps_error *error)
{
	char maps_dir[PATH_MAX];
	struct ps_meta meta = { .layout_version = PS_LAYOUT_VERSION };
	struct ps_sock *skel;
	__u32 key = 0;
	int err;

	err = ps_pin_path(maps_dir, sizeof(maps_dir), "maps");
	if (err)
		return ps_fail(error, err, "pin dir %s: name too long", ps_pin_dir());
	if (mkdir(ps_pin_dir(), 0700) && errno != EEXIST)
		return ps_fail(error, errno, "cannot create %s: %s", ps_pin_dir(), strerror(errno));
	if (mkdir(maps_dir, 0700) && errno != EEXIST)
		return ps_fail(error, errno, "cannot create %s: %s", maps_dir, strerror(errno));

	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = maps_dir);
	skel = ps_sock__open_opts(&opts);
	if (!skel)
		return ps_fail(error, errno, "cannot open the BPF object: %s", strerror(errno));

	skel->rodata->ps_pool_mask = att->pool_mask;
	skel->rodata->ps_pool_count = att->pool_count;
	skel->rodata->ps_attach_id = cgroup_id;
	memcpy((void *)skel->rodata->bpf_metadata_build_id, ps_build_id_sock, PS_BUILD_ID_LEN);
	memcpy((void *)skel->rodata->ps_pool_order, att->pool_order, sizeof(att->pool_order));

	err = ps_sock__load(skel);
	if (err) {
		ps_sock__destroy(skel);
		return ps_fail(error, err, "the kernel refused portslice's BPF programs (%s); run with -v for the verifier's log, "
			      "and check the kernel requirements in the README", strerror(-err));
	}
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.ps_meta), &key, &meta, BPF_ANY)) {
		err = -errno;
		ps_sock__destroy(skel);
		return ps_fail(error, err, "cannot stamp the layout version: %s", strerror(-err));
	}
	*out = skel;
	return 0;
}

int ps_unpin(const char *path)
{
	int fd = bpf_obj_get(path);

	if (fd >= 0) {
		/* Fails harmlessly (EINVAL) when the pin is a map. */
		bpf_link_detach(fd);
		close(fd);
	}
	return unlink(path) && errno != ENOENT ? -errno : 0;
}

/* Removes every pin below @path (bpffs holds pins and directories only). */
static int remove_tree(const char *path)
{
	struct dirent *de;
	DIR *dir = opendir(path);
	int err = 0;

	if (!dir)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(dir))) {
		char child[PATH_MAX];

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(child, sizeof(child), "%s/%s", path, de->d_name);
		if (de->d_type == DT_DIR)
			err = remove_tree(child) ?: err;
		else
			err = ps_unpin(child) ?: err;
	}
	closedir(dir);
	if (rmdir(path))
		err = -errno;
	return err;
}

int ps_state_remove_all(struct ps_error *error)
{
	int err = remove_tree(ps_pin_dir());

	if (err)
		return ps_fail(error, err, "cannot remove %s: %s", ps_pin_dir(), strerror(-err));
	return 0;
}

/* Unpins maps/<name> for every name with (steer) or without (!steer) the steering prefix. */
static int remove_maps(bool steer)
{
	char dir[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int err = 0;

	if (ps_pin_path(dir, sizeof(dir), "maps"))
		return -ENAMETOOLONG;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		char path[PATH_MAX + 256];
		bool is_steer = !strncmp(de->d_name, PS_STEER_MAP_PREFIX, strlen(PS_STEER_MAP_PREFIX));

		if (de->d_name[0] == '.' || is_steer != steer)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (de->d_type == DT_DIR)
			err = remove_tree(path) ?: err;
		else if (unlink(path) && errno != ENOENT)
			err = -errno;
	}
	closedir(d);
	/* Empty directories go; ENOTEMPTY means the other side still has pins. */
	rmdir(dir);
	rmdir(ps_pin_dir());
	return err;
}

static int remove_side(const char *links_dir, bool steer, struct ps_error *error)
{
	char path[PATH_MAX];
	int err;

	if (ps_pin_path(path, sizeof(path), links_dir))
		return ps_fail(error, ENAMETOOLONG, "pin dir %s: name too long", ps_pin_dir());
	/* Links first: unpinning them detaches the programs before their maps go. */
	err = remove_tree(path);
	if (!err)
		err = remove_maps(steer);
	if (err)
		return ps_fail(error, err, "cannot remove %s's pins under %s: %s", steer ? "steering" : "the socket side",
			      ps_pin_dir(), strerror(-err));
	return 0;
}

int ps_state_remove_sock(struct ps_error *error)
{
	return remove_side("cgroups", false, error);
}

int ps_state_remove_steer(struct ps_error *error)
{
	return remove_side(PS_STEER_DIR, true, error);
}

void ps_maps_from_skel(struct ps_sock *skel, struct ps_maps *maps)
{
	/* Borrowed fds: they close with the skeleton. */
	maps->pools = bpf_map__fd(skel->maps.ps_pools);
	maps->pool_addrs = bpf_map__fd(skel->maps.ps_pool_addrs);
	maps->dst4 = bpf_map__fd(skel->maps.ps_dst4);
	maps->dst6 = bpf_map__fd(skel->maps.ps_dst6);
	maps->tuples = bpf_map__fd(skel->maps.ps_tuples);
	maps->port_users = bpf_map__fd(skel->maps.ps_port_users);
	maps->sk_state = bpf_map__fd(skel->maps.ps_sk_state);
	maps->stats = bpf_map__fd(skel->maps.ps_stats);
	maps->attachments = bpf_map__fd(skel->maps.ps_attachments);
	maps->meta = bpf_map__fd(skel->maps.ps_meta);
	maps->live = bpf_map__fd(skel->maps.ps_live);
}
