/* SPDX-License-Identifier: Apache-2.0 */
/* Project quotas on ext4 and XFS: the volume filesystem's checks, directory project ids, the
 * hard block limit of a project and its usage. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/quota.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/quota.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "isolator/isolator.h"
#include "isolator/pquota.h"

/* mountinfo escapes space, tab, newline and backslash as \ooo (fs/proc_namespace.c). */
static void mountinfo_unescape(char *s)
{
        char *w = s;

        for (char *p = s; *p; p++, w++) {
                if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
                    p[3] >= '0' && p[3] <= '7') {
                        *w = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
                        p += 3;
                } else
                        *w = *p;
        }
        *w = '\0';
}

/* Whether the comma-separated option list holds `opt` as a whole option. */
static bool option_listed(const char *list, const char *opt)
{
        size_t n = strlen(opt);

        for (const char *p = list; p && *p;) {
                size_t len = strcspn(p, ",");

                if (len == n && strncmp(p, opt, n) == 0)
                        return true;
                p += len;
                p += *p == ',';
        }
        return false;
}

struct mount_entry {
        dev_t devnum;
        char fstype[32];
        char source[PATH_MAX];
        char options[1024];     /* the superblock's options, after " - fstype source " */
};

/* The topmost mount at `path` (symlink-free) in our mountinfo: 1 and *ret, 0 when none. */
static int mount_find(const char *path, struct mount_entry *ret)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
        _cleanup_free_ char *line = NULL;
        size_t size = 0;
        bool found = false;

        if (!f)
                return negative_errno();
        while (getline(&line, &size, f) > 0) {
                char mnt[PATH_MAX], fstype[32], source[PATH_MAX], options[1024];
                unsigned ma, mi;
                const char *sep;

                if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &ma, &mi, mnt) != 3)
                        continue;
                mountinfo_unescape(mnt);
                sep = strstr(line, " - ");
                if (!streq(mnt, path) || !sep ||
                    sscanf(sep + 3, "%31s %4095s %1023s", fstype, source, options) != 3)
                        continue;
                /* Later lines are mounted on top of earlier ones: the last one is seen. */
                mountinfo_unescape(source);
                *ret = (struct mount_entry){.devnum = makedev(ma, mi)};
                snprintf(ret->fstype, sizeof(ret->fstype), "%s", fstype);
                snprintf(ret->source, sizeof(ret->source), "%s", source);
                snprintf(ret->options, sizeof(ret->options), "%s", options);
                found = true;
        }
        return found;
}

/* quotactl_fd(2) (Linux 5.14; glibc has no wrapper) on the mount point itself: the device
 * name mountinfo gives (/dev/root, a /dev/mapper or /dev/disk alias, a node absent from the
 * agent's mount namespace) need not be openable, the mount point is what the agent checked.
 * -errno. */
