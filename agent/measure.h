/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's eBPF I/O measurements: per-task, per-device rates and latency from bpf/iostat. */
#pragma once

#include <jansson.h>

struct agent;

/* Attach (or reuse) the pinned iostat programs and start a 1 s snapshot timer on the loop.
 * Measuring is optional: when attaching fails this logs one warning, remembers why, and
 * returns 0 so the agent keeps running. Negative only for -ENOMEM or a loop failure. */
int agent_measure_start(struct agent *a);
/* Stop the timer and close the handle (pinned programs keep counting). NULL-safe on a->measure. */
void agent_measure_stop(struct agent *a);

/* Add "measured" to every object of `io` (the isolation view's limits.io array, whose objects
 * carry "device": "MAJ:MIN") for the cgroup at `cgroup_path`, and return the value for the
 * view's top-level "measured" member: {"source":"ebpf","interval_s":..,"prune_every_s":60} or,
 * when measuring is off, {"error":"<why>"} (each device's "measured" is then null).
 *
 * Per device, "measured" is null until two snapshots exist, else:
 *   {"interval_s": 1.0,                     seconds between the last two snapshots
 *    "read_bps", "write_bps",               bytes/s completed over that interval
 *    "read_iops", "write_iops",             requests/s completed over that interval
 *    "p50_us", "p99_us",                    issue->complete latency of reads and writes in
 *                                            that interval (null without completions)
 *    "total": {"read_bytes", "write_bytes", "read_ios", "write_ios"}   since the programs
 *                                            were attached (they outlive agent restarts)} */
json_t *agent_measure_annotate(struct agent *a, const char *cgroup_path, json_t *io);

struct iostat_snapshot;
/* The latest snapshot (at most a second old), for /metrics; NULL while measuring is off. */
const struct iostat_snapshot *agent_measure_snapshot(const struct agent *a);
