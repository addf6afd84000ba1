/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What the host must offer before anything is loaded, checked with clear advice. */
#ifndef PS_ENV_H
#define PS_ENV_H

#include "core/error.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

struct ps_cgroup {
	char path[PATH_MAX];   /* absolute, resolved */
	char rel[PATH_MAX];    /* relative to the cgroup2 mount, starting with '/' */
	uint64_t id;           /* cgroup id (the directory's inode on cgroup2) */
	int fd;                /* O_RDONLY directory fd, -1 once closed */
};

int ps_env_require_root(struct ps_error *error);
/* Root, and ps_env_host_view(): what every command that reads or changes the pins needs first. */
int ps_env_require_host(bool cgroups, struct ps_error *error);

/*
 * The host's mounts as this process sees them, named by the user (--bpffs,
 * --cgroup-root or PORTSLICE_BPFFS, PORTSLICE_CGROUP_ROOT): needed where
 * the mount namespace is not the host's (a container, 'ip netns exec',
 * 'unshare -m') and cannot be shown to see the host's mounts. NULL: none.
 */
void ps_env_set_bpffs(const char *dir);
void ps_env_set_cgroup_root(const char *dir);
const char *ps_env_bpffs(void);
const char *ps_env_cgroup_root(void);

/* Is this process in the host's (initial) namespace of @type ("mnt", "net", "cgroup")? 1 yes, 0 no, -1 unknown. */
int ps_ns_initial(const char *type);

/*
 * Refuses to go on (with what to do instead) unless the bpf file system of
 * the pins, and with @cgroups the cgroup2 hierarchy, are the host's: in the
 * host's mount namespace, the same mounts as the host's (checked against a
 * kernel thread's view), or named explicitly. What this process sees is
 * otherwise no answer: under 'ip netns exec' /sys is another mount, with
 * neither, and "nothing is attached" would be false.
 */
int ps_env_host_view(bool cgroups, struct ps_error *error);
/* The same verdict without recording an error: 0, or why not in @why. */
int ps_env_host_view_why(bool cgroups, char *why, size_t len);
int ps_env_require_btf(struct ps_error *error);
/* Makes sure @dir lies on a bpf file system, mounting /sys/fs/bpf if needed. */
int ps_env_require_bpffs(const char *dir, struct ps_error *error);
int ps_env_cgroup2_mount(char *buf, size_t len, struct ps_error *error);
/* Opens a cgroup v2 directory that is not the root of the hierarchy. */
int ps_cgroup_open(const char *dir, struct ps_cgroup *cg, struct ps_error *error);
void ps_cgroup_close(struct ps_cgroup *cg);
int ps_env_local_port_range(struct ps_port_range *range);

struct ifaddrs;
/* Is @addr configured on an interface of @ifs (getifaddrs())? Its name into @ifname. */
bool ps_env_addr_configured(const struct ifaddrs *ifs, int family, const uint8_t *addr, char *ifname, size_t len);

#endif
