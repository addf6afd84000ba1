/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Attached cgroups: their pinned links and their ps_attachments entries. */
#ifndef PS_SOCK_LINKS_H
#define PS_SOCK_LINKS_H

#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>

#include "core/build.h"
#include "core/env.h"
#include "portslice.h"
#include "core/pins.h"
#include "sock/maps.h"

int ps_attachment_dir(__u64 cgroup_id, char *buf, size_t len);
int ps_attachments_mkdir(void);
/*
 * Programs that only give back (sock_release, sock_ops): they go onto a
 * cgroup before the placement programs, and a draining attachment keeps them.
 */
bool ps_prog_gives_back(const char *prog);
bool ps_attachment_exists(__u64 cgroup_id);
/*
 * True when anything is attached: a cgroup, or an interface with steering
 * (so that removing "everything" once the last cgroup goes never takes
 * steering with it).
 */
bool ps_attachments_any(void);
/* True when any cgroup has pinned links. */
bool ps_cgroups_any(void);
/* True when any interface has a pinned steering link. */
bool ps_steer_links_any(void);
/* Programs one attachment can have (one per hook). */
#define PS_ATTACHMENT_MAX_PROGS 16

/*
 * The programs the cgroup's pinned links run, sorted by name, at most @max.
 * Returns how many (0: no pins), or a negative errno.
 */
int ps_attachment_progs(__u64 cgroup_id, struct ps_prog_build *out, size_t max);
/*
 * True when every pinned link of the cgroup runs this binary's build of the
 * socket programs. Otherwise @other (may be NULL) gets the build id of the
 * first that does not ("none": a program without one).
 */
bool ps_attachment_build_current(__u64 cgroup_id, char other[PS_BUILD_ID_LEN]);
int ps_attachment_read(int attachments_fd, __u64 cgroup_id, struct ps_attachment *att);
int ps_attachment_write(int attachments_fd, __u64 cgroup_id, const struct ps_attachment *att, struct ps_error *error);
/* Refuses a cgroup inside an attached one, or holding one. */
int ps_attachment_check_nesting(const struct ps_cgroup *cg, struct ps_error *error);
/* Unpins a cgroup's links (detaching them) and drops its entry and socket count. */
int ps_attachment_remove(__u64 cgroup_id, const struct ps_maps *maps, struct ps_error *error);
/*
 * Attaches every program of @skel to the cgroup and pins the links under
 * its directory, all or nothing.
 */
int ps_attachment_pin_links(struct ps_sock *skel, const struct ps_cgroup *cg, struct ps_error *error);
/*
 * Swaps the programs of an existing attachment for @skel's, in place
 * (bpf_link_update): no socket is ever placed without its release program.
 * A draining attachment lost its placement links at detach; those are
 * attached anew, and links of programs @skel does not have are unpinned.
 */
int ps_attachment_update_links(struct ps_sock *skel, const struct ps_cgroup *cg, struct ps_error *error);
/* Unpins every link under @dir except the programs @keep names (NULL: none). */
int ps_attachment_unpin(const char *dir, bool (*keep)(const char *prog));
/* Unpins every link under @dir and removes it. */
void ps_attachment_remove_dir(const char *dir);

/* Calls @cb for every attachment entry; stops at a non-zero return. */
int ps_attachments_for_each(int attachments_fd,
			    int (*cb)(__u64 cgroup_id, const struct ps_attachment *att, void *arg), void *arg);

#endif
