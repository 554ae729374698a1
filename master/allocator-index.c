/* SPDX-License-Identifier: Apache-2.0 */
/* Free-capacity indexes: agents bucketed by free cpus and free mem (log-linear buckets) so the fit
 * search starts at the tightest bucket that can hold a task, and a max-tree over all agents for
 * an exact first fit when that walk runs long. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "master/allocator-internal.h"

/* Log-linear buckets (as in HDR histograms): exact below 16, then 16 sub-buckets per power of
 * two, so a bucket spans at most 1/16 (6 %) of its values and the order of buckets is the order
 * of values. */
int alloc_index_bucket_of(uint64_t v)
{
        int e;

        if (v < 16)
                return (int)v;
        e = 63 - __builtin_clzll(v);
        return 16 + (e - ALLOC_INDEX_SUB_BITS) * 16 + (int)((v >> (e - ALLOC_INDEX_SUB_BITS)) & 15);
}

uint64_t alloc_key_value(const struct alloc_agent *a, int key)
{
        if (key == ALLOC_KEY_CPUS)
                return (uint64_t)MAX(alloc_agent_free_mcpus(a), 0);
        return alloc_agent_free_mem(a);
}

static void bucket_raise(struct alloc_bucket *b, const struct alloc_agent *a)
{
        b->max_mcpus = MAX(b->max_mcpus, alloc_agent_free_mcpus(a));
        b->max_mem = MAX(b->max_mem, alloc_agent_free_mem(a));
        b->max_pids = MAX(b->max_pids, alloc_agent_free_pids(a));
        for (int pr = 0; pr < _SILO_PORT_PROTO_MAX; pr++)
                b->max_ports_free[pr] = MAX(b->max_ports_free[pr], a->port_free[pr]);
        for (size_t i = 0; i < a->n_disks; i++) {
                const struct alloc_disk *d = &a->disks[i];
                double f = 1.0 - d->used;

                b->max_io_free = MAX(b->max_io_free, f);
                if (d->class_id >= 0)
                        b->max_io_class[d->class_id] = MAX(b->max_io_class[d->class_id], f);
        }
}

static void index_link(struct alloc_index *ix, struct alloc_agent *a, int key, int bucket)
{
        struct alloc_bucket *b = &ix->buckets[bucket];

        a->ix_bucket[key] = bucket;
        a->ix_prev[key] = NULL;
        a->ix_next[key] = b->head;
        if (b->head)
                b->head->ix_prev[key] = a;
        b->head = a;
        if (b->n++ == 0)
                ix->nonempty[bucket / 64] |= 1ULL << (bucket % 64);
        bucket_raise(b, a);
}

static void index_unlink(struct alloc_index *ix, struct alloc_agent *a, int key)
{
        int bucket = a->ix_bucket[key];
        struct alloc_bucket *b = &ix->buckets[bucket];

        if (a->ix_prev[key])
                a->ix_prev[key]->ix_next[key] = a->ix_next[key];
        else
                b->head = a->ix_next[key];
        if (a->ix_next[key])
                a->ix_next[key]->ix_prev[key] = a->ix_prev[key];
        a->ix_prev[key] = a->ix_next[key] = NULL;
        a->ix_bucket[key] = -1;
        if (--b->n == 0) {
                ix->nonempty[bucket / 64] &= ~(1ULL << (bucket % 64));
                *b = (struct alloc_bucket){};
        }
}

/* ---- the max-tree ---- */

static void tree_leaf_set(struct alloc_tree_node *n, const struct alloc_agent *a)
{
        *n = (struct alloc_tree_node){.mcpus = -1};
        if (!a)
                return;
        n->mcpus = alloc_agent_free_mcpus(a);
        n->mem = alloc_agent_free_mem(a);
        n->pids = alloc_agent_free_pids(a);
        memcpy(n->ports_free, a->port_free, sizeof(n->ports_free));
        for (int k = 0; k < ALLOC_TREE_STEPS; k++)
                if (n->mcpus >= (500 << k))
                        n->mem_at[k] = n->mem;
        for (size_t i = 0; i < a->n_disks; i++) {
                const struct alloc_disk *d = &a->disks[i];
                double f = 1.0 - d->used;

                n->io = MAX(n->io, f);
                if (d->class_id >= 0)
                        n->io_class[d->class_id] = MAX(n->io_class[d->class_id], f);
        }
        for (int k = 0; k < ALLOC_TREE_STEPS; k++)
                if (n->mcpus >= (500 << k))
                        n->io_at[k] = n->io;
}

