/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's translation of a task spec into the isolator's input: io targets and devices
 * resolved once, then a plain struct cg_limits (the isolator knows no spec or field path). */
#pragma once

#include <stddef.h>

#include "isolator/isolator.h"
#include "silo/protocol.h"

/* Resolve each resources.io[i] (a disk name in <sysfs_root>/class/block or a device path;
 * sysfs_root NULL: "/sys") to its io.max target: *ret has res->n_io entries (NULL when
 * there are none), free it. Messages name the entry: "resources.io[0].device: /dev/sdz
 * does not exist", "resources.io[1]: sda is the same disk as resources.io[0]". */
int task_io_targets_resolve(const char *sysfs_root, const struct silo_resources *res,
                            struct blockdev **ret, char **ret_error);

/* Resolve each container.devices[i].path with stat() to an allow-list rule (access "rwm"
 * when the entry gives none): *ret has n_devices entries (NULL when there are none), free it.
 * Messages name the entry as validation always did: "container.devices[0]: /dev/nope does
 * not exist on this host". */
int task_devices_resolve(const struct silo_device *devices, size_t n_devices,
                         struct cg_device_rule **ret, char **ret_error);

/* The limits of `spec` with its resolved io targets (io_targets[i] for resources.io[i]) and
 * device rules. *ret points into spec, io_targets' copy in *ret_io and devices: they must
 * outlive it; free *ret_io. */
int task_cgroup_limits(const struct silo_task_spec *spec, const struct blockdev *io_targets,
                       const struct cg_device_rule *devices, size_t n_devices,
                       struct cg_limits *ret, struct cg_io_target **ret_io, char **ret_error);
