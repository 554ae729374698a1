/* SPDX-License-Identifier: Apache-2.0 */
/* Daemon logging to stderr, with journald priority prefixes when stderr is connected to the journal. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/log.h"

static int max_level = LOG_INFO;
static int journal_format = -1; /* -1: not yet detected */
static const char *ident = NULL;

void log_set_max_level(int level)
{
        max_level = level;
}

void log_set_ident(const char *i)
{
        ident = i;
}

void log_stderr_changed(void)
{
        journal_format = -1;
}

/* systemd sets $JOURNAL_STREAM to "dev:ino" of the stream it connected to stderr; only when
 * that matches our stderr is the "<N>" prefix understood (see systemd.exec(5)). */
static int detect_journal(void)
{
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return 0;
        if (fstat(STDERR_FILENO, &st) < 0)
                return 0;
        return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static const char *level_name(int level)
{
        static const char *const names[] = {
                [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
                [LOG_ERR] = "error",   [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
                [LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
        };
        return level >= 0 && level < (int)ELEMENTSOF(names) ? names[level] : "?";
}

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *format, ...)
{
        char buf[2048];
        va_list ap;
        int saved = errno;

        if (error < 0)
                error = -error;
        if (level > max_level)
                return -error;

        if (journal_format < 0)
                journal_format = detect_journal();

        /* Let %m expand to the error we were given, not whatever errno happens to hold. */
        errno = error;
        va_start(ap, format);
        vsnprintf(buf, sizeof(buf), format, ap);
        va_end(ap);

        if (journal_format)
                fprintf(stderr, "<%d>%s\n", level, buf);
        else if (max_level >= LOG_DEBUG)
                fprintf(stderr, "%s%s%s: %s:%d %s(): %s\n", strempty(ident), ident ? ": " : "",
                        level_name(level), file, line, func, buf);
        else
                fprintf(stderr, "%s%s%s: %s\n", strempty(ident), ident ? ": " : "",
                        level_name(level), buf);

        errno = saved;
        return -error;
}
