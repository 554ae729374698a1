/* SPDX-License-Identifier: Apache-2.0 */
/* Host ports as an allocated resource: each agent's registered range, which ports of it live
 * tasks hold, and the choice of a free one for a "host": 0 mapping (as Nomad's scheduler picks
 * dynamic ports), so that two tasks never get one host port of one agent. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "master/allocator-internal.h"

static size_t range_size(const struct alloc_agent *a)
{
        return a->port_max ? (size_t)a->port_max - a->port_min + 1 : 0;
}

static bool port_in_range(const struct alloc_agent *a, uint16_t port)
{
        return a->port_max && port >= a->port_min && port <= a->port_max;
}

int alloc_ports_setup(struct alloc_agent *a, uint16_t port_min, uint16_t port_max)
{
        size_t words;

        if (port_max == 0)
                return 0;
        if (port_min == 0 || port_min > port_max)
                return -EINVAL;
        a->port_min = port_min;
        a->port_max = port_max;
        words = (range_size(a) + 63) / 64;
        for (int pr = 0; pr < _SILO_PORT_PROTO_MAX; pr++) {
                a->port_used[pr] = calloc(words, sizeof(uint64_t));
                if (!a->port_used[pr])
                        return -ENOMEM;
                a->port_free[pr] = (uint32_t)range_size(a);
        }
        return 0;
}

void alloc_ports_done(struct alloc_agent *a)
{
        for (int pr = 0; pr < _SILO_PORT_PROTO_MAX; pr++) {
                free(a->port_used[pr]);
                a->port_used[pr] = NULL;
        }
}

void alloc_ports_demand(const struct silo_task_spec *spec, struct alloc_pending *p)
{
        const struct silo_container *ct = &spec->container;

        p->n_ports = spec->has_container ? ct->n_ports : 0;
        for (size_t i = 0; i < p->n_ports; i++)
                p->ports_need[ct->ports[i].proto]++;
}

bool alloc_ports_bound_ok(const uint32_t *ports_free, const struct alloc_pending *p)
{
        if (p->n_ports == 0)
                return true;
        for (int pr = 0; pr < _SILO_PORT_PROTO_MAX; pr++)
                if (ports_free[pr] < p->ports_need[pr])
                        return false;
        return true;
}

bool alloc_port_is_held(const struct alloc_agent *a, uint32_t key)
{
        uint16_t port = ALLOC_PORT_NUM(key);
        size_t bit;

        if (!port_in_range(a, port))
                return false;
        bit = (size_t)(port - a->port_min);
        return a->port_used[ALLOC_PORT_PROTO(key)][bit / 64] & (UINT64_C(1) << (bit % 64));
}

bool alloc_ports_fit(const struct alloc_agent *a, const struct alloc_pending *p)
{
        const struct silo_container *ct = &p->spec->container;

        if (p->n_ports == 0)
                return true;
        if (!alloc_ports_bound_ok(a->port_free, p))
                return false; /* also an agent without a range: it has 0 free */
        for (size_t i = 0; i < p->n_ports; i++) {
                const struct silo_port_mapping *m = &ct->ports[i];

                if (m->host && (!port_in_range(a, m->host) ||
                                alloc_port_is_held(a, ALLOC_PORT_KEY(m->proto, m->host))))
                        return false;
        }
        return true;
}

/* ---- the cluster's figures ---- */

#define PORT_TREE_SIZE 65536

int alloc_ports_reserve(struct alloc_cluster *c)
{
        if (!c->port_offered &&
            !(c->port_offered = calloc(PORT_TREE_SIZE + 1, sizeof(*c->port_offered))))
                return -ENOMEM;
        for (int pr = 0; pr < _SILO_PORT_PROTO_MAX; pr++)
                if (!c->port_held[pr] &&
                    !(c->port_held[pr] = calloc(PORT_TREE_SIZE, sizeof(*c->port_held[pr]))))
                        return -ENOMEM;
        return 0;
}

/* Fenwick tree over ports 1..65536 (65536 stands for "past 65535"): add v at one port... */
static void offered_add(struct alloc_cluster *c, size_t port, int32_t v)
{
        for (size_t i = port; i <= PORT_TREE_SIZE; i += i & -i)
                c->port_offered[i] += v;
}

