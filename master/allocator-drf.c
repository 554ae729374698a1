/* SPDX-License-Identifier: Apache-2.0 */
/* Weighted Dominant Resource Fairness (Ghodsi et al., NSDI 2011): roles, cluster totals, the
 * demand vector of a task spec and the dominant shares that order roles and tasks. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "common/macro.h"
#include "master/allocator-internal.h"

struct alloc_role *alloc_role_get(struct alloc_cluster *c, const char *name, bool create)
{
        struct alloc_role *r = table_get(&c->roles, name);

        if (r || !create)
                return r;
        r = calloc(1, sizeof(*r));
        if (!r)
                return NULL;
        r->name = strdup(name);
        r->weight = 1.0;
        if (!r->name || table_put(&c->roles, r->name, r) < 0) {
                free(r->name);
                free(r);
                return NULL;
        }
        return r;
}

int alloc_role_set_weight(struct alloc_cluster *c, const char *role, double weight)
{
        struct alloc_role *r;

        if (!role || !isfinite(weight) || weight <= 0)
                return -EINVAL;
        r = alloc_role_get(c, role, true);
        if (!r)
                return -ENOMEM;
        r->weight = weight;
        return 0;
}

/* An agent's contribution to the cluster totals; sign -1 takes it back (agent update/removal).
 * io bandwidth and IOPS count as cluster-wide totals over every disk. */
void alloc_totals_add_agent(struct alloc_cluster *c, const struct alloc_agent *a, int sign)
{
        c->total[ALLOC_DIM_CPUS] += sign * (double)a->mcpus_total;
        c->total[ALLOC_DIM_MEM] += sign * (double)a->mem_total;
        if (a->pids_total != UINT64_MAX)
                c->total[ALLOC_DIM_PIDS] += sign * (double)a->pids_total;
        c->total_disks += sign * (ssize_t)a->n_disks;
        for (size_t i = 0; i < a->n_disks; i++) {
                const struct alloc_disk *d = &a->disks[i];

                FOREACH_IO_LIMIT(l)
                        c->total[ALLOC_DIM_IO + l] += sign * (double)d->figure[l];
        }
        /* Floating sums of removals can leave dust; a total never goes below zero. */
        for (int k = 0; k < _ALLOC_DIM_MAX; k++)
                if (c->total[k] < 0.5)
                        c->total[k] = 0;
}

/* max over dimensions of use/total; a dimension the cluster has none of does not count. */
static double alloc_demand_share(const struct alloc_cluster *c,
                                 const double use[static _ALLOC_DIM_MAX])
{
        double s = 0;

        for (int k = 0; k < _ALLOC_DIM_MAX; k++)
                if (c->total[k] > 0 && use[k] > 0)
                        s = MAX(s, use[k] / c->total[k]);
        return s;
}

double alloc_role_share_of(const struct alloc_cluster *c, const struct alloc_role *r)
{
        return alloc_demand_share(c, r->use) / r->weight;
}

double alloc_role_dominant_share(const struct alloc_cluster *c, const char *role)
{
        const struct alloc_role *r = role ? table_get(&c->roles, role) : NULL;

        return r ? alloc_role_share_of(c, r) : 0;
}

static double io_value(uint64_t v)
{
        return v == SILO_UNSET ? 0 : (double)v;
}

/* What a spec asks of the allocator. Unlimited (cpus 0, mem/pids unset) counts as no demand:
 * the allocator only books what the task's limits reserve. */
void alloc_demand_from_spec(const struct silo_task_spec *spec, int64_t *ret_mcpus,
                            uint64_t *ret_mem, uint64_t *ret_pids,
                            double ret_use[static _ALLOC_DIM_MAX])
{
        const struct silo_resources *res = &spec->resources;
        int64_t mcpus = res->cpus > 0 ? (int64_t)ceil(res->cpus * 1000.0 - 1e-6) : 0;
        uint64_t mem = res->mem == SILO_UNSET ? 0 : res->mem;
        uint64_t pids = res->pids == SILO_UNSET ? 0 : res->pids;

        memset(ret_use, 0, sizeof(double) * _ALLOC_DIM_MAX);
        ret_use[ALLOC_DIM_CPUS] = (double)mcpus;
        ret_use[ALLOC_DIM_MEM] = (double)mem;
        ret_use[ALLOC_DIM_PIDS] = (double)pids;
        for (size_t i = 0; i < res->n_io; i++) {
                FOREACH_IO_LIMIT(l)
                        ret_use[ALLOC_DIM_IO + l] += io_value(res->io[i].limit[l]);
        }
        *ret_mcpus = mcpus;
        *ret_mem = mem;
        *ret_pids = pids;
}
