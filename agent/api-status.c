/* SPDX-License-Identifier: Apache-2.0 */
/* GET /api/v1/status[?after=ID&limit=N]: read, and acknowledge by cursor, the durable status queue. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/link.h"
#include "agent/master-link.h"
#include "agent/status-queue.h"
#include "common/http-json.h"
#include "common/log.h"
#include "common/macro.h"

/*
 * Without a master, this is how a client consumes the agent's status updates (issue 7): it
 * reads the queue, handles the updates, then calls again with after=<the last id it handled>,
 * which acknowledges (removes) everything up to and including that id and returns what
 * follows. A repeated cursor (the client crashed before seeing the answer) acknowledges
 * nothing more and returns the rest: at-least-once, never a loss. With --master the link
 * consumes the queue, so a client may read it but not acknowledge (409).
 */

#define STATUS_LIMIT_DEFAULT 1000u

int agent_api_status(http_request *req, http_response *resp, void *userdata)
{
        struct agent *a = userdata;
        struct status_queue *q = agent_link_queue(a);
        struct master_link *ml = agent_link_master(a);
        const char *after = http_request_query(req, "after"), *limit_s = http_request_query(req, "limit");
        unsigned long limit = STATUS_LIMIT_DEFAULT;
        bool cursor_found = false;
        int acked = 0;
        json_t *arr;

        AGENT_AUTHZ(a, req, resp, .action = AUTHZ_STATUS_QUEUE);
        if (!q)
                return http_response_error(resp, 503, "unavailable", "the status queue is not open");
        if (limit_s) {
                char *end;

                errno = 0;
                limit = strtoul(limit_s, &end, 10);
                if (errno != 0 || end == limit_s || *end || limit == 0 || limit > 100000)
                        return http_response_error(resp, 400, "bad_request",
                                                   "limit: '%s' is not a number between 1 and 100000", limit_s);
        }
        if (after) {
                if (ml)
                        return http_response_error(resp, 409, "conflict",
                                                   "after: this agent's status updates are acknowledged by its "
                                                   "master (%s); read them without ?after",
                                                   a->opts.master);
                acked = status_queue_ack_through(q, after);
                if (acked == -ENOENT)
                        acked = 0; /* acknowledged before, or never queued: nothing to remove */
                else if (acked < 0)
                        return http_response_error(resp, 500, NULL, "acknowledging status updates through %s: %s",
                                                   after, strerror(-acked));
                else
                        cursor_found = true;
                if (acked > 0)
                        log_debug("status queue: %d updates acknowledged through %s by %s", acked, after,
                                  strempty(req->remote));
        }
        arr = json_array();
        if (!arr)
                return -ENOMEM;
        for (size_t i = 0; i < status_queue_size(q) && i < limit; i++) {
                const struct status_entry *e = status_queue_get(q, i);
                int r;
                json_t *u = status_queue_load(q, i, &r);

                if (!u) {
                        json_decref(arr);
                        if (r == -ENOMEM)
                                return r;
                        return http_response_error(resp, 500, NULL, "status update %s (%s): %s", e->update_id,
                                                   status_queue_dir(q), strerror(-r));
                }
                json_object_set_new(u, "seq", json_integer((json_int_t)e->seq));
                if (ml && master_link_agent_id(ml))
                        json_object_set_new(u, "agent_id", json_string(master_link_agent_id(ml)));
                json_array_append_new(arr, u);
        }
        return http_response_json(resp, 200,
                                  json_pack("{s:o, s:I, s:i, s:b, s:I, s:I, s:o}", "updates", arr, "pending",
                                            (json_int_t)status_queue_size(q), "acknowledged", acked, "cursor_found",
                                            cursor_found, "queued_total", (json_int_t)status_queue_pushed_total(q),
                                            "acknowledged_total", (json_int_t)status_queue_acked_total(q), "link",
                                            ml ? master_link_status_json(ml) : json_null()));
}
