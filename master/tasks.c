/* SPDX-License-Identifier: Apache-2.0 */
/* The master's task table: submission, the state machine with persistence, kills, status updates.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/error.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/protocol-json.h"
#include "master/master.h"
#include "master/events.h"
#include "master/store.h"

static void disks_free(char **disks, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(disks[i]);
        free(disks);
}

struct master_task *master_task_free(struct master_task *t)
{
        if (!t)
                return NULL;
        free(t->id);
        silo_task_spec_free(t->spec);
        free(t->message);
        free(t->agent_id);
        disks_free(t->disks, t->n_disks);
        free(t->pending_reason);
        free(t);
        return NULL;
}

struct master_task *master_task_get(master *m, const char *id)
{
        return id ? table_get(m->tasks, id) : NULL;
}

bool master_task_transition_allowed(silo_task_state from, silo_task_state to)
{
        /* The protocol lets LOST go back to RUNNING when an agent returns; this master does
         * not: a task it gave up is killed on the returning agent (master/README.md,
         * "Agents"), so LOST is as final as the other terminal states. */
        if (silo_task_state_is_terminal(from))
                return false;
        if (from == to)
                return false;
        return silo_task_state_transition_ok(from, to);
}

void master_task_reindex(master *m, struct master_task *t, const char *old_agent_id)
{
        bool live =
            t->agent_id && t->state != SILO_TASK_PENDING && !silo_task_state_is_terminal(t->state);
        struct master_agent *a;

        if (old_agent_id && (!live || !streq(old_agent_id, t->agent_id))) {
                a = master_agent_get(m, old_agent_id);
                if (a)
                        (void)table_remove(a->tasks, t->id);
        }
        if (live) {
                a = master_agent_get(m, t->agent_id);
                /* -ENOMEM leaves the index short of one task: per-agent reconciliation would
                 * then miss it, the global task table still has it. */
                if (a && table_put(a->tasks, t->id, t) < 0)
                        log_error("task %s: out of memory indexing it on agent %s", t->id, a->id);
        }
        master_retention_add(m, t);
}

/* Persist the task row alone (attempt counters, kill flag). */
static int master_task_save(master *m, struct master_task *t)
{
        int r;

        t->updated_ms = now_realtime_ms();
        r = store_change_begin(m->store);
        if (r < 0)
                return r;
        r = store_task_put(m->store, t);
        return store_change_end(m->store, r);
}

static int master_task_persist(master *m, struct master_task *t, const struct store_event *e)
{
        int r;

        r = store_change_begin(m->store);
        if (r < 0)
                return r;
        r = store_task_put(m->store, t);
        if (r >= 0 && e)
                r = store_event_add(m->store, e);
        /* The stream's events go in the same savepoint: they exist exactly when the change does. */
        if (r >= 0 && e)
                r = master_event_task_state(m, t, e->message);
        if (r >= 0 && e && t->state == SILO_TASK_STAGING)
                r = master_event_task_placed(m, t);
        return store_change_end(m->store, r);
}

/* The history event of a transition t just made (t holds the new state); u is the agent's
 * update behind it, NULL for a master decision. */
static struct store_event transition_event(const struct master_task *t, const char *old_agent_id,
                                           const char *message,
                                           const struct silo_status_update *u)
{
        return (struct store_event){
            .task_id = t->id,
            .update_id = u ? u->update_id : NULL,
            .source = u ? "agent" : "master",
            .agent_id = u && u->agent_id ? u->agent_id : old_agent_id,
            .state = t->state,
            .reason = t->reason,
            .exit_code = t->exit_code,
            .signal = t->signal,
            .message = message,
            .timestamp_ms = u && u->timestamp_ms ? u->timestamp_ms : t->updated_ms,
            .applied = true,
        };
}

/* Set the host ports the allocator chose back to 0, keeping what they were in saved[]. */
static void ports_forget_chosen(struct master_task *t, uint16_t *saved)
{
        struct silo_container *ct = &t->spec->container;

        for (size_t i = 0; i < ct->n_ports; i++) {
                saved[i] = ct->ports[i].host;
                if (t->ports_chosen & (UINT64_C(1) << i))
                        ct->ports[i].host = 0;
        }
        t->ports_chosen = 0;
}

