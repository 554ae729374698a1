/* SPDX-License-Identifier: Apache-2.0 */
/* The per-thread I/O loop: one ring, registered file and buffers, batched submit and reap. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/uio.h>

#include <liburing.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/hash.h"
#include "common/macro.h"
#include "io/ratelimit.h"
#include "io/retry.h"
#include "io/ring.h"
#include "io/worker.h"

#define REAP_BATCH 64U

void io_blockperm_init(struct io_blockperm *p, uint64_t n, uint64_t seed)
{
        unsigned bits = 1;

        while (bits < 64 && (1ULL << bits) < n)
                bits++;
        *p = (struct io_blockperm){
                .n = n,
                .mask = bits >= 64 ? UINT64_MAX : (1ULL << bits) - 1,
                .shift = bits / 2 + 1,
                /* Hull-Dobell: c odd and a = 1 (mod 4) give the full period 2^bits. */
                .a = (hash_splitmix64(seed) & ~3ULL) | 1ULL,
                .c = hash_splitmix64(seed + 1) | 1ULL,
                .mul = hash_splitmix64(seed + 2) | 1ULL,
                .x = hash_splitmix64(seed + 3),
        };
        p->x &= p->mask;
}

/* The LCG's low bits are weak, so each state goes through x ^= x >> s; x *= odd; x ^= x >> s
 * (mod 2^k), a bijection: the composition still visits every value once per period. Values
 * >= n are skipped (at most half of the range). */
uint64_t io_blockperm_next(struct io_blockperm *p)
{
        for (;;) {
                uint64_t v;
                p->x = (p->a * p->x + p->c) & p->mask;
                v = p->x;
                v ^= v >> p->shift;
                v = (v * p->mul) & p->mask;
                v ^= v >> p->shift;
                if (v < p->n)
                        return v;
        }
}

static inline uint64_t rng_next(uint64_t *s)
{
        uint64_t x = *s;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *s = x;
        return x * 0x2545f4914f6cdd1dULL;
}

struct slot {
        uint64_t offset;
        uint64_t start_ns;
        uint32_t done;          /* bytes already moved by short transfers */
        uint16_t transient;     /* transient failures in a row (io/retry.h) */
        bool write;
};

struct loop_state {
        struct io_worker *w;
        struct io_uring *ring;
        uint8_t *bufs;
        struct slot *slots;
        uint32_t *free_stack;
        unsigned nfree;
        unsigned inflight;
        unsigned requeued;      /* resubmissions queued by complete(), not yet submitted */
        uint8_t sqe_flags;      /* IOSQE_FIXED_FILE, and IOSQE_ASYNC after a late -EAGAIN */
        uint64_t issued;
        uint64_t seq_block;
        struct io_blockperm perm;
        uint64_t rng;
        struct io_ratelimit rl;
};

static inline bool pick_write(struct loop_state *s)
{
        const struct io_pass *pass = s->w->pass;

        switch (pass->rw) {
        case IO_RW_WRITE:
        case IO_RW_RANDWRITE:
                return true;
        case IO_RW_RW:
        case IO_RW_RANDRW:
                return (rng_next(&s->rng) % 100U) >= pass->job->rwmixread;
        default:
                return false;
        }
}

static inline uint64_t pick_offset(struct loop_state *s)
{
        const struct io_pass *pass = s->w->pass;
        uint64_t blk;

        if (io_rw_is_random(pass->rw))
                blk = io_blockperm_next(&s->perm);
        else {
                blk = s->seq_block;
                if (++s->seq_block == pass->nblocks)
                        s->seq_block = 0;
        }
        return pass->region_offset + blk * pass->job->bs;
}

/* Fill an SQE for slot idx: the part of its block from sl->done on. */
static inline void prep_rw(struct loop_state *s, struct io_uring_sqe *sqe, unsigned idx)
{
        const struct io_pass *pass = s->w->pass;
        const struct io_job *job = pass->job;
        const struct slot *sl = &s->slots[idx];
        uint8_t *buf = s->bufs + (size_t)idx * job->bs + sl->done;
        uint32_t len = job->bs - sl->done;
        uint64_t off = sl->offset + sl->done;
        int fd = job->registerfiles ? 0 : pass->fd;

        if (job->fixedbufs) {
                if (sl->write)
                        io_uring_prep_write_fixed(sqe, fd, buf, len, off, (int)idx);
                else
                        io_uring_prep_read_fixed(sqe, fd, buf, len, off, (int)idx);
        } else {
                if (sl->write)
                        io_uring_prep_write(sqe, fd, buf, len, off);
                else
                        io_uring_prep_read(sqe, fd, buf, len, off);
        }
        sqe->flags |= s->sqe_flags;
        io_uring_sqe_set_data64(sqe, idx);
}

