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

json_t *task_to_json(const struct task *t, bool with_spec)
{
        json_t *j = json_object();

        if (!j)
                return NULL;
        json_object_set_new(j, "id", json_string(t->id));
        if (t->spec->name)
                json_object_set_new(j, "name", json_string(t->spec->name));
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
        if (with_spec) {
                json_object_set_new(j, "spec", silo_task_spec_to_json(t->spec));
                json_object_set_new(j, "shim",
                                    json_pack("{s:i, s:I, s:I}", "pid", (int)t->shim_pid,
                                              "start_time", (json_int_t)t->shim_start_time,
                                              "task_start_time", (json_int_t)t->pid_start_time));
        }
        return j;
}

const char *task_checkpoint_path(const struct agent *a, const char *id, char *buf)
{
        snprintf(buf, PATH_MAX, "%s/%s.json", a->tasks_dir, id);
        return buf;
}

int task_checkpoint_save(const struct task *t)
{
        char path[PATH_MAX];
        _cleanup_free_ char *text = NULL;
        json_t *j = task_to_json(t, true);

        if (!j)
                return -ENOMEM;
        json_object_set_new(j, "version", json_integer(1));
        text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(j);
        if (!text)
                return -ENOMEM;
        return file_write_atomic(task_checkpoint_path(t->agent, t->id, path), text, strlen(text), 0600);
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
