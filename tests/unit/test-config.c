/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of common/config: command line, config file, precedence, lists, help, every error. */
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

#include "common/config.h"
#include "common/macro.h"

struct opts {
        char *listen;
        char *token_file;
        uint64_t interval;
        double cpus;
        bool verbose;
        char **disks;
};

#define O(f) offsetof(struct opts, f)
static const struct config_option table[] = {
    {"listen", CONFIG_STRING, O(listen), "127.0.0.1:5050", "ADDR", "listen address"},
    {"token-file", CONFIG_STRING, O(token_file), NULL, "FILE", "token"},
    {"interval-ms", CONFIG_UINT, O(interval), "1000", "MS", "interval", 10, 60000},
    {"cpus", CONFIG_DOUBLE, O(cpus), "1.5", NULL, "cpus"},
    {"verbose", CONFIG_BOOL, O(verbose), "false", NULL, "talk more"},
    {"disk", CONFIG_LIST, O(disks), NULL, "DISK", "a disk"},
};
static struct config_schema schema = {
    .program = "test-daemon",
    .summary = "A daemon for tests.",
    .default_config_path = NULL,
    .options = table,
    .n_options = ELEMENTSOF(table),
};

static char tmpdir[] = "/tmp/test-config.XXXXXX";

/* Parse argv (NULL-terminated list after the program name) into o; returns config_parse()'s value.
 */
static int parse(struct opts *o, char **err, ...)
{
        char *argv[32] = {(char *)"test-daemon"};
        int argc = 1;
        va_list ap;
        char *a;

        memset(o, 0, sizeof(*o));
        *err = NULL;
        va_start(ap, err);
        while ((a = va_arg(ap, char *)) && argc < 31)
                argv[argc++] = a;
        va_end(ap);
        return config_parse(&schema, argc, argv, o, err);
}

static char *write_file(const char *name, const char *content)
{
        char *path;
        FILE *f;

        assert_true(asprintf(&path, "%s/%s", tmpdir, name) > 0);
        f = fopen(path, "w");
        assert_non_null(f);
        fputs(content, f);
        fclose(f);
        return path;
}

static void expect_error(int r, int expected_r, char *err, const char *fragment)
{
        assert_int_equal(r, expected_r);
        assert_non_null(err);
        if (!strstr(err, fragment))
                fail_msg("error '%s' does not contain '%s'", err, fragment);
        free(err);
}

static void test_defaults(void **state)
{
        struct opts o;
        char *err;

        (void)state;
        assert_int_equal(parse(&o, &err, NULL), 0);
        assert_string_equal(o.listen, "127.0.0.1:5050");
        assert_null(o.token_file);
        assert_int_equal(o.interval, 1000);
        assert_true(o.cpus == 1.5);
        assert_false(o.verbose);
        assert_null(o.disks);
        config_free(&schema, &o);
        assert_null(o.listen);
}

static void test_command_line_forms(void **state)
{
        struct opts o;
        char *err;

        (void)state;
        assert_int_equal(parse(&o, &err, "--listen", "0.0.0.0:1", "--interval-ms=250", "--cpus",
                               "0.25", "--verbose", "--disk", "sda", "--disk=nvme0n1", NULL),
                         0);
        assert_string_equal(o.listen, "0.0.0.0:1");
        assert_int_equal(o.interval, 250);
        assert_true(o.cpus == 0.25);
        assert_true(o.verbose);
        assert_non_null(o.disks);
        assert_string_equal(o.disks[0], "sda");
        assert_string_equal(o.disks[1], "nvme0n1");
        assert_null(o.disks[2]);
        config_free(&schema, &o);

        assert_int_equal(parse(&o, &err, "--verbose=no", NULL), 0);
        assert_false(o.verbose);
        config_free(&schema, &o);
        /* A bool followed by another option takes no value. */
        assert_int_equal(parse(&o, &err, "--verbose", "--interval-ms", "20", NULL), 0);
        assert_true(o.verbose);
        assert_int_equal(o.interval, 20);
        config_free(&schema, &o);
}