static void ports_restore(struct master_task *t, const uint16_t *saved)
{
        for (size_t i = 0; i < t->spec->container.n_ports; i++)
                t->spec->container.ports[i].host = saved[i];
}

int master_task_transition(master *m, struct master_task *t, silo_task_state to,
                           silo_task_reason reason, const char *message,
                           const struct silo_status_update *u)
{
        uint16_t launched[SILO_CONTAINER_PORTS_MAX];
        struct master_task old = *t;
        _cleanup_free_ char *msg = NULL;
        struct store_event e;
        int r;

        if (!master_task_transition_allowed(t->state, to))
                return -EBUSY;
        if (message && !(msg = strdup(message)))
                return -ENOMEM;

        t->state = to;
        t->reason = reason;
        t->message = msg;
        t->updated_ms = now_realtime_ms();
        if (u) {
                t->exit_code = u->exit_code;
                t->signal = u->signal;
        }
        if (to == SILO_TASK_PENDING) {
                /* Back in the queue: it no longer belongs to an agent, nor to the host ports
                 * chosen there (the next placement chooses again, maybe on another agent). */
                t->agent_id = NULL;
                t->disks = NULL;
                t->n_disks = 0;
                ports_forget_chosen(t, launched);
        }
        e = transition_event(t, old.agent_id, message, u);
        r = master_task_persist(m, t, &e);
        if (r < 0) {
                /* Nothing was committed: the task is exactly as before. */
                *t = old;
                if (to == SILO_TASK_PENDING)
                        ports_restore(t, launched);
                return r;
        }
        free(old.message);
        t->message = TAKE_PTR(msg);
        master_task_reindex(m, t, old.agent_id);
        if (to == SILO_TASK_PENDING) {
                free(old.agent_id);
                disks_free(old.disks, old.n_disks);
        }
        if (to == SILO_TASK_PENDING || silo_task_state_is_terminal(to)) {
                if (alloc_task_is_charged(m->alloc, t->id))
                        (void)alloc_task_release(m->alloc, t->id);
                /* Freed resources may let a pending task fit. */
                master_schedule(m);
        }
        log_debug("task %s: %s -> %s (%s)%s%s", t->id, silo_task_state_to_string(old.state),
                  silo_task_state_to_string(to), silo_task_reason_to_string(reason),
                  message ? ": " : "", strempty(message));
        return 0;
}

/*
 * The master's own policy on a spec the codec accepted (shape and ranges are the codec's): io
 * goes by disk name, since a path is only meaningful to one standalone agent, and at most
 * ALLOC_IO_MAX entries, what the allocator books per task. The allocator takes both as given.
 */
static int master_spec_check(const struct silo_task_spec *spec, char **ret_error)
{
        for (size_t i = 0; i < spec->resources.n_io; i++)
                if (spec->resources.io[i].device)
                        return error_set(ret_error, -EINVAL,
                                         "resources.io[%zu].device: '%s': a device path only "
                                         "works with a standalone agent; name a disk the agents "
                                         "advertise or \"any\"",
                                         i, spec->resources.io[i].device);
        if (spec->resources.n_io > ALLOC_IO_MAX)
                return error_set(ret_error, -EINVAL,
                                 "resources.io: %zu entries, at most %d are supported",
                                 spec->resources.n_io, ALLOC_IO_MAX);
        /* the persistent volumes' own rules: master_volumes_check_submit() */
        return 0;
}

/* A submission of an id the master has is a client's retry when the spec is the same, a host
 * port it left to the master (0) matching whatever port was chosen for it since. */
