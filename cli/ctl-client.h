/* SPDX-License-Identifier: Apache-2.0 */
/* siloctl's blocking HTTP client: one request to a master or agent, JSON in and out, with the token. */
#pragma once

#include <jansson.h>

struct ctl_client {
        char *base_url;   /* "http://127.0.0.1:5050" */
        char *token;      /* may be NULL (then only /health works) */
        long timeout_s;
};

/* Perform METHOD base_url+path with an optional JSON body. On a transport failure returns -errno
 * and a message naming the URL in *ret_error. Otherwise returns 0 with the HTTP status in
 * *ret_status and the parsed body in *ret_body (NULL when the body is not JSON; then
 * *ret_text holds it if ret_text is non-NULL). */
int ctl_request(const struct ctl_client *c, const char *method, const char *path,
                const json_t *body, long *ret_status, json_t **ret_body, char **ret_text,
                char **ret_error);

/* Read the cluster token: the given file, else $SILO_TOKEN_FILE, else the daemon's default
 * state directory (/var/lib/silo/{master,agent}/token) when readable. Returns 0, or -ENOENT
 * when none was found (not an error for /health), or -errno naming the file in *ret_error. */
int ctl_token_load(const char *token_file, bool agent, char **ret_token, char **ret_error);
