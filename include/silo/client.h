/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libsilo: the C client of a Silo master (pkg-config: libsilo). Submit, get, list and kill tasks,
 * list agents, follow the master's event stream, wait for a task's state, and make any other
 * call of the HTTP API (docs/PROTOCOL.md) with the cluster token.
 *
 * Conventions, as in the rest of Silo:
 *  - A function that can fail returns 0 (or a documented value >= 0) on success and -errno on
 *    failure. When it takes `char **ret_error` (which may be NULL) it then also sets
 *    *ret_error to a malloc'ed message for a person, which the caller frees: the master's own
 *    `error.message` when the master answered with one (`resources.cpus: 9000 is out of range
 *    0.01..4096`), else what failed and where (`connecting to http://10.0.0.1:5050: Connection
 *    refused`). Out-parameters (`ret_*`) are written only on success, except *ret_error.
 *  - HTTP statuses become: 400 and 422 -EINVAL, 401 -EACCES (the token was refused), 403
 *    -EPERM, 404 -ENOENT, 405 -EOPNOTSUPP, 409 -EEXIST (e.g. killing a task that has ended),
 *    410 -ESTALE (an event index older than the master keeps), 413 -EFBIG, 429 and 503
 *    -EAGAIN, other 5xx -EIO, anything else -EPROTO. Transport failures keep the system's
 *    errno (-ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH, -ECONNRESET, ...).
 *  - JSON values are jansson's (json_t); returned ones are new references the caller
 *    json_decref()s; ones passed in are borrowed.
 *
 * Threads: a silo_client is not locked; use one from one thread at a time (one per thread is
 * fine). The library's only global state is libcurl's: silo_client_new() runs
 * curl_global_init() once (pthread_once). libcurl's global init is thread-safe only when
 * curl_version_info() reports CURL_VERSION_THREADSAFE (7.84 and later, as in Debian 12); with an
 * older libcurl, create the first client before starting threads, or call curl_global_init()
 * yourself first. The library never prints, never installs signal handlers (libcurl runs with
 * CURLOPT_NOSIGNAL) and never exits.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct silo_client silo_client;

struct silo_client_options {
        /* The cluster token itself; wins over token_file. */
        const char *token;
        /* A file holding it (surrounding whitespace ignored), which must exist. With neither:
         * $SILO_TOKEN_FILE when set, else /var/lib/silo/master/token when it exists (a client on
         * the master's machine), else requests go without a token (only /health answers). */
        const char *token_file;
        /* With token and token_file NULL: send no token, rather than look for one. */
        bool no_default_token;
        /* Each request's deadline, connection included; 0: 30000 ms. */
        unsigned timeout_ms;
        /* How many 307/308 redirects (to the leading master) one request follows; 0: 5. */
        unsigned max_redirects;
};

/*
 * A client of the masters in `urls`: one base URL or a comma-separated list of them
 * ("http://m1:5050,http://m2:5050"; "m1:5050" means http://m1:5050). Requests go to the master
 * that answered last (the first one at the start); when a master cannot be reached (nothing was
 * sent: connection refused, no route, name unknown, connect timeout) the next one is tried, each
 * once per request. A 307 or 308 answer is followed, method, body and token kept, up to
 * max_redirects times, and its target is asked first from then on, but only when the target's
 * scheme, host and port are those of one of the masters in `urls` and it is not a step down from
 * https to http: any other redirect fails the request with -EPERM naming the target, and nothing
 * (the token included) is sent there. opts may be NULL. Nothing is sent here. -EINVAL for an
 * empty list or a URL that is not http(s); the token's errors (-ENOENT, -EACCES, -EINVAL for a
 * malformed token) name the file.
 */
int silo_client_new(const char *urls, const struct silo_client_options *opts, silo_client **ret_client,
                    char **ret_error);
/* The same with the URLs as an array. */
int silo_client_new_urls(const char *const *urls, size_t n_urls, const struct silo_client_options *opts,
                         silo_client **ret_client, char **ret_error);
/* Accepts NULL; returns NULL. */
silo_client *silo_client_free(silo_client *c);

/* Mutual TLS (since libsilo 0.1.1, symbol version LIBSILO_0.1): every later request goes over
 * HTTPS, presenting the client certificate `cert` with its key `key` (PEM, from `siloctl tls
 * cert`), and accepts only a server whose certificate the CA in `ca` signed, which names the
 * URL's host or IP, is not revoked by crl.pem in the CA's directory (once there is one), and is
 * a master's (O=silo:master; a whole agent URL: a master's or an agent's): any other is refused
 * (-EPERM) before the request is sent, naming what was expected and what was presented. The
 * masters' http:// URLs become https:// ones (a TLS cluster speaks HTTPS only). Each file must be readable: -EINVAL or -errno naming the missing or unreadable one.
 * With a certificate the token is not needed (the servers take the certificate instead). */
int silo_client_set_tls(silo_client *c, const char *ca, const char *cert, const char *key,
                        char **ret_error);

/* The base URL requests go to first now (the last master that answered). */
const char *silo_client_master_url(const silo_client *c);

/* ---- tasks and agents ---- */

