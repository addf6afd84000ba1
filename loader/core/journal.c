// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Structured journal entries for the agent; see journal.h. */
#define SD_JOURNAL_SUPPRESS_LOCATION /* CODE_FILE would always name this file */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>

#include "core/journal.h"
#include "core/log.h"
#include "core/version.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"

static const char *ctx_host = "", *ctx_config = "";
static const unsigned long long *ctx_generation;

bool ps_journal_is_stderr(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char tail;

	/* "DEV:INODE", both decimal (systemd.exec(5)). */
	if (!env || sscanf(env, "%llu:%llu%c", &dev, &ino, &tail) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) || st.st_dev != dev || st.st_ino != ino)
		return false;
	/* sd_journal_send() drops entries silently when journald is not there. */
	return !access(JOURNAL_SOCKET, F_OK); /* not W_OK: a read-only mount answers EROFS, yet sendmsg() works */
}

void ps_journal_set_context(const char *host, const char *config, const unsigned long long *generation)
{
	ctx_host = host ?: "";
	ctx_config = config ?: "";
	ctx_generation = generation;
}

int ps_journal_log(int priority, const char *msg)
{
	return sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", priority, "SYSLOG_IDENTIFIER=portslice",
			       "PORTSLICE_HOST=%s", ctx_host, "PORTSLICE_CONFIG=%s", ctx_config,
			       "PORTSLICE_GENERATION=%llu", ctx_generation ? *ctx_generation : 0ULL,
			       "PORTSLICE_VERSION=%s", PS_VERSION, NULL);
}

static bool internal_sink(enum ps_log_level level, const char *msg)
{
	/* Log levels are syslog priorities already. */
	return !ps_journal_log((int)level, msg);
}

void ps_journal_take_internal_log(void)
{
	ps_log_set_sink(internal_sink);
}
