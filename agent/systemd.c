/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent under systemd: a transient scope, delegated to Silo, for the shims and tasks.
 *
 * systemd's cgroup delegation rules: a program may only manage cgroups systemd delegated to
 * it, and a service's processes stay in the service's group. systemd 252 has no
 * DelegateSubgroup=, and a service's own group cannot hold tasks that must outlive
 * `systemctl restart` (its processes are killed, or moved back into the group, which fails
 * once controllers are enabled below it). So, as Slurm does with slurmstepd.scope, the agent
 * asks systemd (StartTransientUnit over D-Bus, sd-bus) for silo-tasks.scope in system.slice
 * with Delegate=yes, and uses that scope's group as its cgroup root (<scope>/shims,
 * <scope>/tasks/<id>); the agent itself stays in silo-agent.service.
 *
 * A scope needs a first process and is collected when it becomes empty. Its first process is
 * a holder of ours (silo-agent run as "silo-tasks-holder", moved to <scope>/holder by the
 * cgroup setup), which only waits for a signal: the scope then survives the agent, its
 * restarts and the gaps between tasks, and `systemctl stop silo-tasks.scope` stops every task
 * of the node and the holder with them. The first shim would not do: the scope would vanish
 * with the last task, and the agent would need to create it on every launch, at launch time.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>

#include "agent/systemd.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "isolator/isolator.h"

#define SD_DEST "org.freedesktop.systemd1"
#define SD_PATH "/org/freedesktop/systemd1"
#define SD_MANAGER "org.freedesktop.systemd1.Manager"
/* Starting a scope only moves a pid: systemd answers in milliseconds unless it is stuck. */
#define SCOPE_START_TIMEOUT_USEC (15ULL * 1000000ULL)

bool agent_systemd_manages_cgroups(void)
{
        return sd_booted() > 0;
}

static const char *bus_error_message(const sd_bus_error *e, int r)
{
        return sd_bus_error_is_set(e) ? e->message : strerror(-r);
}

/* The scope's ActiveState and cgroup (relative to the mount); both NULL when systemd has no
 * such unit loaded. */
static int scope_query(sd_bus *bus, char **ret_state, char **ret_cgroup, char **ret_error)
{
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *state = NULL, *cgroup = NULL;
        const char *unit;
        int r;

        r = sd_bus_call_method(bus, SD_DEST, SD_PATH, SD_MANAGER, "GetUnit", &e, &reply, "s",
                               AGENT_TASKS_SCOPE);
        if (r < 0 && sd_bus_error_has_name(&e, "org.freedesktop.systemd1.NoSuchUnit")) {
                *ret_state = *ret_cgroup = NULL;
                return 0;
        }
        if (r < 0)
                return error_set(ret_error, r, "asking systemd for %s (GetUnit): %s",
                                 AGENT_TASKS_SCOPE, bus_error_message(&e, r));
        r = sd_bus_message_read(reply, "o", &unit);
        if (r < 0)
                return error_set(ret_error, r, "reading systemd's answer to GetUnit: %s",
                                 strerror(-r));
        r = sd_bus_get_property_string(bus, SD_DEST, unit, "org.freedesktop.systemd1.Unit",
                                       "ActiveState", &e, &state);
        if (r >= 0)
                r = sd_bus_get_property_string(bus, SD_DEST, unit,
                                               "org.freedesktop.systemd1.Scope", "ControlGroup",
                                               &e, &cgroup);
        if (r < 0)
                return error_set(ret_error, r, "reading the properties of %s: %s",
                                 AGENT_TASKS_SCOPE, bus_error_message(&e, r));
        *ret_state = TAKE_PTR(state);
        *ret_cgroup = TAKE_PTR(cgroup);
        return 0;
}

/* Start the holder, detached (double fork: its parent is PID 1 at once, so no zombie of ours
 * waits for the agent to reap it), as silo-agent under argv[0] AGENT_SCOPE_HOLDER_NAME. */
