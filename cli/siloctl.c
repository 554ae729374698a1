/* SPDX-License-Identifier: Apache-2.0 */
/* siloctl: the operator's CLI for a Silo master or agent (tasks, agents, devices, isolation,
 * logs, top, events). Parsing is cli/ctl-args.c, output cli/ctl-render.c; this file talks to the
 * daemons, every call through libsilo (include/silo/client.h), the client frameworks use too. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "cli/ctl-args.h"
#include "cli/ctl-render.h"
#include "cli/ctl-tls.h"
#include "common/auth.h"
#include "common/clock.h"
#include "common/fileio.h"
#include "common/id.h"
#include "common/json-util.h"
#include "common/macro.h"
#include "common/tls.h"
#include "silo/client.h"

#define DEFAULT_MASTER "http://127.0.0.1:5050"
#define DEFAULT_AGENT "http://127.0.0.1:5051"
#define REQUEST_TIMEOUT_MS 30000
/* Longer than the agent's 30 s log long poll, so it answers before we give up. */
#define FOLLOW_TIMEOUT_MS 45000
/* `events` bridges a master restart (or a failover to another master) of up to this long. */
#define EVENTS_RECONNECT_MS 60000

struct ctl {
        struct ctl_args args;
        const char *master;
        const char *agent; /* NULL: through the master */
        char *agent_url;   /* --agent as a whole URL (http:// added) */
        silo_client *client;
        struct ctl_view view;
        struct tls_files tls; /* --ca/--cert/--key, $SILO_CA..., root's defaults; cert NULL: off */
        bool quiet; /* top's screen: errors go to *err, not stderr */
        char *err;
};

typedef void (*render_fn)(FILE *f, const json_t *v, const struct ctl_view *view);

_printf_(3, 4) static int fail(struct ctl *ctl, int code, const char *fmt, ...)
{
        va_list ap;
        char *m = NULL;

        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);
        if (ctl->quiet) {
                free(ctl->err);
                ctl->err = m;
        } else {
                fprintf(stderr, "siloctl: %s\n", m ? m : "out of memory");
                free(m);
        }
        return code;
}

/* The cluster token: --token-file, else $SILO_TOKEN_FILE, else the state directory of the daemon
 * the user addressed: /var/lib/silo/agent/token with --agent, else the master's, which is the
 * cluster token every agent is given (README: Install) — also for the calls that go on to an
 * agent (logs, inspect, top). A file named by the user must be there and readable; the default
 * one may be missing (the request goes without a token: fine for /health). */
static int token_load(struct ctl *ctl, char **ret_token)
{
        const char *f = ctl->args.token_file ? ctl->args.token_file : getenv("SILO_TOKEN_FILE");
        bool given = f && *f;
        _cleanup_free_ char *err = NULL;
        int r;

        *ret_token = NULL;
        if (!given)
                f = ctl->agent ? "/var/lib/silo/agent/token" : "/var/lib/silo/master/token";
        if (!given && access(f, F_OK) < 0 && errno == ENOENT)
                return 0;
        r = auth_token_load(f, NULL, ret_token, NULL, &err);
        if (r < 0)
                return fail(ctl, CTL_EXIT_AUTH, "%s (the token file from %s)", err ? err : strerror(-r),
                            ctl->args.token_file ? "--token-file" : given ? "$SILO_TOKEN_FILE" : "the default path");
        return 0;
}

/* The client of the masters in --master's list, made at the first call (the token is read
 * then, so --help needs none). Agent calls go through it too, as whole URLs. */
static int ctl_client(struct ctl *ctl, silo_client **ret)
{
        _cleanup_free_ char *token = NULL, *err = NULL;
        struct silo_client_options o = {.timeout_ms = REQUEST_TIMEOUT_MS, .no_default_token = true};
        int r;

        if (!ctl->client) {
                r = token_load(ctl, &token);
                if (r)
                        return r;
                o.token = token;
                r = silo_client_new(ctl->master, &o, &ctl->client, &err);
                if (r < 0)
                        return fail(ctl, r == -ENOMEM ? CTL_EXIT_FAILURE : CTL_EXIT_USAGE, "--master: %s",
                                    err ? err : strerror(-r));
                if (ctl->tls.cert) {
                        r = silo_client_set_tls(ctl->client, ctl->tls.ca, ctl->tls.cert, ctl->tls.key, &err);
                        if (r < 0)
                                return fail(ctl, CTL_EXIT_AUTH, "TLS: %s", err ? err : strerror(-r));
                }
        }
        *ret = ctl->client;
        return 0;
}

