/* SPDX-License-Identifier: Apache-2.0 */
/* GET /api/v1/tasks/{id}/isolation on the master: the task's agent answers, the master relays. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/macro.h"
#include "common/protocol-json.h"
#include "common/authz.h"
#include "master/dashboard.h"
#include "master/master.h"

/* An agent reads cgroupfs and its eBPF maps to answer: a second is plenty; a stuck agent must
 * not hold a dashboard's request for the launch timeout. */
#define PROXY_TIMEOUT_MS 3000

struct proxy_call {
        http_deferred *d;
        char *task_id;
        char *agent_id;
};

static void proxy_call_free(struct proxy_call *c)
{
        free(c->task_id);
        free(c->agent_id);
        free(c);
}

static void proxy_done(const struct http_client_result *res, void *userdata)
{
        struct proxy_call *c = userdata;
        const char *code;
        unsigned status = master_api_status(-EHOSTUNREACH, "agent_unreachable", &code);
        http_response *resp;
        int r;

        /* -ECANCELED: the client is being freed with the master, after the server, which has
         * answered every deferred request itself (503) and invalidated their handles. */
        if (res->error == -ECANCELED) {
                proxy_call_free(c);
                return;
        }
        resp = http_deferred_response(c->d);
        if (res->error != 0)
                r = http_response_error(resp, status, code,
                                "task %s: its agent %s did not answer: %s", c->task_id,
                                c->agent_id, strempty(res->error_message));
        else if (res->status == 401 || res->status == 403)
                /* The master's own token was accepted; the agent refusing the master's is a
                 * cluster misconfiguration, not the caller's token being wrong (a 401 here
                 * would make the dashboard forget a good token). */
                r = http_response_error(resp, status, code,
                                "task %s: its agent %s refused the master's token (HTTP %ld)",
                                c->task_id, c->agent_id, (long)res->status);
        else if (res->json)
                /* The agent's answer as it is: its figures, or its own error body (a task whose
                 * cgroup is gone is its 409, one it does not know its 404). */
                r = http_response_json(resp, (unsigned)res->status, json_incref(res->json));
        else
                r = http_response_error(resp, status, code,
                                "task %s: its agent %s answered %s without a JSON body",
                                c->task_id, c->agent_id,
                                res->status == 200 ? "200" : "with an error");
        if (r < 0)
                log_warning("Answering the isolation of task %s: %s", c->task_id, strerror(-r));
        (void)http_deferred_finish(c->d);
        proxy_call_free(c);
}

int dashboard_task_isolation(http_request *req, http_response *resp, void *userdata)
{
        master *m = userdata;
        struct master_task *t = master_task_get(m, req->captures[0]);
        struct master_agent *a;
        _cleanup_free_ char *url = NULL;
        struct proxy_call *c;
        const char *code;
        unsigned status;
        int r;

        if (!t) {
                status = master_api_status(-ENOENT, "not_found", &code);
                return http_response_error(resp, status, code, "task %s: no such task",
                                           req->captures[0]);
        }
        r = master_api_authz(m, req, resp,
                             &(struct authz_request){.action = AUTHZ_TASK_READ, .task = t->id,
                                                     .role = silo_task_spec_role(t->spec)});
        if (r != 0)
                return r > 0 ? 0 : r;
        a = t->agent_id ? master_agent_get(m, t->agent_id) : NULL;
        status = master_api_status(-EBUSY, NULL, &code);
        if (!a || silo_task_state_is_terminal(t->state))
                return http_response_error(resp, status, code, "task %s is %s: %s", t->id,
                                           silo_task_state_to_string(t->state),
                                           silo_task_state_is_terminal(t->state)
                                               ? "it has ended and its cgroup is gone"
                                               : "it is not placed on an agent yet");
        if (asprintf(&url, "%s://%s/api/v1/tasks/%s/isolation", m->agent_scheme, a->reg->address,
                     t->id) < 0)
                return -ENOMEM;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->task_id = strdup(t->id);
        c->agent_id = strdup(a->id);
        if (c->task_id && c->agent_id)
                c->d = http_request_defer(req); /* last: a deferred request must be answered */
        if (!c->d) {
                proxy_call_free(c);
                return -ENOMEM;
        }
        r = master_agent_peer_set(m, a->id);
        if (r >= 0)
                r = http_client_request(m->client, "GET", url, NULL, m->token, PROXY_TIMEOUT_MS,
                                        proxy_done, c);
        if (r < 0) {
                struct http_client_result res = {
                    .error = r, .error_message = "could not start the request", .body = ""};
                proxy_done(&res, c);
        }
        return HTTP_DEFERRED;
}
