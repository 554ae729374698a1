/* SPDX-License-Identifier: Apache-2.0 */
/* libsilo's task and agent calls: each one request of the master's API (docs/PROTOCOL.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/libsilo/client-internal.h"
#include "common/error.h"
#include "common/macro.h"

/* One call whose 2xx answer is a JSON object, handed to *ret (may be NULL). */
static int call_json(silo_client *c, const char *method, const char *path, const json_t *body, json_t **ret,
                     char **ret_error)
{
        struct silo_client_response resp = {};
        int r;

        r = silo_client_request(c, method, path, body, 0, &resp, ret_error);
        if (r >= 0 && !json_is_object(resp.json))
                r = error_set(ret_error, -EBADMSG, "%s %s: the answer is not a JSON object", method, resp.url);
        if (r >= 0 && ret)
                *ret = TAKE_PTR(resp.json);
        silo_client_response_clear(&resp);
        return r;
}

/* "/api/v1/tasks/<id>" with the id escaped. */
static int task_path(const char *id, char **ret, char **ret_error)
{
        _cleanup_free_ char *e = NULL;

        if (!id || !*id)
                return error_set(ret_error, -EINVAL, "no task id given");
        e = client_path_escape(id);
        if (!e || asprintf(ret, "/api/v1/tasks/%s", e) < 0)
                return -ENOMEM;
        return 0;
}

_public_ int silo_client_task_submit(silo_client *c, const json_t *spec, json_t **ret_task, char **ret_error)
{
        if (!json_is_object(spec))
                return error_set(ret_error, -EINVAL, "a task spec is a JSON object");
        return call_json(c, "POST", "/api/v1/tasks", spec, ret_task, ret_error);
}

_public_ int silo_client_task_submit_text(silo_client *c, const char *spec, json_t **ret_task, char **ret_error)
{
        json_error_t jerr;
        json_t *j;
        int r;

        if (!spec)
                return error_set(ret_error, -EINVAL, "no task spec given");
        j = json_loads(spec, JSON_REJECT_DUPLICATES, &jerr);
        if (!j)
                return error_set(ret_error, -EINVAL, "task spec: line %d, column %d: %s", jerr.line, jerr.column,
                                 jerr.text);
        r = silo_client_task_submit(c, j, ret_task, ret_error);
        json_decref(j);
        return r;
}

_public_ int silo_client_task_get(silo_client *c, const char *id, json_t **ret_task, char **ret_error)
{
        _cleanup_free_ char *path = NULL;
        int r = task_path(id, &path, ret_error);

        return r < 0 ? r : call_json(c, "GET", path, NULL, ret_task, ret_error);
}

_public_ int silo_client_task_kill(silo_client *c, const char *id, json_t **ret_task, char **ret_error)
{
        _cleanup_free_ char *path = NULL;
        int r = task_path(id, &path, ret_error);

        return r < 0 ? r : call_json(c, "DELETE", path, NULL, ret_task, ret_error);
}

_public_ int silo_client_task_list(silo_client *c, const char *state, json_t **ret_list, char **ret_error)
{
        _cleanup_free_ char *path = NULL, *e = NULL;

        if (state) {
                e = client_path_escape(state);
                if (!e || asprintf(&path, "/api/v1/tasks?state=%s", e) < 0)
                        return -ENOMEM;
        }
        return call_json(c, "GET", path ? path : "/api/v1/tasks", NULL, ret_list, ret_error);
}

_public_ int silo_client_agent_list(silo_client *c, json_t **ret_list, char **ret_error)
{
        return call_json(c, "GET", "/api/v1/agents", NULL, ret_list, ret_error);
}
