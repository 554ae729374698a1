/* SPDX-License-Identifier: Apache-2.0 */
/* API benchmark of silo-master: N simulated agents heartbeating once a second plus a stream of
 * task submissions on loopback; finds the largest N whose heartbeats all see p99 < 10 ms. */
/*
 * For each N it starts a fresh silo-master (state in a temp dir on a real disk, so SQLite's
 * fsyncs count), opens one keep-alive connection per agent (as real agents keep theirs), registers
 * the N agents, then runs the load: every agent heartbeats once a second at its own phase
 * (spread evenly over the second) on its connection, and tasks are submitted at a fixed rate on a
 * small pool of extra connections. The benchmark also plays the agents' side of each task: a
 * launch from the master (to this process' HTTP listener, the address every agent registers) is
 * accepted, answered by a RUNNING status update, and after --task-lifetime-ms a FINISHED one; the
 * agent's heartbeats list its running tasks. Tasks name their agent by hostname so the launch
 * tells which agent runs it.
 *
 * Every heartbeat sent during the measurement window is timed from the first byte written to the
 * last byte of the response read. Errors are non-200 answers, broken connections, and heartbeats
 * that were due while the previous one of the same agent was still unanswered (overruns). A step
 * passes with no error and p99 < --p99-ms. With --perf the first failing step (or the last one
 * when none fails) is profiled: `perf record -g -p <master>` for --perf-seconds under the same
 * load, after the measurement.
 *
 * The client and the master share the machine's cores; the output says how many.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/http-server.h"
#include "common/macro.h"
#include "common/protocol-json.h"

#define AUX_CONNS 8
#define RESP_MAX 65536

enum req_kind { REQ_REGISTER, REQ_HEARTBEAT, REQ_SUBMIT, REQ_STATUS, _REQ_MAX };
static const char *const req_names[_REQ_MAX] = { "register", "heartbeat", "submit", "status" };

struct request {
        enum req_kind kind;
        char *method, *path, *body;
        size_t agent;
        struct request *next;
};

struct conn {
        int fd;
        bool connected, busy;
        size_t agent;                   /* owner agent, or SIZE_MAX for the aux pool */
        struct request *req;            /* in flight */
        uint64_t sent_ns;
        char *out;
        size_t out_len, out_off;
        char *in;
        size_t in_len;
};

struct bench_agent {
        char hostname[32];
        char *id;
        struct conn c;
        char **tasks;                   /* running task ids, listed in heartbeats */
        size_t n_tasks, cap_tasks;
};

struct finish_entry {
        uint64_t due_ns;
        size_t agent;
        char *task_id;
};

struct lat {
        uint32_t *us;
        size_t n, cap;
};

struct stats {
        struct lat lat[_REQ_MAX];
        uint64_t errors[_REQ_MAX];
        uint64_t overruns;
        uint64_t launches;
        char first_error[256];
};

static struct {
        /* options */
        const char *master_bin;
        const char *state_parent;
        size_t steps[32];
        size_t n_steps;
        double submit_rate;
        unsigned warmup_s, measure_s, lifetime_ms, perf_s;
        double p99_goal_ms;
        bool perf;
        int fifo_prio;                  /* > 0: master and client under SCHED_FIFO (diagnostic) */
        FILE *slow_log;                 /* --slow-log: every request slower than --slow-ms */
        double slow_ms;
        /* per step */
        char workdir[256];
        char token[65];
        pid_t master_pid;
        uint16_t master_port;
        struct sockaddr_in master_addr;
        int epfd, tfd;
        http_server *http;
        struct bench_agent *agents;
        size_t n_agents;
        struct conn aux[AUX_CONNS];
        struct request *queue_head, *queue_tail;
        struct finish_entry *fin;
        size_t fin_head, fin_tail, fin_cap;
        uint64_t update_seq, task_seq;
        bool measuring;
        struct stats st;
        size_t registered;
} B;

static uint64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t realtime_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void lat_add(struct lat *l, uint64_t ns)
{
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 65536;
                uint32_t *v = realloc(l->us, cap * sizeof(*v));
                if (!v)
                        return;
                l->us = v;
                l->cap = cap;
        }
        l->us[l->n++] = (uint32_t)MIN(ns / 1000, (uint64_t)UINT32_MAX);
}

static int cmp_u32(const void *a, const void *b)
{
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

        return x < y ? -1 : x > y;
}

/* Nearest-rank percentile in milliseconds of a sorted array. */
static double pct_ms(const struct lat *l, double p)
{
        size_t k;

        if (l->n == 0)
                return 0;
        k = (size_t)((p / 100.0) * (double)l->n + 0.999999);
        k = k == 0 ? 0 : MIN(k - 1, l->n - 1);
        return l->us[k] / 1000.0;
}

