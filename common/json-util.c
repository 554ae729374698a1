/* SPDX-License-Identifier: Apache-2.0 */
/* Field walking for the JSON codecs: field paths, typed getters and error messages naming both. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/json-util.h"
#include "common/protocol-json.h"
#include "common/quantity.h"

/* Hand the formatted message to error_wrap() as the callee's, so "<path>: <message>" is
 * built where every other context is (common/error.h). */
static int json_error_at(char **ret_error, int r, const char *path, const char *format, va_list ap)
        _printf_(4, 0);
static int json_error_at(char **ret_error, int r, const char *path, const char *format, va_list ap)
{
        char *msg;

        if (!ret_error)
                return r;
        if (vasprintf(&msg, format, ap) < 0)
                return -ENOMEM;
        *ret_error = msg;
        return path && *path ? error_wrap(ret_error, r, "%s", path) : r;
}

int json_error(char **ret_error, int r, const char *path, const char *format, ...)
{
        va_list ap;

        va_start(ap, format);
        r = json_error_at(ret_error, r, path, format, ap);
        va_end(ap);
        return r;
}

int json_field_error(char **ret_error, const char *path, const char *key, const char *format, ...)
{
        _cleanup_free_ char *fpath = NULL;
        va_list ap;
        int r;

        if (!ret_error)
                return -EINVAL;
        fpath = json_path_key(path, key);
        if (!fpath)
                return -ENOMEM;
        va_start(ap, format);
        r = json_error_at(ret_error, -EINVAL, fpath, format, ap);
        va_end(ap);
        return r;
}

