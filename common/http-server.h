/* SPDX-License-Identifier: Apache-2.0 */
/* Embedded HTTP/1.1 API server on libmicrohttpd, driven by the caller's event loop (no threads). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

/*
 * The server runs MHD in MHD_USE_EPOLL mode without an internal thread: MHD keeps all its
 * sockets in one epoll fd, which the daemon's event loop watches (http_server_attach()). When
 * it is readable, or when http_server_timeout_ms() expires, call http_server_run().
 *
 * Requests are routed by method and path pattern ("/api/v1/tasks/{id}": each "{...}" matches
 * one non-empty path segment). A request body is accumulated up to max_body bytes (413
 * beyond) and parsed as JSON (400 on a syntax error) before the handler runs. Every route
 * requires "Authorization: Bearer <token>" (401 otherwise) unless it is flagged
 * HTTP_ROUTE_PUBLIC (only /health should be). Unknown paths get 404, a known path with
 * another method 405 with an Allow header. Every error body is the wire protocol's
 * {"error": {"code": ..., "message": ...}} (http-json.h).
 *
 * Route, token, a Content-Length above max_body (413) and a body on a route that takes none
 * (400: GET, DELETE and public routes) are decided on the headers alone, before any body
 * byte is read, so a client that is refused never holds a connection. Connections are
 * bounded in total and per client address, must deliver their headers within
 * header_timeout_s and an accepted upload within the idle timeout; at the limit a new
 * connection evicts one that has no accepted request (http-conns.h).
 */

typedef struct http_server http_server;
struct silo_identity;
struct tls_creds;
typedef struct http_request http_request;
typedef struct http_response http_response;
typedef struct http_deferred http_deferred;

#define HTTP_MAX_CAPTURES 4

enum {
        HTTP_ROUTE_PUBLIC = 1u << 0,   /* no token needed (GET /health) */
        HTTP_ROUTE_RAW_BODY = 1u << 1, /* do not parse the body as JSON; see raw_body */
};

/* Handlers fill `resp` with one of the http_response_*() helpers and return 0, or return
 * HTTP_DEFERRED after http_request_defer(), or a negative errno, which becomes a 500 (or the
 * status http_status_from_errno() maps it to) with the errno text. */
#define HTTP_DEFERRED 1
typedef int (*http_handler_fn)(http_request *req, http_response *resp, void *userdata);

struct http_route {
        const char *method;  /* "GET", "POST", "DELETE", "PUT" */
        const char *pattern; /* "/api/v1/agents/{id}/heartbeat" */
        http_handler_fn handler;
        unsigned flags; /* HTTP_ROUTE_* */
};

struct http_server_config {
        const char *listen; /* "127.0.0.1:5050", "[::1]:5050", "0.0.0.0:5050"; port 0 = any */
        const struct http_route *routes;
        size_t n_routes;
        void *userdata;            /* passed to every handler */
        const char *token;         /* required bearer token; NULL disables auth (unit tests only) */
        size_t max_body;           /* 0 = 1 MiB */
        /* Concurrent connections; 0 = 4096. Lowered to leave a quarter of the soft
         * RLIMIT_NOFILE (at least 64 fds) to the rest of the process. At the limit, a new
         * connection evicts the oldest one without a request in progress (http-conns.h). */
        unsigned connection_limit;
        unsigned per_client_limit;     /* connections per client address; 0 = no limit */
        unsigned connection_timeout_s; /* idle keep-alive connections closed after; 0 = 60 */
        /* A connection must deliver a request's complete headers this long after it opened,
         * however slowly it sends them; 0 = 10. */
        unsigned header_timeout_s;
        /* Called after routing and authentication, before the body is read and before the
         * handler: 0 to go on, 1 when it filled resp itself (a follower master's 307, a 403),
         * or a negative errno (a 500). NULL: none. */
        int (*gate)(http_request *req, http_response *resp, void *userdata);
        /* HTTPS with mutual TLS (tls.h) when set; borrowed, must outlive the server. The API
         * then speaks HTTPS only; every route but the public ones requires a client
         * certificate the CA signed and the CRL does not revoke (401 "unauthenticated"
         * saying why otherwise), and the certificate replaces the bearer token. A plain-HTTP
         * request is answered "400 this port speaks HTTPS" in plain text and logged. */
        struct tls_creds *tls;
};

/* The connection options both daemons take, for their option tables (config.h), after their
 * own --max-connections: `type` is the options struct, with uint64_t max_connections_per_client,
 * header_timeout_s and idle_timeout_s for the fields of struct http_server_config. */
