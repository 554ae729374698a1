/* SPDX-License-Identifier: Apache-2.0 */
/* Embedded HTTP/1.1 API server on libmicrohttpd, driven by the caller's event loop (no threads). */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <curl/curl.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>

#include "common/auth.h"
#include "common/http-conns.h"
#include "common/http-json.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/event-loop.h"
#include "common/http-server.h"
#include "common/list.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/tls.h"

struct http_server {
        struct MHD_Daemon *mhd;
        int epoll_fd;
        uint16_t port;
        const struct http_route *routes;
        size_t n_routes;
        void *userdata;
        char *token;
        size_t max_body;
        unsigned connection_limit;
        int (*gate)(http_request *req, http_response *resp, void *userdata);
        struct http_ctx *deferred; /* suspended requests, answered with 503 at free */
        struct http_conns *conns;  /* header and idle deadlines, eviction at the limit */
        bool closed_in_run;        /* MHD closed a connection during the current run */
        bool rerun;                /* ... and also during the second: run again at once */
        struct http_stream *waiting; /* streams suspended by HTTP_STREAM_WAIT */
        bool stopping;               /* http_server_free(): streams end */
        /* http_server_attach(): MHD's epoll fd, its next deadline, a run after every turn */
        struct event_source *io_src, *timer_src, *post_src;
        uint64_t timer_due_ms; /* when timer_src fires; 0: disarmed or fired */
        tls_creds *tls;        /* mutual TLS when set (borrowed) */
        struct http_route health_route; /* http_server_new_health()'s one route */
};

/* A connection's record (its MHD socket context): its http-conns deadlines and, with TLS, its
 * peer's identity, verified at its first request and again when the CRL changed or the
 * certificate expired. */
struct http_sock {
        struct http_conn *hc;
        int fd;
        bool first_read;   /* TLS: the first bytes were looked at (http_tls_pull()) */
        char remote[INET6_ADDRSTRLEN + 8];
        bool verified;
        uint64_t generation; /* the verifier's, when verified */
        time_t not_after;    /* the verified chain's first expiry */
        struct silo_identity *identity;
        char *refusal; /* why its certificate was refused */
};

/* The record http-conns keeps for a connection (its MHD socket context). */
static struct http_sock *http_sock_of(struct MHD_Connection *conn)
{
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

        return ci ? ci->socket_context : NULL;
}

static struct http_conn *http_conn_of(struct MHD_Connection *conn)
{
        struct http_sock *sk = http_sock_of(conn);

        return sk ? sk->hc : NULL;
}

struct http_response {
        unsigned status;
        struct MHD_Response *mhd;
        struct http_stream *stream; /* the stream mhd reads from, when it is one */
};

enum request_phase {
        PHASE_BODY,     /* receiving the body */
        PHASE_DEFERRED, /* the handler suspended the connection; waiting for finish */
        PHASE_RESUMED,  /* finish was called; the response goes out on the next callback */
        PHASE_DONE,
};

/* Per-request state (MHD's *con_cls); handlers see the embedded http_request, and an
 * http_deferred is this same struct under another name. */
struct http_ctx {
        http_server *server;
        http_request req;
        const struct http_route *route;
        enum request_phase phase;
        char *path_copy; /* captures point into it */
        char *body;
        size_t body_size;
        bool too_large;
        unsigned early_status; /* 400/401/404/405/413 decided before the body was read */
        bool early_close;      /* ... and the connection cannot carry another request */
        const char *early_code; /* its wire code when not the status's own */
        char *early_message;
        const struct silo_identity *identity; /* the connection's, with TLS */
        char allow[64]; /* Allow header for a 405 */
        json_t *json;
        char remote[INET6_ADDRSTRLEN + 8];
        http_response resp;
        /* On the server's list of suspended requests (MHD aborts when stopped with one). */
        struct http_ctx *deferred_prev, *deferred_next;
        bool deferred_linked;
};

static void http_response_reset(http_response *resp)
{
        if (resp->mhd)
                MHD_destroy_response(resp->mhd);
        resp->mhd = NULL;
        resp->stream = NULL;
        resp->status = 0;
}

static int http_response_set(http_response *resp, unsigned status, struct MHD_Response *r,
                             const char *content_type)
{
        if (!r)
                return -ENOMEM;
        http_response_reset(resp);
        if (content_type &&
            MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) != MHD_YES) {
                MHD_destroy_response(r);
                return -ENOMEM;
        }
        resp->mhd = r;
        resp->status = status;
        return 0;
}

int http_response_json(http_response *resp, unsigned status, json_t *body)
{
        char *text;

        if (!body)
                return http_response_set(
                    resp, status,
                    MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT), NULL);
        text = http_json_dump(body);
        json_decref(body);
        return http_response_text(resp, status, "application/json", text);
}

int http_response_error(http_response *resp, unsigned status, const char *code, const char *format,
                        ...)
{
        json_t *body;
        va_list ap;

        va_start(ap, format);
        body = http_json_error_newv(code ? code : http_json_status_code(status), format, ap);
        va_end(ap);
        if (!body)
                return -ENOMEM;
        return http_response_json(resp, status, body);
}

int http_response_text(http_response *resp, unsigned status, const char *content_type, char *text)
{
        struct MHD_Response *mr;

        if (!text)
                return -ENOMEM;
        mr = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
        if (!mr) {
                free(text);
                return -ENOMEM;
        }
        return http_response_set(resp, status, mr,
                                 content_type ? content_type : "text/plain; charset=utf-8");
}

