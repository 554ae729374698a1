/* SPDX-License-Identifier: Apache-2.0 */
/* JSON bodies of the HTTP API: parsing with a size limit, the error object, status mapping. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/http-json.h"
#include "common/macro.h"
#include "common/error.h"

int http_json_parse(const char *data, size_t size, size_t max, json_t **ret_json, char **ret_error)
{
        json_error_t jerr;
        size_t i;
        json_t *j;

        if (max == 0)
                max = HTTP_JSON_MAX_BODY_DEFAULT;
        if (size > max)
                return error_set(ret_error, -EFBIG, "body of %zu bytes exceeds the limit of %zu bytes",
                                 size, max);
        for (i = 0; i < size && isspace((unsigned char)data[i]); i++)
                ;
        if (i == size) {
                *ret_json = NULL;
                return 0;
        }
        /* JSON_REJECT_DUPLICATES: "a": 1, "a": 2 is ambiguous input, not a last-wins choice. */
        j = json_loadb(data, size, JSON_REJECT_DUPLICATES, &jerr);
        if (!j)
                return error_set(ret_error, -EBADMSG, "invalid JSON at line %d, column %d: %s",
                                 jerr.line, jerr.column, jerr.text);
        *ret_json = j;
        return 0;
}

char *http_json_dump(const json_t *json)
{
        return json_dumps(json, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

json_t *http_json_error_newv(const char *code, const char *format, va_list ap)
{
        _cleanup_free_ char *msg = NULL;

        if (vasprintf(&msg, format, ap) < 0)
                return NULL;
        return json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
}

json_t *http_json_error_new(const char *code, const char *format, ...)
{
        json_t *j;
        va_list ap;

        va_start(ap, format);
        j = http_json_error_newv(code, format, ap);
        va_end(ap);
        return j;
}

int http_json_error_parse(const json_t *body, char **ret_code, char **ret_message)
{
        const json_t *e, *code, *msg;
        _cleanup_free_ char *c = NULL, *m = NULL;

        e = json_is_object(body) ? json_object_get(body, "error") : NULL;
        if (!json_is_object(e))
                return -EBADMSG;
        code = json_object_get(e, "code");
        msg = json_object_get(e, "message");
        if (!json_is_string(code) || !json_is_string(msg))
                return -EBADMSG;
        if (ret_code && !(c = strdup(json_string_value(code))))
                return -ENOMEM;
        if (ret_message && !(m = strdup(json_string_value(msg))))
                return -ENOMEM;
        if (ret_code)
                *ret_code = TAKE_PTR(c);
        if (ret_message)
                *ret_message = TAKE_PTR(m);
        return 0;
}

const char *http_json_status_code(unsigned status)
{
        switch (status) {
        case 400:
                return "bad_request";
        case 401:
                return "unauthorized";
        case 403:
                return "forbidden";
        case 404:
                return "not_found";
        case 405:
                return "method_not_allowed";
        case 409:
                return "conflict";
        case 413:
                return "payload_too_large";
        case 415:
                return "unsupported_media_type";
        case 422:
                return "invalid_spec";
        case 429:
                return "too_many_requests";
        case 500:
                return "internal";
        case 502:
                return "bad_gateway";
        case 503:
                return "unavailable";
        default:
                return status >= 500 ? "internal" : "bad_request";
        }
}

unsigned http_status_from_errno(int err)
{
        switch (-err) {
        case EINVAL:
        case EBADMSG:
        case ERANGE:
                return 400;
        case ENOENT:
        case ESRCH:
                return 404;
        case EEXIST:
        case EBUSY:
        case EALREADY:
                return 409;
        case EFBIG:
        case E2BIG:
                return 413;
        case EACCES:
        case EPERM:
                return 403;
        case EAGAIN:
                return 503;
        default:
                return 500;
        }
}


int http_json_check_keys(const json_t *obj, const char *const *allowed, const char *where,
                         char **ret_error)
{
        const char *key;
        json_t *v;

        if (!json_is_object(obj))
                return error_set(ret_error, -EINVAL, "%s: expected an object",
                                 where && *where ? where : "body");
        json_object_foreach((json_t *)obj, key, v)
        {
                bool ok = false;

                for (const char *const *a = allowed; *a; a++)
                        if (streq(*a, key)) {
                                ok = true;
                                break;
                        }
                if (!ok)
                        return where && *where
                                   ? error_set(ret_error, -EINVAL, "%s: unknown key '%s'", where, key)
                                   : error_set(ret_error, -EINVAL, "unknown key '%s'", key);
        }
        return 0;
}
