// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Fleet configuration parser and validator: the public API (config.h),
 * loading the file and the top-level table.
 *
 * libyaml's document API builds the node tree; the loader walks it with one
 * table of {key, handler} per mapping level, so a new key is one table row
 * plus its handler. The tree (not the event stream) is used because checks
 * need siblings that may come later in the file: a pool's destinations are
 * checked against its address whatever order the keys are written in.
 *
 * Every problem is reported as "FILE:LINE: FIELD: problem[; remedy]". A
 * mapping's keys, the items of a list and the top-level sections are
 * checked independently, so one load finds every error (struct ps_error);
 * a check across sections is skipped while a section it reads has errors. Values are only ever read as
 * strings and parsed by the loader: YAML 1.1 typing (octal 020000, 0x10, yes/no,
 * sexagesimal 20:30) would otherwise silently turn typos into numbers.
 *
 * The loader's files: config.c (this), config_yaml.c (the walk, errors,
 * the key-table dispatcher), config_pools.c (pools:), config_fleet.c
 * (hosts:, steering:, cgroups:), config_etcd.c (etcd: and dynamic pools);
 * addresses, ports and names are addr.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "core/config.h"
#include "core/config_etcd.h"
#include "core/config_fleet.h"
#include "core/config_pools.h"
#include "core/config_yaml.h"

/* Anything bigger is not a hand-written fleet file; refuse before parsing. */
#define PS_CONFIG_MAX_SIZE (64U << 20)

/*
 * Rows run in this order: hosts checks the pools' slices, steering needs
 * hosts, cgroups names pools, etcd reads the dynamic pools' reuse_delay.
 */
static const struct ps_key ps_top_keys[] = {
	{ "pools",    true,  ps_parse_pools },
	{ "hosts",    false, ps_parse_hosts },
	{ "steering", false, ps_parse_steering },
	{ "cgroups",  false, ps_parse_cgroups },
	{ "etcd",     false, ps_parse_etcd },
};

static int ps_parse_root(struct ps_ctx *ctx)
{
	yaml_node_t *root = yaml_document_get_root_node(ctx->doc);
	int ret;

	if (!root || ps_is_null(root))
		return ps_invalid(ctx, root ? ps_line(root) : 1, "top level",
			       "the configuration is empty; expected a mapping with a \"pools\" list");
	ret = ps_parse_keys(ctx, root, "", "a mapping with a \"pools\" list", PS_KEYS(ps_top_keys), ctx->cfg);
	return ret == -ENOMEM ? ret : ps_worse(ret, ps_check_etcd_needed(ctx));
}

void ps_config_free(struct ps_config *cfg)
{
	size_t i, j;

	if (!cfg)
		return;
	for (i = 0; i < cfg->n_pools; i++) {
		struct ps_pool_cfg *pool = &cfg->pools[i];

		for (j = 0; j < pool->n_slices; j++)
			free(pool->slices[j].host);
		free(pool->slices);
		free(pool->dsts);
	}
	free(cfg->pools);
	for (i = 0; i < cfg->n_cgroups; i++) {
		free(cfg->cgroups[i].path);
		free(cfg->cgroups[i].pools);
	}
	free(cfg->cgroups);
	free(cfg->hosts);
	free(cfg->steering.interfaces);
	free(cfg->etcd.endpoints);
	free(cfg->etcd.ca);
	free(cfg->etcd.cert);
	free(cfg->etcd.key);
	free(cfg->path);
	memset(cfg, 0, sizeof(*cfg));
}

static int load_buf(const char *name, const char *buf, size_t len, struct ps_config *cfg, struct ps_error *err)
{
	struct ps_config tmp = { 0 };
	yaml_parser_t parser;
	yaml_document_t doc;
	struct ps_ctx ctx;
	int ret;

	if (!name)
		name = "<config>";
	ps_error_init(err, name);
	memset(cfg, 0, sizeof(*cfg));
	if (!buf)
		buf = "";
	ctx = (struct ps_ctx){
		.file = name, .buf = buf, .len = len, .doc = &doc, .cfg = &tmp, .err = err,
	};

	tmp.path = strdup(name);
	if (!tmp.path)
		return ps_oom(&ctx);
	if (!yaml_parser_initialize(&parser)) {
		free(tmp.path);
		return ps_oom(&ctx);
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		ret = ps_yaml_error(&ctx, &parser);
		goto out;
	}
	ret = ps_parse_root(&ctx);
	if (!ret)
		ret = ps_check_single_doc(&ctx, &parser);
	/* Every slice knows its host's id: steering looks owners up by it, never by name. */
	for (size_t i = 0; !ret && i < tmp.n_pools; i++)
		for (size_t j = 0; j < tmp.pools[i].n_slices; j++)
			tmp.pools[i].slices[j].host_id = ps_config_host_id(&tmp, tmp.pools[i].slices[j].host);
	yaml_document_delete(&doc);
out:
	yaml_parser_delete(&parser);
	if (ret) {
		ps_config_free(&tmp);
		return ret;
	}
	*cfg = tmp;
	return 0;
}

