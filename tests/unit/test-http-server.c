/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of common/http-server and common/http-client together over loopback, in one loop. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/event-loop.h"
#include "common/http-client.h"
#include "common/http-json.h"
#include "common/http-server.h"
#include "common/macro.h"

#define TOKEN "unit-test-token-0123456789"

static http_server *server;
static http_client *client;
static int epfd = -1;
static char base[64];
static http_deferred *pending_deferred;
static unsigned echo_calls;

/* The gate: what the client's X-Gate header asks for (a follower's 307, a failure). */
static int gate(http_request *req, http_response *resp, void *userdata)
{
        const char *g = http_request_header(req, "x-gate");
        _cleanup_free_ char *target = NULL, *location = NULL;

        (void)userdata;
        if (!g)
                return 0;
        if (streq(g, "fail"))
                return -EACCES;
        target = http_request_target(req);
        if (!target || asprintf(&location, "http://leader.example:5050%s", target) < 0)
                return -ENOMEM;
        (void)http_response_error(resp, 307, "redirect", "ask the leader");
        (void)http_response_header(resp, "Location", location);
        return 1;
}

static int h_health(http_request *req, http_response *resp, void *userdata)
{
        (void)req;
        (void)userdata;
        return http_response_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}

/* Echo what the server saw: captures, query, body. */
static int h_echo(http_request *req, http_response *resp, void *userdata)
{
        json_t *caps = json_array();

        (void)userdata;
        echo_calls++;
        for (size_t i = 0; i < req->n_captures; i++)
                json_array_append_new(caps, json_string(req->captures[i]));
        return http_response_json(resp, 200,
                                  json_pack("{s:s, s:s, s:o, s:s?, s:O?, s:I}", "method",
                                            req->method, "path", req->path, "captures", caps, "q",
                                            http_request_query(req, "q"), "body", req->body, "size",
                                            (json_int_t)req->raw_body_size));
}

static int h_fail(http_request *req, http_response *resp, void *userdata)
{
        (void)req;
        (void)resp;
        (void)userdata;
        return -ENOENT;
}

static int h_text(http_request *req, http_response *resp, void *userdata)
{
        (void)req;
        (void)userdata;
        return http_response_text(resp, 200, "text/plain; version=0.0.4", strdup("metric 1\n"));
}

static int h_defer(http_request *req, http_response *resp, void *userdata)
{
        (void)resp;
        (void)userdata;
        pending_deferred = http_request_defer(req);
        return pending_deferred ? HTTP_DEFERRED : -ENOMEM;
}

/* /feed: a stream whose data comes later (HTTP_STREAM_WAIT until woken); "infinite" feeds
 * without end, for a client that stops reading. */
static struct feed {
        http_stream *stream;
        char data[256];
        size_t len;
        bool end, infinite;
        unsigned reads, waits, destroyed;
} feed;

static ssize_t feed_read(void *userdata, uint64_t pos, char *buf, size_t max)
{
        struct feed *f = userdata;
        size_t n;

        (void)pos;
        f->reads++;
        if (f->infinite) {
                memset(buf, 'x', max);
                return (ssize_t)max;
        }
        if (f->len == 0) {
                if (f->end)
                        return HTTP_STREAM_END;
                f->waits++;
                return HTTP_STREAM_WAIT;
        }
        n = MIN(max, f->len);
        memcpy(buf, f->data, n);
        memmove(f->data, f->data + n, f->len - n);
        f->len -= n;
        return (ssize_t)n;
}

static void feed_destroy(void *userdata)
{
        struct feed *f = userdata;

        f->destroyed++;
        f->stream = NULL;
}

static int h_feed(http_request *req, http_response *resp, void *userdata)
{
        int r;

        (void)req;
        (void)userdata;
        r = http_response_stream_open(resp, 200, "application/x-ndjson", feed_read, &feed,
                                      feed_destroy, &feed.stream);
        if (r >= 0 && feed.infinite)
                http_stream_set_send_buffer(feed.stream, 4096);
        return r;
}

static const struct http_route routes[] = {
    {"GET", "/feed", h_feed, 0},
    {"GET", "/health", h_health, HTTP_ROUTE_PUBLIC},
    {"GET", "/things/{id}", h_echo, 0},
    {"POST", "/things/{id}/parts/{part}", h_echo, 0},
    {"DELETE", "/things/{id}", h_echo, 0},
    {"POST", "/raw", h_echo, HTTP_ROUTE_RAW_BODY},
    {"GET", "/fail", h_fail, 0},
    {"GET", "/text", h_text, 0},
    {"GET", "/defer", h_defer, 0},
};

struct result {
        bool done;
        int error;
        long status;
        char *body;
        json_t *json;
        char *location;
};

static void on_done(const struct http_client_result *res, void *userdata)
{
        struct result *r = userdata;

        r->done = true;
        r->error = res->error;
        r->status = res->status;
        r->body = strdup(res->body ? res->body : "");
        r->json = json_incref(res->json);
        r->location = res->location ? strdup(res->location) : NULL;
}

/* Drive server and client until the request completes (or 5 s pass). */
static void run_until(struct result *r)
{
        for (int i = 0; i < 5000 && !r->done; i++) {
                struct epoll_event ev[8];
                int n = epoll_wait(epfd, ev, 8, 1);

                for (int k = 0; k < n; k++) {
                        if (ev[k].data.u32 == 1)
                                assert_int_equal(http_server_run(server), 0);
                        else
                                assert_int_equal(http_client_process(client), 0);
                }
                if (n == 0)
                        (void)http_server_run(server);
        }
        assert_true(r->done);
}

static void request(struct result *r, const char *method, const char *path, const json_t *body,
                    const char *token)
{
        char url[256];

        memset(r, 0, sizeof(*r));
        snprintf(url, sizeof(url), "%s%s", base, path);
        assert_int_equal(http_client_request(client, method, url, body, token, 3000, on_done, r),
                         0);
        run_until(r);
}

