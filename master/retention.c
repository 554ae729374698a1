/* SPDX-License-Identifier: Apache-2.0 */
/* Retention of ended tasks and of updates for unknown tasks: by age and by count, in bounded steps. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "common/log.h"
#include "common/macro.h"
#include "master/master.h"
#include "master/store.h"

/*
 * Like the agent's GC (agent/gc-policy.c, --gc-max-age-s / --gc-max-tasks): an ended task is
 * forgotten, with its whole history, once it ended more than gc-max-age-s ago or once more
 * than gc-max-tasks ended tasks are kept, the oldest end first. Until then it is served as
 * before (GET, history, duplicate detection of its updates). Live tasks are never forgotten.
 * Updates for tasks the master does not know are forgotten after gc-max-age-s.
 *
 * Ended tasks are kept in a list in order of their end (updated_ms), so each tick looks at the
 * head only: at most MASTER_RETENTION_BATCH tasks and as many unknown-task updates per tick,
 * each a couple of indexed DELETEs in the turn's one transaction, so a backlog (a restart with
 * a smaller limit) is worked off over several ticks instead of stalling the loop.
 */
#define MASTER_RETENTION_BATCH 256

static void ended_append(master *m, struct master_task *t)
{
        t->ended_prev = m->ended.tail;
        t->ended_next = NULL;
        if (m->ended.tail)
                m->ended.tail->ended_next = t;
        else
                m->ended.head = t;
        m->ended.tail = t;
        m->ended.n++;
        t->ended_listed = true;
}

static void ended_unlink(master *m, struct master_task *t)
{
        if (t->ended_prev)
                t->ended_prev->ended_next = t->ended_next;
        else
                m->ended.head = t->ended_next;
        if (t->ended_next)
                t->ended_next->ended_prev = t->ended_prev;
        else
                m->ended.tail = t->ended_prev;
        t->ended_prev = t->ended_next = NULL;
        t->ended_listed = false;
        m->ended.n--;
}

void master_retention_add(master *m, struct master_task *t)
{
        if (t->ended_listed || !silo_task_state_is_terminal(t->state))
                return;
        /* Tasks end in time order; at load they come in submission order, and a clock step
         * can reorder them too: then the list is sorted before the next sweep. */
        if (m->ended.tail && m->ended.tail->updated_ms > t->updated_ms)
                m->ended.unsorted = true;
        ended_append(m, t);
}

static bool ended_before(const struct master_task *a, const struct master_task *b)
{
        return a->updated_ms < b->updated_ms || (a->updated_ms == b->updated_ms && a->seq < b->seq);
}

/* Merge sort of the singly linked next chain (O(n log n), no allocation); prev links and the
 * tail are rebuilt afterwards. */
static struct master_task *ended_sort(struct master_task *list, size_t n)
{
        struct master_task *a, *b, head = {0}, *tail = &head;
        size_t half = n / 2;

        if (n < 2)
                return list;
        a = list;
        for (size_t i = 1; i < half; i++)
                list = list->ended_next;
        b = list->ended_next;
        list->ended_next = NULL;
        a = ended_sort(a, half);
        b = ended_sort(b, n - half);
        while (a && b) {
                struct master_task **pick = ended_before(b, a) ? &b : &a;

                tail->ended_next = *pick;
                tail = *pick;
                *pick = (*pick)->ended_next;
        }
        tail->ended_next = a ? a : b;
        return head.ended_next;
}

static void ended_resort(master *m)
{
        struct master_task *prev = NULL;

        m->ended.head = ended_sort(m->ended.head, m->ended.n);
        for (struct master_task *t = m->ended.head; t; t = t->ended_next) {
                t->ended_prev = prev;
                prev = t;
        }
        m->ended.tail = prev;
        m->ended.unsorted = false;
}

/* Forget one ended task: its row and history in the store (this turn's transaction), then the
 * task itself. */
static int master_task_forget(master *m, struct master_task *t)
{
        int r;

        r = store_change_begin(m->store);
        if (r < 0)
                return r;
        r = store_task_delete(m->store, t->id);
        r = store_change_end(m->store, r);
        if (r < 0)
                return r;
        ended_unlink(m, t);
        (void)table_remove(m->tasks, t->id);
        master_task_free(t);
        m->metrics.tasks_forgotten++;
        return 0;
}

static bool task_known(const char *task_id, void *userdata)
{
        return master_task_get(userdata, task_id) != NULL;
}

void master_retention_tick(master *m)
{
        uint64_t now = now_realtime_ms(), max_age_ms = m->opts.gc_max_age_s * 1000;
        size_t forgotten = 0, updates = 0;
        int r = 0;

        if (m->ended.unsorted)
                ended_resort(m);
        while (m->ended.head && forgotten < MASTER_RETENTION_BATCH) {
                struct master_task *t = m->ended.head;
                bool too_many = m->opts.gc_max_tasks > 0 && m->ended.n > m->opts.gc_max_tasks;
                bool too_old = max_age_ms > 0 && t->updated_ms + max_age_ms < now;

                if (!too_many && !too_old)
                        break;
                /* A kill or launch answer still due names it: wait for it. */
                if (t->kill_in_flight || t->launch_in_flight)
                        break;
                r = master_task_forget(m, t);
                if (r < 0)
                        break;
                forgotten++;
        }
        if (r >= 0 && max_age_ms > 0 && now > max_age_ms) {
                r = store_unapplied_sweep(m->store, &m->ended.orphan_cursor, now - max_age_ms,
                                          MASTER_RETENTION_BATCH, task_known, m, &updates);
                m->metrics.updates_forgotten += updates;
        }
        if (r < 0)
                log_error("retention: cannot forget ended tasks or old updates: %s; retrying at "
                          "the next tick",
                          strerror(-r));
        if (forgotten > 0 || updates > 0)
                log_info("retention: forgot %zu ended tasks and %zu updates for unknown tasks "
                         "(%zu ended tasks kept; gc-max-age-s %" PRIu64 ", gc-max-tasks %" PRIu64
                         ")",
                         forgotten, updates, m->ended.n, m->opts.gc_max_age_s,
                         m->opts.gc_max_tasks);
}
