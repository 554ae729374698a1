/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for common/quantity: exact parsing, edge cases, formatting and the JSON reader's
 * messages. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <inttypes.h>

#include "common/macro.h"
#include "common/quantity.h"

struct parse_case {
        const char *in;
        int ret;
        uint64_t value;
};

static const struct parse_case parse_cases[] = {
    {"0", 0, 0},
    {"1", 0, 1},
    {"007", 0, 7},
    {"512", 0, 512},
    {"1Ki", 0, 1024},
    {"1k", 0, 1000},
    {"1Mi", 0, 1048576},
    {"1M", 0, 1000000},
    {"3Gi", 0, 3221225472ULL},
    {"2G", 0, 2000000000ULL},
    {"1Ti", 0, 1ULL << 40},
    {"7T", 0, 7000000000000ULL},
    {"1Pi", 0, 1ULL << 50},
    {"5P", 0, 5000000000000000ULL},
    {"200M", 0, 200000000},
    {"512Mi", 0, 536870912},
    /* fractions, exactly and rounded down */
    {"1.5Gi", 0, 1610612736ULL},
    {"0.1Ki", 0, 102},
    {"0.5", 0, 0},
    {"1.9", 0, 1},
    {"0.5Ki", 0, 512},
    {"1.5k", 0, 1500},
    {"0.001k", 0, 1},
    {"0.0009k", 0, 0},
    {"0.3M", 0, 300000}, /* a double would give 299999 */
    {"2.675M", 0, 2675000},
    {"0.999999999999999999999999999999Ki", 0, 1023},
    {"1.00000000000000000000000000000000000000000000000000000000000000000001Gi", 0, 1ULL << 30},
    {"0.0000000000000000000000000000000000000001Pi", 0, 0},
    {".5", 0, 0},
    {".5Ki", 0, 512},
    {"5.", 0, 5},
    {"5.Mi", 0, 5ULL << 20},
    {"15.999Pi", 0, 18013272609575141ULL},
    /* the top of the range: UINT64_MAX is SILO_UNSET */
    {"18446744073709551614", 0, UINT64_MAX - 1},
    {"18446744073709551615", -ERANGE, 0},
    {"18446744073709551616", -ERANGE, 0},
    {"99999999999999999999999999", -ERANGE, 0},
    {"17179869184Gi", -ERANGE, 0},
    {"16384Pi", -ERANGE, 0},
    {"16383.999999999999999Pi", 0, UINT64_MAX - 1}, /* 2^64 - ceil(2^50 / 10^15) */
    /* not quantities */
    {"", -EINVAL, 0},
    {".", -EINVAL, 0},
    {"Ki", -EINVAL, 0},
    {"1K", -EINVAL, 0},
    {"1KiB", -EINVAL, 0},
    {"1kb", -EINVAL, 0},
    {"1m", -EINVAL, 0},
    {"1Ei", -EINVAL, 0},
    {"16Ei", -EINVAL, 0}, /* Ei is not one of the suffixes, even though 16Ei overflows */
    {"1E", -EINVAL, 0},
    {"1i", -EINVAL, 0},
    {"1 Ki", -EINVAL, 0},
    {" 1", -EINVAL, 0},
    {"1 ", -EINVAL, 0},
    {"\t1", -EINVAL, 0},
    {"1\n", -EINVAL, 0},
    {"-1", -EINVAL, 0},
    {"+1", -EINVAL, 0},
    {"-0", -EINVAL, 0},
    {"1e3", -EINVAL, 0},
    {"1E3", -EINVAL, 0},
    {"0x10", -EINVAL, 0},
    {"NaN", -EINVAL, 0},
    {"nan", -EINVAL, 0},
    {"inf", -EINVAL, 0},
    {"infinity", -EINVAL, 0},
    {"1.2.3", -EINVAL, 0},
    {"1..2", -EINVAL, 0},
    {"1,5", -EINVAL, 0},
    {"1_000", -EINVAL, 0},
    {"12Q", -EINVAL, 0},
    {"1KiKi", -EINVAL, 0},
    {"1Mi ", -EINVAL, 0},
    {"99999999999999999999999Q", -EINVAL, 0}, /* syntax is checked before range */
};

static void test_parse_table(void **state)
{
        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(parse_cases); i++) {
                const struct parse_case *c = &parse_cases[i];
                uint64_t v = 4242;
                int r;

                r = quantity_parse(c->in, &v);
                if (r != c->ret || (r == 0 && v != c->value))
                        fail_msg("quantity_parse(\"%s\") = %d, %" PRIu64 "; expected %d, %" PRIu64,
                                 c->in, r, v, c->ret, c->value);
                if (r < 0)
                        assert_int_equal(v, 4242); /* ret untouched on failure */
        }
}

