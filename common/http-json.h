/* SPDX-License-Identifier: Apache-2.0 */
/* JSON bodies of the HTTP API: parsing with a size limit, the error object, status mapping. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* Default and hard limits for a request body. */
#define HTTP_JSON_MAX_BODY_DEFAULT (1024u * 1024u)

/* Parse a request or response body. Empty input (size 0 or only whitespace) yields
 * *ret_json = NULL and 0. Larger than max (0 = default) -> -EFBIG; syntax error -> -EBADMSG
 * with *ret_error (may be NULL) set to "line 1, column 7: ..." (malloc'd). */
int http_json_parse(const char *data, size_t size, size_t max, json_t **ret_json, char **ret_error);

/* Serialize compactly (sorted keys for stable output); NULL on ENOMEM. */
char *http_json_dump(const json_t *json);

/* {"error": {"code": code, "message": message}}; NULL on ENOMEM. */
json_t *http_json_error_new(const char *code, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
json_t *http_json_error_newv(const char *code, const char *format, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Extract code and message from an error body (either may be NULL). Returns 0, or -EBADMSG
 * when the body is not an error object. Out strings are malloc'd. */
int http_json_error_parse(const json_t *body, char **ret_code, char **ret_message);

/* The default error code for a status: 400 "bad_request", 401 "unauthorized",
 * 403 "forbidden", 404 "not_found", 405 "method_not_allowed", 409 "conflict",
 * 413 "payload_too_large", 415 "unsupported_media_type", 422 "invalid_spec",
 * 429 "too_many_requests", 500 "internal", 502 "bad_gateway", 503 "unavailable". */
const char *http_json_status_code(unsigned status);

/* Map a negative errno from library code to an HTTP status: -EINVAL 400, -ENOENT 404,
 * -EEXIST 409, -EFBIG 413, -EACCES/-EPERM 403, -EBUSY 409, -EAGAIN 503, others 500. */
unsigned http_status_from_errno(int err);

/* Reject keys of obj not in the NULL-terminated list: "unknown key 'cpu'". */
int http_json_check_keys(const json_t *obj, const char *const *allowed, const char *where,
                         char **ret_error);