static bool spec_resubmitted(struct silo_task_spec *existing,
                             const struct silo_task_spec *submitted)
{
        struct silo_container *ct = &existing->container;
        uint16_t hosts[SILO_CONTAINER_PORTS_MAX];
        bool same, shape = submitted->has_container && existing->has_container &&
                           submitted->container.n_ports == ct->n_ports;

        for (size_t i = 0; shape && i < ct->n_ports; i++) {
                hosts[i] = ct->ports[i].host;
                if (submitted->container.ports[i].host == 0)
                        ct->ports[i].host = 0;
        }
        same = silo_task_spec_equal(existing, submitted);
        for (size_t i = 0; shape && i < ct->n_ports; i++)
                ct->ports[i].host = hosts[i];
        return same;
}

int master_task_submit(master *m, struct silo_task_spec *spec, struct master_task **ret_task,
                       char **ret_error)
{
        struct master_task *t, *existing;
        struct store_event e;
        int r;

        r = master_spec_check(spec, ret_error);
        if (r < 0)
                return r;
        if (spec->id) {
                existing = master_task_get(m, spec->id);
                if (existing) {
                        *ret_task = existing;
                        return spec_resubmitted(existing->spec, spec) ? -EEXIST : -EBUSY;
                }
        } else {
                r = id_uuid_new(&spec->id);
                if (r < 0)
                        return r;
        }
        r = master_volumes_check_submit(m, spec, ret_error);
        if (r < 0)
                return r;

        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->id = strdup(spec->id);
        if (!t->id) {
                free(t);
                return -ENOMEM;
        }
        t->spec = spec;
        t->state = SILO_TASK_PENDING;
        t->reason = SILO_REASON_NONE;
        t->exit_code = -1;
        t->created_ms = t->updated_ms = now_realtime_ms();
        t->seq = ++m->next_seq;

        e = transition_event(t, NULL, "submitted", NULL);
        r = master_task_persist(m, t, &e);
        if (r == -E2BIG) {
                json_t *j = silo_task_spec_to_json(spec);
                _cleanup_free_ char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

                json_decref(j);
                (void)error_set(ret_error, r,
                                "the task's spec is %zu bytes as JSON; stored with the task (its "
                                "quotes and backslashes escaped) it is over the %u bytes the "
                                "state store takes for one object",
                                text ? strlen(text) : (size_t)0, STORE_OBJECT_MAX_BYTES);
        }
        if (r >= 0)
                r = table_put(m->tasks, t->id, t);
        if (r < 0) {
                t->spec = NULL; /* still the caller's */
                master_task_free(t);
                return r;
        }
        m->metrics.tasks_submitted++;
        master_schedule(m);
        *ret_task = t;
        return 0;
}

int master_task_kill(master *m, struct master_task *t, bool *ret_done)
{
        struct master_agent *a;
        int r;

        if (silo_task_state_is_terminal(t->state))
                return -EBUSY;
        if (t->state == SILO_TASK_PENDING) {
                r = master_task_transition(m, t, SILO_TASK_KILLED, SILO_REASON_KILLED_BY_REQUEST,
                                           "killed by request before it was placed", NULL);
                if (r < 0)
                        return r;
                *ret_done = true;
                return 0;
        }
        if (!t->kill_requested) {
                t->kill_requested = true;
                r = master_task_save(m, t);
                if (r < 0) {
                        t->kill_requested = false;
                        return r;
                }
        }
        /* With a launch still in flight the DELETE follows its answer (launcher.c), so the
         * agent never sees the kill before the launch. */
        a = master_agent_get(m, t->agent_id);
        if (a && a->state == MASTER_AGENT_ACTIVE && !t->launch_in_flight && !t->kill_in_flight)
                (void)master_kill_send(m, a, t->id, t);
        *ret_done = false;
        return 0;
}

/* Record an update that does not change the task (duplicate state, out of order, a task the
 * master gave up, an unknown task), so it is still deduplicated and visible in the history. */