#define HTTP_SERVER_CONFIG_OPTIONS(type)                                                          \
        {"max-connections-per-client", CONFIG_UINT, offsetof(type, max_connections_per_client),  \
         "64", "N", "HTTP connections one client address may hold (0: no limit)", 0, 1000000},   \
        {"header-timeout-s", CONFIG_UINT, offsetof(type, header_timeout_s), "10", "SEC",          \
         "a connection that has not sent a complete request header this long after it opened "  \
         "is closed, however slowly it sends",                                                    \
         1, 3600},                                                                                \
        {"idle-timeout-s", CONFIG_UINT, offsetof(type, idle_timeout_s), "60", "SEC",              \
         "a kept-alive connection without a new request this long is closed", 1, 86400}

/* The TLS options both daemons take (tls.h): `type` has char *tls_ca, *tls_cert, *tls_key,
 * *tls_crl and *health_listen. TLS is on when --tls-cert is set. */
#define HTTP_SERVER_TLS_OPTIONS(type)                                                             \
        {"tls-ca", CONFIG_STRING, offsetof(type, tls_ca), NULL, "FILE",                           \
         "cluster CA certificate (PEM): peers must present a certificate it signed", 0, 0},      \
        {"tls-cert", CONFIG_STRING, offsetof(type, tls_cert), NULL, "FILE",                       \
         "this daemon's certificate (PEM, siloctl tls cert); turns mutual TLS on: the API "      \
         "speaks HTTPS only and so do its calls",                                                \
         0, 0},                                                                                   \
        {"tls-key", CONFIG_STRING, offsetof(type, tls_key), NULL, "FILE",                         \
         "the private key of --tls-cert (PEM, mode 0600)", 0, 0},                                \
        {"tls-crl", CONFIG_STRING, offsetof(type, tls_crl), NULL, "FILE",                         \
         "revoked certificates (PEM CRL, siloctl tls revoke); re-read when it changes", 0, 0},   \
        {"health-listen", CONFIG_STRING, offsetof(type, health_listen), NULL, "ADDR",             \
         "also serve GET /health (and nothing else) in plain HTTP on ADDR, for probes without "   \
         "a certificate",                                                                         \
         0, 0}

#define HTTP_SERVER_CONNECTION_LIMIT_DEFAULT 4096
#define HTTP_SERVER_IDLE_TIMEOUT_S_DEFAULT 60
#define HTTP_SERVER_HEADER_TIMEOUT_S_DEFAULT 10

struct http_request {
        const char *method;
        const char *path;                        /* without the query string */
        const char *captures[HTTP_MAX_CAPTURES]; /* the "{...}" segments, in order */
        size_t n_captures;
        json_t *body;         /* parsed JSON body (borrowed), NULL when empty or RAW_BODY */
        const char *raw_body; /* the body bytes, NUL-terminated; NULL when empty */
        size_t raw_body_size;
        const char *remote; /* peer address "127.0.0.1:34567" */
        void *connection;   /* the MHD connection (internal) */
};

/* ---- server lifecycle ---- */

/* Bind, listen and start MHD. -EINVAL for an unparsable listen address, -EADDRINUSE etc.
 * from bind(). The config's strings are copied; routes and userdata must outlive the server. */
int http_server_new(const struct http_server_config *config, http_server **ret_server);
http_server *http_server_free(http_server *s);
/* http_server_new()'s failure `r` on the address given as `option` ("--listen") as a message
 * naming both. Returns r. */
int http_listen_error(int r, const char *option, const char *listen, char **ret_error);
/* A plain-HTTP server on `listen` that answers GET /health only, with the handler `routes`
 * has for it (--health-listen): load balancers and probes hold no certificate. Every other
 * path is 404 there. */
int http_server_new_health(const char *listen, const struct http_route *routes, size_t n_routes,
                           void *userdata, http_server **ret_server);

struct event_loop;
/* Drive the server from an event loop (event-loop.h), as both daemons do: MHD's epoll fd and
 * its next deadline become sources that wake the loop, and a post source runs MHD once after
 * every iteration, whatever woke the loop. http_server_free() removes the sources. */
int http_server_attach(http_server *s, struct event_loop *loop);

/* The epoll fd to watch for readability (a loop of one's own, as the tests have). */
int http_server_get_fd(const http_server *s);
/* Process everything that is ready and close connections past their deadlines; never blocks.
 * Returns 0 or -errno. Call it after every wake-up of the loop whatever woke it (MHD only
 * re-arms its listen socket, dropped at the connection limit, from a run), and at the latest
 * when http_server_timeout_ms() expires (an attached server does both by itself; call it
 * directly to serve at once what was just resumed or streamed, and it re-arms the timer). */
int http_server_run(http_server *s);
/* Milliseconds until http_server_run() must be called even without fd activity (MHD's own
 * timeouts, the next header or idle deadline, 0 when work is pending); -1 = none. */
