// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Kernel feature probes (see kernel_features.h). Each row loads the smallest
 * program that needs the feature and looks at why the verifier refused it,
 * the way bpftool's `feature probe` does: a helper is present when the
 * verifier gets past the call, whatever it then says about the arguments.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/utsname.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "core/kernel_features.h"
#include "core/log.h"

enum probe_kind {
	PROBE_PROG,        /* the program type / attach type loads */
	PROBE_HELPER,      /* the program type may call the helper */
	PROBE_ATOMICS,     /* BPF_ATOMIC fetch-add and compare-and-swap */
	PROBE_CGROUP_LINK, /* BPF_LINK_CREATE takes cgroup attach types */
	PROBE_XDP_LINK,    /* the kernel has XDP links (struct bpf_xdp_link in its BTF) */
};

struct feature_row {
	struct ps_feature f;
	enum probe_kind kind;
	enum bpf_prog_type type;
	enum bpf_attach_type at;
	enum bpf_func_id fn;
};

#define SOCK PS_PART_SOCKETS
#define STEER PS_PART_STEERING
#define ADDR_PROG BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT
#define SOCK_PROG BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET_SOCK_RELEASE
#define XDP_PROG BPF_PROG_TYPE_XDP, BPF_XDP

/* The README's kernel table. Keep the two in step. */
static const struct feature_row rows[] = {
	{ { "connect_hooks", "placing sockets (cgroup connect4/6, bind4/6)", 4, 17, SOCK }, PROBE_PROG, ADDR_PROG, 0 },
	{ { "bpf_bind", "binding the chosen slice port", 4, 17, SOCK }, PROBE_HELPER, ADDR_PROG, BPF_FUNC_bind },
	{ { "sendmsg_hooks", "unconnected UDP (cgroup sendmsg4/6)", 4, 18, SOCK }, PROBE_PROG,
	  BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_UDP4_SENDMSG, 0 },
	{ { "bpf_skc_lookup_tcp", "seeing TIME_WAIT and foreign sockets", 5, 2, SOCK }, PROBE_HELPER, ADDR_PROG,
	  BPF_FUNC_skc_lookup_tcp },
	{ { "cgroup_links", "pinned attachments (BPF links for cgroups)", 5, 7, SOCK }, PROBE_CGROUP_LINK, ADDR_PROG, 0 },
	{ { "sock_release", "giving claims back (cgroup sock_release hook)", 5, 9, SOCK }, PROBE_PROG, SOCK_PROG, 0 },
	{ { "sock_ops_state", "giving a TCP socket's port back when it closes (sock_ops state callback)", 4, 16,
	    SOCK }, PROBE_HELPER, BPF_PROG_TYPE_SOCK_OPS, BPF_CGROUP_SOCK_OPS, BPF_FUNC_sock_ops_cb_flags_set },
	{ { "atomics", "claim counts (BPF atomic fetch-add, cmpxchg)", 5, 12, SOCK },
	  PROBE_ATOMICS, ADDR_PROG, 0 },
	{ { "socket_cookie", "remembering claims per socket (socket cookies in sock hooks)", 5, 7, SOCK },
	  PROBE_HELPER, SOCK_PROG, BPF_FUNC_get_socket_cookie },
	{ { "bpf_loop", "the complete slice search", 5, 17, SOCK }, PROBE_HELPER, ADDR_PROG, BPF_FUNC_loop },
	{ { "bpf_set_retval", "EADDRNOTAVAIL instead of EPERM", 5, 18, SOCK }, PROBE_HELPER, ADDR_PROG,
	  BPF_FUNC_set_retval },
	{ { "xdp", "reply steering (XDP programs)", 4, 8, STEER }, PROBE_PROG, XDP_PROG, 0 },
	{ { "bpf_fib_lookup", "the next hop and MACs towards an owner (l2 and encap)", 4, 18, STEER }, PROBE_HELPER, XDP_PROG,
	  BPF_FUNC_fib_lookup },
	{ { "xdp_links", "pinned steering attachments (BPF links for XDP)", 5, 9, STEER }, PROBE_XDP_LINK, XDP_PROG,
	  0 },
};

