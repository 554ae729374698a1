/* SPDX-License-Identifier: Apache-2.0 */
/* libsilo's client object and its one transfer path: token, failover across masters, redirects
 * to the leader, and the mapping of HTTP answers to -errno and the master's message. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clients/libsilo/client-internal.h"
#include "common/array.h"
#include "common/auth.h"
#include "common/error.h"
#include "common/http-client.h"
#include "common/http-json.h"
#include "common/macro.h"

#define DEFAULT_TOKEN_FILE "/var/lib/silo/master/token"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init_once(void)
{
        curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* "m1:5050" -> "http://m1:5050"; a trailing '/' goes, so paths join with one. */
static int url_normalize(const char *in, size_t len, char **ret, char **ret_error)
{
        _cleanup_free_ char *u = NULL;
        const char *sep = memmem(in, len, "://", 3);

        while (len > 0 && (in[len - 1] == '/' || in[len - 1] == ' '))
                len--;
        while (len > 0 && *in == ' ') {
                in++;
                len--;
        }
        if (len == 0)
                return error_set(ret_error, -EINVAL, "empty master URL");
        if (sep && !(sep - in == 4 && !strncasecmp(in, "http", 4)) && !(sep - in == 5 && !strncasecmp(in, "https", 5)))
                return error_set(ret_error, -EINVAL, "master URL '%.*s': only http:// and https:// are spoken",
                                 (int)len, in);
        if (asprintf(&u, "%s%.*s", sep ? "" : "http://", (int)len, in) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(u);
        return 0;
}

/* The token: the string, the file, $SILO_TOKEN_FILE, or the master's own file when it exists. */
static int client_token_load(const struct silo_client_options *o, char **ret, char **ret_error)
{
        const char *f = o->token_file, *from = "token_file";
        int r;

        *ret = NULL;
        if (o->token) {
                if (!auth_token_is_valid(o->token))
                        return error_set(ret_error, -EINVAL,
                                         "the token given is not a token (%d..%d printable characters)",
                                         AUTH_TOKEN_MIN_LEN, AUTH_TOKEN_MAX_LEN);
                *ret = strdup(o->token);
                return *ret ? 0 : -ENOMEM;
        }
        if (!f && o->no_default_token)
                return 0;
        if (!f && getenv("SILO_TOKEN_FILE") && *getenv("SILO_TOKEN_FILE")) {
                f = getenv("SILO_TOKEN_FILE");
                from = "$SILO_TOKEN_FILE";
        }
        if (!f) {
                if (access(DEFAULT_TOKEN_FILE, F_OK) < 0 && errno == ENOENT)
                        return 0;
                f = DEFAULT_TOKEN_FILE;
                from = "the default path";
        }
        r = auth_token_load(f, NULL, ret, NULL, ret_error);
        if (r < 0)
                return error_wrap(ret_error, r, "the token file from %s", from);
        return 0;
}

static int client_alloc(const struct silo_client_options *opts, silo_client **ret, char **ret_error)
{
        static const struct silo_client_options none = {};
        const struct silo_client_options *o = opts ? opts : &none;
        silo_client *c;
        int r;

        pthread_once(&curl_once, curl_init_once);
        if (curl_init_result != CURLE_OK)
                return error_set(ret_error, -ENOMEM, "libcurl's global init failed: %s",
                                 curl_easy_strerror(curl_init_result));
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->timeout_ms = o->timeout_ms ? o->timeout_ms : CLIENT_DEFAULT_TIMEOUT_MS;
        c->max_redirects = o->max_redirects ? o->max_redirects : CLIENT_DEFAULT_REDIRECTS;
        r = client_token_load(o, &c->token, ret_error);
        if (r >= 0 && !(c->easy = curl_easy_init()))
                r = -ENOMEM;
        if (r < 0) {
                silo_client_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

static int client_url_add(silo_client *c, const char *u, size_t len, char **ret_error)
{
        char **n = realloc(c->urls, (c->n_urls + 1) * sizeof(*c->urls));
        int r;

        if (!n)
                return -ENOMEM;
        c->urls = n;
        r = url_normalize(u, len, &c->urls[c->n_urls], ret_error);
        if (r < 0)
                return r;
        c->n_urls++;
        return 0;
}

_public_ int silo_client_new_urls(const char *const *urls, size_t n_urls, const struct silo_client_options *opts,
                                  silo_client **ret_client, char **ret_error)
{
        silo_client *c = NULL;
        int r;

        if (!ret_client || (n_urls > 0 && !urls))
                return error_set(ret_error, -EINVAL, "silo_client_new: no place for the client");
        if (n_urls == 0)
                return error_set(ret_error, -EINVAL, "no master URL given");
        r = client_alloc(opts, &c, ret_error);
        for (size_t i = 0; r >= 0 && i < n_urls; i++)
                r = urls[i] ? client_url_add(c, urls[i], strlen(urls[i]), ret_error)
                            : error_set(ret_error, -EINVAL, "master URL %zu is NULL", i);
        if (r < 0) {
                silo_client_free(c);
                return r;
        }
        *ret_client = c;
        return 0;
}

_public_ int silo_client_new(const char *urls, const struct silo_client_options *opts, silo_client **ret_client,
                             char **ret_error)
{
        silo_client *c = NULL;
        int r;

        if (!urls || !*urls)
                return error_set(ret_error, -EINVAL, "no master URL given");
        if (!ret_client)
                return error_set(ret_error, -EINVAL, "silo_client_new: no place for the client");
        r = client_alloc(opts, &c, ret_error);
        for (const char *p = urls; r >= 0 && p;) {
                const char *comma = strchr(p, ',');
                size_t len = comma ? (size_t)(comma - p) : strlen(p);

                r = client_url_add(c, p, len, ret_error);
                if (r < 0 && strchr(urls, ','))
                        r = error_wrap(ret_error, r, "master list '%s'", urls);
                p = comma ? comma + 1 : NULL;
        }
        if (r < 0) {
                silo_client_free(c);
                return r;
        }
        *ret_client = c;
        return 0;
}

_public_ silo_client *silo_client_free(silo_client *c)
{
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_urls; i++)
                free(c->urls[i]);
        free(c->urls);
        free(c->leader);
        if (c->token) {
                explicit_bzero(c->token, strlen(c->token));
                free(c->token);
        }
        if (c->easy)
                curl_easy_cleanup(c->easy);
        free(c->tls_ca);
        free(c->tls_cert);
        free(c->tls_key);
        free(c->tls_crl);
        free(c);
        return NULL;
}

_public_ int silo_client_set_tls(silo_client *c, const char *ca, const char *cert, const char *key,
                                 char **ret_error)
{
        const char *files[3] = {ca, cert, key};
        const char *names[3] = {"CA certificate", "client certificate", "client key"};
        char *copy[3] = {NULL}, *crl = NULL;
        const char *slash;

        for (size_t i = 0; i < 3; i++) {
                if (!files[i] || !*files[i])
                        return error_set(ret_error, -EINVAL,
                                         "mutual TLS needs a CA certificate, a client certificate "
                                         "and its key: the %s is missing",
                                         names[i]);
                if (access(files[i], R_OK) < 0)
                        return error_set(ret_error, -errno, "the %s %s: %m", names[i], files[i]);
        }
        for (size_t i = 0; i < 3; i++)
                if (!(copy[i] = strdup(files[i]))) {
                        free(copy[0]);
                        free(copy[1]);
                        return -ENOMEM;
                }
        /* The CRL of the CA's directory (/etc/silo/tls/crl.pem beside ca.pem), as the daemons
         * have it: a revoked master is refused too. Read at each call, once it exists. */
        slash = strrchr(ca, '/');
        if (asprintf(&crl, "%.*scrl.pem", slash ? (int)(slash - ca + 1) : 0, ca) < 0)
                crl = NULL;
        /* The servers speak HTTPS only with TLS on: every master URL becomes an https one, the
         * leader's remembered from a redirect as well. */
        for (size_t i = 0; crl && i <= c->n_urls; i++) {
                char **url = i < c->n_urls ? &c->urls[i] : &c->leader;
                char *u;

                if (!*url || strncasecmp(*url, "http://", 7) != 0)
                        continue;
                if (asprintf(&u, "https://%s", *url + 7) < 0) {
                        free(crl);
                        crl = NULL;
                        break;
                }
                free(*url);
                *url = u;
        }
        if (!crl) {
                for (size_t j = 0; j < 3; j++)
                        free(copy[j]);
                return -ENOMEM;
        }
        free(c->tls_crl);
        c->tls_crl = crl;
        free(c->tls_ca);
        free(c->tls_cert);
        free(c->tls_key);
        c->tls_ca = copy[0];
        c->tls_cert = copy[1];
        c->tls_key = copy[2];
        return 0;
}

_public_ const char *silo_client_master_url(const silo_client *c)
{
        return c->leader ? c->leader : c->urls[c->current];
}

_public_ void silo_client_response_clear(struct silo_client_response *r)
{
        if (!r)
                return;
        json_decref(r->json);
        free(r->text);
        free(r->url);
        *r = (struct silo_client_response){};
}

void client_xfer_done(struct client_xfer *x)
{
        free(x->buf);
        free(x->url);
        x->buf = x->url = NULL;
        x->buf_size = x->buf_cap = 0;
}

int client_buf_append(char **buf, size_t *len, size_t *cap, const char *data, size_t n)
{
        if (!ARRAY_GROW(*buf, *cap, *len + n + 1))
                return -ENOMEM;
        memcpy(*buf + *len, data, n);
        *len += n;
        (*buf)[*len] = '\0';
        return 0;
}

static int errno_of_status(long status)
{
        switch (status) {
        case 400:
        case 422:
                return -EINVAL;
        case 401:
                return -EACCES;
        case 403:
                return -EPERM;
        case 404:
                return -ENOENT;
        case 405:
                return -EOPNOTSUPP;
        case 409:
                return -EEXIST;
        case 410:
                return -ESTALE;
        case 413:
                return -EFBIG;
        case 429:
        case 503:
                return -EAGAIN;
        default:
                return status >= 500 && status <= 599 ? -EIO : -EPROTO;
        }
}

int client_status_error(long status, const char *method, const char *url, const char *body, char **ret_error)
{
        _cleanup_free_ char *message = NULL;
        json_t *j = NULL;
        int r = errno_of_status(status);

        if (body && http_json_parse(body, strlen(body), 0, &j, NULL) >= 0)
                (void)http_json_error_parse(j, NULL, &message);
        json_decref(j);
        if (message)
                return error_set(ret_error, r, "%s", message);
        return error_set(ret_error, r, "%s %s: HTTP %ld", method, url, status);
}

char *client_path_escape(const char *id)
{
        char *e = curl_easy_escape(NULL, id, 0), *copy;

        if (!e)
                return NULL;
        copy = strdup(e); /* curl's memory goes back to curl_free() */
        curl_free(e);
        return copy;
}

static size_t collect(char *data, size_t size, size_t n, void *userdata)
{
        struct client_xfer *x = userdata;
        size_t len = size * n;

        /* Returning less than len makes curl fail the transfer (CURLE_WRITE_ERROR). */
        x->too_large = x->buf_size + len > CLIENT_MAX_BODY;
        if (x->too_large || client_buf_append(&x->buf, &x->buf_size, &x->buf_cap, data, len) < 0)
                return 0;
        return len;
}

/* The body goes to the sink only for a 2xx answer: an error status's body is its message. */
static size_t on_body(char *data, size_t size, size_t n, void *userdata)
{
        struct client_xfer *x = userdata;
        size_t done;

        if (x->sink && x->status >= 200 && x->status <= 299) {
                done = x->sink(data, size, n, x->sink_data);
                if (done != size * n)
                        x->stopped = true;
                return done;
        }
        return collect(data, size, n, userdata);
}

/* The easy handle, so the end of the headers can read the status from it. */
struct header_ctx {
        CURL *easy;
        struct client_xfer *x;
};

static size_t on_header_end(char *data, size_t size, size_t n, void *userdata)
{
        struct header_ctx *h = userdata;
        size_t len = size * n;

        if (!((len == 2 && data[0] == '\r') || (len == 1 && data[0] == '\n')))
                return len;
        curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &h->x->status);
        if (h->x->status >= 200 && h->x->status <= 299 && h->x->on_headers && h->x->on_headers(h->x->sink_data)) {
                h->x->stopped = true;
                return 0;
        }
        return len;
}

/* What a failed transfer's errno is: the system's connect() error when there was one. */
static int transfer_errno(CURL *easy, CURLcode code)
{
        long os = 0;

        curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os);
        if (os > 0 && (code == CURLE_COULDNT_CONNECT || code == CURLE_RECV_ERROR || code == CURLE_SEND_ERROR))
                return (int)-os;
        switch (code) {
        case CURLE_COULDNT_CONNECT:
                return -ECONNREFUSED;
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_COULDNT_RESOLVE_HOST:
                return -EHOSTUNREACH;
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
                return -ECONNRESET;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        case CURLE_URL_MALFORMAT:
                return -EINVAL;
        default:
                return -EPROTO;
        }
}

