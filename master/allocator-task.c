/* SPDX-License-Identifier: Apache-2.0 */
/* Tasks that hold resources: booking a task on an agent and its disks (with its role's use and
 * its group's members for spread), giving it back when it ends, and groups. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/macro.h"
#include "common/protocol-json.h"
#include "master/allocator-internal.h"

void alloc_group_free(struct alloc_group *g)
{
        free(g->members);
        free(g->name);
        free(g);
}

static struct alloc_group *alloc_group_get(struct alloc_cluster *c, const char *name,
                                           bool create)
{
        struct alloc_group *g = table_get(&c->groups, name);

        if (g || !create)
                return g;
        g = calloc(1, sizeof(*g));
        if (!g)
                return NULL;
        g->name = strdup(name);
        if (!g->name || table_put(&c->groups, g->name, g) < 0) {
                free(g->name);
                free(g);
                return NULL;
        }
        return g;
}

static int group_add(struct alloc_group *g, struct alloc_agent *a)
{
        for (size_t i = 0; i < g->n_members; i++)
                if (g->members[i].agent == a) {
                        g->members[i].n++;
                        return 0;
                }
        if (!ARRAY_GROW(g->members, g->cap_members, g->n_members + 1))
                return -ENOMEM;
        g->members[g->n_members++] = (struct alloc_group_member){.agent = a, .n = 1};
        return 0;
}

static void group_del(struct alloc_cluster *c, struct alloc_group *g, struct alloc_agent *a)
{
        for (size_t i = 0; i < g->n_members; i++)
                if (g->members[i].agent == a) {
                        if (--g->members[i].n == 0)
                                g->members[i] = g->members[--g->n_members];
                        break;
                }
        if (g->n_members == 0) {
                table_remove(&c->groups, g->name);
                alloc_group_free(g);
        }
}

/* Book a task on an agent: the agent's capacity, its disks, its role's use and its group. */
int alloc_task_book(struct alloc_cluster *c, const struct silo_task_spec *spec,
                    struct alloc_agent *a, const int *disks, const double *costs,
                    uint16_t *ret_host_ports)
{
        const struct silo_resources *res = &spec->resources;
        struct alloc_role *role = alloc_role_get(c, silo_task_spec_role(spec), true);
        struct alloc_group *g = NULL;
        struct alloc_task *t;
        int r;

        if (!role)
                return -ENOMEM;
        if (spec->group) {
                g = alloc_group_get(c, spec->group, true);
                if (!g)
                        return -ENOMEM;
        }
        t = calloc(1, sizeof(*t) + res->n_io * sizeof(t->io[0]));
        if (!t)
                return -ENOMEM;
        t->id = strdup(spec->id);
        if (!t->id || (g && group_add(g, a) < 0)) {
                free(t->id);
                free(t);
                return -ENOMEM;
        }
        r = table_put(&c->tasks, t->id, t);
        if (r >= 0 && spec->has_container) {
                r = alloc_ports_book(c, a, t, spec->container.ports, spec->container.n_ports,
                                     ret_host_ports);
                if (r < 0)
                        table_remove(&c->tasks, t->id);
        }
        if (r < 0) {
                if (g)
                        group_del(c, g, a);
                free(t->id);
                free(t);
                return r;
        }
        t->role = role;
        t->agent = a;
        t->group = g;
        alloc_demand_from_spec(spec, &t->mcpus, &t->mem, &t->pids, t->use);
        t->n_io = res->n_io;
        for (size_t i = 0; i < res->n_io; i++) {
                t->io[i] = (struct alloc_task_io){.disk = disks[i], .cost = costs[i]};
                a->disks[disks[i]].used += costs[i];
        }
        a->mcpus_used += t->mcpus;
        a->mem_used += t->mem;
        a->pids_used += t->pids;
        t->agent_next = a->tasks;
        if (a->tasks)
                a->tasks->agent_prev = t;
        a->tasks = t;
        a->n_tasks++;
        for (int k = 0; k < _ALLOC_DIM_MAX; k++) {
                role->use[k] += t->use[k];
                c->used[k] += t->use[k];
        }
        role->n_tasks++;
        alloc_index_reposition(c, a);
        return 0;
}