static void note_error(enum req_kind kind, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_error(enum req_kind kind, const char *fmt, ...)
{
        va_list ap;

        if (!B.measuring && kind == REQ_HEARTBEAT)
                return;
        B.st.errors[kind]++;
        if (B.st.first_error[0])
                return;
        va_start(ap, fmt);
        vsnprintf(B.st.first_error, sizeof(B.st.first_error), fmt, ap);
        va_end(ap);
}

/* ---------------------------------------------------------------- connections ---- */

static int conn_open(struct conn *c, size_t agent)
{
        struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT };
        int one = 1, fd;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(fd, (struct sockaddr *)&B.master_addr, sizeof(B.master_addr)) < 0 && errno != EINPROGRESS) {
                int r = -errno;
                close(fd);
                return r;
        }
        free(c->in);
        *c = (struct conn){ .fd = fd, .agent = agent };
        c->in = malloc(RESP_MAX);
        if (!c->in) {
                close(fd);
                return -ENOMEM;
        }
        ev.data.ptr = c;
        if (epoll_ctl(B.epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return 0;
}

static void conn_close(struct conn *c)
{
        if (c->fd > 0) {
                (void)epoll_ctl(B.epfd, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
        }
        c->fd = -1;
        c->connected = false;
        free(c->out);
        c->out = NULL;
}

static void request_free(struct request *r)
{
        if (!r)
                return;
        free(r->method);
        free(r->path);
        free(r->body);
        free(r);
}

static struct request *request_new(enum req_kind kind, const char *method, const char *path, char *body,
                                   size_t agent)
{
        struct request *r = calloc(1, sizeof(*r));

        if (!r) {
                free(body);
                return NULL;
        }
        *r = (struct request){ .kind = kind, .method = strdup(method), .path = strdup(path), .body = body,
                               .agent = agent };
        return r;
}

static void conn_want_write(struct conn *c, bool on)
{
        struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c };

        (void)epoll_ctl(B.epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_flush(struct conn *c)
{
        while (c->connected && c->out_off < c->out_len) {
                ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);

                if (n < 0) {
                        if (errno == EAGAIN) {
                                conn_want_write(c, true);
                                return;
                        }
                        return; /* the read side reports the broken connection */
                }
                c->out_off += (size_t)n;
        }
        if (c->connected)
                conn_want_write(c, false);
}

/* Start a request on an idle connection (keep-alive, one request at a time). */
static int conn_send(struct conn *c, struct request *r)
{
        size_t blen = r->body ? strlen(r->body) : 0;
        int n;

        assert(!c->busy);
        free(c->out);
        c->out = NULL;
        n = asprintf(&c->out,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nAuthorization: Bearer %s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     r->method, r->path, B.master_port, B.token, blen, r->body ? r->body : "");
        if (n < 0)
                return -ENOMEM;
        c->out_len = (size_t)n;
        c->out_off = 0;
        c->in_len = 0;
        c->req = r;
        c->busy = true;
        c->sent_ns = now_ns();
        conn_flush(c);
        return 0;
}

/* Parse a complete response in c->in: 1 when complete (status and body returned), 0 when more
 * is needed, -EBADMSG when it is not HTTP/1.1 with a Content-Length. */
static int response_parse(struct conn *c, unsigned *ret_status, const char **ret_body, size_t *ret_len,
                          bool *ret_close)
{
        char *hdr_end, *p;
        size_t hlen, clen = 0;
        bool have_len = false;

        c->in[c->in_len] = 0;
        hdr_end = strstr(c->in, "\r\n\r\n");
        if (!hdr_end)
                return c->in_len >= RESP_MAX - 1 ? -EBADMSG : 0;
        hlen = (size_t)(hdr_end - c->in) + 4;
        if (strncmp(c->in, "HTTP/1.", 7) != 0)
                return -EBADMSG;
        *ret_status = (unsigned)strtoul(c->in + 9, NULL, 10);
        *ret_close = false;
        for (p = strstr(c->in, "\r\n"); p && p < hdr_end; p = strstr(p + 2, "\r\n")) {
                if (strncasecmp(p + 2, "Content-Length:", 15) == 0) {
                        clen = strtoul(p + 17, NULL, 10);
                        have_len = true;
                } else if (strncasecmp(p + 2, "Connection: close", 17) == 0)
                        *ret_close = true;
        }
        if (!have_len)
                return -EBADMSG;
        if (hlen + clen >= RESP_MAX)
                return -EBADMSG;
        if (c->in_len < hlen + clen)
                return 0;
        *ret_body = c->in + hlen;
        *ret_len = clen;
        return 1;
}

static void aux_pump(void);

static void response_handle(struct conn *c, struct request *r, unsigned status, const char *body, size_t len)
{
        uint64_t lat = now_ns() - c->sent_ns;

        if (B.slow_log && B.measuring && (double)lat / 1e6 >= B.slow_ms)
                fprintf(B.slow_log, "%.6f %s %.3f\n", (double)c->sent_ns / 1e9, req_names[r->kind], (double)lat / 1e6);

        switch (r->kind) {
        case REQ_REGISTER: {
                json_error_t je;
                json_t *j = json_loadb(body, len, 0, &je);
                const char *id = json_string_value(json_object_get(j, "agent_id"));

                if ((status == 200 || status == 201) && id) {
                        B.agents[r->agent].id = strdup(id);
                        B.registered++;
                        lat_add(&B.st.lat[REQ_REGISTER], lat);
                } else
                        note_error(REQ_REGISTER, "register %s: HTTP %u %.*s", B.agents[r->agent].hostname, status,
                                   (int)MIN(len, 200u), body);
                json_decref(j);
                break;
        }
        case REQ_HEARTBEAT:
                if (!B.measuring)
                        break;
                if (status == 200)
                        lat_add(&B.st.lat[REQ_HEARTBEAT], lat);
                else
                        note_error(REQ_HEARTBEAT, "heartbeat %s: HTTP %u %.*s", B.agents[r->agent].hostname, status,
                                   (int)MIN(len, 200u), body);
                break;
        case REQ_SUBMIT:
        case REQ_STATUS:
                if (status == 200 || status == 201) {
                        if (B.measuring)
                                lat_add(&B.st.lat[r->kind], lat);
                } else
                        note_error(r->kind, "%s: HTTP %u %.*s", req_names[r->kind], status, (int)MIN(len, 200u),
                                   body);
                break;
        default:
                break;
        }
}

static void conn_done(struct conn *c)
{
        c->busy = false;
        request_free(c->req);
        c->req = NULL;
}

static void conn_reconnect(struct conn *c, const char *why)
{
        if (c->req) {
                note_error(c->req->kind, "%s %s: connection %s", req_names[c->req->kind], c->req->path, why);
                c->busy = false;
                request_free(c->req);
                c->req = NULL;
        }
        conn_close(c);
        if (conn_open(c, c->agent) < 0)
                note_error(REQ_HEARTBEAT, "cannot reconnect: %m");
}

static void conn_event(struct conn *c, uint32_t events)
{
        if (!c->connected) {
                int err = 0;
                socklen_t l = sizeof(err);

                if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
                        return;
                (void)getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
                if (err != 0) {
                        errno = err;
                        conn_reconnect(c, "refused");
                        return;
                }
                c->connected = true;
                if (c->busy)
                        conn_flush(c);
                else
                        conn_want_write(c, false);
                if (c->agent == SIZE_MAX)
                        aux_pump();
                return;
        }
        if (events & EPOLLOUT)
                conn_flush(c);
        if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                for (;;) {
                        ssize_t n = read(c->fd, c->in + c->in_len, RESP_MAX - 1 - c->in_len);
                        unsigned status;
                        const char *body;
                        size_t len;
                        bool close_after;
                        int r;

                        if (n < 0 && errno == EAGAIN)
                                return;
                        if (n <= 0) {
                                conn_reconnect(c, n == 0 ? "closed by the master" : "broken");
                                return;
                        }
                        if (!c->busy) {
                                c->in_len = 0; /* nothing asked: ignore */
                                continue;
                        }
                        c->in_len += (size_t)n;
                        r = response_parse(c, &status, &body, &len, &close_after);
                        if (r == 0)
                                continue;
                        if (r < 0) {
                                conn_reconnect(c, "sent an unparsable response");
                                return;
                        }
                        response_handle(c, c->req, status, body, len);
                        c->in_len = 0;
                        conn_done(c);
                        if (close_after) {
                                conn_reconnect(c, "closed (Connection: close)");
                                return;
                        }
                        if (c->agent == SIZE_MAX)
                                aux_pump();
                }
        }
}

/* ---------------------------------------------------------------- requests ---- */

static void queue_push(struct request *r)
{
        if (!r)
                return;
        if (B.queue_tail)
                B.queue_tail->next = r;
        else
                B.queue_head = r;
        B.queue_tail = r;
        aux_pump();
}

static void aux_pump(void)
{
        for (size_t i = 0; i < AUX_CONNS && B.queue_head; i++) {
                struct conn *c = &B.aux[i];
                struct request *r;

                if (c->busy || !c->connected)
                        continue;
                r = B.queue_head;
                B.queue_head = r->next;
                if (!B.queue_head)
                        B.queue_tail = NULL;
                r->next = NULL;
                if (conn_send(c, r) < 0)
                        request_free(r);
        }
}

static char *registration_json(size_t i)
{
        json_t *disks = json_array(), *reg;
        unsigned n_disks = 1 + (unsigned)(i % 4);      /* mixed: 1 to 4 disks */
        char *s;

        for (unsigned d = 0; d < n_disks; d++) {
                char name[16];
                bool ssd = d % 2 == 0;

                snprintf(name, sizeof(name), ssd ? "nvme%un1" : "sd%c", ssd ? d : (unsigned)('a' + d));
                json_array_append_new(disks, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:s}", "device",
                                                       "259:0", "name", name, "path", "/dev/null", "read_bps",
                                                       (json_int_t)(ssd ? 3000000000 : 250000000), "write_bps",
                                                       (json_int_t)(ssd ? 2000000000 : 200000000), "read_iops",
                                                       (json_int_t)(ssd ? 600000 : 400), "write_iops",
                                                       (json_int_t)(ssd ? 400000 : 400), "class",
                                                       ssd ? "ssd" : "hdd", "source", "config"));
        }
        reg = json_pack("{s:s, s:s, s:s, s:{s:i, s:I, s:I, s:o}, s:{s:s}, s:[]}", "hostname", B.agents[i].hostname,
                        "address", "", "version", "bench", "resources", "cpus", 8 << (i % 3), "mem",
                        (json_int_t)(32ll << 30), "pids", (json_int_t)32768, "disks", disks, "attributes", "rack",
                        i % 2 ? "r1" : "r2", "tasks");
        json_object_set_new(reg, "address", json_sprintf("127.0.0.1:%u", http_server_port(B.http)));
        s = json_dumps(reg, JSON_COMPACT);
        json_decref(reg);
        return s;
}