static void result_clear(struct result *r)
{
        free(r->body);
        free(r->location);
        json_decref(r->json);
}

static void expect_error_body(struct result *r, long status, const char *code, const char *fragment)
{
        char *c = NULL, *m = NULL;

        assert_int_equal(r->error, 0);
        assert_int_equal(r->status, status);
        assert_int_equal(http_json_error_parse(r->json, &c, &m), 0);
        assert_string_equal(c, code);
        if (!strstr(m, fragment))
                fail_msg("message '%s' lacks '%s'", m, fragment);
        free(c);
        free(m);
        result_clear(r);
}

static void test_routing_and_captures(void **state)
{
        struct result r;
        json_t *body;

        (void)state;
        request(&r, "GET", "/health", NULL, NULL);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "{\"status\":\"ok\"}");
        result_clear(&r);

        request(&r, "GET", "/things/abc-1?q=x%20y", NULL, TOKEN);
        assert_int_equal(r.status, 200);
        assert_string_equal(json_string_value(json_object_get(r.json, "path")), "/things/abc-1");
        assert_string_equal(
            json_string_value(json_array_get(json_object_get(r.json, "captures"), 0)), "abc-1");
        assert_string_equal(json_string_value(json_object_get(r.json, "q")), "x y");
        result_clear(&r);

        body = json_pack("{s:i}", "n", 5);
        request(&r, "POST", "/things/t1/parts/p2", body, TOKEN);
        json_decref(body);
        assert_int_equal(r.status, 200);
        assert_string_equal(
            json_string_value(json_array_get(json_object_get(r.json, "captures"), 1)), "p2");
        assert_int_equal(json_integer_value(json_object_get(json_object_get(r.json, "body"), "n")),
                         5);
        result_clear(&r);

        request(&r, "DELETE", "/things/zz", NULL, TOKEN);
        assert_string_equal(json_string_value(json_object_get(r.json, "method")), "DELETE");
        result_clear(&r);
}

static void test_errors(void **state)
{
        struct result r;

        (void)state;
        request(&r, "GET", "/nowhere", NULL, TOKEN);
        expect_error_body(&r, 404, "not_found", "GET /nowhere: no such endpoint");
        request(&r, "GET", "/things/", NULL, TOKEN);
        expect_error_body(&r, 404, "not_found", "no such endpoint");
        request(&r, "GET", "/things/a/b", NULL, TOKEN);
        expect_error_body(&r, 404, "not_found", "no such endpoint");
        request(&r, "PUT", "/things/a", NULL, TOKEN);
        expect_error_body(&r, 405, "method_not_allowed", "PUT /things/a: method not allowed");
        request(&r, "GET", "/fail", NULL, TOKEN);
        expect_error_body(&r, 404, "not_found", "GET /fail: No such file or directory");
}

static void test_auth(void **state)
{
        struct result r;

        (void)state;
        request(&r, "GET", "/things/x", NULL, NULL);
        expect_error_body(&r, 401, "unauthorized", "bearer token");
        request(&r, "GET", "/things/x", NULL, "wrong-token-wrong-token");
        expect_error_body(&r, 401, "unauthorized", "bearer token");
        /* Unauthenticated requests do not learn which paths exist beyond 404/405 routing. */
        request(&r, "GET", "/health", NULL, "wrong-token-wrong-token");
        assert_int_equal(r.status, 200);
        result_clear(&r);
}

static void test_bodies(void **state)
{
        struct result r;
        char url[128];
        json_t *big;
        char *pad;

        (void)state;
        /* Bodies are objects or arrays; a bare scalar is refused as invalid JSON. */
        snprintf(url, sizeof(url), "%s/things/a/parts/b", base);
        {
                json_t *s = json_string("not an object");
                request(&r, "POST", "/things/a/parts/b", s, TOKEN);
                json_decref(s);
                expect_error_body(&r, 400, "bad_request", "invalid JSON at line 1");
        }
        /* Over the 4 KiB limit of this server: 413 before the body is read. */
        pad = malloc(8192);
        memset(pad, 'x', 8191);
        pad[8191] = '\0';
        big = json_pack("{s:s}", "pad", pad);
        free(pad);
        request(&r, "POST", "/things/a/parts/b", big, TOKEN);
        json_decref(big);
        expect_error_body(&r, 413, "payload_too_large", "exceeds the limit of 4096 bytes");
        /* Empty POST: body is NULL, size 0. */
        request(&r, "POST", "/things/a/parts/b", NULL, TOKEN);
        assert_int_equal(r.status, 200);
        assert_true(json_is_null(json_object_get(r.json, "body")));
        assert_int_equal(json_integer_value(json_object_get(r.json, "size")), 0);
        result_clear(&r);
}

/* Send raw bytes (malformed JSON, chunked bodies) and return the whole response text. */
static char *raw_request(const char *text)
{
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons(http_server_port(server)),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        char *buf = calloc(1, 65536);
        size_t got = 0;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

        assert_true(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EINPROGRESS);
        for (int i = 0; i < 100; i++) {
                (void)http_server_run(server);
                if (write(fd, text, strlen(text)) == (ssize_t)strlen(text))
                        break;
                usleep(1000);
        }
        for (int i = 0; i < 3000; i++) {
                /* poll(), not epoll_wait(), on MHD's epoll fd: waiting on it directly would
                 * consume the edge-triggered events MHD itself needs to see. */
                struct pollfd p = {.fd = http_server_get_fd(server), .events = POLLIN};
                ssize_t n;

                (void)poll(&p, 1, 1);
                (void)http_server_run(server);
                n = read(fd, buf + got, 65535 - got);
                if (n > 0)
                        got += (size_t)n;
                else if (n == 0)
                        break;
                if (got > 0 && strstr(buf, "\r\n\r\n")) {
                        const char *cl = strcasestr(buf, "Content-Length: ");
                        const char *hdr_end = strstr(buf, "\r\n\r\n") + 4;
                        if (cl && (size_t)(hdr_end - buf) + strtoul(cl + 16, NULL, 10) <= got)
                                break;
                }
        }
        close(fd);
        return buf;
}

