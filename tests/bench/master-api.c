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
 * The client and the master share the machine's cores; the output says how many, and how much
 * CPU the master, the client and every other process used during each measurement, since on a
 * shared machine other processes' load shows up directly in the tail. --sched-fifo runs client
 * and master under SCHED_FIFO as a diagnostic that takes that interference out; --slow-log lists
 * the slow requests with their send time, to see whether they come in bursts (a stalled loop).
 *
 * Files: master-api.c (steps, the master process, figures), master-api-conn.c (HTTP client),
 * master-api-agents.c (the simulated agents), master-api.h (shared state).
 */
#include "bench.h"
#include "master-api.h"

#include "common/http-client.h"

struct bench bench;

uint64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t realtime_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void lat_add(struct lat *l, uint64_t ns)
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

void note_error(enum req_kind kind, const char *fmt, ...)
{
        va_list ap;

        if (!bench.measuring && kind == REQ_HEARTBEAT)
                return;
        bench.st.errors[kind]++;
        if (bench.st.first_error[0])
                return;
        va_start(ap, fmt);
        vsnprintf(bench.st.first_error, sizeof(bench.st.first_error), fmt, ap);
        va_end(ap);
}

/* ---------------------------------------------------------------- the master ---- */

static int master_start(size_t n)
{
        char path[512], port_s[32], nofile[32], maxconn[32];
        FILE *f;
        pid_t pid;

        snprintf(bench.workdir, sizeof(bench.workdir), "%s/silo-master-api.XXXXXX", bench.state_parent);
        if (!mkdtemp(bench.workdir))
                return -errno;
        for (size_t i = 0; i < 32; i++)
                snprintf(bench.token + 2 * i, 3, "%02x", (unsigned)(rand() & 0xff));
        snprintf(path, sizeof(path), "%s/token", bench.workdir);
        f = fopen(path, "we");
        if (!f)
                return -errno;
        fprintf(f, "%s\n", bench.token);
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

                snprintf(state, sizeof(state), "%s/state", bench.workdir);
                snprintf(log, sizeof(log), "%s/master.log", bench.workdir);
                fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
                if (fd >= 0) {
                        dup2(fd, 1);
                        dup2(fd, 2);
                }
                /* Never outlive the benchmark, however it ends. */
                (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (bench.fifo_prio > 0) {
                        struct sched_param sp = { .sched_priority = bench.fifo_prio };
                        if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0)
                                _exit(126);
                }
                {
                        const char *fixed[] = { bench.master_bin, "--listen", "127.0.0.1:0", "--state-dir", state,
                                                "--token-file", path, "--log-level", "info", "--heartbeat-interval-ms",
                                                "1000", "--agent-timeout-ms", "30000", "--max-connections", maxconn,
                                                "--nofile", nofile,
                                                /* every simulated agent connects from 127.0.0.1 */
                                                "--max-connections-per-client", "0" };
                        const char **argv = calloc(ELEMENTSOF(fixed) + bench.n_master_args + 1, sizeof(char *));

                        if (!argv)
                                _exit(127);
                        memcpy(argv, fixed, sizeof(fixed));
                        for (size_t k = 0; k < bench.n_master_args; k++)
                                argv[ELEMENTSOF(fixed) + k] = bench.master_args[k];
                        execv(bench.master_bin, (char **)argv);
                }
                _exit(127);
        }
        bench.master_pid = pid;
        /* The master logs "listening on ... (port N)" once bound. */
        snprintf(path, sizeof(path), "%s/master.log", bench.workdir);
        for (int tries = 0; tries < 400; tries++) {
                char line[1024];
                int st;

                if (waitpid(pid, &st, WNOHANG) == pid) {
                        bench.master_pid = 0;
                        fprintf(stderr, "master-api: silo-master exited at startup (see %s)\n", path);
                        return -ECHILD;
                }
                f = fopen(path, "re");
                while (f && fgets(line, sizeof(line), f)) {
                        char *p = strstr(line, "(port ");
                        if (p && sscanf(p, "(port %31[0-9])", port_s) == 1)
                                bench.master_port = (uint16_t)atoi(port_s);
                }
                if (f)
                        fclose(f);
                if (bench.master_port)
                        break;
                usleep(25000);
        }
        if (!bench.master_port)
                return -ETIMEDOUT;
        /* A master on etcd (--master-arg) listens before it leads: registrations wait for it. */
        for (int tries = 0; tries < 400; tries++) {
                _cleanup_free_ char *url = NULL, *err = NULL;
                json_t *j = NULL;
                long status = 0;
                const char *role;
                bool leads;

                if (asprintf(&url, "http://127.0.0.1:%u/health", bench.master_port) < 0)
                        return -ENOMEM;
                (void)http_client_request_sync("GET", url, NULL, NULL, 1000, &status, &j, NULL, &err);
                role = json_string_value(json_object_get(j, "role"));
                leads = status == 200 && (!role || !streq(role, "follower"));
                json_decref(j);
                if (leads)
                        break;
                usleep(25000);
        }
        bench.master_addr = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(bench.master_port),
                                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        return 0;
}

