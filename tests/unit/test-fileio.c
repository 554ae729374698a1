/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for common/fileio: atomic replace, whole-file reads, mkdir -p and rm -rf. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <dirent.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/macro.h"

static char tmpdir[] = "/tmp/silo-test-fileio-XXXXXX";

static int setup(void **state)
{
        (void)state;
        return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
        (void)state;
        return rm_rf(tmpdir);
}

static void test_atomic_write_replaces(void **state)
{
        _cleanup_free_ char *p = NULL, *data = NULL;
        struct stat st;
        size_t size;
        (void)state;

        assert_true(asprintf(&p, "%s/state.json", tmpdir) > 0);
        assert_int_equal(file_write_atomic(p, "old", 3, 0600), 0);
        assert_int_equal(file_write_atomic(p, "newer", 5, 0640), 0);
        assert_int_equal(file_read_full(p, 0, &data, &size), 0);
        assert_int_equal(size, 5);
        assert_string_equal(data, "newer");
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0640);
}

static void test_atomic_write_leaves_no_temp(void **state)
{
        _cleanup_free_ char *p = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int n = 0;
        (void)state;

        assert_true(asprintf(&p, "%s/sub", tmpdir) > 0);
        assert_int_equal(mkdir_parents(p, 0755), 0);
        free(p);
        p = NULL;
        assert_true(asprintf(&p, "%s/sub/a", tmpdir) > 0);
        assert_int_equal(file_write_atomic(p, "x", 1, 0600), 0);
        free(p);
        p = NULL;
        assert_true(asprintf(&p, "%s/sub", tmpdir) > 0);
        d = opendir(p);
        assert_non_null(d);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        assert_int_equal(n, 1);
}

static void test_atomic_write_missing_dir(void **state)
{
        _cleanup_free_ char *p = NULL;
        (void)state;

        assert_true(asprintf(&p, "%s/no/such/dir/f", tmpdir) > 0);
        assert_int_equal(file_write_atomic(p, "x", 1, 0600), -ENOENT);
}

static void test_read_full_limits(void **state)
{
        _cleanup_free_ char *p = NULL, *data = NULL;
        char big[10000];
        (void)state;

        memset(big, 'a', sizeof(big));
        assert_true(asprintf(&p, "%s/big", tmpdir) > 0);
        assert_int_equal(file_write_atomic(p, big, sizeof(big), 0600), 0);
        assert_int_equal(file_read_full(p, 100, &data, NULL), -EFBIG);
        assert_null(data);
        assert_int_equal(file_read_full(p, 0, &data, NULL), 0);
        assert_int_equal(strlen(data), sizeof(big));
        assert_int_equal(file_read_full("/nonexistent/x", 0, &data, NULL), -ENOENT);
}

static void test_write_string_needs_existing(void **state)
{
        _cleanup_free_ char *p = NULL, *data = NULL;
        (void)state;

        assert_true(asprintf(&p, "%s/pseudo", tmpdir) > 0);
        assert_int_equal(file_write_string(p, "1"), -ENOENT);
        assert_int_equal(file_write_atomic(p, "", 0, 0600), 0);
        assert_int_equal(file_write_string(p, "max 100000"), 0);
        assert_int_equal(file_read_full(p, 0, &data, NULL), 0);
        assert_string_equal(data, "max 100000");
}

static void test_rm_rf(void **state)
{
        _cleanup_free_ char *p = NULL, *f = NULL;
        struct stat st;
        (void)state;

        assert_true(asprintf(&p, "%s/tree/a/b", tmpdir) > 0);
        assert_int_equal(mkdir_parents(p, 0755), 0);
        assert_true(asprintf(&f, "%s/tree/a/b/file", tmpdir) > 0);
        assert_int_equal(file_write_atomic(f, "x", 1, 0600), 0);
        free(p);
        p = NULL;
        assert_true(asprintf(&p, "%s/tree", tmpdir) > 0);
        assert_int_equal(rm_rf(p), 0);
        assert_int_equal(stat(p, &st), -1);
        assert_int_equal(rm_rf(p), 0); /* absent is fine */
}

/* A chain far deeper than any stack frame per level would allow, as a hostile task can make
 * it, removed from a thread with a small stack, with no fd left behind. */
#define DEEP_LEVELS 20000
static void *rm_rf_thread(void *path)
{
        return (void *)(intptr_t)rm_rf(path);
}

static int count_fds(void)
{
        int n = 0;
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;

        assert_non_null(d);
        while ((de = readdir(d)))
                n++;
        closedir(d);
        return n;
}

static void test_rm_rf_deep(void **state)
{
        _cleanup_free_ char *p = NULL;
        pthread_attr_t attr;
        pthread_t thread;
        void *ret = NULL;
        struct stat st;
        int fd, fds;
        (void)state;

        assert_true(asprintf(&p, "%s/deep", tmpdir) > 0);
        assert_int_equal(mkdir(p, 0755), 0);
        fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        for (int i = 0; i < DEEP_LEVELS; i++) {
                int sub;
                assert_int_equal(mkdirat(fd, "d", 0755), 0);
                if (i % 1000 == 0) { /* a file and an empty sibling now and then */
                        int f = openat(fd, "f", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
                        assert_true(f >= 0);
                        close(f);
                        assert_int_equal(mkdirat(fd, "e", 0755), 0);
                }
                sub = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                assert_true(sub >= 0);
                close(fd);
                fd = sub;
        }
        close(fd);
        fds = count_fds();
        /* 256 KiB: a frame of ~200 bytes per level would need ~4 MiB. */
        assert_int_equal(pthread_attr_init(&attr), 0);
        assert_int_equal(pthread_attr_setstacksize(&attr, 256 * 1024), 0);
        assert_int_equal(pthread_create(&thread, &attr, rm_rf_thread, p), 0);
        assert_int_equal(pthread_join(thread, &ret), 0);
        pthread_attr_destroy(&attr);
        assert_int_equal((int)(intptr_t)ret, 0);
        assert_int_equal(stat(p, &st), -1);
        assert_int_equal(count_fds(), fds);
}

static void test_mode_enforce(void **state)
{
        _cleanup_free_ char *d = NULL, *f = NULL, *missing = NULL;
        struct stat st;
        mode_t old = 0;
        (void)state;

        assert_true(asprintf(&d, "%s/state", tmpdir) > 0);
        assert_int_equal(mkdir(d, 0755), 0);
        assert_int_equal(chmod(d, 0755), 0);
        assert_int_equal(path_mode_enforce(d, 0700, &old), 1);
        assert_int_equal(old, 0755);
        assert_int_equal(stat(d, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        old = 0;
        assert_int_equal(path_mode_enforce(d, 0700, &old), 0);
        assert_int_equal(old, 0);

        assert_true(asprintf(&f, "%s/state/token", tmpdir) > 0);
        assert_int_equal(file_write_atomic(f, "x", 1, 0644), 0);
        assert_int_equal(path_mode_enforce(f, 0600, NULL), 1);
        assert_int_equal(stat(f, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);

        assert_true(asprintf(&missing, "%s/state/none", tmpdir) > 0);
        assert_int_equal(path_mode_enforce(missing, 0600, NULL), -ENOENT);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_atomic_write_replaces),
                cmocka_unit_test(test_atomic_write_leaves_no_temp),
                cmocka_unit_test(test_atomic_write_missing_dir),
                cmocka_unit_test(test_read_full_limits),
                cmocka_unit_test(test_write_string_needs_existing),
                cmocka_unit_test(test_rm_rf),
                cmocka_unit_test(test_rm_rf_deep),
                cmocka_unit_test(test_mode_enforce),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