/* Submit a task spec (docs/TASK-SPEC.md): 0 with the master's task object ({"id": ..., "state":
 * "PENDING", ...}) in *ret_task (may be NULL). A spec the master refuses: -EINVAL with its
 * message (`resources: unknown key 'cpu'`). */
int silo_client_task_submit(silo_client *c, const json_t *spec, json_t **ret_task, char **ret_error);
/* The same from JSON text; text that does not parse is -EINVAL with the line and column. */
int silo_client_task_submit_text(silo_client *c, const char *spec, json_t **ret_task, char **ret_error);
/* One task by its full id: its object, with "state", "agent_id", "exit_code", "reason", "spec",
 * ... -ENOENT when there is none. */
int silo_client_task_get(silo_client *c, const char *id, json_t **ret_task, char **ret_error);
/* The task list, {"tasks": [...], "event_index": N}; state (may be NULL) keeps the tasks in
 * that state ("RUNNING"); an unknown state is -EINVAL. */
int silo_client_task_list(silo_client *c, const char *state, json_t **ret_list, char **ret_error);
/* Ask for a task to be killed: a pending one ends at once (KILLED), a placed one once its agent
 * has stopped it. *ret_task (may be NULL) is the task as the kill left it. -EEXIST when the task
 * has already ended. */
int silo_client_task_kill(silo_client *c, const char *id, json_t **ret_task, char **ret_error);
/* The agents, {"agents": [...]}, each with "id", "hostname", "address", "state", resources. */
int silo_client_agent_list(silo_client *c, json_t **ret_list, char **ret_error);

/*
 * Wait until task `id` is in `state` ("RUNNING"; NULL: any terminal state, FINISHED, FAILED,
 * KILLED or LOST), at most timeout_ms (0: no limit). Returns 0 with the task object in *ret_task
 * (may be NULL). Follows the event stream (no polling); against a master without one it reads
 * the task every 250 ms. -ETIMEDOUT when the time ran out (the message names the state the task
 * is in); -ECANCELED when the task ended in another state, so can never reach `state`.
 */
int silo_client_task_wait(silo_client *c, const char *id, const char *state, unsigned timeout_ms,
                          json_t **ret_task, char **ret_error);

/* ---- the event stream (GET /api/v1/events) ---- */

struct silo_client_events_filter {
        /* Stream every event with an index greater than this one (the "event_index" of a task
         * list, or the last index a consumer handled); negative: only events from now on. An
         * index older than the master keeps is -ESTALE: list the tasks again, then stream from
         * that list's event_index. */
        int64_t since;
        const char *role;  /* only the tasks of this role (NULL: all) */
        const char *task;  /* only this task (NULL: all) */
        const char *types; /* comma-separated event types ("task_state,agent_lost"; NULL: all) */
        /* When the stream breaks (the master restarted, the network failed, or the master
         * dropped this consumer as too slow), how long to keep reconnecting, to each master in
         * turn, and resume after the last index seen: 0 returns the error at once. */
        unsigned reconnect_ms;
};

/* Called with each event (a JSON object with "index", "type", "time_ms", ...; borrowed, valid
 * during the call) in index order. Return 0 to go on; any other value stops the stream and is
 * what silo_client_events() returns. Heartbeats are handled inside and never reach it. It may
 * make other calls on the same client (resubmit a task, say): the stream has its own
 * connection. */
typedef int (*silo_client_event_fn)(const json_t *event, void *userdata);

/*
 * Follow the event stream with filter `f` (NULL: everything from now on), calling `cb` for each
 * event until it returns non-zero (that value is returned) or the stream fails: -ESTALE (see
 * since), -EACCES, -ENOBUFS (the master dropped this consumer as too slow, and reconnect_ms is 0
 * or used up), -ECONNRESET (the master closed the stream), a transport errno. Blocks the calling
 * thread; a heartbeat arrives every 10 s, so a stream silent for 30 s counts as broken.
 */
int silo_client_events(silo_client *c, const struct silo_client_events_filter *f, silo_client_event_fn cb,
                       void *userdata, char **ret_error);

/* ---- any other call ---- */

struct silo_client_response {
        long status;  /* the HTTP status; 0 when no answer arrived */
        json_t *json; /* the body parsed when it is JSON, else NULL */
        char *text;   /* the body's bytes, NUL-terminated (logs and metrics are not JSON); NULL
                       * when empty */
        char *url;    /* the URL that answered, after failover and redirects */
};

/*
 * One request. target is a path of the master's API ("/api/v1/tasks?state=RUNNING"), sent to
 * the masters as above, or a whole URL ("http://node1:5051/api/v1/devices", an agent's API) sent
 * there alone; either way with the client's token, following redirects to the masters only.
 * body (may be NULL) is sent as JSON. timeout_ms 0: the client's. Returns 0 for a 2xx answer,
 * else -errno as above; *ret_response (may be NULL; clear it with silo_client_response_clear())
 * is filled whenever an answer arrived, also for an error status.
 */
int silo_client_request(silo_client *c, const char *method, const char *target, const json_t *body,
                        unsigned timeout_ms, struct silo_client_response *ret_response, char **ret_error);
/* Free what a response holds and zero it. */
void silo_client_response_clear(struct silo_client_response *r);

#ifdef __cplusplus
}
#endif
