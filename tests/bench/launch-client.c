/* SPDX-License-Identifier: Apache-2.0 */
/* The launch benchmark's client: times silo-agent, crun, launch-floor and bare fork+exec launches of launch-probe, and runs the agent leak check. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/macro.h"

/*
 * Usage (run as root in the VM by tests/bench/launch-vs-crun.sh):
 *
 *   launch-client latency --count N [--warmup W] [--probe PATH] [--floor "LAUNCH-FLOOR ARG..."]
 *                 [--crun PATH --bundle DIR [--crun-root DIR]]
 *                 [--url URL --token-file FILE --silo LABEL=SPEC.json [--silo ...]] [--out DIR]
 *   launch-client leak --count N [--parallel P] --url URL --token-file FILE --spec SPEC.json
 *                 --agent-pid PID --cgroup-tasks DIR --sandboxes DIR
 *
 * What one latency sample is, for every runtime alike: T0 is CLOCK_REALTIME taken by this
 * client immediately before it starts the launch (the fork() that execs the probe or `crun
 * run`; the curl_easy_perform() that connects and sends the POST), T1 is the CLOCK_REALTIME
 * the probe prints as its first action. latency = T1 - T0. The probe's output comes back
 * through the runtime's own output path (a pipe for bare and crun, the task's stdout log
 * read through the agent's API for silo), after T1, so that path is outside the window.
 * Runtimes alternate within each round (order rotated every round) so drift in the guest
 * hits all of them alike.
 */

#define MAX_MODES 8
#define SILO_WAIT_SEC 60

enum mode_kind { MODE_BARE, MODE_FLOOR, MODE_CRUN, MODE_SILO };

#define FLOOR_ARGS_MAX 32

struct mode {
        enum mode_kind kind;
        char label[32];
        json_t *spec;           /* MODE_SILO: the task spec; "id" is set per launch */
        int64_t *samples;       /* ns */
        int64_t *api;           /* MODE_SILO: T0 to the POST's answer, ns */
        size_t n;
};

struct options {
        unsigned count, warmup, parallel;
        const char *probe, *crun, *bundle, *crun_root, *url, *token_file, *out_dir, *spec;
        const char *cgroup_tasks, *sandboxes;
        char *floor_argv[FLOOR_ARGS_MAX + 1];   /* launch-floor and its arguments */
        pid_t agent_pid;
        struct mode modes[MAX_MODES];
        size_t n_modes;
};

struct http {
        CURL *curl;
        struct curl_slist *headers;
        char *url;
        char *body;
        size_t len;
        long status;
};

static int64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_ms(unsigned ms)
{
        struct timespec d = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

        while (nanosleep(&d, &d) < 0 && errno == EINTR)
                ;
}

/* "probe <ns>" anywhere in `out` (the probe writes one line; a runtime may add its own). */
static int probe_output_parse(const char *out, int64_t *ret_ns)
{
        const char *p = out ? strstr(out, "probe ") : NULL;
        char *end;
        long long v;

        if (!p)
                return -ENOMSG;
        errno = 0;
        v = strtoll(p + 6, &end, 10);
        if (errno || end == p + 6 || v <= 0)
                return -EBADMSG;
        *ret_ns = v;
        return 0;
}

/* fork+exec argv with stdout on a pipe; T0 is taken right before fork(). Collects the whole
 * output and the exit status (0 required). */
static int spawn_capture(char *const argv[], int64_t *ret_t0, char **ret_out)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, cap = 0;
        int p[2], status;
        int64_t t0;
        pid_t pid;
        ssize_t n;

        if (pipe2(p, O_CLOEXEC) < 0)
                return negative_errno();
        t0 = now_ns();
        pid = fork();
        if (pid < 0) {
                int r = negative_errno();
                close(p[0]);
                close(p[1]);
                return r;
        }
        if (pid == 0) {
                if (dup2(p[1], STDOUT_FILENO) < 0)
                        _exit(126);
                execv(argv[0], argv);
                _exit(127);
        }
        close(p[1]);
        for (;;) {
                if (cap - len < 4096) {
                        char *nb = realloc(buf, cap + 65536);
                        if (!nb) {
                                close(p[0]);
                                (void)waitpid(pid, NULL, 0);
                                return -ENOMEM;
                        }
                        buf = nb;
                        cap += 65536;
                }
                n = read(p[0], buf + len, cap - len - 1);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t)n;
        }
        close(p[0]);
        buf[len] = '\0';
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return negative_errno();
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "launch-client: %s exited with status 0x%x, output: %s\n", argv[0],
                        status, buf);
                return -EPROTO;
        }
        *ret_t0 = t0;
        *ret_out = TAKE_PTR(buf);
        return 0;
}