static void test_raw_bodies(void **state)
{
        char *resp;

        (void)state;
        resp = raw_request(
            "POST /things/a/parts/b HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " TOKEN
            "\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{\"a\": 1,}");
        if (!strstr(resp, "HTTP/1.1 400") || !strstr(resp, "invalid JSON at line 1"))
                fail_msg("malformed JSON: %s", resp);
        free(resp);
        /* A chunked body has no length up front: read, discarded past the limit, then 413. */
        {
                char req[16384];
                char chunk[3000];
                int off;

                memset(chunk, 'x', sizeof(chunk) - 1);
                chunk[sizeof(chunk) - 1] = '\0';
                off = snprintf(
                    req, sizeof(req),
                    "POST /things/a/parts/b HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " TOKEN
                    "\r\nTransfer-Encoding: chunked\r\n\r\n");
                for (int i = 0; i < 3; i++)
                        off += snprintf(req + off, sizeof(req) - (size_t)off, "%zx\r\n%s\r\n",
                                        strlen(chunk), chunk);
                snprintf(req + off, sizeof(req) - (size_t)off, "0\r\n\r\n");
                resp = raw_request(req);
                if (!strstr(resp, "HTTP/1.1 413") || !strstr(resp, "payload_too_large"))
                        fail_msg("chunked body over the limit: %.300s", resp);
                free(resp);
        }
        /* Two readings of a body's length (request smuggling): refused, the connection closed. */
        resp = raw_request("POST /raw HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " TOKEN
                           "\r\nContent-Length: 5\r\ncontent-length: 0\r\n\r\nhello");
        if (!strstr(resp, "HTTP/1.1 400") || !strstr(resp, "Connection: close") ||
            !strstr(resp, "header Content-Length: sent more than once"))
                fail_msg("duplicate Content-Length: %s", resp);
        free(resp);
        resp = raw_request("POST /raw HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " TOKEN
                           "\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "5\r\nhello\r\n0\r\n\r\n");
        if (!strstr(resp, "HTTP/1.1 400") || !strstr(resp, "Connection: close") ||
            !strstr(resp, "headers Content-Length and Transfer-Encoding: both sent"))
                fail_msg("Content-Length with Transfer-Encoding: %s", resp);
        free(resp);
        /* Raw routes get the bytes, not JSON. */
        resp = raw_request("POST /raw HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " TOKEN
                           "\r\nContent-Length: 5\r\n\r\nhello");
        if (!strstr(resp, "HTTP/1.1 200") || !strstr(resp, "\"size\":5"))
                fail_msg("raw body: %s", resp);
        free(resp);
}

static void test_text_and_defer(void **state)
{
        struct result r, d;
        char url[128];

        (void)state;
        request(&r, "GET", "/text", NULL, TOKEN);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "metric 1\n");
        result_clear(&r);

        /* A deferred request stays open until finished from outside the handler. */
        memset(&d, 0, sizeof(d));
        snprintf(url, sizeof(url), "%s/defer", base);
        pending_deferred = NULL;
        assert_int_equal(http_client_request(client, "GET", url, NULL, TOKEN, 3000, on_done, &d),
                         0);
        for (int i = 0; i < 2000 && !pending_deferred; i++) {
                struct epoll_event ev[8];
                int n = epoll_wait(epfd, ev, 8, 1);
                for (int k = 0; k < n; k++)
                        if (ev[k].data.u32 == 1)
                                (void)http_server_run(server);
                        else
                                (void)http_client_process(client);
        }
        assert_non_null(pending_deferred);
        assert_false(d.done);
        assert_int_equal(http_response_json(http_deferred_response(pending_deferred), 202,
                                            json_pack("{s:b}", "late", 1)),
                         0);
        assert_int_equal(http_deferred_finish(pending_deferred), 0);
        run_until(&d);
        assert_int_equal(d.status, 202);
        assert_true(json_is_true(json_object_get(d.json, "late")));
        result_clear(&d);
}

static void test_client_failures(void **state)
{
        struct result r = {0};
        char url[128];
        int fd;

        (void)state;
        /* Nothing listens on the port of a socket we bound but never listened on. */
        fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(sa);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
        snprintf(url, sizeof(url), "http://127.0.0.1:%u/x", ntohs(sa.sin_port));
        assert_int_equal(http_client_request(client, "GET", url, NULL, NULL, 2000, on_done, &r), 0);
        run_until(&r);
        assert_int_equal(r.error, -ECONNREFUSED);
        assert_int_equal(r.status, 0);
        result_clear(&r);
        close(fd);

        /* A deferred request never answered: the client times out. */
        memset(&r, 0, sizeof(r));
        snprintf(url, sizeof(url), "%s/defer", base);
        assert_int_equal(http_client_request(client, "GET", url, NULL, TOKEN, 300, on_done, &r), 0);
        run_until(&r);
        assert_int_equal(r.error, -ETIMEDOUT);
        result_clear(&r);
        /* Let the server see the closed connection, then answer it anyway (must be harmless). */
        (void)http_response_json(http_deferred_response(pending_deferred), 200, NULL);
        assert_int_equal(http_deferred_finish(pending_deferred), 0);
        for (int i = 0; i < 50; i++)
                (void)http_server_run(server);

        assert_int_equal(http_client_request(client, "BREW", url, NULL, NULL, 0, on_done, &r),
                         -EINVAL);
}

