/* SPDX-License-Identifier: Apache-2.0 */
/* Running a task: cgroup, sandbox and shim on launch; the shim's report and exit; kill with grace. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/shim-protocol.h"
#include "agent/shim-server.h"
#include "agent/task-cgroup.h"
#include "agent/task-network.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/process.h"
#include "common/protocol-json.h"

static int write_etc_files(const struct task *t)
{
        char path[PATH_MAX], hosts[512];
        const char *hn = t->spec->container.hostname ? t->spec->container.hostname
                         : t->spec->name ? t->spec->name : t->id;
        _cleanup_free_ char *resolv = NULL;
        size_t n = 0;
        int r;

        /* Like launch.json, these serve this boot's shim and task only: written without fsync
         * (file_write_replace()). A bridge task has an address of its own and reaches the
         * host's resolvers through it. */
        if (t->spec->has_container && t->spec->container.network == SILO_NETWORK_BRIDGE)
                return task_network_etc_write(t, hn);

        snprintf(hosts, sizeof(hosts),
                 "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t%s\n", hn);
        snprintf(path, sizeof(path), "%s/hosts", t->sandbox);
        r = file_write_replace(path, hosts, strlen(hosts), 0644);
        if (r < 0)
                return r;
        /* The host's resolvers; a task in its own net namespace (only lo) gets them too, so
         * a later network mode works without a new image. */
        if (file_read_full("/etc/resolv.conf", 65536, &resolv, &n) < 0) {
                free(resolv);
                resolv = strdup("");
                n = 0;
                if (!resolv)
                        return -ENOMEM;
        }
        snprintf(path, sizeof(path), "%s/resolv.conf", t->sandbox);
        return file_write_replace(path, resolv, n, 0644);
}

