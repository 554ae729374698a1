/* SPDX-License-Identifier: Apache-2.0 */
/* siloctl's command line: global flags anywhere, per-command flags after the command,
 * `run`'s flags turned into a task spec, and unique-prefix id lookup. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ctl-args.h"
#include "common/error.h"
#include "common/json-util.h"
#include "common/macro.h"
#include "common/quantity.h"
#include "silo/protocol.h"

#define DEFAULTS_HELP                                                                       \
        "Talks to a Silo master (--master, $SILO_MASTER, default http://127.0.0.1:5050) or,\n" \
        "with --agent (or $SILO_AGENT), straight to an agent (default http://127.0.0.1:5051).\n"

#define GLOBAL_HELP                                                                         \
        "Global options (before or after the command):\n"                                  \
        "  -m, --master URL[,URL...]\n"                                                      \
        "                        the master to talk to; of several, the next is tried\n"    \
        "                        when one cannot be reached\n"                              \
        "  -a, --agent URL       talk to this agent instead of the master\n"                \
        "  -t, --token-file F    the cluster token (default $SILO_TOKEN_FILE, else\n"       \
        "                        /var/lib/silo/{master,agent}/token when it exists)\n"      \
        "      --ca FILE --cert FILE --key FILE\n"                                           \
        "                        mutual TLS (https): the cluster CA and this client's\n"   \
        "                        certificate and key ($SILO_CA, $SILO_CERT, $SILO_KEY;\n"  \
        "                        root: /etc/silo/tls/{ca,siloctl,siloctl-key}.pem when\n"  \
        "                        siloctl.pem exists); the token is not needed then\n"      \
        "  -o, --output FMT      text (default) or json: the daemon's full answer\n"        \
        "  -h, --help            this text (after a command: that command's help)\n"        \
        "      --version         print siloctl's version\n"

#define EXIT_HELP                                                                           \
        "Exit status:\n"                                                                    \
        "  0  success\n"                                                                    \
        "  1  the daemon refused or failed the request, or could not be reached\n"          \
        "  2  usage error: bad flag or argument, a bad spec (here or at the daemon),\n"     \
        "     an ambiguous id prefix\n"      \
        "  3  authentication: token file missing or unreadable, or the token refused\n"     \
        "  4  no such task or agent\n"

static const struct command {
        const char *name;
        const char *synopsis; /* after "siloctl NAME" */
        const char *summary;
        const char *details; /* the command's flags */
        int min_pos, max_pos;
} commands[_CTL_CMD_MAX] = {
        [CTL_CMD_HEALTH] = {"health", "", "is the daemon up", "", 0, 0},
        [CTL_CMD_TASKS] = {"tasks", "[--state STATE]", "list tasks",
                           "  -s, --state STATE  only tasks in STATE (PENDING, RUNNING, FINISHED, ...)\n",
                           0, 0},
        [CTL_CMD_GET] = {"get", "TASK", "a task's summary (-o json: everything)", "", 1, 1},
        [CTL_CMD_RUN] = {"run", "FILE|- | [FLAGS] -- COMMAND [ARGS...]",
                         "submit a task: a JSON spec file, or flags and a command",
                         "  -n, --name NAME       task name\n"
                         "  -r, --role ROLE       role (master: its share of the cluster)\n"
                         "  -c, --cpus N          CPUs (1.5 = one and a half)\n"
                         "  -M, --mem SIZE        memory limit (512Mi, 2Gi)\n"
                         "  -p, --pids N          process limit\n"
                         "  -i, --io DISK:K=V[,K=V]  an I/O limit on DISK; K is rbps, wbps,\n"
                         "                        riops, wiops or weight (nullb0:wbps=20M)\n"
                         "  -e, --env NAME=VALUE  environment (repeatable, as is --io)\n"
                         "With a FILE the flags override the file's fields.\n",
                         0, 1 << 16},
        [CTL_CMD_KILL] = {"kill", "TASK", "kill a task", "", 1, 1},
        [CTL_CMD_LOGS] = {"logs", "[-f] [--stderr] [--offset N] TASK",
                          "print a task's output (through a master: from its agent)",
                          "  -f, --follow       keep printing output as it comes, until the task ends\n"
                          "  -e, --stderr       standard error instead of standard output\n"
                          "      --offset N     start at byte N\n",
                          1, 1},
        [CTL_CMD_INSPECT] = {"inspect", "TASK",
                             "a task's isolation: limits read back from its cgroup, usage,\n"
                             "                          pressure, and measured I/O against each limit",
                             "", 1, 1},
        [CTL_CMD_TOP] = {"top", "[--once] [--sort KEY] [--interval SEC]",
                         "live per-task CPU, memory, I/O and latency (q or Ctrl-C quits)",
                         "  -1, --once         print one table (two samples an interval apart) and exit\n"
                         "  -s, --sort KEY     cpu, mem, io (default: read + write bytes/s), iops,\n"
                         "                     p99 or name; keys c, m, i, o, p, n change it live\n"
                         "  -d, --interval SEC seconds between refreshes (default 2; fractions allowed)\n"
                         "With a master: every running task of the cluster; with --agent: that agent's.\n"
                         "Rates are per second; K, M, G are KiB, MiB, GiB; \"used/limit\" where a limit\n"
                         "is in force.\n",
                         0, 0},
        [CTL_CMD_AGENTS] = {"agents", "", "list agents (master)", "", 0, 0},
        [CTL_CMD_AGENT] = {"agent", "AGENT", "show one agent (master)", "", 1, 1},
        [CTL_CMD_DEVICES] = {"devices", "", "an agent's disks and their figures (agent)", "", 0, 0},
        [CTL_CMD_METRICS] = {"metrics", "", "the daemon's Prometheus metrics", "", 0, 0},
        [CTL_CMD_EVENTS] = {"events", "[--since N] [--role R] [--task TASK] [--type T[,T...]]",
                            "follow the master's event stream, one line per event (Ctrl-C stops)",
                            "      --since N      first the kept events after index N (the \"event_index\"\n"
                            "                     of `siloctl tasks -o json`), then new ones\n"
                            "  -r, --role R       only the events of role R's tasks\n"
                            "      --task TASK    only the events of this task\n"
                            "      --type T,...   only these types: task_state, task_placed, task_pending,\n"
                            "                     agent_joined, agent_lost, agent_returned\n"
                            "-o json prints each event as one line of JSON. A broken stream (the master\n"
                            "restarting) is resumed after the last event printed, for up to 60 s.\n",
                            0, 0},
        [CTL_CMD_VOLUMES] = {"volumes", "", "list persistent volumes (master; --agent: that agent's)", "",
                             0, 0},
        [CTL_CMD_VOLUME] = {"volume", "inspect|rm NAME",
                            "show a persistent volume, or delete it (refused while a task mounts it)",
                            "", 2, 2},
};

