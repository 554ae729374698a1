/* SPDX-License-Identifier: Apache-2.0 */
/* Target inspection and block device write-safety checks from procfs and sysfs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "common/error.h"
#include "common/macro.h"
#include "io/target.h"

int io_target_stat(int fd, struct io_target_info *ret)
{
        struct io_target_info t = { .logical_bs = 512 };
        struct stat st;

        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (S_ISBLK(st.st_mode)) {
                uint64_t sz;
                int lbs;
                if (ioctl(fd, BLKGETSIZE64, &sz) < 0)
                        return negative_errno();
                if (ioctl(fd, BLKSSZGET, &lbs) < 0)
                        return negative_errno();
                t.is_blockdev = true;
                t.rdev = st.st_rdev;
                t.size = sz;
                t.logical_bs = (uint32_t)lbs;
        } else if (S_ISREG(st.st_mode)) {
                t.size = (uint64_t)st.st_size;
        } else
                return -EINVAL;
        *ret = t;
        return 0;
}

#define MAX_DEVS 256

/* The device itself plus each partition listed under /sys/dev/block/M:m/<part>/dev. */
static int collect_devs(dev_t rdev, dev_t *devs, size_t max, size_t *ret_n)
{
        char path[128];
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        size_t n = 0;

        devs[n++] = rdev;
        snprintf(path, sizeof(path), "/sys/dev/block/%u:%u", major(rdev), minor(rdev));
        d = opendir(path);
        if (!d)
                return negative_errno();
        while ((de = readdir(d)) && n < max) {
                char p2[512];
                unsigned ma, mi;
                _cleanup_fclose_ FILE *f = NULL;

                if (de->d_name[0] == '.')
                        continue;
                snprintf(p2, sizeof(p2), "%s/%s/partition", path, de->d_name);
                if (access(p2, F_OK) < 0)
                        continue;
                snprintf(p2, sizeof(p2), "%s/%s/dev", path, de->d_name);
                f = fopen(p2, "re");
                if (f && fscanf(f, "%u:%u", &ma, &mi) == 2)
                        devs[n++] = makedev(ma, mi);
        }
        *ret_n = n;
        return 0;
}

static void describe(dev_t dev, dev_t whole, char *buf, size_t len)
{
        if (dev == whole)
                snprintf(buf, len, "%u:%u", major(dev), minor(dev));
        else
                snprintf(buf, len, "%u:%u (partition of %u:%u)", major(dev), minor(dev),
                         major(whole), minor(whole));
}

static int check_mounts(const dev_t *devs, size_t n, char **ret_error)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;

        if (!f)
                return negative_errno();
        while (getline(&line, &cap, f) > 0) {
                unsigned id, parent, ma, mi;
                char root[4096], mnt[4096];
                if (sscanf(line, "%u %u %u:%u %4095s %4095s", &id, &parent, &ma, &mi, root, mnt) != 6)
                        continue;
                for (size_t i = 0; i < n; i++)
                        if (devs[i] == makedev(ma, mi)) {
                                char d[96];
                                describe(devs[i], devs[0], d, sizeof(d));
                                return error_set(ret_error, -EBUSY, "%s is mounted at %s", d, mnt);
                        }
        }
        return 0;
}

static int check_holders(const dev_t *devs, size_t n, char **ret_error)
{
        for (size_t i = 0; i < n; i++) {
                char path[128];
                _cleanup_closedir_ DIR *d = NULL;
                struct dirent *de;

                snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/holders", major(devs[i]),
                         minor(devs[i]));
                d = opendir(path);
                if (!d)
                        continue;
                while ((de = readdir(d)))
                        if (de->d_name[0] != '.') {
                                char dd[96];
                                describe(devs[i], devs[0], dd, sizeof(dd));
                                return error_set(ret_error, -EBUSY, "%s is held by %s", dd,
                                                 de->d_name);
                        }
        }
        return 0;
}

static int check_swaps(const dev_t *devs, size_t n, char **ret_error)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/swaps", "re");
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;

        if (!f)
                return 0; /* no swap support at all */
        while (getline(&line, &cap, f) > 0) {
                char name[4096];
                struct stat st;
                if (sscanf(line, "%4095s", name) != 1 || name[0] != '/')
                        continue;
                if (stat(name, &st) < 0 || !S_ISBLK(st.st_mode))
                        continue;
                for (size_t i = 0; i < n; i++)
                        if (devs[i] == st.st_rdev) {
                                char d[96];
                                describe(devs[i], devs[0], d, sizeof(d));
                                return error_set(ret_error, -EBUSY, "%s is in use as swap (%s)", d,
                                                 name);
                        }
        }
        return 0;
}

int io_blockdev_check_unused(dev_t rdev, char **ret_error)
{
        dev_t devs[MAX_DEVS];
        size_t n = 0;
        int r;

        r = collect_devs(rdev, devs, ELEMENTSOF(devs), &n);
        if (r < 0)
                return error_set(ret_error, r, "cannot read /sys/dev/block/%u:%u: %s", major(rdev),
                                 minor(rdev), strerror(-r));
        r = check_mounts(devs, n, ret_error);
        if (r != 0)
                return r;
        r = check_holders(devs, n, ret_error);
        if (r != 0)
                return r;
        return check_swaps(devs, n, ret_error);
}

int io_blockdev_path(dev_t rdev, char **ret_path)
{
        char path[128];
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;

        snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/uevent", major(rdev), minor(rdev));
        f = fopen(path, "re");
        if (!f)
                return negative_errno();
        while (getline(&line, &cap, f) > 0) {
                if (strncmp(line, "DEVNAME=", 8) == 0) {
                        char *p;
                        line[strcspn(line, "\n")] = '\0';
                        if (asprintf(&p, "/dev/%s", line + 8) < 0)
                                return -ENOMEM;
                        *ret_path = p;
                        return 0;
                }
        }
        return -ENODEV;
}
