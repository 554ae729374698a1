/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's REST API: launch, list, get, kill, logs, isolation read-back, devices, health, metrics. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/log-file.h"
#include "agent/measure.h"
#include "agent/task-network.h"
#include "common/authz.h"
#include "common/http-json.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/metrics-text.h"
#include "common/protocol-json.h"

#define LOG_READ_MAX (1024u * 1024u)
#define LOG_FOLLOW_TIMEOUT_USEC (30u * 1000000u)

/* A log request with follow=1 waiting for output (long poll). */
struct log_waiter {
        struct log_waiter *next;
        http_deferred *deferred;
        char *task_id;
        char stream[8];
        uint64_t offset;
        size_t max;
        uint64_t deadline;
};

static struct agent *agent_of(void *userdata)
{
        return userdata;
}

/* The task of the path, or NULL with a 404 in resp; or NULL with a 403 when the request's
 * identity may not do `action` to it. */
static struct task *task_from_request(struct agent *a, http_request *req, http_response *resp,
                                      enum authz_action action, int *ret)
{
        struct task *t = agent_task_find(a, req->captures[0]);

        *ret = 0;
        if (!t) {
                (void)http_response_error(resp, 404, "not_found", "task '%s' is not known to this agent",
                                          req->captures[0]);
                return NULL;
        }
        *ret = agent_api_authz(a, req, resp,
                               &(struct authz_request){.action = action, .task = t->id,
                                                       .role = task_role(t),
                                                       .managed = agent_managed(a)});
        return *ret == 0 ? t : NULL;
}

static int handle_task_get(http_request *req, http_response *resp, void *userdata)
{
        int r;
        struct task *t = task_from_request(agent_of(userdata), req, resp, AUTHZ_TASK_READ, &r);

        if (!t)
                return r < 0 ? r : 0;
        return http_response_json(resp, 200, task_to_json(t, true));
}

static int handle_task_list(http_request *req, http_response *resp, void *userdata)
{
        struct agent *a = agent_of(userdata);
        const char *state = http_request_query(req, "state");
        json_t *arr;
        int want = -1;

        AGENT_AUTHZ(a, req, resp, .action = AUTHZ_TASK_LIST);
        arr = json_array();
        if (!arr)
                return -ENOMEM;
        if (state) {
                want = silo_task_state_from_string(state);
                if (want < 0) {
                        json_decref(arr);
                        return http_response_error(resp, 400, NULL, "state: '%s' is not a task state", state);
                }
        }
        for (size_t i = 0; i < a->n_tasks; i++)
                if ((want < 0 || (int)a->tasks[i]->state == want) &&
                    authz_role_visible(http_request_identity(req), task_role(a->tasks[i])))
                        json_array_append_new(arr, task_to_json(a->tasks[i], false));
        return http_response_json(resp, 200, json_pack("{s:o}", "tasks", arr));
}

static int handle_task_kill(http_request *req, http_response *resp, void *userdata)
{
        int r;
        struct task *t = task_from_request(agent_of(userdata), req, resp, AUTHZ_TASK_KILL, &r);

        if (!t)
                return r < 0 ? r : 0;
        /* After the identity: only the master's epoch may fence (a client's header must not). */
        r = agent_epoch_check(agent_of(userdata), req, resp);
        if (r != 0)
                return MIN(r, 0);
        if (silo_task_state_is_terminal(t->state))
                return http_response_json(resp, 200, task_to_json(t, false));
        r = task_kill(t);
        if (r < 0)
                return http_response_error(resp, 500, NULL, "killing task '%s': %s", t->id, strerror(-r));
        return http_response_json(resp, 202, task_to_json(t, false));
}

/* ---- logs ---- */

struct buffer_stream {
        char *data;
        size_t size;
};

static ssize_t buffer_stream_read(void *userdata, uint64_t pos, char *buf, size_t max)
{
        struct buffer_stream *b = userdata;
        size_t n;

        if (pos >= b->size)
                return HTTP_STREAM_END;
        n = MIN(max, b->size - (size_t)pos);
        memcpy(buf, b->data + pos, n);
        return (ssize_t)n;
}

