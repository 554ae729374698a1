/* SPDX-License-Identifier: Apache-2.0 */
/* silo-agent's option table (struct agent_options in agent.h), shared by main() and the unit tests. */
#pragma once

#include "common/config.h"

/* Every option is "--name VALUE" and "name = VALUE" in /etc/silo/agent.conf (or --config). */
extern const struct config_schema agent_options_schema;
