/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Steering's XDP links: what `steer attach`/`steer detach` and the agent call
 * to put steering where the config asks and take it off again.
 *
 * Pins, beside the socket side's (see core/pins.h):
 *
 *   <pin dir>/maps/ps_steer_{pools,owner,hosts,local_macs,peer_macs,gen,stats,fwd}   the XDP program's maps
 *   <pin dir>/maps/ps_steer_meta    layout stamp (struct ps_meta, PS_STEER_LAYOUT_VERSION)
 *   <pin dir>/maps/ps_steer_names   host id -> host name, for status
 *   <pin dir>/steer/<interface>     the XDP bpf_link of one interface ('.' written '%')
 *
 * Every interface runs the same loaded program; its settings (this host's
 * id, the mode, this host's underlay address) and its build id are in its
 * .rodata. Attaching again rewrites the maps only, unless those settings or
 * the build changed: then a new program replaces the old one in every link
 * (bpf_link_update), the links stay.
 */
#ifndef PS_STEER_LINKS_H
#define PS_STEER_LINKS_H

#include <stdbool.h>
#include <stddef.h>
#include <net/if.h>
#include <limits.h>
#include <linux/types.h>

#include "core/config.h"
#include "core/error.h"
#include "portslice.h"

/* Steering links one run lists (interfaces of a host). */
#define PS_MAX_STEER_LINKS 256

/* One interface steering is asked for, and what became of it. */
struct ps_steer_dev {
	char name[PS_IFNAME_LEN];
	__u32 ifindex;            /* 0: no such interface in this network namespace */
	__u32 link_id;            /* its steering link, once attached or adopted */
	const char *result;       /* "attached", "updated", "refreshed"; NULL: not done */
	int err;                  /* PS_STEER_KEEP_GOING: why not (negative errno) ... */
	char error[1024];         /* ... and the message, which says what to do */
	bool created;             /* steer/links.c's: a pin this run made, removed if the run fails */
};

/* Names @d and looks its interface up in the current network namespace. */
void ps_steer_dev_init(struct ps_steer_dev *d, const char *name);

/* Fails with the message for an interface @d names that does not exist. */
int ps_steer_no_such_interface(const struct ps_steer_dev *d, struct ps_error *error);

/* How ps_steer_apply_locked() takes an interface that cannot be attached. */
enum ps_steer_on_failure {
	/* `steer attach`: the run fails and leaves everything as it found it. */
	PS_STEER_ALL_OR_NOTHING,
	/* The agent: the interface's ps_steer_dev says why; the others still apply. */
	PS_STEER_KEEP_GOING,
};

struct ps_steer_applied {
	int slot[PS_MAX_POOLS];   /* the slot of each of the config's pools */
	__u32 prog_id;            /* the program every steering link runs */
	/* The build of a program of another build this run replaced ("none": it had none), else "". */
	char replaced_build[PS_BUILD_ID_LEN];
};

/*
 * Puts steering as @cfg (with hosts: and steering:) asks, for host @self (one
 * of cfg's hosts), on each of @devs, with the state lock held. What is pinned
 * is adopted: an interface's link is never duplicated; when the program's
 * settings (mode, host id, underlay address) are those of the running one,
 * only the maps are rewritten, in place; otherwise a new program replaces the
 * old one inside every steering link, named here or not. An interface whose
 * pinned link is dead (the interface was deleted) gets a new one. @n_devs may
 * be 0: then only the maps and the program of the links there are refreshed.
 *
 * Returns 0 or a negative errno (the message in @error). With
 * PS_STEER_KEEP_GOING an interface that fails is no error of the call: its
 * ps_steer_dev says why. Steering that ends up on no interface leaves no
 * pins behind when it had none before.
 */
int ps_steer_apply_locked(const struct ps_config *cfg, const struct ps_host_cfg *self, struct ps_steer_dev *devs,
			  size_t n_devs, enum ps_steer_on_failure on_failure, struct ps_steer_applied *out, struct ps_error *error);

/* The interfaces with a live pinned steering link, at most @max of them. */
size_t ps_steer_attached_ifnames(char (*names)[PS_IFNAME_LEN], size_t max);

/*
 * True when every live pinned steering link runs this binary's build of the
 * steering program (or there is none): otherwise ps_steer_apply_locked()
 * replaces the program in place.
 */
bool ps_steer_build_current(void);

/* True when each of @devs has a live pinned steering link on its interface. */
bool ps_steer_attached_all(const struct ps_steer_dev *devs, size_t n_devs);

/* Called for each interface ps_steer_detach_locked() takes steering off. */
typedef void (*ps_steer_detached_fn)(const char *ifname, __u32 ifindex, void *arg);

/*
 * Takes steering off interfaces, with the state lock held: with
 * @all_but_named false those named in @names (by name, or by index for an
 * interface renamed since); with it true every one not named (by name; NULL,
 * 0: every one). Only links pinned under <pin dir>/steer/ are touched. When
 * no link is left, steering's maps go too; *maps_removed says whether there
 * were any. Returns 0 or a negative errno (the message in @error).
 */
int ps_steer_detach_locked(const char *const *names, size_t n_names, bool all_but_named,
			   ps_steer_detached_fn on_detached, void *arg, bool *maps_removed, struct ps_error *error);

/* A pinned steering link, as the kernel sees it. */
struct ps_steer_link {
	char ifname[IF_NAMESIZE]; /* from the pin's name */
	char pin[PATH_MAX + 256];
	int fd;
	__u32 link_id, prog_id;
	__u32 ifindex;            /* 0 once the interface is gone */
};

/* Every pinned steering link, sorted by pin name, at most @max. Returns how many, or a negative errno. */
int ps_steer_links_list(struct ps_steer_link *links, size_t max);
void ps_steer_links_close(struct ps_steer_link *links, size_t n);

#endif
