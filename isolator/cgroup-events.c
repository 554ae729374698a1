/* SPDX-License-Identifier: Apache-2.0 */
/* Task group events: an inotify fd on cgroup.events and memory.events, OOM and emptiness. */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "common/fileio.h"
#include "isolator/cgroup-internal.h"

/* cgroup.events is a core cgroup file, not a controller's: libcgroup cannot read it. */
int cg_task_events_read(const struct cg_task *t, bool *ret_populated, bool *ret_frozen)
{
        _cleanup_free_ char *p = NULL, *s = NULL;
        int r;

        if (asprintf(&p, "%s/cgroup.events", t->path) < 0)
                return -ENOMEM;
        r = file_read_full(p, 0, &s, NULL);
        if (r < 0)
                return r;
        return cg_parse_events(s, ret_populated, ret_frozen);
}

int cg_task_is_populated(struct cg_task *t)
{
        bool populated;
        int r = cg_task_events_read(t, &populated, NULL);

        return r < 0 ? r : populated;
}

int cg_task_oom_killed(struct cg_task *t, uint64_t *ret_count)
{
        _cleanup_free_ char *s = NULL;
        struct cg_memory_events e;
        int r;

        r = cg_attr_read(t->rel, "memory.events", &s);
        if (r < 0)
                return r;
        r = cg_parse_memory_events(s, &e);
        if (r < 0)
                return r;
        *ret_count = e.oom_kill;
        return 0;
}

/* The kernel signals changes of both files with IN_MODIFY (cgroup_file_notify). */
int cg_task_events_fd(struct cg_task *t)
{
        static const char *const files[] = { "cgroup.events", "memory.events" };
        _cleanup_close_ int fd = -EBADF;

        if (t->inotify_fd >= 0)
                return t->inotify_fd;
        fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *p = NULL;
                int wd;

                if (asprintf(&p, "%s/%s", t->path, files[i]) < 0)
                        return -ENOMEM;
                wd = inotify_add_watch(fd, p, IN_MODIFY);
                if (wd < 0)
                        return negative_errno();
                if (i == 0)
                        t->wd_cgroup_events = wd;
        }
        (void)cg_task_events_read(t, &t->last_populated, &t->last_frozen);
        (void)cg_task_oom_killed(t, &t->last_oom_kill);
        t->inotify_fd = TAKE_FD(fd);
        return t->inotify_fd;
}

int cg_task_events_process(struct cg_task *t, unsigned *ret_events)
{
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        bool populated, frozen, events_changed = false;
        /* Without a watch (none set up yet) memory.events is read each time. */
        bool memory_changed = t->inotify_fd < 0;
        unsigned ev = 0;
        uint64_t oom;
        int r;

        if (t->inotify_fd >= 0)
                for (;;) {
                        ssize_t n = read(t->inotify_fd, buf, sizeof(buf));

                        for (ssize_t off = 0; n > 0 && off < n;) {
                                const struct inotify_event *e = (const void *)(buf + off);

                                events_changed |= e->wd == t->wd_cgroup_events;
                                /* memory.events' watch, or IN_Q_OVERFLOW (wd -1): events
                                 * were dropped, so it may have changed too. */
                                memory_changed |= e->wd != t->wd_cgroup_events;
                                off += (ssize_t)(sizeof(*e) + e->len);
                        }
                        if (n > 0)
                                continue;
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n < 0 && errno != EAGAIN)
                                return negative_errno();
                        break;
                }
        /* Compare with the last state rather than trusting each event: events coalesce. */
        r = cg_task_events_read(t, &populated, &frozen);
        if (r < 0)
                return r;
        /* Populated 1 -> 0 may have come and gone between two calls (a short-lived task):
         * a cgroup.events change that leaves the group empty counts as "became empty". */
        if (!populated && (t->last_populated || events_changed))
                ev |= CG_EVENT_EMPTY;
        if (t->last_frozen != frozen)
                ev |= CG_EVENT_FROZEN;
        t->last_populated = populated;
        t->last_frozen = frozen;
        /* memory.events is read only when its own watch fired: cgroup.events changes (a task's
         * group fills and empties) are the common events, and the kernel notifies each change
         * of memory.events (cgroup_file_notify()), so none is missed. */
        if (memory_changed && cg_task_oom_killed(t, &oom) >= 0) {
                if (oom > t->last_oom_kill)
                        ev |= CG_EVENT_OOM_KILL;
                t->last_oom_kill = oom;
        }
        *ret_events = ev;
        return 0;
}