static void buffer_stream_free(void *userdata)
{
        struct buffer_stream *b = userdata;

        free(b->data);
        free(b);
}

static int respond_log(http_response *resp, const struct task *t, struct log_chunk *c)
{
        struct buffer_stream *b = calloc(1, sizeof(*b));
        char v[32];
        int r;

        if (!b) {
                log_chunk_done(c);
                return -ENOMEM;
        }
        /* Logs are bytes, not text: streamed from a buffer so NULs survive. */
        b->data = TAKE_PTR(c->data);
        b->size = c->size;
        r = http_response_stream(resp, 200, "application/octet-stream", buffer_stream_read, b,
                                 buffer_stream_free);
        if (r < 0)
                return r;
        snprintf(v, sizeof(v), "%" PRIu64, c->offset);
        http_response_header(resp, "X-Silo-Log-Offset", v);
        snprintf(v, sizeof(v), "%" PRIu64, c->offset + c->size);
        http_response_header(resp, "X-Silo-Log-Next", v);
        snprintf(v, sizeof(v), "%" PRIu64, c->start);
        http_response_header(resp, "X-Silo-Log-Start", v);
        snprintf(v, sizeof(v), "%" PRIu64, c->end);
        http_response_header(resp, "X-Silo-Log-End", v);
        http_response_header(resp, "X-Silo-Task-State", silo_task_state_to_string(t->state));
        return 0;
}

static int log_read_task(const struct task *t, const char *stream, uint64_t offset, size_t max,
                         struct log_chunk *c)
{
        int r = log_read(t->sandbox, stream, offset, max, c);

        if (r == -ENOENT) {
                /* The shim has not opened the file yet: an empty log. */
                *c = (struct log_chunk){.data = NULL, .offset = 0, .start = 0, .end = 0};
                return 0;
        }
        return r;
}

static int handle_task_logs(http_request *req, http_response *resp, void *userdata)
{
        struct agent *a = agent_of(userdata);
        int r;
        struct task *t = task_from_request(a, req, resp, AUTHZ_TASK_LOGS, &r);
        const char *stream = http_request_query(req, "stream");
        const char *off = http_request_query(req, "offset");
        const char *len = http_request_query(req, "length");
        const char *follow = http_request_query(req, "follow");
        struct log_chunk c = {};
        uint64_t offset = 0, max = LOG_READ_MAX;
        char *end;

        if (!t)
                return r < 0 ? r : 0;
        if (!stream)
                stream = "stdout";
        if (!streq(stream, "stdout") && !streq(stream, "stderr"))
                return http_response_error(resp, 400, NULL, "stream: '%s' is neither stdout nor stderr", stream);
        if (off) {
                errno = 0;
                offset = strtoull(off, &end, 10);
                if (errno || *end || !*off || *off == '-')
                        return http_response_error(resp, 400, NULL, "offset: '%s' is not a byte offset", off);
        }
        if (len) {
                errno = 0;
                max = strtoull(len, &end, 10);
                if (errno || *end || !*len || *len == '-' || max == 0)
                        return http_response_error(resp, 400, NULL, "length: '%s' is not a positive byte count", len);
                max = MIN(max, (uint64_t)LOG_READ_MAX);
        }
        if (follow && !streq(follow, "0") && !streq(follow, "1"))
                return http_response_error(resp, 400, NULL, "follow: '%s' is neither 0 nor 1", follow);

        r = log_read_task(t, stream, offset, (size_t)max, &c);
        if (r < 0)
                return http_response_error(resp, 500, NULL, "reading %s of task '%s': %s", stream, t->id,
                                           strerror(-r));
        if (c.size == 0 && follow && streq(follow, "1") && !silo_task_state_is_terminal(t->state)) {
                struct log_waiter *w = calloc(1, sizeof(*w));

                log_chunk_done(&c);
                if (!w || !(w->task_id = strdup(t->id))) {
                        free(w);
                        return -ENOMEM;
                }
                w->deferred = http_request_defer(req);
                if (!w->deferred) {
                        free(w->task_id);
                        free(w);
                        return -ENOMEM;
                }
                snprintf(w->stream, sizeof(w->stream), "%s", stream);
                w->offset = offset;
                w->max = (size_t)max;
                w->deadline = now_usec() + LOG_FOLLOW_TIMEOUT_USEC;
                w->next = a->log_waiters;
                a->log_waiters = w;
                return HTTP_DEFERRED;
        }
        return respond_log(resp, t, &c);
}