/* A launch that is one program run to its end with the probe line on its stdout: the bare
 * probe, or launch-floor (tests/bench/launch-floor.c, the kernel's share of a launch). */
static int launch_argv(char *const argv[], const char *label, int64_t *ret_ns)
{
        _cleanup_free_ char *out = NULL;
        int64_t t0, t1;
        int r;

        r = spawn_capture(argv, &t0, &out);
        if (r < 0)
                return r;
        r = probe_output_parse(out, &t1);
        if (r < 0) {
                fprintf(stderr, "launch-client: %s: no probe line in '%s'\n", label, out);
                return r;
        }
        *ret_ns = t1 - t0;
        return 0;
}

/* `crun run` in the foreground: it creates, starts, waits for and deletes the container, and
 * the container's stdout is crun's, so the probe line arrives on our pipe. */
static int launch_crun(const struct options *o, unsigned seq, int64_t *ret_ns)
{
        char id[32], root_opt[512];
        char *argv[] = {(char *)o->crun, "--cgroup-manager=cgroupfs", root_opt, "run", "--bundle",
                        (char *)o->bundle, id, NULL};
        _cleanup_free_ char *out = NULL;
        int64_t t0, t1;
        int r;

        snprintf(id, sizeof(id), "lb-%u", seq);
        snprintf(root_opt, sizeof(root_opt), "--root=%s", o->crun_root ? o->crun_root : "/run/crun");
        r = spawn_capture(argv, &t0, &out);
        if (r < 0)
                return r;
        r = probe_output_parse(out, &t1);
        if (r < 0) {
                fprintf(stderr, "launch-client: crun %s: no probe line in '%s'\n", id, out);
                return r;
        }
        *ret_ns = t1 - t0;
        return 0;
}

/* ---- silo-agent over HTTP (libcurl) ---- */

static size_t http_write_cb(char *data, size_t size, size_t nmemb, void *userdata)
{
        struct http *h = userdata;
        size_t n = size * nmemb;
        char *nb = realloc(h->body, h->len + n + 1);

        if (!nb)
                return 0;
        memcpy(nb + h->len, data, n);
        h->body = nb;
        h->len += n;
        h->body[h->len] = '\0';
        return n;
}

static int http_init(struct http *h, const char *url, const char *token_file)
{
        _cleanup_free_ char *token = NULL, *auth = NULL;
        size_t cap = 0;
        ssize_t n;
        FILE *f;

        f = fopen(token_file, "re");
        if (!f) {
                fprintf(stderr, "launch-client: --token-file %s: %m\n", token_file);
                return negative_errno();
        }
        n = getline(&token, &cap, f);
        fclose(f);
        if (n <= 0) {
                fprintf(stderr, "launch-client: --token-file %s is empty\n", token_file);
                return -EINVAL;
        }
        token[strcspn(token, "\r\n")] = '\0';
        if (asprintf(&auth, "Authorization: Bearer %s", token) < 0)
                return -ENOMEM;
        *h = (struct http){.curl = curl_easy_init()};
        h->headers = curl_slist_append(NULL, auth);
        h->headers = curl_slist_append(h->headers, "Content-Type: application/json");
        h->url = strdup(url);
        if (!h->curl || !h->headers || !h->url)
                return -ENOMEM;
        return 0;
}

static void http_done(struct http *h)
{
        if (h->curl)
                curl_easy_cleanup(h->curl);
        curl_slist_free_all(h->headers);
        free(h->url);
        free(h->body);
        *h = (struct http){};
}

/* One request; the body lands in h->body, the status in h->status. With `fresh` the request
 * opens its own connection, as a client that launches once would. */
