/* SPDX-License-Identifier: Apache-2.0 */
/* Resolve a device path, partition, mount point or file to the whole-disk device io.max takes. */
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/fileio.h"
#include "isolator/cgroup-internal.h"

static const char *sysfs_or_default(const char *sysfs_root)
{
        return sysfs_root && *sysfs_root ? sysfs_root : "/sys";
}

static int read_devnum_file(const char *path, dev_t *ret)
{
        _cleanup_free_ char *s = NULL;
        unsigned ma, mi;
        int r;

        r = file_read_full(path, 64, &s, NULL);
        if (r < 0)
                return r;
        if (sscanf(s, "%u:%u", &ma, &mi) != 2)
                return -EBADMSG;
        *ret = makedev(ma, mi);
        return 0;
}

static void copy_name(char *dst, size_t size, const char *src)
{
        snprintf(dst, size, "%s", src);
}

int blockdev_resolve_devnum(const char *sysfs_root, dev_t devnum, struct blockdev *ret,
                            char **ret_error)
{
        char link[PATH_MAX], dir[PATH_MAX], file[PATH_MAX + 16];
        struct blockdev b = {};
        struct stat st;

        sysfs_root = sysfs_or_default(sysfs_root);
        snprintf(link, sizeof(link), "%s/dev/block/%u:%u", sysfs_root, major(devnum),
                 minor(devnum));
        if (!realpath(link, dir))
                return error_set(ret_error, errno == ENOENT ? -ENODEV : negative_errno(),
                                "block device %u:%u not found in %s/dev/block", major(devnum),
                                minor(devnum), sysfs_root);

        /* io.max refuses partitions: a partition's sysfs directory has a "partition" file and
         * sits inside its disk's directory, so the parent is the target. dm-N and mdN have no
         * "partition" file and are targets themselves. */
        snprintf(file, sizeof(file), "%s/partition", dir);
        if (stat(file, &st) == 0) {
                char parent[PATH_MAX];
                int r;

                copy_name(b.partition, sizeof(b.partition), basename(dir));
                char copy[PATH_MAX];

                snprintf(copy, sizeof(copy), "%s", dir);
                snprintf(parent, sizeof(parent), "%s", dirname(copy));
                snprintf(file, sizeof(file), "%s/dev", parent);
                r = read_devnum_file(file, &b.devnum);
                if (r < 0)
                        return error_set(ret_error, r,
                                        "cannot read the parent disk of partition %s from %s: %s",
                                        b.partition, file, strerror(-r));
                copy_name(b.name, sizeof(b.name), basename(parent));
                b.from_partition = true;
        } else {
                b.devnum = devnum;
                copy_name(b.name, sizeof(b.name), basename(dir));
        }
        *ret = b;
        return 0;
}

int blockdev_resolve_name(const char *sysfs_root, const char *name, struct blockdev *ret,
                          char **ret_error)
{
        char file[PATH_MAX];
        dev_t devnum;
        int r;

        sysfs_root = sysfs_or_default(sysfs_root);
        if (!name || !*name || strchr(name, '/') || streq(name, ".") || streq(name, ".."))
                return error_set(ret_error, -EINVAL, "'%s' is not a disk name (like nvme0n1)",
                                strempty(name));
        snprintf(file, sizeof(file), "%s/class/block/%s/dev", sysfs_root, name);
        r = read_devnum_file(file, &devnum);
        if (r == -ENOENT)
                return error_set(ret_error, -ENODEV, "disk %s not found in %s/class/block", name,
                                sysfs_root);
        if (r < 0)
                return error_set(ret_error, r, "cannot read %s: %s", file, strerror(-r));
        return blockdev_resolve_devnum(sysfs_root, devnum, ret, ret_error);
}

/* Files on btrfs (and other multi-device filesystems) carry an anonymous st_dev (major 0):
 * find the mount with that st_dev in mountinfo and use its source device instead. */
static int devnum_from_mountinfo(dev_t anon, dev_t *ret)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
        char line[4096];

        if (!f)
                return negative_errno();
        while (fgets(line, sizeof(line), f)) {
                unsigned ma, mi;
                char *sep, source[PATH_MAX];
                struct stat st;

                if (sscanf(line, "%*u %*u %u:%u", &ma, &mi) != 2 || makedev(ma, mi) != anon)
                        continue;
                sep = strstr(line, " - ");
                if (!sep || sscanf(sep + 3, "%*s %4095s", source) != 1)
                        continue;
                if (stat(source, &st) == 0 && S_ISBLK(st.st_mode)) {
                        *ret = st.st_rdev;
                        return 0;
                }
        }
        return -ENODEV;
}

int blockdev_resolve(const char *sysfs_root, const char *path, struct blockdev *ret,
                     char **ret_error)
{
        struct stat st;
        dev_t devnum;

        if (!path || path[0] != '/')
                return error_set(ret_error, -EINVAL, "'%s' is not an absolute path",
                                strempty(path));
        if (stat(path, &st) < 0) {
                if (errno == ENOENT || errno == ENOTDIR)
                        return error_set(ret_error, -ENOENT, "%s does not exist", path);
                return error_set(ret_error, negative_errno(), "cannot stat %s: %m", path);
        }
        if (S_ISBLK(st.st_mode))
                devnum = st.st_rdev;
        else if (S_ISCHR(st.st_mode))
                return error_set(ret_error, -ENOTBLK,
                                "%s is a character device (%u:%u), not a block device", path,
                                major(st.st_rdev), minor(st.st_rdev));
        else if (major(st.st_dev) != 0)
                devnum = st.st_dev;     /* a file, directory or mount point: its filesystem */
        else if (devnum_from_mountinfo(st.st_dev, &devnum) < 0)
                return error_set(ret_error, -ENOTBLK,
                                "%s is on a filesystem without a block device (device %u:%u: "
                                "tmpfs, overlay, network?)",
                                path, major(st.st_dev), minor(st.st_dev));
        return blockdev_resolve_devnum(sysfs_root, devnum, ret, ret_error);
}
