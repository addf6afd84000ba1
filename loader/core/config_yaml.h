/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Internal to the config loader (config*.c); nothing else includes this.
 *
 * The walk over libyaml's node tree: the load's context, error recording
 * into struct ps_error, node helpers, the {key, handler} table dispatcher,
 * and the value checks several sections share (host-name keys, unicast
 * addresses, lists).
 */
#ifndef PS_CONFIG_YAML_H
#define PS_CONFIG_YAML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "core/config.h"

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

#define PS_PATH_LEN 160

struct ps_ctx {
	const char *file;
	const char *buf;
	size_t len;
	yaml_document_t *doc;
	struct ps_config *cfg;
	struct ps_error *err;
	int dsts_line;                 /* of the destinations key parsed last */
	int key_line;                  /* of the key whose handler runs */
	size_t n_dsts4, n_dsts6;       /* over the pools parsed so far */
	bool pools_failed;             /* pools: had errors: checks that read it are skipped */
	bool hosts_failed;             /* likewise for hosts: */
	const void *slices_ok;         /* the pool whose slices parsed without errors (its dynamic flag holds) */
	size_t n_dynamic;              /* dynamic pools so far */
	int etcd_lines[4];             /* lines of etcd's keys the checks across keys name (config_etcd.c) */
};

typedef int (*ps_key_fn)(struct ps_ctx *ctx, yaml_node_t *val, const char *path, void *obj);

struct ps_key {
	const char *name;
	bool required;
	ps_key_fn parse;
};

#define PS_MAX_KEYS 16

/* A key table and its size, as ps_parse_keys() takes them; a table too big fails to compile. */
#define PS_KEYS(t) (t), (ARRAY_SIZE(t) + 0 * sizeof(struct { \
	_Static_assert(ARRAY_SIZE(t) <= PS_MAX_KEYS, "raise PS_MAX_KEYS"); char c; }))

/* Errors. ps_invalid() records a content error (-EINVAL) and the walk goes on. */
void ps_error_init(struct ps_error *e, const char *file);
/* A load that failed with @ret: the error's code, and the first item's line and field. */
int  ps_error_done(struct ps_error *e, int ret);
/* An error about the whole file (line 0, no field): it cannot be opened, read, ... */
__attribute__((format(printf, 2, 3)))
void ps_error_file(struct ps_error *e, const char *fmt, ...);
__attribute__((format(printf, 4, 5)))
int  ps_invalid(struct ps_ctx *ctx, int line, const char *field, const char *fmt, ...);
int  ps_oom(struct ps_ctx *ctx);
/* Keeps the worst result: -ENOMEM ends a load, -EINVAL lets the walk go on. */
int  ps_worse(int have, int ret);
/* libyaml's parser error as a "syntax error" item. */
int  ps_yaml_error(struct ps_ctx *ctx, const yaml_parser_t *p);
/* libyaml loads one document per call; a second one would be ignored. */
int  ps_check_single_doc(struct ps_ctx *ctx, yaml_parser_t *parser);

/* Nodes. Lines are 1-based. */
int  ps_line(const yaml_node_t *n);
yaml_node_t *ps_node(struct ps_ctx *ctx, int index);
/* An empty value ("key:" with nothing after it) or an explicit null. */
bool ps_is_null(const yaml_node_t *n);
/* "a mapping", "a list", ...: what a node is, for messages. */
const char *ps_kind(const yaml_node_t *n);
/* A non-empty scalar without NUL characters; @what is what was expected. */
int  ps_scalar(struct ps_ctx *ctx, const yaml_node_t *n, const char *path, const char *what, const char **out);
size_t ps_seq_len(const yaml_node_t *n);
size_t ps_map_len(const yaml_node_t *n);
/* The line of a list's item @i. */
int  ps_item_line(struct ps_ctx *ctx, const yaml_node_t *seq, size_t i);
/*
 * A duration: milliseconds (500, 500ms) or seconds (2s, 2.5s: at most three
 * decimals), at most @max_ms; @too_long says why more is refused. 0, or the
 * error reported.
 */
int  ps_parse_duration(struct ps_ctx *ctx, yaml_node_t *val, const char *path, uint32_t max_ms,
		       const char *too_long, uint32_t *ms);
