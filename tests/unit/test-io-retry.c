/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the completion classifier (resubmit, continue, fail) and the retry counters
 * in silo-io's JSON and text reports. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "io/engine.h"
#include "io/report.h"
#include "io/retry.h"

static void test_done(void **state)
{
        (void)state;
        assert_int_equal(io_cqe_classify(65536, 65536), IO_CQE_DONE);
        assert_int_equal(io_cqe_classify(4096, 4096), IO_CQE_DONE);
        /* The last piece of a block continued after a short transfer. */
        assert_int_equal(io_cqe_classify(512, 512), IO_CQE_DONE);
}

static void test_short_continues(void **state)
{
        (void)state;
        assert_int_equal(io_cqe_classify(1, 65536), IO_CQE_CONTINUE);
        assert_int_equal(io_cqe_classify(4096, 65536), IO_CQE_CONTINUE);
        assert_int_equal(io_cqe_classify(65535, 65536), IO_CQE_CONTINUE);
}

static void test_transient_resubmits(void **state)
{
        (void)state;
        assert_int_equal(io_cqe_classify(-EAGAIN, 4096), IO_CQE_RESUBMIT);
        assert_int_equal(io_cqe_classify(-EINTR, 4096), IO_CQE_RESUBMIT);
        assert_int_equal(io_cqe_classify(-ECANCELED, 4096), IO_CQE_RESUBMIT);
        assert_true(io_cqe_is_transient(-EWOULDBLOCK)); /* the same value on Linux */
}

static void test_fail(void **state)
{
        (void)state;
        /* Nothing moved and no error: end of file or device, retrying cannot progress. */
        assert_int_equal(io_cqe_classify(0, 4096), IO_CQE_FAIL);
        /* More than asked is nonsense, never "done". */
        assert_int_equal(io_cqe_classify(8192, 4096), IO_CQE_FAIL);
        static const int errs[] = { -EIO, -ENOSPC, -EINVAL, -EOPNOTSUPP, -EBADF, -EFAULT,
                                    -ENXIO, -EROFS, -EPERM, -EBUSY };
        for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
                assert_false(io_cqe_is_transient(errs[i]));
                assert_int_equal(io_cqe_classify(errs[i], 4096), IO_CQE_FAIL);
        }
}

/* The worker's bookkeeping for one 64 KiB block, driven by a scripted series of completion
 * results: each result applies to the remainder, offsets advance by what moved. */
static void test_sequence(void **state)
{
        static const int script[] = { -EAGAIN, 16384, -EINTR, 4096, -EAGAIN, 45056 };
        const uint32_t bs = 65536;
        uint32_t done = 0, resubmits = 0, continues = 0;
        uint64_t offsets[8];
        size_t n = 0;
        (void)state;

        offsets[n++] = 1 << 20;
        for (size_t i = 0; i < sizeof(script) / sizeof(script[0]); i++) {
                enum io_cqe_action a = io_cqe_classify(script[i], bs - done);
                if (i + 1 == sizeof(script) / sizeof(script[0])) {
                        assert_int_equal(a, IO_CQE_DONE);
                        break;
                }
                if (a == IO_CQE_CONTINUE) {
                        done += (uint32_t)script[i];
                        continues++;
                } else {
                        assert_int_equal(a, IO_CQE_RESUBMIT);
                        resubmits++;
                }
                offsets[n++] = (1 << 20) + done;
        }
        assert_int_equal(done + 45056, bs);
        assert_int_equal(resubmits, 3);
        assert_int_equal(continues, 2);
        /* A transient error resubmits the same remainder; a short one moves past it. */
        assert_int_equal(offsets[1], 1 << 20);
        assert_int_equal(offsets[2], (1 << 20) + 16384);
        assert_int_equal(offsets[3], (1 << 20) + 16384);
        assert_int_equal(offsets[4], (1 << 20) + 20480);
        assert_int_equal(offsets[5], (1 << 20) + 20480);
}

static void test_report(void **state)
{
        struct io_job job = { .filename = "/dev/nullb0", .rw = IO_RW_WRITE, .bs = 65536,
                              .iodepth = 8, .numjobs = 1 };
        struct io_result *res = calloc(1, sizeof(*res));
        json_t *j, *r;
        char *text = NULL;
        (void)state;

        assert_non_null(res);
        io_hist_init(&res->read.lat);
        io_hist_init(&res->write.lat);
        res->elapsed_ns = 1000000000ULL;
        res->write.ios = 256;
        res->write.bytes = 256ULL * 65536;

        /* Zeros are reported too: scripts rely on the key being there. */
        j = io_result_to_json(&job, res);
        assert_non_null(j);
        r = json_object_get(j, "retries");
        assert_non_null(r);
        assert_int_equal(json_integer_value(json_object_get(r, "total")), 0);
        json_decref(j);
        assert_int_equal(io_result_format(&job, res, &text), 0);
        assert_null(strstr(text, "retry:"));
        free(text);

        res->retries = (struct io_retry_stats){ .eagain = 5, .eintr = 1, .ecanceled = 2,
                                                .short_io = 3 };
        assert_int_equal(io_retry_stats_total(&res->retries), 11);
        j = io_result_to_json(&job, res);
        assert_non_null(j);
        r = json_object_get(j, "retries");
        assert_int_equal(json_integer_value(json_object_get(r, "total")), 11);
        assert_int_equal(json_integer_value(json_object_get(r, "eagain")), 5);
        assert_int_equal(json_integer_value(json_object_get(r, "eintr")), 1);
        assert_int_equal(json_integer_value(json_object_get(r, "ecanceled")), 2);
        assert_int_equal(json_integer_value(json_object_get(r, "short")), 3);
        assert_false(json_object_get(j, "error"));
        json_decref(j);
        assert_int_equal(io_result_format(&job, res, &text), 0);
        assert_non_null(strstr(text, "retry: 11 resubmitted (EAGAIN=5 EINTR=1 ECANCELED=2 short=3)"));
        free(text);
        free(res);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_done),
                cmocka_unit_test(test_short_continues),
                cmocka_unit_test(test_transient_resubmits),
                cmocka_unit_test(test_fail),
                cmocka_unit_test(test_sequence),
                cmocka_unit_test(test_report),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
