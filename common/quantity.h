/* SPDX-License-Identifier: Apache-2.0 */
/* Quantities: exact parsing and formatting of "1.5Gi" / "200M" style sizes, rates and counts. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Largest value a quantity may take: UINT64_MAX itself is SILO_UNSET. */
#define QUANTITY_MAX (UINT64_MAX - 1)

/* Enough for any formatted quantity ("18446744073709551614" and its NUL). */
#define QUANTITY_FORMAT_MAX 32

/* Parse a quantity as docs/PROTOCOL.md ("Quantities") defines it: decimal digits with an
 * optional fraction ("1.5", ".5" and "5." are accepted, as Kubernetes does), then optionally
 * exactly one suffix of "Ki Mi Gi Ti Pi" (1024-based) or "k M G T P" (1000-based). The value
 * is computed exactly (no floating point) and rounded down to a whole unit: "0.1Ki" is 102.
 * Returns 0 and sets *ret, -EINVAL for anything else (empty, whitespace, sign, other suffix
 * such as "K" or "KiB", exponent, hex, NaN/inf), -ERANGE above QUANTITY_MAX. */
int quantity_parse(const char *s, uint64_t *ret);

/* Format v as the shortest exact form: the largest binary suffix that divides it ("512Mi",
 * "3Gi"), else the plain number ("1000", "0"). quantity_parse() reads it back exactly.
 * Returns 0, or -ENOBUFS when n is too small (QUANTITY_FORMAT_MAX always suffices). */
int quantity_format(uint64_t v, char *buf, size_t n);

/* Read a quantity from a JSON value: an integer (plain units), a real (plain units, rounded
 * down) or a string quantity. `field` is the field path used in the error message, e.g.
 * "resources.io[0].rbps". 0 is accepted (see quantity_from_json_positive).
 * On failure returns -EINVAL or -ERANGE (-ENOMEM) and sets *ret_error (malloc'ed) to e.g.
 *   "resources.mem: '12Q' is not a quantity"
 *   "resources.io[0].rbps: -5 is negative"
 *   "resources.mem: '17179869184Gi' is out of range"
 *   "resources.mem: must be a number or a quantity string"           (wrong JSON type) */
int quantity_from_json(const json_t *v, const char *field, uint64_t *ret, char **ret_error);

/* As quantity_from_json(), but a value that is (or rounds down to) 0 is an error:
 *   "resources.pids: 0 must be positive", "resources.mem: '0.1' must be positive" */
int quantity_from_json_positive(const json_t *v, const char *field, uint64_t *ret,
                                char **ret_error);

/* The JSON representation of a quantity: an integer when it fits json_int_t, else the
 * decimal digits as a string (which quantity_from_json() reads back). NULL on ENOMEM. */
json_t *quantity_to_json(uint64_t v);
