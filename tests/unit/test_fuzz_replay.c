// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Replays the fuzzers' inputs kept in the repository through the same checks
 * the fuzzers make (tests/lib/config_check.h, tests/lib/steer_world.h),
 * without libFuzzer or clang: the seed corpora fuzz/corpus/{config,steer}/
 * and the regression inputs fuzz/regress/{config,steer}/ (every crash a
 * fuzzer finds is copied there, so it stays fixed).
 *
 * The fuzz/ directory is found from the binary ($OUTPUT/tests/ -> ../../fuzz),
 * or set PS_FUZZ_DIR.
 */
#include <dirent.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "config_check.h"
#include "steer_world.h"

static char fuzz_dir[PATH_MAX];

static int find_fuzz_dir(void)
{
	const char *env = getenv("PS_FUZZ_DIR");
	char exe[PATH_MAX], *slash;
	struct stat st;
	ssize_t n;
	int up;

	if (env && *env) {
		snprintf(fuzz_dir, sizeof(fuzz_dir), "%s", env);
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		/* OUTPUT/tests/test_fuzz_replay: strip three components. */
		for (up = 0; up < 3 && (slash = strrchr(exe, '/')); up++)
			*slash = '\0';
		if (up == 3) {
			snprintf(fuzz_dir, sizeof(fuzz_dir), "%.4000s/fuzz/corpus", exe);
			if (!stat(fuzz_dir, &st) && S_ISDIR(st.st_mode)) {
				snprintf(fuzz_dir, sizeof(fuzz_dir), "%.4000s/fuzz", exe);
				return 0;
			}
		}
	}
	snprintf(fuzz_dir, sizeof(fuzz_dir), "fuzz");
	return stat("fuzz/corpus", &st) ? -1 : 0;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (!fseek(f, 0, SEEK_END) && (n = ftell(f)) >= 0 && !fseek(f, 0, SEEK_SET)) {
		buf = malloc((size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		*len = (size_t)n;
	}
	fclose(f);
	return buf;
}

/* Run @check on every file of fuzz/<kind>/<target>/; returns how many. */
static int replay_dir(const char *kind, const char *target,
		      const char *(*check)(const uint8_t *, size_t))
{
	char dir[PATH_MAX], path[PATH_MAX + 256];
	struct dirent *de;
	int count = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%.4000s/%s/%s", fuzz_dir, kind, target);
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		const char *breach;
		uint8_t *buf;
		size_t len = 0;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		buf = slurp(path, &len);
		if (!buf)
			continue;
		breach = check(buf, len);
		free(buf);
		if (breach) {
			closedir(d);
			fail_msg("%s: %s", path, breach);
		}
		count++;
	}
	closedir(d);
	return count;
}

static void test_config_corpus(void **state)
{
	int n = replay_dir("corpus", "config", config_check);

	assert_true(n >= 10);
	replay_dir("regress", "config", config_check);
}

static void test_steer_corpus(void **state)
{
	int n;

	if (steer_world_init())
		fail_msg("cannot set up the steering world");
	n = replay_dir("corpus", "steer", steer_world_check);
	replay_dir("regress", "steer", steer_world_check);
	steer_world_fini();
	assert_true(n >= 50);
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_corpus),
		cmocka_unit_test(test_steer_corpus),
	};

	if (find_fuzz_dir()) {
		fprintf(stderr, "test_fuzz_replay: no fuzz/corpus found; set PS_FUZZ_DIR\n");
		return 1;
	}
	return cmocka_run_group_tests_name("fuzz corpus replay", tests, NULL, NULL);
}
