/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's connection to silo-master: registration, heartbeats, status updates, backoff. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/master-link.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/http-client.h"
#include "common/http-json.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/protocol-json.h"

#define LINK_BACKOFF_MIN_MS 500u
#define LINK_BACKOFF_MAX_MS 10000u
#define LINK_DEFAULT_HEARTBEAT_MS 1000u
#define LINK_REQUEST_TIMEOUT_MS 5000u

enum link_state {
        LINK_UNREGISTERED,
        LINK_REGISTERING,
        LINK_REGISTERED,
};

struct master_link {
        char *url;      /* the master asked now: one of urls */
        char **urls;    /* --master, in order */
        size_t n_urls;
        size_t current; /* urls[current] == url */
        unsigned hops;  /* redirects and failovers since the last success */
        char *token;
        char *id_path;
        char *agent_id;
        struct status_queue *queue;
        struct epoch_fence *fence;
        json_t *(*registration_build)(void *userdata);
        json_t *(*heartbeat_build)(void *userdata);
        void *userdata;

        struct event_loop *loop;
        http_client *client;
        struct event_source *timer;
        bool freeing;

        enum link_state state;
        bool reregister;                /* register again once the current call is done */
        bool heartbeat_in_flight;
        char *update_in_flight;         /* the id being sent, NULL when none */
        uint64_t heartbeat_interval_ms;
        uint64_t agent_timeout_ms;      /* the master's, from the registration; 0 = unknown */
        uint64_t next_register_ms, next_heartbeat_ms, next_update_ms;
        uint64_t backoff_ms, update_backoff_ms;
        bool trouble_logged;            /* "master unreachable" said once until it recovers */
        char *last_error;
        int last_errno;                 /* what was logged: curl's text carries timings, so */
        long last_status;               /* repeats are recognised by errno and status */

        uint64_t registrations, heartbeats, updates_sent, updates_acked, updates_rejected, failures;
        uint64_t failovers; /* switches to another master */
};

/* The next delay of a doubling backoff. It stays under a third of the master's agent timeout
 * when the master told it: a master that comes back after a long outage gives its agents one
 * timeout to register again, and an agent still waiting out a 10 s backoff would be declared
 * lost with its tasks. */
static uint64_t backoff_next(const struct master_link *l, uint64_t *b)
{
        uint64_t max = LINK_BACKOFF_MAX_MS;
        uint64_t d;

        if (l->agent_timeout_ms)
                max = MAX(MIN(max, l->agent_timeout_ms / 3), (uint64_t)LINK_BACKOFF_MIN_MS);
        d = MIN(*b ? *b : LINK_BACKOFF_MIN_MS, max);
        *b = MIN(d * 2, max);
        return d;
}

/* Say it once per outage, then quietly retry; the recovery is logged by the caller. */
static void link_trouble(struct master_link *l, const char *what, const struct http_client_result *res)
{
        _cleanup_free_ char *code = NULL, *message = NULL, *text = NULL;

        l->failures++;
        if (res->error != 0) {
                if (asprintf(&text, "%s: master %s unreachable: %s", what, l->url,
                             res->error_message ? res->error_message : strerror(-res->error)) < 0)
                        text = NULL;
        } else {
                (void)http_json_error_parse(res->json, &code, &message);
                if (asprintf(&text, "%s: master %s answered HTTP %ld%s%s%s%s", what, l->url, res->status,
                             code ? " " : "", strempty(code), message ? ": " : "", strempty(message)) < 0)
                        text = NULL;
        }
        if (!l->trouble_logged || res->error != l->last_errno || res->status != l->last_status) {
                if (res->status == 401 || res->status == 403)
                        log_error("%s (is the token the master's, see --token-file, or the certificate from its CA, not expired "
                                  "and not revoked?); retrying",
                                  strempty(text));
                else
                        log_warning("%s; retrying with backoff", strempty(text));
                l->trouble_logged = true;
                l->last_errno = res->error;
                l->last_status = res->status;
        }
        free(l->last_error);
        l->last_error = TAKE_PTR(text);
}

