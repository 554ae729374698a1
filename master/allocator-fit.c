/* SPDX-License-Identifier: Apache-2.0 */
/* Whether a task fits an agent (cpus, mem, pids, io cost per disk, constraints) and the fit
 * search: the tightest agents that still fit, the best shaped of them, the tightest disk. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/macro.h"
#include "master/allocator-internal.h"

/* Costs are sums of quotients: allow rounding dust when a disk is filled exactly to 1. */
#define ALLOC_COST_EPSILON 1e-9
/* The fit search weighs this many fitting agents, the tightest in the key dimension, before
 * choosing the best aligned: measured on the quality benchmark, 8 lose 2-3 % of the priority the
 * LP bound allows and 32 cost 40 % more time for no gain on the larger instance. */
#define ALLOC_FIT_CANDIDATES 16
/* How many agents the walk looks at before falling back to the max-tree. */
#define ALLOC_FIT_WALK 32

int64_t alloc_agent_free_mcpus(const struct alloc_agent *a)
{
        return a->mcpus_total - a->mcpus_used;
}

uint64_t alloc_agent_free_mem(const struct alloc_agent *a)
{
        return a->mem_used >= a->mem_total ? 0 : a->mem_total - a->mem_used;
}

uint64_t alloc_agent_free_pids(const struct alloc_agent *a)
{
        if (a->pids_total == UINT64_MAX)
                return UINT64_MAX;
        return a->pids_used >= a->pids_total ? 0 : a->pids_total - a->pids_used;
}

bool alloc_agent_matches(const struct alloc_agent *a, const struct silo_constraints *k)
{
        if (k->hostname && !streq_ptr(k->hostname, a->hostname))
                return false;
        for (size_t i = 0; i < k->n_attributes; i++) {
                bool found = false;

                for (size_t j = 0; j < a->n_attrs && !found; j++)
                        found = streq(a->attrs[j].key, k->attributes[i].key) &&
                                streq_ptr(a->attrs[j].value, k->attributes[i].value);
                if (!found)
                        return false;
        }
        return true;
}

bool alloc_group_has_host(const struct alloc_group *g, const char *hostname)
{
        for (size_t i = 0; i < g->n_members; i++)
                if (streq_ptr(g->members[i].agent->hostname, hostname))
                        return true;
        return false;
}

bool alloc_agent_eligible(const struct alloc_cluster *c, const struct alloc_agent *a,
                          const struct alloc_pending *p)
{
        const struct silo_constraints *k = &p->spec->constraints;

        if (!p->constrained)
                return true;
        if (!alloc_agent_matches(a, k))
                return false;
        if (k->spread == SILO_SPREAD_HOSTNAME && p->spec->group) {
                const struct alloc_group *g = table_get(&c->groups, p->spec->group);

                if (g && alloc_group_has_host(g, a->hostname))
                        return false;
        }
        return true;
}

int alloc_class_lookup(const struct alloc_cluster *c, const char *class)
{
        if (!class)
                return ALLOC_CLASS_ANY;
        for (size_t i = 0; i < c->n_classes; i++)
                if (streq(c->classes[i], class))
                        return (int)i;
        /* Once the table is full an unknown class may still exist on some disk. */
        return c->n_classes < ALLOC_CLASS_MAX ? ALLOC_CLASS_NONE : ALLOC_CLASS_STRCMP;
}

/* The id a disk of this class gets; -ENOMEM when a new name cannot be copied. */
int alloc_class_intern(struct alloc_cluster *c, const char *class)
{
        int id = alloc_class_lookup(c, class);

        if (id != ALLOC_CLASS_NONE)
                return id;
        c->classes[c->n_classes] = strdup(class);
        if (!c->classes[c->n_classes])
                return -ENOMEM;
        return (int)c->n_classes++;
}

/* A disk that the entry names, or any disk (of the class asked for) for "any". */
bool alloc_disk_selectable(const struct alloc_disk *d, const struct silo_io_request *io,
                           const struct alloc_pending_io *pio)
{
        if (pio) {
                if (pio->class_id >= 0                    ? d->class_id != pio->class_id
                    : pio->class_id == ALLOC_CLASS_NONE   ? true
                    : pio->class_id == ALLOC_CLASS_STRCMP ? !streq_ptr(io->class, d->class)
                                                          : false)
                        return false;
                return pio->any || streq(io->disk, d->name);
        }
        if (io->disk && !streq(io->disk, "any") && !streq(io->disk, d->name))
                return false;
        if (io->class && !streq_ptr(io->class, d->class))
                return false;
        return true;
}

