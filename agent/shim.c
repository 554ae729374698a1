/* SPDX-License-Identifier: Apache-2.0 */
/* silo-shim: one per task, the task's parent: launches it into its cgroup, keeps its logs, records its exit. */
#include <errno.h>
#include <linux/sched.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/log-file.h"
#include "agent/shim-protocol.h"
#include "common/event-loop.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/process.h"
#include "isolator/container.h"
#include "isolator/isolator.h"

/*
 * Lifecycle (docs/ARCHITECTURE.md, "How a task's life is made durable"): the agent asks its
 * shim server (server_run() below) for a shim for <sandbox>; the forked shim has the report
 * pipe on fd 3 and is named `silo-shim <sandbox>`. The shim reads <sandbox>/launch.json, starts the
 * task with clone3(CLONE_INTO_CGROUP | namespaces), answers on fd 3 with the task's pid or the
 * launch error, then copies the task's stdout/stderr into rotated files until the task exits,
 * records the exit atomically in <sandbox>/exit.json and exits. Signals it receives (SIGTERM
 * from the agent's kill) go to the task. It holds nothing of the agent's, so it outlives agent
 * restarts; a restarted agent finds it again through <sandbox>/shim.json.
 */

static const int forwarded_signals[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

struct shim {
        const char *sandbox;
        struct shim_launch launch;
        int report_fd;
        pid_t pid;
        int pidfd;
        uint64_t start_time;
        int out_fd, err_fd;             /* read ends of the task's stdout/stderr */
        int status_fd;                  /* read end of the init's status pipe */
        struct log_writer *out, *err;
};

static int report(struct shim *s, const char *json)
{
        if (s->report_fd < 0)
                return 0;
        (void)!write(s->report_fd, json, strlen(json));
        s->report_fd = safe_close(s->report_fd);
        return 0;
}

static int report_error(struct shim *s, int err, const char *message)
{
        _cleanup_free_ char *text = NULL;
        json_t *j = json_pack("{s:s, s:i}", "error", message, "errno", err < 0 ? -err : err);
        int r;

        text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        /* The exit record says the same, for an agent that was not there to hear it. */
        r = shim_exit_record_write(s->sandbox, &(struct shim_exit_record){
                                           .exit_code = -1, .launch_error = (char *)message,
                                           .finished_ms = now_realtime_ms()});
        if (r < 0)
                log_error_errno(r, "Failed to write the exit record in %s: %m", s->sandbox);
        if (text)
                report(s, text);
        return -1;
}

static void pipes_close(int p[2])
{
        p[0] = safe_close(p[0]);
        p[1] = safe_close(p[1]);
}

static int start_task(struct shim *s)
{
        struct container_config *c = &s->launch.container;
        int out[2] = {-1, -1}, err[2] = {-1, -1}, error_pipe[2] = {-1, -1},
            status_pipe[2] = {-1, -1};
        _cleanup_close_ int cgfd = -EBADF;
        char buf[1100];
        ssize_t n;
        pid_t pid;
        int pidfd = -1;

        cgfd = open(s->launch.resolved.cgroup, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (cgfd < 0) {
                snprintf(buf, sizeof(buf), "task cgroup %s: %s", s->launch.resolved.cgroup, strerror(errno));
                return report_error(s, errno, buf);
        }
        /* libseccomp allocates: the filter is built here, and the child only loads it. */
        if (c->quota_filter && !c->quota_prog.filter) {
                _cleanup_free_ char *error = NULL;
                int r = container_seccomp_quota_build(&c->quota_prog, &error);

                if (r < 0)
                        return report_error(s, r, error ? error : "seccomp: building the volume filter failed");
        }
        if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
            pipe2(error_pipe, O_CLOEXEC) < 0 || pipe2(status_pipe, O_CLOEXEC) < 0) {
                int e = errno;
                pipes_close(out);
                pipes_close(err);
                pipes_close(error_pipe);
                return report_error(s, e, "creating the task's pipes failed");
        }

        /* What the task must not inherit: handlers (none today; CLONE_CLEAR_SIGHAND resets them
         * in the kernel) and ignored signals (SIGPIPE, and any the agent's parent ignored:
         * execve keeps them), read once here for the child to reset. Unknown: all of them. */
        if (process_signals_ignored(&c->signals_ignored) < 0)
                c->signals_ignored = UINT64_MAX;
        pid = cg_clone3_into(cgfd, container_clone_flags(c->namespaces) | CLONE_CLEAR_SIGHAND, &pidfd);
        if (pid == 0) {
                struct container_fds fds = {
                        .stdin_fd = -1, .stdout_fd = out[1], .stderr_fd = err[1],
                        .error_fd = error_pipe[1], .status_fd = status_pipe[1],
                };
                /* fd 3 is the agent's; the task must not hold it. */
                if (s->report_fd >= 0)
                        close(s->report_fd);
                container_child_run(c, &fds);
        }
        close(out[1]);
        close(err[1]);
        close(error_pipe[1]);
        close(status_pipe[1]);
        if (pid < 0) {
                close(out[0]);
                close(err[0]);
                close(error_pipe[0]);
                close(status_pipe[0]);
                snprintf(buf, sizeof(buf), "clone3 into %s failed: %s", s->launch.resolved.cgroup,
                         strerror((int)-pid));
                return report_error(s, (int)-pid, buf);
        }

        /* EOF without data means the command was exec'd (the pipe is O_CLOEXEC). */
        do
                n = read(error_pipe[0], buf, sizeof(buf) - 1);
        while (n < 0 && errno == EINTR);
        close(error_pipe[0]);
        if (n > 0) {
                siginfo_t si;
                char *colon;
                int e;

                buf[n] = '\0';
                e = atoi(buf);
                colon = strchr(buf, ':');
                (void)waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED);
                close(pidfd);
                close(out[0]);
                close(err[0]);
                close(status_pipe[0]);
                return report_error(s, e, colon ? colon + 1 : buf);
        }

        s->pid = pid;
        s->pidfd = pidfd;
        s->out_fd = out[0];
        s->err_fd = err[0];
        s->status_fd = status_pipe[0];
        return 0;
}

