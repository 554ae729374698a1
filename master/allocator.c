/* SPDX-License-Identifier: Apache-2.0 */
/* The allocator's cluster state (agents, charged tasks, groups) and the allocation pass: DRF picks
 * the role, priority per dominant share orders its tasks, best fit places them. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "master/allocator-internal.h"

/* How many minimal failed demands a pass remembers (see memo_dominated()). */
#define ALLOC_MEMO_MAX 64

int alloc_cluster_new(struct alloc_cluster **ret)
{
        struct alloc_cluster *c = calloc(1, sizeof(*c));

        if (!c)
                return -ENOMEM;
        *ret = c;
        return 0;
}

static void agent_free_contents(struct alloc_agent *a)
{
        free(a->id);
        free(a->hostname);
        for (size_t i = 0; i < a->n_attrs; i++) {
                free(a->attrs[i].key);
                free(a->attrs[i].value);
        }
        free(a->attrs);
        for (size_t i = 0; i < a->n_disks; i++) {
                free(a->disks[i].name);
                free(a->disks[i].class);
        }
        free(a->disks);
}

static void group_free(struct alloc_group *g)
{
        free(g->members);
        free(g->name);
        free(g);
}

struct alloc_cluster *alloc_cluster_free(struct alloc_cluster *c)
{
        void *v;

        if (!c)
                return NULL;
        for (size_t i = 0; alloc_map_next(&c->tasks, &i, &v);) {
                struct alloc_task *t = v;

                free(t->id);
                free(t);
        }
        for (size_t i = 0; alloc_map_next(&c->agents, &i, &v);) {
                agent_free_contents(v);
                free(v);
        }
        for (size_t i = 0; alloc_map_next(&c->roles, &i, &v);) {
                free(((struct alloc_role *)v)->name);
                free(v);
        }
        for (size_t i = 0; alloc_map_next(&c->groups, &i, &v);)
                group_free(v);
        for (size_t i = 0; alloc_map_next(&c->by_attr, &i, &v);) {
                struct alloc_attr_list *l = v;

                free(l->agents);
                free(l->key);
                free(l);
        }
        alloc_map_done(&c->by_attr);
        for (size_t i = 0; i < c->n_classes; i++)
                free(c->classes[i]);
        alloc_index_done(c);
        alloc_map_done(&c->tasks);
        alloc_map_done(&c->agents);
        alloc_map_done(&c->by_hostname);
        alloc_map_done(&c->roles);
        alloc_map_done(&c->groups);
        free(c);
        return NULL;
}

size_t alloc_cluster_n_agents(const struct alloc_cluster *c)
{
        return c->agents.n;
}

struct alloc_group *alloc_group_get(struct alloc_cluster *c, const char *name, bool create)
{
        struct alloc_group *g = alloc_map_get(&c->groups, name);

        if (g || !create)
                return g;
        g = calloc(1, sizeof(*g));
        if (!g)
                return NULL;
        g->name = strdup(name);
        if (!g->name || alloc_map_put(&c->groups, g->name, g) < 0) {
                free(g->name);
                free(g);
                return NULL;
        }
        return g;
}

/* ---- agents ---- */

static int kv_add(struct silo_kv **kv, size_t *n, const char *key, const char *value)
{
        struct silo_kv *p;

        for (size_t i = 0; i < *n; i++)
                if (streq((*kv)[i].key, key))
                        return 0;       /* the registration's top-level attributes win */
        p = realloc(*kv, (*n + 1) * sizeof(**kv));
        if (!p)
                return -ENOMEM;
        *kv = p;
        p[*n].key = strdup(key);
        p[*n].value = strdup(strempty(value));
        if (!p[*n].key || !p[*n].value) {
                free(p[*n].key);
                free(p[*n].value);
                return -ENOMEM;
        }
        (*n)++;
        return 0;
}

