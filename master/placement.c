/* SPDX-License-Identifier: Apache-2.0 */
/* Batched placement: hands due PENDING tasks to the allocator and stages the placed ones. */
#include <assert.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/macro.h"
#include "master/events.h"
#include "master/master.h"
#include "master/store.h"

void master_schedule(master *m)
{
        m->alloc_needed = true;
}

int master_task_charge(master *m, struct master_task *t)
{
        const char *disks[ALLOC_IO_MAX] = {0};
        int r;

        if (!t->agent_id || alloc_task_is_charged(m->alloc, t->id))
                return 0;
        for (size_t i = 0; i < t->n_disks && i < ALLOC_IO_MAX; i++)
                disks[i] = t->disks[i];
        r = alloc_task_charge(m->alloc, t->spec, t->agent_id, t->n_disks ? disks : NULL);
        if (r < 0)
                log_debug("task %s: cannot charge it on agent %s: %s", t->id, t->agent_id,
                          strerror(-r));
        return r;
}

/* Record where the allocator put a task and move it to STAGING; the launch follows. */
static int master_task_stage(master *m, struct master_task *t, const struct alloc_result *res)
{
        _cleanup_free_ char *agent_id = NULL, *msg = NULL;
        uint16_t submitted[SILO_CONTAINER_PORTS_MAX];
        bool added[SILO_CONTAINER_VOLUMES_MAX] = {false};
        uint64_t chosen = 0;
        char **disks = NULL;
        int r;

        agent_id = strdup(res->agent_id);
        if (!agent_id)
                return -ENOMEM;
        if (res->n_io > 0) {
                disks = calloc(res->n_io, sizeof(char *));
                if (!disks)
                        return -ENOMEM;
                for (size_t i = 0; i < res->n_io; i++)
                        if (!(disks[i] = strdup(res->disks[i]))) {
                                strv_free(disks);
                                return -ENOMEM;
                        }
        }
        if (asprintf(&msg, "placed on agent %s (%s)", res->agent_id, strempty(res->hostname)) < 0)
                msg = NULL;

        t->agent_id = TAKE_PTR(agent_id);
        t->disks = disks;
        t->n_disks = res->n_io;
        t->launch_attempts++;
        /* The spec as launched names every host port: the launch body, the task's JSON and a
         * restarted master's charge all read them from it. */
        assert(res->n_ports == (t->spec->has_container ? t->spec->container.n_ports : 0));
        for (size_t i = 0; i < res->n_ports; i++) {
                submitted[i] = t->spec->container.ports[i].host;
                if (submitted[i] == 0)
                        chosen |= UINT64_C(1) << i;
                t->spec->container.ports[i].host = res->host_ports[i];
        }
        /* stored with the spec: a restarted master's requeue gives the choice back too */
        t->ports_chosen = chosen;
        /* The new volumes' records and STAGING in one change (one fenced etcd txn): a task
         * staged without its volume's record would be launched with the spec's own disk
         * ("any"), the agent would choose a disk the allocator did not book, and the master
         * would later adopt the volume with no role, out of its owner's reach. */
        r = store_change_begin(m->store);
        if (r >= 0) {
                r = master_volumes_place(m, t, res, added);
                if (r >= 0)
                        r = master_task_transition(m, t, SILO_TASK_STAGING, SILO_REASON_NONE, msg,
                                                   NULL);
                r = store_change_end(m->store, r);
        }
        if (r < 0) {
                master_volumes_place_undo(m, t, added);
                t->ports_chosen = 0;
                for (size_t i = 0; i < res->n_ports; i++)
                        t->spec->container.ports[i].host = submitted[i];
                free(t->agent_id);
                t->agent_id = NULL;
                for (size_t i = 0; i < t->n_disks; i++)
                        free(t->disks[i]);
                free(t->disks);
                t->disks = NULL;
                t->n_disks = 0;
                t->launch_attempts--;
                return r;
        }
        free(t->pending_reason);
        t->pending_reason = NULL;
        return 0;
}

int master_allocate(master *m)
{
        _cleanup_free_ struct master_task **all = NULL;
        _cleanup_free_ const struct silo_task_spec **specs = NULL;
        _cleanup_free_ struct master_task **batch = NULL;
        _cleanup_free_ struct alloc_result *results = NULL;
        uint64_t now = now_mono_ms();
        uint64_t t0, t1;
        size_t n_all = 0, n = 0;
        int r, placed;

        m->alloc_needed = false;
        r = master_tasks_list(m, SILO_TASK_PENDING, &all, &n_all);
        if (r < 0)
                return r;
        if (n_all == 0)
                return 0;
        specs = calloc(n_all, sizeof(*specs));
        batch = calloc(n_all, sizeof(*batch));
        results = calloc(n_all, sizeof(*results));
        if (!specs || !batch || !results)
                return -ENOMEM;
        for (size_t i = 0; i < n_all; i++) {
                struct master_task *t = all[i];

                /* A task whose launch just failed waits out its backoff. */
                if (t->not_before_ms > now)
                        continue;
                if (alloc_task_is_charged(m->alloc, t->id))
                        continue;
                batch[n] = t;
                specs[n++] = t->spec;
        }
        if (n == 0)
                return 0;

        t0 = clock_now_nsec(CLOCK_MONOTONIC);
        placed = alloc_place_batch(m->alloc, specs, n, results);
        t1 = clock_now_nsec(CLOCK_MONOTONIC);
        if (placed < 0)
                return placed;
        m->metrics.allocation_passes++;
        m->metrics.last_pass_seconds =
            (double)(t1 - t0) / 1e9;
        metrics_hist_observe(&m->metrics.pass_seconds, m->metrics.last_pass_seconds);

        for (size_t i = 0; i < n; i++) {
                struct master_task *t = batch[i];

                if (!results[i].placed) {
                        const char *reason = results[i].reason;
                        char *copy = NULL;

                        if (streq_ptr(t->pending_reason, reason))
                                continue;
                        if (reason && !(copy = strdup(reason)))
                                continue;
                        /* The reason is remembered once its event is written: one that could
                         * not be is still new to the next pass, which tries again. */
                        if (copy && (r = master_event_task_pending(m, t, copy)) < 0) {
                                log_warning("task %s: cannot record its pending reason event: %s",
                                            t->id, strerror(-r));
                                free(copy);
                                continue;
                        }
                        free(t->pending_reason);
                        t->pending_reason = copy;
                        continue;
                }
                r = master_task_stage(m, t, &results[i]);
                if (r < 0) {
                        log_warning("task %s: cannot record its placement: %s", t->id,
                                    strerror(-r));
                        (void)alloc_task_release(m->alloc, t->id);
                        master_volumes_unplace(m, t);
                        continue;
                }
                m->metrics.allocation_placed++;
                (void)master_launch_send(m, t);
        }
        alloc_results_clear(results, n);
        return placed;
}
