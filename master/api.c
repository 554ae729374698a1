/* SPDX-License-Identifier: Apache-2.0 */
/* silo-master's REST API (ARCHITECTURE.md, "Main endpoints"): validation and responses. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/http-json.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/macro.h"
#include "master/master.h"

/* POST bodies must be JSON objects; say so naming what was sent. */
static bool require_object(http_request *req, http_response *resp, const char *what)
{
        if (json_is_object(req->body))
                return true;
        (void)http_response_error(resp, 400, "bad_request",
                                  "body: expected a JSON object (%s), got %s", what,
                                  !req->body                 ? "an empty body"
                                  : json_is_array(req->body) ? "an array"
                                                             : "a scalar");
        return false;
}

static int api_health(http_request *req, http_response *resp, void *userdata)
{
        master *m = userdata;

        (void)req;
        return http_response_json(resp, 200,
                                  json_pack("{s:s, s:s, s:I, s:I}", "status", "ok", "version",
                                            SILO_VERSION, "agents",
                                            (json_int_t)table_size(m->agents), "tasks",
                                            (json_int_t)table_size(m->tasks)));
}

static int api_metrics(http_request *req, http_response *resp, void *userdata)
{
        (void)req;
        return http_response_text(resp, 200, "text/plain; version=0.0.4; charset=utf-8",
                                  master_metrics_format(userdata));
}

/* Every answer waits for the commit of what this loop turn changed (the master's group
 * commit): a client never hears of a change that a crash could still undo. */
static int api_reply(master *m, http_request *req, int r)
{
        if (r < 0)
                return r;
        return master_ack_after_commit(m, req);
}

static int api_agent_register(http_request *req, http_response *resp, void *userdata)
{
        master *m = userdata;
        struct silo_agent_registration *reg = NULL;
        struct master_agent *a;
        _cleanup_free_ char *err = NULL;
        bool had_id;
        int r;

        if (!require_object(req, resp, "an agent registration"))
                return 0;
        r = silo_agent_registration_from_json(req->body, &reg, &err);
        if (r < 0)
                return api_reply(m, req,
                                 http_response_error(resp, r == -ENOMEM ? 500 : 400,
                                                     "invalid_registration", "%s",
                                                     err ? err : strerror(-r)));
        had_id = reg->agent_id != NULL;
        r = master_agent_register(m, reg, &a, &err);
        if (r < 0) {
                silo_agent_registration_free(reg);
                if (r == -EINVAL)
                        return api_reply(m, req,
                                         http_response_error(resp, 400, "invalid_registration",
                                                             "%s", strempty(err)));
                return r;
        }
        return api_reply(m, req,
                         http_response_json(resp, had_id ? 200 : 201,
                                            json_pack("{s:s, s:I, s:I}", "agent_id", a->id,
                                                      "heartbeat_interval_ms",
                                                      (json_int_t)m->opts.heartbeat_interval_ms,
                                                      "agent_timeout_ms",
                                                      (json_int_t)m->opts.agent_timeout_ms)));
}

static int api_agent_heartbeat(http_request *req, http_response *resp, void *userdata)
{
        master *m = userdata;
        const char *id = req->captures[0];
        _cleanup_free_ char *err = NULL;
        int r;

        /* Answered at once, not after the turn's commit: a heartbeat changes nothing durable
         * and reveals nothing, and agents' heartbeats must stay fast under write load. */
        if (req->body && !json_is_object(req->body))
                return http_response_error(resp, 400, "bad_request",
                                           "body: expected a JSON object or nothing");
        r = master_agent_heartbeat(m, id, req->body, &err);
        if (r == -ENOENT)
                return http_response_error(resp, 404, "unknown_agent",
                                           "agent %s: not registered; register first", id);
        if (r == -ESTALE)
                return http_response_error(
                    resp, 404, "unknown_agent",
                    "agent %s: marked lost after its heartbeats stopped; register again", id);
        if (r == -EAGAIN)
                return http_response_error(
                    resp, 404, "unknown_agent",
                    "agent %s: the master restarted; register again to reconcile", id);
        if (r == -EINVAL)
                return http_response_error(resp, 400, "bad_request", "%s", strempty(err));
        if (r < 0)
                return r;
        return http_response_json(
            resp, 200,
            json_pack("{s:I}", "heartbeat_interval_ms", (json_int_t)m->opts.heartbeat_interval_ms));
}

