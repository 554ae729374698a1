/* SPDX-License-Identifier: Apache-2.0 */
#include "common/clock.h"

uint64_t clock_now_nsec(clockid_t clock)
{
        struct timespec ts;

        /* Cannot fail for the clocks Silo uses (CLOCK_MONOTONIC, CLOCK_REALTIME). */
        (void)clock_gettime(clock, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
