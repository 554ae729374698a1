/* SPDX-License-Identifier: Apache-2.0 */
/* The seccomp filter of a task with a persistent volume (isolator/container-seccomp.c), loaded
 * in a child of the test: what it refuses, by which ABI and with which bits set, and what it
 * leaves alone. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/quota.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "isolator/container.h"

#ifndef SYS_quotactl_fd
#define SYS_quotactl_fd 443
#endif

/* What the child saw: errno of each call (0: it went through to the kernel's own answer). */
enum probe {
        P_SETFLAGS,             /* ioctl FS_IOC_SETFLAGS */
        P_FSSETXATTR_HIGH,      /* FS_IOC_FSSETXATTR with the upper 32 bits of the register set */
        P_SETFLAGS_HIGH,        /* FS_IOC_SETFLAGS likewise, other bits */
        P_GETFLAGS,             /* reading the flags: allowed */
        P_FIONREAD,             /* an unrelated ioctl: allowed */
        P_QUOTACTL,
        P_QUOTACTL_FD,
        P_FILE_SETATTR,         /* file_setattr(2), Linux 6.17 (ENOSYS before, without the filter) */
        P_I386_PROBE,           /* int 0x80 getpid: the i386 ABI works here (0) or not (ENOSYS) */
        P_I386_FSSETXATTR,      /* int 0x80 ioctl FS_IOC_FSSETXATTR */
        P_I386_SETFLAGS32,      /* int 0x80 ioctl FS_IOC32_SETFLAGS */
        P_I386_GETFLAGS32,      /* int 0x80 ioctl FS_IOC32_GETFLAGS: allowed */
        P_I386_FILE_SETATTR,    /* int 0x80 file_setattr */
        _P_MAX,
};

static int errno_of(long r)
{
        return r < 0 ? errno : 0;
}

#if defined(__x86_64__)
/* A system call through the i386 ABI from this 64-bit process: the arguments are truncated to
 * 32 bits, which the filter must still see as the i386 ioctl. -errno or the result. */
static long i386_syscall3(long nr, long a, long b, long c)
{
        long r;

        /* r8-r11: kernels before 4.17 did not keep them across int 0x80 from 64-bit code */
        __asm__ volatile("int $0x80"
                         : "=a"(r)
                         : "a"(nr), "b"(a), "c"(b), "d"(c)
                         : "memory", "r8", "r9", "r10", "r11");
        return r;
}

static sigjmp_buf i386_jump;

static void i386_fault(int sig)
{
        siglongjmp(i386_jump, sig);
}
#endif

static void probe_all(int fd, int out[_P_MAX])
{
        int flags = 0, n = 0;
        struct fsxattr fsx = {0};
        char qbuf[256];
        /* QCMD(Q_GETINFO, PRJQUOTA), in unsigned arithmetic: the macro shifts a signed int
         * past its range (UBSan) */
        const unsigned int getinfo = ((unsigned int)Q_GETINFO << SUBCMDSHIFT) | (PRJQUOTA & SUBCMDMASK);

        /* The file's own flags and attributes first: writing them back changes nothing, so
         * without the filter the kernel answers as for any write (clearing a flag such as
         * ext4's EXTENTS would be its own EPERM). */
        out[P_GETFLAGS] = errno_of(ioctl(fd, FS_IOC_GETFLAGS, &flags));
        (void)ioctl(fd, FS_IOC_FSGETXATTR, &fsx);
        out[P_SETFLAGS] = errno_of(ioctl(fd, FS_IOC_SETFLAGS, &flags));
        out[P_FSSETXATTR_HIGH] =
            errno_of(syscall(SYS_ioctl, fd, (unsigned long)FS_IOC_FSSETXATTR | (UINT64_C(1) << 32), &fsx));
        out[P_SETFLAGS_HIGH] =
            errno_of(syscall(SYS_ioctl, fd, (unsigned long)FS_IOC_SETFLAGS | (UINT64_C(0xdead) << 32), &flags));
        out[P_FIONREAD] = errno_of(ioctl(fd, FIONREAD, &n));
        out[P_QUOTACTL] = errno_of(syscall(SYS_quotactl, getinfo, "/dev/null", 0, qbuf));
        out[P_QUOTACTL_FD] = errno_of(syscall(SYS_quotactl_fd, fd, getinfo, 0, qbuf));
        /* A file_setattr that would clear the project id, were the struct read: the filter
         * answers before (EFAULT or EINVAL from a kernel that has the call, ENOSYS before). */
        out[P_FILE_SETATTR] = errno_of(syscall(469, fd, "", NULL, 0, AT_EMPTY_PATH));
        out[P_I386_PROBE] = out[P_I386_FSSETXATTR] = out[P_I386_SETFLAGS32] = out[P_I386_GETFLAGS32] =
            out[P_I386_FILE_SETATTR] = ENOSYS;
#if defined(__x86_64__)
        /* Without the kernel's i386 emulation (ia32_emulation=0) int 0x80 faults. */
        signal(SIGSEGV, i386_fault);
        if (sigsetjmp(i386_jump, 1) == 0 && i386_syscall3(20 /* getpid */, 0, 0, 0) == getpid()) {
                /* A buffer below 4 GiB is not needed: the filter answers before the kernel
                 * reads it, and a call that got through fails otherwise (EFAULT, ENOTTY). */
                out[P_I386_PROBE] = 0;
                out[P_I386_FSSETXATTR] = (int)-i386_syscall3(54 /* ioctl */, fd, FS_IOC_FSSETXATTR, 0);
                out[P_I386_SETFLAGS32] = (int)-i386_syscall3(54, fd, FS_IOC32_SETFLAGS, 0);
                out[P_I386_GETFLAGS32] = (int)-i386_syscall3(54, fd, FS_IOC32_GETFLAGS, 0);
                out[P_I386_FILE_SETATTR] = (int)-i386_syscall3(469, fd, 0, 0);
        }
        signal(SIGSEGV, SIG_DFL);
#endif
}

