/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A pool's block table (struct ps_blocks, include/portslice.h): which
 * blocks of ports this host holds in the pool, and which it is draining.
 */
#ifndef PS_SOCK_BLOCKS_H
#define PS_SOCK_BLOCKS_H

#include "core/config.h"
#include "core/error.h"
#include "sock/maps.h"

/*
 * Writes @slice's blocks as @slot's table, with map updates only (the
 * programs are not reloaded): the idle buffer whole, then the generation
 * that puts it in force. A block of the table in force that @slice no
 * longer lists stays as draining while ports of it have users (claims or
 * binds, either protocol), and goes once none has. @hull gets the first and
 * last port of every block written (held and draining).
 */
int ps_blocks_install(const struct ps_maps *maps, __u32 slot, const char *pool,
		      const struct ps_slice_cfg *slice, struct ps_port_range *hull, struct ps_error *error);

/* The table in force for @slot; 0, or a negative errno. */
int ps_blocks_read(const struct ps_maps *maps, __u32 slot, struct ps_blocks *b);

struct json_object;

/*
 * For status: @slot's blocks as [{first, last, draining}] in *@json (new),
 * and in *@size the ports of its held blocks. 0, or a negative errno.
 */
int ps_blocks_status(const struct ps_maps *maps, __u32 slot, __u32 *size, struct json_object **json);

#endif
