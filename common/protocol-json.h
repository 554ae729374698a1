/* SPDX-License-Identifier: Apache-2.0 */
/* JSON codecs (jansson) with validation for every wire type of include/silo/protocol.h. */
#pragma once

#include <stdbool.h>

#include <jansson.h>

#include "common/macro.h"
#include "silo/protocol.h"

/*
 * Conventions shared by every type T below:
 *
 *   int  silo_T_from_json(const json_t *j, struct silo_T **ret, char **ret_error);
 *        Decode and validate. Returns 0 and a new object in *ret, or -EINVAL (-ENOMEM,
 *        -ERANGE) and a malloc'ed message in *ret_error naming the field path and the
 *        offending value, e.g. "resources.io[0].rbps: '12Q' is not a quantity",
 *        "resources: unknown key 'cpu'", "name: missing",
 *        "user: must be a string". Unknown keys are rejected at every level; JSON null
 *        counts as absent. ret_error may be NULL when the caller does not want the text.
 *   int  silo_T_from_string(const char *text, struct silo_T **ret, char **ret_error);
 *        Parse JSON text then from_json; syntax errors read
 *        "invalid JSON at line 3, column 7: <jansson's reason>".
 *   json_t *silo_T_to_json(const struct silo_T *x);
 *        Canonical form (quantities as JSON integers, unset fields omitted) that from_json
 *        reads back exactly. NULL only on ENOMEM. The input must be valid (as from_json
 *        produces); to_json does not validate.
 *   char *silo_T_to_string(const struct silo_T *x);
 *        Compact JSON text of to_json (malloc'ed; NULL on ENOMEM).
 *   struct silo_T *silo_T_free(struct silo_T *x);   accepts NULL, returns NULL
 *   silo_T_freep (DEFINE_TRIVIAL_CLEANUP_FUNC), usable as _cleanup_(silo_T_freep)
 *   void silo_T_clear(struct silo_T *x);            free the members of an embedded struct
 *   bool silo_T_equal(const struct silo_T *a, const struct silo_T *b);
 *        Semantic equality (same canonical JSON; order of env/attributes keys is irrelevant).
 *   struct silo_T *silo_T_dup(const struct silo_T *x);  deep copy; NULL on ENOMEM.
 *
 * Defaults applied by from_json (so callers never see "absent"):
 *   task spec: role "default", priority 0, init true, kill_grace_s UINT32_MAX (unset),
 *   quantities SILO_UNSET, cpus 0 (unlimited), cpu_weight 0 (unset), network HOST when the
 *   net namespace is not requested, NONE when it is ("network": "none" adds SILO_NS_NET).
 *   status update: exit_code -1, signal 0, reason NONE.
 *   agent resources: pids 0 (not reported); disk figures 0 (unknown).
 *
 * Task spec rules worth knowing (the unit tests list every error message):
 *   - id, name, role, group, disk names, classes: silo_name_is_valid().
 *   - command: argv[0] non-empty; later arguments may be empty strings.
 *   - cpus: JSON number or numeric string, rounded to 0.01 (the smallest cpu.max quota),
 *     0 < cpus <= 4096. Quantities: see quantity.h; mem/mem_high/pids/io limits must be > 0,
 *     swap may be 0, mem_high <= mem.
 *   - io entries: exactly one of disk/device, class only with disk "any", at least one limit
 *     or weight, no target twice. cpuset: ascending ranges of CPUs < 4096.
 *   - container: "network": "none" adds SILO_NS_NET; "host" with the net namespace is an
 *     error; a rootfs or a volume adds SILO_NS_MOUNT; hostname needs the uts namespace.
 *     Volume targets are normalised ("/x//y/" -> "/x/y"), never "/" nor containing "..".
 *     A volume has exactly one of source (bind mount) and name (persistent volume: size > 0
 *     required, disk default "any", class only with disk "any", shared default false).
 *     Devices: "/dev/..." strings (access rwm) or {"path", "access"} with access a subset
 *     of "rwm".
 *   - rlimits: number/quantity (soft = hard), "unlimited" (RLIM_INFINITY), or
 *     {"soft", "hard"} with soft <= hard. capabilities: with or without CAP_, any case.
 *   - JSON text with a repeated key is rejected (it would silently drop a value).
 */

