// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "core/env.h"
#include "core/log.h"
#include "core/pins.h"

#define BTF_VMLINUX "/sys/kernel/btf/vmlinux"
#define BPFFS_DEFAULT "/sys/fs/bpf"

int ps_env_require_root(struct ps_error *error)
{
	if (geteuid() != 0)
		return ps_fail(error, EPERM, "must run as root: it loads BPF programs and attaches them to cgroups (try: sudo portslice ...)");
	return 0;
}

int ps_env_require_btf(struct ps_error *error)
{
	if (access(BTF_VMLINUX, R_OK))
		return ps_fail(error, ENOENT, "this kernel exposes no BTF (%s is missing): use a kernel built with CONFIG_DEBUG_INFO_BTF=y", BTF_VMLINUX);
	return 0;
}

static bool is_bpffs(const char *path)
{
	struct statfs st;

	return !statfs(path, &st) && st.f_type == BPF_FS_MAGIC;
}

/* ---- namespaces: is what this process sees the host's? ------------------ */

/* Inode numbers of the initial namespaces (uapi nsfs.h; mnt and net since 6.x, cgroup since 4.6). */
#define NS_INIT_INO_CGROUP 0xEFFFFFFBUL
#define NS_INIT_INO_NET 0xEFFFFFF9UL
#define NS_INIT_INO_MNT 0xEFFFFFF8UL
#define NS_INIT_INO_PID 0xEFFFFFFCUL
/* task flags of a kernel thread (include/linux/sched.h) */
#define PS_PF_KTHREAD 0x00200000UL

static const char *opt_bpffs, *opt_cgroup_root;

void ps_env_set_bpffs(const char *dir)
{
	opt_bpffs = dir && *dir ? dir : NULL;
}

void ps_env_set_cgroup_root(const char *dir)
{
	opt_cgroup_root = dir && *dir ? dir : NULL;
}

static const char *opt_or_env(const char *opt, const char *name)
{
	const char *v = opt ? opt : getenv(name);

	return v && *v ? v : NULL;
}

const char *ps_env_bpffs(void)
{
	return opt_or_env(opt_bpffs, "PORTSLICE_BPFFS");
}

const char *ps_env_cgroup_root(void)
{
	return opt_or_env(opt_cgroup_root, "PORTSLICE_CGROUP_ROOT");
}

/*
 * /proc/2 is kthreadd when this /proc is the host's PID namespace's: a
 * kernel thread lives in every initial namespace, so its view is the host's.
 * Another PID namespace (a container) has a process of its own there.
 */
static bool host_ref_visible(void)
{
	char buf[1024], *p;
	unsigned long flags = 0;
	FILE *f = fopen("/proc/2/stat", "r");
	bool ok;

	if (!f)
		return false;
	ok = fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) &&
	     sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) == 1;
	fclose(f);
	return ok && flags & PS_PF_KTHREAD;
}

int ps_ns_initial(const char *type)
{
	unsigned long init = !strcmp(type, "mnt") ? NS_INIT_INO_MNT :
			     !strcmp(type, "net") ? NS_INIT_INO_NET : NS_INIT_INO_CGROUP;
	char path[64];
	struct stat self, ref, pid;

	snprintf(path, sizeof(path), "/proc/self/ns/%s", type);
	if (stat(path, &self))
		return -1;
	/* Kernels that number the initial namespace: the answer without a reference. */
	if (self.st_ino == init)
		return 1;
	snprintf(path, sizeof(path), "/proc/2/ns/%s", type);
	if (host_ref_visible() && !stat(path, &ref))
		return self.st_ino == ref.st_ino && self.st_dev == ref.st_dev;
	/* Pid 1 is the host's init only in the host's PID namespace. */
	snprintf(path, sizeof(path), "/proc/1/ns/%s", type);
	if (!stat("/proc/self/ns/pid", &pid) && pid.st_ino == NS_INIT_INO_PID && !stat(path, &ref))
		return self.st_ino == ref.st_ino && self.st_dev == ref.st_dev;
	/* Not readable (a hardened /proc, another PID namespace): unknown, never "yes". */
	return -1;
}

