/* SPDX-License-Identifier: Apache-2.0 */
/* silo-master's /metrics: counters of what happened, the cluster's capacity, allocation and
 * free figures per agent and per disk, pending tasks by reason, and latency histograms.
 * Names are listed in docs/METRICS.md. */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "common/metrics-text.h"
#include "master/events.h"
#include "master/master.h"

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
        COUNTER("silo_master_requests_forbidden_total",
                "Requests refused with 403: the identity of their certificate may not do that.",
                requests_forbidden),
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
        COUNTER("silo_master_volume_deletes_sent_total",
                "Volume deletions sent to agents.",
                volume_deletes_sent),
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
        COUNTER("silo_master_events_total",
                "Events committed and handed to the event stream's consumers.",
                events_published),
        COUNTER("silo_master_event_consumers_dropped_total",
                "Event stream consumers disconnected as too slow (or behind the window).",
                event_consumers_dropped),
};
#undef COUNTER

/* Bounds of the latency histograms, in seconds. A pass over a batch takes micro- to
 * milliseconds; a status update or a launch round trip milliseconds to seconds (a retried
 * update, an agent busy starting many tasks). */
static const double pass_bounds[] = {1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5, 1};
static const double delay_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                      0.25,  0.5,    1,     2.5,  5,     10,   30};

void master_metrics_init(struct master_metrics *x)
{
        x->pass_seconds = (struct metrics_hist){.le = pass_bounds, .n = ELEMENTSOF(pass_bounds)};
        x->status_delay_seconds =
            (struct metrics_hist){.le = delay_bounds, .n = ELEMENTSOF(delay_bounds)};
        x->launch_seconds =
            (struct metrics_hist){.le = delay_bounds, .n = ELEMENTSOF(delay_bounds)};
}

/* Pending reasons are sentences naming agents and sizes; as a label they would make a series
 * per sentence, so /metrics counts them by what is short (the sentence's first word, as the
 * allocator writes it: allocator-reasons.c). */
static const char *const pending_classes[] = {
    "cpus", "mem", "pids", "io", "hostname", "attributes", "spread", "combined", "no_agents",
    "volume", "backoff", "unplaced", "other",
};

static const char *pending_class(const struct master_task *t, uint64_t now_ms)
{
        static const struct {
                const char *prefix, *class;
        } prefixes[] = {
            {"cpus:", "cpus"},
            {"mem:", "mem"},
            {"pids:", "pids"},
            {"resources.io[", "io"},
            {"hostname:", "hostname"},
            {"attributes:", "attributes"},
            {"spread:", "spread"},
            {"no agent has ", "combined"},
            {"no agent fits", "combined"},
            {"no agents registered", "no_agents"},
            /* persistent volumes (allocator-volumes.c): its agent, or no disk with room */
            {"volume ", "volume"},
            {"volumes ", "volume"},
            {"container.volumes", "volume"},
            {"no disk ", "volume"},
        };

        if (t->not_before_ms > now_ms)
                return "backoff"; /* a launch failed: waiting before the next placement */
        if (!t->pending_reason)
                return "unplaced"; /* no pass has tried it yet */
        for (size_t i = 0; i < ELEMENTSOF(prefixes); i++)
                if (strncmp(t->pending_reason, prefixes[i].prefix, strlen(prefixes[i].prefix)) == 0)
                        return prefixes[i].class;
        return "other";
}

static void pending_write(struct metrics_text *w, master *m)
{
        uint64_t counts[ELEMENTSOF(pending_classes)] = {0}, now = now_mono_ms();
        struct master_task *t;
        size_t i = 0;

        while (table_next(m->tasks, &i, NULL, (void **)&t)) {
                const char *class;

                if (t->state != SILO_TASK_PENDING)
                        continue;
                class = pending_class(t, now);
                for (size_t k = 0; k < ELEMENTSOF(pending_classes); k++)
                        if (streq(class, pending_classes[k]))
                                counts[k]++;
        }
        metrics_text_family(w, "silo_master_pending_tasks", METRICS_GAUGE,
                            "PENDING tasks by the kind of reason they do not fit (the first word "
                            "of their pending_reason; backoff: after a failed launch; unplaced: "
                            "not tried yet).");
        for (size_t k = 0; k < ELEMENTSOF(pending_classes); k++)
                metrics_text_sample_u64(w, METRICS_LABELS({"reason", pending_classes[k]}),
                                        counts[k]);
}

