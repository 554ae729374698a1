/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for result reporting: JSON rates and percentiles from a hand-made result, verify
 * and error sections, the human text, ring flag names and calibration JSON. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "io/calibrate.h"
#include "io/report.h"
#include "io/ring.h"

static struct io_result *result_new(void)
{
        struct io_result *r = calloc(1, sizeof(*r));
        assert_non_null(r);
        io_hist_init(&r->read.lat);
        io_hist_init(&r->write.lat);
        return r;
}

static double num(json_t *root, const char *a, const char *b, const char *c)
{
        json_t *j = json_object_get(root, a);
        if (b)
                j = json_object_get(j, b);
        if (c)
                j = json_object_get(j, c);
        assert_non_null(j);
        return json_number_value(j);
}

static void test_json_rates_and_latency(void **state)
{
        _cleanup_free_ struct io_result *r = result_new();
        struct io_job job;
        json_t *j;
        (void)state;

        io_job_init(&job);
        job.filename = "/dev/test";
        job.rw = IO_RW_RANDRW;
        /* 2 s: 1000 reads of 4 KiB at 10 µs (999) and 1 at 1 ms; 500 writes at 20 µs */
        r->elapsed_ns = 2000000000ULL;
        r->read.ios = 1000;
        r->read.bytes = 1000 * 4096;
        for (int i = 0; i < 999; i++)
                io_hist_add(&r->read.lat, 10000);
        io_hist_add(&r->read.lat, 1000000);
        r->write.ios = 500;
        r->write.bytes = 500 * 4096;
        for (int i = 0; i < 500; i++)
                io_hist_add(&r->write.lat, 20000);
        r->cpu_user_sec = 0.25;
        r->cpu_sys_sec = 1.5;
        r->ring_flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER;

        j = io_result_to_json(&job, r);
        assert_non_null(j);
        assert_float_equal(num(j, "read", "iops", NULL), 500.0, 1e-9);
        assert_float_equal(num(j, "read", "bw_bytes", NULL), 2048000.0, 1e-6);
        assert_float_equal(num(j, "write", "iops", NULL), 250.0, 1e-9);
        assert_float_equal(num(j, "total", "iops", NULL), 750.0, 1e-9);
        assert_float_equal(num(j, "total", "bytes", NULL), 1500.0 * 4096, 1e-6);
        /* 10 µs sits in a bucket of width 256 ns: reported within 2% */
        assert_float_equal(num(j, "read", "lat_us", "p50"), 10.0, 0.2);
        assert_float_equal(num(j, "read", "lat_us", "p99"), 10.0, 0.2);
        assert_float_equal(num(j, "read", "lat_us", "p99.9"), 10.0, 0.2);
        assert_float_equal(num(j, "read", "lat_us", "max"), 1000.0, 1e-9);
        assert_float_equal(num(j, "read", "lat_us", "min"), 10.0, 1e-9);
        assert_float_equal(num(j, "write", "lat_us", "p50"), 20.0, 0.4);
        /* combined: 1500 samples, p50 is a read (10 µs), p99 a write (20 µs) */
        assert_float_equal(num(j, "lat_us", "p50", NULL), 10.0, 0.2);
        assert_float_equal(num(j, "lat_us", "p99", NULL), 20.0, 0.4);
        assert_float_equal(num(j, "cpu", "user_sec", NULL), 0.25, 1e-9);
        assert_float_equal(num(j, "cpu", "sys_sec", NULL), 1.5, 1e-9);
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "job"), "rw")), "randrw");
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "job"), "ring_flags")),
                            "COOP_TASKRUN|SINGLE_ISSUER");
        assert_null(json_object_get(j, "verify"));
        assert_null(json_object_get(j, "error"));
        json_decref(j);
}

