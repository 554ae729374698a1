/* SPDX-License-Identifier: Apache-2.0 */
/* The agent under systemd: the delegated scope its tasks live in (agent/systemd.c). */
#pragma once

#include <stdbool.h>

/* The transient scope that holds the shims and tasks on a systemd host, in system.slice. */
#define AGENT_TASKS_SCOPE "silo-tasks.scope"
/* argv[0] of the scope's first process (silo-agent run as a multi-call binary). */
#define AGENT_SCOPE_HOLDER_NAME "silo-tasks-holder"

/* Whether the cgroup tree is systemd's: PID 1 is systemd (sd_booted()). */
bool agent_systemd_manages_cgroups(void);

/* The cgroupfs path (/sys/fs/cgroup/system.slice/silo-tasks.scope) of the scope systemd
 * delegated to Silo: the running one when an earlier agent made it (its tasks are re-adopted
 * from it), else a new one, started over D-Bus with Delegate=yes around a holder process.
 * *ret_created says which. Blocks for at most a few seconds (start-up only). */
int agent_systemd_scope(char **ret_path, bool *ret_created, char **ret_error);

/* main() of the holder: waits for a signal, so the scope never becomes empty (and is never
 * collected) between tasks. SIGTERM (systemctl stop silo-tasks.scope) ends it. */
int agent_scope_holder_main(void);
