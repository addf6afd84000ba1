/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Reply steering from user space (loader/steer.c): the `steer` command, and
 * the steering section of `status`.
 *
 * Pins, beside the socket side's (see state.h):
 *
 *   <pin dir>/maps/ps_steer_{pools,owner,hosts,stats,fwd}   the XDP program's maps
 *   <pin dir>/maps/ps_steer_meta    layout stamp (struct ps_meta, PS_STEER_LAYOUT_VERSION)
 *   <pin dir>/maps/ps_steer_names   host id -> host name, for status
 *   <pin dir>/steer/<interface>     the XDP bpf_link of one interface ('.' written '%')
 *
 * Every interface runs the same loaded program; its settings (this host's
 * id, the mode, this host's underlay address) are in its .rodata. Attaching
 * again rewrites the maps only, unless those settings changed: then a new
 * program replaces the old one in every link (bpf_link_update), the links
 * stay.
 */
#ifndef PS_STEERING_H
#define PS_STEERING_H

#include <json-c/json.h>

/* Loader-made maps (not in the BPF object): see above. */
#define PS_STEER_META_MAP "ps_steer_meta"
#define PS_STEER_NAMES_MAP "ps_steer_names"

/*
 * The steering section of `status --json`: {"attached", "interfaces",
 * "counters", "forwarded_to"}. Never fails: what cannot be read is left out.
 */
json_object *ps_steer_status_json(void);
/* The same as text, for `status`. */
void ps_steer_status_print(json_object *steering);

#endif