/* ...and the sum up to a port: how many agents' ranges cover it. */
static int32_t offered_at(const struct alloc_cluster *c, size_t port)
{
        int32_t n = 0;

        for (size_t i = port; i > 0; i -= i & -i)
                n += c->port_offered[i];
        return n;
}

/* The agent's range counted (+1) or no longer (-1): +v from its first port, -v past its last. */
static void offered_range(struct alloc_cluster *c, const struct alloc_agent *a, int32_t v)
{
        offered_add(c, a->port_min, v);
        if (a->port_max < 65535)
                offered_add(c, (size_t)a->port_max + 1, -v);
}

/* Add sign (+1/-1) to the held count of every port the agent's bitmaps hold. */
static void held_add_all(struct alloc_cluster *c, const struct alloc_agent *a, int sign)
{
        size_t n = range_size(a);

        for (int pr = 0; pr < _SILO_PORT_PROTO_MAX; pr++)
                for (size_t w = 0; a->port_free[pr] < n && w < (n + 63) / 64; w++)
                        for (uint64_t bits = a->port_used[pr][w]; bits; bits &= bits - 1) {
                                size_t b = w * 64 + (size_t)__builtin_ctzll(bits);

                                c->port_held[pr][a->port_min + b] += (uint32_t)sign;
                        }
}

void alloc_ports_link(struct alloc_cluster *c, struct alloc_agent *a)
{
        if (!a->port_max)
                return;
        assert(c->port_offered && c->port_held[0] && c->port_held[1]); /* reserved */
        offered_range(c, a, +1);
        held_add_all(c, a, +1);
}

void alloc_ports_unlink(struct alloc_cluster *c, struct alloc_agent *a)
{
        if (!a->port_max)
                return;
        held_add_all(c, a, -1);
        offered_range(c, a, -1);
}

void alloc_ports_cluster_done(struct alloc_cluster *c)
{
        for (int pr = 0; pr < _SILO_PORT_PROTO_MAX; pr++)
                free(c->port_held[pr]);
        free(c->port_offered);
}

bool alloc_ports_available(const struct alloc_cluster *c, const struct alloc_pending *p)
{
        const struct silo_container *ct = &p->spec->container;

        if (p->n_ports == 0)
                return true;
        if (!c->port_offered)
                return false; /* no agent ever offered ports */
        for (size_t i = 0; i < p->n_ports; i++) {
                const struct silo_port_mapping *m = &ct->ports[i];

                if (m->host && offered_at(c, m->host) <= (int32_t)c->port_held[m->proto][m->host])
                        return false;
        }
        return true;
}

/* ---- one agent ---- */

/* Mark a port held; false when it already was (or lies outside the range: not tracked). */
static bool port_take(struct alloc_cluster *c, struct alloc_agent *a, uint32_t key)
{
        silo_port_proto pr = ALLOC_PORT_PROTO(key);
        size_t bit;

        if (!port_in_range(a, ALLOC_PORT_NUM(key)) || alloc_port_is_held(a, key))
                return false;
        bit = (size_t)(ALLOC_PORT_NUM(key) - a->port_min);
        a->port_used[pr][bit / 64] |= UINT64_C(1) << (bit % 64);
        a->port_free[pr]--;
        c->port_held[pr][ALLOC_PORT_NUM(key)]++;
        return true;
}

static void port_put(struct alloc_cluster *c, struct alloc_agent *a, uint32_t key)
{
        silo_port_proto pr = ALLOC_PORT_PROTO(key);
        size_t bit;

        if (!alloc_port_is_held(a, key))
                return;
        bit = (size_t)(ALLOC_PORT_NUM(key) - a->port_min);
        a->port_used[pr][bit / 64] &= ~(UINT64_C(1) << (bit % 64));
        a->port_free[pr]++;
        c->port_held[pr][ALLOC_PORT_NUM(key)]--;
}

/* The first free bit at or after `from`, or n when none is below n. Bits past n in the last
 * word are never set, so they read as free: the bound check catches them. */