#define SILO_DECLARE_CODEC(T)                                                                      \
        int silo_##T##_from_json(const json_t *j, struct silo_##T **ret, char **ret_error);        \
        int silo_##T##_from_string(const char *text, struct silo_##T **ret, char **ret_error);     \
        json_t *silo_##T##_to_json(const struct silo_##T *x);                                      \
        char *silo_##T##_to_string(const struct silo_##T *x);                                      \
        void silo_##T##_clear(struct silo_##T *x);                                                 \
        struct silo_##T *silo_##T##_free(struct silo_##T *x);                                      \
        bool silo_##T##_equal(const struct silo_##T *a, const struct silo_##T *b);                 \
        struct silo_##T *silo_##T##_dup(const struct silo_##T *x);                                 \
        DEFINE_TRIVIAL_CLEANUP_FUNC(struct silo_##T *, silo_##T##_free)

/* Task spec (client -> master, master -> agent). Validation rules: see task-spec-json.c. */
SILO_DECLARE_CODEC(task_spec);
/* Status update (agent -> master). */
SILO_DECLARE_CODEC(status_update);
/* Agent registration (agent -> master), with its resources, attributes and task list. */
SILO_DECLARE_CODEC(agent_registration);
/* An agent's resources: cpus, mem, pids, disks, attributes. */
SILO_DECLARE_CODEC(agent_resources);
/* One disk an agent offers (an element of agent_resources.disks). */
SILO_DECLARE_CODEC(disk);
/* A task id with its state (registration's task list, heartbeats). */
SILO_DECLARE_CODEC(task_ref);

/* Decode into an embedded struct (e.g. an array element) rather than a new object; `path` is
 * the field path used in messages ("tasks[3]", "resources.disks[0]"). Free with _clear(). */
int silo_task_ref_parse(const json_t *j, const char *path, struct silo_task_ref *ret,
                        char **ret_error);
int silo_disk_parse(const json_t *j, const char *path, struct silo_disk *ret, char **ret_error);
int silo_agent_resources_parse(const json_t *j, const char *path, struct silo_agent_resources *ret,
                               char **ret_error);

/* obj["volumes"] (absent or null: none), the persistent volumes an agent reports in its
 * registration and heartbeats: [{"name", "disk", "size", "used_bytes"}], names and disks
 * silo_name_is_valid(), size > 0, no name twice ("<path>.volumes[2].name: 'pg' is already
 * listed in <path>.volumes[0]"). *ret is NULL when there are none. */
int silo_volume_reports_parse(const json_t *obj, const char *path,
                              struct silo_volume_report **ret, size_t *ret_n, char **ret_error);
/* The array of silo_volume_reports_parse(); NULL on ENOMEM. */
json_t *silo_volume_reports_to_json(const struct silo_volume_report *v, size_t n);
/* Free an array of reports; returns NULL. */
struct silo_volume_report *silo_volume_reports_free(struct silo_volume_report *v, size_t n);

/* [{"container": 5432, "host": 20001, "proto": "tcp"}, ...] as in container.ports: for every
 * view of a task's ports (task JSON, network view, events). NULL on ENOMEM. */
json_t *silo_port_mappings_to_json(const struct silo_port_mapping *ports, size_t n);

/* A spec's role: "default" when it names none. Authorization and every view of a task take
 * the role from here, so that they cannot disagree on it. */
const char *silo_task_spec_role(const struct silo_task_spec *spec);

/* container.volumes[i] naming an existing persistent volume on `disk` (whose class is
 * `disk_class`; NULL: not known): an explicit disk must be that disk, a class that disk's
 * class. One rule for the master (at submission) and the agent (at launch): a spec is never
 * silently moved to another disk than the one it names. 0, or -EINVAL naming both. */
int silo_volume_check_existing(const struct silo_volume *vol, size_t i, const char *disk,
                               const char *disk_class, char **ret_error);

/* Names safe as a path component and a cgroup name: [A-Za-z0-9][A-Za-z0-9._-]{0,62}.
 * Used for task ids, names, roles, groups, agent ids, disk names. */
bool silo_name_is_valid(const char *s);
