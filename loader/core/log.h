/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Logging and error reporting. Warnings and progress go to stderr; the one
 * error that ends a command is recorded with ps_err() and printed by main,
 * as text or, in --json mode, as {"error": ...} on stdout.
 */
#ifndef PS_LOG_H
#define PS_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>

enum ps_log_level {
	PS_LOG_WARN,
	PS_LOG_INFO,
	PS_LOG_DEBUG,
};

void ps_log_set_level(enum ps_log_level level);
/*
 * -j/--json: every message becomes one JSON line on stderr ({"level":
 * "warning", "message": ...}) and warnings are kept for ps_json_print().
 * @who names the program part in the lines ("agent"); NULL keeps the last one.
 */
void ps_log_set_json(bool on, const char *who);
bool ps_log_json(void);
/* Writes one log line at syslog-style level name @level ("error", "info"...). */
void ps_log_line(const char *level, const char *msg);
enum ps_log_level ps_log_get_level(void);
void ps_log(enum ps_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Where ps_log's messages go instead of stderr (the agent's journal): the
 * sink returns false when it did not take one, which then goes to stderr.
 */
typedef bool (*ps_log_sink_fn)(enum ps_log_level level, const char *msg);
void ps_log_set_sink(ps_log_sink_fn sink);

#define pr_warn(...) ps_log(PS_LOG_WARN, __VA_ARGS__)
#define pr_info(...) ps_log(PS_LOG_INFO, __VA_ARGS__)
#define pr_debug(...) ps_log(PS_LOG_DEBUG, __VA_ARGS__)

/* libbpf's own messages, demoted one level: portslice prints its own errors. */
int ps_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args);

/*
 * Records why the command fails and returns -err (err is a positive errno),
 * so that callers can write `return ps_err(EINVAL, "...")`. The first
 * recorded error wins: it is the cause, later ones are consequences.
 */
int ps_err(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *ps_err_msg(void);
/* Forgets the recorded error: for long-running callers (the agent) between tasks. */
void ps_err_reset(void);

/*
 * Where the recorded error is: a file and, where known, its line (0: none)
 * and field (NULL: none). Kept with the first error only. With --json the
 * error object carries them as keys "file", "line" and "field".
 */
void ps_err_at(const char *file, int line, const char *field);
/* One more error of the same failure (every error of a config file), listed under "errors". */
void ps_err_detail(const char *file, int line, const char *field, const char *msg);
/* {"error": MSG, "file": ..., "line": ..., "field": ..., "errors": [...], "warnings": [...]}. */
json_object *ps_err_json(void);

/*
 * Prints a command's JSON result on stdout (indented with -p), with the
 * warnings of the run under "warnings" when there were any. Takes @root.
 */
void ps_json_print(json_object *root);

#endif