/* Answer the long polls that have output, whose task ended, or that timed out. */
static void log_waiters_check(struct agent *a, bool all)
{
        struct log_waiter **p = &a->log_waiters;
        uint64_t now = now_usec();
        bool finished = false;

        while (*p) {
                struct log_waiter *w = *p;
                struct task *t = agent_task_find(a, w->task_id);
                http_response *resp = http_deferred_response(w->deferred);
                struct log_chunk c = {};
                int r = -ENOENT;

                if (t)
                        r = log_read_task(t, w->stream, w->offset, w->max, &c);
                if (r >= 0 && c.size == 0 && !all && now < w->deadline &&
                    !silo_task_state_is_terminal(t->state)) {
                        p = &w->next;
                        continue;
                }
                if (!t)
                        (void)http_response_error(resp, 404, NULL, "task '%s' is gone", w->task_id);
                else if (r < 0)
                        (void)http_response_error(resp, 500, NULL, "reading logs: %s", strerror(-r));
                else
                        (void)respond_log(resp, t, &c);
                log_chunk_done(&c);
                (void)http_deferred_finish(w->deferred);
                finished = true;
                *p = w->next;
                free(w->task_id);
                free(w);
        }
        if (finished)
                (void)http_server_run(a->http);
}

void agent_logs_notify(struct agent *a, struct task *t)
{
        (void)t;
        if (a->http && a->log_waiters)
                log_waiters_check(a, false);
}

/* ---- isolation read-back ---- */

static json_t *u64_or_max(uint64_t v)
{
        return v == CG_MAX ? json_string("max") : json_integer((json_int_t)v);
}

static json_t *pressure_to_json(const struct cg_pressure *p)
{
        if (!p->valid)
                return json_null();
        return json_pack("{s:{s:f, s:f, s:f, s:I}, s:{s:f, s:f, s:f, s:I}}",
                         "some", "avg10", p->some.avg10, "avg60", p->some.avg60, "avg300",
                         p->some.avg300, "total_usec", (json_int_t)p->some.total_usec,
                         "full", "avg10", p->full.avg10, "avg60", p->full.avg60, "avg300",
                         p->full.avg300, "total_usec", (json_int_t)p->full.total_usec);
}

