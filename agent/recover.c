/* SPDX-License-Identifier: Apache-2.0 */
/* Recovery at startup: checkpoints back into tasks, each live task re-adopted or ended with a reason, leftovers removed. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/shim-protocol.h"
#include "agent/status-queue.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/process.h"
#include "common/protocol-json.h"

#ifndef SILO_TEST_CRASH_POINTS
#define SILO_TEST_CRASH_POINTS 0
#endif

/*
 * Crash points let the VM suite kill the agent at the worst moments of a launch. They are
 * compiled into every build, but only a build configured with -Dtest_crash_points=true
 * (SILO_TEST_CRASH_POINTS=1) reads the environment: a production agent cannot be made to
 * crash by an inherited variable.
 */
void agent_crash_point(const char *point)
{
        const char *want;

        if (!SILO_TEST_CRASH_POINTS)
                return;
        want = getenv("SILO_TEST_CRASH_AT");
        if (want && streq(want, point)) {
                log_notice("SILO_TEST_CRASH_AT=%s: crashing (SIGKILL) as asked", point);
                (void)raise(SIGKILL);
        }
}

static int task_from_checkpoint(struct agent *a, const char *path, struct task **ret)
{
        _cleanup_free_ char *text = NULL, *err = NULL;
        _cleanup_(silo_task_spec_freep) struct silo_task_spec *spec = NULL;
        json_t *j = NULL, *ts, *shim;
        struct task *t;
        const char *s;
        int r;

        r = file_read_full(path, 0, &text, NULL);
        if (r < 0)
                return r;
        j = json_loads(text, 0, NULL);
        if (!j)
                return -EBADMSG;
        r = silo_task_spec_from_json(json_object_get(j, "spec"), &spec, &err);
        if (r < 0 || !spec->id) {
                json_decref(j);
                return r < 0 ? r : -EBADMSG;
        }
        r = task_new(a, spec, &t);
        if (r < 0) {
                json_decref(j);
                return r;
        }
        TAKE_PTR(spec);
        s = json_string_value(json_object_get(j, "state"));
        t->state = s && silo_task_state_from_string(s) >= 0 ? (silo_task_state)silo_task_state_from_string(s)
                                                            : SILO_TASK_STARTING;
        s = json_string_value(json_object_get(j, "reason"));
        t->reason = s && silo_task_reason_from_string(s) >= 0 ? (silo_task_reason)silo_task_reason_from_string(s)
                                                              : SILO_REASON_NONE;
        if (json_is_integer(json_object_get(j, "exit_code")))
                t->exit_code = (int)json_integer_value(json_object_get(j, "exit_code"));
        t->signal = (int)json_integer_value(json_object_get(j, "signal"));
        if ((s = json_string_value(json_object_get(j, "message"))))
                t->message = strdup(s);
        if ((s = json_string_value(json_object_get(j, "cgroup"))))
                t->cgroup_path = strdup(s);
        ts = json_object_get(j, "timestamps");
        t->created_ms = (uint64_t)json_integer_value(json_object_get(ts, "created_ms"));
        t->started_ms = (uint64_t)json_integer_value(json_object_get(ts, "started_ms"));
        t->finished_ms = (uint64_t)json_integer_value(json_object_get(ts, "finished_ms"));
        t->kill_requested_ms = (uint64_t)json_integer_value(json_object_get(ts, "kill_requested_ms"));
        t->kill_requested = json_is_true(json_object_get(j, "kill_requested"));
        t->pid = (pid_t)json_integer_value(json_object_get(j, "pid"));
        shim = json_object_get(j, "shim");
        t->shim_pid = (pid_t)json_integer_value(json_object_get(shim, "pid"));
        t->shim_start_time = (uint64_t)json_integer_value(json_object_get(shim, "start_time"));
        t->pid_start_time = (uint64_t)json_integer_value(json_object_get(shim, "task_start_time"));
        json_decref(j);
        *ret = t;
        return 0;
}