/* Fill an agent's capacity, names and disks from a registration (no tasks, no links). */
static int agent_fill(struct alloc_cluster *c, struct alloc_agent *a, const char *agent_id,
                      const struct silo_agent_registration *reg)
{
        const struct silo_agent_resources *res = &reg->resources;
        int r;

        if (!isfinite(res->cpus) || res->cpus < 0)
                return -EINVAL;
        *a = (struct alloc_agent){};
        a->id = strdup(agent_id);
        a->hostname = strdup(reg->hostname ? reg->hostname : agent_id);
        if (!a->id || !a->hostname)
                return -ENOMEM;
        for (size_t i = 0; i < reg->n_attributes; i++) {
                r = kv_add(&a->attrs, &a->n_attrs, reg->attributes[i].key, reg->attributes[i].value);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < res->n_attributes; i++) {
                r = kv_add(&a->attrs, &a->n_attrs, res->attributes[i].key, res->attributes[i].value);
                if (r < 0)
                        return r;
        }
        a->mcpus_total = (int64_t)floor(res->cpus * 1000.0 + 1e-6);
        a->mem_total = res->mem;
        a->pids_total = res->pids ? res->pids : UINT64_MAX;
        if (res->n_disks) {
                a->disks = calloc(res->n_disks, sizeof(*a->disks));
                if (!a->disks)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < res->n_disks; i++) {
                const struct silo_disk *s = &res->disks[i];
                struct alloc_disk *d = &a->disks[a->n_disks];

                if (!s->name)
                        return -EINVAL;
                *d = (struct alloc_disk){
                        .read_bps = s->read_bps, .write_bps = s->write_bps,
                        .read_iops = s->read_iops, .write_iops = s->write_iops,
                };
                d->name = strdup(s->name);
                d->class = s->class ? strdup(s->class) : NULL;
                a->n_disks++;
                if (!d->name || (s->class && !d->class))
                        return -ENOMEM;
                d->class_id = alloc_class_intern(c, s->class);
                if (d->class_id == -ENOMEM)
                        return -ENOMEM;
        }
        return 0;
}

static int hostname_link(struct alloc_cluster *c, struct alloc_agent *a)
{
        struct alloc_agent *head = alloc_map_get(&c->by_hostname, a->hostname);

        if (!head)
                return alloc_map_put(&c->by_hostname, a->hostname, a);
        a->host_next = head->host_next;
        head->host_next = a;
        return 0;
}

static void hostname_unlink(struct alloc_cluster *c, struct alloc_agent *a)
{
        struct alloc_agent *head = alloc_map_get(&c->by_hostname, a->hostname);

        if (head == a) {
                alloc_map_remove(&c->by_hostname, a->hostname);
                /* The map borrows the head's string: re-key on the next agent. Removal freed a
                 * slot, so this put cannot need memory. */
                if (a->host_next)
                        (void)alloc_map_put(&c->by_hostname, a->host_next->hostname, a->host_next);
        } else {
                for (struct alloc_agent *p = head; p; p = p->host_next)
                        if (p->host_next == a) {
                                p->host_next = a->host_next;
                                break;
                        }
        }
        a->host_next = NULL;
}

static char *attr_key(const char *key, const char *value)
{
        char *s;

        return asprintf(&s, "%s=%s", key, strempty(value)) < 0 ? NULL : s;
}

const struct alloc_attr_list *alloc_attr_list_get(const struct alloc_cluster *c, const struct silo_kv *kv)
{
        _cleanup_free_ char *key = attr_key(kv->key, kv->value);

        return key ? alloc_map_get(&c->by_attr, key) : NULL;
}

static int attrs_link(struct alloc_cluster *c, struct alloc_agent *a)
{
        for (size_t i = 0; i < a->n_attrs; i++) {
                _cleanup_free_ char *key = attr_key(a->attrs[i].key, a->attrs[i].value);
                struct alloc_attr_list *l;

                if (!key)
                        return -ENOMEM;
                l = alloc_map_get(&c->by_attr, key);
                if (!l) {
                        l = calloc(1, sizeof(*l));
                        if (!l)
                                return -ENOMEM;
                        l->key = TAKE_PTR(key);
                        if (alloc_map_put(&c->by_attr, l->key, l) < 0) {
                                free(l->key);
                                free(l);
                                return -ENOMEM;
                        }
                }
                if (l->n == l->cap) {
                        size_t cap = l->cap ? l->cap * 2 : 8;
                        struct alloc_agent **v = realloc(l->agents, cap * sizeof(*v));

                        if (!v)
                                return -ENOMEM;
                        l->agents = v;
                        l->cap = cap;
                }
                l->agents[l->n++] = a;
        }
        return 0;
}

