/* SPDX-License-Identifier: Apache-2.0 */
/* Process identity from procfs. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "common/process.h"

/* Fields 22 (starttime) and 24 (rss, pages) of /proc/<pid>/stat. The command name (field 2)
 * may contain spaces and parentheses: parse after the last ')'. */
static int process_stat_read(pid_t pid, uint64_t *ret_start, uint64_t *ret_rss_pages)
{
        char p[64];
        _cleanup_free_ char *stat = NULL;
        unsigned long long t, rss;
        const char *q;
        int r;

        snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
        r = file_read_full(p, 4096, &stat, NULL);
        if (r < 0)
                return r;
        q = strrchr(stat, ')');
        if (!q || sscanf(q + 2,
                         "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
                         "%*d %*d %llu %*u %llu",
                         &t, &rss) != 2)
                return -EBADMSG;
        *ret_start = t;
        *ret_rss_pages = rss;
        return 0;
}

uint64_t process_start_time(pid_t pid)
{
        uint64_t t, rss;

        return process_stat_read(pid, &t, &rss) < 0 ? 0 : t;
}

int process_rss_bytes(pid_t pid, uint64_t start_time, uint64_t *ret)
{
        long page = sysconf(_SC_PAGESIZE);
        uint64_t t, rss;
        int r;

        if (pid <= 0 || page <= 0)
                return -ESRCH;
        r = process_stat_read(pid, &t, &rss);
        if (r < 0)
                return r == -ENOENT ? -ESRCH : r;
        /* Another process reusing the pid is not the one asked about. */
        if (start_time && t != start_time)
                return -ESRCH;
        *ret = rss * (uint64_t)page;
        return 0;
}

int process_signals_ignored(uint64_t *ret)
{
        _cleanup_free_ char *status = NULL;
        unsigned long long mask;
        const char *q;
        int r;

        r = file_read_full("/proc/self/status", 65536, &status, NULL);
        if (r < 0)
                return r;
        q = strstr(status, "\nSigIgn:");
        if (!q || sscanf(q + strlen("\nSigIgn:"), "%llx", &mask) != 1)
                return -EBADMSG;
        *ret = mask;
        return 0;
}

int pidfd_wait_exit(int pidfd, uint64_t timeout_usec)
{
        uint64_t deadline = now_usec() + timeout_usec;

        for (;;) {
                struct pollfd p = {.fd = pidfd, .events = POLLIN};
                uint64_t now = now_usec();
                int r;

                if (now >= deadline)
                        return -ETIMEDOUT;
                r = poll(&p, 1, (int)((deadline - now + 999) / 1000));
                if (r > 0)
                        return 0;
                if (r < 0 && errno != EINTR)
                        return negative_errno();
        }
}