static int master_status_record(master *m, const struct silo_status_update *u)
{
        struct store_event e = {
            .task_id = u->task_id,
            .update_id = u->update_id,
            .source = "agent",
            .agent_id = u->agent_id,
            .state = u->state,
            .reason = u->reason,
            .exit_code = u->exit_code,
            .signal = u->signal,
            .message = u->message,
            .timestamp_ms = u->timestamp_ms ? u->timestamp_ms : now_realtime_ms(),
            .applied = false,
        };
        /* Retention ages an update for an unknown task by this: never later than its arrival,
         * so an agent's clock cannot keep it forever. */
        if (!master_task_get(m, u->task_id))
                e.timestamp_ms = MIN(e.timestamp_ms, now_realtime_ms());
        int r;

        r = store_change_begin(m->store);
        if (r < 0)
                return r;
        r = store_event_add(m->store, &e);
        return store_change_end(m->store, r);
}

/*
 * Only the agent a task is placed on may move it. Every agent holds the one cluster token, so
 * the check is on the agent_id it sends: without one, from an agent that never registered, for
 * a task that is PENDING (placed nowhere) or placed on another agent, the update is refused and
 * nothing is recorded. -EINVAL (400: the agent sets it aside) without agent_id, -EPERM (409)
 * otherwise, with *ret_error naming the task and both agents.
 */
static int master_status_check_source(master *m, const struct silo_status_update *u,
                                      const struct master_task *t, char **ret_error)
{
        if (!u->agent_id)
                return error_set(ret_error, -EINVAL,
                                 "agent_id: missing: the master takes a status update of task %s "
                                 "only from the agent it is placed on",
                                 u->task_id);
        if (!master_agent_get(m, u->agent_id))
                return error_set(ret_error, -EPERM,
                                 "agent_id: agent %s is not registered with this master; refusing "
                                 "its status update of task %s",
                                 u->agent_id, u->task_id);
        if (!t)
                return 0; /* reconciliation: recorded, and the agent told to kill it */
        if (t->state == SILO_TASK_PENDING)
                return error_set(ret_error, -EPERM,
                                 "task %s is PENDING, not placed on agent %s (or any agent); "
                                 "refusing its status update",
                                 t->id, u->agent_id);
        if (!streq_ptr(t->agent_id, u->agent_id))
                return error_set(ret_error, -EPERM,
                                 "task %s is placed on agent %s, not on agent %s; refusing its "
                                 "status update",
                                 t->id, t->agent_id ? t->agent_id : "(none)", u->agent_id);
        return 0;
}

/* An update that changes nothing (a task unknown to the master, stale or out of order): record
 * it, and kill on the agent what must not run there (a task the master never knew or gave up:
 * LOST or killed). */
static int master_status_ignore(master *m, const struct silo_status_update *u,
                                const struct master_task *t)
{
        struct master_agent *a = master_agent_get(m, u->agent_id);
        bool runs = a && !silo_task_state_is_terminal(u->state);
        int r;

        r = master_status_record(m, u);
        if (r < 0)
                return r;
        m->metrics.status_ignored++;
        if (!t)
                log_warning("status update %s from agent %s: task %s is unknown to the master%s",
                            u->update_id, u->agent_id, u->task_id,
                            runs ? "; killing it there" : "; ignored");
        else if (runs && silo_task_state_is_terminal(t->state))
                log_info("task %s is %s at the master but %s on agent %s: killing it there",
                         t->id, silo_task_state_to_string(t->state),
                         silo_task_state_to_string(u->state), a->id);
        else
                return 0;
        if (runs) {
                m->metrics.reconcile_kills++;
                (void)master_kill_send(m, a, u->task_id, NULL);
        }
        return 0;
}

