/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's fence against deposed masters: the highest master epoch seen, kept on disk. */
#pragma once

#include <stdint.h>

/*
 * Every master -> agent call carries SILO_MASTER_EPOCH_HEADER. A master that lost its
 * leadership keeps its old epoch while a new leader has a higher one, so an agent that has
 * seen the higher epoch refuses the launches and kills of the lower one: the deposed master
 * can no longer act. The highest epoch is written to <state-dir>/master-epoch (atomically)
 * before the agent acts on a call that raised it, so a restart does not forget it. A call
 * without the header (an older master, siloctl talking to the agent) is not fenced.
 */

struct epoch_fence {
        char *path;    /* <state-dir>/master-epoch */
        uint64_t seen; /* highest epoch seen; 0: none */
};

/* Load the file (absent: epoch 0). A malformed file is an error naming it and its content:
 * guessing 0 would let a deposed master act again. */
int epoch_fence_open(const char *path, struct epoch_fence *ret, char **ret_error);
void epoch_fence_done(struct epoch_fence *f);

/* Admit a call whose SILO_MASTER_EPOCH_HEADER is `header` (NULL: absent, admitted): 0 when
 * admitted (a higher epoch saved first), -ESTALE when lower than the highest seen, -EINVAL
 * for a header that is not a positive integer, or the -errno of saving it; *ret_error says
 * which, naming both epochs. */
int epoch_fence_admit(struct epoch_fence *f, const char *header, char **ret_error);
