/* SPDX-License-Identifier: Apache-2.0 */
/* The master's role: standalone on SQLite, or leader / follower among masters sharing etcd. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/event-loop.h"
#include "common/log.h"
#include "common/macro.h"
#include "master/events.h"
#include "common/tls.h"
#include "master/master.h"
#include "master/store.h"

/* The epoch on every call to agents: a deposed master's calls carry a lower one than the
 * new leader's, and agents that heard the new one refuse them. */
static int master_epoch_apply(master *m, uint64_t epoch)
{
        char text[32];

        m->epoch = epoch;
        snprintf(text, sizeof(text), "%" PRIu64, epoch);
        /* Epochs count within one cluster (state): a reset state starts again at 1. */
        if (http_client_set_header(m->client, SILO_CLUSTER_ID_HEADER,
                                   m->store ? store_cluster_id(m->store) : NULL) < 0)
                return -ENOMEM;
        return http_client_set_header(m->client, SILO_MASTER_EPOCH_HEADER, text);
}

/* "http[s]://HOST:PORT" from --listen (https with TLS on) and the port bound, the hostname
 * for a wildcard host. */
static int advertise_default(master *m, char **ret)
{
        const char *listen = m->opts.listen, *colon = strrchr(listen, ':');
        _cleanup_free_ char *host = colon ? strndup(listen, (size_t)(colon - listen)) : NULL;
        char name[256] = "";

        if (!host)
                return -ENOMEM;
        if (!*host || streq(host, "0.0.0.0") || streq(host, "[::]") || streq(host, "::")) {
                if (gethostname(name, sizeof(name) - 1) < 0 || !name[0])
                        snprintf(name, sizeof(name), "localhost");
                free(host);
                host = strdup(name);
                if (!host)
                        return -ENOMEM;
        }
        return asprintf(ret, "%s://%s:%u", m->tls ? "https" : "http", host,
                        http_server_port(m->http)) < 0
                   ? -ENOMEM
                   : 0;
}

/* Between the pages of the state load: the keepalive's answer taken, a due one sent. The
 * load is bounded by the lease deadline, and a state of many pages outlasts one TTL. */
static void on_load_page(void *userdata)
{
        master *m = userdata;

        master_leader_service(m->leader);
}

static int on_elected(uint64_t epoch, void *userdata)
{
        master *m = userdata;
        _cleanup_free_ char *err = NULL;
        int r;

        r = master_store_open(&m->opts, &m->store, &err);
        if (r >= 0) {
                store_set_deadline(m->store, m->lease_deadline_ms);
                r = store_set_epoch(m->store, epoch);
        }
        if (r >= 0) {
                store_set_page_hook(m->store, on_load_page, m);
                r = master_state_load(m, &err);
                store_set_page_hook(m->store, NULL, NULL);
        }
        if (r >= 0 && m->deposed)
                return -ESTALE; /* the lease was lost during the load */
        if (r >= 0)
                r = master_epoch_apply(m, epoch);
        if (r < 0) {
                log_error("elected with epoch %" PRIu64 " but cannot load the state: %s", epoch,
                          err ? err : strerror(-r));
                return r;
        }
        /* As after a restart: launches the previous leader left in STAGING are sent again
         * (launch ids are idempotent at the agent), and every agent registers again. */
        master_launcher_tick(m);
        master_schedule(m);
        return 0;
}

/* No blocking store call outlives the lease: a commit stuck on an unreachable etcd ends at
 * the deadline, and the master steps down instead of waiting out every endpoint's timeout. */
static void on_deadline(uint64_t deadline_ms, void *userdata)
{
        master *m = userdata;

        m->lease_deadline_ms = deadline_ms;
        if (m->store)
                store_set_deadline(m->store, deadline_ms);
}

static void on_deposed(const char *why, void *userdata)
{
        master_step_down(userdata, why);
}

bool master_role_elects(const master *m)
{
        return m->opts.store && streq(m->opts.store, "etcd") && m->opts.lease_ttl_s > 0;
}

