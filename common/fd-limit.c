/* SPDX-License-Identifier: Apache-2.0 */
/* RLIMIT_NOFILE at daemon start: every connection, pidfd and log file is an fd. */
#include <errno.h>
#include <stdio.h>
#include <sys/resource.h>

#include "common/fd-limit.h"

/* The kernel refuses a hard limit above fs.nr_open (EPERM); 1048576 is its default. */
static rlim_t nr_open(void)
{
        unsigned long long v = 0;
        FILE *f = fopen("/proc/sys/fs/nr_open", "re");

        if (f) {
                if (fscanf(f, "%llu", &v) != 1)
                        v = 0;
                fclose(f);
        }
        return v ? (rlim_t)v : 1048576;
}

int fd_limit_raise(uint64_t want, uint64_t *ret_before, uint64_t *ret_after)
{
        struct rlimit rl, up;
        rlim_t before;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return -errno;
        before = rl.rlim_cur;
        if (want > rl.rlim_max && rl.rlim_max != RLIM_INFINITY) {
                rlim_t n = (rlim_t)want < nr_open() ? (rlim_t)want : nr_open();

                up = (struct rlimit){n, n};
                if (n > rl.rlim_max && setrlimit(RLIMIT_NOFILE, &up) == 0)
                        rl = up;
        }
        if (rl.rlim_cur < rl.rlim_max) {
                up = (struct rlimit){rl.rlim_max, rl.rlim_max};
                if (rl.rlim_max == RLIM_INFINITY)
                        up.rlim_cur = nr_open();
                if (setrlimit(RLIMIT_NOFILE, &up) < 0)
                        return -errno;
                rl.rlim_cur = up.rlim_cur;
        }
        if (ret_before)
                *ret_before = before;
        if (ret_after)
                *ret_after = rl.rlim_cur;
        return 0;
}
