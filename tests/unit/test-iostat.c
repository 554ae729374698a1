/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the kernel-free parts of iostat: keys, op classes, buckets, percentiles, rates. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include <cmocka.h>

#include "iostat.h"

static void test_key_roundtrip(void **state)
{
        static const struct {
                unsigned major, minor;
        } devs[] = {{7, 0}, {8, 16}, {254, 0}, {259, 3}, {4095, 0xfffff}, {0, 0}};
        (void)state;

        for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++) {
                for (int op = 0; op < IOSTAT_OP_MAX; op++) {
                        struct iostat_key k;
                        dev_t dev;
                        uint64_t cg;
                        enum iostat_op o;

                        iostat_key_encode(makedev(devs[i].major, devs[i].minor),
                                          0x100000002ULL + i, op, &k);
                        /* The kernel's dev_t layout, which the BPF side builds itself. */
                        assert_int_equal(k.dev, (devs[i].major << 20) | devs[i].minor);
                        assert_int_equal(k.op, op);
                        assert_int_equal(iostat_key_decode(&k, &dev, &cg, &o), 0);
                        assert_int_equal(major(dev), devs[i].major);
                        assert_int_equal(minor(dev), devs[i].minor);
                        assert_true(cg == 0x100000002ULL + i);
                        assert_int_equal(o, op);
                }
        }
}

static void test_key_layout(void **state)
{
        struct iostat_key k;
        (void)state;

        /* Padding-free: the BPF map hashes all 16 bytes, so a hole would split keys. */
        assert_int_equal(sizeof(struct iostat_key), 16);
        assert_int_equal(offsetof(struct iostat_key, cgroup_id), 8);
        assert_int_equal(sizeof(struct iostat_value) % 8, 0);
        /* Encoding clears everything, even bytes a compiler might otherwise leave. */
        memset(&k, 0xaa, sizeof(k));
        iostat_key_encode(makedev(8, 0), 5, IOSTAT_OP_READ, &k);
        assert_int_equal(k.dev, 8U << 20);
        assert_true(k.cgroup_id == 5);
}

static void test_key_decode_rejects_bad_op(void **state)
{
        struct iostat_key k = {.dev = 1, .op = IOSTAT_OP_MAX, .cgroup_id = 1};
        dev_t dev = 42;
        uint64_t cg = 42;
        enum iostat_op o = IOSTAT_OP_WRITE;
        (void)state;

        assert_int_equal(iostat_key_decode(&k, &dev, &cg, &o), -EINVAL);
        /* Out-params untouched on failure. */
        assert_int_equal(dev, 42);
        assert_true(cg == 42);
        assert_int_equal(o, IOSTAT_OP_WRITE);
}

static void test_op_classes(void **state)
{
        (void)state;
        /* REQ_OP_* numbers from include/linux/blk_types.h, flags above bit 8 ignored. */
        assert_int_equal(iostat_op_from_cmd_flags(0), IOSTAT_OP_READ);
        assert_int_equal(iostat_op_from_cmd_flags(1), IOSTAT_OP_WRITE);
        assert_int_equal(iostat_op_from_cmd_flags(1 | (1U << 17)), IOSTAT_OP_WRITE); /* +FUA */
        assert_int_equal(iostat_op_from_cmd_flags(2), IOSTAT_OP_FLUSH);
        assert_int_equal(iostat_op_from_cmd_flags(3), IOSTAT_OP_DISCARD);
        assert_int_equal(iostat_op_from_cmd_flags(5), IOSTAT_OP_DISCARD);  /* secure erase */
        assert_int_equal(iostat_op_from_cmd_flags(9), IOSTAT_OP_WRITE);    /* write zeroes */
        assert_int_equal(iostat_op_from_cmd_flags(34), IOSTAT_OP_READ);    /* drv in */
        assert_int_equal(iostat_op_from_cmd_flags(35), IOSTAT_OP_WRITE);   /* drv out */
        assert_string_equal(iostat_op_to_string(IOSTAT_OP_DISCARD), "discard");
        assert_null(iostat_op_to_string(IOSTAT_OP_MAX));
        assert_int_equal(iostat_op_from_string("flush"), IOSTAT_OP_FLUSH);
        assert_int_equal(iostat_op_from_string("trim"), -EINVAL);
        assert_int_equal(iostat_op_from_string(NULL), -EINVAL);
}

