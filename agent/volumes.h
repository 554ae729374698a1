/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's persistent volumes: directories with a project quota on its disks' filesystems,
 * recorded in <state-dir>/volumes, created by the first launch that names them. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "silo/protocol.h"

struct agent;
struct task_plan;

typedef enum {
        VOLUME_CREATING,        /* recorded; its directory and quota may not be complete yet */
        VOLUME_READY,
        VOLUME_DELETING,        /* recorded for deletion; its tree may be partly removed */
} volume_state;

struct agent_volume {
        char *name;
        char *disk;             /* the agent disk's name */
        char *role;             /* of the task that made it (authz_volume_mount()); NULL: none
                                 * (made by a role-less task, or recorded before roles were) */
        uint64_t size;          /* bytes: the project's hard block limit */
        uint32_t projid;
        uint64_t created_ms;
        volume_state state;
        char *path;             /* <disk mount>/silo-volumes/<name>; NULL when the disk is gone */
        char *problem;          /* why it cannot be mounted (found at start); NULL: fine */
        struct agent *agent;
        struct event_source *delete_src; /* its tree is being removed (volume_delete_start()) */
};

/* Project ids the agent gives volumes: above those an administrator numbers by hand in
 * /etc/projid, so that a volume never shares another directory's quota. */
#define VOLUME_PROJID_MIN 0x51100000u

/* At start, after the disks: <state-dir>/volumes/<name>.json loaded and each checked against
 * its directory and quota. A volume whose directory vanished (or whose disk is no longer
 * offered with its mount point) is kept with its problem, reported, never recreated
 * silently. -errno only for the state directory itself. */
int agent_volumes_load(struct agent *a, char **ret_error);
/* At start, once the tasks are recovered and the loop runs: a deletion a crash interrupted is
 * resumed (off the loop); a creation a crash interrupted is left for the live task that names
 * the volume to finish, and removed when none does. */
void agent_volumes_recover(struct agent *a);
void agent_volumes_free(struct agent *a);

struct agent_volume *agent_volume_find(const struct agent *a, const char *name);

struct agent_disk;
/* "<mount>/silo-volumes" of disk d (name NULL), or "<mount>/silo-volumes/<name>": the one
 * place that says where volumes live. NULL on ENOMEM or for a disk without a mount point. */
char *agent_volumes_dir(const struct agent_disk *d, const char *name);

/* "any" made concrete in a spec about to launch (standalone agent; a master sends concrete
 * disks): each persistent volume's disk (its existing volume's, else the offered disk with a
 * mount point, of the class asked for, with the most room left), then each io entry with
 * disk "any", which means the disk of the task's volumes. -EINVAL naming the field when a
 * volume names another disk than the one holding it, when no disk can hold it, or when the
 * task's volumes are on several disks and an io entry says "any". */
int agent_volumes_resolve_spec(const struct agent *a, struct silo_task_spec *spec,
                               char **ret_error);

/* container.volumes[i] (a persistent volume) checked against this agent: an existing volume
 * of the task's role (else -EACCES, 403: authz_volume_mount()), of the same size, usable, that no other task not ended mounts in conflict (read-write on
 * either side, unless both say shared: -EBUSY "volume_in_use" naming the task); a new one on
 * a disk with a mount point and size <= the room the disk's other volumes leave. The
 * directory the task mounts in *ret_source. Creates nothing. */
int agent_volume_check(const struct agent *a, const struct silo_task_spec *spec, size_t i,
                       char **ret_source, char **ret_error);

/* Create (or finish creating) the spec's volumes that are not ready, owned by the task's user
 * (plan): the record first (durable, "creating"), then the directory, its project id with
 * PROJINHERIT, the quota, the owner, and the record "ready". *ret_created lists those this
 * call created (NULL-terminated; NULL when none), for agent_volumes_undo(). */
int agent_volumes_create(struct agent *a, const struct silo_task_spec *spec,
                         const struct task_plan *plan, char ***ret_created, char **ret_error);
/* Delete the volumes a launch created when it failed after creating them. */
void agent_volumes_undo(struct agent *a, char **created);

/* DELETE /api/v1/volumes/{name}: -ENOENT, -EBUSY naming the task that mounts it, -ENODEV
 * while its disk is not offered with its mount point (the record and data stay); else its
 * record marked deleting and its tree's removal started off the loop (also when it runs
 * already): the quota and record go when it is done; the volume is "deleting" until then. */
int agent_volume_delete(struct agent *a, const char *name, char **ret_error);

/* {"name", "disk", "size", "used_bytes", "path", "project_id", "created_ms", "state",
 * "tasks": [...], "problem"?}: the API's view. NULL on ENOMEM. */
json_t *agent_volume_to_json(const struct agent *a, const struct agent_volume *v);
struct metrics_text;
/* silo_agent_volume_size_bytes{volume,disk} and silo_agent_volume_used_bytes{volume,disk}. */
void agent_volumes_metrics(const struct agent *a, struct metrics_text *w);
/* [{"name", "disk", "size", "used_bytes"}]: the registration's and heartbeats' "volumes". */
json_t *agent_volumes_report_json(const struct agent *a);
