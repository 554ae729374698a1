/* SPDX-License-Identifier: Apache-2.0 */
/* iostat arithmetic without a kernel: key encoding, sums, deltas over resets, rates, quantiles. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "iostat.h"

static const char *const op_names[IOSTAT_OP_MAX] = {
        [IOSTAT_OP_READ] = "read",
        [IOSTAT_OP_WRITE] = "write",
        [IOSTAT_OP_DISCARD] = "discard",
        [IOSTAT_OP_FLUSH] = "flush",
};

const char *iostat_op_to_string(enum iostat_op op)
{
        if ((unsigned)op >= IOSTAT_OP_MAX)
                return NULL;
        return op_names[op];
}

int iostat_op_from_string(const char *s)
{
        for (unsigned i = 0; i < IOSTAT_OP_MAX; i++)
                if (s && strcmp(s, op_names[i]) == 0)
                        return (int)i;
        return -EINVAL;
}

int iostat_kernel_release_check(const char *release)
{
        unsigned maj, min;
        int n = 0;

        if (!release || sscanf(release, "%u.%u%n", &maj, &min, &n) != 2 || n == 0)
                return -EINVAL;
        if (maj != IOSTAT_MIN_KERNEL_MAJOR)
                return maj > IOSTAT_MIN_KERNEL_MAJOR ? 0 : -ENOTSUP;
        return min >= IOSTAT_MIN_KERNEL_MINOR ? 0 : -ENOTSUP;
}

void iostat_key_encode(dev_t dev, uint64_t cgroup_id, enum iostat_op op, struct iostat_key *ret)
{
        memset(ret, 0, sizeof(*ret));
        ret->dev = iostat_dev_encode(major(dev), minor(dev));
        ret->op = op;
        ret->cgroup_id = cgroup_id;
}

int iostat_key_decode(const struct iostat_key *key, dev_t *ret_dev, uint64_t *ret_cgroup_id,
                      enum iostat_op *ret_op)
{
        if (key->op >= IOSTAT_OP_MAX)
                return -EINVAL;
        *ret_dev = makedev(iostat_dev_major(key->dev), iostat_dev_minor(key->dev));
        *ret_cgroup_id = key->cgroup_id;
        *ret_op = (enum iostat_op)key->op;
        return 0;
}

void iostat_stat_add(struct iostat_stat *acc, const struct iostat_stat *x)
{
        acc->bytes += x->bytes;
        acc->ios += x->ios;
        acc->requeued += x->requeued;
        acc->lat_sum_ns += x->lat_sum_ns;
        acc->unstamped += x->unstamped;
        acc->untimed += x->untimed;
        for (unsigned i = 0; i < IOSTAT_HIST_SLOTS; i++)
                acc->hist[i] += x->hist[i];
}

const char *iostat_stat_timing(const struct iostat_stat *s)
{
        if (s->ios == 0)
                return "none";
        if (s->unstamped == 0)
                return "kernel";
        return s->unstamped >= s->ios ? "hash" : "mixed";
}

size_t iostat_snapshot_sum(const struct iostat_snapshot *s, dev_t dev, uint64_t cgroup_id,
                           unsigned op_mask, struct iostat_stat *ret)
{
        struct iostat_stat acc = {};
        size_t n = 0;

        for (size_t i = 0; i < s->n_entries; i++) {
                const struct iostat_entry *e = &s->entries[i];

                if (dev != IOSTAT_DEV_ANY && e->dev != dev)
                        continue;
                if (cgroup_id != IOSTAT_CGROUP_ANY && e->cgroup_id != cgroup_id)
                        continue;
                if (op_mask && !(op_mask & (1U << e->op)))
                        continue;
                iostat_stat_add(&acc, &e->stat);
                n++;
        }
        *ret = acc;
        return n;
}

/* Bucket bounds in µs: slot 0 is [0, 2), slot i is [2^i, 2^(i+1)); the last, open-ended
 * slot is taken as [2^i, 2^(i+1)) too, the best guess without an upper bound. */
