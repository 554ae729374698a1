/* SPDX-License-Identifier: Apache-2.0 */
/* A small client of etcd 3.4's v3 JSON gateway on libcurl (see etcd.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <gnutls/gnutls.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/http-client.h"
#include "common/http-json.h"
#include "common/macro.h"
#include "common/tls.h"
#include "master/etcd.h"

#define ETCD_DEFAULT_TIMEOUT_MS 5000u
/* etcd's own answers are small; a range of the whole state is the largest we read. */
#define ETCD_MAX_ANSWER (512u * 1024u * 1024u)

struct etcd {
        char *endpoints_text;
        char **endpoints;
        size_t n_endpoints;
        size_t current; /* the endpoint that answered last */
        unsigned timeout_ms;
        uint64_t deadline_ms; /* etcd_set_deadline() */
        CURL *easy; /* kept: its connection to etcd is reused by every blocking call */
        struct curl_slist *headers;
        char *answer;
        size_t answer_size;
        bool answer_too_large;
        char errbuf[CURL_ERROR_SIZE];
};

char *etcd_base64(const void *data, size_t size)
{
        gnutls_datum_t in = {.data = (unsigned char *)data, .size = (unsigned)size};
        gnutls_datum_t out = {0};
        char *s;

        if (size == 0)
                return strdup("");
        if (gnutls_base64_encode2(&in, &out) < 0)
                return NULL;
        s = strndup((const char *)out.data, out.size);
        gnutls_free(out.data);
        return s;
}

int etcd_unbase64(const char *text, char **ret, size_t *ret_size)
{
        gnutls_datum_t in = {.data = (unsigned char *)text, .size = (unsigned)strlen(text)};
        gnutls_datum_t out = {0};
        char *s;

        if (in.size == 0) {
                s = strdup("");
                if (!s)
                        return -ENOMEM;
                *ret = s;
                *ret_size = 0;
                return 0;
        }
        if (gnutls_base64_decode2(&in, &out) < 0)
                return -EBADMSG;
        s = malloc(out.size + 1);
        if (s) {
                memcpy(s, out.data, out.size);
                s[out.size] = '\0';
        }
        gnutls_free(out.data);
        if (!s)
                return -ENOMEM;
        *ret = s;
        *ret_size = out.size;
        return 0;
}

/* etcd writes int64 as a JSON string; accept a number too. Absent = 0. */
static int64_t json_int64(const json_t *o, const char *name)
{
        const json_t *v = json_object_get(o, name);

        if (json_is_integer(v))
                return json_integer_value(v);
        if (json_is_string(v))
                return strtoll(json_string_value(v), NULL, 10);
        return 0;
}

static int endpoints_parse(struct etcd *e, const char *text, char **ret_error)
{
        _cleanup_free_ char *copy = strdup(text);
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                size_t len;
                const char *host;
                char **n;

                while (*t == ' ')
                        t++;
                len = strlen(t);
                while (len > 0 && (t[len - 1] == ' ' || t[len - 1] == '/'))
                        t[--len] = '\0';
                host = !strncmp(t, "http://", 7)    ? t + 7
                       : !strncmp(t, "https://", 8) ? t + 8
                                                    : NULL;
                if (!host || !*host || strchr(host, '/'))
                        return error_set(ret_error, -EINVAL,
                                         "etcd endpoint '%s' (in '%s'): not an http:// or "
                                         "https:// URL without a path",
                                         t, text);
                n = reallocarray(e->endpoints, e->n_endpoints + 1, sizeof(char *));
                if (!n)
                        return -ENOMEM;
                e->endpoints = n;
                if (!(e->endpoints[e->n_endpoints] = strdup(t)))
                        return -ENOMEM;
                e->n_endpoints++;
        }
        if (e->n_endpoints == 0)
                return error_set(ret_error, -EINVAL, "etcd endpoints '%s': no URL", text);
        return 0;
}

static size_t etcd_write(char *data, size_t size, size_t nmemb, void *userdata)
{
        struct etcd *e = userdata;

        return http_client_body_append(&e->answer, &e->answer_size, &e->answer_too_large, data,
                                       size * nmemb, ETCD_MAX_ANSWER);
}

int etcd_new(const char *endpoints, unsigned timeout_ms, struct etcd **ret, char **ret_error)
{
        struct etcd *e;
        int r;

        if (!endpoints)
                return error_set(ret_error, -EINVAL, "no etcd endpoint given");
        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->timeout_ms = timeout_ms ? timeout_ms : ETCD_DEFAULT_TIMEOUT_MS;
        e->endpoints_text = strdup(endpoints);
        if (!e->endpoints_text) {
                etcd_free(e);
                return -ENOMEM;
        }
        r = endpoints_parse(e, endpoints, ret_error);
        if (r < 0) {
                etcd_free(e);
                return r;
        }
        http_client_global_init();
        e->easy = curl_easy_init();
        e->headers = curl_slist_append(NULL, "Content-Type: application/json");
        if (e->headers)
                e->headers = curl_slist_append(e->headers, "Expect:");
        if (!e->easy || !e->headers) {
                etcd_free(e);
                return -ENOMEM;
        }
        curl_easy_setopt(e->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e->easy, CURLOPT_HTTPHEADER, e->headers);
        curl_easy_setopt(e->easy, CURLOPT_TIMEOUT_MS, (long)e->timeout_ms);
        curl_easy_setopt(e->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)e->timeout_ms);
        curl_easy_setopt(e->easy, CURLOPT_WRITEFUNCTION, etcd_write);
        curl_easy_setopt(e->easy, CURLOPT_WRITEDATA, e);
        curl_easy_setopt(e->easy, CURLOPT_ERRORBUFFER, e->errbuf);
        curl_easy_setopt(e->easy, CURLOPT_PROTOCOLS_STR, "http,https");
        /* Small requests: Nagle would hold each commit for the peer's delayed ACK. */
        curl_easy_setopt(e->easy, CURLOPT_TCP_NODELAY, 1L);
        *ret = e;
        return 0;
}