static void test_hist_slots(void **state)
{
        (void)state;
        assert_int_equal(iostat_hist_slot(0), 0);
        assert_int_equal(iostat_hist_slot(1), 0);
        assert_int_equal(iostat_hist_slot(2), 1);
        assert_int_equal(iostat_hist_slot(3), 1);
        assert_int_equal(iostat_hist_slot(4), 2);
        assert_int_equal(iostat_hist_slot(1023), 9);
        assert_int_equal(iostat_hist_slot(1024), 10);
        for (unsigned i = 1; i < IOSTAT_HIST_SLOTS - 1; i++) {
                assert_int_equal(iostat_hist_slot(1ULL << i), i);
                assert_int_equal(iostat_hist_slot((1ULL << (i + 1)) - 1), i);
        }
        /* Everything from 2^(SLOTS-1) µs up, to the largest u64, lands in the last slot. */
        assert_int_equal(iostat_hist_slot(1ULL << (IOSTAT_HIST_SLOTS - 1)), IOSTAT_HIST_SLOTS - 1);
        assert_int_equal(iostat_hist_slot(1ULL << 40), IOSTAT_HIST_SLOTS - 1);
        assert_int_equal(iostat_hist_slot(UINT64_MAX), IOSTAT_HIST_SLOTS - 1);
}

static void test_percentile_single_bucket(void **state)
{
        uint64_t h[IOSTAT_HIST_SLOTS] = {};
        double v;
        (void)state;

        /* 100 samples in [64, 128): the k-th sits at 64 + 64 * k / 100. */
        h[6] = 100;
        assert_int_equal(iostat_hist_percentile(h, 0.5, &v), 0);
        assert_true(fabs(v - 96.0) < 1e-9);
        assert_int_equal(iostat_hist_percentile(h, 0.99, &v), 0);
        assert_true(fabs(v - (64.0 + 64.0 * 0.99)) < 1e-9);
        assert_int_equal(iostat_hist_percentile(h, 1.0, &v), 0);
        assert_true(fabs(v - 128.0) < 1e-9);
        assert_int_equal(iostat_hist_percentile(h, 0.0, &v), 0);
        assert_true(fabs(v - 64.64) < 1e-9);
}

static void test_percentile_spread(void **state)
{
        uint64_t h[IOSTAT_HIST_SLOTS] = {};
        double p50, p90, p99, p999;
        (void)state;

        /* 900 fast ([0,2) µs), 90 at [16,32), 9 at [1024,2048), 1 in the open last slot. */
        h[0] = 900;
        h[4] = 90;
        h[10] = 9;
        h[IOSTAT_HIST_SLOTS - 1] = 1;
        assert_int_equal(iostat_hist_percentile(h, 0.50, &p50), 0);
        assert_int_equal(iostat_hist_percentile(h, 0.90, &p90), 0);
        assert_int_equal(iostat_hist_percentile(h, 0.99, &p99), 0);
        assert_int_equal(iostat_hist_percentile(h, 0.999, &p999), 0);
        assert_true(p50 >= 0 && p50 < 2);
        assert_true(fabs(p50 - 2.0 * 500 / 900) < 1e-9);
        assert_true(fabs(p90 - 2.0) < 1e-9);         /* the 900th sample: top of slot 0 */
        assert_true(fabs(p99 - 32.0) < 1e-9);        /* the 990th: top of slot 4 */
        assert_true(fabs(p999 - 2048.0) < 1e-9);     /* the 999th: top of slot 10 */
        assert_true(p50 <= p90 && p90 <= p99 && p99 <= p999);
        double p100;
        assert_int_equal(iostat_hist_percentile(h, 1.0, &p100), 0);
        assert_true(p100 > (double)(1ULL << (IOSTAT_HIST_SLOTS - 1)));
}

static void test_percentile_errors(void **state)
{
        uint64_t h[IOSTAT_HIST_SLOTS] = {};
        double v = 7.0;
        (void)state;

        assert_int_equal(iostat_hist_percentile(h, 0.5, &v), -ENODATA);
        h[3] = 1;
        assert_int_equal(iostat_hist_percentile(h, -0.1, &v), -EINVAL);
        assert_int_equal(iostat_hist_percentile(h, 1.5, &v), -EINVAL);
        assert_int_equal(iostat_hist_percentile(h, NAN, &v), -EINVAL);
        assert_true(v == 7.0);
}

