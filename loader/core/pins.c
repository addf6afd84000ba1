// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <dirent.h>
#include <stdarg.h>
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

#include "core/env.h"
#include "core/log.h"
#include "core/pins.h"
#include "portslice.h"
#include "steer.h"

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

int ps_pin_path(char *buf, size_t len, const char *fmt, ...)
{
	int n = snprintf(buf, len, "%s/", ps_pin_dir()), m;
	va_list ap;

	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	va_start(ap, fmt);
	m = vsnprintf(buf + n, len - (size_t)n, fmt, ap);
	va_end(ap);
	return m < 0 || (size_t)m >= len - (size_t)n ? -ENAMETOOLONG : 0;
}

int ps_pin_maps_dir(char *buf, size_t len, struct ps_error *error)
{
	if (ps_pin_path(buf, len, PS_PINS_MAPS))
		return ps_fail(error, ENAMETOOLONG, "pin dir %s: name too long", ps_pin_dir());
	if (mkdir(ps_pin_dir(), 0700) && errno != EEXIST)
		return ps_fail(error, errno, "cannot create %s: %s", ps_pin_dir(), strerror(errno));
	if (mkdir(buf, 0700) && errno != EEXIST)
		return ps_fail(error, errno, "cannot create %s: %s", buf, strerror(errno));
	return 0;
}

bool ps_state_exists(void)
{
	char path[PATH_MAX];

	return !ps_pin_path(path, sizeof(path), PS_PINS_MAPS "/%s", ps_sock_layout.meta_map) && !access(path, F_OK);
}

bool ps_pins_any(const char *sub, const char *tmp)
{
	char path[PATH_MAX];
	struct dirent *de;
	bool any = false;
	DIR *dir;

	if (ps_pin_path(path, sizeof(path), "%s", sub) || !(dir = opendir(path)))
		return false;
	while (!any && (de = readdir(dir)))
		any = de->d_name[0] != '.' && strncmp(de->d_name, tmp, strlen(tmp));
	closedir(dir);
	return any;
}

int ps_pin_map_open(const char *name)
{
	char path[PATH_MAX];
	int fd;

	if (ps_pin_path(path, sizeof(path), PS_PINS_MAPS "/%s", name))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

void ps_pin_fds_close(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

int ps_pin_maps_open(const char *const *names, int *fds, size_t n, struct ps_error *error)
{
	for (size_t i = 0; i < n; i++)
		fds[i] = -1;
	for (size_t i = 0; i < n; i++) {
		int fd = ps_pin_map_open(names[i]);

		if (fd < 0) {
			ps_pin_fds_close(fds, n);
			return ps_fail(error, fd, "cannot open the pinned map %s/%s/%s: %s", ps_pin_dir(), PS_PINS_MAPS,
				       names[i], strerror(-fd));
		}
		fds[i] = fd;
	}
	return 0;
}

int ps_pin_map_open_or_create(const char *name, enum bpf_map_type type, __u32 value_size, __u32 max_entries)
{
	char path[PATH_MAX];
	int fd = ps_pin_map_open(name), err;

	if (fd >= 0 || fd != -ENOENT)
		return fd;
	if (ps_pin_path(path, sizeof(path), PS_PINS_MAPS "/%s", name))
		return -ENAMETOOLONG;
	fd = bpf_map_create(type, name, sizeof(__u32), value_size, max_entries, NULL);
	if (fd < 0)
		return -errno;
	if (bpf_obj_pin(fd, path)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

const struct ps_layout ps_sock_layout = {
	.what = "pins",
	.meta_map = "ps_meta",
	.version = PS_LAYOUT_VERSION,
	.detach = "portslice detach --all",
	.meanwhile = "every cgroup and interface loses portslice: their new sockets get the kernel's ports, replies are not steered",
	.reattach = "start its agent, or run 'portslice attach' for each cgroup and 'portslice steer attach'",
};

const struct ps_layout ps_steer_layout = {
	.what = "steering pins",
	.meta_map = PS_STEER_MAP_PREFIX "meta",
	.version = PS_STEER_LAYOUT_VERSION,
	.detach = "portslice steer detach --all",
	.meanwhile = "replies that reach this host for another host's port are not forwarded",
	.reattach = "start its agent, or run 'portslice steer attach'",
};

int ps_layout_check_fd(const struct ps_layout *l, int meta_fd, struct ps_error *error)
{
	struct ps_meta meta = {};
	__u32 zero = 0;

	if (bpf_map_lookup_elem(meta_fd, &zero, &meta))
		return ps_fail(error, errno, "cannot read the layout version of the %s under %s: %s", l->what,
			       ps_pin_dir(), strerror(errno));
	if (meta.layout_version == l->version)
		return 0;
	/* The README's "Upgrading" quotes this message. */
	return ps_fail(error, EPROTO, "the %s under %s have layout version %u, this portslice reads version %u: "
		       "their maps cannot be carried over, and nothing was changed. To move to this portslice: "
		       "1. stop the agent if one runs (systemctl stop portslice); 2. run '%s' (until step 3 %s; "
		       "open connections keep their ports); 3. attach again with this portslice (%s). "
		       "To stay on layout %u, run the portslice that attached them. See \"Upgrading\" in the README",
		       l->what, ps_pin_dir(), meta.layout_version, l->version, l->detach, l->meanwhile, l->reattach,
		       meta.layout_version);
}

int ps_layout_check(const struct ps_layout *l, struct ps_error *error)
{
	int fd = ps_pin_map_open(l->meta_map), err;

	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return ps_fail(error, fd, "cannot open %s/%s/%s: %s", ps_pin_dir(), PS_PINS_MAPS, l->meta_map,
			       strerror(-fd));
	err = ps_layout_check_fd(l, fd, error);
	close(fd);
	return err;
}

int ps_layout_stamp(const struct ps_layout *l, int meta_fd, struct ps_error *error)
{
	struct ps_meta meta = { .layout_version = l->version };
	__u32 zero = 0;

	if (bpf_map_update_elem(meta_fd, &zero, &meta, BPF_ANY))
		return ps_fail(error, errno, "cannot stamp the layout version of the %s: %s", l->what, strerror(errno));
	return 0;
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

int ps_unpin_tree(const char *path)
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
			err = ps_unpin_tree(child) ?: err;
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
	int err = ps_unpin_tree(ps_pin_dir());

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

	if (ps_pin_path(dir, sizeof(dir), PS_PINS_MAPS))
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
			err = ps_unpin_tree(path) ?: err;
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

	if (ps_pin_path(path, sizeof(path), "%s", links_dir))
		return ps_fail(error, ENAMETOOLONG, "pin dir %s: name too long", ps_pin_dir());
	/* Links first: unpinning them detaches the programs before their maps go. */
	err = ps_unpin_tree(path);
	if (!err)
		err = remove_maps(steer);
	if (err)
		return ps_fail(error, err, "cannot remove %s's pins under %s: %s", steer ? "steering" : "the socket side",
			      ps_pin_dir(), strerror(-err));
	return 0;
}

int ps_state_remove_sock(struct ps_error *error)
{
	return remove_side(PS_PINS_CGROUPS, false, error);
}

int ps_state_remove_steer(struct ps_error *error)
{
	return remove_side(PS_PINS_STEER, true, error);
}