static int http_call(struct http *h, const char *method, const char *path, const char *body,
                     bool fresh, int64_t *ret_t0)
{
        char url[1024];
        CURLcode c;

        snprintf(url, sizeof(url), "%s%s", h->url, path);
        free(h->body);
        h->body = NULL;
        h->len = 0;
        h->status = 0;
        curl_easy_reset(h->curl);
        curl_easy_setopt(h->curl, CURLOPT_URL, url);
        curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->headers);
        curl_easy_setopt(h->curl, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, http_write_cb);
        curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, h);
        curl_easy_setopt(h->curl, CURLOPT_TIMEOUT, (long)SILO_WAIT_SEC);
        curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
        if (body) {
                curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
                curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        }
        if (fresh) {
                /* Its own connection, closed after the answer: no idle socket of ours is
                 * left in the agent to blur its fd count. */
                curl_easy_setopt(h->curl, CURLOPT_FRESH_CONNECT, 1L);
                curl_easy_setopt(h->curl, CURLOPT_FORBID_REUSE, 1L);
        }
        if (ret_t0)
                *ret_t0 = now_ns();
        c = curl_easy_perform(h->curl);
        if (c != CURLE_OK) {
                fprintf(stderr, "launch-client: %s %s: %s\n", method, url, curl_easy_strerror(c));
                return -EIO;
        }
        curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &h->status);
        return 0;
}

static bool state_is_terminal(const char *s)
{
        return s && (streq(s, "FINISHED") || streq(s, "FAILED") || streq(s, "KILLED") || streq(s, "LOST"));
}

/* GET /api/v1/tasks/ID; *ret_state gets a copy of "state" (NULL when unreadable). */
static int silo_task_state(struct http *h, const char *id, char **ret_state)
{
        char path[256];
        json_t *j;
        int r;

        snprintf(path, sizeof(path), "/api/v1/tasks/%s", id);
        r = http_call(h, "GET", path, NULL, false, NULL);
        if (r < 0)
                return r;
        if (h->status != 200) {
                fprintf(stderr, "launch-client: GET %s: HTTP %ld: %s\n", path, h->status, strempty(h->body));
                return -EPROTO;
        }
        j = json_loads(h->body, 0, NULL);
        *ret_state = j && json_is_string(json_object_get(j, "state"))
                             ? strdup(json_string_value(json_object_get(j, "state")))
                             : NULL;
        json_decref(j);
        return *ret_state ? 0 : -EBADMSG;
}

/* Poll until the task is terminal; FINISHED is required. Polling only starts after the probe
 * has run, so it never competes with a launch being measured. */
static int silo_task_wait_finished(struct http *h, const char *id)
{
        int64_t deadline = now_ns() + (int64_t)SILO_WAIT_SEC * 1000000000LL;

        while (now_ns() < deadline) {
                _cleanup_free_ char *state = NULL;
                int r = silo_task_state(h, id, &state);

                if (r < 0)
                        return r;
                if (state_is_terminal(state)) {
                        if (streq(state, "FINISHED"))
                                return 0;
                        fprintf(stderr, "launch-client: task %s ended %s: %s\n", id, state, h->body);
                        return -EPROTO;
                }
                sleep_ms(2);
        }
        fprintf(stderr, "launch-client: task %s not finished after %d s\n", id, SILO_WAIT_SEC);
        return -ETIMEDOUT;
}

static int silo_launch_send(struct http *h, json_t *spec, const char *id, int64_t *ret_t0)
{
        _cleanup_free_ char *body = NULL;
        int r;

        /* The body is ready before T0: serialising it is the client's business, not a launch. */
        if (json_object_set_new(spec, "id", json_string(id)) < 0 || json_object_set_new(spec, "name", json_string(id)) < 0)
                return -ENOMEM;
        body = json_dumps(spec, JSON_COMPACT);
        if (!body)
                return -ENOMEM;
        r = http_call(h, "POST", "/api/v1/tasks", body, true, ret_t0);
        if (r < 0)
                return r;
        if (h->status != 201) {
                fprintf(stderr, "launch-client: POST /api/v1/tasks (%s): HTTP %ld: %s\n", id, h->status,
                        strempty(h->body));
                return -EPROTO;
        }
        return 0;
}

/* Sleep until `name` appears in `dir` (created or renamed into it), at most timeout_ms. */
static int file_wait(const char *dir, const char *name, int timeout_ms)
{
        _cleanup_close_ int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000LL;
        char path[1024];

        if (fd < 0)
                return negative_errno();
        if (inotify_add_watch(fd, dir, IN_CREATE | IN_MOVED_TO) < 0)
                return negative_errno();
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        /* Checked after the watch exists, so an appearance in between is not missed. */
        while (access(path, F_OK) < 0) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                char buf[4096];
                int64_t left = deadline - now_ns();

                if (left <= 0)
                        return -ETIMEDOUT;
                if (poll(&p, 1, (int)(left / 1000000 + 1)) < 0 && errno != EINTR)
                        return negative_errno();
                while (read(fd, buf, sizeof(buf)) > 0)
                        ;
        }
        return 0;
}