/* Safe on a partly linked agent: entries it is not in are left alone. */
static void attrs_unlink(struct alloc_cluster *c, struct alloc_agent *a)
{
        for (size_t i = 0; i < a->n_attrs; i++) {
                _cleanup_free_ char *key = attr_key(a->attrs[i].key, a->attrs[i].value);
                struct alloc_attr_list *l = key ? alloc_map_get(&c->by_attr, key) : NULL;

                if (!l)
                        continue;
                /* Order is kept: scans visit agents in registration order. */
                for (size_t j = 0; j < l->n; j++)
                        if (l->agents[j] == a) {
                                memmove(&l->agents[j], &l->agents[j + 1], (l->n - j - 1) * sizeof(*l->agents));
                                l->n--;
                                break;
                        }
                if (l->n == 0) {
                        alloc_map_remove(&c->by_attr, l->key);
                        free(l->agents);
                        free(l->key);
                        free(l);
                }
        }
}

static void cluster_note_disks(struct alloc_cluster *c, const struct alloc_agent *a)
{
        for (size_t i = 0; i < a->n_disks; i++) {
                c->max_read_bps = MAX(c->max_read_bps, a->disks[i].read_bps);
                c->max_write_bps = MAX(c->max_write_bps, a->disks[i].write_bps);
                c->max_read_iops = MAX(c->max_read_iops, a->disks[i].read_iops);
                c->max_write_iops = MAX(c->max_write_iops, a->disks[i].write_iops);
                if (a->disks[i].class_id >= 0) {
                        uint64_t *m = c->class_max[a->disks[i].class_id];

                        m[0] = MAX(m[0], a->disks[i].read_bps);
                        m[1] = MAX(m[1], a->disks[i].write_bps);
                        m[2] = MAX(m[2], a->disks[i].read_iops);
                        m[3] = MAX(m[3], a->disks[i].write_iops);
                }
        }
}

int alloc_agent_add(struct alloc_cluster *c, const char *agent_id,
                    const struct silo_agent_registration *reg)
{
        struct alloc_agent *a;
        int r;

        if (!agent_id || !reg)
                return -EINVAL;
        if (alloc_map_get(&c->agents, agent_id))
                return -EEXIST;
        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        r = agent_fill(c, a, agent_id, reg);
        if (r >= 0)
                r = alloc_map_put(&c->agents, a->id, a);
        if (r >= 0) {
                r = hostname_link(c, a);
                if (r < 0)
                        alloc_map_remove(&c->agents, a->id);
        }
        if (r < 0) {
                agent_free_contents(a);
                free(a);
                return r;
        }
        r = attrs_link(c, a);
        if (r >= 0)
                r = alloc_index_insert(c, a);
        if (r < 0) {
                attrs_unlink(c, a);
                hostname_unlink(c, a);
                alloc_map_remove(&c->agents, a->id);
                agent_free_contents(a);
                free(a);
                return r;
        }
        alloc_totals_add_agent(c, a, +1);
        cluster_note_disks(c, a);
        a->all_prev = c->last;
        if (c->last)
                c->last->all_next = a;
        else
                c->first = a;
        c->last = a;
        c->epoch++;
        return 0;
}