/* Nothing was sent: the request may go to another master, even a POST. */
static bool transfer_not_connected(CURL *easy, CURLcode code)
{
        curl_off_t connect_us = 0;

        if (code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST)
                return true;
        curl_easy_getinfo(easy, CURLINFO_CONNECT_TIME_T, &connect_us);
        return code == CURLE_OPERATION_TIMEDOUT && connect_us == 0;
}

/* One request to one URL, no redirects followed. 0 with x->status, or -errno and a message. */
static int transfer_once(const silo_client *c, CURL *easy, const char *url, struct client_xfer *x,
                         struct curl_slist *headers, bool *ret_not_connected, char **ret_error)
{
        struct header_ctx h = {.easy = easy, .x = x};
        char errbuf[CURL_ERROR_SIZE] = "";
        struct http_peer_guard guard = {0};
        unsigned connect_ms;
        CURLcode code;
        int r;

        curl_easy_reset(easy);
        free(x->buf);
        x->buf = NULL;
        x->buf_size = x->buf_cap = 0;
        x->status = 0;
        x->too_large = x->stopped = false;
        connect_ms = x->timeout_ms && x->timeout_ms < CLIENT_CONNECT_TIMEOUT_MS ? x->timeout_ms : CLIENT_CONNECT_TIMEOUT_MS;
        curl_easy_setopt(easy, CURLOPT_URL, url);
        curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)connect_ms);
        if (c->tls_cert) {
                /* The server's certificate must come from the cluster CA and name its host. */
                curl_easy_setopt(easy, CURLOPT_CAINFO, c->tls_ca);
                curl_easy_setopt(easy, CURLOPT_SSLCERT, c->tls_cert);
                curl_easy_setopt(easy, CURLOPT_SSLKEY, c->tls_key);
                /* A CRL not made yet revokes nothing; curl would fail every call on it. */
                if (c->tls_crl && access(c->tls_crl, F_OK) == 0)
                        curl_easy_setopt(easy, CURLOPT_CRLFILE, c->tls_crl);
                /* Which daemon answers: a master for the masters' URLs, and any daemon of the
                 * cluster (never a client's certificate) for an agent's whole URL. */
                http_peer_guard_arm(&guard, easy,
                                    &(struct tls_peer){x->whole_url ? TLS_PEER_MASTER | TLS_PEER_AGENT
                                                                    : TLS_PEER_MASTER});
        }
        if (x->stream) {
                /* A stream's heartbeat comes every 10 s: 30 s without a byte is a dead peer. */
                curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
                curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, 30L);
        }
        if (x->timeout_ms)
                curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)x->timeout_ms);
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, x);
        curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header_end);
        curl_easy_setopt(easy, CURLOPT_HEADERDATA, &h);
        curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
        if (!streq(x->method, "GET"))
                curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, x->method);
        if (x->body || streq(x->method, "POST") || streq(x->method, "PUT")) {
                curl_easy_setopt(easy, CURLOPT_POSTFIELDS, x->body ? x->body : "");
                curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long)(x->body ? strlen(x->body) : 0));
        }
        code = curl_easy_perform(easy);
        curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, NULL);
        curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, NULL);
        _cleanup_free_ char *refused = TAKE_PTR(guard.error);
        *ret_not_connected = false;
        if (refused)
                return error_set(ret_error, -EPERM, "%s %s: %s", x->method, url, refused);
        if (x->stopped)
                return 0;
        if (x->too_large)
                return error_set(ret_error, -EFBIG, "%s %s: the answer is larger than %u bytes", x->method, url,
                                 CLIENT_MAX_BODY);
        if (code == CURLE_OK) {
                curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &x->status);
                return 0;
        }
        r = transfer_errno(easy, code);
        if (transfer_not_connected(easy, code)) {
                *ret_not_connected = true;
                return error_set(ret_error, r, "connecting to %s: %s", url,
                                 code == CURLE_COULDNT_CONNECT ? strerror(-r) : errbuf[0] ? errbuf
                                                                                          : curl_easy_strerror(code));
        }
        return error_set(ret_error, r, "%s %s: %s", x->method, url, errbuf[0] ? errbuf : curl_easy_strerror(code));
}