int alloc_disk_cost(const struct alloc_disk *d, const struct silo_io_request *io, double *ret_cost,
                    silo_io_limit *ret_missing)
{
        double cost = 0;

        FOREACH_IO_LIMIT(l) {
                if (io->limit[l] == SILO_UNSET)
                        continue;
                if (d->figure[l] == 0) {
                        if (ret_missing)
                                *ret_missing = l;
                        return -EDOM;
                }
                cost += (double)io->limit[l] / (double)d->figure[l];
        }
        *ret_cost = cost;
        return 0;
}

char *alloc_io_key(const struct silo_io_request *io)
{
        char *s = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&s, &len);

        if (!f)
                return NULL;
        /* \x01 stands for "no class", which no class name can be */
        fprintf(f, "%s|%s", strempty(io->disk), io->class ? io->class : "\x01");
        FOREACH_IO_LIMIT(l)
                fprintf(f, "|%" PRIu64, io->limit[l]);
        if (fclose(f) != 0) {
                free(s);
                return NULL;
        }
        return s;
}

int alloc_io_cost(const struct silo_io_request *io, const struct silo_disk *disk, double *ret_cost,
                  silo_io_limit *ret_missing)
{
        struct alloc_disk d = {};

        memcpy(d.figure, disk->figure, sizeof(d.figure));
        return alloc_disk_cost(&d, io, ret_cost, ret_missing);
}

/* Capacity only (no constraints). Each io entry takes the disk it fills most tightly, counting
 * what earlier entries of the same task already put on it. */
bool alloc_agent_fit(const struct alloc_agent *a, const struct alloc_pending *p,
                     struct alloc_choice *ret)
{
        const struct silo_resources *res = &p->spec->resources;
        int vdisk = -1, fresh_disk = -1;

        if (alloc_agent_free_mcpus(a) < p->mcpus || alloc_agent_free_mem(a) < p->mem ||
            alloc_agent_free_pids(a) < p->pids || (p->n_ports && !alloc_ports_fit(a, p)))
                return false;
        if (p->has_volumes && !alloc_volumes_fit(a, p, &vdisk, &fresh_disk))
                return false;
        for (size_t i = 0; i < res->n_io; i++) {
                int best = -1;
                double best_left = INFINITY, best_cost = 0;

                for (size_t d = 0; d < a->n_disks; d++) {
                        const struct alloc_disk *disk = &a->disks[d];
                        double cost, used = disk->used, left;

                        /* "any" of a task with a volume: the volume's disk */
                        if (vdisk >= 0 && p->io[i].any && (int)d != vdisk)
                                continue;
                        if (!alloc_disk_selectable(disk, &res->io[i], &p->io[i]))
                                continue;
                        if (alloc_disk_cost(disk, &res->io[i], &cost, NULL) < 0)
                                continue;
                        for (size_t j = 0; j < i; j++)
                                if (ret->disk[j] == (int)d)
                                        used += ret->cost[j];
                        left = 1.0 - used - cost;
                        if (left < -ALLOC_COST_EPSILON || left >= best_left)
                                continue;
                        best = (int)d;
                        best_left = left;
                        best_cost = cost;
                }
                if (best < 0)
                        return false;
                ret->disk[i] = best;
                ret->cost[i] = best_cost;
        }
        ret->agent = (struct alloc_agent *)a;
        ret->volume_disk = fresh_disk;
        return true;
}

static uint64_t key_free(const struct alloc_agent *a, int key)
{
        return alloc_key_value(a, key);
}

/* The dimension (cpus or mem) the task needs most of relative to what the cluster has left:
 * walking the scarcer one meets fewer agents that fit it but not the rest. */
static int key_choose(const struct alloc_cluster *c, const struct alloc_pending *p)
{
        double cpus = c->total[ALLOC_DIM_CPUS] - c->used[ALLOC_DIM_CPUS];
        double mem = c->total[ALLOC_DIM_MEM] - c->used[ALLOC_DIM_MEM];

        if (p->mem && (cpus <= 0 || (double)p->mem * cpus > (double)p->mcpus * mem))
                return ALLOC_KEY_MEM;
        return ALLOC_KEY_CPUS;
}