static int launch_silo(struct http *h, json_t *spec, const char *id, int64_t *ret_ns,
                       int64_t *ret_api_ns)
{
        _cleanup_free_ char *sandbox = NULL;
        char path[256];
        int64_t t0, t1, t_answer;
        json_t *j;
        int r;

        r = silo_launch_send(h, spec, id, &t0);
        if (r < 0)
                return r;
        t_answer = now_ns();
        j = json_loads(h->body, 0, NULL);
        if (j && json_is_string(json_object_get(j, "sandbox")))
                sandbox = strdup(json_string_value(json_object_get(j, "sandbox")));
        json_decref(j);
        if (!sandbox) {
                fprintf(stderr, "launch-client: task %s: no sandbox in the launch answer: %s\n", id, h->body);
                return -EBADMSG;
        }
        /* Wait for the shim's exit record without a word to the agent: the client sleeps, as
         * it does in read() on crun's pipe, instead of sending requests to the agent while the
         * launch it measures is under way. The stdout log is then read through the API. */
        r = file_wait(sandbox, "exit.json", SILO_WAIT_SEC * 1000);
        if (r < 0) {
                fprintf(stderr, "launch-client: task %s: no %s/exit.json: %s\n", id, sandbox, strerror(-r));
                return r;
        }
        r = silo_task_wait_finished(h, id);
        if (r < 0)
                return r;
        snprintf(path, sizeof(path), "/api/v1/tasks/%s/logs?stream=stdout&offset=0", id);
        r = http_call(h, "GET", path, NULL, false, NULL);
        if (r < 0)
                return r;
        if (h->status != 200) {
                fprintf(stderr, "launch-client: GET %s: HTTP %ld\n", path, h->status);
                return -EPROTO;
        }
        r = probe_output_parse(h->body, &t1);
        if (r < 0) {
                fprintf(stderr, "launch-client: task %s: no probe line in its stdout '%s'\n", id, strempty(h->body));
                return r;
        }
        *ret_ns = t1 - t0;
        *ret_api_ns = t_answer - t0;
        return 0;
}

/* ---- statistics ---- */

