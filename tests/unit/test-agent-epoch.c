/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of agent/epoch-fence.c: the cluster id and highest master epoch, its refusals and
 * its file. */
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

static void expect_admit_in(struct epoch_fence *f, const char *cluster, const char *header, int want,
                            const char *fragment)
{
        char *err = NULL;

        assert_int_equal(epoch_fence_admit(f, cluster, header, &err), want);
        if (fragment) {
                assert_non_null(err);
                if (!strstr(err, fragment))
                        fail_msg("'%s' lacks '%s'", err, fragment);
        } else
                assert_null(err);
        free(err);
}

static void expect_admit(struct epoch_fence *f, const char *header, int want, const char *fragment)
{
        expect_admit_in(f, NULL, header, want, fragment);
}

static void expect_file(const char *want)
{
        char *text = NULL;

        assert_int_equal(file_read_full(path, 64, &text, NULL), 0);
        assert_string_equal(text, want);
        free(text);
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
        assert_int_equal(epoch_fence_admit(&f, NULL, "2", &err), -ENOENT);
        assert_non_null(strstr(err, "cannot save master epoch 2"));
        assert_int_equal(f.seen, 1);
        free(err);
        epoch_fence_done(&f);
}

#define CA "0b6f2c4e-1d3a-4c55-9e0f-1a2b3c4d5e6f"
#define CB "7c1d9e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f"

/* Epochs of two clusters do not compare: a new cluster is taken from a registration only, and
 * counts afresh; a call naming another cluster is refused naming both. */
static void test_cluster(void **state)
{
        struct epoch_fence f = {0};
        char *err = NULL;

        (void)state;
        snprintf(path, sizeof(path), "%s/master-epoch", dir);
        /* An older agent's file: an epoch and no cluster. */
        assert_int_equal(file_write_atomic(path, "5\n", 2, 0644), 0);
        reopen(&f, 5);
        assert_null(f.cluster_id);
        /* Before any registration, the epoch rule alone (a launch never adopts a cluster). */
        expect_admit_in(&f, CA, "1", -ESTALE, "master epoch 1 is older than epoch 5");
        assert_null(f.cluster_id);
        /* The first registration's cluster is adopted with its epoch, on disk. */
        assert_int_equal(epoch_fence_adopt(&f, CA, 1, &err), 0);
        assert_null(err);
        assert_string_equal(f.cluster_id, CA);
        assert_int_equal(f.seen, 1);
        expect_file(CA "/1\n");
        expect_admit_in(&f, CA, "1", 0, NULL);
        expect_admit_in(&f, CA, "2", 0, NULL);
        expect_file(CA "/2\n");
        /* Same cluster, lower epoch: as ever. */
        expect_admit_in(&f, CA, "1", -ESTALE, "master epoch 1 is older than epoch 2");
        /* Another cluster's master may not act, whatever its epoch. */
        expect_admit_in(&f, CB, "9", -EXDEV, "master of cluster " CB ", but this agent belongs "
                                             "to cluster " CA);
        assert_int_equal(f.seen, 2);
        /* No cluster header (an older master): the epoch rule alone. */
        expect_admit_in(&f, NULL, "2", 0, NULL);
        /* A registration of the same cluster never lowers the epoch; an older master's (no
         * cluster id) changes nothing. */
        assert_int_equal(epoch_fence_adopt(&f, CA, 1, &err), 0);
        assert_int_equal(f.seen, 2);
        assert_int_equal(epoch_fence_adopt(&f, NULL, 7, &err), 0);
        assert_int_equal(f.seen, 2);
        assert_int_equal(epoch_fence_adopt(&f, CA, 3, &err), 0);
        assert_int_equal(f.seen, 3);
        /* The pair survives a restart. */
        reopen(&f, 3);
        assert_string_equal(f.cluster_id, CA);
        /* A reset state: registering there starts its epochs afresh, the old cluster is refused. */
        assert_int_equal(epoch_fence_adopt(&f, CB, 1, &err), 0);
        assert_int_equal(f.seen, 1);
        expect_admit_in(&f, CB, "1", 0, NULL);
        expect_admit_in(&f, CA, "3", -EXDEV, "master of cluster " CA ", but this agent belongs "
                                             "to cluster " CB);
        reopen(&f, 1);
        assert_string_equal(f.cluster_id, CB);
        /* Malformed cluster ids: refused, nothing changed. */
        expect_admit_in(&f, "a/b", "1", -EINVAL, "'a/b' is not a cluster id");
        assert_int_equal(epoch_fence_adopt(&f, "", 4, &err), -EINVAL);
        assert_non_null(strstr(err, "'' is not a cluster id"));
        free(err);
        err = NULL;
        assert_string_equal(f.cluster_id, CB);
        assert_int_equal(f.seen, 1);
        assert_int_equal(file_write_atomic(path, "bad id/3\n", 9, 0644), 0);
        epoch_fence_done(&f);
        assert_int_equal(epoch_fence_open(path, &f, &err), -EINVAL);
        assert_non_null(strstr(err, "'bad id/3"));
        free(err);
        err = NULL;
        epoch_fence_done(&f);
        assert_int_equal(unlink(path), 0);
        /* In memory only (the simulated agent): the same rule, no file. */
        assert_int_equal(epoch_fence_open(NULL, &f, &err), 0);
        assert_int_equal(epoch_fence_adopt(&f, CA, 4, &err), 0);
        expect_admit_in(&f, CA, "3", -ESTALE, "epoch 4");
        expect_admit_in(&f, CA, "6", 0, NULL);
        assert_int_equal(f.seen, 6);
        assert_int_equal(access(path, F_OK), -1);
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
            cmocka_unit_test(test_cluster),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
