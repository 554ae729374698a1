/* SPDX-License-Identifier: Apache-2.0 */
/* Log-linear latency histogram (HdrHistogram-like): exact below 64 ns, then 32 buckets per
 * power of two, so any recorded value is known to within 1/32 (about 3%). */
#pragma once

#include <stdint.h>

#define IO_HIST_SUB_BITS 5
#define IO_HIST_SUB (1U << IO_HIST_SUB_BITS)   /* buckets per power of two */
#define IO_HIST_LINEAR (2U * IO_HIST_SUB)      /* values below this are exact */
#define IO_HIST_BUCKETS (IO_HIST_LINEAR + (64U - IO_HIST_SUB_BITS - 1U) * IO_HIST_SUB)

struct io_hist {
        uint64_t count;
        uint64_t sum;   /* for the mean; ns, wraps only after 584 years of latency */
        uint64_t min;
        uint64_t max;
        uint64_t buckets[IO_HIST_BUCKETS];
};

void io_hist_init(struct io_hist *h);
unsigned io_hist_bucket_of(uint64_t v);
/* Smallest and largest value that land in bucket i. */
uint64_t io_hist_bucket_low(unsigned i);
uint64_t io_hist_bucket_high(unsigned i);

static inline void io_hist_add(struct io_hist *h, uint64_t v)
{
        h->buckets[io_hist_bucket_of(v)]++;
        h->count++;
        h->sum += v;
        if (v < h->min)
                h->min = v;
        if (v > h->max)
                h->max = v;
}

void io_hist_merge(struct io_hist *dst, const struct io_hist *src);
/* The value at percentile p (0 < p <= 100): the smallest recorded value v such that at least
 * p% of the samples are <= v, reported as the middle of its bucket clamped to [min, max].
 * 0 when empty. */
uint64_t io_hist_percentile(const struct io_hist *h, double p);
double io_hist_mean(const struct io_hist *h);
