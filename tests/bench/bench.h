/* SPDX-License-Identifier: Apache-2.0 */
/* The C benchmarks' reporting helper: one line per stated goal, in the one format the shell
 * benchmarks (bench.sh) print too, and the exit status of the policy in tests/bench/README.md:
 * 0 when every goal is met, 1 when one is missed.
 *
 *   goal: median placements per cpu-second = 161000 placements/s, want >= 100000: met
 *   goal: heartbeat p99 = 12.5 ms, want < 10: MISSED
 *   bench alloc-throughput: 1 goals met, 0 missed
 */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct bench_goals {
        const char *name;
        unsigned met;
        unsigned missed;
};

/* Prints the goal line of WHAT = VALUE UNIT against "OP GOAL" (OP one of ">=", ">", "<=", "<")
 * and counts it; returns whether it was met. */
static inline bool bench_goal(struct bench_goals *g, const char *what, double value, const char *unit,
                              const char *op, double goal)
{
        bool ok;

        if (strcmp(op, ">=") == 0)
                ok = value >= goal;
        else if (strcmp(op, ">") == 0)
                ok = value > goal;
        else if (strcmp(op, "<=") == 0)
                ok = value <= goal;
        else
                ok = value < goal;
        printf("goal: %s = %.6g %s, want %s %.6g: %s\n", what, value, unit, op, goal, ok ? "met" : "MISSED");
        if (ok)
                g->met++;
        else
                g->missed++;
        return ok;
}

/* The summary line and the exit status: 1 when a goal was missed. */
static inline int bench_done(const struct bench_goals *g)
{
        printf("bench %s: %u goals met, %u missed\n", g->name, g->met, g->missed);
        fflush(stdout);
        return g->missed ? 1 : 0;
}
