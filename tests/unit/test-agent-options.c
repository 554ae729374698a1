/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of silo-agent's options: defaults, the config file, command-line precedence, bounds. */
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
#include "agent/options.h"
#include "common/macro.h"

static char conf[64];

static int setup(void **state)
{
        int fd;

        (void)state;
        snprintf(conf, sizeof(conf), "/tmp/test-agent-conf-XXXXXX");
        fd = mkstemp(conf);
        if (fd < 0)
                return -1;
        close(fd);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        return unlink(conf);
}

static void write_conf(const char *text)
{
        FILE *f = fopen(conf, "we");

        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static int parse(int argc, char **argv, struct agent_options *o, char **err)
{
        memset(o, 0, sizeof(*o));
        *err = NULL;
        return config_parse(&agent_options_schema, argc, argv, o, err);
}

static void test_defaults(void **state)
{
        struct agent_options o;
        char *err;
        char *argv[] = {"silo-agent", "--config", conf, NULL};

        (void)state;
        write_conf("# nothing set\n");
        assert_int_equal(parse(3, argv, &o, &err), 0);
        assert_string_equal(o.listen, "127.0.0.1:5051");
        assert_string_equal(o.state_dir, "/var/lib/silo/agent");
        assert_null(o.token_file);
        assert_null(o.master);
        assert_null(o.disk);
        assert_int_equal(o.kill_grace_s, 10);
        assert_int_equal(o.log_max_bytes, 10485760);
        assert_int_equal(o.log_files, 5);
        assert_string_equal(o.log_level, "info");
        config_free(&agent_options_schema, &o);
}

static void test_file_then_command_line(void **state)
{
        struct agent_options o;
        char *err;
        char *argv[] = {"silo-agent", "--config", conf, "--listen", "0.0.0.0:6000",
                        "--disk", "nullb0", "--disk=/dev/nullb1", "--kill-grace-s=3", NULL};

        (void)state;
        write_conf("listen = 127.0.0.1:7000\n"
                   "state-dir = /tmp/agent-state\n"
                   "disk = sda\n"
                   "log-max-bytes = 4096\n"
                   "log-files = 2\n"
                   "kill-grace-s = 30\n");
        assert_int_equal(parse(9, argv, &o, &err), 0);
        /* The command line wins over the file, the file over the defaults. */
        assert_string_equal(o.listen, "0.0.0.0:6000");
        assert_string_equal(o.state_dir, "/tmp/agent-state");
        assert_int_equal(o.kill_grace_s, 3);
        assert_int_equal(o.log_max_bytes, 4096);
        assert_int_equal(o.log_files, 2);
        /* A list given on the command line replaces the file's. */
        assert_non_null(o.disk);
        assert_string_equal(o.disk[0], "nullb0");
        assert_string_equal(o.disk[1], "/dev/nullb1");
        assert_null(o.disk[2]);
        config_free(&agent_options_schema, &o);
}

static void test_bounds_and_errors(void **state)
{
        static const char *const bad[][2] = {
                {"--log-files=0", "log-files"},
                {"--log-files=65", "log-files"},
                {"--log-max-bytes=10", "log-max-bytes"},
                {"--kill-grace-s=abc", "kill-grace-s"},
                {"--kill-grace-s=-1", "kill-grace-s"},
                {"--no-such-option", "no-such-option"},
        };
        struct agent_options o;
        char *err;

        (void)state;
        write_conf("\n");
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char *argv[] = {"silo-agent", "--config", conf, (char *)bad[i][0], NULL};

                assert_true(parse(4, argv, &o, &err) < 0);
                assert_non_null(err);
                /* The message names the offending option. */
                if (!strstr(err, bad[i][1]))
                        fail_msg("'%s' -> '%s' does not name %s", bad[i][0], err, bad[i][1]);
                free(err);
                config_free(&agent_options_schema, &o);
        }
}

static void test_file_errors_name_line(void **state)
{
        struct agent_options o;
        char *err;
        char *argv[] = {"silo-agent", "--config", conf, NULL};

        (void)state;
        write_conf("listen = 127.0.0.1:1\nlog-files = many\n");
        assert_true(parse(3, argv, &o, &err) < 0);
        assert_non_null(err);
        assert_non_null(strstr(err, conf));
        assert_non_null(strstr(err, ":2"));
        free(err);
        config_free(&agent_options_schema, &o);
}

static void test_help_lists_every_option(void **state)
{
        struct agent_options o;
        char *err, *help;
        char *argv[] = {"silo-agent", "--help", NULL};

        (void)state;
        assert_int_equal(parse(2, argv, &o, &err), CONFIG_HELP);
        help = config_help_format(&agent_options_schema);
        assert_non_null(help);
        for (size_t i = 0; i < agent_options_schema.n_options; i++) {
                char name[64];
                snprintf(name, sizeof(name), "--%s", agent_options_schema.options[i].name);
                if (!strstr(help, name))
                        fail_msg("--help lacks %s", name);
        }
        free(help);
        config_free(&agent_options_schema, &o);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
                cmocka_unit_test_setup_teardown(test_file_then_command_line, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bounds_and_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_file_errors_name_line, setup, teardown),
                cmocka_unit_test_setup_teardown(test_help_lists_every_option, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