static int pump(int *fd, struct log_writer *w)
{
        char buf[65536];
        ssize_t n = read(*fd, buf, sizeof(buf));

        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : negative_errno();
        if (n == 0) {
                *fd = safe_close(*fd);
                return 0;
        }
        return log_writer_write(w, buf, (size_t)n);
}

static int run(struct shim *s)
{
        _cleanup_close_ int sfd = -EBADF;
        struct shim_exit_record rec = {.exit_code = -1};
        sigset_t mask;
        siginfo_t si = {};
        bool exited = false;
        uint64_t drain_deadline = 0;
        int r, raw_status = 0;
        bool have_raw = false;

        sigemptyset(&mask);
        for (size_t i = 0; i < ELEMENTSOF(forwarded_signals); i++)
                sigaddset(&mask, forwarded_signals[i]);
        sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        if (sfd < 0)
                return log_error_errno(errno, "signalfd failed: %m");
        (void)fcntl(s->out_fd, F_SETFL, O_NONBLOCK);
        (void)fcntl(s->err_fd, F_SETFL, O_NONBLOCK);

        for (;;) {
                struct pollfd p[4] = {
                        {.fd = s->out_fd, .events = POLLIN},
                        {.fd = s->err_fd, .events = POLLIN},
                        {.fd = sfd, .events = POLLIN},
                        {.fd = exited ? -1 : s->pidfd, .events = POLLIN},
                };
                int timeout = -1;

                if (exited) {
                        uint64_t now = now_usec();
                        /* Output of the task's leftovers (without a pid namespace a daemonized
                         * child may hold the pipe) is drained for a bounded time only. */
                        if ((s->out_fd < 0 && s->err_fd < 0) || now >= drain_deadline)
                                break;
                        timeout = (int)((drain_deadline - now) / 1000) + 1;
                }
                r = poll(p, ELEMENTSOF(p), timeout);
                if (r < 0 && errno != EINTR)
                        return log_error_errno(errno, "poll failed: %m");
                if (r <= 0)
                        continue;
                if (p[0].revents && (r = pump(&s->out_fd, s->out)) < 0)
                        log_warning_errno(r, "Failed to write stdout log: %m");
                if (p[1].revents && (r = pump(&s->err_fd, s->err)) < 0)
                        log_warning_errno(r, "Failed to write stderr log: %m");
                if (p[2].revents) {
                        struct signalfd_siginfo ssi;

                        while (read(sfd, &ssi, sizeof(ssi)) == sizeof(ssi))
                                if (!exited)
                                        (void)pidfd_send_signal(s->pidfd, (int)ssi.ssi_signo,
                                                                NULL, 0);
                }
                if (p[3].revents) {
                        if (waitid(P_PIDFD, (id_t)s->pidfd, &si, WEXITED) < 0)
                                return log_error_errno(errno, "waitid failed: %m");
                        exited = true;
                        rec.finished_ms = now_realtime_ms();
                        drain_deadline = now_usec() + 2000000;
                }
        }

        /* The init reports the command's own status; an init that was killed (OOM, cgroup.kill)
         * reports nothing and its own death is the task's. */
        if (s->launch.container.init) {
                (void)fcntl(s->status_fd, F_SETFL, O_NONBLOCK);
                have_raw = read(s->status_fd, &raw_status, sizeof(raw_status)) == sizeof(raw_status);
        }
        if (have_raw) {
                if (WIFEXITED(raw_status))
                        rec.exit_code = WEXITSTATUS(raw_status);
                else if (WIFSIGNALED(raw_status)) {
                        rec.signal = WTERMSIG(raw_status);
                        rec.core_dumped = WCOREDUMP(raw_status);
                }
        } else if (si.si_code == CLD_EXITED)
                rec.exit_code = si.si_status;
        else {
                rec.signal = si.si_status;
                rec.core_dumped = si.si_code == CLD_DUMPED;
        }
        r = shim_exit_record_write(s->sandbox, &rec);
        if (r < 0)
                return log_error_errno(r, "Failed to write the exit record in %s: %m", s->sandbox);
        return 0;
}