/* Queue as many I/Os as free slots, the byte budget and the rate allow. */
static unsigned fill(struct loop_state *s, uint64_t now)
{
        const struct io_pass *pass = s->w->pass;
        const struct io_job *job = pass->job;
        unsigned n = 0;

        while (s->nfree && (!pass->ios_per_job || s->issued < pass->ios_per_job)) {
                struct io_uring_sqe *sqe;
                unsigned idx;
                uint8_t *buf;
                uint64_t off;
                bool wr;

                if (job->rate_bps && !io_ratelimit_take(&s->rl, job->bs, now))
                        break;
                sqe = io_uring_get_sqe(s->ring);
                if (!sqe)
                        break;
                idx = s->free_stack[--s->nfree];
                wr = pick_write(s);
                off = pick_offset(s);
                buf = s->bufs + (size_t)idx * job->bs;
                if (wr && pass->stamp)
                        io_verify_fill(buf, job->bs, off, job->seed);

                s->slots[idx] = (struct slot){ .offset = off, .start_ns = now, .write = wr };
                prep_rw(s, sqe, idx);
                s->issued++;
                s->inflight++;
                n++;
        }
        return n;
}

static void fail_io(struct loop_state *s, unsigned idx, int res, bool *stop)
{
        struct io_worker *w = s->w;
        const struct slot *sl = &s->slots[idx];

        s->free_stack[s->nfree++] = idx;
        s->inflight--;
        if (!w->io_error) {
                w->io_error = res < 0 ? res : -EIO;
                w->io_error_short = res >= 0;
                w->io_error_offset = sl->offset + sl->done;
        }
        *stop = true;
}

/* The slow path of complete(): a completion that did not move the whole remainder. A
 * transient error or a short transfer is not an I/O error (io/retry.h says which errors are
 * transient and why): the rest of the block goes back to the kernel at the same offset and
 * buffer position, keeps its slot and its start time (the latency covers the retries), and is
 * counted in the worker's retries so a run shows how often it happened. Otherwise the slot is
 * released (failed, or dropped while the run drains). Returns true when the I/O was resubmitted. */
static bool retry_io(struct loop_state *s, unsigned idx, int res, bool *stop)
{
        struct io_worker *w = s->w;
        struct slot *sl = &s->slots[idx];
        uint32_t left = w->pass->job->bs - sl->done;
        struct io_uring_sqe *sqe;

        switch (io_cqe_classify(res, left)) {
        case IO_CQE_CONTINUE:
                sl->done += (uint32_t)res;
                sl->transient = 0;
                w->retries.short_io++;
                break;
        case IO_CQE_RESUBMIT:
                if (++sl->transient > IO_RETRY_MAX_TRANSIENT) {
                        fail_io(s, idx, res, stop);
                        return false;
                }
                if (res == -EAGAIN) {
                        /* The NOWAIT attempt failed after the kernel had let it go (io.max
                         * throttling dispatches held bios later, and then a full tag set
                         * bounces them). From now on this ring issues every I/O from an
                         * io-wq worker (IOSQE_ASYNC): a blocking issue sends no REQ_NOWAIT
                         * bio, so the bios wait for a tag instead of bouncing, and the
                         * throttle, which charged each bounced bio's bytes, stops charging
                         * bytes that were never moved. Without such an -EAGAIN the inline
                         * issue stays: the flag costs nothing until then. */
                        s->sqe_flags |= IOSQE_ASYNC;
                        w->retries.eagain++;
                } else if (res == -EINTR)
                        w->retries.eintr++;
                else
                        w->retries.ecanceled++;
                break;
        default:
                fail_io(s, idx, res, stop);
                return false;
        }
        /* A draining run (deadline, cancel, another I/O failed) does not chase the rest. */
        if (*stop) {
                s->free_stack[s->nfree++] = idx;
                s->inflight--;
                return false;
        }
        sqe = io_uring_get_sqe(s->ring);
        if (!sqe) {
                /* Cannot happen while slots <= SQ entries and fill() runs after reaping, but
                 * never spin on it: flush what is queued and take the freed entry. */
                (void)io_uring_submit(s->ring);
                sqe = io_uring_get_sqe(s->ring);
                if (!sqe) {
                        fail_io(s, idx, -EBUSY, stop);
                        return false;
                }
        }
        prep_rw(s, sqe, idx);
        s->requeued++;
        return true;
}

