/* SPDX-License-Identifier: Apache-2.0 */
/* The seccomp filter of a task that mounts a persistent volume: it keeps the task inside the
 * volume's project quota. */
#include <errno.h>
#include <linux/fs.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>

#include "common/macro.h"
#include "isolator/container.h"

/*
 * A persistent volume's hard limit is a project quota (isolator/pquota.c). Tasks run in the
 * initial user namespace, where the kernel lets a file's owner change its project id and
 * PROJINHERIT flag with no capability (vfs_fileattr_set() checks inode_owner_or_capable();
 * fileattr_set_prepare() refuses project changes only from another user namespace). The task's
 * user owns its volume, so without this filter `chattr -p 0 FILE` moves a file out of the
 * quota and `chattr -P DIR` makes new files in DIR start in project 0; and a task given
 * CAP_SYS_ADMIN could raise or drop the limit itself with quotactl. A seccomp filter cannot
 * read the struct an ioctl points to, so every inode-flag write is refused, not only those
 * that touch the project: a task with a volume cannot chattr at all (reading flags, lsattr,
 * stays allowed).
 */
static const unsigned long denied_ioctls[] = {
        FS_IOC_FSSETXATTR,      /* project id and xflags, PROJINHERIT among them */
        FS_IOC_SETFLAGS,        /* the chattr flags, FS_PROJINHERIT_FL among them */
        FS_IOC32_SETFLAGS,      /* the same from a 32-bit process */
};

/* The compat ABIs of the native one: their system calls are filtered by the same rules. A
 * filter that left them out would let `int 0x80` through (libseccomp would kill the process by
 * default instead, breaking 32-bit programs that never touch a quota). */
static void arch_add_compat(scmp_filter_ctx ctx)
{
        uint32_t native = seccomp_arch_native();

        if (native == SCMP_ARCH_X86_64) {
                (void)seccomp_arch_add(ctx, SCMP_ARCH_X86);
                (void)seccomp_arch_add(ctx, SCMP_ARCH_X32);
        } else if (native == SCMP_ARCH_AARCH64) {
                (void)seccomp_arch_add(ctx, SCMP_ARCH_ARM);
        }
}

int container_seccomp_quota(char *err, size_t errlen)
{
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
        const char *what = "";
        int r;

        if (!ctx) {
                snprintf(err, errlen, "seccomp: creating the volume filter: out of memory");
                return -ENOMEM;
        }
        arch_add_compat(ctx);
        /* The project quota's limits: quotactl(2) names the filesystem by its block device,
         * quotactl_fd(2) by any fd on it. */
        what = "quotactl";
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(quotactl), 0);
        if (r == 0) {
                what = "quotactl_fd";
                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(quotactl_fd), 0);
        }
        for (size_t i = 0; r == 0 && i < ELEMENTSOF(denied_ioctls); i++) {
                /* The kernel reads the command as an unsigned int; compare only those bits,
                 * or a caller could set the upper half of the register and pass. */
                what = "ioctl";
                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                                     SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu,
                                             denied_ioctls[i] & 0xffffffffu));
        }
        if (r == 0) {
                what = "loading it";
                r = seccomp_load(ctx);
        }
        seccomp_release(ctx);
        if (r < 0)
                snprintf(err, errlen, "seccomp: the volume filter (%s): %s", what, strerror(-r));
        return r;
}
