/* SPDX-License-Identifier: Apache-2.0 */
/* silo-agent: the node daemon; options, startup checks, the event loop, sd_notify, shutdown. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "agent/agent.h"
#include "agent/shim-server.h"
#include "agent/volumes.h"
#include "agent/task-network.h"
#include "agent/measure.h"
#include "agent/options.h"
#include "agent/systemd.h"
#include "common/auth.h"
#include "common/config.h"
#include "common/fd-limit.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/tls.h"

static int log_level_parse(const char *s)
{
        static const char *const names[] = {
                [LOG_ERR] = "error", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
                [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
        };
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (names[i] && streq(names[i], s))
                        return (int)i;
        return -EINVAL;
}

static int find_shim(struct agent *a)
{
        char self[PATH_MAX], *slash;
        ssize_t n;

        if (a->opts.shim) {
                a->shim_path = strdup(a->opts.shim);
                if (!a->shim_path)
                        return -ENOMEM;
                return access(a->shim_path, X_OK) < 0 ? negative_errno() : 0;
        }
        /* A build tree keeps silo-shim next to silo-agent; `meson install` in SILO_SHIM_PATH. */
        n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n > 0) {
                self[n] = '\0';
                slash = strrchr(self, '/');
                if (slash && asprintf(&a->shim_path, "%.*s/silo-shim", (int)(slash - self), self) >= 0 &&
                    access(a->shim_path, X_OK) == 0)
                        return 0;
                free(a->shim_path);
        }
        a->shim_path = strdup(SILO_SHIM_PATH);
        if (!a->shim_path)
                return -ENOMEM;
        return access(a->shim_path, X_OK) < 0 ? negative_errno() : 0;
}

/* STATUS= for `systemctl status`: the tasks by state, e.g. "tasks: 2 running, 1 starting,
 * 5 finished". Sent whenever a task changes state or is forgotten. */
void agent_notify_status(struct agent *a)
{
        char buf[256] = "tasks: none";
        size_t len = strlen("tasks:");

        for (int s = 0; s < _SILO_TASK_STATE_MAX && a->n_tasks; s++) {
                size_t n = agent_count_tasks(a, s);
                int w;

                if (!n)
                        continue;
                w = snprintf(buf + len, sizeof(buf) - len, "%s %zu %s", len > 6 ? "," : "", n,
                             silo_task_state_to_string(s));
                if (w < 0 || (size_t)w >= sizeof(buf) - len)
                        break;
                len += (size_t)w;
        }
        for (char *c = buf; *c; c++)   /* RUNNING -> running */
                *c = (char)tolower((unsigned char)*c);
        (void)sd_notifyf(0, "STATUS=%s", buf);
}

static int on_signal(struct event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        struct agent *a = userdata;

        (void)s;
        /* Stopping the agent never stops its tasks: their shims carry on without us. */
        log_info("Received %s, stopping (tasks keep running)", strsignal((int)si->ssi_signo));
        event_loop_exit(a->loop, 0);
        return 0;
}

static int mkdir_state(const char *path)
{
        int r = mkdir_parents(path, 0700);

        if (r < 0)
                return log_error_errno(r, "Failed to create %s: %m", path);
        return 0;
}

static void agent_free(struct agent *a)
{
        agent_api_stop(a);
        agent_measure_stop(a);
        agent_network_stop(a);
        for (size_t i = 0; i < a->n_tasks; i++)
                task_free(a->tasks[i]);
        free(a->tasks);
        for (size_t i = 0; i < a->n_disks; i++) {
                free(a->disks[i].name);
                free(a->disks[i].path);
                free(a->disks[i].class);
                free(a->disks[i].mount);
                free(a->disks[i].fs);
        }
        free(a->disks);
        agent_volumes_free(a);
        agent_link_free(a);
        shim_server_stop(a);
        event_source_remove(a->housekeeping_timer);
        a->lock_fd = safe_close(a->lock_fd);
        event_source_remove(a->watchdog_timer);
        a->loop = event_loop_free(a->loop);
        cg_hierarchy_free(a->cg);
        free(a->token);
        tls_creds_free(a->tls);
        free(a->shim_path);
        free(a->tasks_dir);
        free(a->state_dir_real);
        epoch_fence_done(&a->epoch);
        free(a->sandboxes_dir);
        config_free(&agent_options_schema, &a->opts);
}