/* Freeing a server with a request still deferred answers it (MHD itself would abort). */
static void test_free_with_deferred(void **state)
{
        struct http_server_config c = {
            .listen = "127.0.0.1:0", .routes = routes, .n_routes = ELEMENTSOF(routes), .token = TOKEN,
        };
        struct result r = {0};
        http_server *s2 = NULL;
        char url[128];

        (void)state;
        assert_int_equal(http_server_new(&c, &s2), 0);
        snprintf(url, sizeof(url), "http://127.0.0.1:%u/defer", http_server_port(s2));
        pending_deferred = NULL;
        assert_int_equal(http_client_request(client, "GET", url, NULL, TOKEN, 3000, on_done, &r), 0);
        for (int i = 0; i < 3000 && !pending_deferred; i++) {
                struct pollfd p[2] = {{.fd = http_server_get_fd(s2), .events = POLLIN},
                                      {.fd = http_client_get_fd(client), .events = POLLIN}};
                (void)poll(p, 2, 1);
                (void)http_server_run(s2);
                (void)http_client_process(client);
        }
        assert_non_null(pending_deferred);
        http_server_free(s2);
        pending_deferred = NULL;
        for (int i = 0; i < 3000 && !r.done; i++) {
                struct pollfd p = {.fd = http_client_get_fd(client), .events = POLLIN};
                (void)poll(&p, 1, 1);
                (void)http_client_process(client);
        }
        assert_true(r.done);
        expect_error_body(&r, 503, "unavailable", "server shutting down");
}

/* The blocking variant, against a server driven by another thread. */
static void *serve_thread(void *arg)
{
        volatile bool *stop = arg;

        while (!*stop) {
                struct pollfd p = {.fd = http_server_get_fd(server), .events = POLLIN};
                if (poll(&p, 1, 5) >= 0)
                        (void)http_server_run(server);
        }
        return NULL;
}

static void test_sync_client(void **state)
{
        volatile bool stop = false;
        pthread_t th;
        json_t *body = NULL;
        long status = 0;
        char url[128], *err = NULL, *text = NULL;

        (void)state;
        assert_int_equal(pthread_create(&th, NULL, serve_thread, (void *)&stop), 0);
        snprintf(url, sizeof(url), "%s/things/sync", base);
        assert_int_equal(
            http_client_request_sync("GET", url, NULL, TOKEN, 2000, &status, &body, &text, &err), 0);
        assert_int_equal(status, 200);
        assert_string_equal(json_string_value(json_array_get(json_object_get(body, "captures"), 0)),
                            "sync");
        /* The body's bytes too, for what is not JSON (siloctl logs, metrics). */
        assert_non_null(text);
        assert_non_null(strstr(text, "\"captures\":[\"sync\"]"));
        free(text);
        json_decref(body);
        stop = true;
        pthread_join(th, NULL);
        assert_int_equal(http_client_request_sync("GET", "http://127.0.0.1:1/", NULL, NULL, 1000,
                                                  &status, &body, NULL, &err),
                         -ECONNREFUSED);
        assert_non_null(strstr(err, "http://127.0.0.1:1/"));
        free(err);
}

/* Drive s for ms milliseconds the way a daemon's loop must: wait for its fd or its timeout,
 * then run it whatever woke us. */
