// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * portslice doctor: checks a host before use and says what is wrong and how
 * to fix it. Every check prints one line, "ok|warn|fail NAME: detail", with
 * "; fix: ..." on warnings and failures. Kernel features are probed by
 * loading tiny programs, not guessed from the version.
 */
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <linux/magic.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>

#include "agent/agent.h"
#include "sock/links.h"
#include "core/cli.h"
#include "core/config.h"
#include "core/env.h"
#include "core/kernel_features.h"
#include "core/log.h"
#include "sock/slots.h"
#include "core/rtnl.h"
#include "sock/sockdiag.h"
#include "core/pins.h"
#include "sock/maps.h"
#include "steer/links.h"

enum {
	OPT_CONFIG = 'f',
	OPT_HOST = 'H',
	OPT_CGROUP = 'c',
};

#define DOCTOR_MAX_CGROUPS 64

struct doctor_opts {
	const char *config;
	const char *host;
	const char *cgroups[DOCTOR_MAX_CGROUPS];
	size_t n_cgroups;
	char *owned[DOCTOR_MAX_CGROUPS]; /* the config's paths, copied */
	size_t n_owned;
};

static const struct ps_opt doctor_opts[] = {
	{ "config", OPT_CONFIG, "FILE", "also check the fleet config: pool addresses, slices, listeners, cgroups" },
	{ "host", OPT_HOST, "NAME", "this host's name in the config's slices (default: hostname)" },
	{ "cgroup", OPT_CGROUP, "DIR", "also check this cgroup's hooks; repeatable (attached cgroups are always checked)" },
	{ NULL },
};

static int on_doctor_opt(int key, const char *arg, void *ctx, struct ps_error *error)
{
	struct doctor_opts *o = ctx;

	switch (key) {
	case OPT_CONFIG:
		o->config = arg;
		break;
	case OPT_HOST:
		o->host = arg;
		break;
	case OPT_CGROUP:
		if (o->n_cgroups == DOCTOR_MAX_CGROUPS)
			return ps_fail(error, E2BIG, "at most %d --cgroup options", DOCTOR_MAX_CGROUPS);
		o->cgroups[o->n_cgroups++] = arg;
		break;
	}
	return 0;
}

/* ---- the report ------------------------------------------------------- */

enum verdict { V_OK, V_WARN, V_FAIL };
static const char *const verdict_str[] = { "ok", "warn", "fail" };

struct report {
	json_object *checks;
	int n[3];
	bool view_ok;   /* the bpffs and cgroup2 seen here are the host's */
};

