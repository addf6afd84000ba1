// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdio.h>
#include <string.h>

#include "log.h"

static enum ps_log_level log_level = PS_LOG_WARN;
static ps_log_sink_fn log_sink;
static char err_msg[1024];

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

void ps_log(enum ps_log_level level, const char *fmt, ...)
{
	static const char *const prefix[] = {
		[PS_LOG_WARN] = "warning: ",
		[PS_LOG_INFO] = "",
		[PS_LOG_DEBUG] = "debug: ",
	};
	va_list ap;

	if (level > log_level)
		return;
	if (log_sink) {
		char msg[1024];

		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		if (log_sink(level, msg))
			return;
	}
	fprintf(stderr, "portslice: %s", prefix[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
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
}
