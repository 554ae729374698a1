/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for one wire codec (built once per codec with -DCODEC=task_spec,
 * status_update, agent_registration): decode the bytes as the daemons do a request body, and
 * when they decode, check that the canonical encoding reads back to an equal object. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/http-json.h"
#include "common/protocol-json.h"

#define CAT3(a, b, c) a##b##c
#define CODEC_FN(codec, what) CAT3(silo_, codec, what)
#define STR_(x) #x
#define STR(x) STR_(x)
#define CODEC_STRUCT(codec) CAT3(struct silo_, codec, )
#define CODEC_TYPE CODEC_STRUCT(CODEC)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        json_t *j = NULL;
        CODEC_TYPE *x = NULL, *y = NULL, *dup = NULL;
        char *err = NULL, *text = NULL;
        int r;

        /* The daemons' path: http_json_parse() (size limit, duplicate keys), then from_json. */
        r = http_json_parse((const char *)data, size, 0, &j, &err);
        if (r < 0 || !j)
                goto out;
        free(err);
        err = NULL;
        r = CODEC_FN(CODEC, _from_json)(j, &x, &err);
        if (r < 0) {
                /* A refusal must say why: a message, naming something. */
                if (!err || !*err) {
                        fprintf(stderr, STR(CODEC) ": refused (%d) without a message\n", r);
                        abort();
                }
                goto out;
        }
        /* Accepted: encode, decode the text again (as the next hop does), compare. */
        text = CODEC_FN(CODEC, _to_string)(x);
        if (!text)
                abort();
        r = CODEC_FN(CODEC, _from_string)(text, &y, &err);
        if (r < 0) {
                fprintf(stderr, STR(CODEC) ": own encoding refused: %s\n%s\n", err, text);
                abort();
        }
        if (!CODEC_FN(CODEC, _equal)(x, y)) {
                fprintf(stderr, STR(CODEC) ": round trip changed the object\n%s\n", text);
                abort();
        }
        dup = CODEC_FN(CODEC, _dup)(x);
        if (!dup || !CODEC_FN(CODEC, _equal)(x, dup))
                abort();
out:
        CODEC_FN(CODEC, _free)(x);
        CODEC_FN(CODEC, _free)(y);
        CODEC_FN(CODEC, _free)(dup);
        json_decref(j);
        free(text);
        free(err);
        return 0;
}
