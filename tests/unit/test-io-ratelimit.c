/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the token bucket: burst, refill, long-run rate without drift, wait times. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "io/ratelimit.h"

#define SEC 1000000000ULL

static void test_unlimited(void **state)
{
        struct io_ratelimit rl;
        (void)state;
        io_ratelimit_init(&rl, 0, 0, 4096, 0);
        for (int i = 0; i < 1000; i++)
                assert_true(io_ratelimit_take(&rl, 1 << 20, 0));
        assert_int_equal(io_ratelimit_wait_ns(&rl, 1 << 20, 0), 0);
}

static void test_burst_and_refill(void **state)
{
        struct io_ratelimit rl;
        (void)state;

        /* 1 MB/s, default burst = max(4096, 1e6/50 = 20000) = 20000 bytes */
        io_ratelimit_init(&rl, 1000000, 0, 4096, 0);
        assert_int_equal(rl.burst, 20000);
        for (int i = 0; i < 4; i++)
                assert_true(io_ratelimit_take(&rl, 4096, 0));
        assert_int_equal(rl.tokens, 20000 - 4 * 4096);
        assert_false(io_ratelimit_take(&rl, 4096, 0));
        /* need 4096 - 3616 = 480 bytes at 1 byte/µs: 480 µs */
        assert_int_equal(io_ratelimit_wait_ns(&rl, 4096, 0), 480000);
        assert_false(io_ratelimit_take(&rl, 4096, 479999));
        assert_true(io_ratelimit_take(&rl, 4096, 480000));
        assert_int_equal(rl.tokens, 0);
        /* refill caps at the burst */
        assert_true(io_ratelimit_take(&rl, 1, 10 * SEC));
        assert_int_equal(rl.tokens, 20000 - 1);
        /* an I/O larger than rate/50 still passes: burst is at least one I/O */
        io_ratelimit_init(&rl, 1000, 0, 1 << 20, 0);
        assert_int_equal(rl.burst, 1 << 20);
        assert_true(io_ratelimit_take(&rl, 1 << 20, 0));
}

/* Taking greedily every 37 µs for 10 s moves rate * 10 s (+ the initial burst), to the byte:
 * the fractional remainder is carried, not dropped. */
static void test_long_run_rate(void **state)
{
        struct io_ratelimit rl;
        uint64_t moved = 0;
        (void)state;

        io_ratelimit_init(&rl, 3333333, 1 << 20, 1, 0);
        assert_int_equal(rl.burst, 1 << 20);
        for (uint64_t t = 0; t <= 10 * SEC; t += 37000)
                while (io_ratelimit_take(&rl, 1, t))
                        moved++;
        /* expected: the initial burst + floor(3333333 * 9.999982), within a byte */
        uint64_t last = (10 * SEC / 37000) * 37000;
        uint64_t want = (1 << 20) + (uint64_t)((unsigned __int128)3333333 * last / SEC);
        assert_true(moved + 1 >= want && moved <= want);
}

static void test_wait_matches_take(void **state)
{
        struct io_ratelimit rl;
        (void)state;

        io_ratelimit_init(&rl, 7000000, 65536, 65536, 5 * SEC);
        assert_true(io_ratelimit_take(&rl, 65536, 5 * SEC));
        uint64_t w = io_ratelimit_wait_ns(&rl, 65536, 5 * SEC);
        assert_true(w > 0);
        assert_false(io_ratelimit_take(&rl, 65536, 5 * SEC + w - 1));
        assert_true(io_ratelimit_take(&rl, 65536, 5 * SEC + w));
        /* time going backwards never adds tokens */
        assert_false(io_ratelimit_take(&rl, 1000, SEC));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_unlimited),
                cmocka_unit_test(test_burst_and_refill),
                cmocka_unit_test(test_long_run_rate),
                cmocka_unit_test(test_wait_matches_take),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