static int api_status(http_request *req, http_response *resp, void *userdata)
{
        master *m = userdata;
        _cleanup_(silo_status_update_freep) struct silo_status_update *u = NULL;
        _cleanup_free_ char *err = NULL;
        bool dup = false;
        int r;

        if (!require_object(req, resp, "a status update"))
                return 0;
        r = silo_status_update_from_json(req->body, &u, &err);
        if (r < 0)
                return api_reply(m, req,
                                 http_response_error(resp, r == -ENOMEM ? 500 : 400,
                                                     "invalid_status", "%s",
                                                     err ? err : strerror(-r)));
        r = master_status_apply(m, u, &dup, &err);
        /* Refused for good (400: an agent sets it aside rather than retry it). */
        if (r == -EINVAL)
                return api_reply(m, req,
                                 http_response_error(resp, 400, "invalid_status", "%s",
                                                     strempty(err)));
        if (r == -EPERM)
                return api_reply(m, req,
                                 http_response_error(resp, 409, "conflict", "%s", strempty(err)));
        if (r < 0)
                return r; /* not acknowledged: the agent sends it again */
        return api_reply(m, req,
                         http_response_json(resp, 200,
                                            json_pack("{s:s, s:b}", "acknowledged", u->update_id,
                                                      "duplicate", dup)));
}

/* A task spec with every array at its bound (256 devices, 256 volumes, 64 io entries) and a
 * long command and environment fits in a fraction of this; the limit keeps the JSON parse of
 * the most exposed endpoint to a few milliseconds (a 1 MiB body of tiny objects costs jansson
 * about 200 ms of the single-threaded loop). */
#define MASTER_SPEC_MAX_BYTES (256 * 1024)

static int api_task_submit(http_request *req, http_response *resp, void *userdata)
{
        master *m = userdata;
        _cleanup_json_ json_t *body = NULL;
        struct silo_task_spec *spec = NULL;
        struct master_task *t = NULL;
        _cleanup_free_ char *err = NULL;
        int r;

        /* The route takes the raw body: refuse an oversized spec before parsing any of it. */
        if (req->raw_body_size > MASTER_SPEC_MAX_BYTES)
                return api_reply(m, req,
                                 http_response_error(resp, 413, "payload_too_large",
                                                     "body: %zu bytes; a task spec may have at "
                                                     "most %d bytes",
                                                     req->raw_body_size, MASTER_SPEC_MAX_BYTES));
        if (req->raw_body_size > 0) {
                r = http_json_parse(req->raw_body, req->raw_body_size, MASTER_SPEC_MAX_BYTES,
                                    &body, &err);
                if (r < 0)
                        return api_reply(m, req,
                                         http_response_error(resp, 400, "bad_request", "%s",
                                                             strempty(err)));
        }
        if (!json_is_object(body))
                return http_response_error(resp, 400, "bad_request",
                                           "body: expected a JSON object (a task spec), got %s",
                                           !body                 ? "an empty body"
                                           : json_is_array(body) ? "an array"
                                                                 : "a scalar");
        r = silo_task_spec_from_json(body, &spec, &err);
        if (r < 0)
                return api_reply(m, req,
                                 http_response_error(resp, r == -ENOMEM ? 500 : 400, "invalid_spec",
                                                     "%s", err ? err : strerror(-r)));
        r = master_task_submit(m, spec, &t, &err);
        if (r == -EEXIST) {
                silo_task_spec_free(spec);
                return api_reply(m, req,
                                 http_response_json(resp, 200, master_task_to_json(m, t, false)));
        }
        if (r == -EBUSY) {
                silo_task_spec_free(spec);
                return api_reply(m, req,
                                 http_response_error(resp, 409, "conflict",
                                                     "id: task %s exists with another spec",
                                                     t->id));
        }
        if (r < 0) {
                silo_task_spec_free(spec);
                if (r == -EINVAL)
                        return api_reply(
                            m, req,
                            http_response_error(resp, 400, "invalid_spec", "%s", strempty(err)));
                return r;
        }
        return api_reply(m, req, http_response_json(resp, 201, master_task_to_json(m, t, false)));
}

