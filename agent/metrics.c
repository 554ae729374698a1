/* SPDX-License-Identifier: Apache-2.0 */
/* silo-agent's /metrics: the agent's counters, each live task's cgroup figures in cAdvisor's
 * container_* names under silo_, each disk's eBPF figures in node_exporter's node_disk_* names
 * under silo_disk_, and process_*. Names are listed in docs/METRICS.md. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "agent/agent.h"
#include "agent/volumes.h"
#include "agent/task-network.h"
#include "agent/measure.h"
#include "common/clock.h"
#include "common/macro.h"
#include "common/metrics-text.h"
#include "common/process.h"
#include "iostat.h"

/* ---- per task: one value per family, NAN where the task has none ---- */

enum {
        T_START_TIME,
        T_CPU_USAGE,
        T_CPU_USER,
        T_CPU_SYSTEM,
        T_CFS_PERIODS,
        T_CFS_THROTTLED_PERIODS,
        T_CFS_THROTTLED_SECONDS,
        T_MEM_USAGE,
        T_MEM_WORKING_SET,
        T_MEM_RSS,
        T_MEM_CACHE,
        T_MEM_SWAP,
        T_MEM_MAX_USAGE,
        T_OOM_EVENTS,
        T_THREADS,
        T_CPU_PRESSURE_WAITING,
        T_MEM_PRESSURE_WAITING,
        T_MEM_PRESSURE_STALLED,
        T_IO_PRESSURE_WAITING,
        T_IO_PRESSURE_STALLED,
        T_SPEC_CPU_QUOTA,
        T_SPEC_CPU_PERIOD,
        T_SPEC_CPU_WEIGHT,
        T_SPEC_MEM_LIMIT,
        T_SPEC_MEM_HIGH,
        T_SPEC_SWAP_LIMIT,
        T_THREADS_MAX,
        T_NET_TX_BYTES,
        T_NET_RX_BYTES,
        T_NET_TX_PACKETS,
        T_NET_RX_PACKETS,
        T_SPEC_NET_EGRESS,
        T_SHIM_RSS,
        _T_MAX,
};