/* The event types of GET /api/v1/events (docs/PROTOCOL.md). */
static const char *const event_types[] = {"task_state",   "task_placed", "task_pending",
                                          "agent_joined", "agent_lost",  "agent_returned"};

int ctl_exit_code_of_status(long status)
{
        if (status >= 200 && status <= 299)
                return CTL_EXIT_OK;
        if (status == 401 || status == 403)
                return CTL_EXIT_AUTH;
        if (status == 404)
                return CTL_EXIT_NOT_FOUND;
        if (status == 400)
                return CTL_EXIT_USAGE;
        return CTL_EXIT_FAILURE;
}

const char *ctl_command_name(ctl_command c)
{
        return c >= 0 && c < _CTL_CMD_MAX ? commands[c].name : NULL;
}

const char *ctl_usage(void)
{
        static char buf[8192];

        if (!buf[0]) {
                FILE *f = fmemopen(buf, sizeof(buf) - 1, "w");

                if (!f)
                        return "Usage: siloctl [OPTIONS] COMMAND [ARGS...]\n";
                fputs("Usage: siloctl [OPTIONS] COMMAND [ARGS...]\n\n" DEFAULTS_HELP
                      "Ids may be shortened to any unique prefix (tables show the first 8 characters);\n"
                      "a task's name, or an agent's hostname, that no other has works too.\n"
                      "Tables fit the terminal ($COLUMNS sets the width); piped, values are not cut.\n"
                      "\nCommands (siloctl COMMAND --help for each one's flags):\n",
                      f);
                for (int i = 0; i < _CTL_CMD_MAX; i++)
                        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
                /* Local, not a daemon call: parsed by ctl-tls.c. */
                fprintf(f, "  %-8s %s\n", "tls",
                         "make the cluster's CA, certificates and CRL (siloctl tls --help)");
                fputs("\n" GLOBAL_HELP "\n" EXIT_HELP, f);
                fclose(f);
        }
        return buf;
}

