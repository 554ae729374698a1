/* SPDX-License-Identifier: Apache-2.0 */
/* Who may do what: the one authorization table of both daemons (docs/SECURITY.md). */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/authz.h"
#include "common/error.h"
#include "common/macro.h"

/* Which kinds may do an action whatever its object; agents and clients are then judged on the
 * object (their own agent id, their roles). */
#define K(kind) (1u << (kind))
static const unsigned authz_kinds[_AUTHZ_ACTION_MAX] = {
        [AUTHZ_METRICS] = K(SILO_IDENTITY_OPERATOR) | K(SILO_IDENTITY_MASTER),
        [AUTHZ_AGENT_REGISTER] = K(SILO_IDENTITY_OPERATOR),
        [AUTHZ_AGENT_HEARTBEAT] = K(SILO_IDENTITY_OPERATOR),
        [AUTHZ_STATUS] = K(SILO_IDENTITY_OPERATOR),
        [AUTHZ_AGENTS_READ] = K(SILO_IDENTITY_OPERATOR) | K(SILO_IDENTITY_MASTER),
        [AUTHZ_TASK_SUBMIT] = K(SILO_IDENTITY_OPERATOR),
        [AUTHZ_TASK_LIST] = K(SILO_IDENTITY_OPERATOR) | K(SILO_IDENTITY_MASTER),
        [AUTHZ_TASK_READ] = K(SILO_IDENTITY_OPERATOR) | K(SILO_IDENTITY_MASTER),
        [AUTHZ_TASK_LOGS] = K(SILO_IDENTITY_OPERATOR) | K(SILO_IDENTITY_MASTER),
        [AUTHZ_TASK_KILL] = K(SILO_IDENTITY_OPERATOR) | K(SILO_IDENTITY_MASTER),
        [AUTHZ_TASK_LAUNCH] = K(SILO_IDENTITY_OPERATOR) | K(SILO_IDENTITY_MASTER),
        [AUTHZ_EVENTS] = K(SILO_IDENTITY_OPERATOR) | K(SILO_IDENTITY_MASTER),
        [AUTHZ_CALIBRATE] = K(SILO_IDENTITY_OPERATOR),
        [AUTHZ_STATUS_QUEUE] = K(SILO_IDENTITY_OPERATOR) | K(SILO_IDENTITY_MASTER),
        [AUTHZ_VOLUMES_READ] = K(SILO_IDENTITY_OPERATOR) | K(SILO_IDENTITY_MASTER),
        [AUTHZ_VOLUME_DELETE] = K(SILO_IDENTITY_OPERATOR) | K(SILO_IDENTITY_MASTER),
};
#undef K

static bool has_role(const struct silo_identity *id, const char *role)
{
        if (!role)
                return false;
        for (size_t i = 0; i < id->n_roles; i++)
                if (streq(id->roles[i], role))
                        return true;
        return false;
}

bool authz_role_visible(const struct silo_identity *id, const char *role)
{
        if (!id || id->kind == SILO_IDENTITY_OPERATOR || id->kind == SILO_IDENTITY_MASTER)
                return true;
        return id->kind == SILO_IDENTITY_CLIENT && has_role(id, role);
}

const char *authz_default_role(const struct silo_identity *id)
{
        return id && id->kind == SILO_IDENTITY_CLIENT && id->n_roles == 1 ? id->roles[0] : NULL;
}

int authz_volume_mount(const struct silo_identity *id, const char *volume, const char *volume_role,
                       const char *task_role, char **ret_error)
{
        if (volume_role && !streq_ptr(volume_role, task_role))
                return error_set(ret_error, -EACCES,
                                 "volume '%s' belongs to role '%s': a task of %s%s%s may not mount it",
                                 volume, volume_role, task_role ? "role '" : "no role",
                                 strempty(task_role), task_role ? "'" : "");
        if (!volume_role && id && id->kind != SILO_IDENTITY_OPERATOR && id->kind != SILO_IDENTITY_MASTER)
                return error_set(ret_error, -EACCES,
                                 "volume '%s' has no role (adopted from an agent's report): only an "
                                 "operator may mount it",
                                 volume);
        return 0;
}

static bool allowed(const struct silo_identity *id, const struct authz_request *q)
{
        switch (q->action) {
        case AUTHZ_TASK_LAUNCH:
        case AUTHZ_TASK_KILL:
        case AUTHZ_VOLUME_DELETE:
                /* At an agent with a master, only the master starts and stops tasks: one
                 * started behind its back would hold resources it does not count (and a
                 * volume deleted behind it would still be counted and placed on). */
                if (q->managed)
                        return id->kind == SILO_IDENTITY_MASTER;
                break;
        default:
                break;
        }
        if (authz_kinds[q->action] & (1u << id->kind))
                return true;
        switch (q->action) {
        case AUTHZ_AGENT_REGISTER:
        case AUTHZ_AGENT_HEARTBEAT:
        case AUTHZ_STATUS:
                return id->kind == SILO_IDENTITY_AGENT && q->agent && streq(q->agent, id->name);
        case AUTHZ_TASK_SUBMIT:
        case AUTHZ_TASK_READ:
        case AUTHZ_TASK_LOGS:
        case AUTHZ_TASK_KILL:
        case AUTHZ_EVENTS:
        case AUTHZ_VOLUME_DELETE:
                return id->kind == SILO_IDENTITY_CLIENT && has_role(id, q->role);
        case AUTHZ_VOLUMES_READ:
                return id->kind == SILO_IDENTITY_CLIENT && (!q->volume || has_role(id, q->role));
        case AUTHZ_TASK_LIST:
                return id->kind == SILO_IDENTITY_CLIENT;
        default:
                return false;
        }
}