/* The exit code for a libsilo error that came without an HTTP status at hand. */
static int exit_code_of_errno(int r)
{
        switch (r) {
        case -EACCES:
        case -EPERM:
                return CTL_EXIT_AUTH;
        case -ENOENT:
                return CTL_EXIT_NOT_FOUND;
        case -EINVAL:
                return CTL_EXIT_USAGE;
        default:
                return CTL_EXIT_FAILURE;
        }
}

/* One request; returns 0 and the body on 2xx, else an exit code (the error said). base is
 * ctl->master (the masters, by path: libsilo fails over and follows redirects) or an agent's URL.
 * ret_text (may be NULL) gets the body's bytes, for what is not JSON. */
static int call_ex(struct ctl *ctl, const char *base, bool agent, const char *method, const char *path,
                   const json_t *in, unsigned timeout_ms, json_t **ret_body, char **ret_text)
{
        _cleanup_free_ char *url = NULL, *err = NULL;
        struct silo_client_response resp = {};
        silo_client *client;
        const json_t *e;
        int r;

        r = ctl_client(ctl, &client);
        if (r)
                return r;
        if (base != ctl->master && asprintf(&url, "%s%s", base, path) < 0)
                return CTL_EXIT_FAILURE;
        r = silo_client_request(client, method, url ? url : path, in, timeout_ms, &resp, &err);
        if (r == -EPERM && resp.status == 0) {
                /* The peer's certificate was refused (not the daemon expected): it is running. */
                silo_client_response_clear(&resp);
                return fail(ctl, CTL_EXIT_AUTH, "%s", err ? err : strerror(-r));
        }
        if (r < 0 && resp.status == 0) {
                silo_client_response_clear(&resp);
                return fail(ctl, CTL_EXIT_FAILURE, "%s (is the %s running?)", err ? err : strerror(-r),
                            agent ? "agent" : "master");
        }
        if (r < 0) {
                e = json_object_get(resp.json, "error");
                r = ctl_exit_code_of_status(resp.status);
                if (json_string_value(json_object_get(e, "message")))
                        r = fail(ctl, r, "%s %s: %ld %s: %s", method, resp.url, resp.status,
                                 json_string_value(json_object_get(e, "code")) ?: "error",
                                 json_string_value(json_object_get(e, "message")));
                else
                        r = fail(ctl, r, "%s %s: HTTP %ld", method, resp.url, resp.status);
                silo_client_response_clear(&resp);
                return r;
        }
        *ret_body = TAKE_PTR(resp.json);
        if (ret_text)
                *ret_text = TAKE_PTR(resp.text);
        silo_client_response_clear(&resp);
        return 0;
}

static bool use_agent(const struct ctl *ctl)
{
        return ctl->agent != NULL;
}

static int call(struct ctl *ctl, bool agent, const char *method, const char *path, const json_t *in,
                json_t **ret_body)
{
        return call_ex(ctl, agent ? ctl->agent : ctl->master, agent, method, path, in, REQUEST_TIMEOUT_MS,
                       ret_body, NULL);
}

static int print_result(struct ctl *ctl, json_t *body, render_fn render)
{
        if (ctl->args.json || !render) {
                char *s = json_dumps(body, JSON_INDENT(2) | JSON_ENCODE_ANY);
                if (s)
                        puts(s);
                free(s);
        } else
                render(stdout, body, &ctl->view);
        json_decref(body);
        return 0;
}

/* The full id of the task or agent that `arg` names (exact or a unique prefix), found by
 * listing them where the request goes. A full-length id is taken as is. */
static int resolve(struct ctl *ctl, bool agent_list, const char *arg, char **ret_id)
{
        const char *kind = agent_list ? "agent" : "task", *id;
        _cleanup_free_ char *err = NULL;
        json_t *list = NULL;
        int r;

        if (strlen(arg) == ID_UUID_LEN || strchr(arg, '/') || strchr(arg, '?')) {
                *ret_id = strdup(arg);
                return *ret_id ? 0 : CTL_EXIT_FAILURE;
        }
        r = call(ctl, !agent_list && use_agent(ctl), "GET", agent_list ? "/api/v1/agents" : "/api/v1/tasks",
                 NULL, &list);
        if (r)
                return r;
        r = ctl_resolve_id(json_is_array(list) ? list : json_object_get(list, agent_list ? "agents" : "tasks"),
                           kind, arg, &id, &err);
        if (r == 0)
                *ret_id = strdup(id);
        json_decref(list);
        if (r == -ENOENT)
                return fail(ctl, CTL_EXIT_NOT_FOUND, "%s", err);
        if (r < 0)
                return fail(ctl, CTL_EXIT_USAGE, "%s", err ? err : strerror(-r));
        return *ret_id ? 0 : CTL_EXIT_FAILURE;
}