static void drive(http_server *s, int ms)
{
        struct timespec t0, t;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
                struct pollfd p = {.fd = http_server_get_fd(s), .events = POLLIN};
                int left, timeout = http_server_timeout_ms(s);

                clock_gettime(CLOCK_MONOTONIC, &t);
                left = ms - (int)((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
                if (left <= 0)
                        return;
                (void)poll(&p, 1, timeout < 0 || timeout > left ? left : timeout);
                (void)http_server_run(s);
        }
}

static int raw_connect(uint16_t port)
{
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        return fd;
}

/* > 0: bytes the server sent, 0: it closed the connection, -1: nothing yet. */
static ssize_t raw_recv(int fd)
{
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? -1 : n;
}

static void raw_send(int fd, const char *text)
{
        assert_int_equal(send(fd, text, strlen(text), MSG_NOSIGNAL), (ssize_t)strlen(text));
}

#define HEALTH_REQUEST "GET /health HTTP/1.1\r\nHost: t\r\n\r\n"

/* A slowloris is closed at the header deadline however it trickles; a kept-alive client that
 * got its answer is not; at the connection limit a new client evicts an idle connection. */
static void test_deadlines_and_limit(void **state)
{
        struct http_server_config c = {
            .listen = "127.0.0.1:0", .routes = routes, .n_routes = ELEMENTSOF(routes),
            .token = TOKEN, .connection_limit = 4, .header_timeout_s = 1,
        };
        http_server *s2 = NULL;
        int keep, slow, idle[3], late;

        (void)state;
        assert_int_equal(http_server_new(&c, &s2), 0);
        assert_int_equal(http_server_connection_limit(s2), 4);
        keep = raw_connect(http_server_port(s2));
        raw_send(keep, HEALTH_REQUEST);
        slow = raw_connect(http_server_port(s2));
        raw_send(slow, "GET /health HTTP/1.1\r\n");
        drive(s2, 300);
        assert_true(raw_recv(keep) > 0);
        for (int i = 0; i < 4; i++) {
                raw_send(slow, "X");
                drive(s2, 150);
        }
        assert_int_equal(raw_recv(slow), -1);
        drive(s2, 700);
        assert_int_equal(raw_recv(slow), 0); /* 1.3 s after it opened, despite its bytes */
        assert_int_equal(raw_recv(keep), -1);
        raw_send(keep, HEALTH_REQUEST);
        drive(s2, 200);
        assert_true(raw_recv(keep) > 0);
        assert_int_equal(http_server_connections(s2), 1);

        /* keep (idle) + 3 silent ones = the limit: the 3rd evicts the oldest silent one */
        for (int i = 0; i < 3; i++) {
                idle[i] = raw_connect(http_server_port(s2));
                drive(s2, 50);
        }
        assert_int_equal(raw_recv(idle[0]), 0);
        late = raw_connect(http_server_port(s2));
        raw_send(late, HEALTH_REQUEST);
        drive(s2, 300);
        assert_true(raw_recv(late) > 0);
        assert_int_equal(raw_recv(idle[1]), 0);
        assert_int_equal(raw_recv(keep), -1);
        close(keep);
        close(slow);
        close(late);
        for (int i = 0; i < 3; i++)
                close(idle[i]);
        drive(s2, 100);
        assert_int_equal(http_server_connections(s2), 0);
        http_server_free(s2);
}

/* Attached to an event loop (as both daemons run it): a request is served through the loop's
 * sources, and a silent connection is closed at its header deadline by the deadline timer
 * alone, as nothing else wakes the loop (each wait below could last 5 s); freeing the server
 * removes its sources. */
static void test_attach_event_loop(void **state)
{
        struct http_server_config c = {
            .listen = "127.0.0.1:0", .routes = routes, .n_routes = ELEMENTSOF(routes),
            .token = TOKEN, .header_timeout_s = 1,
        };
        _cleanup_(event_loop_freep) struct event_loop *l = NULL;
        http_server *s2 = NULL;
        uint64_t t0, closed_after = 0;
        int keep, silent;

        (void)state;
        assert_int_equal(event_loop_new(&l), 0);
        assert_int_equal(http_server_new(&c, &s2), 0);
        assert_int_equal(http_server_attach(s2, l), 0);
        assert_int_equal(event_loop_n_sources(l), 3);

        keep = raw_connect(http_server_port(s2));
        raw_send(keep, HEALTH_REQUEST);
        t0 = now_usec();
        while (raw_recv(keep) < 0 && now_usec() - t0 < 2000000)
                assert_true(event_loop_iterate(l, 100000) >= 0);
        assert_true(now_usec() - t0 < 2000000);

        silent = raw_connect(http_server_port(s2));
        t0 = now_usec();
        while (now_usec() - t0 < 4000000) {
                assert_true(event_loop_iterate(l, 5000000) >= 0);
                if (raw_recv(silent) == 0) {
                        closed_after = now_usec() - t0;
                        break;
                }
        }
        assert_in_range(closed_after, 900000, 2500000);
        assert_int_equal(raw_recv(keep), -1); /* answered and kept alive: idle timeout 60 s */

        close(keep);
        close(silent);
        http_server_free(s2);
        assert_int_equal(event_loop_n_sources(l), 0);
}

/* Everything the server sent on fd until it closed it (or `ms` of driving s): the status of
 * its answer in *ret_status (0 = none) and whether it closed the connection. */
static bool raw_answer(http_server *s, int fd, int ms, int *ret_status)
{
        char buf[8192];
        size_t got = 0;

        *ret_status = 0;
        for (int waited = 0; waited < ms; waited += 20) {
                ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, MSG_DONTWAIT);

                if (n == 0)
                        break;
                if (n > 0) {
                        got += (size_t)n;
                        continue;
                }
                drive(s, 20);
        }
        buf[got] = '\0';
        if (strncmp(buf, "HTTP/1.1 ", 9) == 0)
                *ret_status = atoi(buf + 9);
        return recv(fd, buf, 1, MSG_DONTWAIT) == 0;
}

#define SLOW_BODY_HEADERS "Host: t\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n"

/* Clients that announce a body and send it a byte at a time hold no slot unless they passed
 * authentication on a route that takes a body, and even then only until the whole-request
 * deadline (issue 12: 18 such connections on GET /health locked a master out). */
static void test_slow_bodies(void **state)
{
        struct http_server_config c = {
            .listen = "127.0.0.1:0", .routes = routes, .n_routes = ELEMENTSOF(routes),
            .token = TOKEN, .connection_limit = 4, .header_timeout_s = 1,
            .connection_timeout_s = 2,
        };
        static const char *const refused[] = {
            "GET /health HTTP/1.1\r\n" SLOW_BODY_HEADERS "\r\n{",
            "GET /health HTTP/1.1\r\n" SLOW_BODY_HEADERS "\r\n{",
            "GET /things/a HTTP/1.1\r\nAuthorization: Bearer " TOKEN "\r\n" SLOW_BODY_HEADERS
            "\r\n{",
            "DELETE /things/a HTTP/1.1\r\nAuthorization: Bearer " TOKEN "\r\n" SLOW_BODY_HEADERS
            "\r\n{",
        };
        static const int refused_status[] = {400, 400, 400, 400};
        struct timespec t0, t1;
        http_server *s2 = NULL;
        int fds[4], late, up, idle[3], status;
        long ms;

        (void)state;
        assert_int_equal(http_server_new(&c, &s2), 0);
        /* The limit is held by 4 slow bodies: 2 on a public route, 2 with a token on a GET and
         * a DELETE, which take no body. Each is answered at once, without reading its body. */
        for (int i = 0; i < 4; i++) {
                fds[i] = raw_connect(http_server_port(s2));
                raw_send(fds[i], refused[i]);
                drive(s2, 50);
        }
        for (int k = 0; k < 3; k++) {
                for (int i = 0; i < 4; i++)
                        (void)send(fds[i], " ", 1, MSG_NOSIGNAL);
                drive(s2, 100);
        }
        clock_gettime(CLOCK_MONOTONIC, &t0);
        late = raw_connect(http_server_port(s2));
        raw_send(late, HEALTH_REQUEST);
        for (int i = 0; i < 20 && !(raw_answer(s2, late, 50, &status), status); i++)
                for (int k = 0; k < 4; k++)
                        (void)send(fds[k], " ", 1, MSG_NOSIGNAL);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        print_message("slow bodies: a new client answered HTTP %d in %ld ms\n", status, ms);
        assert_int_equal(status, 200);
        assert_true(ms < 1000);
        for (int i = 0; i < 4; i++) {
                bool closed = raw_answer(s2, fds[i], 200, &status);

                print_message("slow body %d: HTTP %d, closed %d\n", i, status, closed);
                assert_int_equal(status, refused_status[i]);
                assert_true(closed);
                close(fds[i]);
        }
        close(late);
        /* Without a token: 401 at once, the body unread, the connection closed. */
        fds[0] = raw_connect(http_server_port(s2));
        raw_send(fds[0], "POST /things/a/parts/b HTTP/1.1\r\n" SLOW_BODY_HEADERS "\r\n{");
        assert_true(raw_answer(s2, fds[0], 500, &status));
        assert_int_equal(status, 401);
        close(fds[0]);
        drive(s2, 100);

        /* An authenticated upload is not evicted by new connections, but a trickle does not
         * keep it past the whole-request deadline (2 s here). */
        clock_gettime(CLOCK_MONOTONIC, &t0);
        up = raw_connect(http_server_port(s2));
        raw_send(up, "POST /things/a/parts/b HTTP/1.1\r\nAuthorization: Bearer " TOKEN
                     "\r\n" SLOW_BODY_HEADERS "\r\n{");
        drive(s2, 100);
        for (int i = 0; i < 3; i++) {
                idle[i] = raw_connect(http_server_port(s2));
                drive(s2, 50);
        }
        assert_int_equal(raw_recv(idle[0]), 0); /* evicted instead of the upload */
        ms = 0;
        for (;;) {
                ssize_t n;

                (void)send(up, " ", 1, MSG_NOSIGNAL);
                drive(s2, 100);
                n = raw_recv(up);
                clock_gettime(CLOCK_MONOTONIC, &t1);
                ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
                if (n >= 0 || ms > 4000)
                        break;
        }
        print_message("slow authenticated upload closed after %ld ms (deadline 2000 ms)\n", ms);
        assert_true(ms >= 1900 && ms < 2600);
        close(up);
        for (int i = 0; i < 3; i++)
                close(idle[i]);
        drive(s2, 100);
        assert_int_equal(http_server_connections(s2), 0);
        http_server_free(s2);
}

