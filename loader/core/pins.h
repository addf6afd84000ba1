/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * portslice's state on a host lives in bpffs only:
 *
 *   <pin dir>/maps/<map>              maps shared by every attachment
 *   <pin dir>/cgroups/<cgroup id>/<program>   bpf_links of one cgroup
 *   <pin dir>/maps/ps_steer_<map>     maps of reply steering (loader/steer.c)
 *   <pin dir>/steer/<interface>       XDP bpf_link of one interface
 *
 * The socket side and steering come and go independently: the last cgroup
 * detached removes the socket side's pins only, the last interface the
 * steering pins only; the pin dir goes when nothing is left in it.
 *
 * The pin dir is /sys/fs/bpf/portslice unless PORTSLICE_PIN_DIR names
 * another directory on a bpf file system. Every command that changes state
 * holds an exclusive lock on a file beside it (bpffs holds no plain files).
 */
#ifndef PS_STATE_H
#define PS_STATE_H

#include "core/error.h"

#include <limits.h>
#include <stdbool.h>

#include "portslice.h"

#define PS_PIN_DIR_DEFAULT "/sys/fs/bpf/portslice"
#define PS_LOCK_FILE_DEFAULT "/run/portslice.lock"

struct ps_sock;

/* Fds of the pinned shared maps, -1 where not open. */
struct ps_maps {
	int pools;
	int pool_addrs;
	int dst4;
	int dst6;
	int tuples;
	int port_users;
	int sk_state;
	int stats;
	int attachments;
	int meta;
	int live;
};

#define PS_MAPS_NONE { -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1 }

const char *ps_pin_dir(void);
/* "<pin dir>/<sub>" into buf. */
int ps_pin_path(char *buf, size_t len, const char *sub);
bool ps_state_exists(void);

/* Serialises state changes across concurrent portslice runs. Returns an fd. */
int ps_state_lock(struct ps_error *error);
void ps_state_unlock(int fd);

/* Opens the pinned maps (all, or fails). Checks the layout version. */
int ps_maps_open(struct ps_maps *maps, struct ps_error *error);
void ps_maps_close(struct ps_maps *maps);
/* Refuses pins of another layout version; 0 when there are no pins. */
int ps_state_check_layout(struct ps_error *error);
/*
 * The refusal of pins (@what: "pins", "steering pins") of layout @have by a
 * portslice that reads @want, with the exact steps to move over: @detach
 * (the command that removes them), what @meanwhile goes without, and how to
 * @reattach. Returns -EPROTO. The README's "Upgrading" quotes it.
 */
int ps_layout_refused(const char *what, unsigned int have, unsigned int want, const char *detach,
		      const char *meanwhile, const char *reattach, struct ps_error *error);

/*
 * Opens the BPF object with its maps pinned under <pin dir>/maps (reused
 * when present), with this attachment's pools set in .rodata, and loads it.
 */
int ps_skel_load(struct ps_sock **skel, const struct ps_attachment *att, __u64 cgroup_id, struct ps_error *error);

/* The skeleton's map fds, borrowed (do not ps_maps_close() them). */
void ps_maps_from_skel(struct ps_sock *skel, struct ps_maps *maps);

/*
 * Unpins @path; a link is detached first, at once: the kernel detaches a
 * link whose last reference is gone from a work queue, a moment later, and
 * after "detach" the next socket must not be touched.
 */
int ps_unpin(const char *path);

/* Removes every pin and the pin dir: nothing of portslice stays (steering included). */
int ps_state_remove_all(struct ps_error *error);

/* Maps of steering are named with this prefix; links live in PS_STEER_DIR. */
#define PS_STEER_MAP_PREFIX "ps_steer_"
#define PS_STEER_DIR "steer"

/*
 * Removes the socket side's pins (cgroup links, every map but steering's),
 * or steering's (interface links, ps_steer_* maps); then the pin dir if
 * nothing else is left in it.
 */
int ps_state_remove_sock(struct ps_error *error);
int ps_state_remove_steer(struct ps_error *error);

#endif
