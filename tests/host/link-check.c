/* SPDX-License-Identifier: Apache-2.0 */
/* Host test driver: the agent's real master link and status queue, with tasks simulated (no cgroups). */
/*
 * silo-agent refuses to start without cgroup v2, so on the host this program stands in for it
 * around the very code the agent uses to talk to the master: agent/master-link.c and
 * agent/status-queue.c on a common/ event loop and HTTP server. Launches (POST /api/v1/tasks)
 * create a simulated task whose transitions go through the durable queue exactly as the
 * agent's task_transition() hook does:
 *   command ["/bin/sleep", "N"]  RUNNING, then FINISHED after N seconds
 *   command ["/bin/false"]       RUNNING, then FAILED (exit 1)
 *   anything else                RUNNING, then FINISHED (exit 0)
 * DELETE /api/v1/tasks/{id} ends a running task KILLED. GET /link shows the link's counters
 * and the queue length.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>

#include "agent/master-link.h"
#include "agent/status-queue.h"
#include "common/auth.h"
#include "common/config.h"
#include "common/event-loop.h"
#include "common/fileio.h"
#include "common/http-server.h"
#include "common/macro.h"
#include "common/protocol-json.h"

struct opts {
        char *master, *listen, *token_file, *state_dir, *hostname, *port_file;
};

#define OPT(f) offsetof(struct opts, f)
static const struct config_option table[] = {
        { "master", CONFIG_STRING, OPT(master), NULL, "URL", "master URL", 0, 0 },
        { "listen", CONFIG_STRING, OPT(listen), "127.0.0.1:0", "ADDR", "API address", 0, 0 },
        { "token-file", CONFIG_STRING, OPT(token_file), NULL, "FILE", "cluster token", 0, 0 },
        { "state-dir", CONFIG_STRING, OPT(state_dir), NULL, "DIR", "agent-id and status/ live here", 0, 0 },
        { "hostname", CONFIG_STRING, OPT(hostname), "link-check", "NAME", "hostname to register", 0, 0 },
        { "port-file", CONFIG_STRING, OPT(port_file), NULL, "FILE", "write the bound port here", 0, 0 },
};
static const struct config_schema schema = {
        .program = "link-check", .summary = "The agent's master link with simulated tasks.",
        .options = table, .n_options = ELEMENTSOF(table),
};

struct sim_task {
        char *id;
        struct silo_task_spec *spec;
        silo_task_state state;
        uint64_t created_ms;
        uint64_t end_at_us;     /* 0 = runs until killed */
        int exit_code;
};

static struct {
        struct opts o;
        char *token;
        char address[64];
        struct event_loop *loop;
        http_server *http;
        struct status_queue *queue;
        struct master_link *link;
        struct epoch_fence fence; /* the agent's <state-dir>/master-epoch, as silo-agent keeps it */
        struct event_source *tick;
        struct sim_task tasks[1024];
        size_t n_tasks;
} s;

static void transition(struct sim_task *t, silo_task_state state, silo_task_reason reason, int exit_code)
{
        struct silo_status_update u = {
                .task_id = t->id, .state = state, .reason = reason, .exit_code = exit_code,
                .timestamp_ms = now_realtime_ms(),
        };
        char id[37];

        t->state = state;
        status_update_id_make(t->id, t->created_ms, state, id);
        u.update_id = id;
        if (status_queue_push(s.queue, &u) < 0)
                fprintf(stderr, "link-check: cannot queue %s of %s\n", silo_task_state_to_string(state), t->id);
}

static json_t *registration_build(void *userdata)
{
        json_t *tasks = json_array();

        (void)userdata;
        for (size_t i = 0; i < s.n_tasks; i++)
                if (!silo_task_state_is_terminal(s.tasks[i].state))
                        json_array_append_new(tasks, json_pack("{s:s, s:s}", "id", s.tasks[i].id, "state",
                                                               silo_task_state_to_string(s.tasks[i].state)));
        return json_pack("{s:s, s:s, s:s, s:{s:i, s:I, s:I, s:[{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:s}]},"
                         " s:o}",
                         "hostname", s.o.hostname, "address", s.address, "version", "link-check", "resources",
                         "cpus", 4, "mem", (json_int_t)8 << 30, "pids", (json_int_t)32768, "disks", "device", "254:0",
                         "name", "nullb0", "path", "/dev/nullb0", "read_bps", (json_int_t)1000000000, "write_bps",
                         (json_int_t)500000000, "read_iops", (json_int_t)100000, "write_iops", (json_int_t)50000,
                         "class", "ssd", "source", "config", "tasks", tasks);
}

