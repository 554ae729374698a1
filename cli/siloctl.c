/* SPDX-License-Identifier: Apache-2.0 */
/* siloctl: the operator's CLI for a Silo master or agent (tasks, agents, devices, isolation, logs). */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/ctl-render.h"
#include "common/auth.h"
#include "common/fileio.h"
#include "common/http-client.h"
#include "common/macro.h"

#define DEFAULT_MASTER "http://127.0.0.1:5050"
#define DEFAULT_AGENT "http://127.0.0.1:5051"
#define REQUEST_TIMEOUT_MS 30000

struct ctl {
        const char *master;
        const char *agent;
        const char *token_file;
        bool json;
};

static void usage(FILE *f)
{
        fputs("Usage: siloctl [--master URL | --agent URL] [--token-file F] [-o json|text] COMMAND\n"
              "\n"
              "Talks to a Silo master (default " DEFAULT_MASTER ", $SILO_MASTER) or, with\n"
              "--agent (or $SILO_AGENT), straight to an agent (default " DEFAULT_AGENT ").\n"
              "The token is read from --token-file, $SILO_TOKEN_FILE, or the daemon's state\n"
              "directory (/var/lib/silo/{master,agent}/token) when run as root.\n"
              "\n"
              "Commands:\n"
              "  health                     is the daemon up\n"
              "  tasks [--state STATE]      list tasks\n"
              "  get TASK                   show one task\n"
              "  run FILE|-                 submit a task spec (JSON) to the master or agent\n"
              "  kill TASK                  kill a task\n"
              "  logs TASK [--stderr] [--offset N]   print a task's output (agent)\n"
              "  inspect TASK               a task's isolation: limits in force, usage,\n"
              "                             pressure and measured I/O (agent; with a master,\n"
              "                             siloctl finds the task's agent)\n"
              "  agents                     list agents (master)\n"
              "  agent AGENT_ID             show one agent (master)\n"
              "  devices                    an agent's disks and their figures (agent)\n"
              "  metrics                    the daemon's Prometheus metrics\n",
              f);
}

/* Print the daemon's error body ({"error":{"code","message"}}) or the status line. */
static int report_http_error(const char *what, long status, const json_t *body)
{
        json_t *err = body ? json_object_get(body, "error") : NULL;
        const char *code = json_string_value(json_object_get(err, "code"));
        const char *msg = json_string_value(json_object_get(err, "message"));

        if (msg)
                fprintf(stderr, "siloctl: %s: %ld %s: %s\n", what, status, code ? code : "error",
                        msg);
        else
                fprintf(stderr, "siloctl: %s: HTTP %ld\n", what, status);
        return status == 401 || status == 403 ? 3 : status == 404 ? 4 : 1;
}

/* The cluster token: --token-file, else $SILO_TOKEN_FILE, else the daemon's state directory
 * (/var/lib/silo/{master,agent}/token). 0 with *ret_token NULL when the file does not exist
 * (the request goes without a token: fine for /health, a 401 otherwise, as siloctl always
 * did); prints why a token file that is there cannot be used. */
static int token_load(const struct ctl *ctl, bool agent, char **ret_token)
{
        const char *f = ctl->token_file ? ctl->token_file : getenv("SILO_TOKEN_FILE");
        _cleanup_free_ char *err = NULL;
        int r;

        *ret_token = NULL;
        if (!f)
                f = agent ? "/var/lib/silo/agent/token" : "/var/lib/silo/master/token";
        if (access(f, F_OK) < 0 && errno == ENOENT)
                return 0;
        r = auth_token_load(f, NULL, ret_token, NULL, &err);
        if (r < 0)
                fprintf(stderr, "siloctl: %s\n", err ? err : strerror(-r));
        return r;
}

/* One request; prints errors; returns 0 and the body on 2xx, else a process exit code.
 * ret_text (may be NULL) gets the body's bytes, for what is not JSON. */
static int call(const struct ctl *ctl, bool agent, const char *method, const char *path,
                const json_t *in, json_t **ret_body, char **ret_text)
{
        _cleanup_free_ char *token = NULL, *url = NULL, *err = NULL, *text = NULL;
        json_t *body = NULL;
        long status = 0;
        int r;

        if (token_load(ctl, agent, &token) < 0)
                return 2;
        if (asprintf(&url, "%s%s", agent ? ctl->agent : ctl->master, path) < 0)
                return 1;
        r = http_client_request_sync(method, url, in, token, REQUEST_TIMEOUT_MS, &status, &body,
                                     ret_text ? &text : NULL, &err);
        if (r < 0) {
                fprintf(stderr, "siloctl: %s (is the %s running?)\n", err ? err : strerror(-r),
                        agent ? "agent" : "master");
                return 2;
        }
        if (status < 200 || status > 299) {
                _cleanup_free_ char *what = NULL;

                if (asprintf(&what, "%s %s", method, url) < 0)
                        what = NULL;
                r = report_http_error(what ? what : path, status, body);
                json_decref(body);
                return r;
        }
        *ret_body = body;
        if (ret_text)
                *ret_text = TAKE_PTR(text);
        return 0;
}

