/* SPDX-License-Identifier: Apache-2.0 */
/* The clocks Silo reads: CLOCK_MONOTONIC for deadlines and durations, CLOCK_REALTIME for
 * timestamps that leave the process (status updates, stored rows). One module, so nobody
 * writes the timespec arithmetic again. */
#pragma once

#include <stdint.h>
#include <time.h>

uint64_t clock_now_nsec(clockid_t clock);

static inline uint64_t now_usec(void)           /* monotonic */
{
        return clock_now_nsec(CLOCK_MONOTONIC) / 1000u;
}

static inline uint64_t now_mono_ms(void)
{
        return clock_now_nsec(CLOCK_MONOTONIC) / 1000000u;
}

static inline uint64_t now_realtime_usec(void)
{
        return clock_now_nsec(CLOCK_REALTIME) / 1000u;
}

static inline uint64_t now_realtime_ms(void)
{
        return clock_now_nsec(CLOCK_REALTIME) / 1000000u;
}
