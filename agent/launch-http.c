/* SPDX-License-Identifier: Apache-2.0 */
/* The launch endpoint: decode the spec, run the launch pipeline, map its -errno to a status;
 * and the agent's authorization of every request (common/authz.h). */
#include <errno.h>
#include <string.h>

#include "agent/agent.h"
#include "common/http-json.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/protocol-json.h"

/* What a launch's -errno means for the client, the one place that decides it. A refused
 * spec (agent_launch_refused(): validation, or the kernel refusing its limits) is the
 * client's error; anything else is the agent's failure. */
unsigned launch_http_status(int r, const char **ret_code)
{
        if (r == -EEXIST) {             /* its id is taken by another spec or cgroup */
                *ret_code = "conflict";
                return 409;
        }
        if (r == -EBUSY) {              /* a persistent volume it mounts is another task's */
                *ret_code = "volume_in_use";
                return 409;
        }
        if (r == -EINPROGRESS) {        /* a persistent volume it mounts is being deleted */
                *ret_code = "volume_deleting";
                return 409;
        }
        if (r == -EACCES) {             /* a persistent volume of another role */
                *ret_code = "forbidden";
                return 403;
        }
        if (agent_launch_refused(r)) {  /* it cannot run on this host as it is */
                *ret_code = "invalid_spec";
                return 400;
        }
        *ret_code = NULL;
        return 500;
}

static int launch_error(http_response *resp, int r, const char *error)
{
        const char *code;
        unsigned status;

        if (r == -ENOMEM)
                return r;
        status = launch_http_status(r, &code);
        return http_response_error(resp, status, code, "%s", error ? error : strerror(-r));
}

int agent_epoch_check(struct agent *a, http_request *req, http_response *resp)
{
        _cleanup_free_ char *err = NULL;
        int r;

        r = epoch_fence_admit(&a->epoch, http_request_header(req, SILO_CLUSTER_ID_HEADER),
                              http_request_header(req, SILO_MASTER_EPOCH_HEADER), &err);
        if (r >= 0)
                return 0;
        if (r == -ENOMEM)
                return r;
        log_warning("Refusing %s %s from %s: %s", req->method, req->path, req->remote,
                    err ? err : strerror(-r));
        if (r == -ESTALE)
                (void)http_response_error(resp, 409, "stale_epoch", "%s", err);
        else if (r == -EXDEV)
                (void)http_response_error(resp, 409, "other_cluster", "%s", err);
        else if (r == -EINVAL)
                (void)http_response_error(resp, 400, "bad_request", "%s", err);
        else
                (void)http_response_error(resp, 500, NULL, "%s", err ? err : strerror(-r));
        return 1;
}

int agent_api_authz(struct agent *a, http_request *req, http_response *resp,
                    const struct authz_request *q)
{
        _cleanup_free_ char *err = NULL;
        int r = authz_http_check(req, resp, q, &a->requests_forbidden_total, &err);

        if (r > 0)
                log_notice("%s %s from %s: 403: %s", req->method, req->path, req->remote, err);
        return r;
}

bool agent_managed(const struct agent *a)
{
        return a->opts.master != NULL;
}

int agent_api_launch(http_request *req, http_response *resp, void *userdata)
{
        struct agent *a = userdata;
        struct silo_task_spec *spec = NULL;
        _cleanup_free_ char *err = NULL;
        struct task *t;
        int r;

        if (!req->body) {
                a->launch_rejected_total++;
                return http_response_error(resp, 400, "invalid_spec",
                                           "body: a task spec (JSON object) is required");
        }
        r = silo_task_spec_from_json(req->body, &spec, &err);
        if (r < 0) {
                a->launch_rejected_total++;
                return launch_error(resp, r == -ENOMEM ? r : -EINVAL,
                                    err ? err : "invalid task spec");
        }
        r = agent_api_authz(a, req, resp,
                            &(struct authz_request){.action = AUTHZ_TASK_LAUNCH,
                                                    .task = spec->id,
                                                    .role = silo_task_spec_role(spec),
                                                    .managed = agent_managed(a)});
        /* After the identity: only the master's epoch may fence (a client's header must not). */
        if (r == 0)
                r = agent_epoch_check(a, req, resp);
        if (r != 0) {
                silo_task_spec_free(spec);
                return MIN(r, 0);
        }
        r = agent_task_launch(a, spec, &t, &err);
        if (r < 0)
                return launch_error(resp, r, err);
        return http_response_json(resp, r > 0 ? 200 : 201, task_to_json(t, false));
}