static void link_recovered(struct master_link *l)
{
        if (l->trouble_logged)
                log_info("master %s reachable again", l->url);
        l->trouble_logged = false;
        l->last_error = (free(l->last_error), NULL);
        l->backoff_ms = 0;
        l->hops = 0;
}

static void link_use(struct master_link *l, size_t i, const char *why)
{
        log_notice("%s: now asking master %s", why, l->urls[i]);
        l->current = i;
        l->url = l->urls[i];
        l->hops++;
        l->failovers++;
}

/* Another master to ask at once: the leader a follower redirected to (307/308, only to one of
 * --master: the redirect would carry the token), or the next one after a transport failure or
 * a 503 (no leader there). Once every master was tried in a row, false: back off first. */
static bool link_failover(struct master_link *l, const char *what, const struct http_client_result *res)
{
        _cleanup_free_ char *why = NULL;
        int i;

        if (l->hops >= l->n_urls + 1) {
                l->hops = 0;
                return false;
        }
        if (res->error == 0 && (res->status == 307 || res->status == 308)) {
                i = res->location ? http_redirect_target(l->url, res->location,
                                                         (const char *const *)l->urls, l->n_urls)
                                  : -EINVAL;
                if (i < 0) {
                        log_warning("%s: master %s redirected to %s, which is not one of --master "
                                    "(or not https): not followed",
                                    what, l->url, res->location ? res->location : "(no Location)");
                        return false;
                }
                if (asprintf(&why, "%s: master %s redirected to the leader", what, l->url) < 0)
                        why = NULL;
                link_use(l, (size_t)i, strempty(why));
                return true;
        }
        if (l->n_urls < 2 || !(res->error != 0 || res->status == 503))
                return false;
        if (asprintf(&why, "%s: master %s %s", what, l->url,
                     res->error ? "unreachable" : "answered 503") < 0)
                why = NULL;
        link_use(l, (l->current + 1) % l->n_urls, strempty(why));
        return true;
}

static void link_schedule(struct master_link *l);

/* "<master>/api/v1/<what>[/<id>/<tail>]" */
static int link_url(const struct master_link *l, char **ret, const char *what, const char *id, const char *tail)
{
        if (asprintf(ret, "%s/api/v1/%s%s%s%s%s", l->url, what, id ? "/" : "", strempty(id), tail ? "/" : "",
                     strempty(tail)) < 0)
                return -ENOMEM;
        return 0;
}

/* ---- agent id ---- */

static int agent_id_load(const char *path, char **ret, char **ret_error)
{
        _cleanup_free_ char *text = NULL;
        size_t n;
        int r;

        r = file_read_full(path, 256, &text, NULL);
        if (r == -ENOENT) {
                *ret = NULL;
                return 0;
        }
        if (r < 0)
                return error_set(ret_error, r, "agent id file %s: %s", path, strerror(-r));
        n = strcspn(text, "\r\n");
        text[n] = '\0';
        if (!silo_name_is_valid(text))
                return error_set(ret_error, -EINVAL,
                                 "agent id file %s: '%s' is not a valid agent id (remove the file to "
                                 "register as a new agent)",
                                 path, text);
        *ret = TAKE_PTR(text);
        return 0;
}

static int agent_id_save(struct master_link *l, const char *id)
{
        _cleanup_free_ char *text = NULL;
        int r;

        if (asprintf(&text, "%s\n", id) < 0)
                return -ENOMEM;
        r = file_write_atomic(l->id_path, text, strlen(text), 0644);
        if (r < 0)
                return log_error_errno(r, "Failed to save the agent id in %s: %m", l->id_path);
        return 0;
}

/* ---- registration ---- */