struct etcd *etcd_free(struct etcd *e)
{
        if (!e)
                return NULL;
        if (e->easy)
                curl_easy_cleanup(e->easy);
        curl_slist_free_all(e->headers);
        for (size_t i = 0; i < e->n_endpoints; i++)
                free(e->endpoints[i]);
        free(e->endpoints);
        free(e->endpoints_text);
        free(e->answer);
        free(e);
        return NULL;
}

const char *etcd_endpoint(const struct etcd *e)
{
        return e->endpoints[e->current];
}

const char *etcd_endpoints(const struct etcd *e)
{
        return e->endpoints_text;
}

/* grpc-gateway's error body {"error": "...", "code": N, "message": "..."} (N a gRPC code)
 * as -errno. */
static int etcd_error_errno(long status, const json_t *answer, const char **ret_text)
{
        const char *text = json_string_value(json_object_get(answer, "message"));
        int64_t code = json_int64(answer, "code");

        if (!text)
                text = json_string_value(json_object_get(answer, "error"));
        *ret_text = text;
        if (text && (strstr(text, "too many operations") || strstr(text, "too large")))
                return -E2BIG;
        if (text && strstr(text, "compacted"))
                return -ERANGE;
        if (text && strstr(text, "lease not found"))
                return -ENOENT;
        switch (code) {
        case 3: /* InvalidArgument */
                return -EINVAL;
        case 4: /* DeadlineExceeded */
                return -ETIMEDOUT;
        case 5: /* NotFound */
                return -ENOENT;
        case 11: /* OutOfRange */
                return -ERANGE;
        case 14: /* Unavailable */
                return -EAGAIN;
        default:
                return status == 503 ? -EAGAIN : -EIO;
        }
}

/* Whether a failure on one endpoint is worth trying on the next. */
static bool etcd_retry_next(int r)
{
        return r == -ECONNREFUSED || r == -ECONNRESET || r == -ETIMEDOUT || r == -EHOSTUNREACH ||
               r == -EAGAIN;
}

/* The answer of one endpoint: the status and JSON, or etcd's error as -errno and message. */
static int etcd_answer(const char *endpoint, const char *path, const char *key, long status,
                       const char *text, size_t size, json_t **ret, char **ret_error)
{
        const char *msg = NULL;
        json_t *j = NULL;
        int r;

        if (size > 0)
                (void)http_json_parse(text, size, ETCD_MAX_ANSWER, &j, NULL);
        if (status == 200 && json_is_object(j)) {
                *ret = j;
                return 0;
        }
        if (!json_is_object(j)) {
                json_decref(j);
                return error_set(ret_error, status == 503 ? -EAGAIN : -EBADMSG,
                                 "etcd %s%s%s%s: HTTP %ld, not etcd's JSON: %.200s", endpoint,
                                 path, key ? " key " : "", key ? key : "", status, text);
        }
        r = etcd_error_errno(status, j, &msg);
        r = error_set(ret_error, r, "etcd %s%s%s%s: %s", endpoint, path, key ? " key " : "",
                      key ? key : "", msg ? msg : "error without a message");
        json_decref(j);
        return r;
}

void etcd_set_deadline(struct etcd *e, uint64_t deadline_ms)
{
        e->deadline_ms = deadline_ms;
}