static void test_file_and_precedence(void **state)
{
        _cleanup_free_ char *path = NULL;
        struct opts o;
        char *err;

        (void)state;
        path = write_file("daemon.conf", "# comment\n"
                                         "\n"
                                         "listen = 10.0.0.1:5050\n"
                                         "  interval-ms=500  \n"
                                         "token-file = \"/etc/silo/token\"\n"
                                         "disk = sda\n"
                                         "disk = sdb\n"
                                         "verbose = yes\n");
        assert_int_equal(parse(&o, &err, "--config", path, NULL), 0);
        assert_string_equal(o.listen, "10.0.0.1:5050");
        assert_int_equal(o.interval, 500);
        assert_string_equal(o.token_file, "/etc/silo/token");
        assert_true(o.verbose);
        assert_string_equal(o.disks[0], "sda");
        assert_string_equal(o.disks[1], "sdb");
        assert_null(o.disks[2]);
        config_free(&schema, &o);

        /* The command line wins, and its --disk list replaces the file's. */
        assert_int_equal(parse(&o, &err, "--interval-ms", "42", "--config=", NULL), -ENOENT);
        free(err);
        config_free(&schema, &o);
        {
                char *arg;
                assert_true(asprintf(&arg, "--config=%s", path) > 0);
                assert_int_equal(
                    parse(&o, &err, "--interval-ms", "42", arg, "--disk", "nvme0n1", NULL), 0);
                free(arg);
        }
        assert_int_equal(o.interval, 42);
        assert_string_equal(o.listen, "10.0.0.1:5050");
        assert_string_equal(o.disks[0], "nvme0n1");
        assert_null(o.disks[1]);
        config_free(&schema, &o);
}

static void test_default_config_path(void **state)
{
        int r;
        _cleanup_free_ char *path = write_file("default.conf", "interval-ms = 77\n");
        _cleanup_free_ char *missing = NULL;
        struct opts o;
        char *err;

        (void)state;
        schema.default_config_path = path;
        assert_int_equal(parse(&o, &err, NULL), 0);
        assert_int_equal(o.interval, 77);
        config_free(&schema, &o);
        /* A missing default file is fine; a missing --config file is not. */
        assert_true(asprintf(&missing, "%s/nope.conf", tmpdir) > 0);
        schema.default_config_path = missing;
        assert_int_equal(parse(&o, &err, NULL), 0);
        assert_int_equal(o.interval, 1000);
        config_free(&schema, &o);
        r = parse(&o, &err, "--config", missing, NULL);
        expect_error(r, -ENOENT, err, "nope.conf");
        config_free(&schema, &o);
        schema.default_config_path = NULL;
}

static void test_file_errors(void **state)
{
        int r;
        struct opts o;
        char *err, *p;

        (void)state;
        p = write_file("e1.conf", "listen = a:1\nbogus = 1\n");
        r = parse(&o, &err, "--config", p, NULL);
        expect_error(r, -EINVAL, err, "e1.conf:2: unknown option 'bogus'");
        config_free(&schema, &o);
        free(p);
        p = write_file("e2.conf", "\n\nlisten\n");
        r = parse(&o, &err, "--config", p, NULL);
        expect_error(r, -EINVAL, err, "e2.conf:3: expected 'key = value'");
        config_free(&schema, &o);
        free(p);
        p = write_file("e3.conf", "interval-ms = soon\n");
        r = parse(&o, &err, "--config", p, NULL);
        expect_error(r, -EINVAL, err,
                     "e3.conf:1: interval-ms: 'soon' is not a non-negative integer");
        config_free(&schema, &o);
        free(p);
        p = write_file("e4.conf", "verbose = maybe\n");
        r = parse(&o, &err, "--config", p, NULL);
        expect_error(r, -EINVAL, err, "e4.conf:1: verbose: 'maybe' is not a boolean");
        config_free(&schema, &o);
        free(p);
}

