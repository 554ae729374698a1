/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the log-linear latency histogram: bucket mapping, bounds, merge, percentiles. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "io/histogram.h"

static void test_bucket_mapping(void **state)
{
        (void)state;
        /* exact below 64 */
        for (uint64_t v = 0; v < IO_HIST_LINEAR; v++) {
                assert_int_equal(io_hist_bucket_of(v), v);
                assert_int_equal(io_hist_bucket_low((unsigned)v), v);
                assert_int_equal(io_hist_bucket_high((unsigned)v), v);
        }
        /* 64..127 has buckets of width 2, 128..255 of width 4 */
        assert_int_equal(io_hist_bucket_of(64), 64);
        assert_int_equal(io_hist_bucket_of(65), 64);
        assert_int_equal(io_hist_bucket_of(66), 65);
        assert_int_equal(io_hist_bucket_of(127), 95);
        assert_int_equal(io_hist_bucket_of(128), 96);
        assert_int_equal(io_hist_bucket_low(96), 128);
        assert_int_equal(io_hist_bucket_high(96), 131);
        assert_int_equal(io_hist_bucket_of(UINT64_MAX), IO_HIST_BUCKETS - 1);
        assert_int_equal(io_hist_bucket_high(IO_HIST_BUCKETS - 1), UINT64_MAX);

        /* Every bucket is contiguous with the next, and every value maps into its bucket's
         * bounds with a relative width of at most 1/32. */
        for (unsigned i = 0; i + 1 < IO_HIST_BUCKETS; i++)
                assert_int_equal(io_hist_bucket_high(i) + 1, io_hist_bucket_low(i + 1));
        srand(42);
        for (int k = 0; k < 100000; k++) {
                uint64_t v = ((uint64_t)rand() << 33 ^ (uint64_t)rand() << 11 ^ (uint64_t)rand()) >>
                             (rand() % 60);
                unsigned b = io_hist_bucket_of(v);
                assert_true(io_hist_bucket_low(b) <= v);
                assert_true(v <= io_hist_bucket_high(b));
                if (v >= IO_HIST_LINEAR)
                        assert_true((io_hist_bucket_high(b) - io_hist_bucket_low(b) + 1) * 32 <=
                                    io_hist_bucket_low(b));
        }
}

static void test_percentiles_exact_range(void **state)
{
        struct io_hist h;
        (void)state;

        io_hist_init(&h);
        assert_int_equal(io_hist_percentile(&h, 50), 0);
        /* 1..50 are exact buckets: percentiles are exact ranks. */
        for (uint64_t v = 1; v <= 50; v++)
                io_hist_add(&h, v);
        assert_int_equal(h.count, 50);
        assert_int_equal(h.min, 1);
        assert_int_equal(h.max, 50);
        assert_int_equal(io_hist_percentile(&h, 50), 25);   /* rank ceil(25) */
        assert_int_equal(io_hist_percentile(&h, 99), 50);   /* rank ceil(49.5) = 50 */
        assert_int_equal(io_hist_percentile(&h, 2), 1);
        assert_int_equal(io_hist_percentile(&h, 2.1), 2);   /* rank ceil(1.05) = 2 */
        assert_int_equal(io_hist_percentile(&h, 100), 50);
        assert_int_equal(io_hist_percentile(&h, 0), 1);
        assert_true(io_hist_mean(&h) > 25.49 && io_hist_mean(&h) < 25.51);
}

static void test_percentiles_known_distribution(void **state)
{
        struct io_hist h;
        (void)state;

        /* 1000 samples: 990 at 50 µs, 9 at 2 ms, 1 at 40 ms. */
        io_hist_init(&h);
        for (int i = 0; i < 990; i++)
                io_hist_add(&h, 50000);
        for (int i = 0; i < 9; i++)
                io_hist_add(&h, 2000000);
        io_hist_add(&h, 40000000);

        uint64_t p50 = io_hist_percentile(&h, 50), p99 = io_hist_percentile(&h, 99);
        uint64_t p999 = io_hist_percentile(&h, 99.9), p9999 = io_hist_percentile(&h, 99.99);
        /* within the 1/32 bucket resolution of the true value */
        assert_true(p50 >= 50000 - 50000 / 32 && p50 <= 50000 + 50000 / 32);
        assert_true(p99 >= 50000 - 50000 / 32 && p99 <= 50000 + 50000 / 32); /* rank 990 */
        assert_true(p999 >= 2000000 - 2000000 / 32 && p999 <= 2000000 + 2000000 / 32);
        assert_int_equal(p9999, 40000000); /* clamped to max */
}

static void test_merge(void **state)
{
        struct io_hist a, b, c;
        (void)state;

        io_hist_init(&a);
        io_hist_init(&b);
        io_hist_init(&c);
        for (uint64_t v = 1; v <= 1000; v++) {
                io_hist_add(v % 2 ? &a : &b, v * 1000);
                io_hist_add(&c, v * 1000);
        }
        io_hist_merge(&a, &b);
        assert_int_equal(a.count, c.count);
        assert_int_equal(a.sum, c.sum);
        assert_int_equal(a.min, 1000);
        assert_int_equal(a.max, 1000000);
        for (double p = 1; p <= 100; p += 0.7)
                assert_int_equal(io_hist_percentile(&a, p), io_hist_percentile(&c, p));
        /* merging an empty histogram changes nothing (min stays) */
        io_hist_init(&b);
        io_hist_merge(&a, &b);
        assert_int_equal(a.min, 1000);
        assert_int_equal(a.count, 1000);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bucket_mapping),
                cmocka_unit_test(test_percentiles_exact_range),
                cmocka_unit_test(test_percentiles_known_distribution),
                cmocka_unit_test(test_merge),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
