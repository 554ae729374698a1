/* SPDX-License-Identifier: Apache-2.0 */
/* The disks an agent offers (--disk): resolved to the devices io.max takes, shown by GET /api/v1/devices. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "agent/agent.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "isolator/pquota.h"

static uint64_t sysfs_u64(const char *name, const char *attr)
{
        char p[PATH_MAX];
        _cleanup_free_ char *s = NULL;

        snprintf(p, sizeof(p), "/sys/class/block/%s/%s", name, attr);
        if (file_read_full(p, 64, &s, NULL) < 0)
                return 0;
        return strtoull(s, NULL, 10);
}

/* "ssd" or "hdd" from the queue's rotational flag, "nvme" for NVMe namespaces. */
static const char *disk_class(const char *name)
{
        if (strncmp(name, "nvme", 4) == 0)
                return "nvme";
        return sysfs_u64(name, "queue/rotational") ? "hdd" : "ssd";
}

/* The disk's volume filesystem at `mount`: on this disk, mounted, project quotas on
 * (isolator/pquota.h says what is wrong and how to fix it). */
static int disk_mount_open(struct agent_disk *disk, const char *mount, char **ret_error)
{
        _cleanup_free_ struct pquota_fs *fs = malloc(sizeof(*fs));
        int r;

        if (!fs)
                return -ENOMEM;
        r = pquota_fs_open(NULL, mount, disk->devnum, disk->name, fs, ret_error);
        if (r < 0)
                return r;
        disk->mount = strdup(fs->mount);
        if (!disk->mount)
                return -ENOMEM;
        disk->fs = TAKE_PTR(fs);
        return 0;
}

int agent_disks_resolve(struct agent *a, char **ret_error)
{
        size_t n = 0;

        for (char **d = a->opts.disk; d && *d; d++)
                n++;
        if (n == 0)
                return 0;
        a->disks = calloc(n, sizeof(*a->disks));
        if (!a->disks)
                return -ENOMEM;
        for (char **d = a->opts.disk; d && *d; d++) {
                struct agent_disk *disk = &a->disks[a->n_disks];
                /* NAME:/MOUNTPOINT: ":/" never occurs in a device name or path (by-path
                 * names have ':' before digits). */
                const char *mount = strstr(*d, ":/");
                _cleanup_free_ char *dev = mount ? strndup(*d, (size_t)(mount - *d)) : strdup(*d);
                struct blockdev bd;
                int r;

                if (!dev)
                        return -ENOMEM;
                /* A name ("nullb0") or any path: device, partition, mount point, file. */
                if (strchr(dev, '/'))
                        r = blockdev_resolve(NULL, dev, &bd, ret_error);
                else
                        r = blockdev_resolve_name(NULL, dev, &bd, ret_error);
                if (r < 0)
                        return error_wrap(ret_error, r, "--disk %s", *d);
                for (size_t i = 0; i < a->n_disks; i++)
                        if (a->disks[i].devnum == bd.devnum)
                                return error_set(ret_error, -EINVAL, "--disk %s: %s is already offered", *d,
                                                 bd.name);
                disk->name = strdup(bd.name);
                if (asprintf(&disk->path, "/dev/%s", bd.name) < 0)
                        disk->path = NULL;
                disk->devnum = bd.devnum;
                disk->class = strdup(disk_class(bd.name));
                disk->size_bytes = sysfs_u64(bd.name, "size") * 512;
                a->n_disks++;
                if (!disk->name || !disk->path || !disk->class)
                        return -ENOMEM;
                if (mount) {
                        r = disk_mount_open(disk, mount + 1, ret_error);
                        if (r < 0)
                                return error_wrap(ret_error, r, "--disk %s", *d);
                }
        }
        return 0;
}

json_t *agent_disks_to_json(const struct agent *a)
{
        json_t *arr = json_array();

        for (size_t i = 0; arr && i < a->n_disks; i++) {
                const struct agent_disk *d = &a->disks[i];
                char dev[32];
                json_t *obj;

                snprintf(dev, sizeof(dev), "%u:%u", major(d->devnum), minor(d->devnum));
                /* Figures are 0 (unknown) here; the calibration (link.h) fills in what it
                 * measured or the operator configured. */
                obj = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s?}", "device", dev, "name", d->name,
                                "path", d->path, "class", d->class, "size_bytes",
                                (json_int_t)d->size_bytes, "mount", d->mount);
                FOREACH_IO_LIMIT(l)
                        if (obj && json_object_set_new(obj, silo_io_figure_to_string(l), json_integer(0)) < 0)
                                json_decref(TAKE_PTR(obj));
                if (!obj || json_object_set_new(obj, "source", json_string("unknown")) < 0) {
                        json_decref(obj);
                        continue;
                }
                agent_link_disk_annotate(a, d->name, obj);
                json_array_append_new(arr, obj);
        }
        return arr ? json_pack("{s:o}", "disks", arr) : NULL;
}