/* The task's shim, in a child of the server: fds 0 /dev/null, 1 and 2 the shim's log, 3 the
 * report pipe; the forwarded signals blocked. Its exit status. */
static int shim_task_main(const char *sandbox)
{
        struct shim s = {.sandbox = sandbox, .report_fd = SHIM_REPORT_FD, .pidfd = -1, .out_fd = -1,
                         .err_fd = -1, .status_fd = -1};
        _cleanup_free_ char *error = NULL;
        char buf[256];
        sigset_t mask;
        int r;

        /* Its own session: a terminal's or the agent's process group signals never reach it. */
        (void)setsid();
        sigemptyset(&mask);
        for (size_t i = 0; i < ELEMENTSOF(forwarded_signals); i++)
                sigaddset(&mask, forwarded_signals[i]);
        sigprocmask(SIG_BLOCK, &mask, NULL);

        r = shim_launch_read(s.sandbox, &s.launch, &error);
        if (r < 0) {
                report_error(&s, r, error ? error : "cannot read the launch config");
                return 1;
        }
        r = log_writer_open(s.sandbox, "stdout", s.launch.resolved.log_max_bytes, s.launch.resolved.log_files, &s.out);
        if (r >= 0)
                r = log_writer_open(s.sandbox, "stderr", s.launch.resolved.log_max_bytes, s.launch.resolved.log_files,
                                    &s.err);
        if (r < 0) {
                snprintf(buf, sizeof(buf), "opening the log files in %s: %s", s.sandbox, strerror(-r));
                report_error(&s, r, buf);
                return 1;
        }

        if (start_task(&s) < 0)
                return 1;
        s.start_time = process_start_time(s.pid);
        r = shim_state_write(s.sandbox, &(struct shim_state){
                                     .shim_pid = getpid(), .shim_start_time = process_start_time(getpid()),
                                     .task_pid = s.pid, .task_start_time = s.start_time,
                                     .started_ms = now_realtime_ms()});
        if (r < 0)
                log_warning_errno(r, "Failed to write shim.json in %s: %m", s.sandbox);
        snprintf(buf, sizeof(buf), "{\"pid\":%d,\"start_time\":%" PRIu64 "}", (int)s.pid,
                 s.start_time);
        report(&s, buf);

        r = run(&s);
        log_writer_free(s.out);
        log_writer_free(s.err);
        shim_launch_clear(&s.launch);
        return r < 0 ? 1 : 0;
}

/*
 * The shim's command line becomes "<silo-shim path> <sandbox>", as if exec'd so: operators see
 * which task a shim serves, and a restarted agent finds its shims by it (recover.c reads
 * argv[1] of each process in <root>/shims). PR_SET_MM needs CAP_SYS_RESOURCE (the server
 * checks that it has it before it serves: cmdline_check()); the kernel checks arg_start <=
 * arg_end after each of the two calls, so when the new area lies above the old one the end
 * moves first. The area is never freed: it is the process's command line until it exits.
 */