static int on_report(struct event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct task *t = userdata;
        ssize_t n;
        json_t *j;

        (void)revents;
        /* spawn_shim() allocated it: a failure here would end the agent's loop, not one launch. */
        assert(t->report_buf);
        /* Until the pipe is empty: on_shim_exit() calls this once for a shim that is gone,
         * whose report and EOF are both waiting; stopping after the data lost the pid. */
        for (;;) {
                n = read(fd, t->report_buf + t->report_len, TASK_REPORT_MAX - 1 - t->report_len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return 0;
                if (n <= 0)
                        break;
                t->report_len += (size_t)n;
                if (t->report_len >= TASK_REPORT_MAX - 1)
                        break;
        }
        /* EOF (or a full buffer): the shim has said all it will say. */
        t->report_buf[t->report_len] = '\0';
        t->report_src = event_source_remove(s);
        j = json_loads(t->report_buf, 0, NULL);
        free(t->report_buf);
        t->report_buf = NULL;
        if (j && json_is_integer(json_object_get(j, "pid"))) {
                t->pid = (pid_t)json_integer_value(json_object_get(j, "pid"));
                t->pid_start_time = (uint64_t)json_integer_value(json_object_get(j, "start_time"));
                task_transition(t, SILO_TASK_RUNNING, SILO_REASON_NONE, NULL);
        } else if (j && json_is_string(json_object_get(j, "error"))) {
                t->agent->launch_failed_total++;
                task_transition(t, SILO_TASK_FAILED, SILO_REASON_LAUNCH_FAILED,
                                json_string_value(json_object_get(j, "error")));
        }
        /* Nothing at all: the shim died early; its exit handler reports that. */
        json_decref(j);
        return 0;
}

static int on_shim_exit(struct event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct task *t = userdata;

        (void)fd;
        (void)revents;
        /* Never our child: the shim server (or, once it is gone, the init) reaps it. */
        t->shim_src = event_source_remove(s);
        if (t->report_src) {
                /* Take what the shim wrote before it went. */
                on_report(t->report_src, event_source_get_fd(t->report_src), POLLIN, t);
                t->report_src = event_source_remove(t->report_src);
        }
        task_finish(t);
        return 0;
}

static int on_cgroup_event(struct event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct task *t = userdata;
        unsigned ev = 0;
        uint64_t n = 0;
        int r;

        (void)s;
        (void)fd;
        (void)revents;
        r = cg_task_events_process(t->cg, &ev);
        if (r < 0) {
                log_warning_errno(r, "Task %s: reading its cgroup events failed: %m", t->id);
                t->cg_src = event_source_remove(t->cg_src);
                return 0;
        }
        /* An OOM kill is logged the moment it happens; whether it ends the task (it does with
         * memory.oom.group) is decided when the shim reports the exit. */
        if ((ev & CG_EVENT_OOM_KILL) && cg_task_oom_killed(t->cg, &n) >= 0 && n > t->oom_kills) {
                t->agent->oom_kills_total += n - t->oom_kills;
                t->oom_kills = n;
                log_notice("task %s: OOM kill in its cgroup (memory.events oom_kill %llu)", t->id,
                           (unsigned long long)n);
        }
        return 0;
}

int task_watch_cgroup(struct task *t)
{
        int fd = cg_task_events_fd(t->cg);

        if (fd < 0)
                return fd;
        /* The fd belongs to the isolator's handle; the loop only watches it. */
        return event_loop_add_io(t->agent->loop, fd, POLLIN, 0, on_cgroup_event, t, NULL, &t->cg_src);
}

static void task_cgroup_release(struct task *t)
{
        int r;

        if (!t->cg)
                return;
        t->cg_src = event_source_remove(t->cg_src);
        /* The shim is gone, so the task's init is too; what is left (without a pid namespace, a
         * daemonized child) is killed. A short bound keeps the loop responsive; housekeeping
         * retries a group that is slow to empty. */
        r = cg_task_destroy(t->cg, 300000);
        if (r < 0) {
                log_warning_errno(r, "Task %s: cgroup %s not removed yet, will retry: %m", t->id,
                                  strempty(t->cgroup_path));
                return;
        }
        t->cg = cg_task_free(t->cg);
}

void task_finish(struct task *t)
{
        struct shim_exit_record rec = {};
        bool was_terminal = silo_task_state_is_terminal(t->state);
        uint64_t ooms = 0;
        char msg[256];
        int r;

        t->kill_timer = event_source_remove(t->kill_timer);
        t->adopt_timer = event_source_remove(t->adopt_timer);
        t->shim_pidfd = safe_close(t->shim_pidfd);

        r = shim_exit_record_read(t->sandbox, &rec);
        if (r < 0) {
                snprintf(msg, sizeof(msg), "the shim (pid %d) ended without recording the task's end (%s)",
                         (int)t->shim_pid, strerror(-r));
                task_transition(t, SILO_TASK_FAILED, SILO_REASON_SHIM_LOST, msg);
        } else if (rec.launch_error) {
                if (!silo_task_state_is_terminal(t->state))
                        t->agent->launch_failed_total++;
                task_transition(t, SILO_TASK_FAILED, SILO_REASON_LAUNCH_FAILED, rec.launch_error);
        } else {
                t->exit_code = rec.exit_code;
                t->signal = rec.signal;
                if (t->cg)
                        (void)cg_task_oom_killed(t->cg, &ooms);
                if (t->kill_requested)
                        task_transition(t, SILO_TASK_KILLED, SILO_REASON_KILLED_BY_REQUEST, NULL);
                else if (ooms > 0) {
                        snprintf(msg, sizeof(msg), "memory.events oom_kill %llu (memory.max reached)",
                                 (unsigned long long)ooms);
                        task_transition(t, SILO_TASK_FAILED, SILO_REASON_OOM_KILLED, msg);
                } else if (rec.signal) {
                        snprintf(msg, sizeof(msg), "killed by signal %d (%s)%s", rec.signal,
                                 strsignal(rec.signal), rec.core_dumped ? ", core dumped" : "");
                        task_transition(t, SILO_TASK_FAILED, SILO_REASON_SIGNALED, msg);
                } else if (rec.exit_code == 0)
                        task_transition(t, SILO_TASK_FINISHED, SILO_REASON_NONE, NULL);
                else {
                        snprintf(msg, sizeof(msg), "exited with code %d", rec.exit_code);
                        task_transition(t, SILO_TASK_FAILED, SILO_REASON_EXIT_NONZERO, msg);
                }
        }
        shim_exit_record_clear(&rec);
        /* The group and the network go after the end is recorded durably (task_transition()),
         * so that a crash in between cannot lose what the group knew (its OOM kills); a
         * restarted agent copes with an ended task whose group is gone (recover.c). Ended
         * before (a launch failure the shim reported, an end found at recovery): the
         * transitions above wrote nothing, so the checkpoint is written here. */
        task_cgroup_release(t);
        task_network_teardown(t->agent, t->id);
        if (was_terminal)
                (void)task_checkpoint_save(t);
}

static int spawn_shim(struct task *t, char **ret_error)
{
        struct agent *a = t->agent;
        char logpath[PATH_MAX];
        _cleanup_close_ int log_fd = -EBADF;
        uint64_t start_time = 0;
        int report[2];
        pid_t pid;
        int pidfd = -1, r;

        /* The report's buffer is held from here until the report's EOF only (an ended task does
         * not carry it: task_compact()). Allocated before the shim exists, so that a failure
         * fails this launch alone; on_report() runs in the event loop, where -ENOMEM would
         * end the loop's iteration for every task. */
        if (!t->report_buf && !(t->report_buf = malloc(TASK_REPORT_MAX)))
                return -ENOMEM;
        t->report_len = 0;
        snprintf(logpath, sizeof(logpath), "%s/shim.log", t->sandbox);
        log_fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (log_fd < 0) {
                r = negative_errno();
                return error_set(ret_error, r, "opening the shim's log %s: %s", logpath, strerror(-r));
        }
        if (pipe2(report, O_CLOEXEC) < 0)
                return negative_errno();
        /* Forked by the shim server (shim-server.c): in <root>/shims, without a copy of the
         * agent's memory and without an exec per task. */
        r = shim_server_spawn(a, t->sandbox, report[1], log_fd, &pid, &start_time, &pidfd, ret_error);
        close(report[1]);
        if (r < 0) {
                close(report[0]);
                return r;
        }
        t->shim_pid = pid;
        t->shim_pidfd = pidfd;
        t->shim_start_time = start_time;
        (void)fcntl(report[0], F_SETFL, O_NONBLOCK);
        r = event_loop_add_io(a->loop, report[0], POLLIN, EVENT_IO_LEVEL | EVENT_IO_OWN_FD, on_report,
                              t, NULL, &t->report_src);
        if (r < 0) {
                close(report[0]);
                return r;
        }
        return event_loop_add_pidfd(a->loop, pidfd, on_shim_exit, t, NULL, &t->shim_src);
}

/* The task's cgroup with the limits of its spec, on the io targets and devices its
 * validation resolved. The isolator's message as it is, or "creating the task's cgroup: ...". */
static int task_cgroup_create(struct task *t, const struct task_plan *plan, char **ret_error)
{
        _cleanup_free_ struct cg_io_target *io = NULL;
        struct cg_limits limits;
        int r;

        r = task_cgroup_limits(t->spec, plan->io_targets, plan->devices, plan->n_devices, &limits, &io,
                               ret_error);
        if (r >= 0)
                r = cg_task_create(t->agent->cg, t->id, &limits, &t->cg, ret_error);
        if (r == -EOPNOTSUPP)   /* a controller the limits need is missing: the spec's part */
                return error_wrap(ret_error, r, "resources");
        if (r < 0 && !(ret_error && *ret_error))
                return error_wrap(ret_error, r, "creating the task's cgroup");
        return r;
}

/* The sandbox (emptied of what an earlier task with this id left), its /etc files and the
 * shim's launch.json. */
static int task_sandbox_prepare(struct task *t, const struct task_plan *plan)
{
        struct agent *a = t->agent;
        struct shim_resolved resolved = plan->resolved;
        _cleanup_free_ char *netns_path = task_network_netns_path(a, t);
        int r;

        resolved.cgroup = t->cgroup_path;
        resolved.netns_path = netns_path;
        resolved.netns_dir = a->network ? a->network->netns_dir : NULL;
        resolved.log_max_bytes = a->opts.log_max_bytes;
        resolved.log_files = (unsigned)a->opts.log_files;
        /* A sandbox left by an earlier task with this id that the agent no longer knows. */
        if (access(t->sandbox, F_OK) == 0) {
                log_notice("Removing leftover sandbox %s", t->sandbox);
                (void)rm_rf(t->sandbox);
        }
        if (mkdir(t->sandbox, 0750) < 0)
                return negative_errno();
        r = write_etc_files(t);
        if (r < 0)
                return r;
        return shim_launch_write(t->sandbox, t->spec, &resolved);
}

/* A start that failed after its cgroup was created: nothing of it is left, the shim (killed
 * and reaped), the group, the sandbox and the checkpoint included. */
static void task_start_undo(struct task *t)
{
        char path[PATH_MAX];

        if (t->shim_pidfd >= 0) {
                /* The shim server's child, reaped there: its pidfd says when it is gone. Bounded
                 * (the loop must keep the watchdog fed): a shim stuck in the kernel longer may
                 * keep its group, which the agent's next start removes as a leftover. */
                (void)pidfd_send_signal(t->shim_pidfd, SIGKILL, NULL, 0);
                if (fd_wait_readable(t->shim_pidfd, now_usec() + 1000000) < 0)
                        log_warning("Task %s: its shim %d outlived SIGKILL by 1 s; its cgroup %s may stay",
                                    t->id, (int)t->shim_pid, strempty(t->cgroup_path));
        }
        t->shim_src = event_source_remove(t->shim_src);
        t->report_src = event_source_remove(t->report_src);
        t->cg_src = event_source_remove(t->cg_src);
        t->shim_pidfd = safe_close(t->shim_pidfd);
        if (t->cg) {
                (void)cg_task_destroy(t->cg, 0);
                t->cg = cg_task_free(t->cg);
        }
        task_network_teardown(t->agent, t->id);
        (void)rm_rf(t->sandbox);
        (void)unlink(task_checkpoint_path(t->agent, t->id, path));
}

/* Only validation and the kernel's refusal of the spec's limits (cgroup creation) refuse a
 * spec; a failure of any other step of a start is this node's, whatever its errno (a
 * missing shim binary is -ENOENT too), and must not read as a refusal of the spec
 * (agent_launch_refused()). The message keeps the real cause. */
static int start_failure(int r)
{
        return agent_launch_refused(r) ? -EIO : r;
}

int task_start(struct task *t, const struct task_plan *plan, char **ret_error)
{
        struct agent *a = t->agent;
        char path[PATH_MAX];
        int r;

        /* The checkpoint comes first: if the agent dies anywhere in the launch, the restarted
         * agent knows the task and reports it (recover.c) instead of finding an anonymous
         * cgroup. The group's path is known before the group exists. Not fsynced: it guards
         * against a crash of the agent (the page cache outlives it); a power loss leaves no
         * group or shim for it to name, and the durable record of the launch is the second
         * checkpoint, written before the answer. */
        free(t->cgroup_path);
        if (asprintf(&t->cgroup_path, "%s/tasks/%s", cg_hierarchy_root(a->cg), t->id) < 0) {
                t->cgroup_path = NULL;
                return -ENOMEM;
        }
        r = task_checkpoint_stage(t);
        if (r < 0)
                return start_failure(error_wrap(ret_error, r, "checkpointing task %s", t->id));
        r = task_cgroup_create(t, plan, ret_error);
        if (r < 0) {
                (void)unlink(task_checkpoint_path(a, t->id, path));
                return r;
        }
        agent_crash_point("launch-after-cgroup");

        /* The network before the sandbox: its /etc/hosts names the task's address. */
        r = task_network_setup(t, ret_error);
        if (r >= 0)
                r = task_sandbox_prepare(t, plan);
        if (r >= 0)
                r = task_watch_cgroup(t);
        if (r >= 0) {
                agent_crash_point("launch-before-shim");
                r = spawn_shim(t, ret_error);
        }
        if (r < 0)
                goto fail;
        agent_crash_point("launch-after-shim-spawn");
        /* The second checkpoint, with the shim's pid, comes before the launch is answered,
         * and is the launch's one durable write (the sandbox's files are for this boot's shim):
         * a restarted agent that finds a checkpoint without a shim pid, no shim.json, no shim
         * by its sandbox and an empty task cgroup knows that launch was never answered nor
         * started, and forgets it so that a retry starts it; a shim it finds is adopted
         * (recover.c, task_recover_live). */
        r = task_checkpoint_save(t);
        if (r < 0) {
                (void)error_wrap(ret_error, r, "checkpointing task %s", t->id);
                goto fail;
        }
        log_info("task %s: STARTING (shim %d, cgroup %s)", t->id, (int)t->shim_pid, t->cgroup_path);
        return 0;

fail:
        task_start_undo(t);
        if (!(ret_error && *ret_error))
                (void)error_wrap(ret_error, r, "starting task %s", t->id);
        return start_failure(r);
}

static int on_kill_grace(struct event_source *s, uint64_t n, void *userdata)
{
        struct task *t = userdata;
        int r;

        (void)n;
        t->kill_timer = event_source_remove(s);
        if (silo_task_state_is_terminal(t->state) || !t->cg)
                return 0;
        log_info("task %s: grace period over, killing its cgroup", t->id);
        r = cg_task_kill(t->cg);
        if (r < 0)
                log_error_errno(r, "Task %s: cgroup.kill failed: %m", t->id);
        return 0;
}

int task_kill(struct task *t)
{
        struct agent *a = t->agent;
        uint64_t grace;
        int r;

        if (silo_task_state_is_terminal(t->state) || t->kill_requested)
                return 0;
        t->kill_requested = true;
        t->kill_requested_ms = now_realtime_ms();
        a->kills_total++;
        (void)task_checkpoint_save(t);

        grace = t->spec->kill_grace_s != UINT32_MAX ? t->spec->kill_grace_s : a->opts.kill_grace_s;
        /* SIGTERM goes through the shim, which forwards it to the task (whose init forwards it
         * to the command): the task's own processes decide how to end within the grace. */
        if (grace > 0 && t->shim_pidfd >= 0 &&
            pidfd_send_signal(t->shim_pidfd, SIGTERM, NULL, 0) == 0) {
                log_info("task %s: SIGTERM sent, %llu s grace", t->id, (unsigned long long)grace);
                return event_loop_add_timer(a->loop, grace * 1000000, 0, on_kill_grace, t, NULL,
                                            &t->kill_timer);
        }
        if (!t->cg)
                return -ESRCH;
        r = cg_task_kill(t->cg);
        return r;
}

#define ADOPT_POLL_USEC 100000u

/* A re-adopted task still STARTING: its shim had not reported before the agent went away,
 * and the report pipe went with the agent. shim.json says when the task runs. */
static int on_adopt_poll(struct event_source *s, uint64_t n, void *userdata)
{
        struct task *t = userdata;
        struct shim_state st = {};

        (void)n;
        if (t->state != SILO_TASK_STARTING) {
                t->adopt_timer = event_source_remove(s);
                return 0;
        }
        if (shim_state_read(t->sandbox, &st) < 0 || st.task_pid <= 0)
                return 0;
        t->adopt_timer = event_source_remove(s);
        t->pid = st.task_pid;
        t->pid_start_time = st.task_start_time;
        task_transition(t, SILO_TASK_RUNNING, SILO_REASON_NONE, NULL);
        return 0;
}

bool task_shim_state_load(struct task *t)
{
        struct shim_state st = {};

        if (shim_state_read(t->sandbox, &st) < 0)
                return false;
        t->pid = st.task_pid;
        t->pid_start_time = st.task_start_time;
        if (t->shim_pid)
                return false;
        t->shim_pid = st.shim_pid;
        t->shim_start_time = st.shim_start_time;
        return true;
}

int task_watch_shim(struct task *t)
{
        int pidfd;

        /* A task recorded as STARTING may have started meanwhile. */
        (void)task_shim_state_load(t);
        pidfd = t->shim_pid > 0 ? pidfd_open(t->shim_pid, 0) : -1;
        if (pidfd >= 0 && t->shim_start_time && process_start_time(t->shim_pid) != t->shim_start_time) {
                /* The pid was reused: our shim is gone. */
                close(pidfd);
                pidfd = -1;
        }
        if (pidfd < 0) {
                task_finish(t);
                return 0;
        }
        t->shim_pidfd = pidfd;
        if (t->state == SILO_TASK_STARTING && t->pid > 0)
                task_transition(t, SILO_TASK_RUNNING, SILO_REASON_NONE, NULL);
        else if (t->state == SILO_TASK_STARTING) {
                int r = event_loop_add_timer(t->agent->loop, ADOPT_POLL_USEC, ADOPT_POLL_USEC, on_adopt_poll,
                                             t, NULL, &t->adopt_timer);
                if (r < 0)
                        log_warning_errno(r, "Task %s: cannot watch for its start: %m", t->id);
        }
        log_info("task %s: re-adopted (shim %d, task pid %d)", t->id, (int)t->shim_pid, (int)t->pid);
        return event_loop_add_pidfd(t->agent->loop, pidfd, on_shim_exit, t, NULL, &t->shim_src);
}