int etcd_call(struct etcd *e, const char *path, const json_t *body, const char *key,
              json_t **ret, char **ret_error)
{
        _cleanup_free_ char *request = http_json_dump(body);
        int r = -EIO;

        if (!request)
                return -ENOMEM;
        for (size_t i = 0; i < e->n_endpoints; i++) {
                size_t idx = (e->current + i) % e->n_endpoints;
                const char *ep = e->endpoints[idx];
                _cleanup_free_ char *url = NULL;
                CURLcode code;
                long status = 0;

                uint64_t now = now_boot_ms(), left = e->timeout_ms; /* the lease's clock */

                if (e->deadline_ms) {
                        if (now >= e->deadline_ms)
                                return error_set(ret_error, -ETIMEDOUT,
                                                 "etcd %s%s%s%s: not sent, the deadline passed "
                                                 "(the leader's lease)",
                                                 ep, path, key ? " key " : "", key ? key : "");
                        left = MIN(left, e->deadline_ms - now);
                }
                curl_easy_setopt(e->easy, CURLOPT_TIMEOUT_MS, (long)left);
                curl_easy_setopt(e->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)left);
                if (asprintf(&url, "%s%s", ep, path) < 0)
                        return -ENOMEM;
                free(e->answer);
                e->answer = NULL;
                e->answer_size = 0;
                e->answer_too_large = false;
                e->errbuf[0] = '\0';
                curl_easy_setopt(e->easy, CURLOPT_URL, url);
                curl_easy_setopt(e->easy, CURLOPT_POSTFIELDS, request);
                curl_easy_setopt(e->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(request));
                code = curl_easy_perform(e->easy);
                if (e->answer_too_large)
                        return error_set(ret_error, -EFBIG,
                                         "etcd %s%s: answer larger than %u bytes", ep, path,
                                         ETCD_MAX_ANSWER);
                if (code != CURLE_OK) {
                        r = http_client_curl_errno(code);
                        if (ret_error) {
                                free(*ret_error);
                                *ret_error = NULL;
                        }
                        error_set(ret_error, r, "etcd %s%s%s%s: %s", ep, path,
                                  key ? " key " : "", key ? key : "",
                                  e->errbuf[0] ? e->errbuf : curl_easy_strerror(code));
                } else {
                        curl_easy_getinfo(e->easy, CURLINFO_RESPONSE_CODE, &status);
                        if (ret_error) {
                                free(*ret_error);
                                *ret_error = NULL;
                        }
                        r = etcd_answer(ep, path, key, status, e->answer ? e->answer : "",
                                        e->answer_size, ret, ret_error);
                        if (r >= 0 || !etcd_retry_next(r)) {
                                e->current = idx;
                                return r;
                        }
                }
                if (!etcd_retry_next(r))
                        return r;
        }
        return r;
}

void etcd_kv_done(struct etcd_kv *kv)
{
        if (!kv)
                return;
        free(kv->key);
        free(kv->value);
        *kv = (struct etcd_kv){0};
}

int etcd_kv_from_json(const json_t *j, struct etcd_kv *ret)
{
        const char *k = json_string_value(json_object_get(j, "key"));
        const char *v = json_string_value(json_object_get(j, "value"));
        struct etcd_kv kv = {0};
        size_t ksize;
        int r;

        if (!json_is_object(j) || !k)
                return -EBADMSG;
        r = etcd_unbase64(k, &kv.key, &ksize);
        if (r >= 0)
                r = etcd_unbase64(v ? v : "", &kv.value, &kv.value_size);
        if (r < 0) {
                etcd_kv_done(&kv);
                return r;
        }
        kv.create_revision = json_int64(j, "create_revision");
        kv.mod_revision = json_int64(j, "mod_revision");
        kv.version = json_int64(j, "version");
        kv.lease = json_int64(j, "lease");
        *ret = kv;
        return 0;
}

void etcd_kvs_done(struct etcd_kvs *r)
{
        if (!r)
                return;
        for (size_t i = 0; i < r->n; i++)
                etcd_kv_done(&r->kvs[i]);
        free(r->kvs);
        *r = (struct etcd_kvs){0};
}

int etcd_kvs_from_json(const json_t *j, struct etcd_kvs *ret)
{
        const json_t *kvs = json_object_get(j, "kvs");
        struct etcd_kvs out = {0};
        size_t n = json_array_size(kvs);

        if (!json_is_object(j))
                return -EBADMSG;
        out.revision = json_int64(json_object_get(j, "header"), "revision");
        out.more = json_is_true(json_object_get(j, "more"));
        out.count = json_int64(j, "count");
        if (n > 0) {
                out.kvs = calloc(n, sizeof(*out.kvs));
                if (!out.kvs)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                int r = etcd_kv_from_json(json_array_get(kvs, i), &out.kvs[i]);
                if (r < 0) {
                        etcd_kvs_done(&out);
                        return r;
                }
                out.n++;
        }
        *ret = out;
        return 0;
}

char *etcd_prefix_end(const char *prefix)
{
        size_t len = strlen(prefix);
        char *end = strdup(prefix);

        if (!end)
                return NULL;
        /* etcd's clientv3.GetPrefixRangeEnd: the last byte below 0xff, plus one, cut there */
        while (len > 0) {
                unsigned char c = (unsigned char)end[len - 1];
                if (c < 0xff) {
                        end[len - 1] = (char)(c + 1);
                        end[len] = '\0';
                        return end;
                }
                len--;
        }
        /* all 0xff (or empty): every key from prefix on, which etcd spells "\0" */
        end[0] = '\0';
        return end;
}

/* A JSON string of the key's base64; for "\0" (every key) the base64 of one NUL byte. */
static json_t *json_key(const char *key)
{
        _cleanup_free_ char *b = *key ? etcd_base64(key, strlen(key)) : etcd_base64("", 1);

        return b ? json_string(b) : NULL;
}

