/* SPDX-License-Identifier: Apache-2.0 */
/* Project quotas: the filesystems persistent volumes live on, a directory's project id and
 * a project's hard block limit and usage (quotactl_fd(2) on PRJQUOTA, FS_IOC_FSSETXATTR). */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * No Debian library wraps project quotas: quota-tools and xfsprogs are programs, and their
 * libraries are not shipped. glibc's quotactl() and the kernel's ext4/XFS project quotas
 * are the interface, as in Kubernetes' and containerd's fsquota code (they call the syscall
 * themselves too). A directory is given a project id with PROJINHERIT, so that everything
 * created below it is charged to that project; the project's hard block limit is the
 * volume's size.
 */

/* A mounted filesystem with project quotas enforced. */
struct pquota_fs {
        char mount[PATH_MAX];   /* its mount point, symlink-free */
        char source[PATH_MAX];  /* its device as mountinfo names it, for messages only (quotactl_fd
                                 * works on the mount point) */
        char fstype[32];        /* "ext4" or "xfs" */
        dev_t devnum;           /* the filesystem's device (the disk or a partition of it) */
};

/* `mount` is the mount point of an ext4 or XFS filesystem on the disk `disk_devnum` (named
 * disk_name in messages) or a partition of it, mounted with project quotas enforced. The
 * messages say what is wrong with the command that fixes it: "/srv/x is not a mount point
 * (mount the disk's filesystem there: mkfs.ext4 -O quota,project /dev/nullb1; mount -o
 * prjquota /dev/nullb1 /srv/x)", "... is a mount of /dev/sda2 (8:2), not of nullb1 or a
 * partition of it", "... is mounted without project quota (...)". sysfs_root as in
 * blockdev_resolve() (NULL: /sys). */
int pquota_fs_open(const char *sysfs_root, const char *mount, dev_t disk_devnum,
                   const char *disk_name, struct pquota_fs *ret, char **ret_error);

/* What volumes may book on the filesystem, in bytes: the blocks a user other than root may
 * allocate (statvfs f_blocks less what only root may use, f_bfree - f_bavail: ext4's reserved
 * blocks, 5 % by default, and its reserved clusters; volume owners are not root), less
 * PQUOTA_METADATA_MARGIN_PERCENT % for blocks no project is charged for (the directories above
 * the volumes, the quota files' growth). Sizes booked up to it then reach EDQUOT, each in its
 * own volume, before the filesystem is full. */
#define PQUOTA_METADATA_MARGIN_PERCENT 1
struct statvfs;
uint64_t pquota_capacity_of(const struct statvfs *st);
int pquota_fs_capacity(const struct pquota_fs *fs, uint64_t *ret_bytes, char **ret_error);

/* Give the directory open at dirfd the project id (FS_IOC_FSSETXATTR with
 * FS_XFLAG_PROJINHERIT: what is created below it inherits the id). */
int pquota_dir_project_set(int dirfd, uint32_t projid, char **ret_error);
/* The project id of the directory open at dirfd, and whether it has PROJINHERIT. */
int pquota_dir_project_get(int dirfd, uint32_t *ret_projid, bool *ret_inherit, char **ret_error);

/* The limit pquota_limit_set(bytes) sets, as pquota_usage_get() reads it back: bytes
 * rounded up to quotactl's 1 KiB blocks (QIF_DQBLKSIZE). */
uint64_t pquota_limit_bytes(uint64_t bytes);

/* The inode limit of a volume of `bytes`: its share of the filesystem's inodes (f_files in
 * the proportion bytes / the filesystem's size), at least PQUOTA_INODES_MIN; 0 (none) for 0
 * bytes or a filesystem that reports no inode count. ext4 fixes its inodes at mkfs: without
 * this, one task making empty files would take every inode of the shared filesystem. */
#define PQUOTA_INODES_MIN 1024
uint64_t pquota_inode_limit(const struct statvfs *st, uint64_t bytes);

/* Set project projid's hard block limit to `bytes` (rounded up to quotactl's 1 KiB blocks;
 * 0: no limit) and its hard inode limit to pquota_inode_limit(), clearing its soft limits. */
int pquota_limit_set(const struct pquota_fs *fs, uint32_t projid, uint64_t bytes,
                     char **ret_error);

struct pquota_usage {
        uint64_t used_bytes;    /* dqb_curspace */
        uint64_t inodes;        /* dqb_curinodes */
        uint64_t limit_bytes;   /* the hard block limit in bytes, 0: none */
        uint64_t limit_inodes;  /* the hard inode limit, 0: none */
};
int pquota_usage_get(const struct pquota_fs *fs, uint32_t projid, struct pquota_usage *ret,
                     char **ret_error);