static int cmp_i64(const void *a, const void *b)
{
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

        return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted samples. */
static int64_t percentile(const int64_t *s, size_t n, double pct)
{
        size_t rank = (size_t)((pct / 100.0) * (double)n + 0.999999);

        if (rank < 1)
                rank = 1;
        if (rank > n)
                rank = n;
        return s[rank - 1];
}

static void mode_report(const struct mode *m, const char *out_dir)
{
        int64_t sum = 0;

        qsort(m->samples, m->n, sizeof(int64_t), cmp_i64);
        for (size_t i = 0; i < m->n; i++)
                sum += m->samples[i];
        printf("RESULT %s n=%zu p50_us=%.1f p99_us=%.1f mean_us=%.1f min_us=%.1f max_us=%.1f", m->label,
               m->n, percentile(m->samples, m->n, 50) / 1e3, percentile(m->samples, m->n, 99) / 1e3,
               (double)sum / (double)m->n / 1e3, m->samples[0] / 1e3, m->samples[m->n - 1] / 1e3);
        if (m->kind == MODE_SILO) {
                /* How much of the launch the agent spends before it answers the POST (cgroup,
                 * sandbox, checkpoint, shim spawned); the rest is the shim and the container
                 * setup up to the probe's execve. */
                qsort(m->api, m->n, sizeof(int64_t), cmp_i64);
                printf(" answer_p50_us=%.1f answer_p99_us=%.1f", percentile(m->api, m->n, 50) / 1e3,
                       percentile(m->api, m->n, 99) / 1e3);
        }
        putchar('\n');
        if (out_dir) {
                char p[1024];
                FILE *f;

                snprintf(p, sizeof(p), "%s/%s.ns", out_dir, m->label);
                f = fopen(p, "we");
                if (f) {
                        for (size_t i = 0; i < m->n; i++)
                                fprintf(f, "%" PRId64 "\n", m->samples[i]);
                        fclose(f);
                }
        }
}

static int run_latency(struct options *o)
{
        struct http h = {};
        unsigned total = o->warmup + o->count;
        bool need_http = false;
        int r = 0;

        for (size_t k = 0; k < o->n_modes; k++) {
                o->modes[k].samples = calloc(o->count, sizeof(int64_t));
                o->modes[k].api = calloc(o->count, sizeof(int64_t));
                if (!o->modes[k].samples || !o->modes[k].api)
                        return -ENOMEM;
                need_http |= o->modes[k].kind == MODE_SILO;
        }
        if (need_http) {
                r = http_init(&h, o->url, o->token_file);
                if (r < 0)
                        goto out;
        }
        for (unsigned i = 0; i < total; i++) {
                for (size_t j = 0; j < o->n_modes; j++) {
                        /* Rotate the order every round: no runtime always follows another. */
                        struct mode *m = &o->modes[(i + j) % o->n_modes];
                        char id[64];
                        int64_t ns = 0, api = 0;

                        switch (m->kind) {
                        case MODE_BARE: {
                                char *argv[] = {(char *)o->probe, NULL};

                                r = launch_argv(argv, "bare", &ns);
                                break;
                        }
                        case MODE_FLOOR:
                                r = launch_argv(o->floor_argv, "floor", &ns);
                                break;
                        case MODE_CRUN:
                                r = launch_crun(o, i, &ns);
                                break;
                        case MODE_SILO:
                                snprintf(id, sizeof(id), "lb-%s-%u", m->label, i);
                                r = launch_silo(&h, m->spec, id, &ns, &api);
                                break;
                        }
                        if (r < 0) {
                                fprintf(stderr, "launch-client: %s launch %u failed: %s\n", m->label, i, strerror(-r));
                                goto out;
                        }
                        if (ns <= 0) {
                                fprintf(stderr, "launch-client: %s launch %u: probe time before T0 (%" PRId64 " ns)\n",
                                        m->label, i, ns);
                                r = -ERANGE;
                                goto out;
                        }
                        if (i >= o->warmup) {
                                m->api[m->n] = api;
                                m->samples[m->n++] = ns;
                        }
                }
        }
        for (size_t k = 0; k < o->n_modes; k++)
                mode_report(&o->modes[k], o->out_dir);
out:
        http_done(&h);
        return r;
}

/* ---- leak run ---- */

/* A "<key>: N kB" line of /proc/PID/status (VmRSS, RssAnon, RssFile), -1 if unreadable. */
static long proc_status_kib(pid_t pid, const char *key)
{
        char p[64], line[256];
        size_t klen = strlen(key);
        long kib = -1;
        FILE *f;

        snprintf(p, sizeof(p), "/proc/%d/status", (int)pid);
        f = fopen(p, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, key, klen) == 0 && line[klen] == ':' &&
                    sscanf(line + klen + 1, "%ld kB", &kib) == 1)
                        break;
        fclose(f);
        return kib;
}

static long proc_vmrss_kib(pid_t pid)
{
        return proc_status_kib(pid, "VmRSS");
}

/* Entries of `dir` (fds of /proc/PID/fd, or sub-directories of a cgroup or sandbox dir). */
static long dir_count(const char *dir, bool dirs_only)
{
        _cleanup_closedir_ DIR *d = opendir(dir);
        struct dirent *de;
        long n = 0;

        if (!d)
                return -1;
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..") &&
                    (!dirs_only || de->d_type == DT_DIR))
                        n++;
        return n;
}

/* State and parent of /proc/<pid>; 0, or -1 when it is gone. */
static int proc_state(const char *pid, char *ret_state, int *ret_ppid)
{
        char p[300], buf[512];
        const char *q;
        FILE *f;
        int r = -1;

        snprintf(p, sizeof(p), "/proc/%s/stat", pid);
        f = fopen(p, "re");
        if (!f)
                return -1;
        if (fgets(buf, sizeof(buf), f) && (q = strrchr(buf, ')')) && sscanf(q + 2, "%c %d", ret_state, ret_ppid) == 2)
                r = 0;
        fclose(f);
        return r;
}

/* Zombies the agent leaves: its children it has not reaped, and the children of its children
 * (the shims, which its shim server reaps) that nobody reaped. */