static void agent_send_heartbeat(size_t i)
{
        struct bench_agent *a = &B.agents[i];
        _cleanup_free_ char *path = NULL;
        json_t *tasks = json_array(), *body;
        struct request *r;

        if (!a->id)
                return;
        if (a->c.busy || !a->c.connected) {
                /* The previous heartbeat is still unanswered a second later: an agent would skip
                 * this one; count it against the step. */
                if (B.measuring) {
                        B.st.overruns++;
                        note_error(REQ_HEARTBEAT, "heartbeat %s: previous one unanswered after a second",
                                   a->hostname);
                }
                return;
        }
        for (size_t k = 0; k < a->n_tasks; k++)
                json_array_append_new(tasks, json_string(a->tasks[k]));
        body = json_pack("{s:o}", "tasks", tasks);
        if (asprintf(&path, "/api/v1/agents/%s/heartbeat", a->id) < 0)
                path = NULL;
        r = path ? request_new(REQ_HEARTBEAT, "POST", path, json_dumps(body, JSON_COMPACT), i) : NULL;
        json_decref(body);
        if (r && conn_send(&a->c, r) < 0)
                request_free(r);
}

static void submit_task(void)
{
        size_t agent = (size_t)((B.task_seq * 7919u) % B.n_agents);
        char id[64];
        json_t *spec;
        bool io = B.task_seq % 4 == 0;

        snprintf(id, sizeof(id), "bench-%" PRIu64, B.task_seq++);
        spec = json_pack("{s:s, s:s, s:s, s:[s,s], s:{s:f, s:s}, s:{s:s}, s:i}", "id", id, "name", id, "role",
                         (B.task_seq % 4) == 0 ? "storage" : (B.task_seq % 4) == 1 ? "batch" : "web", "command",
                         "/bin/sleep", "5", "resources", "cpus", 0.5, "mem", "256Mi", "constraints", "hostname",
                         B.agents[agent].hostname, "priority", (int)(B.task_seq % 10));
        if (io)
                json_object_set_new(json_object_get(spec, "resources"), "io",
                                    json_pack("[{s:s, s:s, s:s}]", "disk", "any", "class", "ssd", "wbps", "20M"));
        queue_push(request_new(REQ_SUBMIT, "POST", "/api/v1/tasks", json_dumps(spec, JSON_COMPACT), agent));
        json_decref(spec);
}

