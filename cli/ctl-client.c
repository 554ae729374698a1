/* SPDX-License-Identifier: Apache-2.0 */
/* siloctl's blocking HTTP client on libcurl's easy interface (a CLI has nothing else to do meanwhile). */
#include <curl/curl.h>
#include <stdbool.h>
#include <string.h>

#include "cli/ctl-client.h"
#include "common/fileio.h"
#include "common/macro.h"

struct buf {
        char *data;
        size_t len;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        struct buf *b = userdata;
        size_t n = size * nmemb;
        char *nd = realloc(b->data, b->len + n + 1);

        if (!nd)
                return 0;
        memcpy(nd + b->len, ptr, n);
        b->data = nd;
        b->len += n;
        b->data[b->len] = 0;
        return n;
}

int ctl_request(const struct ctl_client *c, const char *method, const char *path,
                const json_t *body, long *ret_status, json_t **ret_body, char **ret_text,
                char **ret_error)
{
        _cleanup_free_ char *url = NULL, *auth = NULL, *payload = NULL;
        struct buf b = {};
        struct curl_slist *hdrs = NULL;
        CURL *h;
        CURLcode cr;
        long status = 0;
        int r = 0;

        if (asprintf(&url, "%s%s", c->base_url, path) < 0)
                return -ENOMEM;
        h = curl_easy_init();
        if (!h)
                return -ENOMEM;

        hdrs = curl_slist_append(hdrs, "Accept: application/json");
        if (c->token) {
                if (asprintf(&auth, "Authorization: Bearer %s", c->token) < 0) {
                        r = -ENOMEM;
                        goto out;
                }
                hdrs = curl_slist_append(hdrs, auth);
        }
        if (body) {
                payload = json_dumps(body, JSON_COMPACT);
                if (!payload) {
                        r = -ENOMEM;
                        goto out;
                }
                hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
        }
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, c->timeout_s > 0 ? c->timeout_s : 30L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");

        cr = curl_easy_perform(h);
        if (cr != CURLE_OK) {
                if (ret_error && asprintf(ret_error, "%s %s: %s", method, url,
                                          curl_easy_strerror(cr)) < 0)
                        *ret_error = NULL;
                r = cr == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -ECONNREFUSED;
                goto out;
        }
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        *ret_status = status;
        *ret_body = b.data ? json_loads(b.data, JSON_DECODE_ANY, NULL) : NULL;
        if (ret_text)
                *ret_text = TAKE_PTR(b.data);
out:
        free(b.data);
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(h);
        return r;
}

int ctl_token_load(const char *token_file, bool agent, char **ret_token, char **ret_error)
{
        const char *f = token_file ? token_file : getenv("SILO_TOKEN_FILE");
        bool explicit = f != NULL;
        _cleanup_free_ char *data = NULL;
        int r;

        if (!f)
                f = agent ? "/var/lib/silo/agent/token" : "/var/lib/silo/master/token";
        r = file_read_full(f, 4096, &data, NULL);
        if (r < 0) {
                if (!explicit && r == -ENOENT)
                        return -ENOENT;
                if (ret_error && asprintf(ret_error, "token file %s: %s", f, strerror(-r)) < 0)
                        *ret_error = NULL;
                return r;
        }
        data[strcspn(data, " \t\r\n")] = 0;
        if (!*data) {
                if (ret_error && asprintf(ret_error, "token file %s is empty", f) < 0)
                        *ret_error = NULL;
                return -EINVAL;
        }
        *ret_token = TAKE_PTR(data);
        return 0;
}