static long zombie_children(pid_t agent)
{
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        pid_t kids[64];
        size_t n_kids = 0;
        long n = 0;

        for (int pass = 0; pass < 2; pass++) {
                d = opendir("/proc");
                if (!d)
                        return -1;
                while ((de = readdir(d))) {
                        char state;
                        int ppid;
                        bool ours;

                        if (de->d_name[0] < '0' || de->d_name[0] > '9' || proc_state(de->d_name, &state, &ppid) < 0)
                                continue;
                        if (pass == 0) {
                                if (ppid == agent && state != 'Z' && n_kids < ELEMENTSOF(kids))
                                        kids[n_kids++] = atoi(de->d_name);
                                continue;
                        }
                        ours = ppid == agent;
                        for (size_t i = 0; i < n_kids && !ours; i++)
                                ours = ppid == kids[i];
                        n += ours && state == 'Z';
                }
                closedir(TAKE_PTR(d));
        }
        return n;
}

static int run_leak(const struct options *o)
{
        char fddir[64], (*inflight)[64] = NULL;
        size_t n_inflight = 0;
        unsigned launched = 0, finished = 0, step = o->count >= 10 ? o->count / 10 : 1;
        long rss0, rss, rss_max, rss_at[11] = {}, fds_at[11] = {}, fds0, fds1, cg_left = -1, zombies;
        struct http h = {};
        json_t *spec;
        int64_t t_start;
        double wall;
        int r;

        spec = json_load_file(o->spec, 0, NULL);
        if (!spec) {
                fprintf(stderr, "launch-client: --spec %s is not a JSON file\n", o->spec);
                return -EINVAL;
        }
        inflight = calloc(o->parallel, sizeof(*inflight));
        if (!inflight) {
                json_decref(spec);
                return -ENOMEM;
        }
        r = http_init(&h, o->url, o->token_file);
        if (r < 0)
                goto out;
        snprintf(fddir, sizeof(fddir), "/proc/%d/fd", (int)o->agent_pid);
        fds0 = dir_count(fddir, false);
        rss0 = rss_max = proc_vmrss_kib(o->agent_pid);
        printf("LEAK start_rss_anon_kib=%ld start_rss_file_kib=%ld\n", proc_status_kib(o->agent_pid, "RssAnon"),
               proc_status_kib(o->agent_pid, "RssFile"));
        rss_at[0] = rss0;
        fds_at[0] = fds0;
        if (fds0 < 0 || rss0 < 0) {
                fprintf(stderr, "launch-client: --agent-pid %d: no such process\n", (int)o->agent_pid);
                r = -ESRCH;
                goto out;
        }
        t_start = now_ns();
        while (finished < o->count) {
                while (launched < o->count && n_inflight < o->parallel) {
                        snprintf(inflight[n_inflight], sizeof(inflight[0]), "leak-%u", launched);
                        r = silo_launch_send(&h, spec, inflight[n_inflight], NULL);
                        if (r < 0)
                                goto out;
                        n_inflight++;
                        launched++;
                }
                for (size_t i = 0; i < n_inflight;) {
                        _cleanup_free_ char *state = NULL;

                        r = silo_task_state(&h, inflight[i], &state);
                        if (r < 0)
                                goto out;
                        if (!state_is_terminal(state)) {
                                i++;
                                continue;
                        }
                        if (!streq(state, "FINISHED")) {
                                fprintf(stderr, "launch-client: task %s ended %s: %s\n", inflight[i], state, h.body);
                                r = -EPROTO;
                                goto out;
                        }
                        memmove(inflight[i], inflight[n_inflight - 1], sizeof(inflight[0]));
                        n_inflight--;
                        finished++;
                        rss = proc_vmrss_kib(o->agent_pid);
                        if (rss < 0) {
                                fprintf(stderr, "launch-client: the agent (pid %d) is gone after %u tasks\n",
                                        (int)o->agent_pid, finished);
                                r = -ESRCH;
                                goto out;
                        }
                        rss_max = MAX(rss_max, rss);
                        if (finished % step == 0 && finished / step <= 10) {
                                rss_at[finished / step] = rss;
                                fds_at[finished / step] = dir_count(fddir, false);
                        }
                }
                sleep_ms(2);
        }
        wall = (double)(now_ns() - t_start) / 1e9;
        printf("LEAK tasks=%u parallel=%u finished=%u wall_s=%.2f tasks_per_s=%.2f\n", o->count, o->parallel,
               finished, wall, finished / wall);
        /* Our kept-alive connection is one of the agent's fds: close it before counting. */
        http_done(&h);

        /* Ended tasks' cgroups go at the end or with the housekeeping timer (5 s): give it
         * three rounds before calling what remains a leak. */
        for (int i = 0; i < 160; i++) {
                cg_left = dir_count(o->cgroup_tasks, true);
                if (cg_left == 0)
                        break;
                sleep_ms(100);
        }
        /* The agent closes its side of our connection when it sees the EOF: give it up to
         * 3 s, so what remains is held, not merely not yet noticed. */
        for (int i = 0; i < 30; i++) {
                fds1 = dir_count(fddir, false);
                if (fds1 <= fds0)
                        break;
                sleep_ms(100);
        }
        rss = proc_vmrss_kib(o->agent_pid);
        zombies = zombie_children(o->agent_pid);
        printf("LEAK rss_kib_start=%ld rss_kib_max=%ld rss_kib_end=%ld\n", rss0, rss_max, rss);
        printf("LEAK end_rss_anon_kib=%ld end_rss_file_kib=%ld\n", proc_status_kib(o->agent_pid, "RssAnon"),
               proc_status_kib(o->agent_pid, "RssFile"));
        printf("LEAK rss_kib_by_decile=");
        for (int i = 0; i <= 10; i++)
                printf("%ld%s", rss_at[i], i < 10 ? "," : "\n");
        printf("LEAK fds_before=%ld fds_after=%ld\n", fds0, fds1);
        printf("LEAK fds_by_decile=");
        for (int i = 0; i <= 10; i++)
                printf("%ld%s", fds_at[i], i < 10 ? "," : "\n");
        printf("LEAK cgroups_left=%ld (%s)\n", cg_left, o->cgroup_tasks);
        printf("LEAK sandboxes_left=%ld (%s)\n", dir_count(o->sandboxes, true), o->sandboxes);
        printf("LEAK zombie_children=%ld\n", zombies);
        r = 0;
out:
        http_done(&h);
        free(inflight);
        json_decref(spec);
        return r;
}

