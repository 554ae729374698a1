/* SPDX-License-Identifier: Apache-2.0 */
/* Non-blocking HTTP client on libcurl multi, driven by the caller's event loop through one fd. */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <curl/curl.h>
#include <libssh2.h>

#include "common/auth.h"
#include "common/error.h"
#include "common/event-loop.h"
#include "common/http-client.h"
#include "common/http-json.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/tls.h"

/* A response larger than this is cut off with -EFBIG: no peer of ours sends one. */
#define HTTP_CLIENT_MAX_RESPONSE (16u * 1024u * 1024u)
#define HTTP_CLIENT_DEFAULT_TIMEOUT_MS 10000u

struct http_call {
        struct http_call *prev, *next;
        http_client *client;
        CURL *easy;
        struct curl_slist *headers;
        char *request_body;
        char *body;
        size_t body_size;
        bool body_too_large;
        char errbuf[CURL_ERROR_SIZE];
        struct http_peer_guard guard;
        char *peer_name;
        http_client_done_fn done;
        void *userdata;
        /* A stream (http_client_stream()): a 2xx body goes to on_data as it arrives, kept
         * nowhere; any other status's body is buffered as usual, for done. */
        http_client_data_fn on_data;
        int data_error;  /* what on_data returned to end the transfer */
        bool in_data;    /* inside on_data: a cancel there is deferred to the write's return */
        bool cancelled;  /* http_client_cancel(): done never runs */
};

struct http_client {
        CURLM *multi;
        int epoll_fd;
        int timer_fd;
        struct http_call *calls;
        size_t in_flight;
        struct event_source *src; /* http_client_attach() */
        struct curl_slist *headers; /* http_client_set_header(): "Name: value" each */
        char *tls[5];             /* http_client_set_tls(): ca, cert, key, crl; the peer's name */
        struct tls_files tls_files;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
        /* curl_global_init() runs libssh2_init(0), and Debian's libssh2 initialises OpenSSL's
         * libcrypto then (about 1.4 MiB of resident pages in every daemon) for SCP and SFTP,
         * which Silo never speaks. libssh2 initialises its crypto only in the first
         * libssh2_init() of the process, so that first call is ours, without crypto; OpenSSL 3
         * initialises itself should anything ever use it. */
        (void)libssh2_init(LIBSSH2_INIT_NO_CRYPTO);
        curl_global_init(CURL_GLOBAL_DEFAULT);
}

void http_client_global_init(void)
{
        pthread_once(&curl_once, curl_init_once);
}

size_t http_client_body_append(char **body, size_t *size, bool *too_large, const char *data,
                               size_t n, size_t max)
{
        char *nb;

        if (*size + n > max) {
                *too_large = true;
                return 0; /* makes curl fail the transfer with CURLE_WRITE_ERROR */
        }
        nb = realloc(*body, *size + n + 1);
        if (!nb)
                return 0;
        memcpy(nb + *size, data, n);
        *body = nb;
        *size += n;
        nb[*size] = '\0';
        return n;
}

static size_t http_call_write(char *data, size_t size, size_t nmemb, void *userdata)
{
        struct http_call *call = userdata;
        long status = 0;

        if (call->on_data) {
                int r;

                if (call->cancelled)
                        return 0;
                curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);
                if (status / 100 == 2) {
                        call->in_data = true;
                        r = call->on_data(data, size * nmemb, call->userdata);
                        call->in_data = false;
                        if (r < 0 || call->cancelled) {
                                /* curl then fails the transfer with CURLE_WRITE_ERROR */
                                call->data_error = r < 0 ? r : -ECANCELED;
                                return 0;
                        }
                        return size * nmemb;
                }
        }
        return http_client_body_append(&call->body, &call->body_size, &call->body_too_large, data,
                                       size * nmemb, HTTP_CLIENT_MAX_RESPONSE);
}

int http_client_curl_errno(int code)
{
        CURLcode c = (CURLcode)code;

        switch (c) {
        case CURLE_OK:
                return 0;
        case CURLE_COULDNT_CONNECT:
                return -ECONNREFUSED;
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                return -EHOSTUNREACH;
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
                return -ECONNRESET;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        case CURLE_URL_MALFORMAT:
        case CURLE_UNSUPPORTED_PROTOCOL:
                return -EINVAL;
        default:
                return -EPROTO;
        }
}

