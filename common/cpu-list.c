/* SPDX-License-Identifier: Apache-2.0 */
/* The one CPU list parser (see cpu-list.h). */
#include <errno.h>
#include <stddef.h>

#include "common/cpu-list.h"

/* One CPU number below limit; advances *p. */
static bool cpu_number(const char **p, unsigned limit, unsigned *ret)
{
        unsigned v = 0;
        const char *s = *p;

        if (*s < '0' || *s > '9')
                return false;
        for (; *s >= '0' && *s <= '9'; s++) {
                v = v * 10 + (unsigned)(*s - '0');
                if (v >= limit)
                        return false;
        }
        *p = s;
        *ret = v;
        return true;
}

int cpu_list_parse(const char *s, unsigned limit, unsigned flags, cpu_list_range_fn fn,
                   void *userdata)
{
        bool first = true;
        unsigned last = 0;

        if (!s || !*s)
                return -EINVAL;
        for (;;) {
                unsigned lo, hi;

                if (!cpu_number(&s, limit, &lo))
                        return -EINVAL;
                hi = lo;
                if (*s == '-') {
                        s++;
                        if (!cpu_number(&s, limit, &hi) || hi < lo)
                                return -EINVAL;
                }
                if ((flags & CPU_LIST_ASCENDING) && !first && lo <= last)
                        return -EINVAL;
                first = false;
                last = hi;
                if (fn) {
                        int r = fn(lo, hi, userdata);
                        if (r < 0)
                                return r;
                }
                if (*s == '\0')
                        return 0;
                if (*s != ',')
                        return -EINVAL;
                s++;
        }
}

bool cpu_list_is_valid(const char *s, unsigned limit)
{
        return cpu_list_parse(s, limit, CPU_LIST_ASCENDING, NULL, NULL) == 0;
}
