/* SPDX-License-Identifier: Apache-2.0 */
/* io_uring setup: which optional setup flags this kernel takes (probed once, cached) and ring
 * creation with graceful fallback. */
#pragma once

#include <stdbool.h>
#include <liburing.h>

struct io_ring_opts {
        unsigned entries;
        bool sqpoll;        /* kernel SQ polling thread; never with the task-run flags */
        unsigned sqpoll_idle_ms;
        bool iopoll;        /* busy-poll completions (needs a device with poll queues) */
};

/* Create `ring` for the calling thread (SINGLE_ISSUER binds it to the creator, and the ring fd
 * is registered in that thread's io_uring context when the kernel allows: only that thread may
 * enter the ring). Task-run flags are added when probed available and sqpoll is off. Returns 0
 * or -errno; the flags actually in use are in ring->flags. */
int io_ring_setup(struct io_uring *ring, const struct io_ring_opts *o);

/* "COOP_TASKRUN|SINGLE_ISSUER|..." into buf, for reports. */
const char *io_ring_flags_to_string(unsigned flags, char *buf, size_t len);
