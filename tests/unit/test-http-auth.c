/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of common/auth: token generation (0600), token files, bearer checks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "common/auth.h"
#include "common/macro.h"

static char tmpdir[] = "/tmp/test-auth.XXXXXX";

static char *path_in(const char *name)
{
        char *p;

        assert_true(asprintf(&p, "%s/%s", tmpdir, name) > 0);
        return p;
}

static char *write_file(const char *name, const char *content)
{
        char *p = path_in(name);
        FILE *f = fopen(p, "w");

        assert_non_null(f);
        fputs(content, f);
        fclose(f);
        return p;
}

static void test_generate_and_reload(void **state)
{
        _cleanup_free_ char *dir = path_in("state/sub"), *file = NULL, *t1 = NULL, *t2 = NULL;
        struct stat st;
        bool generated = false;
        char *err = NULL;

        (void)state;
        assert_int_equal(auth_token_load(NULL, dir, &t1, &generated, &err), 0);
        assert_true(generated);
        assert_int_equal(strlen(t1), AUTH_TOKEN_GENERATED_LEN);
        assert_int_equal(strspn(t1, "0123456789abcdef"), AUTH_TOKEN_GENERATED_LEN);
        assert_true(asprintf(&file, "%s/token", dir) > 0);
        assert_int_equal(stat(file, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(stat(dir, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0700);

        /* The second start reads the same token. */
        assert_int_equal(auth_token_load(NULL, dir, &t2, &generated, &err), 0);
        assert_false(generated);
        assert_string_equal(t1, t2);
}

static void test_token_file(void **state)
{
        _cleanup_free_ char *p = write_file("tok", "  s3cr3t-token-value-0123\n\n"), *t = NULL;
        _cleanup_free_ char *missing = path_in("nope");
        char *err = NULL, *t2 = NULL;

        (void)state;
        assert_int_equal(auth_token_load(p, NULL, &t, NULL, &err), 0);
        assert_string_equal(t, "s3cr3t-token-value-0123");

        assert_int_equal(auth_token_load(missing, NULL, &t2, NULL, &err), -ENOENT);
        assert_non_null(strstr(err, missing));
        free(err);
        free(p);
        p = write_file("short", "abc\n");
        assert_int_equal(auth_token_load(p, NULL, &t2, NULL, &err), -EINVAL);
        assert_non_null(strstr(err, p));
        assert_non_null(strstr(err, "16 to 1024 printable characters"));
        free(err);
        free(p);
        p = write_file("spaces", "a token with spaces in it\n");
        assert_int_equal(auth_token_load(p, NULL, &t2, NULL, &err), -EINVAL);
        free(err);
        free(p);
        p = write_file("empty", "\n");
        assert_int_equal(auth_token_load(p, NULL, &t2, NULL, &err), -EINVAL);
        free(err);
        assert_int_equal(auth_token_load(NULL, NULL, &t2, NULL, &err), -EINVAL);
        free(err);
}

/* A configured token file: private is fine, readable by others warns, writable refuses. */
static void test_token_file_check(void **state)
{
        _cleanup_free_ char *p = write_file("perm", "s3cr3t-token-value-0123\n");
        _cleanup_free_ char *missing = path_in("nope"), *dir = path_in("");
        char *warn = NULL, *err = NULL;

        (void)state;
        assert_int_equal(chmod(p, 0600), 0);
        assert_int_equal(auth_token_file_check(p, &warn, &err), 0);
        assert_null(warn);
        assert_int_equal(chmod(p, 0400), 0);
        assert_int_equal(auth_token_file_check(p, &warn, &err), 0);

        assert_int_equal(chmod(p, 0644), 0);
        assert_int_equal(auth_token_file_check(p, &warn, &err), 1);
        assert_non_null(strstr(warn, p));
        assert_non_null(strstr(warn, "mode 0644 lets every local user read it"));
        assert_non_null(strstr(warn, "chmod 0600"));
        free(warn);
        warn = NULL;
        assert_int_equal(chmod(p, 0640), 0);
        assert_int_equal(auth_token_file_check(p, &warn, &err), 1);
        assert_non_null(strstr(warn, "mode 0640 lets its group read it"));
        free(warn);
        warn = NULL;
        assert_int_equal(auth_token_file_check(p, NULL, &err), 1);

        assert_int_equal(chmod(p, 0666), 0);
        assert_int_equal(auth_token_file_check(p, &warn, &err), -EPERM);
        assert_null(warn);
        assert_non_null(strstr(err, "mode 0666 lets every local user write it"));
        free(err);
        assert_int_equal(chmod(p, 0620), 0);
        assert_int_equal(auth_token_file_check(p, &warn, &err), -EPERM);
        assert_non_null(strstr(err, "its group write it"));
        free(err);
        assert_int_equal(auth_token_file_check(dir, &warn, &err), -EPERM);
        assert_non_null(strstr(err, "not a regular file"));
        free(err);
        assert_int_equal(auth_token_file_check(missing, &warn, &err), -ENOENT);
        assert_non_null(strstr(err, missing));
        free(err);
}

static void test_compare(void **state)
{
        const char *tok = "0123456789abcdef0123";

        (void)state;
        assert_true(auth_token_equal(tok, "0123456789abcdef0123"));
        assert_false(auth_token_equal(tok, "0123456789abcdef012"));
        assert_false(auth_token_equal(tok, "0123456789abcdef01234"));
        assert_false(auth_token_equal(tok, "1123456789abcdef0123"));
        assert_false(auth_token_equal(tok, ""));
        assert_false(auth_token_equal(tok, NULL));
        assert_false(auth_token_equal(NULL, tok));

        assert_true(auth_bearer_check(tok, "Bearer 0123456789abcdef0123"));
        assert_true(auth_bearer_check(tok, "bearer 0123456789abcdef0123"));
        assert_true(auth_bearer_check(tok, "Bearer   0123456789abcdef0123"));
        assert_false(auth_bearer_check(tok, "Basic 0123456789abcdef0123"));
        assert_false(auth_bearer_check(tok, "Bearer0123456789abcdef0123"));
        assert_false(auth_bearer_check(tok, "Bearer wrong"));
        assert_false(auth_bearer_check(tok, NULL));

        assert_true(auth_token_is_valid("0123456789abcdef"));
        assert_false(auth_token_is_valid("0123456789abcde"));
        assert_false(auth_token_is_valid("0123456789abcdef\x01"));
        {
                _cleanup_free_ char *h = auth_bearer_header(tok);
                assert_string_equal(h, "Authorization: Bearer 0123456789abcdef0123");
        }
}

static int setup(void **state)
{
        (void)state;
        return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
        char cmd[128];

        (void)state;
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_generate_and_reload),
            cmocka_unit_test(test_token_file),
            cmocka_unit_test(test_token_file_check),
            cmocka_unit_test(test_compare),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