static int load_file(const char *path, struct ps_config *cfg, struct ps_error *err)
{
	size_t len = 0, cap;
	char *buf = NULL, *nbuf;
	struct stat st;
	int fd, ret;
	ssize_t n;

	ps_error_init(err, path);
	memset(cfg, 0, sizeof(*cfg));

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		ps_error_file(err, "cannot open: %s", strerror(-ret));
		return ret;
	}
	cap = 4096;
	if (!fstat(fd, &st) && S_ISREG(st.st_mode) && st.st_size > 0) {
		if ((uint64_t)st.st_size > PS_CONFIG_MAX_SIZE)
			goto too_big;
		/* One byte more than the size, so EOF is seen without a realloc. */
		cap = (size_t)st.st_size + 1;
	}
	buf = malloc(cap);
	if (!buf)
		goto oom;

	for (;;) {
		if (len == cap) {
			if (len >= PS_CONFIG_MAX_SIZE)
				goto too_big;
			cap *= 2;
			nbuf = realloc(buf, cap);
			if (!nbuf)
				goto oom;
			buf = nbuf;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			ps_error_file(err, "cannot read: %s", strerror(-ret));
			goto out;
		}
		if (!n)
			break;
		len += (size_t)n;
	}
	ret = load_buf(path, buf, len, cfg, err);
	goto out;
too_big:
	ret = -EFBIG;
	ps_error_file(err, "larger than %u MiB; not a portslice configuration", PS_CONFIG_MAX_SIZE >> 20);
	goto out;
oom:
	ret = -ENOMEM;
	ps_error_file(err, "out of memory");
out:
	free(buf);
	close(fd);
	return ret;
}

int ps_config_load_buf(const char *name, const char *buf, size_t len, struct ps_config *cfg,
		       struct ps_error *err)
{
	struct ps_error dummy;

	if (!err)
		err = &dummy;
	return ps_error_done(err, load_buf(name, buf, len, cfg, err));
}

int ps_config_load_file(const char *path, struct ps_config *cfg, struct ps_error *err)
{
	struct ps_error dummy;

	if (!err)
		err = &dummy;
	return ps_error_done(err, load_file(path, cfg, err));
}

const struct ps_pool_cfg *ps_config_find_pool(const struct ps_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_pools; i++)
		if (!strcmp(cfg->pools[i].name, name))
			return &cfg->pools[i];
	return NULL;
}

const struct ps_slice_cfg *ps_pool_find_slice(const struct ps_pool_cfg *pool, const char *host)
{
	if (pool->dynamic)
		return &pool->any_host;
	for (size_t i = 0; i < pool->n_slices; i++)
		if (!strcmp(pool->slices[i].host, host))
			return &pool->slices[i];
	return NULL;
}

/* Ids are positions in hosts:, so the lookup by name is the id's and ps_config_find_host() builds on it. */
unsigned int ps_config_host_id(const struct ps_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_hosts; i++)
		if (!strcmp(cfg->hosts[i].name, name))
			return (unsigned int)i + 1;
	return PS_STEER_NO_HOST;
}

const struct ps_host_cfg *ps_config_find_host(const struct ps_config *cfg, const char *name)
{
	return ps_config_host_by_id(cfg, ps_config_host_id(cfg, name));
}

const struct ps_host_cfg *ps_config_host_by_id(const struct ps_config *cfg, unsigned int id)
{
	return id >= 1 && id <= cfg->n_hosts ? &cfg->hosts[id - 1] : NULL;
}

int ps_config_warn_local_range(const struct ps_config *cfg, const char *host,
			       struct ps_port_range local,
			       void (*warn)(const char *msg, void *arg), void *arg)
{
	char msg[512], addr[PS_ADDR_STR_LEN];
	int count = 0;
	size_t i;

	for (i = 0; i < cfg->n_pools; i++) {
		const struct ps_pool_cfg *pool = &cfg->pools[i];
		const struct ps_slice_cfg *s = ps_pool_find_slice(pool, host);

		for (size_t j = 0; s && j < s->n_blocks; j++) {
			struct ps_port_range r = s->blocks[j];
			unsigned int lo, hi;

			if (!ps_ranges_overlap(r, local))
				continue;
			count++;
			if (!warn)
				continue;
			lo = r.lo > local.lo ? r.lo : local.lo;
			hi = r.hi < local.hi ? r.hi : local.hi;
			ps_format_addr(pool->family, pool->addr, addr, sizeof(addr));
			snprintf(msg, sizeof(msg),
				 "pool %s (%s): ports %u-%u of the %s %u-%u %s %s are inside the local port range %u-%u (net.ipv4.ip_local_port_range); the kernel may hand them to other sockets and portslice then has to skip them; move the %s or shrink the local port range",
				 pool->name, addr, lo, hi, pool->dynamic ? "dynamic range" : "slice", r.lo, r.hi,
				 pool->dynamic ? "(blocks of it may be leased) of host" : "of host", host, local.lo, local.hi,
				 pool->dynamic ? "pool's ports" : "slice");
			warn(msg, arg);
		}
	}
	return count;
}