static void check(struct report *r, enum verdict v, const char *name, const char *fix, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void check(struct report *r, enum verdict v, const char *name, const char *fix, const char *fmt, ...)
{
	char detail[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	r->n[v]++;
	if (ps_json) {
		json_object *c = json_object_new_object();

		json_object_object_add(c, "result", json_object_new_string(verdict_str[v]));
		json_object_object_add(c, "name", json_object_new_string(name));
		json_object_object_add(c, "detail", json_object_new_string(detail));
		if (v != V_OK && fix)
			json_object_object_add(c, "fix", json_object_new_string(fix));
		json_object_array_add(r->checks, c);
		return;
	}
	if (v != V_OK && fix)
		printf("%s %s: %s; fix: %s\n", verdict_str[v], name, detail, fix);
	else
		printf("%s %s: %s\n", verdict_str[v], name, detail);
	fflush(stdout);
}

/* ---- host basics ------------------------------------------------------ */

static void check_root(struct report *r)
{
	if (geteuid() == 0)
		check(r, V_OK, "root", NULL, "running as root");
	else
		check(r, V_FAIL, "root", "run portslice as root (sudo), or in a service with CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN",
		      "not running as root: loading BPF programs and attaching them to cgroups needs privileges, and most checks below cannot be done");
}

struct kver { unsigned int major, minor; };

static struct kver kernel_version(char *release, size_t len)
{
	struct utsname u;
	struct kver v = {};

	if (uname(&u)) {
		snprintf(release, len, "unknown");
		return v;
	}
	snprintf(release, len, "%s", u.release);
	sscanf(u.release, "%u.%u", &v.major, &v.minor);
	return v;
}

static bool kver_ge(struct kver v, unsigned int major, unsigned int minor)
{
	return v.major > major || (v.major == major && v.minor >= minor);
}

static void check_kernel(struct report *r, struct kver v, const char *release)
{
	if (kver_ge(v, 5, 18))
		check(r, V_OK, "kernel", NULL, "Linux %s (portslice needs 5.18 or later)", release);
	else
		check(r, V_FAIL, "kernel", "boot Linux 5.18 or later (see the kernel table in the README)",
		      "Linux %s is older than 5.18; the feature checks below say what is missing", release);
}

static void check_btf(struct report *r)
{
	if (!access("/sys/kernel/btf/vmlinux", R_OK))
		check(r, V_OK, "btf", NULL, "kernel BTF at /sys/kernel/btf/vmlinux");
	else
		check(r, V_FAIL, "btf", "use a kernel built with CONFIG_DEBUG_INFO_BTF=y",
		      "/sys/kernel/btf/vmlinux is missing: the CO-RE programs cannot be loaded");
}

/*
 * The namespaces this runs in: the mounts must be the host's (or named with
 * --bpffs and --cgroup-root), and the network namespace is the one whose
 * addresses, listeners and sockets the other checks see.
 */
static bool check_view(struct report *r)
{
	char why[1536];
	int net = ps_ns_initial("net");

	if (ps_env_host_view_why(true, why, sizeof(why))) {
		check(r, V_FAIL, "namespace", NULL, "%s", why);
		return false;
	}
	r->view_ok = true;
	check(r, V_OK, "namespace", NULL,
	      "the bpffs and cgroup2 mounts are the host's%s; network namespace: %s (pool addresses, listening sockets and steered interfaces are checked in this one)",
	      ps_env_bpffs() || ps_env_cgroup_root() ? " (as named)" : "",
	      net == 1 ? "the host's" : net == 0 ? "not the host's" : "cannot tell whether it is the host's");
	return true;
}

static bool have_cgroup2(struct report *r, char *mnt, size_t len)
{
	FILE *f = fopen("/proc/self/mounts", "r");
	char line[4096], dev[256], path[PATH_MAX], type[64];
	bool found = false;

	if (ps_env_cgroup_root()) {
		if (f)
			fclose(f);
		snprintf(mnt, len, "%s", ps_env_cgroup_root());
		check(r, V_OK, "cgroup2", NULL, "the host's cgroup v2 hierarchy is mounted at %s (--cgroup-root)", mnt);
		return true;
	}
	while (f && !found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%255s %4095s %63s", dev, path, type) == 3 && !strcmp(type, "cgroup2")) {
			snprintf(mnt, len, "%s", path);
			found = true;
		}
	if (f)
		fclose(f);
	if (found)
		check(r, V_OK, "cgroup2", NULL, "cgroup v2 mounted at %s", mnt);
	else
		check(r, V_FAIL, "cgroup2", "mount one (mount -t cgroup2 none /sys/fs/cgroup) or boot with systemd.unified_cgroup_hierarchy=1",
		      "no cgroup v2 hierarchy is mounted");
	return found;
}

static void check_bpffs(struct report *r)
{
	const char *dir = ps_pin_dir();
	char probe[PATH_MAX];
	struct statfs st;
	char *slash;

	snprintf(probe, sizeof(probe), "%s", dir);
	while (access(probe, F_OK) && (slash = strrchr(probe, '/')) && slash != probe)
		*slash = '\0';
	if (!statfs(probe, &st) && st.f_type == BPF_FS_MAGIC)
		check(r, V_OK, "bpffs", NULL, "%s is on a bpf file system (pin dir %s)", probe, dir);
	else if (!strncmp(dir, "/sys/fs/bpf/", 12))
		check(r, V_WARN, "bpffs", "mount -t bpf bpf /sys/fs/bpf (portslice attach and agent mount it themselves when they can)",
		      "no bpf file system at /sys/fs/bpf: the pins under %s need one", dir);
	else
		check(r, V_FAIL, "bpffs", "mount one there (mount -t bpf bpf DIR) or unset PORTSLICE_PIN_DIR",
		      "the pin dir %s is not on a bpf file system", dir);
}

static void check_features(struct report *r, struct kver v, const char *release)
{
	for (unsigned int i = 0; i < ps_feature_count(); i++) {
		const struct ps_feature *f = ps_feature_at(i);
		char name[64], fix[160];

		snprintf(name, sizeof(name), "feature.%s", f->name);
		if (ps_feature_probe(i)) {
			check(r, V_OK, name, NULL, "available (%s; Linux %u.%u+)", f->used_for, f->major, f->minor);
			continue;
		}
		snprintf(fix, sizeof(fix), "boot Linux %u.%u or later (5.18+ for everything portslice uses)%s", f->major,
			 f->minor, geteuid() ? ", and probe as root" : "");
		check(r, V_FAIL, name, fix, "the kernel refused a test program needing it (%s; Linux %u.%u+, this is %s%s)",
		      f->used_for, f->major, f->minor, release,
		      ps_feature_hidden(i) ? ": hidden by PORTSLICE_PROBE_HIDE" :
		      kver_ge(v, f->major, f->minor) ? ": a distribution kernel with it disabled, or a lockdown/LSM policy?" : "");
	}
}

static void check_pins(struct report *r)
{
	struct ps_error why = {};
	char path[PATH_MAX];
	int err;

	if (!ps_state_exists()) {
		check(r, V_OK, "pins", NULL, "nothing pinned under %s yet", ps_pin_dir());
		return;
	}
	err = ps_layout_check(&ps_sock_layout, &why);
	if (err) {
		check(r, V_FAIL, "pins", "detach with the portslice that attached them (portslice detach --all), then attach again",
		      "%s", why.msg);
		return;
	}
	ps_pin_path(path, sizeof(path), PS_PINS_CGROUPS);
	check(r, V_OK, "pins", NULL, "pins under %s have layout version %d%s", ps_pin_dir(), PS_LAYOUT_VERSION,
	      ps_attachments_any() ? "" : " (no cgroup attached)");
}

/* ---- the config against this host ------------------------------------- */

static void check_addresses(struct report *r, const struct ps_selection *sel)
{
	struct ifaddrs *ifs = NULL;

	if (getifaddrs(&ifs)) {
		check(r, V_WARN, "addresses", "run doctor where portslice runs (same network namespace)",
		      "cannot list the local addresses: %s", strerror(errno));
		return;
	}
	for (size_t i = 0; i < sel->n; i++) {
		const struct ps_pool_cfg *p = sel->pool[i];
		char name[64], addr[PS_ADDR_STR_LEN], ifname[IF_NAMESIZE + 1], fix[160];

		snprintf(name, sizeof(name), "address.%s", p->name);
		ps_format_addr(p->family, p->addr, addr, sizeof(addr));
		if (ps_env_addr_configured(ifs, p->family, p->addr, ifname, sizeof(ifname))) {
			check(r, V_OK, name, NULL, "%s is configured on %s", addr, ifname);
			continue;
		}
		snprintf(fix, sizeof(fix), "ip addr add %s/%d dev lo%s (on lo, routing never picks it by itself)", addr,
			 p->family == AF_INET ? 32 : 128, p->family == AF_INET6 ? " nodad" : "");
		check(r, V_FAIL, name, fix,
		      "pool '%s': %s is not configured on any interface of this network namespace: bind() to it fails, so every connect() through the pool fails",
		      p->name, addr);
	}
	freeifaddrs(ifs);
}

static void check_local_range(struct report *r, const struct ps_selection *sel)
{
	struct ps_port_range local;

	if (ps_env_local_port_range(&local)) {
		check(r, V_WARN, "port_range", "check /proc/sys/net/ipv4/ip_local_port_range", "cannot read ip_local_port_range");
		return;
	}
	for (size_t i = 0; i < sel->n; i++) {
		const struct ps_port_range s = sel->slice[i]->range;
		char name[64], fix[256];

		snprintf(name, sizeof(name), "port_range.%s", sel->pool[i]->name);
		if (!ps_ranges_overlap(s, local)) {
			check(r, V_OK, name, NULL, "slice %u-%u is outside ip_local_port_range %u-%u", s.lo, s.hi, local.lo,
			      local.hi);
			continue;
		}
		snprintf(fix, sizeof(fix),
			 "move the slice out of %u-%u in the config, or narrow the range (sysctl -w net.ipv4.ip_local_port_range='%u %u' or a range that avoids %u-%u)",
			 local.lo, local.hi, s.hi < 65535 && s.hi >= local.lo ? s.hi + 1 : local.lo,
			 s.hi < 65535 && s.hi >= local.lo ? local.hi : (unsigned)s.lo - 1, s.lo, s.hi);
		check(r, V_WARN, name, fix,
		      "slice %u-%u overlaps ip_local_port_range %u-%u: ports taken by portslice are skipped by the kernel's own port choice, so other workloads lose them",
		      s.lo, s.hi, local.lo, local.hi);
	}
}

struct listen_scan {
	const struct ps_pool_cfg *pool;
	struct ps_port_range range;
	unsigned int count;
	char first[PS_ADDR_STR_LEN + 16];
};

static bool all_zero(const uint8_t *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i])
			return false;
	return true;
}

