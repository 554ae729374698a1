/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for verify headers (each failure kind is detected and named) and the block
 * permutation that random offsets come from (every block exactly once per cycle). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "io/verify.h"
#include "io/worker.h"

static uint8_t *block(uint32_t bs)
{
        void *p = NULL;
        assert_int_equal(posix_memalign(&p, 4096, bs), 0);
        return p;
}

static void test_roundtrip(void **state)
{
        static const uint32_t sizes[] = { 64, 512, 4096, 131072, 1 << 20 };
        (void)state;

        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
                uint8_t *b = block(sizes[i]);
                struct io_verify_detail d;
                io_verify_fill(b, sizes[i], 12345 * 4096ULL, 77);
                assert_int_equal(io_verify_check(b, sizes[i], 12345 * 4096ULL, 77, &d), IO_VERIFY_OK);
                assert_int_equal(io_verify_check(b, sizes[i], 12345 * 4096ULL, 77, NULL), IO_VERIFY_OK);
                free(b);
        }
}

static void test_header_layout(void **state)
{
        uint8_t *b = block(4096);
        struct io_verify_hdr h;
        (void)state;

        io_verify_fill(b, 4096, 8192, 0xabcdef);
        memcpy(&h, b, sizeof(h));
        assert_int_equal(h.magic, IO_VERIFY_MAGIC);
        assert_int_equal(h.offset, 8192);
        assert_int_equal(h.seed, 0xabcdef);
        assert_int_equal(h.bs, 4096);
        for (unsigned i = sizeof(h); i < IO_VERIFY_HDR_SIZE; i++)
                assert_int_equal(b[i], 0);
        free(b);
}

static void test_each_failure_named(void **state)
{
        uint8_t *b = block(4096), *c = block(4096);
        struct io_verify_detail d;
        (void)state;

        io_verify_fill(b, 4096, 40960, 9);

        memcpy(c, b, 4096);
        c[0] ^= 1;
        assert_int_equal(io_verify_check(c, 4096, 40960, 9, &d), IO_VERIFY_BAD_MAGIC);
        assert_int_equal(d.expected, IO_VERIFY_MAGIC);
        assert_string_equal(io_verify_status_to_string(IO_VERIFY_BAD_MAGIC), "bad magic");

        /* a block that is fine but read back from the wrong place */
        assert_int_equal(io_verify_check(b, 4096, 45056, 9, &d), IO_VERIFY_BAD_OFFSET);
        assert_int_equal(d.expected, 45056);
        assert_int_equal(d.found, 40960);
        assert_string_equal(io_verify_status_to_string(IO_VERIFY_BAD_OFFSET), "wrong offset");

        /* written by another run */
        assert_int_equal(io_verify_check(b, 4096, 40960, 10, &d), IO_VERIFY_BAD_SEED);
        assert_int_equal(d.expected, 10);
        assert_int_equal(d.found, 9);
        assert_string_equal(io_verify_status_to_string(IO_VERIFY_BAD_SEED), "wrong seed");

        /* read with another block size: the header's bs differs */
        io_verify_fill(c, 512, 40960, 9);
        assert_int_equal(io_verify_check(c, 4096, 40960, 9, &d), IO_VERIFY_BAD_BS);
        assert_int_equal(d.expected, 4096);
        assert_int_equal(d.found, 512);

        /* one flipped payload bit anywhere, including the last byte */
        for (unsigned pos = IO_VERIFY_HDR_SIZE; pos < 4096; pos += 301) {
                memcpy(c, b, 4096);
                c[pos] ^= 0x10;
                assert_int_equal(io_verify_check(c, 4096, 40960, 9, &d), IO_VERIFY_BAD_CHECKSUM);
                assert_int_not_equal(d.expected, d.found);
        }
        memcpy(c, b, 4096);
        c[4095] ^= 0x80;
        assert_int_equal(io_verify_check(c, 4096, 40960, 9, NULL), IO_VERIFY_BAD_CHECKSUM);
        assert_string_equal(io_verify_status_to_string(IO_VERIFY_BAD_CHECKSUM), "checksum mismatch");

        /* zeroed (never written) block */
        memset(c, 0, 4096);
        assert_int_equal(io_verify_check(c, 4096, 40960, 9, NULL), IO_VERIFY_BAD_MAGIC);
        free(b);
        free(c);
}

static void test_payload_depends_on_offset_and_seed(void **state)
{
        uint8_t *a = block(4096), *b = block(4096);
        (void)state;

        io_verify_fill(a, 4096, 0, 1);
        io_verify_fill(b, 4096, 4096, 1);
        assert_memory_not_equal(a + 64, b + 64, 4096 - 64);
        io_verify_fill(b, 4096, 0, 2);
        assert_memory_not_equal(a + 64, b + 64, 4096 - 64);
        io_verify_fill(b, 4096, 0, 1);
        assert_memory_equal(a, b, 4096);
        free(a);
        free(b);
}

static void test_blockperm_covers_each_block_once(void **state)
{
        static const uint64_t sizes[] = { 1, 2, 3, 7, 64, 1000, 65536, 100003 };
        (void)state;

        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
                uint64_t n = sizes[i];
                uint8_t *seen = calloc(n, 1);
                struct io_blockperm p;
                uint64_t in_order = 0, prev = 0;

                io_blockperm_init(&p, n, 1234 + i);
                for (uint64_t k = 0; k < n; k++) {
                        uint64_t v = io_blockperm_next(&p);
                        assert_true(v < n);
                        assert_int_equal(seen[v], 0);
                        seen[v] = 1;
                        if (k && v == prev + 1)
                                in_order++;
                        prev = v;
                }
                /* the next cycle visits everything again */
                for (uint64_t k = 0; k < n; k++)
                        assert_int_equal(seen[io_blockperm_next(&p)]++, 1);
                /* scrambled: few consecutive neighbours */
                if (n >= 1000)
                        assert_true(in_order < n / 20);
                free(seen);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_roundtrip),
                cmocka_unit_test(test_header_layout),
                cmocka_unit_test(test_each_failure_named),
                cmocka_unit_test(test_payload_depends_on_offset_and_seed),
                cmocka_unit_test(test_blockperm_covers_each_block_once),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
