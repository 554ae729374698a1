/* SPDX-License-Identifier: Apache-2.0 */
/* silo-master's /metrics in the Prometheus text exposition format (version 0.0.4). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/macro.h"
#include "master/master.h"

static void metric_header(FILE *f, const char *name, const char *type, const char *help)
{
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter(FILE *f, const char *name, const char *help, uint64_t v)
{
        metric_header(f, name, "counter", help);
        fprintf(f, "%s %" PRIu64 "\n", name, v);
}

static void gauge(FILE *f, const char *name, const char *help, double v)
{
        metric_header(f, name, "gauge", help);
        fprintf(f, "%s %.9g\n", name, v);
}

char *master_metrics_format(master *m)
{
        _cleanup_free_ char *buf = NULL;
        uint64_t tasks[_SILO_TASK_STATE_MAX] = {0}, agents[2] = {0};
        struct master_metrics *x = &m->metrics;
        struct master_task *t;
        struct master_agent *a;
        size_t size = 0, i = 0;
        FILE *f;

        while (table_next(m->tasks, &i, NULL, (void **)&t))
                tasks[t->state]++;
        i = 0;
        while (table_next(m->agents, &i, NULL, (void **)&a))
                agents[a->state == MASTER_AGENT_ACTIVE ? 0 : 1]++;

        f = open_memstream(&buf, &size);
        if (!f)
                return NULL;
        metric_header(f, "silo_master_tasks", "gauge", "Tasks known to the master by state.");
        for (int s = 0; s < _SILO_TASK_STATE_MAX; s++)
                fprintf(f, "silo_master_tasks{state=\"%s\"} %" PRIu64 "\n",
                        silo_task_state_to_string(s), tasks[s]);
        metric_header(f, "silo_master_agents", "gauge", "Agents known to the master by state.");
        fprintf(f, "silo_master_agents{state=\"active\"} %" PRIu64 "\n", agents[0]);
        fprintf(f, "silo_master_agents{state=\"lost\"} %" PRIu64 "\n", agents[1]);

        counter(f, "silo_master_agent_registrations_total",
                "First registrations and returns of lost agents.", x->registrations);
        counter(f, "silo_master_agent_reregistrations_total",
                "Registrations of agents that were still active.", x->reregistrations);
        counter(f, "silo_master_heartbeats_total", "Heartbeats received.", x->heartbeats);
        counter(f, "silo_master_agents_lost_total",
                "Agents marked lost after their heartbeat timeout.", x->agents_lost);
        counter(f, "silo_master_status_updates_total",
                "Status updates received, duplicates excluded.", x->status_updates);
        counter(f, "silo_master_status_duplicates_total",
                "Status updates received again and acknowledged only.", x->status_duplicates);
        counter(
            f, "silo_master_status_ignored_total",
            "Status updates recorded without changing a task (stale, out of order, unknown task).",
            x->status_ignored);
        counter(f, "silo_master_status_refused_total",
                "Status updates refused: not from the agent the task is placed on.",
                x->status_refused);
        counter(f, "silo_master_tasks_submitted_total", "Tasks submitted.", x->tasks_submitted);
        counter(f, "silo_master_tasks_forgotten_total",
                "Ended tasks forgotten by retention (gc-max-age-s, gc-max-tasks).",
                x->tasks_forgotten);
        counter(f, "silo_master_updates_forgotten_total",
                "Status updates for unknown tasks forgotten by retention (gc-max-age-s).",
                x->updates_forgotten);
        counter(f, "silo_master_launches_sent_total", "Launch requests sent to agents.",
                x->launches_sent);
        counter(f, "silo_master_launches_accepted_total", "Launch requests agents accepted.",
                x->launches_accepted);
        counter(f, "silo_master_launches_failed_total",
                "Launch requests that failed or were refused.", x->launches_failed);
        counter(f, "silo_master_kills_sent_total", "Kill requests sent to agents.", x->kills_sent);
        counter(
            f, "silo_master_reconcile_kills_total",
            "Kills of tasks an agent ran that the master gave up, placed elsewhere or never knew.",
            x->reconcile_kills);
        counter(f, "silo_master_allocation_passes_total", "Allocation passes run.",
                x->allocation_passes);
        counter(f, "silo_master_allocation_placed_total", "Tasks placed by allocation passes.",
                x->allocation_placed);
        gauge(f, "silo_master_allocation_last_pass_seconds",
              "Duration of the latest allocation pass.", x->last_pass_seconds);
        gauge(f, "silo_master_http_connections", "Open HTTP client connections.",
              m->http ? http_server_connections(m->http) : 0);
        gauge(f, "silo_master_agent_calls_in_flight",
              "Launch and kill requests to agents in flight.",
              m->client ? (double)http_client_in_flight(m->client) : 0);
        gauge(f, "silo_master_start_time_seconds", "When this master process started (Unix time).",
              (double)m->started_ms / 1000.0);
        if (fclose(f) != 0)
                return NULL;
        return TAKE_PTR(buf);
}
