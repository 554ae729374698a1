/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's fence against deposed masters: (cluster id, highest master epoch seen), on disk. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/epoch-fence.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "silo/protocol.h"

#define CLUSTER_ID_MAX 64

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

/* The master makes UUIDs; any 1-64 letters, digits and '-' are taken (nothing that could break
 * the file's format or a log line). */
static bool cluster_id_valid(const char *s, size_t n)
{
        if (n == 0 || n > CLUSTER_ID_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
                      (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '-'))
                        return false;
        return true;
}

int epoch_fence_open(const char *path, struct epoch_fence *ret, char **ret_error)
{
        _cleanup_free_ char *text = NULL;
        const char *slash, *num;
        uint64_t seen = 0;
        int r;

        *ret = (struct epoch_fence){0};
        r = path ? file_read_full(path, 128, &text, NULL) : -ENOENT;
        if (r < 0 && r != -ENOENT)
                return error_set(ret_error, r, "master epoch file %s: %s", path, strerror(-r));
        if (r >= 0) {
                slash = strchr(text, '/');
                num = slash ? slash + 1 : text;
                if ((slash && !cluster_id_valid(text, (size_t)(slash - text))) ||
                    epoch_parse(num, &seen) < 0)
                        return error_set(ret_error, -EINVAL,
                                         "master epoch file %s: '%.80s' is not "
                                         "'<cluster-id>/<epoch>' nor '<epoch>' (it holds the "
                                         "highest master epoch this agent has seen)",
                                         path, text);
                if (slash && !(ret->cluster_id = strndup(text, (size_t)(slash - text))))
                        return -ENOMEM;
        }
        if (path && !(ret->path = strdup(path))) {
                epoch_fence_done(ret);
                return -ENOMEM;
        }
        ret->seen = seen;
        return 0;
}

void epoch_fence_done(struct epoch_fence *f)
{
        f->path = (free(f->path), NULL);
        f->cluster_id = (free(f->cluster_id), NULL);
}

/* Make (cluster_id, e) the fence's, on disk first: after a crash the agent must still refuse
 * the deposed master. */
static int fence_save(struct epoch_fence *f, const char *cluster_id, uint64_t e, char **ret_error)
{
        char text[CLUSTER_ID_MAX + 32];
        char *copy = NULL;
        int r;

        if (cluster_id && !(copy = strdup(cluster_id)))
                return -ENOMEM;
        snprintf(text, sizeof(text), "%s%s%" PRIu64 "\n", strempty(cluster_id),
                 cluster_id ? "/" : "", e);
        if (f->path) {
                r = file_write_atomic(f->path, text, strlen(text), 0644);
                if (r < 0) {
                        free(copy);
                        return error_set(ret_error, r,
                                         "cannot save master epoch %" PRIu64 " in %s: %s", e,
                                         f->path, strerror(-r));
                }
        }
        free(f->cluster_id);
        f->cluster_id = copy;
        f->seen = e;
        return 0;
}

int epoch_fence_admit(struct epoch_fence *f, const char *cluster_id, const char *header,
                      char **ret_error)
{
        uint64_t e;

        if (!header)
                return 0;
        if (epoch_parse(header, &e) < 0)
                return error_set(ret_error, -EINVAL,
                                 "header " SILO_MASTER_EPOCH_HEADER ": '%.32s' is not a positive "
                                 "integer",
                                 header);
        if (cluster_id && !cluster_id_valid(cluster_id, strlen(cluster_id)))
                return error_set(ret_error, -EINVAL,
                                 "header " SILO_CLUSTER_ID_HEADER ": '%.80s' is not a cluster id "
                                 "(1-64 letters, digits and '-')",
                                 cluster_id);
        /* Only a registration changes the agent's cluster: a master of another cluster (an old
         * state, another cluster's master given this agent's address) must not act on it. */
        if (cluster_id && f->cluster_id && !streq(cluster_id, f->cluster_id))
                return error_set(ret_error, -EXDEV,
                                 "master of cluster %s, but this agent belongs to cluster %s (it "
                                 "registered there last): register it with that master first",
                                 cluster_id, f->cluster_id);
        if (e < f->seen)
                return error_set(ret_error, -ESTALE,
                                 "master epoch %" PRIu64 " is older than epoch %" PRIu64
                                 " this agent has seen: the sender was deposed",
                                 e, f->seen);
        if (e == f->seen)
                return 0;
        return fence_save(f, f->cluster_id, e, ret_error);
}

int epoch_fence_adopt(struct epoch_fence *f, const char *cluster_id, uint64_t epoch,
                      char **ret_error)
{
        if (!cluster_id)
                return 0;
        if (!cluster_id_valid(cluster_id, strlen(cluster_id)))
                return error_set(ret_error, -EINVAL,
                                 "registration answer: '%.80s' is not a cluster id (1-64 "
                                 "letters, digits and '-')",
                                 cluster_id);
        if (f->cluster_id && streq(f->cluster_id, cluster_id))
                return epoch > f->seen ? fence_save(f, cluster_id, epoch, ret_error) : 0;
        /* A new cluster (a reset state, a new etcd prefix) counts its epochs from 1 again. */
        return fence_save(f, cluster_id, epoch, ret_error);
}