static void test_json_verify_and_error(void **state)
{
        _cleanup_free_ struct io_result *r = result_new();
        _cleanup_free_ char *text = NULL, *d = NULL;
        struct io_job job;
        json_t *j, *v, *e;
        (void)state;

        io_job_init(&job);
        job.filename = "/dev/test";
        job.rw = IO_RW_WRITE;
        r->elapsed_ns = 3000000000ULL;
        r->write_pass_ns = 1000000000ULL;      /* writes in 1 s, reads in 2 s */
        r->write.ios = 100;
        r->read.ios = 100;
        r->verified = true;
        r->verify = (struct io_verify_report){
                .blocks_checked = 100,
                .blocks_bad = 2,
                .first_bad_offset = 8192,
                .first_status = IO_VERIFY_BAD_SEED,
                .first_detail = { 7, 9 },
        };
        r->io_error = -EIO;
        r->io_error_offset = 12288;

        j = io_result_to_json(&job, r);
        assert_non_null(j);
        assert_float_equal(num(j, "write", "iops", NULL), 100.0, 1e-9);
        assert_float_equal(num(j, "read", "iops", NULL), 50.0, 1e-9);
        v = json_object_get(j, "verify");
        assert_non_null(v);
        assert_false(json_is_true(json_object_get(v, "ok")));
        assert_int_equal(json_integer_value(json_object_get(v, "first_bad_offset")), 8192);
        assert_int_equal(json_integer_value(json_object_get(v, "blocks_bad")), 2);
        assert_string_equal(json_string_value(json_object_get(v, "reason")), "wrong seed");
        assert_int_equal(json_integer_value(json_object_get(v, "expected")), 7);
        assert_int_equal(json_integer_value(json_object_get(v, "found")), 9);
        e = json_object_get(j, "error");
        assert_non_null(e);
        assert_int_equal(json_integer_value(json_object_get(e, "errno")), EIO);
        assert_int_equal(json_integer_value(json_object_get(e, "offset")), 12288);
        json_decref(j);

        assert_int_equal(io_verify_describe(&r->verify, &d), 0);
        assert_string_equal(d, "offset 8192: wrong seed (expected 7, found 9)");
        assert_int_equal(io_result_format(&job, r, &text), 0);
        assert_non_null(strstr(text, "verify: FAILED at offset 8192: wrong seed"));
        assert_non_null(strstr(text, "2 of 100 blocks bad"));
        assert_non_null(strstr(text, "I/O at offset 12288 failed"));
}

static void test_ring_flag_names(void **state)
{
        char buf[128];
        (void)state;
        assert_string_equal(io_ring_flags_to_string(0, buf, sizeof(buf)), "none");
        assert_string_equal(io_ring_flags_to_string(IORING_SETUP_IOPOLL | IORING_SETUP_SQPOLL, buf,
                                                    sizeof(buf)), "IOPOLL|SQPOLL");
        assert_string_equal(io_ring_flags_to_string(IORING_SETUP_COOP_TASKRUN |
                                                    IORING_SETUP_SINGLE_ISSUER |
                                                    IORING_SETUP_DEFER_TASKRUN, buf, sizeof(buf)),
                            "COOP_TASKRUN|SINGLE_ISSUER|DEFER_TASKRUN");
        /* truncation keeps whole names only */
        assert_string_equal(io_ring_flags_to_string(IORING_SETUP_IOPOLL | IORING_SETUP_SQPOLL, buf, 10),
                            "IOPOLL");
}

static void test_calibration_json(void **state)
{
        struct io_calibration c = {};
        json_t *j, *f;
        (void)state;

        snprintf(c.path, sizeof(c.path), "/dev/nvme0n1");
        snprintf(c.device, sizeof(c.device), "259:0");
        c.device_size = 1ULL << 40;
        c.read_bps = (struct io_calibration_figure){ .measured = true, .value = 3.2e9, .bs = 1 << 20,
                                                     .iodepth = 32, .seconds = 4.5, .direct = true,
                                                     .unwritten_data = true };
        snprintf(c.read_bps.method, sizeof(c.read_bps.method), "seqread");
        snprintf(c.read_bps.target, sizeof(c.read_bps.target), "/dev/nvme0n1");
        j = io_calibration_to_json(&c);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "device")), "259:0");
        f = json_object_get(j, "read_bps");
        assert_true(json_is_true(json_object_get(f, "measured")));
        assert_float_equal(json_real_value(json_object_get(f, "value")), 3.2e9, 1);
        assert_string_equal(json_string_value(json_object_get(f, "method")), "seqread");
        assert_int_equal(json_integer_value(json_object_get(f, "bs")), 1 << 20);
        assert_int_equal(json_integer_value(json_object_get(f, "iodepth")), 32);
        assert_true(json_is_true(json_object_get(f, "unwritten_data")));
        f = json_object_get(j, "write_iops");
        assert_false(json_is_true(json_object_get(f, "measured")));
        assert_null(json_object_get(f, "value"));
        json_decref(j);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_json_rates_and_latency),
                cmocka_unit_test(test_json_verify_and_error),
                cmocka_unit_test(test_ring_flag_names),
                cmocka_unit_test(test_calibration_json),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