static void test_parse_top_of_range(void **state)
{
        uint64_t v;
        (void)state;

        /* 18446744073709551.614k = UINT64_MAX - 1 exactly; .615k is UINT64_MAX (SILO_UNSET). */
        assert_int_equal(quantity_parse("18446744073709551.614k", &v), 0);
        assert_true(v == UINT64_MAX - 1);
        assert_int_equal(quantity_parse("18446744073709551.6149k", &v), 0);
        assert_true(v == UINT64_MAX - 1);
        assert_int_equal(quantity_parse("18446744073709551.615k", &v), -ERANGE);
        assert_int_equal(quantity_parse("16383.999999999999998Pi", &v), 0);
        assert_true(v == UINT64_MAX - 2); /* 2^64 - ceil(2 * 2^50 / 10^15) */
        assert_int_equal(quantity_parse("15Pi", &v), 0);
        assert_true(v == 15ULL << 50);
        assert_int_equal(quantity_parse(NULL, &v), -EINVAL);
}

static void test_parse_many_fraction_digits(void **state)
{
        char buf[8192];
        uint64_t v;
        (void)state;

        /* 0.333...3Mi with 8000 threes: floor(2^20 / 3) */
        buf[0] = '0';
        buf[1] = '.';
        memset(buf + 2, '3', 8000);
        strcpy(buf + 8002, "Mi");
        assert_int_equal(quantity_parse(buf, &v), 0);
        assert_int_equal(v, (1ULL << 20) / 3);

        /* 0.999...9Pi with 8000 nines: just below 2^50 */
        memset(buf + 2, '9', 8000);
        strcpy(buf + 8002, "Pi");
        assert_int_equal(quantity_parse(buf, &v), 0);
        assert_int_equal(v, (1ULL << 50) - 1);
}

struct format_case {
        uint64_t v;
        const char *out;
};

static const struct format_case format_cases[] = {
    {0, "0"},
    {1, "1"},
    {1000, "1000"},
    {1023, "1023"},
    {1024, "1Ki"},
    {1536, "1536"},
    {3072, "3Ki"},
    {536870912, "512Mi"},
    {1ULL << 30, "1Gi"},
    {1610612736ULL, "1536Mi"},
    {200000000, "200000000"},
    {1ULL << 40, "1Ti"},
    {1ULL << 50, "1Pi"},
    {1ULL << 60, "1024Pi"},
    {UINT64_MAX - 1, "18446744073709551614"},
};

