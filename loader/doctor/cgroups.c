// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* doctor's cgroup checks: other programs on the hooks portslice uses. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/stat.h>
#include <bpf/bpf.h>

#include "core/pins.h"
#include "doctor/cgroups.h"
#include "sock/links.h"
#include "sock/maps.h"

static const struct {
	enum bpf_attach_type type;
	const char *name;
} hooks[] = {
	{ BPF_CGROUP_INET4_CONNECT, "connect4" }, { BPF_CGROUP_INET6_CONNECT, "connect6" },
	{ BPF_CGROUP_INET4_BIND, "bind4" },       { BPF_CGROUP_INET6_BIND, "bind6" },
	{ BPF_CGROUP_UDP4_SENDMSG, "sendmsg4" },  { BPF_CGROUP_UDP6_SENDMSG, "sendmsg6" },
	{ BPF_CGROUP_INET_SOCK_RELEASE, "sock_release" },
};

struct own_progs {
	__u32 ids[PS_MAX_ATTACHMENTS * 8];
	size_t n;
};

/* The program a pinned link runs, 0 when @pin is no link. */
static __u32 pinned_link_prog(const char *dir, const char *name)
{
	char pin[PATH_MAX * 2];
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	int fd;

	snprintf(pin, sizeof(pin), "%s/%s", dir, name);
	fd = bpf_obj_get(pin);
	if (fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		info.prog_id = 0;
	close(fd);
	return info.prog_id;
}

/* The programs of portslice's pinned links, under every attachment dir. */
static void collect_own(struct own_progs *own)
{
	char path[PATH_MAX];
	struct dirent *de, *le;
	DIR *d, *ld;

	own->n = 0;
	if (ps_pin_path(path, sizeof(path), PS_PINS_CGROUPS) || !(d = opendir(path)))
		return;
	while ((de = readdir(d))) {
		char sub[PATH_MAX + 256];

		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (!(ld = opendir(sub)))
			continue;
		while ((le = readdir(ld)) && own->n < sizeof(own->ids) / sizeof(own->ids[0])) {
			__u32 id = le->d_name[0] == '.' ? 0 : pinned_link_prog(sub, le->d_name);

			if (id)
				own->ids[own->n++] = id;
		}
		closedir(ld);
	}
	closedir(d);
}

static bool is_own(const struct own_progs *own, __u32 id)
{
	for (size_t i = 0; i < own->n; i++)
		if (own->ids[i] == id)
			return true;
	return false;
}

static void check_cgroup(struct ps_doctor_report *r, const char *dir, const struct own_progs *own)
{
	struct ps_error why = {};
	struct ps_cgroup cg;
	char name[PATH_MAX + 16], others[1024] = "";
	size_t used = 0;
	unsigned int n_others = 0;
	int err;

	snprintf(name, sizeof(name), "cgroup.%s", dir);
	err = ps_cgroup_open(dir, &cg, &why);
	if (err) {
		ps_doctor_check(r, PS_CHECK_FAIL, name, "create the cgroup (mkdir under the cgroup2 mount) or fix its path in the config",
				"%s", why.msg);
		return;
	}
	for (size_t h = 0; h < sizeof(hooks) / sizeof(hooks[0]); h++) {
		__u32 ids[64], cnt = 64, flags = 0;

		if (bpf_prog_query(cg.fd, hooks[h].type, BPF_F_QUERY_EFFECTIVE, &flags, ids, &cnt))
			continue;
		for (__u32 i = 0; i < cnt; i++) {
			struct bpf_prog_info info = {};
			__u32 len = sizeof(info);
			int fd;

			if (is_own(own, ids[i]))
				continue;
			n_others++;
			fd = bpf_prog_get_fd_by_id(ids[i]);
			if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len))
				info.name[0] = '\0';
			if (fd >= 0)
				close(fd);
			if (used < sizeof(others) - 1)
				used += snprintf(others + used, sizeof(others) - used, "%s%s: prog %u '%s'",
						 used ? ", " : "", hooks[h].name, ids[i], info.name);
		}
	}
	if (n_others)
		ps_doctor_check(r, PS_CHECK_WARN, name,
				"make sure those programs do not rewrite the address or port of connect()/bind() (bpftool cgroup tree shows where they are attached), or move the workload to a cgroup without them",
				"%u other program(s) run on the hooks portslice uses (here or inherited): %s", n_others, others);
	else
		ps_doctor_check(r, PS_CHECK_OK, name, NULL, "no other program on portslice's hooks%s",
				ps_attachment_exists(cg.id) ? " (portslice attached)" : " (portslice not attached)");
	ps_cgroup_close(&cg);
}

struct att_walk {
	struct ps_doctor_report *r;
	const struct own_progs *own;
	const char *mnt;
	const char *const *checked; /* the cgroups named, checked already */
	size_t n_checked;
};

static int attached_cb(__u64 id, const struct ps_attachment *att, void *arg)
{
	struct att_walk *w = arg;
	char path[PATH_MAX + 256];
	struct stat st;

	snprintf(path, sizeof(path), "%s%s", w->mnt, att->path);
	for (size_t i = 0; i < w->n_checked; i++) {
		char real[PATH_MAX];

		if (realpath(w->checked[i], real) && !strcmp(real, path))
			return 0; /* checked already */
	}
	if (stat(path, &st) || st.st_ino != id) {
		char name[PATH_MAX + 300], fix[PATH_MAX + 300];

		snprintf(name, sizeof(name), "cgroup.%s", path);
		snprintf(fix, sizeof(fix), "portslice detach --cgroup %s", path);
		ps_doctor_check(w->r, PS_CHECK_WARN, name, fix, "attached cgroup %llu is gone: its pins keep shared state alive",
				(unsigned long long)id);
		return 0;
	}
	check_cgroup(w->r, path, w->own);
	return 0;
}

void ps_doctor_check_cgroups(struct ps_doctor_report *r, const char *const *cgroups, size_t n, const char *mnt)
{
	struct own_progs *own = calloc(1, sizeof(*own));
	struct ps_maps maps;

	if (!own)
		return;
	if (ps_state_exists())
		collect_own(own);
	for (size_t i = 0; i < n; i++)
		check_cgroup(r, cgroups[i], own);
	if (ps_state_exists() && !ps_maps_open(&maps, NULL)) {
		struct att_walk w = { r, own, mnt, cgroups, n };

		ps_attachments_for_each(maps.attachments, attached_cb, &w);
		ps_maps_close(&maps);
	}
	free(own);
}