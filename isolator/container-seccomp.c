/* SPDX-License-Identifier: Apache-2.0 */
/* The seccomp filter of a task that mounts a persistent volume: it keeps the task inside the
 * volume's project quota. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/fs.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stddef.h>
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

/*
 * file_setattr(2) (Linux 6.17) sets the same attributes as FS_IOC_FSSETXATTR through
 * vfs_fileattr_set(), with the same owner check: the same hole. libseccomp 2.5 (Debian 12)
 * knows no system call above its tables and cannot add a rule by number for a compat ABI (it
 * translates numbers through the native ABI's names), so these few instructions go in front
 * of its program: for each ABI the number of the call in it (469 in the table every
 * architecture shares since Linux 5.1; x32's with its bit), EPERM. libseccomp's program
 * starts by loading the architecture itself, so what the prelude leaves in the accumulator
 * does not matter, and its jumps are relative.
 */
#define X32_SYSCALL_BIT 0x40000000u
#define NR_FILE_SETATTR 469u
static const struct {
        uint32_t audit_arch, nr;
} denied_by_number[] = {
#if defined(__x86_64__)
        {AUDIT_ARCH_X86_64, NR_FILE_SETATTR},
        {AUDIT_ARCH_X86_64, NR_FILE_SETATTR | X32_SYSCALL_BIT},
        {AUDIT_ARCH_I386, NR_FILE_SETATTR},
#elif defined(__aarch64__)
        {AUDIT_ARCH_AARCH64, NR_FILE_SETATTR},
        {AUDIT_ARCH_ARM, NR_FILE_SETATTR},
#endif
};

/* 5 instructions for each of denied_by_number[], then prog's. */
static int prog_prepend_denials(struct sock_fprog *prog)
{
        size_t n = ELEMENTSOF(denied_by_number) * 5, k = 0;
        struct sock_filter *insns;

        if (n == 0)
                return 0;
        if (prog->len + n > BPF_MAXINSNS)
                return -E2BIG;
        insns = malloc((prog->len + n) * sizeof(*insns));
        if (!insns)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(denied_by_number); i++) {
                insns[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                                          offsetof(struct seccomp_data, arch));
                insns[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
                                                          denied_by_number[i].audit_arch, 0, 3);
                insns[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                                          offsetof(struct seccomp_data, nr));
                insns[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
                                                          denied_by_number[i].nr, 0, 1);
                insns[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
                                                          SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));
        }
        memcpy(insns + n, prog->filter, prog->len * sizeof(*insns));
        free(prog->filter);
        prog->filter = insns;
        prog->len = (unsigned short)(prog->len + n);
        return 0;
}

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
        if (r == 0) {
                what = "file_setattr";
                r = prog_prepend_denials(ret);
                if (r < 0)
                        container_seccomp_prog_clear(ret);
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