static int listen_cb(const struct ps_sockinfo *si, void *arg)
{
	struct listen_scan *l = arg;
	size_t alen = si->family == AF_INET ? 4 : 16;
	bool any = all_zero(si->laddr, alen), mine;
	char addr[PS_ADDR_STR_LEN];

	if (si->lport < l->range.lo || si->lport > l->range.hi)
		return 0;
	if (si->proto == IPPROTO_TCP && si->state != TCP_LISTEN)
		return 0;
	/* Unconnected UDP on the pool address may be portslice's own bind(pool, 0). */
	if (si->proto == IPPROTO_UDP && (si->state != TCP_CLOSE || !any))
		return 0;
	mine = si->family == l->pool->family && !memcmp(si->laddr, l->pool->addr, alen);
	/* A wildcard IPv6 socket may be dual-stack: it holds the IPv4 port too. */
	if (!mine && !(any && (si->family == l->pool->family || si->family == AF_INET6)))
		return 0;
	if (!l->count++) {
		ps_format_addr(si->family, si->laddr, addr, sizeof(addr));
		snprintf(l->first, sizeof(l->first), "%s %s%s%s:%u", si->proto == IPPROTO_TCP ? "tcp" : "udp",
			 si->family == AF_INET6 ? "[" : "", addr, si->family == AF_INET6 ? "]" : "", si->lport);
	}
	return 0;
}