static void master_stop(void)
{
        char cmd[512];

        if (bench.master_pid > 0) {
                kill(bench.master_pid, SIGTERM);
                for (int i = 0; i < 100 && waitpid(bench.master_pid, NULL, WNOHANG) == 0; i++)
                        usleep(50000);
                if (waitpid(bench.master_pid, NULL, WNOHANG) == 0) {
                        kill(bench.master_pid, SIGKILL);
                        waitpid(bench.master_pid, NULL, 0);
                }
        }
        bench.master_pid = 0;
        bench.master_port = 0;
        if (bench.workdir[0] && getenv("KEEP_WORK") == NULL) {
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", bench.workdir);
                if (system(cmd) != 0)
                        fprintf(stderr, "master-api: cannot remove %s\n", bench.workdir);
        }
        bench.workdir[0] = 0;
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

                if (now >= until_ns || bench.interrupted ||
                    (stop_when_registered && bench.registered == bench.n_agents))
                        return;
                if (load) {
                        for (;;) {
                                uint64_t cycle = *hb_next / bench.n_agents, i = *hb_next % bench.n_agents;
                                uint64_t due = t0 + cycle * 1000000000ull + i * 1000000000ull / bench.n_agents;

                                if (due > now)
                                        break;
                                agent_send_heartbeat(i);
                                (*hb_next)++;
                        }
                        while (bench.submit_rate > 0 &&
                               t0 + (uint64_t)((double)*sub_next * 1e9 / bench.submit_rate) <= now) {
                                submit_task();
                                (*sub_next)++;
                        }
                        finish_due(now);
                }
                n = epoll_wait(bench.epfd, evs, ELEMENTSOF(evs), 1);
                for (int k = 0; k < n; k++) {
                        void *p = evs[k].data.ptr;

                        if (p == &bench.tfd) {
                                uint64_t v;
                                (void)!read(bench.tfd, &v, sizeof(v));
                        } else if (p == &bench.http)
                                (void)http_server_run(bench.http);
                        else
                                conn_event(p, evs[k].events);
                }
                (void)http_server_run(bench.http);
        }
}

static void stats_reset(void)
{
        for (int k = 0; k < _REQ_MAX; k++) {
                free(bench.st.lat[k].us);
        }
        free(bench.st.launch.us);
        bench.st = (struct stats){};
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
        s->master = proc_cpu_ticks(bench.master_pid);
}

struct step_result {
        size_t n;
        double cpu_master, cpu_self, cpu_other;   /* % of one core during the measurement */
        double reg_s;
        size_t hb, sub;
        double p50, p99, max, sub_p99;
        uint64_t errors;
        bool pass;
        uint64_t launches, overruns;
        double status_p99;
        double sub_per_s, launch_p50, launch_p99; /* answered submissions; submit -> launch */
        char first_error[256];
};

