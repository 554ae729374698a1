/* SPDX-License-Identifier: Apache-2.0 */
/* silo-agent's options: one table for the command line and /etc/silo/agent.conf. */
#include <stddef.h>

#include "agent/agent.h"
#include "agent/options.h"
#include "common/http-server.h"
#include "common/macro.h"

#define OPT(n, t, f, d, m, h) {n, t, offsetof(struct agent_options, f), d, m, h, 0, 0}

static const struct config_option agent_option_table[] = {
        OPT("listen", CONFIG_STRING, listen, "127.0.0.1:5051", "ADDR:PORT", "address of the REST API"),
        OPT("state-dir", CONFIG_STRING, state_dir, AGENT_DEFAULT_STATE_DIR, "DIR",
            "checkpoints, sandboxes and the generated token"),
        OPT("token-file", CONFIG_STRING, token_file, NULL, "FILE",
            "cluster token (default: <state-dir>/token, generated at first start)"),
        OPT("master", CONFIG_STRING, master, NULL, "URL[,URL...]",
            "masters to register with (several: HA masters, the leader is found and followed); "
            "standalone without"),
        OPT("cgroup-root", CONFIG_STRING, cgroup_root, NULL, "PATH",
            "cgroup v2 subtree for the shims and tasks (default: silo-tasks.scope under systemd, else /sys/fs/cgroup/silo)"),
        OPT("disk", CONFIG_LIST, disk, NULL, "NAME|/dev/X[:MOUNTPOINT]",
            "a disk to offer; with MOUNTPOINT (its ext4/XFS filesystem, mounted with project quota) "
            "it holds persistent volumes"),
        {"kill-grace-s", CONFIG_UINT, offsetof(struct agent_options, kill_grace_s), "10", "SEC",
         "default SIGTERM-to-SIGKILL grace of a kill", 0, 3600},
        {"log-max-bytes", CONFIG_UINT, offsetof(struct agent_options, log_max_bytes), "10485760",
         "BYTES", "size of each task log file before it rotates", 1024, 0},
        {"log-files", CONFIG_UINT, offsetof(struct agent_options, log_files), "5", "N",
         "log files kept per stream (current + rotated)", 1, 64},
        OPT("shim", CONFIG_STRING, shim, NULL, "PATH", "the silo-shim binary (default: next to silo-agent, else the installed one in libexecdir)"),
        {"gc-max-age-s", CONFIG_UINT, offsetof(struct agent_options, gc_max_age_s), "3600", "SEC",
         "ended tasks (record, checkpoint, sandbox and logs) are forgotten this long after they end; 0: never", 0, 0},
        {"gc-max-tasks", CONFIG_UINT, offsetof(struct agent_options, gc_max_tasks), "1000", "N",
         "at most this many ended tasks are kept, the oldest forgotten first; 0: no limit", 0, 0},
        {"max-connections", CONFIG_UINT, offsetof(struct agent_options, max_connections), "1024", "N",
         "concurrent HTTP connections; at the limit a new one evicts the oldest without a request in "
         "progress; at most 3/4 of RLIMIT_NOFILE", 16, 1000000},
        OPT("task-subnet", CONFIG_STRING, task_subnet, NULL, "CIDR",
            "addresses of bridge-mode tasks (default: the first 10.88.N.0/24 the host does not route, "
            "chosen at first start and kept in <state-dir>/network.json)"),
        OPT("task-bridge", CONFIG_STRING, task_bridge, "silo0", "NAME",
            "the bridge bridge-mode tasks' veths join (created when missing)"),
        OPT("task-ports", CONFIG_STRING, task_ports, "20000-32767", "MIN-MAX",
            "host ports offered to bridge-mode tasks' port mappings (sent to the master, which "
            "picks from them)"),
        HTTP_SERVER_CONFIG_OPTIONS(struct agent_options),
        HTTP_SERVER_TLS_OPTIONS(struct agent_options),
        OPT("log-level", CONFIG_STRING, log_level, "info", "LEVEL", "error, warning, notice, info or debug"),
        AGENT_LINK_CONFIG_OPTIONS(offsetof(struct agent_options, link)),
};

const struct config_schema agent_options_schema = {
        .program = "silo-agent",
        .summary = "Silo node agent: launches, isolates, watches and kills tasks.",
        .default_config_path = AGENT_DEFAULT_CONFIG,
        .options = agent_option_table,
        .n_options = ELEMENTSOF(agent_option_table),
};