static void on_register_done(const struct http_client_result *res, void *userdata)
{
        struct master_link *l = userdata;
        const char *id;
        json_int_t interval, timeout;

        if (res->error == -ECANCELED || l->freeing)
                return;
        l->state = LINK_UNREGISTERED;
        if (link_failover(l, "registration", res)) {
                l->next_register_ms = 0;
                goto out;
        }
        if (res->error != 0 || res->status / 100 != 2) {
                link_trouble(l, "registration", res);
                l->next_register_ms = now_mono_ms() + backoff_next(l, &l->backoff_ms);
                goto out;
        }
        id = json_string_value(json_object_get(res->json, "agent_id"));
        if (!id || !silo_name_is_valid(id)) {
                log_error("registration: master %s answered without a valid agent_id: %s", l->url, res->body);
                l->failures++;
                l->next_register_ms = now_mono_ms() + backoff_next(l, &l->backoff_ms);
                goto out;
        }
        if (!streq_ptr(id, l->agent_id)) {
                char *copy = strdup(id);

                if (!copy) {
                        l->next_register_ms = now_mono_ms() + backoff_next(l, &l->backoff_ms);
                        goto out;
                }
                if (l->agent_id)
                        log_warning("master %s gave this agent a new id %s (was %s)", l->url, id, l->agent_id);
                free(l->agent_id);
                l->agent_id = copy;
                /* Without the id on disk, a restart would register as a second agent. */
                if (agent_id_save(l, id) < 0) {
                        l->next_register_ms = now_mono_ms() + backoff_next(l, &l->backoff_ms);
                        goto out;
                }
        }
        if (l->fence) {
                _cleanup_free_ char *err = NULL;
                const char *cluster = json_string_value(json_object_get(res->json, "cluster_id"));
                json_int_t epoch = json_integer_value(json_object_get(res->json, "epoch"));
                const char *before = l->fence->cluster_id;
                bool changed = cluster && !streq_ptr(before, cluster);

                if (changed)
                        log_notice("master %s is of cluster %s (epoch %" PRId64 "); this agent was of %s: "
                                   "following the new cluster, whose epochs count afresh",
                                   l->url, cluster, (int64_t)epoch, before ? before : "none yet");
                if (epoch_fence_adopt(l->fence, cluster, epoch > 0 ? (uint64_t)epoch : 0, &err) < 0) {
                        log_error("registration with master %s: %s", l->url, strempty(err));
                        l->failures++;
                        l->next_register_ms = now_mono_ms() + backoff_next(l, &l->backoff_ms);
                        goto out;
                }
        }
        interval = json_integer_value(json_object_get(res->json, "heartbeat_interval_ms"));
        l->heartbeat_interval_ms = interval > 0 ? (uint64_t)interval : LINK_DEFAULT_HEARTBEAT_MS;
        timeout = json_integer_value(json_object_get(res->json, "agent_timeout_ms"));
        l->agent_timeout_ms = timeout > 0 ? (uint64_t)timeout : 0;
        l->state = LINK_REGISTERED;
        l->registrations++;
        link_recovered(l);
        l->next_heartbeat_ms = now_mono_ms() + l->heartbeat_interval_ms;
        l->next_update_ms = 0;
        l->update_backoff_ms = 0;
        log_info("Registered with master %s as agent %s (heartbeat every %" PRIu64 " ms, %zu status updates "
                 "to send)", l->url, l->agent_id, l->heartbeat_interval_ms, status_queue_size(l->queue));
out:
        link_schedule(l);
}

/* Add the tasks that only the queue still knows about (ended, outcome not yet acknowledged),
 * with the state of their latest update: a task missing from a registration is declared LOST
 * by the master, and LOST is final there, so the queued outcome would then be ignored. */
