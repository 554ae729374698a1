/* SPDX-License-Identifier: Apache-2.0 */
/* Internal to the task spec codec: decoders/encoders of its embedded parts (resources, container,
 * constraints). */
#pragma once

#include <jansson.h>

#include "silo/protocol.h"

/* Each from_json fills *ret (previously initialised with _init) only on success; `path` is the
 * field path of the part ("resources"). to_json returns NULL on ENOMEM. */
void silo_resources_init(struct silo_resources *r);
void silo_resources_clear(struct silo_resources *r);
int silo_resources_from_json(const json_t *j, const char *path, struct silo_resources *ret,
                             char **ret_error);
json_t *silo_resources_to_json(const struct silo_resources *r);
bool silo_resources_is_empty(const struct silo_resources *r);

/* The kernel tree ("/proc", "/sys", "/dev") a volume target (or, without "/dev", a source)
 * lies in, or NULL: the agent builds those itself for every task. `normalized`: absolute, no
 * "." or "..", or already resolved. */
const char *silo_volume_kernel_tree(const char *normalized, bool target);

void silo_container_init(struct silo_container *c);
void silo_container_clear(struct silo_container *c);
int silo_container_from_json(const json_t *j, const char *path, struct silo_container *ret,
                             char **ret_error);
json_t *silo_container_to_json(const struct silo_container *c);
/* The rules between resources, capabilities and container: resources.net_egress only with
 * network "bridge"; no NET_ADMIN in `capabilities` (the spec's array, already checked; NULL:
 * none) with network "bridge"; no SYS_RESOURCE with a persistent volume. c is NULL when the
 * spec has no container (network "host"). */
int silo_task_cross_check(const struct silo_resources *res, const struct silo_container *c,
                          const json_t *capabilities, char **ret_error);

void silo_constraints_init(struct silo_constraints *c);
void silo_constraints_clear(struct silo_constraints *c);
int silo_constraints_from_json(const json_t *j, const char *path, struct silo_constraints *ret,
                               char **ret_error);
json_t *silo_constraints_to_json(const struct silo_constraints *c);
bool silo_constraints_is_empty(const struct silo_constraints *c);