/* One agent's capacity and what is booked on it, for the per-agent and per-disk families. */
struct agent_view {
        const struct master_agent *a;
        struct alloc_agent_free free;
        /* per disk of a->reg->resources: io limits of the tasks placed on it, and io cost used */
        uint64_t (*booked)[_SILO_IO_LIMIT_MAX];
        double *cost_used;
};

static void agent_views_free(struct agent_view *v, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(v[i].booked);
                free(v[i].cost_used);
        }
        free(v);
}

/* The live agents the allocator knows (a lost agent's capacity is no longer offered). */
static int agent_views_collect(master *m, struct agent_view **ret, size_t *ret_n)
{
        size_t n = 0, i = 0, cap = table_size(m->agents);
        struct agent_view *v = calloc(MAX(cap, 1u), sizeof(*v));
        struct master_agent *a;

        if (!v)
                return -ENOMEM;
        while (table_next(m->agents, &i, NULL, (void **)&a)) {
                const struct silo_agent_resources *res = &a->reg->resources;
                struct agent_view *x = &v[n];
                struct master_task *t;
                size_t j = 0;

                if (a->state != MASTER_AGENT_ACTIVE ||
                    alloc_agent_get_free(m->alloc, a->id, &x->free) < 0)
                        continue;
                x->a = a;
                x->booked = calloc(MAX(res->n_disks, 1u), sizeof(*x->booked));
                x->cost_used = calloc(MAX(res->n_disks, 1u), sizeof(double));
                n++;
                if (!x->booked || !x->cost_used) {
                        agent_views_free(v, n);
                        return -ENOMEM;
                }
                for (size_t d = 0; d < res->n_disks; d++)
                        (void)alloc_disk_get_used(m->alloc, a->id, res->disks[d].name,
                                                  &x->cost_used[d]);
                while (a->tasks && table_next(a->tasks, &j, NULL, (void **)&t))
                        for (size_t k = 0; k < t->n_disks && k < t->spec->resources.n_io; k++)
                                for (size_t d = 0; d < res->n_disks; d++) {
                                        if (!streq_ptr(t->disks[k], res->disks[d].name))
                                                continue;
                                        FOREACH_IO_LIMIT(l)
                                        if (t->spec->resources.io[k].limit[l] != SILO_UNSET)
                                                x->booked[d][l] += t->spec->resources.io[k].limit[l];
                                }
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

static const char *const io_figure_names[_SILO_IO_LIMIT_MAX] = {
    [SILO_IO_RBPS] = "read_bytes_per_second",
    [SILO_IO_WBPS] = "write_bytes_per_second",
    [SILO_IO_RIOPS] = "read_iops",
    [SILO_IO_WIOPS] = "write_iops",
};

static void agents_write(struct metrics_text *w, const struct agent_view *v, size_t n)
{
        static const char *const figures[] = {"cpus", "cpus_allocated", "cpus_free", "memory_bytes",
                                              "memory_allocated_bytes", "memory_free_bytes",
                                              "placed_tasks"};
        static const char *const helps[] = {
            "CPUs the agent offers.", "CPUs booked by the tasks placed on the agent.",
            "CPUs free for placement.", "Memory the agent offers.",
            "Memory booked by the tasks placed on the agent.", "Memory free for placement.",
            "Live tasks placed on the agent (STAGING to RUNNING)."};
        char name[128];

        for (size_t f = 0; f < ELEMENTSOF(figures); f++) {
                snprintf(name, sizeof(name), "silo_master_agent_%s", figures[f]);
                metrics_text_family(w, name, METRICS_GAUGE, helps[f]);
                for (size_t i = 0; i < n; i++) {
                        const struct silo_agent_resources *res = &v[i].a->reg->resources;
                        const struct alloc_agent_free *fr = &v[i].free;
                        double value[] = {res->cpus,
                                          res->cpus - fr->cpus,
                                          fr->cpus,
                                          (double)res->mem,
                                          (double)res->mem - (double)fr->mem,
                                          (double)fr->mem,
                                          (double)fr->n_tasks};

                        metrics_text_sample(w,
                                            METRICS_LABELS({"agent", v[i].a->id},
                                                           {"hostname", v[i].a->reg->hostname}),
                                            value[f]);
                }
        }
}

/* Per disk and io limit: its calibrated figure, or what the tasks placed on it booked. */
static void disks_write_figure(struct metrics_text *w, const struct agent_view *v, size_t n,
                               bool allocated)
{
        char name[128], help[256];

        FOREACH_IO_LIMIT(l)
        {
                snprintf(name, sizeof(name), "silo_master_disk_%s_%s",
                         allocated ? "allocated" : "capacity", io_figure_names[l]);
                snprintf(help, sizeof(help), "%s (%s).",
                         allocated ? "Sum of the io limits of the tasks placed on the disk"
                                   : "The disk's calibrated figure the io cost is computed from",
                         silo_io_limit_to_string(l));
                metrics_text_family(w, name, METRICS_GAUGE, help);
                for (size_t i = 0; i < n; i++) {
                        const struct silo_agent_resources *res = &v[i].a->reg->resources;

                        for (size_t d = 0; d < res->n_disks; d++)
                                metrics_text_sample_u64(
                                    w,
                                    METRICS_LABELS({"agent", v[i].a->id},
                                                   {"hostname", v[i].a->reg->hostname},
                                                   {"disk", res->disks[d].name},
                                                   {"class", res->disks[d].class}),
                                    allocated ? v[i].booked[d][l] : res->disks[d].figure[l]);
                }
        }
}

static void disks_write_cost(struct metrics_text *w, const struct agent_view *v, size_t n,
                             bool free_part)
{
        metrics_text_family(w, free_part ? "silo_master_disk_io_cost_free"
                                         : "silo_master_disk_io_cost_allocated",
                            METRICS_GAUGE,
                            free_part ? "Io cost left on the disk (its capacity is 1; 0 when "
                                        "overcommitted)."
                                      : "Io cost booked on the disk (rbps/read_bps + "
                                        "wbps/write_bps + riops/read_iops + wiops/write_iops "
                                        "summed over its tasks; 1 is full).");
        for (size_t i = 0; i < n; i++) {
                const struct silo_agent_resources *res = &v[i].a->reg->resources;

                for (size_t d = 0; d < res->n_disks; d++)
                        metrics_text_sample(w,
                                            METRICS_LABELS({"agent", v[i].a->id},
                                                           {"hostname", v[i].a->reg->hostname},
                                                           {"disk", res->disks[d].name},
                                                           {"class", res->disks[d].class}),
                                            free_part ? MAX(1.0 - v[i].cost_used[d], 0.0)
                                                      : v[i].cost_used[d]);
        }
}

/* Volumes by state, and per disk the bytes their sizes book against the disk's size. */
static void volumes_write(struct metrics_text *w, master *m, const struct agent_view *v, size_t n)
{
        uint64_t states[_MASTER_VOLUME_STATE_MAX] = {0}, missing = 0;
        struct master_volume *x;
        size_t i = 0;

        while (m->volumes && table_next(m->volumes, &i, NULL, (void **)&x)) {
                states[x->state]++;
                missing += x->missing;
        }
        metrics_text_family(w, "silo_master_volumes", METRICS_GAUGE,
                            "Persistent volumes known to the master by state (missing: ready, "
                            "but no longer reported by its agent).");
        for (int s = 0; s < _MASTER_VOLUME_STATE_MAX; s++)
                metrics_text_sample_u64(
                    w, METRICS_LABELS({"state", master_volume_state_to_string(s)}), states[s]);
        metrics_text_sample_u64(w, METRICS_LABELS({"state", "missing"}), missing);
        for (int booked = 0; booked < 2; booked++) {
                metrics_text_family(w,
                                    booked ? "silo_master_disk_volume_allocated_bytes"
                                           : "silo_master_disk_volume_capacity_bytes",
                                    METRICS_GAUGE,
                                    booked ? "Sum of the sizes of the persistent volumes on the "
                                             "disk."
                                           : "The bytes persistent volumes may take on the disk "
                                             "(its size as the agent reports it).");
                for (size_t k = 0; k < n; k++) {
                        const struct silo_agent_resources *res = &v[k].a->reg->resources;

                        for (size_t d = 0; d < res->n_disks; d++)
                                metrics_text_sample_u64(
                                    w,
                                    METRICS_LABELS({"agent", v[k].a->id},
                                                   {"hostname", v[k].a->reg->hostname},
                                                   {"disk", res->disks[d].name},
                                                   {"class", res->disks[d].class}),
                                    booked ? alloc_disk_volume_bytes(m->alloc, v[k].a->id,
                                                                     res->disks[d].name)
                                           : res->disks[d].size);
                }
        }
}

static int cluster_write(struct metrics_text *w, master *m)
{
        struct agent_view *v = NULL;
        size_t n = 0;
        int r;

        r = agent_views_collect(m, &v, &n);
        if (r < 0)
                return r;
        agents_write(w, v, n);
        disks_write_figure(w, v, n, false);
        disks_write_figure(w, v, n, true);
        disks_write_cost(w, v, n, false);
        disks_write_cost(w, v, n, true);
        volumes_write(w, m, v, n);
        agent_views_free(v, n);
        pending_write(w, m);
        return 0;
}

static void histogram(struct metrics_text *w, const char *name, const char *help,
                      const struct metrics_hist *h)
{
        metrics_text_family(w, name, METRICS_HISTOGRAM, help);
        metrics_text_hist(w, NULL, h);
}

char *master_metrics_format(master *m)
{
        _cleanup_(metrics_text_freep) struct metrics_text *w = NULL;
        uint64_t tasks[_SILO_TASK_STATE_MAX] = {0}, agents[2] = {0};
        struct master_metrics *x = &m->metrics;
        struct master_task *t;
        struct master_agent *a;
        char *text = NULL;
        size_t i = 0;

        if (metrics_text_new(&w) < 0)
                return NULL;
        while (table_next(m->tasks, &i, NULL, (void **)&t))
                tasks[t->state]++;
        i = 0;
        while (table_next(m->agents, &i, NULL, (void **)&a))
                agents[a->state == MASTER_AGENT_ACTIVE ? 0 : 1]++;

        metrics_text_family(w, "silo_master_tasks", METRICS_GAUGE,
                            "Tasks known to the master by state.");
        for (int s = 0; s < _SILO_TASK_STATE_MAX; s++)
                metrics_text_sample_u64(w, METRICS_LABELS({"state", silo_task_state_to_string(s)}),
                                        tasks[s]);
        metrics_text_family(w, "silo_master_agents", METRICS_GAUGE,
                            "Agents known to the master by state.");
        metrics_text_sample_u64(w, METRICS_LABELS({"state", "active"}), agents[0]);
        metrics_text_sample_u64(w, METRICS_LABELS({"state", "lost"}), agents[1]);

        for (size_t k = 0; k < ELEMENTSOF(master_counters); k++) {
                const struct master_counter *c = &master_counters[k];

                metrics_text_family(w, c->name, METRICS_COUNTER, c->help);
                metrics_text_sample_u64(w, NULL,
                                        *(const uint64_t *)((const char *)x + c->offset));
        }
        metrics_text_gauge(w, "silo_master_allocation_last_pass_seconds",
              "Duration of the latest allocation pass.", x->last_pass_seconds);
        histogram(w, "silo_master_allocation_pass_duration_seconds",
                  "Duration of allocation passes (the allocator's work on one batch of pending "
                  "tasks).",
                  &x->pass_seconds);
        histogram(w, "silo_master_status_update_delay_seconds",
                  "From a task's transition on its agent (the update's timestamp) to the master "
                  "applying the update; duplicates excluded.",
                  &x->status_delay_seconds);
        histogram(w, "silo_master_launch_duration_seconds",
                  "From a launch being queued (before the commit of its placement) to the agent's "
                  "answer.",
                  &x->launch_seconds);
        metrics_text_gauge(w, "silo_master_http_connections", "Open HTTP client connections.",
              m->http ? http_server_connections(m->http) : 0);
        metrics_text_gauge(w, "silo_master_event_consumers", "Event stream consumers connected.",
                           (double)master_events_consumers(m));
        metrics_text_gauge(w, "silo_master_agent_calls_in_flight",
              "Launch and kill requests to agents in flight.",
              m->client ? (double)http_client_in_flight(m->client) : 0);
        metrics_text_gauge(w, "silo_master_start_time_seconds", "When this master process started (Unix time).",
              (double)m->started_ms / 1000.0);
        metrics_text_gauge(w, "silo_master_is_leader",
                           "1 when this master acts (leader, or standalone on SQLite), 0 for a "
                           "follower.",
                           master_role(m) == MASTER_ROLE_FOLLOWER ? 0 : 1);
        metrics_text_gauge(w, "silo_master_epoch",
                           "The leader's epoch (etcd: the leader key's create revision, as last "
                           "read by a follower; SQLite: starts counted).",
                           (double)master_epoch_shown(m));
        if (cluster_write(w, m) < 0)
                return NULL;
        metrics_text_process(w);
        if (metrics_text_finish(TAKE_PTR(w), &text) < 0)
                return NULL;
        return text;
}
