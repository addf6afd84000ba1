// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sock.skel.h"
#include "core/build.h"
#include "core/log.h"
#include "core/pins.h"
#include "sock/links.h"
#include "sock/maps.h"

int ps_attachment_dir(__u64 cgroup_id, char *buf, size_t len)
{
	return ps_pin_path(buf, len, PS_PINS_CGROUPS "/%llu", (unsigned long long)cgroup_id);
}

int ps_attachments_mkdir(void)
{
	char path[PATH_MAX];

	if (ps_pin_path(path, sizeof(path), PS_PINS_CGROUPS))
		return -ENAMETOOLONG;
	if (mkdir(path, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

bool ps_prog_gives_back(const char *prog)
{
	return !strcmp(prog, "ps_sock_release") || !strcmp(prog, "ps_sock_ops");
}

bool ps_attachment_exists(__u64 cgroup_id)
{
	char path[PATH_MAX];

	return !ps_attachment_dir(cgroup_id, path, sizeof(path)) && !access(path, F_OK);
}

bool ps_cgroups_any(void)
{
	return ps_pins_any(PS_PINS_CGROUPS, "tmp-");
}

bool ps_steer_links_any(void)
{
	/* steer/links.c names its temporaries "tmp:IFNAME"; ':' is never in an interface name. */
	return ps_pins_any(PS_PINS_STEER, "tmp:");
}

bool ps_attachments_any(void)
{
	return ps_cgroups_any() || ps_steer_links_any();
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct ps_prog_build *)a)->name, ((const struct ps_prog_build *)b)->name);
}

int ps_attachment_progs(__u64 cgroup_id, struct ps_prog_build *out, size_t max)
{
	char dir[PATH_MAX];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	if (ps_attachment_dir(cgroup_id, dir, sizeof(dir)))
		return -ENAMETOOLONG;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d)) && n < max) {
		char pin[PATH_MAX + 256];

		if (de->d_name[0] == '.')
			continue;
		snprintf(pin, sizeof(pin), "%s/%s", dir, de->d_name);
		/* A link removed under us (a concurrent detach) is no program of the attachment. */
		if (!ps_link_build_read(pin, &out[n]))
			n++;
	}
	closedir(d);
	qsort(out, n, sizeof(*out), cmp_name);
	return (int)n;
}

bool ps_attachment_build_current(__u64 cgroup_id, char other[PS_BUILD_ID_LEN])
{
	struct ps_prog_build progs[PS_ATTACHMENT_MAX_PROGS];
	int n = ps_attachment_progs(cgroup_id, progs, PS_ATTACHMENT_MAX_PROGS);

	if (other)
		other[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (strcmp(progs[i].build_id, ps_build_id_sock)) {
			if (other)
				snprintf(other, PS_BUILD_ID_LEN, "%s", ps_build_id_str(&progs[i]));
			return false;
		}
	}
	return n >= 0;
}

int ps_attachment_read(int fd, __u64 cgroup_id, struct ps_attachment *att)
{
	return bpf_map_lookup_elem(fd, &cgroup_id, att) ? -errno : 0;
}

int ps_attachment_write(int fd, __u64 cgroup_id, const struct ps_attachment *att, struct ps_error *error)
{
	if (bpf_map_update_elem(fd, &cgroup_id, att, BPF_ANY))
		return ps_fail(error, errno, "cannot record the attachment: %s", strerror(errno));
	return 0;
}

int ps_attachments_for_each(int fd, int (*cb)(__u64 id, const struct ps_attachment *att, void *arg),
			    void *arg)
{
	__u64 key, next, *prev = NULL;
	struct ps_attachment att;
	int ret;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &att))
			continue; /* removed under us */
		ret = cb(key, &att, arg);
		if (ret)
			return ret;
	}
	return 0;
}

static bool path_within(const char *inner, const char *outer)
{
	size_t n = strlen(outer);

	return !strncmp(inner, outer, n) && inner[n] == '/';
}

struct nesting_check {
	const struct ps_cgroup *cg;
	struct ps_error *error;
};

