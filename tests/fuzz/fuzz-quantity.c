/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for quantities ("1.5Gi", "200M"): the parser on arbitrary text, exact
 * formatting of what it accepts, and the JSON form (number or string) the codecs read. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/http-json.h"
#include "common/quantity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = malloc(size + 1), buf[QUANTITY_FORMAT_MAX];
        char *err = NULL;
        uint64_t v, again;
        json_t *j = NULL;
        int r;

        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';
        r = quantity_parse(s, &v);
        if (r == 0) {
                if (v > QUANTITY_MAX)
                        abort();
                /* The formatted form is exact: it must read back to the same value. */
                if (quantity_format(v, buf, sizeof(buf)) < 0 || quantity_parse(buf, &again) < 0 ||
                    again != v) {
                        fprintf(stderr, "'%s' -> %llu -> '%s' does not read back\n", s,
                                (unsigned long long)v, buf);
                        abort();
                }
        } else if (r != -EINVAL && r != -ERANGE)
                abort();

        /* The same bytes as a JSON value ("12Gi", 1e309, -0, 18446744073709551616): every
         * refusal names the field. */
        if (http_json_parse(s, size, 0, &j, &err) == 0 && j) {
                free(err);
                err = NULL;
                r = quantity_from_json(j, "resources.mem", &v, &err);
                if (r < 0 && (!err || !strstr(err, "resources.mem"))) {
                        fprintf(stderr, "refusal without the field: %s\n", err ? err : "(none)");
                        abort();
                }
        }
        json_decref(j);
        free(err);
        free(s);
        return 0;
}