/* Is @path here the same directory as @path in the host's mount namespace? 1, 0, -1 unknown. */
static int same_as_host(const char *path)
{
	char host[PATH_MAX + 16];
	struct stat here, there;

	if (!host_ref_visible())
		return -1;
	snprintf(host, sizeof(host), "/proc/2/root%s", path);
	if (stat(path, &here))
		return 0;
	if (stat(host, &there))
		return errno == ENOENT ? 0 : -1;
	return here.st_dev == there.st_dev && here.st_ino == there.st_ino;
}

/*
 * Is the mount holding @path a slave of a peer group from outside this
 * namespace ("master:N" in mountinfo)? Then it is a copy of a mount that
 * existed before this namespace was made, or a bind of one (a systemd
 * service's private namespace, a container's propagated host mount), not a
 * file system mounted in here that would vanish with it. The evidence used
 * where no kernel thread shows the host's view.
 */
static bool mount_is_slave(const char *path)
{
	char line[4096], mnt[PATH_MAX], best[PATH_MAX] = "", opt[4096];
	bool slave = false;
	size_t best_len = 0;
	FILE *f = fopen("/proc/self/mountinfo", "r");

	while (f && fgets(line, sizeof(line), f)) {
		size_t n;
		char *dash;

		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER */
		if (sscanf(line, "%*s %*s %*s %*s %4095s %*s", mnt) != 1)
			continue;
		n = strlen(mnt);
		if (strncmp(path, mnt, n) || (path[n] != '/' && path[n] && n > 1) || n < best_len)
			continue;
		best_len = n;
		snprintf(best, sizeof(best), "%s", mnt);
		dash = strstr(line, " - ");
		snprintf(opt, sizeof(opt), "%.*s", dash ? (int)(dash - line) : 0, line);
		slave = strstr(opt, " master:") != NULL;
	}
	if (f)
		fclose(f);
	return best[0] && slave;
}

/* The nearest existing ancestor of @dir (the pin dir may not exist yet). */
static void existing_ancestor(const char *dir, char *out, size_t len)
{
	char *slash;

	snprintf(out, len, "%s", dir);
	while (access(out, F_OK) && (slash = strrchr(out, '/')) && slash != out)
		*slash = '\0';
	if (access(out, F_OK))
		snprintf(out, len, "/");
}

static const char *mnt_ns_words(int mnt)
{
	return mnt ? "portslice cannot tell whether this mount namespace is the host's (no kernel thread is visible "
		     "in /proc: another PID namespace, or a hardened /proc)"
		   : "this mount namespace is not the host's ('ip netns exec', 'unshare -m', a container or a "
		     "service with a private mount namespace)";
}

#define VIEW_FIX "run portslice in the host's mount namespace ('nsenter --net=/run/netns/NAME portslice ...' " \
		 "enters only a network namespace; 'ip netns exec' remounts /sys), or name the host's mounts as " \
		 "this namespace sees them: --bpffs DIR --cgroup-root DIR"

static int cgroup_root_why(const char *root, char *why, size_t len)
{
	struct statfs sfs;
	char type[PATH_MAX + 16];

	if (statfs(root, &sfs) || sfs.f_type != CGROUP2_SUPER_MAGIC)
		return snprintf(why, len, "--cgroup-root %s is not a cgroup v2 file system: name the directory where "
			       "the host's cgroup2 hierarchy is mounted in this namespace", root), -EINVAL;
	/* Every cgroup but the root of a hierarchy (or of a cgroup namespace) has cgroup.type. */
	snprintf(type, sizeof(type), "%s/cgroup.type", root);
	if (!access(type, F_OK))
		return snprintf(why, len, "--cgroup-root %s is a cgroup inside the hierarchy, not its root: name the "
			       "directory the whole cgroup2 hierarchy is mounted at", root), -EINVAL;
	return 0;
}