static json_t *range_body(const char *key, const char *range_end, int64_t revision,
                          int64_t limit, bool count_only)
{
        json_t *b = json_object();

        if (!b || json_object_set_new(b, "key", json_key(key)) < 0 ||
            (range_end && json_object_set_new(b, "range_end", json_key(range_end)) < 0) ||
            (revision > 0 && json_object_set_new(b, "revision", json_integer(revision)) < 0) ||
            (limit > 0 && json_object_set_new(b, "limit", json_integer(limit)) < 0) ||
            (count_only && json_object_set_new(b, "count_only", json_true()) < 0)) {
                json_decref(b);
                return NULL;
        }
        return b;
}

/* POST body (taken, NULL: -ENOMEM) to path; *ret is the answer. */
static int etcd_post(struct etcd *e, const char *path, json_t *body, const char *key,
                     json_t **ret, char **ret_error)
{
        int r;

        if (!body)
                return -ENOMEM;
        r = etcd_call(e, path, body, key, ret, ret_error);
        json_decref(body);
        return r;
}

/* A range request (body taken) and its answer's keys. */
static int etcd_range_post(struct etcd *e, json_t *body, const char *key, struct etcd_kvs *ret,
                           char **ret_error)
{
        json_t *answer = NULL;
        int r;

        r = etcd_post(e, "/v3/kv/range", body, key, &answer, ret_error);
        if (r < 0)
                return r;
        r = etcd_kvs_from_json(answer, ret);
        json_decref(answer);
        if (r < 0)
                return error_set(ret_error, r, "etcd %s/v3/kv/range key %s: malformed answer",
                                 etcd_endpoint(e), key);
        return 0;
}

int etcd_range(struct etcd *e, const char *key, const char *range_end, int64_t revision,
               int64_t limit, struct etcd_kvs *ret, char **ret_error)
{
        return etcd_range_post(e, range_body(key, range_end, revision, limit, false), key, ret,
                               ret_error);
}

int etcd_range_edge(struct etcd *e, const char *key, const char *range_end, int64_t revision,
                    bool last, struct etcd_kvs *ret, char **ret_error)
{
        json_t *body = range_body(key, range_end, revision, 1, false);

        if (body && (json_object_set_new(body, "sort_order",
                                         json_string(last ? "DESCEND" : "ASCEND")) < 0 ||
                     json_object_set_new(body, "sort_target", json_string("KEY")) < 0)) {
                json_decref(body);
                body = NULL;
        }
        return etcd_range_post(e, body, key, ret, ret_error);
}

int etcd_count(struct etcd *e, const char *key, const char *range_end, int64_t *ret_revision,
               int64_t *ret_count, char **ret_error)
{
        json_t *answer = NULL;
        int r;

        r = etcd_post(e, "/v3/kv/range", range_body(key, range_end, 0, 0, true), key, &answer,
                      ret_error);
        if (r < 0)
                return r;
        if (ret_revision)
                *ret_revision = json_int64(json_object_get(answer, "header"), "revision");
        if (ret_count)
                *ret_count = json_int64(answer, "count");
        json_decref(answer);
        return 0;
}

int etcd_txn_init(struct etcd_txn *t)
{
        *t = (struct etcd_txn){
            .compare = json_array(),
            .success = json_array(),
            .failure = json_array(),
        };
        if (!t->compare || !t->success || !t->failure) {
                etcd_txn_done(t);
                return -ENOMEM;
        }
        return 0;
}

void etcd_txn_done(struct etcd_txn *t)
{
        free(t->key0);
        json_decref(t->compare);
        json_decref(t->success);
        json_decref(t->failure);
        *t = (struct etcd_txn){0};
}

int etcd_txn_compare(struct etcd_txn *t, const char *key, enum etcd_target target,
                     enum etcd_cmp cmp, int64_t n)
{
        static const char *const targets[] = {"VERSION", "CREATE", "MOD", "VALUE", "LEASE"};
        static const char *const fields[] = {"version", "create_revision", "mod_revision",
                                             "value", "lease"};
        static const char *const cmps[] = {"EQUAL", "GREATER", "LESS", "NOT_EQUAL"};
        json_t *c;

        if (target == ETCD_VALUE || (unsigned)target >= ELEMENTSOF(targets) ||
            (unsigned)cmp >= ELEMENTSOF(cmps))
                return -EINVAL;
        c = json_pack("{s:o, s:s, s:s, s:I}", "key", json_key(key), "target", targets[target],
                      "result", cmps[cmp], fields[target], (json_int_t)n);
        if (!c || json_array_append_new(t->compare, c) < 0)
                return -ENOMEM;
        t->n_bytes += strlen(key) * 4 / 3 + 80;
        if (!t->key0 && !(t->key0 = strdup(key)))
                return -ENOMEM;
        return 0;
}

static int txn_add(struct etcd_txn *t, json_t *ops, const char *name, json_t *req,
                   const char *key, size_t bytes)
{
        json_t *op = req ? json_pack("{s:o}", name, req) : NULL;

        if (!op || json_array_append_new(ops, op) < 0)
                return -ENOMEM;
        t->n_bytes += bytes;
        if (!t->key0 && !(t->key0 = strdup(key)))
                return -ENOMEM;
        return 0;
}

