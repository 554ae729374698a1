/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for cli/ctl-args: flags in every position, `run` flags into a spec, unique-prefix
 * and name lookup (an ambiguous prefix lists the matches) and the documented exit codes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ctl-args.h"
#include "common/macro.h"

#define ARGV(...) ((char *[]){"siloctl", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *[]){"siloctl", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(a, err, ...) ctl_args_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (a), (err))

/* The same request with its flags before the command, between it and its argument, after
 * the argument, and as --flag=value: all parse alike. */
static void test_global_flags_anywhere(void **state)
{
        char **lines[] = {
                ARGV("-o", "json", "--master", "http://m:1", "get", "abc"),
                ARGV("get", "-o", "json", "--master", "http://m:1", "abc"),
                ARGV("get", "abc", "-o", "json", "--master", "http://m:1"),
                ARGV("--output=json", "get", "abc", "--master=http://m:1"),
                ARGV("-ojson", "get", "-m", "http://m:1", "abc"),
        };
        (void)state;

        for (size_t i = 0; i < ELEMENTSOF(lines); i++) {
                struct ctl_args a;
                char *err = NULL;
                int argc = 0;

                while (lines[i][argc])
                        argc++;
                assert_int_equal(ctl_args_parse(argc, lines[i], &a, &err), 0);
                assert_null(err);
                assert_int_equal(a.command, CTL_CMD_GET);
                assert_true(a.json);
                assert_string_equal(a.master, "http://m:1");
                assert_int_equal(a.n_pos, 1);
                assert_string_equal(a.pos[0], "abc");
                ctl_args_done(&a);
        }
}

static void test_command_flags(void **state)
{
        struct ctl_args a;
        char *err = NULL;
        (void)state;

        assert_int_equal(PARSE(&a, &err, "logs", "t1", "-f", "--stderr", "--token-file", "/tok", "--offset", "12"), 0);
        assert_int_equal(a.command, CTL_CMD_LOGS);
        assert_true(a.follow);
        assert_true(a.err_stream);
        assert_string_equal(a.offset, "12");
        assert_string_equal(a.token_file, "/tok");
        assert_string_equal(a.pos[0], "t1");
        ctl_args_done(&a);

        assert_int_equal(PARSE(&a, &err, "--agent", "http://a:2", "top", "--once", "-s", "cpu", "--interval=0.5"), 0);
        assert_int_equal(a.command, CTL_CMD_TOP);
        assert_true(a.once);
        assert_string_equal(a.sort, "cpu");
        assert_true(a.interval_s == 0.5);
        assert_string_equal(a.agent, "http://a:2");
        ctl_args_done(&a);

        assert_int_equal(PARSE(&a, &err, "tasks", "--state", "RUNNING"), 0);
        assert_string_equal(a.state, "RUNNING");
        ctl_args_done(&a);
}

/* run: flags up to "--"; after it the command's own flags (even ours: -o, --help) are the
 * task's. */
static void test_run_stops_at_command(void **state)
{
        struct ctl_args a;
        char *err = NULL;
        (void)state;

        assert_int_equal(PARSE(&a, &err, "run", "--name", "x", "-o", "json", "--cpus", "1", "--mem", "512Mi", "--io",
                               "nullb0:wbps=20M", "--", "sh", "-c", "echo -o --help", "--master", "y"),
                         0);
        assert_true(a.run_command);
        assert_true(a.json);
        assert_null(a.master);
        assert_false(a.help);
        assert_int_equal(a.n_pos, 5);
        assert_string_equal(a.pos[0], "sh");
        assert_string_equal(a.pos[1], "-c");
        assert_string_equal(a.pos[3], "--master");
        assert_int_equal(a.n_io, 1);
        ctl_args_done(&a);

        /* A single word without "--" is a spec file, the flags around it apply over it. */
        assert_int_equal(PARSE(&a, &err, "run", "spec.json", "--name", "x"), 0);
        assert_false(a.run_command);
        assert_int_equal(a.n_pos, 1);
        assert_string_equal(a.name, "x");
        ctl_args_done(&a);
        assert_int_equal(PARSE(&a, &err, "run", "-", "-c", "2"), 0);
        assert_false(a.run_command);
        assert_string_equal(a.pos[0], "-");
        assert_string_equal(a.cpus, "2");
        ctl_args_done(&a);
}

static void expect_error(int argc, char **argv, const char *want)
{
        struct ctl_args a;
        char *err = NULL;

        assert_int_equal(ctl_args_parse(argc, argv, &a, &err), -EINVAL);
        assert_non_null(err);
        if (!strstr(err, want))
                fail_msg("error '%s' does not contain '%s'", err, want);
        free(err);
        ctl_args_done(&a);
}