static void link_registration_add_queued(struct master_link *l, json_t *body)
{
        json_t *tasks = json_object_get(body, "tasks"), *t;
        size_t n = status_queue_size(l->queue), k;

        if (!json_is_array(tasks)) {
                tasks = json_array();
                if (!tasks || json_object_set_new(body, "tasks", tasks) < 0)
                        return;
        }
        /* Newest first, so each task gets the state of its latest update. The updates are
         * read from their files (status-queue.h): registering is rare, the queue's memory is
         * not. */
        for (size_t i = n; i-- > 0;) {
                json_t *u = status_queue_load(l->queue, i, NULL);
                const char *task_id = json_string_value(json_object_get(u, "task_id"));
                bool listed = false;

                json_array_foreach(tasks, k, t)
                        if (streq_ptr(json_string_value(json_object_get(t, "id")), task_id)) {
                                listed = true;
                                break;
                        }
                if (task_id && !listed)
                        json_array_append_new(tasks, json_pack("{s:s, s:O}", "id", task_id, "state",
                                                               json_object_get(u, "state")));
                json_decref(u);
        }
}

static void link_register(struct master_link *l)
{
        _cleanup_free_ char *url = NULL;
        json_t *body;
        int r;

        l->reregister = false;
        body = l->registration_build(l->userdata);
        if (!body || link_url(l, &url, "agents", NULL, NULL) < 0) {
                json_decref(body);
                l->next_register_ms = now_mono_ms() + backoff_next(l, &l->backoff_ms);
                return;
        }
        if (l->agent_id)
                json_object_set_new(body, "agent_id", json_string(l->agent_id));
        link_registration_add_queued(l, body);
        r = http_client_request(l->client, "POST", url, body, l->token, LINK_REQUEST_TIMEOUT_MS, on_register_done, l);
        json_decref(body);
        if (r < 0) {
                log_warning_errno(r, "registration: cannot start the request to %s: %m", url);
                l->next_register_ms = now_mono_ms() + backoff_next(l, &l->backoff_ms);
                return;
        }
        l->state = LINK_REGISTERING;
}

/* ---- heartbeats ---- */

static void on_heartbeat_done(const struct http_client_result *res, void *userdata)
{
        struct master_link *l = userdata;
        json_int_t interval;

        if (res->error == -ECANCELED || l->freeing)
                return;
        l->heartbeat_in_flight = false;
        if (l->state != LINK_REGISTERED)
                goto out; /* a registration started meanwhile decides */
        if (res->error == 0 && res->status == 200) {
                l->heartbeats++;
                interval = json_integer_value(json_object_get(res->json, "heartbeat_interval_ms"));
                if (interval > 0)
                        l->heartbeat_interval_ms = (uint64_t)interval;
                link_recovered(l);
                goto out;
        }
        if (res->error == 0 && (res->status == 404 || res->status == 410)) {
                /* Marked lost after missed heartbeats, or a master that never knew us. */
                log_notice("master %s does not know agent %s (HTTP %ld): registering again", l->url, l->agent_id,
                           res->status);
                l->state = LINK_UNREGISTERED;
                l->next_register_ms = 0;
                goto out;
        }
        if (link_failover(l, "heartbeat", res)) {
                /* A new leader answers 404 for an agent not registered with it: we register. */
                l->next_heartbeat_ms = 0;
                goto out;
        }
        link_trouble(l, "heartbeat", res);
        if (res->error != 0 || res->status >= 500) {
                /* The master may come back from a restart that forgot which agents were
                 * active: register again, so it reconciles what we run. */
                l->state = LINK_UNREGISTERED;
                l->next_register_ms = now_mono_ms() + backoff_next(l, &l->backoff_ms);
        } else
                l->next_heartbeat_ms = now_mono_ms() + backoff_next(l, &l->backoff_ms);
out:
        link_schedule(l);
}

