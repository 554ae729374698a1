/* SPDX-License-Identifier: Apache-2.0 */
/* The seccomp filter of a task that mounts a persistent volume: it keeps the task inside the
 * volume's project quota. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/fs.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/error.h"
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

void container_seccomp_prog_clear(struct sock_fprog *prog)
{
        free(prog->filter);
        *prog = (struct sock_fprog){};
}

/* libseccomp 2.5 (Debian 12) exports a program to an fd only (seccomp_export_bpf_mem() came
 * with 2.6): into a memfd, then read back. */
static int prog_export(scmp_filter_ctx ctx, struct sock_fprog *ret)
{
        _cleanup_close_ int fd = memfd_create("silo-seccomp", MFD_CLOEXEC);
        _cleanup_free_ struct sock_filter *insns = NULL;
        struct stat st;
        ssize_t n;
        int r;

        if (fd < 0)
                return negative_errno();
        r = seccomp_export_bpf(ctx, fd);
        if (r < 0)
                return r;
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) != 0 ||
            st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS)
                return -EBADMSG;
        insns = malloc((size_t)st.st_size);
        if (!insns)
                return -ENOMEM;
        n = pread(fd, insns, (size_t)st.st_size, 0);
        if (n != st.st_size)
                return n < 0 ? negative_errno() : -EIO;
        ret->len = (unsigned short)(st.st_size / sizeof(struct sock_filter));
        ret->filter = TAKE_PTR(insns);
        return 0;
}

int container_seccomp_quota_build(struct sock_fprog *ret, char **ret_error)
{
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
        const char *what = "";
        int r;

        if (!ctx)
                return error_set(ret_error, -ENOMEM, "seccomp: creating the volume filter: out of memory");
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
                what = "exporting it";
                r = prog_export(ctx, ret);
        }
        seccomp_release(ctx);
        if (r < 0)
                return error_set(ret_error, r, "seccomp: the volume filter (%s): %s", what, strerror(-r));
        return 0;
}

int container_seccomp_load(const struct sock_fprog *prog)
{
        /* What seccomp_load() does with libseccomp's default attributes (no TSYNC, no log
         * flag; no_new_privs is set by the caller), on a program built beforehand. */
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog) < 0)
                return negative_errno();
        return 0;
}