const char *ctl_command_usage(ctl_command c)
{
        static char buf[4096];
        const struct command *cmd = &commands[c];

        snprintf(buf, sizeof(buf), "Usage: siloctl %s%s%s\n%s%s.\n\n%s%s%s\n" EXIT_HELP,
                 cmd->name, cmd->synopsis[0] ? " " : "", cmd->synopsis,
                 cmd->summary[0] ? "" : "", cmd->summary, cmd->details,
                 cmd->details[0] ? "\n" : "", GLOBAL_HELP);
        return buf;
}

static const struct option global_opts[] = {
        {"master", required_argument, NULL, 'm'},
        {"agent", required_argument, NULL, 'a'},
        {"token-file", required_argument, NULL, 't'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"ca", required_argument, NULL, 0x100},
        {"cert", required_argument, NULL, 0x101},
        {"key", required_argument, NULL, 0x102},
};
#define GLOBAL_SHORT "m:a:t:o:h"

/* Each command's own long options and short letters, after the global ones. */
static const struct cmd_opts {
        const struct option *opts;
        const char *shorts;
} cmd_opts[_CTL_CMD_MAX] = {
        [CTL_CMD_TASKS] = {(const struct option[]){{"state", required_argument, NULL, 's'}, {}},
                           "s:"},
        [CTL_CMD_LOGS] = {(const struct option[]){{"follow", no_argument, NULL, 'f'},
                                                  {"stderr", no_argument, NULL, 'e'},
                                                  {"offset", required_argument, NULL, 'O'},
                                                  {}},
                          "fe"},
        [CTL_CMD_TOP] = {(const struct option[]){{"once", no_argument, NULL, '1'},
                                                 {"sort", required_argument, NULL, 's'},
                                                 {"interval", required_argument, NULL, 'd'},
                                                 {}},
                         "1s:d:"},
        [CTL_CMD_RUN] = {(const struct option[]){{"name", required_argument, NULL, 'n'},
                                                 {"role", required_argument, NULL, 'r'},
                                                 {"cpus", required_argument, NULL, 'c'},
                                                 {"mem", required_argument, NULL, 'M'},
                                                 {"pids", required_argument, NULL, 'p'},
                                                 {"io", required_argument, NULL, 'i'},
                                                 {"env", required_argument, NULL, 'e'},
                                                 {}},
                         "n:r:c:M:p:i:e:"},
        [CTL_CMD_EVENTS] = {(const struct option[]){{"since", required_argument, NULL, 'S'},
                                                    {"role", required_argument, NULL, 'r'},
                                                    {"task", required_argument, NULL, 'T'},
                                                    {"type", required_argument, NULL, 'y'},
                                                    {}},
                            "r:"},
};

/* events --type: each of the comma list must be a type the master streams. */
static int types_check(const char *arg, char **ret_error)
{
        for (const char *p = arg;;) {
                size_t len = strcspn(p, ",");
                bool known = false;

                for (size_t i = 0; i < ELEMENTSOF(event_types); i++)
                        known = known || (strlen(event_types[i]) == len && !strncmp(p, event_types[i], len));
                if (!known)
                        return error_set(ret_error, -EINVAL,
                                         "events --type: '%.*s' is not an event type (task_state, task_placed, "
                                         "task_pending, agent_joined, agent_lost, agent_returned)",
                                         (int)len, p);
                if (!p[len])
                        return 0;
                p += len + 1;
        }
}

static const char *const sort_keys[] = {"cpu", "mem", "io", "iops", "p99", "name"};

