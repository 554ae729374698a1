/* SPDX-License-Identifier: Apache-2.0 */
/* The allocator's cluster: agents (capacity, disks, attributes) and the lookups over them by id,
 * hostname and attribute; tasks are in allocator-task.c, the pass in allocator-pass.c. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/macro.h"
#include "master/allocator-internal.h"

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
        alloc_ports_done(a);
}

struct alloc_cluster *alloc_cluster_free(struct alloc_cluster *c)
{
        void *v;

        if (!c)
                return NULL;
        for (size_t i = 0; table_next(&c->tasks, &i, NULL, &v);) {
                struct alloc_task *t = v;

                free(t->ports);
                free(t->id);
                free(t);
        }
        for (size_t i = 0; table_next(&c->agents, &i, NULL, &v);) {
                agent_free_contents(v);
                free(v);
        }
        for (size_t i = 0; table_next(&c->roles, &i, NULL, &v);) {
                free(((struct alloc_role *)v)->name);
                free(v);
        }
        for (size_t i = 0; table_next(&c->groups, &i, NULL, &v);)
                alloc_group_free(v);
        for (size_t i = 0; table_next(&c->by_attr, &i, NULL, &v);) {
                struct alloc_attr_list *l = v;

                free(l->agents);
                free(l->key);
                free(l);
        }
        table_done(&c->by_attr);
        for (size_t i = 0; i < c->n_classes; i++)
                free(c->classes[i]);
        alloc_index_done(c);
        alloc_ports_cluster_done(c);
        alloc_volumes_done(c);
        table_done(&c->tasks);
        table_done(&c->agents);
        table_done(&c->by_hostname);
        table_done(&c->roles);
        table_done(&c->groups);
        free(c);
        return NULL;
}

size_t alloc_cluster_n_agents(const struct alloc_cluster *c)
{
        return c->agents.n;
}

/* ---- agents ---- */

static int kv_add(struct silo_kv **kv, size_t *n, const char *key, const char *value)
{
        struct silo_kv *p;

        for (size_t i = 0; i < *n; i++)
                if (streq((*kv)[i].key, key))
                        return 0; /* the registration's top-level attributes win */
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
                r = kv_add(&a->attrs, &a->n_attrs, reg->attributes[i].key,
                           reg->attributes[i].value);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < res->n_attributes; i++) {
                r = kv_add(&a->attrs, &a->n_attrs, res->attributes[i].key,
                           res->attributes[i].value);
                if (r < 0)
                        return r;
        }
        a->mcpus_total = (int64_t)floor(res->cpus * 1000.0 + 1e-6);
        a->mem_total = res->mem;
        a->pids_total = res->pids ? res->pids : UINT64_MAX;
        r = alloc_ports_setup(a, res->port_min, res->port_max);
        if (r < 0)
                return r;
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
                *d = (struct alloc_disk){};
                memcpy(d->figure, s->figure, sizeof(d->figure));
                d->size = s->size;
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
        struct alloc_agent *head = table_get(&c->by_hostname, a->hostname);

        if (!head)
                return table_put(&c->by_hostname, a->hostname, a);
        a->host_next = head->host_next;
        head->host_next = a;
        return 0;
}