static void send_status(size_t agent, const char *task_id, silo_task_state state)
{
        char uid[96];
        struct silo_status_update u = {
                .update_id = uid, .task_id = (char *)task_id, .agent_id = B.agents[agent].id, .state = state,
                .exit_code = state == SILO_TASK_FINISHED ? 0 : -1, .timestamp_ms = realtime_ms(),
        };
        json_t *j;

        snprintf(uid, sizeof(uid), "bench-u-%" PRIu64, ++B.update_seq);
        j = silo_status_update_to_json(&u);
        if (!j)
                return;
        queue_push(request_new(REQ_STATUS, "POST", "/api/v1/status", json_dumps(j, JSON_COMPACT), agent));
        json_decref(j);
}

static void finish_due(uint64_t now)
{
        while (B.fin_head != B.fin_tail && B.fin[B.fin_head % B.fin_cap].due_ns <= now) {
                struct finish_entry *f = &B.fin[B.fin_head++ % B.fin_cap];
                struct bench_agent *a = &B.agents[f->agent];

                for (size_t k = 0; k < a->n_tasks; k++)
                        if (streq(a->tasks[k], f->task_id)) {
                                free(a->tasks[k]);
                                a->tasks[k] = a->tasks[--a->n_tasks];
                                break;
                        }
                send_status(f->agent, f->task_id, SILO_TASK_FINISHED);
                free(f->task_id);
        }
}

/* ---------------------------------------------------------------- the agents' listener ---- */

static int on_launch(http_request *req, http_response *resp, void *userdata)
{
        const char *id = json_string_value(json_object_get(req->body, "id"));
        const char *host = json_string_value(json_object_get(json_object_get(req->body, "constraints"), "hostname"));
        struct bench_agent *a;
        size_t i;

        (void)userdata;
        if (!id || !host || sscanf(host, "bench-%zu", &i) != 1 || i >= B.n_agents)
                return http_response_error(resp, 400, "invalid_spec", "launch without id or bench hostname");
        a = &B.agents[i];
        B.st.launches++;
        for (size_t k = 0; k < a->n_tasks; k++)
                if (streq(a->tasks[k], id))
                        return http_response_json(resp, 200, json_pack("{s:s, s:s}", "id", id, "state", "RUNNING"));
        if (a->n_tasks == a->cap_tasks) {
                size_t cap = a->cap_tasks ? a->cap_tasks * 2 : 8;
                char **v = realloc(a->tasks, cap * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                a->tasks = v;
                a->cap_tasks = cap;
        }
        if (B.fin_tail - B.fin_head == B.fin_cap)
                return http_response_error(resp, 503, "unavailable", "bench: too many running tasks");
        a->tasks[a->n_tasks++] = strdup(id);
        B.fin[B.fin_tail++ % B.fin_cap] = (struct finish_entry){ now_ns() + (uint64_t)B.lifetime_ms * 1000000ull, i,
                                                                 strdup(id) };
        send_status(i, id, SILO_TASK_RUNNING);
        return http_response_json(resp, 201, json_pack("{s:s, s:s}", "id", id, "state", "STARTING"));
}

static int on_kill(http_request *req, http_response *resp, void *userdata)
{
        (void)userdata;
        return http_response_json(resp, 202, json_pack("{s:s, s:b}", "id", req->captures[0], "kill_requested", 1));
}

static const struct http_route bench_routes[] = {
        { "POST", "/api/v1/tasks", on_launch, 0 },
        { "DELETE", "/api/v1/tasks/{id}", on_kill, 0 },
};

/* ---------------------------------------------------------------- the master ---- */

static int master_start(size_t n)
{
        char path[512], port_s[32], nofile[32], maxconn[32];
        FILE *f;
        pid_t pid;

        snprintf(B.workdir, sizeof(B.workdir), "%s/silo-master-api.XXXXXX", B.state_parent);
        if (!mkdtemp(B.workdir))
                return -errno;
        for (size_t i = 0; i < 32; i++)
                snprintf(B.token + 2 * i, 3, "%02x", (unsigned)(rand() & 0xff));
        snprintf(path, sizeof(path), "%s/token", B.workdir);
        f = fopen(path, "we");
        if (!f)
                return -errno;
        fprintf(f, "%s\n", B.token);
        fclose(f);
        chmod(path, 0600);
        snprintf(nofile, sizeof(nofile), "%zu", 2 * n + 4096);
        snprintf(maxconn, sizeof(maxconn), "%zu", n + 1024);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                char state[300], log[300];
                int fd;

                snprintf(state, sizeof(state), "%s/state", B.workdir);
                snprintf(log, sizeof(log), "%s/master.log", B.workdir);
                fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
                if (fd >= 0) {
                        dup2(fd, 1);
                        dup2(fd, 2);
                }
                if (B.fifo_prio > 0) {
                        struct sched_param sp = { .sched_priority = B.fifo_prio };
                        if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0)
                                _exit(126);
                }
                execl(B.master_bin, B.master_bin, "--listen", "127.0.0.1:0", "--state-dir", state, "--token-file",
                      path, "--log-level", "info", "--heartbeat-interval-ms", "1000", "--agent-timeout-ms", "30000",
                      "--max-connections", maxconn, "--nofile", nofile, (char *)NULL);
                _exit(127);
        }
        B.master_pid = pid;
        /* The master logs "listening on ... (port N)" once bound. */
        snprintf(path, sizeof(path), "%s/master.log", B.workdir);
        for (int tries = 0; tries < 400; tries++) {
                char line[1024];
                int st;

                if (waitpid(pid, &st, WNOHANG) == pid) {
                        B.master_pid = 0;
                        fprintf(stderr, "master-api: silo-master exited at startup (see %s)\n", path);
                        return -ECHILD;
                }
                f = fopen(path, "re");
                while (f && fgets(line, sizeof(line), f)) {
                        char *p = strstr(line, "(port ");
                        if (p && sscanf(p, "(port %31[0-9])", port_s) == 1)
                                B.master_port = (uint16_t)atoi(port_s);
                }
                if (f)
                        fclose(f);
                if (B.master_port)
                        break;
                usleep(25000);
        }
        if (!B.master_port)
                return -ETIMEDOUT;
        B.master_addr = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(B.master_port),
                                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        return 0;
}

