/* SPDX-License-Identifier: Apache-2.0 */
/* Process identity from procfs. */
#include <stdio.h>
#include <string.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "common/process.h"

uint64_t process_start_time(pid_t pid)
{
        char p[64];
        _cleanup_free_ char *stat = NULL;
        unsigned long long t = 0;
        const char *q;

        snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
        if (file_read_full(p, 4096, &stat, NULL) < 0)
                return 0;
        /* The command name (field 2) may contain spaces and parentheses: parse after the last ')'. */
        q = strrchr(stat, ')');
        if (!q || sscanf(q + 2,
                         "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
                         "%*d %*d %llu",
                         &t) != 1)
                return 0;
        return t;
}
