// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/* Block I/O per (device, issuing cgroup, op): bytes, I/Os, in-flight and log2 µs latency
 * histograms, aggregated in the kernel; userspace only ever reads the maps. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "iostat-abi.h"

/* Set through the skeleton's rodata before load: enum iostat_ts_mode, and the bit of
 * QUEUE_FLAG_STATS in request_queue.queue_flags on the running kernel (a #define before 6.11,
 * an anonymous enum since, so CO-RE cannot relocate it: the loader reads it from the BTF). */
const volatile __u32 ts_mode = IOSTAT_TS_KERNEL_FIRST;
const volatile __u32 queue_flag_stats_bit = IOSTAT_QUEUE_FLAG_STATS_BIT_6_1;
/* Tests only (struct iostat_options.test_unstamped_dev): a disk, in key encoding, whose queue
 * is treated as one that does not stamp, so the fallback runs on any kernel. 0 in production:
 * the verifier knows the frozen value and removes the branches on it (one load stays). */
const volatile __u32 test_unstamped_dev = 0;

/* Per-CPU so that concurrent I/O on many CPUs never bounces a cache line; allocated on demand
 * (no prealloc) so memory follows the keys in use rather than max_entries x CPUs. */
struct {
        __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
        __uint(max_entries, IOSTAT_MAX_KEYS);
        __uint(map_flags, BPF_F_NO_PREALLOC);
        __type(key, struct iostat_key);
        __type(value, struct iostat_value);
} stats SEC(".maps");

/* Issue time by request pointer, only for requests whose queue does not stamp
 * rq->io_start_time_ns, and only while iostat_issue is attached. */
struct {
        __uint(type, BPF_MAP_TYPE_LRU_HASH);
        __uint(max_entries, IOSTAT_MAX_INFLIGHT_TS);
        __type(key, __u64);
        __type(value, __u64);
} start SEC(".maps");

/* Per-CPU event counters, enum iostat_overflow. */
struct {
        __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
        __uint(max_entries, IOSTAT_OVERFLOW_MAX);
        __type(key, __u32);
        __type(value, __u64);
} overflow SEC(".maps");

/* Per-CPU slots are only written by the program running on that CPU, and the kernel never
 * nests a program inside itself on one CPU (a nested run is skipped and counted as a miss), so
 * each field is written by one program at a time: plain adds, no locked instructions. */
static __always_inline void overflow_count(__u32 idx)
{
        __u64 *c = bpf_map_lookup_elem(&overflow, &idx);

        if (c)
                *c += 1;
}

/* tp_btf arguments are trusted BTF pointers: plain dereferences compile to fault-safe loads,
 * so a NULL rq->bio (a flush) reads as cgroup id 0 without explicit checks, and CO-RE
 * relocates every field offset for the running kernel. */
static __always_inline void key_fill(struct iostat_key *key, struct request *rq)
{
        struct gendisk *disk = rq->q->disk;

        key->dev = iostat_dev_encode(disk->major, disk->first_minor);
        key->op = iostat_op_from_cmd_flags(rq->cmd_flags);
        key->cgroup_id = rq->bio->bi_blkg->blkcg->css.cgroup->kn->id;
}

static __always_inline struct iostat_value *stats_get(const struct iostat_key *key)
{
        struct iostat_value *v = bpf_map_lookup_elem(&stats, key);
        struct iostat_value zero;

        if (v)
                return v;
        __builtin_memset(&zero, 0, sizeof(zero));
        /* NOEXIST: another CPU may have created it meanwhile; either way look it up again. */
        bpf_map_update_elem(&stats, key, &zero, BPF_NOEXIST);
        v = bpf_map_lookup_elem(&stats, key);
        if (!v)
                overflow_count(IOSTAT_OVERFLOW_KEYS);
        return v;
}

/* Attached only while some queue does not stamp rq->io_start_time_ns (the loader attaches it
 * when completions report one, IOSTAT_OVERFLOW_UNSTAMPED), or in hash-only mode: on a machine
 * whose queues all stamp, an I/O runs no program at issue. */
SEC("tp_btf/block_rq_issue")
int BPF_PROG(iostat_issue, struct request *rq)
{
        __u64 rqp = (__u64)rq, ts;

        /* The kernel stamps io_start_time_ns right after this tracepoint when the queue has
         * blk-stat users (QUEUE_FLAG_STATS: wbt, iocost, iolatency); completion reads that. */
        if (ts_mode == IOSTAT_TS_KERNEL_FIRST &&
            (rq->q->queue_flags & (1UL << queue_flag_stats_bit)) &&
            !(test_unstamped_dev && iostat_dev_encode(rq->q->disk->major,
                                                      rq->q->disk->first_minor) ==
                                            test_unstamped_dev))
                return 0;
        ts = bpf_ktime_get_ns();
        if (bpf_map_update_elem(&start, &rqp, &ts, BPF_ANY) < 0)
                overflow_count(IOSTAT_OVERFLOW_TS);
        return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(iostat_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
        struct iostat_key key = {};
        struct iostat_value *v;
        __u64 rqp = (__u64)rq, start_ns = 0, delta, *tsp;

        key_fill(&key, rq);
        v = stats_get(&key);
        if (!v)
                return 0;
        v->bytes += nr_bytes;
        /* A partial completion (nr_bytes short of what remains) is followed by another one;
         * count the request and its latency once, at the last. */
        if (nr_bytes < rq->__data_len)
                return 0;
        v->ios += 1;

        if (ts_mode == IOSTAT_TS_KERNEL_FIRST && !(test_unstamped_dev && key.dev == test_unstamped_dev))
                start_ns = rq->io_start_time_ns;
        /* A write without data (an empty REQ_PREFLUSH, e.g. from fsync) is completed by the
         * flush machinery, which issues a separate flush request instead: it never reaches the
         * driver, so it has no issue time on any queue and says nothing about stamping. */
        if (!start_ns && rq->__data_len == 0 && key.op != IOSTAT_OP_FLUSH) {
                v->untimed += 1;
                return 0;
        }
        if (!start_ns) {
                v->unstamped += 1;
                overflow_count(IOSTAT_OVERFLOW_UNSTAMPED);
                tsp = bpf_map_lookup_elem(&start, &rqp);
                if (tsp) {
                        start_ns = *tsp;
                        bpf_map_delete_elem(&start, &rqp);
                }
                if (!start_ns) {
                        v->untimed += 1;
                        return 0;
                }
        }
        delta = bpf_ktime_get_ns() - start_ns;
        /* Both clocks are CLOCK_MONOTONIC read on possibly different CPUs: never negative in
         * practice, but a wrapped difference must not land in the last bucket. */
        if ((__s64)delta < 0)
                delta = 0;
        v->lat_sum_ns += delta;
        v->hist[iostat_hist_slot(delta / 1000)] += 1;
        return 0;
}

SEC("tp_btf/block_rq_requeue")
int BPF_PROG(iostat_requeue, struct request *rq)
{
        struct iostat_key key = {};
        struct iostat_value *v;
        __u64 rqp = (__u64)rq;

        key_fill(&key, rq);
        v = stats_get(&key);
        if (v)
                v->requeued += 1;
        /* The kernel re-stamps a requeued request when it issues it again; a hash entry would
         * be rewritten by that issue too, so dropping it only frees the slot early. */
        bpf_map_delete_elem(&start, &rqp);
        return 0;
}

char LICENSE[] SEC("license") = "GPL";
