// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <sys/utsname.h>

#include "core/env.h"
#include "core/kernel_features.h"
#include "core/pins.h"
#include "doctor/host.h"
#include "sock/links.h"

static void check_root(struct ps_doctor_report *r)
{
	if (geteuid() == 0)
		ps_doctor_check(r, PS_CHECK_OK, "root", NULL, "running as root");
	else
		ps_doctor_check(r, PS_CHECK_FAIL, "root", "run portslice as root (sudo), or in a service with CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN",
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

static void check_kernel(struct ps_doctor_report *r, struct kver v, const char *release)
{
	if (kver_ge(v, 5, 18))
		ps_doctor_check(r, PS_CHECK_OK, "kernel", NULL, "Linux %s (portslice needs 5.18 or later)", release);
	else
		ps_doctor_check(r, PS_CHECK_FAIL, "kernel", "boot Linux 5.18 or later (see the kernel table in the README)",
				"Linux %s is older than 5.18; the feature checks below say what is missing", release);
}

static void check_btf(struct ps_doctor_report *r)
{
	if (!access("/sys/kernel/btf/vmlinux", R_OK))
		ps_doctor_check(r, PS_CHECK_OK, "btf", NULL, "kernel BTF at /sys/kernel/btf/vmlinux");
	else
		ps_doctor_check(r, PS_CHECK_FAIL, "btf", "use a kernel built with CONFIG_DEBUG_INFO_BTF=y",
				"/sys/kernel/btf/vmlinux is missing: the CO-RE programs cannot be loaded");
}

/*
 * The namespaces this runs in: the mounts must be the host's (or named with
 * --bpffs and --cgroup-root), and the network namespace is the one whose
 * addresses, listeners and sockets the other checks see.
 */
static bool check_view(struct ps_doctor_report *r)
{
	char why[1536];
	int net = ps_ns_initial("net");

	if (ps_env_host_view_why(true, why, sizeof(why))) {
		ps_doctor_check(r, PS_CHECK_FAIL, "namespace", NULL, "%s", why);
		return false;
	}
	ps_doctor_check(r, PS_CHECK_OK, "namespace", NULL,
			"the bpffs and cgroup2 mounts are the host's%s; network namespace: %s (pool addresses, listening sockets and steered interfaces are checked in this one)",
			ps_env_bpffs() || ps_env_cgroup_root() ? " (as named)" : "",
			net == 1 ? "the host's" : net == 0 ? "not the host's" : "cannot tell whether it is the host's");
	return true;
}

static bool have_cgroup2(struct ps_doctor_report *r, char *mnt, size_t len)
{
	FILE *f = fopen("/proc/self/mounts", "r");
	char line[4096], dev[256], path[PATH_MAX], type[64];
	bool found = false;

	if (ps_env_cgroup_root()) {
		if (f)
			fclose(f);
		snprintf(mnt, len, "%s", ps_env_cgroup_root());
		ps_doctor_check(r, PS_CHECK_OK, "cgroup2", NULL, "the host's cgroup v2 hierarchy is mounted at %s (--cgroup-root)", mnt);
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
		ps_doctor_check(r, PS_CHECK_OK, "cgroup2", NULL, "cgroup v2 mounted at %s", mnt);
	else
		ps_doctor_check(r, PS_CHECK_FAIL, "cgroup2", "mount one (mount -t cgroup2 none /sys/fs/cgroup) or boot with systemd.unified_cgroup_hierarchy=1",
				"no cgroup v2 hierarchy is mounted");
	return found;
}

static void check_bpffs(struct ps_doctor_report *r)
{
	const char *dir = ps_pin_dir();
	char probe[PATH_MAX];
	struct statfs st;
	char *slash;

	snprintf(probe, sizeof(probe), "%s", dir);
	while (access(probe, F_OK) && (slash = strrchr(probe, '/')) && slash != probe)
		*slash = '\0';
	if (!statfs(probe, &st) && st.f_type == BPF_FS_MAGIC)
		ps_doctor_check(r, PS_CHECK_OK, "bpffs", NULL, "%s is on a bpf file system (pin dir %s)", probe, dir);
	else if (!strncmp(dir, "/sys/fs/bpf/", 12))
		ps_doctor_check(r, PS_CHECK_WARN, "bpffs", "mount -t bpf bpf /sys/fs/bpf (portslice attach and agent mount it themselves when they can)",
				"no bpf file system at /sys/fs/bpf: the pins under %s need one", dir);
	else
		ps_doctor_check(r, PS_CHECK_FAIL, "bpffs", "mount one there (mount -t bpf bpf DIR) or unset PORTSLICE_PIN_DIR",
				"the pin dir %s is not on a bpf file system", dir);
}

static void check_features(struct ps_doctor_report *r, struct kver v, const char *release)
{
	for (unsigned int i = 0; i < ps_feature_count(); i++) {
		const struct ps_feature *f = ps_feature_at(i);
		char name[64], fix[160];

		snprintf(name, sizeof(name), "feature.%s", f->name);
		if (ps_feature_probe(i)) {
			ps_doctor_check(r, PS_CHECK_OK, name, NULL, "available (%s; Linux %u.%u+)", f->used_for, f->major, f->minor);
			continue;
		}
		snprintf(fix, sizeof(fix), "boot Linux %u.%u or later (5.18+ for everything portslice uses)%s", f->major,
			 f->minor, geteuid() ? ", and probe as root" : "");
		ps_doctor_check(r, PS_CHECK_FAIL, name, fix, "the kernel refused a test program needing it (%s; Linux %u.%u+, this is %s%s)",
				f->used_for, f->major, f->minor, release,
				ps_feature_hidden(i) ? ": hidden by PORTSLICE_PROBE_HIDE" :
				kver_ge(v, f->major, f->minor) ? ": a distribution kernel with it disabled, or a lockdown/LSM policy?" : "");
	}
}

static void check_pins(struct ps_doctor_report *r)
{
	struct ps_error why = {};
	char path[PATH_MAX];
	int err;

	if (!ps_state_exists()) {
		ps_doctor_check(r, PS_CHECK_OK, "pins", NULL, "nothing pinned under %s yet", ps_pin_dir());
		return;
	}
	err = ps_layout_check(&ps_sock_layout, &why);
	if (err) {
		ps_doctor_check(r, PS_CHECK_FAIL, "pins", "detach with the portslice that attached them (portslice detach --all), then attach again",
				"%s", why.msg);
		return;
	}
	ps_pin_path(path, sizeof(path), PS_PINS_CGROUPS);
	ps_doctor_check(r, PS_CHECK_OK, "pins", NULL, "pins under %s have layout version %d%s", ps_pin_dir(), PS_LAYOUT_VERSION,
			ps_attachments_any() ? "" : " (no cgroup attached)");
}

void ps_doctor_check_host(struct ps_doctor_report *r, char *cgroup_mnt, size_t len)
{
	char release[256];
	struct kver v;
	bool view_ok;

	check_root(r);
	v = kernel_version(release, sizeof(release));
	check_kernel(r, v, release);
	check_btf(r);
	/* Another mount namespace's mounts are no answer about the host's: those checks wait. */
	view_ok = check_view(r);
	if (view_ok) {
		have_cgroup2(r, cgroup_mnt, len);
		check_bpffs(r);
	}
	check_features(r, v, release);
	if (view_ok)
		check_pins(r);
}