static const struct family {
        const char *name;
        enum metrics_type type;
        const char *help;
} task_families[_T_MAX] = {
    [T_START_TIME] = {"silo_container_start_time_seconds", METRICS_GAUGE,
                      "When the task started (Unix time)."},
    [T_CPU_USAGE] = {"silo_container_cpu_usage_seconds_total", METRICS_COUNTER,
                     "CPU time the task consumed (cpu.stat usage_usec)."},
    [T_CPU_USER] = {"silo_container_cpu_user_seconds_total", METRICS_COUNTER,
                    "User CPU time the task consumed."},
    [T_CPU_SYSTEM] = {"silo_container_cpu_system_seconds_total", METRICS_COUNTER,
                      "System CPU time the task consumed."},
    [T_CFS_PERIODS] = {"silo_container_cpu_cfs_periods_total", METRICS_COUNTER,
                       "Elapsed enforcement periods of the task's CPU quota."},
    [T_CFS_THROTTLED_PERIODS] = {"silo_container_cpu_cfs_throttled_periods_total",
                                 METRICS_COUNTER, "Periods in which the task was throttled."},
    [T_CFS_THROTTLED_SECONDS] = {"silo_container_cpu_cfs_throttled_seconds_total",
                                 METRICS_COUNTER, "Time the task was throttled."},
    [T_MEM_USAGE] = {"silo_container_memory_usage_bytes", METRICS_GAUGE,
                     "Memory charged to the task, page cache included (memory.current)."},
    [T_MEM_WORKING_SET] = {"silo_container_memory_working_set_bytes", METRICS_GAUGE,
                           "memory.current less inactive page cache: what the kernel cannot "
                           "easily reclaim (what the OOM killer looks at)."},
    [T_MEM_RSS] = {"silo_container_memory_rss", METRICS_GAUGE,
                   "Anonymous memory of the task in bytes (memory.stat anon)."},
    [T_MEM_CACHE] = {"silo_container_memory_cache", METRICS_GAUGE,
                     "Page cache of the task in bytes (memory.stat file)."},
    [T_MEM_SWAP] = {"silo_container_memory_swap", METRICS_GAUGE,
                    "Swap used by the task in bytes."},
    [T_MEM_MAX_USAGE] = {"silo_container_memory_max_usage_bytes", METRICS_GAUGE,
                         "Highest memory usage of the task (memory.peak)."},
    [T_OOM_EVENTS] = {"silo_container_oom_events_total", METRICS_COUNTER,
                      "Processes of the task the OOM killer killed (memory.events oom_kill)."},
    [T_THREADS] = {"silo_container_threads", METRICS_GAUGE,
                   "Processes and threads in the task (pids.current)."},
    [T_CPU_PRESSURE_WAITING] = {"silo_container_pressure_cpu_waiting_seconds_total",
                                METRICS_COUNTER,
                                "Time some of the task's processes waited for CPU (PSI some)."},
    [T_MEM_PRESSURE_WAITING] = {"silo_container_pressure_memory_waiting_seconds_total",
                                METRICS_COUNTER,
                                "Time some of the task's processes waited for memory."},
    [T_MEM_PRESSURE_STALLED] = {"silo_container_pressure_memory_stalled_seconds_total",
                                METRICS_COUNTER,
                                "Time all of the task's processes waited for memory (PSI full)."},
    [T_IO_PRESSURE_WAITING] = {"silo_container_pressure_io_waiting_seconds_total",
                               METRICS_COUNTER, "Time some of the task's processes waited for I/O."},
    [T_IO_PRESSURE_STALLED] = {"silo_container_pressure_io_stalled_seconds_total",
                               METRICS_COUNTER, "Time all of the task's processes waited for I/O."},
    [T_SPEC_CPU_QUOTA] = {"silo_container_spec_cpu_quota", METRICS_GAUGE,
                          "CPU quota of the task in microseconds per period (absent: none)."},
    [T_SPEC_CPU_PERIOD] = {"silo_container_spec_cpu_period", METRICS_GAUGE,
                           "CPU quota period of the task in microseconds."},
    [T_SPEC_CPU_WEIGHT] = {"silo_container_spec_cpu_weight", METRICS_GAUGE,
                           "cpu.weight of the task (1-10000, default 100)."},
    [T_SPEC_MEM_LIMIT] = {"silo_container_spec_memory_limit_bytes", METRICS_GAUGE,
                          "memory.max of the task (0: no limit, as cAdvisor writes it)."},
    [T_SPEC_MEM_HIGH] = {"silo_container_spec_memory_reservation_limit_bytes", METRICS_GAUGE,
                         "memory.high of the task, where reclaim starts throttling it (0: none)."},
    [T_SPEC_SWAP_LIMIT] = {"silo_container_spec_memory_swap_limit_bytes", METRICS_GAUGE,
                           "memory.swap.max of the task (0: no limit)."},
    [T_THREADS_MAX] = {"silo_container_threads_max", METRICS_GAUGE,
                       "pids.max of the task (0: no limit, as cAdvisor writes it)."},
    [T_NET_TX_BYTES] = {"silo_container_network_transmit_bytes_total", METRICS_COUNTER,
                        "Bytes a bridge-mode task sent on its eth0."},
    [T_NET_RX_BYTES] = {"silo_container_network_receive_bytes_total", METRICS_COUNTER,
                        "Bytes a bridge-mode task received on its eth0."},
    [T_NET_TX_PACKETS] = {"silo_container_network_transmit_packets_total", METRICS_COUNTER,
                          "Packets a bridge-mode task sent on its eth0."},
    [T_NET_RX_PACKETS] = {"silo_container_network_receive_packets_total", METRICS_COUNTER,
                          "Packets a bridge-mode task received on its eth0."},
    [T_SPEC_NET_EGRESS] = {"silo_container_spec_network_egress_bits_per_second", METRICS_GAUGE,
                           "Egress limit in force on the task's eth0 (tbf rate; absent: none)."},
    [T_SHIM_RSS] = {"silo_task_shim_rss_bytes", METRICS_GAUGE,
                    "Resident memory of the task's silo-shim (VmRSS), which runs outside the task's "
                    "cgroup."},
};

/* cgroup "max" is written as 0 like cAdvisor does, so a PromQL `> 0` selects real limits. */
static double limit_value(uint64_t v)
{
        return v == CG_MAX ? 0 : (double)v;
}

static double psi_seconds(const struct cg_pressure *p, bool full)
{
        if (!p->valid)
                return NAN;
        return (double)(full ? p->full.total_usec : p->some.total_usec) / 1e6;
}

