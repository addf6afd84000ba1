/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Constants the BPF side needs that vmlinux.h does not carry (they are macros). */
#ifndef PS_BPF_COMMON_H
#define PS_BPF_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "portslice.h"

#define AF_INET 2
#define AF_INET6 10

#define SOL_SOCKET 1
#define LOOPBACK_IFINDEX 1
#define SO_REUSEADDR 2

#define EPERM 1
#define E2BIG 7
#define ENOMEM 12
#define EEXIST 17
#define EADDRINUSE 98
#define EADDRNOTAVAIL 99

/*
 * The build id of this object (PS_BUILD_ID_LEN in portslice.h), written by
 * the loader before load; "bpf_metadata_" makes bpftool show it.
 */
const volatile char bpf_metadata_build_id[PS_BUILD_ID_LEN] = "";

/*
 * Every entry point starts with this. Empty, except in an object built with
 * BPF_EXTRA_CFLAGS=-DPS_BUILD_VARIANT=N: there one more instruction (r0 = N,
 * dead) gives every program other instructions, hence another tag and build
 * id, and changes nothing it does. The upgrade tests build such a "next
 * build" from the same source.
 */
#ifdef PS_BUILD_VARIANT
#define PS_STR_(x) #x
#define PS_STR(x) PS_STR_(x)
#define ps_build_variant() asm volatile("r0 = " PS_STR(PS_BUILD_VARIANT) ::: "r0")
#else
#define ps_build_variant() do { } while (0)
#endif

/* Verdicts of cgroup sock_addr and sock programs. */
#define SYS_REJECT 0
#define SYS_PROCEED 1

/* clang emits no inline memcmp for BPF; these compare fixed-size words. */
static __always_inline bool ps_addr_eq(const __u32 a[4], const __u32 b[4])
{
	return ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3])) == 0;
}

static __always_inline bool ps_addr_zero(const __u32 a[4])
{
	return (a[0] | a[1] | a[2] | a[3]) == 0;
}

#endif
