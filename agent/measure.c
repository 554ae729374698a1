/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's eBPF I/O measurements: a 1 s snapshot timer over bpf/iostat and per-task figures. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "agent/agent.h"
#include "agent/measure.h"
#include "common/error.h"
#include "common/log.h"
#include "common/macro.h"
#include "iostat.h"

#define MEASURE_INTERVAL_USEC (1000ULL * 1000ULL)
/* Removed cgroups' keys are folded away this often: often enough to keep the map small
 * under task churn, rarely enough that the open_by_handle_at() walk costs nothing. */
#define MEASURE_PRUNE_EVERY 60

struct agent_measure {
        struct iostat *io;
        char *error;       /* why there are no measurements, NULL when there are */
        char *cgroup_root; /* for iostat_prune(); NULL: no pruning */
        struct event_source *timer;
        struct iostat_snapshot *prev, *cur;
        uint64_t ticks;
        bool hook_warned;  /* the issue program's failure was logged (once until it attaches) */
};

static int on_tick(struct event_source *s, uint64_t expirations, void *userdata)
{
        struct agent_measure *m = userdata;
        struct iostat_snapshot *snap = NULL;
        int r;

        (void)s;
        (void)expirations;
        r = iostat_snapshot_take(m->io, &snap);
        if (r < 0) {
                /* Transient (ENOMEM): keep the last pair, try again next second. */
                log_debug("iostat snapshot failed: %s", strerror(-r));
                return 0;
        }
        if (snap->issue_hook_error[0] && !m->hook_warned)
                log_warning("iostat: cannot attach the issue program, so I/O on queues that do not "
                            "record issue times is counted untimed (retrying with a backoff): %s",
                            snap->issue_hook_error);
        m->hook_warned = snap->issue_hook_error[0] != '\0';
        iostat_snapshot_free(m->prev);
        m->prev = m->cur;
        m->cur = snap;
        if (m->cgroup_root && ++m->ticks % MEASURE_PRUNE_EVERY == 0) {
                r = iostat_prune(m->io, m->cgroup_root);
                if (r < 0)
                        log_debug("iostat prune of %s failed: %s", m->cgroup_root, strerror(-r));
        }
        return 0;
}

int agent_measure_start(struct agent *a)
{
        struct iostat_options opts = {
            .bpffs = NULL, .mount_bpffs = true, .replace_incompatible = true};
        struct agent_measure *m;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        a->measure = m;

        r = iostat_attach(&opts, &m->io, &m->error);
        if (r < 0) {
                (void)error_wrap(&m->error, r, "eBPF I/O measurement unavailable");
                if (!m->error)
                        return -ENOMEM;
                log_warning("%s; running without measured I/O figures", m->error);
                return 0;
        }
        r = iostat_cgroup_root_find(&m->cgroup_root);
        if (r < 0)
                log_debug("No cgroup hierarchy for iostat pruning: %s", strerror(-r));
        r = iostat_snapshot_take(m->io, &m->cur);
        if (r < 0)
                log_debug("First iostat snapshot failed: %s", strerror(-r));
        r = event_loop_add_timer(a->loop, MEASURE_INTERVAL_USEC, MEASURE_INTERVAL_USEC, on_tick, m,
                                 NULL, &m->timer);
        if (r < 0)
                return r;
        log_info("Measuring block I/O with eBPF (%s programs pinned in %s/%s)",
                 iostat_reused(m->io) ? "reusing the" : "attached the", IOSTAT_BPFFS_DEFAULT,
                 IOSTAT_PIN_SUBDIR);
        return 0;
}

void agent_measure_stop(struct agent *a)
{
        struct agent_measure *m = a->measure;

        if (!m)
                return;
        event_source_remove(m->timer);
        iostat_snapshot_free(m->prev);
        iostat_snapshot_free(m->cur);
        iostat_free(m->io);
        free(m->cgroup_root);
        free(m->error);
        free(m);
        a->measure = NULL;
}

static json_t *percentile_or_null(const struct iostat_rate *r, double v)
{
        /* lat_mean_us is 0 when no completion in the interval carried an issue time. */
        return r->ios > 0 && r->lat_mean_us > 0 ? json_real(v) : json_null();
}

/* Where the device's issue times come from (bpf/README.md): "kernel" (its queue records
 * rq->io_start_time_ns: completion-only accounting), "hash" (the issue program's hash), "mixed",
 * or "none" before its first completion. From all of the device's I/O, not only the task's. */