static int holder_spawn(pid_t *ret_pid, char **ret_error)
{
        char self[PATH_MAX];
        int p[2], status = 0;
        pid_t child, holder = 0;
        ssize_t n;

        n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n <= 0)
                return error_set(ret_error, n < 0 ? negative_errno() : -ENOENT,
                                 "cannot read /proc/self/exe: %m");
        self[n] = 0;
        if (pipe2(p, O_CLOEXEC) < 0)
                return error_set(ret_error, negative_errno(), "pipe2: %m");
        child = fork();
        if (child < 0) {
                int r = negative_errno();

                safe_close(p[0]);
                safe_close(p[1]);
                return error_set(ret_error, r, "cannot fork the scope's holder: %m");
        }
        if (child == 0) {
                pid_t g = fork();

                if (g == 0) {
                        sigset_t none;
                        int null = open("/dev/null", O_RDWR | O_CLOEXEC);

                        /* Not in the agent's session, no signal blocked (the agent blocks the
                         * ones its loop takes), and not holding the agent's journal stream. */
                        (void)setsid();
                        sigemptyset(&none);
                        (void)sigprocmask(SIG_SETMASK, &none, NULL);
                        if (null >= 0) {
                                (void)dup2(null, 0);
                                (void)dup2(null, 1);
                                (void)dup2(null, 2);
                        }
                        execl(self, AGENT_SCOPE_HOLDER_NAME, (char *)NULL);
                        _exit(127);
                }
                if (g > 0)
                        (void)!write(p[1], &g, sizeof(g));
                _exit(g > 0 ? 0 : 1);
        }
        safe_close(p[1]);
        (void)waitpid(child, &status, 0);
        n = read(p[0], &holder, sizeof(holder));
        safe_close(p[0]);
        if (n != (ssize_t)sizeof(holder) || holder <= 0)
                return error_set(ret_error, -ECHILD, "cannot fork the scope's holder (%s)",
                                 self);
        *ret_pid = holder;
        return 0;
}

struct job_wait {
        const char *job; /* object path, known once StartTransientUnit answered */
        char *result;    /* "done", "failed", ... */
};

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
        struct job_wait *w = userdata;
        const char *job, *unit, *result;
        uint32_t id;

        (void)e;
        if (sd_bus_message_read(m, "uoss", &id, &job, &unit, &result) < 0)
                return 0;
        if (w->job && !w->result && streq(job, w->job))
                w->result = strdup(result);
        return 0;
}

/* StartTransientUnit of the scope around `holder`, waiting for its job (the scope's group
 * exists and holds the holder once the job is done). */
static int scope_start(sd_bus *bus, pid_t holder, char **ret_error)
{
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        struct job_wait w = {0};
        uint64_t deadline;
        int r;

        /* Subscribed, systemd sends JobRemoved to us whatever tracks the job. */
        (void)sd_bus_call_method(bus, SD_DEST, SD_PATH, SD_MANAGER, "Subscribe", NULL, NULL, "");
        r = sd_bus_match_signal(bus, &slot, SD_DEST, SD_PATH, SD_MANAGER, "JobRemoved",
                                on_job_removed, &w);
        if (r < 0)
                return error_set(ret_error, r, "cannot watch systemd's jobs: %s", strerror(-r));

        r = sd_bus_message_new_method_call(bus, &m, SD_DEST, SD_PATH, SD_MANAGER,
                                           "StartTransientUnit");
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", AGENT_TASKS_SCOPE, "fail");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(sv)");
        /* TasksMax: every task has its own pids.max; the node-wide default (15 % of
         * kernel.pid_max) would cap all tasks together. */
        if (r >= 0)
                r = sd_bus_message_append(
                        m, "(sv)(sv)(sv)(sv)(sv)(sv)", "Description", "s",
                        "Silo tasks and their shims (delegated to silo-agent.service)",
                        "Documentation", "as", 1, "man:silo-agent(8)", "Slice", "s",
                        "system.slice", "Delegate", "b", 1, "TasksMax", "t", UINT64_MAX, "PIDs",
                        "au", 1, (uint32_t)holder);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_append(m, "a(sa(sv))", 0);
        if (r < 0)
                return error_set(ret_error, r, "cannot build the StartTransientUnit call: %s",
                                 strerror(-r));
        r = sd_bus_call(bus, m, SCOPE_START_TIMEOUT_USEC, &e, &reply);
        if (r < 0)
                return error_set(ret_error, r, "systemd refused to start %s: %s",
                                 AGENT_TASKS_SCOPE, bus_error_message(&e, r));
        r = sd_bus_message_read(reply, "o", &w.job);
        if (r < 0)
                return error_set(ret_error, r, "reading systemd's answer to StartTransientUnit: %s",
                                 strerror(-r));

        deadline = now_usec() + SCOPE_START_TIMEOUT_USEC;
        while (!w.result) {
                r = sd_bus_process(bus, NULL);
                if (r > 0)
                        continue;
                if (r == 0 && now_usec() < deadline)
                        r = sd_bus_wait(bus, deadline - now_usec());
                if (r == 0 && now_usec() >= deadline)
                        r = -ETIMEDOUT;
                if (r < 0)
                        return error_set(ret_error, r, "waiting for systemd to start %s: %s",
                                         AGENT_TASKS_SCOPE, strerror(-r));
        }
        if (!streq(w.result, "done")) {
                r = error_set(ret_error, -EIO, "systemd could not start %s: job %s",
                              AGENT_TASKS_SCOPE, w.result);
                free(w.result);
                return r;
        }
        free(w.result);
        return 0;
}

