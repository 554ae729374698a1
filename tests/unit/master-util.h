/* SPDX-License-Identifier: Apache-2.0 */
/* A real master on a state directory of the test's, for the unit tests that drive one in
 * process (no agents: launches fail and are retried slowly); include after <cmocka.h>. */
#pragma once

#include <stdio.h>
#include <stdlib.h>

#include "master/master.h"

/* $SILO_TEST_ETCD (endpoints, set by tests/host/master-unit-etcd.sh): the master keeps its
 * state in etcd instead of SQLite, under a prefix of its state dir's name, so every test has
 * its own keys and a reopened master finds what it wrote. */
static inline const char *unit_master_etcd(void)
{
        const char *e = getenv("SILO_TEST_ETCD");

        return e && *e ? e : NULL;
}

static inline void unit_master_store(struct master_options *o, const char *state_dir)
{
        static char prefix[512];

        if (!unit_master_etcd())
                return;
        snprintf(prefix, sizeof(prefix), "/unit%s/", state_dir);
        o->store = (char *)"etcd";
        o->etcd = (char *)unit_master_etcd();
        o->etcd_prefix = prefix;
        /* $SILO_TEST_ETCD_TLS=DIR: mutual TLS to etcd with DIR's ca.pem, m1.pem, m1-key.pem */
        if (getenv("SILO_TEST_ETCD_TLS")) {
                static char ca[512], cert[512], key[512];
                const char *d = getenv("SILO_TEST_ETCD_TLS");

                snprintf(ca, sizeof(ca), "%s/ca.pem", d);
                snprintf(cert, sizeof(cert), "%s/m1.pem", d);
                snprintf(key, sizeof(key), "%s/m1-key.pem", d);
                o->etcd_ca = ca;
                o->etcd_cert = cert;
                o->etcd_key = key;
        }
}

/* The options of an in-process test master: loopback on any port, short retries. */
static inline struct master_options unit_master_options(const char *state_dir)
{
        return (struct master_options){
            .listen = (char *)"127.0.0.1:0",
            .state_dir = (char *)state_dir,
            .heartbeat_interval_ms = 1000,
            .agent_timeout_ms = 60000,
            .launch_attempts = 3,
            .launch_timeout_ms = 1000,
            .retry_base_ms = 100,
            .max_connections = 16,
        };
}

static inline master *unit_master_open(const char *state_dir)
{
        struct master_options o = unit_master_options(state_dir);
        char *err = NULL;
        master *m = NULL;

        unit_master_store(&o, state_dir);
        if (master_new(&o, &m, &err) < 0)
                fail_msg("master_new: %s", err);
        return m;
}
