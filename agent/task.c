/* SPDX-License-Identifier: Apache-2.0 */
/* A task as the agent tracks it: state machine, API view, checkpoint file. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/task-network.h"
#include "agent/shim-protocol.h"
#include "common/fileio.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/process.h"
#include "common/protocol-json.h"

struct task *agent_task_find(struct agent *a, const char *id)
{
        for (size_t i = 0; i < a->n_tasks; i++)
                if (streq(a->tasks[i]->id, id))
                        return a->tasks[i];
        return NULL;
}

bool agent_task_is_live(struct agent *a, const char *id)
{
        const struct task *t = agent_task_find(a, id);

        return t && !silo_task_state_is_terminal(t->state);
}

int task_new(struct agent *a, struct silo_task_spec *spec, struct task **ret)
{
        struct task *t = calloc(1, sizeof(*t));

        if (!t)
                return -ENOMEM;
        t->agent = a;
        t->id = strdup(spec->id);
        t->exit_code = -1;
        t->shim_pidfd = -EBADF;
        t->state = SILO_TASK_STARTING;
        t->created_ms = now_realtime_ms();
        if (!t->id || asprintf(&t->sandbox, "%s/%s", a->sandboxes_dir, spec->id) < 0) {
                t->sandbox = NULL;
                task_free(t);
                return -ENOMEM;
        }
        t->spec = spec;
        *ret = t;
        return 0;
}

struct task *task_free(struct task *t)
{
        if (!t)
                return NULL;
        event_source_remove(t->shim_src);
        event_source_remove(t->report_src);
        event_source_remove(t->kill_timer);
        event_source_remove(t->adopt_timer);
        event_source_remove(t->cg_src);
        safe_close(t->shim_pidfd);
        cg_task_free(t->cg);
        silo_task_spec_free(t->spec);
        free(t->report_buf);
        free(t->name);
        free(t->role);
        free(t->id);
        free(t->message);
        free(t->sandbox);
        free(t->cgroup_path);
        free(t);
        return NULL;
}

int agent_task_add(struct agent *a, struct task *t)
{
        struct task **n = realloc(a->tasks, (a->n_tasks + 1) * sizeof(*n));

        if (!n)
                return -ENOMEM;
        a->tasks = n;
        a->tasks[a->n_tasks++] = t;
        return 0;
}

void agent_task_remove(struct agent *a, struct task *t)
{
        for (size_t i = 0; i < a->n_tasks; i++)
                if (a->tasks[i] == t) {
                        memmove(a->tasks + i, a->tasks + i + 1, (a->n_tasks - i - 1) * sizeof(*a->tasks));
                        a->n_tasks--;
                        return;
                }
}

static json_t *ms_or_null(uint64_t ms)
{
        return ms ? json_integer((json_int_t)ms) : json_null();
}

const char *task_name(const struct task *t)
{
        return t->spec ? t->spec->name : t->name;
}

const char *task_role(const struct task *t)
{
        return silo_task_spec_role(t->spec ?: &(const struct silo_task_spec){.role = t->role});
}

silo_network_mode task_network_mode(const struct task *t)
{
        if (!t->spec)
                return t->network_mode;
        return t->spec->has_container ? t->spec->container.network : SILO_NETWORK_HOST;
}

/* The "spec" of a compacted task's checkpoint (a new reference), or NULL when unreadable. */
static json_t *task_checkpoint_spec(const struct task *t)
{
        char path[PATH_MAX];
        json_t *j = json_load_file(task_checkpoint_path(t->agent, t->id, path), 0, NULL);
        json_t *spec = json_incref(json_object_get(j, "spec"));

        json_decref(j);
        return spec;
}

/* The task's JSON; the checkpoint's view (for_api false) leaves out what only describes this
 * moment (the shim's RSS). */
static json_t *task_json_build(const struct task *t, bool with_spec, bool for_api)
{
        json_t *j = json_object();
        uint64_t rss;

        if (!j)
                return NULL;
        json_object_set_new(j, "id", json_string(t->id));
        if (task_name(t))
                json_object_set_new(j, "name", json_string(task_name(t)));
        json_object_set_new(j, "state", json_string(silo_task_state_to_string(t->state)));
        json_object_set_new(j, "reason", json_string(silo_task_reason_to_string(t->reason)));
        json_object_set_new(j, "exit_code", t->exit_code >= 0 ? json_integer(t->exit_code) : json_null());
        json_object_set_new(j, "signal", t->signal ? json_integer(t->signal) : json_null());
        json_object_set_new(j, "message", t->message ? json_string(t->message) : json_null());
        json_object_set_new(j, "timestamps",
                            json_pack("{s:o, s:o, s:o, s:o}", "created_ms", ms_or_null(t->created_ms),
                                      "started_ms", ms_or_null(t->started_ms), "finished_ms",
                                      ms_or_null(t->finished_ms), "kill_requested_ms",
                                      ms_or_null(t->kill_requested_ms)));
        json_object_set_new(j, "cgroup", t->cgroup_path ? json_string(t->cgroup_path) : json_null());
        json_object_set_new(j, "sandbox", json_string(t->sandbox));
        json_object_set_new(j, "pid", t->pid > 0 ? json_integer(t->pid) : json_null());
        json_object_set_new(j, "kill_requested", json_boolean(t->kill_requested));
        json_object_set_new(j, "network", task_network_to_json(t->agent, t));
        /* The shim's resident memory, read now: what one more running task costs the node
         * beyond its own cgroup (the shim runs outside it, in <root>/shims). */
        if (for_api)
                json_object_set_new(j, "shim_rss_bytes",
                                    t->shim_src && process_rss_bytes(t->shim_pid, t->shim_start_time, &rss) >= 0
                                            ? json_integer((json_int_t)rss)
                                            : json_null());
        if (with_spec) {
                json_t *spec = t->spec ? silo_task_spec_to_json(t->spec) : task_checkpoint_spec(t);

                if (!spec) {
                        json_decref(j);
                        return NULL;
                }
                json_object_set_new(j, "spec", spec);
                json_object_set_new(j, "shim",
                                    json_pack("{s:i, s:I, s:I}", "pid", (int)t->shim_pid,
                                              "start_time", (json_int_t)t->shim_start_time,
                                              "task_start_time", (json_int_t)t->pid_start_time));
        }
        return j;
}