struct http_stream {
        http_stream_read_fn read;
        void *userdata;
        void (*destroy)(void *);
        /* set when the response is queued on its connection (http_queue) */
        http_server *server;
        struct MHD_Connection *conn;
        char remote[INET6_ADDRSTRLEN + 8];
        int send_buffer; /* SO_SNDBUF to set when queued; 0: the kernel's */
        bool aborted;
        /* suspended by HTTP_STREAM_WAIT, on server->waiting */
        bool waiting;
        struct http_stream *wait_prev, *wait_next;
};

static void stream_unwait(struct http_stream *s)
{
        if (!s->waiting)
                return;
        LIST_REMOVE(s->server->waiting, s, wait_prev, wait_next);
        s->waiting = false;
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
        struct http_stream *s = cls;
        ssize_t n;

        if (s->aborted || (s->server && s->server->stopping))
                return MHD_CONTENT_READER_END_WITH_ERROR;
        n = s->read(s->userdata, pos, buf, max);
        if (n == HTTP_STREAM_WAIT && s->conn) {
                /* MHD allows a suspend from the content reader; without it a 0 would be asked
                 * again only when something else runs MHD. */
                MHD_suspend_connection(s->conn);
                s->waiting = true;
                LIST_PREPEND(s->server->waiting, s, wait_prev, wait_next);
                return 0;
        }
        if (n == HTTP_STREAM_WAIT)
                return 0;
        if (n == HTTP_STREAM_END)
                return MHD_CONTENT_READER_END_OF_STREAM;
        if (n < 0)
                return MHD_CONTENT_READER_END_WITH_ERROR;
        return n;
}

static void stream_free(void *cls)
{
        struct http_stream *s = cls;

        /* MHD frees a response only after its connection ended: never while suspended. */
        assert(!s->waiting);
        if (s->destroy)
                s->destroy(s->userdata);
        free(s);
}

int http_response_stream_open(http_response *resp, unsigned status, const char *content_type,
                              http_stream_read_fn read, void *userdata, void (*destroy)(void *),
                              http_stream **ret_stream)
{
        struct http_stream *s = calloc(1, sizeof(*s));
        struct MHD_Response *r;
        int k;

        if (!s) {
                if (destroy)
                        destroy(userdata);
                return -ENOMEM;
        }
        *s = (struct http_stream){.read = read, .userdata = userdata, .destroy = destroy};
        snprintf(s->remote, sizeof(s->remote), "?");
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, stream_reader, s,
                                              stream_free);
        if (!r) {
                stream_free(s);
                return -ENOMEM;
        }
        k = http_response_set(resp, status, r, content_type);
        if (k < 0)
                return k;
        resp->stream = s;
        if (ret_stream)
                *ret_stream = s;
        return 0;
}

int http_response_stream(http_response *resp, unsigned status, const char *content_type,
                         http_stream_read_fn read, void *userdata, void (*destroy)(void *))
{
        return http_response_stream_open(resp, status, content_type, read, userdata, destroy,
                                         NULL);
}

void http_stream_wake(http_stream *s)
{
        if (!s->waiting)
                return;
        stream_unwait(s);
        MHD_resume_connection(s->conn);
}

void http_stream_abort(http_stream *s)
{
        const union MHD_ConnectionInfo *ci;

        if (s->aborted || !s->conn)
                return;
        s->aborted = true;
        if (s->waiting) {
                http_stream_wake(s); /* the reader ends it */
                return;
        }
        /* Blocked on a full socket: a shutdown wakes MHD's epoll with EPOLLHUP, and MHD closes
         * the connection in its next run (as http-conns.c closes idle ones). */
        ci = MHD_get_connection_info(s->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci)
                (void)shutdown(ci->connect_fd, SHUT_RDWR);
}

void http_stream_set_send_buffer(http_stream *s, int bytes)
{
        s->send_buffer = bytes;
}

const char *http_stream_remote(const http_stream *s)
{
        return s->remote;
}

int http_response_header(http_response *resp, const char *name, const char *value)
{
        if (!resp->mhd)
                return -EINVAL;
        return MHD_add_response_header(resp->mhd, name, value) == MHD_YES ? 0 : -EINVAL;
}

const struct silo_identity *http_request_identity(const http_request *req)
{
        const struct http_ctx *c =
            (const struct http_ctx *)((const char *)req - offsetof(struct http_ctx, req));

        return c->identity;
}

const char *http_request_query(const http_request *req, const char *key)
{
        return MHD_lookup_connection_value(req->connection, MHD_GET_ARGUMENT_KIND, key);
}

const char *http_request_header(const http_request *req, const char *name)
{
        return MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, name);
}

struct query_buf {
        FILE *f;
        bool first, failed;
};

static enum MHD_Result query_append(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
        struct query_buf *q = cls;
        char *k = curl_easy_escape(NULL, key, 0);
        char *v = value ? curl_easy_escape(NULL, value, 0) : NULL;
        bool ok = k && (!value || v);

        (void)kind;
        if (ok)
                fprintf(q->f, "%c%s%s%s", q->first ? '?' : '&', k, value ? "=" : "", strempty(v));
        q->first = false;
        q->failed |= !ok;
        curl_free(k);
        curl_free(v);
        return ok ? MHD_YES : MHD_NO;
}

char *http_request_target(const http_request *req)
{
        struct query_buf q = {.first = true};
        char *text = NULL;
        size_t size = 0;
        int n;

        q.f = open_memstream(&text, &size);
        if (!q.f)
                return NULL;
        /* The path as MHD decoded it, encoded again segment by segment: a '?', '%', space or
         * CR/LF in it would otherwise change the URL's meaning or break the header it goes
         * into. */
        for (const char *p = req->path; *p;) {
                size_t len = strcspn(p, "/");
                char *seg = len ? curl_easy_escape(NULL, p, (int)len) : NULL;

                if (len && !seg) {
                        q.failed = true;
                        break;
                }
                fputs(strempty(seg), q.f);
                curl_free(seg);
                p += len;
                if (*p == '/') {
                        fputc('/', q.f);
                        p++;
                }
        }
        n = q.failed ? 0 : MHD_get_connection_values(req->connection, MHD_GET_ARGUMENT_KIND, query_append, &q);
        if (fclose(q.f) != 0 || n < 0 || q.failed) {
                free(text);
                return NULL;
        }
        return text;
}

