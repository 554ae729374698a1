/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for common/cpu-list: the one CPU list parser, its ascending rule, its limit and
 * its callback. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/cpu-list.h"
#include "common/macro.h"

struct parse_case {
        const char *in;
        int any_order;  /* cpu_list_parse(s, 16, 0, ...) */
        int ascending;  /* cpu_list_parse(s, 16, CPU_LIST_ASCENDING, ...) */
        const char *ranges; /* what the callback saw, "lo-hi " each */
};

static const struct parse_case parse_cases[] = {
    {"0", 0, 0, "0-0 "},
    {"15", 0, 0, "15-15 "},
    {"0-3,8,10-11", 0, 0, "0-3 8-8 10-11 "},
    {"007", 0, 0, "7-7 "},
    {"3-3", 0, 0, "3-3 "},
    /* order and overlaps: only without CPU_LIST_ASCENDING */
    {"5,0-3", 0, -EINVAL, "5-5 0-3 "},
    {"0-3,2", 0, -EINVAL, "0-3 2-2 "},
    {"1,1", 0, -EINVAL, "1-1 1-1 "},
    {"0-3,3-4", 0, -EINVAL, "0-3 3-4 "},
    {"0-3,4-5", 0, 0, "0-3 4-5 "},
    /* the limit */
    {"16", -EINVAL, -EINVAL, ""},
    {"0-16", -EINVAL, -EINVAL, ""},
    {"99999999999999999999", -EINVAL, -EINVAL, ""},
    /* syntax */
    {"", -EINVAL, -EINVAL, ""},
    {"3-1", -EINVAL, -EINVAL, ""},
    {"0,,1", -EINVAL, -EINVAL, "0-0 "},
    {"0-", -EINVAL, -EINVAL, ""},
    {"-1", -EINVAL, -EINVAL, ""},
    {"0,", -EINVAL, -EINVAL, "0-0 "},
    {",0", -EINVAL, -EINVAL, ""},
    {" 0", -EINVAL, -EINVAL, ""},
    {"0 ", -EINVAL, -EINVAL, "0-0 "},
    {"0\n", -EINVAL, -EINVAL, "0-0 "},
    {"+1", -EINVAL, -EINVAL, ""},
    {"a", -EINVAL, -EINVAL, ""},
    {"1-2-3", -EINVAL, -EINVAL, "1-2 "},
};

static int record(unsigned lo, unsigned hi, void *userdata)
{
        char *buf = userdata;
        size_t n = strlen(buf);

        snprintf(buf + n, 256 - n, "%u-%u ", lo, hi);
        return 0;
}

static void test_parse(void **state)
{
        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(parse_cases); i++) {
                const struct parse_case *c = &parse_cases[i];
                char seen[256] = "";

                print_message("%s\n", c->in);
                assert_int_equal(cpu_list_parse(c->in, 16, 0, record, seen), c->any_order);
                assert_string_equal(seen, c->ranges);
                assert_int_equal(cpu_list_parse(c->in, 16, CPU_LIST_ASCENDING, NULL, NULL),
                                 c->ascending);
                assert_int_equal(cpu_list_is_valid(c->in, 16), c->ascending == 0);
        }
        assert_int_equal(cpu_list_parse(NULL, 16, 0, NULL, NULL), -EINVAL);
        assert_false(cpu_list_is_valid(NULL, 16));
}

static int stop_at_two(unsigned lo, unsigned hi, void *userdata)
{
        unsigned *calls = userdata;

        (void)lo;
        (void)hi;
        return ++*calls == 2 ? -ERANGE : 0;
}

/* The callback's error stops the parse and is returned, before later syntax is looked at. */
static void test_callback_error(void **state)
{
        unsigned calls = 0;

        (void)state;
        assert_int_equal(cpu_list_parse("0,1,2", 16, 0, stop_at_two, &calls), -ERANGE);
        assert_int_equal(calls, 2);
        calls = 0;
        assert_int_equal(cpu_list_parse("0,1x", 16, 0, stop_at_two, &calls), -ERANGE);
}

/* The codec's limit: CPUs below 4096. */
static void test_codec_limit(void **state)
{
        (void)state;
        assert_true(cpu_list_is_valid("0-4095", 4096));
        assert_false(cpu_list_is_valid("4096", 4096));
        assert_false(cpu_list_is_valid("0-4096", 4096));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_parse),
            cmocka_unit_test(test_callback_error),
            cmocka_unit_test(test_codec_limit),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
