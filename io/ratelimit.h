/* SPDX-License-Identifier: Apache-2.0 */
/* Token bucket rate limiter in bytes, with time passed in so the math is testable. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct io_ratelimit {
        uint64_t rate;      /* bytes per second; 0 = unlimited */
        uint64_t burst;     /* bucket capacity, bytes */
        uint64_t tokens;    /* bytes available now */
        uint64_t last_ns;   /* time tokens were last refilled */
        uint64_t rem;       /* sub-byte remainder of the refill, in byte*ns/s units */
};

/* burst 0 picks max(one I/O, 1/50 s worth of rate) so a slow rate still lets one I/O through
 * and a fast one is smooth. The bucket starts full. */
void io_ratelimit_init(struct io_ratelimit *rl, uint64_t rate, uint64_t burst, uint64_t io_bytes,
                       uint64_t now_ns);
/* Take `bytes` if available at now_ns: returns true and consumes them. */
bool io_ratelimit_take(struct io_ratelimit *rl, uint64_t bytes, uint64_t now_ns);
/* Nanoseconds from now_ns until `bytes` will be available (0 if they are). */
uint64_t io_ratelimit_wait_ns(struct io_ratelimit *rl, uint64_t bytes, uint64_t now_ns);