/* argv[1] of a process (a shim's is its sandbox); NULL if unreadable. */
static char *proc_argv1(pid_t pid)
{
        char p[64];
        _cleanup_free_ char *cmdline = NULL;
        size_t n = 0, first;

        snprintf(p, sizeof(p), "/proc/%d/cmdline", (int)pid);
        if (file_read_full(p, 8192, &cmdline, &n) < 0 || n == 0)
                return NULL;
        first = strnlen(cmdline, n);
        if (first + 1 >= n)
                return NULL;
        return strndup(cmdline + first + 1, n - first - 1);
}

/* Pids listed in a cgroup.procs file, as a callback per pid; stops when it returns > 0. */
static int cgroup_procs_foreach(const char *procs_path, int (*fn)(pid_t pid, void *userdata), void *userdata)
{
        _cleanup_free_ char *text = NULL;
        char *line, *save = NULL;
        int r;

        r = file_read_full(procs_path, 0, &text, NULL);
        if (r < 0)
                return r;
        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                r = fn((pid_t)atoi(line), userdata);
                if (r != 0)
                        return r;
        }
        return 0;
}

/* The sandbox a process in <root>/shims serves, when its argv[1] is one under ours (a
 * shim's is); NULL otherwise. */
static char *shim_sandbox(const struct agent *a, pid_t pid)
{
        _cleanup_free_ char *arg = proc_argv1(pid);
        size_t len = strlen(a->sandboxes_dir);

        if (!arg || strncmp(arg, a->sandboxes_dir, len) != 0 || arg[len] != '/')
                return NULL;
        return TAKE_PTR(arg);
}

/* Each process of <root>/shims, as cgroup_procs_foreach() does. */
static int shims_foreach(const struct agent *a, int (*fn)(pid_t pid, void *userdata), void *userdata)
{
        char procs[PATH_MAX];

        snprintf(procs, sizeof(procs), "%s/shims/cgroup.procs", cg_hierarchy_root(a->cg));
        return cgroup_procs_foreach(procs, fn, userdata);
}

struct shim_match {
        const struct agent *a;
        const char *sandbox;
        pid_t pid;
};

static int shim_match_one(pid_t pid, void *userdata)
{
        struct shim_match *m = userdata;
        _cleanup_free_ char *sandbox = shim_sandbox(m->a, pid);

        if (sandbox && streq(sandbox, m->sandbox)) {
                m->pid = pid;
                return 1;
        }
        return 0;
}

/* The shim of a task whose checkpoint has no shim pid yet (the agent died between spawning
 * the shim and hearing from it): the process in <root>/shims whose argument is the sandbox. */
static pid_t shim_find_by_sandbox(struct agent *a, const char *sandbox)
{
        struct shim_match m = {.a = a, .sandbox = sandbox};

        if (shims_foreach(a, shim_match_one, &m) <= 0)
                return 0;
        return m.pid;
}

static int pid_equal(pid_t pid, void *userdata)
{
        return pid == *(pid_t *)userdata;
}

/* 1 if `pid` is listed in <cgroup>/cgroup.procs, 0 if not, -errno if unreadable. */
static int cgroup_has_pid(const char *cgroup_path, pid_t pid)
{
        char procs[PATH_MAX];

        snprintf(procs, sizeof(procs), "%s/cgroup.procs", cgroup_path);
        return cgroup_procs_foreach(procs, pid_equal, &pid);
}

/* Is the recorded shim still that process? pid + start time, so a reused pid is not taken
 * for it. */
static bool shim_alive(const struct task *t)
{
        uint64_t st;

        if (t->shim_pid <= 0)
                return false;
        st = process_start_time(t->shim_pid);
        return st != 0 && (!t->shim_start_time || st == t->shim_start_time);
}

/* A task ended without its shim ever reporting it: kill what may be left of it (shim, then
 * group), end it FAILED with `reason` and `message`, and remove its cgroup. */
static void task_end_lost(struct task *t, silo_task_reason reason, const char *message)
{
        int pidfd;

        if (shim_alive(t) && (pidfd = pidfd_open(t->shim_pid, 0)) >= 0) {
                (void)pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
                close(pidfd);
        }
        if (reason == SILO_REASON_LAUNCH_FAILED)
                t->agent->launch_failed_total++;
        task_transition(t, SILO_TASK_FAILED, reason, message);
        if (t->cg) {
                int r = cg_task_destroy(t->cg, 1000000);

                if (r < 0)
                        log_warning_errno(r, "Task %s: cgroup %s not removed yet, housekeeping retries: %m",
                                          t->id, strempty(t->cgroup_path));
                else
                        t->cg = cg_task_free(t->cg);
        }
        (void)task_checkpoint_save(t);
}

