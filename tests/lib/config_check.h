/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The contract of the fleet configuration parser and validator
 * (loader/core/config.c), checked on one input; shared by the libFuzzer target
 * fuzz/fuzz_config.c and the corpus replay test
 * tests/unit/test_fuzz_replay.c.
 *
 * config_check() loads the input with ps_config_load_buf() and checks the
 * contract of loader/core/config.h and the README's configuration reference on
 * whatever comes back: a success obeys every rule of the table (so a host
 * never loads a file the validator should have refused), a failure leaves
 * the config empty and names the file in its message. The memory checks
 * are the sanitizers'.
 */
#ifndef PS_TESTS_CONFIG_CHECK_H
#define PS_TESTS_CONFIG_CHECK_H

#include <stddef.h>
#include <stdint.h>

/* Load @data as a configuration; NULL when the contract held, else what broke. */
const char *config_check(const uint8_t *data, size_t size);

#endif
