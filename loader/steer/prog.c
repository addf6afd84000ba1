// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The steering program: loaded with its settings and build id in .rodata,
 * and what a loaded one was given.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "steer.skel.h"
#include "core/build.h"
#include "core/log.h"
#include "core/pins.h"
#include "steer/prog.h"

static bool settings_equal(const struct ps_steer__rodata *a, const struct ps_steer__rodata *b)
{
	return a->ps_self_host == b->ps_self_host && a->ps_steer_mode == b->ps_steer_mode &&
	       a->ps_self_underlay4 == b->ps_self_underlay4 &&
	       !memcmp(a->ps_self_underlay6, b->ps_self_underlay6, sizeof(a->ps_self_underlay6));
}

int ps_steer_prog_settings(int prog_fd, struct ps_steer__rodata *out)
{
	struct bpf_map_info mi;
	__u32 zero = 0;
	int fd = ps_prog_rodata_fd(prog_fd, &mi), err;

	if (fd < 0)
		return fd;
	/* Another size: another build's .rodata, which this one cannot read. */
	err = mi.value_size != sizeof(*out) ? -ENOENT : bpf_map_lookup_elem(fd, &zero, out) ? -errno : 0;
	close(fd);
	return err;
}

bool ps_steer_prog_is(int prog_fd, const struct ps_steer__rodata *want, char other[PS_BUILD_ID_LEN])
{
	struct ps_steer__rodata have;
	struct ps_prog_build b;

	if (ps_prog_build_read(prog_fd, &b))
		return false;
	if (strcmp(b.build_id, ps_build_id_steer)) {
		if (!other[0])
			snprintf(other, PS_BUILD_ID_LEN, "%s", ps_build_id_str(&b));
		return false;
	}
	return !ps_steer_prog_settings(prog_fd, &have) && settings_equal(&have, want);
}

__u32 ps_steer_prog_id(int prog_fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(prog_fd, &info, &len) ? 0 : info.id;
}

void ps_steer_prog_want(const struct ps_config *cfg, const struct ps_host_cfg *self, __u32 self_id,
			struct ps_steer__rodata *want)
{
	memset(want, 0, sizeof(*want));
	want->ps_self_host = self_id;
	want->ps_steer_mode = cfg->steering.mode;
	memcpy((void *)want->bpf_metadata_build_id, ps_build_id_steer, PS_BUILD_ID_LEN);
	if (self->family == AF_INET)
		memcpy((void *)&want->ps_self_underlay4, self->addr, 4);
	else
		memcpy((void *)want->ps_self_underlay6, self->addr, 16);
}

void ps_steer_warn_config(const struct ps_config *cfg, const struct ps_host_cfg *self)
{
	if (cfg->steering.mode != PS_STEER_ENCAP)
		return;
	for (size_t i = 0; i < cfg->n_hosts; i++)
		if (cfg->hosts[i].family != self->family)
			pr_warn("host %s has an %s underlay address but this host (%s) has an %s one: replies owned by it are dropped (dropped_no_route)",
				cfg->hosts[i].name, cfg->hosts[i].family == AF_INET ? "IPv4" : "IPv6", self->name,
				self->family == AF_INET ? "IPv4" : "IPv6");
}

int ps_steer_prog_load(struct ps_steer **out, const struct ps_steer__rodata *want, struct ps_error *error)
{
	char maps_dir[PATH_MAX];
	struct ps_steer *skel;
	int err;

	if (ps_pin_path(maps_dir, sizeof(maps_dir), "maps"))
		return ps_fail(error, ENAMETOOLONG, "pin dir %s: name too long", ps_pin_dir());
	if (mkdir(ps_pin_dir(), 0700) && errno != EEXIST)
		return ps_fail(error, errno, "cannot create %s: %s", ps_pin_dir(), strerror(errno));
	if (mkdir(maps_dir, 0700) && errno != EEXIST)
		return ps_fail(error, errno, "cannot create %s: %s", maps_dir, strerror(errno));

	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = maps_dir);
	skel = ps_steer__open_opts(&opts);
	if (!skel)
		return ps_fail(error, errno, "cannot open the steering BPF object: %s", strerror(errno));
	*skel->rodata = *want;
	err = ps_steer__load(skel);
	if (err) {
		ps_steer__destroy(skel);
		return ps_fail(error, err, "the kernel refused the steering program (%s); run with -v for the verifier's log, "
			      "and check the kernel requirements in the README", strerror(-err));
	}
	*out = skel;
	return 0;
}