/* Has any status update about task `t` been queued (and maybe sent)? Its updates' ids are
 * derived from the task and the state (status_update_id_make()), so each is looked up. */
static bool task_status_queued(const struct agent *a, const struct task *t)
{
        const struct status_queue *q = agent_link_queue(a);
        char id[ID_UUID_LEN + 1];

        for (int s = 0; q && s < _SILO_TASK_STATE_MAX; s++) {
                status_update_id_make(t->id, t->created_ms, (silo_task_state)s, id);
                if (status_queue_contains(q, id))
                        return true;
        }
        return false;
}

/*
 * Forget a launch that was never answered and never started (see task_recover_live): its
 * cgroup (with whatever a shim may have put there), its checkpoint, its sandbox, its record.
 * The checkpoint goes before the sandbox, so a crash in between leaves a sandbox that the
 * leftover scan removes, never a checkpoint of nothing; a group that does not go now is a
 * leftover too (no checkpoint knows it), removed by that scan.
 */
static void task_forget_unstarted(struct task *t)
{
        struct agent *a = t->agent;
        char path[PATH_MAX];
        bool had_cg = t->cg != NULL;
        int r;

        if (t->cg) {
                r = cg_task_destroy(t->cg, 1000000);
                if (r < 0)
                        log_warning_errno(r, "Task %s: cgroup %s not removed yet, the leftover scan retries: %m",
                                          t->id, strempty(t->cgroup_path));
                t->cg = cg_task_free(t->cg);
        }
        if (unlink(task_checkpoint_path(a, t->id, path)) < 0 && errno != ENOENT)
                log_warning_errno(negative_errno(), "Task %s: cannot remove its checkpoint %s: %m", t->id, path);
        else
                (void)fsync_parent(path);
        r = rm_rf(t->sandbox);
        if (r < 0)
                log_warning_errno(r, "Task %s: cannot remove its sandbox %s: %m", t->id, t->sandbox);
        log_notice("task %s: launch interrupted before its shim started (never answered, never ran): "
                   "forgotten (%s, sandbox removed); launching it again starts it",
                   t->id, had_cg ? "cgroup removed" : "no cgroup yet");
}

/*
 * One task that was not terminal when the agent went away. What the shim recorded wins
 * (its exit.json is the truth about how the task ended); otherwise the task must still be
 * where we left it: its shim (pid + start time) alive and its first process (pid + start
 * time) in its cgroup. Anything missing ends the task with a reason that names it.
 * Returns 1 when the task is to be forgotten (a launch never answered and never started).
 */
