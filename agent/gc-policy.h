/* SPDX-License-Identifier: Apache-2.0 */
/* Which ended tasks the agent forgets: the pure age/count policy behind housekeeping (gc-max-age-s, gc-max-tasks). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gc_candidate {
        uint64_t finished_ms;   /* CLOCK_REALTIME of the task's end */
        bool busy;              /* not removable yet (its cgroup is still emptying) */
};

/* Mark in ret_remove[0..n) the ended tasks to forget at now_ms: those that ended more than
 * max_age_s ago, then the oldest beyond max_tasks (busy ones count, but are never marked).
 * 0 disables either bound. Returns how many were marked. */
size_t gc_policy_select(const struct gc_candidate *c, size_t n, uint64_t now_ms, uint64_t max_age_s,
                        uint64_t max_tasks, bool *ret_remove);