static json_t *isolation_to_json(const struct task *t, const struct cg_task_status *s)
{
        json_t *io = json_array(), *iostat = json_array();
        char dev[32];

        for (size_t i = 0; i < s->n_io; i++) {
                const struct cg_io_limit *l = &s->io[i];
                json_t *o;

                snprintf(dev, sizeof(dev), "%u:%u", l->major, l->minor);
                o = json_pack("{s:s, s:s}", "device", dev, "name", l->name);
                FOREACH_IO_LIMIT(k)
                        json_object_set_new(o, silo_io_limit_to_string(k), u64_or_max(l->limit[k]));
                json_object_set_new(o, "weight", json_integer(l->weight));
                json_object_set_new(o, "weight_enforced", json_boolean(l->weight_enforced));
                json_object_set_new(o, "weight_note", json_string(l->weight_note));
                json_array_append_new(io, o);
        }
        for (size_t i = 0; i < s->n_io_stat; i++) {
                const struct cg_io_stat *st = &s->io_stat[i];
                snprintf(dev, sizeof(dev), "%u:%u", st->major, st->minor);
                json_array_append_new(iostat, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}",
                                                        "device", dev, "name", st->name, "rbytes",
                                                        (json_int_t)st->rbytes, "wbytes",
                                                        (json_int_t)st->wbytes, "rios",
                                                        (json_int_t)st->rios, "wios",
                                                        (json_int_t)st->wios, "dbytes",
                                                        (json_int_t)st->dbytes, "dios",
                                                        (json_int_t)st->dios));
        }
        return json_pack(
                "{s:s, s:s, s:{s:o, s:I, s:i, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:b, s:o},"
                " s:{s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:o, s:I, s:{s:I, s:I, s:I, s:I, s:I},"
                " s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}}, s:o, s:I},"
                " s:{s:o, s:o, s:o}, s:b, s:b}",
                "task_id", t->id, "cgroup", t->cgroup_path,
                "limits",
                "cpu_quota_usec", u64_or_max(s->cpu_quota_usec), "cpu_period_usec",
                (json_int_t)s->cpu_period_usec, "cpu_weight", (int)s->cpu_weight, "cpuset_cpus",
                s->cpuset_cpus, "cpuset_mems", s->cpuset_mems, "cpuset_cpus_effective",
                s->cpuset_cpus_effective, "cpuset_mems_effective", s->cpuset_mems_effective,
                "memory_max", u64_or_max(s->memory_max), "memory_high", u64_or_max(s->memory_high),
                "memory_swap_max", u64_or_max(s->memory_swap_max), "pids_max", u64_or_max(s->pids_max),
                "memory_oom_group", s->memory_oom_group, "io", io,
                "usage",
                "cpu", "usage_usec", (json_int_t)s->cpu.usage_usec, "user_usec",
                (json_int_t)s->cpu.user_usec, "system_usec", (json_int_t)s->cpu.system_usec,
                "nr_periods", (json_int_t)s->cpu.nr_periods, "nr_throttled",
                (json_int_t)s->cpu.nr_throttled, "throttled_usec", (json_int_t)s->cpu.throttled_usec,
                "memory", "current", (json_int_t)s->memory_current, "peak", u64_or_max(s->memory_peak),
                "swap_current", (json_int_t)s->memory_swap_current,
                "events", "high", (json_int_t)s->memory_events.high, "max",
                (json_int_t)s->memory_events.max, "oom", (json_int_t)s->memory_events.oom, "oom_kill",
                (json_int_t)s->memory_events.oom_kill, "oom_group_kill",
                (json_int_t)s->memory_events.oom_group_kill,
                "stat", "anon", (json_int_t)s->memory_stat.anon, "file", (json_int_t)s->memory_stat.file,
                "kernel_stack", (json_int_t)s->memory_stat.kernel_stack, "slab",
                (json_int_t)s->memory_stat.slab, "shmem", (json_int_t)s->memory_stat.shmem,
                "file_dirty", (json_int_t)s->memory_stat.file_dirty, "pgfault",
                (json_int_t)s->memory_stat.pgfault, "pgmajfault", (json_int_t)s->memory_stat.pgmajfault,
                "io", iostat, "pids_current", (json_int_t)s->pids_current,
                "pressure", "cpu", pressure_to_json(&s->cpu_pressure), "memory",
                pressure_to_json(&s->memory_pressure), "io", pressure_to_json(&s->io_pressure),
                "populated", s->populated, "frozen", s->frozen);
}

static int handle_task_isolation(http_request *req, http_response *resp, void *userdata)
{
        int r;
        struct task *t = task_from_request(agent_of(userdata), req, resp, AUTHZ_TASK_READ, &r);
        struct cg_task_status s = {};
        json_t *j;

        if (!t)
                return r < 0 ? r : 0;
        if (!t->cg)
                return http_response_error(resp, 409, NULL,
                                           "task '%s' is %s: its cgroup no longer exists", t->id,
                                           silo_task_state_to_string(t->state));
        r = cg_task_read(t->cg, &s);
        if (r < 0)
                return http_response_error(resp, 500, NULL, "reading cgroup %s: %s", t->cgroup_path,
                                           strerror(-r));
        j = isolation_to_json(t, &s);
        cg_task_status_done(&s);
        if (!j)
                return -ENOMEM;
        /* eBPF figures next to each limit: limits.io[].measured and a top-level "measured"
         * (shape documented in agent/measure.h). */
        json_object_set_new(j, "measured",
                            agent_measure_annotate(t->agent, cg_task_path(t->cg),
                                                   json_object_get(json_object_get(j, "limits"), "io")));
        /* The egress limit in force and the veth's measured rates (task-network.h). */
        json_object_set_new(j, "network", task_network_isolation(t->agent, t));
        return http_response_json(resp, 200, j);
}

/* ---- node ---- */

