/* SPDX-License-Identifier: Apache-2.0 */
/* Layouts shared by iostat.bpf.c and its loader: map keys, values, settings and key encoding. */
#pragma once

/* Included by the BPF side after vmlinux.h and by userspace after <linux/types.h>: both define
 * __u32/__u64, so this header includes nothing. Changing a layout here changes the pinned maps'
 * key or value size; the loader then refuses to reuse old pins (IOSTAT_ABI_VERSION). */
#define IOSTAT_ABI_VERSION 4

/* Latency buckets: slot 0 counts [0, 2) µs, slot i (1..HIST_SLOTS-2) counts [2^i, 2^(i+1)) µs,
 * the last slot counts everything from 2^(HIST_SLOTS-1) µs (about 33.5 s) up. */
#define IOSTAT_HIST_SLOTS 26

/* Bounds, documented in bpf/README.md. The stats map is a per-CPU hash allocated on demand, so
 * memory follows the keys in use: about sizeof(struct iostat_value) (256 bytes) per key per
 * possible CPU, at most IOSTAT_MAX_KEYS keys. */
#define IOSTAT_MAX_KEYS 8192
/* Requests in flight whose issue time the kernel does not record (LRU: a request that never
 * completes, e.g. on a driver bug, ages out instead of leaking a slot). */
#define IOSTAT_MAX_INFLIGHT_TS 16384

/* Not a real cgroup id (kernfs ids are >= 1 and never all-ones): the loader folds the
 * counters of removed cgroups into this key so device totals stay monotonic. */
#define IOSTAT_CGROUP_REMOVED ((__u64)~0ULL)

enum iostat_op {
        IOSTAT_OP_READ = 0,
        IOSTAT_OP_WRITE = 1,
        IOSTAT_OP_DISCARD = 2,
        IOSTAT_OP_FLUSH = 3,
        IOSTAT_OP_MAX = 4,
};

/* How the issue time of a request is found at completion (rodata setting `ts_mode`). */
enum iostat_ts_mode {
        /* rq->io_start_time_ns when the kernel set it (queues with QUEUE_FLAG_STATS: wbt,
         * iocost, iolatency): completion-only, no program at issue. Requests of other queues
         * through the hash keyed by request pointer, once the issue program is attached. */
        IOSTAT_TS_KERNEL_FIRST = 0,
        /* Always the hash keyed by request pointer (for the overhead comparison). */
        IOSTAT_TS_HASH_ONLY = 1,
};

/* QUEUE_FLAG_STATS was `#define QUEUE_FLAG_STATS 20` from 4.x to 6.10; later kernels number
 * the flags in an enum the loader finds in the kernel's BTF. */
#define IOSTAT_QUEUE_FLAG_STATS_BIT_6_1 20

/* Slots of the per-CPU `overflow` array. */
enum iostat_overflow {
        IOSTAT_OVERFLOW_KEYS = 0,      /* completions (or requeues) not counted: their new
                                        * key could not be added (map full; or no memory, or
                                        * a bucket lock not taken: a no-prealloc map can meet
                                        * both) */
        IOSTAT_OVERFLOW_TS = 1,        /* issue times not recorded: the start map insert failed */
        IOSTAT_OVERFLOW_UNSTAMPED = 2, /* completions without rq->io_start_time_ns: a queue
                                        * needs the issue program (the loader attaches it) */
        IOSTAT_OVERFLOW_MAX = 3,
};

struct iostat_key {
        __u32 dev;        /* kernel dev_t encoding: major << 20 | minor (whole disk) */
        __u32 op;         /* enum iostat_op */
        __u64 cgroup_id;  /* kernfs id of the blkcg's cgroup that issued the bio; 0: no bio */
};

struct iostat_value {
        __u64 bytes;       /* bytes completed */
        __u64 ios;         /* requests fully completed */
        __u64 requeued;    /* requests given back by the driver */
        __u64 lat_sum_ns;  /* sum of issue->complete latencies of timed completions */
        __u64 unstamped;   /* completions without rq->io_start_time_ns (timed by the hash, or
                            * untimed) */
        __u64 untimed;     /* completions without a known issue time (not in the histogram) */
        __u64 hist[IOSTAT_HIST_SLOTS];
};

/* Kernel REQ_OP_* numbers (include/linux/blk_types.h, stable since 4.10): the low 8 bits
 * of rq->cmd_flags. */
#define IOSTAT_REQ_OP_MASK 0xffU
#define IOSTAT_REQ_OP_READ 0U
#define IOSTAT_REQ_OP_WRITE 1U
#define IOSTAT_REQ_OP_FLUSH 2U
#define IOSTAT_REQ_OP_DISCARD 3U
#define IOSTAT_REQ_OP_SECURE_ERASE 5U

/* Classify a request like the kernel's io.stat does (discard, else write for odd ops, else read),
 * except that pure flushes get their own class. */
static inline __u32 iostat_op_from_cmd_flags(__u32 cmd_flags)
{
        __u32 op = cmd_flags & IOSTAT_REQ_OP_MASK;

        if (op == IOSTAT_REQ_OP_FLUSH)
                return IOSTAT_OP_FLUSH;
        if (op == IOSTAT_REQ_OP_DISCARD || op == IOSTAT_REQ_OP_SECURE_ERASE)
                return IOSTAT_OP_DISCARD;
        return (op & 1) ? IOSTAT_OP_WRITE : IOSTAT_OP_READ;
}

/* Kernel dev_t (MINORBITS 20) from a disk's major and first minor. */
static inline __u32 iostat_dev_encode(__u32 major, __u32 minor)
{
        return (major << 20) | (minor & 0xfffffU);
}
static inline __u32 iostat_dev_major(__u32 dev)
{
        return dev >> 20;
}
static inline __u32 iostat_dev_minor(__u32 dev)
{
        return dev & 0xfffffU;
}

/* log2 bucket of a latency in µs (see IOSTAT_HIST_SLOTS): a binary search over the bit
 * position, six fixed steps the compiler unrolls (no builtins the BPF target lacks). */
static inline __u32 iostat_hist_slot(__u64 us)
{
        __u32 slot = 0;

        for (__u32 shift = 32; shift > 0; shift >>= 1) {
                if (us >> shift) {
                        us >>= shift;
                        slot += shift;
                }
        }
        return slot < IOSTAT_HIST_SLOTS - 1 ? slot : IOSTAT_HIST_SLOTS - 1;
}