/* With TLS (a certificate of ours) every daemon speaks HTTPS only. */
static char *agent_base_url(const struct ctl *ctl, const char *addr)
{
        bool tls_on = ctl->tls.cert != NULL;
        char *u;

        if (tls_on && strncmp(addr, "http://", 7) == 0)
                addr += 7;
        if (asprintf(&u, "%s%s", strncmp(addr, "http", 4) ? (tls_on ? "https://" : "http://") : "",
                     addr) < 0)
                return NULL;
        return u;
}

/* --ca/--cert/--key, else $SILO_CA/$SILO_CERT/$SILO_KEY, else, for root, /etc/silo/tls/'s
 * ca.pem, siloctl.pem and siloctl-key.pem when siloctl.pem is there. 0 or an exit code. */
static int tls_resolve(struct ctl *ctl)
{
        _cleanup_free_ char *err = NULL;
        const char *ca = ctl->args.ca ?: getenv("SILO_CA");
        const char *cert = ctl->args.cert ?: getenv("SILO_CERT");
        const char *key = ctl->args.key ?: getenv("SILO_KEY");
        int r;

        if (!ca && !cert && !key && geteuid() == 0 && access("/etc/silo/tls/siloctl.pem", F_OK) == 0) {
                ca = "/etc/silo/tls/ca.pem";
                cert = "/etc/silo/tls/siloctl.pem";
                key = "/etc/silo/tls/siloctl-key.pem";
        }
        ctl->tls = (struct tls_files){ca && *ca ? ca : NULL, cert && *cert ? cert : NULL,
                                      key && *key ? key : NULL, NULL};
        r = tls_files_check(&ctl->tls, "--", &err);
        if (r < 0)
                return fail(ctl, CTL_EXIT_USAGE, "%s (or $SILO_CA, $SILO_CERT, $SILO_KEY)", err);
        return 0;
}

/* With a master, the address of the agent that runs task `id`, so agent-only views (inspect,
 * logs) work from the cluster's front door too. With --agent, that agent. */
static int agent_of_task(struct ctl *ctl, const char *id, char **ret_url)
{
        _cleanup_free_ char *path = NULL;
        json_t *t = NULL, *a = NULL;
        const char *agent_id, *addr;
        int r;

        if (use_agent(ctl)) {
                *ret_url = strdup(ctl->agent);
                return *ret_url ? 0 : CTL_EXIT_FAILURE;
        }
        if (asprintf(&path, "/api/v1/tasks/%s", id) < 0)
                return CTL_EXIT_FAILURE;
        r = call(ctl, false, "GET", path, NULL, &t);
        if (r)
                return r;
        agent_id = json_string_value(json_object_get(t, "agent_id"));
        if (!agent_id) {
                r = fail(ctl, CTL_EXIT_FAILURE, "task %s is not on an agent (state %s)", id,
                         strempty(json_string_value(json_object_get(t, "state"))));
                json_decref(t);
                return r;
        }
        free(path);
        r = asprintf(&path, "/api/v1/agents/%s", agent_id);
        json_decref(t);
        if (r < 0)
                return CTL_EXIT_FAILURE;
        r = call(ctl, false, "GET", path, NULL, &a);
        if (r)
                return r;
        addr = json_string_value(json_object_get(a, "address"));
        *ret_url = addr ? agent_base_url(ctl, addr) : NULL;
        r = addr ? 0 : fail(ctl, CTL_EXIT_FAILURE, "agent %s has no address", path + strlen("/api/v1/agents/"));
        json_decref(a);
        return r ? r : *ret_url ? 0 : CTL_EXIT_FAILURE;
}

static int cmd_run(struct ctl *ctl)
{
        _cleanup_free_ char *text = NULL, *err = NULL;
        _cleanup_json_ json_t *base = NULL, *spec = NULL;
        const char *file = ctl->args.run_command ? NULL : ctl->args.pos[0];
        json_error_t jerr;
        json_t *body = NULL;
        int r;

        if (file) {
                if (streq(file, "-"))
                        base = json_loadf(stdin, 0, &jerr);
                else {
                        r = file_read_full(file, 0, &text, NULL);
                        if (r < 0)
                                return fail(ctl, CTL_EXIT_USAGE, "run: spec file %s: %s", file, strerror(-r));
                        base = json_loads(text, 0, &jerr);
                }
                if (!base)
                        return fail(ctl, CTL_EXIT_USAGE, "run: %s:%d:%d: %s", streq(file, "-") ? "stdin" : file,
                                    jerr.line, jerr.column, jerr.text);
        }
        r = ctl_run_spec(&ctl->args, base, &spec, &err);
        if (r < 0)
                return fail(ctl, CTL_EXIT_USAGE, "%s", err ? err : strerror(-r));
        r = call(ctl, use_agent(ctl), "POST", "/api/v1/tasks", spec, &body);
        if (r)
                return r;
        return print_result(ctl, body, ctl_render_task);
}

