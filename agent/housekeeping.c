/* SPDX-License-Identifier: Apache-2.0 */
/* Housekeeping: remove task cgroups that were slow to empty and garbage-collect ended tasks by age and count. */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/gc-policy.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"

#define HOUSEKEEPING_INTERVAL_USEC (5 * 1000000ULL)

int task_forget(struct task *t)
{
        struct agent *a = t->agent;
        char path[PATH_MAX];
        int r;

        assert(silo_task_state_is_terminal(t->state));
        /* Checkpoint first: a crash before the sandbox is gone leaves a sandbox no checkpoint
         * knows, which the startup scan removes; the reverse order would leave a checkpoint
         * pointing at nothing. */
        if (unlink(task_checkpoint_path(a, t->id, path)) < 0 && errno != ENOENT)
                return negative_errno();
        r = rm_rf(t->sandbox);
        if (r < 0 && r != -ENOENT)
                log_warning_errno(r, "Task %s: removing its sandbox %s failed: %m", t->id, t->sandbox);
        agent_task_remove(a, t);
        task_free(t);
        a->gc_tasks_total++;
        return 0;
}

/* Groups of ended tasks that did not empty within the bound task_finish allows. */
static void housekeeping_cgroups(struct agent *a)
{
        for (size_t i = 0; i < a->n_tasks; i++) {
                struct task *t = a->tasks[i];

                if (silo_task_state_is_terminal(t->state) && t->cg && !t->shim_src &&
                    cg_task_destroy(t->cg, 100000) >= 0) {
                        log_info("task %s: cgroup %s removed", t->id, strempty(t->cgroup_path));
                        t->cg = cg_task_free(t->cg);
                        (void)task_checkpoint_save(t);
                }
        }
}

/* Ended tasks that hold nothing live any more keep only their compact record (task_compact()). */
static size_t housekeeping_compact(struct agent *a)
{
        size_t n = 0;

        for (size_t i = 0; i < a->n_tasks; i++)
                n += task_compact(a->tasks[i]);
        return n;
}

static size_t housekeeping_gc(struct agent *a)
{
        _cleanup_free_ struct gc_candidate *c = NULL;
        _cleanup_free_ struct task **ended = NULL;
        _cleanup_free_ bool *remove = NULL;
        uint64_t now = now_realtime_ms();
        size_t n = 0, marked, forgotten = 0;

        c = calloc(a->n_tasks ?: 1, sizeof(*c));
        ended = calloc(a->n_tasks ?: 1, sizeof(*ended));
        remove = calloc(a->n_tasks ?: 1, sizeof(*remove));
        if (!c || !ended || !remove)
                return 0;
        for (size_t i = 0; i < a->n_tasks; i++) {
                struct task *t = a->tasks[i];

                if (!silo_task_state_is_terminal(t->state))
                        continue;
                /* A task checkpointed without an end time (older agent) ages from now on. */
                if (!t->finished_ms)
                        t->finished_ms = now;
                c[n] = (struct gc_candidate){.finished_ms = t->finished_ms, .busy = t->cg || t->shim_src};
                ended[n++] = t;
        }
        marked = gc_policy_select(c, n, now, a->opts.gc_max_age_s, a->opts.gc_max_tasks, remove);
        if (marked == 0)
                return 0;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *id = NULL;
                int r;

                if (!remove[i])
                        continue;
                id = strdup(ended[i]->id);
                r = task_forget(ended[i]);
                if (r < 0)
                        log_warning_errno(r, "Task %s: cannot remove its checkpoint: %m", strempty(id));
                else {
                        log_debug("task %s: garbage-collected", strempty(id));
                        forgotten++;
                }
        }
        log_info("Garbage-collected %zu ended tasks (gc-max-age-s %llu, gc-max-tasks %llu); %zu tasks known",
                 forgotten, (unsigned long long)a->opts.gc_max_age_s,
                 (unsigned long long)a->opts.gc_max_tasks, a->n_tasks);
        agent_notify_status(a);
        return forgotten;
}

void agent_housekeeping_run(struct agent *a)
{
        size_t freed;

        housekeeping_cgroups(a);
        freed = housekeeping_compact(a);
        freed += housekeeping_gc(a);
        /* The specs and records just freed lie scattered among the live ones: glibc returns
         * a free top of the heap on its own, but not the free pages below it (malloc_trim(3)
         * since glibc 2.8 releases those too). After a burst of ended tasks this is what
         * brings the agent's RSS back down. */
        if (freed > 0)
                (void)malloc_trim(0);
}

static int on_housekeeping(struct event_source *s, uint64_t n, void *userdata)
{
        (void)s;
        (void)n;
        agent_housekeeping_run(userdata);
        return 0;
}

int agent_housekeeping_start(struct agent *a)
{
        /* Once at startup, so a restarted agent does not carry a backlog for an interval. */
        agent_housekeeping_run(a);
        return event_loop_add_timer(a->loop, HOUSEKEEPING_INTERVAL_USEC, HOUSEKEEPING_INTERVAL_USEC,
                                    on_housekeeping, a, NULL, &a->housekeeping_timer);
}
