/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's end of its shim server: one `silo-shim --server` that forks each task's shim. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

struct agent;

/* Start it, in <root>/shims, and wait for its hello: after recovery, which kills what in
 * there is not a shim. */
int shim_server_start(struct agent *a, char **ret_error);
/* Close its socket: it exits; the shims it started run on. */
void shim_server_stop(struct agent *a);
/* A shim for `sandbox`, with report_fd on its fd 3 and log_fd as its stdout and stderr (both
 * stay the caller's): its pid, start time and pidfd. The shim runs once this returns 0; on
 * any error no shim for this request ever touches the sandbox. A server that is gone is
 * started again, once; one that does not answer in time is killed. */
int shim_server_spawn(struct agent *a, const char *sandbox, int report_fd, int log_fd, pid_t *ret_pid,
                      uint64_t *ret_start_time, int *ret_pidfd, char **ret_error);
