/* SPDX-License-Identifier: Apache-2.0 */
/* iostat loader API: attach or reuse the pinned block I/O programs, snapshots, rates, quantiles. */
#pragma once

#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "iostat-abi.h"

/* All functions return 0 (or a count) on success and -errno on failure; they never print.
 * Functions taking `ret_error` also describe a failure there in one line for the operator
 * (common/error.h). */

#define IOSTAT_BPFFS_DEFAULT "/sys/fs/bpf"
/* Pins live in <bpffs>/silo/iostat: maps stats, start, overflow; links link_complete,
 * link_requeue and, only while some queue does not stamp rq->io_start_time_ns (or in hash-only
 * mode), link_issue; and the directory abi-<IOSTAT_ABI_VERSION> marking their version. */
#define IOSTAT_PIN_SUBDIR "silo/iostat"
/* The oldest kernel the programs are built and tested for (Debian 12). */
#define IOSTAT_MIN_KERNEL_MAJOR 6
#define IOSTAT_MIN_KERNEL_MINOR 1

#define IOSTAT_DEV_ANY ((dev_t)-1)
#define IOSTAT_CGROUP_ANY ((uint64_t)0xfffffffffffffffeULL)

struct iostat_options {
        const char *bpffs;             /* bpffs mount point; NULL: IOSTAT_BPFFS_DEFAULT */
        bool mount_bpffs;              /* mount bpffs there if it is not mounted yet */
        enum iostat_ts_mode ts_mode;   /* applies when this call loads the programs */
        bool replace_incompatible;     /* replace pins of another iostat ABI instead of
                                        * failing with -EPROTO (loses their counters) */
        dev_t test_unstamped_dev;      /* tests only: treat this whole disk's queue as one that
                                        * does not record rq->io_start_time_ns (0: none) */
};

/* Counters of one (device, cgroup, op) key, or a sum of several. */
struct iostat_stat {
        uint64_t bytes;
        uint64_t ios;
        uint64_t requeued;
        uint64_t lat_sum_ns;
        uint64_t unstamped;
        uint64_t untimed;
        uint64_t hist[IOSTAT_HIST_SLOTS];
};

struct iostat_entry {
        dev_t dev;               /* userspace dev_t (makedev) of the whole disk */
        uint64_t cgroup_id;      /* 0: no bio (flush); IOSTAT_CGROUP_REMOVED: removed cgroups */
        enum iostat_op op;
        struct iostat_stat stat;
};

#define IOSTAT_HOOK_ERROR_MAX 256

struct iostat_snapshot {
        uint64_t time_ns;        /* CLOCK_MONOTONIC when the maps were read */
        uint64_t lost_keys;      /* completions (requeues) not counted: adding their key failed */
        uint64_t lost_ts;        /* issue times not recorded because the start map was full */
        uint64_t unstamped;      /* completions without rq->io_start_time_ns, all devices */
        bool issue_hook;         /* the issue program is attached (some queue does not stamp) */
        /* Why it is not attached though a queue does not stamp (the last try failed; tried
         * again with a backoff): that queue's I/O counts as untimed meanwhile. Empty if not. */
        char issue_hook_error[IOSTAT_HOOK_ERROR_MAX];
        size_t n_entries;
        struct iostat_entry *entries;
};

/* Rates over the interval between two snapshots. */
struct iostat_rate {
        double seconds;
        double bytes_per_s;
        double ios_per_s;
        uint64_t bytes;          /* delta */
        uint64_t ios;            /* delta */
        double lat_mean_us;      /* 0 when no timed completion in the interval */
        double p50_us, p90_us, p99_us, p999_us;
        bool reset;              /* counters went backwards (reloaded maps): delta = later value */
};

struct iostat;

/* Attach the programs and pin maps and links under <bpffs>/silo/iostat, or reuse the ones a
 * previous loader pinned there (no second copy is ever attached). Errors: -ENOTSUP (kernel
 * older than 6.1, no BTF), -EPERM (needs root or CAP_BPF + CAP_PERFMON), -ENOENT (bpffs not
 * mounted and mount_bpffs not set), -EPROTO (pins of an incompatible iostat version, unless
 * replace_incompatible). */
int iostat_attach(const struct iostat_options *opts, struct iostat **ret, char **ret_error);
/* Close the handle; pinned programs stay attached and keep counting. NULL-safe. */
struct iostat *iostat_free(struct iostat *io);
/* Whether iostat_attach() found the programs already pinned. */
bool iostat_reused(const struct iostat *io);
/* Unpin maps and links: the programs detach when the last handle closes. */
int iostat_detach(struct iostat *io);
/* Same without a handle (also cleans up a half-pinned directory). 0 if nothing was pinned. */
int iostat_unpin(const char *bpffs);

/* Read and sum the per-CPU maps. Free with iostat_snapshot_free(). When completions without
 * the kernel's issue stamp were seen and the issue program is not attached yet, this attaches
 * it first (so later I/O of such queues is timed through the hash). */