/* A flag of either table; 1 when it was a global one, 0 for the command's, <0 on error. */
static int apply_opt(struct ctl_args *a, int c, const char *arg, char **ret_error)
{
        char *end;

        switch (c) {
        case 'm':
                a->master = arg;
                return 1;
        case 'a':
                a->agent = arg;
                return 1;
        case 't':
                a->token_file = arg;
                return 1;
        case 'o':
                if (streq(arg, "json"))
                        a->json = true;
                else if (streq(arg, "text"))
                        a->json = false;
                else
                        return error_set(ret_error, -EINVAL, "-o/--output: '%s' is not json or text", arg);
                return 1;
        case 'h':
                a->help = true;
                return 1;
        case 'V':
                a->version = true;
                return 1;
        case 0x100:
                a->ca = arg;
                return 1;
        case 0x101:
                a->cert = arg;
                return 1;
        case 0x102:
                a->key = arg;
                return 1;
        }
        switch (a->command) {
        case CTL_CMD_TASKS:
                a->state = arg;
                return 0;
        case CTL_CMD_LOGS:
                if (c == 'f')
                        a->follow = true;
                else if (c == 'e')
                        a->err_stream = true;
                else {
                        errno = 0;
                        (void)strtoull(arg, &end, 10);
                        if (errno || *end || !*arg || *arg == '-')
                                return error_set(ret_error, -EINVAL, "logs --offset: '%s' is not a byte offset", arg);
                        a->offset = arg;
                }
                return 0;
        case CTL_CMD_TOP:
                if (c == '1')
                        a->once = true;
                else if (c == 's') {
                        for (size_t i = 0; i < ELEMENTSOF(sort_keys); i++)
                                if (streq(arg, sort_keys[i])) {
                                        a->sort = sort_keys[i];
                                        return 0;
                                }
                        return error_set(ret_error, -EINVAL,
                                         "top --sort: '%s' is not cpu, mem, io, iops, p99 or name", arg);
                } else {
                        errno = 0;
                        a->interval_s = strtod(arg, &end);
                        if (errno || *end || !*arg || !(a->interval_s >= 0.1 && a->interval_s <= 3600))
                                return error_set(ret_error, -EINVAL,
                                                 "top --interval: '%s' is not a number of seconds from 0.1 to 3600", arg);
                }
                return 0;
        case CTL_CMD_EVENTS:
                if (c == 'S') {
                        if (!*arg || strspn(arg, "0123456789") != strlen(arg) || strlen(arg) > 18)
                                return error_set(ret_error, -EINVAL, "events --since: '%s' is not an event index", arg);
                        a->since = arg;
                } else if (c == 'r')
                        a->role = arg;
                else if (c == 'T')
                        a->task = arg;
                else {
                        int r = types_check(arg, ret_error);
                        if (r < 0)
                                return r;
                        a->types = arg;
                }
                return 0;
        case CTL_CMD_RUN:
                switch (c) {
                case 'n': a->name = arg; break;
                case 'r': a->role = arg; break;
                case 'c': a->cpus = arg; break;
                case 'M': a->mem = arg; break;
                case 'p': a->pids = arg; break;
                case 'i':
                case 'e': {
                        const char **v = c == 'i' ? a->io : a->env;
                        size_t *n = c == 'i' ? &a->n_io : &a->n_env;

                        if (*n >= CTL_RUN_MAX_REPEAT)
                                return error_set(ret_error, -EINVAL, "run --%s: more than %d given",
                                                 c == 'i' ? "io" : "env", CTL_RUN_MAX_REPEAT);
                        v[(*n)++] = arg;
                        break;
                }
                }
                return 0;
        default:
                return -EINVAL;
        }
}

static int opt_error(int c, int argc, char **argv, const char *where, char **ret_error)
{
        const char *bad = optind > 0 && optind - 1 < argc ? argv[optind - 1] : "?";
        bool is_long = bad[0] == '-' && bad[1] == '-';

        if (c == ':')
                return error_set(ret_error, -EINVAL, "%s: %s: missing value", where,
                                 is_long ? bad : (char[]){'-', (char)optopt, '\0'});
        if (!is_long && optopt)
                return error_set(ret_error, -EINVAL, "%s: -%c is not a flag it knows (see --help)", where,
                                 optopt);
        return error_set(ret_error, -EINVAL, "%s: '%s' is not a flag it knows (see --help)", where, bad);
}