/* Refuse before touching anything: a bad option, or no cgroup v2 controllers (then there is
 * no isolation, and an agent that runs tasks unconfined is worse than none). */
static int agent_check(void)
{
        _cleanup_free_ char *err = NULL;
        const struct cg_probe *probe;
        uint64_t before, after;
        int r;

        /* Started by hand the soft limit is often 1024: every connection, pidfd and log is an
         * fd (tasks inherit the raised limit unless their spec sets rlimits.nofile). */
        r = fd_limit_raise(0, &before, &after);
        if (r < 0)
                log_warning_errno(r, "Failed to raise RLIMIT_NOFILE: %m");
        else
                log_info("RLIMIT_NOFILE %llu (was %llu)", (unsigned long long)after, (unsigned long long)before);

        r = cg_probe(NULL, &probe);
        if (r >= 0)
                r = cg_probe_check(probe, &err);
        if (r < 0) {
                log_error("Refusing to start: %s", err ? err : "cannot probe cgroup v2 at /sys/fs/cgroup");
                return -EOPNOTSUPP;
        }
        return 0;
}

/* The cgroup tree: under systemd (and no --cgroup-root) in the scope systemd delegated to
 * Silo, the agent staying in its own unit; else --cgroup-root or /sys/fs/cgroup/silo. */
static int agent_cgroup_setup(struct agent *a)
{
        _cleanup_free_ char *err = NULL, *scope = NULL;
        bool created = false;
        int r;

        if (a->opts.cgroup_root || !agent_systemd_manages_cgroups())
                r = cg_hierarchy_setup(a->opts.cgroup_root, false, &a->cg, &err);
        else {
                r = agent_systemd_scope(&scope, &created, &err);
                if (r >= 0) {
                        log_info("%s %s for the tasks: %s", created ? "Started" : "Adopted",
                                 AGENT_TASKS_SCOPE, scope);
                        r = cg_hierarchy_setup(scope, true, &a->cg, &err);
                }
        }
        if (r < 0)
                return log_error_errno(r, "Setting up the cgroup hierarchy: %s", err ? err : strerror(-r));
        return 0;
}

