// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/cli.h"
#include "core/log.h"

static enum ps_log_level log_level = PS_LOG_WARN;
static ps_log_sink_fn log_sink;
static char err_msg[1024];

/* Where the first error is (ps_err_at) and every error of its kind (ps_err_detail). */
static struct {
	char file[256];
	int line;
	char field[160];
	bool set;
} err_where;
static json_object *err_details;

static bool log_json;
static const char *log_who;
static json_object *warnings;

void ps_log_set_level(enum ps_log_level level)
{
	log_level = level;
}

void ps_log_set_sink(ps_log_sink_fn sink)
{
	log_sink = sink;
}

enum ps_log_level ps_log_get_level(void)
{
	return log_level;
}

void ps_log_set_json(bool on, const char *who)
{
	log_json = on;
	if (who)
		log_who = who;
}

bool ps_log_json(void)
{
	return log_json;
}

void ps_log_line(const char *level, const char *msg)
{
	json_object *o;
	struct timespec ts;

	if (!log_json) {
		fprintf(stderr, "portslice: %s%s%s\n", strcmp(level, "info") ? level : "",
			strcmp(level, "info") ? ": " : "", msg);
		return;
	}
	o = json_object_new_object();
	clock_gettime(CLOCK_REALTIME, &ts);
	json_object_object_add(o, "time", json_object_new_double(ts.tv_sec + ts.tv_nsec / 1e9));
	json_object_object_add(o, "level", json_object_new_string(level));
	if (log_who)
		json_object_object_add(o, "component", json_object_new_string(log_who));
	json_object_object_add(o, "message", json_object_new_string(msg));
	fprintf(stderr, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

void ps_log(enum ps_log_level level, const char *fmt, ...)
{
	static const char *const names[] = {
		[PS_LOG_WARN] = "warning",
		[PS_LOG_INFO] = "info",
		[PS_LOG_DEBUG] = "debug",
	};
	char msg[2048];
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log_sink && log_sink(level, msg))
		return;
	if (log_json && level == PS_LOG_WARN) {
		if (!warnings)
			warnings = json_object_new_array();
		json_object_array_add(warnings, json_object_new_string(msg));
	}
	ps_log_line(names[level], msg);
}

int ps_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	/* Demote: libbpf warnings are debug output unless -v was given. */
	if (log_level < PS_LOG_DEBUG || level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, args);
}

int ps_err(int err, const char *fmt, ...)
{
	va_list ap;

	if (!err_msg[0]) {
		va_start(ap, fmt);
		vsnprintf(err_msg, sizeof(err_msg), fmt, ap);
		va_end(ap);
	}
	return err > 0 ? -err : err;
}

const char *ps_err_msg(void)
{
	return err_msg;
}

void ps_err_reset(void)
{
	err_msg[0] = '\0';
	err_where.set = false;
	json_object_put(err_details);
	err_details = NULL;
}

void ps_err_at(const char *file, int line, const char *field)
{
	if (err_where.set || !file)
		return;
	snprintf(err_where.file, sizeof(err_where.file), "%s", file);
	snprintf(err_where.field, sizeof(err_where.field), "%s", field ?: "");
	err_where.line = line;
	err_where.set = true;
}

static json_object *where_json(json_object *o, const char *file, int line, const char *field)
{
	json_object_object_add(o, "file", json_object_new_string(file));
	if (line > 0)
		json_object_object_add(o, "line", json_object_new_int(line));
	if (field && *field)
		json_object_object_add(o, "field", json_object_new_string(field));
	return o;
}

void ps_err_detail(const char *file, int line, const char *field, const char *msg)
{
	json_object *o = json_object_new_object();

	if (!err_details)
		err_details = json_object_new_array();
	where_json(o, file, line, field);
	json_object_object_add(o, "message", json_object_new_string(msg));
	json_object_array_add(err_details, o);
}

json_object *ps_err_json(void)
{
	json_object *root = json_object_new_object();

	json_object_object_add(root, "error", json_object_new_string(*err_msg ? err_msg : "failed"));
	if (err_where.set)
		where_json(root, err_where.file, err_where.line, err_where.field);
	if (err_details)
		json_object_object_add(root, "errors", json_object_get(err_details));
	if (warnings)
		json_object_object_add(root, "warnings", json_object_get(warnings));
	return root;
}

void ps_json_print(json_object *root)
{
	if (warnings)
		json_object_object_add(root, "warnings", json_object_get(warnings));
	puts(json_object_to_json_string_ext(root, ps_pretty ? JSON_C_TO_STRING_PRETTY : JSON_C_TO_STRING_PLAIN));
	fflush(stdout);
	json_object_put(root);
}