/* A raw client: connect and send a GET of /feed; small_rcvbuf for one that will not read. */
static int feed_connect(bool small_rcvbuf)
{
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                                 .sin_port = htons(http_server_port(server))};
        char req[256];
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 2048;

        assert_true(fd >= 0);
        if (small_rcvbuf)
                assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &one, sizeof(one)), 0);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                assert_int_equal(errno, EINPROGRESS);
        snprintf(req, sizeof(req),
                 "GET /feed HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", TOKEN);
        for (int i = 0; i < 1000; i++) {
                if (send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req))
                        return fd;
                (void)http_server_run(server);
                usleep(1000);
        }
        fail_msg("cannot send the request");
        return -1;
}

/* Run the server and read what the client got into buf until `want` is in it or the connection
 * ends (returns false then) or 2 s pass. */
static bool feed_pump(int fd, char *buf, size_t size, size_t *len, const char *want)
{
        for (int i = 0; i < 2000; i++) {
                ssize_t n;

                (void)http_server_run(server);
                if (*len > size / 2) { /* keep reading: only the tail matters */
                        memmove(buf, buf + *len - 64, 64);
                        *len = 64;
                }
                n = recv(fd, buf + *len, size - 1 - *len, 0);
                if (n == 0 || (n < 0 && errno != EAGAIN))
                        return false;
                if (n > 0) {
                        *len += (size_t)n;
                        buf[*len] = '\0';
                }
                if (want && strstr(buf, want))
                        return true;
                usleep(1000);
        }
        return !want;
}

/* A stream that waits costs no runs of its reader until woken, sends what it is given, ends on
 * HTTP_STREAM_END; one blocked on a client that stopped reading is closed by http_stream_abort().
 */
static void test_stream_wait_wake_abort(void **state)
{
        char buf[8192];
        size_t len = 0;
        unsigned reads;
        int fd;

        (void)state;
        /* MHD may hold the headers until the first body bytes: a feed starts with a line. */
        memset(&feed, 0, sizeof(feed));
        strcpy(feed.data, "{}\n");
        feed.len = 3;
        fd = feed_connect(false);
        assert_true(feed_pump(fd, buf, sizeof(buf), &len, "application/x-ndjson"));
        assert_true(feed_pump(fd, buf, sizeof(buf), &len, "{}\n"));
        assert_non_null(feed.stream);
        assert_int_equal(feed.waits, 1);
        assert_true(strncmp(http_stream_remote(feed.stream), "127.0.0.1:", 10) == 0);
        /* suspended: however often the server runs, the reader is not asked again */
        reads = feed.reads;
        for (int i = 0; i < 50; i++)
                (void)http_server_run(server);
        assert_int_equal(feed.reads, reads);

        strcpy(feed.data, "{\"a\":1}\n");
        feed.len = strlen(feed.data);
        http_stream_wake(feed.stream);
        http_stream_wake(feed.stream); /* waking twice is harmless */
        assert_true(feed_pump(fd, buf, sizeof(buf), &len, "{\"a\":1}\n"));
        assert_int_equal(feed.waits, 2);

        feed.end = true;
        http_stream_wake(feed.stream);
        assert_true(feed_pump(fd, buf, sizeof(buf), &len, "\r\n0\r\n\r\n"));
        for (int i = 0; i < 100 && !feed.destroyed; i++)
                (void)http_server_run(server);
        close(fd);
        for (int i = 0; i < 100 && !feed.destroyed; i++)
                (void)http_server_run(server);
        assert_int_equal(feed.destroyed, 1);

        /* A client that never reads: its connection fills, then abort closes it. */
        memset(&feed, 0, sizeof(feed));
        feed.infinite = true;
        fd = feed_connect(true);
        len = 0;
        for (int i = 0; i < 200; i++) {
                (void)http_server_run(server);
                usleep(1000);
        }
        assert_non_null(feed.stream);
        reads = feed.reads;
        for (int i = 0; i < 50; i++)
                (void)http_server_run(server);
        assert_true(feed.reads - reads < 5); /* blocked on the socket, not spinning */
        http_stream_abort(feed.stream);
        for (int i = 0; i < 500 && !feed.destroyed; i++) {
                (void)http_server_run(server);
                usleep(1000);
        }
        assert_int_equal(feed.destroyed, 1);
        /* the client sees its data, then the end of the connection */
        assert_false(feed_pump(fd, buf, sizeof(buf), &len, "never"));
        close(fd);

        /* A stream still waiting when the server is freed (teardown) must not stop MHD from
         * stopping: left open here on purpose. */
        memset(&feed, 0, sizeof(feed));
        strcpy(feed.data, "{}\n");
        feed.len = 3;
        fd = feed_connect(false);
        len = 0;
        assert_true(feed_pump(fd, buf, sizeof(buf), &len, "{}\n"));
        for (int i = 0; i < 100 && feed.waits == 0; i++)
                (void)http_server_run(server);
        assert_int_equal(feed.waits, 1);
}