json_t *task_to_json(const struct task *t, bool with_spec)
{
        json_t *j = task_json_build(t, with_spec, true);

        /* A compacted task whose checkpoint cannot be read any more (removed under us): the
         * record in memory is still the truth, without its spec. */
        if (!j && with_spec && !t->spec) {
                j = task_json_build(t, false, true);
                if (j)
                        json_object_set_new(j, "spec", json_null());
        }
        return j;
}

bool task_compact(struct task *t)
{
        char path[PATH_MAX];

        if (!t->spec || !silo_task_state_is_terminal(t->state) || t->cg || t->shim_src || t->report_src ||
            t->kill_timer || t->adopt_timer || t->cg_src)
                return false;
        /* A lease left by a teardown that failed (at recovery, say) keeps the task's network
         * in the API (task_network_to_json: its ports) and its release still to come: both read
         * the spec. */
        if (t->agent->network && agent_network_lease(t->agent->network, t->id))
                return false;
        /* The spec must be on disk before it leaves memory. */
        if (access(task_checkpoint_path(t->agent, t->id, path), F_OK) < 0)
                return false;
        t->network_mode = task_network_mode(t);
        t->name = TAKE_PTR(t->spec->name);
        /* Most tasks have the default role: NULL says it without a copy (task_role()). */
        if (!streq(task_role(t), silo_task_spec_role(&(const struct silo_task_spec){})))
                t->role = TAKE_PTR(t->spec->role);
        t->spec = silo_task_spec_free(t->spec);
        free(t->report_buf);
        t->report_buf = NULL;
        return true;
}

int task_spec_load(struct task *t)
{
        _cleanup_free_ char *err = NULL;
        json_t *j;
        int r;

        if (t->spec)
                return 0;
        j = task_checkpoint_spec(t);
        if (!j)
                return -ENOENT;
        r = silo_task_spec_from_json(j, &t->spec, &err);
        json_decref(j);
        if (r < 0)
                return r;
        free(t->name);
        free(t->role);
        t->name = t->role = NULL;
        return 0;
}

const char *task_checkpoint_path(const struct agent *a, const char *id, char *buf)
{
        snprintf(buf, PATH_MAX, "%s/%s.json", a->tasks_dir, id);
        return buf;
}

static int task_checkpoint_write(const struct task *t, bool durable)
{
        char path[PATH_MAX];
        _cleanup_free_ char *text = NULL;
        json_t *j = task_json_build(t, true, false);

        /* A compacted task's spec comes from the checkpoint being replaced: never write one
         * without it. */
        if (!j)
                return t->spec ? -ENOMEM : -ENOENT;
        json_object_set_new(j, "version", json_integer(1));
        text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(j);
        if (!text)
                return -ENOMEM;
        task_checkpoint_path(t->agent, t->id, path);
        return durable ? file_write_atomic(path, text, strlen(text), 0600)
                       : file_write_replace(path, text, strlen(text), 0600);
}

int task_checkpoint_save(const struct task *t)
{
        return task_checkpoint_write(t, true);
}

int task_checkpoint_stage(const struct task *t)
{
        return task_checkpoint_write(t, false);
}

int task_transition(struct task *t, silo_task_state state, silo_task_reason reason,
                    const char *message)
{
        uint64_t now = now_realtime_ms();
        int r;

        if (silo_task_state_is_terminal(t->state))
                return 0;
        t->state = state;
        t->reason = reason;
        if (message) {
                free(t->message);
                t->message = strdup(message);
        }
        if (state == SILO_TASK_RUNNING && !t->started_ms)
                t->started_ms = now;
        if (silo_task_state_is_terminal(state)) {
                t->finished_ms = now;
                t->agent->ended_total[reason]++;
        }
        /* Queued as a status update first, then checkpointed: a crash in between repeats the
         * same update id rather than losing it (link.h). */
        agent_link_task_changed(t);
        /* Durable for every state: the rename of a file not fsynced over the launch's durable
         * record could leave, after a power loss, an empty file where that record was (on XFS,
         * or ext4 without auto_da_alloc), and recovery would forget a task it answered for. */
        r = task_checkpoint_save(t);
        if (r < 0)
                log_error_errno(r, "Failed to checkpoint task %s: %m", t->id);
        log_info("task %s: %s%s%s%s%s%s", t->id, silo_task_state_to_string(state),
                 reason ? " (" : "", reason ? silo_task_reason_to_string(reason) : "",
                 reason ? ")" : "", message ? ": " : "", message ? message : "");
        agent_notify_status(t->agent);
        if (silo_task_state_is_terminal(state))
                agent_logs_notify(t->agent, t);
        return r;
}
