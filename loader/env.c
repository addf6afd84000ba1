// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "env.h"
#include "log.h"

#define BTF_VMLINUX "/sys/kernel/btf/vmlinux"
#define BPFFS_DEFAULT "/sys/fs/bpf"

int ps_env_require_root(void)
{
	if (geteuid() != 0)
		return ps_err(EPERM, "must run as root: it loads BPF programs and attaches them to cgroups (try: sudo portslice ...)");
	return 0;
}

int ps_env_require_btf(void)
{
	if (access(BTF_VMLINUX, R_OK))
		return ps_err(ENOENT, "this kernel exposes no BTF (%s is missing): use a kernel built with CONFIG_DEBUG_INFO_BTF=y", BTF_VMLINUX);
	return 0;
}

static bool is_bpffs(const char *path)
{
	struct statfs st;

	return !statfs(path, &st) && st.f_type == BPF_FS_MAGIC;
}

/* A private mount namespace (ip netns exec makes one) drops its mounts on exit. */
static bool in_init_mount_ns(void)
{
	struct stat self, init;

	if (stat("/proc/self/ns/mnt", &self) || stat("/proc/1/ns/mnt", &init))
		return true;
	return self.st_ino == init.st_ino && self.st_dev == init.st_dev;
}

int ps_env_require_bpffs(const char *dir)
{
	char probe[PATH_MAX];
	char *slash;

	/* The pin dir may not exist yet: test its nearest existing ancestor. */
	snprintf(probe, sizeof(probe), "%s", dir);
	while (access(probe, F_OK) && (slash = strrchr(probe, '/')) && slash != probe)
		*slash = '\0';
	if (is_bpffs(probe))
		return 0;
	if (strncmp(dir, BPFFS_DEFAULT "/", strlen(BPFFS_DEFAULT) + 1) || !strcmp(probe, "/"))
		return ps_err(ENOTSUP, "%s is not on a bpf file system: mount one there (mount -t bpf bpf DIR) or unset PORTSLICE_PIN_DIR", dir);
	if (!in_init_mount_ns())
		return ps_err(ENOTSUP, "bpffs is not mounted at %s in this mount namespace (ip netns exec hides it): "
			      "pins made here would vanish with it; run under 'nsenter --net=/run/netns/NAME' instead",
			      BPFFS_DEFAULT);
	if (mount("bpf", BPFFS_DEFAULT, "bpf", 0, "mode=0700"))
		return ps_err(errno, "bpffs is not mounted at %s and mounting it failed (%s): run 'mount -t bpf bpf %s'",
			      BPFFS_DEFAULT, strerror(errno), BPFFS_DEFAULT);
	pr_info("mounted the bpf file system at %s", BPFFS_DEFAULT);
	return 0;
}

int ps_env_cgroup2_mount(char *buf, size_t len)
{
	char line[4096], dev[256], mnt[PATH_MAX], type[64];
	FILE *f = fopen("/proc/self/mounts", "r");
	int found = 0;

	if (!f)
		return ps_err(errno, "cannot read /proc/self/mounts: %s", strerror(errno));
	while (!found && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%255s %4095s %63s", dev, mnt, type) == 3 && !strcmp(type, "cgroup2")) {
			snprintf(buf, len, "%s", mnt);
			found = 1;
		}
	}
	fclose(f);
	if (!found)
		return ps_err(ENOENT, "no cgroup v2 hierarchy is mounted: mount one (mount -t cgroup2 none /sys/fs/cgroup) or boot with systemd.unified_cgroup_hierarchy=1");
	return 0;
}

int ps_cgroup_open(const char *dir, struct ps_cgroup *cg)
{
	char mnt[PATH_MAX];
	struct statfs sfs;
	struct stat st;
	size_t mlen;
	int err;

	cg->fd = -1;
	if (!realpath(dir, cg->path))
		return ps_err(errno, "cgroup %s: %s", dir, strerror(errno));
	if (statfs(cg->path, &sfs) || sfs.f_type != CGROUP2_SUPER_MAGIC) {
		err = ps_env_cgroup2_mount(mnt, sizeof(mnt));
		if (err)
			return err;
		return ps_err(EINVAL, "%s is not a cgroup v2 directory: name one under %s", dir, mnt);
	}
	err = ps_env_cgroup2_mount(mnt, sizeof(mnt));
	if (err)
		return err;
	mlen = strlen(mnt);
	if (!strcmp(cg->path, mnt))
		return ps_err(EINVAL, "refusing the root cgroup %s: it holds every process of the host; name a child cgroup", mnt);
	if (strncmp(cg->path, mnt, mlen) || cg->path[mlen] != '/')
		return ps_err(EINVAL, "%s is outside the cgroup v2 mount %s", cg->path, mnt);
	snprintf(cg->rel, sizeof(cg->rel), "%s", cg->path + mlen);
	if (stat(cg->path, &st))
		return ps_err(errno, "cgroup %s: %s", cg->path, strerror(errno));
	cg->id = st.st_ino;
	cg->fd = open(cg->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg->fd < 0)
		return ps_err(errno, "cgroup %s: %s", cg->path, strerror(errno));
	return 0;
}

void ps_cgroup_close(struct ps_cgroup *cg)
{
	if (cg->fd >= 0)
		close(cg->fd);
	cg->fd = -1;
}

int ps_env_local_port_range(struct ps_port_range *range)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	unsigned int lo, hi;
	int n;

	if (!f)
		return -errno;
	n = fscanf(f, "%u %u", &lo, &hi);
	fclose(f);
	if (n != 2 || lo > 65535 || hi > 65535)
		return -EINVAL;
	range->lo = lo;
	range->hi = hi;
	return 0;
}
