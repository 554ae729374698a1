/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the shim's launch file (<sandbox>/launch.json): the text decoded as
 * silo-shim decodes it, into the container launcher's config. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "agent/shim-protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct shim_launch l = {};
        char *err = NULL;
        int r;

        r = shim_launch_parse((const char *)data, size, &l, &err);
        if (r == 0)
                shim_launch_clear(&l);
        else if (r != -ENOMEM && (!err || !*err)) {
                fprintf(stderr, "launch file refused (%d) without a message\n", r);
                abort();
        }
        free(err);
        return 0;
}