static int cmd_logs(struct ctl *ctl)
{
        _cleanup_free_ char *id = NULL, *url = NULL;
        unsigned long long offset = ctl->args.offset ? strtoull(ctl->args.offset, NULL, 10) : 0;
        const char *stream = ctl->args.err_stream ? "stderr" : "stdout";
        bool ended = !ctl->args.follow;
        int r;

        r = resolve(ctl, false, ctl->args.pos[0], &id);
        if (r)
                return r;
        r = agent_of_task(ctl, id, &url);
        if (r)
                return r;
        /* -f: long polls from the last offset; when one comes back empty, ask whether the task
         * ended, and once it has, read what is left without waiting. */
        for (;;) {
                _cleanup_free_ char *path = NULL, *text = NULL;
                json_t *body = NULL;
                size_t n;

                if (asprintf(&path, "/api/v1/tasks/%s/logs?stream=%s&offset=%llu%s", id, stream, offset,
                             ended ? "" : "&follow=1") < 0)
                        return CTL_EXIT_FAILURE;
                r = call_ex(ctl, url, true, "GET", path, NULL, ended ? REQUEST_TIMEOUT_MS : FOLLOW_TIMEOUT_MS,
                            &body, &text);
                if (r)
                        return r;
                json_decref(body);
                n = text ? strlen(text) : 0;
                if (n) {
                        fwrite(text, 1, n, stdout);
                        fflush(stdout);
                        offset += n;
                        if (!ctl->args.follow)
                                return 0;
                        continue;
                }
                if (ended)
                        return 0;
                free(path);
                if (asprintf(&path, "/api/v1/tasks/%s", id) < 0)
                        return CTL_EXIT_FAILURE;
                r = call_ex(ctl, url, true, "GET", path, NULL, REQUEST_TIMEOUT_MS, &body, NULL);
                if (r)
                        return r;
                ended = ctl_state_ended(json_string_value(json_object_get(body, "state")));
                json_decref(body);
        }
}

static int cmd_inspect(struct ctl *ctl)
{
        _cleanup_free_ char *id = NULL, *url = NULL, *path = NULL;
        json_t *body = NULL;
        int r;

        r = resolve(ctl, false, ctl->args.pos[0], &id);
        if (!r)
                r = agent_of_task(ctl, id, &url);
        if (r)
                return r;
        if (asprintf(&path, "/api/v1/tasks/%s/isolation", id) < 0)
                return CTL_EXIT_FAILURE;
        r = call_ex(ctl, url, true, "GET", path, NULL, REQUEST_TIMEOUT_MS, &body, NULL);
        if (r)
                return r;
        return print_result(ctl, body, ctl_render_isolation);
}

static int cmd_task(struct ctl *ctl, bool kill)
{
        _cleanup_free_ char *id = NULL, *path = NULL;
        json_t *body = NULL;
        int r;

        r = resolve(ctl, false, ctl->args.pos[0], &id);
        if (r)
                return r;
        if (asprintf(&path, "/api/v1/tasks/%s", id) < 0)
                return CTL_EXIT_FAILURE;
        r = call(ctl, use_agent(ctl), kill ? "DELETE" : "GET", path, NULL, &body);
        if (r)
                return r;
        if (kill && !ctl->args.json) {
                printf("Kill requested: task %s%s%s\n", id, json_string_value(json_object_get(body, "state")) ? ", now " : "",
                       strempty(json_string_value(json_object_get(body, "state"))));
                json_decref(body);
                return 0;
        }
        if (!body) {
                puts("ok");
                return 0;
        }
        return print_result(ctl, body, ctl_render_task);
}

static int cmd_simple(struct ctl *ctl, bool agent, const char *path, render_fn render)
{
        json_t *body = NULL;
        int r = call(ctl, agent, "GET", path, NULL, &body);

        if (r)
                return r;
        return print_result(ctl, body, render);
}