static void link_heartbeat(struct master_link *l)
{
        _cleanup_free_ char *url = NULL;
        json_t *body;
        int r;

        l->next_heartbeat_ms = now_mono_ms() + l->heartbeat_interval_ms;
        body = l->heartbeat_build(l->userdata);
        if (!body || link_url(l, &url, "agents", l->agent_id, "heartbeat") < 0) {
                json_decref(body);
                return;
        }
        r = http_client_request(l->client, "POST", url, body, l->token, LINK_REQUEST_TIMEOUT_MS, on_heartbeat_done,
                                l);
        json_decref(body);
        if (r >= 0)
                l->heartbeat_in_flight = true;
}

/* ---- status updates ---- */

static void on_update_done(const struct http_client_result *res, void *userdata)
{
        struct master_link *l = userdata;
        _cleanup_free_ char *id = NULL;
        int r;

        if (res->error == -ECANCELED || l->freeing)
                return;
        id = TAKE_PTR(l->update_in_flight);
        if (res->error == 0 && res->status == 200) {
                l->updates_acked++;
                l->update_backoff_ms = 0;
                r = status_queue_ack(l->queue, id);
                if (r < 0 && r != -ENOENT)
                        log_warning_errno(r, "status update %s acknowledged, but removing it from %s failed "
                                          "(it will be sent again, the master ignores duplicates): %m",
                                          id, status_queue_dir(l->queue));
                goto out;
        }
        /* 400 (malformed), 403 (an update this agent's certificate may not send: it names
         * another agent) and 409 (not this agent's task to update, e.g. one the master placed
         * again elsewhere): sending it again can never succeed, and the queue is sent in order,
         * so retrying it would hold back every later update. A 401 (the certificate or token
         * refused) is not the update's fault: it stays queued, logged as an error each time
         * the answer changes. */
        if (res->error == 0 && (res->status == 400 || res->status == 403 || res->status == 409)) {
                _cleanup_free_ char *message = NULL;

                (void)http_json_error_parse(res->json, NULL, &message);
                log_error("status update %s rejected by master %s: %s; set aside as .rejected in %s", id, l->url,
                          strempty(message), status_queue_dir(l->queue));
                l->updates_rejected++;
                (void)status_queue_reject(l->queue, id);
                goto out;
        }
        if (link_failover(l, "status update", res)) {
                l->next_update_ms = 0;
                goto out;
        }
        link_trouble(l, "status update", res);
        l->next_update_ms = now_mono_ms() + backoff_next(l, &l->update_backoff_ms);
out:
        link_schedule(l);
}

static void link_send_update(struct master_link *l)
{
        const struct status_entry *e = status_queue_get(l->queue, 0);
        _cleanup_free_ char *url = NULL;
        json_t *body;
        int r;

        if (!e || link_url(l, &url, "status", NULL, NULL) < 0)
                return;
        body = status_queue_load(l->queue, 0, &r);
        if (!body && r != -ENOMEM) {
                /* Damaged or removed behind our back: set aside (as status_queue_open() does with
                 * such files), so the updates after it still reach the master. */
                log_warning_errno(r, "Status update %s cannot be read from %s, setting it aside: %m",
                                  e->update_id, status_queue_dir(l->queue));
                if (status_queue_reject(l->queue, e->update_id) < 0)
                        (void)status_queue_ack(l->queue, e->update_id);
                l->next_update_ms = 0;
                return;
        }
        l->update_in_flight = strdup(e->update_id);
        if (!body || !l->update_in_flight) {
                json_decref(body);
                l->update_in_flight = (free(l->update_in_flight), NULL);
                return;
        }
        json_object_set_new(body, "agent_id", json_string(l->agent_id));
        r = http_client_request(l->client, "POST", url, body, l->token, LINK_REQUEST_TIMEOUT_MS, on_update_done, l);
        json_decref(body);
        if (r < 0) {
                l->update_in_flight = (free(l->update_in_flight), NULL);
                l->next_update_ms = now_mono_ms() + backoff_next(l, &l->update_backoff_ms);
                return;
        }
        l->updates_sent++;
}

