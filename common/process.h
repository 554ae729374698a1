/* SPDX-License-Identifier: Apache-2.0 */
/* Process identity from procfs: a pid plus its start time names one process across pid reuse. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

/* Field 22 of /proc/<pid>/stat (starttime, in clock ticks since boot), or 0 when the process
 * does not exist or the file cannot be parsed. The agent checkpoints it with each pid so a
 * recovered pid is only trusted when the start time still matches. */
uint64_t process_start_time(pid_t pid);
/* Field `field` (3 or more, numbered as in proc(5)) of /proc/<pid>/stat, pid 0 meaning the
 * caller's own (/proc/self, whatever pid namespace /proc belongs to), read as an unsigned
 * number: 0, -EINVAL for a field below 3, -EBADMSG when it is missing or not one (a negative
 * value included), -errno. */
int process_stat_field(pid_t pid, unsigned field, uint64_t *ret);
/* The resident set (VmRSS, /proc/<pid>/stat field 24 times the page size) of the process
 * `pid` started at `start_time` (process_start_time(); 0: any). -ESRCH when it is gone or the
 * pid now names another process. */
int process_rss_bytes(pid_t pid, uint64_t start_time, uint64_t *ret);
/* The signals this process ignores (SigIgn of /proc/self/status: bit n-1 for signal n), which
 * execve() and clone3(CLONE_CLEAR_SIGHAND) keep ignored, as a mask. 0 or -errno. */
int process_signals_ignored(uint64_t *ret);