int alloc_agent_update(struct alloc_cluster *c, const char *agent_id,
                       const struct silo_agent_registration *reg)
{
        struct alloc_agent *a = agent_id ? alloc_map_get(&c->agents, agent_id) : NULL;
        struct alloc_agent fresh;
        int r;

        if (!a)
                return -ENOENT;
        r = agent_fill(c, &fresh, agent_id, reg);
        if (r < 0) {
                agent_free_contents(&fresh);
                return r;
        }
        /* Attribute lists may need memory for the new values: link those first. */
        r = attrs_link(c, &fresh);
        if (r < 0) {
                attrs_unlink(c, &fresh);
                agent_free_contents(&fresh);
                return r;
        }
        attrs_unlink(c, a);
        alloc_index_remove(c, a);
        hostname_unlink(c, a);
        alloc_map_remove(&c->agents, a->id);
        alloc_totals_add_agent(c, a, -1);

        /* Tasks stay charged; their io charges follow their disk by name. */
        for (size_t i = 0; i < fresh.n_disks; i++)
                fresh.disks[i].used = 0;
        for (struct alloc_task *t = a->tasks; t; t = t->agent_next)
                for (size_t i = 0; i < t->n_io; i++) {
                        int nd = -1;

                        if (t->io[i].disk < 0)
                                continue;
                        for (size_t j = 0; j < fresh.n_disks; j++)
                                if (streq(fresh.disks[j].name, a->disks[t->io[i].disk].name))
                                        nd = (int)j;
                        t->io[i].disk = nd;
                        if (nd >= 0)
                                fresh.disks[nd].used += t->io[i].cost;
                }
        fresh.tasks = a->tasks;
        fresh.n_tasks = a->n_tasks;
        fresh.mcpus_used = a->mcpus_used;
        fresh.mem_used = a->mem_used;
        fresh.pids_used = a->pids_used;
        fresh.all_prev = a->all_prev;
        fresh.all_next = a->all_next;
        agent_free_contents(a);
        *a = fresh;
        /* The lists point at the stack copy: repoint them at the agent. */
        for (size_t i = 0; i < a->n_attrs; i++) {
                struct alloc_attr_list *l = (struct alloc_attr_list *)alloc_attr_list_get(c, &a->attrs[i]);

                for (size_t j = 0; l && j < l->n; j++)
                        if (l->agents[j] == &fresh)
                                l->agents[j] = a;
        }

        /* The map slots were freed just above: these puts reuse them. */
        (void)alloc_map_put(&c->agents, a->id, a);
        (void)hostname_link(c, a);
        alloc_totals_add_agent(c, a, +1);
        cluster_note_disks(c, a);
        /* The agent's tree slot was freed just above: reinserting needs no memory. */
        (void)alloc_index_insert(c, a);
        c->epoch++;
        return 0;
}

static void task_release(struct alloc_cluster *c, struct alloc_task *t);

int alloc_agent_remove(struct alloc_cluster *c, const char *agent_id)
{
        struct alloc_agent *a = agent_id ? alloc_map_get(&c->agents, agent_id) : NULL;
        int n = 0;

        if (!a)
                return -ENOENT;
        while (a->tasks) {
                struct alloc_task *t = a->tasks;

                alloc_map_remove(&c->tasks, t->id);
                task_release(c, t);
                n++;
        }
        attrs_unlink(c, a);
        alloc_index_remove(c, a);
        hostname_unlink(c, a);
        alloc_map_remove(&c->agents, a->id);
        alloc_totals_add_agent(c, a, -1);
        if (a->all_prev)
                a->all_prev->all_next = a->all_next;
        else
                c->first = a->all_next;
        if (a->all_next)
                a->all_next->all_prev = a->all_prev;
        else
                c->last = a->all_prev;
        agent_free_contents(a);
        free(a);
        c->epoch++;
        return n;
}

int alloc_agent_get_free(const struct alloc_cluster *c, const char *agent_id,
                         struct alloc_agent_free *ret)
{
        const struct alloc_agent *a = agent_id ? alloc_map_get(&c->agents, agent_id) : NULL;

        if (!a)
                return -ENOENT;
        *ret = (struct alloc_agent_free){
                .cpus = (double)alloc_agent_free_mcpus(a) / 1000.0,
                .mem = alloc_agent_free_mem(a),
                .pids = alloc_agent_free_pids(a),
                .n_tasks = a->n_tasks,
        };
        return 0;
}

int alloc_disk_get_used(const struct alloc_cluster *c, const char *agent_id, const char *disk,
                        double *ret_used)
{
        const struct alloc_agent *a = agent_id ? alloc_map_get(&c->agents, agent_id) : NULL;

        if (!a || !disk)
                return -ENOENT;
        for (size_t i = 0; i < a->n_disks; i++)
                if (streq(a->disks[i].name, disk)) {
                        *ret_used = a->disks[i].used;
                        return 0;
                }
        return -ENOENT;
}

/* ---- tasks ---- */

