/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's shim server (agent/shim.c, server_run()): started once, in <root>/shims, and
 * asked for a forked shim per launch over a SOCK_SEQPACKET socket (shim-protocol.h). The
 * request and its answer are synchronous, as the exec of a shim per launch was: the server
 * answers right after its fork, and every wait is bounded well below the systemd watchdog's
 * half period (WatchdogSec=10s, pinged every 5 s), so a stalled server fails one launch and
 * is replaced, never the agent. A server that died is started again at the next launch; a
 * killed one is reaped by the loop, not waited for.
 */
#include <errno.h>
#include <fcntl.h>
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
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "isolator/isolator.h"

/* How long the agent waits for the server's hello or answer: it forks and answers, so only a
 * server that is stopped or starved takes long, and then it is replaced. */
#define SHIM_SERVER_ANSWER_USEC (2 * 1000000ULL)

struct shim_server {
        struct agent *agent;
        int sock;                       /* our end, or -EBADF once it is being killed */
        pid_t pid;
        int pidfd;                      /* owned by `src` */
        struct event_source *src;       /* its exit: reaps it and frees this */
};

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

        /* stdout and stderr stay the agent's, so the server's few messages go to its log;
         * whatever of 0-2 the agent has not open is /dev/null, so fds 0-3 are all in use
         * and what the server receives lands above them (shim.c: server_child()). */
        nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (nullfd < 0 || dup2(nullfd, STDIN_FILENO) < 0 ||
            (fcntl(STDOUT_FILENO, F_GETFD) < 0 && dup2(nullfd, STDOUT_FILENO) < 0) ||
            (fcntl(STDERR_FILENO, F_GETFD) < 0 && dup2(nullfd, STDERR_FILENO) < 0)) {
                x->exec_errno = errno;
                return 127;
        }
        /* dup2() onto itself keeps FD_CLOEXEC: an fd already in place must lose it. */
        if ((x->sock == SHIM_SERVER_FD ? fcntl(x->sock, F_SETFD, 0) : dup2(x->sock, SHIM_SERVER_FD)) < 0 ||
            (nullfd <= STDERR_FILENO && fcntl(nullfd, F_SETFD, 0) < 0)) {
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

static void server_free(void *userdata)
{
        struct shim_server *s = userdata;

        if (s->agent->shim_server == s)
                s->agent->shim_server = NULL;
        safe_close(s->sock);
        safe_close(s->pidfd);
        free(s);
}

static int on_server_exit(struct event_source *src, int fd, uint32_t revents, void *userdata)
{
        struct shim_server *s = userdata;
        siginfo_t si = {};

        (void)revents;
        (void)waitid(P_PIDFD, (id_t)fd, &si, WEXITED | WNOHANG);
        if (s->sock >= 0) {
                if (si.si_pid == 0)
                        log_warning("The shim server (pid %d) ended; the next launch starts another", (int)s->pid);
                else
                        log_warning("The shim server (pid %d) %s %d; the next launch starts another", (int)s->pid,
                                    si.si_code == CLD_EXITED ? "exited with status" : "was killed by signal",
                                    si.si_status);
        }
        event_source_remove(src);       /* frees s */
        return 0;
}

/* Not to be asked again: SIGKILL, and the loop reaps it (server_free()). */
static void server_kill(struct shim_server *s)
{
        (void)pidfd_send_signal(s->pidfd, SIGKILL, NULL, 0);
        s->sock = safe_close(s->sock);
        if (s->agent->shim_server == s)
                s->agent->shim_server = NULL;
}

int shim_server_start(struct agent *a, char **ret_error)
{
        struct server_exec x = {.shim_path = a->shim_path};
        struct shim_server *s;
        struct shim_answer hello;
        int sv[2], pidfd = -1, extra = -1, r;
        siginfo_t si;
        pid_t pid;

        if (a->shim_server)
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
        s = malloc(sizeof(*s));
        if (!s) {
                (void)pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
                (void)waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED);
                close(pidfd);
                close(sv[0]);
                return -ENOMEM;
        }
        *s = (struct shim_server){.agent = a, .sock = sv[0], .pid = pid, .pidfd = pidfd};
        r = event_loop_add_pidfd(a->loop, pidfd, on_server_exit, s, server_free, &s->src);
        if (r < 0) {
                (void)pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
                (void)waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED);
                server_free(s);
                return error_wrap(ret_error, r, "watching the shim server");
        }
        a->shim_server = s;
        r = fd_wait_readable(s->sock, now_usec() + SHIM_SERVER_ANSWER_USEC);
        if (r >= 0)
                r = shim_answer_recv(s->sock, &hello, &extra);
        if (r >= 0) {
                safe_close(extra);
                if (hello.error)
                        r = error_set(ret_error, -hello.error,
                                      "the shim server %s (pid %d) cannot serve: %s (its log says why)",
                                      a->shim_path, (int)pid, strerror(hello.error));
                else if (hello.pid != 0 || extra >= 0)
                        r = error_set(ret_error, -EBADMSG, "the shim server %s (pid %d) sent a malformed hello",
                                      a->shim_path, (int)pid);
        } else
                r = error_set(ret_error, r, "the shim server %s (pid %d) did not start: %s", a->shim_path, (int)pid,
                              r == -ETIMEDOUT ? "no hello within 2 s" : strerror(-r));
        if (r < 0) {
                server_kill(s);
                return r;
        }
        log_info("Shim server %s --server started (pid %d)", a->shim_path, (int)pid);
        return 0;
}