/* ---- http_client_stream(): a body handed over piece by piece as it comes ---- */

struct chunks {
        struct result r; /* first: on_done's view of the same userdata */
        char got[512];
        size_t n;
        unsigned calls;
        bool cancel_in_data; /* http_client_cancel() from on_data */
        http_call *call;
};

static int on_chunk(const char *data, size_t n, void *userdata)
{
        struct chunks *c = userdata;
        size_t room = sizeof(c->got) - 1 - c->n;

        memcpy(c->got + c->n, data, MIN(n, room));
        c->n += MIN(n, room);
        c->got[c->n] = '\0';
        c->calls++;
        if (c->cancel_in_data)
                http_client_cancel(client, c->call);
        return 0;
}

/* Drive server and client until *flag (or 5 s). */
static void pump_until(const bool *flag, const size_t *n, size_t want)
{
        for (int i = 0; i < 5000 && !(flag && *flag) && !(n && *n >= want); i++) {
                struct epoll_event ev[8];
                int k = epoll_wait(epfd, ev, 8, 1);

                for (int j = 0; j < k; j++)
                        if (ev[j].data.u32 == 1)
                                (void)http_server_run(server);
                        else
                                (void)http_client_process(client);
                if (k == 0)
                        (void)http_server_run(server);
        }
}

static void test_client_stream(void **state)
{
        static const char *const auth[] = {"Authorization: Bearer " TOKEN, NULL};
        struct chunks c = {0};
        struct result *r = &c.r;
        char url[256];

        (void)state;
        snprintf(url, sizeof(url), "%s/feed", base);
        /* Each piece as the server sends it, the next one only once it is sent; nothing kept
         * for done, which sees the end. */
        memset(&feed, 0, sizeof(feed));
        strcpy(feed.data, "{}\n");
        feed.len = 3;
        assert_int_equal(http_client_stream(client, "GET", url, NULL, auth, 2000, on_chunk,
                                            on_done, &c, &c.call),
                         0);
        pump_until(NULL, &c.n, 3);
        assert_string_equal(c.got, "{}\n");
        assert_false(r->done);
        strcpy(feed.data, "{\"a\":1}\n");
        feed.len = strlen(feed.data);
        http_stream_wake(feed.stream);
        pump_until(NULL, &c.n, 11);
        assert_string_equal(c.got, "{}\n{\"a\":1}\n");
        feed.end = true;
        http_stream_wake(feed.stream);
        pump_until(&r->done, NULL, 0);
        assert_true(r->done);
        assert_int_equal(r->error, 0);
        assert_int_equal(r->status, 200);
        assert_string_equal(r->body, "");
        assert_int_equal(http_client_in_flight(client), 0);
        result_clear(r);

        /* Not a 2xx: the error body is kept for done, on_data never sees it. */
        c = (struct chunks){0};
        assert_int_equal(http_client_stream(client, "GET", url, NULL, NULL, 2000, on_chunk,
                                            on_done, &c, NULL),
                         0);
        pump_until(&r->done, NULL, 0);
        assert_int_equal(r->status, 401);
        assert_int_equal(c.calls, 0);
        assert_non_null(strstr(r->body, "unauthorized"));
        result_clear(r);

        /* Cancelled from its own on_data, and from outside: done never runs, nothing left in
         * flight, and the server sees the connection go. */
        for (int inside = 1; inside >= 0; inside--) {
                memset(&feed, 0, sizeof(feed));
                strcpy(feed.data, "{}\n");
                feed.len = 3;
                c = (struct chunks){.cancel_in_data = inside};
                assert_int_equal(http_client_stream(client, "GET", url, NULL, auth, 2000, on_chunk,
                                                    on_done, &c, &c.call),
                                 0);
                pump_until(NULL, &c.n, 3);
                assert_int_equal(c.calls, 1);
                if (!inside)
                        http_client_cancel(client, c.call);
                for (int i = 0; i < 200 && http_client_in_flight(client) > 0; i++)
                        pump_until(NULL, &c.n, SIZE_MAX);
                assert_int_equal(http_client_in_flight(client), 0);
                assert_false(r->done);
                feed.end = true;
                if (feed.stream)
                        http_stream_wake(feed.stream);
                for (int i = 0; i < 500 && !feed.destroyed; i++) {
                        (void)http_server_run(server);
                        usleep(1000);
                }
                assert_int_equal(feed.destroyed, 1);
        }
}

static int setup(void **state)
{
        struct http_server_config c = {
            .listen = "127.0.0.1:0",
            .routes = routes,
            .n_routes = ELEMENTSOF(routes),
            .token = TOKEN,
            .max_body = 4096,
            .gate = gate,
        };
        struct epoll_event ev = {.events = EPOLLIN};
        http_server *bad;

        (void)state;
        c.listen = "nonsense";
        if (http_server_new(&c, &bad) != -EINVAL)
                return -1;
        c.listen = "127.0.0.1:99999";
        if (http_server_new(&c, &bad) != -EINVAL)
                return -1;
        c.listen = "127.0.0.1:0";
        if (http_server_new(&c, &server) < 0 || http_client_new(&client) < 0)
                return -1;
        if (http_server_port(server) == 0)
                return -1;
        snprintf(base, sizeof(base), "http://127.0.0.1:%u", http_server_port(server));
        epfd = epoll_create1(0);
        ev.data.u32 = 1;
        epoll_ctl(epfd, EPOLL_CTL_ADD, http_server_get_fd(server), &ev);
        ev.data.u32 = 2;
        epoll_ctl(epfd, EPOLL_CTL_ADD, http_client_get_fd(client), &ev);
        return 0;
}