static void task_values(const struct task *t, const struct cg_task_status *s, double v[_T_MAX])
{
        uint64_t inactive = MIN(s->memory_stat.inactive_file, s->memory_current), egress = 0, rss;
        struct net_link_counters net;

        v[T_START_TIME] = t->started_ms ? (double)t->started_ms / 1000.0 : NAN;
        v[T_CPU_USAGE] = (double)s->cpu.usage_usec / 1e6;
        v[T_CPU_USER] = (double)s->cpu.user_usec / 1e6;
        v[T_CPU_SYSTEM] = (double)s->cpu.system_usec / 1e6;
        v[T_CFS_PERIODS] = (double)s->cpu.nr_periods;
        v[T_CFS_THROTTLED_PERIODS] = (double)s->cpu.nr_throttled;
        v[T_CFS_THROTTLED_SECONDS] = (double)s->cpu.throttled_usec / 1e6;
        v[T_MEM_USAGE] = (double)s->memory_current;
        v[T_MEM_WORKING_SET] = (double)(s->memory_current - inactive);
        v[T_MEM_RSS] = (double)s->memory_stat.anon;
        v[T_MEM_CACHE] = (double)s->memory_stat.file;
        v[T_MEM_SWAP] = (double)s->memory_swap_current;
        v[T_MEM_MAX_USAGE] = s->memory_peak == CG_MAX ? NAN : (double)s->memory_peak;
        v[T_OOM_EVENTS] = (double)s->memory_events.oom_kill;
        v[T_THREADS] = (double)s->pids_current;
        v[T_CPU_PRESSURE_WAITING] = psi_seconds(&s->cpu_pressure, false);
        v[T_MEM_PRESSURE_WAITING] = psi_seconds(&s->memory_pressure, false);
        v[T_MEM_PRESSURE_STALLED] = psi_seconds(&s->memory_pressure, true);
        v[T_IO_PRESSURE_WAITING] = psi_seconds(&s->io_pressure, false);
        v[T_IO_PRESSURE_STALLED] = psi_seconds(&s->io_pressure, true);
        v[T_SPEC_CPU_QUOTA] = s->cpu_quota_usec == CG_MAX ? NAN : (double)s->cpu_quota_usec;
        v[T_SPEC_CPU_PERIOD] = (double)s->cpu_period_usec;
        v[T_SPEC_CPU_WEIGHT] = (double)s->cpu_weight;
        v[T_SPEC_MEM_LIMIT] = limit_value(s->memory_max);
        v[T_SPEC_MEM_HIGH] = limit_value(s->memory_high);
        v[T_SPEC_SWAP_LIMIT] = limit_value(s->memory_swap_max);
        v[T_THREADS_MAX] = limit_value(s->pids_max);
        v[T_NET_TX_BYTES] = v[T_NET_RX_BYTES] = v[T_NET_TX_PACKETS] = v[T_NET_RX_PACKETS] = NAN;
        v[T_SPEC_NET_EGRESS] = NAN;
        v[T_SHIM_RSS] = t->shim_src && process_rss_bytes(t->shim_pid, t->shim_start_time, &rss) >= 0 ? (double)rss
                                                                                                  : NAN;
        if (task_network_figures(t->agent, t, &net, &egress) >= 0) {
                v[T_NET_TX_BYTES] = (double)net.tx_bytes;
                v[T_NET_RX_BYTES] = (double)net.rx_bytes;
                v[T_NET_TX_PACKETS] = (double)net.tx_packets;
                v[T_NET_RX_PACKETS] = (double)net.rx_packets;
                v[T_SPEC_NET_EGRESS] = egress ? (double)egress : NAN;
        }
}

/* ---- per task and device: io.stat counters, io.max limits ---- */

enum {
        D_READ_BYTES,
        D_WRITE_BYTES,
        D_READS,
        D_WRITES,
        _D_STAT_MAX,
};

static const struct family device_families[_D_STAT_MAX] = {
    [D_READ_BYTES] = {"silo_container_fs_reads_bytes_total", METRICS_COUNTER,
                      "Bytes the task read from the device (io.stat rbytes)."},
    [D_WRITE_BYTES] = {"silo_container_fs_writes_bytes_total", METRICS_COUNTER,
                       "Bytes the task wrote to the device (io.stat wbytes)."},
    [D_READS] = {"silo_container_fs_reads_total", METRICS_COUNTER,
                 "Reads the task completed on the device (io.stat rios)."},
    [D_WRITES] = {"silo_container_fs_writes_total", METRICS_COUNTER,
                  "Writes the task completed on the device (io.stat wios)."},
};

