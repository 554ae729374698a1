/* SPDX-License-Identifier: Apache-2.0 */
/* silo-master's /metrics in the Prometheus text exposition format (version 0.0.4). */
#include <inttypes.h>
#include <stddef.h>
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

/* The master's counters, in the order /metrics lists them. */
#define COUNTER(name, help, field) {name, help, offsetof(struct master_metrics, field)}
static const struct master_counter {
        const char *name, *help;
        size_t offset; /* of a uint64_t in struct master_metrics */
} master_counters[] = {
        COUNTER("silo_master_agent_registrations_total",
                "First registrations and returns of lost agents.",
                registrations),
        COUNTER("silo_master_agent_reregistrations_total",
                "Registrations of agents that were still active.",
                reregistrations),
        COUNTER("silo_master_heartbeats_total",
                "Heartbeats received.",
                heartbeats),
        COUNTER("silo_master_agents_lost_total",
                "Agents marked lost after their heartbeat timeout.",
                agents_lost),
        COUNTER("silo_master_status_updates_total",
                "Status updates received, duplicates excluded.",
                status_updates),
        COUNTER("silo_master_status_duplicates_total",
                "Status updates received again and acknowledged only.",
                status_duplicates),
        COUNTER("silo_master_status_ignored_total",
                "Status updates recorded without changing a task (stale, out of order, unknown "
                "task).",
                status_ignored),
        COUNTER("silo_master_status_refused_total",
                "Status updates refused: not from the agent the task is placed on.",
                status_refused),
        COUNTER("silo_master_tasks_submitted_total",
                "Tasks submitted.",
                tasks_submitted),
        COUNTER("silo_master_tasks_forgotten_total",
                "Ended tasks forgotten by retention (gc-max-age-s, gc-max-tasks).",
                tasks_forgotten),
        COUNTER("silo_master_updates_forgotten_total",
                "Status updates for unknown tasks forgotten by retention (gc-max-age-s).",
                updates_forgotten),
        COUNTER("silo_master_launches_sent_total",
                "Launch requests sent to agents.",
                launches_sent),
        COUNTER("silo_master_launches_accepted_total",
                "Launch requests agents accepted.",
                launches_accepted),
        COUNTER("silo_master_launches_failed_total",
                "Launch requests that failed or were refused.",
                launches_failed),
        COUNTER("silo_master_kills_sent_total",
                "Kill requests sent to agents.",
                kills_sent),
        COUNTER("silo_master_reconcile_kills_total",
                "Kills of tasks an agent ran that the master gave up, placed elsewhere or never "
                "knew.",
                reconcile_kills),
        COUNTER("silo_master_allocation_passes_total",
                "Allocation passes run.",
                allocation_passes),
        COUNTER("silo_master_allocation_placed_total",
                "Tasks placed by allocation passes.",
                allocation_placed),
};
#undef COUNTER

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

        for (size_t k = 0; k < ELEMENTSOF(master_counters); k++) {
                const struct master_counter *c = &master_counters[k];

                counter(f, c->name, c->help, *(const uint64_t *)((const char *)x + c->offset));
        }
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
