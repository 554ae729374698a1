/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's translation of a task spec into the isolator's limits: the io targets and
 * devices of the spec resolved once, with messages naming the spec's fields. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "agent/task-cgroup.h"
#include "common/error.h"
#include "common/macro.h"

_Static_assert(SILO_UNSET == CG_MAX, "an unset spec quantity is the isolator's \"no limit\"");

/* resources.io[i] to its block device, by device path or disk name. */
static int io_target_resolve(const char *sysfs_root, const struct silo_io_request *io, size_t i,
                             struct blockdev *ret, char **ret_error)
{
        int r;

        if (io->device)
                r = blockdev_resolve(sysfs_root, io->device, ret, ret_error);
        else if (io->disk && streq(io->disk, "any"))
                return error_set(ret_error, -EINVAL,
                                 "resources.io[%zu].disk: 'any' is for the master to resolve; "
                                 "name a disk of this agent", i);
        else if (io->disk)
                r = blockdev_resolve_name(sysfs_root, io->disk, ret, ret_error);
        else
                return error_set(ret_error, -EINVAL,
                                 "resources.io[%zu]: names neither a disk nor a device", i);
        if (r < 0)
                return error_wrap(ret_error, r, "resources.io[%zu].%s", i,
                                  io->device ? "device" : "disk");
        return 0;
}

int task_io_targets_resolve(const char *sysfs_root, const struct silo_resources *res,
                            struct blockdev **ret, char **ret_error)
{
        _cleanup_free_ struct blockdev *v = NULL;
        int r;

        if (res->n_io > 0) {
                v = calloc(res->n_io, sizeof(*v));
                if (!v)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < res->n_io; i++) {
                r = io_target_resolve(sysfs_root, &res->io[i], i, &v[i], ret_error);
                if (r < 0)
                        return r;
                /* Two names of one disk (a partition and its disk, a path and a name): the
                 * codec cannot see it, and io.max would keep only the last line. */
                for (size_t j = 0; j < i; j++)
                        if (v[j].devnum == v[i].devnum)
                                return error_set(ret_error, -EINVAL,
                                                 "resources.io[%zu]: %s is the same disk as "
                                                 "resources.io[%zu]", i, v[i].name, j);
        }
        *ret = TAKE_PTR(v);
        return 0;
}

int task_devices_resolve(const struct silo_device *devices, size_t n_devices,
                         struct cg_device_rule **ret, char **ret_error)
{
        _cleanup_free_ struct cg_device_rule *v = NULL;

        if (n_devices > CG_DEVICE_RULES_MAX)
                return error_set(ret_error, -E2BIG,
                                 "container.devices: %zu entries, at most %u are supported",
                                 n_devices, CG_DEVICE_RULES_MAX);
        if (n_devices > 0) {
                v = calloc(n_devices, sizeof(*v));
                if (!v)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < n_devices; i++) {
                const char *p = devices[i].path;
                struct stat st;

                if (!p)
                        return error_set(ret_error, -EINVAL, "container.devices[%zu]: no path",
                                         i);
                if (stat(p, &st) < 0) {
                        if (errno == ENOENT)
                                return error_set(ret_error, -ENOENT,
                                                 "container.devices[%zu]: %s does not exist on "
                                                 "this host", i, p);
                        return error_set(ret_error, negative_errno(),
                                         "container.devices[%zu]: %s: %m", i, p);
                }
                if (!S_ISBLK(st.st_mode) && !S_ISCHR(st.st_mode))
                        return error_set(ret_error, -ENOTBLK,
                                         "container.devices[%zu]: %s is not a device node",
                                         i, p);
                v[i] = (struct cg_device_rule){
                        .type = S_ISBLK(st.st_mode) ? 'b' : 'c',
                        .major = major(st.st_rdev),
                        .minor = minor(st.st_rdev),
                        .access = devices[i].access ?: SILO_DEV_READ | SILO_DEV_WRITE |
                                                               SILO_DEV_MKNOD,
                };
        }
        *ret = TAKE_PTR(v);
        return 0;
}

int task_cgroup_limits(const struct silo_task_spec *spec, const struct blockdev *io_targets,
                       const struct cg_device_rule *devices, size_t n_devices,
                       struct cg_limits *ret, struct cg_io_target **ret_io, char **ret_error)
{
        const struct silo_resources *res = &spec->resources;
        _cleanup_free_ struct cg_io_target *io = NULL;

        if (res->n_io > 0 && !io_targets)
                return error_set(ret_error, -EINVAL,
                                 "resources.io: %zu entries but no resolved disks", res->n_io);
        if (res->n_io > 0) {
                io = calloc(res->n_io, sizeof(*io));
                if (!io)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < res->n_io; i++) {
                io[i].dev = io_targets[i];
                memcpy(io[i].limit, res->io[i].limit, sizeof(io[i].limit));
                io[i].weight = res->io[i].weight;
        }
        *ret = (struct cg_limits){
                .cpus = res->cpus,
                .cpu_weight = res->cpu_weight,
                .cpuset = res->cpuset,
                .mem = res->mem,
                .mem_high = res->mem_high,
                .swap = res->swap,
                .pids = res->pids,
                .io = io,
                .n_io = res->n_io,
                .devices = devices,
                .n_devices = n_devices,
        };
        *ret_io = TAKE_PTR(io);
        return 0;
}