static int bpffs_why(int mnt, char *why, size_t len)
{
	const char *bpffs = ps_env_bpffs(), *pins = getenv("PORTSLICE_PIN_DIR");
	char probe[PATH_MAX];
	struct statfs sfs;
	int same;

	if (bpffs) {
		size_t n = strlen(bpffs);

		if (statfs(bpffs, &sfs) || sfs.f_type != BPF_FS_MAGIC)
			return snprintf(why, len, "--bpffs %s is not a bpf file system: name the directory where the "
				       "host's bpffs is mounted in this namespace", bpffs), -EINVAL;
		if (pins && *pins && (strncmp(pins, bpffs, n) || (pins[n] != '/' && bpffs[n - 1] != '/')))
			return snprintf(why, len, "PORTSLICE_PIN_DIR %s is not inside --bpffs %s: unset it (the pins "
				       "then live in %s/portslice) or name a directory inside it", pins, bpffs,
				       bpffs), -EINVAL;
		return 0;
	}
	if (mnt == 1)
		return 0;
	existing_ancestor(ps_pin_dir(), probe, sizeof(probe));
	if (statfs(probe, &sfs) || sfs.f_type != BPF_FS_MAGIC)
		return snprintf(why, len, "%s, and it has no bpf file system at %s, so portslice cannot see what is "
			       "attached (nor pin anything that would last): %s", mnt_ns_words(mnt), probe, VIEW_FIX),
		       -ENOTSUP;
	same = same_as_host(probe);
	if (same < 0 && mount_is_slave(probe))
		return 0;
	if (same != 1)
		return snprintf(why, len, "%s, and the bpf file system at %s %s: %s", mnt_ns_words(mnt), probe,
			       same ? "cannot be checked against the host's" :
				      "is not the host's (pins made there vanish with this namespace)",
			       VIEW_FIX), -ENOTSUP;
	return 0;
}

static int cgroup_why(int mnt, char *why, size_t len)
{
	const char *root = ps_env_cgroup_root();
	char line[4096], dev[256], dir[PATH_MAX], type[64];
	bool found = false;
	int same;
	FILE *f;

	if (root)
		return cgroup_root_why(root, why, len);
	if (mnt == 1 && ps_ns_initial("cgroup") == 1)
		return 0;
	f = fopen("/proc/self/mounts", "r");
	while (f && !found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%255s %4095s %63s", dev, dir, type) == 3 && !strcmp(type, "cgroup2");
	if (f)
		fclose(f);
	if (!found)
		return snprintf(why, len, "%s, and it has no cgroup2 mount: %s",
			       mnt == 1 ? "this cgroup namespace is not the host's" : mnt_ns_words(mnt), VIEW_FIX),
		       -ENOTSUP;
	same = same_as_host(dir);
	if (same < 0 && mount_is_slave(dir))
		return 0;
	if (same != 1)
		return snprintf(why, len, "%s, and the cgroup2 mount at %s %s: %s",
			       mnt == 1 ? "this cgroup namespace is not the host's" : mnt_ns_words(mnt), dir,
			       same ? "cannot be checked against the host's" : "is not the host's whole hierarchy",
			       VIEW_FIX), -ENOTSUP;
	return 0;
}

int ps_env_host_view_why(bool cgroups, char *why, size_t len)
{
	int mnt = ps_ns_initial("mnt"), err;

	err = bpffs_why(mnt, why, len);
	if (!err && cgroups)
		err = cgroup_why(mnt, why, len);
	return err;
}

int ps_env_require_host(bool cgroups, struct ps_error *error)
{
	return ps_env_require_root(error) ?: ps_env_host_view(cgroups, error);
}

int ps_env_host_view(bool cgroups, struct ps_error *error)
{
	char why[1536];
	int err = ps_env_host_view_why(cgroups, why, sizeof(why));

	return err ? ps_fail(error, err, "%s", why) : 0;
}

int ps_env_require_bpffs(const char *dir, struct ps_error *error)
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
		return ps_fail(error, ENOTSUP, "%s is not on a bpf file system: mount one there (mount -t bpf bpf DIR) or unset PORTSLICE_PIN_DIR", dir);
	if (ps_env_bpffs() || ps_ns_initial("mnt") != 1)
		return ps_fail(error, ENOTSUP, "bpffs is not mounted at %s in this mount namespace (ip netns exec hides it): "
			      "pins made here would vanish with it; run under 'nsenter --net=/run/netns/NAME' instead",
			      BPFFS_DEFAULT);
	if (mount("bpf", BPFFS_DEFAULT, "bpf", 0, "mode=0700"))
		return ps_fail(error, errno, "bpffs is not mounted at %s and mounting it failed (%s): run 'mount -t bpf bpf %s'",
			      BPFFS_DEFAULT, strerror(errno), BPFFS_DEFAULT);
	pr_info("mounted the bpf file system at %s", BPFFS_DEFAULT);
	return 0;
}

