/* SPDX-License-Identifier: Apache-2.0 */
/* silo-master: options, process setup (rlimits, signals, sd_notify) and the main loop. */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sysexits.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "common/config.h"
#include "common/event-loop.h"
#include "common/fd-limit.h"
#include "common/log.h"
#include "common/macro.h"
#include "master/events.h"
#include "common/tls.h"
#include "master/master.h"
#include "master/store.h"

#define OPT(field) offsetof(struct master_options, field)

static const struct config_option master_options_table[] = {
    {"listen", CONFIG_STRING, OPT(listen), "127.0.0.1:5050", "ADDR",
     "address and port of the REST API (HOST:PORT, [IPv6]:PORT)"},
    {"state-dir", CONFIG_STRING, OPT(state_dir), "/var/lib/silo/master", "DIR",
     "directory of the SQLite state (master.db) and the generated token"},
    {"token-file", CONFIG_STRING, OPT(token_file), NULL, "FILE",
     "cluster token file (default: <state-dir>/token, generated at first start)"},
    {"heartbeat-interval-ms", CONFIG_UINT, OPT(heartbeat_interval_ms), "1000", "MS",
     "how often agents are told to send heartbeats", 10, 3600000},
    {"agent-timeout-ms", CONFIG_UINT, OPT(agent_timeout_ms), "15000", "MS",
     "an agent silent this long is lost and its tasks LOST", 50, 86400000},
    {"launch-attempts", CONFIG_UINT, OPT(launch_attempts), "5", "N",
     "launches tried before a task FAILS with LAUNCH_FAILED", 1, 1000},
    {"launch-timeout-ms", CONFIG_UINT, OPT(launch_timeout_ms), "10000", "MS",
     "timeout of one launch or kill request to an agent", 100, 600000},
    {"retry-base-ms", CONFIG_UINT, OPT(retry_base_ms), "1000", "MS",
     "delay before re-placing a task whose launch failed; doubles per attempt up to 30 s", 10,
     30000},
    {"max-connections", CONFIG_UINT, OPT(max_connections), "16384", "N",
     "concurrent HTTP connections (agents keep theirs open); at the limit a new one evicts the "
     "oldest without a request in progress; at most 3/4 of RLIMIT_NOFILE",
     16, 1000000},
    HTTP_SERVER_CONFIG_OPTIONS(struct master_options),
    HTTP_SERVER_TLS_OPTIONS(struct master_options),
    {"nofile", CONFIG_UINT, OPT(nofile), "65536", "N",
     "RLIMIT_NOFILE: the soft limit is raised to the hard one, and both to N when higher and "
     "allowed",
     1024, 1048576},
    {"gc-max-age-s", CONFIG_UINT, OPT(gc_max_age_s), "86400", "SEC",
     "ended tasks (with their history) and updates for unknown tasks are forgotten this long "
     "after they end; 0: never", 0, 315360000},
    {"gc-max-tasks", CONFIG_UINT, OPT(gc_max_tasks), "10000", "N",
     "at most this many ended tasks are kept, the oldest end forgotten first; 0: no limit", 0, 0},
    {"event-window", CONFIG_UINT, OPT(event_window), MASTER_EVENT_STR(MASTER_EVENT_WINDOW_DEFAULT), "N",
     "events kept in the state for GET /api/v1/events?since= (older: 410, re-list)", 1,
     100000000},
    {"event-buffer", CONFIG_UINT, OPT(event_buffer), MASTER_EVENT_STR(MASTER_EVENT_BUFFER_DEFAULT), "N",
     "events kept in memory for streaming; a consumer further behind (or 4 MiB) is disconnected "
     "as too slow",
     16, 1000000},
    {"event-heartbeat-s", CONFIG_UINT, OPT(event_heartbeat_s),
     MASTER_EVENT_STR(MASTER_EVENT_HEARTBEAT_S_DEFAULT), "SEC",
     "an event stream without events this long gets a heartbeat line", 1, 3600},
    {"event-consumers-max", CONFIG_UINT, OPT(event_consumers_max),
     MASTER_EVENT_STR(MASTER_EVENT_CONSUMERS_MAX_DEFAULT), "N",
     "event streams open at once (each holds up to 64 KiB of buffer and a connection); one "
     "more is answered 503", 1, 1000000},
    {"role-weight", CONFIG_LIST, OPT(role_weights), NULL, "ROLE=WEIGHT",
     "weight of a role in weighted fair sharing (a role without one weighs 1)"},
    {"log-level", CONFIG_STRING, OPT(log_level), "info", "LEVEL",
     "debug, info, notice, warning or err"},
    {"store", CONFIG_STRING, OPT(store), "sqlite", "sqlite|etcd",
     "where the state is kept: SQLite in --state-dir (one master) or etcd (several masters, "
     "one leader)"},
    {"etcd", CONFIG_STRING, OPT(etcd), NULL, "URL[,URL...]",
     "etcd endpoints for --store etcd and --migrate-to etcd (http://HOST:2379,...)"},
    {"etcd-ca", CONFIG_STRING, OPT(etcd_ca), NULL, "FILE",
     "the CA that signed etcd's certificates (mutual TLS to etcd, with --etcd-cert/--etcd-key)"},
    {"etcd-cert", CONFIG_STRING, OPT(etcd_cert), NULL, "FILE",
     "this master's client certificate for etcd (--client-cert-auth); the endpoints must be https://"},
    {"etcd-key", CONFIG_STRING, OPT(etcd_key), NULL, "FILE", "the key of --etcd-cert"},
    {"etcd-prefix", CONFIG_STRING, OPT(etcd_prefix), "/silo/", "PREFIX",
     "the keys of this cluster's state in etcd start with PREFIX"},
    {"migrate-to", CONFIG_STRING, OPT(migrate_to), NULL, "etcd",
     "copy the SQLite state of --state-dir into an empty --etcd-prefix in --etcd, then exit"},
    {"lease-ttl-s", CONFIG_UINT, OPT(lease_ttl_s), "10", "SEC",
     "--store etcd: the leader's lease; a leader that cannot renew it stops acting before it "
     "expires, and a standby takes over within about this long",
     2, 3600},
    {"advertise", CONFIG_STRING, OPT(advertise), NULL, "URL",
     "the URL other masters redirect clients to when this one leads (default: from --listen, "
     "the hostname for a wildcard address)"},
    {"name", CONFIG_STRING, OPT(name), NULL, "NAME",
     "this master's name in the leader election (default: hostname:port)"},
};