static void test_percentile_monotonic(void **state)
{
        uint64_t h[IOSTAT_HIST_SLOTS];
        (void)state;

        srand(4);
        for (int round = 0; round < 200; round++) {
                double last = -1.0;

                for (unsigned i = 0; i < IOSTAT_HIST_SLOTS; i++)
                        h[i] = (rand() % 3 == 0) ? (uint64_t)(rand() % 1000) : 0;
                h[rand() % IOSTAT_HIST_SLOTS] += 1;
                for (double q = 0.0; q <= 1.0; q += 0.001) {
                        double v;

                        assert_int_equal(iostat_hist_percentile(h, q, &v), 0);
                        assert_true(v >= last);
                        last = v;
                }
        }
}

static struct iostat_stat stat_make(uint64_t bytes, uint64_t ios, uint64_t lat_us_each,
                                    unsigned slot)
{
        struct iostat_stat s = {.bytes = bytes, .ios = ios,
                                .lat_sum_ns = ios * lat_us_each * 1000};

        s.hist[slot] = ios;
        return s;
}

static void test_rate_basic(void **state)
{
        struct iostat_stat a = stat_make(1 << 20, 256, 100, 6);
        struct iostat_stat b = stat_make(3 << 20, 768, 100, 6);
        struct iostat_rate r;
        (void)state;

        assert_int_equal(iostat_rate_compute(&a, &b, 2000000000ULL, &r), 0);
        assert_false(r.reset);
        assert_true(r.bytes == 2 << 20);
        assert_true(r.ios == 512);
        assert_true(fabs(r.seconds - 2.0) < 1e-12);
        assert_true(fabs(r.bytes_per_s - (double)(1 << 20)) < 1e-6);
        assert_true(fabs(r.ios_per_s - 256.0) < 1e-9);
        assert_true(fabs(r.lat_mean_us - 100.0) < 1e-9);
        assert_true(r.p50_us >= 64 && r.p50_us <= 128);
        assert_true(r.p50_us <= r.p90_us && r.p90_us <= r.p99_us && r.p99_us <= r.p999_us);
}

static void test_rate_counter_reset(void **state)
{
        struct iostat_stat before = stat_make(100 << 20, 25600, 50, 5);
        struct iostat_stat after = stat_make(1 << 20, 256, 50, 5);
        struct iostat_rate r;
        bool reset = false;
        struct iostat_stat d;
        (void)state;

        /* Maps recreated between snapshots: what is there now all happened in the interval. */
        assert_int_equal(iostat_rate_compute(&before, &after, 1000000000ULL, &r), 0);
        assert_true(r.reset);
        assert_true(r.bytes == 1 << 20);
        assert_true(fabs(r.ios_per_s - 256.0) < 1e-9);

        /* Only one histogram slot going back is also a reset. */
        before = stat_make(1000, 10, 10, 3);
        after = before;
        after.bytes += 100;
        after.ios += 1;
        after.hist[3] = 9;
        after.hist[4] = 2;
        iostat_stat_delta(&before, &after, &d, &reset);
        assert_true(reset);
        assert_true(d.bytes == after.bytes);

        /* No reset: exact differences, hist included. */
        after = before;
        after.bytes += 4096;
        after.ios += 1;
        after.hist[7] += 1;
        iostat_stat_delta(&before, &after, &d, &reset);
        assert_false(reset);
        assert_true(d.bytes == 4096 && d.ios == 1 && d.hist[7] == 1 && d.hist[3] == 0);
}

static void test_rate_edge_cases(void **state)
{
        struct iostat_stat a = stat_make(10, 1, 5, 2);
        struct iostat_rate r = {.bytes = 77};
        (void)state;

        assert_int_equal(iostat_rate_compute(&a, &a, 0, &r), -EINVAL);
        assert_true(r.bytes == 77);
        /* Idle interval: zero rates, no latency (not NaN). */
        assert_int_equal(iostat_rate_compute(&a, &a, 1000000ULL, &r), 0);
        assert_true(r.bytes_per_s == 0 && r.ios_per_s == 0 && r.lat_mean_us == 0);
        assert_true(r.p99_us == 0);
}

/* Which timestamps a sum of counters was timed with: a device in completion-only mode, one
 * whose queue records no issue time (the hash), both (a queue that changed), or idle. */
static void test_stat_timing(void **state)
{
        struct iostat_stat s = stat_make(4096, 10, 5, 2), d;
        struct iostat_stat later;
        (void)state;

        assert_string_equal(iostat_stat_timing(&s), "kernel");
        s.unstamped = 10;
        assert_string_equal(iostat_stat_timing(&s), "hash");
        s.unstamped = 3;
        assert_string_equal(iostat_stat_timing(&s), "mixed");
        s.ios = 0;
        s.unstamped = 0;
        assert_string_equal(iostat_stat_timing(&s), "none");

        /* The interval's own mode: a queue that started stamping reads "kernel" from then on. */
        s = stat_make(4096, 10, 5, 2);
        s.unstamped = 10;
        later = s;
        later.ios += 5;
        later.hist[2] += 5;
        iostat_stat_delta(&s, &later, &d, NULL);
        assert_string_equal(iostat_stat_timing(&d), "kernel");
        assert_string_equal(iostat_stat_timing(&later), "mixed");
        /* unstamped going back is a reset like any other counter. */
        later.unstamped = 2;
        bool reset = false;
        iostat_stat_delta(&s, &later, &d, &reset);
        assert_true(reset);
}