/* Runs the probes in a child, with the filter (quota_filter) or without; their errnos in out. */
static void run_child(bool quota_filter, int out[_P_MAX])
{
        char path[] = "/tmp/silo-test-seccomp-XXXXXX";
        int pipefd[2], status, fd = mkstemp(path);
        struct sock_fprog prog = {};
        char *err = NULL;
        pid_t pid;

        assert_true(fd >= 0);
        /* Built before the fork and loaded in the child, as the shim does around clone3(). */
        if (quota_filter) {
                if (container_seccomp_quota_build(&prog, &err) < 0)
                        fail_msg("%s", err);
                assert_non_null(prog.filter);
                assert_true(prog.len > 0);
        }
        assert_int_equal(unlink(path), 0);
        assert_int_equal(pipe(pipefd), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int res[_P_MAX] = {0};

                close(pipefd[0]);
                if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                        _exit(10);
                if (quota_filter && container_seccomp_load(&prog) < 0)
                        _exit(11);
                probe_all(fd, res);
                _exit(write(pipefd[1], res, sizeof(res)) == sizeof(res) ? 0 : 12);
        }
        close(pipefd[1]);
        assert_int_equal(read(pipefd[0], out, sizeof(int) * _P_MAX), (ssize_t)(sizeof(int) * _P_MAX));
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        close(pipefd[0]);
        close(fd);
        container_seccomp_prog_clear(&prog);
}

/* Every write of a file's flags and every quotactl is EPERM, with the upper half of the ioctl
 * command set too (the kernel reads it as an unsigned int); reading flags and other ioctls are
 * the kernel's own answers, as without the filter. */
static void test_native(void **st)
{
        int with[_P_MAX], without[_P_MAX];

        (void)st;
        run_child(false, without);
        run_child(true, with);
        assert_int_equal(with[P_SETFLAGS], EPERM);
        assert_int_equal(with[P_FSSETXATTR_HIGH], EPERM);
        assert_int_equal(with[P_SETFLAGS_HIGH], EPERM);
        assert_int_equal(with[P_QUOTACTL], EPERM);
        assert_int_equal(with[P_QUOTACTL_FD], EPERM);
        assert_int_equal(with[P_FILE_SETATTR], EPERM);
        assert_int_not_equal(without[P_FILE_SETATTR], EPERM);
        /* Each EPERM above is the filter's: without it the kernel answers otherwise (the
         * file is ours; quotactl's own EPERM is for a caller without CAP_SYS_ADMIN). */
        assert_int_not_equal(without[P_SETFLAGS], EPERM);
        assert_int_not_equal(without[P_SETFLAGS_HIGH], EPERM);
        if (geteuid() == 0) {
                assert_int_not_equal(without[P_QUOTACTL], EPERM);
                assert_int_not_equal(without[P_QUOTACTL_FD], EPERM);
        }
        /* Without the filter the same calls are not refused that way (a file in /tmp, an
         * unprivileged-or-not caller: ENOTTY, EINVAL, ENOENT... but the filter made them EPERM). */
        assert_int_not_equal(without[P_FSSETXATTR_HIGH], EPERM);
        assert_int_equal(with[P_GETFLAGS], without[P_GETFLAGS]);
        assert_int_equal(with[P_FIONREAD], 0);
}

/* The i386 ABI (int 0x80) is filtered by the same rules: its ioctl is number 54, not 16. */
static void test_i386(void **st)
{
        int with[_P_MAX], without[_P_MAX];

        (void)st;
        run_child(false, without);
        if (without[P_I386_PROBE] != 0) {
                print_message("the i386 ABI does not work here (not x86-64, or ia32_emulation=0): skipped\n");
                skip();
        }
        run_child(true, with);
        assert_int_equal(with[P_I386_PROBE], 0);
        assert_int_equal(with[P_I386_FSSETXATTR], EPERM);
        assert_int_equal(with[P_I386_SETFLAGS32], EPERM);
        assert_int_equal(with[P_I386_FILE_SETATTR], EPERM);
        assert_int_not_equal(without[P_I386_FILE_SETATTR], EPERM);
        assert_int_not_equal(without[P_I386_FSSETXATTR], EPERM);
        assert_int_not_equal(without[P_I386_SETFLAGS32], EPERM);
        assert_int_equal(with[P_I386_GETFLAGS32], without[P_I386_GETFLAGS32]);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_native),
            cmocka_unit_test(test_i386),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