/* The state directory (locked), the cluster token, the disks, silo-shim and the cgroup tree. */
static int agent_state_open(struct agent *a)
{
        _cleanup_free_ char *err = NULL;
        bool generated = false;
        int r;

        if (asprintf(&a->tasks_dir, "%s/tasks", a->opts.state_dir) < 0 ||
            asprintf(&a->sandboxes_dir, "%s/sandboxes", a->opts.state_dir) < 0)
                return log_error_errno(-ENOMEM, "Out of memory");
        if ((r = mkdir_state(a->opts.state_dir)) < 0 || (r = mkdir_state(a->tasks_dir)) < 0 ||
            (r = mkdir_state(a->sandboxes_dir)) < 0)
                return r;
        /* Before anything reads or writes the state: a second agent must not touch it. */
        r = agent_state_lock(a->opts.state_dir, &a->lock_fd, &err);
        if (r < 0)
                return log_error_errno(r, "Refusing to start: %s", err ? err : strerror(-r));
        /* What a launch's rootfs or volume source must stay out of, resolved once rather than
         * per launch: it is the directory this agent holds locked. */
        a->state_dir_real = realpath(a->opts.state_dir, NULL);
        if (!a->state_dir_real)
                return log_error_errno(negative_errno(), "Cannot resolve the state directory %s: %m",
                                       a->opts.state_dir);

        {
                _cleanup_free_ char *path = NULL;

                if (asprintf(&path, "%s/master-epoch", a->opts.state_dir) < 0)
                        return log_error_errno(-ENOMEM, "Out of memory");
                r = epoch_fence_open(path, &a->epoch, &err);
                if (r < 0)
                        return log_error_errno(r, "Refusing to start: %s", err ? err : strerror(-r));
        }
        if ((r = agent_token_file_check(a)) < 0)
                return r;
        r = auth_token_load(a->opts.token_file, a->opts.state_dir, &a->token, &generated, &err);
        if (r < 0)
                return log_error_errno(r, "Cluster token: %s", err ? err : strerror(-r));
        if (generated)
                log_notice("Generated the cluster token in %s/%s", a->opts.state_dir, AUTH_TOKEN_FILE_NAME);
        if (a->opts.tls_ca || a->opts.tls_cert || a->opts.tls_key || a->opts.tls_crl) {
                struct tls_files f = {a->opts.tls_ca, a->opts.tls_cert, a->opts.tls_key, a->opts.tls_crl};

                r = tls_creds_new(&f, &a->tls, &err);
                if (r < 0)
                        return log_error_errno(r, "Refusing to start: %s", err ? err : strerror(-r));
        }

        free(err);
        err = NULL;
        r = agent_disks_resolve(a, &err);
        if (r < 0)
                return log_error_errno(r, "Refusing to start: %s", err ? err : "resolving --disk failed");
        r = agent_volumes_load(a, &err);
        if (r < 0)
                return log_error_errno(r, "Refusing to start: persistent volumes: %s", err ? err : strerror(-r));

        r = find_shim(a);
        if (r < 0)
                return log_error_errno(r, "Cannot find silo-shim (%s): %m (use --shim)", strempty(a->shim_path));

        r = agent_cgroup_setup(a);
        if (r < 0)
                return r;
        log_info("cgroup root %s", cg_hierarchy_root(a->cg));
        (void)node_limits_read(cg_hierarchy_root(a->cg), &a->node_limits);
        return 0;
}

/* Everything the agent waits for, on one event loop: signals, the tasks it recovers, the API,
 * the I/O measurements, housekeeping, the systemd watchdog and the master link. */
static int agent_loop_setup(struct agent *a)
{
        int r;

        r = event_loop_new(&a->loop);
        if (r < 0)
                return log_error_errno(r, "Failed to set up io_uring: %m");
        if ((r = event_loop_add_signal(a->loop, SIGTERM, on_signal, a, NULL, NULL)) < 0 ||
            (r = event_loop_add_signal(a->loop, SIGINT, on_signal, a, NULL, NULL)) < 0)
                return log_error_errno(r, "Failed to watch signals: %m");
        signal(SIGPIPE, SIG_IGN);

        r = agent_link_setup(a);
        if (r < 0)
                return r;
        {
                _cleanup_free_ char *err = NULL;

                r = agent_network_start(a, &err);
                if (r < 0)
                        return log_error_errno(r, "Failed to set up bridge-mode task networking: %s",
                                               err ? err : strerror(-r));
        }
        r = agent_tasks_recover(a);
        if (r < 0)
                return log_error_errno(r, "Failed to read the checkpoints in %s: %m", a->tasks_dir);
        /* After the tasks: what belongs to the live ones stays, the rest goes. */
        agent_network_recover(a);
        agent_volumes_recover(a);
        {
                _cleanup_free_ char *err = NULL;

                /* After recovery, which kills whatever in <root>/shims is not a shim. */
                r = shim_server_start(a, &err);
                if (r < 0)
                        return log_error_errno(r, "Failed to start the shim server: %s", err ? err : strerror(-r));
        }

        {
                _cleanup_free_ char *err = NULL;

                r = agent_api_start(a, &err);
                if (r < 0)
                        return log_error_errno(r, "Failed to listen: %s", err ? err : strerror(-r));
        }
        log_info("HTTP connections: at most %u, max %llu per client, header deadline %llu s, idle timeout %llu s",
                 http_server_connection_limit(a->http), (unsigned long long)a->opts.max_connections_per_client,
                 (unsigned long long)a->opts.header_timeout_s, (unsigned long long)a->opts.idle_timeout_s);
        r = agent_measure_start(a);
        if (r < 0)
                return log_error_errno(r, "Failed to start the I/O measurements: %m");
        r = agent_housekeeping_start(a);
        if (r < 0)
                return log_error_errno(r, "Failed to add the housekeeping timer: %m");
        r = event_loop_add_watchdog(a->loop, &a->watchdog_timer);
        if (r < 0)
                return log_error_errno(r, "Failed to add the watchdog timer: %m");
        return agent_link_start(a);
}

