/* SPDX-License-Identifier: Apache-2.0 */
/* inroot_*(): paths in an untrusted image are opened and created inside it, never outside. */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/macro.h"
#include "isolator/container.h"

/* <top>/root is the image, <top>/outside plays the host's /etc: nothing may appear there. */
struct fixture {
        char top[PATH_MAX];
        char root[PATH_MAX + 8];
        char outside[PATH_MAX + 16];
        int root_fd;
};

static void mkfile(const char *path)
{
        FILE *f = fopen(path, "we");

        assert_non_null(f);
        fputs("host data\n", f);
        fclose(f);
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        char p[PATH_MAX * 3];

        assert_non_null(f);
        snprintf(f->top, sizeof(f->top), "/tmp/silo-test-paths-XXXXXX");
        assert_non_null(mkdtemp(f->top));
        snprintf(f->root, sizeof(f->root), "%s/root", f->top);
        snprintf(f->outside, sizeof(f->outside), "%s/outside", f->top);
        assert_int_equal(mkdir(f->root, 0755), 0);
        assert_int_equal(mkdir(f->outside, 0755), 0);
        snprintf(p, sizeof(p), "%s/hosts", f->outside);
        mkfile(p);
        /* The image's symlinks, as a hostile image would have them. */
        snprintf(p, sizeof(p), "%s/etc", f->root);
        assert_int_equal(symlink(f->outside, p), 0);               /* absolute, to the "host" */
        snprintf(p, sizeof(p), "%s/rel", f->root);
        assert_int_equal(symlink("../../../../../outside", p), 0); /* climbs with .. */
        snprintf(p, sizeof(p), "%s/loop", f->root);
        assert_int_equal(symlink("/loop", p), 0);
        snprintf(p, sizeof(p), "%s/inside", f->root);
        assert_int_equal(symlink("/real", p), 0);                  /* dangling inside the root */
        f->root_fd = open(f->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        assert_true(f->root_fd >= 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        char cmd[PATH_MAX + 16];

        close(f->root_fd);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->top);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

static int count_entries(const char *dir)
{
        char cmd[PATH_MAX + 32], buf[32] = "";
        FILE *p;

        snprintf(cmd, sizeof(cmd), "ls -A '%s' | wc -l", dir);
        p = popen(cmd, "r");
        assert_non_null(p);
        assert_non_null(fgets(buf, sizeof(buf), p));
        pclose(p);
        return atoi(buf);
}

static void test_absolute_symlink_stays_inside(void **state)
{
        struct fixture *f = *state;
        int fd = -1;
        char p[PATH_MAX * 3];
        struct stat st;

        /* "/etc/hosts" through etc -> <outside> resolves to <root><outside>/hosts, which does
         * not exist: the host's file is never reached. */
        assert_int_equal(inroot_open(f->root_fd, "/etc/hosts", O_PATH, &fd), -ENOENT);
        /* A link that dangles inside the image is not followed to create its target. */
        assert_int_equal(inroot_mkpath(f->root_fd, "/etc/hosts", INROOT_FILE, 0644, &fd), -ENOENT);
        assert_int_equal(count_entries(f->outside), 1);
        /* Once the image has the directory the link names, the file is made in it. */
        snprintf(p, sizeof(p), "mkdir -p '%s%s'", f->root, f->outside);
        assert_int_equal(system(p), 0);
        assert_int_equal(inroot_mkpath(f->root_fd, "/etc/hosts", INROOT_FILE, 0644, &fd), 0);
        close(fd);
        snprintf(p, sizeof(p), "%s%s/hosts", f->root, f->outside);
        assert_int_equal(stat(p, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_size, 0);
        snprintf(p, sizeof(p), "%s/hosts", f->outside);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_size, strlen("host data\n"));
        assert_int_equal(count_entries(f->outside), 1);
}

static void test_dotdot_symlink_is_clamped(void **state)
{
        struct fixture *f = *state;
        int fd = -1;
        char p[PATH_MAX * 3];
        struct stat st;

        snprintf(p, sizeof(p), "%s/outside", f->root);
        assert_int_equal(mkdir(p, 0755), 0);
        assert_int_equal(inroot_mkpath(f->root_fd, "/rel/probe-dir", INROOT_DIR, 0755, &fd), 0);
        close(fd);
        /* ../../.. stops at the image's root: the directory is <root>/outside/probe-dir. */
        snprintf(p, sizeof(p), "%s/outside/probe-dir", f->root);
        assert_int_equal(stat(p, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(count_entries(f->outside), 1);
        /* So are ".." components of the path itself; a missing directory before them is not
         * guessed at (the spec codec refuses ".." in targets anyway). */
        assert_int_equal(inroot_mkpath(f->root_fd, "/d/../../../b", INROOT_DIR, 0755, &fd), -EINVAL);
        snprintf(p, sizeof(p), "%s/d", f->root);
        assert_int_equal(mkdir(p, 0755), 0);
        assert_int_equal(inroot_mkpath(f->root_fd, "/d/../../../b", INROOT_DIR, 0755, &fd), 0);
        close(fd);
        snprintf(p, sizeof(p), "%s/b", f->root);
        assert_int_equal(stat(p, &st), 0);
        snprintf(p, sizeof(p), "%s/b", f->top);
        assert_int_equal(stat(p, &st), -1);
}

static void test_loops_and_dangling_links_fail(void **state)
{
        struct fixture *f = *state;
        int fd = -1;

        assert_int_equal(inroot_open(f->root_fd, "/loop/x", O_PATH, &fd), -ELOOP);
        assert_int_equal(inroot_mkpath(f->root_fd, "/loop/x", INROOT_DIR, 0755, &fd), -ELOOP);
        /* A dangling link as the last name is not followed to create its target. */
        assert_int_equal(inroot_mkpath(f->root_fd, "/inside", INROOT_DIR, 0755, &fd), -ENOENT);
        assert_int_equal(count_entries(f->outside), 1);
}

static void test_kind_mismatch(void **state)
{
        struct fixture *f = *state;
        int fd = -1;
        char name[NAME_MAX + 1];

        assert_int_equal(inroot_mkpath(f->root_fd, "/d", INROOT_DIR, 0755, &fd), 0);
        close(fd);
        assert_int_equal(inroot_mkpath(f->root_fd, "/d", INROOT_FILE, 0644, &fd), -EISDIR);
        assert_int_equal(inroot_mkpath(f->root_fd, "/d/f", INROOT_FILE, 0644, &fd), 0);
        close(fd);
        assert_int_equal(inroot_mkpath(f->root_fd, "/d/f", INROOT_DIR, 0755, &fd), -ENOTDIR);
        assert_int_equal(inroot_open_parent(f->root_fd, "/d/f/", false, &fd, name, sizeof(name)), 0);
        assert_string_equal(name, "f");
        close(fd);
        assert_int_equal(inroot_open_parent(f->root_fd, "/d/..", false, &fd, name, sizeof(name)),
                         -EINVAL);
}

static void test_nofollow_source(void **state)
{
        struct fixture *f = *state;
        char p[PATH_MAX * 3];
        int fd = -1;

        /* A volume source with a symlink anywhere in it is refused, not followed. */
        snprintf(p, sizeof(p), "%s/etc/hosts", f->root);
        assert_int_equal(path_open_nofollow(p, &fd), -ELOOP);
        snprintf(p, sizeof(p), "%s/hosts", f->outside);
        assert_int_equal(path_open_nofollow(p, &fd), 0);
        close(fd);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_absolute_symlink_stays_inside, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dotdot_symlink_is_clamped, setup, teardown),
                cmocka_unit_test_setup_teardown(test_loops_and_dangling_links_fail, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kind_mismatch, setup, teardown),
                cmocka_unit_test_setup_teardown(test_nofollow_source, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