/*
 * A decimal number @min to @max, without sign, blanks or leading zeros;
 * @range says why outside is refused. 0, or the error reported.
 */
int  ps_parse_count(struct ps_ctx *ctx, yaml_node_t *val, const char *path, uint32_t min, uint32_t max,
		    const char *range, uint32_t *out);

/* "parent.key", truncated to PS_PATH_LEN. */
void ps_join(char *out, const char *parent, const char *key);

/*
 * A list (@type YAML_SEQUENCE_NODE) or mapping (YAML_MAPPING_NODE) value with
 * 1 to @max entries (@max 0: no limit): 0 with *n set, or an error worded
 * "empty; @if_empty", "expected @expected, got ..." or
 * "N @items; at most @max@per are allowed".
 */
int  ps_collection(struct ps_ctx *ctx, const yaml_node_t *val, const char *path, yaml_node_type_t type,
		   const char *if_empty, const char *expected, size_t max, const char *items,
		   const char *per, size_t *n);

/*
 * Check a mapping's keys against the table (unknown, repeated and missing
 * keys are errors), then run the handlers in table order rather than file
 * order, so a handler may rely on the rows above it having been parsed.
 */
int  ps_parse_keys(struct ps_ctx *ctx, yaml_node_t *map, const char *path,
		   const char *what, const struct ps_key *keys, size_t n_keys, void *obj);

/* A list or mapping value as ps_collection() checks it, and the size of one element of its array. */
struct ps_collection {
	yaml_node_type_t type;
	const char *if_empty, *expected;
	size_t max;
	const char *items, *per;
	size_t size;
};

/* ps_collection(), then a zeroed array of one element per entry; NULL with *ret set when that fails. */
void *ps_collection_alloc(struct ps_ctx *ctx, const yaml_node_t *val, const char *path,
			  const struct ps_collection *c, int *ret);

/*
 * A list whose items are mappings of one key table (pools:, cgroups:), each
 * parsed into its own element of an array of entries.
 */
struct ps_entries {
	struct ps_collection list;
	const char *what;                 /* one item, for ps_parse_keys() */
	size_t line;                      /* offsetof an entry's int line */
	/* Checks across entries, of one that parsed without errors (@path its path); NULL: none. */
	int (*done)(struct ps_ctx *ctx, void *entry, const char *path);
};

/*
 * Each item into its element of @array, counted in *count before it is
 * parsed so that a failure frees what is half-built; an item with errors
 * does not stop the next. @keys as for ps_parse_keys().
 */
int  ps_parse_entries(struct ps_ctx *ctx, yaml_node_t *val, const char *path,
		      const struct ps_entries *spec, const struct ps_key *keys, size_t n_keys,
		      void *array, size_t *count);

/*
 * A pool or host name (@kind "pool", "host"): not @empty, at most @max
 * characters, accepted by @valid. 0, or the error reported.
 */
int  ps_check_name(struct ps_ctx *ctx, int line, const char *path, const char *kind, const char *s,
		   bool empty, size_t max, bool (*valid)(const char *s));
/* A host name used as a mapping key (slices, hosts). */
int  ps_host_key(struct ps_ctx *ctx, const yaml_node_t *key, const char *path, const char **out);
/*
 * A single unicast address: what pools and hosts are identified by. @whose
 * completes "give the ... address" ("pool's shared", "host's underlay").
 */
int  ps_parse_unicast(struct ps_ctx *ctx, yaml_node_t *val, const char *path,
		      const char *whose, const char *role, int *family, uint8_t addr[16]);

/*
 * An entry's own address (pools[].address, hosts.NAME.address), which no
 * two entries of a section may share: where an entry keeps it, and how a
 * taken one is worded (@str the address, @i the entry that has it).
 */
struct ps_own_addr {
	const char *whose, *role;      /* as ps_parse_unicast() takes them */
	size_t size, family, addr;     /* sizeof an entry, offsetof its family and addr */
	int (*taken)(struct ps_ctx *ctx, int line, const char *path, const char *str, size_t i);
};

/* ps_parse_unicast() into @entry, an element of @entries, refusing an address an earlier one has. */
int  ps_parse_own_addr(struct ps_ctx *ctx, yaml_node_t *val, const char *path,
		       const struct ps_own_addr *own, const void *entries, void *entry);

#endif /* PS_CONFIG_YAML_H */