static json_t *heartbeat_build(void *userdata)
{
        json_t *tasks = json_array();

        (void)userdata;
        for (size_t i = 0; i < s.n_tasks; i++)
                if (!silo_task_state_is_terminal(s.tasks[i].state))
                        json_array_append_new(tasks, json_string(s.tasks[i].id));
        return json_pack("{s:o}", "tasks", tasks);
}

static struct sim_task *task_find(const char *id)
{
        for (size_t i = 0; i < s.n_tasks; i++)
                if (streq(s.tasks[i].id, id))
                        return &s.tasks[i];
        return NULL;
}

static json_t *task_json(const struct sim_task *t)
{
        return json_pack("{s:s, s:s}", "id", t->id, "state", silo_task_state_to_string(t->state));
}

static int on_launch(http_request *req, http_response *resp, void *userdata)
{
        _cleanup_(silo_task_spec_freep) struct silo_task_spec *spec = NULL;
        _cleanup_free_ char *err = NULL;
        struct sim_task *t;

        (void)userdata;
        if (silo_task_spec_from_json(req->body, &spec, &err) < 0 || !spec->id)
                return http_response_error(resp, 400, "invalid_spec", "%s", err ? err : "id: missing");
        t = task_find(spec->id);
        if (t)
                return silo_task_spec_equal(t->spec, spec)
                               ? http_response_json(resp, 200, task_json(t))
                               : http_response_error(resp, 409, "conflict", "task %s exists", t->id);
        if (s.n_tasks >= ELEMENTSOF(s.tasks))
                return http_response_error(resp, 503, "unavailable", "too many tasks");
        t = &s.tasks[s.n_tasks++];
        *t = (struct sim_task){ .id = strdup(spec->id), .created_ms = now_realtime_ms() };
        if (streq(spec->command[0], "/bin/sleep") && spec->command[1])
                t->end_at_us = now_usec() + (uint64_t)(atof(spec->command[1]) * 1e6);
        else {
                t->end_at_us = now_usec() + 100000;
                t->exit_code = streq(spec->command[0], "/bin/false") ? 1 : 0;
        }
        t->spec = TAKE_PTR(spec);
        transition(t, SILO_TASK_RUNNING, SILO_REASON_NONE, -1);
        return http_response_json(resp, 201, task_json(t));
}

static int on_kill(http_request *req, http_response *resp, void *userdata)
{
        struct sim_task *t = task_find(req->captures[0]);

        (void)userdata;
        if (!t)
                return http_response_error(resp, 404, "not_found", "task %s: no such task", req->captures[0]);
        if (!silo_task_state_is_terminal(t->state))
                transition(t, SILO_TASK_KILLED, SILO_REASON_KILLED_BY_REQUEST, -1);
        return http_response_json(resp, 200, task_json(t));
}

static int on_link(http_request *req, http_response *resp, void *userdata)
{
        json_t *j = master_link_status_json(s.link);

        (void)req;
        (void)userdata;
        json_object_set_new(j, "queued", json_integer((json_int_t)status_queue_size(s.queue)));
        json_object_set_new(j, "cluster_id", s.fence.cluster_id ? json_string(s.fence.cluster_id) : json_null());
        json_object_set_new(j, "epoch", json_integer((json_int_t)s.fence.seen));
        return http_response_json(resp, 200, j);
}

static int on_health(http_request *req, http_response *resp, void *userdata)
{
        (void)req;
        (void)userdata;
        return http_response_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}

static const struct http_route routes[] = {
        { "GET", "/health", on_health, HTTP_ROUTE_PUBLIC },
        { "POST", "/api/v1/tasks", on_launch, 0 },
        { "DELETE", "/api/v1/tasks/{id}", on_kill, 0 },
        { "GET", "/link", on_link, 0 },
};

static int on_http(struct event_source *src, int fd, uint32_t revents, void *userdata)
{
        (void)src;
        (void)fd;
        (void)revents;
        (void)userdata;
        (void)http_server_run(s.http);
        return 0;
}

/* Simulated task ends, and MHD's timeouts. */
static int on_tick(struct event_source *src, uint64_t n, void *userdata)
{
        uint64_t now = now_usec();

        (void)src;
        (void)n;
        (void)userdata;
        for (size_t i = 0; i < s.n_tasks; i++) {
                struct sim_task *t = &s.tasks[i];

                if (t->state == SILO_TASK_RUNNING && t->end_at_us && now >= t->end_at_us)
                        transition(t, t->exit_code ? SILO_TASK_FAILED : SILO_TASK_FINISHED,
                                   t->exit_code ? SILO_REASON_EXIT_NONZERO : SILO_REASON_NONE, t->exit_code);
        }
        (void)http_server_run(s.http);
        return 0;
}

