/* SPDX-License-Identifier: Apache-2.0 */
/* The launch endpoint: decode the spec, run the launch pipeline, map its -errno to a status. */
#include <errno.h>
#include <string.h>

#include "agent/agent.h"
#include "common/http-json.h"
#include "common/macro.h"
#include "common/protocol-json.h"

/* What a launch's -errno means for the client, the one place that decides it; anything not
 * listed is the agent's failure. */
static const struct {
        int r;
        unsigned status;
        const char *code;
} launch_statuses[] = {
        {-EINVAL, 400, "invalid_spec"}, /* the spec cannot run on this host */
        {-ENOENT, 400, "invalid_spec"}, /* a path or device it names is missing */
        {-ENODEV, 400, "invalid_spec"}, /* a disk it names is not a block device */
        {-EEXIST, 409, "conflict"},     /* its id is taken by another spec or cgroup */
};

unsigned launch_http_status(int r, const char **ret_code)
{
        for (size_t i = 0; i < ELEMENTSOF(launch_statuses); i++)
                if (launch_statuses[i].r == r) {
                        *ret_code = launch_statuses[i].code;
                        return launch_statuses[i].status;
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
        r = agent_task_launch(a, spec, &t, &err);
        if (r < 0)
                return launch_error(resp, r, err);
        return http_response_json(resp, r > 0 ? 200 : 201, task_to_json(t, false));
}
