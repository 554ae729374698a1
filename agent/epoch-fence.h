/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's fence against deposed masters: (cluster id, highest master epoch seen), on disk. */
#pragma once

#include <stdint.h>

/*
 * Every master -> agent call carries SILO_MASTER_EPOCH_HEADER and SILO_CLUSTER_ID_HEADER. A
 * master that lost its leadership keeps its old epoch while a new leader has a higher one, so
 * an agent that has seen the higher epoch refuses the launches and kills of the lower one: the
 * deposed master can no longer act. Epochs only compare within one cluster (one master state):
 * a state reset or a new cluster starts at epoch 1 again, so the agent keeps the cluster id
 * with the epoch, and adopts a new cluster id (with that cluster's epoch, afresh) only from a
 * successful registration with a master of its --master list (epoch_fence_adopt()). Until then
 * calls naming another cluster are refused. The pair is written to <state-dir>/master-epoch
 * (atomically, "<cluster-id>/<epoch>\n"; a file of an older agent holds "<epoch>\n" and no
 * cluster id, which the first registration then gives) before the agent acts on a call that
 * raised it, so a restart does not forget it. A call without the epoch header (an older master,
 * siloctl talking to the agent) is not fenced.
 */

struct epoch_fence {
        char *path;       /* <state-dir>/master-epoch; NULL: kept in memory only (sim-agent) */
        char *cluster_id; /* NULL: none known yet */
        uint64_t seen;    /* highest epoch seen in that cluster; 0: none */
};

/* Load the file (absent: no cluster, epoch 0). A malformed file is an error naming it and its
 * content: guessing 0 would let a deposed master act again. path NULL: nothing on disk. */
int epoch_fence_open(const char *path, struct epoch_fence *ret, char **ret_error);
void epoch_fence_done(struct epoch_fence *f);

/* Admit a call whose headers are `cluster_id` (SILO_CLUSTER_ID_HEADER) and `epoch`
 * (SILO_MASTER_EPOCH_HEADER), each NULL when absent: 0 when admitted (a higher epoch saved
 * first), -EXDEV when the call names another cluster than the agent's, -ESTALE when its epoch is
 * lower than the highest seen, -EINVAL for a malformed header, or the -errno of saving it;
 * *ret_error says which, naming both cluster ids or both epochs. */
int epoch_fence_admit(struct epoch_fence *f, const char *cluster_id, const char *epoch,
                      char **ret_error);

/* A registration answer from a master of the agent's list: its cluster id and epoch (0 when the
 * answer has none). Another cluster id than the agent's (or the first one) is adopted with that
 * epoch, forgetting the old cluster's; the same one raises the epoch as a call would. Saved
 * before it returns 0. cluster_id NULL (an older master): nothing changes. -EINVAL for a
 * malformed cluster id. */
int epoch_fence_adopt(struct epoch_fence *f, const char *cluster_id, uint64_t epoch,
                      char **ret_error);