static void hostname_unlink(struct alloc_cluster *c, struct alloc_agent *a)
{
        struct alloc_agent *head = table_get(&c->by_hostname, a->hostname);

        if (head == a) {
                table_remove(&c->by_hostname, a->hostname);
                /* The map borrows the head's string: re-key on the next agent. Removal freed a
                 * slot, so this put cannot need memory. */
                if (a->host_next)
                        (void)table_put(&c->by_hostname, a->host_next->hostname, a->host_next);
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

const struct alloc_attr_list *alloc_attr_list_get(const struct alloc_cluster *c,
                                                  const struct silo_kv *kv)
{
        _cleanup_free_ char *key = attr_key(kv->key, kv->value);

        return key ? table_get(&c->by_attr, key) : NULL;
}

static int attrs_link(struct alloc_cluster *c, struct alloc_agent *a)
{
        for (size_t i = 0; i < a->n_attrs; i++) {
                _cleanup_free_ char *key = attr_key(a->attrs[i].key, a->attrs[i].value);
                struct alloc_attr_list *l;

                if (!key)
                        return -ENOMEM;
                l = table_get(&c->by_attr, key);
                if (!l) {
                        l = calloc(1, sizeof(*l));
                        if (!l)
                                return -ENOMEM;
                        l->key = TAKE_PTR(key);
                        if (table_put(&c->by_attr, l->key, l) < 0) {
                                free(l->key);
                                free(l);
                                return -ENOMEM;
                        }
                }
                if (!ARRAY_GROW(l->agents, l->cap, l->n + 1))
                        return -ENOMEM;
                l->agents[l->n++] = a;
        }
        return 0;
}

/* Safe on a partly linked agent: entries it is not in are left alone. */
static void attrs_unlink(struct alloc_cluster *c, struct alloc_agent *a)
{
        for (size_t i = 0; i < a->n_attrs; i++) {
                _cleanup_free_ char *key = attr_key(a->attrs[i].key, a->attrs[i].value);
                struct alloc_attr_list *l = key ? table_get(&c->by_attr, key) : NULL;

                if (!l)
                        continue;
                /* Order is kept: scans visit agents in registration order. */
                for (size_t j = 0; j < l->n; j++)
                        if (l->agents[j] == a) {
                                memmove(&l->agents[j], &l->agents[j + 1],
                                        (l->n - j - 1) * sizeof(*l->agents));
                                l->n--;
                                break;
                        }
                if (l->n == 0) {
                        table_remove(&c->by_attr, l->key);
                        free(l->agents);
                        free(l->key);
                        free(l);
                }
        }
}

static void cluster_note_disks(struct alloc_cluster *c, const struct alloc_agent *a)
{
        for (size_t i = 0; i < a->n_disks; i++) {
                const struct alloc_disk *d = &a->disks[i];

                FOREACH_IO_LIMIT(l) {
                        c->max_figure[l] = MAX(c->max_figure[l], d->figure[l]);
                        if (d->class_id >= 0)
                                c->class_max[d->class_id][l] =
                                    MAX(c->class_max[d->class_id][l], d->figure[l]);
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
        if (table_get(&c->agents, agent_id))
                return -EEXIST;
        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        r = agent_fill(c, a, agent_id, reg);
        if (r >= 0)
                r = table_put(&c->agents, a->id, a);
        if (r >= 0) {
                r = hostname_link(c, a);
                if (r < 0)
                        table_remove(&c->agents, a->id);
        }
        if (r < 0) {
                agent_free_contents(a);
                free(a);
                return r;
        }
        r = attrs_link(c, a);
        if (r >= 0)
                r = alloc_index_insert(c, a);
        if (r >= 0 && a->port_max) {
                r = alloc_ports_reserve(c);
                if (r < 0)
                        alloc_index_remove(c, a);
        }
        if (r < 0) {
                attrs_unlink(c, a);
                hostname_unlink(c, a);
                table_remove(&c->agents, a->id);
                agent_free_contents(a);
                free(a);
                return r;
        }
        alloc_totals_add_agent(c, a, +1);
        cluster_note_disks(c, a);
        alloc_ports_link(c, a);
        alloc_volumes_book_agent(c, a);
        a->all_prev = c->last;
        if (c->last)
                c->last->all_next = a;
        else
                c->first = a;
        c->last = a;
        return 0;
}

int alloc_agent_update(struct alloc_cluster *c, const char *agent_id,
                       const struct silo_agent_registration *reg)
{
        struct alloc_agent *a = agent_id ? table_get(&c->agents, agent_id) : NULL;
        struct alloc_agent fresh;
        int r;

        if (!a)
                return -ENOENT;
        r = agent_fill(c, &fresh, agent_id, reg);
        if (r < 0) {
                agent_free_contents(&fresh);
                return r;
        }
        /* Attribute lists and the cluster's port figures may need memory: get those first. */
        r = attrs_link(c, &fresh);
        if (r >= 0 && fresh.port_max)
                r = alloc_ports_reserve(c);
        if (r < 0) {
                attrs_unlink(c, &fresh);
                agent_free_contents(&fresh);
                return r;
        }
        attrs_unlink(c, a);
        alloc_index_remove(c, a);
        hostname_unlink(c, a);
        table_remove(&c->agents, a->id);
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
        fresh.port_next[SILO_PORT_TCP] = a->port_next[SILO_PORT_TCP];
        fresh.port_next[SILO_PORT_UDP] = a->port_next[SILO_PORT_UDP];
        alloc_ports_unlink(c, a);
        agent_free_contents(a);
        *a = fresh;
        /* The range may have changed: the tasks' ports are held again in the new bitmaps (a
         * port now outside the range is not tracked; the task keeps it in its record). */
        alloc_ports_link(c, a);
        alloc_ports_rebook_all(c, a);
        alloc_volumes_book_agent(c, a);
        /* The lists point at the stack copy: repoint them at the agent. */
        for (size_t i = 0; i < a->n_attrs; i++) {
                struct alloc_attr_list *l =
                    (struct alloc_attr_list *)alloc_attr_list_get(c, &a->attrs[i]);

                for (size_t j = 0; l && j < l->n; j++)
                        if (l->agents[j] == &fresh)
                                l->agents[j] = a;
        }

        /* The map slots were freed just above: these puts reuse them. */
        (void)table_put(&c->agents, a->id, a);
        (void)hostname_link(c, a);
        alloc_totals_add_agent(c, a, +1);
        cluster_note_disks(c, a);
        /* The agent's tree slot was freed just above: reinserting needs no memory. */
        (void)alloc_index_insert(c, a);
        return 0;
}

int alloc_agent_remove(struct alloc_cluster *c, const char *agent_id)
{
        struct alloc_agent *a = agent_id ? table_get(&c->agents, agent_id) : NULL;
        int n = 0;

        if (!a)
                return -ENOENT;
        while (a->tasks) {
                struct alloc_task *t = a->tasks;

                table_remove(&c->tasks, t->id);
                alloc_task_unbook(c, t);
                n++;
        }
        attrs_unlink(c, a);
        alloc_index_remove(c, a);
        hostname_unlink(c, a);
        table_remove(&c->agents, a->id);
        alloc_totals_add_agent(c, a, -1);
        alloc_ports_unlink(c, a);
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
        return n;
}

int alloc_agent_get_free(const struct alloc_cluster *c, const char *agent_id,
                         struct alloc_agent_free *ret)
{
        const struct alloc_agent *a = agent_id ? table_get(&c->agents, agent_id) : NULL;

        if (!a)
                return -ENOENT;
        *ret = (struct alloc_agent_free){
            .cpus = (double)alloc_agent_free_mcpus(a) / 1000.0,
            .mem = alloc_agent_free_mem(a),
            .pids = alloc_agent_free_pids(a),
            .n_tasks = a->n_tasks,
            .port_min = a->port_min,
            .port_max = a->port_max,
            .ports_free = {a->port_free[SILO_PORT_TCP], a->port_free[SILO_PORT_UDP]},
        };
        return 0;
}

int alloc_disk_get_used(const struct alloc_cluster *c, const char *agent_id, const char *disk,
                        double *ret_used)
{
        const struct alloc_agent *a = agent_id ? table_get(&c->agents, agent_id) : NULL;

        if (!a || !disk)
                return -ENOENT;
        for (size_t i = 0; i < a->n_disks; i++)
                if (streq(a->disks[i].name, disk)) {
                        *ret_used = a->disks[i].used;
                        return 0;
                }
        return -ENOENT;
}
