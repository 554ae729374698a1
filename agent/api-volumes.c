/* SPDX-License-Identifier: Apache-2.0 */
/* GET /api/v1/volumes, GET and DELETE /api/v1/volumes/{name}: the agent's persistent volumes. */
#include <errno.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/volumes.h"
#include "common/http-json.h"
#include "common/log.h"
#include "common/macro.h"

/* {"volumes": [...]} in name order of their records' loading and creation. */
int agent_api_volume_list(http_request *req, http_response *resp, void *userdata)
{
        struct agent *a = userdata;
        json_t *arr;

        AGENT_AUTHZ(a, req, resp, .action = AUTHZ_VOLUMES_READ);
        arr = json_array();
        for (size_t i = 0; arr && i < a->n_volumes; i++)
                if (authz_role_visible(http_request_identity(req), a->volumes[i]->role) &&
                    json_array_append_new(arr, agent_volume_to_json(a, a->volumes[i])) < 0)
                        json_decref(TAKE_PTR(arr));
        if (!arr)
                return -ENOMEM;
        return http_response_json(resp, 200, json_pack("{s:o}", "volumes", arr));
}

int agent_api_volume_get(http_request *req, http_response *resp, void *userdata)
{
        struct agent *a = userdata;
        const char *name = req->captures[0];
        const struct agent_volume *v;

        /* a volume the client may not see is answered as one that does not exist (as the
         * list leaves it out): a 403 would tell it that the name is taken */
        AGENT_AUTHZ(a, req, resp, .action = AUTHZ_VOLUMES_READ);
        v = agent_volume_find(a, name);
        if (!v || !authz_role_visible(http_request_identity(req), v->role))
                return http_response_error(resp, 404, "not_found", "volume '%s' does not exist", name);
        AGENT_AUTHZ(a, req, resp, .action = AUTHZ_VOLUMES_READ, .volume = name, .role = v->role);
        return http_response_json(resp, 200, agent_volume_to_json(a, v));
}

/* 202 with the volume "deleting": its tree is being removed off the loop, and its quota and
 * record go when that is done (GET answers 404 then; a repeated DELETE answers 202 meanwhile);
 * 409 volume_in_use naming the task that mounts it; 503 disk_unavailable while its disk is
 * not offered (the master retries); 404. */
int agent_api_volume_delete(http_request *req, http_response *resp, void *userdata)
{
        struct agent *a = userdata;
        const char *name = req->captures[0];
        _cleanup_free_ char *err = NULL;
        const struct agent_volume *v;
        int r;

        AGENT_AUTHZ(a, req, resp, .action = AUTHZ_VOLUME_DELETE, .volume = name,
                    .managed = agent_managed(a));
        r = agent_volume_delete(a, name, &err);
        if (r == -ENOENT)
                return http_response_error(resp, 404, "not_found", "%s", err);
        if (r == -EBUSY)
                return http_response_error(resp, 409, "volume_in_use", "%s", err);
        if (r == -ENODEV)
                return http_response_error(resp, 503, "disk_unavailable", "%s", err);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                log_error("Deleting volume %s: %s", name, err ? err : strerror(-r));
                return http_response_error(resp, 500, NULL, "%s", err ? err : strerror(-r));
        }
        v = agent_volume_find(a, name);
        return http_response_json(resp, 202, v ? agent_volume_to_json(a, v) : json_object());
}
