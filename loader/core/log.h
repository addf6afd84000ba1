/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one logger, of the CLI and the agent alike. Levels are syslog
 * priorities, as the journal takes them. Lines go to stderr ("portslice:
 * warning: ..."; the agent's "portslice agent: info: ..."), as JSON lines
 * with -j, or to a sink (the agent's journal, core/journal.h).
 *
 * A command's failure is not logged: it goes up in its struct ps_error
 * (core/error.h) and main prints it once.
 */
#ifndef PS_CORE_LOG_H
#define PS_CORE_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>

enum ps_log_level {
	PS_LOG_ERR = 3,
	PS_LOG_WARN = 4,
	PS_LOG_INFO = 6,
	PS_LOG_DEBUG = 7,
};

/* Messages above @level are dropped (default PS_LOG_WARN; -v: PS_LOG_DEBUG). */
void ps_log_set_level(enum ps_log_level level);
enum ps_log_level ps_log_get_level(void);
/*
 * -j/--json: every message becomes one JSON line on stderr ({"time", "level",
 * "component", "message"}) and warnings are kept for ps_json_print().
 */
void ps_log_set_json(bool on);
bool ps_log_json(void);
/* The program part that logs ("agent"): named in every line; its warnings are not kept for a JSON answer. */
void ps_log_set_component(const char *who);

void ps_log(enum ps_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Where messages go instead of stderr (the agent's journal): the sink
 * returns false when it did not take one, which then goes to stderr.
 */
typedef bool (*ps_log_sink_fn)(enum ps_log_level level, const char *msg);
void ps_log_set_sink(ps_log_sink_fn sink);

#define pr_err(...) ps_log(PS_LOG_ERR, __VA_ARGS__)
#define pr_warn(...) ps_log(PS_LOG_WARN, __VA_ARGS__)
#define pr_info(...) ps_log(PS_LOG_INFO, __VA_ARGS__)
#define pr_debug(...) ps_log(PS_LOG_DEBUG, __VA_ARGS__)

/* libbpf's own messages, demoted one level: portslice prints its own errors. */
int ps_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args);

/* The warnings logged in --json mode so far (a new reference), NULL when none. */
json_object *ps_log_warnings(void);

/*
 * Prints a command's JSON result on stdout (indented with -p), with the
 * warnings of the run under "warnings" when there were any. Takes @root.
 */
void ps_json_print(json_object *root);

#endif