static int group_add(struct alloc_group *g, struct alloc_agent *a)
{
        for (size_t i = 0; i < g->n_members; i++)
                if (g->members[i].agent == a) {
                        g->members[i].n++;
                        return 0;
                }
        if (g->n_members == g->cap_members) {
                size_t cap = g->cap_members ? g->cap_members * 2 : 4;
                struct alloc_group_member *m = realloc(g->members, cap * sizeof(*m));

                if (!m)
                        return -ENOMEM;
                g->members = m;
                g->cap_members = cap;
        }
        g->members[g->n_members++] = (struct alloc_group_member){ .agent = a, .n = 1 };
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
                alloc_map_remove(&c->groups, g->name);
                group_free(g);
        }
}

/* Book a task on an agent: the agent's capacity, its disks, its role's use and its group. */
static int task_charge(struct alloc_cluster *c, const struct silo_task_spec *spec,
                       struct alloc_agent *a, const int *disks, const double *costs)
{
        const struct silo_resources *res = &spec->resources;
        struct alloc_role *role = alloc_role_get(c, spec->role ? spec->role : "default", true);
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
        r = alloc_map_put(&c->tasks, t->id, t);
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
                t->io[i] = (struct alloc_task_io){ .disk = disks[i], .cost = costs[i] };
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
        c->epoch++;
        return 0;
}

/* Undo task_charge(); the caller already took the task out of c->tasks. */
static void task_release(struct alloc_cluster *c, struct alloc_task *t)
{
        struct alloc_agent *a = t->agent;

        for (size_t i = 0; i < t->n_io; i++)
                if (t->io[i].disk >= 0) {
                        struct alloc_disk *d = &a->disks[t->io[i].disk];

                        d->used -= t->io[i].cost;
                        if (d->used < 1e-12)
                                d->used = 0;    /* no float dust on an idle disk */
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
        c->epoch++;
        free(t->id);
        free(t);
}

int alloc_task_charge(struct alloc_cluster *c, const struct silo_task_spec *spec,
                      const char *agent_id, const char *const *disks)
{
        const struct silo_resources *res = &spec->resources;
        struct alloc_agent *a = agent_id ? alloc_map_get(&c->agents, agent_id) : NULL;
        int idx[ALLOC_IO_MAX];
        double cost[ALLOC_IO_MAX];

        if (!spec->id || res->n_io > ALLOC_IO_MAX || (res->n_io && !disks))
                return -EINVAL;
        if (!a)
                return -ENOENT;
        if (alloc_map_get(&c->tasks, spec->id))
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

                        if (!d->read_bps)
                                known.rbps = SILO_UNSET;
                        if (!d->write_bps)
                                known.wbps = SILO_UNSET;
                        if (!d->read_iops)
                                known.riops = SILO_UNSET;
                        if (!d->write_iops)
                                known.wiops = SILO_UNSET;
                        (void)alloc_disk_cost(d, &known, &cost[i], NULL);
                }
        }
        return task_charge(c, spec, a, idx, cost);
}

int alloc_task_release(struct alloc_cluster *c, const char *task_id)
{
        struct alloc_task *t = task_id ? alloc_map_remove(&c->tasks, task_id) : NULL;

        if (!t)
                return -ENOENT;
        task_release(c, t);
        return 0;
}

bool alloc_task_is_charged(const struct alloc_cluster *c, const char *task_id)
{
        return task_id && alloc_map_get(&c->tasks, task_id);
}

/* ---- the pass ---- */

static char *reason_invalid(const struct silo_task_spec *spec)
{
        const struct silo_resources *res = &spec->resources;
        char *s = NULL;

        if (res->n_io > ALLOC_IO_MAX) {
                if (asprintf(&s, "resources.io: %zu entries, the allocator takes at most %d",
                             res->n_io, ALLOC_IO_MAX) < 0)
                        return NULL;
                return s;
        }
        for (size_t i = 0; i < res->n_io; i++)
                if (!res->io[i].disk) {
                        if (asprintf(&s, "resources.io[%zu]: a device path (%s) only works with a "
                                     "standalone agent; name a disk or \"any\"",
                                     i, strempty(res->io[i].device)) < 0)
                                return NULL;
                        return s;
                }
        return NULL;
}

static bool invalid_for_master(const struct silo_task_spec *spec)
{
        if (spec->resources.n_io > ALLOC_IO_MAX)
                return true;
        for (size_t i = 0; i < spec->resources.n_io; i++)
                if (!spec->resources.io[i].disk)
                        return true;
        return false;
}