/* ---- driving ---- */

/* Start whatever is due, then arm the timer for the earliest next deadline. */
static void link_schedule(struct master_link *l)
{
        uint64_t now = now_mono_ms(), next = UINT64_MAX;

        if (l->freeing || !l->loop)
                return;
        if (l->state == LINK_UNREGISTERED && l->reregister)
                l->next_register_ms = MIN(l->next_register_ms, now);
        if (l->state == LINK_REGISTERED && l->reregister && !l->heartbeat_in_flight && !l->update_in_flight) {
                /* Resources changed: the master takes a repeated registration as an update. */
                l->state = LINK_UNREGISTERED;
                l->next_register_ms = now;
        }
        if (l->state == LINK_UNREGISTERED) {
                if (l->next_register_ms <= now && !l->heartbeat_in_flight && !l->update_in_flight)
                        link_register(l);
                if (l->state == LINK_UNREGISTERED)
                        next = MIN(next, l->next_register_ms);
        }
        if (l->state == LINK_REGISTERED) {
                if (!l->heartbeat_in_flight && l->next_heartbeat_ms <= now)
                        link_heartbeat(l);
                next = MIN(next, l->next_heartbeat_ms);
                if (!l->update_in_flight && status_queue_size(l->queue) > 0) {
                        if (l->next_update_ms <= now)
                                link_send_update(l);
                        else
                                next = MIN(next, l->next_update_ms);
                }
        }
        if (next == UINT64_MAX)
                next = now + LINK_BACKOFF_MAX_MS;
        /* Never 0: an immediate re-fire is what link_schedule just handled. */
        (void)event_source_set_time(l->timer, next > now ? (next - now) * 1000 : 1000, 0);
}

static int on_link_timer(struct event_source *s, uint64_t n, void *userdata)
{
        (void)s;
        (void)n;
        link_schedule(userdata);
        return 0;
}