static int nesting_cb(__u64 id, const struct ps_attachment *att, void *arg)
{
	struct nesting_check *c = arg;
	const struct ps_cgroup *cg = c->cg;
	struct ps_error *error = c->error;
	/* Length of the cgroup2 mount point, to print absolute paths. */
	int m = (int)(strlen(cg->path) - strlen(cg->rel));

	if (id == cg->id)
		return 0;
	if (path_within(cg->rel, att->path))
		return ps_fail(error, EEXIST, "%s is inside the attached cgroup %.*s%s: its sockets are handled there already; detach that one first or attach this one only",
			      cg->path, m, cg->path, att->path);
	if (path_within(att->path, cg->rel))
		return ps_fail(error, EEXIST, "%s holds the attached cgroup %.*s%s: sockets would be handled twice; detach that one first",
			      cg->path, m, cg->path, att->path);
	return 0;
}

int ps_attachment_check_nesting(const struct ps_cgroup *cg, struct ps_error *error)
{
	struct nesting_check check = { cg, error };
	int fd, err;

	fd = ps_pin_map_open("ps_attachments");
	if (fd < 0)
		return 0;
	err = ps_attachments_for_each(fd, nesting_cb, &check);
	close(fd);
	return err;
}

/*
 * Unpins every link under @dir but those @keep (NULL: none) says to keep.
 * Returns -errno when @dir cannot be listed; *unpin_err: the last unpin's.
 */
static int unpin_links(const char *dir, bool (*keep)(const char *prog, void *arg), void *arg, int *unpin_err)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	*unpin_err = 0;
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char path[PATH_MAX + 256];

		if (de->d_name[0] == '.' || (keep && keep(de->d_name, arg)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		*unpin_err = ps_unpin(path) ?: *unpin_err;
	}
	closedir(d);
	return 0;
}

static bool keep_by_name(const char *prog, void *arg)
{
	bool (*keep)(const char *prog) = *(bool (**)(const char *))arg;

	return keep(prog);
}

int ps_attachment_unpin(const char *dir, bool (*keep)(const char *prog))
{
	int unpin_err, err = unpin_links(dir, keep ? keep_by_name : NULL, &keep, &unpin_err);

	if (err)
		return err == -ENOENT ? 0 : err;
	return unpin_err;
}

void ps_attachment_remove_dir(const char *dir)
{
	ps_attachment_unpin(dir, NULL);
	rmdir(dir);
}

int ps_attachment_remove(__u64 cgroup_id, const struct ps_maps *maps, struct ps_error *error)
{
	char dir[PATH_MAX];
	int err = ps_attachment_dir(cgroup_id, dir, sizeof(dir));

	if (err)
		return err;
	/* Unpinning drops the last reference to each link: the kernel detaches it. */
	ps_attachment_remove_dir(dir);
	if (!access(dir, F_OK))
		return ps_fail(error, EBUSY, "cannot remove %s: %s", dir, strerror(errno));
	bpf_map_delete_elem(maps->attachments, &cgroup_id);
	bpf_map_delete_elem(maps->live, &cgroup_id);
	return 0;
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

int ps_attachment_pin_links(struct ps_sock *skel, const struct ps_cgroup *cg, struct ps_error *error)
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

struct loaded_progs {
	struct bpf_program **progs;
	int n;
};

static bool is_loaded(const char *prog, void *arg)
{
	const struct loaded_progs *l = arg;

	for (int i = 0; i < l->n; i++)
		if (!strcmp(prog, bpf_program__name(l->progs[i])))
			return true;
	return false;
}

int ps_attachment_update_links(struct ps_sock *skel, const struct ps_cgroup *cg, struct ps_error *error)
{
	char dir[PATH_MAX], path[PATH_MAX + 64];
	struct bpf_program *progs[PS_ATTACHMENT_MAX_PROGS];
	struct loaded_progs loaded = { progs, ordered_progs(skel, progs, error) };
	int err;

	if (loaded.n < 0)
		return loaded.n;
	err = ps_attachment_dir(cg->id, dir, sizeof(dir));
	if (err)
		return ps_fail(error, err, "pin path too long");
	for (int i = 0; i < loaded.n; i++) {
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
	/* Hooks an older build had and this one has not. */
	if (unpin_links(dir, is_loaded, &loaded, &err))
		return ps_fail(error, errno, "cannot list %s: %s", dir, strerror(errno));
	return err ? ps_fail(error, err, "cannot unpin a link under %s: %s", dir, strerror(-err)) : 0;
}
