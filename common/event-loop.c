/* SPDX-License-Identifier: Apache-2.0 */
/* The io_uring event loop: one POLL_ADD per source, completions dispatched to callbacks. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "common/event-loop.h"
#include "common/log.h"
#include "common/macro.h"

enum source_type {
        SOURCE_IO,
        SOURCE_TIMER,
        SOURCE_SIGNAL,
        SOURCE_POST, /* no fd: runs at the end of every iteration */
};

struct event_source {
        struct event_loop *loop;
        struct event_source *prev, *next;
        enum source_type type;
        int fd;
        uint32_t events;
        unsigned flags;
        int sig;
        union {
                event_io_cb io;
                event_timer_cb timer;
                event_signal_cb signal;
                event_post_cb post;
        } cb;
        void *user_data;
        event_destroy_cb destroy;
        bool armed;       /* a poll request for this source is in the kernel */
        bool multishot;   /* ... and it is a multishot one */
        bool dead;        /* removed by the user; freed when the kernel lets go */
        bool dispatching; /* its callback is on the stack */
        bool disabled;    /* a one-shot source that fired */
};

struct event_loop {
        struct io_uring ring;
        struct event_source *sources;
        struct event_source *posts; /* SOURCE_POST, in the order they were added */
        unsigned n_live;
        bool use_multishot;
        bool exiting;
        int exit_code;
};

int event_loop_new(struct event_loop **ret)
{
        struct event_loop *l;
        int r;

        assert(ret);
        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        /* 256 entries is plenty: only re-arms and removals go through the SQ, and a full SQ is
         * flushed on demand. The CQ is twice as large and the kernel never drops CQEs. */
        r = io_uring_queue_init(256, &l->ring, 0);
        if (r < 0) {
                free(l);
                return r;
        }
        /* Multishot poll arrived in 5.13; an older kernel answers the first one with -EINVAL
         * and the loop falls back to re-arming one-shot polls (see handle_cqe()). */
        l->use_multishot = true;
        *ret = l;
        return 0;
}

static void source_unlink_free(struct event_source *s)
{
        struct event_loop *l = s->loop;

        if (s->prev)
                s->prev->next = s->next;
        else if (s->type == SOURCE_POST)
                l->posts = s->next;
        else
                l->sources = s->next;
        if (s->next)
                s->next->prev = s->prev;
        if (s->fd >= 0 && (s->flags & EVENT_IO_OWN_FD))
                close(s->fd);
        free(s);
}

static void source_release(struct event_source *s)
{
        if (s->destroy)
                s->destroy(s->user_data);
        s->destroy = NULL;
        if (s->type == SOURCE_SIGNAL) {
                sigset_t mask;

                sigemptyset(&mask);
                sigaddset(&mask, s->sig);
                (void)sigprocmask(SIG_UNBLOCK, &mask, NULL);
        }
}

struct event_loop *event_loop_free(struct event_loop *l)
{
        if (!l)
                return NULL;
        /* Tearing down the ring cancels every poll, so all sources can go at once. */
        io_uring_queue_exit(&l->ring);
        while (l->sources || l->posts) {
                struct event_source *s = l->sources ? l->sources : l->posts;

                if (!s->dead)
                        source_release(s);
                source_unlink_free(s);
        }
        free(l);
        return NULL;
}

static struct io_uring_sqe *get_sqe(struct event_loop *l)
{
        struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);

        if (!sqe) {
                (void)io_uring_submit(&l->ring);
                sqe = io_uring_get_sqe(&l->ring);
        }
        return sqe;
}

static int source_arm(struct event_source *s)
{
        struct event_loop *l = s->loop;
        struct io_uring_sqe *sqe;
        bool multi = l->use_multishot && !(s->flags & (EVENT_IO_LEVEL | EVENT_IO_ONESHOT));

        assert(!s->armed);
        sqe = get_sqe(l);
        if (!sqe)
                return -EBUSY;
        if (multi)
                io_uring_prep_poll_multishot(sqe, s->fd, s->events);
        else
                io_uring_prep_poll_add(sqe, s->fd, s->events);
        io_uring_sqe_set_data(sqe, s);
        s->armed = true;
        s->multishot = multi;
        return 0;
}

