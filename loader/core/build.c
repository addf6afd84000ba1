// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>

#include "bpf_build_ids.h"
#include "core/build.h"

const char ps_build_id_sock[PS_BUILD_ID_LEN] = PS_SOCK_BUILD_ID;
const char ps_build_id_steer[PS_BUILD_ID_LEN] = PS_STEER_BUILD_ID;

#define BUILD_ID_VAR "bpf_metadata_build_id"

/* Where BUILD_ID_VAR lies in the .rodata of the BTF with this id: 0, or -ENOENT. */
static int build_id_var(__u32 btf_id, __u32 *offset, __u32 *size)
{
	struct btf *btf = btf__load_from_kernel_by_id(btf_id);
	const struct btf_var_secinfo *vs;
	const struct btf_type *sec;
	int id, err = -ENOENT;

	if (!btf)
		return -errno;
	id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
	sec = id > 0 ? btf__type_by_id(btf, id) : NULL;
	vs = sec ? btf_var_secinfos(sec) : NULL;
	for (int i = 0; sec && i < btf_vlen(sec) && err; i++, vs++) {
		const struct btf_type *var = btf__type_by_id(btf, vs->type);

		if (var && !strcmp(btf__name_by_offset(btf, var->name_off), BUILD_ID_VAR)) {
			*offset = vs->offset;
			*size = vs->size;
			err = 0;
		}
	}
	btf__free(btf);
	return err;
}

/* The build id in the .rodata map @fd (@mi its info); "" when it holds none. */
static int rodata_build_id(int fd, const struct bpf_map_info *mi, char out[PS_BUILD_ID_LEN])
{
	/* Every program of one load shares its .rodata, and .rodata is frozen: one read per map. */
	static __thread __u32 cached_map;
	static __thread char cached[PS_BUILD_ID_LEN];
	__u32 off = 0, size = 0, zero = 0;
	char *val;
	int err;

	if (cached_map && cached_map == mi->id) {
		memcpy(out, cached, PS_BUILD_ID_LEN);
		return 0;
	}
	out[0] = '\0';
	err = mi->btf_id ? build_id_var(mi->btf_id, &off, &size) : -ENOENT;
	if (err)
		return err == -ENOENT ? 0 : err;
	if (off > mi->value_size || size > mi->value_size - off)
		return 0;
	val = calloc(1, mi->value_size);
	if (!val)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &zero, val)) {
		err = -errno;
		free(val);
		return err;
	}
	size = size < PS_BUILD_ID_LEN - 1 ? size : PS_BUILD_ID_LEN - 1;
	memcpy(out, val + off, size);
	out[size] = '\0';
	free(val);
	/* Only hex digits are a build id: anything else is not ours to print. */
	if (strspn(out, "0123456789abcdef") != strlen(out))
		out[0] = '\0';
	cached_map = mi->id;
	memcpy(cached, out, PS_BUILD_ID_LEN);
	return 0;
}

int ps_prog_rodata_fd(int prog_fd, struct bpf_map_info *mi)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info), ids[16], n;

	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return -errno;
	n = info.nr_map_ids < 16 ? info.nr_map_ids : 16;
	memset(&info, 0, sizeof(info));
	info.nr_map_ids = n;
	info.map_ids = (__u64)(unsigned long)ids;
	len = sizeof(info);
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return -errno;
	for (__u32 i = 0; i < n; i++) {
		__u32 mlen = sizeof(*mi);
		int fd = bpf_map_get_fd_by_id(ids[i]);
		size_t nlen;

		if (fd < 0)
			continue;
		memset(mi, 0, sizeof(*mi));
		/* libbpf names it "<object>.rodata", truncated to the kernel's 15 characters from the front. */
		if (!bpf_obj_get_info_by_fd(fd, mi, &mlen) && (nlen = strlen(mi->name)) >= 7 &&
		    !strcmp(mi->name + nlen - 7, ".rodata"))
			return fd;
		close(fd);
	}
	return -ENOENT;
}

int ps_prog_build_read(int prog_fd, struct ps_prog_build *out)
{
	struct bpf_prog_info info = {};
	struct bpf_map_info mi;
	__u32 len = sizeof(info);
	int fd, err;

	memset(out, 0, sizeof(*out));
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return -errno;
	out->prog_id = info.id;
	snprintf(out->name, sizeof(out->name), "%s", info.name);
	for (int i = 0; i < 8; i++)
		snprintf(out->tag + 2 * i, 3, "%02x", info.tag[i]);
	/* libbpf binds .rodata to every program it loads, used or not (BPF_PROG_BIND_MAP). */
	fd = ps_prog_rodata_fd(prog_fd, &mi);
	if (fd < 0)
		return fd == -ENOENT ? 0 : fd;
	err = rodata_build_id(fd, &mi, out->build_id);
	close(fd);
	return err;
}

int ps_link_build_read(const char *pin, struct ps_prog_build *out)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(pin), pfd, err;

	memset(out, 0, sizeof(*out));
	if (fd < 0)
		return -errno;
	err = bpf_obj_get_info_by_fd(fd, &info, &len) ? -errno : 0;
	close(fd);
	if (err)
		return err;
	pfd = bpf_prog_get_fd_by_id(info.prog_id);
	if (pfd < 0)
		return -errno;
	err = ps_prog_build_read(pfd, out);
	close(pfd);
	out->link_id = info.id;
	return err;
}

const char *ps_build_id_str(const struct ps_prog_build *p)
{
	return p->build_id[0] ? p->build_id : "none";
}

void ps_prog_build_json(json_object *o, const struct ps_prog_build *p, const char *want)
{
	json_object_object_add(o, "prog_id", json_object_new_uint64(p->prog_id));
	json_object_object_add(o, "tag", json_object_new_string(p->tag));
	json_object_object_add(o, "build_id", p->build_id[0] ? json_object_new_string(p->build_id) : NULL);
	json_object_object_add(o, "build_current", json_object_new_boolean(!strcmp(p->build_id, want)));
}
