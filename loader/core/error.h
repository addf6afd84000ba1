/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Why an operation failed. A command (or one task of the agent) owns one
 * struct ps_error and passes it down to every function that can fail, as
 * its last argument. The first failure recorded is kept: it is the cause,
 * what fails after it are consequences. main prints it once, as text or,
 * with --json, as {"error": ...}.
 *
 * A config load fills the same object: every error it found (items), and
 * the file, line and field of the first.
 */
#ifndef PS_CORE_ERROR_H
#define PS_CORE_ERROR_H

#include <stdbool.h>
#include <stddef.h>
#include <json-c/json.h>

/* Errors of one config file kept at the most; more are counted in n_more. */
#define PS_MAX_ERRORS 16

struct ps_error_item {
	int line;                    /* 1-based; 0: the file as a whole */
	char field[160];             /* "pools[0].slices.host-a", "syntax error", "top level" */
	char problem[512];           /* what is wrong and the remedy, without file, line and field */
};

struct ps_error {
	int code;                    /* positive errno of the failure; 0: none recorded */
	char msg[1024];              /* the cause, with what to do; config errors: "FILE:LINE: FIELD: problem" */
	char file[256];              /* the config file the failure is about ("" none) */
	int line;                    /* ... the first error's line (0: the file as a whole) */
	char field[160];             /* ... and its field ("" none) */
	size_t n;                    /* config errors: items[0..n), every one found, in order */
	size_t n_more;               /* ... and how many more than PS_MAX_ERRORS */
	struct ps_error_item items[PS_MAX_ERRORS];
};

/*
 * Records @code (a positive errno; a negative one is taken as its absolute
 * value) and the message, unless @error already holds a failure. Returns
 * -code, so that callers write `return ps_fail(error, EINVAL, "...")`.
 * @error may be NULL: nothing is recorded.
 */
int ps_fail(struct ps_error *error, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same, about a place in a config file: its file, line (0: none) and field (NULL: none). */
int ps_fail_at(struct ps_error *error, int code, const char *file, int line, const char *field, const char *fmt,
	       ...) __attribute__((format(printf, 6, 7)));
/* Forgets what @error holds: for a caller that goes on after a failure it has handled. */
void ps_error_clear(struct ps_error *error);
static inline bool ps_failed(const struct ps_error *error)
{
	return error->code != 0;
}
/*
 * The message as shown to a user, into @buf: the cause, and when a config
 * load found more errors than the first, how many and where to see them all.
 */
const char *ps_error_text(const struct ps_error *error, char *buf, size_t len);
/* {"error": TEXT, "file", "line", "field", "errors": [{file, line, field, message}...]}. */
json_object *ps_error_json(const struct ps_error *error);

#endif
