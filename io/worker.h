/* SPDX-License-Identifier: Apache-2.0 */
/* Internal to the engine: one pass (write, read or verify) shared by its job threads, and the
 * per-thread worker that drives one ring. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "io/engine.h"

struct io_pass {
        const struct io_job *job;
        enum io_rw rw;              /* effective mode of this pass */
        bool stamp;                 /* writes carry verify headers */
        bool check;                 /* reads are verified */
        int fd;
        uint64_t region_offset;
        uint64_t nblocks;
        uint64_t ios_per_job;       /* 0: until runtime */
        uint64_t runtime_ns;        /* 0: until ios_per_job */
        pthread_barrier_t barrier;  /* all rings set up before anyone starts the clock */
        atomic_bool abort;
};

struct io_worker {
        struct io_pass *pass;
        unsigned index;

        struct io_dir_stats read;
        struct io_dir_stats write;
        struct io_verify_report verify;
        uint64_t start_ns;
        uint64_t end_ns;
        double cpu_user_sec;
        double cpu_sys_sec;
        unsigned ring_flags;
        struct io_retry_stats retries;

        int setup_error;            /* -errno, message in error */
        char *error;                /* malloc'ed by the worker thread; the caller frees it */
        int io_error;
        uint64_t io_error_offset;
        bool io_error_short;
};

/* Thread entry: sets up the ring, waits on the pass barrier, runs, records into the worker. */
void *io_worker_main(void *arg);

/* A permutation of [0, n): each block once per cycle, in an order scrambled by the seed. */
struct io_blockperm {
        uint64_t n;
        uint64_t mask;      /* 2^k - 1 >= n - 1 */
        unsigned shift;
        uint64_t a, c, mul; /* LCG x -> a*x + c (mod 2^k), full period; then a bijective scramble */
        uint64_t x;
};

void io_blockperm_init(struct io_blockperm *p, uint64_t n, uint64_t seed);
uint64_t io_blockperm_next(struct io_blockperm *p);
