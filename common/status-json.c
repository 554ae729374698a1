/* SPDX-License-Identifier: Apache-2.0 */
/* JSON codec of task status updates (agent -> master) and of task references (id + state). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "common/json-util.h"
#include "common/protocol-json.h"

#define STATE_CHOICES "PENDING, STAGING, STARTING, RUNNING, FINISHED, FAILED, KILLED, LOST"
#define REASON_CHOICES                                                                             \
        "NONE, EXIT_NONZERO, SIGNALED, OOM_KILLED, LAUNCH_FAILED, AGENT_LOST, KILLED_BY_REQUEST, " \
        "SHIM_LOST, CGROUP_LOST"

static void status_update_init(struct silo_status_update *u)
{
        *u = (struct silo_status_update){.reason = SILO_REASON_NONE, .exit_code = -1};
}

void silo_status_update_clear(struct silo_status_update *u)
{
        free(u->update_id);
        free(u->task_id);
        free(u->agent_id);
        free(u->message);
        status_update_init(u);
}

int silo_status_update_from_json(const json_t *j, struct silo_status_update **ret, char **ret_error)
{
        static const char *const keys[] = {"update_id",    "task_id",   "agent_id", "state",
                                           "reason",       "exit_code", "signal",   "message",
                                           "timestamp_ms", NULL};
        _cleanup_(silo_status_update_clear) struct silo_status_update u;
        struct silo_status_update *p;
        int state = 0, reason = SILO_REASON_NONE, r;
        int64_t exit_code = -1, sig = 0, ts = 0;

        status_update_init(&u);
        if (!json_is_object(j))
                return json_error(ret_error, -EINVAL, NULL,
                                  "a status update must be a JSON object");
        r = json_check_object(j, NULL, keys, ret_error);
        if (r >= 0)
                r = json_field_name(j, NULL, "update_id", true, &u.update_id, ret_error);
        if (r >= 0)
                r = json_field_name(j, NULL, "task_id", true, &u.task_id, ret_error);
        if (r >= 0)
                r = json_field_name(j, NULL, "agent_id", false, &u.agent_id, ret_error);
        if (r >= 0)
                r = json_field_enum(j, NULL, "state", true, silo_task_state_from_string,
                                    "a task state", STATE_CHOICES, &state, ret_error);
        if (r >= 0)
                r = json_field_enum(j, NULL, "reason", false, silo_task_reason_from_string,
                                    "a reason", REASON_CHOICES, &reason, ret_error);
        /* -1: not exited; otherwise a wait status exit code. */
        if (r >= 0)
                r = json_field_int(j, NULL, "exit_code", false, -1, 255, &exit_code, ret_error);
        if (r >= 0)
                r = json_field_int(j, NULL, "signal", false, 0, SIGRTMAX, &sig, ret_error);
        if (r >= 0)
                r = json_field_string(j, NULL, "message", false, &u.message, ret_error);
        if (r >= 0)
                r = json_field_int(j, NULL, "timestamp_ms", true, 0, INT64_MAX, &ts, ret_error);
        if (r < 0)
                return r;
        u.state = state;
        u.reason = reason;
        u.exit_code = (int)exit_code;
        u.signal = (int)sig;
        u.timestamp_ms = (uint64_t)ts;

        p = malloc(sizeof(*p));
        if (!p)
                return -ENOMEM;
        *p = u;
        status_update_init(&u);
        *ret = p;
        return 0;
}

json_t *silo_status_update_to_json(const struct silo_status_update *u)
{
        _cleanup_json_ json_t *o = json_object();
        int r;

        r = json_set(o, "update_id", json_string(u->update_id));
        if (r >= 0)
                r = json_set(o, "task_id", json_string(u->task_id));
        if (r >= 0 && u->agent_id)
                r = json_set(o, "agent_id", json_string(u->agent_id));
        if (r >= 0)
                r = json_set(o, "state", json_string(silo_task_state_to_string(u->state)));
        if (r >= 0 && u->reason != SILO_REASON_NONE)
                r = json_set(o, "reason", json_string(silo_task_reason_to_string(u->reason)));
        if (r >= 0 && u->exit_code != -1)
                r = json_set(o, "exit_code", json_integer(u->exit_code));
        if (r >= 0 && u->signal != 0)
                r = json_set(o, "signal", json_integer(u->signal));
        if (r >= 0 && u->message)
                r = json_set(o, "message", json_string(u->message));
        if (r >= 0)
                r = json_set(o, "timestamp_ms", json_integer((json_int_t)u->timestamp_ms));
        if (r < 0)
                return NULL;
        return TAKE_PTR(o);
}

SILO_DEFINE_CODEC_COMMON(status_update)

void silo_task_ref_clear(struct silo_task_ref *t)
{
        free(t->id);
        *t = (struct silo_task_ref){};
}

/* Decode into an embedded task ref (used for the task lists of registrations). */
int silo_task_ref_parse(const json_t *j, const char *path, struct silo_task_ref *ret,
                        char **ret_error)
{
        static const char *const keys[] = {"id", "state", NULL};
        _cleanup_free_ char *id = NULL;
        int state = 0, r;

        r = json_check_object(j, path, keys, ret_error);
        if (r >= 0)
                r = json_field_name(j, path, "id", true, &id, ret_error);
        if (r >= 0)
                r = json_field_enum(j, path, "state", true, silo_task_state_from_string,
                                    "a task state", STATE_CHOICES, &state, ret_error);
        if (r < 0)
                return r;
        *ret = (struct silo_task_ref){.id = TAKE_PTR(id), .state = state};
        return 0;
}

int silo_task_ref_from_json(const json_t *j, struct silo_task_ref **ret, char **ret_error)
{
        struct silo_task_ref t, *p;
        int r;

        r = silo_task_ref_parse(j, NULL, &t, ret_error);
        if (r < 0)
                return r;
        p = malloc(sizeof(*p));
        if (!p) {
                silo_task_ref_clear(&t);
                return -ENOMEM;
        }
        *p = t;
        *ret = p;
        return 0;
}

json_t *silo_task_ref_to_json(const struct silo_task_ref *t)
{
        return json_pack("{s:s, s:s}", "id", t->id, "state", silo_task_state_to_string(t->state));
}

SILO_DEFINE_CODEC_COMMON(task_ref)
