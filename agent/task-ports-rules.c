/* SPDX-License-Identifier: Apache-2.0 */
/* Bridge tasks' port mappings and the task subnet's NAT as nftables rules (isolator/nft.h). */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/task-ports.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "isolator/nft.h"

/*
 * Why nftables rules rather than a forwarder on the agent's loop: the kernel forwards every
 * packet (no copy through the agent, no agent in the data path: a mapped port keeps working
 * while the agent restarts or is upgraded, as the tasks do), UDP and TCP alike, and the task
 * sees the client's real address. The rules live in the agent's own table (`ip silo`), so
 * nothing of the host's firewall is touched and `nft list table ip silo` shows all of it.
 */

#define IP_FORWARD "/proc/sys/net/ipv4/ip_forward"

/* Routing between the bridge and the other interfaces needs forwarding in the agent's network
 * namespace. It is a sysctl: a plain write of /proc/sys, as no library does more than that
 * (libnl has no sysctl API; systemd-sysctl and Docker write the file too). Left on at stop,
 * as Docker does: tasks outlive the agent. */
static int ip_forward_enable(char **ret_error)
{
        _cleanup_free_ char *v = NULL;
        size_t n = 0;
        int r;

        r = file_read_full(IP_FORWARD, 16, &v, &n);
        if (r >= 0 && n > 0 && v[0] == '1')
                return 0;
        r = file_write_string(IP_FORWARD, "1");
        if (r < 0)
                return error_set(ret_error, r, "enabling IPv4 forwarding (%s = 1): %s", IP_FORWARD,
                                 strerror(-r));
        log_info("IPv4 forwarding enabled (%s = 1) for bridge-mode tasks", IP_FORWARD);
        return 0;
}

struct agent_ports *agent_ports_free(struct agent_ports *p)
{
        free(p);
        return NULL;
}

/* The table with the fixed rules, and IPv4 forwarding. */
static int ports_table_setup(struct agent_ports *p, char **ret_error)
{
        struct nft_config cfg = {.table = TASK_PORTS_TABLE,
                                 .bridge = p->bridge,
                                 .subnet.s_addr = htonl(p->subnet),
                                 .prefix_len = p->prefix};
        int r;

        r = ip_forward_enable(ret_error);
        if (r < 0)
                return r;
        r = nft_table_setup(&cfg, ret_error);
        if (r < 0)
                return error_wrap(ret_error, r, "setting up the NAT of the task subnet");
        p->table_ready = true;
        return 0;
}

int agent_ports_start(struct agent *a, const char *bridge, uint32_t subnet, unsigned prefix,
                      char **ret_error)
{
        struct agent_ports *p;
        uint16_t min, max;
        int r;

        /* main() refused a --task-ports that does not parse; this is its one reader here. */
        r = silo_port_range_parse(a->opts.task_ports, &min, &max);
        if (r < 0)
                return error_set(ret_error, r, "--task-ports: '%s' is not a port range MIN-MAX",
                                 strempty(a->opts.task_ports));
        if (strlen(bridge) >= sizeof(p->bridge))
                return error_set(ret_error, -EINVAL,
                                 "--task-bridge: '%s' is longer than an interface name (15 bytes)",
                                 bridge);
        if (!a->ports && !(a->ports = calloc(1, sizeof(*a->ports))))
                return -ENOMEM;
        p = a->ports;
        p->min = min;
        p->max = max;
        strcpy(p->bridge, bridge);
        p->subnet = subnet;
        p->prefix = prefix;
        /* The table and ip_forward wait for the first bridge task (task_ports_apply(), also
         * at recovery): a node that never runs one is left as it was, not turned into a router. */
        p->table_ready = false;
        return 0;
}

static bool task_alive(const char *owner, void *userdata)
{
        return agent_task_is_live(userdata, owner);
}

int task_ports_apply(struct agent *a, const struct task *t, uint32_t address, char **ret_error)
{
        const struct silo_container *c = &t->spec->container;
        struct nft_port_rule rules[SILO_CONTAINER_PORTS_MAX];
        int r;

        if (!a->ports)
                return error_set(ret_error, -EINVAL,
                                 "container.network: bridge mode is not set up on "
                                 "this agent");
        if (!a->ports->table_ready) {
                r = ports_table_setup(a->ports, ret_error);
                if (r < 0)
                        return r;
        }
        /* Rules an ended task kept (its removal at teardown failed, task_ports_release()) come
         * before this task's in the chain: they would take its host ports, or send traffic to
         * the address it may have been given again. */
        {
                _cleanup_free_ char *error = NULL;
                size_t removed = 0;

                r = nft_ports_prune(TASK_PORTS_TABLE, task_alive, a, &removed, &error);
                if (r < 0)
                        return error_set(ret_error, r,
                                         "removing the port mappings of ended tasks: %s",
                                         strempty(error));
                if (removed > 0)
                        log_info("removed %zu port mapping rule(s) of ended tasks", removed);
        }
        if (c->n_ports == 0)
                return 0;
        assert(c->n_ports <= ELEMENTSOF(rules));
        for (size_t i = 0; i < c->n_ports; i++) {
                /* task_ports_assign() gave every entry its host port before the start. */
                assert(c->ports[i].host != 0);
                rules[i] = (struct nft_port_rule){
                    .l4proto = c->ports[i].proto == SILO_PORT_UDP ? IPPROTO_UDP : IPPROTO_TCP,
                    .host_port = c->ports[i].host,
                    .container_port = c->ports[i].container,
                };
        }
        r = nft_ports_replace(TASK_PORTS_TABLE, t->id, (struct in_addr){.s_addr = htonl(address)},
                              rules, c->n_ports, ret_error);
        if (r < 0)
                return error_wrap(ret_error, r, "mapping the task's host ports");
        return 0;
}

void task_ports_release(struct agent *a, const char *task_id)
{
        _cleanup_free_ char *error = NULL;
        int r;

        (void)a;
        r = nft_ports_replace(TASK_PORTS_TABLE, task_id, (struct in_addr){}, NULL, 0, &error);
        if (r < 0)
                log_warning("task %s: removing its port mappings failed (the next bridge task's "
                            "start or agent start retries): %s",
                            task_id, strempty(error));
}

void task_ports_recover(struct agent *a,
                        bool (*address_of)(const struct agent *a, const char *task_id,
                                           uint32_t *ret_address))
{
        _cleanup_free_ char *error = NULL;
        size_t removed = 0;
        int r;

        r = nft_ports_prune(TASK_PORTS_TABLE, task_alive, a, &removed, &error);
        if (r < 0)
                log_warning("removing the port mappings of ended tasks failed: %s",
                            strempty(error));
        else if (removed > 0)
                log_info(
                    "removed %zu port mapping rule(s) of tasks that ended while the agent was away",
                    removed);
        for (size_t i = 0; i < a->n_tasks; i++) {
                const struct task *t = a->tasks[i];
                uint32_t address;

                if (silo_task_state_is_terminal(t->state) || !address_of(a, t->id, &address))
                        continue;
                free(error);
                error = NULL;
                /* The same rules again, in one transaction: a no-op for the traffic, a repair
                 * when the ruleset was flushed while the agent was away. The first one writes
                 * the fixed part of the table too (its masquerade), which every live bridge
                 * task needs, with port mappings or without. */
                r = task_ports_apply(a, t, address, &error);
                if (r < 0)
                        log_warning("task %s: %s", t->id, strempty(error));
        }
}