/* Match "/a/{x}/b" against "/a/42/b": segments must match one for one, "{...}" any
 * non-empty segment. `buf` is a writable copy of path that captures point into. */
static bool route_match(const char *pattern, char *buf, const char **captures, size_t *ret_n)
{
        const char *p = pattern;
        char *s = buf;
        size_t n = 0;

        while (*p && *s) {
                if (*p != '/' || *s != '/')
                        return false;
                p++;
                s++;
                const char *pend = strchrnul(p, '/');
                char *send = strchrnul(s, '/');

                if (*p == '{') {
                        if (send == s || n >= HTTP_MAX_CAPTURES)
                                return false;
                        captures[n++] = s;
                } else if ((size_t)(pend - p) != (size_t)(send - s) ||
                           strncmp(p, s, (size_t)(pend - p)) != 0)
                        return false;
                p = pend;
                s = send;
        }
        if (*p || *s)
                return false;
        /* Terminate captures in place now that the whole path matched. */
        for (size_t i = 0; i < n; i++)
                *strchrnul((char *)captures[i], '/') = '\0';
        *ret_n = n;
        return true;
}

/* Find the route for method + path; sets early_status 404/405 when there is none. */
static void http_ctx_route(struct http_ctx *c, const char *method, const char *url)
{
        http_server *s = c->server;
        bool path_known = false;

        for (size_t i = 0; i < s->n_routes; i++) {
                const struct http_route *r = &s->routes[i];
                const char *caps[HTTP_MAX_CAPTURES];
                size_t n = 0;

                strcpy(c->path_copy, url);
                if (!route_match(r->pattern, c->path_copy, caps, &n))
                        continue;
                path_known = true;
                if (!streq(r->method, method)) {
                        size_t len = strlen(c->allow);
                        if (len + strlen(r->method) + 3 < sizeof(c->allow))
                                snprintf(c->allow + len, sizeof(c->allow) - len, "%s%s",
                                         len ? ", " : "", r->method);
                        continue;
                }
                c->route = r;
                memcpy(c->req.captures, caps, sizeof(caps));
                c->req.n_captures = n;
                return;
        }
        c->early_status = path_known ? 405 : 404;
        if (asprintf(&c->early_message,
                     path_known ? "%s %s: method not allowed" : "%s %s: no such endpoint", method,
                     url) < 0)
                c->early_message = NULL;
}

static void format_remote(struct MHD_Connection *conn, char *buf, size_t size);

/* Verify the connection's client certificate at its first request and keep the outcome with
 * the connection: every later request on it is the same peer. An accepted certificate is
 * verified again when the CRL was read again since (a revocation) or it expired: a client
 * that keeps its connection open keeps no more than a new one would get. */
static const struct http_sock *http_sock_verify(http_server *s, struct MHD_Connection *conn)
{
        struct http_sock *sk = http_sock_of(conn);
        tls_verifier *v = tls_creds_verifier(s->tls);
        const union MHD_ConnectionInfo *ci;
        const gnutls_datum_t *peers = NULL;
        struct tls_der chain[8];
        unsigned n = 0;
        char *err = NULL;
        int r;

        if (!sk)
                return sk;
        if (sk->verified) {
                /* A refusal stays one (the connection is closed after its 401). */
                if (!sk->identity ||
                    (tls_verifier_generation(v) == sk->generation && time(NULL) < sk->not_after))
                        return sk;
                /* No request of this connection holds it now: they are served one at a time. */
                silo_identity_free(sk->identity);
                sk->identity = NULL;
        }
        sk->verified = true;
        ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        if (ci && ci->tls_session)
                peers = gnutls_certificate_get_peers((gnutls_session_t)ci->tls_session, &n);
        if (!peers)
                n = 0;
        n = MIN(n, (unsigned)ELEMENTSOF(chain));
        for (unsigned i = 0; i < n; i++)
                chain[i] = (struct tls_der){peers[i].data, peers[i].size};
        r = tls_verifier_check(v, chain, n, &sk->identity, &sk->not_after, &err);
        sk->generation = tls_verifier_generation(v);
        if (r < 0) {
                char remote[INET6_ADDRSTRLEN + 8];

                format_remote(conn, remote, sizeof(remote));
                sk->refusal = err ? err : strdup(strerror(-r));
                log_info("refused the TLS client %s: %s", remote, sk->refusal ? sk->refusal : "?");
        }
        return sk;
}

static void http_ctx_unlink(struct http_ctx *c)
{
        if (!c->deferred_linked)
                return;
        LIST_REMOVE(c->server->deferred, c, deferred_prev, deferred_next);
        c->deferred_linked = false;
}

static void http_ctx_free(struct http_ctx *c)
{
        if (!c)
                return;
        http_ctx_unlink(c);
        http_response_reset(&c->resp);
        json_decref(c->json);
        free(c->path_copy);
        free(c->body);
        free(c->early_message);
        free(c);
}

static enum MHD_Result http_queue(struct MHD_Connection *conn, struct http_ctx *c)
{
        enum MHD_Result r;

