/* SPDX-License-Identifier: Apache-2.0 */
/* Token bucket refill and consumption with exact integer arithmetic (no drift over long runs). */
#include "io/ratelimit.h"

#define NSEC_PER_SEC 1000000000ULL

void io_ratelimit_init(struct io_ratelimit *rl, uint64_t rate, uint64_t burst, uint64_t io_bytes,
                       uint64_t now_ns)
{
        if (burst == 0) {
                burst = rate / 50;
                if (burst < io_bytes)
                        burst = io_bytes;
        }
        *rl = (struct io_ratelimit){
                .rate = rate,
                .burst = burst,
                .tokens = burst,
                .last_ns = now_ns,
        };
}

/* Add rate * elapsed / 1e9 tokens, carrying the remainder so that no fraction of a byte is
 * lost between calls, and cap at the burst. */
static void refill(struct io_ratelimit *rl, uint64_t now_ns)
{
        unsigned __int128 acc;
        uint64_t add;

        if (now_ns <= rl->last_ns)
                return;
        acc = (unsigned __int128)rl->rate * (now_ns - rl->last_ns) + rl->rem;
        add = (uint64_t)(acc / NSEC_PER_SEC);
        rl->rem = (uint64_t)(acc % NSEC_PER_SEC);
        rl->last_ns = now_ns;
        if (add >= rl->burst - rl->tokens) {
                rl->tokens = rl->burst;
                rl->rem = 0;
        } else
                rl->tokens += add;
}

bool io_ratelimit_take(struct io_ratelimit *rl, uint64_t bytes, uint64_t now_ns)
{
        if (!rl->rate)
                return true;
        refill(rl, now_ns);
        if (rl->tokens < bytes)
                return false;
        rl->tokens -= bytes;
        return true;
}

uint64_t io_ratelimit_wait_ns(struct io_ratelimit *rl, uint64_t bytes, uint64_t now_ns)
{
        unsigned __int128 need;

        if (!rl->rate)
                return 0;
        refill(rl, now_ns);
        if (rl->tokens >= bytes)
                return 0;
        /* ceil(((bytes - tokens) * 1e9 - rem) / rate) */
        need = (unsigned __int128)(bytes - rl->tokens) * NSEC_PER_SEC - rl->rem;
        return (uint64_t)((need + rl->rate - 1) / rl->rate);
}
