/* SPDX-License-Identifier: Apache-2.0 */
/* silo-master's REST API (ARCHITECTURE.md, "Main endpoints"): validation and responses. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/authz.h"
#include "common/http-json.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/protocol-json.h"
#include "master/dashboard.h"
#include "master/events.h"
#include "master/master.h"
#include "master/store.h"

/* What a -errno from decoding a request or from the domain means for the client: the one
 * place that decides a status. code NULL: the endpoint names it (invalid_spec, unknown_agent...). */
static const struct {
        int r;
        unsigned status;
        const char *code;
} api_statuses[] = {
    {-EINVAL, 400, NULL},                /* refused for good: the client's mistake */
    {-ERANGE, 400, NULL},                /* a codec's value out of range ("2^64" quantities) */
    {-ENOENT, 404, NULL},                /* no such task or agent */
    {-ESTALE, 404, NULL},                /* an agent marked lost: it must register again */
    {-EAGAIN, 404, NULL},                /* an agent from before the master's restart: likewise */
    {-EBUSY, 409, "conflict"},           /* a task id taken by another spec; a task already over */
    {-EPERM, 409, "conflict"},           /* a status update the task's state does not allow */
    {-EFBIG, 413, "payload_too_large"},
    {-E2BIG, 413, "payload_too_large"},  /* larger than the state store takes for one object */
    {-EHOSTUNREACH, 502, NULL},          /* an agent a read is relayed to did not answer */
    {-ENODATA, 410, "gone"},             /* events no longer kept (or never were): re-list */
    {-EUSERS, 503, "unavailable"},       /* --event-consumers-max streams are open already */
    {-ETXTBSY, 409, "volume_in_use"},    /* a persistent volume a task not ended mounts */
    {-EINPROGRESS, 409, "volume_deleting"}, /* a persistent volume being deleted */
    {-EACCES, 403, "forbidden"},         /* another role's volume named in a spec */
};

unsigned master_api_status(int r, const char *code, const char **ret_code)
{
        for (size_t i = 0; i < ELEMENTSOF(api_statuses); i++)
                if (api_statuses[i].r == r) {
                        *ret_code = api_statuses[i].code ? api_statuses[i].code : code;
                        return api_statuses[i].status;
                }
        *ret_code = NULL;
        return 500;
}

/* Answer r with its status from the table and the message; a -errno the table does not know
 * (ENOMEM, I/O) is the master's failure and goes back to the server, unanswered. */
static int __attribute__((format(printf, 4, 5)))
api_errorf(http_response *resp, int r, const char *code, const char *format, ...)
{
        _cleanup_free_ char *msg = NULL;
        const char *c;
        unsigned status = master_api_status(r, code, &c);
        va_list ap;
        int k;

        if (status == 500)
                return r;
        va_start(ap, format);
        k = vasprintf(&msg, format, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        return http_response_error(resp, status, c, "%s", msg);
}

/* The same for a callee's -errno and its message (its strerror when it left none). */
static int api_error(http_response *resp, int r, const char *code, const char *err)
{
        return api_errorf(resp, r, code, "%s", err ? err : strerror(-r));
}

/* POST bodies must be JSON objects; say so naming what was sent. */
static bool require_object(const json_t *body, http_response *resp, const char *what)
{
        if (json_is_object(body))
                return true;
        (void)api_errorf(resp, -EINVAL, "bad_request", "body: expected a JSON object (%s), got %s",
                          what,
                          !body                 ? "an empty body"
                          : json_is_array(body) ? "an array"
                                                : "a scalar");
        return false;
}

int master_api_authz(master *m, http_request *req, http_response *resp,
                     const struct authz_request *q)
{
        _cleanup_free_ char *err = NULL;
        int r = authz_http_check(req, resp, q, &m->metrics.requests_forbidden, &err);

        if (r > 0)
                log_notice("%s %s from %s: 403: %s", req->method, req->path, req->remote, err);
        return r;
}

#define API_AUTHZ(m, req, resp, ...)                                                               \
        AUTHZ_RETURN_IF_DENIED(master_api_authz(m, req, resp, &(struct authz_request){__VA_ARGS__}))

static const char *task_role(const struct master_task *t)
{
        return silo_task_spec_role(t->spec);
}

static int api_health(http_request *req, http_response *resp, void *userdata)
{
        master *m = userdata;

        enum master_role role = master_role(m);
        const char *leader = role == MASTER_ROLE_FOLLOWER
                                 ? (m->leader && !m->deposed ? master_leader_url(m->leader) : NULL)
                                 : m->advertise;

        (void)req;
        /* A follower holds no state: its counts are 0, the leader's are the cluster's. */
        return http_response_json(
            resp, 200,
            json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:s?, s:I}", "status", "ok", "version",
                      SILO_VERSION, "agents", (json_int_t)table_size(m->agents), "tasks",
                      (json_int_t)table_size(m->tasks), "role", master_role_to_string(role), "name",
                      m->name, "leader", leader, "epoch",
                      (json_int_t)master_epoch_shown(m)));
}

