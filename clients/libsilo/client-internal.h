/* SPDX-License-Identifier: Apache-2.0 */
/* libsilo's inside: the client object and the one transfer function every call goes through. */
#pragma once

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "silo/client.h"

/* Only these symbols leave libsilo.so (with the version script, clients/libsilo/libsilo.sym). */
#define _public_ __attribute__((visibility("default")))

#define CLIENT_DEFAULT_TIMEOUT_MS 30000u
#define CLIENT_DEFAULT_REDIRECTS 5u
/* A master that accepts no connection within this is tried no longer: the next one is. */
#define CLIENT_CONNECT_TIMEOUT_MS 5000u
/* No answer of the API is larger (the task list of 10000 ended tasks is a few MiB). */
#define CLIENT_MAX_BODY (32u * 1024u * 1024u)

struct silo_client {
        char **urls; /* base URLs without a trailing '/' */
        size_t n_urls;
        size_t current; /* the one that answered last */
        char *leader;   /* where the last redirect pointed (its base), asked first */
        char *token;    /* NULL: none */
        unsigned timeout_ms, max_redirects;
        CURL *easy; /* reused by the plain requests, for keep-alive */
        char *tls_ca, *tls_cert, *tls_key; /* silo_client_set_tls(): mutual TLS */
        char *tls_crl;                     /* crl.pem beside tls_ca (it may not exist yet) */
};

/* One transfer's shape; client_transfer() fills the out fields. */
struct client_xfer {
        const char *method;
        const char *body;    /* JSON text, or NULL */
        unsigned timeout_ms; /* total; 0 with stream */
        bool stream;         /* a long-lived answer: no total timeout, a stall limit instead */
        /* For a 2xx answer, each piece of the body goes to this (NULL: into buf); returning
         * anything but its size stops the transfer (a consumer that is done). */
        size_t (*sink)(char *data, size_t size, size_t n, void *userdata);
        void *sink_data;
        /* Called once the headers of a 2xx answer arrived; non-zero stops the transfer. */
        int (*on_headers)(void *userdata);
        /* Set by client_transfer: a whole URL may be an agent, a path goes to the masters. */
        bool whole_url;

        /* out */
        long status;
        char *buf; /* the body (error bodies always), NUL-terminated */
        size_t buf_size, buf_cap;
        bool too_large;
        bool stopped; /* the sink or on_headers stopped it */
        char *url;    /* the URL that answered */
};

void client_xfer_done(struct client_xfer *x);

/* Send x to `target` (a path: the masters, with failover; a whole URL: there alone) on `easy`,
 * following redirects. 0 when an answer arrived (any status, see x->status) or the sink
 * stopped it, else a transport -errno with *ret_error. */
int client_transfer(silo_client *c, CURL *easy, const char *target, struct client_xfer *x, char **ret_error);

/* -errno for a non-2xx status, with the server's error.message (or "METHOD URL: HTTP N") in
 * *ret_error. */
int client_status_error(long status, const char *method, const char *url, const char *body, char **ret_error);

/* Append n bytes to a growing buffer (ARRAY_GROW) and keep a NUL after them. 0 or -ENOMEM. */
int client_buf_append(char **buf, size_t *len, size_t *cap, const char *data, size_t n);

/* `id` escaped for a URL path (a task name may hold anything); NULL on ENOMEM. */
char *client_path_escape(const char *id);