static void test_errors_name_the_value(void **state)
{
        (void)state;
        expect_error(ARGC("tasks", "--bogus"), ARGV("tasks", "--bogus"), "'--bogus' is not a flag");
        expect_error(ARGC("get", "-Z", "x"), ARGV("get", "-Z", "x"), "-Z is not a flag");
        expect_error(ARGC("get", "x", "--master"), ARGV("get", "x", "--master"), "--master: missing value");
        expect_error(ARGC("-o", "yaml", "tasks"), ARGV("-o", "yaml", "tasks"), "'yaml' is not json or text");
        expect_error(ARGC("frobnicate"), ARGV("frobnicate"), "'frobnicate' is not a command");
        expect_error(ARGC("get"), ARGV("get"), "get needs one argument");
        expect_error(ARGC("get", "a", "b"), ARGV("get", "a", "b"), "got 2");
        expect_error(ARGC("agents", "x"), ARGV("agents", "x"), "agents takes no arguments, got 'x'");
        expect_error(ARGC("top", "--sort", "disk"), ARGV("top", "--sort", "disk"), "'disk' is not cpu");
        expect_error(ARGC("top", "-d", "0"), ARGV("top", "-d", "0"), "'0' is not a number of seconds");
        expect_error(ARGC("logs", "--offset", "-3", "t"), ARGV("logs", "--offset", "-3", "t"), "'-3' is not a byte offset");
        expect_error(ARGC("run"), ARGV("run"), "give a spec FILE");
        expect_error(ARGC("run", "--name", "x", "--"), ARGV("run", "--name", "x", "--"), "no command after");
        expect_error(ARGC("run", "sh", "-c"), ARGV("run", "sh", "-c"), "-c: missing value");
        expect_error(ARGC("run", "f.json", "--", "true"), ARGV("run", "f.json", "--", "true"), "not both");
        expect_error(ARGC("run", "a", "b"), ARGV("run", "a", "b"), "put the task's command after");
        expect_error(ARGC("--state", "x", "tasks"), ARGV("--state", "x", "tasks"), "'--state' is not a flag");
        expect_error(1, ARGV(NULL), "no command given");
}

static void test_help_and_version_anywhere(void **state)
{
        struct ctl_args a;
        char *err = NULL;
        (void)state;

        /* `run --help` is help, not a file named --help. */
        assert_int_equal(PARSE(&a, &err, "run", "--help"), 0);
        assert_true(a.help);
        assert_int_equal(a.command, CTL_CMD_RUN);
        ctl_args_done(&a);
        assert_int_equal(PARSE(&a, &err, "get", "-h"), 0);
        assert_true(a.help);
        ctl_args_done(&a);
        assert_int_equal(PARSE(&a, &err, "--help"), 0);
        assert_true(a.help);
        assert_int_equal(a.command, CTL_CMD_NONE);
        ctl_args_done(&a);
        assert_int_equal(PARSE(&a, &err, "tasks", "--version"), 0);
        assert_true(a.version);
        ctl_args_done(&a);

        for (int c = 0; c < _CTL_CMD_MAX; c++) {
                const char *u = ctl_command_usage(c);

                assert_non_null(strstr(u, ctl_command_name(c)));
                assert_non_null(strstr(u, "Exit status:"));
                assert_non_null(strstr(ctl_usage(), ctl_command_name(c)));
        }
}

static void test_exit_codes(void **state)
{
        char want[8];
        (void)state;

        assert_int_equal(ctl_exit_code_of_status(200), CTL_EXIT_OK);
        assert_int_equal(ctl_exit_code_of_status(202), CTL_EXIT_OK);
        assert_int_equal(ctl_exit_code_of_status(400), CTL_EXIT_USAGE);
        assert_int_equal(ctl_exit_code_of_status(401), CTL_EXIT_AUTH);
        assert_int_equal(ctl_exit_code_of_status(403), CTL_EXIT_AUTH);
        assert_int_equal(ctl_exit_code_of_status(404), CTL_EXIT_NOT_FOUND);
        assert_int_equal(ctl_exit_code_of_status(409), CTL_EXIT_FAILURE);
        assert_int_equal(ctl_exit_code_of_status(500), CTL_EXIT_FAILURE);
        /* Every code is documented in --help. */
        for (int c = CTL_EXIT_OK; c <= CTL_EXIT_NOT_FOUND; c++) {
                snprintf(want, sizeof(want), "\n  %d  ", c);
                assert_non_null(strstr(ctl_usage(), want));
        }
}