static const struct family limit_families[_SILO_IO_LIMIT_MAX] = {
    [SILO_IO_RBPS] = {"silo_container_spec_io_read_bytes_per_second", METRICS_GAUGE,
                      "The task's read bandwidth limit on the device (io.max rbps)."},
    [SILO_IO_WBPS] = {"silo_container_spec_io_write_bytes_per_second", METRICS_GAUGE,
                      "The task's write bandwidth limit on the device (io.max wbps)."},
    [SILO_IO_RIOPS] = {"silo_container_spec_io_read_iops", METRICS_GAUGE,
                       "The task's read IOPS limit on the device (io.max riops)."},
    [SILO_IO_WIOPS] = {"silo_container_spec_io_write_iops", METRICS_GAUGE,
                       "The task's write IOPS limit on the device (io.max wiops)."},
};

struct task_sample {
        const struct task *t;
        struct cg_task_status s;
        double v[_T_MAX]; /* task_values() */
};

/* A device's label: its name, or MAJ:MIN when sysfs does not know it. */
static const char *device_label(const char *name, unsigned major, unsigned minor, char buf[32])
{
        if (name && *name)
                return name;
        snprintf(buf, 32, "%u:%u", major, minor);
        return buf;
}

/* Through task_name()/task_role(), which hold with or without the spec (task_compact()), and
 * give the role as the API does ("default", never empty). */
