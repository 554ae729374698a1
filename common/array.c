/* SPDX-License-Identifier: Apache-2.0 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/array.h"

bool array_grow(void **p, size_t *cap, size_t need, size_t elem_size, size_t min_cap)
{
        size_t n;
        void *q;

        if (need <= *cap)
                return true;
        n = *cap ? *cap : min_cap;
        while (n < need) {
                if (n > SIZE_MAX / 2)
                        return false;
                n *= 2;
        }
        if (n > SIZE_MAX / elem_size)
                return false;
        q = realloc(*p, n * elem_size);
        if (!q)
                return false;
        memset((char *)q + *cap * elem_size, 0, (n - *cap) * elem_size);
        *p = q;
        *cap = n;
        return true;
}