static int print_result(const struct ctl *ctl, json_t *body, void (*render)(const json_t *))
{
        if (ctl->json || !render) {
                char *s = json_dumps(body, JSON_INDENT(2) | JSON_ENCODE_ANY);
                if (s)
                        puts(s);
                free(s);
        } else
                render(body);
        json_decref(body);
        return 0;
}

static bool use_agent(const struct ctl *ctl)
{
        return ctl->agent != NULL;
}

/* With a master, find the address of the agent that runs TASK, so agent-only views
 * (inspect, logs) work from the cluster's front door too. */
static int agent_url_of_task(const struct ctl *ctl, const char *task, char **ret_url)
{
        _cleanup_free_ char *path = NULL;
        json_t *t = NULL, *a = NULL;
        const char *agent_id, *addr;
        int r;

        if (asprintf(&path, "/api/v1/tasks/%s", task) < 0)
                return 1;
        r = call(ctl, false, "GET", path, NULL, &t, NULL);
        if (r)
                return r;
        agent_id = json_string_value(json_object_get(t, "agent_id"));
        if (!agent_id) {
                fprintf(stderr, "siloctl: task %s is not on an agent (state %s)\n", task,
                        strempty(json_string_value(json_object_get(t, "state"))));
                json_decref(t);
                return 1;
        }
        free(path);
        if (asprintf(&path, "/api/v1/agents/%s", agent_id) < 0) {
                json_decref(t);
                return 1;
        }
        r = call(ctl, false, "GET", path, NULL, &a, NULL);
        json_decref(t);
        if (r)
                return r;
        addr = json_string_value(json_object_get(a, "address"));
        if (!addr) {
                fprintf(stderr, "siloctl: agent %s has no address\n", agent_id);
                json_decref(a);
                return 1;
        }
        r = asprintf(ret_url, "%s%s", strncmp(addr, "http", 4) ? "http://" : "", addr);
        json_decref(a);
        return r < 0 ? 1 : 0;
}

static int cmd_run(const struct ctl *ctl, const char *file)
{
        _cleanup_free_ char *text = NULL;
        json_error_t jerr;
        json_t *spec, *body = NULL;
        int r;

        if (streq(file, "-")) {
                spec = json_loadf(stdin, 0, &jerr);
        } else {
                r = file_read_full(file, 0, &text, NULL);
                if (r < 0) {
                        fprintf(stderr, "siloctl: %s: %s\n", file, strerror(-r));
                        return 2;
                }
                spec = json_loads(text, 0, &jerr);
        }
        if (!spec) {
                fprintf(stderr, "siloctl: %s:%d:%d: %s\n", file, jerr.line, jerr.column,
                        jerr.text);
                return 2;
        }
        r = call(ctl, use_agent(ctl), "POST", "/api/v1/tasks", spec, &body, NULL);
        json_decref(spec);
        if (r)
                return r;
        return print_result(ctl, body, ctl_render_task);
}

static int cmd_logs(const struct ctl *ctl, int argc, char **argv)
{
        static const struct option opts[] = {
                {"stderr", no_argument, NULL, 'e'},
                {"offset", required_argument, NULL, 'O'},
                {}};
        _cleanup_free_ char *path = NULL, *url = NULL, *text = NULL;
        const char *stream = "stdout", *offset = "0";
        struct ctl sub = *ctl;
        json_t *body = NULL;
        int c, r;

        optind = 1;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                if (c == 'e')
                        stream = "stderr";
                else if (c == 'O')
                        offset = optarg;
                else
                        return 2;
        }
        if (optind != argc - 1) {
                fputs("siloctl: logs needs exactly one TASK\n", stderr);
                return 2;
        }
        if (!use_agent(ctl)) {
                r = agent_url_of_task(ctl, argv[optind], &url);
                if (r)
                        return r;
                sub.agent = url;
        }
        if (asprintf(&path, "/api/v1/tasks/%s/logs?stream=%s&offset=%s", argv[optind], stream,
                     offset) < 0)
                return 1;
        r = call(&sub, true, "GET", path, NULL, &body, &text);
        if (r)
                return r;
        if (body && json_is_object(body) && json_object_get(body, "data"))
                fputs(strempty(json_string_value(json_object_get(body, "data"))), stdout);
        else if (text)
                fputs(text, stdout);
        json_decref(body);
        return 0;
}

static int cmd_inspect(const struct ctl *ctl, const char *task)
{
        _cleanup_free_ char *path = NULL, *url = NULL;
        struct ctl sub = *ctl;
        json_t *body = NULL;
        int r;

        if (!use_agent(ctl)) {
                r = agent_url_of_task(ctl, task, &url);
                if (r)
                        return r;
                sub.agent = url;
        }
        if (asprintf(&path, "/api/v1/tasks/%s/isolation", task) < 0)
                return 1;
        r = call(&sub, true, "GET", path, NULL, &body, NULL);
        if (r)
                return r;
        return print_result(ctl, body, ctl_render_isolation);
}