#define N_ROWS (sizeof(rows) / sizeof(rows[0]))

#define INSN(c, d, s, o, i) ((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define MOV64_IMM(d, i) INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define STX_DW(d, s, o) INSN(BPF_STX | BPF_MEM | BPF_DW, d, s, o, 0)
#define ATOMIC_DW(op, d, s, o) INSN(BPF_STX | BPF_ATOMIC | BPF_DW, d, s, o, op)
#define CALL(f) INSN(BPF_JMP | BPF_CALL, 0, 0, 0, f)
#define EXIT() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

static char probe_log[16384];

static int load(enum bpf_prog_type type, enum bpf_attach_type at, const struct bpf_insn *insns, size_t n,
		bool want_log)
{
	LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = at);

	if (want_log) {
		probe_log[0] = '\0';
		o.log_buf = probe_log;
		o.log_size = sizeof(probe_log);
		o.log_level = 1;
	}
	return bpf_prog_load(type, "ps_probe", "GPL", insns, n, &o);
}

static int loads(enum bpf_prog_type type, enum bpf_attach_type at, const struct bpf_insn *insns, size_t n)
{
	int fd = load(type, at, insns, n, false);

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

static int probe_prog(enum bpf_prog_type type, enum bpf_attach_type at)
{
	const struct bpf_insn insns[] = { MOV64_IMM(BPF_REG_0, 1), EXIT() };

	return loads(type, at, insns, 2);
}

/* The call has no valid arguments, so the load fails anyway; what matters is where. */
static int probe_helper(enum bpf_prog_type type, enum bpf_attach_type at, enum bpf_func_id fn)
{
	const struct bpf_insn insns[] = { CALL(fn), MOV64_IMM(BPF_REG_0, 1), EXIT() };
	int fd = load(type, at, insns, 3, true);

	if (fd >= 0) {
		close(fd);
		return 1;
	}
	if (errno == EPERM || !probe_log[0])
		return 0;
	/* Older kernels say "unknown func" or "invalid func", newer ones "cannot use helper". */
	return !strstr(probe_log, "unknown func") && !strstr(probe_log, "invalid func") &&
	       !strstr(probe_log, "cannot use helper");
}

static int probe_atomics(enum bpf_prog_type type, enum bpf_attach_type at)
{
	const struct bpf_insn insns[] = {
		MOV64_IMM(BPF_REG_1, 0),
		STX_DW(BPF_REG_10, BPF_REG_1, -8),
		MOV64_IMM(BPF_REG_1, 1),
		ATOMIC_DW(BPF_ADD | BPF_FETCH, BPF_REG_10, BPF_REG_1, -8),
		MOV64_IMM(BPF_REG_0, 1),
		ATOMIC_DW(BPF_CMPXCHG, BPF_REG_10, BPF_REG_1, -8),
		MOV64_IMM(BPF_REG_0, 1),
		EXIT(),
	};

	return loads(type, at, insns, sizeof(insns) / sizeof(insns[0]));
}

/*
 * A cgroup link on a directory that is not a cgroup: a kernel that knows
 * cgroup links fails on the target (EBADF), one that does not fails on the
 * attach type (EINVAL).
 */
static int probe_cgroup_link(enum bpf_prog_type type, enum bpf_attach_type at)
{
	const struct bpf_insn insns[] = { MOV64_IMM(BPF_REG_0, 1), EXIT() };
	int prog, target, link = -1, ok = 0;

	prog = load(type, at, insns, 2, false);
	if (prog < 0)
		return 0;
	target = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (target >= 0) {
		link = bpf_link_create(prog, target, at, NULL);
		ok = link >= 0 || errno == EBADF;
		close(target);
	}
	if (link >= 0)
		close(link);
	close(prog);
	return ok;
}

/*
 * An XDP link cannot be tried without an interface to attach to, and the
 * kernel says EINVAL both for a missing interface and for an unknown attach
 * type; the link's own type in the kernel's BTF tells instead.
 */
static int probe_xdp_link(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	int ok;

	if (!btf)
		return 0;
	ok = btf__find_by_name_kind(btf, "bpf_xdp_link", BTF_KIND_STRUCT) > 0;
	btf__free(btf);
	return ok;
}

bool ps_feature_hidden(unsigned int i)
{
	const char *name = i < N_ROWS ? rows[i].f.name : "";
	const char *list = getenv("PORTSLICE_PROBE_HIDE");
	size_t len = strlen(name);

	for (const char *p = list; p && *p; p += strcspn(p, ",")) {
		p += *p == ',';
		if (!strncmp(p, name, len) && (p[len] == ',' || p[len] == '\0'))
			return true;
	}
	return false;
}

unsigned int ps_feature_count(void)
{
	return N_ROWS;
}

const struct ps_feature *ps_feature_at(unsigned int i)
{
	return i < N_ROWS ? &rows[i].f : NULL;
}

int ps_feature_probe(unsigned int i)
{
	static signed char cache[N_ROWS];
	const struct feature_row *r;
	int ok;

	if (i >= N_ROWS)
		return 0;
	if (cache[i])
		return cache[i] > 0;
	r = &rows[i];
	switch (r->kind) {
	case PROBE_PROG:
		ok = probe_prog(r->type, r->at);
		break;
	case PROBE_HELPER:
		ok = probe_helper(r->type, r->at, r->fn);
		break;
	case PROBE_ATOMICS:
		ok = probe_atomics(r->type, r->at);
		break;
	case PROBE_CGROUP_LINK:
		ok = probe_cgroup_link(r->type, r->at);
		break;
	case PROBE_XDP_LINK:
		ok = probe_xdp_link();
		break;
	default:
		ok = 0;
		break;
	}
	if (ps_feature_hidden(i))
		ok = 0;
	cache[i] = ok ? 1 : -1;
	return ok;
}

static const char *part_name(enum ps_feature_part part)
{
	return part == PS_PART_SOCKETS ? "socket placement (attach)" : "reply steering (steer attach)";
}

int ps_features_require(enum ps_feature_part part, const char *what, struct ps_error *error)
{
	enum ps_feature_part other = part == PS_PART_SOCKETS ? PS_PART_STEERING : PS_PART_SOCKETS;
	unsigned int missing = 0, other_missing = 0;
	struct utsname u = {};
	char msg[1024];
	size_t len;

	for (unsigned int i = 0; i < N_ROWS; i++) {
		if (ps_feature_probe(i))
			continue;
		if (rows[i].f.parts & part)
			missing++;
		if (rows[i].f.parts & other)
			other_missing++;
	}
	if (!missing)
		return 0;

	uname(&u);
	len = snprintf(msg, sizeof(msg), "%s: this kernel (Linux %s) lacks what %s needs:", what, u.release,
		       part_name(part));
	for (unsigned int i = 0; i < N_ROWS && len < sizeof(msg); i++) {
		const struct ps_feature *f = &rows[i].f;

		if ((f->parts & part) && !ps_feature_probe(i))
			len += snprintf(msg + len, sizeof(msg) - len, "\n  missing %s: %s (Linux %u.%u and later)",
					f->name, f->used_for, f->major, f->minor);
	}
	if (!other_missing && len < sizeof(msg))
		len += snprintf(msg + len, sizeof(msg) - len, "\n%s still works on this kernel.", part_name(other));
	if (len < sizeof(msg))
		snprintf(msg + len, sizeof(msg) - len,
			 "\nNothing was changed: boot a kernel that has these (kernel table in the README); "
			 "`portslice doctor` probes every feature.");
	return ps_fail(error, EOPNOTSUPP, "%s", msg);
}
