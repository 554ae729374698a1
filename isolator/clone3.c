/* SPDX-License-Identifier: Apache-2.0 */
/* clone3(CLONE_INTO_CGROUP | CLONE_PIDFD): start a process directly inside its cgroup. */
#include <linux/sched.h>
#include <signal.h>
#include <stdalign.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "isolator/cgroup-internal.h"

pid_t cg_clone3_into(int cgroup_fd, uint64_t clone_flags, int *ret_pidfd)
{
        /* Flags that would make the child share our memory or be no process of its own. */
        const uint64_t refused = CLONE_VM | CLONE_THREAD | CLONE_SIGHAND | CLONE_VFORK |
                                 CLONE_PARENT_SETTID | CLONE_CHILD_SETTID |
                                 CLONE_CHILD_CLEARTID | CLONE_SETTLS | CLONE_PIDFD |
                                 CLONE_INTO_CGROUP | 0xff /* CSIGNAL */;
        struct clone_args args;
        int pidfd = -1;
        long r;

        if (cgroup_fd < 0 || !ret_pidfd || (clone_flags & refused))
                return -EINVAL;
        memset(&args, 0, sizeof(args));
        args.flags = clone_flags | CLONE_PIDFD | CLONE_INTO_CGROUP;
        args.pidfd = (uint64_t)(uintptr_t)&pidfd;
        args.exit_signal = SIGCHLD;
        args.cgroup = (uint64_t)cgroup_fd;
        r = syscall(SYS_clone3, &args, sizeof(args));
        if (r < 0)
                return negative_errno();
        if (r == 0)
                return 0;
        *ret_pidfd = pidfd;
        return (pid_t)r;
}

#if defined(__x86_64__)
/* clone3() with a stack of the child's own, and the child calling fn(arg) then exit(2) with
 * its value: what glibc's clone() does, but glibc 2.36 exports no clone3() wrapper and
 * clone() cannot pass CLONE_INTO_CGROUP. The child must never return into its parent's
 * frames (they are the same memory), hence assembly and not syscall(2): the child starts on
 * the new stack the kernel set (args->stack + args->stack_size) and only calls. rdx/rcx
 * (fn, arg) are moved to r8/r9, which the syscall instruction keeps (it clobbers rcx, r11)
 * and the child inherits. Returns the child's pid or -errno in the parent. */
__attribute__((visibility("hidden"))) long cg_clone3_run(struct clone_args *args, size_t size,
                                                        int (*fn)(void *), void *arg);
__asm__(".text\n"
        ".globl cg_clone3_run\n"
        ".hidden cg_clone3_run\n"
        ".type cg_clone3_run,@function\n"
        "cg_clone3_run:\n"
        "        mov %rdx, %r8\n"
        "        mov %rcx, %r9\n"
        "        mov $435, %eax\n" /* SYS_clone3 */
        "        syscall\n"
        "        test %rax, %rax\n"
        "        jz 1f\n"
        "        ret\n"
        "1:      xor %ebp, %ebp\n" /* the outermost frame, for unwinders */
        "        mov %r9, %rdi\n"
        "        call *%r8\n"
        "        mov %eax, %edi\n"
        "        mov $60, %eax\n" /* SYS_exit */
        "        syscall\n"
        "        hlt\n"
        ".size cg_clone3_run, .-cg_clone3_run\n");
_Static_assert(SYS_clone3 == 435, "the trampoline's clone3 number");
#endif

pid_t cg_spawn_into(int cgroup_fd, int (*fn)(void *), void *arg, int *ret_pidfd)
{
        sigset_t all, old;
        int pidfd = -1;
        long r;

        if (!fn || !ret_pidfd)
                return -EINVAL;
        /* Every signal blocked until the child has set its own mask: a handler of ours must
         * never run in the child, on memory it shares with us (and CLONE_CLEAR_SIGHAND
         * resets the child's handlers to their defaults for the same reason). */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
#if defined(__x86_64__)
        {
                /* The child's stack lives in our frame: CLONE_VFORK holds us until the child
                 * has exec'd or exited, so it is free again when clone3 returns. fn makes
                 * system calls only; the margin is for sanitizer builds' interceptors. */
                alignas(16) char stack[64 * 1024];
                struct clone_args args;

                memset(&args, 0, sizeof(args));
                args.flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD | CLONE_CLEAR_SIGHAND |
                             (cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0);
                args.pidfd = (uint64_t)(uintptr_t)&pidfd;
                args.exit_signal = SIGCHLD;
                args.stack = (uint64_t)(uintptr_t)stack;
                args.stack_size = sizeof(stack);
                args.cgroup = cgroup_fd >= 0 ? (uint64_t)cgroup_fd : 0;
                r = cg_clone3_run(&args, sizeof(args), fn, arg);
        }
#else
        /* No trampoline for this architecture: a copy of this process (fork semantics), so
         * what fn writes through arg is not seen here. */
        if (cgroup_fd >= 0) {
                r = cg_clone3_into(cgroup_fd, 0, &pidfd);
        } else {
                r = syscall(SYS_clone3, &(struct clone_args){ .flags = CLONE_PIDFD,
                                                               .pidfd = (uint64_t)(uintptr_t)&pidfd,
                                                               .exit_signal = SIGCHLD },
                            sizeof(struct clone_args));
                if (r < 0)
                        r = negative_errno();
        }
        if (r == 0)
                _exit(fn(arg));
#endif
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r < 0)
                return (pid_t)r;
        *ret_pidfd = pidfd;
        return (pid_t)r;
}