/* The least an io entry can cost on any disk of its class (against the largest figures seen):
 * buckets whose disks have less free are skipped without looking at their agents. */
static double io_need_of(const struct alloc_cluster *c, const struct silo_io_request *io, int class_id)
{
        uint64_t fig[4] = { c->max_read_bps, c->max_write_bps, c->max_read_iops, c->max_write_iops };
        const uint64_t want[4] = { io->rbps, io->wbps, io->riops, io->wiops };
        double cost = 0;

        if (class_id >= 0)
                memcpy(fig, c->class_max[class_id], sizeof(fig));
        for (int k = 0; k < 4; k++)
                if (want[k] != SILO_UNSET && fig[k])
                        cost += (double)want[k] / (double)fig[k];
        return cost;
}

static void pending_init(struct alloc_cluster *c, struct alloc_pending *p,
                         const struct silo_task_spec *spec, size_t pos)
{
        const struct silo_constraints *k = &spec->constraints;

        *p = (struct alloc_pending){ .spec = spec, .pos = pos };
        alloc_demand_from_spec(spec, &p->mcpus, &p->mem, &p->pids, p->use);
        p->share = alloc_demand_share(c, p->use);
        for (size_t i = 0; i < spec->resources.n_io && i < ALLOC_IO_MAX; i++) {
                const struct silo_io_request *io = &spec->resources.io[i];

                p->io[i].class_id = alloc_class_lookup(c, io->class);
                p->io[i].any = !io->disk || streq(io->disk, "any");
                p->io[i].need = io_need_of(c, io, p->io[i].class_id);
        }
        p->constrained = k->hostname || k->n_attributes ||
                         (k->spread == SILO_SPREAD_HOSTNAME && spec->group);
}

/* Within a role: tasks with a positive priority by priority per dominant share of demand (the
 * greedy for max Σ Cᵢxᵢ s.t. Σ Aᵢxᵢ ≤ b), then the rest by priority; ties by submission order. */
static int pending_compare(const void *x, const void *y)
{
        const struct alloc_pending *a = *(const struct alloc_pending *const *)x;
        const struct alloc_pending *b = *(const struct alloc_pending *const *)y;
        int64_t pa = a->spec->priority, pb = b->spec->priority;

        if (a->role != b->role)
                return strcmp(a->role->name, b->role->name);
        if ((pa > 0) != (pb > 0))
                return pa > 0 ? -1 : 1;
        if (pa > 0) {
                double da = a->share > 0 ? (double)pa / a->share : INFINITY;
                double db = b->share > 0 ? (double)pb / b->share : INFINITY;

                if (da != db)
                        return da > db ? -1 : 1;
        }
        if (pa != pb)
                return pa > pb ? -1 : 1;
        return a->pos < b->pos ? -1 : a->pos > b->pos;
}

struct role_queue {
        struct alloc_role *role;
        double share;
        size_t next, end;       /* range in the sorted pending order */
};

static bool queue_before(const struct role_queue *a, const struct role_queue *b)
{
        if (a->share != b->share)
                return a->share < b->share;
        return strcmp(a->role->name, b->role->name) < 0;
}

static void heap_down(struct role_queue *h, size_t n, size_t i)
{
        for (;;) {
                size_t l = 2 * i + 1, r = l + 1, m = i;
                struct role_queue tmp;

                if (l < n && queue_before(&h[l], &h[m]))
                        m = l;
                if (r < n && queue_before(&h[r], &h[m]))
                        m = r;
                if (m == i)
                        return;
                tmp = h[i];
                h[i] = h[m];
                h[m] = tmp;
                i = m;
        }
}

static bool io_dominates(const struct silo_io_request *b, const struct silo_io_request *a)
{
#define GE(f) ((b->f == SILO_UNSET ? 0 : b->f) >= (a->f == SILO_UNSET ? 0 : a->f))
        return streq_ptr(a->disk, b->disk) && streq_ptr(a->class, b->class) &&
               GE(rbps) && GE(wbps) && GE(riops) && GE(wiops);
#undef GE
}

/* Within one pass capacity only shrinks, so a task that needs at least as much as one that
 * already failed (in every dimension, with the same io shape) fails too: skip its search. */
