/* SPDX-License-Identifier: Apache-2.0 */
/* Shared state of the silo-master API benchmark (master-api*.c): connections, agents, statistics. */
#pragma once

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
#include <sched.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
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
#define RUNS_MAX 9

enum req_kind { REQ_REGISTER, REQ_HEARTBEAT, REQ_SUBMIT, REQ_STATUS, _REQ_MAX };
extern const char *const req_names[_REQ_MAX];

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
        struct lat launch;              /* a task's submission queued -> its launch received */
        char first_error[256];
};

/* The benchmark's state: options, then what one step (one agent count) uses. */
struct bench {
        /* options */
        const char *master_bin;
        char **master_args;             /* --master-arg: appended to the master's command line */
        size_t n_master_args;
        const char *state_parent;
        size_t steps[32];
        size_t n_steps;
        double submit_rate;
        unsigned warmup_s, measure_s, lifetime_ms, perf_s, runs;
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
        uint64_t *submit_ns;            /* when each task (by seq) was submitted */
        size_t submit_cap;
        bool measuring;
        volatile sig_atomic_t interrupted;      /* SIGINT/SIGTERM: tear down and exit */
        struct stats st;
        size_t registered;
};
extern struct bench bench;

/* master-api.c */
uint64_t now_ns(void);
uint64_t realtime_ms(void);
void lat_add(struct lat *l, uint64_t ns);
void note_error(enum req_kind kind, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* master-api-conn.c: HTTP/1.1 keep-alive requests to the master over raw sockets. */
int conn_open(struct conn *c, size_t agent);
void conn_close(struct conn *c);
int conn_send(struct conn *c, struct request *r);
void conn_event(struct conn *c, uint32_t events);
struct request *request_new(enum req_kind kind, const char *method, const char *path, char *body, size_t agent);
void request_free(struct request *r);
/* Queue a request for the aux pool (submissions, status updates). */
void queue_push(struct request *r);
void aux_pump(void);

/* master-api-agents.c: the simulated agents' side of the protocol. */
char *registration_json(size_t i);
void agent_send_heartbeat(size_t i);
void submit_task(void);
void send_status(size_t agent, const char *task_id, silo_task_state state);
void finish_due(uint64_t now);
extern const struct http_route bench_routes[];
extern const size_t bench_n_routes;