int master_role_setup(master *m, char **ret_error)
{
        int r;

        if (m->opts.advertise)
                m->advertise = strdup(m->opts.advertise);
        else if ((r = advertise_default(m, &m->advertise)) < 0)
                return r;
        if (m->opts.name)
                m->name = strdup(m->opts.name);
        else {
                char host[256] = "";

                if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
                        snprintf(host, sizeof(host), "localhost");
                if (asprintf(&m->name, "%s:%u", host, http_server_port(m->http)) < 0)
                        m->name = NULL;
        }
        if (!m->advertise || !m->name)
                return -ENOMEM;
        if (strncmp(m->advertise, "http://", 7) != 0 && strncmp(m->advertise, "https://", 8) != 0)
                return error_set(ret_error, -EINVAL,
                                 "--advertise: '%s' is not an http:// or https:// URL",
                                 m->advertise);
        if (!master_role_elects(m))
                return master_epoch_apply(m, store_epoch(m->store));
        {
                struct master_leader_config c = {
                    .endpoints = m->opts.etcd,
                    .tls = &MASTER_ETCD_TLS(&m->opts),
                    .prefix = m->opts.etcd_prefix,
                    .name = m->name,
                    .advertise = m->advertise,
                    .ttl_s = m->opts.lease_ttl_s,
                    .elected = on_elected,
                    .deadline = on_deadline,
                    .deposed = on_deposed,
                    .userdata = m,
                };
                return master_leader_new(&c, &m->leader, ret_error);
        }
}

int master_role_start(master *m)
{
        if (!m->leader)
                return 0;
        log_info("master %s (%s) campaigning for leadership in etcd %s, lease TTL %" PRIu64 " s",
                 m->name, m->advertise, master_leader_endpoints(m->leader), m->opts.lease_ttl_s);
        return master_leader_start(m->leader, m->loop);
}

enum master_role master_role(const master *m)
{
        if (!m->leader)
                return MASTER_ROLE_STANDALONE;
        return m->deposed ? MASTER_ROLE_FOLLOWER : master_leader_role(m->leader);
}

uint64_t master_epoch_shown(const master *m)
{
        if (master_role(m) != MASTER_ROLE_FOLLOWER)
                return m->epoch;
        return m->leader && !m->deposed && master_leader_url(m->leader)
                   ? master_leader_epoch(m->leader)
                   : 0;
}

bool master_acting(const master *m)
{
        return master_role(m) != MASTER_ROLE_FOLLOWER && m->loaded;
}

void master_step_down(master *m, const char *why)
{
        bool had;

        if (m->deposed)
                return;
        m->deposed = true;
        free(m->deposed_why);
        m->deposed_why = strdup(why);
        /* Nothing more leaves this process on the state it held: held answers say so, queued
         * launches and kills are dropped (the new leader sends them again from etcd). */
        master_outbox_drop(m);
        had = m->n_acks > 0;
        for (size_t i = 0; i < m->n_acks; i++) {
                (void)http_response_error(http_deferred_response(m->acks[i]), 503, "no_leader",
                                          "master %s is no longer the leader (%s); ask again",
                                          m->name, why);
                (void)http_deferred_finish(m->acks[i]);
        }
        m->n_acks = 0;
        if (had) /* out now, before the server goes with the process */
                (void)http_server_run(m->http);
        event_loop_exit(m->loop, 0);
}

int master_gate(http_request *req, http_response *resp, void *userdata)
{
        master *m = userdata;
        _cleanup_free_ char *target = NULL, *location = NULL;
        const char *leader;

        if (master_acting(m) || streq(req->path, "/health") || streq(req->path, "/metrics"))
                return 0;
        leader = m->leader && !m->deposed ? master_leader_url(m->leader) : NULL;
        if (!leader) {
                (void)http_response_error(
                    resp, 503, "no_leader",
                    "master %s is not the leader and knows of none: no leader "
                    "elected in etcd at %s",
                    m->name, m->leader ? master_leader_endpoints(m->leader) : "?");
                return 1;
        }
        target = http_request_target(req);
        if (!target || asprintf(&location, "%s%s", leader, target) < 0)
                return -ENOMEM;
        (void)http_response_error(resp, 307, "redirect",
                                  "master %s is a follower: the leader is %s", m->name, leader);
        (void)http_response_header(resp, "Location", location);
        return 1;
}