static void hist_slot_bounds(unsigned slot, double *lo, double *hi)
{
        *lo = slot == 0 ? 0.0 : ldexp(1.0, (int)slot);
        *hi = ldexp(1.0, (int)slot + 1);
}

int iostat_hist_percentile(const uint64_t hist[IOSTAT_HIST_SLOTS], double q, double *ret_us)
{
        uint64_t total = 0, cum = 0;
        double rank;

        if (!(q >= 0.0 && q <= 1.0))
                return -EINVAL;
        for (unsigned i = 0; i < IOSTAT_HIST_SLOTS; i++)
                total += hist[i];
        if (total == 0)
                return -ENODATA;

        /* The q-quantile is the sample of rank ceil(q * total) (1-based; rank 1 for q = 0).
         * Within its bucket, samples are assumed evenly spread: the k-th of n sits at
         * lo + (hi - lo) * k / n. */
        rank = ceil(q * (double)total);
        if (rank < 1.0)
                rank = 1.0;
        for (unsigned i = 0; i < IOSTAT_HIST_SLOTS; i++) {
                double lo, hi;

                if (hist[i] == 0 || (double)(cum + hist[i]) < rank) {
                        cum += hist[i];
                        continue;
                }
                hist_slot_bounds(i, &lo, &hi);
                *ret_us = lo + (hi - lo) * ((rank - (double)cum) / (double)hist[i]);
                return 0;
        }
        return -ENODATA; /* unreachable: rank <= total */
}

void iostat_stat_delta(const struct iostat_stat *prev, const struct iostat_stat *cur,
                       struct iostat_stat *ret, bool *ret_reset)
{
        bool reset = cur->bytes < prev->bytes || cur->ios < prev->ios ||
                     cur->requeued < prev->requeued || cur->lat_sum_ns < prev->lat_sum_ns ||
                     cur->unstamped < prev->unstamped || cur->untimed < prev->untimed;

        for (unsigned i = 0; !reset && i < IOSTAT_HIST_SLOTS; i++)
                reset = cur->hist[i] < prev->hist[i];

        /* Like Prometheus' rate(): after a reset the counters restarted from zero during the
         * interval, so everything they hold now happened in it. */
        if (reset) {
                *ret = *cur;
        } else {
                ret->bytes = cur->bytes - prev->bytes;
                ret->ios = cur->ios - prev->ios;
                ret->requeued = cur->requeued - prev->requeued;
                ret->lat_sum_ns = cur->lat_sum_ns - prev->lat_sum_ns;
                ret->unstamped = cur->unstamped - prev->unstamped;
                ret->untimed = cur->untimed - prev->untimed;
                for (unsigned i = 0; i < IOSTAT_HIST_SLOTS; i++)
                        ret->hist[i] = cur->hist[i] - prev->hist[i];
        }
        if (ret_reset)
                *ret_reset = reset;
}

int iostat_rate_compute(const struct iostat_stat *prev, const struct iostat_stat *cur,
                        uint64_t interval_ns, struct iostat_rate *ret)
{
        struct iostat_stat d;
        struct iostat_rate r = {};
        uint64_t timed = 0;
        bool reset;

        if (interval_ns == 0)
                return -EINVAL;
        iostat_stat_delta(prev, cur, &d, &reset);

        r.seconds = (double)interval_ns / 1e9;
        r.bytes = d.bytes;
        r.ios = d.ios;
        r.bytes_per_s = (double)d.bytes / r.seconds;
        r.ios_per_s = (double)d.ios / r.seconds;
        r.reset = reset;
        for (unsigned i = 0; i < IOSTAT_HIST_SLOTS; i++)
                timed += d.hist[i];
        if (timed > 0) {
                r.lat_mean_us = (double)d.lat_sum_ns / (double)timed / 1000.0;
                (void)iostat_hist_percentile(d.hist, 0.50, &r.p50_us);
                (void)iostat_hist_percentile(d.hist, 0.90, &r.p90_us);
                (void)iostat_hist_percentile(d.hist, 0.99, &r.p99_us);
                (void)iostat_hist_percentile(d.hist, 0.999, &r.p999_us);
        }
        *ret = r;
        return 0;
}
