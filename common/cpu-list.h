/* SPDX-License-Identifier: Apache-2.0 */
/* CPU lists in the kernel's syntax ("0-3,8,10-11"): the one parser behind the task spec's
 * resources.cpuset, the agent's node CPU check and silo-io's --cpus_allowed. */
#pragma once

#include <stdbool.h>

enum {
        /* Each range must start above the previous one's end: no overlaps, no "5,0-3". */
        CPU_LIST_ASCENDING = 1 << 0,
};

/* Called once per range, lo <= hi < limit; a negative return stops the parse and is returned. */
typedef int (*cpu_list_range_fn)(unsigned lo, unsigned hi, void *userdata);

/* Parse s strictly: one or more comma-separated entries, each a CPU number or lo-hi with lo <= hi,
 * decimal digits only (no blanks, signs or empty entries), every number below limit; with
 * CPU_LIST_ASCENDING, ranges in ascending order without overlaps. Returns 0, -EINVAL (NULL, empty
 * or malformed s), or the first negative value fn returned. fn may be NULL. */
int cpu_list_parse(const char *s, unsigned limit, unsigned flags, cpu_list_range_fn fn,
                   void *userdata);

/* Whether s parses with CPU_LIST_ASCENDING (the task spec's cpuset rule). */
bool cpu_list_is_valid(const char *s, unsigned limit);