int iostat_snapshot_take(struct iostat *io, struct iostat_snapshot **ret);
struct iostat_snapshot *iostat_snapshot_free(struct iostat_snapshot *s);

/* Fold the counters of cgroups that no longer exist into their device's
 * IOSTAT_CGROUP_REMOVED key and delete them, so the map stays bounded by live cgroups while
 * device totals never go back. `cgroup_root` is the hierarchy that owns io accounting
 * (iostat_cgroup_root_find()). Returns the number of keys removed. */
int iostat_prune(struct iostat *io, const char *cgroup_root);

/* Requests of a whole disk in the driver now, from the kernel's own count
 * (/sys/dev/block/MAJ:MIN/inflight: reads + writes); the programs do not count issues. */
int iostat_device_in_flight(dev_t dev, uint64_t *ret);

/* The programs' own CPU cost, from the kernel's BPF run-time statistics. */
enum iostat_prog {
        IOSTAT_PROG_ISSUE,
        IOSTAT_PROG_COMPLETE,
        IOSTAT_PROG_REQUEUE,
        IOSTAT_PROG_MAX,
};
struct iostat_prog_stats {
        bool attached;         /* IOSTAT_PROG_ISSUE is attached only when needed */
        uint64_t run_cnt;
        uint64_t run_time_ns;
        uint64_t misses;       /* runs the kernel skipped (the program was already running on
                                * that CPU): I/O not counted */
};
/* Turn the kernel's run-time accounting of BPF programs on (BPF_ENABLE_STATS) for as long as
 * the returned fd stays open; it costs two clock reads per program run. */
int iostat_prog_stats_enable(void);
/* Counters accumulate while accounting is on; compare two reads. */
int iostat_prog_stats_read(struct iostat *io, struct iostat_prog_stats ret[IOSTAT_PROG_MAX]);

/* --- pure computations (iostat-stats.c) --- */

/* Whether a kernel release string ("6.1.0-56-amd64") is at least IOSTAT_MIN_KERNEL_*:
 * 0 if so, -ENOTSUP if older, -EINVAL if it does not start with MAJOR.MINOR. */
int iostat_kernel_release_check(const char *release);

void iostat_key_encode(dev_t dev, uint64_t cgroup_id, enum iostat_op op, struct iostat_key *ret);
int iostat_key_decode(const struct iostat_key *key, dev_t *ret_dev, uint64_t *ret_cgroup_id,
                      enum iostat_op *ret_op);
const char *iostat_op_to_string(enum iostat_op op);
int iostat_op_from_string(const char *s);

void iostat_stat_add(struct iostat_stat *acc, const struct iostat_stat *x);
/* How a sum of counters was timed: "kernel" (every completion carried rq->io_start_time_ns:
 * completion-only accounting), "hash" (none did: issue times from the issue program's hash),
 * "mixed", or "none" (no completion). */
const char *iostat_stat_timing(const struct iostat_stat *s);
/* Sum every entry matching dev (or IOSTAT_DEV_ANY), cgroup (or IOSTAT_CGROUP_ANY) and op
 * mask (bit 1 << op; 0 = all ops). Returns the number of entries summed. */
size_t iostat_snapshot_sum(const struct iostat_snapshot *s, dev_t dev, uint64_t cgroup_id,
                           unsigned op_mask, struct iostat_stat *ret);

/* q in [0, 1]: the latency in µs below which a fraction q of the histogram lies, interpolated
 * linearly within the log2 bucket. -ENODATA for an empty histogram, -EINVAL for a bad q. */
int iostat_hist_percentile(const uint64_t hist[IOSTAT_HIST_SLOTS], double q, double *ret_us);
/* cur - prev; if any counter went backwards (maps recreated, key pruned and recreated) the
 * whole of cur is the delta and *ret_reset is set. */
void iostat_stat_delta(const struct iostat_stat *prev, const struct iostat_stat *cur,
                       struct iostat_stat *ret, bool *ret_reset);
/* Rates from two sums taken `interval_ns` apart. -EINVAL if interval_ns is 0. */
int iostat_rate_compute(const struct iostat_stat *prev, const struct iostat_stat *cur,
                        uint64_t interval_ns, struct iostat_rate *ret);

/* --- cgroup ids (iostat-cgroup.c) --- */

/* The mount of the hierarchy whose ids the programs record: the cgroup v1 mount carrying
 * blkio when one exists (hybrid hosts), else the cgroup2 mount. -ENOENT if neither. */
int iostat_cgroup_root_find(char **ret_path);
/* Path of cgroup `id` relative to cgroup_root ("/" for the root), from its file handle.
 * -ESTALE when the cgroup no longer exists. Needs CAP_DAC_READ_SEARCH. */
int iostat_cgroup_path(const char *cgroup_root, uint64_t id, char **ret_path);
/* The id of the cgroup directory at `path` (its kernfs file handle). */
int iostat_cgroup_id(const char *path, uint64_t *ret_id);