static const char *device_timing(const struct agent_measure *m, dev_t dev)
{
        struct iostat_stat all = {};

        iostat_snapshot_sum(m->cur, dev, IOSTAT_CGROUP_ANY, 0, &all);
        return iostat_stat_timing(&all);
}

static json_t *device_measured(const struct agent_measure *m, dev_t dev, uint64_t cgroup_id)
{
        const unsigned rd = 1u << IOSTAT_OP_READ, wr = 1u << IOSTAT_OP_WRITE;
        struct iostat_stat pr = {}, pw = {}, pa = {}, cr = {}, cw = {}, ca = {};
        struct iostat_rate rr, rw, ra;
        uint64_t ns;
        json_t *j;

        if (!m->prev || !m->cur || m->cur->time_ns <= m->prev->time_ns)
                return json_null();
        ns = m->cur->time_ns - m->prev->time_ns;
        iostat_snapshot_sum(m->prev, dev, cgroup_id, rd, &pr);
        iostat_snapshot_sum(m->prev, dev, cgroup_id, wr, &pw);
        iostat_snapshot_sum(m->prev, dev, cgroup_id, rd | wr, &pa);
        iostat_snapshot_sum(m->cur, dev, cgroup_id, rd, &cr);
        iostat_snapshot_sum(m->cur, dev, cgroup_id, wr, &cw);
        iostat_snapshot_sum(m->cur, dev, cgroup_id, rd | wr, &ca);
        if (iostat_rate_compute(&pr, &cr, ns, &rr) < 0 ||
            iostat_rate_compute(&pw, &cw, ns, &rw) < 0 ||
            iostat_rate_compute(&pa, &ca, ns, &ra) < 0)
                return json_null();
        /* total: the counters at the snapshot, with its CLOCK_MONOTONIC time, so a client can
         * compute a rate between two answers exactly (the counters move once per tick). */
        j = json_pack("{s:f, s:f, s:f, s:f, s:f, s:o, s:o, s:s, s:{s:I, s:I, s:I, s:I, s:I}}",
                         "interval_s", ra.seconds, "read_bps", rr.bytes_per_s, "write_bps",
                         rw.bytes_per_s, "read_iops", rr.ios_per_s, "write_iops", rw.ios_per_s,
                         "p50_us", percentile_or_null(&ra, ra.p50_us), "p99_us",
                         percentile_or_null(&ra, ra.p99_us), "timing", device_timing(m, dev),
                         "total", "read_bytes",
                         (json_int_t)cr.bytes, "write_bytes", (json_int_t)cw.bytes, "read_ios",
                         (json_int_t)cr.ios, "write_ios", (json_int_t)cw.ios, "time_ms",
                         (json_int_t)(m->cur->time_ns / 1000000));
        /* Why I/O that needs the issue program is untimed (timing "none" or "mixed"). */
        if (j && m->cur->issue_hook_error[0])
                json_object_set_new(j, "timing_error", json_string(m->cur->issue_hook_error));
        return j;
}

const struct iostat_snapshot *agent_measure_snapshot(const struct agent *a)
{
        return a->measure && a->measure->io ? a->measure->cur : NULL;
}

json_t *agent_measure_annotate(struct agent *a, const char *cgroup_path, json_t *io)
{
        const struct agent_measure *m = a->measure;
        uint64_t cgroup_id = 0;
        size_t i;
        json_t *e;
        int r;

        if (!m || !m->io) {
                json_array_foreach(io, i, e)
                {
                        json_object_set_new(e, "measured", json_null());
                }
                return json_pack("{s:s}", "error",
                                 m && m->error ? m->error : "measurement not started");
        }
        r = cgroup_path ? iostat_cgroup_id(cgroup_path, &cgroup_id) : -EINVAL;
        json_array_foreach(io, i, e)
        {
                const char *devstr = json_string_value(json_object_get(e, "device"));
                unsigned maj, min;

                if (r < 0 || !devstr || sscanf(devstr, "%u:%u", &maj, &min) != 2) {
                        json_object_set_new(e, "measured", json_null());
                        continue;
                }
                json_object_set_new(e, "measured",
                                    device_measured(m, makedev(maj, min), cgroup_id));
        }
        if (r < 0)
                return json_pack("{s:s+}", "error",
                                 "cannot resolve the task's cgroup id: ", strerror(-r));
        return json_pack("{s:s, s:f, s:i}", "source", "ebpf", "interval_s",
                         (double)MEASURE_INTERVAL_USEC / 1e6, "prune_every_s", MEASURE_PRUNE_EVERY);
}