static int task_recover_live(struct task *t)
{
        struct agent *a = t->agent;
        struct shim_exit_record rec = {};
        bool has_exit, has_cg, unrecorded_shim = !t->shim_pid;
        char msg[512];
        int r;

        /*
         * A checkpoint without a shim pid is a launch interrupted before its second
         * checkpoint, which task_start() writes just after spawning the shim: that shim may
         * live and have started the task. Its shim.json, or the shim itself among the
         * processes of <root>/shims (its argv[1] is the sandbox), names it; the task is then
         * adopted like one whose checkpoint had the pid, and that pid is checkpointed now.
         */
        if (task_shim_state_load(t))
                log_info("task %s: found its shim (pid %d) by its shim.json", t->id, (int)t->shim_pid);
        if (!t->shim_pid && (t->shim_pid = shim_find_by_sandbox(a, t->sandbox)) > 0) {
                t->shim_start_time = process_start_time(t->shim_pid);
                log_info("task %s: found its shim (pid %d) by its sandbox", t->id, (int)t->shim_pid);
        }
        has_cg = cg_task_open(a->cg, t->id, &t->cg) >= 0;
        has_exit = shim_exit_record_read(t->sandbox, &rec) >= 0;
        shim_exit_record_clear(&rec);
        if (unrecorded_shim && t->shim_pid > 0) {
                log_notice("task %s: launch interrupted after its shim (pid %d) was spawned: adopting it",
                           t->id, (int)t->shim_pid);
                (void)task_checkpoint_save(t);
        }

        if (!t->shim_pid && !has_exit && has_cg && cg_task_is_populated(t->cg) != 0) {
                /* No shim to be found, yet processes in the task's group: a shim started the
                 * task and is gone. The task ran, so it is neither forgotten (a retry would run
                 * it twice) nor adoptable (nobody collects its end): it ends SHIM_LOST. */
                snprintf(msg, sizeof(msg), "the agent stopped during the launch; the task's cgroup %s "
                         "holds processes but its shim is gone (the task was killed)",
                         cg_task_path(t->cg));
                log_notice("task %s: %s", t->id, msg);
                task_end_lost(t, SILO_REASON_SHIM_LOST, msg);
                return 0;
        }
        if (!t->shim_pid && !has_exit) {
                /*
                 * Crashed mid-launch, before the shim: the cgroup (maybe) and the sandbox exist,
                 * the task never ran. task_start() checkpoints the shim's pid before the launch
                 * is answered, so a checkpoint without one means that no client was ever told
                 * this launch succeeded; and no status update was queued for it (the first
                 * comes with the shim's report), so the master heard nothing either. Such a
                 * launch is forgotten, not failed: a retry of the id (a client that got no
                 * answer, the master re-sending a STAGING launch) starts it, exactly once.
                 * Reporting it FAILED made the task impossible to start, since a retry got the
                 * FAILED task back. An update already queued would contradict that story (an
                 * agent older than the second checkpoint): then the launch stays FAILED.
                 */
                if (!task_status_queued(a, t))
                        return 1;
                snprintf(msg, sizeof(msg),
                         "the agent stopped during the launch, before the task's shim started; %s",
                         has_cg ? "its cgroup was removed" : "no cgroup had been created");
                log_notice("task %s: half-made launch found at startup, already reported: failing it", t->id);
                task_end_lost(t, SILO_REASON_LAUNCH_FAILED, msg);
                return 0;
        }
        if (!shim_alive(t)) {
                /* task_finish reads exit.json (and the group's memory.events oom_kill while the
                 * group exists) or ends the task SHIM_LOST. */
                task_finish(t);
                return 0;
        }
        if (!has_cg && t->cgroup_path && !has_exit) {
                /* Its processes were moved out before the group could go: they run without
                 * limits now, so the task (its init takes its pid namespace along) goes too. */
                bool task_alive = t->pid > 0 && t->pid_start_time &&
                                  process_start_time(t->pid) == t->pid_start_time;

                snprintf(msg, sizeof(msg), "the task's cgroup %s no longer exists (shim %d%s killed)",
                         t->cgroup_path, (int)t->shim_pid, task_alive ? " and the task's pid" : "");
                if (task_alive)
                        (void)kill(t->pid, SIGKILL);
                task_end_lost(t, SILO_REASON_CGROUP_LOST, msg);
                return 0;
        }
        if (has_cg && t->pid > 0 && t->pid_start_time && process_start_time(t->pid) == t->pid_start_time &&
            (r = cgroup_has_pid(cg_task_path(t->cg), t->pid)) == 0) {
                /* Alive, but moved out of its group: it no longer runs under its limits. */
                snprintf(msg, sizeof(msg), "the task's pid %d is no longer in its cgroup %s (shim %d killed)",
                         (int)t->pid, cg_task_path(t->cg), (int)t->shim_pid);
                (void)kill(t->pid, SIGKILL);
                task_end_lost(t, SILO_REASON_CGROUP_LOST, msg);
                return 0;
        }
        if (has_cg) {
                r = task_watch_cgroup(t);
                if (r < 0)
                        log_warning_errno(r, "Task %s: cannot watch its cgroup events: %m", t->id);
                (void)cg_task_oom_killed(t->cg, &t->oom_kills);
        }
        r = task_watch_shim(t);
        if (r < 0)
                log_warning_errno(r, "Task %s: cannot watch its shim (pid %d): %m", t->id, (int)t->shim_pid);
        return 0;
}

struct shim_orphan_ctx {
        struct agent *a;
        size_t killed;
};