static int source_new(struct event_loop *l, enum source_type type, int fd, uint32_t events,
                      unsigned flags, void *user_data, event_destroy_cb destroy,
                      struct event_source **ret)
{
        struct event_source *s;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->loop = l;
        s->type = type;
        s->fd = fd;
        s->events = events;
        s->flags = flags;
        s->user_data = user_data;
        s->destroy = destroy;
        s->next = l->sources;
        if (l->sources)
                l->sources->prev = s;
        l->sources = s;

        r = source_arm(s);
        if (r < 0) {
                /* The caller keeps ownership of fd and user_data on failure. */
                s->flags &= ~EVENT_IO_OWN_FD;
                source_unlink_free(s);
                return r;
        }
        l->n_live++;
        *ret = s;
        return 0;
}

int event_loop_add_io(struct event_loop *l, int fd, uint32_t events, unsigned flags,
                      event_io_cb cb, void *user_data, event_destroy_cb destroy,
                      struct event_source **ret)
{
        struct event_source *s;
        int r;

        assert(l);
        assert(cb);
        if (fd < 0)
                return -EBADF;
        r = source_new(l, SOURCE_IO, fd, events, flags, user_data, destroy, &s);
        if (r < 0)
                return r;
        s->cb.io = cb;
        if (ret)
                *ret = s;
        return 0;
}

int event_loop_add_pidfd(struct event_loop *l, int pidfd, event_io_cb cb, void *user_data,
                         event_destroy_cb destroy, struct event_source **ret)
{
        /* A pidfd turns readable once, when the process exits, and stays so. */
        return event_loop_add_io(l, pidfd, POLLIN, EVENT_IO_ONESHOT, cb, user_data, destroy,
                                 ret);
}

static void usec_to_timespec(uint64_t usec, struct timespec *ts)
{
        ts->tv_sec = (time_t)(usec / 1000000u);
        ts->tv_nsec = (long)(usec % 1000000u) * 1000L;
}

static int timerfd_arm(int fd, uint64_t usec, uint64_t interval_usec)
{
        struct itimerspec its = {};

        /* An all-zero it_value disarms a timerfd, so "now" is 1 ns from now. */
        if (usec == 0)
                its.it_value.tv_nsec = 1;
        else
                usec_to_timespec(usec, &its.it_value);
        usec_to_timespec(interval_usec, &its.it_interval);
        if (timerfd_settime(fd, 0, &its, NULL) < 0)
                return negative_errno();
        return 0;
}

int event_loop_add_timer(struct event_loop *l, uint64_t usec, uint64_t interval_usec,
                         event_timer_cb cb, void *user_data, event_destroy_cb destroy,
                         struct event_source **ret)
{
        _cleanup_close_ int fd = -EBADF;
        struct event_source *s;
        int r;

        assert(l);
        assert(cb);
        fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        r = timerfd_arm(fd, usec, interval_usec);
        if (r < 0)
                return r;
        r = source_new(l, SOURCE_TIMER, fd, POLLIN, EVENT_IO_OWN_FD, user_data, destroy, &s);
        if (r < 0)
                return r;
        TAKE_FD(fd);
        s->cb.timer = cb;
        if (ret)
                *ret = s;
        return 0;
}

int event_source_set_time(struct event_source *s, uint64_t usec, uint64_t interval_usec)
{
        assert(s);
        if (s->type != SOURCE_TIMER || s->dead)
                return -EINVAL;
        return timerfd_arm(s->fd, usec, interval_usec);
}