/* The base of a redirect's target when it ends with the path asked for: the leader's address. */
static void leader_remember(silo_client *c, const char *location, const char *path)
{
        size_t ll = strlen(location), pl = strlen(path);
        char *base;

        if (ll <= pl || strcmp(location + ll - pl, path))
                return;
        base = strndup(location, ll - pl);
        if (base) {
                free(c->leader);
                c->leader = base;
        }
}

/* A redirect goes with the token, so it is followed only to one of the masters given (anything
 * that can answer a 307, a proxy or a misconfigured master, would otherwise get the token, as
 * curl drops it on a redirect to another host), and never from https to plain http. */
static int redirect_check(const silo_client *c, const struct client_xfer *x, const char *from, const char *to,
                          char **ret_error)
{
        int r = http_redirect_target(from, to, (const char *const *)c->urls, c->n_urls);

        if (r == -EPROTO)
                return error_set(ret_error, -EPERM, "%s %s: redirected to %s, which is not https (not followed)",
                                 x->method, from, to);
        if (r == -EPERM)
                return error_set(ret_error, -EPERM,
                                 "%s %s: redirected to %s, which is not one of the masters given (not followed)",
                                 x->method, from, to);
        return MIN(r, 0);
}

/* One request to one base (or whole URL), following 307/308 up to the client's bound. */
static int transfer_follow(silo_client *c, CURL *easy, const char *url, const char *path, struct client_xfer *x,
                           struct curl_slist *headers, bool *ret_not_connected, char **ret_error)
{
        _cleanup_free_ char *cur = strdup(url);
        int r;