/* siloctl volume inspect|rm NAME: against the master, or with --agent that agent. */
static int cmd_volume(struct ctl *ctl)
{
        const char *verb = ctl->args.pos[0], *name = ctl->args.pos[1];
        _cleanup_free_ char *path = NULL;
        bool rm = streq(verb, "rm");
        json_t *body = NULL;
        int r;

        if (!rm && !streq(verb, "inspect"))
                return fail(ctl, CTL_EXIT_USAGE, "volume: '%s' is not inspect or rm", verb);
        if (asprintf(&path, "/api/v1/volumes/%s", name) < 0)
                return CTL_EXIT_FAILURE;
        r = call(ctl, use_agent(ctl), rm ? "DELETE" : "GET", path, NULL, &body);
        if (r)
                return r;
        if (rm && !ctl->args.json) {
                /* 202 with the volume "deleting": a master's agent deletes it next; an agent
                 * removes its files in the background. */
                const char *agent = json_string_value(json_object_get(body, "agent_id"));

                if (streq_ptr(json_string_value(json_object_get(body, "state")), "deleting") && agent)
                        printf("Deleting volume %s (agent %s deletes it; 'siloctl volumes' shows "
                               "it until then)\n", name, agent);
                else if (streq_ptr(json_string_value(json_object_get(body, "state")), "deleting"))
                        printf("Deleting volume %s (the agent removes its files; 'siloctl --agent "
                               "volumes' shows it until then)\n", name);
                else
                        printf("Deleted volume %s\n", name);
                json_decref(body);
                return 0;
        }
        return print_result(ctl, body, ctl_render_volume);
}

static int cmd_metrics(struct ctl *ctl)
{
        _cleanup_free_ char *text = NULL;
        json_t *body = NULL;
        int r = call_ex(ctl, use_agent(ctl) ? ctl->agent : ctl->master, use_agent(ctl), "GET", "/metrics", NULL,
                        REQUEST_TIMEOUT_MS, &body, &text);

        if (r)
                return r;
        json_decref(body);
        fputs(strempty(text), stdout);
        return 0;
}

/* ---- top ---- */

struct top_task {
        char id[64], name[64], node[64];
        char *url;     /* its agent */
        json_t *iso;   /* the last isolation view */
        uint64_t at;   /* when it was read (monotonic us) */
};

struct top {
        struct top_task *tasks;
        size_t n;
};

static void top_clear(struct top *t)
{
        for (size_t i = 0; i < t->n; i++) {
                free(t->tasks[i].url);
                json_decref(t->tasks[i].iso);
        }
        free(t->tasks);
        *t = (struct top){};
}

/* The running tasks and their agents: from --agent, or from the master's task and agent lists. */
static int top_list(struct ctl *ctl, struct top *out)
{
        json_t *tasks = NULL, *agents = NULL, *t;
        const json_t *ta;
        size_t i;
        int r;

        r = call(ctl, use_agent(ctl), "GET", use_agent(ctl) ? "/api/v1/tasks" : "/api/v1/tasks?state=RUNNING", NULL,
                 &tasks);
        if (!r && !use_agent(ctl))
                r = call(ctl, false, "GET", "/api/v1/agents", NULL, &agents);
        if (r) {
                json_decref(tasks);
                return r;
        }
        ta = json_is_array(tasks) ? tasks : json_object_get(tasks, "tasks");
        out->tasks = calloc(json_array_size(ta) + 1, sizeof(*out->tasks));
        if (!out->tasks)
                r = CTL_EXIT_FAILURE;
        json_array_foreach(ta, i, t)
        {
                struct top_task *tt;
                const char *aid = json_string_value(json_object_get(t, "agent_id"));
                const char *addr = use_agent(ctl) ? ctl->agent : NULL, *host = NULL;
                json_t *ag;
                size_t j;

                if (r || !streq_ptr(json_string_value(json_object_get(t, "state")), "RUNNING"))
                        continue;
                json_array_foreach(json_object_get(agents, "agents"), j, ag)
                {
                        if (aid && streq_ptr(json_string_value(json_object_get(ag, "id")), aid)) {
                                addr = json_string_value(json_object_get(ag, "address"));
                                host = json_string_value(json_object_get(ag, "hostname"));
                        }
                }
                if (!addr)
                        continue;
                tt = &out->tasks[out->n];
                snprintf(tt->id, sizeof(tt->id), "%s", strempty(json_string_value(json_object_get(t, "id"))));
                snprintf(tt->name, sizeof(tt->name), "%s", strempty(json_string_value(json_object_get(t, "name"))));
                if (host)
                        snprintf(tt->node, sizeof(tt->node), "%s", host);
                else if (aid)
                        ctl_short_id(aid, tt->node, sizeof(tt->node));
                tt->url = use_agent(ctl) ? strdup(addr) : agent_base_url(ctl, addr);
                if (!tt->url)
                        r = CTL_EXIT_FAILURE;
                else
                        out->n++;
        }
        json_decref(tasks);
        json_decref(agents);
        return r;
}

