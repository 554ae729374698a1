/* SPDX-License-Identifier: Apache-2.0 */
/* silo-master's lifecycle: recovery from SQLite, and the single-threaded epoll loop. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <systemd/sd-daemon.h>

#include "common/auth.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "master/master.h"
#include "master/store.h"

enum {
        SOURCE_HTTP = 1,
        SOURCE_CLIENT,
        SOURCE_TIMER,
        SOURCE_SIGNAL,
        SOURCE_STOP,
};

static int master_load_agent(struct master_agent *a, void *userdata)
{
        master *m = userdata;
        int r;

        r = table_put(m->agents, a->id, a);
        if (r < 0) {
                master_agent_free(a);
                return r;
        }
        if (a->state != MASTER_AGENT_ACTIVE)
                return 0;
        /* A restarted master gives every agent that was active a full timeout to show up
         * again, so no task is declared lost because the master was down. */
        r = alloc_agent_add(m->alloc, a->id, a->reg);
        if (r < 0) {
                log_warning("agent %s: cannot restore its resources (%s); it must register again",
                            a->id, strerror(-r));
                a->state = MASTER_AGENT_LOST;
                return 0;
        }
        a->last_seen_mono_ms = now_mono_ms();
        return 0;
}

static int master_load_task(struct master_task *t, void *userdata)
{
        master *m = userdata;
        struct master_agent *a;
        int r;

        r = table_put(m->tasks, t->id, t);
        if (r < 0) {
                master_task_free(t);
                return r;
        }
        m->next_seq = MAX(m->next_seq, t->seq);
        master_task_reindex(m, t, NULL);
        if (silo_task_state_is_terminal(t->state))
                return 0;
        if (t->state == SILO_TASK_PENDING) {
                master_schedule(m);
                return 0;
        }
        a = master_agent_get(m, t->agent_id);
        if (a && a->state == MASTER_AGENT_ACTIVE)
                (void)master_task_charge(m, t);
        return 0;
}

/* "--role-weight alpha=2": a role's weight in weighted DRF. */
static int master_role_weight_apply(master *m, const char *spec, char **ret_error)
{
        _cleanup_free_ char *role = NULL;
        const char *eq = strchr(spec, '=');
        char *end = NULL;
        double w = 0;

        if (eq) {
                role = strndup(spec, (size_t)(eq - spec));
                if (!role)
                        return -ENOMEM;
                errno = 0;
                w = strtod(eq + 1, &end);
        }
        if (!eq || !silo_name_is_valid(role)) {
                if (asprintf(ret_error,
                             "--role-weight: '%s' is not ROLE=WEIGHT with a valid role name",
                             spec) < 0)
                        *ret_error = NULL;
                return -EINVAL;
        }
        if (end == eq + 1 || *end != '\0' || errno == ERANGE || !(w > 0) || !isfinite(w)) {
                if (asprintf(ret_error, "--role-weight: '%s': weight '%s' is not a positive number",
                             spec, eq + 1) < 0)
                        *ret_error = NULL;
                return -EINVAL;
        }
        return alloc_role_set_weight(m->alloc, role, w);
}

static int epoll_add(int epfd, int fd, uint32_t tag)
{
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = tag};

        return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? negative_errno() : 0;
}

static int master_error(char **ret_error, int r, const char *what, const char *detail)
{
        if (ret_error && asprintf(ret_error, "%s: %s", what, detail ? detail : strerror(-r)) < 0)
                *ret_error = NULL;
        return r;
}

