// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target: the XDP steering program's packet parsing, through
 * bpf_prog_test_run_opts() on the real kernel. Byte 0 of an input picks the
 * mode (bit 0: encap), the rest is the frame. Every run is checked against
 * the independent reference of tests/lib/steer_world.h; the first breach (a
 * frame forwarded that should not be, a wrong verdict, counter or output)
 * aborts with a description, which libFuzzer saves as a crash input.
 *
 * The program is loaded once per mode, in a network namespace of this
 * process's own, with its maps unpinned: nothing is left behind.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "steer_env.h"
#include "steer_world.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fini(void)
{
	steer_world_fini();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (steer_world_init()) {
		fprintf(stderr, "fuzz_steer: cannot set up the steering world\n");
		exit(1);
	}
	atexit(fini);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *breach = steer_world_check(data, size);
	const struct sw_result *last = steer_world_last();

	if (getenv("FUZZ_STEER_VERBOSE"))
		fprintf(stderr, "fuzz_steer: %zu bytes: verdict %s, counter %s, to host %u\n", size,
			steer_verdict_name(last->verdict),
			last->counter < STEER_N_STATS ? steer_stat_names[last->counter] : "none", last->to);
	if (breach) {
		fprintf(stderr, "fuzz_steer: %s\n", breach);
		abort();
	}
	return 0;
}