static void tree_update(struct alloc_tree *t, size_t slot)
{
        size_t i = t->cap + slot;

        tree_leaf_set(&t->nodes[i], t->leaves[slot]);
        for (i /= 2; i >= 1; i /= 2) {
                const struct alloc_tree_node *l = &t->nodes[2 * i], *r = &t->nodes[2 * i + 1];
                struct alloc_tree_node *n = &t->nodes[i];

                n->mcpus = MAX(l->mcpus, r->mcpus);
                n->mem = MAX(l->mem, r->mem);
                n->pids = MAX(l->pids, r->pids);
                n->io = MAX(l->io, r->io);
                for (int k = 0; k < _SILO_PORT_PROTO_MAX; k++)
                        n->ports_free[k] = MAX(l->ports_free[k], r->ports_free[k]);
                for (int k = 0; k < ALLOC_CLASS_MAX; k++)
                        n->io_class[k] = MAX(l->io_class[k], r->io_class[k]);
                for (int k = 0; k < ALLOC_TREE_STEPS; k++) {
                        n->mem_at[k] = MAX(l->mem_at[k], r->mem_at[k]);
                        n->io_at[k] = MAX(l->io_at[k], r->io_at[k]);
                }
        }
}

static int tree_grow(struct alloc_tree *t)
{
        size_t cap = t->cap ? t->cap * 2 : 64;
        struct alloc_tree_node *nodes = calloc(2 * cap, sizeof(*nodes));
        struct alloc_agent **leaves = calloc(cap, sizeof(*leaves));
        size_t *free_slots = calloc(cap, sizeof(*free_slots));

        if (!nodes || !leaves || !free_slots) {
                free(nodes);
                free(leaves);
                free(free_slots);
                return -ENOMEM;
        }
        if (t->cap) {
                memcpy(leaves, t->leaves, t->cap * sizeof(*leaves));
                memcpy(free_slots, t->free_slots, t->n_free * sizeof(*free_slots));
        }
        free(t->nodes);
        free(t->leaves);
        free(t->free_slots);
        t->nodes = nodes;
        t->leaves = leaves;
        t->free_slots = free_slots;
        t->cap = cap;
        for (size_t i = 0; i < 2 * cap; i++)
                t->nodes[i].mcpus = -1;
        for (size_t s = 0; s < t->n_used; s++)
                tree_update(t, s);
        return 0;
}

bool alloc_bounds_may_fit(int64_t mcpus, uint64_t mem, uint64_t pids, double io_free,
                          const double *io_class, const struct alloc_pending *p)
{
        if (mcpus < p->mcpus || mem < p->mem || pids < p->pids)
                return false;
        for (size_t i = 0; i < p->spec->resources.n_io; i++) {
                const struct alloc_pending_io *pio = &p->io[i];
                double bound = pio->class_id >= 0 ? io_class[pio->class_id] : io_free;

                if (bound + 1e-9 < pio->need)
                        return false;
        }
        return true;
}

