/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of common/http-json: body parsing limits, the error object, status mapping, field
 * helpers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/http-json.h"
#include "common/macro.h"

static void expect_contains(const char *s, const char *fragment)
{
        if (!s || !strstr(s, fragment))
                fail_msg("'%s' does not contain '%s'", s ? s : "(null)", fragment);
}

static void test_parse(void **state)
{
        json_t *j = NULL;
        char *err = NULL;

        (void)state;
        assert_int_equal(http_json_parse("", 0, 0, &j, &err), 0);
        assert_null(j);
        assert_int_equal(http_json_parse(" \n\t ", 4, 0, &j, &err), 0);
        assert_null(j);
        assert_int_equal(http_json_parse("{\"a\": 1}", 8, 0, &j, &err), 0);
        assert_int_equal(json_integer_value(json_object_get(j, "a")), 1);
        json_decref(j);

        assert_int_equal(http_json_parse("{\"a\": 1,", 8, 0, &j, &err), -EBADMSG);
        expect_contains(err, "invalid JSON at line 1");
        free(err);
        /* Duplicate keys are ambiguous input, not "last one wins". */
        assert_int_equal(http_json_parse("{\"a\": 1, \"a\": 2}", 16, 0, &j, &err), -EBADMSG);
        expect_contains(err, "duplicate");
        free(err);
        assert_int_equal(http_json_parse("{\"a\": 1}", 8, 4, &j, &err), -EFBIG);
        expect_contains(err, "body of 8 bytes exceeds the limit of 4 bytes");
        free(err);
        /* ret_error is optional. */
        assert_int_equal(http_json_parse("nope", 4, 0, &j, NULL), -EBADMSG);
}

static void test_error_object(void **state)
{
        json_t *e;
        char *code = NULL, *msg = NULL, *text;

        (void)state;
        e = http_json_error_new("invalid_spec", "resources.mem: '%s' is not a quantity", "12Q");
        assert_non_null(e);
        text = http_json_dump(e);
        assert_string_equal(text, "{\"error\":{\"code\":\"invalid_spec\",\"message\":\"resources."
                                  "mem: '12Q' is not a quantity\"}}");
        free(text);
        assert_int_equal(http_json_error_parse(e, &code, &msg), 0);
        assert_string_equal(code, "invalid_spec");
        assert_string_equal(msg, "resources.mem: '12Q' is not a quantity");
        free(code);
        free(msg);
        json_decref(e);

        e = json_pack("{s:s}", "error", "flat");
        assert_int_equal(http_json_error_parse(e, &code, &msg), -EBADMSG);
        json_decref(e);
        assert_int_equal(http_json_error_parse(NULL, &code, &msg), -EBADMSG);
}

static void test_status_mapping(void **state)
{
        (void)state;
        assert_string_equal(http_json_status_code(400), "bad_request");
        assert_string_equal(http_json_status_code(401), "unauthorized");
        assert_string_equal(http_json_status_code(404), "not_found");
        assert_string_equal(http_json_status_code(405), "method_not_allowed");
        assert_string_equal(http_json_status_code(409), "conflict");
        assert_string_equal(http_json_status_code(413), "payload_too_large");
        assert_string_equal(http_json_status_code(422), "invalid_spec");
        assert_string_equal(http_json_status_code(500), "internal");
        assert_string_equal(http_json_status_code(503), "unavailable");
        assert_string_equal(http_json_status_code(418), "bad_request");
        assert_string_equal(http_json_status_code(599), "internal");

        assert_int_equal(http_status_from_errno(-EINVAL), 400);
        assert_int_equal(http_status_from_errno(-ENOENT), 404);
        assert_int_equal(http_status_from_errno(-EEXIST), 409);
        assert_int_equal(http_status_from_errno(-EBUSY), 409);
        assert_int_equal(http_status_from_errno(-EFBIG), 413);
        assert_int_equal(http_status_from_errno(-EPERM), 403);
        assert_int_equal(http_status_from_errno(-EACCES), 403);
        assert_int_equal(http_status_from_errno(-EAGAIN), 503);
        assert_int_equal(http_status_from_errno(-EIO), 500);
        assert_int_equal(http_status_from_errno(-ENOMEM), 500);
}

static void test_check_keys(void **state)
{
        static const char *const allowed[] = {"name", "count", NULL};
        json_t *o = json_pack("{s:s, s:I, s:i}", "name", "x", "count", (json_int_t)7, "neg", -3);
        char *err = NULL;

        (void)state;
        assert_int_equal(http_json_check_keys(o, allowed, "spec", &err), -EINVAL);
        expect_contains(err, "spec: unknown key '");
        free(err);
        json_decref(o);
        o = json_pack("{s:s}", "name", "y");
        assert_int_equal(http_json_check_keys(o, allowed, "", &err), 0);
        json_decref(o);
        o = json_pack("{s:i}", "cpu", 2);
        assert_int_equal(http_json_check_keys(o, allowed, "", &err), -EINVAL);
        assert_string_equal(err, "unknown key 'cpu'");
        free(err);
        json_decref(o);
        o = json_array();
        assert_int_equal(http_json_check_keys(o, allowed, NULL, &err), -EINVAL);
        assert_string_equal(err, "body: expected an object");
        free(err);
        json_decref(o);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_parse),
            cmocka_unit_test(test_error_object),
            cmocka_unit_test(test_status_mapping),
            cmocka_unit_test(test_check_keys),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
