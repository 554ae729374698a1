/* SPDX-License-Identifier: Apache-2.0 */
/* Bridge tasks' host ports at launch: the choice of `host: 0` ports and the checks of fixed ones.
 */
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/task-ports.h"
#include "common/array.h"
#include "common/error.h"
#include "common/macro.h"

/*
 * A host port is free for a task when it lies in the agent's range (--task-ports), no live task
 * of this agent maps it, and no process of the agent's network namespace has bound it: the
 * port's DNAT rule would take that process's traffic away from it (Docker's port allocator
 * refuses such a port the same way, by binding it). The master chooses the ports of the tasks
 * it places (it knows every agent's range and tasks); this choice serves a standalone agent,
 * and these checks every launch, as the master knows nothing of the host's own processes.
 */

int task_port_probe_bind(uint16_t port, silo_port_proto proto, void *userdata)
{
        struct sockaddr_in sa = {
            .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY)};
        _cleanup_close_ int fd = -1;
        int one = 1;

        (void)userdata;
        fd = socket(AF_INET, (proto == SILO_PORT_UDP ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (proto == SILO_PORT_TCP &&
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return -errno;
        return 0;
}

/* One bit per port and protocol. */
struct port_bits {
        uint64_t w[_SILO_PORT_PROTO_MAX][65536 / 64];
};

static bool bit_get(const struct port_bits *b, silo_port_proto proto, uint16_t port)
{
        return b->w[proto][port / 64] & (UINT64_C(1) << (port % 64));
}

static void bit_set(struct port_bits *b, silo_port_proto proto, uint16_t port)
{
        b->w[proto][port / 64] |= UINT64_C(1) << (port % 64);
}

static const char *user_of(const struct task_port_use *used, size_t n_used, uint16_t port,
                           silo_port_proto proto)
{
        for (size_t i = 0; i < n_used; i++)
                if (used[i].port == port && used[i].proto == proto)
                        return used[i].task_id;
        return NULL;
}

static int probe_refusal(int r, size_t i, uint16_t port, silo_port_proto proto, char **ret_error)
{
        if (r == -EADDRINUSE)
                return error_set(
                    ret_error, -EINVAL,
                    "container.ports[%zu].host: %u/%s is bound by a process on this host", i, port,
                    silo_port_proto_to_string(proto));
        return error_set(ret_error, r,
                         "container.ports[%zu].host: checking whether %u/%s is free: %s", i, port,
                         silo_port_proto_to_string(proto), strerror(-r));
}

/* The next port of [min, max] after `from` (wrapping). */
static uint16_t port_after(const struct agent_ports *p, uint16_t from)
{
        return from >= p->max || from < p->min ? p->min : (uint16_t)(from + 1);
}

int task_ports_choose(struct agent_ports *p, struct silo_port_mapping *ports, size_t n,
                      const struct task_port_use *used, size_t n_used, task_port_probe_fn probe,
                      void *userdata, char **ret_error)
{
        _cleanup_free_ struct port_bits *taken = calloc(1, sizeof(*taken));
        _cleanup_free_ uint16_t *chosen = calloc(n ? n : 1, sizeof(*chosen));
        uint16_t next[_SILO_PORT_PROTO_MAX];
        int r;

        if (!taken || !chosen)
                return -ENOMEM;
        memcpy(next, p->next, sizeof(next));
        for (size_t i = 0; i < n_used; i++)
                bit_set(taken, used[i].proto, used[i].port);
        /* Fixed ports first, so a `host: 0` entry never takes one a later entry names. */
        for (size_t i = 0; i < n; i++) {
                const struct silo_port_mapping *m = &ports[i];
                const char *owner;

                if (m->host == 0)
                        continue;
                if (m->host < p->min || m->host > p->max)
                        return error_set(
                            ret_error, -EINVAL,
                            "container.ports[%zu].host: %u is outside this agent's host "
                            "port range %u-%u (--task-ports)",
                            i, m->host, p->min, p->max);
                owner = user_of(used, n_used, m->host, m->proto);
                if (owner)
                        return error_set(
                            ret_error, -EINVAL,
                            "container.ports[%zu].host: %u/%s is already mapped to task %s", i,
                            m->host, silo_port_proto_to_string(m->proto), owner);
                r = probe(m->host, m->proto, userdata);
                if (r < 0)
                        return probe_refusal(r, i, m->host, m->proto, ret_error);
                bit_set(taken, m->proto, m->host);
                chosen[i] = m->host;
        }
        for (size_t i = 0; i < n; i++) {
                const struct silo_port_mapping *m = &ports[i];
                unsigned span = (unsigned)p->max - p->min + 1;
                uint16_t port = next[m->proto] ? next[m->proto] : p->min;

                if (m->host != 0)
                        continue;
                if (port < p->min || port > p->max)
                        port = p->min;
                for (; span > 0; span--, port = port_after(p, port)) {
                        if (bit_get(taken, m->proto, port))
                                continue;
                        r = probe(port, m->proto, userdata);
                        if (r == -EADDRINUSE) {
                                bit_set(taken, m->proto, port);
                                continue;
                        }
                        if (r < 0)
                                return probe_refusal(r, i, port, m->proto, ret_error);
                        break;
                }
                if (span == 0)
                        return error_set(ret_error, -EINVAL,
                                         "container.ports[%zu].host: no free %s port left in this "
                                         "agent's host port range %u-%u (--task-ports): each is "
                                         "mapped to a task or bound by a process",
                                         i, silo_port_proto_to_string(m->proto), p->min, p->max);
                bit_set(taken, m->proto, port);
                chosen[i] = port;
                next[m->proto] = port_after(p, port);
        }
        for (size_t i = 0; i < n; i++)
                ports[i].host = chosen[i];
        memcpy(p->next, next, sizeof(next));
        return 0;
}

int task_ports_used(const struct agent *a, const struct task *except, struct task_port_use **ret,
                    size_t *ret_n)
{
        struct task_port_use *v = NULL;
        size_t n = 0, cap = 0;

        for (size_t i = 0; i < a->n_tasks; i++) {
                const struct task *t = a->tasks[i];
                const struct silo_container *c;

                /* An ended task's rules went with its network (task_finish): its ports are free
                 * (and a compacted one has no spec left). */
                if (t == except || silo_task_state_is_terminal(t->state))
                        continue;
                c = &t->spec->container;
                for (size_t j = 0; j < c->n_ports; j++) {
                        if (c->ports[j].host == 0)
                                continue;
                        if (!ARRAY_GROW(v, cap, n + 1)) {
                                free(v);
                                return -ENOMEM;
                        }
                        v[n++] = (struct task_port_use){
                            .port = c->ports[j].host, .proto = c->ports[j].proto, .task_id = t->id};
                }
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int task_ports_assign(struct agent *a, struct task *t, char **ret_error)
{
        struct silo_container *c = &t->spec->container;
        _cleanup_free_ struct task_port_use *used = NULL;
        size_t n_used = 0;
        int r;

        if (c->n_ports == 0)
                return 0;
        if (!a->ports)
                return error_set(ret_error, -EINVAL,
                                 "container.ports: this agent has no host ports to offer (its task "
                                 "network is not set up)");
        r = task_ports_used(a, t, &used, &n_used);
        if (r < 0)
                return r;
        return task_ports_choose(a->ports, c->ports, c->n_ports, used, n_used, task_port_probe_bind,
                                 NULL, ret_error);
}

void task_ports_fill_chosen(const struct task *t, struct silo_task_spec *spec)
{
        const struct silo_container *have = &t->spec->container;
        struct silo_container *c = &spec->container;

        if (c->n_ports != have->n_ports)
                return;
        for (size_t i = 0; i < c->n_ports; i++)
                if (c->ports[i].host == 0 && c->ports[i].container == have->ports[i].container &&
                    c->ports[i].proto == have->ports[i].proto)
                        c->ports[i].host = have->ports[i].host;
}
