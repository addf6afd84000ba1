// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "core/trust.h"

/* Symlinks followed at the most on the way to the config, as the kernel's own limit. */
#define TRUST_MAX_LINKS 40

static bool on_readonly_mount(const char *path)
{
	struct statvfs vfs;

	/* A read-only mount (a Kubernetes ConfigMap) cannot be rewritten by anyone here. */
	return !statvfs(path, &vfs) && vfs.f_flag & ST_RDONLY;
}

/*
 * One step of the path: a directory, the file, or a symlink on the way.
 * Root must own it and nobody else may write it, except a directory with
 * the sticky bit (/tmp): others may add names there, but not replace root's,
 * and the next step is checked in turn.
 */
static int check_step(const char *path, const struct stat *st, const char *what, const char *config, struct ps_error *error)
{
	const char *tail = "and whoever can write it decides which cgroups and ports portslice uses";
	bool is_dir = S_ISDIR(st->st_mode), is_link = S_ISLNK(st->st_mode);
	const char *on_way = strcmp(path, config) ? " (on the way to " : "";

	if (!is_link && on_readonly_mount(path))
		return 0;
	if (st->st_uid != 0)
		return ps_fail(error, EPERM, "refusing the config %s %s%s%s%s: it is owned by uid %u, not root, %s; fix: chown root:root %s",
			      what, path, on_way, *on_way ? config : "", *on_way ? ")" : "", (unsigned int)st->st_uid, tail,
			      path);
	if (is_link || (is_dir && st->st_mode & S_ISVTX))
		return 0;
	if (st->st_mode & S_IWOTH)
		return ps_fail(error, EPERM, "refusing the config %s %s%s%s%s: every user may write it (mode %04o), %s; fix: chmod o-w %s",
			      what, path, on_way, *on_way ? config : "", *on_way ? ")" : "",
			      (unsigned int)(st->st_mode & 07777), tail, path);
	if (st->st_mode & S_IWGRP && st->st_gid != 0)
		return ps_fail(error, EPERM, "refusing the config %s %s%s%s%s: group %u may write it (mode %04o), %s; fix: chmod g-w %s",
			      what, path, on_way, *on_way ? config : "", *on_way ? ")" : "", (unsigned int)st->st_gid,
			      (unsigned int)(st->st_mode & 07777), tail, path);
	return 0;
}

/*
 * Walks @file from / as the kernel resolves it: every directory, every
 * symlink and what it points to, then the file. Whoever can change any of
 * them can make the agent read another config (swap a link, rename a
 * directory), so each must pass check_step().
 */
int ps_config_trusted(const char *file, struct ps_error *error)
{
	char cur[PATH_MAX] = "", rest[2 * PATH_MAX], target[PATH_MAX];
	int links = 0, err;
	struct stat st;

	if (file[0] != '/') {
		if (!getcwd(cur, sizeof(cur)))
			return ps_fail(error, errno, "cannot resolve the config path %s: %s", file, strerror(errno));
		if (!strcmp(cur, "/"))
			cur[0] = '\0';
	}
	snprintf(rest, sizeof(rest), "%s", file);
	if (stat("/", &st))
		return ps_fail(error, errno, "cannot stat /: %s", strerror(errno));
	err = check_step("/", &st, "directory", file, error);
	while (!err && rest[0]) {
		char *slash = strchr(rest, '/'), comp[NAME_MAX + 1], next[PATH_MAX];
		size_t n = slash ? (size_t)(slash - rest) : strlen(rest);

		if (n > NAME_MAX)
			return ps_fail(error, ENAMETOOLONG, "config path %s: a name is too long", file);
		memcpy(comp, rest, n);
		comp[n] = '\0';
		memmove(rest, slash ? slash + 1 : rest + n, strlen(slash ? slash + 1 : rest + n) + 1);
		if (!n || !strcmp(comp, "."))
			continue;
		if (!strcmp(comp, "..")) {
			char *up = strrchr(cur, '/');

			if (up)
				*up = '\0';
			continue;
		}
		if ((size_t)snprintf(next, sizeof(next), "%s/%s", cur, comp) >= sizeof(next))
			return ps_fail(error, ENAMETOOLONG, "config path %s: too long once its symlinks are resolved", file);
		if (lstat(next, &st))
			return ps_fail(error, errno, "cannot stat %s (on the way to the config %s): %s", next, file, strerror(errno));
		if (!S_ISLNK(st.st_mode)) {
			err = check_step(next, &st, rest[0] || S_ISDIR(st.st_mode) ? "directory" : "file", rest[0] ? file : next, error);
			memcpy(cur, next, strlen(next) + 1);
			continue;
		}
		/* The link, then where it points: the rest of the path continues from there. */
		err = check_step(next, &st, "symlink", file, error);
		if (err)
			break;
		if (++links > TRUST_MAX_LINKS)
			return ps_fail(error, ELOOP, "config path %s: too many symlinks", file);
		ssize_t len = readlink(next, target, sizeof(target) - 1);

		if (len < 0)
			return ps_fail(error, errno, "cannot read the symlink %s: %s", next, strerror(errno));
		target[len] = '\0';
		if (strlen(target) + 1 + strlen(rest) + 1 > sizeof(rest))
			return ps_fail(error, ENAMETOOLONG, "config path %s: too long once its symlinks are resolved", file);
		memmove(rest + len + 1, rest, strlen(rest) + 1);
		memcpy(rest, target, (size_t)len);
		rest[len] = rest[len + 1] ? '/' : '\0';
		if (target[0] == '/')
			cur[0] = '\0';
	}
	return err;
}