int etcd_txn_put(struct etcd_txn *t, const char *key, const void *value, size_t size,
                 int64_t lease)
{
        _cleanup_free_ char *v = etcd_base64(value, size);
        json_t *req;

        if (!v)
                return -ENOMEM;
        req = json_pack("{s:o, s:s}", "key", json_key(key), "value", v);
        if (req && lease != 0 && json_object_set_new(req, "lease", json_integer(lease)) < 0) {
                json_decref(req);
                return -ENOMEM;
        }
        t->n_ops++;
        return txn_add(t, t->success, "request_put", req, key,
                       strlen(v) + strlen(key) * 4 / 3 + 64);
}

int etcd_txn_delete(struct etcd_txn *t, const char *key, const char *range_end)
{
        json_t *req = json_pack("{s:o}", "key", json_key(key));

        if (req && range_end && json_object_set_new(req, "range_end", json_key(range_end)) < 0) {
                json_decref(req);
                return -ENOMEM;
        }
        t->n_ops++;
        return txn_add(t, t->success, "request_delete_range", req, key, strlen(key) * 3 + 64);
}

int etcd_txn_on_failure_get(struct etcd_txn *t, const char *key)
{
        return txn_add(t, t->failure, "request_range", range_body(key, NULL, 0, 0, false), key,
                       strlen(key) * 4 / 3 + 64);
}

json_t *etcd_txn_body(const struct etcd_txn *t)
{
        return json_pack("{s:O, s:O, s:O}", "compare", t->compare, "success", t->success,
                         "failure", t->failure);
}

void etcd_txn_result_done(struct etcd_txn_result *r)
{
        if (!r)
                return;
        etcd_kvs_done(&r->failure);
        *r = (struct etcd_txn_result){0};
}

int etcd_txn_result_from_json(const json_t *j, struct etcd_txn_result *ret)
{
        struct etcd_txn_result out = {0};
        const json_t *resp;
        size_t i;

        if (!json_is_object(j))
                return -EBADMSG;
        out.succeeded = json_is_true(json_object_get(j, "succeeded"));
        out.revision = json_int64(json_object_get(j, "header"), "revision");
        if (!out.succeeded)
                json_array_foreach (json_object_get(j, "responses"), i, resp) {
                        const json_t *range = json_object_get(resp, "response_range");
                        if (range) {
                                int r = etcd_kvs_from_json(range, &out.failure);
                                if (r < 0)
                                        return r;
                                break;
                        }
                }
        *ret = out;
        return 0;
}

int etcd_txn_commit(struct etcd *e, const struct etcd_txn *t, struct etcd_txn_result *ret,
                    char **ret_error)
{
        json_t *answer = NULL;
        int r;

        r = etcd_post(e, "/v3/kv/txn", etcd_txn_body(t), t->key0, &answer, ret_error);
        if (r < 0)
                return r;
        r = etcd_txn_result_from_json(answer, ret);
        json_decref(answer);
        if (r < 0)
                return error_set(ret_error, r, "etcd %s/v3/kv/txn: malformed answer",
                                 etcd_endpoint(e));
        return 0;
}

int etcd_delete(struct etcd *e, const char *key, const char *range_end, int64_t *ret_deleted,
                char **ret_error)
{
        json_t *body = json_pack("{s:o}", "key", json_key(key)), *answer = NULL;
        int r;

        if (body && range_end && json_object_set_new(body, "range_end", json_key(range_end)) < 0) {
                json_decref(body);
                body = NULL;
        }
        r = etcd_post(e, "/v3/kv/deleterange", body, key, &answer, ret_error);
        if (r < 0)
                return r;
        if (ret_deleted)
                *ret_deleted = json_int64(answer, "deleted");
        json_decref(answer);
        return 0;
}

int etcd_set_tls(struct etcd *e, const struct tls_files *tls, char **ret_error)
{
        if (!tls || !tls->cert)
                return 0;
        for (size_t i = 0; i < e->n_endpoints; i++)
                if (strncmp(e->endpoints[i], "https://", 8) != 0)
                        return error_set(ret_error, -EINVAL,
                                         "etcd endpoint %s: not https://, but --etcd-cert is set "
                                         "(the state would go to etcd in clear)",
                                         e->endpoints[i]);
        /* curl copies the strings; its default checks then apply: the CA signed etcd's
         * certificate, which names the endpoint's host or IP. */
        curl_easy_setopt(e->easy, CURLOPT_CAINFO, tls->ca);
        curl_easy_setopt(e->easy, CURLOPT_SSLCERT, tls->cert);
        curl_easy_setopt(e->easy, CURLOPT_SSLKEY, tls->key);
        return 0;
}

int etcd_compact(struct etcd *e, int64_t revision, char **ret_error)
{
        json_t *answer = NULL;
        int r;

        r = etcd_post(e, "/v3/kv/compaction", json_pack("{s:I}", "revision", (json_int_t)revision),
                      NULL, &answer, ret_error);
        json_decref(answer);
        return r;
}

json_t *etcd_lease_grant_body(int64_t ttl_s)
{
        return json_pack("{s:I, s:I}", "TTL", (json_int_t)ttl_s, "ID", (json_int_t)0);
}