static int agent_run(struct agent *a)
{
        int r;

        if ((r = agent_check()) < 0 || (r = agent_state_open(a)) < 0 || (r = agent_loop_setup(a)) < 0)
                return r;
        a->started_usec = now_usec();
        log_info("silo-agent %s listening on %s (port %u), state in %s, %zu tasks recovered%s",
                 SILO_VERSION, a->opts.listen, http_server_port(a->http), a->opts.state_dir, a->n_tasks,
                 a->opts.master ? "" : ", standalone");
        (void)sd_notify(0, "READY=1");
        agent_notify_status(a);

        r = event_loop_run(a->loop);
        (void)sd_notify(0, "STOPPING=1");
        return r;
}

int main(int argc, char **argv)
{
        struct agent a = {.lock_fd = -EBADF};
        _cleanup_free_ char *err = NULL;
        int r, level;

        /* silo-agent is also the holder of its systemd scope (agent/systemd.c). */
        if (argc >= 1 && streq(argv[0], AGENT_SCOPE_HOLDER_NAME))
                return agent_scope_holder_main();
        log_set_ident("silo-agent");
        r = config_parse(&agent_options_schema, argc, argv, &a.opts, &err);
        if (r == CONFIG_HELP) {
                _cleanup_free_ char *help = config_help_format(&agent_options_schema);
                fputs(help ? help : "", stdout);
                config_free(&agent_options_schema, &a.opts);
                return 0;
        }
        if (r == CONFIG_VERSION) {
                printf("silo-agent %s\n", SILO_VERSION);
                config_free(&agent_options_schema, &a.opts);
                return 0;
        }
        if (r < 0) {
                log_error("%s", err ? err : "invalid options");
                config_free(&agent_options_schema, &a.opts);
                return EX_CONFIG;
        }
        level = log_level_parse(a.opts.log_level);
        if (level < 0) {
                log_error("--log-level: '%s' is not one of error, warning, notice, info, debug", a.opts.log_level);
                config_free(&agent_options_schema, &a.opts);
                return EX_CONFIG;
        }
        log_set_max_level(level);
        {
                uint16_t pmin, pmax;

                /* A configuration error like the parser's: exit 78, not a restart loop. */
                if (silo_port_range_parse(a.opts.task_ports, &pmin, &pmax) < 0) {
                        log_error("--task-ports: '%s' is not a port range (MIN-MAX with 1 <= MIN <= "
                                  "MAX <= 65535, like 20000-32767)",
                                  strempty(a.opts.task_ports));
                        config_free(&agent_options_schema, &a.opts);
                        return EX_CONFIG;
                }
                if (agent_network_options_check(a.opts.task_subnet, a.opts.task_bridge, NULL, &err) < 0) {
                        log_error("%s", strempty(err));
                        config_free(&agent_options_schema, &a.opts);
                        return EX_CONFIG;
                }
        }
        r = agent_run(&a);
        agent_free(&a);
        return r < 0 ? 1 : 0;
}