static void test_command_line_errors(void **state)
{
        int r;
        struct opts o;
        char *err;

        (void)state;
        r = parse(&o, &err, "--interval-ms", "5", NULL);
        expect_error(r, -ERANGE, err, "--interval-ms: interval-ms: 5 is out of range [10, 60000]");
        config_free(&schema, &o);
        r = parse(&o, &err, "--interval-ms", "99999999999999999999999", NULL);
        expect_error(r, -ERANGE, err, "out of range");
        config_free(&schema, &o);
        r = parse(&o, &err, "--interval-ms", "-1", NULL);
        expect_error(r, -EINVAL, err, "'-1' is not a non-negative integer");
        config_free(&schema, &o);
        r = parse(&o, &err, "--interval-ms", "12ms", NULL);
        expect_error(r, -EINVAL, err, "'12ms'");
        config_free(&schema, &o);
        r = parse(&o, &err, "--cpus", "lots", NULL);
        expect_error(r, -EINVAL, err, "--cpus: cpus: 'lots' is not a number");
        config_free(&schema, &o);
        r = parse(&o, &err, "--listen", NULL);
        expect_error(r, -EINVAL, err, "--listen: missing value");
        config_free(&schema, &o);
        r = parse(&o, &err, "--lisen", "x", NULL);
        expect_error(r, -EINVAL, err, "unknown option '--lisen'");
        config_free(&schema, &o);
        r = parse(&o, &err, "--lisen=x", NULL);
        expect_error(r, -EINVAL, err, "unknown option '--lisen'");
        config_free(&schema, &o);
        r = parse(&o, &err, "stray", NULL);
        expect_error(r, -EINVAL, err, "unexpected argument 'stray'");
        config_free(&schema, &o);
        r = parse(&o, &err, "-x", NULL);
        expect_error(r, -EINVAL, err, "unexpected argument '-x'");
        config_free(&schema, &o);
        r = parse(&o, &err, "--config", NULL);
        expect_error(r, -EINVAL, err, "--config: missing value");
        config_free(&schema, &o);
        r = parse(&o, &err, "--", "extra", NULL);
        expect_error(r, -EINVAL, err, "unexpected argument 'extra'");
        config_free(&schema, &o);
}

static void test_help_and_version(void **state)
{
        _cleanup_free_ char *help = NULL;
        struct opts o;
        char *err;

        (void)state;
        assert_int_equal(parse(&o, &err, "--listen", "x:1", "--help", NULL), CONFIG_HELP);
        config_free(&schema, &o);
        assert_int_equal(parse(&o, &err, "-h", NULL), CONFIG_HELP);
        config_free(&schema, &o);
        assert_int_equal(parse(&o, &err, "--version", NULL), CONFIG_VERSION);
        config_free(&schema, &o);
        help = config_help_format(&schema);
        assert_non_null(help);
        for (size_t i = 0; i < schema.n_options; i++) {
                char needle[64];
                snprintf(needle, sizeof(needle), "--%s", table[i].name);
                if (!strstr(help, needle))
                        fail_msg("--help lacks %s:\n%s", needle, help);
        }
        assert_non_null(strstr(help, "[default: 127.0.0.1:5050]"));
        assert_non_null(strstr(help, "[default: 1000]"));
        assert_non_null(strstr(help, "(repeatable)"));
        assert_non_null(strstr(help, "--config FILE"));
        assert_non_null(strstr(help, "Usage: test-daemon"));
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
            cmocka_unit_test(test_defaults),
            cmocka_unit_test(test_command_line_forms),
            cmocka_unit_test(test_file_and_precedence),
            cmocka_unit_test(test_default_config_path),
            cmocka_unit_test(test_file_errors),
            cmocka_unit_test(test_command_line_errors),
            cmocka_unit_test(test_help_and_version),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