        if (!c->resp.mhd) {
                /* Cannot build any response: let MHD close the connection. */
                return MHD_NO;
        }
        if (c->resp.stream) {
                struct http_stream *st = c->resp.stream;
                const union MHD_ConnectionInfo *ci =
                    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

                st->server = c->server;
                st->conn = conn;
                snprintf(st->remote, sizeof(st->remote), "%s", c->remote);
                if (st->send_buffer > 0 && ci)
                        (void)setsockopt(ci->connect_fd, SOL_SOCKET, SO_SNDBUF, &st->send_buffer,
                                         sizeof(st->send_buffer));
        }
        r = MHD_queue_response(conn, c->resp.status, c->resp.mhd);
        http_response_reset(&c->resp);
        c->phase = PHASE_DONE;
        return r;
}

static enum MHD_Result http_queue_error(struct MHD_Connection *conn, struct http_ctx *c,
                                        unsigned status, const char *message)
{
        (void)http_response_error(&c->resp, status, c->early_code, "%s",
                                  message ? message : http_json_status_code(status));
        if (status == 405 && c->allow[0])
                (void)http_response_header(&c->resp, MHD_HTTP_HEADER_ALLOW, c->allow);
        if (status == 401 && !c->server->tls)
                (void)http_response_header(&c->resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
        if (c->early_close)
                (void)http_response_header(&c->resp, MHD_HTTP_HEADER_CONNECTION, "close");
        return http_queue(conn, c);
}

static void format_remote(struct MHD_Connection *conn, char *buf, size_t size)
{
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        char host[INET6_ADDRSTRLEN];

        snprintf(buf, size, "?");
        if (!ci || !ci->client_addr)
                return;
        if (ci->client_addr->sa_family == AF_INET) {
                const struct sockaddr_in *a = (const struct sockaddr_in *)ci->client_addr;
                inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
                snprintf(buf, size, "%s:%u", host, ntohs(a->sin_port));
        } else if (ci->client_addr->sa_family == AF_INET6) {
                const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ci->client_addr;
                inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
                snprintf(buf, size, "[%s]:%u", host, ntohs(a->sin6_port));
        }
}

/* Whether a route takes a request body: POST, PUT and PATCH routes that need the token. A
 * public route (GET /health) must not let a client without one send a body at all. */
static bool route_takes_body(const struct http_route *r)
{
        return !(r->flags & HTTP_ROUTE_PUBLIC) &&
               (streq(r->method, "POST") || streq(r->method, "PUT") || streq(r->method, "PATCH"));
}

struct header_count {
        unsigned content_length, transfer_encoding;
};

static enum MHD_Result header_count_one(void *cls, enum MHD_ValueKind kind, const char *key,
                                        const char *value)
{
        struct header_count *n = cls;

        (void)kind;
        (void)value;
        if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
                n->content_length++;
        else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
                n->transfer_encoding++;
        return MHD_YES;
}

/* Refuse a request whose body length two parties could read differently (RFC 9112 6.3):
 * libmicrohttpd takes the first of two Content-Length headers and lets Transfer-Encoding win
 * over Content-Length, while a proxy in front may take the other; the bytes one of them reads
 * as a body the other reads as the next request (request smuggling). The connection is closed
 * after the 400, since where the next request would start is unknown. Returns whether it
 * refused. */
static bool http_ctx_framing_check(struct http_ctx *c, struct MHD_Connection *conn)
{
        struct header_count n = {0};
        const char *msg = NULL;

        (void)MHD_get_connection_values(conn, MHD_HEADER_KIND, header_count_one, &n);
        if (n.content_length > 1)
                msg = "header Content-Length: sent more than once";
        else if (n.transfer_encoding > 1)
                msg = "header Transfer-Encoding: sent more than once";
        else if (n.content_length && n.transfer_encoding)
                msg = "headers Content-Length and Transfer-Encoding: both sent, the body length is "
                      "ambiguous";
        if (!msg)
                return false;
        c->early_status = 400;
        c->early_close = true;
        c->early_message = strdup(msg);
        return true;
}

/* First callback of a request, on its headers alone: route, authenticate, check the announced
 * length and that the route takes a body at all, so that a request that will be refused is
 * refused before its body is read (MHD then closes the connection without reading it), and
 * only an accepted request's body is ever waited for. Sets *ret_body when one follows. */
static struct http_ctx *http_ctx_new(http_server *s, struct MHD_Connection *conn, const char *url,
                                     const char *method, bool *ret_body)
{
        struct http_ctx *c = calloc(1, sizeof(*c));
        const char *cl, *te;
        unsigned long long n = 0;

        if (!c)
                return NULL;
        c->server = s;
        c->path_copy = strdup(url);
        if (!c->path_copy) {
                free(c);
                return NULL;
        }
        c->req.connection = conn;
        c->req.method = method;
        c->req.path = url;
        format_remote(conn, c->remote, sizeof(c->remote));
        c->req.remote = c->remote;

        http_ctx_route(c, method, url);
        if (c->early_status)
                return c;
        if (s->tls && !(c->route->flags & HTTP_ROUTE_PUBLIC)) {
                /* With TLS the client certificate is the credential, not the token. */
                const struct http_sock *sk = http_sock_verify(s, conn);

                if (!sk || !sk->identity) {
                        c->early_status = 401;
                        c->early_code = "unauthenticated";
                        /* This certificate will not pass on this connection again. */
                        c->early_close = true;
                        c->early_message = strdup(sk && sk->refusal ? sk->refusal
                                                                    : "client certificate refused");
                        return c;
                }
                c->identity = sk->identity;
        } else if (s->token && !(c->route->flags & HTTP_ROUTE_PUBLIC) &&
            !auth_bearer_check(s->token,
                               MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                           MHD_HTTP_HEADER_AUTHORIZATION))) {
                c->early_status = 401;
                c->early_message =
                    strdup("missing or wrong bearer token (Authorization: Bearer <cluster token>)");
                return c;
        }
        if (http_ctx_framing_check(c, conn))
                return c;
        if (s->gate) {
                int r = s->gate(&c->req, &c->resp, s->userdata);

                if (r < 0) {
                        c->early_status = http_status_from_errno(r);
                        if (asprintf(&c->early_message, "%s %s: %s", method, url, strerror(-r)) < 0)
                                c->early_message = NULL;
                }
                if (r != 0) /* answered: nothing of the body is read */
                        return c;
        }
        cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
        if (cl)
                n = strtoull(cl, NULL, 10);
        *ret_body = n > 0 || te;
        if (*ret_body && !route_takes_body(c->route)) {
                c->early_status = 400;
                if (asprintf(&c->early_message, "%s %s takes no request body", method, url) < 0)
                        c->early_message = NULL;
        } else if (n > s->max_body) {
                c->early_status = 413;
                if (asprintf(&c->early_message, "body of %llu bytes exceeds the limit of %zu bytes",
                             n, s->max_body) < 0)
                        c->early_message = NULL;
        }
        return c;
}