int master_status_apply(master *m, const struct silo_status_update *u, bool *ret_duplicate,
                        char **ret_error)
{
        struct master_task *t;
        uint64_t now_ms;
        int r;

        r = store_update_seen(m->store, u->update_id);
        if (r < 0)
                return r;
        if (r > 0) {
                m->metrics.status_duplicates++;
                *ret_duplicate = true;
                return 0;
        }
        *ret_duplicate = false;

        t = master_task_get(m, u->task_id);
        r = master_status_check_source(m, u, t, ret_error);
        if (r < 0) {
                m->metrics.status_refused++;
                log_warning("status update %s of task %s refused: %s", u->update_id, u->task_id,
                            strempty(*ret_error));
                return r;
        }
        m->metrics.status_updates++;
        /* Clocks of agent and master may disagree a little: a negative delay counts as 0. */
        now_ms = now_realtime_ms();
        metrics_hist_observe(&m->metrics.status_delay_seconds,
                             (double)(now_ms - MIN(u->timestamp_ms, now_ms)) / 1000.0);
        if (!t || !master_task_transition_allowed(t->state, u->state))
                return master_status_ignore(m, u, t);

        /* A requested kill that the agent confirms is KILLED_BY_REQUEST whatever it says. */
        return master_task_transition(m, t, u->state,
                                      u->state == SILO_TASK_KILLED && t->kill_requested &&
                                              u->reason == SILO_REASON_NONE
                                          ? SILO_REASON_KILLED_BY_REQUEST
                                          : u->reason,
                                      u->message, u);
}

json_t *master_task_to_json(master *m, const struct master_task *t, bool with_history)
{
        struct master_agent *a = master_agent_get(m, t->agent_id);
        json_t *j, *disks;

        j = json_object();
        if (!j)
                return NULL;
        json_object_set_new(j, "id", json_string(t->id));
        if (t->spec->name)
                json_object_set_new(j, "name", json_string(t->spec->name));
        json_object_set_new(j, "role", json_string(silo_task_spec_role(t->spec)));
        json_object_set_new(j, "state", json_string(silo_task_state_to_string(t->state)));
        json_object_set_new(j, "reason", json_string(silo_task_reason_to_string(t->reason)));
        json_object_set_new(j, "message", t->message ? json_string(t->message) : json_null());
        if (t->state == SILO_TASK_PENDING && t->pending_reason)
                json_object_set_new(j, "pending_reason", json_string(t->pending_reason));
        json_object_set_new(j, "agent_id", t->agent_id ? json_string(t->agent_id) : json_null());
        if (a && a->reg->hostname)
                json_object_set_new(j, "hostname", json_string(a->reg->hostname));
        disks = json_array();
        for (size_t i = 0; i < t->n_disks; i++)
                json_array_append_new(disks, t->disks[i] ? json_string(t->disks[i]) : json_null());
        json_object_set_new(j, "disks", disks);
        json_object_set_new(j, "exit_code", json_integer(t->exit_code));
        json_object_set_new(j, "signal", json_integer(t->signal));
        json_object_set_new(j, "launch_attempts", json_integer((json_int_t)t->launch_attempts));
        json_object_set_new(j, "kill_requested", json_boolean(t->kill_requested));
        json_object_set_new(j, "created_ms", json_integer((json_int_t)t->created_ms));
        json_object_set_new(j, "updated_ms", json_integer((json_int_t)t->updated_ms));
        json_object_set_new(j, "spec", silo_task_spec_to_json(t->spec));
        if (with_history) {
                json_t *h = NULL;
                if (store_task_events(m->store, t->id, &h) >= 0)
                        json_object_set_new(j, "history", h);
        }
        return j;
}

static int master_task_seq_cmp(const void *a, const void *b)
{
        const struct master_task *x = *(struct master_task *const *)a,
                                 *y = *(struct master_task *const *)b;

        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int master_tasks_select(master *m, bool (*keep)(const struct master_task *t, const void *userdata),
                        const void *userdata, struct master_task ***ret, size_t *ret_n)
{
        struct master_task **v, *t;
        size_t n = 0, i = 0;

        v = calloc(table_size(m->tasks) + 1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        while (table_next(m->tasks, &i, NULL, (void **)&t))
                if (keep(t, userdata))
                        v[n++] = t;
        qsort(v, n, sizeof(*v), master_task_seq_cmp);
        *ret = v;
        *ret_n = n;
        return 0;
}

static bool task_in_state(const struct master_task *t, const void *userdata)
{
        int state = *(const int *)userdata;

        return state < 0 || (int)t->state == state;
}

int master_tasks_list(master *m, int state, struct master_task ***ret, size_t *ret_n)
{
        return master_tasks_select(m, task_in_state, &state, ret, ret_n);
}
