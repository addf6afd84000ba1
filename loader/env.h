/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What the host must offer before anything is loaded, checked with clear advice. */
#ifndef PS_ENV_H
#define PS_ENV_H

#include <limits.h>
#include <stdint.h>

#include "config.h"

struct ps_cgroup {
	char path[PATH_MAX];   /* absolute, resolved */
	char rel[PATH_MAX];    /* relative to the cgroup2 mount, starting with '/' */
	uint64_t id;           /* cgroup id (the directory's inode on cgroup2) */
	int fd;                /* O_RDONLY directory fd, -1 once closed */
};

int ps_env_require_root(void);
int ps_env_require_btf(void);
/* Makes sure @dir lies on a bpf file system, mounting /sys/fs/bpf if needed. */
int ps_env_require_bpffs(const char *dir);
int ps_env_cgroup2_mount(char *buf, size_t len);
/* Opens a cgroup v2 directory that is not the root of the hierarchy. */
int ps_cgroup_open(const char *dir, struct ps_cgroup *cg);
void ps_cgroup_close(struct ps_cgroup *cg);
int ps_env_local_port_range(struct ps_port_range *range);

#endif
