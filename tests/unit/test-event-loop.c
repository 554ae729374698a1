/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the io_uring event loop: fds, timers, signals, pidfds, post sources, the
 * watchdog, removal from callbacks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/event-loop.h"
#include "common/macro.h"

struct counter {
        int calls;
        int destroyed;
        uint64_t last;
        uint64_t stamp[8];
        struct event_source *self;
        int remove_after;
};

static void counter_destroy(void *p)
{
        ((struct counter *)p)->destroyed++;
}

static int on_timer(struct event_source *s, uint64_t n, void *p)
{
        struct counter *c = p;

        if (c->calls < (int)ELEMENTSOF(c->stamp))
                c->stamp[c->calls] = now_usec();
        c->calls++;
        c->last = n;
        if (c->remove_after && c->calls == c->remove_after)
                event_source_remove(s);
        return 0;
}

static int run_until(struct event_loop *l, int *flag, int want, uint64_t max_usec)
{
        uint64_t end = now_usec() + max_usec;

        while (*flag < want) {
                uint64_t now = now_usec();
                int r;

                if (now >= end)
                        return -ETIMEDOUT;
                r = event_loop_iterate(l, end - now);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void test_timer_oneshot_and_order(void **state)
{
        _cleanup_(event_loop_freep) struct event_loop *l = NULL;
        struct counter a = {}, b = {};
        uint64_t t0;

        (void)state;
        assert_int_equal(event_loop_new(&l), 0);
        t0 = now_usec();
        assert_int_equal(event_loop_add_timer(l, 60000, 0, on_timer, &a, counter_destroy, NULL), 0);
        assert_int_equal(event_loop_add_timer(l, 20000, 0, on_timer, &b, counter_destroy, NULL), 0);
        assert_int_equal(event_loop_n_sources(l), 2);
        assert_int_equal(run_until(l, &a.calls, 1, 2000000), 0);
        /* b (20 ms) fired before a (60 ms), each exactly once, and not early. */
        assert_int_equal(b.calls, 1);
        assert_true(b.stamp[0] < a.stamp[0]);
        assert_true(b.stamp[0] - t0 >= 20000);
        assert_true(a.stamp[0] - t0 >= 60000);
        /* A one-shot timer stays quiet afterwards. */
        assert_int_equal(event_loop_iterate(l, 100000), 0);
        assert_int_equal(a.calls, 1);
        l = event_loop_free(l);
        assert_int_equal(a.destroyed, 1);
        assert_int_equal(b.destroyed, 1);
}

static void test_timer_interval_and_remove_in_callback(void **state)
{
        _cleanup_(event_loop_freep) struct event_loop *l = NULL;
        struct counter c = {.remove_after = 3};
        uint64_t t0;

        (void)state;
        assert_int_equal(event_loop_new(&l), 0);
        t0 = now_usec();
        assert_int_equal(event_loop_add_timer(l, 5000, 5000, on_timer, &c, counter_destroy, NULL), 0);
        assert_int_equal(run_until(l, &c.calls, 3, 2000000), 0);
        assert_int_equal(c.destroyed, 1);
        assert_int_equal(event_loop_n_sources(l), 0);
        /* Removed from its own callback: no further calls. */
        assert_int_equal(event_loop_iterate(l, 50000), 0);
        assert_int_equal(c.calls, 3);
        /* A timer never fires early, but a loaded machine may delay the loop so that missed
         * expirations are delivered back to back: assert only that the third expiration
         * came no sooner than three intervals after arming. */
        assert_true(c.stamp[2] - t0 >= 15000);
}

static void test_timer_rearm(void **state)
{
        _cleanup_(event_loop_freep) struct event_loop *l = NULL;
        struct event_source *s = NULL;
        struct counter c = {};

        (void)state;
        assert_int_equal(event_loop_new(&l), 0);
        assert_int_equal(event_loop_add_timer(l, 1000, 0, on_timer, &c, NULL, &s), 0);
        assert_int_equal(run_until(l, &c.calls, 1, 1000000), 0);
        assert_int_equal(event_source_set_time(s, 1000, 0), 0);
        assert_int_equal(run_until(l, &c.calls, 2, 1000000), 0);
        event_source_remove(s);
        assert_int_equal(event_loop_n_sources(l), 0);
}

struct pipe_reader {
        int calls;
        char buf[64];
        size_t len;
        int fail_with;
};

static int on_readable(struct event_source *s, int fd, uint32_t revents, void *p)
{
        struct pipe_reader *r = p;
        ssize_t n;

        (void)s;
        assert_true(revents & POLLIN);
        r->calls++;
        n = read(fd, r->buf + r->len, sizeof(r->buf) - 1 - r->len);
        if (n > 0)
                r->len += (size_t)n;
        return r->fail_with;
}

/* A new loop watching the read end of a new pipe p (edge-triggered, on_readable into pr). */
static void loop_with_pipe(struct event_loop **l, int p[2], struct pipe_reader *pr)
{
        assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
        assert_int_equal(event_loop_new(l), 0);
        assert_int_equal(event_loop_add_io(*l, p[0], POLLIN, EVENT_IO_OWN_FD, on_readable, pr,
                                           NULL, NULL), 0);
}

static void test_io_edge_and_level(void **state)
{
        _cleanup_(event_loop_freep) struct event_loop *l = NULL;
        struct pipe_reader pr = {};
        int p[2];

        (void)state;
        loop_with_pipe(&l, p, &pr);
        assert_int_equal(write(p[1], "abc", 3), 3);
        assert_int_equal(run_until(l, &pr.calls, 1, 1000000), 0);
        assert_int_equal(write(p[1], "def", 3), 3);
        assert_int_equal(run_until(l, &pr.calls, 2, 1000000), 0);
        assert_int_equal(pr.len, 6);
        assert_memory_equal(pr.buf, "abcdef", 6);
        /* Nothing more to read: no spurious callback. */
        assert_int_equal(event_loop_iterate(l, 50000), 0);
        assert_int_equal(pr.calls, 2);
        close(p[1]);
}

static int on_level_peek(struct event_source *s, int fd, uint32_t revents, void *p)
{
        struct pipe_reader *r = p;
        char c;

        (void)s;
        (void)revents;
        /* Consume one byte per call: a level-triggered source must call back until empty. */
        r->calls++;
        if (read(fd, &c, 1) == 1)
                r->buf[r->len++] = c;
        return 0;
}

static void test_io_level_rearms(void **state)
{
        _cleanup_(event_loop_freep) struct event_loop *l = NULL;
        struct pipe_reader pr = {};
        int p[2];

        (void)state;
        assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
        assert_int_equal(event_loop_new(&l), 0);
        assert_int_equal(event_loop_add_io(l, p[0], POLLIN, EVENT_IO_LEVEL | EVENT_IO_OWN_FD,
                                           on_level_peek, &pr, NULL, NULL), 0);
        assert_int_equal(write(p[1], "xyz", 3), 3);
        assert_int_equal(run_until(l, &pr.calls, 3, 1000000), 0);
        assert_memory_equal(pr.buf, "xyz", 3);
        assert_int_equal(event_loop_iterate(l, 50000), 0);
        assert_int_equal(pr.calls, 3);
        close(p[1]);
}

static void test_callback_error_stops_loop(void **state)
{
        _cleanup_(event_loop_freep) struct event_loop *l = NULL;
        struct pipe_reader pr = {.fail_with = -EPROTO};
        int p[2];

        (void)state;
        loop_with_pipe(&l, p, &pr);
        assert_int_equal(write(p[1], "a", 1), 1);
        assert_int_equal(event_loop_run(l), -EPROTO);
        assert_true(event_loop_exiting(l));
        close(p[1]);
}

static int exit_loop_timer(struct event_source *s, uint64_t n, void *p)
{
        (void)s;
        (void)n;
        event_loop_exit(p, 42);
        return 0;
}

static void test_exit_code(void **state)
{
        _cleanup_(event_loop_freep) struct event_loop *l = NULL;

        (void)state;
        assert_int_equal(event_loop_new(&l), 0);
        assert_int_equal(event_loop_add_timer(l, 1000, 0, exit_loop_timer, l, NULL, NULL), 0);
        assert_int_equal(event_loop_run(l), 42);
}

static int on_signal(struct event_source *s, const struct signalfd_siginfo *si, void *p)
{
        struct counter *c = p;

        (void)s;
        c->calls++;
        c->last = si->ssi_signo;
        return 0;
}

static void test_signal(void **state)
{
        _cleanup_(event_loop_freep) struct event_loop *l = NULL;
        struct counter c = {};
        struct event_source *s = NULL;
        sigset_t cur;

        (void)state;
        assert_int_equal(event_loop_new(&l), 0);
        assert_int_equal(event_loop_add_signal(l, SIGUSR1, on_signal, &c, NULL, &s), 0);
        assert_int_equal(kill(getpid(), SIGUSR1), 0);
        assert_int_equal(run_until(l, &c.calls, 1, 1000000), 0);
        assert_int_equal(c.last, SIGUSR1);
        event_source_remove(s);
        /* The signal is unblocked again once its source is gone. */
        assert_int_equal(sigprocmask(SIG_BLOCK, NULL, &cur), 0);
        assert_false(sigismember(&cur, SIGUSR1));
}

struct child_watch {
        int calls;
        int status;
};

static int on_child(struct event_source *s, int fd, uint32_t revents, void *p)
{
        struct child_watch *w = p;
        siginfo_t si = {};

        (void)revents;
        w->calls++;
        assert_int_equal(waitid(P_PIDFD, (id_t)fd, &si, WEXITED), 0);
        w->status = si.si_status;
        event_source_remove(s);
        return 0;
}

static void test_pidfd(void **state)
{
        _cleanup_(event_loop_freep) struct event_loop *l = NULL;
        struct child_watch w = {};
        pid_t pid;
        int pidfd;

        (void)state;
        assert_int_equal(event_loop_new(&l), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                usleep(20000);
                _exit(7);
        }
        pidfd = pidfd_open(pid, 0);
        assert_true(pidfd >= 0);
        assert_int_equal(event_loop_add_pidfd(l, pidfd, on_child, &w, NULL, NULL), 0);
        assert_int_equal(run_until(l, &w.calls, 1, 2000000), 0);
        assert_int_equal(w.status, 7);
        assert_int_equal(event_loop_n_sources(l), 0);
        close(pidfd);
}

/* Removing another armed source from a callback must neither call it nor crash. */
struct pair {
        struct event_source *victim;
        struct counter *victim_counter;
        int calls;
};

static int remove_other(struct event_source *s, uint64_t n, void *p)
{
        struct pair *pp = p;

        (void)n;
        pp->calls++;
        pp->victim = event_source_remove(pp->victim);
        event_source_remove(s);
        return 0;
}

static void test_remove_other_source(void **state)
{
        _cleanup_(event_loop_freep) struct event_loop *l = NULL;
        struct counter victim = {};
        struct pair pp = {};

        (void)state;
        assert_int_equal(event_loop_new(&l), 0);
        /* Both due at once: whichever runs first removes the other. */
        assert_int_equal(event_loop_add_timer(l, 10000, 1000, on_timer, &victim, counter_destroy,
                                              &pp.victim), 0);
        assert_int_equal(event_loop_add_timer(l, 1000, 0, remove_other, &pp, NULL, NULL), 0);
        assert_int_equal(run_until(l, &pp.calls, 1, 1000000), 0);
        assert_int_equal(victim.destroyed, 1);
        for (int i = 0; i < 5; i++)
                (void)event_loop_iterate(l, 10000);
        assert_int_equal(victim.calls, 0);
        assert_int_equal(event_loop_n_sources(l), 0);
}

static void test_many_sources(void **state)
{
        _cleanup_(event_loop_freep) struct event_loop *l = NULL;
        struct counter c[300] = {};
        int total = 0;

        (void)state;
        assert_int_equal(event_loop_new(&l), 0);
        /* More sources than SQ entries: the loop must flush the SQ on demand. */
        for (int i = 0; i < 300; i++)
                assert_int_equal(event_loop_add_timer(l, 1000 + (uint64_t)i * 10, 0, on_timer,
                                                      &c[i], NULL, NULL), 0);
        for (uint64_t end = now_usec() + 3000000; now_usec() < end;) {
                total = 0;
                for (int i = 0; i < 300; i++)
                        total += c[i].calls;
                if (total == 300)
                        break;
                (void)event_loop_iterate(l, 100000);
        }
        assert_int_equal(total, 300);
}

/* What a post source saw: the order of calls, by tag, and what the io source had read. */
struct post_log {
        char order[16];
        size_t n;
        struct pipe_reader *pr;
        size_t seen_len[8];
        int fail_at;         /* return -EPROTO at this call of tag 'b' (0: never) */
        int remove_after;    /* remove itself after this many calls (0: never) */
        int destroyed;
};

static int on_post(struct event_source *s, void *p, char tag)
{
        struct post_log *log = p;
        size_t calls = 0;

        if (log->n < sizeof(log->order) - 1)
                log->order[log->n++] = tag;
        for (size_t i = 0; i < log->n; i++)
                calls += log->order[i] == tag;
        if (tag == 'a' && calls <= ELEMENTSOF(log->seen_len) && log->pr)
                log->seen_len[calls - 1] = log->pr->len;
        if (tag == 'b' && log->remove_after && (int)calls == log->remove_after)
                event_source_remove(s);
        if (tag == 'b' && log->fail_at && (int)calls == log->fail_at)
                return -EPROTO;
        return 0;
}

static int on_post_a(struct event_source *s, void *p)
{
        return on_post(s, p, 'a');
}

static int on_post_b(struct event_source *s, void *p)
{
        return on_post(s, p, 'b');
}

static void post_destroy(void *p)
{
        ((struct post_log *)p)->destroyed++;
}

static void test_post_sources(void **state)
{
        _cleanup_(event_loop_freep) struct event_loop *l = NULL;
        struct pipe_reader pr = {};
        struct post_log log = {.pr = &pr, .remove_after = 2};
        int p[2];

        (void)state;
        loop_with_pipe(&l, p, &pr);
        assert_int_equal(event_loop_add_post(l, on_post_a, &log, NULL, NULL), 0);
        assert_int_equal(event_loop_add_post(l, on_post_b, &log, post_destroy, NULL), 0);
        assert_int_equal(event_loop_n_sources(l), 3);

        /* After the ready source was dispatched, in the order they were added. */
        assert_int_equal(write(p[1], "abc", 3), 3);
        assert_int_equal(run_until(l, &pr.calls, 1, 1000000), 0);
        assert_string_equal(log.order, "ab");
        assert_int_equal(log.seen_len[0], 3);
        /* Also after a wait that timed out; 'b' removes itself at its second call. */
        assert_int_equal(event_loop_iterate(l, 1000), 0);
        assert_string_equal(log.order, "abab");
        assert_int_equal(log.destroyed, 1);
        assert_int_equal(event_loop_n_sources(l), 2);
        assert_int_equal(event_loop_iterate(l, 1000), 0);
        assert_string_equal(log.order, "ababa");
        close(p[1]);
}

static void test_post_error_stops_loop(void **state)
{
        _cleanup_(event_loop_freep) struct event_loop *l = NULL;
        struct post_log log = {.fail_at = 3};
        struct counter c = {};

        (void)state;
        assert_int_equal(event_loop_new(&l), 0);
        assert_int_equal(event_loop_add_timer(l, 1000, 1000, on_timer, &c, NULL, NULL), 0);
        assert_int_equal(event_loop_add_post(l, on_post_b, &log, post_destroy, NULL), 0);
        assert_int_equal(event_loop_run(l), -EPROTO);
        assert_string_equal(log.order, "bbb");
        assert_int_equal(log.destroyed, 0);
        l = event_loop_free(l);
        assert_int_equal(log.destroyed, 1);
}

/* The watchdog timer sends WATCHDOG=1 to $NOTIFY_SOCKET every half of $WATCHDOG_USEC, and is
 * not added without them. */
static void test_watchdog(void **state)
{
        _cleanup_(event_loop_freep) struct event_loop *l = NULL;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        struct event_source *s = NULL;
        char path[] = "/tmp/test-event-loop-notify.XXXXXX", sock[64], buf[64], pid[16];
        int fd, n = 0;
        uint64_t t0;

        (void)state;
        assert_int_equal(event_loop_new(&l), 0);
        unsetenv("WATCHDOG_USEC");
        assert_int_equal(event_loop_add_watchdog(l, &s), 0);
        assert_null(s);

        assert_non_null(mkdtemp(path));
        snprintf(sock, sizeof(sock), "%s/notify", path);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        snprintf(pid, sizeof(pid), "%d", (int)getpid());
        setenv("NOTIFY_SOCKET", sock, 1);
        setenv("WATCHDOG_PID", pid, 1);
        setenv("WATCHDOG_USEC", "40000", 1);
        assert_int_equal(event_loop_add_watchdog(l, &s), 1);
        assert_non_null(s);
        t0 = now_usec();
        while (n < 2 && now_usec() - t0 < 2000000) {
                ssize_t k;

                (void)event_loop_iterate(l, 10000);
                while ((k = recv(fd, buf, sizeof(buf) - 1, 0)) > 0) {
                        buf[k] = '\0';
                        assert_string_equal(buf, "WATCHDOG=1");
                        n++;
                }
        }
        assert_int_equal(n, 2);
        /* Two pings, 20 ms apart: not before the first half period. */
        assert_true(now_usec() - t0 >= 35000);
        unsetenv("NOTIFY_SOCKET");
        unsetenv("WATCHDOG_PID");
        unsetenv("WATCHDOG_USEC");
        close(fd);
        unlink(sock);
        rmdir(path);
}

static void test_bad_args(void **state)
{
        _cleanup_(event_loop_freep) struct event_loop *l = NULL;
        struct pipe_reader pr = {};

        (void)state;
        assert_int_equal(event_loop_new(&l), 0);
        assert_int_equal(event_loop_add_io(l, -1, POLLIN, 0, on_readable, &pr, NULL, NULL), -EBADF);
        assert_int_equal(event_loop_add_signal(l, 9999, on_signal, NULL, NULL, NULL), -EINVAL);
        assert_null(event_source_remove(NULL));
        assert_int_equal(event_loop_n_sources(l), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_timer_oneshot_and_order),
                cmocka_unit_test(test_timer_interval_and_remove_in_callback),
                cmocka_unit_test(test_timer_rearm),
                cmocka_unit_test(test_io_edge_and_level),
                cmocka_unit_test(test_io_level_rearms),
                cmocka_unit_test(test_callback_error_stops_loop),
                cmocka_unit_test(test_exit_code),
                cmocka_unit_test(test_signal),
                cmocka_unit_test(test_pidfd),
                cmocka_unit_test(test_remove_other_source),
                cmocka_unit_test(test_many_sources),
                cmocka_unit_test(test_bad_args),
                cmocka_unit_test(test_post_sources),
                cmocka_unit_test(test_post_error_stops_loop),
                cmocka_unit_test(test_watchdog),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
