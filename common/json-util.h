/* SPDX-License-Identifier: Apache-2.0 */
/* Field walking for the JSON codecs: field paths, typed getters and error messages naming both. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "common/macro.h"
#include "silo/protocol.h"

/* Set *ret_error (when ret_error is not NULL) to "<path>: <message>" ("<message>" when path
 * is empty) and return r, so a decoder reads `return json_error(ret_error, -EINVAL, ...)`.
 * When the message cannot be allocated, returns -ENOMEM instead. */
int json_error(char **ret_error, int r, const char *path, const char *format, ...) _printf_(4, 5);

/* json_error() at "<path>.<key>", always -EINVAL (or -ENOMEM). */
int json_field_error(char **ret_error, const char *path, const char *key, const char *format, ...)
    _printf_(4, 5);

/* A value as it appears in a message: strings in single quotes ('12Q'), the rest as JSON
 * text (-5, 0.5, true). NULL on ENOMEM. */
char *json_value_describe(const json_t *v);

/* "parent.key" (or "key" when parent is empty) and "parent[i]"; NULL on ENOMEM. */
char *json_path_key(const char *parent, const char *key);
char *json_path_index(const char *parent, size_t i);

/* Parse the array obj[key] (absent or null: nothing) into a calloc'ed vector of elements of
 * elem_size, calling parse(element, "<path>.<key>[i]", "<path>.<key>", vec, i) for each in
 * order. *ret_vec and *ret_n are set before element i is parsed, so the caller's clear
 * function frees everything parsed so far when an element fails (elements start zeroed).
 * "<path>.<key>: must be an array" for another type; "<path>.<key>: 300 entries, at most 256
 * are allowed" above max_n (0: no bound), before any element is parsed. Duplicates are the
 * caller's to find afterwards, in one pass (table_find_duplicate()), never pairwise. */
typedef int (*json_element_parse_fn)(const json_t *elem, const char *elem_path,
                                     const char *array_path, void *vec, size_t i,
                                     char **ret_error);
int json_field_array(const json_t *obj, const char *path, const char *key, size_t elem_size,
                     size_t max_n, json_element_parse_fn parse, void **ret_vec, size_t *ret_n,
                     char **ret_error);

/* Require an object, then reject any key not in the NULL-terminated `allowed` list:
 * "<path>: must be an object", "<path>: unknown key 'cpu'". */
int json_check_object(const json_t *v, const char *path, const char *const *allowed,
                      char **ret_error);

/* The member `key` of obj, or NULL when absent or JSON null (null means "not given"). */
const json_t *json_field(const json_t *obj, const char *key);

/* Typed getters for obj[key]. They return 1 and set *ret when the field is present, 0 when it
 * is absent (leaving *ret alone, or failing with "<path>.<key>: missing" when `required`), and
 * -errno with *ret_error on a wrong type or value. */
int json_field_string(const json_t *obj, const char *path, const char *key, bool required,
                      char **ret, char **ret_error);
int json_field_bool(const json_t *obj, const char *path, const char *key, bool *ret,
                    char **ret_error);
/* An integer in [min, max]: "<path>.<key>: 5000 is out of range (0..3600)". */
int json_field_int(const json_t *obj, const char *path, const char *key, bool required, int64_t min,
                   int64_t max, int64_t *ret, char **ret_error);
/* A quantity (see quantity_from_json); `positive` rejects 0. */
int json_field_quantity(const json_t *obj, const char *path, const char *key, bool required,
                        bool positive, uint64_t *ret, char **ret_error);
/* A name valid as path component and cgroup name (silo_name_is_valid()). */
int json_field_name(const json_t *obj, const char *path, const char *key, bool required, char **ret,
                    char **ret_error);
/* An absolute path ("/..."; at most PATH_MAX): "<path>.<key>: 'x' is not an absolute path". */
int json_field_abs_path(const json_t *obj, const char *path, const char *key, bool required,
                        char **ret, char **ret_error);
/* An enum through its *_from_string(): "<path>.<key>: 'x' is not a <what> (a, b, c)". */
int json_field_enum(const json_t *obj, const char *path, const char *key, bool required,
                    int (*from_string)(const char *s), const char *what, const char *choices,
                    int *ret, char **ret_error);