#define TASK_LABELS(t, ...)                                                                       \
        METRICS_LABELS({"id", (t)->id}, {"name", task_name(t)}, {"role", task_role(t)}, ##__VA_ARGS__)

static void tasks_write(struct metrics_text *w, const struct task_sample *ts, size_t n)
{
        char dev[32];

        for (size_t f = 0; f < _T_MAX; f++) {
                metrics_text_family(w, task_families[f].name, task_families[f].type,
                                    task_families[f].help);
                for (size_t i = 0; i < n; i++)
                        if (!isnan(ts[i].v[f]))
                                metrics_text_sample(w, TASK_LABELS(ts[i].t), ts[i].v[f]);
        }
        for (size_t f = 0; f < _D_STAT_MAX; f++) {
                metrics_text_family(w, device_families[f].name, device_families[f].type,
                                    device_families[f].help);
                for (size_t i = 0; i < n; i++)
                        for (size_t d = 0; d < ts[i].s.n_io_stat; d++) {
                                const struct cg_io_stat *st = &ts[i].s.io_stat[d];
                                uint64_t v[_D_STAT_MAX] = {st->rbytes, st->wbytes, st->rios,
                                                           st->wios};

                                metrics_text_sample_u64(
                                    w,
                                    TASK_LABELS(ts[i].t, {"device", device_label(st->name,
                                                                                 st->major,
                                                                                 st->minor, dev)}),
                                    v[f]);
                        }
        }
        FOREACH_IO_LIMIT(l)
        {
                metrics_text_family(w, limit_families[l].name, limit_families[l].type,
                                    limit_families[l].help);
                for (size_t i = 0; i < n; i++)
                        for (size_t d = 0; d < ts[i].s.n_io; d++) {
                                const struct cg_io_limit *lim = &ts[i].s.io[d];

                                if (lim->limit[l] == CG_MAX)
                                        continue;
                                metrics_text_sample_u64(
                                    w,
                                    TASK_LABELS(ts[i].t, {"device", device_label(lim->name,
                                                                                 lim->major,
                                                                                 lim->minor, dev)}),
                                    lim->limit[l]);
                        }
        }
}

/* Every live task's cgroup read once per scrape; ended tasks have no cgroup and leave the
 * output, so the series stay bounded by the tasks running. A group that cannot be read
 * (removed meanwhile) is skipped. */
static int tasks_sample(struct agent *a, struct task_sample **ret, size_t *ret_n)
{
        struct task_sample *ts = calloc(MAX(a->n_tasks, 1u), sizeof(*ts));
        size_t n = 0;

        if (!ts)
                return -ENOMEM;
        for (size_t i = 0; i < a->n_tasks; i++) {
                struct task *t = a->tasks[i];

                if (!t->cg || !t->spec || silo_task_state_is_terminal(t->state))
                        continue;
                if (cg_task_read(t->cg, &ts[n].s) < 0) {
                        cg_task_status_done(&ts[n].s);
                        ts[n].s = (struct cg_task_status){};
                        continue;
                }
                ts[n].t = t;
                task_values(t, &ts[n].s, ts[n].v);
                n++;
        }
        *ret = ts;
        *ret_n = n;
        return 0;
}

static void tasks_sample_free(struct task_sample *ts, size_t n)
{
        for (size_t i = 0; i < n; i++)
                cg_task_status_done(&ts[i].s);
        free(ts);
}

/* ---- per disk, from the eBPF programs ---- */

/* Latency buckets of the programs (bpf/iostat-abi.h): slot i ends at 2^(i+1) µs, the last
 * slot is open-ended (the +Inf bucket). */
static void disk_latency_bounds(double le[IOSTAT_HIST_SLOTS - 1])
{
        for (size_t i = 0; i < IOSTAT_HIST_SLOTS - 1; i++)
                le[i] = ldexp(1e-6, (int)i + 1);
}

struct disk_sample {
        dev_t dev;
        char name[64];
        struct iostat_stat op[IOSTAT_OP_MAX];
        struct iostat_stat all;
};

static int disks_sample(const struct agent *a, const struct iostat_snapshot *snap,
                        struct disk_sample **ret, size_t *ret_n)
{
        struct disk_sample *ds = calloc(MAX(snap->n_entries, 1u), sizeof(*ds));
        size_t n = 0;

        if (!ds)
                return -ENOMEM;
        for (size_t i = 0; i < snap->n_entries; i++) {
                dev_t dev = snap->entries[i].dev;
                struct blockdev bd;
                size_t k = 0;

                while (k < n && ds[k].dev != dev)
                        k++;
                if (k < n)
                        continue;
                ds[n].dev = dev;
                if (blockdev_resolve_devnum(a->sysfs_root, dev, &bd, NULL) == 0)
                        snprintf(ds[n].name, sizeof(ds[n].name), "%s", bd.name);
                else
                        snprintf(ds[n].name, sizeof(ds[n].name), "%u:%u", major(dev), minor(dev));
                for (int op = 0; op < IOSTAT_OP_MAX; op++)
                        iostat_snapshot_sum(snap, dev, IOSTAT_CGROUP_ANY, 1u << op, &ds[n].op[op]);
                iostat_snapshot_sum(snap, dev, IOSTAT_CGROUP_ANY, 0, &ds[n].all);
                n++;
        }
        *ret = ds;
        *ret_n = n;
        return 0;
}

static void disks_write(struct metrics_text *w, const struct disk_sample *ds, size_t n)
{
        static const struct {
                struct family f;
                int op;       /* -1: all ops */
                bool bytes;   /* else completed requests */
        } counters[] = {
            {{"silo_disk_read_bytes_total", METRICS_COUNTER,
              "Bytes read from the disk, as the block layer completed them (eBPF)."},
             IOSTAT_OP_READ, true},
            {{"silo_disk_written_bytes_total", METRICS_COUNTER, "Bytes written to the disk (eBPF)."},
             IOSTAT_OP_WRITE, true},
            {{"silo_disk_discarded_bytes_total", METRICS_COUNTER, "Bytes discarded (eBPF)."},
             IOSTAT_OP_DISCARD, true},
            {{"silo_disk_reads_completed_total", METRICS_COUNTER, "Reads completed (eBPF)."},
             IOSTAT_OP_READ, false},
            {{"silo_disk_writes_completed_total", METRICS_COUNTER, "Writes completed (eBPF)."},
             IOSTAT_OP_WRITE, false},
            {{"silo_disk_discards_completed_total", METRICS_COUNTER, "Discards completed (eBPF)."},
             IOSTAT_OP_DISCARD, false},
            {{"silo_disk_flush_requests_completed_total", METRICS_COUNTER,
              "Flush requests completed (eBPF)."},
             IOSTAT_OP_FLUSH, false},
        };
        double le[IOSTAT_HIST_SLOTS - 1];

        for (size_t c = 0; c < ELEMENTSOF(counters); c++) {
                metrics_text_family(w, counters[c].f.name, counters[c].f.type, counters[c].f.help);
                for (size_t i = 0; i < n; i++) {
                        const struct iostat_stat *st = &ds[i].op[counters[c].op];

                        metrics_text_sample_u64(w, METRICS_LABELS({"device", ds[i].name}),
                                                counters[c].bytes ? st->bytes : st->ios);
                }
        }
        metrics_text_family(w, "silo_disk_io_now", METRICS_GAUGE,
                            "Requests issued to the disk's driver and not completed (the "
                            "kernel's count).");
        for (size_t i = 0; i < n; i++) {
                uint64_t infl;

                if (iostat_device_in_flight(ds[i].dev, &infl) >= 0)
                        metrics_text_sample_u64(w, METRICS_LABELS({"device", ds[i].name}), infl);
        }

        disk_latency_bounds(le);
        metrics_text_family(w, "silo_disk_io_latency_seconds", METRICS_HISTOGRAM,
                            "Issue to completion time of the disk's requests, by operation "
                            "(eBPF; completions without a known issue time are not counted).");
        for (size_t i = 0; i < n; i++)
                for (int op = 0; op < IOSTAT_OP_MAX; op++) {
                        const struct iostat_stat *st = &ds[i].op[op];

                        metrics_text_histogram(w,
                                               METRICS_LABELS({"device", ds[i].name},
                                                              {"operation", iostat_op_to_string(op)}),
                                               le, st->hist, IOSTAT_HIST_SLOTS - 1,
                                               st->hist[IOSTAT_HIST_SLOTS - 1],
                                               (double)st->lat_sum_ns / 1e9);
                }
}

static int disks_write_measured(struct metrics_text *w, struct agent *a)
{
        const struct iostat_snapshot *snap = agent_measure_snapshot(a);
        struct disk_sample *ds = NULL;
        size_t n = 0;
        int r;

        metrics_text_family(w, "silo_agent_ebpf_measuring", METRICS_GAUGE,
                            "1 when the eBPF I/O programs are attached and the silo_disk_* "
                            "families are filled; 0 when measuring is unavailable (the agent's "
                            "log says why).");
        metrics_text_sample(w, NULL, snap ? 1 : 0);
        if (!snap)
                return 0;
        r = disks_sample(a, snap, &ds, &n);
        if (r < 0)
                return r;
        disks_write(w, ds, n);
        free(ds);
        return 0;
}

/* ---- the agent's own counters ---- */

static void counter(struct metrics_text *w, const char *name, const char *help, uint64_t v)
{
        metrics_text_family(w, name, METRICS_COUNTER, help);
        metrics_text_sample_u64(w, NULL, v);
}

static void agent_write(struct metrics_text *w, struct agent *a)
{
        metrics_text_family(w, "silo_agent_tasks", METRICS_GAUGE,
                            "Tasks known to the agent, by state.");
        for (int s = SILO_TASK_STARTING; s < _SILO_TASK_STATE_MAX; s++)
                metrics_text_sample_u64(w, METRICS_LABELS({"state", silo_task_state_to_string(s)}),
                                        agent_count_tasks(a, s));
        metrics_text_family(w, "silo_agent_task_ends_total", METRICS_COUNTER,
                            "Tasks that reached a terminal state, by reason.");
        for (int r = 0; r < _SILO_TASK_REASON_MAX; r++)
                metrics_text_sample_u64(w, METRICS_LABELS({"reason", silo_task_reason_to_string(r)}),
                                        a->ended_total[r]);
        counter(w, "silo_agent_launches_total", "Launches accepted.", a->launches_total);
        counter(w, "silo_agent_launches_rejected_total", "Launches refused as invalid (4xx).",
                a->launch_rejected_total);
        counter(w, "silo_agent_launch_failures_total", "Launches that failed after validation.",
                a->launch_failed_total);
        counter(w, "silo_agent_kills_total", "Kill requests.", a->kills_total);
        counter(w, "silo_agent_requests_forbidden_total",
                "Requests refused with 403: the identity of their certificate may not do that.",
                a->requests_forbidden_total);
        counter(w, "silo_agent_oom_kills_total", "OOM kills seen in task cgroups (memory.events).",
                a->oom_kills_total);
        metrics_text_gauge(w, "silo_agent_http_connections", "Open HTTP connections.",
              a->http ? http_server_connections(a->http) : 0);
        metrics_text_gauge(w, "silo_agent_event_sources", "Sources watched by the event loop.",
              event_loop_n_sources(a->loop));
        metrics_text_gauge(w, "silo_agent_uptime_seconds", "Seconds since the agent started.",
              (double)((now_usec() - a->started_usec) / 1000000));
}

int agent_metrics_format(struct agent *a, char **ret_text)
{
        _cleanup_(metrics_text_freep) struct metrics_text *w = NULL;
        struct task_sample *ts = NULL;
        size_t n = 0;
        int r;

        r = metrics_text_new(&w);
        if (r < 0)
                return r;
        agent_write(w, a);
        agent_volumes_metrics(a, w);
        r = tasks_sample(a, &ts, &n);
        if (r < 0)
                return r;
        tasks_write(w, ts, n);
        tasks_sample_free(ts, n);
        r = disks_write_measured(w, a);
        if (r < 0)
                return r;
        metrics_text_process(w);
        return metrics_text_finish(TAKE_PTR(w), ret_text);
}