static int api_metrics(http_request *req, http_response *resp, void *userdata)
{
        API_AUTHZ(userdata, req, resp, .action = AUTHZ_METRICS);
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

        if (!require_object(req->body, resp, "an agent registration"))
                return 0;
        r = silo_agent_registration_from_json(req->body, &reg, &err);
        if (r < 0)
                return api_reply(m, req, api_error(resp, r, "invalid_registration", err));
        had_id = reg->agent_id != NULL;
        /* An agent's certificate names it: a registration without an id is for that one. */
        if (!reg->agent_id && http_request_identity(req) &&
            http_request_identity(req)->kind == SILO_IDENTITY_AGENT &&
            !(reg->agent_id = strdup(http_request_identity(req)->name))) {
                silo_agent_registration_free(reg);
                return -ENOMEM;
        }
        r = master_api_authz(m, req, resp,
                             &(struct authz_request){.action = AUTHZ_AGENT_REGISTER,
                                                     .agent = reg->agent_id});
        if (r != 0) {
                silo_agent_registration_free(reg);
                return r > 0 ? 0 : r;
        }
        r = master_agent_register(m, reg, &a, &err);
        if (r < 0) {
                silo_agent_registration_free(reg);
                return api_reply(m, req, api_error(resp, r, "invalid_registration", err));
        }
        return api_reply(m, req,
                         http_response_json(resp, had_id ? 200 : 201,
                                            json_pack("{s:s, s:I, s:I, s:s?, s:I}", "agent_id",
                                                      a->id, "heartbeat_interval_ms",
                                                      (json_int_t)m->opts.heartbeat_interval_ms,
                                                      "agent_timeout_ms",
                                                      (json_int_t)m->opts.agent_timeout_ms,
                                                      /* the agent's fence follows this cluster */
                                                      "cluster_id",
                                                      store_cluster_id(m->store), "epoch",
                                                      (json_int_t)m->epoch)));
}

/* Why a heartbeat's agent is not known now (404: the agent registers again), or NULL. */
static const char *heartbeat_refusal(int r)
{
        static const struct {
                int r;
                const char *why;
        } refusals[] = {
            {-ENOENT, "not registered; register first"},
            {-ESTALE, "marked lost after its heartbeats stopped; register again"},
            {-EAGAIN, "the master restarted; register again to reconcile"},
        };

        for (size_t i = 0; i < ELEMENTSOF(refusals); i++)
                if (refusals[i].r == r)
                        return refusals[i].why;
        return NULL;
}

static int api_agent_heartbeat(http_request *req, http_response *resp, void *userdata)
{
        master *m = userdata;
        const char *id = req->captures[0];
        _cleanup_free_ char *err = NULL;
        int r;

        API_AUTHZ(m, req, resp, .action = AUTHZ_AGENT_HEARTBEAT, .agent = id);
        /* Answered at once, not after the turn's commit: a heartbeat changes nothing durable
         * and reveals nothing, and agents' heartbeats must stay fast under write load. */
        if (req->body && !json_is_object(req->body))
                return api_errorf(resp, -EINVAL, "bad_request",
                                  "body: expected a JSON object or nothing");
        r = master_agent_heartbeat(m, id, req->body, &err);
        if (r < 0 && heartbeat_refusal(r))
                return api_errorf(resp, r, "unknown_agent", "agent %s: %s", id,
                                  heartbeat_refusal(r));
        if (r < 0)
                return api_error(resp, r, "bad_request", err);
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

        if (!require_object(req->body, resp, "a status update"))
                return 0;
        r = silo_status_update_from_json(req->body, &u, &err);
        if (r < 0)
                return api_reply(m, req, api_error(resp, r, "invalid_status", err));
        /* As itself (before anything is recorded, even the update's id). Whether the task is
         * placed on it is master_status_apply's check: a task placed again elsewhere is the
         * ordinary end of a run the agent was thought to have lost, answered 409 (final: the
         * agent sets it aside), not 403, which the agent retries and which would stall every
         * later update behind it. */
        API_AUTHZ(m, req, resp, .action = AUTHZ_STATUS, .agent = u->agent_id);
        r = master_status_apply(m, u, &dup, &err);
        /* 400 and 409 are refused for good: an agent sets it aside rather than retry it. A
         * failure of the master's own goes unacknowledged: the agent sends it again. */
        if (r < 0)
                return api_reply(m, req, api_error(resp, r, "invalid_status", err));
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
                                 api_errorf(resp, -EFBIG, NULL,
                                            "body: %zu bytes; a task spec may have at most %d bytes",
                                            req->raw_body_size, MASTER_SPEC_MAX_BYTES));
        if (req->raw_body_size > 0) {
                r = http_json_parse(req->raw_body, req->raw_body_size, MASTER_SPEC_MAX_BYTES,
                                    &body, &err);
                if (r < 0)
                        return api_reply(m, req, api_error(resp, r == -ENOMEM ? r : -EINVAL,
                                                           "bad_request", strempty(err)));
        }
        if (!require_object(body, resp, "a task spec"))
                return 0;
        r = silo_task_spec_from_json(body, &spec, &err);
        if (r < 0)
                return api_reply(m, req, api_error(resp, r, "invalid_spec", err));
        r = master_api_authz(m, req, resp,
                             &(struct authz_request){.action = AUTHZ_TASK_SUBMIT,
                                                     .role = silo_task_spec_role(spec)});
        if (r != 0) {
                silo_task_spec_free(spec);
                return r > 0 ? 0 : r;
        }
        r = master_volumes_authz_submit(m, http_request_identity(req), spec, &err);
        if (r < 0) {
                silo_task_spec_free(spec);
                m->metrics.requests_forbidden++;
                log_notice("%s %s from %s: 403: %s", req->method, req->path, req->remote, err);
                return api_reply(m, req, api_error(resp, r, NULL, err));
        }
        r = master_task_submit(m, spec, &t, &err);
        if (r < 0) /* not taken: the task keeps its own spec */
                silo_task_spec_free(spec);
        if (r == -EEXIST) /* the same spec again: the answer is the task as it is */
                r = http_response_json(resp, 200, master_task_to_json(m, t, false));
        else if (r == -EBUSY)
                r = api_errorf(resp, r, NULL, "id: task %s exists with another spec", t->id);
        else if (r < 0)
                r = api_error(resp, r, "invalid_spec", err);
        else
                r = http_response_json(resp, 201, master_task_to_json(m, t, false));
        return api_reply(m, req, r);
}

