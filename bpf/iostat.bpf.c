// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/* Block I/O per (device, issuing cgroup, op): bytes, I/Os, in-flight and log2 µs latency
 * histograms, aggregated in the kernel; userspace only ever reads the maps. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "iostat-abi.h"

/* Set through the skeleton's rodata before load: enum iostat_ts_mode, and the number of
 * possible CPUs (the per-CPU slots a timestamp-mode change is written to). */
const volatile __u32 ts_mode = IOSTAT_TS_KERNEL_FIRST;
const volatile __u32 nr_cpus = 1;

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
 * rq->io_start_time_ns. */
struct {
        __uint(type, BPF_MAP_TYPE_LRU_HASH);
        __uint(max_entries, IOSTAT_MAX_INFLIGHT_TS);
        __type(key, __u64);
        __type(value, __u64);
} start SEC(".maps");

/* Events lost to the bounds above: [0] stats map full, [1] start map insert failed. */
struct {
        __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
        __uint(max_entries, 2);
        __type(key, __u32);
        __type(value, __u64);
} overflow SEC(".maps");

static __always_inline void overflow_count(__u32 idx)
{
        __u64 *c = bpf_map_lookup_elem(&overflow, &idx);

        if (c)
                __sync_fetch_and_add(c, 1);
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

struct hint_ctx {
        struct iostat_key key;
        __u64 val;
};

static long hint_set_cpu(__u32 cpu, void *data)
{
        struct hint_ctx *c = data;
        struct iostat_value *v = bpf_map_lookup_percpu_elem(&stats, &c->key, cpu);

        if (v)
                v->ts_kernel = c->val;
        return 0;
}

/* Whether a key's queue stamps rq->io_start_time_ns is learned at completion but needed at
 * issue, which may run on another CPU: write the hint into every CPU's slot, so the issue path
 * reads it from the value it already holds instead of a second map. Runs only when the mode
 * changes (once per key, again if e.g. wbt is switched off). */
static __always_inline void hint_set_all(const struct iostat_key *key, __u64 val)
{
        struct hint_ctx c = {.key = *key, .val = val};

        bpf_loop(nr_cpus, hint_set_cpu, &c, 0);
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
                overflow_count(0);
        return v;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(iostat_issue, struct request *rq)
{
        struct iostat_key key = {};
        struct iostat_value *v;
        __u64 rqp = (__u64)rq, ts;

        key_fill(&key, rq);
        v = stats_get(&key);
        if (!v)
                return 0;
        __sync_fetch_and_add(&v->issued, 1);

        /* The kernel stamps io_start_time_ns right after this tracepoint on queues with
         * blk-stat users (wbt, iocost, iolatency); on those, completion reads that. */
        if (ts_mode == IOSTAT_TS_KERNEL_FIRST && v->ts_kernel)
                return 0;
        ts = bpf_ktime_get_ns();
        if (bpf_map_update_elem(&start, &rqp, &ts, BPF_ANY) < 0)
                overflow_count(1);
        return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(iostat_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
        struct iostat_key key = {};
        struct iostat_value *v;
        __u64 rqp = (__u64)rq, start_ns = 0, now, delta, *tsp;

        key_fill(&key, rq);
        v = stats_get(&key);
        if (!v)
                return 0;
        __sync_fetch_and_add(&v->bytes, nr_bytes);
        /* A partial completion (nr_bytes short of what remains) is followed by another one;
         * count the request and its latency once, at the last. */
        if (nr_bytes < rq->__data_len)
                return 0;
        __sync_fetch_and_add(&v->ios, 1);

        if (ts_mode == IOSTAT_TS_KERNEL_FIRST)
                start_ns = rq->io_start_time_ns;
        if (start_ns) {
                /* The first stamp this key sees: from now on issues skip the hash. This
                 * request's issue (and those in flight with it) stored an entry. */
                if (!v->ts_kernel) {
                        hint_set_all(&key, 1);
                        bpf_map_delete_elem(&start, &rqp);
                }
        } else {
                tsp = bpf_map_lookup_elem(&start, &rqp);
                if (tsp) {
                        /* An entry left from before the key switched to kernel stamps would
                         * be stale: only trust it when the issue path wrote one. */
                        if (!v->ts_kernel)
                                start_ns = *tsp;
                        bpf_map_delete_elem(&start, &rqp);
                }
                /* The queue stopped stamping (e.g. wbt switched off): back to the hash. */
                if (v->ts_kernel)
                        hint_set_all(&key, 0);
        }
        if (!start_ns) {
                __sync_fetch_and_add(&v->untimed, 1);
                return 0;
        }

        now = bpf_ktime_get_ns();
        delta = now > start_ns ? now - start_ns : 0;
        __sync_fetch_and_add(&v->lat_sum_ns, delta);
        __sync_fetch_and_add(&v->hist[iostat_hist_slot(delta / 1000)], 1);
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
                __sync_fetch_and_add(&v->requeued, 1);
        bpf_map_delete_elem(&start, &rqp);
        return 0;
}

char LICENSE[] SEC("license") = "GPL";