/* How well the agent's free capacity is shaped for the task: the cosine between the task's
 * demand and what the agent has free (cpus, mem and, with io, the free cost of the chosen disks),
 * each normalised by the cluster's total. A memory-heavy task then goes where memory is
 * plentiful relative to cpus instead of stranding a cpu-rich agent's cpus. */
static double choice_alignment(const struct alloc_cluster *c, const struct alloc_choice *x,
                               const struct alloc_pending *p)
{
        const struct alloc_agent *a = x->agent;
        double tc = MAX(c->total[ALLOC_DIM_CPUS], 1), tm = MAX(c->total[ALLOC_DIM_MEM], 1);
        double d[3] = {(double)p->mcpus / tc, (double)p->mem / tm, 0};
        double f[3] = {(double)MAX(alloc_agent_free_mcpus(a), 0) / tc,
                       (double)alloc_agent_free_mem(a) / tm, 0};
        double dot = 0, nd = 0, nf = 0;

        for (size_t i = 0; i < p->spec->resources.n_io; i++) {
                d[2] += x->cost[i];
                f[2] += 1.0 - a->disks[x->disk[i]].used;
        }
        /* a disk's budget is 1; the cluster's is its number of disks: scale as cpus/mem are */
        d[2] /= MAX(c->total_disks, 1);
        f[2] /= MAX(c->total_disks, 1);
        for (int k = 0; k < 3; k++) {
                dot += d[k] * f[k];
                nd += d[k] * d[k];
                nf += f[k] * f[k];
        }
        return nd > 0 && nf > 0 ? dot / sqrt(nd * nf) : 0;
}

/* Better: the better-aligned agent, then the tighter one in the key dimension, then on disks. */
static bool choice_better(const struct alloc_cluster *c, const struct alloc_choice *x,
                          const struct alloc_choice *y, const struct alloc_pending *p, int key)
{
        double ax = choice_alignment(c, x, p), ay = choice_alignment(c, y, p);
        uint64_t lx = key_free(x->agent, key), ly = key_free(y->agent, key);
        double ix = 0, iy = 0;

        if (fabs(ax - ay) > 1e-9)
                return ax > ay;
        if (lx != ly)
                return lx < ly;
        for (size_t i = 0; i < p->spec->resources.n_io; i++) {
                ix += 1.0 - x->agent->disks[x->disk[i]].used - x->cost[i];
                iy += 1.0 - y->agent->disks[y->disk[i]].used - y->cost[i];
        }
        return ix < iy;
}

static bool bucket_may_fit(const struct alloc_bucket *b, const struct alloc_pending *p)
{
        return alloc_bounds_may_fit(b->max_mcpus, b->max_mem, b->max_pids, b->max_io_free,
                                    b->max_io_class, p) &&
               (!p->n_ports || alloc_ports_bound_ok(b->max_ports_free, p));
}

/* The next non-empty bucket at or above `from`, or -1. */
static int next_bucket(const struct alloc_index *ix, int from)
{
        for (int w = from / 64; w < ALLOC_INDEX_WORDS; w++) {
                uint64_t bits = ix->nonempty[w];

                if (w == from / 64)
                        bits &= ~0ULL << (from % 64);
                if (bits)
                        return w * 64 + __builtin_ctzll(bits);
        }
        return -1;
}

/* Whether agent a can take p; when it can and beats *best (no agent yet: anything does), it
 * becomes *best. */
static bool choice_consider(struct alloc_cluster *c, struct alloc_agent *a,
                            const struct alloc_pending *p, struct alloc_choice *best)
{
        struct alloc_choice cand;

        if (!alloc_agent_eligible(c, a, p) || !alloc_agent_fit(a, p, &cand))
                return false;
        if (!best->agent || choice_better(c, &cand, best, p, p->key))
                *best = cand;
        return true;
}

/* Hand back the best choice found, if any. */
static bool choice_take(const struct alloc_choice *best, struct alloc_choice *ret)
{
        if (!best->agent)
                return false;
        *ret = *best;
        return true;
}

static bool fit_by_hostname(struct alloc_cluster *c, const struct alloc_pending *p,
                            struct alloc_choice *ret)
{
        struct alloc_choice best = {};