/* [A-Za-z0-9][A-Za-z0-9._-]{0,62}: safe as a file name, a cgroup name and in a URL path. */
bool silo_name_is_valid(const char *s)
{
        size_t n;

        if (!s ||
            !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
                return false;
        for (n = 0; s[n]; n++) {
                char c = s[n];

                if (n >= 63)
                        return false;
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-'))
                        return false;
        }
        return true;
}

char *json_value_describe(const json_t *v)
{
        char *s;

        if (json_is_string(v)) {
                if (asprintf(&s, "'%s'", json_string_value(v)) < 0)
                        return NULL;
                return s;
        }
        if (json_is_real(v)) {
                /* The shortest form that reads back as the same double: the user wrote 0.004,
                 * not 0.0040000000000000001. */
                double d = json_real_value(v);

                for (int prec = 1; prec <= 17; prec++) {
                        if (asprintf(&s, "%.*g", prec, d) < 0)
                                return NULL;
                        if (prec == 17 || strtod(s, NULL) == d)
                                return s;
                        free(s);
                }
        }
        return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

char *json_path_key(const char *parent, const char *key)
{
        char *s;

        if (!parent || !*parent)
                return strdup(key);
        if (asprintf(&s, "%s.%s", parent, key) < 0)
                return NULL;
        return s;
}

char *json_path_index(const char *parent, size_t i)
{
        char *s;

        if (asprintf(&s, "%s[%zu]", strempty(parent), i) < 0)
                return NULL;
        return s;
}

int json_check_object(const json_t *v, const char *path, const char *const *allowed,
                      char **ret_error)
{
        const char *key;
        json_t *value;

        if (!json_is_object(v))
                return json_error(ret_error, -EINVAL, path, "must be an object");

        /* jansson iterates in insertion order, so the first unknown key in the text is named. */
        json_object_foreach((json_t *)v, key, value)
        {
                bool known = false;

                for (const char *const *a = allowed; *a; a++)
                        if (streq(*a, key)) {
                                known = true;
                                break;
                        }
                if (!known)
                        return json_error(ret_error, -EINVAL, path, "unknown key '%s'", key);
        }
        return 0;
}

const json_t *json_field(const json_t *obj, const char *key)
{
        const json_t *v = json_object_get(obj, key);

        return json_is_null(v) ? NULL : v;
}

/* Look up obj[key]; 0 when absent (or an error when required), 1 when present. */
static int field_lookup(const json_t *obj, const char *path, const char *key, bool required,
                        const json_t **ret_v, char **ret_fpath, char **ret_error)
{
        _cleanup_free_ char *fpath = json_path_key(path, key);

        if (!fpath)
                return -ENOMEM;
        *ret_v = json_field(obj, key);
        if (!*ret_v) {
                if (required)
                        return json_error(ret_error, -EINVAL, fpath, "missing");
                return 0;
        }
        *ret_fpath = TAKE_PTR(fpath);
        return 1;
}

int json_field_string(const json_t *obj, const char *path, const char *key, bool required,
                      char **ret, char **ret_error)
{
        _cleanup_free_ char *fpath = NULL;
        const json_t *v;
        char *s;
        int r;

        r = field_lookup(obj, path, key, required, &v, &fpath, ret_error);
        if (r <= 0)
                return r;
        if (!json_is_string(v))
                return json_error(ret_error, -EINVAL, fpath, "must be a string");
        /* Strings end up in paths, argv and cgroup files: an embedded NUL would cut them. */
        if (strlen(json_string_value(v)) != json_string_length(v))
                return json_error(ret_error, -EINVAL, fpath, "must not contain a NUL character");
        s = strdup(json_string_value(v));
        if (!s)
                return -ENOMEM;
        free(*ret);
        *ret = s;
        return 1;
}

int json_field_bool(const json_t *obj, const char *path, const char *key, bool *ret,
                    char **ret_error)
{
        _cleanup_free_ char *fpath = NULL;
        const json_t *v;
        int r;

        r = field_lookup(obj, path, key, false, &v, &fpath, ret_error);
        if (r <= 0)
                return r;
        if (!json_is_boolean(v))
                return json_error(ret_error, -EINVAL, fpath, "must be a boolean");
        *ret = json_is_true(v);
        return 1;
}

int json_field_int(const json_t *obj, const char *path, const char *key, bool required, int64_t min,
                   int64_t max, int64_t *ret, char **ret_error)
{
        _cleanup_free_ char *fpath = NULL;
        const json_t *v;
        json_int_t i;
        int r;

        r = field_lookup(obj, path, key, required, &v, &fpath, ret_error);
        if (r <= 0)
                return r;
        if (!json_is_integer(v))
                return json_error(ret_error, -EINVAL, fpath, "must be an integer");
        i = json_integer_value(v);
        if (i < min || i > max)
                return json_error(ret_error, -ERANGE, fpath,
                                  "%" JSON_INTEGER_FORMAT " is out of range (%" PRIi64 "..%" PRIi64
                                  ")",
                                  i, min, max);
        *ret = i;
        return 1;
}

int json_field_quantity(const json_t *obj, const char *path, const char *key, bool required,
                        bool positive, uint64_t *ret, char **ret_error)
{
        _cleanup_free_ char *fpath = NULL;
        const json_t *v;
        int r;

        r = field_lookup(obj, path, key, required, &v, &fpath, ret_error);
        if (r <= 0)
                return r;
        r = positive ? quantity_from_json_positive(v, fpath, ret, ret_error)
                     : quantity_from_json(v, fpath, ret, ret_error);
        return r < 0 ? r : 1;
}

int json_field_name(const json_t *obj, const char *path, const char *key, bool required, char **ret,
                    char **ret_error)
{
        _cleanup_free_ char *s = NULL, *fpath = NULL;
        int r;

        r = json_field_string(obj, path, key, required, &s, ret_error);
        if (r <= 0)
                return r;
        if (!silo_name_is_valid(s)) {
                fpath = json_path_key(path, key);
                if (!fpath)
                        return -ENOMEM;
                return json_error(ret_error, -EINVAL, fpath,
                                  "'%s' is not a valid name (1-63 of A-Z a-z 0-9 . _ -, "
                                  "starting with a letter or digit)",
                                  s);
        }
        free(*ret);
        *ret = TAKE_PTR(s);
        return 1;
}

int json_field_abs_path(const json_t *obj, const char *path, const char *key, bool required,
                        char **ret, char **ret_error)
{
        _cleanup_free_ char *s = NULL, *fpath = NULL;
        int r;

        r = json_field_string(obj, path, key, required, &s, ret_error);
        if (r <= 0)
                return r;
        if (s[0] != '/' || strlen(s) >= PATH_MAX) {
                fpath = json_path_key(path, key);
                if (!fpath)
                        return -ENOMEM;
                return json_error(ret_error, -EINVAL, fpath, "'%s' is not an absolute path", s);
        }
        free(*ret);
        *ret = TAKE_PTR(s);
        return 1;
}

int json_field_enum(const json_t *obj, const char *path, const char *key, bool required,
                    int (*from_string)(const char *s), const char *what, const char *choices,
                    int *ret, char **ret_error)
{
        _cleanup_free_ char *s = NULL, *fpath = NULL;
        int r, e;

        r = json_field_string(obj, path, key, required, &s, ret_error);
        if (r <= 0)
                return r;
        e = from_string(s);
        if (e < 0) {
                fpath = json_path_key(path, key);
                if (!fpath)
                        return -ENOMEM;
                return json_error(ret_error, -EINVAL, fpath, "'%s' is not %s (%s)", s, what,
                                  choices);
        }
        *ret = e;
        return 1;
}

struct silo_kv *silo_kv_array_free(struct silo_kv *kv, size_t n)
{
        for (size_t i = 0; kv && i < n; i++) {
                free(kv[i].key);
                free(kv[i].value);
        }
        free(kv);
        return NULL;
}

int json_field_kv(const json_t *obj, const char *path, const char *key,
                  bool (*key_ok)(const char *k), const char *key_what, struct silo_kv **ret,
                  size_t *ret_n, char **ret_error)
{
        _cleanup_free_ char *fpath = NULL;
        struct silo_kv *kv = NULL;
        const char *k;
        const json_t *v;
        json_t *value;
        size_t n = 0;
        int r;

        r = field_lookup(obj, path, key, false, &v, &fpath, ret_error);
        if (r <= 0) {
                if (r == 0) {
                        *ret = NULL;
                        *ret_n = 0;
                }
                return r;
        }
        if (!json_is_object(v))
                return json_error(ret_error, -EINVAL, fpath, "must be an object of strings");

        kv = calloc(json_object_size(v) + 1, sizeof(*kv));
        if (!kv)
                return -ENOMEM;

        json_object_foreach((json_t *)v, k, value)
        {
                if (key_ok && !key_ok(k)) {
                        r = json_error(ret_error, -EINVAL, fpath, "'%s' is not %s", k, key_what);
                        goto fail;
                }
                if (!json_is_string(value) ||
                    strlen(json_string_value(value)) != json_string_length(value)) {
                        _cleanup_free_ char *kpath = json_path_key(fpath, k);

                        r = kpath ? json_error(ret_error, -EINVAL, kpath, "must be a string")
                                  : -ENOMEM;
                        goto fail;
                }
                kv[n].key = strdup(k);
                kv[n].value = strdup(json_string_value(value));
                n++;
                if (!kv[n - 1].key || !kv[n - 1].value) {
                        r = -ENOMEM;
                        goto fail;
                }
        }
        *ret = kv;
        *ret_n = n;
        return 1;
fail:
        silo_kv_array_free(kv, n);
        return r;
}

json_t *silo_kv_array_to_json(const struct silo_kv *kv, size_t n)
{
        json_t *o = json_object();

        if (!o)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (json_set(o, kv[i].key, json_string(kv[i].value)) < 0) {
                        json_decref(o);
                        return NULL;
                }
        return o;
}

int json_set(json_t *obj, const char *key, json_t *value)
{
        if (!obj || !value) {
                json_decref(value);
                return -ENOMEM;
        }
        return json_object_set_new(obj, key, value) < 0 ? -ENOMEM : 0;
}

int json_parse_text(const char *text, json_t **ret, char **ret_error)
{
        json_error_t err;
        json_t *j;

        /* REJECT_DUPLICATES: {"mem": 1, "mem": 2} would otherwise silently keep one. */
        j = json_loads(text, JSON_REJECT_DUPLICATES, &err);
        if (!j)
                return json_error(ret_error, -EINVAL, NULL,
                                  "invalid JSON at line %d, column %d: %s", err.line, err.column,
                                  err.text);
        *ret = j;
        return 0;
}

char *json_dump_take(json_t *v)
{
        char *s;

        if (!v)
                return NULL;
        /* 15 significant digits read back exactly for every real the codecs emit (CPU counts
         * rounded to 0.01), and print 0.33 rather than 0.33000000000000002. */
        s = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(15));
        json_decref(v);
        return s;
}

bool hostname_is_valid(const char *s, size_t max_len)
{
        size_t len = strlen(s), label = 0;

        if (len == 0 || len > max_len)
                return false;
        for (size_t i = 0; i <= len; i++) {
                char c = s[i];

                if (c == '.' || c == '\0') {
                        /* Labels are 1-63 characters and neither start nor end with '-'. */
                        if (label == 0 || label > 63 || s[i - 1] == '-')
                                return false;
                        label = 0;
                        continue;
                }
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-'))
                        return false;
                if (label == 0 && c == '-')
                        return false;
                label++;
        }
        return true;
}

/* Strictly "digits[.digits]": strtod alone would also take "1e3", "0x10", "inf" and spaces. */
static bool decimal_is_valid(const char *s)
{
        bool digits = false;

        for (; *s >= '0' && *s <= '9'; s++)
                digits = true;
        if (*s == '.')
                for (s++; *s >= '0' && *s <= '9'; s++)
                        digits = true;
        return digits && *s == '\0';
}

int json_field_cpus(const json_t *obj, const char *path, const char *key, bool required, double max,
                    double *ret, char **ret_error)
{
        _cleanup_free_ char *fpath = NULL, *desc = NULL;
        const json_t *v;
        double d, rounded;
        int r;

        r = field_lookup(obj, path, key, required, &v, &fpath, ret_error);
        if (r <= 0)
                return r;
        if (json_is_number(v))
                d = json_number_value(v);
        else if (json_is_string(v) && decimal_is_valid(json_string_value(v)))
                d = strtod(json_string_value(v), NULL);
        else if (json_is_string(v))
                return json_error(ret_error, -EINVAL, fpath, "'%s' is not a number of CPUs",
                                  json_string_value(v));
        else
                return json_error(ret_error, -EINVAL, fpath, "must be a number");

        desc = json_value_describe(v);
        if (!desc)
                return -ENOMEM;
        if (!(d > 0))
                return json_error(ret_error, -EINVAL, fpath, "%s must be positive", desc);
        if (!(d <= max))
                return json_error(ret_error, -ERANGE, fpath, "%s is out of range (0.01..%g)", desc,
                                  max);
        /* 0.01 CPU is 1 ms per 100 ms period, the smallest quota cpu.max accepts. */
        rounded = round(d * 100) / 100;
        if (rounded == 0)
                return json_error(ret_error, -EINVAL, fpath, "%s rounds to 0 (the minimum is 0.01)",
                                  desc);
        *ret = rounded;
        return 1;
}

int json_field_array(const json_t *obj, const char *path, const char *key, size_t elem_size,
                     size_t max_n, json_element_parse_fn parse, void **ret_vec, size_t *ret_n,
                     char **ret_error)
{
        _cleanup_free_ char *fpath = json_path_key(path, key);
        const json_t *arr = json_field(obj, key);
        size_t n;

        if (!fpath)
                return -ENOMEM;
        if (!arr)
                return 0;
        if (!json_is_array(arr))
                return json_error(ret_error, -EINVAL, fpath, "must be an array");
        n = json_array_size(arr);
        if (n == 0)
                return 0;
        if (max_n > 0 && n > max_n)
                return json_error(ret_error, -EINVAL, fpath, "%zu entries, at most %zu are allowed",
                                  n, max_n);
        *ret_vec = calloc(n, elem_size);
        if (!*ret_vec)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *ipath = json_path_index(fpath, i);
                int r;

                if (!ipath)
                        return -ENOMEM;
                *ret_n = i + 1;
                r = parse(json_array_get(arr, i), ipath, fpath, *ret_vec, i, ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}