json_t *etcd_lease_id_body(int64_t id)
{
        return json_pack("{s:I}", "ID", (json_int_t)id);
}

int etcd_lease_grant_from_json(const json_t *j, int64_t *ret_id, int64_t *ret_ttl_s)
{
        int64_t id = json_int64(j, "ID"), ttl = json_int64(j, "TTL");

        if (id == 0 || ttl <= 0)
                return -EBADMSG;
        *ret_id = id;
        *ret_ttl_s = ttl;
        return 0;
}

int etcd_lease_keepalive_from_json(const json_t *j, int64_t *ret_ttl_s)
{
        /* The gateway streams keepalive answers: {"result": {...}} */
        const json_t *res = json_object_get(j, "result");
        int64_t ttl;

        /* The gateway reports a failure inside the stream as {"error": {...}}: that says
         * nothing about the lease, so it must not read as "the lease expired". */
        if (!res && json_object_get(j, "error"))
                return -EIO;
        if (!res)
                res = j;
        if (!json_is_object(res))
                return -EBADMSG;
        /* etcd answers a lease it does not know with TTL 0 (left out) */
        ttl = json_int64(res, "TTL");
        if (ttl <= 0)
                return -ENOENT;
        *ret_ttl_s = ttl;
        return 0;
}

int etcd_lease_grant(struct etcd *e, int64_t ttl_s, int64_t *ret_id, int64_t *ret_ttl_s,
                     char **ret_error)
{
        json_t *answer = NULL;
        int r;

        r = etcd_post(e, "/v3/lease/grant", etcd_lease_grant_body(ttl_s), NULL, &answer,
                      ret_error);
        if (r < 0)
                return r;
        r = etcd_lease_grant_from_json(answer, ret_id, ret_ttl_s);
        if (r < 0) {
                const char *why = json_string_value(json_object_get(answer, "error"));
                r = error_set(ret_error, r, "etcd %s/v3/lease/grant: no lease granted%s%s",
                              etcd_endpoint(e), why ? ": " : "", why ? why : "");
        }
        json_decref(answer);
        return r;
}

int etcd_lease_keepalive(struct etcd *e, int64_t id, int64_t *ret_ttl_s, char **ret_error)
{
        json_t *answer = NULL;
        int r;

        r = etcd_post(e, "/v3/lease/keepalive", etcd_lease_id_body(id), NULL, &answer, ret_error);
        if (r < 0)
                return r;
        r = etcd_lease_keepalive_from_json(answer, ret_ttl_s);
        json_decref(answer);
        if (r < 0)
                return error_set(ret_error, r,
                                 "etcd %s/v3/lease/keepalive: lease %" PRIx64 " %s",
                                 etcd_endpoint(e), (uint64_t)id,
                                 r == -ENOENT ? "has expired or was revoked" :
                                 r == -EIO ? "the gateway answered an error" : "malformed answer");
        return 0;
}

int etcd_lease_revoke(struct etcd *e, int64_t id, char **ret_error)
{
        json_t *answer = NULL;
        int r;

        r = etcd_post(e, "/v3/lease/revoke", etcd_lease_id_body(id), NULL, &answer, ret_error);
        json_decref(answer);
        return r;
}

json_t *etcd_watch_body(const char *key, const char *range_end, int64_t start_revision)
{
        json_t *req = range_body(key, range_end, 0, 0, false);

        if (req && start_revision > 0 &&
            json_object_set_new(req, "start_revision", json_integer(start_revision)) < 0) {
                json_decref(req);
                req = NULL;
        }
        return req ? json_pack("{s:o}", "create_request", req) : NULL;
}

/* One asynchronous call, moving to the next endpoint on a transport failure or a 503. */
struct etcd_async {
        struct etcd *e;
        http_client *client;
        char *path;
        json_t *body;
        unsigned timeout_ms;
        size_t tried; /* endpoints tried so far */
        size_t idx;   /* the one in flight */
        etcd_done_fn done;
        void *userdata;
};

static void etcd_async_free(struct etcd_async *a)
{
        free(a->path);
        json_decref(a->body);
        free(a);
}

static int etcd_async_send(struct etcd_async *a);

static void etcd_async_done(const struct http_client_result *res, void *userdata)
{
        struct etcd_async *a = userdata;
        const char *ep = a->e->endpoints[a->idx];
        _cleanup_free_ char *err = NULL;
        json_t *answer = NULL;
        int r;

        if (res->error < 0)
                r = error_set(&err, res->error, "etcd %s%s: %s", ep, a->path,
                              strempty(res->error_message));
        else
                r = etcd_answer(ep, a->path, NULL, res->status, res->body, res->body_size,
                                &answer, &err);
        if (r < 0 && res->error != -ECANCELED && etcd_retry_next(r) &&
            a->tried < a->e->n_endpoints) {
                a->idx = (a->idx + 1) % a->e->n_endpoints;
                if (etcd_async_send(a) >= 0)
                        return;
        }
        if (r >= 0)
                a->e->current = a->idx;
        a->done(r, answer, err, a->userdata);
        json_decref(answer);
        etcd_async_free(a);
}

