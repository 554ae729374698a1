/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's shim server (agent/shim.c, server_run()): started once, in <root>/shims, and
 * asked for a forked shim per launch over a SOCK_SEQPACKET socket (shim-protocol.h). The
 * request and its answer are synchronous, as the exec of a shim per launch was: the server
 * answers right after its fork. A server that died is started again at the next launch.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/shim-protocol.h"
#include "agent/shim-server.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/event-loop.h"
#include "common/log.h"
#include "common/macro.h"
#include "isolator/isolator.h"

/* How long a launch waits for the server's answer: it forks and answers, so only a server
 * that is stopped or starved takes long, and then it is replaced. */
#define SHIM_SERVER_ANSWER_SEC 10

/* What the server's child needs, all prepared before it exists: it shares the agent's memory
 * (cg_spawn_into()) and may make system calls only. */
struct server_exec {
        const char *shim_path;
        int sock;
        int exec_errno; /* written by the child when it cannot set up or exec */
};

__attribute__((no_sanitize("address", "undefined"))) static int server_exec_child(void *userdata)
{
        struct server_exec *x = userdata;
        sigset_t none;
        int nullfd;

        /* stdout and stderr stay the agent's: the server's few messages go to its log. */
        nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (nullfd < 0 || dup2(nullfd, STDIN_FILENO) < 0 || dup2(x->sock, SHIM_SERVER_FD) < 0) {
                x->exec_errno = errno;
                return 127;
        }
        /* Nothing of the agent's (sockets, the ring, tasks' pipes) goes along. */
        syscall(SYS_close_range, SHIM_SERVER_FD + 1, ~0U, 0);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execl(x->shim_path, x->shim_path, "--server", (char *)NULL);
        x->exec_errno = errno;
        return 127;
}

static void server_forget(struct shim_server *s)
{
        s->src = event_source_remove(s->src);
        s->sock = safe_close(s->sock);
        s->pidfd = safe_close(s->pidfd);
        s->pid = 0;
}

static int on_server_exit(struct event_source *src, int fd, uint32_t revents, void *userdata)
{
        struct agent *a = userdata;
        siginfo_t si = {};

        (void)src;
        (void)revents;
        (void)waitid(P_PIDFD, (id_t)fd, &si, WEXITED | WNOHANG);
        log_warning("The shim server (pid %d) %s %d; the next launch starts another", (int)a->shim_server.pid,
                    si.si_code == CLD_EXITED ? "exited with status" : "was killed by signal", si.si_status);
        server_forget(&a->shim_server);
        return 0;
}

int shim_server_start(struct agent *a, char **ret_error)
{
        struct shim_server *s = &a->shim_server;
        struct server_exec x = {.shim_path = a->shim_path};
        int sv[2], pidfd = -1, r;
        siginfo_t si;
        pid_t pid;

        if (s->sock >= 0)
                return 0;
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
                r = negative_errno();
                return error_set(ret_error, r, "creating the shim server's socket: %s", strerror(-r));
        }
        x.sock = sv[1];
        /* In <root>/shims, as each shim it forks must be: outside the tasks' cgroups, so their
         * limits, freezing, cgroup.kill and OOM never touch it. */
        pid = cg_spawn_into(cg_hierarchy_shims_fd(a->cg), server_exec_child, &x, &pidfd);
        close(sv[1]);
        if (pid < 0) {
                close(sv[0]);
                return error_wrap(ret_error, (int)pid, "starting the shim server %s", a->shim_path);
        }
        if (x.exec_errno) {
                /* The child is gone already (CLONE_VFORK returned without an exec): reap it. */
                (void)waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED);
                close(pidfd);
                close(sv[0]);
                return error_set(ret_error, -x.exec_errno, "cannot execute the shim server %s: %s", a->shim_path,
                                 strerror(x.exec_errno));
        }
        *s = (struct shim_server){.sock = sv[0], .pid = pid, .pidfd = pidfd};
        r = event_loop_add_pidfd(a->loop, pidfd, on_server_exit, a, NULL, &s->src);
        if (r < 0) {
                (void)pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
                (void)waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED);
                server_forget(s);
                return error_wrap(ret_error, r, "watching the shim server");
        }
        log_info("Shim server %s --server started (pid %d)", a->shim_path, (int)pid);
        return 0;
}

void shim_server_stop(struct agent *a)
{
        server_forget(&a->shim_server);
}

/* Until `sock` is readable (an answer, or EOF): 0, or -EAGAIN when `timeout_sec` passed. A
 * deadline, not SO_RCVTIMEO: io_uring's task work interrupts the agent's blocking calls
 * (EINTR), and each restart would start the timeout again. */
static int answer_wait(int sock, int timeout_sec)
{
        uint64_t deadline = now_usec() + (uint64_t)timeout_sec * 1000000;

        for (;;) {
                struct pollfd p = {.fd = sock, .events = POLLIN};
                uint64_t now = now_usec();
                int r;

                if (now >= deadline)
                        return -EAGAIN;
                r = poll(&p, 1, (int)((deadline - now + 999) / 1000));
                if (r > 0)
                        return 0;
                if (r < 0 && errno != EINTR)
                        return negative_errno();
        }
}

/* A server that did not answer in time, or answered garbage: not to be asked again. */
static void server_kill(struct agent *a)
{
        struct shim_server *s = &a->shim_server;
        siginfo_t si;

        if (s->pidfd >= 0) {
                (void)pidfd_send_signal(s->pidfd, SIGKILL, NULL, 0);
                (void)waitid(P_PIDFD, (id_t)s->pidfd, &si, WEXITED);
        }
        server_forget(s);
}

int shim_server_spawn(struct agent *a, const char *sandbox, int report_fd, int log_fd, pid_t *ret_pid,
                      uint64_t *ret_start_time, int *ret_pidfd, char **ret_error)
{
        struct shim_server *s = &a->shim_server;
        pid_t server = 0;
        int r = 0;

        for (int attempt = 0; attempt < 2; attempt++) {
                if (s->sock < 0 && (r = shim_server_start(a, ret_error)) < 0)
                        return r;
                server = s->pid;
                r = shim_request_send(s->sock, sandbox, report_fd, log_fd);
                if (r >= 0)
                        r = answer_wait(s->sock, SHIM_SERVER_ANSWER_SEC);
                if (r >= 0)
                        r = shim_answer_recv(s->sock, ret_pid, ret_start_time, ret_pidfd);
                if (r == -EPIPE || r == -ECONNRESET) {
                        /* It died since the last launch, before its exit was seen: again. */
                        log_warning("The shim server (pid %d) is gone; starting another", (int)server);
                        server_kill(a);
                        continue;
                }
                break;
        }
        switch (r) {
        case 0:
                return 0;
        case -EAGAIN:
                server_kill(a);
                return error_set(ret_error, -ETIMEDOUT, "the shim server (pid %d) did not answer in %d s",
                                 (int)server, SHIM_SERVER_ANSWER_SEC);
        case -EBADMSG:
                server_kill(a);
                return error_set(ret_error, r, "the shim server (pid %d) answered with a malformed message",
                                 (int)server);
        default:
                if (r == -EPIPE || r == -ECONNRESET)
                        server_kill(a);
                return error_set(ret_error, r, "the shim server (pid %d) could not start a shim for %s: %s",
                                 (int)server, sandbox, strerror(-r));
        }
}