/* Run the route's handler on the complete request and queue what it answered. */
static enum MHD_Result http_dispatch(struct MHD_Connection *conn, struct http_ctx *c,
                                     const char *url)
{
        http_server *s = c->server;
        int r;

        c->req.path = url;
        if (c->too_large) {
                char msg[128];
                snprintf(msg, sizeof(msg), "body exceeds the limit of %zu bytes", s->max_body);
                return http_queue_error(conn, c, 413, msg);
        }
        c->req.raw_body = c->body;
        c->req.raw_body_size = c->body_size;
        if (!(c->route->flags & HTTP_ROUTE_RAW_BODY) && c->body_size > 0) {
                _cleanup_free_ char *err = NULL;
                r = http_json_parse(c->body, c->body_size, s->max_body, &c->json, &err);
                if (r < 0)
                        return http_queue_error(conn, c, r == -EFBIG ? 413 : 400, err);
                c->req.body = c->json;
        }

        r = c->route->handler(&c->req, &c->resp, s->userdata);
        if (r == HTTP_DEFERRED) {
                /* The handler called http_request_defer(), which suspended the connection. */
                c->phase = PHASE_DEFERRED;
                return MHD_YES;
        }
        if (r < 0) {
                unsigned status = http_status_from_errno(r);
                char msg[256];

                log_debug("%s %s: handler failed: %s", c->req.method, url, strerror(-r));
                snprintf(msg, sizeof(msg), "%s %s: %s", c->req.method, url, strerror(-r));
                return http_queue_error(conn, c, status, msg);
        }
        if (!c->resp.mhd)
                return http_queue_error(conn, c, 500, "handler produced no response");
        return http_queue(conn, c);
}

static enum MHD_Result http_access(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls)
{
        http_server *s = cls;
        struct http_ctx *c = *con_cls;

        (void)version;
        if (!c) {
                bool body = false;

                /* MHD calls us once a request's headers are complete. A refused one is answered
                 * now and its connection keeps its deadline; an accepted one's body must arrive
                 * within the upload deadline; one without a body runs with no deadline of ours. */
                c = http_ctx_new(s, conn, url, method, &body);
                if (!c)
                        return MHD_NO;
                *con_cls = c;
                if (c->early_status)
                        return http_queue_error(conn, c, c->early_status, c->early_message);
                if (c->resp.mhd) /* the gate answered */
                        return http_queue(conn, c);
                if (body)
                        http_conns_upload(s->conns, http_conn_of(conn), now_mono_ms());
                else
                        http_conns_request(s->conns, http_conn_of(conn));
                return MHD_YES;
        }

        switch (c->phase) {
        case PHASE_BODY:
                break;
        case PHASE_DEFERRED:
                /* Spurious call while suspended: nothing to do yet. */
                return MHD_YES;
        case PHASE_RESUMED:
                return http_queue(conn, c);
        case PHASE_DONE:
                *upload_data_size = 0;
                return MHD_YES;
        }

        if (*upload_data_size > 0) {
                size_t n = *upload_data_size;

                *upload_data_size = 0;
                if (c->too_large || c->body_size + n > s->max_body) {
                        /* Chunked bodies have no Content-Length: discard and answer 413 at the end.
                         */
                        c->too_large = true;
                        return MHD_YES;
                }
                char *nb = realloc(c->body, c->body_size + n + 1);
                if (!nb)
                        return MHD_NO;
                memcpy(nb + c->body_size, upload_data, n);
                c->body = nb;
                c->body_size += n;
                c->body[c->body_size] = '\0';
                return MHD_YES;
        }
        /* The whole body is in: no deadline of ours until the answer is out. */
        http_conns_request(s->conns, http_conn_of(conn));
        return http_dispatch(conn, c, url);
}

static void http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
        http_server *s = cls;

        /* Answered: a kept-alive connection has the idle timeout to send the next request. */
        if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
                http_conns_idle(s->conns, http_conn_of(conn), now_mono_ms());
        http_ctx_free(*con_cls);
        *con_cls = NULL;
}

/* The first bytes of a connection to the HTTPS port decide: a TLS handshake record (0x16) goes
 * on to GnuTLS; anything else is a plain-HTTP client, which gets a plain-text 400 saying so
 * (it could not read a TLS alert) and a log line naming it, and the connection ends. GnuTLS
 * reads through these two functions instead of the socket directly for that look. */
#define PLAIN_HTTP_BODY "this port speaks HTTPS only: use https:// and a client certificate from the CA\n"
_Static_assert(sizeof(PLAIN_HTTP_BODY) - 1 == 79, "Content-Length below");
static const char plain_http_answer[] =
    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: "
    "close\r\nContent-Length: 79\r\n\r\n" PLAIN_HTTP_BODY;