static bool memo_dominated(const struct alloc_pending *const *memo, size_t n, const struct alloc_pending *p)
{
        for (size_t m = 0; m < n; m++) {
                const struct alloc_pending *f = memo[m];
                const struct silo_resources *rf = &f->spec->resources, *rp = &p->spec->resources;
                bool dom = p->mcpus >= f->mcpus && p->mem >= f->mem && p->pids >= f->pids &&
                           rp->n_io == rf->n_io;

                for (size_t i = 0; dom && i < rp->n_io; i++)
                        dom = io_dominates(&rp->io[i], &rf->io[i]);
                if (dom)
                        return true;
        }
        return false;
}

/* Everything the reason depends on besides the cluster: tasks with the same signature get the
 * same reason. */
static char *reason_signature(const struct alloc_pending *p)
{
        const struct silo_task_spec *spec = p->spec;
        const struct silo_constraints *k = &spec->constraints;
        char *s = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&s, &len);

        if (!f)
                return NULL;
        fprintf(f, "%" PRIi64 "|%" PRIu64 "|%" PRIu64 "|%s|", p->mcpus, p->mem, p->pids,
                strempty(k->hostname));
        for (size_t i = 0; i < k->n_attributes; i++)
                fprintf(f, "%s=%s;", k->attributes[i].key, strempty(k->attributes[i].value));
        if (k->spread == SILO_SPREAD_HOSTNAME && spec->group)
                fprintf(f, "|spread:%s", spec->group);
        for (size_t i = 0; i < spec->resources.n_io; i++) {
                const struct silo_io_request *io = &spec->resources.io[i];

                fprintf(f, "|%s,%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64, strempty(io->disk),
                        io->class ? io->class : "\x01", io->rbps, io->wbps, io->riops, io->wiops);
        }
        if (fclose(f) != 0) {
                free(s);
                return NULL;
        }
        return s;
}

struct reason_entry {
        char *signature;
        char *reason;
};

/* Reasons are written once the pass is over, against the cluster as the pass left it (what the
 * task waits for until the next pass), and computed once per distinct demand. */
static int reasons_fill(struct alloc_cluster *c, const struct alloc_pending *const *failed, size_t n,
                        struct alloc_result *results)
{
        struct alloc_map cache = {};
        struct alloc_reason_ctx ctx;
        void *v;
        int r = 0;

        (void)alloc_reason_ctx_init(&ctx);
        for (size_t i = 0; i < n && r >= 0; i++) {
                _cleanup_free_ char *sig = reason_signature(failed[i]);
                struct reason_entry *e;

                if (!sig) {
                        r = -ENOMEM;
                        break;
                }
                e = alloc_map_get(&cache, sig);
                if (!e) {
                        e = calloc(1, sizeof(*e));
                        if (!e) {
                                r = -ENOMEM;
                                break;
                        }
                        e->signature = TAKE_PTR(sig);
                        e->reason = alloc_reason_explain(c, &ctx, failed[i]);
                        r = e->reason ? alloc_map_put(&cache, e->signature, e) : -ENOMEM;
                        if (r < 0) {
                                free(e->signature);
                                free(e->reason);
                                free(e);
                                break;
                        }
                }
                results[failed[i]->pos].reason = strdup(e->reason);
                if (!results[failed[i]->pos].reason)
                        r = -ENOMEM;
        }
        for (size_t i = 0; alloc_map_next(&cache, &i, &v);) {
                struct reason_entry *e = v;

                free(e->signature);
                free(e->reason);
                free(e);
        }
        alloc_map_done(&cache);
        alloc_reason_ctx_done(&ctx);
        return r;
}

static void result_fill(struct alloc_result *res, const struct alloc_choice *ch, size_t n_io)
{
        *res = (struct alloc_result){
                .placed = true,
                .agent_id = ch->agent->id,
                .hostname = ch->agent->hostname,
                .n_io = n_io,
        };
        for (size_t i = 0; i < n_io; i++) {
                res->disks[i] = ch->agent->disks[ch->disk[i]].name;
                res->io_cost[i] = ch->cost[i];
        }
}

