/* SPDX-License-Identifier: Apache-2.0 */
/* Agent inventory: registration, heartbeats, loss on timeout, and reconciliation on return. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/http-json.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/macro.h"
#include "master/events.h"
#include "master/master.h"
#include "master/store.h"

/* A heartbeat names the tasks running on the agent: the same bound as a registration's tasks
 * (common/agent-json.c), so one heartbeat cannot hold the loop. */
#define MASTER_HEARTBEAT_TASKS_MAX 32768
/* Reconciliation kills started by one registration or heartbeat; the rest follow with the next
 * heartbeats (which keep naming those tasks), so one message never floods the agent. */
#define MASTER_RECONCILE_KILLS_MAX 256

int master_agent_new(const char *id, struct master_agent **ret)
{
        struct master_agent *a = calloc(1, sizeof(*a));

        if (!a)
                return -ENOMEM;
        a->id = strdup(id);
        if (!a->id || table_new(&a->tasks) < 0) {
                master_agent_free(a);
                return -ENOMEM;
        }
        *ret = a;
        return 0;
}

/* Snapshot of an agent's live tasks (safe to change them while walking it); free() it. */
static int master_agent_tasks(master *m, const struct master_agent *a, struct master_task ***ret,
                              size_t *ret_n)
{
        struct master_task **v, *t;
        size_t n = 0, i = 0;

        (void)m;
        v = calloc(table_size(a->tasks) + 1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        while (table_next(a->tasks, &i, NULL, (void **)&t))
                v[n++] = t;
        *ret = v;
        *ret_n = n;
        return 0;
}

struct master_agent *master_agent_free(struct master_agent *a)
{
        if (!a)
                return NULL;
        table_free(a->tasks);
        free(a->id);
        silo_agent_registration_free(a->reg);
        free(a);
        return NULL;
}

struct master_agent *master_agent_get(master *m, const char *id)
{
        return id ? table_get(m->agents, id) : NULL;
}

/* Persist the agent and, when event >= 0, the stream's event of the change, together. */
static int master_agent_save(master *m, struct master_agent *a, int event)
{
        int r;

        a->updated_ms = now_realtime_ms();
        r = store_change_begin(m->store);
        if (r < 0)
                return r;
        r = store_agent_put(m->store, a);
        if (r >= 0 && event >= 0)
                r = master_event_agent(m, event, a);
        return store_change_end(m->store, r);
}

/* Charge every live task the master placed on this agent (after it joined the allocator). */
static void master_agent_charge_tasks(master *m, struct master_agent *a)
{
        struct master_task *t;
        size_t i = 0;

        while (table_next(a->tasks, &i, NULL, (void **)&t))
                (void)master_task_charge(m, t);
}

/* HOST:PORT or [IPv6]:PORT, nothing that could change the URL built from it. */
static bool master_address_is_valid(const char *address)
{
        const char *colon, *host_end;
        size_t n;

        if (!address || !*address || strlen(address) > 300)
                return false;
        if (strpbrk(address, "/?#@ \t\r\n\\%"))
                return false;
        if (address[0] == '[') {
                host_end = strchr(address, ']');
                if (!host_end || host_end == address + 1 || host_end[1] != ':')
                        return false;
                colon = host_end + 1;
        } else {
                colon = strrchr(address, ':');
                if (!colon || colon == address || memchr(address, ':', (size_t)(colon - address)))
                        return false;
        }
        n = strlen(colon + 1);
        if (n == 0 || n > 5 || strspn(colon + 1, "0123456789") != n || atoi(colon + 1) < 1 ||
            atoi(colon + 1) > 65535)
                return false;
        return true;
}

static const struct silo_task_ref *reg_find_task(const struct silo_agent_registration *reg,
                                                 const char *id)
{
        for (size_t i = 0; i < reg->n_tasks; i++)
                if (streq(reg->tasks[i].id, id))
                        return &reg->tasks[i];
        return NULL;
}

/*
 * Compare what the agent runs with what the master knows:
 *  - a task the agent runs that the master gave up (terminal here), placed elsewhere or never
 *    heard of is killed on the agent;
 *  - a live task both know resumes, moving forward to the agent's state when it is ahead;
 *  - a live task the agent does not report: a STAGING one is launched again (launches are
 *    idempotent by id), a started one is LOST.
 */
static void master_agent_reconcile(master *m, struct master_agent *a)
{
        const struct silo_agent_registration *reg = a->reg;
        _cleanup_free_ struct master_task **mine = NULL;
        uint64_t kills0 = m->metrics.kills_sent;
        struct master_task *t;
        size_t n = 0;

        for (size_t k = 0; k < reg->n_tasks; k++) {
                const struct silo_task_ref *ref = &reg->tasks[k];

                t = master_task_get(m, ref->id);
                if (silo_task_state_is_terminal(ref->state)) {
                        /* Its status update (queued on the agent) brings the real outcome. */
                        continue;
                }
                if (!t || !streq_ptr(t->agent_id, a->id) || silo_task_state_is_terminal(t->state)) {
                        if (m->metrics.kills_sent - kills0 >= MASTER_RECONCILE_KILLS_MAX)
                                continue; /* the heartbeats that follow name it again */
                        if (!t)
                                log_warning("agent %s runs task %s that the master does not know: "
                                            "killing it",
                                            a->id, ref->id);
                        else
                                log_info("agent %s runs task %s that the master %s: killing it",
                                         a->id, ref->id,
                                         silo_task_state_is_terminal(t->state)
                                             ? "gave up"
                                             : "placed elsewhere");
                        m->metrics.reconcile_kills++;
                        (void)master_kill_send(m, a, ref->id, NULL);
                        continue;
                }
                if (master_task_transition_allowed(t->state, ref->state) &&
                    (ref->state == SILO_TASK_STARTING || ref->state == SILO_TASK_RUNNING))
                        (void)master_task_transition(m, t, ref->state, SILO_REASON_NONE,
                                                     "reported by the agent at registration", NULL);
        }

        if (master_agent_tasks(m, a, &mine, &n) < 0)
                return;
        for (size_t k = 0; k < n; k++) {
                _cleanup_free_ char *msg = NULL;

                t = mine[k];
                if (reg_find_task(reg, t->id))
                        continue;
                if (t->state == SILO_TASK_STAGING) {
                        if (!t->launch_in_flight)
                                (void)master_launch_send(m, t);
                        continue;
                }
                if (asprintf(&msg, "agent %s re-registered without this task", a->id) < 0)
                        msg = NULL;
                log_warning("task %s: %s", t->id, strempty(msg));
                (void)master_task_transition(m, t, SILO_TASK_LOST, SILO_REASON_AGENT_LOST, msg,
                                             NULL);
        }
}

/* Make reg the agent's registration, ACTIVE, and persist it; on failure the agent and the
 * allocator are as before (the allocator already took reg). */
static int master_agent_activate(master *m, struct master_agent *a,
                                 struct silo_agent_registration *reg, bool was_active, bool is_new)
{
        struct silo_agent_registration *old = a->reg;
        enum master_agent_state old_state = a->state;
        int r;

        a->reg = reg;
        a->state = MASTER_AGENT_ACTIVE;
        r = master_agent_save(m, a,
                              is_new       ? MASTER_EVENT_AGENT_JOINED
                              : was_active ? -1
                                           : MASTER_EVENT_AGENT_RETURNED);
        if (r < 0) {
                a->reg = old;
                a->state = old_state;
                if (!was_active)
                        (void)alloc_agent_remove(m->alloc, a->id);
                else if (old)
                        (void)alloc_agent_update(m->alloc, a->id, old);
                return r;
        }
        silo_agent_registration_free(old);
        return 0;
}

int master_agent_register(master *m, struct silo_agent_registration *reg,
                          struct master_agent **ret_agent, char **ret_error)
{
        struct master_agent *a;
        bool is_new = false, was_active;
        int r;

        if (!master_address_is_valid(reg->address))
                return error_set(ret_error, -EINVAL,
                                 "address: '%s' is not HOST:PORT (the address the master reaches "
                                 "the agent at)",
                                 strempty(reg->address));
        if (!reg->agent_id) {
                r = id_uuid_new(&reg->agent_id);
                if (r < 0)
                        return r;
        }
        a = master_agent_get(m, reg->agent_id);
        if (!a) {
                r = master_agent_new(reg->agent_id, &a);
                if (r < 0)
                        return r;
                a->registered_ms = now_realtime_ms();
                a->state = MASTER_AGENT_LOST;
                is_new = true;
        }
        was_active = !is_new && a->state == MASTER_AGENT_ACTIVE;

        /* Keep the allocator in step first: it rejects registrations it cannot model. */
        r = was_active ? alloc_agent_update(m->alloc, a->id, reg)
                       : alloc_agent_add(m->alloc, a->id, reg);
        if (r < 0) {
                if (is_new)
                        master_agent_free(a);
                return error_set(ret_error, -EINVAL,
                                 "resources: the allocator rejected this agent: %s", strerror(-r));
        }

        r = master_agent_activate(m, a, reg, was_active, is_new);
        if (r < 0) {
                if (is_new)
                        master_agent_free(a);
                return r;
        }
        if (is_new && (r = table_put(m->agents, a->id, a)) < 0) {
                /* Persisted, so the next start knows it; this process cannot track it. The
                 * caller still owns reg. */
                (void)alloc_agent_remove(m->alloc, a->id);
                a->reg = NULL;
                master_agent_free(a);
                return r;
        }
        a->last_seen_mono_ms = now_mono_ms();
        a->registered_since_start = true;
        if (is_new || !was_active)
                m->metrics.registrations++;
        else
                m->metrics.reregistrations++;
        log_info("agent %s (%s at %s) %s with %zu tasks", a->id, strempty(reg->hostname),
                 reg->address, was_active ? "re-registered" : "registered", reg->n_tasks);

        if (!was_active)
                master_agent_charge_tasks(m, a);
        master_agent_reconcile(m, a);
        r = master_volumes_report(m, a, reg->volumes, reg->n_volumes);
        if (r < 0)
                log_error("agent %s: cannot record the volumes it reports: %s", a->id,
                          strerror(-r));
        master_schedule(m);
        *ret_agent = a;
        return 0;
}

/* A heartbeat's body: {"tasks": [ids]}, both optional; *ret_tasks is NULL without a list. */
static int heartbeat_tasks_parse(const json_t *body, const json_t **ret_tasks, char **ret_error)
{
        /* "volumes" (silo_volume_reports_parse()) is the agent's persistent volumes. */
        static const char *const keys[] = {"tasks", "volumes", NULL};
        const json_t *tasks, *v;
        size_t i;
        int r;

        *ret_tasks = NULL;
        if (!body)
                return 0;
        r = http_json_check_keys(body, keys, "", ret_error);
        if (r < 0)
                return r;
        tasks = json_object_get(body, "tasks");
        if (tasks && !json_is_array(tasks))
                return error_set(ret_error, -EINVAL, "tasks: expected an array of task ids");
        if (json_array_size(tasks) > MASTER_HEARTBEAT_TASKS_MAX)
                return error_set(ret_error, -EINVAL, "tasks: %zu entries, at most %d are allowed",
                                 json_array_size(tasks), MASTER_HEARTBEAT_TASKS_MAX);
        json_array_foreach(tasks, i, v)
        {
                if (!json_is_string(v) || !silo_name_is_valid(json_string_value(v)))
                        return error_set(ret_error, -EINVAL,
                                         "tasks[%zu]: expected a task id string, got %s", i,
                                         json_is_string(v) ? "an invalid id" : "another type");
        }
        *ret_tasks = tasks;
        return 0;
}

int master_agent_heartbeat(master *m, const char *id, const json_t *body, char **ret_error)
{
        struct master_agent *a = master_agent_get(m, id);
        const json_t *tasks, *v;
        uint64_t kills0;
        size_t i;
        int r;

        if (!a)
                return -ENOENT;
        if (a->state != MASTER_AGENT_ACTIVE)
                return -ESTALE;
        if (!a->registered_since_start)
                return -EAGAIN;
        r = heartbeat_tasks_parse(body, &tasks, ret_error);
        if (r < 0)
                return r;
        /* Without "volumes" (an agent of before volumes) nothing is said of them. */
        if (json_object_get(body, "volumes")) {
                struct silo_volume_report *vols = NULL;
                size_t n_vols = 0;

                r = silo_volume_reports_parse(body, NULL, &vols, &n_vols, ret_error);
                if (r < 0)
                        return r;
                r = master_volumes_report(m, a, vols, n_vols);
                silo_volume_reports_free(vols, n_vols);
                if (r < 0)
                        log_error("agent %s: cannot record the volumes it reports: %s", a->id,
                                  strerror(-r));
        }
        a->last_seen_mono_ms = now_mono_ms();
        a->heartbeats++;
        m->metrics.heartbeats++;

        /* A heartbeat names what runs there: anything the master gave up or placed
         * elsewhere must not keep running. */
        kills0 = m->metrics.kills_sent;
        json_array_foreach(tasks, i, v)
        {
                const char *tid = json_string_value(v);
                struct master_task *t = master_task_get(m, tid);

                if (t && streq_ptr(t->agent_id, a->id) && !silo_task_state_is_terminal(t->state))
                        continue;
                if (t && silo_task_state_is_terminal(t->state) && t->kill_in_flight)
                        continue;
                if (m->metrics.kills_sent - kills0 >= MASTER_RECONCILE_KILLS_MAX)
                        break;
                log_info("agent %s reports task %s that %s: killing it", a->id, tid,
                         !t                                      ? "the master does not know"
                         : silo_task_state_is_terminal(t->state) ? "the master gave up"
                                                                 : "belongs elsewhere");
                m->metrics.reconcile_kills++;
                (void)master_kill_send(m, a, tid, NULL);
        }
        return 0;
}

/* An agent silent past the timeout: it and its live tasks are lost. */
static void master_agent_lose(master *m, struct master_agent *a, uint64_t silent_ms)
{
        _cleanup_free_ struct master_task **live = NULL;
        _cleanup_free_ char *msg = NULL;
        size_t n = 0;
        int r;

        if (asprintf(&msg, "agent %s (%s) silent for %" PRIu64 " ms (timeout %" PRIu64 " ms)",
                     a->id, strempty(a->reg->hostname), silent_ms, m->opts.agent_timeout_ms) < 0)
                msg = NULL;
        log_warning("%s: marking it lost", strempty(msg));
        (void)master_agent_tasks(m, a, &live, &n);
        for (size_t k = 0; k < n; k++) {
                r = master_task_transition(m, live[k], SILO_TASK_LOST, SILO_REASON_AGENT_LOST, msg,
                                           NULL);
                if (r < 0)
                        log_error("task %s: cannot record it LOST: %s", live[k]->id, strerror(-r));
        }
        a->state = MASTER_AGENT_LOST;
        r = master_agent_save(m, a, MASTER_EVENT_AGENT_LOST);
        if (r < 0)
                log_error("agent %s: cannot record it lost: %s", a->id, strerror(-r));
        (void)alloc_agent_remove(m->alloc, a->id);
        m->metrics.agents_lost++;
        master_schedule(m);
}

void master_agents_check(master *m)
{
        uint64_t now = now_mono_ms();
        struct master_agent *a;
        size_t i = 0;

        while (table_next(m->agents, &i, NULL, (void **)&a))
                if (a->state == MASTER_AGENT_ACTIVE &&
                    now - a->last_seen_mono_ms > m->opts.agent_timeout_ms)
                        master_agent_lose(m, a, now - a->last_seen_mono_ms);
}

json_t *master_agent_to_json(master *m, const struct master_agent *a)
{
        struct alloc_agent_free f;
        json_t *j, *tasks, *attrs;
        struct master_task *t;
        size_t i = 0;

        j = json_object();
        if (!j)
                return NULL;
        json_object_set_new(j, "id", json_string(a->id));
        json_object_set_new(j, "hostname",
                            a->reg->hostname ? json_string(a->reg->hostname) : json_null());
        json_object_set_new(j, "address", json_string(a->reg->address));
        if (a->reg->version)
                json_object_set_new(j, "version", json_string(a->reg->version));
        json_object_set_new(j, "state",
                            json_string(a->state == MASTER_AGENT_ACTIVE ? "ACTIVE" : "LOST"));
        json_object_set_new(j, "resources", silo_agent_resources_to_json(&a->reg->resources));
        attrs = silo_kv_array_to_json(a->reg->attributes, a->reg->n_attributes);
        json_object_set_new(j, "attributes", attrs ? attrs : json_object());
        json_object_set_new(j, "registered_ms", json_integer((json_int_t)a->registered_ms));
        json_object_set_new(j, "updated_ms", json_integer((json_int_t)a->updated_ms));
        if (a->state == MASTER_AGENT_ACTIVE) {
                json_object_set_new(
                    j, "last_seen_ms_ago",
                    json_integer((json_int_t)(now_mono_ms() - a->last_seen_mono_ms)));
                if (alloc_agent_get_free(m->alloc, a->id, &f) >= 0) {
                        json_t *fj = json_pack("{s:f, s:I, s:I}", "cpus", f.cpus, "mem",
                                               (json_int_t)f.mem, "pids", (json_int_t)f.pids);
                        json_t *disks = json_object();
                        for (size_t d = 0; d < a->reg->resources.n_disks; d++) {
                                double used = 0;
                                const char *name = a->reg->resources.disks[d].name;
                                if (name && alloc_disk_get_used(m->alloc, a->id, name, &used) >= 0)
                                        json_object_set_new(disks, name, json_real(used));
                        }
                        json_object_set_new(fj, "io_cost_used", disks);
                        /* host ports of the registered range no live task holds */
                        if (f.port_max)
                                json_object_set_new(
                                    fj, "ports",
                                    json_pack("{s:I, s:I}", "tcp",
                                              (json_int_t)f.ports_free[SILO_PORT_TCP], "udp",
                                              (json_int_t)f.ports_free[SILO_PORT_UDP]));
                        json_object_set_new(j, "free", fj);
                }
        }
        json_object_set_new(j, "heartbeats", json_integer((json_int_t)a->heartbeats));
        tasks = json_array();
        while (table_next(a->tasks, &i, NULL, (void **)&t))
                json_array_append_new(tasks, json_string(t->id));
        json_object_set_new(j, "tasks", tasks);
        return j;
}
