/* SPDX-License-Identifier: Apache-2.0 */
/* libsilo's event stream (GET /api/v1/events, newline-delimited JSON) and waiting for a task's
 * state on it: heartbeats, resuming after the last index on a broken stream, a consumer's stop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clients/libsilo/client-internal.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/macro.h"
#include "silo/protocol.h"

/* No event line is this long (a task_placed event with 64 disks and ports is a few KiB). */
#define EVENT_LINE_MAX (1024u * 1024u)
#define RECONNECT_BACKOFF_MIN_MS 100u
#define RECONNECT_BACKOFF_MAX_MS 2000u
#define WAIT_POLL_MS 250u

struct stream {
        silo_client_event_fn cb;
        void *userdata;
        int (*on_connected)(void *userdata); /* each time a stream is accepted (2xx) */
        char *line;                          /* the line being received */
        size_t len, cap;
        int64_t last;    /* the last index seen (event or heartbeat); -1: none yet */
        int stop;        /* non-zero: the callback's value, or a -errno of ours */
        char *error;     /* with stop < 0: why */
        char *dropped;   /* the master's {"type": "error"} message */
        bool got_bytes;  /* on this connection */
};

static int stream_line(struct stream *s, const char *text, size_t len)
{
        json_error_t jerr;
        json_t *e = json_loadb(text, len, 0, &jerr);
        const char *type = json_string_value(json_object_get(e, "type"));
        json_t *index = json_object_get(e, "index");
        int r = 0;

        if (!json_is_object(e) || !type) {
                json_decref(e);
                return error_set(&s->error, -EBADMSG, "event stream: a line that is not an event: '%.*s'",
                                 (int)MIN(len, 200u), text);
        }
        if (streq(type, "error")) {
                free(s->dropped);
                s->dropped = strdup(strempty(json_string_value(json_object_get(e, "message"))));
        } else if (streq(type, "heartbeat")) {
                /* The master's last index: a reconnect resumes from here even before any event. */
                if (json_is_integer(index) && json_integer_value(index) > s->last)
                        s->last = json_integer_value(index);
        } else if (json_is_integer(index) && json_integer_value(index) <= s->last) {
                /* Already handed over before the stream was resumed. */
        } else {
                if (json_is_integer(index))
                        s->last = json_integer_value(index);
                r = s->cb(e, s->userdata);
        }
        json_decref(e);
        return r;
}

/* Bytes of the stream, cut into lines, each handed to stream_line() whole. */
static size_t stream_sink(char *data, size_t size, size_t n, void *userdata)
{
        struct stream *s = userdata;
        const char *p = data, *end = data + size * n;

        s->got_bytes = true;
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t piece = (size_t)((nl ? nl : end) - p);

                if (s->len + piece > EVENT_LINE_MAX) {
                        s->stop = error_set(&s->error, -EBADMSG, "event stream: a line longer than %u bytes",
                                            EVENT_LINE_MAX);
                        return 0;
                }
                if (client_buf_append(&s->line, &s->len, &s->cap, p, piece) < 0) {
                        s->stop = -ENOMEM;
                        return 0;
                }
                if (!nl)
                        break;
                if (s->len > 0)
                        s->stop = stream_line(s, s->line, s->len);
                s->len = 0;
                if (s->stop)
                        return 0;
                p = nl + 1;
        }
        return size * n;
}

static int stream_connected(void *userdata)
{
        struct stream *s = userdata;

        s->len = 0; /* a half line of a broken connection is not the start of this one's */
        if (s->on_connected)
                s->stop = s->on_connected(s->userdata);
        return s->stop;
}

