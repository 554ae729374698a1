/* SPDX-License-Identifier: Apache-2.0 */
/* The master's state API (store.h) over the backend in use (store-backend.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"

#include "master/store-backend.h"

struct store *store_free(struct store *s)
{
        if (s)
                s->ops->free(s);
        return NULL;
}

const char *store_backend(const struct store *s)
{
        return s->ops->name;
}

uint64_t store_epoch(const struct store *s)
{
        return s->epoch;
}

const char *store_cluster_id(const struct store *s)
{
        return s->cluster_id[0] ? s->cluster_id : NULL;
}

int store_set_epoch(struct store *s, uint64_t epoch)
{
        return s->ops->set_epoch(s, epoch);
}

void store_set_page_hook(struct store *s, void (*fn)(void *userdata), void *userdata)
{
        s->page_hook = fn;
        s->page_hook_userdata = userdata;
}

void store_set_deadline(struct store *s, uint64_t deadline_ms)
{
        if (s->ops->set_deadline)
                s->ops->set_deadline(s, deadline_ms);
}

int store_change_begin(struct store *s)
{
        return s->ops->change_begin(s);
}

int store_change_end(struct store *s, int r)
{
        return s->ops->change_end(s, r);
}

bool store_in_transaction(struct store *s)
{
        return s->ops->in_transaction(s);
}

int store_commit(struct store *s)
{
        return s->ops->commit(s);
}

int store_task_put(struct store *s, const struct master_task *t)
{
        return s->ops->task_put(s, t);
}

int store_event_add(struct store *s, const struct store_event *e)
{
        return s->ops->event_add(s, e);
}

int store_update_seen(struct store *s, const char *update_id)
{
        return s->ops->update_seen(s, update_id);
}

int store_task_events(struct store *s, const char *task_id, json_t **ret)
{
        return s->ops->task_events(s, task_id, ret);
}

int store_agent_put(struct store *s, const struct master_agent *a)
{
        return s->ops->agent_put(s, a);
}

int store_volume_put(struct store *s, const struct master_volume *v)
{
        return s->ops->volume_put(s, v);
}

int store_volume_delete(struct store *s, const char *name)
{
        return s->ops->volume_delete(s, name);
}

int store_load_volumes(struct store *s, int (*cb)(struct master_volume *v, void *userdata),
                       void *userdata)
{
        return s->ops->load_volumes(s, cb, userdata);
}

int store_task_delete(struct store *s, const char *task_id)
{
        return s->ops->task_delete(s, task_id);
}

int store_unapplied_sweep(struct store *s, uint64_t *cursor, uint64_t before_ms, size_t max,
                          bool (*task_known)(const char *task_id, void *userdata),
                          void *userdata, size_t *ret_deleted)
{
        return s->ops->unapplied_sweep(s, cursor, before_ms, max, task_known, userdata,
                                       ret_deleted);
}

int store_load_agents(struct store *s, int (*cb)(struct master_agent *a, void *userdata),
                      void *userdata)
{
        return s->ops->load_agents(s, cb, userdata);
}

int store_load_tasks(struct store *s, int (*cb)(struct master_task *t, void *userdata),
                     void *userdata)
{
        return s->ops->load_tasks(s, cb, userdata);
}

int store_stream_bounds(struct store *s, uint64_t *ret_oldest, uint64_t *ret_last)
{
        return s->ops->stream_bounds(s, ret_oldest, ret_last);
}

int store_stream_put(struct store *s, const struct store_stream_event *e)
{
        return s->ops->stream_put(s, e);
}

int store_stream_range(struct store *s, uint64_t after, size_t max,
                       int (*cb)(const struct store_stream_event *e, void *userdata),
                       void *userdata)
{
        return s->ops->stream_range(s, after, max, cb, userdata);
}

int store_stream_trim(struct store *s, uint64_t upto)
{
        return s->ops->stream_trim(s, upto);
}

json_t *store_event_to_json(uint64_t seq, const struct store_event *e)
{
        return json_pack("{s:I, s:s?, s:s?, s:s?, s:s, s:s, s:i, s:i, s:s?, s:I, s:b}", "seq",
                         (json_int_t)seq, "update_id", e->update_id, "source", e->source,
                         "agent_id", e->agent_id, "state", silo_task_state_to_string(e->state),
                         "reason", silo_task_reason_to_string(e->reason), "exit_code",
                         e->exit_code, "signal", e->signal, "message", e->message,
                         "timestamp_ms", (json_int_t)e->timestamp_ms, "applied", e->applied);
}

/* Migration: everything of one store into another, in turns of MIGRATE_TURN changes (etcd
 * splits each turn into txns within its limits). */
