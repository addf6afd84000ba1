// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/cli.h"
#include "core/log.h"

static enum ps_log_level log_level = PS_LOG_WARN;
static ps_log_sink_fn log_sink;
static bool log_json;
static const char *log_who;
static json_object *warnings;

void ps_log_set_level(enum ps_log_level level)
{
	log_level = level;
}

enum ps_log_level ps_log_get_level(void)
{
	return log_level;
}

void ps_log_set_sink(ps_log_sink_fn sink)
{
	log_sink = sink;
}

void ps_log_set_json(bool on)
{
	log_json = on;
}

bool ps_log_json(void)
{
	return log_json;
}

void ps_log_set_component(const char *who)
{
	log_who = who;
}

static const char *level_name(enum ps_log_level level)
{
	switch (level) {
	case PS_LOG_ERR:
		return "error";
	case PS_LOG_WARN:
		return "warning";
	case PS_LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

static void write_line(enum ps_log_level level, const char *msg)
{
	struct timespec ts;
	json_object *o;

	if (!log_json) {
		/* The CLI's progress lines carry no level; the agent's log names every one. */
		if (log_who)
			fprintf(stderr, "portslice %s: %s: %s\n", log_who, level_name(level), msg);
		else if (level == PS_LOG_INFO)
			fprintf(stderr, "portslice: %s\n", msg);
		else
			fprintf(stderr, "portslice: %s: %s\n", level_name(level), msg);
		return;
	}
	o = json_object_new_object();
	clock_gettime(CLOCK_REALTIME, &ts);
	json_object_object_add(o, "time", json_object_new_double(ts.tv_sec + ts.tv_nsec / 1e9));
	json_object_object_add(o, "level", json_object_new_string(level_name(level)));
	if (log_who)
		json_object_object_add(o, "component", json_object_new_string(log_who));
	json_object_object_add(o, "message", json_object_new_string(msg));
	fprintf(stderr, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

void ps_log(enum ps_log_level level, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log_sink && log_sink(level, msg))
		return;
	/*
	 * A command's warnings go into its JSON answer too. A daemon (a
	 * component) has no answer: its threads log for ever, and a list would
	 * only grow, unlocked.
	 */
	if (log_json && level == PS_LOG_WARN && !log_who) {
		if (!warnings)
			warnings = json_object_new_array();
		json_object_array_add(warnings, json_object_new_string(msg));
	}
	write_line(level, msg);
}

int ps_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	/* Demote: libbpf warnings are debug output unless -v was given. */
	if (log_level < PS_LOG_DEBUG || level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, args);
}

json_object *ps_log_warnings(void)
{
	return warnings ? json_object_get(warnings) : NULL;
}

void ps_json_print(json_object *root)
{
	if (warnings)
		json_object_object_add(root, "warnings", json_object_get(warnings));
	puts(json_object_to_json_string_ext(root, ps_pretty ? JSON_C_TO_STRING_PRETTY : JSON_C_TO_STRING_PLAIN));
	fflush(stdout);
	json_object_put(root);
}