/* A shim whose sandbox (under ours) belongs to no task we know: kill it. */
static int shim_orphan_one(pid_t pid, void *userdata)
{
        struct shim_orphan_ctx *c = userdata;
        _cleanup_free_ char *sandbox = shim_sandbox(c->a, pid);
        const char *id;

        if (!sandbox)
                return 0;
        id = sandbox + strlen(c->a->sandboxes_dir) + 1;
        if (agent_task_find(c->a, id))
                return 0;
        if (kill(pid, SIGKILL) == 0) {
                log_notice("Killed shim %d of unknown task %s (no checkpoint)", (int)pid, id);
                c->killed++;
        }
        return 0;
}

static int shim_unexec_one(pid_t pid, void *userdata)
{
        struct agent *a = userdata;
        _cleanup_free_ char *sandbox = shim_sandbox(a, pid);

        if (sandbox)
                return 0;
        /* What else lives in <root>/shims: the previous agent's shim server (it exits when
         * that agent's socket closes, but may not have yet), a shim it forked that has not
         * named itself yet (so has not started its task), and the previous agent's child
         * between clone3() and the server's exec. None of them is a task's. */
        if (kill(pid, SIGKILL) == 0)
                log_notice("Killed process %d in %s/shims: the previous agent's shim server, or a process "
                           "that had not become a shim yet", (int)pid, cg_hierarchy_root(a->cg));
        return 0;
}

static void shims_unexec_kill(struct agent *a)
{
        (void)shims_foreach(a, shim_unexec_one, a);
}

/*
 * What no checkpoint knows: cgroups under <root>/tasks and sandboxes under
 * <state-dir>/sandboxes (a checkpoint lost to disk trouble, or a state dir reset by hand).
 * Their tasks cannot be reported or managed, so they are killed and removed, and logged.
 */
static void agent_leftovers_remove(struct agent *a)
{
        _cleanup_(strv_freep) char **ids = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        struct shim_orphan_ctx oc = {.a = a};
        struct dirent *de;
        int r;

        (void)shims_foreach(a, shim_orphan_one, &oc);

        r = cg_hierarchy_list_tasks(a->cg, &ids);
        if (r < 0)
                log_warning_errno(r, "Cannot list the task cgroups under %s: %m", cg_hierarchy_root(a->cg));
        for (size_t i = 0; ids && ids[i]; i++) {
                struct cg_task *cg = NULL;

                if (agent_task_find(a, ids[i]))
                        continue;
                r = cg_task_open(a->cg, ids[i], &cg);
                if (r >= 0)
                        r = cg_task_destroy(cg, 1000000);
                if (r < 0)
                        log_warning_errno(r, "Cannot remove the leftover cgroup %s/tasks/%s: %m",
                                          cg_hierarchy_root(a->cg), ids[i]);
                else
                        log_notice("Removed leftover cgroup %s/tasks/%s (no checkpoint knows task %s)",
                                   cg_hierarchy_root(a->cg), ids[i], ids[i]);
                cg_task_free(cg);
        }

        d = opendir(a->sandboxes_dir);
        while (d && (de = readdir(d))) {
                char path[PATH_MAX];

                if (de->d_name[0] == '.' || agent_task_find(a, de->d_name))
                        continue;
                snprintf(path, sizeof(path), "%s/%s", a->sandboxes_dir, de->d_name);
                r = rm_rf(path);
                if (r < 0)
                        log_warning_errno(r, "Cannot remove the leftover sandbox %s: %m", path);
                else
                        log_notice("Removed leftover sandbox %s (no checkpoint knows task %s)", path,
                                   de->d_name);
        }
}

/*
 * A checkpoint whose text is not a task (-EBADMSG, -EINVAL from the codec).
 *
 * Empty: the first checkpoint of a launch, written without fsync (task_start()), that a power
 * loss cut short. That launch was never answered, so it is forgotten as an unstarted one is;
 * the master's retry starts it.
 *
 * Otherwise (disk trouble: every later checkpoint is fsynced before its rename): the task
 * cannot be reported or managed, so its processes and group go as an unknown task's do
 * (agent_leftovers_remove()), but what there is to learn from stays: the checkpoint moves to
 * tasks/<id>.json.bad, which recovery does not load, and the sandbox (stdout, stderr,
 * exit.json) to sandboxes/.bad-<id>, which neither the leftover scan nor a new launch of the
 * same id touches. Both stay until an operator removes them.
 */