static ssize_t http_tls_pull(gnutls_transport_ptr_t ptr, void *data, size_t size)
{
        struct http_sock *sk = ptr;

        if (!sk->first_read) {
                unsigned char first;
                ssize_t n = recv(sk->fd, &first, 1, MSG_PEEK);

                if (n <= 0)
                        return n; /* EAGAIN until the client speaks; 0 at its EOF */
                sk->first_read = true;
                if (first != 0x16) {
                        log_info("refused a plain-HTTP request from %s on the HTTPS port",
                                 sk->remote);
                        (void)!send(sk->fd, plain_http_answer, sizeof(plain_http_answer) - 1,
                                    MSG_NOSIGNAL | MSG_DONTWAIT);
                        (void)shutdown(sk->fd, SHUT_WR);
                        errno = ECONNRESET;
                        return -1;
                }
        }
        return recv(sk->fd, data, size, 0);
}

static ssize_t http_tls_push(gnutls_transport_ptr_t ptr, const giovec_t *iov, int n)
{
        struct http_sock *sk = ptr;
        struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};

        return sendmsg(sk->fd, &m, MSG_NOSIGNAL);
}

/* GnuTLS asks whether data is there (TLS 1.3 needs it with a pull function of one's own). This
 * runs on the daemon's only thread, so it never waits: an "indefinite" timeout (which GnuTLS asks
 * for only in blocking mode) becomes a look, and the event loop comes back when data arrives. */
static int http_tls_pull_timeout(gnutls_transport_ptr_t ptr, unsigned ms)
{
        struct http_sock *sk = ptr;
        struct pollfd p = {.fd = sk->fd, .events = POLLIN};

        return poll(&p, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? 0 : (int)ms);
}

/* With TLS: GnuTLS reads and writes the connection through http_tls_pull/push on `sk`. */
static void http_sock_tls_setup(struct MHD_Connection *conn, struct http_sock *sk)
{
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        gnutls_session_t session = ci ? (gnutls_session_t)ci->tls_session : NULL;

        if (!session)
                return;
        gnutls_transport_set_ptr(session, sk);
        gnutls_transport_set_pull_function(session, http_tls_pull);
        gnutls_transport_set_pull_timeout_function(session, http_tls_pull_timeout);
        gnutls_transport_set_vec_push_function(session, http_tls_push);
}

static void http_notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                                   enum MHD_ConnectionNotificationCode toe)
{
        http_server *s = cls;

        if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
                const union MHD_ConnectionInfo *ci =
                    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
                struct http_sock *sk = calloc(1, sizeof(*sk));

                /* Without a record the connection has no deadlines of ours and, with TLS, no
                 * identity: every request on it is refused. */
                if (sk && ci) {
                        sk->hc = http_conns_started(s->conns, ci->connect_fd, now_mono_ms());
                        sk->fd = ci->connect_fd;
                        format_remote(conn, sk->remote, sizeof(sk->remote));
                        if (s->tls)
                                http_sock_tls_setup(conn, sk);
                }
                *socket_context = sk;
        } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
                struct http_sock *sk = *socket_context;

                if (sk) {
                        http_conns_closed(s->conns, sk->hc);
                        silo_identity_free(sk->identity);
                        free(sk->refusal);
                        free(sk);
                }
                *socket_context = NULL;
                s->closed_in_run = true;
        }
}

/* The connection limit, lowered so that connections leave a quarter of the soft
 * RLIMIT_NOFILE (at least 64 fds) to everything else: an fd-starved daemon cannot open its
 * state, its tasks' pidfds or its logs, and MHD stops accepting when accept() fails. */
static unsigned http_connection_limit(unsigned want)
{
        struct rlimit rl;
        rlim_t reserve, fit;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
                return want;
        reserve = MAX(rl.rlim_cur / 4, (rlim_t)64);
        fit = rl.rlim_cur > reserve + 16 ? rl.rlim_cur - reserve : 16;
        return fit < want ? (unsigned)fit : want;
}

http_deferred *http_request_defer(http_request *req)
{
        struct http_ctx *c = (struct http_ctx *)((char *)req - offsetof(struct http_ctx, req));

        MHD_suspend_connection(req->connection);
        LIST_PREPEND(c->server->deferred, c, deferred_prev, deferred_next);
        c->deferred_linked = true;
        return (http_deferred *)c;
}

http_response *http_deferred_response(http_deferred *d)
{
        return &((struct http_ctx *)d)->resp;
}

int http_deferred_finish(http_deferred *d)
{
        struct http_ctx *c = (struct http_ctx *)d;

        if (c->phase != PHASE_DEFERRED)
                return -EINVAL;
        if (!c->resp.mhd)
                (void)http_response_error(&c->resp, 500, NULL,
                                          "deferred request finished without a response");
        c->phase = PHASE_RESUMED;
        http_ctx_unlink(c);
        MHD_resume_connection(c->req.connection);
        return 0;
}

_printf_(2, 0) static void http_mhd_log(void *cls, const char *fmt, va_list ap)
{
        char buf[512];

        (void)cls;
        vsnprintf(buf, sizeof(buf), fmt, ap);
        buf[strcspn(buf, "\n")] = '\0';
        log_debug("microhttpd: %s", buf);
}