static void master_stop(void)
{
        char cmd[512];

        if (B.master_pid > 0) {
                kill(B.master_pid, SIGTERM);
                for (int i = 0; i < 100 && waitpid(B.master_pid, NULL, WNOHANG) == 0; i++)
                        usleep(50000);
                if (waitpid(B.master_pid, NULL, WNOHANG) == 0) {
                        kill(B.master_pid, SIGKILL);
                        waitpid(B.master_pid, NULL, 0);
                }
        }
        B.master_pid = 0;
        B.master_port = 0;
        if (B.workdir[0] && getenv("KEEP_WORK") == NULL) {
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", B.workdir);
                if (system(cmd) != 0)
                        fprintf(stderr, "master-api: cannot remove %s\n", B.workdir);
        }
        B.workdir[0] = 0;
}

/* ---------------------------------------------------------------- the loop ---- */

/* Run the loop until `until_ns`, firing heartbeats and submissions on schedule from `t0`.
 * `load` false: only serve I/O (registration). `stop_when_registered` ends early. */
static void loop_run(uint64_t t0, uint64_t until_ns, bool load, bool stop_when_registered, uint64_t *hb_next,
                     uint64_t *sub_next)
{
        struct epoll_event evs[256];

        for (;;) {
                uint64_t now = now_ns();
                int n;

                if (now >= until_ns || (stop_when_registered && B.registered == B.n_agents))
                        return;
                if (load) {
                        for (;;) {
                                uint64_t cycle = *hb_next / B.n_agents, i = *hb_next % B.n_agents;
                                uint64_t due = t0 + cycle * 1000000000ull + i * 1000000000ull / B.n_agents;

                                if (due > now)
                                        break;
                                agent_send_heartbeat(i);
                                (*hb_next)++;
                        }
                        while (B.submit_rate > 0 &&
                               t0 + (uint64_t)((double)*sub_next * 1e9 / B.submit_rate) <= now) {
                                submit_task();
                                (*sub_next)++;
                        }
                        finish_due(now);
                }
                n = epoll_wait(B.epfd, evs, ELEMENTSOF(evs), 1);
                for (int k = 0; k < n; k++) {
                        void *p = evs[k].data.ptr;

                        if (p == &B.tfd) {
                                uint64_t v;
                                (void)!read(B.tfd, &v, sizeof(v));
                        } else if (p == &B.http)
                                (void)http_server_run(B.http);
                        else
                                conn_event(p, evs[k].events);
                }
                (void)http_server_run(B.http);
        }
}

static void stats_reset(void)
{
        for (int k = 0; k < _REQ_MAX; k++) {
                free(B.st.lat[k].us);
        }
        B.st = (struct stats){};
}

/* CPU time (in clock ticks) of the whole machine, this process and the master. */
struct cpu_sample {
        uint64_t busy, total, self, master;
};

static uint64_t proc_cpu_ticks(pid_t pid)
{
        char path[64], buf[1024], *p;
        unsigned long long ut = 0, st = 0;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return 0;
        if (!fgets(buf, sizeof(buf), f))
                buf[0] = 0;
        fclose(f);
        p = strrchr(buf, ')');
        /* after "pid (comm)": state is field 3, utime 14, stime 15 */
        if (!p || sscanf(p + 2, "%*c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu", &ut, &st) != 2)
                return 0;
        return ut + st;
}

static void cpu_sample_take(struct cpu_sample *s)
{
        unsigned long long v[10] = {};
        FILE *f = fopen("/proc/stat", "re");

        *s = (struct cpu_sample){};
        if (f) {
                if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                           &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]) >= 8) {
                        /* user nice system idle iowait irq softirq steal (guest is in user) */
                        s->total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
                        s->busy = s->total - v[3] - v[4];
                }
                fclose(f);
        }
        s->self = proc_cpu_ticks(getpid());
        s->master = proc_cpu_ticks(B.master_pid);
}

struct step_result {
        size_t n;
        double cpu_master, cpu_self, cpu_other;   /* % of one core during the measurement */
        double reg_s;
        size_t hb, sub;
        double p50, p99, max, sub_p99;
        uint64_t errors;
        bool pass;
        char first_error[256];
};

static void step_teardown(void)
{
        for (size_t i = 0; i < B.n_agents; i++) {
                struct bench_agent *a = &B.agents[i];

                request_free(a->c.req);
                conn_close(&a->c);
                free(a->c.in);
                free(a->id);
                for (size_t k = 0; k < a->n_tasks; k++)
                        free(a->tasks[k]);
                free(a->tasks);
        }
        free(B.agents);
        B.agents = NULL;
        for (size_t i = 0; i < AUX_CONNS; i++) {
                request_free(B.aux[i].req);
                conn_close(&B.aux[i]);
                free(B.aux[i].in);
                B.aux[i] = (struct conn){ .fd = -1 };
        }
        while (B.queue_head) {
                struct request *r = B.queue_head;
                B.queue_head = r->next;
                request_free(r);
        }
        B.queue_tail = NULL;
        while (B.fin_head != B.fin_tail)
                free(B.fin[B.fin_head++ % B.fin_cap].task_id);
        free(B.fin);
        B.fin = NULL;
        http_server_free(B.http);
        B.http = NULL;
        if (B.epfd >= 0)
                close(B.epfd);
        if (B.tfd >= 0)
                close(B.tfd);
        B.epfd = B.tfd = -1;
        master_stop();
}