static void check_listeners(struct report *r, const struct ps_selection *sel)
{
	for (size_t i = 0; i < sel->n; i++) {
		struct listen_scan l = { .pool = sel->pool[i], .range = sel->slice[i]->range };
		char name[64];
		int err = 0;

		snprintf(name, sizeof(name), "listeners.%s", sel->pool[i]->name);
		for (int f = 0; f < 2 && !err; f++)
			for (int p = 0; p < 2 && !err; p++)
				err = ps_sockdiag_dump(f ? AF_INET6 : AF_INET, p ? IPPROTO_UDP : IPPROTO_TCP, listen_cb, &l);
		if (err)
			check(r, V_WARN, name, "run doctor as root in portslice's network namespace",
			      "cannot read the socket table: %s", strerror(-err));
		else if (l.count)
			check(r, V_WARN, name, "move those servers to ports outside the slice, or move the slice",
			      "%u listening socket(s) hold ports of slice %u-%u (first: %s): connect() skips those ports and bind() to them is refused",
			      l.count, l.range.lo, l.range.hi, l.first);
		else
			check(r, V_OK, name, NULL, "no listening socket on the pool address or the wildcard address in slice %u-%u",
			      l.range.lo, l.range.hi);
	}
}

/* ---- cgroups: other programs on the hooks portslice uses --------------- */

static const struct {
	enum bpf_attach_type type;
	const char *name;
} hooks[] = {
	{ BPF_CGROUP_INET4_CONNECT, "connect4" }, { BPF_CGROUP_INET6_CONNECT, "connect6" },
	{ BPF_CGROUP_INET4_BIND, "bind4" },       { BPF_CGROUP_INET6_BIND, "bind6" },
	{ BPF_CGROUP_UDP4_SENDMSG, "sendmsg4" },  { BPF_CGROUP_UDP6_SENDMSG, "sendmsg6" },
	{ BPF_CGROUP_INET_SOCK_RELEASE, "sock_release" },
};

struct own_progs {
	__u32 ids[PS_MAX_ATTACHMENTS * 8];
	size_t n;
};

/* The programs of portslice's pinned links, under every attachment dir. */
static void collect_own(struct own_progs *own)
{
	char path[PATH_MAX];
	struct dirent *de, *le;
	DIR *d, *ld;

	own->n = 0;
	if (ps_pin_path(path, sizeof(path), PS_PINS_CGROUPS) || !(d = opendir(path)))
		return;
	while ((de = readdir(d))) {
		char sub[PATH_MAX + 256];

		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (!(ld = opendir(sub)))
			continue;
		while ((le = readdir(ld)) && own->n < sizeof(own->ids) / sizeof(own->ids[0])) {
			char pin[PATH_MAX * 2];
			struct bpf_link_info info = {};
			__u32 len = sizeof(info);
			int fd;

			if (le->d_name[0] == '.')
				continue;
			snprintf(pin, sizeof(pin), "%s/%s", sub, le->d_name);
			fd = bpf_obj_get(pin);
			if (fd < 0)
				continue;
			if (!bpf_obj_get_info_by_fd(fd, &info, &len))
				own->ids[own->n++] = info.prog_id;
			close(fd);
		}
		closedir(ld);
	}
	closedir(d);
}

static bool is_own(const struct own_progs *own, __u32 id)
{
	for (size_t i = 0; i < own->n; i++)
		if (own->ids[i] == id)
			return true;
	return false;
}

static void check_cgroup(struct report *r, const char *dir, const struct own_progs *own)
{
	struct ps_error why = {};
	struct ps_cgroup cg;
	char name[PATH_MAX + 16], others[1024] = "";
	size_t used = 0;
	unsigned int n_others = 0;
	int err;

	snprintf(name, sizeof(name), "cgroup.%s", dir);
	err = ps_cgroup_open(dir, &cg, &why);
	if (err) {
		check(r, V_FAIL, name, "create the cgroup (mkdir under the cgroup2 mount) or fix its path in the config",
		      "%s", why.msg);
		return;
	}
	for (size_t h = 0; h < sizeof(hooks) / sizeof(hooks[0]); h++) {
		__u32 ids[64], cnt = 64, flags = 0;

		if (bpf_prog_query(cg.fd, hooks[h].type, BPF_F_QUERY_EFFECTIVE, &flags, ids, &cnt))
			continue;
		for (__u32 i = 0; i < cnt; i++) {
			struct bpf_prog_info info = {};
			__u32 len = sizeof(info);
			int fd;

			if (is_own(own, ids[i]))
				continue;
			n_others++;
			fd = bpf_prog_get_fd_by_id(ids[i]);
			if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len))
				info.name[0] = '\0';
			if (fd >= 0)
				close(fd);
			if (used < sizeof(others) - 1)
				used += snprintf(others + used, sizeof(others) - used, "%s%s: prog %u '%s'",
						 used ? ", " : "", hooks[h].name, ids[i], info.name);
		}
	}
	if (n_others)
		check(r, V_WARN, name,
		      "make sure those programs do not rewrite the address or port of connect()/bind() (bpftool cgroup tree shows where they are attached), or move the workload to a cgroup without them",
		      "%u other program(s) run on the hooks portslice uses (here or inherited): %s", n_others, others);
	else
		check(r, V_OK, name, NULL, "no other program on portslice's hooks%s",
		      ps_attachment_exists(cg.id) ? " (portslice attached)" : " (portslice not attached)");
	ps_cgroup_close(&cg);
}

