/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's fence against deposed masters: the highest master epoch seen, kept on disk. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/epoch-fence.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "silo/protocol.h"

/* A decimal epoch, 1 or more, nothing else around it but an optional newline. */
static int epoch_parse(const char *s, uint64_t *ret)
{
        char *end = NULL;
        unsigned long long v;

        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == ERANGE || v == 0 || (*end && !streq(end, "\n")))
                return -EINVAL;
        *ret = v;
        return 0;
}

int epoch_fence_open(const char *path, struct epoch_fence *ret, char **ret_error)
{
        _cleanup_free_ char *text = NULL;
        uint64_t seen = 0;
        int r;

        r = file_read_full(path, 64, &text, NULL);
        if (r < 0 && r != -ENOENT)
                return error_set(ret_error, r, "master epoch file %s: %s", path, strerror(-r));
        if (r >= 0 && epoch_parse(text, &seen) < 0)
                return error_set(ret_error, -EINVAL,
                                 "master epoch file %s: '%.32s' is not a positive integer (it "
                                 "holds the highest master epoch this agent has seen)",
                                 path, text);
        ret->path = strdup(path);
        if (!ret->path)
                return -ENOMEM;
        ret->seen = seen;
        return 0;
}

void epoch_fence_done(struct epoch_fence *f)
{
        f->path = (free(f->path), NULL);
}

int epoch_fence_admit(struct epoch_fence *f, const char *header, char **ret_error)
{
        char text[32];
        uint64_t e;
        int r;

        if (!header)
                return 0;
        if (epoch_parse(header, &e) < 0)
                return error_set(ret_error, -EINVAL,
                                 "header " SILO_MASTER_EPOCH_HEADER ": '%.32s' is not a positive "
                                 "integer",
                                 header);
        if (e < f->seen)
                return error_set(ret_error, -ESTALE,
                                 "master epoch %" PRIu64 " is older than epoch %" PRIu64
                                 " this agent has seen: the sender was deposed",
                                 e, f->seen);
        if (e == f->seen)
                return 0;
        /* On disk before anything is done on the new leader's word: after a crash the agent
         * must still refuse the deposed one. */
        snprintf(text, sizeof(text), "%" PRIu64 "\n", e);
        r = file_write_atomic(f->path, text, strlen(text), 0644);
        if (r < 0)
                return error_set(ret_error, r, "cannot save master epoch %" PRIu64 " in %s: %s", e,
                                 f->path, strerror(-r));
        f->seen = e;
        return 0;
}