static void profile_master(size_t n, uint64_t t0, uint64_t *hb_next, uint64_t *sub_next)
{
        char data[512], cmd[1024], secs[16];
        pid_t pid;
        int st;

        snprintf(data, sizeof(data), "/tmp/master-api-perf-%zu.data", n);
        snprintf(secs, sizeof(secs), "%u", B.perf_s);
        pid = fork();
        if (pid == 0) {
                char mp[16];
                int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

                if (fd >= 0) {
                        dup2(fd, 1);
                        dup2(fd, 2);
                }
                snprintf(mp, sizeof(mp), "%d", (int)B.master_pid);
                execlp("perf", "perf", "record", "-g", "-F", "999", "-o", data, "-p", mp, "--", "sleep", secs,
                       (char *)NULL);
                _exit(127);
        }
        if (pid < 0)
                return;
        loop_run(t0, now_ns() + (uint64_t)B.perf_s * 1000000000ull + 500000000ull, true, false, hb_next, sub_next);
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                printf("# perf record failed (status %d)\n", st);
                return;
        }
        printf("# profile of silo-master at N=%zu under the same load (%s, perf report --no-children):\n", n, data);
        fflush(stdout);
        snprintf(cmd, sizeof(cmd),
                 "perf report -i %s --stdio --no-children --sort dso,symbol --percent-limit 1.5 -g none 2>/dev/null"
                 " | grep -v '^#' | grep -v '^$' | head -40 | sed 's/^/#   /'",
                 data);
        if (system(cmd) != 0)
                printf("# perf report failed\n");
        snprintf(cmd, sizeof(cmd),
                 "perf report -i %s --stdio --children --sort symbol --percent-limit 5 -g none 2>/dev/null"
                 " | grep -v '^#' | grep -v '^$' | head -30 | sed 's/^/#   (incl. children) /'",
                 data);
        if (system(cmd) != 0)
                printf("# perf report failed\n");
}

static int step_run(size_t n, struct step_result *res)
{
        struct http_server_config hc;
        struct epoll_event ev = { .events = EPOLLIN };
        struct itimerspec its = { .it_value.tv_nsec = 1000000, .it_interval.tv_nsec = 1000000 };
        uint64_t t0, hb_next = 0, sub_next = 0, reg0;
        int r;

        *res = (struct step_result){ .n = n };
        stats_reset();
        B.registered = 0;
        B.n_agents = n;
        B.task_seq = B.update_seq = 0;
        B.epfd = epoll_create1(EPOLL_CLOEXEC);
        B.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        if (B.epfd < 0 || B.tfd < 0)
                return -errno;
        (void)timerfd_settime(B.tfd, 0, &its, NULL);
        ev.data.ptr = &B.tfd;
        (void)epoll_ctl(B.epfd, EPOLL_CTL_ADD, B.tfd, &ev);
        B.fin_cap = 1 << 20;
        B.fin_head = B.fin_tail = 0;
        B.fin = calloc(B.fin_cap, sizeof(*B.fin));
        B.agents = calloc(n, sizeof(*B.agents));
        if (!B.fin || !B.agents)
                return -ENOMEM;

        r = master_start(n);
        if (r < 0)
                return r;
        /* The bench's token also guards the launches the master sends here. */
        hc = (struct http_server_config){ .listen = "127.0.0.1:0", .routes = bench_routes,
                                          .n_routes = ELEMENTSOF(bench_routes), .token = B.token };
        r = http_server_new(&hc, &B.http);
        if (r < 0)
                return r;
        ev.data.ptr = &B.http;
        (void)epoll_ctl(B.epfd, EPOLL_CTL_ADD, http_server_get_fd(B.http), &ev);

        for (size_t i = 0; i < AUX_CONNS; i++) {
                r = conn_open(&B.aux[i], SIZE_MAX);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < n; i++) {
                B.agents[i].c.fd = -1;
                snprintf(B.agents[i].hostname, sizeof(B.agents[i].hostname), "bench-%zu", i);
                r = conn_open(&B.agents[i].c, i);
                if (r < 0) {
                        fprintf(stderr, "master-api: connection %zu: %s\n", i, strerror(-r));
                        return r;
                }
        }

        /* Register everyone, each on its own connection, 256 at a time. */
        reg0 = now_ns();
        for (size_t next = 0; B.registered < n;) {
                size_t in_flight = 0;

                for (size_t i = 0; i < next; i++)
                        in_flight += B.agents[i].c.busy;
                while (next < n && in_flight < 256) {
                        struct bench_agent *a = &B.agents[next];
                        if (!a->c.connected) {
                                loop_run(0, now_ns() + 1000000, false, false, NULL, NULL);
                                continue;
                        }
                        (void)conn_send(&a->c, request_new(REQ_REGISTER, "POST", "/api/v1/agents",
                                                           registration_json(next), next));
                        next++;
                        in_flight++;
                }
                loop_run(0, now_ns() + 5000000, false, true, NULL, NULL);
                if (now_ns() - reg0 > 600ull * 1000000000ull || B.st.errors[REQ_REGISTER] > 0) {
                        fprintf(stderr, "master-api: registration failed: %zu of %zu registered; %s\n", B.registered,
                                n, B.st.first_error);
                        return -EIO;
                }
        }
        res->reg_s = (double)(now_ns() - reg0) / 1e9;

        /* Warm up, then measure. */
        t0 = now_ns();
        loop_run(t0, t0 + (uint64_t)B.warmup_s * 1000000000ull, true, false, &hb_next, &sub_next);
        for (int k = 0; k < _REQ_MAX; k++)
                B.st.errors[k] = 0;
        B.st.overruns = 0;
        B.st.first_error[0] = 0;
        B.measuring = true;
        {
                struct cpu_sample a, b;
                double ticks_per_s = (double)sysconf(_SC_CLK_TCK), secs;

                cpu_sample_take(&a);
                loop_run(t0, now_ns() + (uint64_t)B.measure_s * 1000000000ull, true, false, &hb_next, &sub_next);
                cpu_sample_take(&b);
                /* /proc/stat counts every core: busy ticks of all cores over the window. */
                secs = (double)B.measure_s;
                res->cpu_master = 100.0 * (double)(b.master - a.master) / ticks_per_s / secs;
                res->cpu_self = 100.0 * (double)(b.self - a.self) / ticks_per_s / secs;
                res->cpu_other = 100.0 * (double)(b.busy - a.busy) / ticks_per_s / secs - res->cpu_master -
                                 res->cpu_self;
                if (res->cpu_other < 0)
                        res->cpu_other = 0;
        }
        B.measuring = false;
        /* Let what was sent in the window come back (counted: it was sent while measuring). */
        B.measuring = true;
        loop_run(t0, now_ns() + 300000000ull, false, false, NULL, NULL);
        B.measuring = false;
        for (size_t i = 0; i < n; i++)
                if (B.agents[i].c.busy && B.agents[i].c.req && B.agents[i].c.req->kind == REQ_HEARTBEAT) {
                        B.st.errors[REQ_HEARTBEAT]++;
                        if (!B.st.first_error[0])
                                snprintf(B.st.first_error, sizeof(B.st.first_error), "heartbeat %s unanswered",
                                         B.agents[i].hostname);
                }

        {
                struct lat *l = &B.st.lat[REQ_HEARTBEAT], *s = &B.st.lat[REQ_SUBMIT];

                qsort(l->us, l->n, sizeof(*l->us), cmp_u32);
                qsort(s->us, s->n, sizeof(*s->us), cmp_u32);
                qsort(B.st.lat[REQ_STATUS].us, B.st.lat[REQ_STATUS].n, sizeof(uint32_t), cmp_u32);
                res->hb = l->n;
                res->sub = s->n;
                res->p50 = pct_ms(l, 50);
                res->p99 = pct_ms(l, 99);
                res->max = l->n ? l->us[l->n - 1] / 1000.0 : 0;
                res->sub_p99 = pct_ms(s, 99);
                res->errors = B.st.errors[REQ_HEARTBEAT] + B.st.errors[REQ_SUBMIT] + B.st.errors[REQ_STATUS];
                res->pass = res->errors == 0 && l->n > 0 && res->p99 < B.p99_goal_ms;
                memcpy(res->first_error, B.st.first_error, sizeof(res->first_error));
        }
        return 0;
}