/* An adopted scope whose holder was killed would be collected after its last task: give it
 * a new holder in <scope>/holder (ours to write: the scope is delegated). */
static int holder_ensure(const char *scope, char **ret_error)
{
        _cleanup_free_ char *dir = NULL, *procs = NULL, *content = NULL;
        char pid[32];
        pid_t holder;
        int r;

        if (asprintf(&dir, "%s/%s", scope, CG_HOLDER_GROUP) < 0 ||
            asprintf(&procs, "%s/cgroup.procs", dir) < 0)
                return -ENOMEM;
        r = file_read_full(procs, 0, &content, NULL);
        if (r >= 0 && content && *content)
                return 0;
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return error_set(ret_error, negative_errno(), "cannot create cgroup %s: %m", dir);
        r = holder_spawn(&holder, ret_error);
        if (r < 0)
                return r;
        snprintf(pid, sizeof(pid), "%d", (int)holder);
        r = file_write_string(procs, pid);
        if (r < 0) {
                (void)kill(holder, SIGTERM);
                return error_set(ret_error, r, "cannot move the scope's holder (pid %s) into %s: %s",
                                 pid, procs, strerror(-r));
        }
        return 0;
}

int agent_systemd_scope(char **ret_path, bool *ret_created, char **ret_error)
{
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *state = NULL, *cgroup = NULL, *path = NULL;
        bool created = false;
        pid_t holder;
        int r;

        r = sd_bus_open_system(&bus);
        if (r < 0)
                return error_set(ret_error, r, "cannot connect to systemd's system bus: %s",
                                 strerror(-r));
        r = scope_query(bus, &state, &cgroup, ret_error);
        if (r < 0)
                return r;
        if (state && streq(state, "failed")) {
                /* A failed transient unit stays loaded and its name taken until reset. */
                (void)sd_bus_call_method(bus, SD_DEST, SD_PATH, SD_MANAGER, "ResetFailedUnit",
                                         NULL, NULL, "s", AGENT_TASKS_SCOPE);
                free(state);
                state = NULL;
        }
        if (state && !streq(state, "active"))
                return error_set(ret_error, -EBUSY,
                                 "%s is %s (an operator stopping it?); not adopting it",
                                 AGENT_TASKS_SCOPE, state);
        if (!state) {
                r = holder_spawn(&holder, ret_error);
                if (r < 0)
                        return r;
                r = scope_start(bus, holder, ret_error);
                if (r < 0) {
                        (void)kill(holder, SIGTERM);
                        return r;
                }
                free(cgroup);
                cgroup = NULL;
                free(state);
                state = NULL;
                r = scope_query(bus, &state, &cgroup, ret_error);
                if (r < 0)
                        return r;
                created = true;
        }
        if (!cgroup || !*cgroup)
                return error_set(ret_error, -ENOENT, "systemd names no cgroup for %s",
                                 AGENT_TASKS_SCOPE);
        if (asprintf(&path, CG_DEFAULT_MOUNTPOINT "%s", cgroup) < 0)
                return -ENOMEM;
        if (!created) {
                r = holder_ensure(path, ret_error);
                if (r < 0)
                        return r;
        }
        *ret_path = TAKE_PTR(path);
        *ret_created = created;
        return 0;
}

int agent_scope_holder_main(void)
{
        /* The comm ps and systemd-cgls show is the binary's (silo-agent) otherwise. */
        (void)prctl(PR_SET_NAME, "silo-holder");
        for (;;)
                pause();
}