static void test_run_spec(void **state)
{
        struct ctl_args a;
        char *err = NULL;
        json_t *spec = NULL, *io;
        (void)state;

        assert_int_equal(PARSE(&a, &err, "run", "--name", "x", "--cpus", "1.5", "--mem", "512Mi", "--pids", "64",
                               "--io", "nullb0:wbps=20M,riops=100", "--env", "A=b=c", "--", "/bin/dd", "if=/dev/zero"),
                         0);
        assert_int_equal(ctl_run_spec(&a, NULL, &spec, &err), 0);
        assert_string_equal(json_string_value(json_object_get(spec, "name")), "x");
        assert_true(json_real_value(json_object_get(json_object_get(spec, "resources"), "cpus")) == 1.5);
        assert_string_equal(json_string_value(json_object_get(json_object_get(spec, "resources"), "mem")), "512Mi");
        assert_int_equal(json_integer_value(json_object_get(json_object_get(spec, "resources"), "pids")), 64);
        io = json_array_get(json_object_get(json_object_get(spec, "resources"), "io"), 0);
        assert_string_equal(json_string_value(json_object_get(io, "disk")), "nullb0");
        assert_string_equal(json_string_value(json_object_get(io, "wbps")), "20M");
        assert_string_equal(json_string_value(json_object_get(io, "riops")), "100");
        assert_string_equal(json_string_value(json_object_get(json_object_get(spec, "env"), "A")), "b=c");
        assert_int_equal(json_array_size(json_object_get(spec, "command")), 2);
        json_decref(spec);
        ctl_args_done(&a);

        /* Flags override a file's fields and keep the rest. */
        {
                json_t *base = json_pack("{s:s, s:[s], s:{s:i}}", "name", "old", "command", "/bin/true", "resources",
                                         "cpus", 4);

                assert_int_equal(PARSE(&a, &err, "run", "--name", "new", "f.json"), 0);
                assert_int_equal(ctl_run_spec(&a, base, &spec, &err), 0);
                assert_string_equal(json_string_value(json_object_get(spec, "name")), "new");
                assert_int_equal(json_integer_value(json_object_get(json_object_get(spec, "resources"), "cpus")), 4);
                assert_string_equal(json_string_value(json_object_get(base, "name")), "old");
                json_decref(spec);
                json_decref(base);
                ctl_args_done(&a);
        }

        static const struct {
                const char *flag, *value, *want;
        } bad[] = {
                {"--mem", "12Q", "run --mem: '12Q' is not a size"},
                {"--cpus", "-1", "run --cpus: '-1' is not a positive number"},
                {"--pids", "0", "run --pids: '0' is not a positive count"},
                {"--io", "nullb0", "run --io: 'nullb0' is not DISK:KEY=VALUE"},
                {"--io", "nullb0:wbps=fast", "'fast' is not a quantity"},
                {"--io", "nullb0:speed=1", "'speed' is not KEY=VALUE"},
                {"--env", "NOEQUALS", "run --env: 'NOEQUALS' is not NAME=VALUE"},
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char *argv[] = {"siloctl", "run", (char *)bad[i].flag, (char *)bad[i].value, "--", "true", NULL};

                assert_int_equal(ctl_args_parse(6, argv, &a, &err), 0);
                assert_int_equal(ctl_run_spec(&a, NULL, &spec, &err), -EINVAL);
                if (!strstr(err, bad[i].want))
                        fail_msg("error '%s' does not contain '%s'", err, bad[i].want);
                free(err);
                err = NULL;
                ctl_args_done(&a);
        }
}

