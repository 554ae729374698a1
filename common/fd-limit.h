/* SPDX-License-Identifier: Apache-2.0 */
/* RLIMIT_NOFILE at daemon start: every connection, pidfd and log file is an fd. */
#pragma once

#include <stdint.h>

/* Raise the soft RLIMIT_NOFILE to the hard limit, and both to `want` when that is higher and
 * the process may (CAP_SYS_RESOURCE; capped by fs.nr_open). want = 0: the hard limit only.
 * *ret_before and *ret_after (either may be NULL) receive the soft limit before and after.
 * Returns 0, or -errno when even the soft limit could not be raised (it is then unchanged). */
int fd_limit_raise(uint64_t want, uint64_t *ret_before, uint64_t *ret_after);