static int handle_devices(http_request *req, http_response *resp, void *userdata)
{
        AGENT_AUTHZ(agent_of(userdata), req, resp, .action = AUTHZ_AGENTS_READ);
        return http_response_json(resp, 200, agent_disks_to_json(agent_of(userdata)));
}

static int handle_health(http_request *req, http_response *resp, void *userdata)
{
        (void)req;
        (void)userdata;
        return http_response_json(resp, 200, json_pack("{s:s, s:s}", "status", "ok", "version", SILO_VERSION));
}

size_t agent_count_tasks(const struct agent *a, silo_task_state state)
{
        size_t n = 0;

        for (size_t i = 0; i < a->n_tasks; i++)
                n += a->tasks[i]->state == state;
        return n;
}

static int handle_metrics(http_request *req, http_response *resp, void *userdata)
{
        char *text = NULL;
        int r;

        AGENT_AUTHZ(agent_of(userdata), req, resp, .action = AUTHZ_METRICS);
        r = agent_metrics_format(agent_of(userdata), &text);
        if (r < 0)
                return r;
        return http_response_text(resp, 200, METRICS_TEXT_CONTENT_TYPE, text);
}

static const struct http_route routes[] = {
        {"GET", "/health", handle_health, HTTP_ROUTE_PUBLIC},
        {"GET", "/metrics", handle_metrics, 0},
        {"GET", "/api/v1/devices", handle_devices, 0},
        {"GET", "/api/v1/tasks", handle_task_list, 0},
        {"POST", "/api/v1/tasks", agent_api_launch, 0},
        {"GET", "/api/v1/tasks/{id}", handle_task_get, 0},
        {"DELETE", "/api/v1/tasks/{id}", handle_task_kill, 0},
        {"GET", "/api/v1/tasks/{id}/logs", handle_task_logs, 0},
        {"GET", "/api/v1/tasks/{id}/isolation", handle_task_isolation, 0},
        {"GET", "/api/v1/volumes", agent_api_volume_list, 0},
        {"GET", "/api/v1/volumes/{name}", agent_api_volume_get, 0},
        {"DELETE", "/api/v1/volumes/{name}", agent_api_volume_delete, 0},
        AGENT_LINK_ROUTES,
};

/* The tick of the log long polls: often while some wait, else once a second. */
static int on_log_tick(struct event_source *s, uint64_t n, void *userdata)
{
        struct agent *a = userdata;

        (void)n;
        if (a->log_waiters)
                log_waiters_check(a, false);
        return event_source_set_time(s, a->log_waiters ? 200000 : 1000000, 0);
}

int agent_api_start(struct agent *a, char **ret_error)
{
        struct http_server_config cfg = {
                .listen = a->opts.listen,
                .routes = routes,
                .n_routes = ELEMENTSOF(routes),
                .userdata = a,
                .token = a->token,
                .connection_limit = (unsigned)a->opts.max_connections,
                .per_client_limit = (unsigned)a->opts.max_connections_per_client,
                .connection_timeout_s = (unsigned)a->opts.idle_timeout_s,
                .header_timeout_s = (unsigned)a->opts.header_timeout_s,
                .tls = a->tls,
        };
        int r;

        r = http_server_new(&cfg, &a->http);
        if (r < 0)
                return http_listen_error(r, "--listen", a->opts.listen, ret_error);
        r = http_server_attach(a->http, a->loop);
        if (r < 0)
                return r;
        if (a->opts.health_listen) {
                r = http_server_new_health(a->opts.health_listen, routes, ELEMENTSOF(routes), a,
                                           &a->health);
                if (r < 0)
                        return http_listen_error(r, "--health-listen", a->opts.health_listen,
                                                 ret_error);
                r = http_server_attach(a->health, a->loop);
                if (r < 0)
                        return r;
        }
        return event_loop_add_timer(a->loop, 200000, 0, on_log_tick, a, NULL, &a->http_timer);
}

void agent_api_stop(struct agent *a)
{
        if (a->log_waiters)
                log_waiters_check(a, true);
        a->http_timer = event_source_remove(a->http_timer);
        a->http = http_server_free(a->http);
        a->health = http_server_free(a->health);
}