        if (!cur)
                return -ENOMEM;
        for (unsigned hop = 0;; hop++) {
                const char *loc = NULL;

                r = transfer_once(c, easy, cur, x, headers, ret_not_connected, ret_error);
                if (r < 0)
                        return r;
                if (x->stopped || (x->status != 307 && x->status != 308))
                        break;
                curl_easy_getinfo(easy, CURLINFO_REDIRECT_URL, &loc);
                if (!loc)
                        return error_set(ret_error, -EPROTO, "%s %s: HTTP %ld without a Location", x->method, cur,
                                         x->status);
                if (hop >= c->max_redirects)
                        return error_set(ret_error, -ELOOP, "%s %s: more than %u redirects (the last to %s)", x->method,
                                         url, c->max_redirects, loc);
                r = redirect_check(c, x, cur, loc, ret_error);
                if (r < 0)
                        return r;
                if (path)
                        leader_remember(c, loc, path);
                free(cur);
                cur = strdup(loc);
                if (!cur)
                        return -ENOMEM;
        }
        free(x->url);
        x->url = TAKE_PTR(cur);
        return 0;
}

static int headers_build(const silo_client *c, const struct client_xfer *x, struct curl_slist **ret)
{
        static const char *const fixed[] = {
            "Accept: application/json, application/x-ndjson",
            "Expect:", /* no 100-continue round trip for a small body */
            "Content-Type: application/json",
        };
        struct curl_slist *l = NULL, *n;
        _cleanup_free_ char *auth = NULL;

        for (size_t i = 0; i < ELEMENTSOF(fixed); i++) {
                if (i == 2 && !x->body)
                        break;
                n = curl_slist_append(l, fixed[i]);
                if (!n)
                        goto oom;
                l = n;
        }
        if (c->token) {
                auth = auth_bearer_header(c->token);
                if (!auth || !(n = curl_slist_append(l, auth)))
                        goto oom;
                l = n;
                explicit_bzero(auth, strlen(auth));
        }
        *ret = l;
        return 0;
oom:
        curl_slist_free_all(l);
        return -ENOMEM;
}