static struct http_call *http_call_free(struct http_call *call)
{
        if (!call)
                return NULL;
        if (call->easy)
                curl_easy_cleanup(call->easy);
        curl_slist_free_all(call->headers);
        free(call->request_body);
        free(call->body);
        free(call->guard.error);
        free(call->peer_name);
        free(call);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct http_call *, http_call_free);

/* Build the easy handle shared by the async and the blocking path. */
static int http_call_new(const struct tls_files *tls, const char *method, const char *url,
                         const json_t *body, const char *token, unsigned timeout_ms,
                         struct http_call **ret)
{
        _cleanup_(http_call_freep) struct http_call *call = NULL;
        struct curl_slist *h;

        if (!method || !url)
                return -EINVAL;
        if (!streq(method, "GET") && !streq(method, "POST") && !streq(method, "PUT") &&
            !streq(method, "DELETE") && !streq(method, "PATCH") && !streq(method, "HEAD"))
                return -EINVAL;
        http_client_global_init();

        call = calloc(1, sizeof(*call));
        if (!call)
                return -ENOMEM;
        call->easy = curl_easy_init();
        if (!call->easy)
                return -ENOMEM;

        h = curl_slist_append(NULL, "Accept: application/json");
        if (!h)
                return -ENOMEM;
        call->headers = h;
        /* No "Expect: 100-continue" round trip for our small bodies. */
        if (!(h = curl_slist_append(call->headers, "Expect:")))
                return -ENOMEM;
        call->headers = h;
        if (token) {
                _cleanup_free_ char *auth = auth_bearer_header(token);
                if (!auth || !(h = curl_slist_append(call->headers, auth)))
                        return -ENOMEM;
                call->headers = h;
        }
        if (body) {
                call->request_body = http_json_dump(body);
                if (!call->request_body)
                        return -ENOMEM;
                if (!(h = curl_slist_append(call->headers, "Content-Type: application/json")))
                        return -ENOMEM;
                call->headers = h;
        }

        curl_easy_setopt(call->easy, CURLOPT_URL, url);
        curl_easy_setopt(call->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(call->easy, CURLOPT_HTTPHEADER, call->headers);
        curl_easy_setopt(call->easy, CURLOPT_TIMEOUT_MS,
                         (long)(timeout_ms ? timeout_ms : HTTP_CLIENT_DEFAULT_TIMEOUT_MS));
        curl_easy_setopt(call->easy, CURLOPT_WRITEFUNCTION, http_call_write);
        curl_easy_setopt(call->easy, CURLOPT_WRITEDATA, call);
        curl_easy_setopt(call->easy, CURLOPT_ERRORBUFFER, call->errbuf);
        curl_easy_setopt(call->easy, CURLOPT_PRIVATE, call);
        curl_easy_setopt(call->easy, CURLOPT_PROTOCOLS_STR, "http,https");
        if (tls && tls->cert) {
                /* Mutual TLS: the peer's certificate must come from the cluster's CA and name
                 * the host or IP of the URL (curl's default checks), ours goes with every call. */
                curl_easy_setopt(call->easy, CURLOPT_CAINFO, tls->ca);
                curl_easy_setopt(call->easy, CURLOPT_SSLCERT, tls->cert);
                curl_easy_setopt(call->easy, CURLOPT_SSLKEY, tls->key);
                /* A CRL not made yet revokes nothing (as for the server, tls.h); curl would
                 * fail every call on a missing file. */
                if (tls->crl && access(tls->crl, F_OK) == 0)
                        curl_easy_setopt(call->easy, CURLOPT_CRLFILE, tls->crl);
                if (tls->peer.name && !(call->peer_name = strdup(tls->peer.name)))
                        return -ENOMEM;
                http_peer_guard_arm(&call->guard, call->easy,
                                    &(struct tls_peer){tls->peer.kinds, call->peer_name});
        }
        if (streq(method, "HEAD"))
                curl_easy_setopt(call->easy, CURLOPT_NOBODY, 1L);
        else if (!streq(method, "GET"))
                curl_easy_setopt(call->easy, CURLOPT_CUSTOMREQUEST, method);
        if (call->request_body) {
                curl_easy_setopt(call->easy, CURLOPT_POSTFIELDS, call->request_body);
                curl_easy_setopt(call->easy, CURLOPT_POSTFIELDSIZE,
                                 (long)strlen(call->request_body));
        } else if (streq(method, "POST") || streq(method, "PUT")) {
                curl_easy_setopt(call->easy, CURLOPT_POSTFIELDS, "");
                curl_easy_setopt(call->easy, CURLOPT_POSTFIELDSIZE, 0L);
        }
        *ret = TAKE_PTR(call);
        return 0;
}

/* Turn a finished transfer into a result and hand it to `done`. */
static void http_call_complete(struct http_call *call, CURLcode code)
{
        struct http_client_result res = {0};
        json_t *json = NULL;
        long status = 0;

        res.error = http_client_curl_errno(code);
        if (call->data_error)
                res.error = call->data_error;
        if (call->body_too_large)
                res.error = -EFBIG;
        if (call->guard.error)
                res.error = -EPERM;
        if (res.error == 0) {
                curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);
                res.status = status;
                if (status / 100 == 3)
                        curl_easy_getinfo(call->easy, CURLINFO_REDIRECT_URL, &res.location);
        } else if (call->guard.error)
                res.error_message = call->guard.error;
        else if (call->data_error)
                res.error_message = "the stream's reader ended it";
        else
                res.error_message = call->errbuf[0] ? call->errbuf : curl_easy_strerror(code);
        res.body = call->body ? call->body : "";
        res.body_size = call->body_size;
        if (res.error == 0 && call->body_size > 0 &&
            http_json_parse(call->body, call->body_size, HTTP_CLIENT_MAX_RESPONSE, &json, NULL) >=
                0)
                res.json = json;
        if (call->done)
                call->done(&res, call->userdata);
        json_decref(json);
}