static void checkpoint_unreadable(struct agent *a, const char *path, const char *id, int error)
{
        char bad[PATH_MAX + sizeof(".bad")], sandbox[PATH_MAX], kept[PATH_MAX + sizeof("/.bad-")];
        struct stat st;

        if (stat(path, &st) == 0 && st.st_size == 0) {
                if (unlink(path) == 0)
                        log_notice("Removed the empty checkpoint %s: a launch cut short by a power "
                                   "loss before it was answered", path);
                return;
        }
        snprintf(bad, sizeof(bad), "%s.bad", path);
        if (rename(path, bad) < 0) {
                log_warning_errno(error, "Ignoring the unreadable checkpoint %s (%m); cannot set it "
                                  "aside as %s: %s", path, bad, strerror(errno));
                return;
        }
        snprintf(sandbox, sizeof(sandbox), "%s/%s", a->sandboxes_dir, id);
        snprintf(kept, sizeof(kept), "%s/.bad-%s", a->sandboxes_dir, id);
        if (rename(sandbox, kept) < 0 && errno != ENOENT)
                log_warning_errno(errno, "Cannot keep the sandbox %s as %s: %m", sandbox, kept);
        log_warning_errno(error, "Unreadable checkpoint %s (%m): set aside as %s, its sandbox kept "
                          "as %s; its task's processes and group are removed as an unknown task's",
                          path, bad, kept);
}

int agent_tasks_recover(struct agent *a)
{
        _cleanup_closedir_ DIR *d = opendir(a->tasks_dir);
        struct dirent *de;

        if (!d && errno != ENOENT)
                return negative_errno();
        /* Load every checkpoint first, so that the leftover scan and the live tasks see the
         * whole picture. */
        while (d && (de = readdir(d))) {
                char path[PATH_MAX];
                size_t len = strlen(de->d_name);
                struct task *t = NULL;
                int r;

                snprintf(path, sizeof(path), "%s/%s", a->tasks_dir, de->d_name);
                if (strstr(de->d_name, ".json.tmp.")) {
                        /* A checkpoint write a crash interrupted (file_write_replace()): the
                         * checkpoint it was replacing, if any, is whole. */
                        if (unlink(path) == 0)
                                log_notice("Removed %s, a checkpoint write cut short by a crash", path);
                        continue;
                }
                if (len < 6 || !streq(de->d_name + len - 5, ".json"))
                        continue;
                r = task_from_checkpoint(a, path, &t);
                if (r == -EBADMSG || r == -EINVAL) {
                        char id[NAME_MAX + 1];

                        snprintf(id, sizeof(id), "%.*s", (int)(len - 5), de->d_name);
                        checkpoint_unreadable(a, path, id, r);
                        continue;
                }
                /* Out of memory, or a read error: nothing is decided on a checkpoint not read
                 * (the agent does not start; main.c says which). */
                if (r < 0)
                        return log_error_errno(r, "Cannot read the checkpoint %s: %m", path);
                if (agent_task_add(a, t) < 0) {
                        task_free(t);
                        return -ENOMEM;
                }
                /* An ended task is compact from the start (its group, if any, is opened and
                 * removed below and by housekeeping without the spec): thousands of kept
                 * ended tasks do not all hold their specs at once during a restart. */
                (void)task_compact(t);
        }
        /* A fork of the dead agent that had not yet become a shim would start its task late,
         * behind the back of the decisions below. */
        shims_unexec_kill(a);
        for (size_t i = 0; i < a->n_tasks; i++) {
                struct task *t = a->tasks[i];

                if (silo_task_state_is_terminal(t->state)) {
                        /* A group that was slow to empty before the restart: housekeeping
                         * removes it. */
                        if (t->cgroup_path && cg_task_open(a->cg, t->id, &t->cg) < 0)
                                t->cg = NULL;
                        continue;
                }
                if (task_recover_live(t) > 0) {
                        task_forget_unstarted(t);
                        agent_task_remove(a, t);
                        task_free(t);
                        i--;
                }
        }
        agent_leftovers_remove(a);
        return 0;
}