struct att_walk {
	struct report *r;
	const struct own_progs *own;
	const char *mnt;
	const struct doctor_opts *o;
};

static int attached_cb(__u64 id, const struct ps_attachment *att, void *arg)
{
	struct att_walk *w = arg;
	char path[PATH_MAX + 256];
	struct stat st;

	snprintf(path, sizeof(path), "%s%s", w->mnt, att->path);
	for (size_t i = 0; i < w->o->n_cgroups; i++) {
		char real[PATH_MAX];

		if (realpath(w->o->cgroups[i], real) && !strcmp(real, path))
			return 0; /* checked already */
	}
	if (stat(path, &st) || st.st_ino != id) {
		char name[PATH_MAX + 300], fix[PATH_MAX + 300];

		snprintf(name, sizeof(name), "cgroup.%s", path);
		snprintf(fix, sizeof(fix), "portslice detach --cgroup %s", path);
		check(w->r, V_WARN, name, fix, "attached cgroup %llu is gone: its pins keep shared state alive",
		      (unsigned long long)id);
		return 0;
	}
	check_cgroup(w->r, path, w->own);
	return 0;
}

static void check_cgroups(struct report *r, const struct doctor_opts *o, const char *mnt)
{
	struct own_progs *own = calloc(1, sizeof(*own));
	struct ps_maps maps;

	if (!own)
		return;
	if (ps_state_exists())
		collect_own(own);
	for (size_t i = 0; i < o->n_cgroups; i++)
		check_cgroup(r, o->cgroups[i], own);
	if (ps_state_exists() && !ps_maps_open(&maps, NULL)) {
		struct att_walk w = { r, own, mnt, o };

		ps_attachments_for_each(maps.attachments, attached_cb, &w);
		ps_maps_close(&maps);
	}
	free(own);
}

/* ---- steering ------------------------------------------------------------ */

/* Interfaces steering runs on or is meant for: the config's and the attached ones. */
static size_t steer_ifaces(const struct ps_config *cfg, char (*names)[PS_IFNAME_LEN], size_t max)
{
	size_t n = ps_steer_attached_ifnames(names, max);

	for (size_t i = 0; i < cfg->steering.n_interfaces && n < max; i++) {
		bool dup = false;

		for (size_t j = 0; j < n; j++)
			dup |= !strcmp(names[j], cfg->steering.interfaces[i]);
		if (!dup)
			snprintf(names[n++], PS_IFNAME_LEN, "%s", cfg->steering.interfaces[i]);
	}
	return n;
}

/* Does some other host of @cfg have an underlay address of @family? */
static bool steer_family_used(const struct ps_config *cfg, const struct ps_host_cfg *self, int family)
{
	for (size_t i = 0; i < cfg->n_hosts; i++)
		if (&cfg->hosts[i] != self && cfg->hosts[i].family == family)
			return true;
	return false;
}

/*
 * bpf_fib_lookup() looks an owner up as a packet forwarded from the ingress
 * interface, in both modes: with forwarding off there it answers "forwarding
 * disabled" and every reply for another host is dropped (dropped_no_route).
 */
static void check_steer_forwarding(struct report *r, const struct ps_config *cfg, const struct ps_host_cfg *self,
				   const char *ifname)
{
	static const struct { int family; const char *fmt, *sysctl; } fams[] = {
		{ AF_INET, "/proc/sys/net/ipv4/conf/%s/forwarding", "net.ipv4.conf.%s.forwarding" },
		{ AF_INET6, "/proc/sys/net/ipv6/conf/%s/forwarding", "net.ipv6.conf.%s.forwarding" },
	};

	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		char path[128], key[96], name[64], fix[160], val[8] = "";
		FILE *fp;

		if (!steer_family_used(cfg, self, fams[f].family))
			continue;
		snprintf(path, sizeof(path), fams[f].fmt, ifname);
		snprintf(key, sizeof(key), fams[f].sysctl, ifname);
		snprintf(name, sizeof(name), "steer.forwarding.%s.%s", ifname, fams[f].family == AF_INET ? "ipv4" : "ipv6");
		snprintf(fix, sizeof(fix), "sysctl -w %s=1 (and persist it in /etc/sysctl.d)", key);
		fp = fopen(path, "r");
		if (!fp || !fgets(val, sizeof(val), fp))
			check(r, V_FAIL, name, "create the interface, or run doctor in its network namespace",
			      "cannot read %s: %s", path, strerror(errno));
		else if (val[0] != '1')
			check(r, V_FAIL, name, fix,
			      "%s is 0: bpf_fib_lookup() (both modes) refuses to forward from %s, so every reply for another host's port is dropped (dropped_no_route)",
			      key, ifname);
		else
			check(r, V_OK, name, NULL, "%s is 1", key);
		if (fp)
			fclose(fp);
	}
}

