/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one error convention of every Silo library and daemon: a failing function returns
 * -errno and, when it takes `char **ret_error`, sets it to a malloc'ed message for the user
 * that names the offending value and where it came from. The caller frees it.
 * ret_error may be NULL. Messages are built with error_set(); a caller that adds context to
 * its callee's message uses error_wrap() (in the spirit of crun's crun_error_wrap), so a
 * message reads from the outside in:
 *
 *     starting task t1: creating the task's cgroup: cannot set .../io.max to '8:0 rbps=1': ...
 *
 * The only code that does not follow it is code running between clone3() and exec() in a
 * child of a multi-threaded or signal-handling parent, where allocation is unsafe: it writes
 * into a fixed buffer, and says so in a comment.
 */
#pragma once

#include "common/macro.h"

/* Set *ret_error (when ret_error is non-NULL) to a malloc'ed message and return `r`, so a
 * failure reads as
 *   return error_set(ret_error, -ENOENT, "resources.io[%zu].device: %s does not exist", i, p);
 * *ret_error is expected to hold no message yet (it is overwritten, not freed: callers
 * start from `char *error = NULL`). On allocation failure *ret_error is NULL; `r` is
 * returned either way. */
int error_set(char **ret_error, int r, const char *format, ...) _printf_(3, 4);

/* Put context in front of the message a callee left in *ret_error ("context: message"), or,
 * when the callee set none, make the message "context: strerror(-r)"; *ret_error must be
 * NULL or a message (never uninitialised). Returns `r`:
 *   r = cg_task_create(..., ret_error);
 *   if (r < 0)
 *           return error_wrap(ret_error, r, "creating the task's cgroup");
 * With ret_error NULL it only returns `r`. */
int error_wrap(char **ret_error, int r, const char *format, ...) _printf_(3, 4);
