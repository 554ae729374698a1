/* SPDX-License-Identifier: Apache-2.0 */
/* Kill, signal, freeze/thaw and destroy a task's group, leaving nothing behind. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/clock.h"
#include "isolator/cgroup-internal.h"

/* Signal every process in `path` and its descendants; returns how many were signalled. */
static int signal_walk(const char *path, int sig)
{
        _cleanup_free_ char *procs = NULL, *content = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int n = 0, r;

        if (asprintf(&procs, "%s/cgroup.procs", path) < 0)
                return -ENOMEM;
        /* cgroup.procs is a core file; libcgroup's task iterator wants a controller name
         * and silently merges threads, so read the pids directly. */
        r = file_read_full(procs, 0, &content, NULL);
        if (r < 0)
                return r == -ENOENT ? 0 : r;
        for (char *p = content; *p;) {
                char *end;
                long pid = strtol(p, &end, 10);

                if (end == p)
                        break;
                if (pid > 0 && kill((pid_t)pid, sig) == 0)
                        n++;
                p = end + strspn(end, "\n");
        }
        d = opendir(path);
        while (d && (de = readdir(d))) {
                _cleanup_free_ char *sub = NULL;

                if (de->d_type != DT_DIR || de->d_name[0] == '.')
                        continue;
                if (asprintf(&sub, "%s/%s", path, de->d_name) < 0)
                        return -ENOMEM;
                r = signal_walk(sub, sig);
                if (r > 0)
                        n += r;
        }
        return n;
}

int cg_task_write_core(const struct cg_task *t, const char *name, const char *value)
{
        _cleanup_free_ char *p = NULL;

        if (asprintf(&p, "%s/%s", t->path, name) < 0)
                return -ENOMEM;
        return file_write_string(p, value);
}

static bool has_file(const struct cg_task *t, const char *name)
{
        char p[PATH_MAX];

        snprintf(p, sizeof(p), "%s/%s", t->path, name);
        return access(p, F_OK) == 0;
}

int cg_task_freeze(struct cg_task *t, bool freeze)
{
        uint64_t deadline;
        int r;

        /* libcgroup has no freezer API for v2: cgroup.freeze is written directly. */
        r = cg_task_write_core(t, "cgroup.freeze", freeze ? "1" : "0");
        if (r < 0)
                return r;
        deadline = now_usec() + 1000000u;
        for (;;) {
                _cleanup_free_ char *p = NULL, *s = NULL;
                bool populated, frozen;

                if (asprintf(&p, "%s/cgroup.events", t->path) < 0)
                        return -ENOMEM;
                r = file_read_full(p, 0, &s, NULL);
                if (r < 0)
                        return r;
                r = cg_parse_events(s, &populated, &frozen);
                if (r < 0)
                        return r;
                if (frozen == freeze)
                        return 0;
                if (now_usec() > deadline)
                        return -ETIMEDOUT;
                usleep(5000);
        }
}

/* Kernels without cgroup.kill: freeze first so nothing forks while the walk runs, then
 * SIGKILL everything and thaw so the signals are delivered. */
int cg_task_kill_walk(struct cg_task *t)
{
        bool frozen = false;
        int r;

        if (has_file(t, "cgroup.freeze"))
                frozen = cg_task_freeze(t, true) >= 0;
        r = signal_walk(t->path, SIGKILL);
        if (frozen)
                (void)cg_task_freeze(t, false);
        return r < 0 ? r : 0;
}

int cg_task_kill(struct cg_task *t)
{
        /* cgroup.kill (5.14+) kills atomically, racing forks included; libcgroup has no call
         * for it, so it is written directly. */
        if (has_file(t, "cgroup.kill"))
                return cg_task_write_core(t, "cgroup.kill", "1");
        return cg_task_kill_walk(t);
}

/* rmdir depth first. libcgroup's cgroup_delete_cgroup() would migrate leftover processes
 * to the parent group, i.e. out of their limits, so removal is plain rmdir of empty groups. */
static int rmdir_tree(const char *path)
{
        _cleanup_closedir_ DIR *d = opendir(path);
        struct dirent *de;

        if (!d)
                return errno == ENOENT ? 0 : negative_errno();
        while ((de = readdir(d))) {
                _cleanup_free_ char *sub = NULL;
                int r;

                if (de->d_type != DT_DIR || de->d_name[0] == '.')
                        continue;
                if (asprintf(&sub, "%s/%s", path, de->d_name) < 0)
                        return -ENOMEM;
                r = rmdir_tree(sub);
                if (r < 0)
                        return r;
        }
        if (rmdir(path) < 0 && errno != ENOENT)
                return negative_errno();
        return 0;
}

int cg_task_destroy(struct cg_task *t, uint64_t timeout_usec)
{
        uint64_t deadline;
        int r;

        if (access(t->path, F_OK) < 0)
                return errno == ENOENT ? 0 : negative_errno();
        if (timeout_usec == 0)
                timeout_usec = 10u * 1000000u;
        deadline = now_usec() + timeout_usec;
        r = cg_task_kill(t);
        if (r < 0 && r != -ENOENT)
                return r;
        /* Wait for the kernel to reap everything (populated 0), re-killing on the way in
         * case a fork raced the walk fallback. */
        for (;;) {
                r = cg_task_is_populated(t);
                if (r == -ENOENT)
                        return 0;
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                if (now_usec() > deadline)
                        return -EBUSY;
                usleep(10000);
                (void)cg_task_kill(t);
        }
        /* The fds pin nothing (a removed cgroup's fd just goes stale), but close them now so
         * the handle cannot be used to clone into a dying group. */
        t->fd = safe_close(t->fd);
        t->inotify_fd = safe_close(t->inotify_fd);
        for (;;) {
                r = rmdir_tree(t->path);
                if (r != -EBUSY || now_usec() > deadline)
                        return r;
                usleep(10000);  /* populated 0 but the last exit not yet fully torn down */
        }
}