/* What was refused, for the message: the action and its object. */
static char *authz_what(const struct silo_identity *id, const struct authz_request *q)
{
        const char *task = strempty(q->task), *role = strempty(q->role), *agent = strempty(q->agent);
        /* An operator is refused these only where a master is in charge: say so. */
        const char *managed = q->managed && id->kind == SILO_IDENTITY_OPERATOR
                                  ? " at an agent that has a master (ask the master)"
                                  : "";
        char *s = NULL;
        int k = -1;

        switch (q->action) {
        case AUTHZ_METRICS:
                k = asprintf(&s, "read the metrics");
                break;
        case AUTHZ_AGENT_REGISTER:
                k = asprintf(&s, "register as agent '%s'", agent);
                break;
        case AUTHZ_AGENT_HEARTBEAT:
                k = asprintf(&s, "send a heartbeat for agent '%s'", agent);
                break;
        case AUTHZ_STATUS:
                k = asprintf(&s, "report status as agent '%s'", agent);
                break;
        case AUTHZ_AGENTS_READ:
                k = q->agent ? asprintf(&s, "read agent '%s'", agent)
                             : asprintf(&s, "read the agents' inventory");
                break;
        case AUTHZ_TASK_SUBMIT:
                k = asprintf(&s, "submit a task of role '%s'", role);
                break;
        case AUTHZ_TASK_LIST:
                k = asprintf(&s, "list tasks");
                break;
        case AUTHZ_TASK_READ:
                k = asprintf(&s, "read task '%s' of role '%s'", task, role);
                break;
        case AUTHZ_TASK_LOGS:
                k = asprintf(&s, "read the logs of task '%s' of role '%s'", task, role);
                break;
        case AUTHZ_TASK_KILL:
                k = asprintf(&s, "kill task '%s' of role '%s'%s", task, role, managed);
                break;
        case AUTHZ_TASK_LAUNCH:
                k = asprintf(&s, "launch task '%s' of role '%s'%s", task, role, managed);
                break;
        case AUTHZ_EVENTS:
                k = q->role ? asprintf(&s, "stream the events of role '%s'", role)
                            : asprintf(&s, "stream the events of every role (add ?role= one of "
                                           "its roles)");
                break;
        case AUTHZ_CALIBRATE:
                k = asprintf(&s, "calibrate this agent's disks");
                break;
        case AUTHZ_STATUS_QUEUE:
                k = asprintf(&s, "read this agent's status queue");
                break;
        case AUTHZ_VOLUMES_READ:
                /* a volume's role: that of the task that made it (none when adopted) */
                k = !q->volume ? asprintf(&s, "list the volumes")
                    : q->role  ? asprintf(&s, "read volume '%s' of role '%s'", q->volume, role)
                               : asprintf(&s, "read volume '%s'", q->volume);
                break;
        case AUTHZ_VOLUME_DELETE:
                k = q->role ? asprintf(&s, "delete volume '%s' of role '%s'%s",
                                       strempty(q->volume), role, managed)
                            : asprintf(&s, "delete volume '%s'%s", strempty(q->volume), managed);
                break;
        case _AUTHZ_ACTION_MAX:
                break;
        }
        return k < 0 ? NULL : s;
}

int authz_check(const struct silo_identity *id, const struct authz_request *q, char **ret_error)
{
        _cleanup_free_ char *what = NULL;
        char who[512];

        assert(q->action >= 0 && q->action < _AUTHZ_ACTION_MAX);
        if (!id || allowed(id, q))
                return 0;
        what = authz_what(id, q);
        if (!what)
                return -ENOMEM;
        return error_set(ret_error, -EACCES, "identity '%s' may not %s",
                         silo_identity_describe(id, who, sizeof(who)), what);
}

int authz_http_check(http_request *req, http_response *resp, const struct authz_request *q,
                     uint64_t *forbidden, char **ret_error)
{
        _cleanup_free_ char *err = NULL;
        int r = authz_check(http_request_identity(req), q, &err);

        if (r != -EACCES)
                return r;
        (*forbidden)++;
        r = http_response_error(resp, 403, "forbidden", "%s", err);
        if (r < 0)
                return r;
        if (ret_error)
                *ret_error = TAKE_PTR(err);
        return 1;
}
