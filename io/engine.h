/* SPDX-License-Identifier: Apache-2.0 */
/* The io_uring engine: run an io_job (threads, one ring each) and return its measured result. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/histogram.h"
#include "io/job.h"
#include "io/verify.h"

struct io_dir_stats {
        uint64_t ios;
        uint64_t bytes;
        struct io_hist lat;   /* submission to completion, ns */
};

struct io_verify_report {
        uint64_t blocks_checked;
        uint64_t blocks_bad;
        uint64_t first_bad_offset;          /* lowest bad offset, valid when blocks_bad > 0 */
        enum io_verify_status first_status;
        struct io_verify_detail first_detail;
};

/* Resubmissions the engine made instead of failing (io/retry.h says which and why). */
struct io_retry_stats {
        uint64_t eagain;            /* -EAGAIN completions resubmitted */
        uint64_t eintr;             /* -EINTR */
        uint64_t ecanceled;         /* -ECANCELED */
        uint64_t short_io;          /* short transfers continued for the remainder */
};

static inline uint64_t io_retry_stats_total(const struct io_retry_stats *r)
{
        return r->eagain + r->eintr + r->ecanceled + r->short_io;
}

struct io_result {
        struct io_dir_stats read;
        struct io_dir_stats write;
        uint64_t elapsed_ns;        /* first job start to last job end (verify: both passes) */
        uint64_t write_pass_ns;     /* --verify: time of the write pass */
        double cpu_user_sec;        /* summed over the job threads (RUSAGE_THREAD) */
        double cpu_sys_sec;
        unsigned ring_flags;        /* IORING_SETUP_* in use (from job 0) */
        bool direct;
        bool is_blockdev;
        uint64_t region_offset;
        uint64_t region_size;
        bool verified;              /* a verify pass ran; see verify */
        struct io_verify_report verify;
        struct io_retry_stats retries;
        int io_error;               /* first failed I/O: -errno (or -EIO for a short transfer) */
        uint64_t io_error_offset;
        bool io_error_short;        /* the failure was a short transfer, not an error code */
        bool cancelled;             /* job->cancel ended the run early */
};

/* Run `job`. Setup problems (bad target, refused write, ring or registration failure) return
 * -errno with *ret_error naming the cause; ret untouched. Once I/O started, the result is
 * returned (0) even if an I/O failed (io_error) or verify found bad blocks: callers check.
 * *ret is malloc'd; free() it. */
int io_job_run(const struct io_job *job, struct io_result **ret, char **ret_error);