/* For the median: a run with errors is worse than any without, then by p99. */
static bool run_worse(const struct step_result *a, const struct step_result *b)
{
        if ((a->errors > 0) != (b->errors > 0))
                return a->errors > 0;
        return a->p99 > b->p99;
}

static void step_teardown(void)
{
        for (size_t i = 0; i < bench.n_agents; i++) {
                struct bench_agent *a = &bench.agents[i];

                request_free(a->c.req);
                conn_close(&a->c);
                free(a->c.in);
                free(a->id);
                for (size_t k = 0; k < a->n_tasks; k++)
                        free(a->tasks[k]);
                free(a->tasks);
        }
        free(bench.agents);
        bench.agents = NULL;
        for (size_t i = 0; i < AUX_CONNS; i++) {
                request_free(bench.aux[i].req);
                conn_close(&bench.aux[i]);
                free(bench.aux[i].in);
                bench.aux[i] = (struct conn){ .fd = -1 };
        }
        while (bench.queue_head) {
                struct request *r = bench.queue_head;
                bench.queue_head = r->next;
                request_free(r);
        }
        bench.queue_tail = NULL;
        while (bench.fin_head != bench.fin_tail)
                free(bench.fin[bench.fin_head++ % bench.fin_cap].task_id);
        free(bench.fin);
        bench.fin = NULL;
        http_server_free(bench.http);
        bench.http = NULL;
        if (bench.epfd >= 0)
                close(bench.epfd);
        if (bench.tfd >= 0)
                close(bench.tfd);
        bench.epfd = bench.tfd = -1;
        master_stop();
}