/* One sample: list, read every task's isolation view, and make rows with the previous one. */
static int top_sample(struct ctl *ctl, struct top *prev, struct ctl_top_row **ret_rows, size_t *ret_n)
{
        struct top cur = {};
        struct ctl_top_row *rows;
        size_t n = 0;
        int r;

        r = top_list(ctl, &cur);
        if (r) {
                top_clear(&cur);
                return r;
        }
        rows = calloc(cur.n + 1, sizeof(*rows));
        if (!rows) {
                top_clear(&cur);
                return CTL_EXIT_FAILURE;
        }
        for (size_t i = 0; i < cur.n; i++) {
                struct top_task *tt = &cur.tasks[i];
                _cleanup_free_ char *path = NULL;
                const struct top_task *old = NULL;
                bool quiet = ctl->quiet;

                if (asprintf(&path, "/api/v1/tasks/%s/isolation", tt->id) < 0)
                        continue;
                /* A task may end between the list and this read: leave it out, say nothing. */
                ctl->quiet = true;
                r = call_ex(ctl, tt->url, true, "GET", path, NULL, REQUEST_TIMEOUT_MS, &tt->iso, NULL);
                ctl->quiet = quiet;
                if (r == CTL_EXIT_AUTH) {
                        /* But a refused token is the user's to fix. */
                        fail(ctl, r, "%s", strempty(ctl->err));
                        free(rows);
                        top_clear(&cur);
                        return r;
                }
                if (r)
                        continue;
                tt->at = now_usec();
                for (size_t j = 0; j < prev->n; j++)
                        if (streq(prev->tasks[j].id, tt->id))
                                old = &prev->tasks[j];
                ctl_top_row_fill(&rows[n], tt->iso, old ? old->iso : NULL,
                                 old ? (double)(tt->at - old->at) / 1e6 : 0);
                memcpy(rows[n].id, tt->id, sizeof(rows[n].id));
                memcpy(rows[n].name, tt->name, sizeof(rows[n].name));
                memcpy(rows[n].node, tt->node, sizeof(rows[n].node));
                n++;
        }
        top_clear(prev);
        *prev = cur;
        *ret_rows = rows;
        *ret_n = n;
        return 0;
}

static volatile sig_atomic_t top_quit;
static struct termios top_saved_tty;
static bool top_tty_raw, top_alt_screen;

static void top_on_signal(int sig)
{
        (void)sig;
        top_quit = 1;
}

static void top_restore(void)
{
        if (top_tty_raw)
                (void)tcsetattr(STDIN_FILENO, TCSANOW, &top_saved_tty);
        if (top_alt_screen)
                fputs("\033[?25h\033[?1049l", stdout);
        fflush(stdout);
        top_tty_raw = top_alt_screen = false;
}

static void top_terminal_setup(void)
{
        struct sigaction sa = {.sa_handler = top_on_signal};
        struct termios raw;

        /* No SA_RESTART: the wait in poll() ends on Ctrl-C. */
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &top_saved_tty) == 0) {
                raw = top_saved_tty;
                raw.c_lflag &= ~(ICANON | ECHO);
                raw.c_cc[VMIN] = 0;
                raw.c_cc[VTIME] = 0;
                top_tty_raw = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
        }
        if (isatty(STDOUT_FILENO)) {
                fputs("\033[?1049h\033[?25l", stdout);
                top_alt_screen = true;
        }
        atexit(top_restore);
}

/* Wait up to `secs` for a key; returns it, 0 on timeout, -1 when asked to quit. */
static int top_wait_key(double secs)
{
        uint64_t end = now_usec() + (uint64_t)(secs * 1e6);

        while (!top_quit) {
                struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
                uint64_t now = now_usec();
                char c;
                int r;

                if (now >= end)
                        return 0;
                r = poll(&p, top_tty_raw ? 1 : 0, (int)((end - now + 999) / 1000));
                if (r > 0 && read(STDIN_FILENO, &c, 1) == 1)
                        return c == 'q' || c == 'Q' ? -1 : c;
                if (r > 0) /* end of input: keep refreshing, keys are gone */
                        top_tty_raw = false;
        }
        return -1;
}

