/* SPDX-License-Identifier: Apache-2.0 */
/* The ret_error convention shared by every library: one place that formats the message. */
#include <stdarg.h>
#include <stdio.h>

#include "common/error.h"

int error_set(char **ret_error, int r, const char *format, ...)
{
        va_list ap;

        if (ret_error) {
                va_start(ap, format);
                if (vasprintf(ret_error, format, ap) < 0)
                        *ret_error = NULL;
                va_end(ap);
        }
        return r;
}