/* First fit among slots [from, to) under node i, which covers [lo, hi). */
static bool tree_find(struct alloc_cluster *c, size_t i, size_t lo, size_t hi, size_t from,
                      size_t to, const struct alloc_pending *p, struct alloc_choice *ret)
{
        const struct alloc_tree *t = &c->tree;
        const struct alloc_tree_node *n = &t->nodes[i];
        size_t mid = lo + (hi - lo) / 2;

        if (hi <= from || lo >= to)
                return false;
        if (!alloc_bounds_may_fit(n->mcpus, n->mem, n->pids, n->io, n->io_class, p) ||
            (p->n_ports && !alloc_ports_bound_ok(n->ports_free, p)))
                return false;
        if (p->mcpus >= 500) {
                int k = MIN(63 - __builtin_clzll((uint64_t)p->mcpus / 500), ALLOC_TREE_STEPS - 1);

                if (n->mem_at[k] < p->mem)
                        return false;
                for (size_t j = 0; j < p->spec->resources.n_io; j++)
                        if (n->io_at[k] + 1e-9 < p->io[j].need)
                                return false;
        }
        if (i >= t->cap) {
                struct alloc_agent *a = t->leaves[i - t->cap];

                return a && alloc_agent_eligible(c, a, p) && alloc_agent_fit(a, p, ret);
        }
        return tree_find(c, 2 * i, lo, mid, from, to, p, ret) ||
               tree_find(c, 2 * i + 1, mid, hi, from, to, p, ret);
}

/* Next fit: start at the slot of the previous find. First fit from slot 0 would wade through
 * the packed agents on the left, whose per-dimension maxima (one agent's spare cpus, another's
 * spare memory) keep promising a fit that no single agent has. */
bool alloc_tree_find(struct alloc_cluster *c, const struct alloc_pending *p,
                     struct alloc_choice *ret)
{
        struct alloc_tree *t = &c->tree;
        size_t from = MIN(t->cursor, t->cap);

        if (!t->cap)
                return false;
        if (!tree_find(c, 1, 0, t->cap, from, t->cap, p, ret) &&
            !tree_find(c, 1, 0, t->cap, 0, from, p, ret))
                return false;
        t->cursor = ret->agent->tree_slot;
        return true;
}

/* ---- both ---- */

int alloc_index_insert(struct alloc_cluster *c, struct alloc_agent *a)
{
        struct alloc_tree *t = &c->tree;
        int r;

        if (t->n_free == 0 && t->n_used == t->cap) {
                r = tree_grow(t);
                if (r < 0)
                        return r;
        }
        a->tree_slot = t->n_free ? t->free_slots[--t->n_free] : t->n_used++;
        t->leaves[a->tree_slot] = a;
        tree_update(t, a->tree_slot);
        for (int k = 0; k < _ALLOC_KEY_MAX; k++)
                index_link(&c->index[k], a, k, alloc_index_bucket_of(alloc_key_value(a, k)));
        return 0;
}

void alloc_index_remove(struct alloc_cluster *c, struct alloc_agent *a)
{
        struct alloc_tree *t = &c->tree;

        for (int k = 0; k < _ALLOC_KEY_MAX; k++)
                index_unlink(&c->index[k], a, k);
        t->leaves[a->tree_slot] = NULL;
        tree_update(t, a->tree_slot);
        t->free_slots[t->n_free++] = a->tree_slot;
}

void alloc_index_done(struct alloc_cluster *c)
{
        free(c->tree.nodes);
        free(c->tree.leaves);
        free(c->tree.free_slots);
        c->tree = (struct alloc_tree){};
}

/* After a charge or release changed what the agent has free. */
void alloc_index_reposition(struct alloc_cluster *c, struct alloc_agent *a)
{
        tree_update(&c->tree, a->tree_slot);
        for (int k = 0; k < _ALLOC_KEY_MAX; k++) {
                int bucket = alloc_index_bucket_of(alloc_key_value(a, k));

                if (bucket == a->ix_bucket[k]) {
                        /* A release may have raised what it has free in the other dimensions. */
                        bucket_raise(&c->index[k].buckets[bucket], a);
                        continue;
                }
                index_unlink(&c->index[k], a, k);
                index_link(&c->index[k], a, k, bucket);
        }
}

/* Make the bucket's bounds exact again (after a walk found nothing in it). */
void alloc_bucket_tighten(struct alloc_bucket *b, int key)
{
        b->max_mcpus = 0;
        b->max_mem = 0;
        b->max_pids = 0;
        b->max_io_free = 0;
        memset(b->max_io_class, 0, sizeof(b->max_io_class));
        memset(b->max_ports_free, 0, sizeof(b->max_ports_free));
        for (struct alloc_agent *a = b->head; a; a = a->ix_next[key])
                bucket_raise(b, a);
}
