// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target: the fleet configuration parser and validator
 * (ps_config_load_buf() and the exported parsers of loader/core/config.h).
 * A breach of the contract checked by tests/lib/config_check.h aborts; memory
 * errors, leaks and undefined behaviour are the sanitizers' to report.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "config_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *breach = config_check(data, size);

	if (breach) {
		fprintf(stderr, "fuzz_config: %s\n", breach);
		abort();
	}
	return 0;
}