static int etcd_async_send(struct etcd_async *a)
{
        _cleanup_free_ char *url = NULL;

        if (asprintf(&url, "%s%s", a->e->endpoints[a->idx], a->path) < 0)
                return -ENOMEM;
        a->tried++;
        return http_client_request(a->client, "POST", url, a->body, NULL,
                                   a->timeout_ms ? a->timeout_ms : a->e->timeout_ms,
                                   etcd_async_done, a);
}

int etcd_call_async(struct etcd *e, http_client *c, const char *path, const json_t *body,
                    unsigned timeout_ms, etcd_done_fn done, void *userdata)
{
        struct etcd_async *a = calloc(1, sizeof(*a));
        int r;

        if (!a)
                return -ENOMEM;
        *a = (struct etcd_async){
            .e = e,
            .client = c,
            .path = strdup(path),
            .body = json_deep_copy(body),
            .timeout_ms = timeout_ms,
            .idx = e->current,
            .done = done,
            .userdata = userdata,
        };
        if (!a->path || !a->body) {
                etcd_async_free(a);
                return -ENOMEM;
        }
        r = etcd_async_send(a);
        if (r < 0)
                etcd_async_free(a);
        return r;
}

/* ---- watches ---- */

#define ETCD_STREAM_MAX (4u * 1024u * 1024u)

void etcd_stream_done(struct etcd_stream *s)
{
        free(s->buf);
        *s = (struct etcd_stream){0};
}

int etcd_stream_feed(struct etcd_stream *s, const char *data, size_t n, etcd_stream_fn fn,
                     void *userdata)
{
        size_t at = 0;
        char *nb;
        int r = 0;

        if (s->n + n > ETCD_STREAM_MAX)
                return -EFBIG;
        nb = realloc(s->buf, s->n + n + 1);
        if (!nb)
                return -ENOMEM;
        s->buf = nb;
        memcpy(s->buf + s->n, data, n);
        s->n += n;
        while (r >= 0) {
                json_error_t err;
                json_t *j;

                while (at < s->n && strchr(" \t\r\n", s->buf[at]))
                        at++;
                if (at == s->n)
                        break;
                if (s->buf[at] != '{') {
                        r = -EBADMSG;
                        break;
                }
                /* One object, whatever follows it (the next one, or a part of it). */
                j = json_loadb(s->buf + at, s->n - at, JSON_DISABLE_EOF_CHECK, &err);
                if (!j) {
                        /* Cut short by the end of what came so far (in a string, a "true",
                         * a UTF-8 sequence): wait for the rest. etcd ends each object with a
                         * newline, so one that has come and still does not parse is broken. */
                        if (json_error_code(&err) == json_error_premature_end_of_input ||
                            !memchr(s->buf + at, '\n', s->n - at))
                                break;
                        r = -EBADMSG;
                        break;
                }
                at += (size_t)err.position;
                r = fn(j, userdata);
                json_decref(j);
        }
        memmove(s->buf, s->buf + at, s->n - at);
        s->n -= at;
        return r;
}

void etcd_watch_response_done(struct etcd_watch_response *r)
{
        for (size_t i = 0; r && i < r->n_events; i++)
                etcd_kv_done(&r->events[i].kv);
        if (r) {
                free(r->events);
                *r = (struct etcd_watch_response){0};
        }
}

int etcd_watch_response_from_json(const json_t *j, struct etcd_watch_response *ret,
                                  const char **ret_error)
{
        const json_t *res = json_object_get(j, "result"), *ev;
        const json_t *events = json_object_get(res, "events");
        struct etcd_watch_response out = {0};
        size_t i;

        if (!res) {
                const json_t *e = json_object_get(j, "error");
                const char *msg = json_string_value(json_object_get(e, "message"));

                if (!e)
                        return -EBADMSG;
                if (ret_error)
                        *ret_error = msg ? msg : json_string_value(e);
                return -EIO;
        }
        if (!json_is_object(res))
                return -EBADMSG;
        out.revision = json_int64(json_object_get(res, "header"), "revision");
        out.created = json_is_true(json_object_get(res, "created"));
        out.canceled = json_is_true(json_object_get(res, "canceled"));
        out.compact_revision = json_int64(res, "compact_revision");
        out.cancel_reason = json_string_value(json_object_get(res, "cancel_reason"));
        if (json_array_size(events) > 0 &&
            !(out.events = calloc(json_array_size(events), sizeof(*out.events))))
                return -ENOMEM;
        json_array_foreach (events, i, ev) {
                const char *type = json_string_value(json_object_get(ev, "type"));
                struct etcd_watch_event *we = &out.events[out.n_events];
                int r = etcd_kv_from_json(json_object_get(ev, "kv"), &we->kv);

                if (r < 0) {
                        etcd_watch_response_done(&out);
                        return r;
                }
                /* etcd leaves the zero value (PUT) out */
                we->deleted = type && streq(type, "DELETE");
                out.n_events++;
        }
        *ret = out;
        return 0;
}