int event_loop_add_signal(struct event_loop *l, int sig, event_signal_cb cb, void *user_data,
                          event_destroy_cb destroy, struct event_source **ret)
{
        _cleanup_close_ int fd = -EBADF;
        struct event_source *s;
        sigset_t mask;
        int r;

        assert(l);
        assert(cb);
        sigemptyset(&mask);
        if (sigaddset(&mask, sig) < 0)
                return -EINVAL;
        /* A signal must be blocked to be queued for the signalfd rather than delivered. */
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return negative_errno();
        fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        r = source_new(l, SOURCE_SIGNAL, fd, POLLIN, EVENT_IO_OWN_FD, user_data, destroy, &s);
        if (r < 0)
                return r;
        TAKE_FD(fd);
        s->sig = sig;
        s->cb.signal = cb;
        if (ret)
                *ret = s;
        return 0;
}

int event_loop_add_post(struct event_loop *l, event_post_cb cb, void *user_data,
                        event_destroy_cb destroy, struct event_source **ret)
{
        struct event_source *s, **tail;

        assert(l);
        assert(cb);
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        *s = (struct event_source){
            .loop = l,
            .type = SOURCE_POST,
            .fd = -EBADF,
            .cb.post = cb,
            .user_data = user_data,
            .destroy = destroy,
        };
        for (tail = &l->posts; *tail; tail = &(*tail)->next)
                s->prev = *tail;
        *tail = s;
        l->n_live++;
        if (ret)
                *ret = s;
        return 0;
}

static int on_watchdog(struct event_source *s, uint64_t expirations, void *user_data)
{
        (void)s;
        (void)expirations;
        (void)user_data;
        (void)sd_notify(0, "WATCHDOG=1");
        return 0;
}

int event_loop_add_watchdog(struct event_loop *l, struct event_source **ret)
{
        uint64_t usec = 0;
        int r;

        if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
                return 0;
        r = event_loop_add_timer(l, usec / 2, usec / 2, on_watchdog, NULL, NULL, ret);
        return r < 0 ? r : 1;
}

struct event_source *event_source_remove(struct event_source *s)
{
        struct event_loop *l;

        if (!s || s->dead)
                return NULL;
        l = s->loop;
        s->dead = true;
        l->n_live--;
        source_release(s);

        if (s->armed) {
                struct io_uring_sqe *sqe = get_sqe(l);

                /* The source's memory stays until the poll's final CQE arrives: that CQE
                 * carries this pointer. The removal's own CQE has user_data 0. */
                if (sqe) {
                        io_uring_prep_poll_remove(sqe, (__u64)(uintptr_t)s);
                        io_uring_sqe_set_data(sqe, NULL);
                }
                return NULL;
        }
        if (!s->dispatching)
                source_unlink_free(s);
        return NULL;
}

int event_source_get_fd(const struct event_source *s)
{
        return s ? s->fd : -EBADF;
}

