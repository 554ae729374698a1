/* SPDX-License-Identifier: Apache-2.0 */
/* Who may do what: the one authorization table of both daemons (docs/SECURITY.md). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <stdint.h>

#include "common/http-server.h"
#include "common/tls.h"

/*
 * Under TLS every request has an identity from its client certificate (common/tls.h); the
 * daemons ask here whether it may do what it asks before they read or change anything, and
 * answer 403 "forbidden" with the message made here when not. Without TLS the bearer token
 * is the only credential and its holder is the operator: every check passes (identity NULL).
 *
 *  operator    everything, but launching and killing at an agent that has a master (tasks
 *              the master does not know of would break its accounting: ask the master)
 *  master      at agents: launch, kill, every read; at a master: reads (its peers)
 *  agent       register, heartbeat and report status only as itself (its certificate's CN)
 *  client      with roles R...: submit, list, read, kill and read the logs of tasks of those
 *              roles only (lists filtered to them); events only of one of them; read and
 *              delete the persistent volumes tasks of those roles made
 */

enum authz_action {
        AUTHZ_METRICS,          /* GET /metrics of either daemon */
        AUTHZ_AGENT_REGISTER,   /* master: POST /api/v1/agents; .agent = the id asked for */
        AUTHZ_AGENT_HEARTBEAT,  /* master: .agent = the path's id */
        AUTHZ_STATUS,           /* master: .agent = the update's agent (the task's placement is
                                 * master_status_apply's check: 409) */
        AUTHZ_AGENTS_READ,      /* master: agents; agent: its devices. .agent NULL = the list */
        AUTHZ_TASK_SUBMIT,      /* master: .role = the spec's */
        AUTHZ_TASK_LIST,        /* either: the caller filters with authz_role_visible() */
        AUTHZ_TASK_READ,        /* either: a task, its isolation; .task, .role */
        AUTHZ_TASK_LOGS,        /* agent: .task, .role */
        AUTHZ_TASK_KILL,        /* either: .task, .role; at an agent also .managed */
        AUTHZ_TASK_LAUNCH,      /* agent: .task, .role, .managed */
        AUTHZ_EVENTS,           /* master: .role = the stream's role filter (NULL: every role) */
        AUTHZ_CALIBRATE,        /* agent: a disk calibration */
        AUTHZ_STATUS_QUEUE,     /* agent: read (standalone: acknowledge) its status queue */
        AUTHZ_VOLUMES_READ,     /* either: persistent volumes; .volume NULL = the list (the
                                 * caller filters it with authz_role_visible()), .role = the
                                 * volume's (the role of the task that made it; NULL: unknown) */
        AUTHZ_VOLUME_DELETE,    /* either: .volume, .role; at an agent also .managed */
        _AUTHZ_ACTION_MAX,
};

struct authz_request {
        enum authz_action action;
        const char *agent; /* the agent the request speaks for or about */
        const char *task;
        const char *role;  /* the task's role (a volume's: that of the task that made it) */
        bool managed;      /* an agent with a master (not standalone) */
        const char *volume; /* a persistent volume's name */
};

/* 0 when `id` (NULL: the token's holder, the operator) may do what `q` says; -EACCES with
 * *ret_error "identity 'agent:node-1' may not send a heartbeat for agent 'node-2'" when not. */
int authz_check(const struct silo_identity *id, const struct authz_request *q, char **ret_error);

/* Whether `id` sees tasks of `role` in lists and streams (operators and masters every role). */
bool authz_role_visible(const struct silo_identity *id, const char *role);

/* The role a client's event stream is limited to when it gives none: its only role; NULL for
 * everyone else (no limit, or a client of several roles, who must choose). */
const char *authz_default_role(const struct silo_identity *id);

/* Whether a task of `task_role`, submitted (or launched) by `id` (NULL: the operator), may
 * mount the existing persistent volume `volume` of `volume_role` (that of the task that made
 * it; NULL: adopted from an agent's report, or recorded before volumes had roles). A volume
 * keeps the role that made it: a task of another role would expose its data to that role's
 * clients, whoever submits it. A role-less volume has no owner to compare with: only an
 * operator (or a master, which checked its submitter) may mount it. 0, or -EACCES with
 * *ret_error naming the volume and its role. */
int authz_volume_mount(const struct silo_identity *id, const char *volume, const char *volume_role,
                       const char *task_role, char **ret_error);

/* authz_check() for a request of a daemon's API, with the identity of its certificate: 0 to
 * go on; when refused, a 403 "forbidden" with the message in resp, *forbidden counted, and 1
 * with the message in *ret_error for the daemon's log; -ENOMEM. */
int authz_http_check(http_request *req, http_response *resp, const struct authz_request *q,
                     uint64_t *forbidden, char **ret_error);

/* In a handler: return at once when the check above answered (1: the 403 is in resp) or
 * failed. */
#define AUTHZ_RETURN_IF_DENIED(expr)                                                               \
        do {                                                                                       \
                int _authz = (expr);                                                               \
                if (_authz != 0)                                                                   \
                        return _authz > 0 ? 0 : _authz;                                            \
        } while (0)