#define MIGRATE_TURN 64

struct migrate {
        struct store *to;
        size_t agents, volumes, tasks, history, stream, in_turn;
};

static int migrate_step(struct migrate *mg, int r)
{
        r = store_change_end(mg->to, r);
        if (r >= 0 && ++mg->in_turn >= MIGRATE_TURN) {
                mg->in_turn = 0;
                r = store_commit(mg->to);
        }
        return r;
}

static int migrate_agent(struct master_agent *a, void *userdata)
{
        struct migrate *mg = userdata;
        int r = store_change_begin(mg->to);

        if (r >= 0)
                r = store_agent_put(mg->to, a);
        master_agent_free(a);
        mg->agents++;
        return migrate_step(mg, r);
}

static int migrate_volume(struct master_volume *v, void *userdata)
{
        struct migrate *mg = userdata;
        int r = store_change_begin(mg->to);

        if (r >= 0)
                r = store_volume_put(mg->to, v);
        master_volume_free(v);
        mg->volumes++;
        return migrate_step(mg, r);
}

static int migrate_task(struct master_task *t, void *userdata)
{
        struct migrate *mg = userdata;
        int r = store_change_begin(mg->to);

        if (r >= 0)
                r = store_task_put(mg->to, t);
        master_task_free(t);
        mg->tasks++;
        return migrate_step(mg, r);
}

static int migrate_history(uint64_t seq, const struct store_event *e, void *userdata)
{
        struct migrate *mg = userdata;
        int r = store_change_begin(mg->to);

        if (r >= 0)
                r = mg->to->ops->history_import(mg->to, seq, e);
        mg->history++;
        return migrate_step(mg, r);
}

static int migrate_stream(const struct store_stream_event *e, void *userdata)
{
        struct migrate *mg = userdata;
        int r = store_change_begin(mg->to);

        if (r >= 0)
                r = store_stream_put(mg->to, e);
        mg->stream++;
        return migrate_step(mg, r);
}

int store_migrate(struct store *from, struct store *to, char **ret_counts, char **ret_error)
{
        struct migrate mg = {.to = to};
        int r;

        if (!to->ops->is_empty || !to->ops->history_import)
                return error_set(ret_error, -EOPNOTSUPP, "cannot migrate into the %s store",
                                 to->ops->name);
        r = to->ops->is_empty(to, ret_error);
        if (r < 0)
                return r;
        /* Not the SQLite cluster id: etcd's epochs (the leader key's create_revision) start
         * again below the SQLite master's start count, and agents fencing on the old id would
         * refuse the new leader as stale. The etcd state is a new fencing domain; agents adopt
         * its id when they register with its first leader. */
        r = store_load_agents(from, migrate_agent, &mg);
        if (r >= 0)
                r = store_load_volumes(from, migrate_volume, &mg);
        if (r >= 0)
                r = store_load_tasks(from, migrate_task, &mg);
        if (r >= 0)
                r = from->ops->history_each(from, migrate_history, &mg);
        if (r >= 0)
                r = store_stream_range(from, 0, SIZE_MAX, migrate_stream, &mg);
        if (r >= 0)
                r = store_commit(to);
        if (r < 0)
                return error_set(ret_error, r,
                                 "copying into %s after %zu agents, %zu volumes, %zu tasks, %zu "
                                 "history events and %zu stream events: %s",
                                 to->ops->name, mg.agents, mg.volumes, mg.tasks, mg.history,
                                 mg.stream, strerror(-r));
        if (ret_counts &&
            asprintf(ret_counts,
                     "%zu agents, %zu volumes, %zu tasks, %zu history events, %zu stream events",
                     mg.agents, mg.volumes, mg.tasks, mg.history, mg.stream) < 0)
                return -ENOMEM;
        return 0;
}