static int dispatch_timer(struct event_source *s)
{
        uint64_t n = 0;
        ssize_t k = read(s->fd, &n, sizeof(n));

        if (k < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : negative_errno();
        if (k != sizeof(n) || n == 0)
                return 0;
        return s->cb.timer(s, n, s->user_data);
}

static int dispatch_signal(struct event_source *s)
{
        for (;;) {
                struct signalfd_siginfo si;
                ssize_t k = read(s->fd, &si, sizeof(si));
                int r;

                if (k < 0)
                        return errno == EAGAIN || errno == EINTR ? 0 : negative_errno();
                if (k != sizeof(si))
                        return 0;
                r = s->cb.signal(s, &si, s->user_data);
                if (r < 0 || s->dead)
                        return r;
        }
}

static int handle_cqe(struct event_loop *l, struct event_source *s, int res, unsigned flags)
{
        uint32_t revents;
        int r = 0;

        if (!(flags & IORING_CQE_F_MORE))
                s->armed = false;
        if (s->dead) {
                if (!s->armed)
                        source_unlink_free(s);
                return 0;
        }
        if (res == -EINVAL && s->multishot && l->use_multishot) {
                /* Kernel without multishot poll: switch the whole loop to one-shot re-arming. */
                l->use_multishot = false;
                return s->armed ? 0 : MIN(source_arm(s), 0);
        }
        if (res == -ECANCELED && !s->armed)
                /* A multishot poll the kernel ended on its own (e.g. CQ overflow): re-arm. */
                return MIN(source_arm(s), 0);
        revents = res < 0 ? (uint32_t)POLLERR : (uint32_t)res;

        s->dispatching = true;
        switch (s->type) {
        case SOURCE_IO:
                if (s->flags & EVENT_IO_ONESHOT)
                        s->disabled = true;
                r = s->cb.io(s, s->fd, revents, s->user_data);
                break;
        case SOURCE_TIMER:
                r = dispatch_timer(s);
                break;
        case SOURCE_SIGNAL:
                r = dispatch_signal(s);
                break;
        case SOURCE_POST:
                assert(false); /* post sources have no poll: dispatch_posts() */
        }
        s->dispatching = false;
        if (r >= 0)
                r = 1;

        if (s->dead) {
                if (!s->armed)
                        source_unlink_free(s);
        } else if (!s->armed && !s->disabled) {
                int k = source_arm(s);
                if (k < 0)
                        r = k;
        }
        return r;
}

/* The post sources, in the order they were added; each may remove itself or another. */
static int dispatch_posts(struct event_loop *l)
{
        struct event_source *s, *next;

        for (s = l->posts; s; s = next) {
                int r = 0;

                if (!s->dead) {
                        s->dispatching = true;
                        r = s->cb.post(s, s->user_data);
                        s->dispatching = false;
                }
                next = s->next;
                if (s->dead)
                        source_unlink_free(s);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int iterate_fail(struct event_loop *l, int r)
{
        l->exiting = true;
        l->exit_code = r;
        return r;
}

int event_loop_iterate(struct event_loop *l, uint64_t timeout_usec)
{
        struct io_uring_cqe *cqe;
        struct __kernel_timespec ts;
        unsigned dispatched = 0;
        int r;

        assert(l);
        if (timeout_usec != UINT64_MAX) {
                ts.tv_sec = (long long)(timeout_usec / 1000000u);
                ts.tv_nsec = (long long)(timeout_usec % 1000000u) * 1000;
        }
        r = io_uring_submit_and_wait_timeout(&l->ring, &cqe, 1,
                                             timeout_usec == UINT64_MAX ? NULL : &ts, NULL);
        if (r < 0 && r != -ETIME && r != -EINTR)
                return r;

        /* Copy each CQE out and mark it seen before dispatching, so callbacks that add or
         * remove sources (and thereby submit) never see a half-consumed CQ. */
        while (io_uring_peek_cqe(&l->ring, &cqe) == 0) {
                struct event_source *s = io_uring_cqe_get_data(cqe);
                int res = cqe->res;
                unsigned flags = cqe->flags;

                io_uring_cqe_seen(&l->ring, cqe);
                if (!s)
                        continue;
                r = handle_cqe(l, s, res, flags);
                if (r > 0)
                        dispatched++;
                if (r < 0)
                        return iterate_fail(l, r);
                if (l->exiting)
                        break;
        }
        r = dispatch_posts(l);
        if (r < 0)
                return iterate_fail(l, r);
        return dispatched > 0;
}

int event_loop_run(struct event_loop *l)
{
        assert(l);
        while (!l->exiting) {
                int r = event_loop_iterate(l, UINT64_MAX);
                if (r < 0)
                        return r;
        }
        /* Submit pending removals so the kernel is consistent if the loop is run again. */
        (void)io_uring_submit(&l->ring);
        return l->exit_code;
}

void event_loop_exit(struct event_loop *l, int code)
{
        assert(l);
        l->exiting = true;
        l->exit_code = code;
}

bool event_loop_exiting(const struct event_loop *l)
{
        return l->exiting;
}

unsigned event_loop_n_sources(const struct event_loop *l)
{
        return l->n_live;
}

