/* SPDX-License-Identifier: Apache-2.0 */
/* silo-master's lifecycle: recovery from SQLite, and its turns on the event loop. */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/array.h"
#include "common/auth.h"
#include "common/error.h"
#include "common/event-loop.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/tls.h"
#include "master/events.h"
#include "master/master.h"
#include "master/store.h"

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

static int master_load_volume(struct master_volume *v, void *userdata)
{
        return master_volume_load(userdata, v);
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
        if (!eq || !silo_name_is_valid(role))
                return error_set(ret_error, -EINVAL,
                                 "--role-weight: '%s' is not ROLE=WEIGHT with a valid role name",
                                 spec);
        if (end == eq + 1 || *end != '\0' || errno == ERANGE || !(w > 0) || !isfinite(w))
                return error_set(ret_error, -EINVAL,
                                 "--role-weight: '%s': weight '%s' is not a positive number", spec,
                                 eq + 1);
        return alloc_role_set_weight(m->alloc, role, w);
}

/* Copy the options the master keeps and apply the ones that can be wrong (role weights)
 * before anything is created on disk. */
static int master_options_apply(master *m, const struct master_options *opts, char **ret_error)
{
        int r;

        m->opts = *opts;
        m->opts.listen = strdup(opts->listen);
        m->opts.state_dir = strdup(opts->state_dir);
        m->opts.token_file = opts->token_file ? strdup(opts->token_file) : NULL;
        m->opts.role_weights = NULL;
        m->opts.log_level = NULL;
        m->opts.advertise = opts->advertise ? strdup(opts->advertise) : NULL;
        m->opts.name = opts->name ? strdup(opts->name) : NULL;
        m->opts.migrate_to = NULL;
        m->opts.store = opts->store ? strdup(opts->store) : NULL;
        m->opts.etcd = opts->etcd ? strdup(opts->etcd) : NULL;
        m->opts.etcd_prefix = strdup(opts->etcd_prefix ? opts->etcd_prefix : "/silo/");
        m->opts.etcd_ca = opts->etcd_ca ? strdup(opts->etcd_ca) : NULL;
        m->opts.etcd_cert = opts->etcd_cert ? strdup(opts->etcd_cert) : NULL;
        m->opts.etcd_key = opts->etcd_key ? strdup(opts->etcd_key) : NULL;
        /* Read now; the credentials keep what they need. */
        m->opts.tls_ca = m->opts.tls_cert = m->opts.tls_key = m->opts.tls_crl = NULL;
        m->opts.health_listen = NULL;
        m->agent_scheme = "http";
        if (opts->tls_ca || opts->tls_cert || opts->tls_key || opts->tls_crl) {
                struct tls_files f = {opts->tls_ca, opts->tls_cert, opts->tls_key, opts->tls_crl};

                r = tls_creds_new(&f, &m->tls, ret_error);
                if (r < 0)
                        return r;
                m->agent_scheme = "https";
        }
        if (!m->opts.listen || !m->opts.state_dir || (opts->token_file && !m->opts.token_file) ||
            (opts->advertise && !m->opts.advertise) || (opts->name && !m->opts.name) ||
            (opts->store && !m->opts.store) || (opts->etcd && !m->opts.etcd) ||
            !m->opts.etcd_prefix || (opts->etcd_ca && !m->opts.etcd_ca) ||
            (opts->etcd_cert && !m->opts.etcd_cert) || (opts->etcd_key && !m->opts.etcd_key))
                return -ENOMEM;
        r = alloc_cluster_new(&m->alloc);
        if (r < 0)
                return r;
        for (char **w = opts->role_weights; w && *w; w++) {
                r = master_role_weight_apply(m, *w, ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}

int master_store_open(const struct master_options *opts, struct store **ret, char **ret_error)
{
        _cleanup_free_ char *db = NULL;

        if (opts->store && streq(opts->store, "etcd"))
                return store_open_etcd(opts->etcd, &MASTER_ETCD_TLS(opts),
                                       opts->etcd_prefix ? opts->etcd_prefix : "/silo/", ret,
                                       ret_error);
        if (asprintf(&db, "%s/master.db", opts->state_dir) < 0)
                return -ENOMEM;
        return store_open(db, ret, ret_error);
}

/* The state directory, the cluster token, and the agents and tasks the store kept. */
static int master_state_open(master *m, char **ret_error)
{
        bool generated = false;
        int r;

        r = mkdir_parents(m->opts.state_dir, 0700);
        if (r < 0)
                return error_wrap(ret_error, r, "%s", m->opts.state_dir);
        r = auth_token_load(m->opts.token_file, m->opts.state_dir, &m->token, &generated,
                            ret_error);
        if (r < 0)
                return error_wrap(ret_error, r, "cluster token");
        r = master_token_file_check(m->opts.token_file, ret_error);
        if (r < 0)
                return r;
        if (generated)
                log_info("generated the cluster token in %s/token (copy it to every agent's "
                         "--token-file)",
                         m->opts.state_dir);

        if ((r = table_new(&m->tasks)) < 0 || (r = table_new(&m->agents)) < 0)
                return r;
        /* With an election the store is opened and the state loaded when this master is
         * elected (role.c): a follower comes up and answers even while etcd is unreachable. */
        if (master_role_elects(m))
                return 0;
        r = master_store_open(&m->opts, &m->store, ret_error);
        if (r < 0)
                return error_wrap(ret_error, r, "state");
        return master_state_load(m, ret_error);
}

int master_state_load(master *m, char **ret_error)
{
        _cleanup_free_ char *db = NULL;
        int r;

        if (streq(store_backend(m->store), "etcd"))
                r = asprintf(&db, "etcd %s (prefix %s)", m->opts.etcd, m->opts.etcd_prefix);
        else
                r = asprintf(&db, "%s/master.db", m->opts.state_dir);
        if (r < 0)
                return -ENOMEM;
        r = store_load_agents(m->store, master_load_agent, m);
        if (r >= 0)
                r = store_load_volumes(m->store, master_load_volume, m);
        if (r >= 0)
                r = store_load_tasks(m->store, master_load_task, m);
        if (r < 0)
                return error_set(ret_error, r, "%s: cannot load the saved state", db);
        r = master_events_new(m, &m->events, ret_error);
        if (r < 0)
                return r;
        log_info("recovered %zu agents, %zu volumes and %zu tasks from %s", table_size(m->agents),
                 m->volumes ? table_size(m->volumes) : 0, table_size(m->tasks), db);
        m->loaded = true;
        return 0;
}

/* The client for calls to agents and the API server. */
static int master_listen(master *m, const char *health_listen, char **ret_error)
{
        struct http_server_config hc = {
            .listen = m->opts.listen,
            .routes = master_routes,
            .n_routes = master_n_routes,
            .userdata = m,
            .token = m->token,
            .connection_limit = (unsigned)m->opts.max_connections,
            .per_client_limit = (unsigned)m->opts.max_connections_per_client,
            .connection_timeout_s = (unsigned)m->opts.idle_timeout_s,
            .header_timeout_s = (unsigned)m->opts.header_timeout_s,
            .tls = m->tls,
            .gate = master_gate,
        };
        int r;

        r = http_client_new(&m->client);
        if (r < 0)
                return r;
        if (m->tls) {
                /* The master calls agents only: each call names the agent id its certificate
                 * must carry (http_client_set_peer before the request). */
                struct tls_files tls = *tls_creds_files(m->tls);

                tls.peer = (struct tls_peer){TLS_PEER_AGENT, NULL};
                if ((r = http_client_set_tls(m->client, &tls)) < 0)
                        return r;
        }
        r = http_server_new(&hc, &m->http);
        if (r < 0)
                return http_listen_error(r, "--listen", m->opts.listen, ret_error);
        if (health_listen) {
                r = http_server_new_health(health_listen, master_routes, master_n_routes, m,
                                           &m->health);
                if (r < 0)
                        return http_listen_error(r, "--health-listen", health_listen, ret_error);
        }
        return 0;
}

static int on_signal(struct event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        master *m = userdata;

        (void)s;
        log_info("received %s, stopping", strsignal((int)si->ssi_signo));
        event_loop_exit(m->loop, 0);
        return 0;
}

static int on_stop(struct event_source *s, int fd, uint32_t revents, void *userdata)
{
        master *m = userdata;
        uint64_t v;

        (void)s;
        (void)revents;
        (void)!read(fd, &v, sizeof(v));
        event_loop_exit(m->loop, 0);
        return 0;
}

static int on_tick(struct event_source *s, uint64_t expirations, void *userdata)
{
        master *m = userdata;

        (void)s;
        (void)expirations;
        if (!master_acting(m))
                return 0; /* a follower holds no state */
        master_agents_check(m);
        master_launcher_tick(m);
        master_retention_tick(m);
        master_events_tick(m);
        return 0;
}

/* Everything the master waits for, as sources of one event loop: SIGTERM/SIGINT, master_stop(),
 * the heartbeat check tick, the agent calls, the API server, and the systemd watchdog. */
static int master_loop_setup(master *m)
{
        uint64_t tick;
        int r;

        r = event_loop_new(&m->loop);
        if (r < 0)
                return r;
        m->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (m->stop_fd < 0)
                return negative_errno();
        /* Check heartbeats often enough that an agent is declared lost within about a
         * quarter of its timeout after it expires. */
        tick = MIN(m->opts.heartbeat_interval_ms, m->opts.agent_timeout_ms / 4);
        tick = MAX(MIN(tick, (uint64_t)1000), (uint64_t)20) * 1000;
        if ((r = event_loop_add_signal(m->loop, SIGTERM, on_signal, m, NULL, NULL)) < 0 ||
            (r = event_loop_add_signal(m->loop, SIGINT, on_signal, m, NULL, NULL)) < 0 ||
            (r = event_loop_add_io(m->loop, m->stop_fd, POLLIN, 0, on_stop, m, NULL, NULL)) < 0 ||
            (r = event_loop_add_timer(m->loop, tick, tick, on_tick, m, NULL, NULL)) < 0 ||
            (r = http_client_attach(m->client, m->loop)) < 0 ||
            (r = http_server_attach(m->http, m->loop)) < 0 ||
            (m->health && (r = http_server_attach(m->health, m->loop)) < 0))
                return r;
        /* Under systemd with WatchdogSec=, a wedged master is restarted. */
        r = event_loop_add_watchdog(m->loop, NULL);
        return MIN(r, 0);
}

int master_new(const struct master_options *opts, master **ret, char **ret_error)
{
        _cleanup_(master_freep) master *m = NULL;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->stop_fd = -EBADF;
        m->started_ms = now_realtime_ms();
        master_metrics_init(&m->metrics);
        /* Option errors first, before anything is created on disk. */
        if ((r = master_options_apply(m, opts, ret_error)) < 0 ||
            (r = master_state_open(m, ret_error)) < 0 ||
            (r = master_listen(m, opts->health_listen, ret_error)) < 0 ||
            (r = master_role_setup(m, ret_error)) < 0 || (r = master_loop_setup(m)) < 0 ||
            (r = master_role_start(m)) < 0) {
                if (ret_error && !*ret_error)
                        (void)error_wrap(ret_error, r, "startup");
                return r;
        }
        *ret = TAKE_PTR(m);
        return 0;
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
        if (m->store && !m->deposed)
                (void)master_commit(m);
        free(m->acks);
        /* Before the store: a leader's clean stop revokes its lease, so a standby takes over. */
        m->leader = master_leader_free(m->leader);
        master_outbox_drop(m);
        http_server_free(m->http);
        http_server_free(m->health);
        m->events = master_events_free(m->events); /* after its streams ended with the server */
        http_client_free(m->client);
        tls_creds_free(m->tls);
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
        if (m->volumes) {
                struct master_volume *v;

                i = 0;
                while (table_next(m->volumes, &i, NULL, (void **)&v))
                        master_volume_free(v);
                table_free(m->volumes);
        }
        master_recent_kills_free(m);
        alloc_cluster_free(m->alloc);
        store_free(m->store);
        m->loop = event_loop_free(m->loop);
        safe_close(m->stop_fd);
        if (m->token)
                explicit_bzero(m->token, strlen(m->token));
        free(m->token);
        free(m->opts.listen);
        free(m->opts.state_dir);
        free(m->opts.token_file);
        free(m->opts.store);
        free(m->opts.etcd);
        free(m->opts.etcd_prefix);
        free(m->opts.etcd_ca);
        free(m->opts.etcd_cert);
        free(m->opts.etcd_key);
        free(m->opts.advertise);
        free(m->opts.name);
        free(m->advertise);
        free(m->name);
        free(m->deposed_why);
        free(m);
        return NULL;
}

int master_ack_after_commit(master *m, http_request *req)
{
        http_deferred *d;

        if (!m->store || !store_in_transaction(m->store))
                return 0;
        if (!ARRAY_GROW(m->acks, m->cap_acks, m->n_acks + 1))
                return -ENOMEM;
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
        if (r == -ESTALE) {
                /* etcd refused the write: another master leads now, or another writer changed
                 * an object this master wrote, so its view is stale (store-etcd logs which).
                 * Nothing of this turn may be answered or sent; a reload starts afresh. */
                master_step_down(m, "etcd refused a fenced write: another master leads, or "
                                    "another writer changed what this master wrote");
                return r;
        }
        if (r < 0 && m->leader) {
                /* Under HA a commit that etcd did not take (its deadline, the lease's, passed
                 * while etcd elected a new raft leader; the gateway failed) is a lost lease:
                 * nothing of this turn was acknowledged, and the follower this master becomes
                 * reloads the committed state if it is elected again. Another master may lead
                 * meanwhile; exiting would leave one master fewer. */
                _cleanup_free_ char *why = NULL;

                if (asprintf(&why, "a commit to etcd failed: %s", strerror(-r)) < 0)
                        why = NULL;
                master_step_down(m, why ?: "a commit to etcd failed");
                return r;
        }
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
        /* Consumers hear of a change only once it is committed. */
        if (r >= 0 && master_events_publish(m))
                m->http_run_needed = true;
        return r;
}

void master_stop(master *m)
{
        uint64_t one = 1;

        (void)!write(m->stop_fd, &one, sizeof(one));
}

/* One turn's work before the loop waits again: the allocation pass, then the group commit:
 * one fsync for everything this turn changed, before any answer or agent call that depends on
 * it leaves the process. Agent calls queued this turn are only started by curl in a later
 * turn. */
static int master_turn(master *m)
{
        bool had_acks;
        int r;

        /* A busy loop: the lease's keepalive answer may be waiting unread (master_leader.h). */
        master_leader_service(m->leader);
        if (!master_acting(m)) {
                /* The lease deadline passed during this turn: stop before anything of it is
                 * committed, answered or sent. */
                if (m->loaded && !m->deposed)
                        master_step_down(m, "the lease deadline passed (no keepalive answered)");
                return m->deposed ? -ESTALE : 0;
        }
        if (m->alloc_needed) {
                r = master_allocate(m);
                if (r < 0)
                        log_error("allocation pass failed: %s", strerror(-r));
        }
        had_acks = m->n_acks > 0;
        /* The commit blocks the loop: a keepalive due now goes out before it. */
        master_leader_service(m->leader);
        if (master_commit(m) < 0) {
                master_outbox_drop(m);
                return m->deposed ? -ESTALE : m->fatal;
        }
        /* A commit that waited on etcd past the deadline: its launches wait for the next
         * leader, which sends them again from the committed state. A keepalive answered during
         * the commit counts (taken first). */
        master_leader_service(m->leader);
        if (!master_acting(m)) {
                master_step_down(m, "the lease deadline passed during the commit");
                return -ESTALE;
        }
        master_outbox_flush(m);
        /* MHD serves resumed connections only from its next run; do it now rather than when
         * some other socket happens to wake the loop. */
        if (had_acks || m->http_run_needed) {
                m->http_run_needed = false;
                (void)http_server_run(m->http);
        }
        return 0;
}

int master_run(master *m)
{
        int r;

        /* Resend what an earlier run left in flight before serving anything. */
        if (master_acting(m))
                master_launcher_tick(m);
        while (!event_loop_exiting(m->loop)) {
                bool busy;

                r = master_turn(m);
                if (r < 0)
                        return r;
                /* Work that the turn created must not wait for the next event. */
                busy = m->alloc_needed || m->n_acks > 0 || m->n_outbox > 0 ||
                       (m->store && store_in_transaction(m->store)) ||
                       master_events_resuming(m);
                r = event_loop_iterate(m->loop, busy ? 0 : UINT64_MAX);
                if (r < 0)
                        return log_error_errno(r, "event loop: %m");
        }
        return m->deposed ? -ESTALE : 0;
}