int master_new(const struct master_options *opts, master **ret, char **ret_error)
{
        _cleanup_free_ char *db = NULL, *err = NULL;
        struct http_server_config hc;
        struct itimerspec its = {0};
        sigset_t mask;
        uint64_t tick;
        master *m;
        bool generated = false;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->epoll_fd = m->timer_fd = m->signal_fd = m->stop_fd = -EBADF;
        m->started_ms = now_realtime_ms();
        m->opts = *opts;
        m->opts.listen = strdup(opts->listen);
        m->opts.state_dir = strdup(opts->state_dir);
        m->opts.token_file = opts->token_file ? strdup(opts->token_file) : NULL;
        m->opts.log_level = NULL;
        if (!m->opts.listen || !m->opts.state_dir || (opts->token_file && !m->opts.token_file)) {
                master_free(m);
                return -ENOMEM;
        }

        /* Option errors first, before anything is created on disk. */
        r = alloc_cluster_new(&m->alloc);
        if (r < 0)
                goto fail;
        for (char **w = opts->role_weights; w && *w; w++) {
                r = master_role_weight_apply(m, *w, ret_error);
                if (r < 0)
                        goto fail;
        }

        r = mkdir_parents(m->opts.state_dir, 0700);
        if (r < 0) {
                master_error(ret_error, r, m->opts.state_dir, NULL);
                goto fail;
        }
        r = auth_token_load(m->opts.token_file, m->opts.state_dir, &m->token, &generated, &err);
        if (r < 0) {
                master_error(ret_error, r, "cluster token", err);
                goto fail;
        }
        if ((r = master_token_file_check(m->opts.token_file, ret_error)) < 0)
                goto fail;
        if (generated)
                log_info("generated the cluster token in %s/token (copy it to every agent's "
                         "--token-file)",
                         m->opts.state_dir);

        if (asprintf(&db, "%s/master.db", m->opts.state_dir) < 0) {
                r = -ENOMEM;
                goto fail;
        }
        free(err);
        err = NULL;
        r = store_open(db, &m->store, &err);
        if (r < 0) {
                master_error(ret_error, r, "state", err);
                goto fail;
        }
        if ((r = table_new(&m->tasks)) < 0 || (r = table_new(&m->agents)) < 0)
                goto fail;
        r = store_load_agents(m->store, master_load_agent, m);
        if (r >= 0)
                r = store_load_tasks(m->store, master_load_task, m);
        if (r < 0) {
                master_error(ret_error, r, db, "cannot load the saved state");
                goto fail;
        }
        log_info("recovered %zu agents and %zu tasks from %s", table_size(m->agents),
                 table_size(m->tasks), db);

        r = http_client_new(&m->client);
        if (r < 0)
                goto fail;
        hc = (struct http_server_config){
            .listen = m->opts.listen,
            .routes = master_routes,
            .n_routes = master_n_routes,
            .userdata = m,
            .token = m->token,
            .connection_limit = (unsigned)m->opts.max_connections,
            .per_client_limit = (unsigned)m->opts.max_connections_per_client,
            .connection_timeout_s = (unsigned)m->opts.idle_timeout_s,
            .header_timeout_s = (unsigned)m->opts.header_timeout_s,
        };
        r = http_server_new(&hc, &m->http);
        if (r < 0) {
                master_error(ret_error, r, m->opts.listen,
                             r == -EINVAL ? "not a listen address (HOST:PORT or [IPv6]:PORT)"
                                          : NULL);
                goto fail;
        }

        /* Under systemd with WatchdogSec=, ping from the loop so a wedged master is restarted. */
        if (sd_watchdog_enabled(0, &m->watchdog_usec) <= 0)
                m->watchdog_usec = 0;
        m->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        m->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        m->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        m->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        if (m->epoll_fd < 0 || m->timer_fd < 0 || m->stop_fd < 0 || m->signal_fd < 0) {
                r = negative_errno();
                goto fail;
        }
        /* Check heartbeats often enough that an agent is declared lost within about a
         * quarter of its timeout after it expires. */
        tick = MIN(m->opts.heartbeat_interval_ms, m->opts.agent_timeout_ms / 4);
        tick = MAX(MIN(tick, (uint64_t)1000), (uint64_t)20);
        its.it_value.tv_sec = its.it_interval.tv_sec = (time_t)(tick / 1000);
        its.it_value.tv_nsec = its.it_interval.tv_nsec = (long)(tick % 1000) * 1000000L;
        if (timerfd_settime(m->timer_fd, 0, &its, NULL) < 0) {
                r = negative_errno();
                goto fail;
        }
        if ((r = epoll_add(m->epoll_fd, http_server_get_fd(m->http), SOURCE_HTTP)) < 0 ||
            (r = epoll_add(m->epoll_fd, http_client_get_fd(m->client), SOURCE_CLIENT)) < 0 ||
            (r = epoll_add(m->epoll_fd, m->timer_fd, SOURCE_TIMER)) < 0 ||
            (r = epoll_add(m->epoll_fd, m->signal_fd, SOURCE_SIGNAL)) < 0 ||
            (r = epoll_add(m->epoll_fd, m->stop_fd, SOURCE_STOP)) < 0)
                goto fail;
        *ret = m;
        return 0;
fail:
        if (ret_error && !*ret_error)
                master_error(ret_error, r, "startup", NULL);
        master_free(m);
        return r;
}

master *master_free(master *m)
{
        struct master_task *t;
        struct master_agent *a;
        size_t i = 0;

        if (!m)
                return NULL;
        /* What the last turn changed is committed and answered before anything goes away;
         * then the server, so no handler runs against half-freed state. */
        if (m->store)
                (void)master_commit(m);
        free(m->acks);
        master_outbox_drop(m);
        http_server_free(m->http);
        http_client_free(m->client);
        if (m->tasks) {
                while (table_next(m->tasks, &i, NULL, (void **)&t))
                        master_task_free(t);
                table_free(m->tasks);
        }
        if (m->agents) {
                i = 0;
                while (table_next(m->agents, &i, NULL, (void **)&a))
                        master_agent_free(a);
                table_free(m->agents);
        }
        master_recent_kills_free(m);
        alloc_cluster_free(m->alloc);
        store_free(m->store);
        safe_close(m->epoll_fd);
        safe_close(m->timer_fd);
        safe_close(m->signal_fd);
        safe_close(m->stop_fd);
        if (m->token)
                explicit_bzero(m->token, strlen(m->token));
        free(m->token);
        free(m->opts.listen);
        free(m->opts.state_dir);
        free(m->opts.token_file);
        free(m);
        return NULL;
}