static int batch_check(const struct alloc_cluster *c, const struct silo_task_spec *const *specs, size_t n)
{
        struct alloc_map seen = {};
        int r = 0;

        for (size_t i = 0; i < n && r >= 0; i++) {
                if (!specs[i] || !specs[i]->id)
                        r = -EINVAL;
                else if (alloc_map_get(&c->tasks, specs[i]->id))
                        r = -EEXIST;
                else
                        r = alloc_map_put(&seen, specs[i]->id, NULL);
        }
        alloc_map_done(&seen);
        return r;
}

int alloc_place_batch(struct alloc_cluster *c, const struct silo_task_spec *const *specs, size_t n,
                      struct alloc_result *ret_results)
{
        _cleanup_free_ struct alloc_pending *pend = NULL;
        _cleanup_free_ struct alloc_pending **order = NULL;
        _cleanup_free_ struct role_queue *heap = NULL;
        _cleanup_free_ const struct alloc_pending **failed = NULL;
        const struct alloc_pending *memo[ALLOC_MEMO_MAX];
        size_t n_memo = 0, n_heap = 0, memo_next = 0, n_failed = 0;
        int placed = 0, r;

        r = batch_check(c, specs, n);
        if (r < 0)
                return r;
        if (n == 0)
                return 0;
        pend = calloc(n, sizeof(*pend));
        order = calloc(n, sizeof(*order));
        heap = calloc(n, sizeof(*heap));
        failed = calloc(n, sizeof(*failed));
        if (!pend || !order || !heap || !failed)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                pending_init(c, &pend[i], specs[i], i);
                pend[i].role = alloc_role_get(c, specs[i]->role ? specs[i]->role : "default", true);
                if (!pend[i].role)
                        return -ENOMEM;
                order[i] = &pend[i];
                ret_results[i] = (struct alloc_result){};
        }
        qsort(order, n, sizeof(*order), pending_compare);
        for (size_t i = 0; i < n;) {
                size_t j = i;

                while (j < n && order[j]->role == order[i]->role)
                        j++;
                heap[n_heap++] = (struct role_queue){
                        .role = order[i]->role,
                        .share = alloc_role_share_of(c, order[i]->role),
                        .next = i,
                        .end = j,
                };
                i = j;
        }
        for (size_t i = n_heap; i-- > 0;)
                heap_down(heap, n_heap, i);

        /* Serve the role with the lowest weighted dominant share, one task at a time. */
        while (n_heap > 0) {
                struct role_queue *q = &heap[0];
                struct alloc_pending *p = order[q->next++];
                struct alloc_result *res = &ret_results[p->pos];
                struct alloc_choice ch;

                if (invalid_for_master(p->spec)) {
                        res->reason = reason_invalid(p->spec);
                } else if ((p->constrained || !memo_dominated(memo, n_memo, p)) &&
                           alloc_fit_find(c, p, &ch)) {
                        r = task_charge(c, p->spec, ch.agent, ch.disk, ch.cost);
                        if (r < 0)
                                goto fail;
                        result_fill(res, &ch, p->spec->resources.n_io);
                        placed++;
                        q->share = alloc_role_share_of(c, q->role);
                } else {
                        /* A memo hit adds nothing new: only a searched failure is recorded. */
                        if (!p->constrained && !memo_dominated(memo, n_memo, p)) {
                                if (n_memo < ALLOC_MEMO_MAX)
                                        memo[n_memo++] = p;
                                else
                                        memo[memo_next++ % ALLOC_MEMO_MAX] = p;
                        }
                        failed[n_failed++] = p;
                }
                if (!res->placed && !res->reason && (n_failed == 0 || failed[n_failed - 1] != p)) {
                        r = -ENOMEM;
                        goto fail;
                }
                if (q->next == q->end)
                        heap[0] = heap[--n_heap];
                heap_down(heap, n_heap, 0);
        }
        r = reasons_fill(c, failed, n_failed, ret_results);
        if (r < 0)
                goto fail;
        return placed;

fail:
        /* Leave nothing behind: release what this pass charged, drop the reasons. */
        for (size_t i = 0; i < n; i++) {
                if (ret_results[i].placed)
                        (void)alloc_task_release(c, specs[i]->id);
                free(ret_results[i].reason);
                ret_results[i] = (struct alloc_result){};
        }
        return r;
}

void alloc_results_clear(struct alloc_result *results, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(results[i].reason);
                results[i].reason = NULL;
        }
}
