/* SPDX-License-Identifier: Apache-2.0 */
/* The benchmark's HTTP/1.1 client: one keep-alive connection per agent plus an aux pool, raw sockets on epoll. */
#include "master-api.h"

const char *const req_names[_REQ_MAX] = { "register", "heartbeat", "submit", "status" };

int conn_open(struct conn *c, size_t agent)
{
        struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT };
        int one = 1, fd;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(fd, (struct sockaddr *)&bench.master_addr, sizeof(bench.master_addr)) < 0 && errno != EINPROGRESS) {
                int r = -errno;
                close(fd);
                return r;
        }
        free(c->in);
        *c = (struct conn){ .fd = fd, .agent = agent };
        c->in = malloc(RESP_MAX);
        if (!c->in) {
                close(fd);
                return -ENOMEM;
        }
        ev.data.ptr = c;
        if (epoll_ctl(bench.epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return 0;
}

void conn_close(struct conn *c)
{
        if (c->fd > 0) {
                (void)epoll_ctl(bench.epfd, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
        }
        c->fd = -1;
        c->connected = false;
        free(c->out);
        c->out = NULL;
}

void request_free(struct request *r)
{
        if (!r)
                return;
        free(r->method);
        free(r->path);
        free(r->body);
        free(r);
}

struct request *request_new(enum req_kind kind, const char *method, const char *path, char *body,
                                   size_t agent)
{
        struct request *r = calloc(1, sizeof(*r));

        if (!r) {
                free(body);
                return NULL;
        }
        *r = (struct request){ .kind = kind, .method = strdup(method), .path = strdup(path), .body = body,
                               .agent = agent };
        return r;
}

static void conn_want_write(struct conn *c, bool on)
{
        struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c };

        (void)epoll_ctl(bench.epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_flush(struct conn *c)
{
        while (c->connected && c->out_off < c->out_len) {
                ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);

                if (n < 0) {
                        if (errno == EAGAIN) {
                                conn_want_write(c, true);
                                return;
                        }
                        return; /* the read side reports the broken connection */
                }
                c->out_off += (size_t)n;
        }
        if (c->connected)
                conn_want_write(c, false);
}

/* Start a request on an idle connection (keep-alive, one request at a time). */
int conn_send(struct conn *c, struct request *r)
{
        size_t blen = r->body ? strlen(r->body) : 0;
        int n;

        assert(!c->busy);
        free(c->out);
        c->out = NULL;
        n = asprintf(&c->out,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nAuthorization: Bearer %s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     r->method, r->path, bench.master_port, bench.token, blen, r->body ? r->body : "");
        if (n < 0)
                return -ENOMEM;
        c->out_len = (size_t)n;
        c->out_off = 0;
        c->in_len = 0;
        c->req = r;
        c->busy = true;
        c->sent_ns = now_ns();
        conn_flush(c);
        return 0;
}

/* Parse a complete response in c->in: 1 when complete (status and body returned), 0 when more
 * is needed, -EBADMSG when it is not HTTP/1.1 with a Content-Length. */
static int response_parse(struct conn *c, unsigned *ret_status, const char **ret_body, size_t *ret_len,
                          bool *ret_close)
{
        char *hdr_end, *p;
        size_t hlen, clen = 0;
        bool have_len = false;

        c->in[c->in_len] = 0;
        hdr_end = strstr(c->in, "\r\n\r\n");
        if (!hdr_end)
                return c->in_len >= RESP_MAX - 1 ? -EBADMSG : 0;
        hlen = (size_t)(hdr_end - c->in) + 4;
        if (strncmp(c->in, "HTTP/1.", 7) != 0)
                return -EBADMSG;
        *ret_status = (unsigned)strtoul(c->in + 9, NULL, 10);
        *ret_close = false;
        for (p = strstr(c->in, "\r\n"); p && p < hdr_end; p = strstr(p + 2, "\r\n")) {
                if (strncasecmp(p + 2, "Content-Length:", 15) == 0) {
                        clen = strtoul(p + 17, NULL, 10);
                        have_len = true;
                } else if (strncasecmp(p + 2, "Connection: close", 17) == 0)
                        *ret_close = true;
        }
        if (!have_len)
                return -EBADMSG;
        if (hlen + clen >= RESP_MAX)
                return -EBADMSG;
        if (c->in_len < hlen + clen)
                return 0;
        *ret_body = c->in + hlen;
        *ret_len = clen;
        return 1;
}


static void response_handle(struct conn *c, struct request *r, unsigned status, const char *body, size_t len)
{
        uint64_t lat = now_ns() - c->sent_ns;

        if (bench.slow_log && bench.measuring && (double)lat / 1e6 >= bench.slow_ms)
                fprintf(bench.slow_log, "%.6f %s %.3f\n", (double)c->sent_ns / 1e9, req_names[r->kind], (double)lat / 1e6);

        switch (r->kind) {
        case REQ_REGISTER: {
                json_error_t je;
                json_t *j = json_loadb(body, len, 0, &je);
                const char *id = json_string_value(json_object_get(j, "agent_id"));

                if ((status == 200 || status == 201) && id) {
                        bench.agents[r->agent].id = strdup(id);
                        bench.registered++;
                        lat_add(&bench.st.lat[REQ_REGISTER], lat);
                } else
                        note_error(REQ_REGISTER, "register %s: HTTP %u %.*s", bench.agents[r->agent].hostname, status,
                                   (int)MIN(len, 200u), body);
                json_decref(j);
                break;
        }
        case REQ_HEARTBEAT:
                if (!bench.measuring)
                        break;
                if (status == 200)
                        lat_add(&bench.st.lat[REQ_HEARTBEAT], lat);
                else
                        note_error(REQ_HEARTBEAT, "heartbeat %s: HTTP %u %.*s", bench.agents[r->agent].hostname, status,
                                   (int)MIN(len, 200u), body);
                break;
        case REQ_SUBMIT:
        case REQ_STATUS:
                if (status == 200 || status == 201) {
                        if (bench.measuring)
                                lat_add(&bench.st.lat[r->kind], lat);
                } else
                        note_error(r->kind, "%s: HTTP %u %.*s", req_names[r->kind], status, (int)MIN(len, 200u),
                                   body);
                break;
        default:
                break;
        }
}

static void conn_done(struct conn *c)
{
        c->busy = false;
        request_free(c->req);
        c->req = NULL;
}

static void conn_reconnect(struct conn *c, const char *why)
{
        if (c->req) {
                note_error(c->req->kind, "%s %s: connection %s", req_names[c->req->kind], c->req->path, why);
                c->busy = false;
                request_free(c->req);
                c->req = NULL;
        }
        conn_close(c);
        if (conn_open(c, c->agent) < 0)
                note_error(REQ_HEARTBEAT, "cannot reconnect: %m");
}

void conn_event(struct conn *c, uint32_t events)
{
        if (!c->connected) {
                int err = 0;
                socklen_t l = sizeof(err);

                if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
                        return;
                (void)getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
                if (err != 0) {
                        errno = err;
                        conn_reconnect(c, "refused");
                        return;
                }
                c->connected = true;
                if (c->busy)
                        conn_flush(c);
                else
                        conn_want_write(c, false);
                if (c->agent == SIZE_MAX)
                        aux_pump();
                return;
        }
        if (events & EPOLLOUT)
                conn_flush(c);
        if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                for (;;) {
                        ssize_t n = read(c->fd, c->in + c->in_len, RESP_MAX - 1 - c->in_len);
                        unsigned status;
                        const char *body;
                        size_t len;
                        bool close_after;
                        int r;

                        if (n < 0 && errno == EAGAIN)
                                return;
                        if (n <= 0) {
                                conn_reconnect(c, n == 0 ? "closed by the master" : "broken");
                                return;
                        }
                        if (!c->busy) {
                                c->in_len = 0; /* nothing asked: ignore */
                                continue;
                        }
                        c->in_len += (size_t)n;
                        r = response_parse(c, &status, &body, &len, &close_after);
                        if (r == 0)
                                continue;
                        if (r < 0) {
                                conn_reconnect(c, "sent an unparsable response");
                                return;
                        }
                        response_handle(c, c->req, status, body, len);
                        c->in_len = 0;
                        conn_done(c);
                        if (close_after) {
                                conn_reconnect(c, "closed (Connection: close)");
                                return;
                        }
                        if (c->agent == SIZE_MAX)
                                aux_pump();
                }
        }
}

/* ---------------------------------------------------------------- requests ---- */

void queue_push(struct request *r)
{
        if (!r)
                return;
        if (bench.queue_tail)
                bench.queue_tail->next = r;
        else
                bench.queue_head = r;
        bench.queue_tail = r;
        aux_pump();
}

void aux_pump(void)
{
        for (size_t i = 0; i < AUX_CONNS && bench.queue_head; i++) {
                struct conn *c = &bench.aux[i];
                struct request *r;

                if (c->busy || !c->connected)
                        continue;
                r = bench.queue_head;
                bench.queue_head = r->next;
                if (!bench.queue_head)
                        bench.queue_tail = NULL;
                r->next = NULL;
                if (conn_send(c, r) < 0)
                        request_free(r);
        }
}
