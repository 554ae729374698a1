/* SPDX-License-Identifier: Apache-2.0 */
/* Log-linear latency histogram: bucket mapping, merge and percentile math. */
#include <string.h>

#include "io/histogram.h"

void io_hist_init(struct io_hist *h)
{
        memset(h, 0, sizeof(*h));
        h->min = UINT64_MAX;
}

/* Values below IO_HIST_LINEAR map to themselves. Above, the octave [2^m, 2^(m+1)) is split in
 * IO_HIST_SUB equal buckets indexed by the bits right below the top one. */
unsigned io_hist_bucket_of(uint64_t v)
{
        unsigned msb, shift;

        if (v < IO_HIST_LINEAR)
                return (unsigned)v;
        msb = 63U - (unsigned)__builtin_clzll(v);
        shift = msb - IO_HIST_SUB_BITS;
        return IO_HIST_LINEAR + (msb - IO_HIST_SUB_BITS - 1U) * IO_HIST_SUB +
               (unsigned)((v >> shift) & (IO_HIST_SUB - 1U));
}

uint64_t io_hist_bucket_low(unsigned i)
{
        unsigned octave, sub;

        if (i < IO_HIST_LINEAR)
                return i;
        octave = (i - IO_HIST_LINEAR) / IO_HIST_SUB + IO_HIST_SUB_BITS + 1U; /* msb */
        sub = (i - IO_HIST_LINEAR) % IO_HIST_SUB;
        return (1ULL << octave) + ((uint64_t)sub << (octave - IO_HIST_SUB_BITS));
}

uint64_t io_hist_bucket_high(unsigned i)
{
        unsigned octave;

        if (i < IO_HIST_LINEAR)
                return i;
        octave = (i - IO_HIST_LINEAR) / IO_HIST_SUB + IO_HIST_SUB_BITS + 1U;
        return io_hist_bucket_low(i) + (1ULL << (octave - IO_HIST_SUB_BITS)) - 1U;
}

void io_hist_merge(struct io_hist *dst, const struct io_hist *src)
{
        if (!src->count)
                return;
        for (unsigned i = 0; i < IO_HIST_BUCKETS; i++)
                dst->buckets[i] += src->buckets[i];
        dst->count += src->count;
        dst->sum += src->sum;
        if (src->min < dst->min)
                dst->min = src->min;
        if (src->max > dst->max)
                dst->max = src->max;
}

uint64_t io_hist_percentile(const struct io_hist *h, double p)
{
        uint64_t rank, seen = 0;

        if (!h->count)
                return 0;
        if (p <= 0)
                return h->min;
        if (p >= 100)
                return h->max;
        /* Rank of the sample we want, 1-based: ceil(p/100 * n), with a tolerance so that
         * 99.9% of 1000 is rank 999 despite 0.999 * 1000 = 999.0000000000001 in doubles. */
        double x = p / 100.0 * (double)h->count;
        rank = (uint64_t)x;
        if ((double)rank < x - 1e-9 * x)
                rank++;
        if (rank == 0)
                rank = 1;
        for (unsigned i = 0; i < IO_HIST_BUCKETS; i++) {
                seen += h->buckets[i];
                if (seen >= rank) {
                        uint64_t lo = io_hist_bucket_low(i), hi = io_hist_bucket_high(i);
                        uint64_t v = lo + (hi - lo) / 2;
                        if (v < h->min)
                                v = h->min;
                        if (v > h->max)
                                v = h->max;
                        return v;
                }
        }
        return h->max;
}

double io_hist_mean(const struct io_hist *h)
{
        return h->count ? (double)h->sum / (double)h->count : 0.0;
}
