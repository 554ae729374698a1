/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of agent/epoch-fence.c: the highest master epoch, its refusals and its file. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent/epoch-fence.h"
#include "common/fileio.h"
#include "common/macro.h"

static char dir[] = "/tmp/silo-epoch-XXXXXX";
static char path[256];

static void expect_admit(struct epoch_fence *f, const char *header, int want, const char *fragment)
{
        char *err = NULL;

        assert_int_equal(epoch_fence_admit(f, header, &err), want);
        if (fragment) {
                assert_non_null(err);
                if (!strstr(err, fragment))
                        fail_msg("'%s' lacks '%s'", err, fragment);
        } else
                assert_null(err);
        free(err);
}

static void reopen(struct epoch_fence *f, uint64_t want)
{
        char *err = NULL;

        epoch_fence_done(f);
        assert_int_equal(epoch_fence_open(path, f, &err), 0);
        assert_null(err);
        assert_int_equal(f->seen, want);
}

static void test_fence(void **state)
{
        struct epoch_fence f = {0};
        char *text = NULL, *err = NULL;

        (void)state;
        snprintf(path, sizeof(path), "%s/master-epoch", dir);
        /* No file: nothing seen, everything admitted, nothing written for an unfenced call. */
        reopen(&f, 0);
        expect_admit(&f, NULL, 0, NULL);
        assert_int_equal(access(path, F_OK), -1);
        expect_admit(&f, "3", 0, NULL);
        assert_int_equal(f.seen, 3);
        assert_int_equal(file_read_full(path, 64, &text, NULL), 0);
        assert_string_equal(text, "3\n");
        free(text);
        /* Equal and higher go on; lower is refused naming both epochs. */
        expect_admit(&f, "3", 0, NULL);
        expect_admit(&f, "5", 0, NULL);
        expect_admit(&f, "4", -ESTALE,
                     "master epoch 4 is older than epoch 5 this agent has seen: the sender was "
                     "deposed");
        assert_int_equal(f.seen, 5);
        /* A missing header is an old master or an operator: not fenced. */
        expect_admit(&f, NULL, 0, NULL);
        /* Malformed headers are refused and change nothing. */
        expect_admit(&f, "", -EINVAL, "'' is not a positive integer");
        expect_admit(&f, "0", -EINVAL, "'0'");
        expect_admit(&f, "-7", -EINVAL, "'-7'");
        expect_admit(&f, "6x", -EINVAL, "'6x'");
        expect_admit(&f, "99999999999999999999999", -EINVAL, "not a positive integer");
        assert_int_equal(f.seen, 5);
        /* The highest survives a restart. */
        reopen(&f, 5);
        expect_admit(&f, "4", -ESTALE, "epoch 5");
        /* A damaged file stops the agent rather than forgetting the fence. */
        assert_int_equal(file_write_atomic(path, "garbage\n", 8, 0644), 0);
        epoch_fence_done(&f);
        assert_int_equal(epoch_fence_open(path, &f, &err), -EINVAL);
        assert_non_null(strstr(err, path));
        assert_non_null(strstr(err, "'garbage"));
        free(err);
        /* A directory that cannot take the file: the call is not admitted. */
        assert_int_equal(unlink(path), 0);
        f.path = strdup("/nonexistent-dir/master-epoch");
        f.seen = 1;
        err = NULL;
        assert_int_equal(epoch_fence_admit(&f, "2", &err), -ENOENT);
        assert_non_null(strstr(err, "cannot save master epoch 2"));
        assert_int_equal(f.seen, 1);
        free(err);
        epoch_fence_done(&f);
}

static int setup(void **state)
{
        (void)state;
        return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
        (void)state;
        return rm_rf(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_fence),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
