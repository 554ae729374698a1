/* SPDX-License-Identifier: Apache-2.0 */
/* siloctl's human output: pure functions from the daemons' parsed JSON to text, sized to a
 * terminal width (tests/unit/test-ctl-render.c checks them at 80 and 100 columns). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct ctl_view {
        int width;      /* the terminal's columns; 0: no limit (not a terminal) */
        int64_t now_ms; /* wall clock (ms since the epoch), for AGE and "3m ago" */
};

/* ---- tables: columns sized from the data, the widest shrinkable ones cut to fit ---- */

#define CTL_TABLE_MAX_COLS 12

struct ctl_col {
        const char *header;
        bool right;      /* right-aligned (numbers) */
        bool shrink;     /* may be cut (with "~") to fit the width */
        bool hide_empty; /* left out when every cell is "-" (data the daemon does not have) */
};

struct ctl_table {
        const struct ctl_col *cols;
        size_t n_cols, n_rows, cap;
        char **cells; /* n_rows * n_cols, owned */
};

/* A task state string that names an end (silo_task_state_is_terminal); NULL or unknown: no. */
bool ctl_state_ended(const char *state);
void ctl_table_init(struct ctl_table *t, const struct ctl_col *cols, size_t n_cols);
/* One row of n_cols strings (NULL is shown as "-"); copied. 0 or -ENOMEM. */
int ctl_table_add(struct ctl_table *t, const char *const *cells);
void ctl_table_print(const struct ctl_table *t, FILE *f, int width);
void ctl_table_done(struct ctl_table *t);

/* ---- formatting ---- */

/* "1.5 GiB", "200 MiB"-style display of a byte count (binary units); not a parseable quantity. */
void ctl_format_bytes(double v, char *buf, size_t n);
/* Compact binary-unit figure for dense tables: "512", "19.1M", "256M", "1.5G". */
void ctl_format_compact(double v, char *buf, size_t n);
/* kubectl-style age of a duration: "45s", "3m20s", "12m", "5h3m", "26h", "3d". */
void ctl_format_age(int64_t ms, char *buf, size_t n);
/* Local time of ms since the epoch with its age: "2026-12-05 07:50:03 (3m20s ago)". */
void ctl_format_time(int64_t ms, int64_t now_ms, char *buf, size_t n);
/* A latency in microseconds: "850us", "1.2ms", "2.50s". */
void ctl_format_usec(double us, char *buf, size_t n);
/* The first 8 characters of an id (what tables show; any unique prefix is accepted back). */
void ctl_short_id(const char *id, char *buf, size_t n);

/* ---- views ---- */

void ctl_render_tree(FILE *f, const json_t *v, const struct ctl_view *view);
void ctl_render_task(FILE *f, const json_t *v, const struct ctl_view *view);
void ctl_render_tasks(FILE *f, const json_t *v, const struct ctl_view *view);
void ctl_render_agents(FILE *f, const json_t *v, const struct ctl_view *view);
void ctl_render_agent(FILE *f, const json_t *v, const struct ctl_view *view);
/* Persistent volumes: the list (NAME AGENT DISK SIZE USED STATE TASKS) and one volume, from a
 * master or an agent (the same JSON, an agent's without agent_id). */
void ctl_render_volumes(FILE *f, const json_t *v, const struct ctl_view *view);
void ctl_render_volume(FILE *f, const json_t *v, const struct ctl_view *view);
void ctl_render_devices(FILE *f, const json_t *v, const struct ctl_view *view);
void ctl_render_isolation(FILE *f, const json_t *v, const struct ctl_view *view);

/* ---- top ---- */

/* One task's figures; NAN where unknown (no limit, nothing measured, first sample). */
struct ctl_top_row {
        char id[64], name[64], node[64];
        double cpu_pct;   /* of one CPU, over the last interval */
        double cpu_limit; /* CPUs (quota / period) */
        double mem, mem_max;
        double rbps, wbps, riops, wiops;                 /* per second */
        double rbps_max, wbps_max, riops_max, wiops_max; /* io.max, summed over devices */
        double p99_us;                                   /* worst device's p99 latency */
};

/* Fill row's figures from a task's isolation view (GET /api/v1/tasks/ID/isolation) and, for
 * CPU % (and I/O rates where eBPF measurements are off, from io.stat), the same task's
 * previous view `prev` taken dt_s seconds earlier (NULL on the first sample). */
void ctl_top_row_fill(struct ctl_top_row *row, const json_t *iso, const json_t *prev, double dt_s);
/* Sort by key (cpu, mem, io, iops, p99, name): largest first, name ascending, NaN last. */
void ctl_top_sort(struct ctl_top_row *rows, size_t n, const char *key);
void ctl_render_top(FILE *f, const struct ctl_top_row *rows, size_t n, const struct ctl_view *view);
/* The rows as a JSON array (top --once -o json): numbers in bytes, per second; null unknown. */
json_t *ctl_top_to_json(const struct ctl_top_row *rows, size_t n);

/* ---- events (siloctl events) ---- */

/* The column header, and one line per event of GET /api/v1/events: index, local time, type, the
 * task's (or agent's) short id, and what happened ("web FAILED EXIT_NONZERO exit 3 on 3f2a1b4c"). */
void ctl_render_event_header(FILE *f, const struct ctl_view *view);
void ctl_render_event(FILE *f, const json_t *event, const struct ctl_view *view);