static int cmd_simple(const struct ctl *ctl, bool agent, const char *method, const char *path,
                      void (*render)(const json_t *))
{
        json_t *body = NULL;
        int r = call(ctl, agent, method, path, NULL, &body, NULL);

        if (r)
                return r;
        if (!body) {
                puts("ok");
                return 0;
        }
        return print_result(ctl, body, render);
}

static int cmd_metrics(const struct ctl *ctl)
{
        _cleanup_free_ char *text = NULL;
        json_t *body = NULL;
        int r = call(ctl, use_agent(ctl), "GET", "/metrics", NULL, &body, &text);

        if (r)
                return r;
        json_decref(body);
        fputs(strempty(text), stdout);
        return 0;
}

/* COMMAND [ARGS...]: one request (two or three for inspect and logs through a master). */
static int run_command(struct ctl *ctl, int argc, char **argv)
{
        _cleanup_free_ char *path = NULL, *state_path = NULL;
        const char *cmd = argv[0];
        int r;

#define NEED_ARGS(n)                                                                   \
        do {                                                                           \
                if (argc != (n) + 1) {                                                 \
                        fprintf(stderr, "siloctl: %s takes %d argument(s)\n", cmd, (n)); \
                        return 2;                                                      \
                }                                                                      \
        } while (0)

        if (streq(cmd, "health")) {
                NEED_ARGS(0);
                r = cmd_simple(ctl, use_agent(ctl), "GET", "/health", NULL);
        } else if (streq(cmd, "tasks")) {
                if (argc == 3 && streq(argv[1], "--state")) {
                        if (asprintf(&state_path, "/api/v1/tasks?state=%s", argv[2]) < 0)
                                return 1;
                } else
                        NEED_ARGS(0);
                r = cmd_simple(ctl, use_agent(ctl), "GET",
                               state_path ? state_path : "/api/v1/tasks", ctl_render_tasks);
        } else if (streq(cmd, "get") || streq(cmd, "kill")) {
                NEED_ARGS(1);
                if (asprintf(&path, "/api/v1/tasks/%s", argv[1]) < 0)
                        return 1;
                r = cmd_simple(ctl, use_agent(ctl), streq(cmd, "get") ? "GET" : "DELETE", path,
                               ctl_render_task);
        } else if (streq(cmd, "run")) {
                NEED_ARGS(1);
                r = cmd_run(ctl, argv[1]);
        } else if (streq(cmd, "logs")) {
                r = cmd_logs(ctl, argc, argv);
        } else if (streq(cmd, "inspect")) {
                NEED_ARGS(1);
                r = cmd_inspect(ctl, argv[1]);
        } else if (streq(cmd, "agents")) {
                NEED_ARGS(0);
                r = cmd_simple(ctl, false, "GET", "/api/v1/agents", ctl_render_agents);
        } else if (streq(cmd, "agent")) {
                NEED_ARGS(1);
                if (asprintf(&path, "/api/v1/agents/%s", argv[1]) < 0)
                        return 1;
                r = cmd_simple(ctl, false, "GET", path, ctl_render_tree);
        } else if (streq(cmd, "devices")) {
                NEED_ARGS(0);
                if (!ctl->agent)
                        ctl->agent = DEFAULT_AGENT;
                r = cmd_simple(ctl, true, "GET", "/api/v1/devices", ctl_render_devices);
        } else if (streq(cmd, "metrics")) {
                NEED_ARGS(0);
                r = cmd_metrics(ctl);
        } else {
                fprintf(stderr, "siloctl: unknown command '%s' (see siloctl --help)\n", cmd);
                r = 2;
        }
        return r;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                {"master", required_argument, NULL, 'm'},
                {"agent", required_argument, NULL, 'a'},
                {"token-file", required_argument, NULL, 't'},
                {"output", required_argument, NULL, 'o'},
                {"help", no_argument, NULL, 'h'},
                {}};
        struct ctl ctl = {
                .master = getenv("SILO_MASTER") ? getenv("SILO_MASTER") : DEFAULT_MASTER,
                .agent = getenv("SILO_AGENT"),
        };
        int c;

        /* Stop at the command: its own options follow it. */
        while ((c = getopt_long(argc, argv, "+o:h", opts, NULL)) >= 0) {
                switch (c) {
                case 'm':
                        ctl.master = optarg;
                        break;
                case 'a':
                        ctl.agent = optarg;
                        break;
                case 't':
                        ctl.token_file = optarg;
                        break;
                case 'o':
                        if (streq(optarg, "json"))
                                ctl.json = true;
                        else if (!streq(optarg, "text")) {
                                fprintf(stderr, "siloctl: -o: '%s' is not json or text\n",
                                        optarg);
                                return 2;
                        }
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind >= argc) {
                usage(stderr);
                return 2;
        }
        return run_command(&ctl, argc - optind, argv + optind);
}
