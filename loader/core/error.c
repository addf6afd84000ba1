// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"

static int record(struct ps_error *error, int code, const char *fmt, va_list ap)
{
	code = code < 0 ? -code : code;
	if (!error || error->code)
		return -code;
	error->code = code;
	vsnprintf(error->msg, sizeof(error->msg), fmt, ap);
	return -code;
}

int ps_fail(struct ps_error *error, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	code = record(error, code, fmt, ap);
	va_end(ap);
	return code;
}

int ps_fail_at(struct ps_error *error, int code, const char *file, int line, const char *field, const char *fmt,
	       ...)
{
	bool first = error && !error->code;
	va_list ap;

	va_start(ap, fmt);
	code = record(error, code, fmt, ap);
	va_end(ap);
	if (first) {
		snprintf(error->file, sizeof(error->file), "%s", file ?: "");
		snprintf(error->field, sizeof(error->field), "%s", field ?: "");
		error->line = line;
	}
	return code;
}

void ps_error_clear(struct ps_error *error)
{
	error->code = 0;
	error->msg[0] = error->file[0] = error->field[0] = '\0';
	error->line = 0;
	error->n = error->n_more = 0;
}

const char *ps_error_text(const struct ps_error *error, char *buf, size_t len)
{
	size_t more = error->n + error->n_more - (error->n ? 1 : 0);

	if (!more) {
		snprintf(buf, len, "%s", error->msg[0] ? error->msg : "failed");
		return buf;
	}
	snprintf(buf, len, "%s (and %zu more error%s: 'portslice validate %s' lists them all)", error->msg, more,
		 more == 1 ? "" : "s", error->file);
	return buf;
}

static json_object *add_where(json_object *o, const char *file, int line, const char *field)
{
	json_object_object_add(o, "file", json_object_new_string(file));
	if (line > 0)
		json_object_object_add(o, "line", json_object_new_int(line));
	if (field && *field)
		json_object_object_add(o, "field", json_object_new_string(field));
	return o;
}

json_object *ps_error_json(const struct ps_error *error)
{
	json_object *root = json_object_new_object();
	char text[sizeof(error->msg) + 512];

	json_object_object_add(root, "error",
			       json_object_new_string(ps_error_text(error, text, sizeof(text))));
	if (error->file[0])
		add_where(root, error->file, error->line, error->field);
	if (error->n) {
		json_object *items = json_object_new_array();

		for (size_t i = 0; i < error->n; i++) {
			const struct ps_error_item *it = &error->items[i];
			json_object *o = add_where(json_object_new_object(), error->file, it->line, it->field);

			json_object_object_add(o, "message", json_object_new_string(it->problem));
			json_object_array_add(items, o);
		}
		json_object_object_add(root, "errors", items);
	}
	return root;
}