static void complete(struct loop_state *s, const struct io_uring_cqe *cqe, uint64_t now,
                     bool *stop)
{
        struct io_worker *w = s->w;
        const struct io_pass *pass = w->pass;
        uint32_t bs = pass->job->bs;
        unsigned idx = (unsigned)io_uring_cqe_get_data64(cqe);
        struct slot *sl = &s->slots[idx];
        struct io_dir_stats *d = sl->write ? &w->write : &w->read;

        /* Hot path: one compare. Anything else (short, -EAGAIN, errors) goes to retry_io(). */
        if (__builtin_expect(cqe->res != (int)(bs - sl->done), 0)) {
                retry_io(s, idx, cqe->res, stop);
                return;
        }
        s->free_stack[s->nfree++] = idx;
        s->inflight--;
        d->ios++;
        d->bytes += bs;
        io_hist_add(&d->lat, now - sl->start_ns);

        if (pass->check && !sl->write) {
                struct io_verify_detail det;
                enum io_verify_status st =
                        io_verify_check(s->bufs + (size_t)idx * bs, bs, sl->offset,
                                        pass->job->seed, &det);
                w->verify.blocks_checked++;
                if (st != IO_VERIFY_OK) {
                        if (w->verify.blocks_bad == 0 || sl->offset < w->verify.first_bad_offset) {
                                w->verify.first_bad_offset = sl->offset;
                                w->verify.first_status = st;
                                w->verify.first_detail = det;
                        }
                        w->verify.blocks_bad++;
                }
        }
}

/* Submit what fill() queued and wait for at least one completion in the same io_uring_enter
 * (GETEVENTS, which DEFER_TASKRUN needs to run completions at all), then reap everything
 * visible in one batch and advance the CQ once. */
static int run_loop(struct loop_state *s)
{
        struct io_worker *w = s->w;
        const struct io_pass *pass = w->pass;
        uint64_t now = clock_now_nsec(CLOCK_MONOTONIC);
        uint64_t deadline = pass->runtime_ns ? now + pass->runtime_ns : UINT64_MAX;
        bool stop = false;

        w->start_ns = now;
        if (pass->job->rate_bps)
                io_ratelimit_init(&s->rl, pass->job->rate_bps, 0, pass->job->bs, now);

        for (;;) {
                struct io_uring_cqe *cqes[REAP_BATCH];
                unsigned queued = 0, got;
                int r;

                /* Fresh stamp: completion handling (verify checksums) since the last clock
                 * read must not count as the next I/Os' latency. */
                if (!stop) {
                        now = clock_now_nsec(CLOCK_MONOTONIC);
                        queued = fill(s, now);
                }
                if (s->inflight == 0) {
                        if (stop || (pass->ios_per_job && s->issued >= pass->ios_per_job))
                                break;
                        /* Nothing in flight and no tokens: sleep until the bucket refills. */
                        uint64_t wait = io_ratelimit_wait_ns(&s->rl, pass->job->bs, now);
                        if (now + wait > deadline)
                                break;
                        struct timespec ts = { .tv_sec = (time_t)(wait / 1000000000ULL),
                                               .tv_nsec = (long)(wait % 1000000000ULL) };
                        nanosleep(&ts, NULL);
                        now = clock_now_nsec(CLOCK_MONOTONIC);
                        if (now >= deadline || atomic_load_explicit(&pass->abort, memory_order_relaxed) ||
                            (pass->job->cancel && atomic_load_explicit(pass->job->cancel, memory_order_relaxed)))
                                break;
                        continue;
                }
                if (queued || s->requeued || io_uring_cq_ready(s->ring) == 0) {
                        s->requeued = 0;
                        r = io_uring_submit_and_wait(s->ring, 1);
                        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
                                return r;
                }
                got = io_uring_peek_batch_cqe(s->ring, cqes, REAP_BATCH);
                now = clock_now_nsec(CLOCK_MONOTONIC);
                for (unsigned i = 0; i < got; i++)
                        complete(s, cqes[i], now, &stop);
                io_uring_cq_advance(s->ring, got);
                if (now >= deadline || atomic_load_explicit(&pass->abort, memory_order_relaxed) ||
                    (pass->job->cancel && atomic_load_explicit(pass->job->cancel, memory_order_relaxed)))
                        stop = true;
        }
        w->end_ns = clock_now_nsec(CLOCK_MONOTONIC);
        return 0;
}

static int pin_cpu(struct io_worker *w)
{
        const struct io_job *job = w->pass->job;
        cpu_set_t set;
        unsigned cpu;
        int r;

        if (!job->ncpus)
                return 0;
        cpu = job->cpus[w->index % job->ncpus];
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        r = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
        if (r)
                return error_set(&w->error, -r, "--cpus-allowed: cannot pin job %u to CPU %u: %s",
                                 w->index, cpu, strerror(r));
        return 0;
}

