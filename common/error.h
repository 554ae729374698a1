/* SPDX-License-Identifier: Apache-2.0 */
/* The ret_error convention: a failing function returns -errno and hands the user a message. */
#pragma once

#include "common/macro.h"

/* Set *ret_error (when ret_error is non-NULL) to a malloc'ed message and return `r`, so a
 * failure reads as
 *   return error_set(ret_error, -ENOENT, "resources.io[%zu].device: %s does not exist", i, p);
 * The message names the offending value and where it came from (STYLE.md). On allocation
 * failure *ret_error is NULL; `r` is returned either way. */
int error_set(char **ret_error, int r, const char *format, ...) _printf_(3, 4);
