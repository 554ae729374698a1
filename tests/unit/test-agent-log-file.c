/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the task log files: size rotation, retention, reads by absolute offset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/log-file.h"
#include "common/fileio.h"
#include "common/macro.h"

static char dir[64];

static int setup(void **state)
{
        (void)state;
        snprintf(dir, sizeof(dir), "/tmp/test-agent-log-XXXXXX");
        return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
        (void)state;
        return rm_rf(dir);
}

/* The byte at absolute stream offset i: a pattern that tells any two offsets 251 apart. */
static char pattern(uint64_t i)
{
        return (char)('a' + (i % 251) % 26) ^ (char)((i / 251) & 1);
}

static void write_pattern(struct log_writer *w, uint64_t from, size_t n, size_t chunk)
{
        char *buf = malloc(chunk);

        assert_non_null(buf);
        for (size_t done = 0; done < n;) {
                size_t k = MIN(chunk, n - done);
                for (size_t i = 0; i < k; i++)
                        buf[i] = pattern(from + done + i);
                assert_int_equal(log_writer_write(w, buf, k), 0);
                done += k;
        }
        free(buf);
}

static off_t file_size(const char *name)
{
        char p[PATH_MAX + 64];
        struct stat st;

        snprintf(p, sizeof(p), "%s/%s", dir, name);
        return stat(p, &st) == 0 ? st.st_size : -1;
}

static void assert_chunk_matches(const struct log_chunk *c)
{
        for (size_t i = 0; i < c->size; i++)
                if (c->data[i] != pattern(c->offset + i))
                        fail_msg("byte %zu (offset %llu) differs", i,
                                 (unsigned long long)(c->offset + i));
}

static void test_no_rotation_below_limit(void **state)
{
        struct log_writer *w = NULL;
        struct log_chunk c = {};

        (void)state;
        assert_int_equal(log_writer_open(dir, "stdout", 4096, 3, &w), 0);
        write_pattern(w, 0, 1000, 100);
        assert_int_equal(log_writer_offset(w), 1000);
        assert_int_equal(file_size("stdout"), 1000);
        assert_int_equal(file_size("stdout.1"), -1);
        assert_int_equal(log_read(dir, "stdout", 0, 1 << 20, &c), 0);
        assert_int_equal(c.size, 1000);
        assert_int_equal(c.offset, 0);
        assert_int_equal(c.start, 0);
        assert_int_equal(c.end, 1000);
        assert_chunk_matches(&c);
        log_chunk_done(&c);
        log_writer_free(w);
}

static void test_rotation_keeps_configured_size(void **state)
{
        struct log_writer *w = NULL;
        struct log_chunk c = {};

        (void)state;
        /* 10 KiB through 1 KiB files, 3 kept: exactly the last 3 KiB remain. */
        assert_int_equal(log_writer_open(dir, "stdout", 1024, 3, &w), 0);
        write_pattern(w, 0, 10240, 700);
        assert_int_equal(log_writer_offset(w), 10240);
        assert_int_equal(file_size("stdout"), 1024);
        assert_int_equal(file_size("stdout.1"), 1024);
        assert_int_equal(file_size("stdout.2"), 1024);
        assert_int_equal(file_size("stdout.3"), -1);

        assert_int_equal(log_read(dir, "stdout", 0, 1 << 20, &c), 0);
        /* Offset 0 was rotated away: the read starts at the oldest retained byte. */
        assert_int_equal(c.start, 10240 - 3072);
        assert_int_equal(c.offset, 10240 - 3072);
        assert_int_equal(c.size, 3072);
        assert_int_equal(c.end, 10240);
        assert_chunk_matches(&c);
        log_chunk_done(&c);

        /* A read spanning two files, at an odd offset. */
        assert_int_equal(log_read(dir, "stdout", 8000, 500, &c), 0);
        assert_int_equal(c.offset, 8000);
        assert_int_equal(c.size, 500);
        assert_chunk_matches(&c);
        log_chunk_done(&c);

        /* Past the end: nothing, positioned at the end. */
        assert_int_equal(log_read(dir, "stdout", 99999, 100, &c), 0);
        assert_int_equal(c.size, 0);
        assert_int_equal(c.offset, 10240);
        log_chunk_done(&c);
        log_writer_free(w);
}

static void test_single_file(void **state)
{
        struct log_writer *w = NULL;
        struct log_chunk c = {};

        (void)state;
        assert_int_equal(log_writer_open(dir, "stderr", 2048, 1, &w), 0);
        write_pattern(w, 0, 5000, 333);
        assert_int_equal(file_size("stderr"), 5000 - 4096);
        assert_int_equal(file_size("stderr.1"), -1);
        assert_int_equal(log_read(dir, "stderr", 0, 1 << 20, &c), 0);
        assert_int_equal(c.offset, 4096);
        assert_int_equal(c.size, 5000 - 4096);
        assert_chunk_matches(&c);
        log_chunk_done(&c);
        log_writer_free(w);
}

static void test_exact_boundary_and_reopen(void **state)
{
        struct log_writer *w = NULL;
        struct log_chunk c = {};

        (void)state;
        assert_int_equal(log_writer_open(dir, "stdout", 1024, 2, &w), 0);
        write_pattern(w, 0, 2048, 1024);
        /* Exactly full files: the current one is full, rotation happens on the next byte. */
        assert_int_equal(file_size("stdout"), 1024);
        assert_int_equal(file_size("stdout.1"), 1024);
        log_writer_free(w);

        /* A new writer (a restarted shim) continues the stream where it was. */
        assert_int_equal(log_writer_open(dir, "stdout", 1024, 2, &w), 0);
        assert_int_equal(log_writer_offset(w), 2048);
        write_pattern(w, 2048, 10, 10);
        assert_int_equal(file_size("stdout"), 10);
        assert_int_equal(log_read(dir, "stdout", 0, 1 << 20, &c), 0);
        assert_int_equal(c.offset, 1024);
        assert_int_equal(c.size, 1034);
        assert_int_equal(c.end, 2058);
        assert_chunk_matches(&c);
        log_chunk_done(&c);
        log_writer_free(w);
}

static void test_errors(void **state)
{
        struct log_writer *w = NULL;
        struct log_chunk c = {};

        (void)state;
        assert_int_equal(log_writer_open(dir, "stdout", 0, 3, &w), -EINVAL);
        assert_int_equal(log_writer_open(dir, "stdout", 100, 0, &w), -EINVAL);
        assert_int_equal(log_writer_open("/nonexistent/dir", "stdout", 100, 1, &w), -ENOENT);
        assert_int_equal(log_read(dir, "nostream", 0, 10, &c), -ENOENT);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_no_rotation_below_limit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rotation_keeps_configured_size, setup, teardown),
                cmocka_unit_test_setup_teardown(test_single_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_exact_boundary_and_reopen, setup, teardown),
                cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
