/* SPDX-License-Identifier: Apache-2.0 */
/* Bridge-mode task networking on the agent: the task subnet, its address leases, and each task's namespace, veth and limit. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "isolator/net.h"
#include "silo/protocol.h"

struct agent;
struct task;

#define TASK_NET_DEFAULT_BRIDGE "silo0"
#define TASK_NET_STATE_FILE "network.json"      /* in the state directory */
#define TASK_NET_NETNS_DIR "netns"              /* <state-dir>/netns/<task-id> */
#define TASK_NET_IFNAME_PREFIX "silo-"

/* One task's address on this agent, as persisted in <state-dir>/network.json. */
struct task_net_lease {
        char *task_id;
        uint32_t address;               /* host byte order */
        char ifname[16];                /* the veth's host end */
        /* the last two samples of the host end's counters (measurement tick) */
        struct net_link_counters sample[2];
        uint64_t sample_ms[2];
        unsigned n_samples;
};

/* The agent's task network: subnet, bridge and leases. The allocator half (load, allocate,
 * release, persist) needs no privilege and is what the unit tests drive. */
struct agent_network {
        struct net_ipv4_net subnet;
        char *subnet_source;            /* "--task-subnet", the state file, or "chosen at first start" */
        char *bridge;
        char *state_path;               /* <state-dir>/network.json */
        char *netns_dir;                /* <state-dir>/netns */
        struct task_net_lease *leases;
        size_t n_leases, cap_leases;
        uint32_t last;                  /* the last address handed out: the next search starts after it */
        struct event_source *tick;      /* counters sampled once a second */
};

/* Does the host already route to `net` (a route of the main table overlaps it)? */
typedef int (*task_net_routed_fn)(const struct net_ipv4_net *net, bool *ret, char **ret_error);

/* Load <state_dir>/network.json (leases, the subnet chosen before) or start empty. The subnet
 * is `subnet_opt` when given, else the stored one, else the first /24 of 10.88.N.0/24,
 * 172.16-31.N.0/24, 192.168.N.0/24 (in that order) `routed` says the host does not reach, which
 * is stored at once so it never changes. Leases of an earlier subnet are kept until their tasks
 * release them. -EINVAL naming the option or the file; -EADDRNOTAVAIL when no subnet could be
 * chosen (every candidate routed, or `routed` failed), with the reason. */
/* --task-subnet (NULL: none given) and --task-bridge as they are given, before anything is
 * read: the network (and *ret_subnet, may be NULL) or -EINVAL naming the option and the value. */
int agent_network_options_check(const char *subnet_opt, const char *bridge, struct net_ipv4_net *ret_subnet,
                                char **ret_error);
int agent_network_load(const char *state_dir, const char *subnet_opt, const char *bridge,
                       task_net_routed_fn routed, struct agent_network **ret, char **ret_error);
struct agent_network *agent_network_free(struct agent_network *n);
/* The address of task `task_id`: its lease, or a new one (persisted before it is returned):
 * the next free host address after the last one handed out (the bridge has the first), so a
 * released address is not reused at once. -ENOSPC naming the subnet when every address is
 * leased. */
int agent_network_allocate(struct agent_network *n, const char *task_id,
                           const struct task_net_lease **ret, char **ret_error);
/* 0 when the current subnet has a free task address, else -ENOSPC naming the subnet. */
int agent_network_room_check(const struct agent_network *n, char **ret_error);
/* Drop the task's lease (persisted). 0 when it had none. */
int agent_network_release(struct agent_network *n, const char *task_id);
struct task_net_lease *agent_network_lease(const struct agent_network *n, const char *task_id);
/* A bridge task's resolv.conf from the host's (NULL: none) and systemd-resolved's list of its
 * upstream servers (/run/systemd/resolve/resolv.conf, NULL: none): the host's, unless it names
 * a loopback server (a stub the task cannot reach), then resolved's upstream list, as Docker
 * does; loopback servers are dropped either way. malloc'ed; NULL on ENOMEM. */
char *task_net_resolv_conf(const char *host, const char *resolved_upstream);
/* The bridge's address: the subnet's first host address. */
uint32_t agent_network_gateway(const struct agent_network *n);

/* ---- the agent's side: needs CAP_NET_ADMIN and CAP_SYS_ADMIN */

/* Load the network state (a->opts.task_subnet, task_bridge) into a->network. */
int agent_network_start(struct agent *a, char **ret_error);
void agent_network_stop(struct agent *a);
/* Node check of a bridge task's launch (0 for other modes): its egress limit is one tbf can
 * set, the bridge can be made ready (created, up, with the gateway address) and the subnet has
 * a free address. -EINVAL with *ret_error naming the field, the bridge or the subnet. */
int task_network_check(const struct agent *a, const struct silo_task_spec *spec, char **ret_error);
/* A bridge task's network before its shim starts: lease, namespace file, veth, address, route,
 * egress limit. Nothing is left on failure. 0 and nothing done for other modes. */
int task_network_setup(struct task *t, char **ret_error);
/* The task ended (or its start failed): veth, namespace file and lease go. Idempotent. */
void task_network_teardown(struct agent *a, const char *task_id);
/* The namespace file of a bridge task (malloc'ed), for the shim's setns(); NULL otherwise. */
char *task_network_netns_path(const struct agent *a, const struct task *t);
/* After the tasks were recovered: drop the leases, namespace files and veths of tasks that are
 * not alive any more; keep the live ones'. */
void agent_network_recover(struct agent *a);
/* "network" of the task's JSON: {"mode", "address", "interface"} (address and interface for
 * bridge tasks with a lease). */
json_t *task_network_to_json(const struct agent *a, const struct task *t);
/* "network" of the isolation view: the egress limit in force (read back from the kernel) and
 * the tx/rx rates measured from the interface counters over the last tick. */
json_t *task_network_isolation(const struct agent *a, const struct task *t);
/* For /metrics: the task's eth0 counters as the task sees them (tx = what it sent), from the
 * last tick, and the spec's egress limit (bits/s, 0: none). -ENOENT for a task without a
 * lease (not bridge mode) or before the first tick. */
int task_network_figures(const struct agent *a, const struct task *t, struct net_link_counters *ret,
                         uint64_t *ret_egress_bps);
/* /etc/hosts and /etc/resolv.conf of a bridge task's sandbox. */
int task_network_etc_write(const struct task *t, const char *hostname);