        for (struct alloc_agent *a = table_get(&c->by_hostname, p->spec->constraints.hostname);
             a; a = a->host_next)
                (void)choice_consider(c, a, p, &best);
        return choice_take(&best, ret);
}

/* A task naming a volume the cluster knows goes to that volume's agent or nowhere. */
static bool fit_by_volume(struct alloc_cluster *c, const struct alloc_pending *p,
                          struct alloc_choice *ret)
{
        struct alloc_agent *a = table_get(&c->agents, p->vol.pin->agent_id);
        struct alloc_choice best = {};

        if (a)
                (void)choice_consider(c, a, p, &best);
        return choice_take(&best, ret);
}

/* Attribute-constrained tasks look only at the agents carrying the rarest of their attributes. */
static bool fit_by_attributes(struct alloc_cluster *c, const struct alloc_pending *p,
                              struct alloc_choice *ret)
{
        const struct silo_constraints *k = &p->spec->constraints;
        const struct alloc_attr_list *l = NULL;
        struct alloc_choice best = {};

        for (size_t i = 0; i < k->n_attributes; i++) {
                const struct alloc_attr_list *x = alloc_attr_list_get(c, &k->attributes[i]);

                if (!x)
                        return false;
                if (!l || x->n < l->n)
                        l = x;
        }
        for (size_t i = 0; i < l->n; i++)
                (void)choice_consider(c, l->agents[i], p, &best);
        return choice_take(&best, ret);
}

/* Walk buckets from the one holding the task's demand upwards, so the first agents that fit are
 * the tightest in the key dimension; of the first ALLOC_FIT_CANDIDATES that fit, take the best
 * aligned (choice_better). Buckets whose bounds rule the task out are skipped; a fruitless walk
 * makes the bucket's bounds exact so the next task skips it. The walk looks at ALLOC_FIT_WALK
 * agents at most: past that, packed agents that fit the key dimension but not the others would
 * make it linear, and the max-tree's first fit answers exactly. */
bool alloc_fit_find(struct alloc_cluster *c, struct alloc_pending *p, struct alloc_choice *ret)
{
        struct alloc_choice best = {}, cand;
        struct alloc_index *ix;
        uint64_t want;
        unsigned budget = ALLOC_FIT_WALK, found = 0;

        p->key = key_choose(c, p);
        ix = &c->index[p->key];
        want = p->key == ALLOC_KEY_CPUS ? (uint64_t)p->mcpus : p->mem;

        if (p->n_ports && !alloc_ports_available(c, p))
                return false; /* a fixed host port held on every agent that offers it */
        if (p->has_volumes) {
                /* resolved now: an earlier task of the pass may have made one of them */
                alloc_volumes_resolve(c, p);
                if (p->vol.conflict)
                        return false;
                if (p->vol.pin)
                        return fit_by_volume(c, p, ret);
        }
        if (p->spec->constraints.hostname)
                return fit_by_hostname(c, p, ret);
        if (p->spec->constraints.n_attributes)
                return fit_by_attributes(c, p, ret);

        for (int b = next_bucket(ix, alloc_index_bucket_of(want)); b >= 0;
             b = next_bucket(ix, b + 1)) {
                struct alloc_bucket *bucket = &ix->buckets[b];
                bool complete = true, any = false;

                if (!bucket_may_fit(bucket, p))
                        continue;
                for (struct alloc_agent *a = bucket->head; a; a = a->ix_next[p->key]) {
                        if (key_free(a, p->key) < want)
                                continue;
                        if (budget == 0 || found >= ALLOC_FIT_CANDIDATES) {
                                complete = false;
                                break;
                        }
                        budget--;
                        /* choice_consider() spelled out: this loop is the allocator's hottest */
                        if (!alloc_agent_eligible(c, a, p) || !alloc_agent_fit(a, p, &cand))
                                continue;
                        any = true;
                        found++;
                        if (!best.agent || choice_better(c, &cand, &best, p, p->key))
                                best = cand;
                }
                if (complete && !any)
                        alloc_bucket_tighten(bucket, p->key);
                if (found >= ALLOC_FIT_CANDIDATES)
                        break;
                if (budget == 0) {
                        if (best.agent)
                                break;
                        return alloc_tree_find(c, p, ret);
                }
        }
        return choice_take(&best, ret);
}
