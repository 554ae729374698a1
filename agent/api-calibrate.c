/* SPDX-License-Identifier: Apache-2.0 */
/* POST /api/v1/devices/calibrate[?disk=NAME]: measure the offered disks again, in the background. */
#include <errno.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/calibration.h"
#include "agent/link.h"
#include "common/http-json.h"
#include "common/macro.h"

/* Answers 202 at once (a calibration takes seconds per figure); GET /api/v1/devices shows each
 * disk's "calibration" state and the new figures when it is done. An optional body
 * {"disks": ["nullb0"]} or ?disk=NAME narrows it to some disks. */
int agent_api_calibrate(http_request *req, http_response *resp, void *userdata)
{
        struct agent *a = userdata;
        struct calibration *c = agent_link_calibration(a);
        const char *one = http_request_query(req, "disk");
        _cleanup_free_ const char **names = NULL;
        _cleanup_free_ char *err = NULL;
        size_t n = 0;
        json_t *list = json_object_get(req->body, "disks"), *v;
        int r;

        AGENT_AUTHZ(a, req, resp, .action = AUTHZ_CALIBRATE);
        if (!c)
                return http_response_error(resp, 503, "unavailable", "calibration is not set up");
        if (a->n_disks == 0)
                return http_response_error(resp, 409, "conflict", "this agent offers no disks (--disk)");
        if (req->body && (!json_is_object(req->body) || json_object_size(req->body) > (list ? 1u : 0u)))
                return http_response_error(resp, 400, "bad_request",
                                           "body: expected nothing or {\"disks\": [NAME, ...]}");
        if (list && (!json_is_array(list) || json_array_size(list) == 0))
                return http_response_error(resp, 400, "bad_request", "disks: expected a non-empty array of disk names");
        names = calloc(json_array_size(list) + 2, sizeof(*names));
        if (!names)
                return -ENOMEM;
        if (one)
                names[n++] = one;
        for (size_t i = 0; list && i < json_array_size(list); i++) {
                v = json_array_get(list, i);
                if (!json_is_string(v))
                        return http_response_error(resp, 400, "bad_request", "disks[%zu]: expected a disk name", i);
                names[n++] = json_string_value(v);
        }
        r = agent_link_calibrate(a, n ? names : NULL, n, &err);
        if (r == -EBUSY)
                return http_response_error(resp, 409, "conflict", "a calibration is already running");
        if (r == -ENOENT)
                return http_response_error(resp, 404, "not_found", "%s", err ? err : "no such disk");
        if (r < 0)
                return http_response_error(resp, 500, NULL, "cannot start calibrating: %s", strerror(-r));
        return http_response_json(resp, 202, calibration_status_json(c));
}
