/* SPDX-License-Identifier: Apache-2.0 */
/* Serves the web dashboard's embedded files (master/www/) at / and /ui/. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "master/dashboard.h"

/* Nothing the page loads comes from elsewhere, and it talks only to this master: a policy that
 * says so keeps an injected script from running or from sending the token anywhere. */
#define DASHBOARD_CSP                                                                             \
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "        \
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static const struct dashboard_asset *dashboard_asset_find(const char *name)
{
        for (size_t i = 0; i < dashboard_n_assets; i++)
                if (streq(dashboard_assets[i].name, name))
                        return &dashboard_assets[i];
        return NULL;
}

static int dashboard_send(http_response *resp, const struct dashboard_asset *a)
{
        char *copy = malloc(a->size + 1);
        int r;

        if (!copy)
                return -ENOMEM;
        memcpy(copy, a->data, a->size);
        copy[a->size] = '\0';
        r = http_response_text(resp, 200, a->content_type, copy);
        if (r < 0)
                return r;
        /* Assets are named by their hash, so a cached copy is never stale; the page names the
         * assets of the binary that serves it, so it must be asked for again every time. */
        r = http_response_header(resp, "Cache-Control",
                                 a->immutable ? "public, max-age=31536000, immutable" : "no-cache");
        if (r >= 0)
                r = http_response_header(resp, "X-Content-Type-Options", "nosniff");
        if (r >= 0)
                r = http_response_header(resp, "Content-Security-Policy", DASHBOARD_CSP);
        if (r >= 0)
                r = http_response_header(resp, "Referrer-Policy", "no-referrer");
        return r;
}

int dashboard_index(http_request *req, http_response *resp, void *userdata)
{
        const struct dashboard_asset *a = dashboard_asset_find("index.html");

        (void)req;
        (void)userdata;
        assert(a); /* embed.py always emits it */
        return dashboard_send(resp, a);
}

int dashboard_asset_get(http_request *req, http_response *resp, void *userdata)
{
        const char *name = req->captures[0];
        const struct dashboard_asset *a = dashboard_asset_find(name);

        (void)userdata;
        /* index.html only at /: one URL per document. */
        if (!a || !a->immutable)
                return http_response_error(resp, 404, "not_found",
                                           "/ui/%s: no such dashboard file (this master serves "
                                           "the files of its own build; reload /)",
                                           name);
        return dashboard_send(resp, a);
}