/* One fd per agent connection: raise RLIMIT_NOFILE, past the hard limit when privileged. Returns
 * the soft limit obtained. */
static size_t raise_nofile(size_t want)
{
        struct rlimit rl = { want, want };

        if (setrlimit(RLIMIT_NOFILE, &rl) < 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
                /* Without CAP_SYS_RESOURCE: up to the hard limit. */
                rl.rlim_cur = rl.rlim_max;
                (void)setrlimit(RLIMIT_NOFILE, &rl);
        }
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return 1024;
        return (size_t)rl.rlim_cur;
}

static void usage(FILE *f)
{
        fprintf(f,
                "usage: master-api [options] SILO-MASTER\n"
                "  --agents N,N,...       agent counts to try (default 1000,2000,5000,10000,15000,19500)\n"
                "  --submit-rate R        task submissions per second (default 100)\n"
                "  --task-lifetime-ms MS  a task runs this long before FINISHED (default 5000)\n"
                "  --warmup S --measure S seconds of warm-up and of measurement per step (3, 10)\n"
                "  --p99-ms MS            the heartbeat p99 goal (default 10)\n"
                "  --state-parent DIR     where the master's state dir is created (default /var/tmp)\n"
                "  --perf [--perf-seconds S]  profile the master at the first failing step (10 s)\n"
                "  --sched-fifo PRIO      run client and master under SCHED_FIFO (diagnostic, needs root)\n"
                "  --slow-log FILE [--slow-ms MS]  log requests slower than MS (5): send time, kind, ms\n");
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "agents", required_argument, NULL, 'a' },      { "submit-rate", required_argument, NULL, 'r' },
                { "task-lifetime-ms", required_argument, NULL, 'l' }, { "warmup", required_argument, NULL, 'w' },
                { "measure", required_argument, NULL, 'm' },     { "p99-ms", required_argument, NULL, 'p' },
                { "state-parent", required_argument, NULL, 's' }, { "perf", no_argument, NULL, 'P' },
                { "perf-seconds", required_argument, NULL, 'S' }, { "help", no_argument, NULL, 'h' },
                { "sched-fifo", required_argument, NULL, 'F' },  { "slow-log", required_argument, NULL, 'L' },
                { "slow-ms", required_argument, NULL, 'T' },
                {},
        };
        struct step_result results[32];
        size_t n_results = 0, best = 0, max_n = 0, nofile;
        bool profiled = false;
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        int c;

        B.state_parent = "/var/tmp";
        B.submit_rate = 100;
        B.lifetime_ms = 5000;
        B.warmup_s = 3;
        B.measure_s = 10;
        B.p99_goal_ms = 10;
        B.perf_s = 10;
        B.slow_ms = 5;
        B.epfd = B.tfd = -1;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
                switch (c) {
                case 'a': {
                        char *save = NULL, *tok, *s = strdup(optarg);
                        B.n_steps = 0;
                        for (tok = strtok_r(s, ",", &save); tok && B.n_steps < ELEMENTSOF(B.steps);
                             tok = strtok_r(NULL, ",", &save))
                                B.steps[B.n_steps++] = strtoul(tok, NULL, 10);
                        free(s);
                        break;
                }
                case 'r': B.submit_rate = strtod(optarg, NULL); break;
                case 'l': B.lifetime_ms = (unsigned)strtoul(optarg, NULL, 10); break;
                case 'w': B.warmup_s = (unsigned)strtoul(optarg, NULL, 10); break;
                case 'm': B.measure_s = (unsigned)strtoul(optarg, NULL, 10); break;
                case 'p': B.p99_goal_ms = strtod(optarg, NULL); break;
                case 's': B.state_parent = optarg; break;
                case 'P': B.perf = true; break;
                case 'S': B.perf_s = (unsigned)strtoul(optarg, NULL, 10); break;
                case 'F': B.fifo_prio = atoi(optarg); break;
                case 'L':
                        B.slow_log = fopen(optarg, "we");
                        if (!B.slow_log) {
                                fprintf(stderr, "master-api: --slow-log %s: %m\n", optarg);
                                return 2;
                        }
                        break;
                case 'T': B.slow_ms = strtod(optarg, NULL); break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 2;
                }
        }
        if (optind + 1 != argc) {
                usage(stderr);
                return 2;
        }
        B.master_bin = argv[optind];
        if (B.n_steps == 0) {
                static const size_t def[] = { 1000, 2000, 5000, 10000, 15000, 19500 };
                memcpy(B.steps, def, sizeof(def));
                B.n_steps = ELEMENTSOF(def);
        }
        for (size_t i = 0; i < B.n_steps; i++)
                max_n = MAX(max_n, B.steps[i]);
        nofile = raise_nofile(max_n + 4096);
        if (nofile < max_n + 256) {
                /* The master, under the same hard limit, could not take them either. */
                size_t k = 0;
                for (size_t i = 0; i < B.n_steps; i++)
                        if (B.steps[i] + 256 <= nofile)
                                B.steps[k++] = B.steps[i];
                printf("# RLIMIT_NOFILE is %zu here (hard limit; no CAP_SYS_RESOURCE to raise it): agent counts"
                       " above %zu are left out\n", nofile, nofile - 256);
                B.n_steps = k;
        }
        if (B.fifo_prio > 0) {
                /* Diagnostic: shows how much of the tail is other processes taking the cores.
                 * Children other than the master (perf, rm) go back to normal scheduling. */
                struct sched_param sp = { .sched_priority = B.fifo_prio };
                if (sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &sp) < 0) {
                        fprintf(stderr, "master-api: --sched-fifo %d: %m\n", B.fifo_prio);
                        return 1;
                }
        }
        signal(SIGPIPE, SIG_IGN);
        srand((unsigned)time(NULL) ^ (unsigned)getpid());

        printf("# silo-master API benchmark: heartbeats once a second per agent + %.0f task submissions/s\n"
               "# (each task launched to the bench, RUNNING at once, FINISHED after %u ms), loopback, keep-alive.\n"
               "# NOTE: the load client and silo-master share this machine's %ld CPU cores; the client's own\n"
               "# CPU time is part of the figures. Measurement %u s per step after %u s warm-up; goal p99 < %g ms.\n",
               B.submit_rate, B.lifetime_ms, cores, B.measure_s, B.warmup_s, B.p99_goal_ms);
        if (B.fifo_prio > 0)
                printf("# DIAGNOSTIC RUN: client and master under SCHED_FIFO %d (other processes cannot preempt them)\n",
                       B.fifo_prio);
        printf("%8s %9s %9s %9s %9s %9s %7s %9s %10s  %s\n", "agents", "reg_s", "hb", "p50_ms", "p99_ms", "max_ms",
               "errors", "submits", "sub_p99ms", "result");
        fflush(stdout);
        for (size_t s = 0; s < B.n_steps; s++) {
                struct step_result *res = &results[n_results];
                bool last = s + 1 == B.n_steps;
                int r;

                /* Profile the step that fails first; if none does, the last one. A failing step is
                 * known only after its measurement, so the step profiles itself once measured. */
                r = step_run(B.steps[s], res);
                if (r < 0) {
                        printf("%8zu  setup failed: %s\n", B.steps[s], strerror(-r));
                        step_teardown();
                        break;
                }
                n_results++;
                printf("%8zu %9.1f %9zu %9.2f %9.2f %9.2f %7" PRIu64 " %9zu %10.2f  %s\n", res->n, res->reg_s, res->hb,
                       res->p50, res->p99, res->max, res->errors, res->sub, res->sub_p99, res->pass ? "pass" : "FAIL");
                printf("#   %" PRIu64 " launches accepted, status updates p99 %.2f ms; CPU (%% of one core): "
                       "master %.0f, client %.0f, other processes %.0f\n",
                       B.st.launches, pct_ms(&B.st.lat[REQ_STATUS], 99), res->cpu_master, res->cpu_self,
                       res->cpu_other);
                if (res->errors)
                        printf("#   first error: %s (overruns: %" PRIu64 ")\n", res->first_error, B.st.overruns);
                fflush(stdout);
                if (B.perf && !profiled && (!res->pass || last)) {
                        uint64_t t0 = now_ns(), hb = 0, sub = 0;
                        /* Same load, continued on the same master and agents. */
                        B.measuring = false;
                        profile_master(res->n, t0, &hb, &sub);
                        profiled = true;
                }
                step_teardown();
                if (res->pass)
                        best = res->n;
                else
                        break;
        }
        printf("# largest agent count with every heartbeat answered and p99 < %g ms: %zu (goal 10000)\n",
               B.p99_goal_ms, best);
        stats_reset();
        return n_results > 0 ? 0 : 1;
}