/* ---- options ---- */

static int mode_add(struct options *o, enum mode_kind kind, const char *label, const char *spec_file)
{
        struct mode *m;

        if (o->n_modes >= MAX_MODES) {
                fprintf(stderr, "launch-client: at most %d runtimes\n", MAX_MODES);
                return -E2BIG;
        }
        m = &o->modes[o->n_modes];
        *m = (struct mode){.kind = kind};
        snprintf(m->label, sizeof(m->label), "%s", label);
        if (spec_file) {
                json_error_t e;

                m->spec = json_load_file(spec_file, 0, &e);
                if (!json_is_object(m->spec)) {
                        fprintf(stderr, "launch-client: --silo %s=%s: %s (line %d)\n", label, spec_file,
                                m->spec ? "not a JSON object" : e.text, e.line);
                        return -EINVAL;
                }
        }
        o->n_modes++;
        return 0;
}

static int parse_uint(const char *opt, const char *s, unsigned *ret)
{
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || !*s || *end || *s == '-' || v == 0 || v > 1000000) {
                fprintf(stderr, "launch-client: %s: '%s' is not a count between 1 and 1000000\n", opt, s);
                return -EINVAL;
        }
        *ret = (unsigned)v;
        return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
        static const struct option longopts[] = {
                {"count", required_argument, NULL, 'n'},   {"warmup", required_argument, NULL, 'w'},
                {"parallel", required_argument, NULL, 'P'}, {"probe", required_argument, NULL, 'p'},
                {"crun", required_argument, NULL, 'c'},    {"bundle", required_argument, NULL, 'b'},
                {"crun-root", required_argument, NULL, 'R'}, {"url", required_argument, NULL, 'u'},
                {"token-file", required_argument, NULL, 't'}, {"silo", required_argument, NULL, 's'},
                {"spec", required_argument, NULL, 'S'},    {"out", required_argument, NULL, 'o'},
                {"agent-pid", required_argument, NULL, 'a'}, {"cgroup-tasks", required_argument, NULL, 'g'},
                {"sandboxes", required_argument, NULL, 'x'}, {"floor", required_argument, NULL, 'f'}, {}};
        unsigned pid;
        char *eq;
        int c, r;

        o->warmup = 5;
        o->parallel = 4;
        while ((c = getopt_long(argc, argv, "", longopts, NULL)) >= 0) {
                switch (c) {
                case 'n':
                        if ((r = parse_uint("--count", optarg, &o->count)) < 0)
                                return r;
                        break;
                case 'w':
                        if (streq(optarg, "0"))
                                o->warmup = 0;
                        else if ((r = parse_uint("--warmup", optarg, &o->warmup)) < 0)
                                return r;
                        break;
                case 'P':
                        if ((r = parse_uint("--parallel", optarg, &o->parallel)) < 0)
                                return r;
                        break;
                case 'p': o->probe = optarg; break;
                case 'f': {
                        /* One string, split at spaces: the benchmark's paths have none. */
                        size_t n = 0;

                        for (char *w = strtok(optarg, " "); w; w = strtok(NULL, " ")) {
                                if (n >= FLOOR_ARGS_MAX) {
                                        fprintf(stderr, "launch-client: --floor: more than %d words\n", FLOOR_ARGS_MAX);
                                        return -E2BIG;
                                }
                                o->floor_argv[n++] = w;
                        }
                        o->floor_argv[n] = NULL;
                        if (n == 0) {
                                fprintf(stderr, "launch-client: --floor: empty command\n");
                                return -EINVAL;
                        }
                        break;
                }
                case 'c': o->crun = optarg; break;
                case 'b': o->bundle = optarg; break;
                case 'R': o->crun_root = optarg; break;
                case 'u': o->url = optarg; break;
                case 't': o->token_file = optarg; break;
                case 'S': o->spec = optarg; break;
                case 'o': o->out_dir = optarg; break;
                case 'g': o->cgroup_tasks = optarg; break;
                case 'x': o->sandboxes = optarg; break;
                case 'a':
                        if ((r = parse_uint("--agent-pid", optarg, &pid)) < 0)
                                return r;
                        o->agent_pid = (pid_t)pid;
                        break;
                case 's':
                        eq = strchr(optarg, '=');
                        if (!eq || eq == optarg || !eq[1]) {
                                fprintf(stderr, "launch-client: --silo '%s': want LABEL=SPEC.json\n", optarg);
                                return -EINVAL;
                        }
                        *eq = '\0';
                        if ((r = mode_add(o, MODE_SILO, optarg, eq + 1)) < 0)
                                return r;
                        break;
                default:
                        return -EINVAL;
                }
        }
        return 0;
}