int http_server_timeout_ms(http_server *s);
/* The connection limit in force (after the RLIMIT_NOFILE clamp). */
unsigned http_server_connection_limit(const http_server *s);
/* The port actually bound (useful with port 0). */
uint16_t http_server_port(const http_server *s);
/* Currently open client connections. */
unsigned http_server_connections(const http_server *s);

/* ---- request accessors ---- */

/* The identity of the request's verified client certificate; NULL without TLS (and on the
 * public routes, which need none). */
const struct silo_identity *http_request_identity(const http_request *req);

/* A query argument ("state" in "?state=RUNNING"), URL-decoded; NULL when absent. */
const char *http_request_query(const http_request *req, const char *key);
/* A request header (name case-insensitive); NULL when absent. */
const char *http_request_header(const http_request *req, const char *name);
/* "<path>[?<query>]" of the request, the path's segments and the query re-encoded from what
 * MHD decoded (for a redirect that keeps them). NULL when out of memory. */
char *http_request_target(const http_request *req);

/* ---- responses (each takes ownership of the body it is given, even on failure) ---- */

/* A JSON body (may be NULL for an empty body, e.g. 204). */
int http_response_json(http_response *resp, unsigned status, json_t *body);
/* The wire protocol error body; code NULL = derived from the status (http_json_status_code). */
int http_response_error(http_response *resp, unsigned status, const char *code, const char *format,
                        ...) __attribute__((format(printf, 4, 5)));
/* A text body (e.g. "text/plain; version=0.0.4" for /metrics). */
int http_response_text(http_response *resp, unsigned status, const char *content_type, char *text);

/* A streamed body produced by `read` on demand (log follow): return bytes written into buf
 * (>0), 0 when nothing is available yet, HTTP_STREAM_END at the end, or HTTP_STREAM_ERROR to
 * abort the connection. After a 0, MHD asks again at the next http_server_run() only (the
 * epoll fd does not wake for it): call http_server_run() when more data may be there (a
 * timer, an inotify event). `destroy` (may be NULL) frees userdata; it runs even on failure. */
#define HTTP_STREAM_END (-1)
#define HTTP_STREAM_ERROR (-2)
typedef ssize_t (*http_stream_read_fn)(void *userdata, uint64_t pos, char *buf, size_t max);
int http_response_stream(http_response *resp, unsigned status, const char *content_type,
                         http_stream_read_fn read, void *userdata, void (*destroy)(void *));

/* A stream whose data comes when something happens (an event feed). `read` may also return
 * HTTP_STREAM_WAIT: the connection is suspended, costing nothing, until http_stream_wake().
 * MHD may hold the response headers until the first body bytes, so a feed with nothing to say
 * at first should say something (a heartbeat) for its client to see the status at once.
 * *ret_stream stays valid until `destroy` runs (the connection is gone then): its owner
 * forgets it there. */
#define HTTP_STREAM_WAIT (-3)
typedef struct http_stream http_stream;
int http_response_stream_open(http_response *resp, unsigned status, const char *content_type,
                              http_stream_read_fn read, void *userdata, void (*destroy)(void *),
                              http_stream **ret_stream);
/* Read a waiting stream again at the next http_server_run() (nothing when it is not waiting). */
void http_stream_wake(http_stream *st);
/* Close the stream's connection whatever it is doing, even blocked on a client that stopped
 * reading: `read` is not called again and `destroy` follows from a later run. */
void http_stream_abort(http_stream *st);
/* Bound the kernel's send buffer of the stream's connection (SO_SNDBUF, which Linux doubles):
 * by default it grows to megabytes (tcp_wmem), where a client that stopped reading hides from
 * its owner's own bound on what it has not sent. Applied when the response is queued. */
void http_stream_set_send_buffer(http_stream *st, int bytes);
/* The client's address, "127.0.0.1:34567" ("?" before the response is queued). */
const char *http_stream_remote(const http_stream *st);

/* Add a response header; call after setting the body. */
int http_response_header(http_response *resp, const char *name, const char *value);

/* ---- deferred responses ---- */

/* Suspend the request so the handler can answer later (after an outgoing call finishes):
 * the handler returns HTTP_DEFERRED, and later the owner builds a response on
 * http_deferred_response() and calls http_deferred_finish(), exactly once. The request's
 * path, captures and body stay valid until then. NULL when out of memory. */
/* http_server_free() answers requests still deferred (503 unless a response was set) and
 * their handles become invalid. */
http_deferred *http_request_defer(http_request *req);
http_response *http_deferred_response(http_deferred *d);
int http_deferred_finish(http_deferred *d);
