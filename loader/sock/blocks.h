/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A pool's block table (struct ps_blocks, include/portslice.h): which
 * blocks of ports this host holds in the pool, and which it is draining;
 * and the lease of a host with dynamic pools (struct ps_lease_state).
 *
 * Every writer of a table reads the generation, writes the idle buffer
 * whole, then stores the generation + 1 (README "Blocks"): two writers of
 * one slot at once would write the same idle buffer, so writers hold the
 * state lock (ps_state_lock(), as attach and the agent do).
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

/*
 * A dynamic pool at attach (`slices: dynamic`): its table belongs to the
 * agent's leasing task (ps_blocks_install_list()), so a table of @size
 * ports a block is left as it is when the pool was dynamic already
 * (@was_dynamic). Otherwise an empty table of that size is written: no
 * port until blocks are (connect() gets EADDRNOTAVAIL, bind(pool, 0)
 * EADDRINUSE); blocks of the old table that still have users and are of
 * @size stay as draining.
 */
int ps_blocks_install_dynamic(const struct ps_maps *maps, __u32 slot, const char *pool, __u32 size, bool was_dynamic,
			      struct ps_error *error);

/*
 * Writes @slot's table from explicit lists, each block @size ports (a
 * struct ps_port_range, both ends included): @held give new ports,
 * @draining give none but stay the slice's (binds, datagrams and releases
 * on their ports are accepted, their sockets keep working). At most
 * PS_MAX_BLOCKS in all, no two overlapping, every one inside the pool's
 * hull (a dynamic pool's: its ports: range). The same double-buffered
 * write as ps_blocks_install(); nothing is written when the table in force
 * is already this one. Blocks the lists leave out are gone at once: keep a
 * block with users as draining until ps_blocks_users() says 0.
 */
int ps_blocks_install_list(const struct ps_maps *maps, __u32 slot, __u32 size,
			   const struct ps_port_range *held, size_t n_held,
			   const struct ps_port_range *draining, size_t n_draining, struct ps_error *error);

/*
 * How many uses remain on ports @lo..@hi of @slot, into *@users: claims
 * and binds of both protocols (the port words), TCP ports the kernel may
 * still hold in TIME_WAIT (stamps still running), and, when nothing else
 * is left, the tuples still in reuse_delay quarantine (so 0 is exact; the
 * quarantine is walked only then). A draining block is released at 0.
 * 0, or a negative errno.
 */
int ps_blocks_users(const struct ps_maps *maps, __u32 slot, __u32 lo, __u32 hi, __u32 *users);

/* What binds of one protocol have of a block's ports (ps_blocks_bind_use()). */
struct ps_bind_use {
	__u32 bound;      /* held whole by binds: bind(pool, 0) without IP_BIND_ADDRESS_NO_PORT, any UDP bind, a named port */
	__u32 unbindable; /* that bind(pool, 0) cannot take now (bpf/lib/claim.h, ps_port_take()): some socket
			     uses them, or, for TCP, the kernel may still hold them in TIME_WAIT */
};

/*
 * Adds the ports of @lo..@hi of @slot to @u by what binds of @proto have of
 * them, from one read of their port words (and TIME_WAIT stamps). A bound
 * socket needs a port of its own however few sockets go to each
 * destination, and a program that binds a port for each short connection
 * leaves one in TIME_WAIT per connection for a minute. 0, or a negative errno.
 */
int ps_blocks_bind_use(const struct ps_maps *maps, __u32 slot, __u32 proto, __u32 lo, __u32 hi,
		       struct ps_bind_use *u);

/* The table in force for @slot; 0, or a negative errno. */
int ps_blocks_read(const struct ps_maps *maps, __u32 slot, struct ps_blocks *b);

/*
 * Reads @n consecutive entries of the __u32 array @fd from index @first
 * into @words (@keys: room for @n keys): in batches, or one lookup each on
 * kernels without batch lookups of arrays. 0, or a negative errno.
 */
int ps_array_read(int fd, __u32 first, __u32 n, __u32 *keys, __u32 *words);

struct json_object;

/*
 * For status: @slot's blocks as [{first, last, draining}] in *@json (new),
 * and the table in *@b. 0, or a negative errno.
 */
int ps_blocks_status(const struct ps_maps *maps, __u32 slot, struct ps_blocks *b, struct json_object **json);

/* The lease state (ps_lease), written whole. */
int ps_lease_state_write(const struct ps_maps *maps, const struct ps_lease_state *ls, struct ps_error *error);
int ps_lease_state_read(const struct ps_maps *maps, struct ps_lease_state *ls, struct ps_error *error);

/* CLOCK_BOOTTIME in nanoseconds: the lease's clock (bpf_ktime_get_boot_ns()). */
__u64 ps_boottime_ns(void);

/*
 * For status: {"lease_id" (hex, null: none), "ttl_left_ms", "fence_left_ms",
 * "fenced", "etcd_ok"} of @ls at @now_ns (CLOCK_BOOTTIME).
 */
struct json_object *ps_lease_state_json(const struct ps_lease_state *ls, __u64 now_ns);

#endif
