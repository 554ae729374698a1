/* SPDX-License-Identifier: Apache-2.0 */
/* Glue between silo-agent and its master link, status queue and disk calibration (the agent's hooks). */
#pragma once

#include <stddef.h>

#include <jansson.h>

#include "agent/calibration.h"
#include "common/config.h"
#include "common/http-server.h"

struct agent;
struct task;

/* The agent options this part adds (embedded in struct agent_options as `link`). */
struct agent_link_options {
        struct calibration_options calib;
        char *advertise;
        char *hostname;
        char **attribute;
};

#define AGENT_LINK_CONFIG_OPTIONS(base)                                                               \
        CALIBRATION_CONFIG_OPTIONS((base) + offsetof(struct agent_link_options, calib)),             \
        { "advertise", CONFIG_STRING, (base) + offsetof(struct agent_link_options, advertise), NULL,  \
          "HOST:PORT", "address the master reaches this agent at (default: the listen address; "    \
          "the hostname when listening on all addresses)", 0, 0 },                                  \
        { "hostname", CONFIG_STRING, (base) + offsetof(struct agent_link_options, hostname), NULL,    \
          "NAME", "hostname to register with (default: the system's)", 0, 0 },                       \
        { "attribute", CONFIG_LIST, (base) + offsetof(struct agent_link_options, attribute), NULL,    \
          "KEY=VALUE", "an attribute for placement constraints (rack=r1)", 0, 0 }

/* Routes this part adds to the agent's API (rows of its http_route table; userdata: the agent):
 *   GET  /api/v1/status[?after=ID]      the durable status queue (api-status.c)
 *   POST /api/v1/devices/calibrate      measure the disks again (api-calibrate.c) */
int agent_api_status(http_request *req, http_response *resp, void *userdata);
int agent_api_calibrate(http_request *req, http_response *resp, void *userdata);
#define AGENT_LINK_ROUTES                                                      \
        { "GET", "/api/v1/status", agent_api_status, 0 },                      \
        { "POST", "/api/v1/devices/calibrate", agent_api_calibrate, 0 }

/* Before task recovery (recovery reports what changed while the agent was down): open the
 * status queue in <state-dir>/status, parse the link and calibration options, load the
 * calibration cache. Logs the failure it returns. */
int agent_link_setup(struct agent *a);
/* After the API listens: calibrate disks never measured (in the background), and connect to
 * the master when --master is given. Logs the failure it returns. */
int agent_link_start(struct agent *a);
/* Stop and free everything (before the loop is freed). Accepts a->link == NULL. */
void agent_link_free(struct agent *a);

/* Hook of task_transition(): queue the task's new state durably as a status update (before
 * it is checkpointed, so a crash in between repeats the same update id, never loses it). */
void agent_link_task_changed(struct task *t);

/* Hook of GET /api/v1/devices: fill a disk object's figures, class and source. */
void agent_link_disk_annotate(const struct agent *a, const char *disk, json_t *obj);

/* For the API handlers. */
struct status_queue *agent_link_queue(const struct agent *a);
struct master_link *agent_link_master(const struct agent *a);
struct calibration *agent_link_calibration(const struct agent *a);
/* Start calibrating (names NULL = all disks); the master hears the new figures when done. */
int agent_link_calibrate(struct agent *a, const char *const *names, size_t n_names, char **ret_error);