const struct config_schema master_config_schema = {
    .program = "silo-master",
    .summary = "Silo master: agent inventory, task queue, I/O-aware allocator, REST API.",
    .default_config_path = "/etc/silo/master.conf",
    .options = master_options_table,
    .n_options = ELEMENTSOF(master_options_table),
};

static int parse_log_level(const char *s)
{
        static const struct {
                const char *name;
                int level;
        } levels[] = {
            {"debug", LOG_DEBUG},     {"info", LOG_INFO}, {"notice", LOG_NOTICE},
            {"warning", LOG_WARNING}, {"err", LOG_ERR},   {"error", LOG_ERR},
        };

        for (size_t i = 0; i < ELEMENTSOF(levels); i++)
                if (strcasecmp(s, levels[i].name) == 0)
                        return levels[i].level;
        return -EINVAL;
}

/* Thousands of agents keep a connection each, and every connection is an fd: the soft limit
 * goes to the hard one (often 1024 / 4096 or more when started by hand), both to --nofile
 * when allowed. */
static void raise_nofile(uint64_t want)
{
        uint64_t before, after;
        int r;

        r = fd_limit_raise(want, &before, &after);
        if (r < 0)
                log_warning_errno(r, "Failed to raise RLIMIT_NOFILE: %m");
        else
                log_info("RLIMIT_NOFILE %llu (was %llu)", (unsigned long long)after,
                         (unsigned long long)before);
}

