/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The agent's log under systemd. When stderr is the journal's stream
 * (systemd sets JOURNAL_STREAM to the device and inode of the stream it
 * gave the service, and stderr is that very file) and journald's socket is
 * there (sd_journal_send() drops entries silently without it), every message is sent
 * with sd_journal_send() as one entry with fields: PRIORITY, MESSAGE,
 * SYSLOG_IDENTIFIER=portslice and the agent's context (PORTSLICE_HOST,
 * PORTSLICE_CONFIG, PORTSLICE_GENERATION, PORTSLICE_VERSION), so
 * `journalctl -u portslice -p warning` or `PORTSLICE_GENERATION=3` select
 * them. Anywhere else (a terminal, a file, a container's log) the messages
 * stay plain lines on stderr; so does one the journal did not take.
 */
#ifndef PS_CORE_JOURNAL_H
#define PS_CORE_JOURNAL_H

#include <stdbool.h>

/* True when JOURNAL_STREAM names the file stderr is, and journald listens. */
bool ps_journal_is_stderr(void);

/*
 * Fields every entry carries. The strings and *generation are read at each
 * message: they must outlive the logging (the agent's own state).
 */
void ps_journal_set_context(const char *host, const char *config, const unsigned long long *generation);

/* One entry at syslog @priority (3 error .. 7 debug). 0, or a negative errno: log to stderr then. */
int ps_journal_log(int priority, const char *msg);

/* Routes every log message to the journal (log.h's sink). */
void ps_journal_take_internal_log(void);

#endif