int main(int argc, char **argv)
{
        struct options o = {};
        const char *cmd = argc > 1 ? argv[1] : "";
        int r;

        if (!streq(cmd, "latency") && !streq(cmd, "leak")) {
                fprintf(stderr, "usage: launch-client latency|leak OPTIONS (see the top of launch-client.c)\n");
                return 2;
        }
        if (parse_args(argc - 1, argv + 1, &o) < 0)
                return 2;
        if (!o.count) {
                fprintf(stderr, "launch-client: --count is required\n");
                return 2;
        }
        curl_global_init(CURL_GLOBAL_DEFAULT);
        if (streq(cmd, "latency")) {
                /* bare and crun come first in the table; silo modes keep their order. */
                struct mode silo[MAX_MODES];
                size_t n_silo = o.n_modes;

                memcpy(silo, o.modes, sizeof(silo));
                o.n_modes = 0;
                if (o.probe && (r = mode_add(&o, MODE_BARE, "bare", NULL)) < 0)
                        return 2;
                if (o.floor_argv[0] && (r = mode_add(&o, MODE_FLOOR, "floor", NULL)) < 0)
                        return 2;
                if (o.crun && o.bundle && (r = mode_add(&o, MODE_CRUN, "crun", NULL)) < 0)
                        return 2;
                for (size_t i = 0; i < n_silo && o.n_modes < MAX_MODES; i++)
                        o.modes[o.n_modes++] = silo[i];
                if (o.n_modes == 0) {
                        fprintf(stderr, "launch-client: nothing to launch (--probe, --crun with --bundle, --silo)\n");
                        return 2;
                }
                if (n_silo && (!o.url || !o.token_file)) {
                        fprintf(stderr, "launch-client: --silo needs --url and --token-file\n");
                        return 2;
                }
                r = run_latency(&o);
        } else {
                if (!o.url || !o.token_file || !o.spec || !o.agent_pid || !o.cgroup_tasks || !o.sandboxes) {
                        fprintf(stderr, "launch-client: leak needs --url --token-file --spec --agent-pid --cgroup-tasks --sandboxes\n");
                        return 2;
                }
                r = run_leak(&o);
        }
        for (size_t k = 0; k < o.n_modes; k++) {
                free(o.modes[k].samples);
                free(o.modes[k].api);
                json_decref(o.modes[k].spec);
        }
        curl_global_cleanup();
        return r < 0 ? 1 : 0;
}
