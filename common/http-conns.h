/* SPDX-License-Identifier: Apache-2.0 */
/* Deadlines and eviction for an HTTP server's connections, so idle and slow clients cannot hold its slots. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/*
 * libmicrohttpd's own timeout is an idle timeout: every byte received resets it, so a client
 * sending one header byte a minute (a slowloris) keeps its connection, and its slot, forever.
 * The server (http-server.c) reports each connection's life here, and this module
 *
 *   - gives a new connection `header_timeout_ms` to deliver its first request's headers, and a
 *     kept-alive connection `idle_timeout_ms` after its last answer to deliver the next one's
 *     (nginx: client_header_timeout / keepalive_timeout);
 *   - when a new connection makes `limit` open ones, evicts one that has no request in
 *     progress: the oldest still waiting for headers, else the longest idle (nginx drains idle
 *     keep-alive connections the same way), so a flood cannot lock new clients out.
 *
 *   - gives an authenticated request whose body is still arriving `idle_timeout_ms` from its
 *     headers to deliver all of it, however it trickles (nginx: client_body_timeout is per
 *     read; ours bounds the whole body), and never evicts it.
 *
 * It closes a connection with shutdown(fd, SHUT_RDWR): the socket becomes readable at EOF,
 * and the server's next run closes it itself and reports http_conns_closed(). Only a request
 * the server accepted (authenticated, or public without a body) leaves the header deadline:
 * one it refuses (401, 404, 405, 413, 400) is answered at once and keeps its connection's
 * deadline and eviction. A request in progress past its body (handler, deferred answer,
 * response) is never touched; MHD's idle timeout covers a reader that stopped.
 */

struct http_conns;
struct http_conn;

struct http_conns_stats {
        uint64_t opened;          /* connections reported started */
        uint64_t header_timeouts; /* closed: no complete request headers within the deadline */
        uint64_t idle_timeouts;   /* closed: kept alive without a new request past the deadline */
        uint64_t upload_timeouts; /* closed: an authenticated body not complete in time */
        uint64_t evicted;         /* closed to make room at the limit */
};

/* limit >= 1; timeouts in ms (> 0). */
int http_conns_new(unsigned limit, uint64_t header_timeout_ms, uint64_t idle_timeout_ms,
                   struct http_conns **ret);
/* Frees the records; the connections themselves belong to the server. Accepts NULL. */
struct http_conns *http_conns_free(struct http_conns *t);

/* A connection on socket fd was accepted at now_ms; it waits for its first request's headers.
 * May evict another connection. Returns its record (NULL when out of memory: it is then not
 * tracked, which is safe). */
struct http_conn *http_conns_started(struct http_conns *t, int fd, uint64_t now_ms);
/* The server closed it: forget the record. Accepts NULL. */
void http_conns_closed(struct http_conns *t, struct http_conn *c);
/* An accepted (authenticated) request's headers arrived at now_ms and its body follows: it
 * must be complete within idle_timeout_ms; not evicted meanwhile. Accepts NULL. */
void http_conns_upload(struct http_conns *t, struct http_conn *c, uint64_t now_ms);
/* An accepted request is complete (or has no body): no deadline of ours until it is answered.
 * Not called for a refused request. Accepts NULL. */
void http_conns_request(struct http_conns *t, struct http_conn *c);
/* A request was answered and the connection is kept alive, idle since now_ms. Accepts NULL. */
void http_conns_idle(struct http_conns *t, struct http_conn *c, uint64_t now_ms);

/* Close every connection past its deadline at now_ms. Returns how many were closed. */
unsigned http_conns_sweep(struct http_conns *t, uint64_t now_ms);
/* Milliseconds from now_ms to the next deadline (0 when one has passed), -1 when none. */
int64_t http_conns_next_ms(const struct http_conns *t, uint64_t now_ms);

/* Connections open (reported started, not closed, not being closed by us). */
unsigned http_conns_open(const struct http_conns *t);
void http_conns_get_stats(const struct http_conns *t, struct http_conns_stats *ret);