/* "http://a:5050,http://b:5050" into l->urls, each checked, trailing '/' dropped. */
static int link_urls_parse(struct master_link *l, const char *list, char **ret_error)
{
        _cleanup_free_ char *copy = strdup(strempty(list));
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        for (char *u = strtok_r(copy, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
                size_t n = strlen(u);
                char **nu;

                if ((strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) ||
                    !u[u[4] == 's' ? 8 : 7])
                        return error_set(ret_error, -EINVAL,
                                         "--master: '%s' is not an http:// or https:// URL "
                                         "(http://HOST:5050[,http://HOST2:5050...])",
                                         u);
                nu = realloc(l->urls, (l->n_urls + 1) * sizeof(*nu));
                if (!nu)
                        return -ENOMEM;
                l->urls = nu;
                while (n > 0 && u[n - 1] == '/')
                        u[--n] = '\0';
                if (!(l->urls[l->n_urls] = strdup(u)))
                        return -ENOMEM;
                l->n_urls++;
        }
        if (l->n_urls == 0)
                return error_set(ret_error, -EINVAL,
                                 "--master: '%s' is not an http:// or https:// URL (http://HOST:5050)",
                                 strempty(list));
        l->url = l->urls[0];
        return 0;
}

int master_link_new(const struct master_link_config *cfg, struct master_link **ret, char **ret_error)
{
        _cleanup_(master_link_freep) struct master_link *l = NULL;
        int r;

        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        r = link_urls_parse(l, cfg->master_url, ret_error);
        if (r < 0)
                return r;
        l->token = cfg->token ? strdup(cfg->token) : NULL;
        l->id_path = strdup(cfg->id_path);
        if ((cfg->token && !l->token) || !l->id_path)
                return -ENOMEM;
        l->queue = cfg->queue;
        l->fence = cfg->fence;
        l->registration_build = cfg->registration_build;
        l->heartbeat_build = cfg->heartbeat_build;
        l->userdata = cfg->userdata;
        l->heartbeat_interval_ms = LINK_DEFAULT_HEARTBEAT_MS;
        r = agent_id_load(cfg->id_path, &l->agent_id, ret_error);
        if (r < 0)
                return r;
        if (cfg->cert_agent_id) {
                /* The master accepts this agent only as its certificate's CN. */
                if (l->agent_id && !streq(l->agent_id, cfg->cert_agent_id))
                        return error_set(ret_error, -EINVAL,
                                         "agent id file %s names agent '%s', but the certificate "
                                         "%s names agent '%s': remove the file or give this "
                                         "agent its own certificate",
                                         cfg->id_path, l->agent_id, strempty(cfg->cert_path),
                                         cfg->cert_agent_id);
                /* Kept on disk too: the agent stays itself should TLS be turned off. */
                if (!l->agent_id) {
                        l->agent_id = strdup(cfg->cert_agent_id);
                        if (!l->agent_id)
                                return -ENOMEM;
                        r = agent_id_save(l, l->agent_id);
                        if (r < 0)
                                return error_set(ret_error, r, "agent id file %s: %s", l->id_path,
                                                 strerror(-r));
                }
        }
        r = http_client_new(&l->client);
        if (r < 0)
                return r;
        if (cfg->tls) {
                /* Only a master's certificate may answer as the master (not another agent's). */
                struct tls_files tls = *cfg->tls;

                tls.peer = (struct tls_peer){TLS_PEER_MASTER, NULL};
                if ((r = http_client_set_tls(l->client, &tls)) < 0)
                        return r;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

int master_link_start(struct master_link *l, struct event_loop *loop)
{
        int r;

        l->loop = loop;
        r = http_client_attach(l->client, loop);
        if (r < 0)
                return r;
        r = event_loop_add_timer(loop, 1000, 0, on_link_timer, l, NULL, &l->timer);
        if (r < 0)
                return r;
        l->state = LINK_UNREGISTERED;
        l->next_register_ms = 0;
        return 0;
}

struct master_link *master_link_free(struct master_link *l)
{
        if (!l)
                return NULL;
        l->freeing = true;
        l->timer = event_source_remove(l->timer);
        l->client = http_client_free(l->client); /* completions see -ECANCELED */
        for (size_t i = 0; i < l->n_urls; i++)
                free(l->urls[i]);
        free(l->urls);
        free(l->token);
        free(l->id_path);
        free(l->agent_id);
        free(l->update_in_flight);
        free(l->last_error);
        free(l);
        return NULL;
}

void master_link_reregister(struct master_link *l)
{
        l->reregister = true;
        link_schedule(l);
}

void master_link_kick(struct master_link *l)
{
        if (l->state == LINK_REGISTERED && !l->update_in_flight && l->next_update_ms <= now_mono_ms())
                link_schedule(l);
}

const char *master_link_agent_id(const struct master_link *l)
{
        return l->agent_id;
}

json_t *master_link_status_json(const struct master_link *l)
{
        static const char *const states[] = {
                [LINK_UNREGISTERED] = "unregistered",
                [LINK_REGISTERING] = "registering",
                [LINK_REGISTERED] = "registered",
        };

        return json_pack("{s:s, s:I, s:s?, s:s, s:I, s:s?, s:I, s:I, s:I, s:I, s:I, s:I}", "master", l->url,
                         "failovers", (json_int_t)l->failovers, "agent_id",
                         l->agent_id, "state", states[l->state], "heartbeat_interval_ms",
                         (json_int_t)l->heartbeat_interval_ms, "last_error", l->last_error, "registrations",
                         (json_int_t)l->registrations, "heartbeats", (json_int_t)l->heartbeats, "updates_sent",
                         (json_int_t)l->updates_sent, "updates_acknowledged", (json_int_t)l->updates_acked,
                         "updates_rejected", (json_int_t)l->updates_rejected, "failures", (json_int_t)l->failures);
}
