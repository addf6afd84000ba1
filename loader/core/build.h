/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Build ids (see PS_BUILD_ID_LEN in portslice.h): this binary's own, one per
 * BPF object, compiled in; and those of the programs running in the kernel,
 * read back from the bpf_metadata_build_id variable of their .rodata. A
 * program whose build id is not this binary's is replaced in place by
 * attach, steer attach and the agent (README, "Upgrading").
 */
#ifndef PS_BUILD_H
#define PS_BUILD_H

#include <stdbool.h>
#include <linux/types.h>
#include <bpf/bpf.h>
#include <json-c/json.h>

#include "portslice.h"

/* This binary's build ids of the socket programs and of the steering program. */
extern const char ps_build_id_sock[PS_BUILD_ID_LEN];
extern const char ps_build_id_steer[PS_BUILD_ID_LEN];

/* A loaded program as an upgrade compares it and status shows it. */
struct ps_prog_build {
	__u32 link_id;                  /* the link that runs it, when read through one */
	__u32 prog_id;
	char name[16];                  /* the program's name (BPF_OBJ_NAME_LEN) */
	char tag[17];                   /* the kernel's tag: a hash of its instructions, in hex */
	char build_id[PS_BUILD_ID_LEN]; /* "": it carries none (loaded by a portslice without build ids) */
};

/*
 * An fd of the .rodata map of the loaded program @prog_fd (its info in @mi),
 * or -ENOENT when it has none, or another negative errno.
 */
int ps_prog_rodata_fd(int prog_fd, struct bpf_map_info *mi);

/* Reads what the program @prog_fd runs. 0 or a negative errno. */
int ps_prog_build_read(int prog_fd, struct ps_prog_build *out);

/* The same for the program the link pinned at @pin runs (link_id too). */
int ps_link_build_read(const char *pin, struct ps_prog_build *out);

/* "build_id", "tag", "prog_id", "build_current" (against @want) of @p, added to @o. */
void ps_prog_build_json(json_object *o, const struct ps_prog_build *p, const char *want);

/* The build id to print for @p: its own, or "none" when it has none. */
const char *ps_build_id_str(const struct ps_prog_build *p);

#endif
