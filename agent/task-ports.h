/* SPDX-License-Identifier: Apache-2.0 */
/* Bridge tasks' host ports on the agent: the choice and checks at launch (task-ports.c), the
 * nftables rules that forward them and the NAT of the task subnet (task-ports-rules.c). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "silo/protocol.h"

struct agent;
struct task;

/* The agent's nftables table, in its own network namespace (isolator/nft.h). */
#define TASK_PORTS_TABLE "silo"

struct agent_ports {
        uint16_t min, max; /* --task-ports */
        /* Where the next search for a `host: 0` port starts, per protocol: after the last one
         * chosen, so a port just released is not handed out again at once (a client of the old
         * task may still be sending to it), as Docker's port allocator does. Not persisted:
         * after a restart the search starts at min and skips what live tasks hold. */
        uint16_t next[_SILO_PORT_PROTO_MAX];
        /* The table's fixed part (isolator/nft.h), kept to write it again when the first
         * attempt failed (nf_tables missing at start, loaded since). */
        char bridge[16];
        uint32_t subnet; /* host byte order */
        unsigned prefix;
        bool table_ready; /* the table exists with the fixed rules of this start */
};

/* A host port held by a task. */
struct task_port_use {
        uint16_t port;
        silo_port_proto proto;
        const char *task_id;
};

/* Whether a host process holds `port`/`proto` in this network namespace: 0 free,
 * -EADDRINUSE held, another -errno when the check itself failed. */
typedef int (*task_port_probe_fn)(uint16_t port, silo_port_proto proto, void *userdata);

/* The real probe: bind() a socket of that protocol to 0.0.0.0:port (TCP with SO_REUSEADDR, so
 * a connection in TIME_WAIT does not count but a listener does) and close it at once. */
int task_port_probe_bind(uint16_t port, silo_port_proto proto, void *userdata);

/* Give every `host: 0` entry of `ports` a port of [p->min, p->max] that no entry of `used` and
 * no other entry of `ports` holds and `probe` finds free, and check every fixed one: inside the
 * range, not in `used`, free by `probe`. Writes the chosen ports into `ports` only when every
 * entry passed. -EINVAL with *ret_error naming the entry and the port (out of the range, used
 * by a task, bound by a host process, the range exhausted); -errno of the probe otherwise. */
int task_ports_choose(struct agent_ports *p, struct silo_port_mapping *ports, size_t n,
                      const struct task_port_use *used, size_t n_used, task_port_probe_fn probe,
                      void *userdata, char **ret_error);

/* The host ports of every task of the agent that has not ended, except `except`'s (malloc'ed
 * array, borrowing the tasks' ids). */
int task_ports_used(const struct agent *a, const struct task *except, struct task_port_use **ret,
                    size_t *ret_n);

/* At launch, before validation: task_ports_choose() for the task's spec against the agent's
 * live tasks and bind(); the spec then holds the final host ports (its checkpoint, its JSON).
 * Nothing to do without ports. -EINVAL (a 400) naming the port. */
int task_ports_assign(struct agent *a, struct task *t, char **ret_error);

/* A launch repeated with `host: 0` entries (a standalone agent's client retrying) is the launch
 * whose ports were chosen: give those entries the ports `t` got, entry by entry where container
 * port and protocol match, so that the specs compare equal and the retry gets the task. */
void task_ports_fill_chosen(const struct task *t, struct silo_task_spec *spec);

/* ---- the rules (task-ports-rules.c): need CAP_NET_ADMIN in the agent's network namespace */

/* At agent start, once the task subnet and bridge are known: allocate a->ports with the host
 * port range (--task-ports) and what the table's fixed rules need. Nothing is written to the
 * kernel yet: the first bridge task's task_ports_apply() turns on net.ipv4.ip_forward and writes
 * the table (masquerade of `subnet`/`prefix`, host byte order, leaving by another interface than
 * `bridge`; hairpin masquerade; the jumps to the port chain), keeping the tasks' rules, and a
 * failure there (no nf_tables in this kernel) fails that task's start, naming it. */
int agent_ports_start(struct agent *a, const char *bridge, uint32_t subnet, unsigned prefix,
                      char **ret_error);
struct agent_ports *agent_ports_free(struct agent_ports *p);

/* Before a bridge task starts (every one, mappings or not: it needs the subnet's masquerade):
 * the table, written now if the agent's start could not; the rules of tasks that are not live
 * (a failed task_ports_release()) go; then the task's port mappings to `address` (host byte
 * order), in one transaction that also drops any earlier rule of the task. */
int task_ports_apply(struct agent *a, const struct task *t, uint32_t address, char **ret_error);
/* The task's rules go (the task ended or its start failed). Idempotent; logs a failure, which
 * the next task_ports_apply() or task_ports_recover() repairs. */
void task_ports_release(struct agent *a, const char *task_id);
/* After the tasks were recovered: remove the rules of every task that is not alive any more
 * (ended while the agent was down, or forgotten), and write again the table and the rules of
 * the live ones whose address `address_of` knows (a firewall reload may have flushed them).
 * Logs what it did. */
void task_ports_recover(struct agent *a,
                        bool (*address_of)(const struct agent *a, const char *task_id,
                                           uint32_t *ret_address));