/*
 * On veth, XDP_TX and redirected frames reach the peer only when it runs
 * NAPI, which an XDP program on the peer turns on; with none the kernel
 * drops them (xdp_tx_errors) after portslice counted them as forwarded.
 * Replies that crossed only virtual links may also carry a checksum their
 * sender left to offload (CHECKSUM_PARTIAL): forwarded raw by XDP, they
 * reach the owner corrupt.
 */
static void check_steer_veth(struct report *r, const struct ps_link *l)
{
	char name[64], fix[256];
	struct ps_link peer;
	int err;

	snprintf(name, sizeof(name), "steer.veth_peer.%s", l->name);
	err = ps_rtnl_link_in(l->link_netnsid, l->link, &peer);
	snprintf(fix, sizeof(fix), "attach an XDP program to %s's peer (ifindex %d%s), one returning XDP_PASS is enough "
		 "(ip link set dev PEER xdpdrv obj xdp_pass.o sec xdp); GRO alone leaves frames waiting",
		 l->name, l->link, l->link_netnsid >= 0 ? ", in another network namespace" : "");
	if (err)
		check(r, V_WARN, name, fix, "%s is a veth; its peer (ifindex %d) cannot be read: %s", l->name, l->link,
		      strerror(-err));
	else if (!peer.xdp)
		check(r, V_FAIL, name, fix,
		      "%s is a veth whose peer %s has no XDP program: every frame steering sends back out (XDP_TX) is dropped by the kernel (xdp_tx_errors in 'portslice status')",
		      l->name, peer.name);
	else
		check(r, V_OK, name, NULL, "%s's veth peer %s runs an XDP program: XDP_TX frames reach it", l->name, peer.name);

	snprintf(name, sizeof(name), "steer.checksum.%s", l->name);
	check(r, V_WARN, name,
	      "turn TX checksum offload off on the sending side: the interface the replies' sender (the server, or the last host that builds them) transmits on "
	      "when every link up to this host is virtual (ethtool -K DEV tx off); not on the fleet hosts, whose own offload does not matter",
	      "%s is a veth: replies that reached it through virtual links only may carry a checksum their sender left to offload, "
	      "and steered on by XDP they arrive corrupt at their owner (a physical NIC on the path fills checksums in)", l->name);
}

static void check_steer_iface(struct report *r, const struct ps_config *cfg, const struct ps_host_cfg *self,
			      const char *ifname, const struct ps_link *links, size_t n_links)
{
	const struct ps_link *l = NULL;
	char name[64];

	for (size_t i = 0; i < n_links && !l; i++)
		if (!strcmp(links[i].name, ifname))
			l = &links[i];
	snprintf(name, sizeof(name), "steer.interface.%s", ifname);
	if (!l) {
		check(r, V_FAIL, name, "check 'ip link', run doctor in the interfaces' network namespace, or fix steering.interfaces",
		      "no interface named '%s' in this network namespace", ifname);
		return;
	}
	check(r, V_OK, name, NULL, "%s (ifindex %d, %s)%s", ifname, l->ifindex, l->kind[0] ? l->kind : "hardware",
	      l->xdp ? ", an XDP program attached" : "");
	check_steer_forwarding(r, cfg, self, ifname);
	if (!strcmp(l->kind, "veth"))
		check_steer_veth(r, l);
}

/*
 * How each other host is reached right now, as bpf_fib_lookup() sees it:
 * a route to its underlay address (l2: on the link), and a neighbour entry
 * of the next hop in a state the lookup uses (it never resolves one).
 */
static void check_steer_owner(struct report *r, const struct ps_config *cfg, const struct ps_host_cfg *h,
			      const struct ps_neigh *ne, size_t n_ne, const struct ps_link *links, size_t n_links)
{
	char name[96], addr[PS_ADDR_STR_LEN], nh[PS_ADDR_STR_LEN], dev[IF_NAMESIZE] = "?", fix[320];
	const struct ps_neigh *e = NULL;
	size_t alen = h->family == AF_INET ? 4 : 16;
	const uint8_t *nh_addr;
	struct ps_route rt;
	int err;

	snprintf(name, sizeof(name), "steer.owner.%s", h->name);
	ps_format_addr(h->family, h->addr, addr, sizeof(addr));
	err = ps_rtnl_route_get(h->family, h->addr, &rt);
	if (err || rt.type != RTN_UNICAST) {
		snprintf(fix, sizeof(fix), "add a route to %s, or give %s's slices to another host in the config", addr, h->name);
		check(r, V_FAIL, name, fix, "owner unreachable right now: no route to %s's underlay address %s (%s): replies for its ports are dropped (dropped_no_route)",
		      h->name, addr, err ? strerror(-err) : "unreachable route");
		return;
	}
	for (size_t i = 0; i < n_links; i++)
		if (links[i].ifindex == rt.oif)
			snprintf(dev, sizeof(dev), "%s", links[i].name);
	if (rt.has_gw && cfg->steering.mode == PS_STEER_L2) {
		ps_format_addr(h->family, rt.gw, nh, sizeof(nh));
		check(r, V_FAIL, name, "put the hosts on one segment, or use steering: {mode: encap}",
		      "%s (%s) is reached through the gateway %s: l2 mode forwards only to hosts on the link, so replies for its ports are dropped (dropped_not_on_link)",
		      h->name, addr, nh);
		return;
	}
	nh_addr = rt.has_gw ? rt.gw : h->addr;
	ps_format_addr(h->family, nh_addr, nh, sizeof(nh));
	for (size_t i = 0; i < n_ne && !e; i++)
		if (ne[i].family == h->family && ne[i].ifindex == rt.oif && !memcmp(ne[i].addr, nh_addr, alen))
			e = &ne[i];
	snprintf(fix, sizeof(fix), "check that %s is up; keep the entry resolved: ip neigh replace %s dev %s managed (bpf_fib_lookup never resolves one)",
		 h->name, nh, dev);
	if (!e || !ps_neigh_valid(e->state))
		check(r, V_FAIL, name, fix,
		      "owner unreachable right now: the neighbour entry of %s on %s is %s: replies for %s's ports are dropped (dropped_no_neigh)",
		      nh, dev, e ? ps_neigh_state_name(e->state) : "missing", h->name);
	else if (!e->managed && !(e->state & (NUD_PERMANENT | NUD_NOARP)))
		check(r, V_WARN, name, fix,
		      "%s (%s) via %s: neighbour %s is %s but not managed: once it expires, replies for its ports are dropped until other traffic resolves it",
		      h->name, addr, dev, nh, ps_neigh_state_name(e->state));
	else
		check(r, V_OK, name, NULL, "%s (%s) via %s: neighbour %s is %s%s", h->name, addr, dev, nh,
		      ps_neigh_state_name(e->state), e->managed ? " (managed)" : "");
}