/* The command line and the config file into opts, checked. Returns -1 to go on, else the exit
 * code: 0 after --help or --version, EX_CONFIG (78) for a bad option or config file (logged;
 * the unit's RestartPreventExitStatus=: restarting cannot fix a configuration). */
static int master_options_parse(int argc, char **argv, struct master_options *opts)
{
        _cleanup_free_ char *err = NULL;
        int r, level;

        r = config_parse(&master_config_schema, argc, argv, opts, &err);
        if (r == CONFIG_HELP) {
                _cleanup_free_ char *help = config_help_format(&master_config_schema);
                fputs(strempty(help), stdout);
                return 0;
        }
        if (r == CONFIG_VERSION) {
                printf("silo-master %s\n", SILO_VERSION);
                return 0;
        }
        if (r < 0) {
                log_error("%s", err ? err : strerror(-r));
                return EX_CONFIG;
        }
        level = parse_log_level(opts->log_level);
        if (level < 0) {
                log_error("--log-level: '%s' is not one of debug, info, notice, warning, err",
                          opts->log_level);
                return EX_CONFIG;
        }
        log_set_max_level(level);
        if (!streq(opts->store, "sqlite") && !streq(opts->store, "etcd")) {
                log_error("--store: '%s' is not sqlite or etcd", opts->store);
                return EX_CONFIG;
        }
        if (opts->migrate_to && !streq(opts->migrate_to, "etcd")) {
                log_error("--migrate-to: '%s' is not etcd (the only store a migration fills)",
                          opts->migrate_to);
                return EX_CONFIG;
        }
        if ((streq(opts->store, "etcd") || opts->migrate_to) && !opts->etcd) {
                log_error("%s needs --etcd URL[,URL...] (the etcd cluster's client URLs)",
                          opts->migrate_to ? "--migrate-to etcd" : "--store etcd");
                return EX_CONFIG;
        }
        {
                _cleanup_free_ char *why = NULL;
                struct tls_files f = MASTER_ETCD_TLS(opts);

                if (tls_files_check(&f, "--etcd-", &why) < 0) {
                        log_error("%s", why);
                        return EX_CONFIG;
                }
        }
        if (opts->agent_timeout_ms <= opts->heartbeat_interval_ms) {
                log_error(
                    "--agent-timeout-ms: %llu must be larger than --heartbeat-interval-ms %llu",
                    (unsigned long long)opts->agent_timeout_ms,
                    (unsigned long long)opts->heartbeat_interval_ms);
                return EX_CONFIG;
        }
        return -1;
}

/* How often STATUS= is recomputed (sent only when it changed). */
#define STATUS_INTERVAL_USEC (2ULL * 1000000ULL)

/* STATUS= for `systemctl status`: "agents: 3 active, 1 lost; tasks: 2 pending, 5 running". */
static void master_status_format(master *m, char *buf, size_t size)
{
        size_t agents[2] = {0}, tasks[_SILO_TASK_STATE_MAX] = {0}, len;
        const char *key;
        void *v;
        int w;

        for (size_t i = 0; table_next(m->agents, &i, &key, &v);)
                agents[((struct master_agent *)v)->state == MASTER_AGENT_LOST]++;
        for (size_t i = 0; table_next(m->tasks, &i, &key, &v);)
                tasks[((struct master_task *)v)->state]++;
        w = snprintf(buf, size, "agents: %zu active, %zu lost; tasks:", agents[0], agents[1]);
        len = w > 0 ? (size_t)w : 0;
        for (int s = 0; s < _SILO_TASK_STATE_MAX && len < size; s++) {
                if (!tasks[s])
                        continue;
                w = snprintf(buf + len, size - len, "%s %zu %s", buf[len - 1] == ':' ? "" : ",",
                             tasks[s], silo_task_state_to_string(s));
                len += w > 0 ? (size_t)w : 0;
        }
        if (len < size && buf[len - 1] == ':')
                snprintf(buf + len, size - len, " none");
        for (char *c = buf; *c; c++) /* RUNNING -> running */
                *c = (char)tolower((unsigned char)*c);
}