/* "127.0.0.1:5050", "[::1]:5050", "localhost:5050", ":5050" (all addresses). */
static int http_listen_socket(const char *listen_addr, int *ret_fd, int *ret_family)
{
        _cleanup_free_ char *host = NULL;
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
        struct addrinfo *ai = NULL;
        const char *colon, *port;
        int fd, one = 1, r;

        if (!listen_addr || !*listen_addr)
                return -EINVAL;
        if (listen_addr[0] == '[') {
                const char *close = strchr(listen_addr, ']');
                if (!close || close[1] != ':')
                        return -EINVAL;
                host = strndup(listen_addr + 1, (size_t)(close - listen_addr - 1));
                port = close + 2;
        } else {
                colon = strrchr(listen_addr, ':');
                if (!colon)
                        return -EINVAL;
                host = strndup(listen_addr, (size_t)(colon - listen_addr));
                port = colon + 1;
        }
        if (!host)
                return -ENOMEM;
        if (!*port || strspn(port, "0123456789") != strlen(port) || strtoul(port, NULL, 10) > 65535)
                return -EINVAL;
        r = getaddrinfo(*host ? host : NULL, port, &hints, &ai);
        if (r != 0)
                return r == EAI_SYSTEM ? negative_errno() : -EADDRNOTAVAIL;
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                r = negative_errno();
                freeaddrinfo(ai);
                return r;
        }
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4096) < 0) {
                r = negative_errno();
                freeaddrinfo(ai);
                close(fd);
                return r;
        }
        *ret_family = ai->ai_family;
        freeaddrinfo(ai);
        *ret_fd = fd;
        return 0;
}

int http_server_new(const struct http_server_config *config, http_server **ret_server)
{
        http_server *s;
        const union MHD_DaemonInfo *info;
        struct sockaddr_storage sa;
        socklen_t salen = sizeof(sa);
        unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
        unsigned idle_s, header_s;
        int fd, family, r;

        r = http_listen_socket(config->listen, &fd, &family);
        if (r < 0)
                return r;
        if (family == AF_INET6)
                flags |= MHD_USE_IPv6;

        s = calloc(1, sizeof(*s));
        if (!s) {
                close(fd);
                return -ENOMEM;
        }
        s->routes = config->routes;
        s->n_routes = config->n_routes;
        s->userdata = config->userdata;
        s->gate = config->gate;
        s->max_body = config->max_body ? config->max_body : HTTP_JSON_MAX_BODY_DEFAULT;
        s->connection_limit = http_connection_limit(
            config->connection_limit ? config->connection_limit : HTTP_SERVER_CONNECTION_LIMIT_DEFAULT);
        idle_s = config->connection_timeout_s ? config->connection_timeout_s
                                              : HTTP_SERVER_IDLE_TIMEOUT_S_DEFAULT;
        header_s = config->header_timeout_s ? config->header_timeout_s
                                            : HTTP_SERVER_HEADER_TIMEOUT_S_DEFAULT;
        r = http_conns_new(s->connection_limit, (uint64_t)header_s * 1000, (uint64_t)idle_s * 1000,
                           &s->conns);
        if (r < 0) {
                close(fd);
                free(s);
                return r;
        }
        if (config->token && !(s->token = strdup(config->token))) {
                close(fd);
                http_conns_free(s->conns);
                free(s);
                return -ENOMEM;
        }
        if (getsockname(fd, (struct sockaddr *)&sa, &salen) == 0)
                s->port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                                         : ((struct sockaddr_in *)&sa)->sin_port);

        s->tls = config->tls;
        /* MHD_OPTION_HTTPS_MEM_TRUST makes MHD ask for a client certificate; it does not check
         * it: http_sock_verify() does, against the CA and the CRL. Without TLS the array is
         * empty. */
        struct MHD_OptionItem tls_options[] = {
            {MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls ? (void *)tls_creds_key_pem(s->tls) : NULL},
            {MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls ? (void *)tls_creds_cert_pem(s->tls) : NULL},
            {MHD_OPTION_HTTPS_MEM_TRUST, 0, s->tls ? (void *)tls_creds_ca_pem(s->tls) : NULL},
            {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"},
            {MHD_OPTION_END, 0, NULL},
        };
        if (s->tls) {
                if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
                        close(fd);
                        http_server_free(s);
                        return -EPROTONOSUPPORT;
                }
                flags |= MHD_USE_TLS;
        } else
                tls_options[0].option = MHD_OPTION_END;
        s->mhd = MHD_start_daemon(
            flags, 0, NULL, NULL, http_access, s, MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, s,
            MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd, MHD_OPTION_CONNECTION_LIMIT,
            s->connection_limit, MHD_OPTION_PER_IP_CONNECTION_LIMIT, config->per_client_limit,
            MHD_OPTION_CONNECTION_TIMEOUT, idle_s, MHD_OPTION_NOTIFY_COMPLETED, http_completed, s,
            MHD_OPTION_NOTIFY_CONNECTION, http_notify_connection, s, MHD_OPTION_ARRAY, tls_options,
            MHD_OPTION_END);
        if (!s->mhd) {
                close(fd);
                http_server_free(s);
                return -EIO;
        }
        info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
        if (!info) {
                http_server_free(s);
                return -EIO;
        }
        s->epoll_fd = info->epoll_fd;
        *ret_server = s;
        return 0;
}

int http_listen_error(int r, const char *option, const char *listen, char **ret_error)
{
        if (r == -EINVAL)
                return error_set(ret_error, r,
                                 "%s %s: not a listen address (HOST:PORT or [IPv6]:PORT)", option,
                                 listen);
        if (r == -EPROTONOSUPPORT)
                return error_set(ret_error, r, "%s %s: libmicrohttpd was built without HTTPS",
                                 option, listen);
        return error_set(ret_error, r, "%s %s: %s", option, listen, strerror(-r));
}

