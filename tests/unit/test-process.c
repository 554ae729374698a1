/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for common/process: a process's start time and resident set, and pid reuse refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/process.h"

/* Our own RSS as /proc/self/status says it (VmRSS, KiB). */
static long self_vmrss_kib(void)
{
        char line[256];
        long kib = -1;
        FILE *f = fopen("/proc/self/status", "re");

        assert_non_null(f);
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
                        break;
        fclose(f);
        return kib;
}

static void test_rss_of_self(void **state)
{
        uint64_t start = process_start_time(getpid()), rss = 0;
        long kib;
        char *touched;

        (void)state;
        assert_true(start > 0);
        /* 8 MiB touched: the figure follows what the process really holds. */
        touched = malloc(8 << 20);
        assert_non_null(touched);
        memset(touched, 1, 8 << 20);
        assert_int_equal(process_rss_bytes(getpid(), start, &rss), 0);
        kib = self_vmrss_kib();
        assert_true(rss >= 8u << 20);
        /* The same counter as VmRSS, read a moment apart. */
        assert_true(rss / 1024 >= (uint64_t)kib * 9 / 10 && rss / 1024 <= (uint64_t)kib * 11 / 10);
        free(touched);
        /* 0: any process of that pid. */
        assert_int_equal(process_rss_bytes(getpid(), 0, &rss), 0);
}

static void test_rss_refuses_another_process(void **state)
{
        uint64_t start = process_start_time(getpid()), rss = 7;
        pid_t child;

        (void)state;
        /* Another start time is another process that reuses the pid. */
        assert_int_equal(process_rss_bytes(getpid(), start + 1, &rss), -ESRCH);
        assert_int_equal(rss, 7);
        child = fork();
        assert_true(child >= 0);
        if (child == 0)
                _exit(0);
        assert_int_equal(waitpid(child, NULL, 0), child);
        assert_int_equal(process_rss_bytes(child, 0, &rss), -ESRCH);
        assert_int_equal(process_start_time(child), 0);
        assert_int_equal(process_rss_bytes(0, 0, &rss), -ESRCH);
        assert_int_equal(rss, 7);
}

/* Fields after the command name, by their proc(5) number; what is not an unsigned number, or
 * not there, is refused. */
static void test_stat_field(void **state)
{
        uint64_t v = 0;

        (void)state;
        assert_int_equal(process_stat_field(getpid(), 4, &v), 0);
        assert_int_equal(v, (uint64_t)getppid());
        assert_int_equal(process_stat_field(getpid(), 22, &v), 0);
        assert_int_equal(v, process_start_time(getpid()));
        /* arg_start, which the shim server sets to itself: an address, never 0. */
        assert_int_equal(process_stat_field(getpid(), 48, &v), 0);
        assert_true(v > 0);
        /* pid 0: the caller, through /proc/self. */
        assert_int_equal(process_stat_field(0, 22, &v), 0);
        assert_int_equal(v, process_start_time(getpid()));
        assert_int_equal(process_stat_field(getpid(), 2, &v), -EINVAL);
        assert_int_equal(process_stat_field(getpid(), 3, &v), -EBADMSG);     /* the state: a letter */
        assert_int_equal(process_stat_field(getpid(), 1000, &v), -EBADMSG);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rss_of_self),
                cmocka_unit_test(test_rss_refuses_another_process),
                cmocka_unit_test(test_stat_field),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