static void http_client_unlink(http_client *c, struct http_call *call)
{
        if (call->prev)
                call->prev->next = call->next;
        else
                c->calls = call->next;
        if (call->next)
                call->next->prev = call->prev;
        call->prev = call->next = NULL;
        c->in_flight--;
}

static int http_client_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
        http_client *c = userp;
        struct epoll_event ev = {.data.fd = s};

        (void)easy;
        if (what == CURL_POLL_REMOVE) {
                (void)epoll_ctl(c->epoll_fd, EPOLL_CTL_DEL, s, NULL);
                curl_multi_assign(c->multi, s, NULL);
                return 0;
        }
        if (what & CURL_POLL_IN)
                ev.events |= EPOLLIN;
        if (what & CURL_POLL_OUT)
                ev.events |= EPOLLOUT;
        if (socketp)
                (void)epoll_ctl(c->epoll_fd, EPOLL_CTL_MOD, s, &ev);
        else {
                if (epoll_ctl(c->epoll_fd, EPOLL_CTL_ADD, s, &ev) < 0 && errno == EEXIST)
                        (void)epoll_ctl(c->epoll_fd, EPOLL_CTL_MOD, s, &ev);
                /* Any non-NULL marker: this socket is in the epoll set. */
                curl_multi_assign(c->multi, s, c);
        }
        return 0;
}

static int http_client_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
        http_client *c = userp;
        struct itimerspec its = {0};

        (void)multi;
        if (timeout_ms >= 0) {
                /* 0 means "now": 1 ns makes the timerfd readable at once. */
                its.it_value.tv_sec = timeout_ms / 1000;
                its.it_value.tv_nsec = (timeout_ms % 1000) * 1000000L;
                if (timeout_ms == 0)
                        its.it_value.tv_nsec = 1;
        }
        return timerfd_settime(c->timer_fd, 0, &its, NULL) < 0 ? -1 : 0;
}

int http_client_new(http_client **ret_client)
{
        http_client *c;
        struct epoll_event ev = {.events = EPOLLIN};

        http_client_global_init();
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        c->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        c->multi = curl_multi_init();
        if (c->epoll_fd < 0 || c->timer_fd < 0 || !c->multi) {
                http_client_free(c);
                return -ENOMEM;
        }
        ev.data.fd = c->timer_fd;
        if (epoll_ctl(c->epoll_fd, EPOLL_CTL_ADD, c->timer_fd, &ev) < 0) {
                int r = negative_errno();
                http_client_free(c);
                return r;
        }
        curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, http_client_socket_cb);
        curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
        curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, http_client_timer_cb);
        curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
        /* A few connections per agent are plenty; more would only hide a stuck peer. */
        curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 8L);
        *ret_client = c;
        return 0;
}