static double tv_sec(struct timeval tv)
{
        return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* The job's I/O buffers (filled with incompressible data, registered with --fixedbufs), the
 * slots of the I/Os in flight and the stack of free slots, into s; freed by the caller. */
static int buffers_setup(struct io_worker *w, struct io_uring *ring, struct loop_state *s)
{
        const struct io_job *job = w->pass->job;
        size_t len = (size_t)job->iodepth * job->bs;
        _cleanup_free_ struct iovec *iov = NULL;
        int r;

        r = posix_memalign((void **)&s->bufs, 4096, len);
        if (r)
                return error_set(&w->error, -r, "allocating %u buffers of %u bytes: %s",
                                 job->iodepth, job->bs, strerror(r));
        /* Non-zero, incompressible data for plain writes; verify writes overwrite it. */
        s->rng = hash_splitmix64(job->seed ^ (0x1000ULL + w->index)) | 1;
        for (size_t i = 0; i + 8 <= len; i += 8) {
                uint64_t v = rng_next(&s->rng);
                memcpy(s->bufs + i, &v, 8);
        }
        if (job->fixedbufs) {
                iov = calloc(job->iodepth, sizeof(*iov));
                if (!iov)
                        return error_set(&w->error, -ENOMEM, "out of memory");
                for (unsigned i = 0; i < job->iodepth; i++)
                        iov[i] = (struct iovec){ s->bufs + (size_t)i * job->bs, job->bs };
                r = io_uring_register_buffers(ring, iov, job->iodepth);
                if (r < 0)
                        return error_set(&w->error, r,
                                         "registering %u buffers of %u bytes failed: %s (raise "
                                         "RLIMIT_MEMLOCK or try --fixedbufs 0)",
                                         job->iodepth, job->bs, strerror(-r));
        }
        s->slots = calloc(job->iodepth, sizeof(*s->slots));
        s->free_stack = calloc(job->iodepth, sizeof(*s->free_stack));
        if (!s->slots || !s->free_stack)
                return error_set(&w->error, -ENOMEM, "out of memory");
        for (unsigned i = 0; i < job->iodepth; i++)
                s->free_stack[i] = job->iodepth - 1 - i;
        s->nfree = job->iodepth;
        return 0;
}

void *io_worker_main(void *arg)
{
        struct io_worker *w = arg;
        struct io_pass *pass = w->pass;
        const struct io_job *job = pass->job;
        struct io_uring ring;
        bool ring_ok = false;
        struct loop_state s = {};
        struct rusage ru0, ru1;
        unsigned entries = 1;
        int r;

        io_hist_init(&w->read.lat);
        io_hist_init(&w->write.lat);

        r = pin_cpu(w);
        if (r < 0)
                goto fail;

        while (entries < job->iodepth)
                entries <<= 1;
        r = io_ring_setup(&ring, &(struct io_ring_opts){
                                         .entries = entries,
                                         .sqpoll = job->sqpoll,
                                         .iopoll = job->hipri,
                                 });
        if (r < 0) {
                error_set(&w->error, r, "io_uring setup (%u entries%s%s) failed: %s", entries,
                          job->sqpoll ? ", SQPOLL" : "", job->hipri ? ", IOPOLL" : "",
                          strerror(-r));
                goto fail;
        }
        ring_ok = true;
        w->ring_flags = ring.flags;

        if (job->registerfiles) {
                r = io_uring_register_files(&ring, &pass->fd, 1);
                if (r < 0) {
                        error_set(&w->error, r,
                                  "registering the file failed: %s (try --registerfiles 0)",
                                  strerror(-r));
                        goto fail;
                }
        }

        r = buffers_setup(w, &ring, &s);
        if (r < 0)
                goto fail;

        s.w = w;
        s.ring = &ring;
        s.sqe_flags = job->registerfiles ? IOSQE_FIXED_FILE : 0;
        io_blockperm_init(&s.perm, pass->nblocks, job->seed + w->index);

        pthread_barrier_wait(&pass->barrier);
        if (atomic_load(&pass->abort))
                goto out;

        getrusage(RUSAGE_THREAD, &ru0);
        r = run_loop(&s);
        getrusage(RUSAGE_THREAD, &ru1);
        w->cpu_user_sec = tv_sec(ru1.ru_utime) - tv_sec(ru0.ru_utime);
        w->cpu_sys_sec = tv_sec(ru1.ru_stime) - tv_sec(ru0.ru_stime);
        if (r < 0 && !w->io_error) {
                w->io_error = r;
                w->io_error_offset = UINT64_MAX;
        }
        goto out;

fail:
        w->setup_error = r < 0 ? r : -EIO;
        atomic_store(&pass->abort, true);
        pthread_barrier_wait(&pass->barrier);
out:
        free(s.bufs);
        free(s.slots);
        free(s.free_stack);
        if (ring_ok) {
                /* Ring teardown is asynchronous in the kernel; unregistering first drops the
                 * ring's file reference now, so an O_EXCL device claim ends with the job. */
                if (job->registerfiles)
                        (void)io_uring_unregister_files(&ring);
                io_uring_queue_exit(&ring);
        }
        return NULL;
}
