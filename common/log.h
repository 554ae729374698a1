/* SPDX-License-Identifier: Apache-2.0 */
/* Daemon logging: journald "<N>" priority prefixes when stderr is the journal, plain text otherwise. */
#pragma once

#include <syslog.h>
#include <errno.h>

#include "common/macro.h"

/* Library code (common/, isolator/, bpf/, io/) never logs above LOG_DEBUG: it returns -errno
 * and lets the daemon log once. */
void log_set_max_level(int level);
void log_set_ident(const char *ident);
/* stderr was replaced (dup2 after a fork): whether it is the journal is detected again. */
void log_stderr_changed(void);

/* Logs the message and returns -abs(error) when error != 0, so failures read as
 *   return log_error_errno(r, "Failed to write %s: %m", path);
 * %m prints strerror(abs(error)). */
int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *format, ...) _printf_(6, 7);

#define log_full_errno(level, error, ...) \
        log_internal((level), (error), __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_full(level, ...) (void)log_full_errno((level), 0, __VA_ARGS__)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(error, ...) log_full_errno(LOG_DEBUG, (error), __VA_ARGS__)
#define log_info_errno(error, ...) log_full_errno(LOG_INFO, (error), __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, (error), __VA_ARGS__)
#define log_error_errno(error, ...) log_full_errno(LOG_ERR, (error), __VA_ARGS__)
