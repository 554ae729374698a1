/* SPDX-License-Identifier: Apache-2.0 */
/* Turn a job's result into JSON (jansson) or human text; the caller prints. */
#pragma once

#include <jansson.h>

#include "io/engine.h"

/* {"job": {...}, "read": {...}, "write": {...}, "total": {...}, "lat_us": {...},
 *  "cpu": {...}, "retries": {"total", "eagain", "eintr", "ecanceled", "short"},
 *  ["verify": {...}], ["error": {...}]}. Latencies in µs, bandwidth in bytes/s.
 * Returns a new reference or NULL on allocation failure. */
json_t *io_result_to_json(const struct io_job *job, const struct io_result *res);

/* Multi-line human summary; *ret is malloc'd. Returns 0 or -ENOMEM. */
int io_result_format(const struct io_job *job, const struct io_result *res, char **ret);

/* One line describing the first bad block, e.g.
 * "offset 40960: checksum mismatch (expected 0x1a2b3c4d, found 0x...)"; *ret is malloc'd. */
int io_verify_describe(const struct io_verify_report *v, char **ret);