static int on_signal(struct event_source *src, const struct signalfd_siginfo *si, void *userdata)
{
        (void)src;
        (void)si;
        (void)userdata;
        event_loop_exit(s.loop, 0);
        return 0;
}

static void on_push(struct status_queue *q, void *userdata)
{
        (void)q;
        (void)userdata;
        master_link_kick(s.link);
}

int main(int argc, char **argv)
{
        _cleanup_free_ char *err = NULL, *qdir = NULL, *idp = NULL;
        struct http_server_config hc;
        struct master_link_config lc;
        int r;

        r = config_parse(&schema, argc, argv, &s.o, &err);
        if (r != 0 || !s.o.master || !s.o.token_file || !s.o.state_dir) {
                fprintf(stderr, "link-check: %s\n", err ? err : "--master, --token-file and --state-dir are required");
                return 2;
        }
        if (auth_token_load(s.o.token_file, NULL, &s.token, NULL, &err) < 0) {
                fprintf(stderr, "link-check: %s\n", strempty(err));
                return 1;
        }
        if (asprintf(&qdir, "%s/status", s.o.state_dir) < 0 || asprintf(&idp, "%s/agent-id", s.o.state_dir) < 0)
                return 1;
        r = status_queue_open(qdir, &s.queue, NULL);
        if (r < 0) {
                fprintf(stderr, "link-check: %s: %s\n", qdir, strerror(-r));
                return 1;
        }
        hc = (struct http_server_config){
                .listen = s.o.listen, .routes = routes, .n_routes = ELEMENTSOF(routes), .token = s.token,
        };
        if (event_loop_new(&s.loop) < 0 || http_server_new(&hc, &s.http) < 0) {
                fprintf(stderr, "link-check: cannot set up the loop or listen on %s\n", s.o.listen);
                return 1;
        }
        snprintf(s.address, sizeof(s.address), "127.0.0.1:%u", http_server_port(s.http));
        if (s.o.port_file) {
                char buf[16];
                snprintf(buf, sizeof(buf), "%u\n", http_server_port(s.http));
                (void)file_write_atomic(s.o.port_file, buf, strlen(buf), 0644);
        }
        {
                _cleanup_free_ char *ep = NULL;

                if (asprintf(&ep, "%s/master-epoch", s.o.state_dir) < 0 ||
                    epoch_fence_open(ep, &s.fence, &err) < 0) {
                        fprintf(stderr, "link-check: %s\n", err ? err : "out of memory");
                        return 1;
                }
        }
        lc = (struct master_link_config){
                .master_url = s.o.master, .token = s.token, .id_path = idp, .queue = s.queue,
                .fence = &s.fence,
                .registration_build = registration_build, .heartbeat_build = heartbeat_build,
        };
        r = master_link_new(&lc, &s.link, &err);
        if (r < 0) {
                fprintf(stderr, "link-check: %s\n", err ? err : strerror(-r));
                return 1;
        }
        status_queue_set_notify(s.queue, on_push, NULL);
        signal(SIGPIPE, SIG_IGN);
        if (event_loop_add_io(s.loop, http_server_get_fd(s.http), POLLIN, EVENT_IO_LEVEL, on_http, NULL, NULL,
                              NULL) < 0 ||
            event_loop_add_timer(s.loop, 50000, 50000, on_tick, NULL, NULL, &s.tick) < 0 ||
            event_loop_add_signal(s.loop, SIGTERM, on_signal, NULL, NULL, NULL) < 0 ||
            event_loop_add_signal(s.loop, SIGINT, on_signal, NULL, NULL, NULL) < 0 ||
            master_link_start(s.link, s.loop) < 0) {
                fprintf(stderr, "link-check: cannot start\n");
                return 1;
        }
        r = event_loop_run(s.loop);
        s.link = master_link_free(s.link);
        s.loop = event_loop_free(s.loop);
        s.http = http_server_free(s.http);
        s.queue = status_queue_free(s.queue);
        for (size_t i = 0; i < s.n_tasks; i++) {
                free(s.tasks[i].id);
                silo_task_spec_free(s.tasks[i].spec);
        }
        config_free(&schema, &s.o);
        free(s.token);
        return r < 0 ? 1 : 0;
}
