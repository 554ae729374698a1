/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's connection to silo-master: registration, heartbeats, status updates, all non-blocking. */
#pragma once

#include "agent/epoch-fence.h"

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "agent/status-queue.h"
#include "common/event-loop.h"
#include "common/macro.h"

struct tls_files;

/*
 * One master_link per agent, driven by the agent's event loop (libcurl multi through
 * common/http-client.h; nothing here blocks):
 *
 *  - Registration (POST /api/v1/agents) with the agent id persisted in `id_path` (absent the
 *    first time; the master assigns one and the link writes it atomically). The agent is
 *    registered again when the master answers a heartbeat with 404/410 (it lost us or never
 *    knew us), after any transport failure (the master may have restarted from its database:
 *    re-registering makes it reconcile our task list), and on master_link_reregister() (the
 *    resources changed, e.g. after a calibration). The registration's task list gets the tasks
 *    that only the queue still knows (ended, outcome not yet acknowledged) added, so the master
 *    waits for their outcome instead of declaring them LOST.
 *  - Heartbeats (POST /api/v1/agents/{id}/heartbeat) at the interval the master returned.
 *  - Status updates from the durable queue, oldest first, one in flight at a time so the
 *    master sees a task's transitions in order; each is removed from the queue only when the
 *    master acknowledges it (HTTP 200). An update the master rejects as malformed (400) would
 *    block every later one forever: it is set aside ("<file>.rejected") and logged.
 *  - Exponential backoff (0.5 s .. 10 s) while the master is unreachable or failing; the
 *    first failure and the recovery are logged once, not every attempt.
 *  - Several masters (HA): the link asks one at a time. A follower's 307/308 is followed at
 *    once to its Location when that is one of the configured masters (same scheme, host and
 *    port; never https to http: the request carries the token), else refused and logged; a
 *    transport failure or a 503 (no leader there) moves on to the next master at once. The
 *    master that answered stays the one asked. Once every master was tried in a row, the
 *    backoff applies. A new leader answers the first heartbeat 404: the agent registers.
 */

struct master_link;

struct master_link_config {
        /* "http://127.0.0.1:5050[,http://10.0.0.2:5050...]" (a trailing '/' is ignored) */
        const char *master_url;
        const char *token;
        const struct tls_files *tls;    /* mutual TLS to an https:// master; NULL: none */
        const char *id_path;            /* <state-dir>/agent-id */
        /* Under TLS, the agent id its certificate names (CN) and that certificate's file: the
         * id to register as, which the id file must not contradict. NULL without TLS. */
        const char *cert_agent_id;
        const char *cert_path;
        struct status_queue *queue;     /* borrowed; consumed by the link */
        /* Borrowed: a registration answer's "cluster_id" and "epoch" go there (a new cluster is
         * adopted only so, from a master of the list). NULL: not kept. */
        struct epoch_fence *fence;
        /* The registration body without "agent_id" (the link adds it). New reference. */
        json_t *(*registration_build)(void *userdata);
        /* The heartbeat body ({"tasks": [ids]}). New reference. */
        json_t *(*heartbeat_build)(void *userdata);
        void *userdata;
};

/* Check the URLs, load the persisted agent id (a malformed file is an error naming it), and
 * create the HTTP client. Nothing is sent before master_link_start(). */
int master_link_new(const struct master_link_config *cfg, struct master_link **ret, char **ret_error);
struct master_link *master_link_free(struct master_link *l);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct master_link *, master_link_free)

/* Attach to the loop and register right away. */
int master_link_start(struct master_link *l, struct event_loop *loop);

/* Register again soon (resources changed). */
void master_link_reregister(struct master_link *l);
/* The queue has something new: send it now if registered. */
void master_link_kick(struct master_link *l);

const char *master_link_agent_id(const struct master_link *l);  /* NULL before the first registration */

/* {"master", "agent_id", "registered", "heartbeat_interval_ms", counters...} for the API. */
json_t *master_link_status_json(const struct master_link *l);
