/* SPDX-License-Identifier: Apache-2.0 */
/* Non-blocking HTTP client on libcurl multi, driven by the caller's event loop through one fd. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "common/tls.h"

/*
 * All curl sockets and curl's timer live behind one epoll fd: the daemons' event loop watches
 * it (http_client_attach()), another loop can watch http_client_get_fd() for readability and
 * call http_client_process() when it is readable. Completion callbacks run from inside http_client_process(), never from
 * http_client_request().
 */

typedef struct http_client http_client;
struct tls_files;

struct http_client_result {
        int error;                 /* 0, or a transport failure: -ECONNREFUSED, -ETIMEDOUT,
                                    * -EHOSTUNREACH, -ECONNRESET, -EPROTO, -ECANCELED (freed) */
        const char *error_message; /* curl's text for error != 0, else NULL */
        long status;               /* HTTP status; 0 when error != 0 */
        const char *body;          /* response body, NUL-terminated (may be "") */
        size_t body_size;
        json_t *json; /* body parsed as JSON when it is JSON, else NULL (borrowed) */
        const char *location; /* a 3xx's Location made absolute (redirects are never followed
                               * here), else NULL */
};

/* Called exactly once per request (also with -ECANCELED when the client is freed first). */
typedef void (*http_client_done_fn)(const struct http_client_result *result, void *userdata);

/* libcurl's global initialisation, once per process (http_client_new() does it); for any
 * other user of libcurl in the process, before its first curl call. */
void http_client_global_init(void);
int http_client_new(http_client **ret_client);
http_client *http_client_free(http_client *c);
/* A header sent with every later request of this client ("Silo-Master-Epoch", "5"); value
 * NULL removes it. -EINVAL for a name with ':' or a CR/LF in either. */
int http_client_set_header(http_client *c, const char *name, const char *value);

/* Start a request. url: "http://10.0.0.3:5051/api/v1/tasks"; body may be NULL; token NULL
 * = no Authorization header; timeout_ms 0 = 10 s. Returns 0 or -errno (-ENOMEM, -EINVAL
 * for a bad method). */
int http_client_request(http_client *c, const char *method, const char *url, const json_t *body,
                        const char *token, unsigned timeout_ms, http_client_done_fn done,
                        void *userdata);

/* A streamed response (a watch, a log follow): each piece of a 2xx body goes to on_data as it
 * arrives and is not kept (any other status's body is buffered and given to done, as for
 * http_client_request()). on_data returns 0 to go on or -errno to end the transfer, which done
 * then reports. Only the connection is timed (connect_timeout_ms, 0 = 10 s); the stream lasts
 * until the peer ends it, it fails, or http_client_cancel(). headers: extra "Name: value" lines
 * for this request, NULL-terminated (may be NULL). userdata goes to both on_data and done.
 * *ret_call (may be NULL) names the request until done runs. */
typedef struct http_call http_call;
typedef int (*http_client_data_fn)(const char *data, size_t n, void *userdata);
int http_client_stream(http_client *c, const char *method, const char *url, const json_t *body,
                       const char *const *headers, unsigned connect_timeout_ms,
                       http_client_data_fn on_data, http_client_done_fn done, void *userdata,
                       http_call **ret_call);
/* End a request still in flight (a stream the caller no longer wants); its done never runs.
 * May be called from its own on_data. */
void http_client_cancel(http_client *c, http_call *call);

/* Mutual TLS for every later https:// request: the server's certificate must come from the CA
 * (and not be revoked by the CRL, when set) and name the URL's host or IP; ours (cert, key) is
 * presented. The paths are copied; NULL or no cert turns it off. */
int http_client_set_tls(http_client *c, const struct tls_files *tls);

/* Which server later requests expect (tls->peer of http_client_set_tls, changed): the
 * master sets the agent id before each call to an agent. The name is copied. */
int http_client_set_peer(http_client *c, const struct tls_peer *peer);

/* Make an easy handle refuse, before it sends a byte, a new TLS connection whose server
 * certificate is not what `want` names (tls_peer_check): the transfer ends with
 * CURLE_ABORTED_BY_CALLBACK and g->error says what was expected and presented (the caller
 * frees it). `g` and want->name must outlive the transfer. Nothing is armed for an empty want. */
struct http_peer_guard {
        void *easy; /* CURL * */
        struct tls_peer want;
        char *error;
};
void http_peer_guard_arm(struct http_peer_guard *g, void *easy, const struct tls_peer *want);

struct event_loop;
/* Drive the client from an event loop (event-loop.h), as both daemons do: its fd becomes a
 * source that calls http_client_process(). http_client_free() removes it. */
int http_client_attach(http_client *c, struct event_loop *loop);

/* The epoll fd to watch for readability (a loop of one's own, as the tests have). */
int http_client_get_fd(const http_client *c);
/* Drive transfers and run completions; never blocks. Returns 0 or -errno. */
int http_client_process(http_client *c);
/* Requests started and not yet completed. */
size_t http_client_in_flight(const http_client *c);

/* Blocking one-shot request (siloctl, tests): fills *ret_status, *ret_body (the body parsed as
 * JSON, NULL when empty or not JSON) and, when ret_text is non-NULL, *ret_text (the body's bytes,
 * NUL-terminated, NULL when empty; logs and metrics are not JSON). Returns 0 when an HTTP response
 * arrived (any status), or the transport's -errno with "METHOD URL: curl's reason" in *ret_error. */
int http_client_request_sync(const char *method, const char *url, const json_t *body,
                             const char *token, unsigned timeout_ms, long *ret_status,
                             json_t **ret_body, char **ret_text, char **ret_error);
/* The same over mutual TLS (tls may be NULL: as above). */
int http_client_request_sync_tls(const struct tls_files *tls, const char *method, const char *url,
                                 const json_t *body, const char *token, unsigned timeout_ms,
                                 long *ret_status, json_t **ret_body, char **ret_text,
                                 char **ret_error);

/* ---- redirects ---- */

/* "scheme://host:port" of url, lower case, the port filled in from the scheme: what two URLs
 * must share to reach the same server. -EINVAL when url does not parse. */
int http_url_origin(const char *url, char **ret);
/* Whether a redirect from `from` to `to` may be followed, which carries the token: only to a
 * server of `urls` (same origin) and never from https to http. The index of the matching
 * URL, -EPERM when none matches, -EPROTO for a downgrade to http, -ENOMEM. */
int http_redirect_target(const char *from, const char *to, const char *const *urls, size_t n_urls);

/* For other users of libcurl (master/etcd.c keeps an easy handle of its own): a CURLcode as the
 * -errno this client reports (0 for CURLE_OK), and a write callback's body: append n bytes to
 * *body (kept NUL-terminated), or set *too_large past max bytes; returns what curl expects (n,
 * or 0 to fail the transfer). */
int http_client_curl_errno(int curl_code);
size_t http_client_body_append(char **body, size_t *size, bool *too_large, const char *data,
                               size_t n, size_t max);
