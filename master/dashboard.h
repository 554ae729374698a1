/* SPDX-License-Identifier: Apache-2.0 */
/* The web dashboard the master serves at / (master/www/, embedded at build time). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "common/http-server.h"

/* One embedded file: index.html, and each asset under /ui/ by a name that carries the hash
 * of its content (master/www/embed.py generates the table). */
struct dashboard_asset {
        const char *name; /* "index.html", "dashboard.0123456789ab.js" */
        const char *content_type;
        const char *data;
        size_t size;
        bool immutable; /* the name changes with the content: cacheable for good */
};

extern const struct dashboard_asset dashboard_assets[];
extern const size_t dashboard_n_assets;

/* GET /: the page. It holds no data (everything comes from token-protected API calls made by
 * the page), so it is public like /health. */
int dashboard_index(http_request *req, http_response *resp, void *userdata);
/* GET /ui/{asset}: the page's script and style sheet, public like the page. */
int dashboard_asset_get(http_request *req, http_response *resp, void *userdata);
/* GET /api/v1/tasks/{id}/isolation: the agent's view of a running task (limits read back,
 * usage, eBPF-measured rates), fetched from the task's agent with the cluster token, as the
 * Kubernetes API server proxies a kubelet's stats, so a client never needs to reach agents. */
int dashboard_task_isolation(http_request *req, http_response *resp, void *userdata);