static void test_resolve_prefix(void **state)
{
        json_t *tasks = json_pack("[{s:s, s:s}, {s:s, s:s}, {s:s}, {s:s}]", "id", "3f2a1b4c-0000-4000-8000-000000000001",
                                  "name", "alpha", "id", "3f2a9999-0000-4000-8000-000000000002", "name", "beta", "id",
                                  "77aa0000-0000-4000-8000-000000000003", "id", "3f");
        const char *id = NULL;
        char *err = NULL;
        (void)state;

        assert_int_equal(ctl_resolve_id(tasks, "task", "3f2a1", &id, &err), 0);
        assert_string_equal(id, "3f2a1b4c-0000-4000-8000-000000000001");
        assert_int_equal(ctl_resolve_id(tasks, "task", "77", &id, &err), 0);
        assert_string_equal(id, "77aa0000-0000-4000-8000-000000000003");
        /* An exact id wins over the ids it prefixes. */
        assert_int_equal(ctl_resolve_id(tasks, "task", "3f", &id, &err), 0);
        assert_string_equal(id, "3f");

        assert_int_equal(ctl_resolve_id(tasks, "task", "3f2a", &id, &err), -EINVAL);
        assert_non_null(strstr(err, "task id prefix '3f2a' is ambiguous: 2 tasks match"));
        assert_non_null(strstr(err, "3f2a1b4c-0000-4000-8000-000000000001  alpha"));
        assert_non_null(strstr(err, "3f2a9999-0000-4000-8000-000000000002  beta"));
        assert_null(strstr(err, "77aa"));
        free(err);
        err = NULL;

        /* A name, when only one task has it; an id prefix wins over a name. */
        assert_int_equal(ctl_resolve_id(tasks, "task", "beta", &id, &err), 0);
        assert_string_equal(id, "3f2a9999-0000-4000-8000-000000000002");
        json_array_append_new(tasks, json_pack("{s:s, s:s}", "id", "beef0000-0000-4000-8000-000000000004", "name", "beta"));
        json_array_append_new(tasks, json_pack("{s:s, s:s}", "id", "abcd0000-0000-4000-8000-000000000005", "name", "77"));
        assert_int_equal(ctl_resolve_id(tasks, "task", "beta", &id, &err), -EINVAL);
        assert_non_null(strstr(err, "2 tasks are named 'beta'; give an id prefix:\n"));
        assert_non_null(strstr(err, "beef0000-0000-4000-8000-000000000004  beta"));
        free(err);
        err = NULL;
        assert_int_equal(ctl_resolve_id(tasks, "task", "77", &id, &err), 0);
        assert_string_equal(id, "77aa0000-0000-4000-8000-000000000003");

        /* Agents by hostname. */
        {
                json_t *agents = json_pack("[{s:s, s:s}, {s:s, s:s}]", "id", "a1", "hostname", "node-1", "id", "a2",
                                           "hostname", "node-2");

                assert_int_equal(ctl_resolve_id(agents, "agent", "node-2", &id, &err), 0);
                assert_string_equal(id, "a2");
                json_decref(agents);
        }

        assert_int_equal(ctl_resolve_id(tasks, "agent", "zz", &id, &err), -ENOENT);
        assert_string_equal(err, "no agent with an id starting with 'zz' or named so");
        free(err);
        err = NULL;
        assert_int_equal(ctl_resolve_id(tasks, "task", "", &id, &err), -ENOENT);
        free(err);
        json_decref(tasks);
}

/* siloctl events: its filters, --master's list, and values refused with the flag named. */
static void test_events_flags(void **state)
{
        struct ctl_args a;
        char *err = NULL;
        (void)state;

        assert_int_equal(PARSE(&a, &err, "events", "--since", "42", "-r", "db", "--task", "web",
                               "--type=task_state,agent_lost", "-m", "http://m1:5050,http://m2:5050"), 0);
        assert_int_equal(a.command, CTL_CMD_EVENTS);
        assert_string_equal(a.since, "42");
        assert_string_equal(a.role, "db");
        assert_string_equal(a.task, "web");
        assert_string_equal(a.types, "task_state,agent_lost");
        assert_string_equal(a.master, "http://m1:5050,http://m2:5050");
        assert_int_equal(a.n_pos, 0);
        ctl_args_done(&a);

        assert_int_equal(PARSE(&a, &err, "events", "--since", "-1"), -EINVAL);
        assert_string_equal(err, "events --since: '-1' is not an event index");
        free(err);
        err = NULL;
        ctl_args_done(&a);
        assert_int_equal(PARSE(&a, &err, "events", "--type", "task_state,task_stat"), -EINVAL);
        assert_non_null(strstr(err, "events --type: 'task_stat' is not an event type"));
        free(err);
        err = NULL;
        ctl_args_done(&a);
        assert_int_equal(PARSE(&a, &err, "events", "extra"), -EINVAL);
        assert_string_equal(err, "events takes no arguments, got 'extra'");
        free(err);
        ctl_args_done(&a);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_global_flags_anywhere),
                cmocka_unit_test(test_command_flags),
                cmocka_unit_test(test_run_stops_at_command),
                cmocka_unit_test(test_errors_name_the_value),
                cmocka_unit_test(test_help_and_version_anywhere),
                cmocka_unit_test(test_exit_codes),
                cmocka_unit_test(test_run_spec),
                cmocka_unit_test(test_resolve_prefix),
                cmocka_unit_test(test_events_flags),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
