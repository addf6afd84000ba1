/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Maps shared by every attachment. They are pinned by name under
 * <pin dir>/maps, so all cgroups attached on a host see one set of claims
 * and one set of pools; only the per-attachment pool mask lives in .rodata.
 */
#ifndef PS_BPF_MAPS_H
#define PS_BPF_MAPS_H

#include "common.h"

/* This host's view of every pool, by slot. Written by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PS_MAX_POOLS);
	__type(key, __u32);
	__type(value, struct ps_pool);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_pools SEC(".maps");

/*
 * Per pool slot, two block tables (index slot * 2 + buffer) and the
 * generation that names the one in force (struct ps_blocks). Written by the
 * loader: the idle buffer first, then the generation.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PS_MAX_POOLS * 2);
	__type(key, __u32);
	__type(value, struct ps_blocks);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_blocks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PS_MAX_POOLS);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_blocks_gen SEC(".maps");

/* The host's etcd lease and its fencing deadline (struct ps_lease_state). Written by the agent's leasing task. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ps_lease_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_lease SEC(".maps");

/* Pool address -> pool slot, for bind and sendmsg. Written by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PS_MAX_POOLS);
	__type(key, struct ps_addr_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_pool_addrs SEC(".maps");

/* (pool slot, IPv4 destination prefix) -> 1. Written by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, PS_MAX_DST_PREFIXES);
	__type(key, struct ps_dst4_key);
	__type(value, __u8);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_dst4 SEC(".maps");

/* (pool slot, IPv6 destination prefix) -> 1. Written by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, PS_MAX_DST_PREFIXES);
	__type(key, struct ps_dst6_key);
	__type(value, __u8);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_dst6 SEC(".maps");

/*
 * Claimed 4-tuples -> owning socket. Inserted by connect (BPF_NOEXIST is the
 * uniqueness guarantee), deleted by sock_release or, failing that, at TCP's
 * CLOSE (sock_ops). Not preallocated: a full preallocation would pin
 * ~100 MiB for a map that is mostly empty.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PS_MAX_TUPLES);
	__type(key, struct ps_tuple);
	__type(value, struct ps_claim);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_tuples SEC(".maps");

/*
 * Per (pool slot, protocol, port) word (PS_PORT_USERS_INDEX): connect
 * claims in the low bits, bind holds in the high bits (see
 * PS_PORT_BIND_SHIFT). Updated atomically by connect, bind and the release
 * programs.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PS_MAX_POOLS * 2 * PS_PORTS_PER_POOL);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_port_users SEC(".maps");

/*
 * Per (pool slot, protocol) (PS_STATS_INDEX): how many of its port words
 * are not zero (ports with a connect share or a bind hold). A hint for the
 * search, which skips its pass over unused ports when there are none. Kept
 * by whoever moves a word between zero and not zero: connect, bind and the
 * release programs.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PS_STATS_ENTRIES);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_ports_busy SEC(".maps");

/*
 * Per (pool slot, TCP port): until when the kernel may still hold the port in
 * TIME_WAIT, in units of 2^PS_TW_STAMP_SHIFT ns of bpf_ktime_get_ns().
 * Written when a TCP socket that closed first reaches CLOSE; read by
 * bind(pool, 0), which must not hand out a port the kernel would refuse.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PS_MAX_POOLS * PS_PORTS_PER_POOL);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_port_tw SEC(".maps");

/*
 * Per (pool slot, port): when a socket last gave the port back, in units of
 * 2^PS_FREED_STAMP_SHIFT ns of bpf_ktime_get_ns(), 0 if never. Written by the
 * release programs, which run before the kernel drops the socket from its
 * bind table; read by bind(pool, 0), which takes such a port only when no
 * port that settled longer is free, rather than have the kernel refuse it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PS_MAX_POOLS * PS_PORTS_PER_POOL);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_port_freed SEC(".maps");

/*
 * Tuples that ended -> bpf_ktime_get_ns() until which they are not handed
 * out again (the pool's reuse_delay; 60 s for a device-bound TCP socket's
 * TIME_WAIT, which the kernel's lookups cannot see). Written at release,
 * read and expired by connect. LRU: the oldest entries, long expired, make
 * room, so the map never fills up.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PS_MAX_QUARANTINE);
	__type(key, struct ps_tuple);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_quarantine SEC(".maps");

/* 1 once any tuple was quarantined. Written at release, read by connect. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_quarantine_used SEC(".maps");

/*
 * Attached cgroup id -> sockets that hold something through its programs.
 * Entries are made by the loader at attach; counted by the programs. A
 * detached cgroup keeps its release programs until its count is 0.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PS_MAX_ATTACHMENTS);
	__type(key, __u64);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_live SEC(".maps");

/*
 * Socket cookie -> what the socket holds, for sockets that hold something.
 * Written by connect/bind, read by release and sock_ops, deleted when the
 * socket gave everything back. A hash, not socket-local storage: creating
 * storage costs a memory-charged allocation per socket, about a third of
 * connect()'s whole program, where a hash insert takes its element from a
 * per-CPU cache.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PS_MAX_TUPLES);
	__type(key, __u64);
	__type(value, struct ps_sock_state);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_sk_state SEC(".maps");

/* Counters per (pool slot, protocol). Written by every program. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PS_STATS_ENTRIES);
	__type(key, __u32);
	__type(value, struct ps_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_stats SEC(".maps");

/* Attached cgroup id -> what it asked for. Written and read by the loader only. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PS_MAX_ATTACHMENTS);
	__type(key, __u64);
	__type(value, struct ps_attachment);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_attachments SEC(".maps");

/* Layout version of the pins above. Written by the loader that created them. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ps_meta);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_meta SEC(".maps");

#endif