/* The gate answers before the body is read and the handler runs; the client's extra headers
 * go with every request until removed. */
static void test_gate_and_client_headers(void **state)
{
        struct result r;
        unsigned before = echo_calls;
        json_t *body = json_pack("{s:i}", "n", 1);

        (void)state;
        assert_int_equal(http_client_set_header(client, "X-Gate", "307"), 0);
        request(&r, "POST", "/things/a/parts/b?q=x%20y&flag", body, TOKEN);
        assert_int_equal(r.status, 307);
        assert_non_null(r.location);
        assert_string_equal(r.location, "http://leader.example:5050/things/a/parts/b?q=x%20y&flag");
        assert_int_equal(echo_calls, before);
        result_clear(&r);
        /* The decoded path is encoded again: a space, '?' or CR/LF in a segment neither
         * changes the target nor breaks (drops) the Location header. */
        request(&r, "POST", "/things/a%20b%3Fc/parts/x%0D%0Ay?q=1", body, TOKEN);
        assert_int_equal(r.status, 307);
        assert_non_null(r.location);
        assert_string_equal(r.location,
                            "http://leader.example:5050/things/a%20b%3Fc/parts/x%0D%0Ay?q=1");
        assert_int_equal(echo_calls, before);
        result_clear(&r);
        /* Authentication comes first: a wrong token is 401 whatever the gate would say. */
        request(&r, "GET", "/things/a", NULL, "wrong-token-wrong-token");
        expect_error_body(&r, 401, "unauthorized", "bearer token");
        /* Replacing the value leaves one header. */
        assert_int_equal(http_client_set_header(client, "x-gate", "fail"), 0);
        request(&r, "GET", "/things/a", NULL, TOKEN);
        expect_error_body(&r, 403, "forbidden", "GET /things/a: Permission denied");
        assert_int_equal(echo_calls, before);
        assert_int_equal(http_client_set_header(client, "X-Gate", NULL), 0);
        request(&r, "POST", "/things/a/parts/b", body, TOKEN);
        assert_int_equal(r.status, 200);
        assert_null(r.location);
        assert_int_equal(echo_calls, before + 1);
        result_clear(&r);
        assert_int_equal(http_client_set_header(client, "Bad:Name", "x"), -EINVAL);
        assert_int_equal(http_client_set_header(client, "X-Ok", "a\r\nInjected: 1"), -EINVAL);
        json_decref(body);
}

/* A redirect carries the token: followed only to a server of the list, never https -> http. */
static void test_redirect_target(void **state)
{
        const char *const masters[] = {"http://10.0.0.1:5050", "http://Leader.Example:5050/",
                                       "https://10.0.0.3"};
        char *origin = NULL;

        (void)state;
        assert_int_equal(http_redirect_target(
                             "http://10.0.0.1:5050/x",
                             "http://leader.example:5050/api/v1/tasks?state=RUNNING", masters, 3),
                         1);
        assert_int_equal(http_redirect_target("http://a", "http://10.0.0.1:5050/api", masters, 3),
                         0);
        /* The default port of the scheme counts as given. */
        assert_int_equal(
            http_redirect_target("https://10.0.0.1", "https://10.0.0.3:443/api", masters, 3), 2);
        /* Another port, another host, another scheme: not one of ours. */
        assert_int_equal(http_redirect_target("http://a", "http://10.0.0.1:5051/api", masters, 3),
                         -EPERM);
        assert_int_equal(
            http_redirect_target("http://a", "http://evil.example:5050/api", masters, 3), -EPERM);
        assert_int_equal(http_redirect_target("http://a", "https://10.0.0.1:5050/api", masters, 3),
                         -EPERM);
        assert_int_equal(http_redirect_target("http://a", "not a url", masters, 3), -EPERM);
        /* Never from https down to http, even to a listed master. */
        assert_int_equal(
            http_redirect_target("https://10.0.0.3/x", "http://10.0.0.1:5050/x", masters, 3),
            -EPROTO);
        assert_int_equal(http_url_origin("HTTP://Host.Example/path?q", &origin), 0);
        assert_string_equal(origin, "http://host.example:80");
        free(origin);
        assert_int_equal(http_url_origin("::nonsense", &origin), -EINVAL);
}

static int teardown(void **state)
{
        (void)state;
        http_client_free(client);
        http_server_free(server);
        close(epfd);
        /* test_stream_wait_wake_abort left a stream waiting: freed with the server */
        return feed.destroyed == 1 ? 0 : -1;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_routing_and_captures),
            cmocka_unit_test(test_errors),
            cmocka_unit_test(test_gate_and_client_headers),
            cmocka_unit_test(test_redirect_target),
            cmocka_unit_test(test_auth),
            cmocka_unit_test(test_bodies),
            cmocka_unit_test(test_raw_bodies),
            cmocka_unit_test(test_text_and_defer),
            cmocka_unit_test(test_client_failures),
            cmocka_unit_test(test_free_with_deferred),
            cmocka_unit_test(test_sync_client),
            cmocka_unit_test(test_deadlines_and_limit),
            cmocka_unit_test(test_attach_event_loop),
            cmocka_unit_test(test_slow_bodies),
            cmocka_unit_test(test_client_stream),
            cmocka_unit_test(test_stream_wait_wake_abort), /* leaves a stream for teardown */
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