int ps_env_cgroup2_mount(char *buf, size_t len, struct ps_error *error)
{
	char line[4096], dev[256], mnt[PATH_MAX], type[64];
	FILE *f;
	int found = 0;

	if (ps_env_cgroup_root()) {
		snprintf(buf, len, "%s", ps_env_cgroup_root());
		return 0;
	}
	f = fopen("/proc/self/mounts", "r");
	if (!f)
		return ps_fail(error, errno, "cannot read /proc/self/mounts: %s", strerror(errno));
	while (!found && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%255s %4095s %63s", dev, mnt, type) == 3 && !strcmp(type, "cgroup2")) {
			snprintf(buf, len, "%s", mnt);
			found = 1;
		}
	}
	fclose(f);
	if (!found)
		return ps_fail(error, ENOENT, "no cgroup v2 hierarchy is mounted: mount one (mount -t cgroup2 none /sys/fs/cgroup) or boot with systemd.unified_cgroup_hierarchy=1");
	return 0;
}

int ps_cgroup_open(const char *dir, struct ps_cgroup *cg, struct ps_error *error)
{
	char mnt[PATH_MAX];
	struct statfs sfs;
	struct stat st;
	size_t mlen;
	int err;

	cg->fd = -1;
	if (!realpath(dir, cg->path))
		return ps_fail(error, errno, "cgroup %s: %s", dir, strerror(errno));
	if (statfs(cg->path, &sfs) || sfs.f_type != CGROUP2_SUPER_MAGIC) {
		err = ps_env_cgroup2_mount(mnt, sizeof(mnt), error);
		if (err)
			return err;
		return ps_fail(error, EINVAL, "%s is not a cgroup v2 directory: name one under %s", dir, mnt);
	}
	err = ps_env_cgroup2_mount(mnt, sizeof(mnt), error);
	if (err)
		return err;
	mlen = strlen(mnt);
	if (!strcmp(cg->path, mnt))
		return ps_fail(error, EINVAL, "refusing the root cgroup %s: it holds every process of the host; name a child cgroup", mnt);
	if (strncmp(cg->path, mnt, mlen) || cg->path[mlen] != '/')
		return ps_fail(error, EINVAL, "%s is outside the cgroup v2 mount %s", cg->path, mnt);
	snprintf(cg->rel, sizeof(cg->rel), "%s", cg->path + mlen);
	if (stat(cg->path, &st))
		return ps_fail(error, errno, "cgroup %s: %s", cg->path, strerror(errno));
	cg->id = st.st_ino;
	cg->fd = open(cg->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg->fd < 0)
		return ps_fail(error, errno, "cgroup %s: %s", cg->path, strerror(errno));
	return 0;
}

void ps_cgroup_close(struct ps_cgroup *cg)
{
	if (cg->fd >= 0)
		close(cg->fd);
	cg->fd = -1;
}

bool ps_env_addr_configured(const struct ifaddrs *ifs, int family, const uint8_t *addr, char *ifname, size_t len)
{
	for (const struct ifaddrs *i = ifs; i; i = i->ifa_next) {
		const void *a;

		if (!i->ifa_addr || i->ifa_addr->sa_family != family)
			continue;
		if (family == AF_INET)
			a = &((const struct sockaddr_in *)i->ifa_addr)->sin_addr;
		else
			a = &((const struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
		if (!memcmp(a, addr, family == AF_INET ? 4 : 16)) {
			snprintf(ifname, len, "%s", i->ifa_name);
			return true;
		}
	}
	return false;
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
