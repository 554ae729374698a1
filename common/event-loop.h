/* SPDX-License-Identifier: Apache-2.0 */
/* A single-threaded event loop on io_uring: fds, timers, signals and child pidfds as poll sources. */
#pragma once

#include "common/clock.h"

#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include <sys/signalfd.h>

/* Everything the agent and the master wait for is a file descriptor: a socket, the
 * HTTP server's epoll fd, a pidfd, a timerfd, a signalfd, an inotify fd. The loop arms one
 * IORING_OP_POLL_ADD per source (multishot when the kernel has it) and dispatches the
 * completions to `(cb, user_data)`; `destroy(user_data)` runs once when the source goes away,
 * as in ell. All callbacks run on the thread that calls event_loop_run(). */

struct event_loop;
struct event_source;

/* Return < 0 from a callback to stop the loop: event_loop_run() then returns that value. */
typedef int (*event_io_cb)(struct event_source *s, int fd, uint32_t revents, void *user_data);
typedef int (*event_timer_cb)(struct event_source *s, uint64_t expirations, void *user_data);
typedef int (*event_signal_cb)(struct event_source *s, const struct signalfd_siginfo *si,
                               void *user_data);
typedef int (*event_post_cb)(struct event_source *s, void *user_data);
typedef void (*event_destroy_cb)(void *user_data);

/* I/O source modes. */
enum {
        /* Re-arm a one-shot poll after every callback: the callback is called again as long as
         * the fd stays ready (level-triggered). Right for fds whose owner does not drain them in
         * one go, such as libmicrohttpd's epoll fd. */
        EVENT_IO_LEVEL = 1u << 0,
        /* Fire at most once, then the source is disabled (a pidfd becomes readable once). */
        EVENT_IO_ONESHOT = 1u << 1,
        /* The loop closes the fd when the source is freed. */
        EVENT_IO_OWN_FD = 1u << 2,
};

int event_loop_new(struct event_loop **ret);
struct event_loop *event_loop_free(struct event_loop *l);

/* Watch `fd` for `events` (POLLIN, POLLOUT, ...). Without EVENT_IO_LEVEL the source is
 * edge-triggered (multishot poll): the callback must consume what made the fd ready.
 * ret may be NULL: the source then lives until the loop is freed or the callback removes it. */
int event_loop_add_io(struct event_loop *l, int fd, uint32_t events, unsigned flags,
                      event_io_cb cb, void *user_data, event_destroy_cb destroy,
                      struct event_source **ret);

/* A timer on CLOCK_MONOTONIC, first firing after `usec` µs (0 = as soon as possible), then
 * every `interval_usec` µs (0 = once; the source then stays, disarmed, until removed or
 * re-armed with event_source_set_time()). */
int event_loop_add_timer(struct event_loop *l, uint64_t usec, uint64_t interval_usec,
                         event_timer_cb cb, void *user_data, event_destroy_cb destroy,
                         struct event_source **ret);

/* Deliver `sig` through a signalfd. The signal is blocked in the calling thread for the
 * lifetime of the source (and unblocked again when the source goes away). */
int event_loop_add_signal(struct event_loop *l, int sig, event_signal_cb cb, void *user_data,
                          event_destroy_cb destroy, struct event_source **ret);

/* Watch a pidfd: `cb` runs once when the process exits (the caller reaps it with waitid). */
int event_loop_add_pidfd(struct event_loop *l, int pidfd, event_io_cb cb, void *user_data,
                         event_destroy_cb destroy, struct event_source **ret);

/* Call `cb` at the end of every iteration of the loop, after the sources that were ready have
 * been dispatched (and after a wait that timed out), in the order the post sources were added:
 * work that must follow whatever woke the loop, such as running libmicrohttpd, which re-arms
 * its listen socket only from a run (http-server.h). */
int event_loop_add_post(struct event_loop *l, event_post_cb cb, void *user_data,
                        event_destroy_cb destroy, struct event_source **ret);

/* Under systemd with WatchdogSec= (sd_watchdog_enabled()), send WATCHDOG=1 from a timer every
 * half period, so a daemon whose loop is wedged is restarted. Returns 1 when the timer was
 * added (*ret set when ret is non-NULL), 0 when no watchdog is asked for, or -errno. */
int event_loop_add_watchdog(struct event_loop *l, struct event_source **ret);

/* Re-arm a timer source. Returns -EINVAL for a non-timer source. */
int event_source_set_time(struct event_source *s, uint64_t usec, uint64_t interval_usec);

/* Stop watching and drop the source: destroy(user_data) runs now; the memory is released once
 * the kernel has confirmed the poll is gone. Safe from inside any callback, also the source's
 * own. Accepts NULL; returns NULL. */
struct event_source *event_source_remove(struct event_source *s);
int event_source_get_fd(const struct event_source *s);

/* Run until event_loop_exit() or a callback returns < 0. Returns the exit code or -errno. */
int event_loop_run(struct event_loop *l);
/* One iteration: submit, wait at most timeout_usec (UINT64_MAX: forever), dispatch, then the
 * post sources.
 * Returns > 0 when something was dispatched, 0 on timeout, < 0 on error or callback error. */
int event_loop_iterate(struct event_loop *l, uint64_t timeout_usec);
void event_loop_exit(struct event_loop *l, int code);
bool event_loop_exiting(const struct event_loop *l);

/* Number of live sources (for leak checks in tests and /metrics). */
unsigned event_loop_n_sources(const struct event_loop *l);

static inline void event_loop_freep(struct event_loop **l)
{
        if (*l)
                *l = event_loop_free(*l);
}
