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
 * uniqueness guarantee), deleted by sock_release. Not preallocated: a full
 * preallocation would pin ~100 MiB for a map that is mostly empty.
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
 * Per (pool slot, port) word: connect claims in the low bits, bind holds in
 * the high bits (see PS_PORT_BIND_SHIFT). Updated atomically by connect,
 * bind and sock_release.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PS_MAX_POOLS * PS_PORTS_PER_POOL);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ps_port_users SEC(".maps");

/* Per-socket record of what it holds. Written by connect/bind, read by release. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ps_sock_state);
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