/* Undo task_charge(); the caller already took the task out of c->tasks. */
void alloc_task_unbook(struct alloc_cluster *c, struct alloc_task *t)
{
        struct alloc_agent *a = t->agent;

        alloc_ports_unbook(c, a, t);
        for (size_t i = 0; i < t->n_io; i++)
                if (t->io[i].disk >= 0) {
                        struct alloc_disk *d = &a->disks[t->io[i].disk];

                        d->used -= t->io[i].cost;
                        if (d->used < 1e-12)
                                d->used = 0; /* no float dust on an idle disk */
                }
        a->mcpus_used -= t->mcpus;
        a->mem_used -= t->mem;
        a->pids_used -= t->pids;
        if (t->agent_prev)
                t->agent_prev->agent_next = t->agent_next;
        else
                a->tasks = t->agent_next;
        if (t->agent_next)
                t->agent_next->agent_prev = t->agent_prev;
        a->n_tasks--;
        for (int k = 0; k < _ALLOC_DIM_MAX; k++) {
                t->role->use[k] -= t->use[k];
                if (t->role->use[k] < 0.5)
                        t->role->use[k] = 0;
                c->used[k] -= t->use[k];
                if (c->used[k] < 0.5)
                        c->used[k] = 0;
        }
        t->role->n_tasks--;
        if (t->group)
                group_del(c, t->group, a);
        alloc_index_reposition(c, a);
        free(t->id);
        free(t);
}

bool alloc_spec_is_checked(const struct silo_task_spec *spec)
{
        size_t n_vol = 0;

        for (size_t i = 0; spec->has_container && i < spec->container.n_volumes; i++)
                n_vol += spec->container.volumes[i].name != NULL;
        if (spec->resources.n_io > ALLOC_IO_MAX || n_vol > ALLOC_VOLUMES_MAX)
                return false;
        for (size_t i = 0; i < spec->resources.n_io; i++)
                if (!spec->resources.io[i].disk)
                        return false;
        return true;
}

int alloc_task_charge(struct alloc_cluster *c, const struct silo_task_spec *spec,
                      const char *agent_id, const char *const *disks)
{
        const struct silo_resources *res = &spec->resources;
        struct alloc_agent *a = agent_id ? table_get(&c->agents, agent_id) : NULL;
        int idx[ALLOC_IO_MAX];
        double cost[ALLOC_IO_MAX];

        if (!spec->id || !alloc_spec_is_checked(spec) || (res->n_io && !disks))
                return -EINVAL;
        if (!a)
                return -ENOENT;
        if (table_get(&c->tasks, spec->id))
                return -EEXIST;
        for (size_t i = 0; i < res->n_io; i++) {
                idx[i] = -1;
                for (size_t d = 0; d < a->n_disks && disks[i]; d++)
                        if (streq(a->disks[d].name, disks[i]))
                                idx[i] = (int)d;
                if (idx[i] < 0)
                        return -ENXIO;
                /* A disk with an unknown figure still runs the task: charge what is known. */
                if (alloc_disk_cost(&a->disks[idx[i]], &res->io[i], &cost[i], NULL) < 0) {
                        struct silo_io_request known = res->io[i];
                        const struct alloc_disk *d = &a->disks[idx[i]];

                        FOREACH_IO_LIMIT(l)
                                if (!d->figure[l])
                                        known.limit[l] = SILO_UNSET;
                        (void)alloc_disk_cost(d, &known, &cost[i], NULL);
                }
        }
        return alloc_task_book(c, spec, a, idx, cost, NULL);
}

int alloc_task_release(struct alloc_cluster *c, const char *task_id)
{
        struct alloc_task *t = task_id ? table_remove(&c->tasks, task_id) : NULL;

        if (!t)
                return -ENOENT;
        alloc_task_unbook(c, t);
        return 0;
}

bool alloc_task_is_charged(const struct alloc_cluster *c, const char *task_id)
{
        return task_id && table_get(&c->tasks, task_id);
}
