/* SPDX-License-Identifier: Apache-2.0 */
/* The ret_error convention shared by every library: one place that formats the message. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

int error_set(char **ret_error, int r, const char *format, ...)
{
        va_list ap;

        if (!ret_error)
                return r;
        va_start(ap, format);
        if (vasprintf(ret_error, format, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        return r;
}

int error_wrap(char **ret_error, int r, const char *format, ...)
{
        _cleanup_free_ char *context = NULL;
        char *msg;
        va_list ap;

        if (!ret_error)
                return r;
        va_start(ap, format);
        if (vasprintf(&context, format, ap) < 0)
                context = NULL;
        va_end(ap);
        if (!context)
                return r;       /* keep the callee's message rather than none */
        if (asprintf(&msg, "%s: %s", context, *ret_error ? *ret_error : strerror(r < 0 ? -r : r)) < 0)
                return r;
        free(*ret_error);
        *ret_error = msg;
        return r;
}