struct etcd_watch {
        struct etcd *e;
        http_client *client;
        json_t *body;
        unsigned connect_timeout_ms;
        size_t tried, idx;
        http_call *call;
        struct etcd_stream stream;
        bool opened;      /* something came: no other endpoint is tried after that */
        bool in_response; /* inside on_response: a cancel frees the watch on return */
        bool cancelled;
        char *error; /* why the reader ended the stream */
        etcd_watch_fn on_response;
        etcd_watch_end_fn on_end;
        void *userdata;
};

static void etcd_watch_free(struct etcd_watch *w)
{
        json_decref(w->body);
        etcd_stream_done(&w->stream);
        free(w->error);
        free(w);
}

static int etcd_watch_object(const json_t *j, void *userdata)
{
        struct etcd_watch *w = userdata;

        w->opened = true;
        w->e->current = w->idx;
        w->in_response = true;
        w->on_response(j, w->userdata);
        w->in_response = false;
        return w->cancelled ? -ECANCELED : 0;
}

static int etcd_watch_data(const char *data, size_t n, void *userdata)
{
        struct etcd_watch *w = userdata;
        int r = etcd_stream_feed(&w->stream, data, n, etcd_watch_object, w);

        if (w->cancelled) {
                /* etcd_watch_cancel() from on_response: the call ends without a callback
                 * (the client defers that to this write's return). */
                http_client_cancel(w->client, w->call);
                etcd_watch_free(w);
                return -ECANCELED;
        }
        if (r < 0 && !w->error &&
            asprintf(&w->error, "etcd %s/v3/watch: %s", w->e->endpoints[w->idx],
                     r == -EBADMSG ? "the stream is not etcd's JSON objects"
                                   : r == -EFBIG ? "an object larger than 4 MiB in the stream"
                                                 : strerror(-r)) < 0)
                w->error = NULL;
        return r;
}

static int etcd_watch_send(struct etcd_watch *w);

static void etcd_watch_done(const struct http_client_result *res, void *userdata)
{
        struct etcd_watch *w = userdata;
        const char *ep = w->e->endpoints[w->idx];
        _cleanup_free_ char *err = NULL;
        json_t *answer = NULL;
        int r;

        if (res->error < 0) {
                r = res->error;
                if (w->error)
                        err = TAKE_PTR(w->error);
                else
                        error_set(&err, r, "etcd %s/v3/watch: %s", ep,
                                  strempty(res->error_message));
        } else if (res->status != 200) {
                r = etcd_answer(ep, "/v3/watch", NULL, res->status, res->body, res->body_size,
                                &answer, &err);
                json_decref(answer);
                if (r >= 0) /* a 200 is the only answer that opens a stream */
                        r = -EBADMSG;
        } else
                r = error_set(&err, 0, "etcd %s/v3/watch: the stream ended", ep);
        if (r < 0 && !w->opened && res->error != -ECANCELED && etcd_retry_next(r) &&
            w->tried < w->e->n_endpoints) {
                w->idx = (w->idx + 1) % w->e->n_endpoints;
                if (etcd_watch_send(w) >= 0)
                        return;
        }
        w->on_end(r, err, w->userdata);
        etcd_watch_free(w);
}

static int etcd_watch_send(struct etcd_watch *w)
{
        /* grpc-gateway passes Grpc-Metadata-* as gRPC metadata: etcd's "require leader". */
        static const char *const headers[] = {"Grpc-Metadata-hasleader: true", NULL};
        _cleanup_free_ char *url = NULL;

        if (asprintf(&url, "%s/v3/watch", w->e->endpoints[w->idx]) < 0)
                return -ENOMEM;
        w->tried++;
        etcd_stream_done(&w->stream);
        return http_client_stream(w->client, "POST", url, w->body, headers,
                                  w->connect_timeout_ms ? w->connect_timeout_ms
                                                        : w->e->timeout_ms,
                                  etcd_watch_data, etcd_watch_done, w, &w->call);
}

int etcd_watch_async(struct etcd *e, http_client *c, const json_t *body,
                     unsigned connect_timeout_ms, etcd_watch_fn on_response,
                     etcd_watch_end_fn on_end, void *userdata, struct etcd_watch **ret)
{
        struct etcd_watch *w = calloc(1, sizeof(*w));
        int r;

        if (!w)
                return -ENOMEM;
        *w = (struct etcd_watch){
            .e = e,
            .client = c,
            .body = json_deep_copy(body),
            .connect_timeout_ms = connect_timeout_ms,
            .idx = e->current,
            .on_response = on_response,
            .on_end = on_end,
            .userdata = userdata,
        };
        if (!w->body) {
                etcd_watch_free(w);
                return -ENOMEM;
        }
        r = etcd_watch_send(w);
        if (r < 0) {
                etcd_watch_free(w);
                return r;
        }
        *ret = w;
        return 0;
}

void etcd_watch_cancel(struct etcd_watch *w)
{
        if (!w || w->cancelled)
                return;
        w->cancelled = true;
        if (w->in_response)
                return; /* etcd_watch_data() frees it when on_response returns */
        http_client_cancel(w->client, w->call);
        etcd_watch_free(w);
}