static int cmd_top(struct ctl *ctl)
{
        static const struct {
                char key;
                const char *sort;
        } keys[] = {{'c', "cpu"}, {'m', "mem"}, {'i', "io"}, {'o', "iops"}, {'p', "p99"}, {'n', "name"}};
        const char *sort = ctl->args.sort;
        struct top prev = {};
        int r = 0, key = 0;

        if (ctl->args.once) {
                struct ctl_top_row *rows = NULL;
                size_t n = 0;

                /* Two samples an interval apart: CPU % (and io.stat rates) are differences. */
                r = top_sample(ctl, &prev, &rows, &n);
                free(rows);
                rows = NULL;
                if (!r) {
                        usleep((useconds_t)(ctl->args.interval_s * 1e6));
                        r = top_sample(ctl, &prev, &rows, &n);
                }
                if (!r) {
                        ctl_top_sort(rows, n, sort);
                        if (ctl->args.json)
                                print_result(ctl, ctl_top_to_json(rows, n), NULL);
                        else
                                ctl_render_top(stdout, rows, n, &ctl->view);
                }
                free(rows);
                top_clear(&prev);
                return r;
        }

        top_terminal_setup();
        ctl->quiet = true;
        while (key >= 0) {
                struct ctl_top_row *rows = NULL;
                struct winsize ws = {};
                size_t n = 0, max_rows = SIZE_MAX;
                char clock[16], head[512];
                time_t now = time(NULL);

                free(ctl->err);
                ctl->err = NULL;
                r = top_sample(ctl, &prev, &rows, &n);
                if (r == CTL_EXIT_AUTH)
                        break;
                if (top_alt_screen && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
                        ctl->view.width = ws.ws_col;
                        max_rows = ws.ws_row > 4 ? ws.ws_row - 4 : 1;
                }
                strftime(clock, sizeof(clock), "%H:%M:%S", localtime(&now));
                if (top_alt_screen)
                        fputs("\033[H\033[2J", stdout);
                /* The two header lines are cut to the width too: a wrapped line would push
                 * the table down and off a full screen. */
                snprintf(head, sizeof(head), "siloctl top - %s  %zu running task%s on %s %s, every %.1fs, by %s",
                         clock, n, n == 1 ? "" : "s", use_agent(ctl) ? "agent" : "master",
                         use_agent(ctl) ? ctl->agent : ctl->master, ctl->args.interval_s, sort);
                printf("%.*s\n", ctl->view.width > 0 ? ctl->view.width : (int)sizeof(head), head);
                snprintf(head, sizeof(head), "%s",
                         ctl->err ? ctl->err
                                  : "q quits; sort keys c cpu, m mem, i io, o iops, p p99, n name; K M G: KiB MiB GiB");
                printf("%.*s\n\n", ctl->view.width > 0 ? ctl->view.width : (int)sizeof(head), head);
                ctl_top_sort(rows, n, sort);
                ctl_render_top(stdout, rows, MIN(n, max_rows), &ctl->view);
                if (!top_alt_screen)
                        putchar('\n');
                fflush(stdout);
                free(rows);
                r = 0;
                key = top_wait_key(ctl->args.interval_s);
                for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                        if (key == keys[i].key)
                                sort = keys[i].sort;
        }
        top_restore();
        if (r)
                fprintf(stderr, "siloctl: %s\n", strempty(ctl->err));
        top_clear(&prev);
        return r;
}

/* ---- events ---- */

static int events_print(const json_t *event, void *userdata)
{
        struct ctl *ctl = userdata;
        char *s;

        if (ctl->args.json) {
                s = json_dumps(event, JSON_COMPACT);
                if (s)
                        puts(s);
                free(s);
        } else
                ctl_render_event(stdout, event, &ctl->view);
        /* One line at a time reaches a pipe (`siloctl events | grep`) as it happens. */
        return fflush(stdout) == 0 ? 0 : -EPIPE;
}

static int cmd_events(struct ctl *ctl)
{
        _cleanup_free_ char *task = NULL, *err = NULL;
        struct silo_client_events_filter f = {
            .since = ctl->args.since ? strtoll(ctl->args.since, NULL, 10) : -1,
            .role = ctl->args.role,
            .types = ctl->args.types,
            .reconnect_ms = EVENTS_RECONNECT_MS,
        };
        silo_client *client;
        int r;

        if (use_agent(ctl))
                return fail(ctl, CTL_EXIT_USAGE, "events: the event stream is the master's; leave out --agent");
        if (ctl->args.task) {
                r = resolve(ctl, false, ctl->args.task, &task);
                if (r)
                        return r;
                f.task = task;
        }
        r = ctl_client(ctl, &client);
        if (r)
                return r;
        if (!ctl->args.json)
                ctl_render_event_header(stdout, &ctl->view);
        fflush(stdout);
        r = silo_client_events(client, &f, events_print, ctl, &err);
        if (r == -EPIPE)
                return CTL_EXIT_OK; /* the reader went away */
        return fail(ctl, exit_code_of_errno(r), "events from %s: %s", silo_client_master_url(client),
                    err ? err : strerror(-r));
}