static int events_path(const struct silo_client_events_filter *f, int64_t since, char **ret)
{
        const char *keys[] = {"role", "task", "type"};
        const char *vals[] = {f->role, f->task, f->types};
        char *p = NULL;
        FILE *m;
        size_t size;
        bool first = true;

        m = open_memstream(&p, &size);
        if (!m)
                return -ENOMEM;
        fputs("/api/v1/events", m);
        if (since >= 0) {
                fprintf(m, "?since=%lld", (long long)since);
                first = false;
        }
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                _cleanup_free_ char *e = NULL;

                if (!vals[i])
                        continue;
                e = client_path_escape(vals[i]);
                if (!e) {
                        fclose(m);
                        free(p);
                        return -ENOMEM;
                }
                fprintf(m, "%c%s=%s", first ? '?' : '&', keys[i], e);
                first = false;
        }
        if (fclose(m) != 0) {
                free(p);
                return -ENOMEM;
        }
        *ret = p;
        return 0;
}

static void sleep_ms(unsigned ms)
{
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* The stream, until the callback stops it, a fatal answer, or the reconnect time (or the
 * deadline, 0: none, as monotonic ms) is used up. */
static int stream_run(silo_client *c, const struct silo_client_events_filter *f, struct stream *s,
                      uint64_t deadline_ms, char **ret_error)
{
        CURL *easy = curl_easy_init();
        uint64_t lost_at = 0;
        unsigned backoff = RECONNECT_BACKOFF_MIN_MS;
        int r;

        if (!easy)
                return -ENOMEM;
        s->last = -1;
        for (;;) {
                struct client_xfer x = {.method = "GET", .stream = true, .sink = stream_sink, .sink_data = s,
                                        .on_headers = stream_connected};
                _cleanup_free_ char *path = NULL, *err = NULL;
                uint64_t now = now_mono_ms();

                if (deadline_ms && now >= deadline_ms) {
                        r = error_set(&err, -ETIMEDOUT, "timed out");
                        goto out;
                }
                x.timeout_ms = deadline_ms ? (unsigned)(deadline_ms - now) : 0;
                r = events_path(f, s->last >= 0 ? s->last : f->since, &path);
                if (r < 0)
                        goto out;
                s->got_bytes = false;
                free(s->dropped);
                s->dropped = NULL;
                r = client_transfer(c, easy, path, &x, &err);
                if (s->stop) {
                        r = s->stop;
                        if (r < 0 && s->error) {
                                free(err);
                                err = TAKE_PTR(s->error);
                        }
                        client_xfer_done(&x);
                        goto out;
                }
                if (r >= 0 && (x.status < 200 || x.status > 299)) {
                        r = client_status_error(x.status, "GET", x.url, x.buf, &err);
                        client_xfer_done(&x);
                        goto out;
                }
                if (s->dropped)
                        r = error_set(&err, -ENOBUFS, "the master dropped the event stream: %s", s->dropped);
                else if (r >= 0)
                        r = error_set(&err, -ECONNRESET, "the master closed the event stream (%s)", x.url);
                client_xfer_done(&x);
                /* A stream that delivered something was healthy: its loss starts a new count. */
                if (s->got_bytes || !lost_at) {
                        lost_at = now_mono_ms();
                        backoff = RECONNECT_BACKOFF_MIN_MS;
                }
                if (r == -ETIMEDOUT && deadline_ms && now_mono_ms() >= deadline_ms)
                        goto out;
                if (!f->reconnect_ms || now_mono_ms() - lost_at >= f->reconnect_ms)
                        goto out;
                sleep_ms(backoff);
                backoff = MIN(backoff * 2, RECONNECT_BACKOFF_MAX_MS);
                continue;
out:
                if (r < 0 && ret_error)
                        *ret_error = TAKE_PTR(err);
                break;
        }
        curl_easy_cleanup(easy);
        free(s->line);
        free(s->error);
        free(s->dropped);
        s->line = s->error = s->dropped = NULL;
        s->len = s->cap = 0;
        return r;
}

_public_ int silo_client_events(silo_client *c, const struct silo_client_events_filter *f, silo_client_event_fn cb,
                                void *userdata, char **ret_error)
{
        static const struct silo_client_events_filter from_now = {.since = -1};
        struct stream s = {.cb = cb, .userdata = userdata};

        if (!c || !cb)
                return error_set(ret_error, -EINVAL, "silo_client_events: no client or no callback");
        return stream_run(c, f ? f : &from_now, &s, 0, ret_error);
}

/* ---- waiting for a state ---- */

struct waiter {
        silo_client *c;
        const char *id, *state; /* state NULL: any terminal one */
        json_t *task;           /* the last read */
        int result;             /* 1 reached; -errno with error */
        char *error;
};

static bool state_reached(const struct waiter *w, const char *state)
{
        int s = silo_task_state_from_string(state);

        if (w->state)
                return streq(w->state, state);
        return s >= 0 && silo_task_state_is_terminal((silo_task_state)s);
}

/* Read the task: is it there yet, or can it never be? Non-zero stops the stream. */
static int waiter_check(void *userdata)
{
        struct waiter *w = userdata;
        const char *state;
        int r, s;

        json_decref(w->task);
        w->task = NULL;
        r = silo_client_task_get(w->c, w->id, &w->task, &w->error);
        if (r < 0)
                return w->result = r;
        state = json_string_value(json_object_get(w->task, "state"));
        if (!state)
                return w->result = error_set(&w->error, -EBADMSG, "task %s: no state in the master's answer", w->id);
        if (state_reached(w, state))
                return w->result = 1;
        s = silo_task_state_from_string(state);
        if (s >= 0 && silo_task_state_is_terminal((silo_task_state)s))
                return w->result = error_set(&w->error, -ECANCELED, "task %s ended %s (%s) and cannot become %s", w->id,
                                             state, strempty(json_string_value(json_object_get(w->task, "reason"))),
                                             w->state);
        return 0;
}

static int waiter_event(const json_t *event, void *userdata)
{
        const char *state = json_string_value(json_object_get(event, "state"));
        int s = state ? silo_task_state_from_string(state) : -EINVAL;

        /* The event says it is time; the task's own object is what the caller gets. */
        if (state && (state_reached(userdata, state) || (s >= 0 && silo_task_state_is_terminal((silo_task_state)s))))
                return waiter_check(userdata);
        return 0;
}

_public_ int silo_client_task_wait(silo_client *c, const char *id, const char *state, unsigned timeout_ms,
                                   json_t **ret_task, char **ret_error)
{
        struct waiter w = {.c = c, .id = id, .state = state};
        struct silo_client_events_filter f = {.since = -1, .task = id, .types = "task_state"};
        struct stream s = {.cb = waiter_event, .userdata = &w, .on_connected = waiter_check};
        uint64_t deadline = timeout_ms ? now_mono_ms() + timeout_ms : 0;
        _cleanup_free_ char *err = NULL;
        int r;

        if (!c || !id || !*id)
                return error_set(ret_error, -EINVAL, "silo_client_task_wait: no client or no task id");
        if (state && silo_task_state_from_string(state) < 0)
                return error_set(ret_error, -EINVAL, "'%s' is not a task state", state);
        /* Broken streams are resumed until the deadline: a master restart is not the end. */
        f.reconnect_ms = timeout_ms ? timeout_ms : UINT32_MAX;
        r = stream_run(c, &f, &s, deadline, &err);
        if (r == -ENOENT && !w.result) {
                /* A master without the event stream (before issue 20): read the task until then. */
                free(err);
                err = NULL;
                while (!waiter_check(&w) && (!deadline || now_mono_ms() + WAIT_POLL_MS < deadline))
                        sleep_ms(WAIT_POLL_MS);
                r = w.result ? w.result : -ETIMEDOUT;
        } else if (w.result)
                r = w.result;
        if (r == -ETIMEDOUT && !w.error) {
                const char *now_state = json_string_value(json_object_get(w.task, "state"));
                r = error_set(&w.error, -ETIMEDOUT, "task %s is %s after %u ms, not %s", id,
                              now_state ? now_state : "in an unknown state", timeout_ms,
                              state ? state : "ended");
        }
        if (r == 1) {
                if (ret_task)
                        *ret_task = TAKE_PTR(w.task);
                r = 0;
        } else if (ret_error) {
                *ret_error = w.error ? TAKE_PTR(w.error) : TAKE_PTR(err);
        }
        json_decref(w.task);
        free(w.error);
        return r;
}