/* An object of string values into a key/value array: "<path>: must be an object of strings",
 * "<path>.<key>: must be a string". Keys are checked by key_ok (may be NULL) with message
 * "<path>: '<key>' is not <key_what>". Absent -> 0 with an empty array. */
int json_field_kv(const json_t *obj, const char *path, const char *key,
                  bool (*key_ok)(const char *k), const char *key_what, struct silo_kv **ret,
                  size_t *ret_n, char **ret_error);

/* Free a key/value array; returns NULL. */
struct silo_kv *silo_kv_array_free(struct silo_kv *kv, size_t n);
/* {"k": "v", ...} from a key/value array; NULL on ENOMEM. */
json_t *silo_kv_array_to_json(const struct silo_kv *kv, size_t n);

/* json_object_set_new() that reports failure (including a NULL value from a failed
 * constructor) as -ENOMEM, so to_json functions can chain them. */
int json_set(json_t *obj, const char *key, json_t *value);

/* Parse JSON text with a positioned error: "invalid JSON at line 3, column 7: <reason>". */
int json_parse_text(const char *text, json_t **ret, char **ret_error);

/* Compact JSON text of an encoded value, consuming the reference; NULL on ENOMEM. */
char *json_dump_take(json_t *v);

/* A valid host name (RFC 1123 labels, at most max_len characters). */
bool hostname_is_valid(const char *s, size_t max_len);

/* A double that must be > 0 and <= max, rounded to 0.01 (a CPU count): accepts a JSON number
 * or a numeric string ("1.5"); "<path>.<key>: 0.004 rounds to 0 (the minimum is 0.01)". */
int json_field_cpus(const json_t *obj, const char *path, const char *key, bool required, double max,
                    double *ret, char **ret_error);

/* jansson >= 2.9 provides json_decrefp() (for its json_auto_t). */
#ifndef _cleanup_json_
#define _cleanup_json_ _cleanup_(json_decrefp)
#endif

/* The type-independent members of a codec family (see protocol-json.h), written in terms of
 * silo_T_from_json / _to_json / _clear: from_string, to_string, free, equal, dup. */
#define SILO_DEFINE_CODEC_COMMON(T)                                                                \
        int silo_##T##_from_string(const char *text, struct silo_##T **ret, char **ret_error)      \
        {                                                                                          \
                _cleanup_json_ json_t *j = NULL;                                                   \
                int r = json_parse_text(text, &j, ret_error);                                      \
                if (r < 0)                                                                         \
                        return r;                                                                  \
                return silo_##T##_from_json(j, ret, ret_error);                                    \
        }                                                                                          \
        char *silo_##T##_to_string(const struct silo_##T *x)                                       \
        {                                                                                          \
                return json_dump_take(silo_##T##_to_json(x));                                      \
        }                                                                                          \
        struct silo_##T *silo_##T##_free(struct silo_##T *x)                                       \
        {                                                                                          \
                if (x) {                                                                           \
                        silo_##T##_clear(x);                                                       \
                        free(x);                                                                   \
                }                                                                                  \
                return NULL;                                                                       \
        }                                                                                          \
        /* Equal when the canonical forms are: key order of objects does not matter. */            \
        bool silo_##T##_equal(const struct silo_##T *a, const struct silo_##T *b)                  \
        {                                                                                          \
                _cleanup_json_ json_t *ja = NULL, *jb = NULL;                                      \
                if (!a || !b)                                                                      \
                        return a == b;                                                             \
                ja = silo_##T##_to_json(a);                                                        \
                jb = silo_##T##_to_json(b);                                                        \
                return ja && jb && json_equal(ja, jb);                                             \
        }                                                                                          \
        struct silo_##T *silo_##T##_dup(const struct silo_##T *x)                                  \
        {                                                                                          \
                _cleanup_json_ json_t *j = silo_##T##_to_json(x);                                  \
                struct silo_##T *d = NULL;                                                         \
                if (!j || silo_##T##_from_json(j, &d, NULL) < 0)                                   \
                        return NULL;                                                               \
                return d;                                                                          \
        }