static int run_command(struct ctl *ctl)
{
        _cleanup_free_ char *path = NULL, *id = NULL;
        int r;

        switch (ctl->args.command) {
        case CTL_CMD_HEALTH:
                return cmd_simple(ctl, use_agent(ctl), "/health", ctl_render_tree);
        case CTL_CMD_TASKS:
                if (ctl->args.state && asprintf(&path, "/api/v1/tasks?state=%s", ctl->args.state) < 0)
                        return CTL_EXIT_FAILURE;
                return cmd_simple(ctl, use_agent(ctl), path ? path : "/api/v1/tasks", ctl_render_tasks);
        case CTL_CMD_GET:
        case CTL_CMD_KILL:
                return cmd_task(ctl, ctl->args.command == CTL_CMD_KILL);
        case CTL_CMD_RUN:
                return cmd_run(ctl);
        case CTL_CMD_LOGS:
                return cmd_logs(ctl);
        case CTL_CMD_INSPECT:
                return cmd_inspect(ctl);
        case CTL_CMD_TOP:
                return cmd_top(ctl);
        case CTL_CMD_AGENTS:
                return cmd_simple(ctl, false, "/api/v1/agents", ctl_render_agents);
        case CTL_CMD_AGENT:
                r = resolve(ctl, true, ctl->args.pos[0], &id);
                if (r)
                        return r;
                if (asprintf(&path, "/api/v1/agents/%s", id) < 0)
                        return CTL_EXIT_FAILURE;
                return cmd_simple(ctl, false, path, ctl_render_agent);
        case CTL_CMD_DEVICES:
                if (!ctl->agent)
                        ctl->agent = DEFAULT_AGENT;
                return cmd_simple(ctl, true, "/api/v1/devices", ctl_render_devices);
        case CTL_CMD_METRICS:
                return cmd_metrics(ctl);
        case CTL_CMD_EVENTS:
                return cmd_events(ctl);
        case CTL_CMD_VOLUMES:
                return cmd_simple(ctl, use_agent(ctl), "/api/v1/volumes", ctl_render_volumes);
        case CTL_CMD_VOLUME:
                return cmd_volume(ctl);
        default:
                return CTL_EXIT_USAGE;
        }
}

int main(int argc, char **argv)
{
        struct ctl ctl = {};
        _cleanup_free_ char *err = NULL;
        struct winsize ws = {};
        char *end = NULL;
        long cols;
        int r;

        if (argc > 1 && streq(argv[1], "tls"))
                return ctl_tls_main(argc - 1, argv + 1);
        r = ctl_args_parse(argc, argv, &ctl.args, &err);
        if (r < 0) {
                fprintf(stderr, "siloctl: %s\n", err ? err : strerror(-r));
                ctl_args_done(&ctl.args);
                return CTL_EXIT_USAGE;
        }
        if (ctl.args.version) {
                printf("siloctl %s\n", SILO_VERSION);
        } else if (ctl.args.help) {
                fputs(ctl.args.command >= 0 ? ctl_command_usage(ctl.args.command) : ctl_usage(), stdout);
        } else {
                ctl.master = ctl.args.master ?: getenv("SILO_MASTER") ?: DEFAULT_MASTER;
                ctl.agent = ctl.args.agent ?: getenv("SILO_AGENT");
                r = tls_resolve(&ctl);
                if (r) {
                        ctl_args_done(&ctl.args);
                        return r;
                }
                if (ctl.agent && !*ctl.agent)
                        ctl.agent = NULL;
                if (ctl.agent && !(ctl.agent = ctl.agent_url = agent_base_url(&ctl, ctl.agent)))
                        return CTL_EXIT_FAILURE;
                /* Tables fit a terminal; piped output keeps whole values (as kubectl does).
                 * $COLUMNS, when set, wins (as in systemd's tools). */
                cols = getenv("COLUMNS") ? strtol(getenv("COLUMNS"), &end, 10) : 0;
                if (cols > 0 && cols < 100000 && !*end)
                        ctl.view.width = (int)cols;
                else if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
                        ctl.view.width = ws.ws_col;
                ctl.view.now_ms = (int64_t)now_realtime_ms();
                r = run_command(&ctl);
        }
        free(ctl.err);
        free(ctl.agent_url);
        silo_client_free(ctl.client);
        ctl_args_done(&ctl.args);
        return r;
}
