/* SPDX-License-Identifier: Apache-2.0 */
/* The one Prometheus text-format (0.0.4) writer both daemons' /metrics use: families with HELP
 * and TYPE once, escaped labels, counters, gauges, histograms, and the process_* family. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The Content-Type of what metrics_text_finish() returns. */
#define METRICS_TEXT_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

enum metrics_type {
        METRICS_COUNTER,
        METRICS_GAUGE,
        METRICS_HISTOGRAM,
};

/* A label; arrays of them end with {NULL, NULL}. A NULL value is written as "" (which
 * Prometheus treats as the label being absent). */
struct metrics_label {
        const char *name, *value;
};
#define METRICS_LABELS(...) ((const struct metrics_label[]){__VA_ARGS__, {NULL, NULL}})

struct metrics_text;

/* -ENOMEM only. */
int metrics_text_new(struct metrics_text **ret);
/* NULL-safe; returns NULL. */
struct metrics_text *metrics_text_free(struct metrics_text *w);
static inline void metrics_text_freep(struct metrics_text **w)
{
        if (*w)
                *w = metrics_text_free(*w);
}

/* Start a family: its HELP and TYPE lines. The samples that follow belong to it until the next
 * family starts, so a family's samples stay together as the format requires. Naming a family
 * twice is a programmer error that metrics_text_finish() reports as -EINVAL. */
void metrics_text_family(struct metrics_text *w, const char *name, enum metrics_type type,
                         const char *help);
/* One sample of the current counter or gauge family. `labels` may be NULL. */
void metrics_text_sample(struct metrics_text *w, const struct metrics_label *labels, double value);
/* A family of one unlabelled gauge sample. */
void metrics_text_gauge(struct metrics_text *w, const char *name, const char *help, double value);
/* The same for a 64-bit count, written exactly (a double loses precision above 2^53). */
void metrics_text_sample_u64(struct metrics_text *w, const struct metrics_label *labels,
                             uint64_t value);
/* One series of the current histogram family: counts[i] observations fell in the bucket whose
 * upper bound is le[i] (not cumulated; le ascending), overflow above the last bound; sum of the
 * observed values. Writes the cumulative _bucket{le} lines, +Inf included, _sum and _count. */
void metrics_text_histogram(struct metrics_text *w, const struct metrics_label *labels,
                            const double *le, const uint64_t *counts, size_t n, uint64_t overflow,
                            double sum);
/* Hand back the text (malloc'ed). -EINVAL when a family was named twice, a name was invalid
 * or a sample had no family of its type; -ENOMEM. The writer is freed either way. */
int metrics_text_finish(struct metrics_text *w, char **ret_text);

/* A histogram kept by a daemon: fixed bounds, counts per bucket (metrics_text_histogram()). */
#define METRICS_HIST_MAX_BUCKETS 16
struct metrics_hist {
        const double *le; /* ascending upper bounds */
        size_t n;         /* <= METRICS_HIST_MAX_BUCKETS */
        uint64_t counts[METRICS_HIST_MAX_BUCKETS];
        uint64_t overflow;
        double sum;
};
void metrics_hist_observe(struct metrics_hist *h, double value);
/* Write h as one series of the current histogram family. */
void metrics_text_hist(struct metrics_text *w, const struct metrics_label *labels,
                       const struct metrics_hist *h);

/* silo_build_info and the process_* families client libraries export (process_cpu_seconds_total,
 * process_start_time_seconds, process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_open_fds, process_max_fds), read from /proc/self. A figure /proc does not give is
 * left out rather than written as 0. */
void metrics_text_process(struct metrics_text *w);