static int cmdline_set(const char *argv0, const char *sandbox)
{
        size_t a = strlen(argv0) + 1, b = strlen(sandbox) + 1;
        char *p = mmap(NULL, a + b, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        if (p == MAP_FAILED)
                return negative_errno();
        memcpy(p, argv0, a);
        memcpy(p + a, sandbox, b);
        if (prctl(PR_SET_MM, PR_SET_MM_ARG_START, (unsigned long)p, 0, 0) == 0)
                return prctl(PR_SET_MM, PR_SET_MM_ARG_END, (unsigned long)(p + a + b), 0, 0) < 0 ? negative_errno() : 0;
        if (errno != EINVAL)
                return negative_errno();
        if (prctl(PR_SET_MM, PR_SET_MM_ARG_END, (unsigned long)(p + a + b), 0, 0) < 0 ||
            prctl(PR_SET_MM, PR_SET_MM_ARG_START, (unsigned long)p, 0, 0) < 0)
                return negative_errno();
        return 0;
}

/* Whether this process may rename its shims: PR_SET_MM_ARG_START set to its current value
 * (/proc/self/stat field 48), which changes nothing. A shim that could not be named would be
 * taken by a restarted agent for a process that never became a shim, and killed. */
static int cmdline_check(void)
{
        uint64_t arg_start = 0;

        if (process_stat_field(0, 48, &arg_start) < 0 || arg_start == 0)
                return -EIO;
        if (prctl(PR_SET_MM, PR_SET_MM_ARG_START, (unsigned long)arg_start, 0, 0) < 0)
                return negative_errno();
        return 0;
}

/* In the forked child: the fds and mask a shim starts with, its name, the agent's go, then
 * the shim. Never returns. */
static _noreturn_ void server_child(int sock, int sfd, const char *argv0, const char *sandbox,
                                    const int fds[_SHIM_REQUEST_FDS])
{
        sigset_t mask;
        char go;
        ssize_t n;

        close(sock);
        close(sfd);
        /* The request's fds arrived above SHIM_GO_FD (the server holds 0-4: the agent starts
         * it with 0-3 open), so none is overwritten before it is moved. */
        for (size_t i = 0; i < _SHIM_REQUEST_FDS; i++)
                if (fds[i] <= SHIM_GO_FD)
                        _exit(127);
        if (dup2(fds[SHIM_REQUEST_REPORT], SHIM_REPORT_FD) < 0 || dup2(fds[SHIM_REQUEST_GO], SHIM_GO_FD) < 0 ||
            dup2(fds[SHIM_REQUEST_LOG], STDOUT_FILENO) < 0 || dup2(fds[SHIM_REQUEST_LOG], STDERR_FILENO) < 0)
                _exit(127);
        /* Nothing of the server's, nor another request's, goes along. */
        (void)close_range(SHIM_GO_FD + 1, ~0U, 0);
        /* stderr is the shim's log now, not the server's. */
        log_stderr_changed();
        /* The forwarded signals stay blocked from here (shim_task_main() reads them from a
         * signalfd): a SIGTERM from the agent before that must reach the task, not end us. */
        sigemptyset(&mask);
        for (size_t i = 0; i < ELEMENTSOF(forwarded_signals); i++)
                sigaddset(&mask, forwarded_signals[i]);
        sigprocmask(SIG_SETMASK, &mask, NULL);
        if (cmdline_set(argv0, sandbox) < 0)
                _exit(127);     /* cmdline_check() passed: not expected; the agent sees a shim
                                 * that ended without recording the task's end: FAILED */
        /* Nothing of the sandbox is touched before the agent holds our answer. */
        do
                n = read(SHIM_GO_FD, &go, 1);
        while (n < 0 && errno == EINTR);
        if (n != 1)
                _exit(0);
        close(SHIM_GO_FD);
        exit(shim_task_main(sandbox));
}

/* One request: a forked shim, answered with its pid and pidfd. 0 at EOF; -errno only when the
 * socket fails; a failed fork is the answer. */
static int server_serve_one(int sock, int sfd, const char *argv0)
{
        _cleanup_free_ char *sandbox = NULL;
        int fds[_SHIM_REQUEST_FDS] = {-1, -1, -1};
        _cleanup_close_ int pidfd = -EBADF;
        struct shim_answer answer = {};
        pid_t pid;
        int r;

        r = shim_request_recv(sock, &sandbox, fds);
        if (r == -EBADMSG) {
                log_warning("Ignored a malformed request on the agent's socket");
                return 1;
        }
        if (r == -ENOMEM)
                return shim_answer_send(sock, &(struct shim_answer){.error = ENOMEM}, -1) < 0 ? -EIO : 1;
        if (r <= 0)
                return r;
        pid = fork();
        if (pid == 0)
                server_child(sock, sfd, argv0, sandbox, fds);
        if (pid < 0)
                answer.error = errno;
        for (size_t i = 0; i < _SHIM_REQUEST_FDS; i++)
                close(fds[i]);
        if (pid > 0) {
                /* Not reaped before the answer is sent, so neither the pid nor its start time
                 * can name another process meanwhile, even if the shim ended at once. */
                pidfd = pidfd_open(pid, 0);
                if (pidfd < 0) {
                        answer.error = errno;
                        /* It waits for its go, which the agent never sends without an answer. */
                        (void)kill(pid, SIGKILL);
                } else
                        answer = (struct shim_answer){.pid = pid, .start_time = process_start_time(pid)};
        }
        r = shim_answer_send(sock, &answer, answer.error ? -1 : pidfd);
        /* An agent gone before the answer closed the go pipe with it: the shim exits. */
        return r < 0 && r != -EPIPE && r != -ECONNRESET ? r : 1;
}

/*
 * `silo-shim --server`: started by silo-agent in <root>/shims with its socket on fd 3; forks
 * one shim per launch until the agent closes the socket (it exited). A fork of this small,
 * already-running process costs far less than an exec of silo-shim per task (issue 19: the
 * static-pie relocation and libc start, and on an emulated CPU the translation of all its
 * code again). The shims are its children, reaped here; when it exits they are the init's, as
 * they are after any agent restart, and nothing in them depends on it.
 */
static int server_run(const char *argv0)
{
        _cleanup_close_ int sfd = -EBADF;
        sigset_t chld;
        int r;

        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        sigprocmask(SIG_BLOCK, &chld, NULL);
        sfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
        if (sfd < 0)
                return log_error_errno(errno, "signalfd failed: %m");
        for (;;) {
                struct pollfd p[2] = {{.fd = SHIM_SERVER_FD, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
                struct signalfd_siginfo ssi;

                r = poll(p, ELEMENTSOF(p), -1);
                if (r < 0 && errno != EINTR)
                        return log_error_errno(errno, "poll failed: %m");
                if (r <= 0)
                        continue;
                if (p[1].revents) {
                        while (read(sfd, &ssi, sizeof(ssi)) == sizeof(ssi))
                                ;
                        while (waitpid(-1, NULL, WNOHANG) > 0)
                                ;
                }
                /* The agent is gone: a request it left is not served (its shim could never
                 * get its go anyway). */
                if (p[0].revents & (POLLHUP | POLLERR))
                        return 0;
                if (p[0].revents) {
                        r = server_serve_one(SHIM_SERVER_FD, sfd, argv0);
                        if (r == 0)
                                return 0;
                        if (r < 0)
                                return log_error_errno(r, "The agent's socket failed: %m");
                }
        }
}

int main(int argc, char **argv)
{
        int type = 0, r;
        socklen_t len = sizeof(type);

        log_set_ident("silo-shim");
        if (argc != 2 || strcmp(argv[1], "--server") != 0 ||
            getsockopt(SHIM_SERVER_FD, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_SEQPACKET) {
                fprintf(stderr, "usage: silo-shim --server (started by silo-agent, its socket on fd 3)\n");
                return 2;
        }
        (void)fcntl(SHIM_SERVER_FD, F_SETFD, FD_CLOEXEC);
        /* Its own session: a terminal's or the agent's process group signals never reach it. */
        (void)setsid();
        /* The shims write to pipes whose reader may be gone: an error, not a signal. */
        signal(SIGPIPE, SIG_IGN);
        r = cmdline_check();
        if (r < 0)
                log_error_errno(r, "Cannot name the shims it would start (prctl PR_SET_MM: %m; it needs "
                                "CAP_SYS_RESOURCE): not serving");
        if (shim_answer_send(SHIM_SERVER_FD, &(struct shim_answer){.error = r < 0 ? -r : 0}, -1) < 0 || r < 0)
                return 1;
        return server_run(argv[0]) < 0 ? 1 : 0;
}