static void test_format_table(void **state)
{
        char buf[QUANTITY_FORMAT_MAX];
        (void)state;

        for (size_t i = 0; i < ELEMENTSOF(format_cases); i++) {
                uint64_t back;

                assert_int_equal(quantity_format(format_cases[i].v, buf, sizeof(buf)), 0);
                assert_string_equal(buf, format_cases[i].out);
                assert_int_equal(quantity_parse(buf, &back), 0);
                assert_true(back == format_cases[i].v);
        }
        /* 2^64 - 1024 = 18014398509481983 Ki */
        assert_int_equal(quantity_format(UINT64_MAX - 1023, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "18014398509481983Ki");
        assert_int_equal(quantity_format(1024, buf, 4), 0);
        assert_string_equal(buf, "1Ki");
        assert_int_equal(quantity_format(1024, buf, 3), -ENOBUFS);
        assert_int_equal(quantity_format(123456, buf, 4), -ENOBUFS);
}

/* Every value formats to something that parses back to itself. */
static void test_format_round_trip(void **state)
{
        char buf[QUANTITY_FORMAT_MAX];
        uint64_t x = 88172645463325252ULL;
        (void)state;

        for (int i = 0; i < 20000; i++) {
                uint64_t v, back;

                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                /* mix of random values and values with many low zero bits */
                v = (i & 1) ? x >> (x & 63) : (x >> 40) << (10 * (i % 6));
                if (v == UINT64_MAX)
                        continue;
                assert_int_equal(quantity_format(v, buf, sizeof(buf)), 0);
                assert_int_equal(quantity_parse(buf, &back), 0);
                assert_true(back == v);
        }
}

struct json_case {
        const char *json;
        bool positive;
        int ret;
        uint64_t value;
        const char *error;
};

static const struct json_case json_cases[] = {
    {"12", false, 0, 12, NULL},
    {"0", false, 0, 0, NULL},
    {"0", true, -EINVAL, 0, "resources.pids: 0 must be positive"},
    {"1.9", false, 0, 1, NULL},
    {"0.5", true, -EINVAL, 0, "resources.pids: 0.5 must be positive"},
    {"\"512Mi\"", true, 0, 536870912, NULL},
    {"\"0.1\"", true, -EINVAL, 0, "resources.pids: '0.1' must be positive"},
    {"\"0\"", false, 0, 0, NULL},
    {"\"12Q\"", false, -EINVAL, 0, "resources.pids: '12Q' is not a quantity"},
    {"\"\"", false, -EINVAL, 0, "resources.pids: '' is not a quantity"},
    {"\" 1\"", false, -EINVAL, 0, "resources.pids: ' 1' is not a quantity"},
    {"-5", false, -EINVAL, 0, "resources.pids: -5 is negative"},
    {"-0.5", false, -EINVAL, 0, "resources.pids: -0.5 is negative"},
    {"\"-5Mi\"", false, -EINVAL, 0, "resources.pids: '-5Mi' is negative"},
    {"\"-x\"", false, -EINVAL, 0, "resources.pids: '-x' is not a quantity"},
    {"\"-0\"", false, -EINVAL, 0, "resources.pids: '-0' is not a quantity (no sign)"},
    {"\"-0.0Ki\"", false, -EINVAL, 0, "resources.pids: '-0.0Ki' is not a quantity (no sign)"},
    {"\"-99999999999999999999999\"", false, -EINVAL, 0,
     "resources.pids: '-99999999999999999999999' is negative"},
    {"-0", false, 0, 0, NULL},
    {"-0.0", false, 0, 0, NULL},
    {"\"18446744073709551616\"", false, -ERANGE, 0,
     "resources.pids: '18446744073709551616' is out of range"},
    {"\"17179869184Gi\"", false, -ERANGE, 0, "resources.pids: '17179869184Gi' is out of range"},
    {"\"18446744073709551615\"", false, -ERANGE, 0,
     "resources.pids: '18446744073709551615' is out of range"},
    {"\"18446744073709551614\"", false, 0, UINT64_MAX - 1, NULL},
    {"9223372036854775807", false, 0, 9223372036854775807ULL, NULL},
    {"1e+20", false, -ERANGE, 0, "resources.pids: 1e+20 is out of range"},
    {"1.8446744073709552e+19", false, -ERANGE, 0,
     "resources.pids: 1.8446744073709552e+19 is out of range"},
    {"1e3", false, 0, 1000, NULL},
    {"true", false, -EINVAL, 0, "resources.pids: must be a number or a quantity string"},
    {"null", false, -EINVAL, 0, "resources.pids: must be a number or a quantity string"},
    {"[1]", false, -EINVAL, 0, "resources.pids: must be a number or a quantity string"},
    {"{}", false, -EINVAL, 0, "resources.pids: must be a number or a quantity string"},
};

static void test_from_json_table(void **state)
{
        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(json_cases); i++) {
                const struct json_case *c = &json_cases[i];
                _cleanup_free_ char *error = NULL;
                json_error_t jerr;
                json_t *j = json_loads(c->json, JSON_DECODE_ANY, &jerr);
                uint64_t v = 4242;
                int r;

                assert_non_null(j);
                r = c->positive ? quantity_from_json_positive(j, "resources.pids", &v, &error)
                                : quantity_from_json(j, "resources.pids", &v, &error);
                json_decref(j);
                if (r != c->ret || !streq_ptr(error, c->error) || (r == 0 && v != c->value))
                        fail_msg("%s: got %d '%s' %" PRIu64 ", expected %d '%s' %" PRIu64, c->json,
                                 r, strempty(error), v, c->ret, strempty(c->error), c->value);
        }
}

static void test_from_json_null_error(void **state)
{
        json_t *j = json_string("12Q");
        uint64_t v;
        (void)state;

        /* Callers that only want the verdict may pass no error pointer. */
        assert_int_equal(quantity_from_json(j, "x", &v, NULL), -EINVAL);
        json_decref(j);
}

static void test_to_json(void **state)
{
        json_t *j;
        uint64_t v;
        (void)state;

        j = quantity_to_json(536870912);
        assert_true(json_is_integer(j));
        assert_int_equal(json_integer_value(j), 536870912);
        json_decref(j);

        /* above json_int_t: a digit string, read back exactly */
        j = quantity_to_json(UINT64_MAX - 1);
        assert_true(json_is_string(j));
        assert_string_equal(json_string_value(j), "18446744073709551614");
        assert_int_equal(quantity_from_json(j, "x", &v, NULL), 0);
        assert_true(v == UINT64_MAX - 1);
        json_decref(j);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_parse_table),
            cmocka_unit_test(test_parse_top_of_range),
            cmocka_unit_test(test_parse_many_fraction_digits),
            cmocka_unit_test(test_format_table),
            cmocka_unit_test(test_format_round_trip),
            cmocka_unit_test(test_from_json_table),
            cmocka_unit_test(test_from_json_null_error),
            cmocka_unit_test(test_to_json),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