static int api_task_list(http_request *req, http_response *resp, void *userdata)
{
        master *m = userdata;
        _cleanup_free_ struct master_task **v = NULL;
        const char *state = http_request_query(req, "state");
        json_t *arr;
        size_t n;
        int s = -1, r;

        API_AUTHZ(m, req, resp, .action = AUTHZ_TASK_LIST);
        if (state) {
                s = silo_task_state_from_string(state);
                if (s < 0)
                        return api_reply(m, req,
                                         api_errorf(resp, -EINVAL, "bad_request",
                                                    "state: '%s' is not a task state (PENDING, "
                                                    "STAGING, STARTING, RUNNING, FINISHED, "
                                                    "FAILED, KILLED, LOST)",
                                                    state));
        }
        r = master_tasks_list(m, s, &v, &n);
        if (r < 0)
                return r;
        arr = json_array();
        for (size_t i = 0; i < n; i++)
                if (authz_role_visible(http_request_identity(req), task_role(v[i])))
                        json_array_append_new(arr, master_task_to_json(m, v[i], false));
        /* The index of the last event this list reflects, answered after its commit: a client
         * that streams from it next misses nothing. */
        return api_reply(m, req,
                         http_response_json(resp, 200,
                                            json_pack("{s:o, s:I}", "tasks", arr, "event_index",
                                                      (json_int_t)master_events_last(m))));
}

static int api_events(http_request *req, http_response *resp, void *userdata)
{
        master *m = userdata;
        struct master_event_filter f = {0};
        const char *role = http_request_query(req, "role");
        _cleanup_free_ char *err = NULL;
        int r;

        /* A client of one role streams that role's events without asking. */
        role = role ?: authz_default_role(http_request_identity(req));
        API_AUTHZ(m, req, resp, .action = AUTHZ_EVENTS, .role = role);
        r = master_event_filter_parse(http_request_query(req, "since"), role,
                                      http_request_query(req, "task"),
                                      http_request_query(req, "type"), &f, &err);
        if (r >= 0)
                r = master_events_subscribe(m, &f, resp, &err);
        master_event_filter_done(&f);
        if (r < 0)
                return api_error(resp, r, "bad_request", err);
        return 0;
}