void shim_server_stop(struct agent *a)
{
        struct shim_server *s = a->shim_server;

        if (!s)
                return;
        /* Its socket closes: it exits on its own. */
        s->sock = safe_close(s->sock);
        event_source_remove(s->src);    /* frees s */
}

/* One request to the current server, with a go pipe of its own. */
static int server_request(struct shim_server *s, const char *sandbox, int report_fd, int log_fd,
                          struct shim_answer *ret_answer, int *ret_pidfd, int *ret_go)
{
        int go[2], r;

        if (pipe2(go, O_CLOEXEC) < 0)
                return negative_errno();
        r = shim_request_send(s->sock, sandbox, (int[_SHIM_REQUEST_FDS]){[SHIM_REQUEST_REPORT] = report_fd,
                                                                      [SHIM_REQUEST_LOG] = log_fd,
                                                                      [SHIM_REQUEST_GO] = go[0]});
        close(go[0]);
        /* A crash here leaves at most a shim waiting for a go that never comes. */
        agent_crash_point("launch-after-shim-request");
        if (r >= 0)
                r = fd_wait_readable(s->sock, now_usec() + SHIM_SERVER_ANSWER_USEC);
        if (r >= 0)
                r = shim_answer_recv(s->sock, ret_answer, ret_pidfd);
        if (r < 0) {
                /* A shim forked for this request reads EOF on its go pipe and exits. */
                close(go[1]);
                return r;
        }
        *ret_go = go[1];
        return 0;
}

int shim_server_spawn(struct agent *a, const char *sandbox, int report_fd, int log_fd, pid_t *ret_pid,
                      uint64_t *ret_start_time, int *ret_pidfd, char **ret_error)
{
        struct shim_answer answer = {};
        int pidfd = -1, go = -1, r = 0;
        pid_t server = 0;

        for (int attempt = 0; attempt < 2; attempt++) {
                if (!a->shim_server && (r = shim_server_start(a, ret_error)) < 0)
                        return r;
                server = a->shim_server->pid;
                r = server_request(a->shim_server, sandbox, report_fd, log_fd, &answer, &pidfd, &go);
                if (r != -EPIPE && r != -ECONNRESET)
                        break;
                /* It died since the last launch, before its exit was seen: once more, on a
                 * new one. */
                log_warning("The shim server (pid %d) is gone; starting another", (int)server);
                server_kill(a->shim_server);
        }
        if (r < 0) {
                /* A server that stalled, or answered what is not an answer, is not asked
                 * again; our own shortage of fds or memory is not its fault. */
                if (a->shim_server && a->shim_server->pid == server && r != -EMFILE && r != -ENFILE && r != -ENOMEM)
                        server_kill(a->shim_server);
                if (r == -ETIMEDOUT)
                        return error_set(ret_error, r, "the shim server (pid %d) did not answer in %llu s", (int)server,
                                         SHIM_SERVER_ANSWER_USEC / 1000000);
                if (r == -EBADMSG)
                        return error_set(ret_error, r, "the shim server (pid %d) answered with a malformed message",
                                         (int)server);
                return error_set(ret_error, r, "asking the shim server (pid %d) for a shim: %s", (int)server,
                                 strerror(-r));
        }
        if (answer.error || answer.pid <= 0 || pidfd < 0) {
                safe_close(pidfd);
                close(go);
                if (!answer.error) {
                        server_kill(a->shim_server);
                        return error_set(ret_error, -EBADMSG, "the shim server (pid %d) answered without a shim",
                                         (int)server);
                }
                return error_set(ret_error, -answer.error, "the shim server (pid %d) could not fork a shim for %s: %s",
                                 (int)server, sandbox, strerror(answer.error));
        }
        /* Its go: from here the shim reads launch.json and starts the task. A shim that died
         * already makes this fail (EPIPE); its pidfd reports that. */
        (void)!write(go, "g", 1);
        close(go);
        *ret_pid = answer.pid;
        *ret_start_time = answer.start_time;
        *ret_pidfd = pidfd;
        return 0;
}