static void test_snapshot_sum(void **state)
{
        struct iostat_entry entries[5];
        struct iostat_snapshot snap = {.n_entries = 5, .entries = entries}, *s = &snap;
        struct iostat_stat t;
        (void)state;

        s->entries[0] = (struct iostat_entry){makedev(7, 0), 10, IOSTAT_OP_READ,
                                              stat_make(4096, 1, 1, 0)};
        s->entries[1] = (struct iostat_entry){makedev(7, 0), 10, IOSTAT_OP_WRITE,
                                              stat_make(8192, 2, 1, 0)};
        s->entries[2] = (struct iostat_entry){makedev(7, 0), 11, IOSTAT_OP_WRITE,
                                              stat_make(1 << 20, 8, 1, 0)};
        s->entries[3] = (struct iostat_entry){makedev(7, 1), 10, IOSTAT_OP_READ,
                                              stat_make(512, 1, 1, 0)};
        s->entries[4] = (struct iostat_entry){makedev(7, 0), 0, IOSTAT_OP_FLUSH,
                                              stat_make(0, 3, 1, 0)};

        assert_int_equal(iostat_snapshot_sum(s, makedev(7, 0), IOSTAT_CGROUP_ANY, 0, &t), 4);
        assert_true(t.bytes == 4096 + 8192 + (1 << 20) && t.ios == 14);
        assert_int_equal(iostat_snapshot_sum(s, IOSTAT_DEV_ANY, 10, 0, &t), 3);
        assert_true(t.bytes == 4096 + 8192 + 512);
        assert_int_equal(iostat_snapshot_sum(s, makedev(7, 0), IOSTAT_CGROUP_ANY,
                                             1U << IOSTAT_OP_WRITE, &t), 2);
        assert_true(t.bytes == 8192 + (1 << 20) && t.hist[0] == 10);
        assert_int_equal(iostat_snapshot_sum(s, makedev(8, 0), IOSTAT_CGROUP_ANY, 0, &t), 0);
        assert_true(t.bytes == 0 && t.ios == 0);
}

static void test_kernel_release(void **state)
{
        (void)state;
        assert_int_equal(iostat_kernel_release_check("6.1.0-56-amd64"), 0);
        assert_int_equal(iostat_kernel_release_check("6.18.44-fc-v595"), 0);
        assert_int_equal(iostat_kernel_release_check("6.10"), 0);
        assert_int_equal(iostat_kernel_release_check("7.0.0"), 0);
        assert_int_equal(iostat_kernel_release_check("6.0.12"), -ENOTSUP);
        assert_int_equal(iostat_kernel_release_check("5.19.0"), -ENOTSUP);
        assert_int_equal(iostat_kernel_release_check("5.10.0-28-amd64"), -ENOTSUP);
        assert_int_equal(iostat_kernel_release_check("4.19.0"), -ENOTSUP);
        assert_int_equal(iostat_kernel_release_check("linux"), -EINVAL);
        assert_int_equal(iostat_kernel_release_check("6"), -EINVAL);
        assert_int_equal(iostat_kernel_release_check(""), -EINVAL);
        assert_int_equal(iostat_kernel_release_check(NULL), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_key_roundtrip),
                cmocka_unit_test(test_key_layout),
                cmocka_unit_test(test_key_decode_rejects_bad_op),
                cmocka_unit_test(test_op_classes),
                cmocka_unit_test(test_hist_slots),
                cmocka_unit_test(test_percentile_single_bucket),
                cmocka_unit_test(test_percentile_spread),
                cmocka_unit_test(test_percentile_errors),
                cmocka_unit_test(test_percentile_monotonic),
                cmocka_unit_test(test_rate_basic),
                cmocka_unit_test(test_rate_counter_reset),
                cmocka_unit_test(test_rate_edge_cases),
                cmocka_unit_test(test_stat_timing),
                cmocka_unit_test(test_snapshot_sum),
                cmocka_unit_test(test_kernel_release),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