http_client *http_client_free(http_client *c)
{
        if (!c)
                return NULL;
        c->src = event_source_remove(c->src);
        while (c->calls) {
                struct http_call *call = c->calls;

                http_client_unlink(c, call);
                curl_multi_remove_handle(c->multi, call->easy);
                if (call->done) {
                        struct http_client_result res = {
                            .error = -ECANCELED,
                            .error_message = "client shut down",
                            .body = "",
                        };
                        call->done(&res, call->userdata);
                }
                http_call_free(call);
        }
        if (c->multi)
                curl_multi_cleanup(c->multi);
        curl_slist_free_all(c->headers);
        safe_close(c->timer_fd);
        safe_close(c->epoll_fd);
        for (size_t i = 0; i < ELEMENTSOF(c->tls); i++)
                free(c->tls[i]);
        free(c);
        return NULL;
}

int http_client_set_header(http_client *c, const char *name, const char *value)
{
        struct curl_slist *kept = NULL, *h;
        size_t n = strlen(name);
        _cleanup_free_ char *line = NULL;

        if (n == 0 || strpbrk(name, ":\r\n") || (value && strpbrk(value, "\r\n")))
                return -EINVAL;
        if (value && asprintf(&line, "%s: %s", name, value) < 0)
                return -ENOMEM;
        /* Rebuild the list without the old line, then add the new one. */
        for (h = c->headers; h; h = h->next) {
                struct curl_slist *k;

                if (strncasecmp(h->data, name, n) == 0 && h->data[n] == ':')
                        continue;
                k = curl_slist_append(kept, h->data);
                if (!k) {
                        curl_slist_free_all(kept);
                        return -ENOMEM;
                }
                kept = k;
        }
        if (line) {
                h = curl_slist_append(kept, line);
                if (!h) {
                        curl_slist_free_all(kept);
                        return -ENOMEM;
                }
                kept = h;
        }
        curl_slist_free_all(c->headers);
        c->headers = kept;
        return 0;
}

/* Give a built call the client's headers (and `extra`), and start it. */
static int http_client_start(http_client *c, struct http_call *call, const char *const *extra,
                             http_client_done_fn done, void *userdata)
{
        for (const struct curl_slist *e = c->headers; e; e = e->next) {
                struct curl_slist *h = curl_slist_append(call->headers, e->data);

                if (!h) {
                        http_call_free(call);
                        return -ENOMEM;
                }
                call->headers = h;
        }
        for (size_t i = 0; extra && extra[i]; i++) {
                struct curl_slist *h = curl_slist_append(call->headers, extra[i]);

                if (!h) {
                        http_call_free(call);
                        return -ENOMEM;
                }
                call->headers = h;
        }
        call->client = c;
        call->done = done;
        call->userdata = userdata;
        if (curl_multi_add_handle(c->multi, call->easy) != CURLM_OK) {
                http_call_free(call);
                return -ENOMEM;
        }
        call->next = c->calls;
        if (c->calls)
                c->calls->prev = call;
        c->calls = call;
        c->in_flight++;
        return 0;
}

int http_client_request(http_client *c, const char *method, const char *url, const json_t *body,
                        const char *token, unsigned timeout_ms, http_client_done_fn done,
                        void *userdata)
{
        struct http_call *call;
        int r;

        r = http_call_new(&c->tls_files, method, url, body, token, timeout_ms, &call);
        if (r < 0)
                return r;
        return http_client_start(c, call, NULL, done, userdata);
}