static int pquota_ctl(const char *mount, int cmd, uint32_t id, void *addr)
{
        _cleanup_close_ int fd = open(mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
                return negative_errno();
        if (syscall(SYS_quotactl_fd, fd, QCMD(cmd, PRJQUOTA), (int)id, addr) < 0)
                return negative_errno();
        return 0;
}

int pquota_fs_open(const char *sysfs_root, const char *mount, dev_t disk_devnum,
                   const char *disk_name, struct pquota_fs *ret, char **ret_error)
{
        char real[PATH_MAX];
        struct mount_entry m;
        struct blockdev bd;
        struct if_dqinfo info;
        int r;

        if (!realpath(mount, real)) {
                if (errno == ENOENT)
                        return error_set(ret_error, -ENOENT,
                                         "%s does not exist (mkfs.ext4 -O quota,project /dev/%s; "
                                         "mkdir -p %s; mount -o prjquota /dev/%s %s)",
                                         mount, disk_name, mount, disk_name, mount);
                return error_set(ret_error, negative_errno(), "cannot resolve %s: %m", mount);
        }
        r = mount_find(real, &m);
        if (r < 0)
                return error_set(ret_error, r, "cannot read /proc/self/mountinfo: %s",
                                 strerror(-r));
        if (r == 0)
                return error_set(ret_error, -ENOTBLK,
                                 "%s is not a mount point (mount the disk's filesystem there: "
                                 "mkfs.ext4 -O quota,project /dev/%s; mount -o prjquota /dev/%s "
                                 "%s)",
                                 mount, disk_name, disk_name, mount);
        r = major(m.devnum) == 0 ? -ENODEV
                                 : blockdev_resolve_devnum(sysfs_root, m.devnum, &bd, NULL);
        if (r < 0 || bd.devnum != disk_devnum)
                return error_set(ret_error, -EXDEV,
                                 "%s is a mount of %s (%s, %u:%u), not of %s or a partition of it",
                                 mount, m.source, m.fstype, major(m.devnum), minor(m.devnum),
                                 disk_name);
        if (!streq(m.fstype, "ext4") && !streq(m.fstype, "xfs"))
                return error_set(ret_error, -EOPNOTSUPP,
                                 "%s is %s; volumes need ext4 or XFS with project quotas "
                                 "(mkfs.ext4 -O quota,project %s; mount -o prjquota %s %s)",
                                 mount, m.fstype, m.source, m.source, mount);
        /* ext4 and XFS both list "prjquota" once project quotas are enforced; quotactl then
         * confirms the kernel keeps them (ext4 without the quota feature cannot). */
        r = option_listed(m.options, "prjquota") ? pquota_ctl(real, Q_GETINFO, 0, &info) : -ESRCH;
        /* Only "not enabled" means the mount lacks project quota; anything else (EPERM
         * without CAP_SYS_ADMIN, ENOSYS before Linux 5.14) is said as it is. */
        if (r < 0 && r != -ESRCH)
                return error_set(ret_error, r, "%s (%s on %s): reading its project quota state "
                                 "(quotactl_fd Q_GETINFO): %s",
                                 mount, m.fstype, m.source, strerror(-r));
        if (r < 0) {
                if (streq(m.fstype, "xfs"))
                        return error_set(ret_error, -EOPNOTSUPP,
                                         "%s (xfs on %s) is mounted without project quota "
                                         "(umount %s; mount -o prjquota %s %s)",
                                         mount, m.source, mount, m.source, mount);
                return error_set(ret_error, -EOPNOTSUPP,
                                 "%s (ext4 on %s) is mounted without project quota (umount %s; "
                                 "tune2fs -O quota,project %s; mount -o prjquota %s %s)",
                                 mount, m.source, mount, m.source, m.source, mount);
        }
        *ret = (struct pquota_fs){.devnum = m.devnum};
        snprintf(ret->mount, sizeof(ret->mount), "%s", real);
        snprintf(ret->source, sizeof(ret->source), "%s", m.source);
        snprintf(ret->fstype, sizeof(ret->fstype), "%s", m.fstype);
        return 0;
}

uint64_t pquota_capacity_of(const struct statvfs *st)
{
        uint64_t root_only = st->f_bfree > st->f_bavail ? st->f_bfree - st->f_bavail : 0;
        uint64_t blocks = st->f_blocks > root_only ? st->f_blocks - root_only : 0;
        uint64_t bytes = blocks * st->f_frsize;

        return bytes - bytes / 100 * PQUOTA_METADATA_MARGIN_PERCENT;
}

int pquota_fs_capacity(const struct pquota_fs *fs, uint64_t *ret_bytes, char **ret_error)
{
        struct statvfs st;

        if (statvfs(fs->mount, &st) < 0)
                return error_set(ret_error, negative_errno(), "statvfs %s: %m", fs->mount);
        *ret_bytes = pquota_capacity_of(&st);
        return 0;
}

int pquota_dir_project_set(int dirfd, uint32_t projid, char **ret_error)
{
        struct fsxattr fsx;

        if (ioctl(dirfd, FS_IOC_FSGETXATTR, &fsx) < 0)
                return error_set(ret_error, negative_errno(), "FS_IOC_FSGETXATTR: %m");
        fsx.fsx_projid = projid;
        fsx.fsx_xflags |= FS_XFLAG_PROJINHERIT;
        if (ioctl(dirfd, FS_IOC_FSSETXATTR, &fsx) < 0)
                return error_set(ret_error, negative_errno(),
                                 "setting project id %u (FS_IOC_FSSETXATTR): %m", projid);
        return 0;
}

int pquota_dir_project_get(int dirfd, uint32_t *ret_projid, bool *ret_inherit, char **ret_error)
{
        struct fsxattr fsx;

        if (ioctl(dirfd, FS_IOC_FSGETXATTR, &fsx) < 0)
                return error_set(ret_error, negative_errno(), "FS_IOC_FSGETXATTR: %m");
        *ret_projid = fsx.fsx_projid;
        *ret_inherit = fsx.fsx_xflags & FS_XFLAG_PROJINHERIT;
        return 0;
}

uint64_t pquota_limit_bytes(uint64_t bytes)
{
        return (bytes + QIF_DQBLKSIZE - 1) / QIF_DQBLKSIZE * QIF_DQBLKSIZE;
}

uint64_t pquota_inode_limit(const struct statvfs *st, uint64_t bytes)
{
        unsigned __int128 total = (unsigned __int128)st->f_blocks * st->f_frsize, share;

        if (bytes == 0 || total == 0 || st->f_files == 0)
                return 0;
        share = (unsigned __int128)bytes * st->f_files / total;
        return share < PQUOTA_INODES_MIN ? PQUOTA_INODES_MIN : (uint64_t)share;
}

int pquota_limit_set(const struct pquota_fs *fs, uint32_t projid, uint64_t bytes,
                     char **ret_error)
{
        struct dqblk q = {
                .dqb_bhardlimit = pquota_limit_bytes(bytes) / QIF_DQBLKSIZE,
                .dqb_valid = QIF_LIMITS,
        };
        struct statvfs st;
        int r;

        if (bytes > 0 && statvfs(fs->mount, &st) < 0)
                return error_set(ret_error, negative_errno(), "statvfs %s: %m", fs->mount);
        if (bytes > 0)
                q.dqb_ihardlimit = pquota_inode_limit(&st, bytes);
        r = pquota_ctl(fs->mount, Q_SETQUOTA, projid, &q);
        if (r < 0)
                return error_set(ret_error, r, "setting the quota of project %u on %s (%s): %s",
                                 projid, fs->mount, fs->source, strerror(-r));
        return 0;
}

int pquota_usage_get(const struct pquota_fs *fs, uint32_t projid, struct pquota_usage *ret,
                     char **ret_error)
{
        struct dqblk q = {};

        int r = pquota_ctl(fs->mount, Q_GETQUOTA, projid, &q);

        if (r < 0)
                return error_set(ret_error, r, "reading the quota of project %u on %s (%s): %s",
                                 projid, fs->mount, fs->source, strerror(-r));
        *ret = (struct pquota_usage){
                .used_bytes = q.dqb_curspace,
                .inodes = q.dqb_curinodes,
                .limit_bytes = q.dqb_bhardlimit * QIF_DQBLKSIZE,
                .limit_inodes = q.dqb_ihardlimit,
        };
        return 0;
}
