/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the ended-task GC policy (gc-max-age-s, gc-max-tasks) and the state-dir lock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/gc-policy.h"
#include "common/fileio.h"
#include "common/macro.h"

#define NOW 10000000ULL

static void test_age(void **state)
{
        /* Ended 2 h, 61 min, 59 min and 1 s ago; keep 1 h. */
        struct gc_candidate c[] = {
                {.finished_ms = NOW - 7200000}, {.finished_ms = NOW - 3660000},
                {.finished_ms = NOW - 3540000}, {.finished_ms = NOW - 1000},
        };
        bool rm[4];

        (void)state;
        assert_int_equal(gc_policy_select(c, 4, NOW, 3600, 1000, rm), 2);
        assert_true(rm[0]);
        assert_true(rm[1]);
        assert_false(rm[2]);
        assert_false(rm[3]);
        /* 0 disables the age bound. */
        assert_int_equal(gc_policy_select(c, 4, NOW, 0, 0, rm), 0);
        assert_false(rm[0]);
}

static void test_count_keeps_newest(void **state)
{
        struct gc_candidate c[] = {
                {.finished_ms = NOW - 50}, {.finished_ms = NOW - 10}, {.finished_ms = NOW - 40},
                {.finished_ms = NOW - 20}, {.finished_ms = NOW - 30},
        };
        bool rm[5];

        (void)state;
        assert_int_equal(gc_policy_select(c, 5, NOW, 3600, 2, rm), 3);
        /* The two newest (10 and 20 ms ago) stay. */
        assert_false(rm[1]);
        assert_false(rm[3]);
        assert_true(rm[0]);
        assert_true(rm[2]);
        assert_true(rm[4]);
        assert_int_equal(gc_policy_select(c, 5, NOW, 3600, 5, rm), 0);
}

static void test_busy_never_removed_but_counted(void **state)
{
        /* The oldest is busy (cgroup still emptying) and too old: it stays, and it counts
         * toward the cap, so the newest one is the only other task kept. */
        struct gc_candidate c[] = {
                {.finished_ms = NOW - 9000000, .busy = true}, {.finished_ms = NOW - 30},
                {.finished_ms = NOW - 20}, {.finished_ms = NOW - 10, .busy = true},
        };
        bool rm[4];

        (void)state;
        assert_int_equal(gc_policy_select(c, 4, NOW, 3600, 2, rm), 2);
        assert_false(rm[0]);
        assert_true(rm[1]);
        assert_true(rm[2]);
        assert_false(rm[3]);
}

static void test_age_and_count_combine(void **state)
{
        struct gc_candidate c[] = {
                {.finished_ms = NOW - 4000000}, {.finished_ms = NOW - 300},
                {.finished_ms = NOW - 200}, {.finished_ms = NOW - 100},
        };
        bool rm[4];

        (void)state;
        assert_int_equal(gc_policy_select(c, 4, NOW, 3600, 2, rm), 2);
        assert_true(rm[0]);
        assert_true(rm[1]);
        assert_false(rm[2]);
        assert_false(rm[3]);
        assert_int_equal(gc_policy_select(c, 0, NOW, 3600, 2, rm), 0);
}

static void test_state_lock(void **state)
{
        char dir[] = "/tmp/silo-test-lock-XXXXXX", path[64], expect[128];
        _cleanup_free_ char *err = NULL, *text = NULL;
        int fd = -1, fd2 = -1, r;

        (void)state;
        assert_non_null(mkdtemp(dir));
        assert_int_equal(agent_state_lock(dir, &fd, &err), 0);
        assert_true(fd >= 0);
        assert_null(err);
        snprintf(path, sizeof(path), "%s/lock", dir);
        assert_int_equal(file_read_full(path, 0, &text, NULL), 0);
        assert_int_equal(atoi(text), getpid());

        /* flock is per open file: a second open in this process conflicts like another agent. */
        r = agent_state_lock(dir, &fd2, &err);
        assert_int_equal(r, -EBUSY);
        assert_int_equal(fd2, -1);
        assert_non_null(err);
        snprintf(expect, sizeof(expect), "another silo-agent (pid %d) is running on the state directory %s",
                 (int)getpid(), dir);
        assert_non_null(strstr(err, expect));

        /* Released with the fd (as when an agent dies by SIGKILL): the next one gets it. */
        close(fd);
        free(err);
        err = NULL;
        assert_int_equal(agent_state_lock(dir, &fd2, &err), 0);
        close(fd2);
        assert_int_equal(rm_rf(dir), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_age),
                cmocka_unit_test(test_count_keeps_newest),
                cmocka_unit_test(test_busy_never_removed_but_counted),
                cmocka_unit_test(test_age_and_count_combine),
                cmocka_unit_test(test_state_lock),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
