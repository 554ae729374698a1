/* SPDX-License-Identifier: Apache-2.0 */
/* Process identity from procfs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "common/process.h"

/* Fields of /proc/<pid>/stat (pid 0: /proc/self/stat) by their number in proc(5), `fields`
 * ascending and all from 3 on, as unsigned numbers. The command name (field 2) may contain
 * spaces and parentheses: fields are counted after its last ')'. */
static int process_stat_read(pid_t pid, const unsigned *fields, size_t n, uint64_t *ret)
{
        char p[64];
        _cleanup_free_ char *stat = NULL;
        const char *q;
        unsigned field = 3;
        size_t i = 0;
        int r;

        if (pid == 0)
                snprintf(p, sizeof(p), "/proc/self/stat");
        else
                snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
        r = file_read_full(p, 4096, &stat, NULL);
        if (r < 0)
                return r;
        q = strrchr(stat, ')');
        if (!q || q[1] != ' ')
                return -EBADMSG;
        for (q += 2; i < n; field++) {
                if (field == fields[i]) {
                        char *end;

                        /* strtoull() would take "-1" (a tpgid without a terminal) too. */
                        if (*q < '0' || *q > '9')
                                return -EBADMSG;
                        errno = 0;
                        ret[i++] = strtoull(q, &end, 10);
                        if (end == q || errno || (*end != ' ' && *end != '\n' && *end != '\0'))
                                return -EBADMSG;
                }
                q = strchr(q, ' ');
                if (!q)
                        return i == n ? 0 : -EBADMSG;
                q++;
        }
        return 0;
}

int process_stat_field(pid_t pid, unsigned field, uint64_t *ret)
{
        if (field < 3)
                return -EINVAL;
        return process_stat_read(pid, &field, 1, ret);
}

uint64_t process_start_time(pid_t pid)
{
        uint64_t t;

        return process_stat_field(pid, 22, &t) < 0 ? 0 : t;
}

int process_rss_bytes(pid_t pid, uint64_t start_time, uint64_t *ret)
{
        long page = sysconf(_SC_PAGESIZE);
        uint64_t v[2]; /* starttime, rss in pages */
        int r;

        if (pid <= 0 || page <= 0)
                return -ESRCH;
        r = process_stat_read(pid, (const unsigned[]){22, 24}, 2, v);
        if (r < 0)
                return r == -ENOENT ? -ESRCH : r;
        /* Another process reusing the pid is not the one asked about. */
        if (start_time && v[0] != start_time)
                return -ESRCH;
        *ret = v[1] * (uint64_t)page;
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
