/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The steering program (bpf/steer.bpf.c) as the loader loads it: its
 * settings (struct ps_steer__rodata of steer.skel.h: this host's id, the
 * mode, this host's underlay address) and its build id are in its .rodata.
 */
#ifndef PS_STEER_PROG_H
#define PS_STEER_PROG_H

#include <stdbool.h>
#include <linux/types.h>

#include "core/build.h"
#include "core/config.h"
#include "core/error.h"

struct ps_steer;
struct ps_steer__rodata;

/* The settings for host @self, id @self_id, of @cfg. */
void ps_steer_prog_want(const struct ps_config *cfg, const struct ps_host_cfg *self, __u32 self_id,
			struct ps_steer__rodata *want);

/* Loads a new program with @want (the maps pinned under <pin dir>/maps are reused). */
int ps_steer_prog_load(struct ps_steer **out, const struct ps_steer__rodata *want, struct ps_error *error);

/* What a loaded program @prog_fd was given: 0, or a negative errno (another build's cannot be read). */
int ps_steer_prog_settings(int prog_fd, struct ps_steer__rodata *out);

/*
 * Is the loaded program @prog_fd the one @want describes: the same settings
 * and this binary's build? If its build differs, @other (when still empty)
 * gets its build id.
 */
bool ps_steer_prog_is(int prog_fd, const struct ps_steer__rodata *want, char other[PS_BUILD_ID_LEN]);

/* The id of the loaded program @prog_fd, 0 when it cannot be read. */
__u32 ps_steer_prog_id(int prog_fd);

/* Warns about settings of @cfg that leave some replies undeliverable from @self. */
void ps_steer_warn_config(const struct ps_config *cfg, const struct ps_host_cfg *self);

#endif