static int api_task_get(http_request *req, http_response *resp, void *userdata)
{
        master *m = userdata;
        struct master_task *t = master_task_get(m, req->captures[0]);

        if (!t)
                return api_reply(m, req,
                                 api_errorf(resp, -ENOENT, "not_found", "task %s: no such task",
                                            req->captures[0]));
        API_AUTHZ(m, req, resp, .action = AUTHZ_TASK_READ, .task = t->id, .role = task_role(t));
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
                                 api_errorf(resp, -ENOENT, "not_found", "task %s: no such task",
                                            req->captures[0]));
        API_AUTHZ(m, req, resp, .action = AUTHZ_TASK_KILL, .task = t->id, .role = task_role(t));
        r = master_task_kill(m, t, &done);
        if (r == -EBUSY) /* it is over already */
                return api_reply(m, req,
                                 api_errorf(resp, r, NULL, "task %s: already %s; nothing to kill",
                                            t->id, silo_task_state_to_string(t->state)));
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

        API_AUTHZ(m, req, resp, .action = AUTHZ_AGENTS_READ);
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

        API_AUTHZ(m, req, resp, .action = AUTHZ_AGENTS_READ, .agent = req->captures[0]);
        if (!a)
                return api_reply(m, req,
                                 api_errorf(resp, -ENOENT, "not_found", "agent %s: no such agent",
                                            req->captures[0]));
        return api_reply(m, req, http_response_json(resp, 200, master_agent_to_json(m, a)));
}

static int volume_name_cmp(const void *a, const void *b)
{
        return strcmp((*(struct master_volume *const *)a)->name,
                      (*(struct master_volume *const *)b)->name);
}

static int api_volume_list(http_request *req, http_response *resp, void *userdata)
{
        master *m = userdata;
        _cleanup_free_ struct master_volume **v = NULL;
        struct master_volume *x;
        size_t n = 0, i = 0;
        json_t *arr;

        API_AUTHZ(m, req, resp, .action = AUTHZ_VOLUMES_READ);
        v = calloc((m->volumes ? table_size(m->volumes) : 0) + 1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        while (m->volumes && table_next(m->volumes, &i, NULL, (void **)&x))
                if (authz_role_visible(http_request_identity(req), x->role))
                        v[n++] = x;
        qsort(v, n, sizeof(*v), volume_name_cmp);
        arr = json_array();
        for (i = 0; arr && i < n; i++)
                json_array_append_new(arr, master_volume_to_json(m, v[i]));
        return api_reply(m, req,
                         http_response_json(resp, 200, json_pack("{s:o}", "volumes", arr)));
}

/* The path's volume, or a 404 answered (NULL). A volume the client may not see is answered
 * 404 too, as the list leaves it out: a 403 would tell it that the name is taken. */
static struct master_volume *api_volume_find(master *m, http_request *req, http_response *resp,
                                             int *ret)
{
        struct master_volume *v = master_volume_get(m, req->captures[0]);

        if (v && !authz_role_visible(http_request_identity(req), v->role))
                v = NULL;
        if (!v)
                *ret = api_reply(m, req,
                                 api_errorf(resp, -ENOENT, "not_found",
                                            "volume %s: no such volume", req->captures[0]));
        return v;
}

static int api_volume_get(http_request *req, http_response *resp, void *userdata)
{
        master *m = userdata;
        struct master_volume *v;
        int r = 0;

        API_AUTHZ(m, req, resp, .action = AUTHZ_VOLUMES_READ);
        if (!(v = api_volume_find(m, req, resp, &r)))
                return r;
        API_AUTHZ(m, req, resp, .action = AUTHZ_VOLUMES_READ, .volume = v->name, .role = v->role);
        return api_reply(m, req, http_response_json(resp, 200, master_volume_to_json(m, v)));
}

static int api_volume_delete(http_request *req, http_response *resp, void *userdata)
{
        master *m = userdata;
        _cleanup_free_ char *err = NULL;
        struct master_volume *v;
        int r = 0;

        API_AUTHZ(m, req, resp, .action = AUTHZ_VOLUMES_READ);
        if (!(v = api_volume_find(m, req, resp, &r)))
                return r;
        API_AUTHZ(m, req, resp, .action = AUTHZ_VOLUME_DELETE, .volume = v->name,
                  .role = v->role);
        r = master_volume_delete(m, v, &err);
        if (r < 0)
                return api_reply(m, req, api_error(resp, r, NULL, err));
        /* 202: its agent has been asked; the record goes when it confirms (volume_deleted). */
        return api_reply(m, req, http_response_json(resp, 202, master_volume_to_json(m, v)));
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
    {"GET", "/api/v1/tasks/{id}/isolation", dashboard_task_isolation, 0},
    {"GET", "/api/v1/events", api_events, 0},
    {"GET", "/api/v1/volumes", api_volume_list, 0},
    {"GET", "/api/v1/volumes/{name}", api_volume_get, 0},
    {"DELETE", "/api/v1/volumes/{name}", api_volume_delete, 0},
    /* The dashboard's page and files hold no data: public, like /health (master/dashboard.c). */
    {"GET", "/", dashboard_index, HTTP_ROUTE_PUBLIC},
    {"GET", "/ui/{asset}", dashboard_asset_get, HTTP_ROUTE_PUBLIC},
};
const size_t master_n_routes = ELEMENTSOF(master_routes);
