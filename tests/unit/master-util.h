/* SPDX-License-Identifier: Apache-2.0 */
/* A real master on a state directory of the test's, for the unit tests that drive one in
 * process (no agents: launches fail and are retried slowly); include after <cmocka.h>. */
#pragma once

#include "master/master.h"

static inline master *unit_master_open(const char *state_dir)
{
        struct master_options o = {
            .listen = (char *)"127.0.0.1:0",
            .state_dir = (char *)state_dir,
            .heartbeat_interval_ms = 1000,
            .agent_timeout_ms = 60000,
            .launch_attempts = 3,
            .launch_timeout_ms = 1000,
            .retry_base_ms = 100,
            .max_connections = 16,
        };
        char *err = NULL;
        master *m = NULL;

        if (master_new(&o, &m, &err) < 0)
                fail_msg("master_new: %s", err);
        return m;
}
