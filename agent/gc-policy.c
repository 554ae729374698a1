/* SPDX-License-Identifier: Apache-2.0 */
/* The garbage-collection policy for ended tasks, kept free of I/O so unit tests reach it. */
#include <stdlib.h>

#include "agent/gc-policy.h"

static int by_finished(const void *x, const void *y, void *userdata)
{
        const struct gc_candidate *c = userdata;
        const struct gc_candidate *a = &c[*(const size_t *)x], *b = &c[*(const size_t *)y];

        return a->finished_ms < b->finished_ms ? -1 : a->finished_ms > b->finished_ms;
}

/*
 * Like Nomad's client GC (gc_interval / gc_max_allocs): age first, then a cap on how many
 * ended tasks are kept, oldest first. The cap counts tasks that cannot go yet, so a burst
 * of slow teardowns does not let the kept set grow past it once they are removable.
 */
size_t gc_policy_select(const struct gc_candidate *c, size_t n, uint64_t now_ms, uint64_t max_age_s,
                        uint64_t max_tasks, bool *ret_remove)
{
        size_t marked = 0, kept = 0, *order;

        for (size_t i = 0; i < n; i++) {
                ret_remove[i] = !c[i].busy && max_age_s > 0 && c[i].finished_ms + max_age_s * 1000 < now_ms;
                marked += ret_remove[i];
        }
        if (max_tasks == 0 || n - marked <= max_tasks)
                return marked;

        order = malloc(n * sizeof(*order));
        if (!order)
                return marked;  /* the age bound still applied; the cap waits for the next run */
        for (size_t i = 0; i < n; i++)
                order[i] = i;
        qsort_r(order, n, sizeof(*order), by_finished, (void *)c);
        /* Busy tasks stay and take their slots first; then the newest of the others. */
        for (size_t i = 0; i < n; i++)
                kept += c[i].busy;
        for (size_t k = n; k-- > 0;) {
                size_t i = order[k];

                if (ret_remove[i] || c[i].busy)
                        continue;
                if (kept < max_tasks)
                        kept++;
                else {
                        ret_remove[i] = true;
                        marked++;
                }
        }
        free(order);
        return marked;
}
