/* SPDX-License-Identifier: Apache-2.0 */
/* Quantities: exact parsing and formatting of "1.5Gi" / "200M" style sizes, rates and counts. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/json-util.h"
#include "common/quantity.h"

static const struct {
        const char *suffix;
        uint64_t factor;
} suffixes[] = {
    {"Ki", 1ULL << 10},
    {"Mi", 1ULL << 20},
    {"Gi", 1ULL << 30},
    {"Ti", 1ULL << 40},
    {"Pi", 1ULL << 50},
    {"k", 1000ULL},
    {"M", 1000ULL * 1000},
    {"G", 1000ULL * 1000 * 1000},
    {"T", 1000ULL * 1000 * 1000 * 1000},
    {"P", 1000ULL * 1000 * 1000 * 1000 * 1000},
};

int quantity_parse(const char *s, uint64_t *ret)
{
        const char *int_start, *int_end, *frac_start, *frac_end, *p;
        uint64_t factor = 1, whole = 0, frac = 0, total;
        bool found = false;

        if (!s)
                return -EINVAL;

        /* Check the whole syntax first, so "99999999999999999999999Q" is -EINVAL, not -ERANGE. */
        int_start = p = s;
        while (*p >= '0' && *p <= '9')
                p++;
        int_end = frac_start = frac_end = p;
        if (*p == '.') {
                frac_start = ++p;
                while (*p >= '0' && *p <= '9')
                        p++;
                frac_end = p;
        }
        if (int_end == int_start && frac_end == frac_start)
                return -EINVAL; /* no digits at all: "", ".", "Ki", "-1", " 1", "inf" */
        if (*p != '\0') {
                for (size_t i = 0; i < ELEMENTSOF(suffixes); i++)
                        if (streq(p, suffixes[i].suffix)) {
                                factor = suffixes[i].factor;
                                found = true;
                                break;
                        }
                if (!found)
                        return -EINVAL;
        }

        for (p = int_start; p < int_end; p++)
                if (__builtin_mul_overflow(whole, 10, &whole) ||
                    __builtin_add_overflow(whole, (uint64_t)(*p - '0'), &whole))
                        return -ERANGE;

        /* floor(0.d1d2...dn * factor) exactly: multiply the digit string by factor from the
         * last digit up, keeping only the carry, which ends up as the integer part. The carry
         * stays below factor (<= 2^50), so digit * factor + carry never overflows, however many
         * digits there are. */
        if (factor > 1)
                for (p = frac_end; p > frac_start; p--) {
                        uint64_t t = (uint64_t)(p[-1] - '0') * factor + frac;

                        frac = t / 10;
                }

        if (__builtin_mul_overflow(whole, factor, &total) ||
            __builtin_add_overflow(total, frac, &total) || total > QUANTITY_MAX)
                return -ERANGE;

        *ret = total;
        return 0;
}

int quantity_format(uint64_t v, char *buf, size_t n)
{
        static const char *const binary[] = {"Pi", "Ti", "Gi", "Mi", "Ki"};
        int k;

        for (size_t i = 0; v != 0 && i < ELEMENTSOF(binary); i++) {
                unsigned shift = 10 * (unsigned)(ELEMENTSOF(binary) - i);

                if ((v & ((1ULL << shift) - 1)) == 0) {
                        k = snprintf(buf, n, "%" PRIu64 "%s", v >> shift, binary[i]);
                        return k < 0 || (size_t)k >= n ? -ENOBUFS : 0;
                }
        }
        k = snprintf(buf, n, "%" PRIu64, v);
        return k < 0 || (size_t)k >= n ? -ENOBUFS : 0;
}

static int quantity_from_json_internal(const json_t *v, const char *field, bool positive,
                                       uint64_t *ret, char **ret_error)
{
        _cleanup_free_ char *desc = NULL;
        uint64_t q;

        if (!json_is_integer(v) && !json_is_real(v) && !json_is_string(v))
                return json_error(ret_error, -EINVAL, field,
                                  "must be a number or a quantity string");

        desc = json_value_describe(v);
        if (!desc)
                return -ENOMEM;

        if (json_is_integer(v)) {
                if (json_integer_value(v) < 0)
                        return json_error(ret_error, -EINVAL, field, "%s is negative", desc);
                q = (uint64_t)json_integer_value(v);
        } else if (json_is_real(v)) {
                double d = json_real_value(v);

                if (d < 0)
                        return json_error(ret_error, -EINVAL, field, "%s is negative", desc);
                /* Doubles near 2^64 are 2048 apart: anything below 2^64 truncates to at most
                 * 2^64 - 2048, inside the range. */
                if (!(d < 18446744073709551616.0))
                        return json_error(ret_error, -ERANGE, field, "%s is out of range", desc);
                q = (uint64_t)d;
        } else {
                const char *s = json_string_value(v);
                uint64_t unsigned_value = 1; /* stays non-zero when out of range */
                int r;

                if (strlen(s) != json_string_length(v))
                        return json_error(ret_error, -EINVAL, field, "%s is not a quantity", desc);
                r = quantity_parse(s, &q);
                if (r == -EINVAL && s[0] == '-' && quantity_parse(s + 1, &unsigned_value) != -EINVAL) {
                        /* "-0" is not negative, but a quantity string has no sign at all. */
                        if (unsigned_value == 0)
                                return json_error(ret_error, -EINVAL, field,
                                                  "%s is not a quantity (no sign)", desc);
                        return json_error(ret_error, -EINVAL, field, "%s is negative", desc);
                }
                if (r == -EINVAL)
                        return json_error(ret_error, r, field, "%s is not a quantity", desc);
                if (r == -ERANGE)
                        return json_error(ret_error, r, field, "%s is out of range", desc);
                if (r < 0)
                        return r;
        }

        if (positive && q == 0)
                return json_error(ret_error, -EINVAL, field, "%s must be positive", desc);
        *ret = q;
        return 0;
}

int quantity_from_json(const json_t *v, const char *field, uint64_t *ret, char **ret_error)
{
        return quantity_from_json_internal(v, field, false, ret, ret_error);
}

int quantity_from_json_positive(const json_t *v, const char *field, uint64_t *ret, char **ret_error)
{
        return quantity_from_json_internal(v, field, true, ret, ret_error);
}

json_t *quantity_to_json(uint64_t v)
{
        char buf[QUANTITY_FORMAT_MAX];

        if (v <= (uint64_t)INT64_MAX)
                return json_integer((json_int_t)v);
        /* json_int_t is signed: larger values travel as a digit string. */
        snprintf(buf, sizeof(buf), "%" PRIu64, v);
        return json_string(buf);
}
