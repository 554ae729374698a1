/* SPDX-License-Identifier: Apache-2.0 */
/* The clocks Silo reads: CLOCK_MONOTONIC for deadlines and durations, CLOCK_BOOTTIME for a
 * deadline set by someone else's clock that keeps running while this host is suspended (an
 * etcd lease), CLOCK_REALTIME for timestamps that leave the process (status updates, stored
 * rows). One module, so nobody
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

/* Counts a suspend too: etcd's lease expires meanwhile, and a deadline on CLOCK_MONOTONIC
 * would still look in the future after the resume. */
static inline uint64_t now_boot_ms(void)
{
        return clock_now_nsec(CLOCK_BOOTTIME) / 1000000u;
}

static inline uint64_t now_realtime_usec(void)
{
        return clock_now_nsec(CLOCK_REALTIME) / 1000u;
}

static inline uint64_t now_realtime_ms(void)
{
        return clock_now_nsec(CLOCK_REALTIME) / 1000000u;
}