int master_ack_after_commit(master *m, http_request *req)
{
        http_deferred *d;

        if (!store_in_transaction(m->store))
                return 0;
        if (m->n_acks == m->cap_acks) {
                size_t cap = m->cap_acks ? m->cap_acks * 2 : 64;
                http_deferred **v = realloc(m->acks, cap * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                m->acks = v;
                m->cap_acks = cap;
        }
        d = http_request_defer(req);
        if (!d)
                return -ENOMEM;
        m->acks[m->n_acks++] = d;
        return HTTP_DEFERRED;
}

int master_commit(master *m)
{
        int r;

        r = store_commit(m->store);
        if (r < 0 && !m->fatal) {
                log_error("Failed to commit the master's state: %s; stopping (a restart recovers "
                          "the last "
                          "committed state)",
                          strerror(-r));
                m->fatal = r;
        }
        for (size_t i = 0; i < m->n_acks; i++) {
                if (r < 0)
                        (void)http_response_error(
                            http_deferred_response(m->acks[i]), 503, "unavailable",
                            "the master could not commit this change: %s", strerror(-r));
                (void)http_deferred_finish(m->acks[i]);
        }
        m->n_acks = 0;
        return r;
}

void master_stop(master *m)
{
        uint64_t one = 1;

        (void)!write(m->stop_fd, &one, sizeof(one));
}

int master_run(master *m)
{
        struct epoll_event ev[32];
        int r;

        /* Resend what an earlier run left in flight before serving anything. */
        master_launcher_tick(m);
        while (!m->stopping) {
                bool had_acks;
                int n, timeout;

                if (m->alloc_needed) {
                        r = master_allocate(m);
                        if (r < 0)
                                log_error("allocation pass failed: %s", strerror(-r));
                }
                /* Group commit: one fsync for everything this turn changed, before any answer
                 * or agent call that depends on it leaves the process. Agent calls queued this
                 * turn are only started by curl in a later turn. */
                had_acks = m->n_acks > 0;
                if (master_commit(m) < 0) {
                        master_outbox_drop(m);
                        return m->fatal;
                }
                master_outbox_flush(m);
                /* MHD serves resumed connections only from its next run; do it now rather
                 * than when some other socket happens to wake the loop. */
                if (had_acks)
                        (void)http_server_run(m->http);
                timeout = http_server_timeout_ms(m->http);
                /* Work that the run above created must not wait for the next event. */
                if (m->alloc_needed || m->n_acks > 0 || m->n_outbox > 0 ||
                    store_in_transaction(m->store))
                        timeout = 0;
                n = epoll_wait(m->epoll_fd, ev, ELEMENTSOF(ev), timeout);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return log_error_errno(negative_errno(), "epoll_wait: %m");
                }
                for (int i = 0; i < n; i++) {
                        uint64_t v;

                        switch (ev[i].data.u32) {
                        case SOURCE_HTTP:
                                break; /* served below, like every other wake-up */
                        case SOURCE_CLIENT:
                                r = http_client_process(m->client);
                                if (r < 0)
                                        log_debug("http client: %s", strerror(-r));
                                break;
                        case SOURCE_TIMER:
                                (void)!read(m->timer_fd, &v, sizeof(v));
                                master_agents_check(m);
                                master_launcher_tick(m);
                                master_retention_tick(m);
                                if (m->watchdog_usec &&
                                    (now_mono_ms() - m->watchdog_last_ms) * 2000 >=
                                        m->watchdog_usec) {
                                        (void)sd_notify(0, "WATCHDOG=1");
                                        m->watchdog_last_ms = now_mono_ms();
                                }
                                break;
                        case SOURCE_SIGNAL: {
                                struct signalfd_siginfo si;
                                if (read(m->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                                        log_info("received %s, stopping",
                                                 strsignal((int)si.ssi_signo));
                                m->stopping = true;
                                break;
                        }
                        case SOURCE_STOP:
                                (void)!read(m->stop_fd, &v, sizeof(v));
                                m->stopping = true;
                                break;
                        }
                }
                /* Whatever woke the loop: MHD asks to run at its timeout and re-arms its listen
                 * socket (dropped at --max-connections) only from a run, so running it only when
                 * its fd was ready could stop the master accepting for good. */
                r = http_server_run(m->http);
                if (r < 0)
                        log_debug("http server: %s", strerror(-r));
        }
        return 0;
}