static int on_status_timer(struct event_source *s, uint64_t expirations, void *userdata)
{
        static char last[256];
        char now[sizeof(last)];

        (void)s;
        (void)expirations;
        master_status_format(userdata, now, sizeof(now));
        if (!streq(now, last)) {
                (void)sd_notifyf(0, "STATUS=%s", now);
                memcpy(last, now, sizeof(last));
        }
        return 0;
}

/* --migrate-to etcd: the SQLite state of --state-dir into an empty etcd prefix. A master must
 * not be running on that state (SQLite would let it write on): stop it first. */
static int master_migrate(const struct master_options *opts)
{
        _cleanup_free_ char *db = NULL, *err = NULL, *counts = NULL;
        struct store *from = NULL, *to = NULL;
        int r;

        if (asprintf(&db, "%s/master.db", opts->state_dir) < 0)
                return 1;
        if (access(db, F_OK) < 0) {
                log_error("--migrate-to etcd: %s: no SQLite state to copy (%m); --state-dir names "
                          "the directory of master.db",
                          db);
                return 1;
        }
        r = store_open(db, &from, &err);
        if (r >= 0)
                r = store_open_etcd(opts->etcd, &MASTER_ETCD_TLS(opts), opts->etcd_prefix, &to,
                                    &err);
        if (r >= 0)
                r = store_migrate(from, to, &counts, &err);
        store_free(to);
        store_free(from);
        if (r < 0) {
                log_error("--migrate-to etcd: %s", err ? err : strerror(-r));
                return 1;
        }
        log_info("copied %s from %s into etcd %s under %s", counts, db, opts->etcd,
                 opts->etcd_prefix);
        return 0;
}

int main(int argc, char **argv)
{
        struct master_options opts = {0};
        _cleanup_free_ char *err = NULL;
        master *m = NULL;
        sigset_t mask;
        int r;

        log_set_ident("silo-master");
        r = master_options_parse(argc, argv, &opts);
        if (r >= 0) {
                config_free(&master_config_schema, &opts);
                return r;
        }
        if (opts.migrate_to) {
                r = master_migrate(&opts);
                config_free(&master_config_schema, &opts);
                return r;
        }
        raise_nofile(opts.nofile);

        /* SIGTERM/SIGINT arrive through the loop's signalfd (master_new()); blocked from here
         * on, one that comes during recovery waits for the loop instead of killing the master.
         * A peer closing a socket must not kill it either. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);

        r = master_new(&opts, &m, &err);
        if (r < 0) {
                log_error("%s", err ? err : strerror(-r));
                config_free(&master_config_schema, &opts);
                return 1;
        }
        log_info("listening on %s (port %u), state in %s", opts.listen, http_server_port(m->http),
                 opts.state_dir);
        log_info("HTTP connections: at most %u, max %llu per client, header deadline %llu s, "
                 "idle timeout %llu s",
                 http_server_connection_limit(m->http),
                 (unsigned long long)opts.max_connections_per_client,
                 (unsigned long long)opts.header_timeout_s, (unsigned long long)opts.idle_timeout_s);
        (void)sd_notify(0, "READY=1");
        r = event_loop_add_timer(m->loop, 0, STATUS_INTERVAL_USEC, on_status_timer, m, NULL, NULL);
        if (r < 0)
                log_warning_errno(r, "Failed to add the STATUS timer: %m");
        r = master_run(m);
        if (r == -ESTALE && m->leader) {
                /* Deposed: everything this process held in memory came from a leadership it
                 * lost, so it starts over as a follower through the one startup path that
                 * is tested, rather than tearing every module's state down by hand. */
                log_notice("stepped down (%s); restarting as a follower",
                           strempty(m->deposed_why));
                master_free(m);
                config_free(&master_config_schema, &opts);
                execv("/proc/self/exe", argv);
                log_error_errno(-errno, "Failed to re-execute /proc/self/exe: %m; exiting");
                return 1;
        }
        (void)sd_notify(0, "STOPPING=1");
        master_free(m);
        config_free(&master_config_schema, &opts);
        return r < 0 ? 1 : 0;
}
