/* SPDX-License-Identifier: Apache-2.0 */
/* The minimal init for `init: true`: PID 1 that runs the command, forwards signals and reaps zombies. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/macro.h"
#include "isolator/container.h"

/* Forward every signal to the command and reap every child until the command exits; then
 * exit with its status (128 + signal for a signal). */
_Noreturn static void init_wait(pid_t child, const sigset_t *all, const struct container_fds *fds)
{
        for (;;) {
                siginfo_t si;
                int sig = sigwaitinfo(all, &si);

                if (sig < 0)
                        continue;
                if (sig != SIGCHLD) {
                        /* SIGKILL/SIGSTOP never get here; everything else is the command's. */
                        (void)kill(child, sig);
                        continue;
                }
                for (;;) {
                        int status;
                        pid_t p = waitpid(-1, &status, WNOHANG);

                        if (p <= 0)
                                break;
                        if (p != child)
                                continue; /* a reaped orphan */
                        if (fds->status_fd >= 0)
                                (void)!write(fds->status_fd, &status, sizeof(status));
                        if (WIFEXITED(status))
                                _exit(WEXITSTATUS(status));
                        _exit(128 + WTERMSIG(status));
                }
        }
}

/* Like `docker run --init` (tini): PID 1 of a pid namespace gets no default signal handling
 * and inherits every orphan, so a command not written to be PID 1 would ignore SIGTERM and
 * leave zombies. The init only waits: all signals are blocked and taken synchronously with
 * sigwaitinfo(), so there is no handler and no race between SIGCHLD and the wait. */
_Noreturn void container_init_run(const struct container_config *c,
                                  const struct container_fds *fds)
{
        sigset_t all;
        pid_t child;

        sigfillset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);

        child = fork();
        if (child < 0)
                container_fail(fds, errno, "init: fork failed: %m");
        if (child == 0) {
                sigset_t none;
                int r;

                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                /* Without a pid namespace the command would outlive its init; tie it. */
                (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
                r = container_exec(c);
                container_fail(fds, r, "command: cannot execute %s: %s", c->argv[0],
                               strerror(-r));
        }

        /* Otherwise it would show up as the shim it was forked from. */
        (void)prctl(PR_SET_NAME, "silo-init");
        /* The command's copy of error_fd reports its exec; ours must not keep the pipe open. */
        if (fds->error_fd >= 0)
                close(fds->error_fd);
        /* Without a pid namespace, orphans of the command come to us instead of the host's
         * init. */
        (void)prctl(PR_SET_CHILD_SUBREAPER, 1);

        init_wait(child, &all, fds);
}