/* Parse from argv[optind] on with the global options (and the command's, when one is set). */
static int parse_flags(int argc, char **argv, struct ctl_args *a, bool stop_at_word, char **ret_error)
{
        struct option all[32]; /* the global options and the most any command has, + 1 */
        char shorts[64];
        const struct cmd_opts *co = a->command >= 0 ? &cmd_opts[a->command] : NULL;
        size_t n = 0;
        int c, r;

        for (size_t i = 0; i < ELEMENTSOF(global_opts); i++)
                all[n++] = global_opts[i];
        for (const struct option *o = co && co->opts ? co->opts : NULL; o && o->name; o++)
                all[n++] = *o;
        all[n] = (struct option){};
        /* "+" before the command: stop at it, its flags are parsed with its own table. "-"
         * after it: words come back in place (as 1) so flags may follow arguments; both stop
         * at "--". ":" tells a missing value apart from an unknown flag. */
        snprintf(shorts, sizeof(shorts), "%s:" GLOBAL_SHORT "%s", stop_at_word ? "+" : "-",
                 co && co->shorts ? co->shorts : "");
        opterr = 0;
        while ((c = getopt_long(argc, argv, shorts, all, NULL)) >= 0) {
                if (c == 1) {
                        /* "-" mode: a word in place; keep it as a positional argument. */
                        if (a->command == CTL_CMD_NONE)
                                return -EAGAIN;
                        a->pos[a->n_pos++] = optarg;
                        continue;
                }
                if (c == '?' || c == ':')
                        return opt_error(c, argc, argv,
                                         a->command >= 0 ? commands[a->command].name : "siloctl", ret_error);
                r = apply_opt(a, c, optarg, ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}

int ctl_args_parse(int argc, char **argv, struct ctl_args *a, char **ret_error)
{
        const char *word;
        int r;

        *a = (struct ctl_args){.command = CTL_CMD_NONE, .interval_s = 2.0, .sort = "io"};
        a->pos = calloc((size_t)argc + 1, sizeof(char *));
        if (!a->pos)
                return -ENOMEM;

        /* Global flags up to the command. */
        optind = 0;
        r = parse_flags(argc, argv, a, true, ret_error);
        if (r < 0)
                return r;
        if (optind >= argc) {
                if (a->help || a->version)
                        return 0;
                return error_set(ret_error, -EINVAL, "no command given (see siloctl --help)");
        }
        word = argv[optind];
        for (int i = 0; i < _CTL_CMD_MAX; i++)
                if (streq(word, commands[i].name))
                        a->command = i;
        if (a->command == CTL_CMD_NONE)
                return error_set(ret_error, -EINVAL, "'%s' is not a command (see siloctl --help)", word);

        /* The command's flags, global ones too, and its arguments in any order, up to "--"
         * (run: the task's command follows it). argv is shifted so getopt restarts at the
         * command. */
        argc -= optind;
        argv += optind;
        optind = 0;
        r = parse_flags(argc, argv, a, false, ret_error);
        if (r < 0)
                return r;
        /* After "--": the rest are arguments (for run, the task's command and its flags). */
        if (a->command == CTL_CMD_RUN && optind > 1 && optind <= argc && streq(argv[optind - 1], "--")) {
                if (a->n_pos > 0)
                        return error_set(ret_error, -EINVAL,
                                         "run: '%s' before \"--\": give a spec FILE or -- COMMAND, not both",
                                         a->pos[0]);
                a->run_command = true;
        }
        for (int i = optind; i < argc; i++)
                a->pos[a->n_pos++] = argv[i];
        if (a->help || a->version)
                return 0;
        if (a->command == CTL_CMD_RUN) {
                if (a->run_command && a->n_pos == 0)
                        return error_set(ret_error, -EINVAL, "run: no command after \"--\"");
                if (!a->run_command && a->n_pos != 1)
                        return error_set(ret_error, -EINVAL,
                                         a->n_pos == 0 ? "run: give a spec FILE (or - for stdin), or flags and -- COMMAND"
                                                       : "run: one spec FILE, or put the task's command after \"--\"");
                return 0;
        }
        if (a->n_pos < commands[a->command].min_pos || a->n_pos > commands[a->command].max_pos) {
                if (commands[a->command].max_pos == 0)
                        return error_set(ret_error, -EINVAL, "%s takes no arguments, got '%s'",
                                         commands[a->command].name, a->pos[0]);
                return error_set(ret_error, -EINVAL, "%s needs one argument (siloctl %s %s), got %d",
                                 commands[a->command].name, commands[a->command].name,
                                 commands[a->command].synopsis, a->n_pos);
        }
        return 0;
}

void ctl_args_done(struct ctl_args *a)
{
        free(a->pos);
        a->pos = NULL;
}

/* --io DISK:KEY=VAL[,KEY=VAL...] as a resources.io[] object. */
static int io_flag(const char *s, json_t **ret, char **ret_error)
{
        static const char *const keys[] = {"rbps", "wbps", "riops", "wiops", "weight"};
        _cleanup_free_ char *copy = strdup(s);
        _cleanup_json_ json_t *o = json_object();
        char *colon, *save = NULL;

        if (!copy || !o)
                return -ENOMEM;
        colon = strchr(copy, ':');
        if (!colon || colon == copy || !colon[1])
                return error_set(ret_error, -EINVAL,
                                 "run --io: '%s' is not DISK:KEY=VALUE[,KEY=VALUE] (nullb0:wbps=20M)", s);
        *colon = '\0';
        if (json_set(o, "disk", json_string(copy)) < 0)
                return -ENOMEM;
        for (char *kv = strtok_r(colon + 1, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
                char *eq = strchr(kv, '=');
                bool known = false;
                uint64_t v;

                if (eq)
                        *eq = '\0';
                for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                        known = known || streq(kv, keys[i]);
                if (!eq || !known)
                        return error_set(ret_error, -EINVAL,
                                         "run --io '%s': '%s' is not KEY=VALUE with KEY rbps, wbps, riops, wiops or weight",
                                         s, kv);
                if (quantity_parse(eq + 1, &v) < 0)
                        return error_set(ret_error, -EINVAL, "run --io '%s': %s: '%s' is not a quantity", s, kv,
                                         eq + 1);
                if (json_set(o, kv, json_string(eq + 1)) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(o);
        return 0;
}

int ctl_run_spec(const struct ctl_args *a, const json_t *base, json_t **ret, char **ret_error)
{
        _cleanup_json_ json_t *spec = base ? json_deep_copy(base) : json_object();
        json_t *res;
        uint64_t q;
        double cpus;
        char *end;
        int r;

        if (!spec)
                return -ENOMEM;
        if (!json_is_object(spec))
                return error_set(ret_error, -EINVAL, "run: the spec is not a JSON object");
        res = json_object_get(spec, "resources");
        if (!res) {
                res = json_object();
                if (json_set(spec, "resources", res) < 0)
                        return -ENOMEM;
        } else if (!json_is_object(res))
                return error_set(ret_error, -EINVAL, "run: the spec's resources is not an object");
        if (a->name && json_set(spec, "name", json_string(a->name)) < 0)
                return -ENOMEM;
        if (a->role && json_set(spec, "role", json_string(a->role)) < 0)
                return -ENOMEM;
        if (a->cpus) {
                errno = 0;
                cpus = strtod(a->cpus, &end);
                if (errno || *end || !*a->cpus || !(cpus > 0) || !isfinite(cpus))
                        return error_set(ret_error, -EINVAL, "run --cpus: '%s' is not a positive number", a->cpus);
                if (json_set(res, "cpus", json_real(cpus)) < 0)
                        return -ENOMEM;
        }
        if (a->mem) {
                if (quantity_parse(a->mem, &q) < 0)
                        return error_set(ret_error, -EINVAL, "run --mem: '%s' is not a size (512Mi, 2Gi)", a->mem);
                if (json_set(res, "mem", json_string(a->mem)) < 0)
                        return -ENOMEM;
        }
        if (a->pids) {
                if (quantity_parse(a->pids, &q) < 0 || q == 0)
                        return error_set(ret_error, -EINVAL, "run --pids: '%s' is not a positive count", a->pids);
                if (json_set(res, "pids", json_integer((json_int_t)q)) < 0)
                        return -ENOMEM;
        }
        if (a->n_io) {
                json_t *io = json_array();

                if (json_set(res, "io", io) < 0)
                        return -ENOMEM;
                for (size_t i = 0; i < a->n_io; i++) {
                        json_t *o = NULL;

                        r = io_flag(a->io[i], &o, ret_error);
                        if (r < 0)
                                return r;
                        if (json_array_append_new(io, o) < 0)
                                return -ENOMEM;
                }
        }
        if (a->n_env) {
                json_t *env = json_object_get(spec, "env");

                if (!json_is_object(env)) {
                        env = json_object();
                        if (json_set(spec, "env", env) < 0)
                                return -ENOMEM;
                }
                for (size_t i = 0; i < a->n_env; i++) {
                        const char *eq = strchr(a->env[i], '=');
                        _cleanup_free_ char *k = eq ? strndup(a->env[i], (size_t)(eq - a->env[i])) : NULL;

                        if (!eq || eq == a->env[i])
                                return error_set(ret_error, -EINVAL, "run --env: '%s' is not NAME=VALUE", a->env[i]);
                        if (!k || json_set(env, k, json_string(eq + 1)) < 0)
                                return -ENOMEM;
                }
        }
        if (a->run_command) {
                json_t *cmd = json_array();

                if (json_set(spec, "command", cmd) < 0)
                        return -ENOMEM;
                for (int i = 0; i < a->n_pos; i++)
                        if (json_array_append_new(cmd, json_string(a->pos[i])) < 0)
                                return -ENOMEM;
        }
        if (json_object_size(res) == 0)
                json_object_del(spec, "resources");
        if (!json_is_array(json_object_get(spec, "command")))
                return error_set(ret_error, -EINVAL, "run: the task has no command (give it after \"--\")");
        *ret = TAKE_PTR(spec);
        return 0;
}

/* A task's name, or an agent's hostname. */
static const char *item_name(const json_t *it)
{
        const char *name = json_string_value(json_object_get(it, "name"));

        return name ? name : json_string_value(json_object_get(it, "hostname"));
}

int ctl_resolve_id(const json_t *items, const char *kind, const char *arg, const char **ret_id,
                   char **ret_error)
{
        _cleanup_free_ char *list = NULL;
        const char *found = NULL;
        size_t n = 0, named = 0, len = strlen(arg), i;
        json_t *it;

        json_array_foreach(items, i, it) {
                const char *id = json_string_value(json_object_get(it, "id"));

                if (id && streq(id, arg)) {
                        *ret_id = id;
                        return 0;
                }
        }
        json_array_foreach(items, i, it) {
                const char *id = json_string_value(json_object_get(it, "id"));
                const char *name = item_name(it);
                char *l;

                if (!id || len == 0 || strncmp(id, arg, len) != 0)
                        continue;
                found = id;
                n++;
                if (asprintf(&l, "%s%s  %s%s%s", strempty(list), list ? "\n" : "", id,
                             name ? "  " : "", strempty(name)) < 0)
                        return -ENOMEM;
                free(list);
                list = l;
        }
        if (n == 1) {
                *ret_id = found;
                return 0;
        }
        /* Not an id: a name, when exactly one item has it (names need not be unique). */
        json_array_foreach(items, i, it) {
                const char *id = json_string_value(json_object_get(it, "id"));
                const char *name = item_name(it);
                char *l;

                if (n > 0 || !id || !name || !streq(name, arg))
                        continue;
                found = id;
                named++;
                if (asprintf(&l, "%s%s  %s  %s", strempty(list), list ? "\n" : "", id, name) < 0)
                        return -ENOMEM;
                free(list);
                list = l;
        }
        if (named == 1) {
                *ret_id = found;
                return 0;
        }
        if (named > 1)
                return error_set(ret_error, -EINVAL, "%zu %ss are named '%s'; give an id prefix:\n%s", named,
                                 kind, arg, list);
        if (n == 0)
                return error_set(ret_error, -ENOENT, "no %s with an id starting with '%s' or named so", kind, arg);
        return error_set(ret_error, -EINVAL, "%s id prefix '%s' is ambiguous: %zu %ss match:\n%s", kind,
                         arg, n, kind, list);
}