int http_server_new_health(const char *listen, const struct http_route *routes, size_t n_routes,
                           void *userdata, http_server **ret_server)
{
        const struct http_route *health = NULL;
        struct http_server_config cfg = {.listen = listen, .userdata = userdata, .n_routes = 1,
                                          .connection_limit = 64, .per_client_limit = 16};
        int r;

        for (size_t i = 0; i < n_routes && !health; i++)
                if (streq(routes[i].method, "GET") && streq(routes[i].pattern, "/health"))
                        health = &routes[i];
        if (!health)
                return -ENOENT;
        cfg.routes = health;
        r = http_server_new(&cfg, ret_server);
        if (r < 0)
                return r;
        /* Its own copy, public whatever the table says: a probe has no credential. */
        (*ret_server)->health_route = *health;
        (*ret_server)->health_route.flags |= HTTP_ROUTE_PUBLIC;
        (*ret_server)->routes = &(*ret_server)->health_route;
        return 0;
}

http_server *http_server_free(http_server *s)
{
        if (!s)
                return NULL;
        s->stopping = true;
        if (s->mhd && (s->deferred || s->waiting)) {
                /* Requests still waiting for their owner get an answer now: MHD refuses to
                 * stop (it aborts) while a connection is suspended. */
                while (s->deferred) {
                        struct http_ctx *c = s->deferred;

                        if (!c->resp.mhd)
                                (void)http_response_error(&c->resp, 503, NULL, "server shutting down");
                        if (http_deferred_finish((http_deferred *)c) < 0)
                                http_ctx_unlink(c);
                }
                /* Likewise waiting streams: resumed, their reader ends them (stopping). */
                while (s->waiting)
                        http_stream_wake(s->waiting);
                (void)MHD_run(s->mhd);
        }
        s->io_src = event_source_remove(s->io_src);
        s->timer_src = event_source_remove(s->timer_src);
        s->post_src = event_source_remove(s->post_src);
        if (s->mhd)
                MHD_stop_daemon(s->mhd); /* reports every connection closed to http-conns */
        http_conns_free(s->conns);
        free(s->token);
        free(s);
        return NULL;
}

int http_server_get_fd(const http_server *s)
{
        return s->epoll_fd;
}

/* Arm the attached timer for MHD's next deadline, unless it fires earlier already: a run that
 * comes too early finds nothing to do and arms it again, so one timerfd_settime() per firing is
 * enough however often MHD runs in between. */
static int http_server_schedule(http_server *s)
{
        int ms = http_server_timeout_ms(s);
        uint64_t due;

        if (ms < 0)
                return 0;
        due = now_mono_ms() + (uint64_t)ms;
        if (s->timer_due_ms != 0 && s->timer_due_ms <= due)
                return 0;
        s->timer_due_ms = due;
        return event_source_set_time(s->timer_src, (uint64_t)ms * 1000 + 1, 0);
}

int http_server_run(http_server *s)
{
        int r = 0;

        /* MHD drops its listen socket from its epoll set at the connection limit and puts it
         * back only at the start of a run, while connections are closed at the end of one: after
         * a run that closed some, run again, or nothing may ever wake the loop for a new client. */
        for (int round = 0; round < 2; round++) {
                (void)http_conns_sweep(s->conns, now_mono_ms());
                s->closed_in_run = false;
                if (MHD_run(s->mhd) != MHD_YES)
                        r = -EIO;
                if (!s->closed_in_run)
                        break;
        }
        s->rerun = s->closed_in_run;
        if (s->timer_src) {
                int k = http_server_schedule(s);
                if (k < 0)
                        r = k;
        }
        return r;
}

int http_server_timeout_ms(http_server *s)
{
        MHD_UNSIGNED_LONG_LONG t;
        int64_t next = s->rerun ? 0 : http_conns_next_ms(s->conns, now_mono_ms());

        if (MHD_get_timeout(s->mhd, &t) == MHD_YES && (next < 0 || t < (uint64_t)next))
                next = (int64_t)t;
        return next > INT32_MAX ? INT32_MAX : (int)next;
}

static int on_http_fd(struct event_source *src, int fd, uint32_t revents, void *userdata)
{
        (void)src;
        (void)fd;
        (void)revents;
        (void)userdata;
        return 0; /* only wakes the loop: MHD runs in on_http_post() */
}

static int on_http_timer(struct event_source *src, uint64_t expirations, void *userdata)
{
        http_server *s = userdata;

        (void)src;
        (void)expirations;
        s->timer_due_ms = 0;
        return 0;
}

static int on_http_post(struct event_source *src, void *userdata)
{
        http_server *s = userdata;
        int r;

        (void)src;
        r = http_server_run(s);
        if (r < 0)
                log_debug("http server: %s", strerror(-r));
        return 0;
}

int http_server_attach(http_server *s, struct event_loop *loop)
{
        int r;

        assert(!s->io_src);
        /* Level-triggered: MHD handles a bounded batch per run, and what it leaves must wake the
         * loop again. The poll is re-armed after the post source ran MHD, so it sees what is left. */
        r = event_loop_add_io(loop, s->epoll_fd, POLLIN, EVENT_IO_LEVEL, on_http_fd, s, NULL,
                              &s->io_src);
        if (r >= 0)
                r = event_loop_add_timer(loop, 0, 0, on_http_timer, s, NULL, &s->timer_src);
        if (r >= 0)
                r = event_loop_add_post(loop, on_http_post, s, NULL, &s->post_src);
        if (r < 0) {
                s->io_src = event_source_remove(s->io_src);
                s->timer_src = event_source_remove(s->timer_src);
                return r;
        }
        return 0;
}

unsigned http_server_connection_limit(const http_server *s)
{
        return s->connection_limit;
}

uint16_t http_server_port(const http_server *s)
{
        return s->port;
}

unsigned http_server_connections(const http_server *s)
{
        const union MHD_DaemonInfo *info =
            MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

        return info ? info->num_connections : 0;
}