int client_transfer(silo_client *c, CURL *easy, const char *target, struct client_xfer *x, char **ret_error)
{
        struct curl_slist *headers = NULL;
        _cleanup_free_ char *url = NULL, *errors = NULL;
        bool whole = strstr(target, "://") != NULL, not_connected = false;
        size_t tries = whole ? 1 : c->n_urls + (c->leader ? 1 : 0);
        int r = 0;

        x->whole_url = whole;
        r = headers_build(c, x, &headers);
        if (r < 0)
                return r;
        for (size_t i = 0; i < tries; i++) {
                /* The leader first, then every master from the one that answered last. */
                size_t idx = (c->current + i - (c->leader ? 1 : 0)) % c->n_urls;
                const char *base = whole ? "" : c->leader && i == 0 ? c->leader : c->urls[idx];
                _cleanup_free_ char *err = NULL;

                free(url);
                url = NULL;
                if (asprintf(&url, "%s%s", base, target) < 0) {
                        r = -ENOMEM;
                        break;
                }
                r = transfer_follow(c, easy, url, whole ? NULL : target, x, headers, &not_connected, &err);
                if (r >= 0) {
                        if (!whole && !(c->leader && i == 0))
                                c->current = idx;
                        break;
                }
                if (!not_connected) {
                        if (ret_error)
                                *ret_error = TAKE_PTR(err);
                        break;
                }
                if (!whole && c->leader && i == 0) {
                        /* The leader went away: the list decides again. */
                        free(c->leader);
                        c->leader = NULL;
                }
                /* Every master that could not be reached is named, in the order tried. */
                if (err) {
                        char *joined = NULL;
                        if (asprintf(&joined, "%s%s%s", strempty(errors), errors ? "; " : "", err) >= 0) {
                                free(errors);
                                errors = joined;
                        }
                }
        }
        curl_slist_free_all(headers);
        if (r < 0 && not_connected && ret_error)
                *ret_error = errors ? TAKE_PTR(errors) : NULL;
        return r;
}