/* The steering prerequisites, for the config's steering: section. */
static void check_steering(struct report *r, const struct ps_config *cfg, const char *host)
{
	const struct ps_host_cfg *self = ps_config_find_host(cfg, host);
	char ifnames[PS_MAX_STEER_IFACES][PS_IFNAME_LEN];
	struct ps_neigh *ne4 = NULL, *ne6 = NULL, *ne = NULL;
	struct ps_link *links = NULL;
	size_t n_if, n_links = 0, n4 = 0, n6 = 0;
	char fix[160];

	if (!cfg->steering.present)
		return;
	if (!self) {
		snprintf(fix, sizeof(fix), "pass --host NAME, or add '%s: {address: ADDR}' under hosts:", host);
		check(r, V_FAIL, "steer.host", fix, "host '%s' is not listed under hosts:, which steering needs", host);
		return;
	}
	if (ps_rtnl_links(&links, &n_links) || ps_rtnl_neighs(AF_INET, &ne4, &n4) || ps_rtnl_neighs(AF_INET6, &ne6, &n6)) {
		check(r, V_WARN, "steer.netlink", "run doctor as root in the interfaces' network namespace",
		      "cannot read links and neighbours: %s", strerror(errno));
		goto out;
	}
	n_if = steer_ifaces(cfg, ifnames, PS_MAX_STEER_IFACES);
	if (!n_if)
		check(r, V_WARN, "steer.interfaces", "list them under steering.interfaces, or run 'portslice steer attach --dev IFACE'",
		      "steering: is configured but no interface is named or attached");
	for (size_t i = 0; i < n_if; i++)
		check_steer_iface(r, cfg, self, ifnames[i], links, n_links);
	ne = calloc(n4 + n6 + 1, sizeof(*ne));
	if (!ne)
		goto out;
	memcpy(ne, ne4, n4 * sizeof(*ne));
	memcpy(ne + n4, ne6, n6 * sizeof(*ne));
	for (size_t i = 0; i < cfg->n_hosts; i++)
		if (&cfg->hosts[i] != self)
			check_steer_owner(r, cfg, &cfg->hosts[i], ne, n4 + n6, links, n_links);
out:
	free(ne);
	free(ne4);
	free(ne6);
	free(links);
}