int http_client_stream(http_client *c, const char *method, const char *url, const json_t *body,
                       const char *const *headers, unsigned connect_timeout_ms,
                       http_client_data_fn on_data, http_client_done_fn done, void *userdata,
                       http_call **ret_call)
{
        struct http_call *call;
        int r;

        if (!on_data)
                return -EINVAL;
        r = http_call_new(&c->tls_files, method, url, body, NULL, connect_timeout_ms, &call);
        if (r < 0)
                return r;
        call->on_data = on_data;
        /* A stream lasts as long as the peer keeps it: only the connection is timed. A peer
         * that vanishes without a FIN is found by TCP keepalives. */
        curl_easy_setopt(call->easy, CURLOPT_TIMEOUT_MS, 0L);
        curl_easy_setopt(call->easy, CURLOPT_CONNECTTIMEOUT_MS,
                         (long)(connect_timeout_ms ? connect_timeout_ms
                                                   : HTTP_CLIENT_DEFAULT_TIMEOUT_MS));
        curl_easy_setopt(call->easy, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(call->easy, CURLOPT_TCP_KEEPIDLE, 10L);
        curl_easy_setopt(call->easy, CURLOPT_TCP_KEEPINTVL, 5L);
        r = http_client_start(c, call, headers, done, userdata);
        if (r >= 0 && ret_call)
                *ret_call = call;
        return r;
}

void http_client_cancel(http_client *c, http_call *call)
{
        if (!call || call->cancelled)
                return;
        call->cancelled = true;
        call->done = NULL;
        /* Inside its own on_data curl still holds the handle: the write's return ends it, and
         * the completion frees it without a callback. */
        if (call->in_data)
                return;
        http_client_unlink(c, call);
        curl_multi_remove_handle(c->multi, call->easy);
        http_call_free(call);
}

int http_client_set_tls(http_client *c, const struct tls_files *tls)
{
        const char *in[5] = {tls ? tls->ca : NULL, tls ? tls->cert : NULL, tls ? tls->key : NULL,
                             tls ? tls->crl : NULL, tls ? tls->peer.name : NULL};
        char *copy[5] = {NULL};

        for (size_t i = 0; i < ELEMENTSOF(copy); i++)
                if (in[i] && !(copy[i] = strdup(in[i]))) {
                        for (size_t j = 0; j < i; j++)
                                free(copy[j]);
                        return -ENOMEM;
                }
        for (size_t i = 0; i < ELEMENTSOF(copy); i++) {
                free(c->tls[i]);
                c->tls[i] = copy[i];
        }
        c->tls_files = (struct tls_files){c->tls[0], c->tls[1], c->tls[2], c->tls[3],
                                          {tls ? tls->peer.kinds : 0, c->tls[4]}};
        return 0;
}

int http_client_set_peer(http_client *c, const struct tls_peer *peer)
{
        char *name = NULL;

        if (peer->name && !(name = strdup(peer->name)))
                return -ENOMEM;
        free(c->tls[4]);
        c->tls[4] = name;
        c->tls_files.peer = (struct tls_peer){peer->kinds, name};
        return 0;
}

/* Called by libcurl once connected, before the request goes out. The chain is in CERTINFO
 * only for a connection this transfer made; a reused one was checked by the transfer that
 * made it (with the same client's expectations: a client's pool is keyed by host and port). */
static int http_peer_prereq(void *userp, char *primary_ip, char *local_ip, int primary_port,
                            int local_port)
{
        struct http_peer_guard *g = userp;
        struct curl_certinfo *ci = NULL;
        char *err = NULL;
        int r;

        (void)primary_ip, (void)local_ip, (void)primary_port, (void)local_port;
        if (curl_easy_getinfo(g->easy, CURLINFO_CERTINFO, &ci) != CURLE_OK || !ci ||
            ci->num_of_certs < 1)
                return CURL_PREREQFUNC_OK;
        for (const struct curl_slist *e = ci->certinfo[0]; e; e = e->next) {
                if (strncmp(e->data, "Cert:", 5) != 0)
                        continue;
                r = tls_peer_check(e->data + 5, &g->want, &err);
                if (r >= 0)
                        return CURL_PREREQFUNC_OK;
                g->error = err ?: strdup("the server's certificate is not the one expected");
                return CURL_PREREQFUNC_ABORT;
        }
        g->error = strdup("the server's certificate could not be read (no PEM in CERTINFO)");
        return CURL_PREREQFUNC_ABORT;
}

void http_peer_guard_arm(struct http_peer_guard *g, void *easy, const struct tls_peer *want)
{
        free(g->error);
        *g = (struct http_peer_guard){.easy = easy, .want = *want};
        if (!want->kinds && !want->name)
                return;
        curl_easy_setopt(easy, CURLOPT_CERTINFO, 1L);
        curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, http_peer_prereq);
        curl_easy_setopt(easy, CURLOPT_PREREQDATA, g);
}

int http_client_get_fd(const http_client *c)
{
        return c->epoll_fd;
}

size_t http_client_in_flight(const http_client *c)
{
        return c->in_flight;
}

int http_client_process(http_client *c)
{
        struct epoll_event events[64];
        int running, n;
        CURLMsg *msg;

        n = epoll_wait(c->epoll_fd, events, ELEMENTSOF(events), 0);
        if (n < 0)
                return errno == EINTR ? 0 : negative_errno();
        for (int i = 0; i < n; i++) {
                int fd = events[i].data.fd;

                if (fd == c->timer_fd) {
                        uint64_t ticks;
                        (void)!read(c->timer_fd, &ticks, sizeof(ticks));
                        curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
                } else {
                        int flags = 0;
                        if (events[i].events & EPOLLIN)
                                flags |= CURL_CSELECT_IN;
                        if (events[i].events & EPOLLOUT)
                                flags |= CURL_CSELECT_OUT;
                        if (events[i].events & (EPOLLERR | EPOLLHUP))
                                flags |= CURL_CSELECT_ERR;
                        curl_multi_socket_action(c->multi, fd, flags, &running);
                }
        }

        while ((msg = curl_multi_info_read(c->multi, &running))) {
                struct http_call *call = NULL;

                if (msg->msg != CURLMSG_DONE)
                        continue;
                curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&call);
                CURLcode code = msg->data.result;
                curl_multi_remove_handle(c->multi, msg->easy_handle);
                http_client_unlink(c, call);
                /* The callback may start new requests; msg is not touched after this. */
                http_call_complete(call, code);
                http_call_free(call);
        }
        return 0;
}