static void profile_master(size_t n, uint64_t t0, uint64_t *hb_next, uint64_t *sub_next)
{
        char data[512], cmd[1024], secs[16];
        pid_t pid;
        int st;

        snprintf(data, sizeof(data), "/tmp/master-api-perf-%zu.data", n);
        snprintf(secs, sizeof(secs), "%u", bench.perf_s);
        pid = fork();
        if (pid == 0) {
                char mp[16];
                int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

                if (fd >= 0) {
                        dup2(fd, 1);
                        dup2(fd, 2);
                }
                snprintf(mp, sizeof(mp), "%d", (int)bench.master_pid);
                execlp("perf", "perf", "record", "-g", "-F", "999", "-o", data, "-p", mp, "--", "sleep", secs,
                       (char *)NULL);
                _exit(127);
        }
        if (pid < 0)
                return;
        loop_run(t0, now_ns() + (uint64_t)bench.perf_s * 1000000000ull + 500000000ull, true, false, hb_next, sub_next);
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
        bench.registered = 0;
        bench.n_agents = n;
        bench.task_seq = bench.update_seq = 0;
        bench.epfd = epoll_create1(EPOLL_CLOEXEC);
        bench.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        if (bench.epfd < 0 || bench.tfd < 0)
                return -errno;
        (void)timerfd_settime(bench.tfd, 0, &its, NULL);
        ev.data.ptr = &bench.tfd;
        (void)epoll_ctl(bench.epfd, EPOLL_CTL_ADD, bench.tfd, &ev);
        bench.fin_cap = 1 << 20;
        bench.fin_head = bench.fin_tail = 0;
        bench.fin = calloc(bench.fin_cap, sizeof(*bench.fin));
        bench.agents = calloc(n, sizeof(*bench.agents));
        if (!bench.fin || !bench.agents)
                return -ENOMEM;

        r = master_start(n);
        if (r < 0)
                return r;
        /* The bench's token also guards the launches the master sends here. */
        hc = (struct http_server_config){ .listen = "127.0.0.1:0", .routes = bench_routes,
                                          .n_routes = bench_n_routes, .token = bench.token };
        r = http_server_new(&hc, &bench.http);
        if (r < 0)
                return r;
        ev.data.ptr = &bench.http;
        (void)epoll_ctl(bench.epfd, EPOLL_CTL_ADD, http_server_get_fd(bench.http), &ev);

        for (size_t i = 0; i < AUX_CONNS; i++) {
                r = conn_open(&bench.aux[i], SIZE_MAX);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < n; i++) {
                bench.agents[i].c.fd = -1;
                snprintf(bench.agents[i].hostname, sizeof(bench.agents[i].hostname), "bench-%zu", i);
                r = conn_open(&bench.agents[i].c, i);
                if (r < 0) {
                        fprintf(stderr, "master-api: connection %zu: %s\n", i, strerror(-r));
                        return r;
                }
        }

        /* Register everyone, each on its own connection, 256 at a time. */
        reg0 = now_ns();
        for (size_t next = 0; bench.registered < n;) {
                size_t in_flight = 0;

                for (size_t i = 0; i < next; i++)
                        in_flight += bench.agents[i].c.busy;
                while (next < n && in_flight < 256) {
                        struct bench_agent *a = &bench.agents[next];
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
                if (bench.interrupted)
                        return -EINTR;
                if (now_ns() - reg0 > 600ull * 1000000000ull || bench.st.errors[REQ_REGISTER] > 0) {
                        fprintf(stderr, "master-api: registration failed: %zu of %zu registered; %s\n", bench.registered,
                                n, bench.st.first_error);
                        return -EIO;
                }
        }
        res->reg_s = (double)(now_ns() - reg0) / 1e9;

        /* Warm up, then measure. */
        t0 = now_ns();
        loop_run(t0, t0 + (uint64_t)bench.warmup_s * 1000000000ull, true, false, &hb_next, &sub_next);
        for (int k = 0; k < _REQ_MAX; k++)
                bench.st.errors[k] = 0;
        bench.st.overruns = 0;
        bench.st.first_error[0] = 0;
        bench.measuring = true;
        {
                struct cpu_sample a, b;
                double ticks_per_s = (double)sysconf(_SC_CLK_TCK), secs;

                cpu_sample_take(&a);
                loop_run(t0, now_ns() + (uint64_t)bench.measure_s * 1000000000ull, true, false, &hb_next, &sub_next);
                cpu_sample_take(&b);
                /* /proc/stat counts every core: busy ticks of all cores over the window. */
                secs = (double)bench.measure_s;
                res->cpu_master = 100.0 * (double)(b.master - a.master) / ticks_per_s / secs;
                res->cpu_self = 100.0 * (double)(b.self - a.self) / ticks_per_s / secs;
                res->cpu_other = 100.0 * (double)(b.busy - a.busy) / ticks_per_s / secs - res->cpu_master -
                                 res->cpu_self;
                if (res->cpu_other < 0)
                        res->cpu_other = 0;
        }
        bench.measuring = false;
        /* Let what was sent in the window come back (counted: it was sent while measuring). */
        bench.measuring = true;
        loop_run(t0, now_ns() + 300000000ull, false, false, NULL, NULL);
        bench.measuring = false;
        for (size_t i = 0; i < n; i++)
                if (bench.agents[i].c.busy && bench.agents[i].c.req && bench.agents[i].c.req->kind == REQ_HEARTBEAT) {
                        bench.st.errors[REQ_HEARTBEAT]++;
                        if (!bench.st.first_error[0])
                                snprintf(bench.st.first_error, sizeof(bench.st.first_error), "heartbeat %s unanswered",
                                         bench.agents[i].hostname);
                }

        {
                struct lat *l = &bench.st.lat[REQ_HEARTBEAT], *s = &bench.st.lat[REQ_SUBMIT];

                qsort(l->us, l->n, sizeof(*l->us), cmp_u32);
                qsort(s->us, s->n, sizeof(*s->us), cmp_u32);
                qsort(bench.st.lat[REQ_STATUS].us, bench.st.lat[REQ_STATUS].n, sizeof(uint32_t), cmp_u32);
                res->hb = l->n;
                res->sub = s->n;
                res->p50 = pct_ms(l, 50);
                res->p99 = pct_ms(l, 99);
                res->max = l->n ? l->us[l->n - 1] / 1000.0 : 0;
                res->sub_p99 = pct_ms(s, 99);
                res->errors = bench.st.errors[REQ_HEARTBEAT] + bench.st.errors[REQ_SUBMIT] + bench.st.errors[REQ_STATUS];
                res->pass = res->errors == 0 && l->n > 0 && res->p99 < bench.p99_goal_ms;
                memcpy(res->first_error, bench.st.first_error, sizeof(res->first_error));
                res->launches = bench.st.launches;
                res->overruns = bench.st.overruns;
                qsort(bench.st.lat[REQ_STATUS].us, bench.st.lat[REQ_STATUS].n, sizeof(uint32_t), cmp_u32);
                res->status_p99 = pct_ms(&bench.st.lat[REQ_STATUS], 99);
                res->sub_per_s = (double)s->n / (double)bench.measure_s;
                qsort(bench.st.launch.us, bench.st.launch.n, sizeof(uint32_t), cmp_u32);
                res->launch_p50 = pct_ms(&bench.st.launch, 50);
                res->launch_p99 = pct_ms(&bench.st.launch, 99);
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

static void on_signal(int sig)
{
        (void)sig;
        bench.interrupted = 1;
}

static void usage(FILE *f)
{
        fprintf(f,
                "usage: master-api [options] SILO-MASTER\n"
                "  --agents N,N,...       agent counts to try (default 1000,2000,5000,10000,15000,19500)\n"
                "  --submit-rate R        task submissions per second (default 100)\n"
                "  --task-lifetime-ms MS  a task runs this long before FINISHED (default 5000)\n"
                "  --warmup S --measure S seconds of warm-up and of measurement per step (3, 10)\n"
                "  --runs R               runs per agent count, the median p99 counts (default 3)\n"
                "  --p99-ms MS            the heartbeat p99 goal (default 10)\n"
                "  --state-parent DIR     where the master's state dir is created (default /var/tmp)\n"
                "  --perf [--perf-seconds S]  profile the master at the first failing step (10 s)\n"
                "  --sched-fifo PRIO      run client and master under SCHED_FIFO (diagnostic, needs root)\n"
                "  --slow-log FILE [--slow-ms MS]  log requests slower than MS (5): send time, kind, ms\n"
                "  --master-arg ARG       one more argument for silo-master (repeat: --master-arg=--store\n"
                "                         --master-arg=etcd ...); tests/bench/master-ha.sh uses it\n");
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
                { "slow-ms", required_argument, NULL, 'T' },      { "runs", required_argument, NULL, 'R' },
                { "master-arg", required_argument, NULL, 'M' },
                {},
        };
        struct step_result results[32];
        size_t n_results = 0, best = 0, max_n = 0, nofile;
        bool profiled = false;
        struct bench_goals goals = { .name = "master-api" };
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        int c;

        bench.state_parent = "/var/tmp";
        bench.submit_rate = 100;
        bench.lifetime_ms = 5000;
        bench.warmup_s = 3;
        bench.measure_s = 10;
        bench.p99_goal_ms = 10;
        bench.perf_s = 10;
        bench.slow_ms = 5;
        bench.runs = 3;
        bench.epfd = bench.tfd = -1;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
                switch (c) {
                case 'a': {
                        char *save = NULL, *tok, *s = strdup(optarg);
                        bench.n_steps = 0;
                        for (tok = strtok_r(s, ",", &save); tok && bench.n_steps < ELEMENTSOF(bench.steps);
                             tok = strtok_r(NULL, ",", &save))
                                bench.steps[bench.n_steps++] = strtoul(tok, NULL, 10);
                        free(s);
                        break;
                }
                case 'r': bench.submit_rate = strtod(optarg, NULL); break;
                case 'l': bench.lifetime_ms = (unsigned)strtoul(optarg, NULL, 10); break;
                case 'w': bench.warmup_s = (unsigned)strtoul(optarg, NULL, 10); break;
                case 'm': bench.measure_s = (unsigned)strtoul(optarg, NULL, 10); break;
                case 'p': bench.p99_goal_ms = strtod(optarg, NULL); break;
                case 's': bench.state_parent = optarg; break;
                case 'P': bench.perf = true; break;
                case 'S': bench.perf_s = (unsigned)strtoul(optarg, NULL, 10); break;
                case 'F': bench.fifo_prio = atoi(optarg); break;
                case 'L':
                        bench.slow_log = fopen(optarg, "we");
                        if (!bench.slow_log) {
                                fprintf(stderr, "master-api: --slow-log %s: %m\n", optarg);
                                return 2;
                        }
                        break;
                case 'T': bench.slow_ms = strtod(optarg, NULL); break;
                case 'R':
                        bench.runs = (unsigned)strtoul(optarg, NULL, 10);
                        if (bench.runs < 1 || bench.runs > RUNS_MAX) {
                                fprintf(stderr, "master-api: --runs %s: expected 1 to %d\n", optarg, RUNS_MAX);
                                return 2;
                        }
                        break;
                case 'M': {
                        char **v = realloc(bench.master_args, (bench.n_master_args + 1) * sizeof(char *));
                        if (!v)
                                return 1;
                        bench.master_args = v;
                        bench.master_args[bench.n_master_args++] = optarg;
                        break;
                }
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 2;
                }
        }
        if (optind + 1 != argc) {
                usage(stderr);
                return 2;
        }
        bench.master_bin = argv[optind];
        if (bench.n_steps == 0) {
                static const size_t def[] = { 1000, 2000, 5000, 10000, 15000, 19500 };
                memcpy(bench.steps, def, sizeof(def));
                bench.n_steps = ELEMENTSOF(def);
        }
        for (size_t i = 0; i < bench.n_steps; i++)
                max_n = MAX(max_n, bench.steps[i]);
        nofile = raise_nofile(max_n + 4096);
        if (nofile < max_n + 256) {
                /* The master, under the same hard limit, could not take them either. */
                size_t k = 0;
                for (size_t i = 0; i < bench.n_steps; i++)
                        if (bench.steps[i] + 256 <= nofile)
                                bench.steps[k++] = bench.steps[i];
                printf("# RLIMIT_NOFILE is %zu here (hard limit; no CAP_SYS_RESOURCE to raise it): agent counts"
                       " above %zu are left out\n", nofile, nofile - 256);
                bench.n_steps = k;
        }
        if (bench.fifo_prio > 0) {
                /* Diagnostic: shows how much of the tail is other processes taking the cores.
                 * Children other than the master (perf, rm) go back to normal scheduling. */
                struct sched_param sp = { .sched_priority = bench.fifo_prio };
                if (sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &sp) < 0) {
                        fprintf(stderr, "master-api: --sched-fifo %d: %m\n", bench.fifo_prio);
                        return 1;
                }
        }
        signal(SIGPIPE, SIG_IGN);
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        srand((unsigned)time(NULL) ^ (unsigned)getpid());

        printf("# silo-master API benchmark: heartbeats once a second per agent + %.0f task submissions/s\n"
               "# (each task launched to the bench, RUNNING at once, FINISHED after %u ms), loopback, keep-alive.\n"
               "# NOTE: the load client and silo-master share this machine's %ld CPU cores; the client's own\n"
               "# CPU time is part of the figures. Measurement %u s per run after %u s warm-up, median of %u runs\n"
               "# per agent count; goal p99 < %g ms.\n",
               bench.submit_rate, bench.lifetime_ms, cores, bench.measure_s, bench.warmup_s, bench.runs,
               bench.p99_goal_ms);
        if (bench.fifo_prio > 0)
                printf("# DIAGNOSTIC RUN: client and master under SCHED_FIFO %d (other processes cannot preempt them)\n",
                       bench.fifo_prio);
        printf("%8s %9s %9s %9s %9s %9s %7s %9s %10s  %s\n", "agents", "reg_s", "hb", "p50_ms", "p99_ms", "max_ms",
               "errors", "submits", "sub_p99ms", "result");
        fflush(stdout);
        for (size_t s = 0; s < bench.n_steps; s++) {
                struct step_result runs[RUNS_MAX], *res;
                size_t n_runs = 0, order[RUNS_MAX];
                bool last = s + 1 == bench.n_steps, broken = false;

                /* Each agent count runs --runs times on a fresh master; the median p99 counts,
                 * since other processes on a shared machine make single runs noisy. */
                for (unsigned k = 0; k < bench.runs; k++) {
                        int r = step_run(bench.steps[s], &runs[k]);

                        if (r < 0 || bench.interrupted) {
                                if (r < 0)
                                        printf("%8zu  setup failed: %s\n", bench.steps[s], strerror(-r));
                                else
                                        printf("# interrupted\n");
                                step_teardown();
                                broken = true;
                                break;
                        }
                        printf("#   run %u: p50 %.2f p99 %.2f max %.2f ms, %" PRIu64 " errors; %" PRIu64
                               " launches, status p99 %.2f ms; CPU (%% of one core): master %.0f, client %.0f, "
                               "other processes %.0f\n",
                               k + 1, runs[k].p50, runs[k].p99, runs[k].max, runs[k].errors, runs[k].launches,
                               runs[k].status_p99, runs[k].cpu_master, runs[k].cpu_self, runs[k].cpu_other);
                        printf("#     submissions answered %.1f/s; submit -> launch received p50 %.2f p99 %.2f ms"
                               " (%zu launches)\n",
                               runs[k].sub_per_s, runs[k].launch_p50, runs[k].launch_p99, bench.st.launch.n);
                        if (runs[k].errors)
                                printf("#     first error: %s (overruns: %" PRIu64 ")\n", runs[k].first_error,
                                       runs[k].overruns);
                        fflush(stdout);
                        order[n_runs++] = k;
                        if (k + 1 < bench.runs)
                                step_teardown();
                }
                if (broken)
                        break;
                /* Median by p99 (a run with errors counts as worst). */
                for (size_t i = 1; i < n_runs; i++)
                        for (size_t j = i; j > 0 && run_worse(&runs[order[j - 1]], &runs[order[j]]); j--) {
                                size_t t = order[j];
                                order[j] = order[j - 1];
                                order[j - 1] = t;
                        }
                res = &results[n_results++];
                *res = runs[order[n_runs / 2]];
                printf("%8zu %9.1f %9zu %9.2f %9.2f %9.2f %7" PRIu64 " %9zu %10.2f  %s\n", res->n, res->reg_s, res->hb,
                       res->p50, res->p99, res->max, res->errors, res->sub, res->sub_p99, res->pass ? "pass" : "FAIL");
                fflush(stdout);
                /* Profile the step that fails first, or the last one when none does: after its
                 * measurement, on the same master and agents (its last run), so perf does not
                 * weigh on the figures. */
                if (bench.perf && !profiled && (!res->pass || last)) {
                        uint64_t t0 = now_ns(), hb = 0, sub = 0;

                        bench.measuring = false;
                        profile_master(res->n, t0, &hb, &sub);
                        profiled = true;
                }
                step_teardown();
                if (res->pass)
                        best = res->n;
                else
                        break;
        }
        printf("# largest agent count with every heartbeat answered and p99 < %g ms: %zu\n",
               bench.p99_goal_ms, best);
        stats_reset();
        if (bench.interrupted)
                return 130;
        if (n_results == 0)
                return 1;
        bench_goal(&goals, "largest agent count with heartbeat p99 in bounds", (double)best, "agents", ">=",
                   10000);
        return bench_done(&goals);
}