static size_t first_free_from(const uint64_t *words, size_t n, size_t from)
{
        for (size_t i = from; i < n; i = (i | 63) + 1) {
                uint64_t free_bits = ~words[i / 64] & (~UINT64_C(0) << (i % 64));

                if (free_bits) {
                        size_t b = (i & ~(size_t)63) + (size_t)__builtin_ctzll(free_bits);

                        return b < n ? b : n;
                }
        }
        return n;
}

/* A free port of the range, from the rotating cursor on; 0 when none is free. */
static uint16_t port_choose(struct alloc_agent *a, silo_port_proto pr)
{
        size_t n = range_size(a), from = a->port_next[pr] < n ? a->port_next[pr] : 0, b;

        if (a->port_free[pr] == 0)
                return 0;
        b = first_free_from(a->port_used[pr], n, from);
        if (b == n)
                b = first_free_from(a->port_used[pr], n, 0);
        if (b == n)
                return 0;
        a->port_next[pr] = (uint32_t)(b + 1);
        return (uint16_t)(a->port_min + b);
}

int alloc_ports_book(struct alloc_cluster *c, struct alloc_agent *a, struct alloc_task *t,
                     const struct silo_port_mapping *ports, size_t n, uint16_t *ret_host_ports)
{
        if (n == 0)
                return 0;
        t->ports = calloc(n, sizeof(*t->ports));
        if (!t->ports)
                return -ENOMEM;
        /* Fixed ports first, so that a chosen one never takes a port the task names itself. */
        for (size_t i = 0; i < n; i++) {
                if (!ports[i].host)
                        continue;
                t->ports[i] = ALLOC_PORT_KEY(ports[i].proto, ports[i].host);
                if (!port_take(c, a, t->ports[i]) && port_in_range(a, ports[i].host))
                        a->port_shared++;
        }
        for (size_t i = 0; i < n; i++) {
                uint16_t port;

                if (ports[i].host)
                        continue;
                /* alloc_ports_fit() counted the free ports: there is one */
                port = port_choose(a, ports[i].proto);
                assert(port != 0);
                t->ports[i] = ALLOC_PORT_KEY(ports[i].proto, port);
                (void)port_take(c, a, t->ports[i]);
        }
        t->n_ports = n;
        for (size_t i = 0; ret_host_ports && i < n; i++)
                ret_host_ports[i] = ALLOC_PORT_NUM(t->ports[i]);
        return 0;
}

const struct alloc_task *alloc_port_holder(const struct alloc_agent *a, uint32_t key)
{
        for (const struct alloc_task *t = a->tasks; t; t = t->agent_next)
                for (size_t i = 0; i < t->n_ports; i++)
                        if (t->ports[i] == key)
                                return t;
        return NULL;
}

/* A port charged twice (two live tasks claim it after a recovery) stays held until the last
 * holder ends: only then is the other holder's search worth it, so it runs only while such a
 * double charge exists. */
static bool port_held_by_other(const struct alloc_agent *a, const struct alloc_task *self,
                               uint32_t key)
{
        for (const struct alloc_task *t = a->tasks; t; t = t->agent_next)
                for (size_t i = 0; t != self && i < t->n_ports; i++)
                        if (t->ports[i] == key)
                                return true;
        return false;
}

void alloc_ports_unbook(struct alloc_cluster *c, struct alloc_agent *a, struct alloc_task *t)
{
        for (size_t i = 0; i < t->n_ports; i++) {
                if (a->port_shared > 0 && port_held_by_other(a, t, t->ports[i])) {
                        a->port_shared--;
                        continue;
                }
                port_put(c, a, t->ports[i]);
        }
        free(t->ports);
        t->ports = NULL;
        t->n_ports = 0;
}

void alloc_ports_rebook_all(struct alloc_cluster *c, struct alloc_agent *a)
{
        a->port_shared = 0;
        for (const struct alloc_task *t = a->tasks; t; t = t->agent_next)
                for (size_t i = 0; i < t->n_ports; i++)
                        if (!port_take(c, a, t->ports[i]) &&
                            port_in_range(a, ALLOC_PORT_NUM(t->ports[i])))
                                a->port_shared++;
}