static int on_client_fd(struct event_source *s, int fd, uint32_t revents, void *userdata)
{
        int r;

        (void)s;
        (void)fd;
        (void)revents;
        r = http_client_process(userdata);
        if (r < 0)
                log_debug_errno(r, "HTTP client: %m");
        return 0;
}

int http_client_attach(http_client *c, struct event_loop *loop)
{
        assert(!c->src);
        /* Level-triggered: what one http_client_process() leaves must wake the loop again. */
        return event_loop_add_io(loop, c->epoll_fd, POLLIN, EVENT_IO_LEVEL, on_client_fd, c, NULL,
                                 &c->src);
}

int http_client_request_sync(const char *method, const char *url, const json_t *body,
                             const char *token, unsigned timeout_ms, long *ret_status,
                             json_t **ret_body, char **ret_text, char **ret_error)
{
        return http_client_request_sync_tls(NULL, method, url, body, token, timeout_ms,
                                            ret_status, ret_body, ret_text, ret_error);
}

int http_client_request_sync_tls(const struct tls_files *tls, const char *method, const char *url,
                                 const json_t *body, const char *token, unsigned timeout_ms,
                                 long *ret_status, json_t **ret_body, char **ret_text,
                                 char **ret_error)
{
        _cleanup_(http_call_freep) struct http_call *call = NULL;
        json_t *json = NULL;
        CURLcode code;
        long status = 0;
        int r;

        r = http_call_new(tls, method, url, body, token, timeout_ms, &call);
        if (r < 0)
                return error_wrap(ret_error, r, "%s %s", strempty(method), strempty(url));
        code = curl_easy_perform(call->easy);
        r = http_client_curl_errno(code);
        if (call->body_too_large)
                r = -EFBIG;
        if (r == -EFBIG)
                return error_set(ret_error, r, "%s %s: response larger than %u bytes", method, url,
                                 HTTP_CLIENT_MAX_RESPONSE);
        if (call->guard.error)
                return error_set(ret_error, -EPERM, "%s %s: %s", method, url, call->guard.error);
        if (r < 0)
                return error_set(ret_error, r, "%s %s: %s", method, url, curl_easy_strerror(code));
        curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);
        if (call->body_size > 0)
                (void)http_json_parse(call->body, call->body_size, HTTP_CLIENT_MAX_RESPONSE, &json,
                                      NULL);
        if (ret_status)
                *ret_status = status;
        if (ret_body)
                *ret_body = json;
        else
                json_decref(json);
        if (ret_text)
                *ret_text = TAKE_PTR(call->body);
        return 0;
}

int http_url_origin(const char *url, char **ret)
{
        CURLU *u = curl_url();
        char *scheme = NULL, *host = NULL, *port = NULL;
        int r = -EINVAL;

        if (!u)
                return -ENOMEM;
        if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
                r = asprintf(ret, "%s://%s:%s", scheme, host, port) < 0 ? -ENOMEM : 0;
        curl_free(scheme);
        curl_free(host);
        curl_free(port);
        curl_url_cleanup(u);
        for (char *p = r >= 0 ? *ret : NULL; p && *p; p++)
                *p = (char)tolower((unsigned char)*p);
        return r;
}

int http_redirect_target(const char *from, const char *to, const char *const *urls, size_t n_urls)
{
        _cleanup_free_ char *target = NULL;
        int r;

        if (!strncasecmp(from, "https://", 8) && strncasecmp(to, "https://", 8))
                return -EPROTO;
        r = http_url_origin(to, &target);
        if (r == -ENOMEM)
                return r;
        for (size_t i = 0; r >= 0 && i < n_urls; i++) {
                _cleanup_free_ char *origin = NULL;

                if (http_url_origin(urls[i], &origin) == -ENOMEM)
                        return -ENOMEM;
                if (origin && streq(origin, target))
                        return (int)i;
        }
        return -EPERM;
}
