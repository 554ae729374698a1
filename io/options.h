/* SPDX-License-Identifier: Apache-2.0 */
/* silo-io's command line (fio-style options) parsed into an io_job; pure, so tests reach it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "io/job.h"

struct io_cli {
        struct io_job job;
        bool json;
        bool help;
        bool version;
        bool calibrate;         /* --calibrate: measure the disk at --filename instead */
};

/* Parse argv (argv[0] is skipped). Accepts "--opt value" and "--opt=value". On failure returns
 * -EINVAL with *ret_error naming the option and the bad value, e.g. "--bs: '4q' is not a
 * size". ret->job.filename points into argv. */
int io_cli_parse(int argc, char *const *argv, struct io_cli *ret, char **ret_error);

const char *io_cli_usage(void);