_public_ int silo_client_request(silo_client *c, const char *method, const char *target, const json_t *body,
                                 unsigned timeout_ms, struct silo_client_response *ret_response, char **ret_error)
{
        _cleanup_free_ char *text = NULL;
        struct client_xfer x = {.method = method, .timeout_ms = timeout_ms ? timeout_ms : c->timeout_ms};
        json_t *j = NULL;
        int r;

        if (!c || !method || !target || (*target != '/' && !strstr(target, "://")))
                return error_set(ret_error, -EINVAL, "silo_client_request: '%s' is neither a path nor a URL",
                                 strempty(target));
        if (body) {
                text = http_json_dump(body);
                if (!text)
                        return -ENOMEM;
                x.body = text;
        }
        r = client_transfer(c, c->easy, target, &x, ret_error);
        if (r < 0) {
                client_xfer_done(&x);
                return r;
        }
        if (x.buf_size > 0)
                (void)http_json_parse(x.buf, x.buf_size, CLIENT_MAX_BODY, &j, NULL);
        r = x.status >= 200 && x.status <= 299 ? 0 : client_status_error(x.status, method, x.url, x.buf, ret_error);
        if (ret_response) {
                *ret_response = (struct silo_client_response){
                    .status = x.status, .json = j, .text = TAKE_PTR(x.buf), .url = TAKE_PTR(x.url)};
                j = NULL;
        }
        json_decref(j);
        client_xfer_done(&x);
        return r;
}