static void check_config(struct report *r, struct doctor_opts *o)
{
	struct ps_error cerr = {};
	struct ps_config cfg = {};
	struct ps_selection sel;
	char names[512] = "";
	size_t used = 0;
	int err;

	err = ps_config_load_file(o->config, &cfg, &cerr);
	if (err) {
		/* Every error of the file, one line each. */
		for (size_t i = 0; i < cerr.n; i++) {
			const struct ps_error_item *it = &cerr.items[i];

			if (!i)
				check(r, V_FAIL, "config", "correct the file at the line and field named", "%s", cerr.msg);
			else
				check(r, V_FAIL, "config", "correct the file at the line and field named", "%s:%d: %s: %s",
				      cerr.file, it->line, it->field, it->problem);
		}
		if (!cerr.n)
			check(r, V_FAIL, "config", "correct the file at the line and field named", "%s", cerr.msg);
		return;
	}
	check(r, V_OK, "config", NULL, "%s: %zu pool(s), valid", o->config, cfg.n_pools);
	{
		ps_error_clear(&cerr);
		if (ps_agent_check_config_perms(o->config, &cerr)) {
			char msg[1024], *fix;

			/* The message ends in "; fix: ...": that part is the fix. */
			snprintf(msg, sizeof(msg), "%s", cerr.msg);
			fix = strstr(msg, "; fix: ");
			if (fix) {
				*fix = '\0';
				fix += 7;
			}
			check(r, V_WARN, "config_perms", fix ?: "make root the only writer of the file and its directory",
			      "portslice agent would refuse it (attach accepts it): %s", msg);
		} else
			check(r, V_OK, "config_perms", NULL,
			      "root owns, and only root may write, %s and every directory and symlink on its path", o->config);
	}
	err = ps_select_pools(&cfg, o->host, NULL, 0, &sel, NULL);
	if (err) {
		char fix[256];

		snprintf(fix, sizeof(fix), "pass --host NAME, or add '%s: FIRST-LAST' under a pool's slices", o->host);
		check(r, V_FAIL, "host", fix, "no pool has a slice for host '%s'", o->host);
		ps_config_free(&cfg);
		return;
	}
	for (size_t i = 0; i < sel.n; i++)
		used += snprintf(names + used, used < sizeof(names) ? sizeof(names) - used : 0, "%s%s %u-%u",
				 i ? ", " : "", sel.pool[i]->name, sel.slice[i]->range.lo, sel.slice[i]->range.hi);
	check(r, V_OK, "host", NULL, "host '%s' has slices: %s", o->host, names);
	check_addresses(r, &sel);
	check_local_range(r, &sel);
	check_listeners(r, &sel);
	check_steering(r, &cfg, o->host);
	/* The config's cgroups are checked with the others (the copies live until exit). */
	for (size_t i = 0; i < cfg.n_cgroups && o->n_cgroups < DOCTOR_MAX_CGROUPS; i++) {
		char *path = strdup(cfg.cgroups[i].path);

		if (path)
			o->cgroups[o->n_cgroups++] = o->owned[o->n_owned++] = path;
	}
	ps_config_free(&cfg);
}

static int run_doctor(int argc, char **argv, struct ps_error *error)
{
	struct doctor_opts o = {};
	struct report r = {};
	char release[256], mnt[PATH_MAX] = "", hostbuf[256];
	struct kver v;
	int err;

	err = ps_cli_parse(&ps_cmd_doctor, argc, argv, on_doctor_opt, &o, error);
	if (err)
		return err > 0 ? 0 : err;
	if (!o.host) {
		if (gethostname(hostbuf, sizeof(hostbuf)))
			return ps_fail(error, errno, "cannot read the hostname: pass --host NAME");
		hostbuf[sizeof(hostbuf) - 1] = '\0';
		o.host = hostbuf;
	}
	if (ps_json)
		r.checks = json_object_new_array();

	check_root(&r);
	v = kernel_version(release, sizeof(release));
	check_kernel(&r, v, release);
	check_btf(&r);
	/* Another mount namespace's mounts are no answer about the host's: those checks wait. */
	if (check_view(&r)) {
		have_cgroup2(&r, mnt, sizeof(mnt));
		check_bpffs(&r);
	}
	check_features(&r, v, release);
	if (r.view_ok)
		check_pins(&r);
	if (o.config)
		check_config(&r, &o);
	if (mnt[0] && geteuid() == 0)
		check_cgroups(&r, &o, mnt);

	if (ps_json) {
		json_object *root = json_object_new_object();

		json_object_object_add(root, "ok", json_object_new_boolean(!r.n[V_FAIL]));
		json_object_object_add(root, "failures", json_object_new_int(r.n[V_FAIL]));
		json_object_object_add(root, "warnings", json_object_new_int(r.n[V_WARN]));
		json_object_object_add(root, "checks", r.checks);
		ps_json_print(root);
	} else {
		printf("%d ok, %d warning(s), %d failure(s)\n", r.n[V_OK], r.n[V_WARN], r.n[V_FAIL]);
	}
	fflush(stdout);
	for (size_t i = 0; i < o.n_owned; i++)
		free(o.owned[i]);
	/* The report is the output: a failed check is not a command error. */
	if (r.n[V_FAIL])
		exit(1);
	return 0;
}

const struct ps_cmd ps_cmd_doctor = {
	.name = "doctor",
	.synopsis = "[--config FILE] [--host NAME] [--cgroup DIR]... [--json]",
	.summary = "Check this host before use: kernel features, cgroup v2, bpffs, BTF, and the config's pools, slices and cgroups.",
	.details =
		"Prints one line per check, \"ok|warn|fail NAME: detail; fix: ...\". Kernel features\n"
		"are probed by loading tiny programs. With --config: the pool addresses must be\n"
		"configured in this network namespace, slices should stay out of\n"
		"ip_local_port_range and clear of listening sockets, and the cgroups (the\n"
		"config's, --cgroup's and the attached ones) should carry no other program on\n"
		"portslice's hooks. With steering: in the config, the steering prerequisites: forwarding\n"
		"on the steered interfaces, a veth peer's XDP program, checksum offload, and how every\n"
		"other host is reached right now. Exit status 0 when nothing failed (warnings allowed), 1 otherwise.",
	.opts = doctor_opts,
	.run = run_doctor,
};
