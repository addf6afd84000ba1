/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * portslice's state on a host lives in bpffs only, and this is the one
 * place that knows its paths:
 *
 *   <pin dir>/maps/<map>                     maps of the socket side (sock/maps.h)
 *   <pin dir>/maps/ps_steer_<map>            maps of reply steering (steer/maps.h)
 *   <pin dir>/cgroups/<cgroup id>/<program>  bpf_links of one cgroup (sock/links.h)
 *   <pin dir>/steer/<interface>              XDP bpf_link of one interface (steer/links.h)
 *
 * Each side stamps its layout version in a ps_meta map of its own and
 * refuses pins of another (struct ps_layout). The two sides come and go
 * independently: the last cgroup detached removes the socket side's pins
 * only, the last interface steering's only; the pin dir goes when nothing
 * is left in it.
 *
 * The pin dir is /sys/fs/bpf/portslice unless PORTSLICE_PIN_DIR names
 * another directory on a bpf file system (or --bpffs names the host's
 * bpffs). Every command that changes state holds an exclusive lock on a
 * file beside it (bpffs holds no plain files).
 */
#ifndef PS_CORE_PINS_H
#define PS_CORE_PINS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <bpf/bpf.h>

#include "core/error.h"

#define PS_PIN_DIR_DEFAULT "/sys/fs/bpf/portslice"
#define PS_LOCK_FILE_DEFAULT "/run/portslice.lock"

/* Below the pin dir. */
#define PS_PINS_MAPS "maps"
#define PS_PINS_CGROUPS "cgroups"
#define PS_PINS_STEER "steer"
/* Maps of steering are named with this prefix. */
#define PS_STEER_MAP_PREFIX "ps_steer_"

const char *ps_pin_dir(void);
/* "<pin dir>/" followed by @fmt's result into @buf: 0 or -ENAMETOOLONG. */
int ps_pin_path(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Creates the pin dir and its maps/ directory; the latter's path into @buf. */
int ps_pin_maps_dir(char *buf, size_t len, struct ps_error *error);
/* True when the socket side has pins (its ps_meta). */
bool ps_state_exists(void);
/* True when <pin dir>/@sub holds a pin or directory whose name does not start with @tmp. */
bool ps_pins_any(const char *sub, const char *tmp);

/* maps/@name: an fd, or a negative errno (-ENOENT: not pinned). */
int ps_pin_map_open(const char *name);
/* Every map of @names into @fds[0..n), all or none: the failure in @error. */
int ps_pin_maps_open(const char *const *names, int *fds, size_t n, struct ps_error *error);
/* Closes the fds that are open (>= 0) and sets them to -1. */
void ps_pin_fds_close(int *fds, size_t n);
/* maps/@name, created and pinned first when it is not there (the loader's own maps). */
int ps_pin_map_open_or_create(const char *name, enum bpf_map_type type, __u32 value_size, __u32 max_entries);

/* One side's pins: where its layout version is stamped and how to move over from another. */
struct ps_layout {
	const char *what;        /* "pins", "steering pins" */
	const char *meta_map;    /* its struct ps_meta map under maps/ */
	unsigned int version;    /* the version this binary reads and writes */
	const char *detach;      /* the command that removes them */
	const char *meanwhile;   /* what goes without while they are away */
	const char *reattach;    /* how to bring them back */
};
extern const struct ps_layout ps_sock_layout, ps_steer_layout;

/* Refuses @l's pins when they are of another layout version; 0 when there are none. */
int ps_layout_check(const struct ps_layout *l, struct ps_error *error);
/* The same, from its meta map open in @meta_fd. */
int ps_layout_check_fd(const struct ps_layout *l, int meta_fd, struct ps_error *error);
/* Writes this binary's layout version into @meta_fd. */
int ps_layout_stamp(const struct ps_layout *l, int meta_fd, struct ps_error *error);

/* Serialises state changes across concurrent portslice runs. Returns an fd. */
int ps_state_lock(struct ps_error *error);
void ps_state_unlock(int fd);

/*
 * Unpins @path; a link is detached first, at once: the kernel detaches a
 * link whose last reference is gone from a work queue, a moment later, and
 * after "detach" the next socket must not be touched.
 */
int ps_unpin(const char *path);
/* Unpins everything below @path and removes it (bpffs holds pins and directories only). */
int ps_unpin_tree(const char *path);

/* Removes every pin and the pin dir: nothing of portslice stays (steering included). */
int ps_state_remove_all(struct ps_error *error);
/*
 * Removes the socket side's pins (cgroup links, every map but steering's),
 * or steering's (interface links, ps_steer_* maps); then the pin dir if
 * nothing else is left in it.
 */
int ps_state_remove_sock(struct ps_error *error);
int ps_state_remove_steer(struct ps_error *error);

#endif
