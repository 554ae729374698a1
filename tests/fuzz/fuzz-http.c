/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the HTTP request path: the input is the byte stream of one client
 * connection (request line, headers, bodies, pipelined requests), sent over loopback to the
 * real http_server (libmicrohttpd, common/http-server.c) in this process, with routes shaped
 * like the daemons': a public /health, JSON bodies decoded by the codecs, captures, queries,
 * a raw body, a deferred answer and a gate. Every answer must be a well-formed HTTP status
 * line, and once the client closed, the server holds no connection; whatever the server does
 * must not crash, leak or hang. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/http-server.h"
#include "common/protocol-json.h"

#define TOKEN "fuzz-token-0123456789abcdef"
#define MAX_PENDING 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static http_server *server;
static http_deferred *pending[MAX_PENDING];
static size_t n_pending;

static int answer_decoded(http_response *resp, int r, char *err, const char *what,
                          const http_request *req)
{
        int k;

        if (r < 0) {
                k = http_response_error(resp, 400, "invalid_spec", "%s", err ? err : "?");
                free(err);
                return k;
        }
        return http_response_json(resp, 201,
                                  json_pack("{s:s, s:s?, s:s?, s:s?}", "decoded", what, "capture",
                                            req->n_captures ? req->captures[0] : NULL, "wait",
                                            http_request_query(req, "wait"), "request_id",
                                            http_request_header(req, "X-Request-Id")));
}

static int h_health(http_request *req, http_response *resp, void *userdata)
{
        (void)req;
        (void)userdata;
        return http_response_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}

static int h_task_submit(http_request *req, http_response *resp, void *userdata)
{
        struct silo_task_spec *x = NULL;
        char *err = NULL;
        int r;

        (void)userdata;
        r = silo_task_spec_from_json(req->body, &x, &err);
        silo_task_spec_free(x);
        return answer_decoded(resp, r, err, "task_spec", req);
}

static int h_register(http_request *req, http_response *resp, void *userdata)
{
        struct silo_agent_registration *x = NULL;
        char *err = NULL;
        int r;

        (void)userdata;
        r = silo_agent_registration_from_json(req->body, &x, &err);
        silo_agent_registration_free(x);
        return answer_decoded(resp, r, err, "agent_registration", req);
}

static int h_status(http_request *req, http_response *resp, void *userdata)
{
        struct silo_status_update *x = NULL;
        char *err = NULL;
        int r;

        (void)userdata;
        r = silo_status_update_from_json(req->body, &x, &err);
        silo_status_update_free(x);
        return answer_decoded(resp, r, err, "status_update", req);
}

static int h_task_get(http_request *req, http_response *resp, void *userdata)
{
        char *target = http_request_target(req);
        int r;

        (void)userdata;
        r = http_response_json(resp, 200,
                               json_pack("{s:s, s:s?}", "id", req->captures[0], "target", target));
        free(target);
        return r;
}

/* Answered later, as the master answers after its commit. */
static int h_task_kill(http_request *req, http_response *resp, void *userdata)
{
        (void)resp;
        (void)userdata;
        if (n_pending == MAX_PENDING)
                return -EBUSY;
        pending[n_pending++] = http_request_defer(req);
        return HTTP_DEFERRED;
}

static int h_raw(http_request *req, http_response *resp, void *userdata)
{
        (void)userdata;
        return http_response_json(resp, 200,
                                  json_pack("{s:I, s:s, s:s}", "size", (json_int_t)req->raw_body_size,
                                            "agent", req->captures[0], "name", req->captures[1]));
}

static int gate(http_request *req, http_response *resp, void *userdata)
{
        (void)userdata;
        if (!http_request_header(req, "X-Fuzz-Deny"))
                return 0;
        (void)http_response_error(resp, 403, "forbidden", "%s %s: denied by the gate", req->method,
                                  req->path);
        return 1;
}

static const struct http_route routes[] = {
        {"GET", "/health", h_health, HTTP_ROUTE_PUBLIC},
        {"POST", "/api/v1/tasks", h_task_submit, 0},
        {"GET", "/api/v1/tasks/{id}", h_task_get, 0},
        {"DELETE", "/api/v1/tasks/{id}", h_task_kill, 0},
        {"POST", "/api/v1/agents", h_register, 0},
        {"POST", "/api/v1/agents/{id}/status", h_status, 0},
        {"PUT", "/api/v1/agents/{id}/files/{name}", h_raw, HTTP_ROUTE_RAW_BODY},
};

static void finish_pending(void)
{
        for (size_t i = 0; i < n_pending; i++) {
                (void)http_response_json(http_deferred_response(pending[i]), 202,
                                         json_pack("{s:s}", "state", "KILLING"));
                (void)http_deferred_finish(pending[i]);
        }
        n_pending = 0;
}

static bool server_ready(void)
{
        struct pollfd p = {.fd = http_server_get_fd(server), .events = POLLIN};

        return poll(&p, 1, 0) > 0;
}

/* Run the server until it has nothing left to do: loopback delivers at once, so a server
 * without ready sockets or answers to finish is done. */
static void settle(int fd, size_t *answered)
{
        char buf[65536];

        for (int i = 0, idle = 0; i < 2000 && idle < 2; i++) {
                bool progress = false;
                ssize_t n;

                (void)http_server_run(server);
                if (n_pending) {
                        finish_pending();
                        progress = true;
                }
                while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0) {
                        /* Every answer starts with a status line of ours or of MHD. */
                        if (*answered == 0 && strncmp(buf, "HTTP/1.", 7) != 0) {
                                fprintf(stderr, "answer without a status line: %.40s\n", buf);
                                abort();
                        }
                        *answered += (size_t)n;
                        progress = true;
                }
                if (progress || server_ready())
                        idle = 0;
                else
                        idle++;
        }
}

static int setup(void)
{
        struct http_server_config cfg = {
                .listen = "127.0.0.1:0",
                .routes = routes,
                .n_routes = sizeof(routes) / sizeof(routes[0]),
                .token = TOKEN,
                .max_body = 64 * 1024,
                .gate = gate,
        };

        return http_server_new(&cfg, &server);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        struct linger no_linger = {.l_onoff = 1, .l_linger = 0};
        size_t off = 0, answered = 0;
        int fd;

        if (!server && setup() < 0)
                abort();
        sa.sin_port = htons(http_server_port(server));
        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                abort();
        /* Closed with a reset: no TIME_WAIT, so millions of runs do not run out of ports. */
        (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &no_linger, sizeof(no_linger));
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
                abort();
        for (int i = 0; off < size && i < 1000; i++) {
                ssize_t n = write(fd, data + off, size - off);

                if (n > 0)
                        off += (size_t)n;
                else if (n < 0 && errno != EAGAIN)
                        break; /* the server closed (an early refusal): what is left is unread */
                settle(fd, &answered);
        }
        (void)shutdown(fd, SHUT_WR);
        settle(fd, &answered);
        close(fd);
        settle(-1, &answered);
        /* The client is gone: a connection the server still holds would be one it leaks. */
        if (http_server_connections(server) != 0) {
                fprintf(stderr, "%u connections left after the client closed\n",
                        http_server_connections(server));
                abort();
        }
        return 0;
}
