/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers the cmocka unit tests share; include after <cmocka.h>. */
#pragma once

#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "common/protocol-json.h"

/* JSON written with ' for " to stay readable in C strings; no input needs a literal '. The
 * copy is the caller's. */
static inline char *dq(const char *s)
{
        char *d = strdup(s);

        assert_non_null(d);
        for (char *p = d; *p; p++)
                if (*p == '\'')
                        *p = '"';
        return d;
}

/* A task spec from dq() JSON; the test fails with the codec's message if it is refused. */
static inline struct silo_task_spec *spec_of(const char *json)
{
        _cleanup_free_ char *t = dq(json), *err = NULL;
        struct silo_task_spec *s = NULL;

        if (silo_task_spec_from_string(t, &s, &err) < 0)
                fail_msg("%s: %s", t, strempty(err));
        return s;
}