static int api_task_list(http_request *req, http_response *resp, void *userdata)
{
        master *m = userdata;
        _cleanup_free_ struct master_task **v = NULL;
        const char *state = http_request_query(req, "state");
        json_t *arr;
        size_t n;
        int s = -1, r;

        if (state) {
                s = silo_task_state_from_string(state);
                if (s < 0)
                        return api_reply(
                            m, req,
                            http_response_error(
                                resp, 400, "bad_request",
                                "state: '%s' is not a task state (PENDING, STAGING, STARTING, "
                                "RUNNING, FINISHED, FAILED, KILLED, LOST)",
                                state));
        }
        r = master_tasks_list(m, s, &v, &n);
        if (r < 0)
                return r;
        arr = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(arr, master_task_to_json(m, v[i], false));
        return api_reply(m, req, http_response_json(resp, 200, json_pack("{s:o}", "tasks", arr)));
}

static int api_task_get(http_request *req, http_response *resp, void *userdata)
{
        master *m = userdata;
        struct master_task *t = master_task_get(m, req->captures[0]);

        if (!t)
                return api_reply(m, req,
                                 http_response_error(resp, 404, "not_found",
                                                     "task %s: no such task", req->captures[0]));
        return api_reply(m, req, http_response_json(resp, 200, master_task_to_json(m, t, true)));
}

static int api_task_kill(http_request *req, http_response *resp, void *userdata)
{
        master *m = userdata;
        struct master_task *t = master_task_get(m, req->captures[0]);
        bool done = false;
        int r;

        if (!t)
                return api_reply(m, req,
                                 http_response_error(resp, 404, "not_found",
                                                     "task %s: no such task", req->captures[0]));
        r = master_task_kill(m, t, &done);
        if (r == -EBUSY)
                return api_reply(m, req,
                                 http_response_error(resp, 409, "conflict",
                                                     "task %s: already %s; nothing to kill", t->id,
                                                     silo_task_state_to_string(t->state)));
        if (r < 0)
                return r;
        /* 202: the agent has been asked; the task turns KILLED when it confirms. */
        return api_reply(
            m, req, http_response_json(resp, done ? 200 : 202, master_task_to_json(m, t, false)));
}

static int agent_id_cmp(const void *a, const void *b)
{
        return strcmp((*(struct master_agent *const *)a)->id,
                      (*(struct master_agent *const *)b)->id);
}

static int api_agent_list(http_request *req, http_response *resp, void *userdata)
{
        master *m = userdata;
        _cleanup_free_ struct master_agent **v = NULL;
        struct master_agent *a;
        size_t n = 0, i = 0;
        json_t *arr;

        (void)req;
        v = calloc(table_size(m->agents) + 1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        while (table_next(m->agents, &i, NULL, (void **)&a))
                v[n++] = a;
        qsort(v, n, sizeof(*v), agent_id_cmp);
        arr = json_array();
        for (i = 0; i < n; i++)
                json_array_append_new(arr, master_agent_to_json(m, v[i]));
        return api_reply(m, req, http_response_json(resp, 200, json_pack("{s:o}", "agents", arr)));
}

static int api_agent_get(http_request *req, http_response *resp, void *userdata)
{
        master *m = userdata;
        struct master_agent *a = master_agent_get(m, req->captures[0]);

        if (!a)
                return api_reply(m, req,
                                 http_response_error(resp, 404, "not_found",
                                                     "agent %s: no such agent", req->captures[0]));
        return api_reply(m, req, http_response_json(resp, 200, master_agent_to_json(m, a)));
}

const struct http_route master_routes[] = {
    {"GET", "/health", api_health, HTTP_ROUTE_PUBLIC},
    {"GET", "/metrics", api_metrics, 0},
    {"POST", "/api/v1/agents", api_agent_register, 0},
    {"GET", "/api/v1/agents", api_agent_list, 0},
    {"GET", "/api/v1/agents/{id}", api_agent_get, 0},
    {"POST", "/api/v1/agents/{id}/heartbeat", api_agent_heartbeat, 0},
    {"POST", "/api/v1/status", api_status, 0},
    {"POST", "/api/v1/tasks", api_task_submit, HTTP_ROUTE_RAW_BODY},
    {"GET", "/api/v1/tasks", api_task_list, 0},
    {"GET", "/api/v1/tasks/{id}", api_task_get, 0},
    {"DELETE", "/api/v1/tasks/{id}", api_task_kill, 0},
};
const size_t master_n_routes = ELEMENTSOF(master_routes);
