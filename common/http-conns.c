/* SPDX-License-Identifier: Apache-2.0 */
/* Deadlines and eviction for an HTTP server's connections, so idle and slow clients cannot hold its slots. */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "common/http-conns.h"

enum conn_state {
        CONN_HEADERS, /* waiting for a request's headers (new connection) */
        CONN_IDLE,    /* kept alive after an answer, waiting for the next request */
        CONN_UPLOAD,  /* an authenticated request's body is arriving: deadline, not evicted */
        CONN_REQUEST, /* a request is in progress: never closed by us */
        CONN_CLOSING, /* shut down by us; the server has not closed it yet */
};

struct http_conn {
        struct http_conn *prev, *next; /* on its state's queue (HEADERS, IDLE, UPLOAD) */
        enum conn_state state;
        uint64_t since_ms; /* entered HEADERS, IDLE or UPLOAD */
        int fd;
};

/* Oldest first: every entry of a queue has the same timeout, so the head expires first. */
struct conn_queue {
        struct http_conn *head, *tail;
};

struct http_conns {
        unsigned limit;
        uint64_t header_timeout_ms, idle_timeout_ms;
        unsigned n;         /* records (every state) */
        unsigned n_closing; /* CONN_CLOSING records */
        struct conn_queue headers, idle, upload;
        struct http_conns_stats stats;
};

static struct conn_queue *conn_queue_of(struct http_conns *t, enum conn_state state)
{
        if (state == CONN_HEADERS)
                return &t->headers;
        if (state == CONN_IDLE)
                return &t->idle;
        if (state == CONN_UPLOAD)
                return &t->upload;
        return NULL;
}

static void conn_unlink(struct http_conns *t, struct http_conn *c)
{
        struct conn_queue *q = conn_queue_of(t, c->state);

        if (!q)
                return;
        if (c->prev)
                c->prev->next = c->next;
        else
                q->head = c->next;
        if (c->next)
                c->next->prev = c->prev;
        else
                q->tail = c->prev;
        c->prev = c->next = NULL;
}

/* Move c to `state`, at the tail of that state's queue. */
static void conn_set_state(struct http_conns *t, struct http_conn *c, enum conn_state state,
                           uint64_t now_ms)
{
        struct conn_queue *q;

        conn_unlink(t, c);
        if (c->state == CONN_CLOSING)
                t->n_closing--;
        c->state = state;
        c->since_ms = now_ms;
        if (state == CONN_CLOSING)
                t->n_closing++;
        q = conn_queue_of(t, state);
        if (!q)
                return;
        c->prev = q->tail;
        if (q->tail)
                q->tail->next = c;
        else
                q->head = c;
        q->tail = c;
}

/* Half-close both ways: the peer sees EOF, and the server's poll sees the socket readable at
 * EOF (EPOLLIN|EPOLLRDHUP|EPOLLHUP), reads 0 and closes it through its usual path. */
static void conn_shut(struct http_conns *t, struct http_conn *c, uint64_t now_ms)
{
        (void)shutdown(c->fd, SHUT_RDWR);
        conn_set_state(t, c, CONN_CLOSING, now_ms);
}

int http_conns_new(unsigned limit, uint64_t header_timeout_ms, uint64_t idle_timeout_ms,
                   struct http_conns **ret)
{
        struct http_conns *t;

        if (limit == 0 || header_timeout_ms == 0 || idle_timeout_ms == 0)
                return -EINVAL;
        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->limit = limit;
        t->header_timeout_ms = header_timeout_ms;
        t->idle_timeout_ms = idle_timeout_ms;
        *ret = t;
        return 0;
}

struct http_conns *http_conns_free(struct http_conns *t)
{
        /* Records of connections still open are owned through the server's socket contexts,
         * which MHD reports closed (http_conns_closed) when it stops; nothing is left here
         * but the queues' links. */
        free(t);
        return NULL;
}

struct http_conn *http_conns_started(struct http_conns *t, int fd, uint64_t now_ms)
{
        struct http_conn *c = calloc(1, sizeof(*c));

        t->stats.opened++;
        if (!c)
                return NULL;
        c->fd = fd;
        c->state = CONN_REQUEST; /* not on a queue yet */
        t->n++;
        conn_set_state(t, c, CONN_HEADERS, now_ms);
        if (http_conns_open(t) >= t->limit) {
                /* Keep a slot free for the next client: the oldest connection without a request
                 * goes, the one just accepted last of all. */
                struct http_conn *victim = t->headers.head != c ? t->headers.head : NULL;

                if (!victim)
                        victim = t->idle.head;
                if (victim) {
                        conn_shut(t, victim, now_ms);
                        t->stats.evicted++;
                }
        }
        return c;
}

void http_conns_closed(struct http_conns *t, struct http_conn *c)
{
        if (!c)
                return;
        conn_unlink(t, c);
        if (c->state == CONN_CLOSING)
                t->n_closing--;
        t->n--;
        free(c);
}

void http_conns_upload(struct http_conns *t, struct http_conn *c, uint64_t now_ms)
{
        if (c && c->state != CONN_CLOSING && c->state != CONN_UPLOAD)
                conn_set_state(t, c, CONN_UPLOAD, now_ms);
}

void http_conns_request(struct http_conns *t, struct http_conn *c)
{
        if (c && c->state != CONN_CLOSING && c->state != CONN_REQUEST)
                conn_set_state(t, c, CONN_REQUEST, c->since_ms);
}

void http_conns_idle(struct http_conns *t, struct http_conn *c, uint64_t now_ms)
{
        if (c && c->state != CONN_CLOSING)
                conn_set_state(t, c, CONN_IDLE, now_ms);
}

unsigned http_conns_sweep(struct http_conns *t, uint64_t now_ms)
{
        unsigned closed = 0;

        while (t->headers.head && t->headers.head->since_ms + t->header_timeout_ms <= now_ms) {
                conn_shut(t, t->headers.head, now_ms);
                t->stats.header_timeouts++;
                closed++;
        }
        while (t->idle.head && t->idle.head->since_ms + t->idle_timeout_ms <= now_ms) {
                conn_shut(t, t->idle.head, now_ms);
                t->stats.idle_timeouts++;
                closed++;
        }
        while (t->upload.head && t->upload.head->since_ms + t->idle_timeout_ms <= now_ms) {
                conn_shut(t, t->upload.head, now_ms);
                t->stats.upload_timeouts++;
                closed++;
        }
        return closed;
}

int64_t http_conns_next_ms(const struct http_conns *t, uint64_t now_ms)
{
        uint64_t next = UINT64_MAX;

        if (t->headers.head)
                next = t->headers.head->since_ms + t->header_timeout_ms;
        if (t->idle.head && t->idle.head->since_ms + t->idle_timeout_ms < next)
                next = t->idle.head->since_ms + t->idle_timeout_ms;
        if (t->upload.head && t->upload.head->since_ms + t->idle_timeout_ms < next)
                next = t->upload.head->since_ms + t->idle_timeout_ms;
        if (next == UINT64_MAX)
                return -1;
        return next <= now_ms ? 0 : (int64_t)(next - now_ms);
}

unsigned http_conns_open(const struct http_conns *t)
{
        return t->n - t->n_closing;
}

void http_conns_get_stats(const struct http_conns *t, struct http_conns_stats *ret)
{
        *ret = t->stats;
}
