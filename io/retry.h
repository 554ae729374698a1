/* SPDX-License-Identifier: Apache-2.0 */
/* What to do with a read/write completion that did not move the whole remaining length:
 * resubmit (transient error), continue (short transfer), or fail. Pure, for the worker and
 * its unit test. */
#pragma once

#include <errno.h>
#include <stdint.h>

/* Transient failures of one I/O in a row (no byte moved in between) before it counts as
 * failed: a bound so a device that only ever answers -EAGAIN ends the run with that error
 * instead of spinning. Progress (a short transfer) resets the count. */
#define IO_RETRY_MAX_TRANSIENT 1000U

enum io_cqe_action {
        IO_CQE_DONE,        /* res == remaining: the I/O is complete */
        IO_CQE_CONTINUE,    /* 0 < res < remaining: resubmit the rest (offset, buffer += res) */
        IO_CQE_RESUBMIT,    /* transient error: resubmit the same remainder unchanged */
        IO_CQE_FAIL,        /* a real error, end of file/device (res == 0), or nonsense */
};

/* Which errors are transient for an io_uring read/write on a file or block device:
 *  -EAGAIN    io_uring issues O_DIRECT I/O with IOCB_NOWAIT (REQ_NOWAIT bios) first and
 *             resubmits an -EAGAIN itself only when it sees it at issue time, from the
 *             submitting task. A bio that blk-throttle (io.max) held back and dispatched later
 *             from its worker, or one that found no free tag, completes -EAGAIN in another
 *             context, and the kernel (6.1) hands that straight to the CQE. So does polled
 *             I/O (IOPOLL bios are always REQ_NOWAIT). Nothing was transferred: resubmit.
 *  -EINTR     a blocking issue in an io-wq worker interrupted by a signal (-ERESTARTSYS and
 *             friends are reported as -EINTR); nothing was transferred.
 *  -ECANCELED silo-io never cancels or links requests, so a cancellation comes from the
 *             kernel, e.g. io-wq could not start a worker thread (pids.max of the cgroup,
 *             RLIMIT_NPROC): the request was never issued.
 * Everything else (-EIO, -ENOSPC, -EINVAL, -EOPNOTSUPP, ...) is a verdict on the I/O. */
static inline int io_cqe_is_transient(int res)
{
        return res == -EAGAIN || res == -EINTR || res == -ECANCELED;
}

static inline enum io_cqe_action io_cqe_classify(int res, uint32_t remaining)
{
        if (res >= 0 && (uint32_t)res == remaining)
                return IO_CQE_DONE;
        if (res > 0 && (uint32_t)res < remaining)
                return IO_CQE_CONTINUE;
        if (io_cqe_is_transient(res))
                return IO_CQE_RESUBMIT;
        return IO_CQE_FAIL;
}
