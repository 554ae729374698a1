/* SPDX-License-Identifier: Apache-2.0 */
/* clone3(CLONE_INTO_CGROUP | CLONE_PIDFD): start a process directly inside its cgroup. */
#include <linux/sched.h>
#include <signal.h>
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
