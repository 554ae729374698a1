/* SPDX-License-Identifier: Apache-2.0 */
/* The allocation pass: weighted DRF picks the role to serve, priority per dominant share of
 * demand orders its tasks, the fit search places them; pending tasks get their reasons. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "common/protocol-json.h"
#include "master/allocator-internal.h"

/* How many minimal failed demands a pass remembers (see memo_dominated()). */
#define ALLOC_MEMO_MAX 256

/* The least an io entry can cost on any disk of its class (against the largest figures seen):
 * buckets whose disks have less free are skipped without looking at their agents. */
static double io_need_of(const struct alloc_cluster *c, const struct silo_io_request *io,
                         int class_id)
{
        const uint64_t *fig = class_id >= 0 ? c->class_max[class_id] : c->max_figure;
        double cost = 0;

        FOREACH_IO_LIMIT(l)
                if (io->limit[l] != SILO_UNSET && fig[l])
                        cost += (double)io->limit[l] / (double)fig[l];
        return cost;
}

static void pending_init(struct alloc_cluster *c, struct alloc_pending *p,
                         const struct silo_task_spec *spec, size_t pos,
                         struct alloc_pending_io *io_pool)
{
        const struct silo_constraints *k = &spec->constraints;

        *p = (struct alloc_pending){.spec = spec, .pos = pos, .io = io_pool};
        alloc_demand_from_spec(spec, &p->mcpus, &p->mem, &p->pids, p->use);
        for (size_t i = 0; i < spec->resources.n_io; i++) {
                const struct silo_io_request *io = &spec->resources.io[i];

                p->io[i].class_id = alloc_class_lookup(c, io->class);
                p->io[i].any = !io->disk || streq(io->disk, "any");
                p->io[i].need = io_need_of(c, io, p->io[i].class_id);
        }
        for (size_t i = 0; spec->has_container && i < spec->container.n_volumes; i++)
                p->has_volumes = p->has_volumes || spec->container.volumes[i].name;
        p->constrained = k->hostname || k->n_attributes ||
                         (k->spread == SILO_SPREAD_HOSTNAME && spec->group) || p->has_volumes;
        alloc_ports_demand(spec, p);
}

/* Each task's dominant share of demand for the objective's greedy: max over dimensions of its
 * demand over b, the free capacity (the seed's LP: max Σ Cᵢxᵢ s.t. Σ Aᵢxᵢ ≤ b). A dimension the
 * batch asks more of than is free counts that much scarcer (its b divided by the contention), so
 * the greedy prices tasks by the dimension that will run out, as the LP's dual prices would. */
static void demand_shares(const struct alloc_cluster *c, struct alloc_pending *pend, size_t n)
{
        double want[_ALLOC_DIM_MAX] = {}, b[_ALLOC_DIM_MAX];

        for (size_t i = 0; i < n; i++)
                for (int k = 0; k < _ALLOC_DIM_MAX; k++)
                        want[k] += pend[i].use[k];
        for (int k = 0; k < _ALLOC_DIM_MAX; k++) {
                b[k] = c->total[k] - c->used[k];
                if (b[k] > 0 && want[k] > b[k])
                        b[k] /= want[k] / b[k];
        }
        for (size_t i = 0; i < n; i++) {
                pend[i].share = 0;
                for (int k = 0; k < _ALLOC_DIM_MAX; k++)
                        if (b[k] > 0 && pend[i].use[k] > 0)
                                pend[i].share = MAX(pend[i].share, pend[i].use[k] / b[k]);
        }
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
        size_t next, end; /* range in the sorted pending order */
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
        if (!streq_ptr(a->disk, b->disk) || !streq_ptr(a->class, b->class))
                return false;
        FOREACH_IO_LIMIT(l)
                if ((b->limit[l] == SILO_UNSET ? 0 : b->limit[l]) <
                    (a->limit[l] == SILO_UNSET ? 0 : a->limit[l]))
                        return false;
        return true;
}

/* Within one pass capacity only shrinks, so a task that needs at least as much as one that
 * already failed (in every dimension, with the same io shape) fails too: skip its search. Only
 * unconstrained failures are remembered; constraints only narrow, so they apply to every task. */
static bool memo_dominated(const struct alloc_pending *const *memo, size_t n,
                           const struct alloc_pending *p)
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
        for (size_t i = 0; i < p->n_ports; i++)
                fprintf(f, "|port:%u/%d", spec->container.ports[i].host,
                        (int)spec->container.ports[i].proto);
        for (size_t i = 0; p->has_volumes && i < spec->container.n_volumes; i++)
                if (spec->container.volumes[i].name)
                        fprintf(f, "|vol:%s:%" PRIu64 ":%s:%s", spec->container.volumes[i].name,
                                spec->container.volumes[i].size,
                                strempty(spec->container.volumes[i].disk),
                                spec->container.volumes[i].class ? spec->container.volumes[i].class
                                                                 : "\x01");
        for (size_t i = 0; i < spec->resources.n_io; i++) {
                _cleanup_free_ char *key = alloc_io_key(&spec->resources.io[i]);

                if (!key) {
                        fclose(f);
                        free(s);
                        return NULL;
                }
                fprintf(f, "|%s", key);
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
static int reasons_fill(struct alloc_cluster *c, const struct alloc_pending *const *failed,
                        size_t n, struct alloc_result *results)
{
        struct table cache = {};
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
                e = table_get(&cache, sig);
                if (!e) {
                        e = calloc(1, sizeof(*e));
                        if (!e) {
                                r = -ENOMEM;
                                break;
                        }
                        e->signature = TAKE_PTR(sig);
                        e->reason = alloc_reason_explain(c, &ctx, failed[i]);
                        r = e->reason ? table_put(&cache, e->signature, e) : -ENOMEM;
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
        for (size_t i = 0; table_next(&cache, &i, NULL, &v);) {
                struct reason_entry *e = v;

                free(e->signature);
                free(e->reason);
                free(e);
        }
        table_done(&cache);
        alloc_reason_ctx_done(&ctx);
        return r;
}

/* What every task from a position on in a role's order needs at least (cpus, mem, pids). */
struct demand_min {
        int64_t mcpus;
        uint64_t mem, pids;
};

static void suffix_minima(struct alloc_pending *const *order, size_t n, struct demand_min *smin)
{
        for (size_t i = n; i-- > 0;) {
                const struct alloc_pending *p = order[i];

                smin[i] = (struct demand_min){p->mcpus, p->mem, p->pids};
                if (i + 1 < n && order[i + 1]->role == p->role) {
                        smin[i].mcpus = MIN(smin[i].mcpus, smin[i + 1].mcpus);
                        smin[i].mem = MIN(smin[i].mem, smin[i + 1].mem);
                        smin[i].pids = MIN(smin[i].pids, smin[i + 1].pids);
                }
        }
}

/* After a failure in a role: can anything left in it still fit? Its remaining tasks each need at
 * least their suffix minimum (and constraints and io only narrow), so when no agent has that
 * free the role is done for this pass. */
static bool role_may_continue(struct alloc_cluster *c, const struct role_queue *q,
                              const struct demand_min *smin,
                              const struct alloc_pending *const *memo, size_t n_memo)
{
        static const struct silo_task_spec least = {.kill_grace_s = UINT32_MAX};
        struct alloc_pending m = {
            .spec = &least,
            .mcpus = smin[q->next].mcpus,
            .mem = smin[q->next].mem,
            .pids = smin[q->next].pids,
        };
        struct alloc_choice ch;

        return !memo_dominated(memo, n_memo, &m) && alloc_fit_find(c, &m, &ch);
}

/* Fill everything but the host ports, which booking wrote into res->host_ports already. */
static void result_fill(struct alloc_result *res, const struct alloc_choice *ch, size_t n_io,
                        size_t n_ports, const struct alloc_pending *p)
{
        uint16_t ports[SILO_CONTAINER_PORTS_MAX];

        memcpy(ports, res->host_ports, n_ports * sizeof(*ports));
        *res = (struct alloc_result){
            .placed = true,
            .agent_id = ch->agent->id,
            .hostname = ch->agent->hostname,
            .n_io = n_io,
            .n_ports = n_ports,
        };
        memcpy(res->host_ports, ports, n_ports * sizeof(*ports));
        if (p->has_volumes && p->vol.n_fresh > 0)
                res->volume_disk = ch->agent->disks[ch->volume_disk].name;
        for (size_t i = 0; i < n_io; i++) {
                res->disks[i] = ch->agent->disks[ch->disk[i]].name;
                res->io_cost[i] = ch->cost[i];
        }
}

static int batch_check(const struct alloc_cluster *c, const struct silo_task_spec *const *specs,
                       size_t n)
{
        struct table seen = {};
        int r = 0;

        for (size_t i = 0; i < n && r >= 0; i++) {
                if (!specs[i] || !specs[i]->id || !alloc_spec_is_checked(specs[i]))
                        r = -EINVAL;
                else if (table_get(&c->tasks, specs[i]->id) || table_get(&seen, specs[i]->id))
                        r = -EEXIST;
                else
                        r = table_put(&seen, specs[i]->id, (void *)specs[i]);
        }
        table_done(&seen);
        return r;
}

int alloc_place_batch(struct alloc_cluster *c, const struct silo_task_spec *const *specs, size_t n,
                      struct alloc_result *ret_results)
{
        _cleanup_free_ struct alloc_pending *pend = NULL;
        _cleanup_free_ struct alloc_pending_io *io_pool = NULL;
        _cleanup_free_ struct alloc_pending **order = NULL;
        _cleanup_free_ struct role_queue *heap = NULL;
        _cleanup_free_ const struct alloc_pending **failed = NULL;
        _cleanup_free_ struct demand_min *smin = NULL;
        const struct alloc_pending *memo[ALLOC_MEMO_MAX];
        size_t n_memo = 0, n_heap = 0, memo_next = 0, n_failed = 0, n_io = 0, io_used = 0;
        int placed = 0, r;

        r = batch_check(c, specs, n);
        if (r < 0)
                return r;
        if (n == 0)
                return 0;
        for (size_t i = 0; i < n; i++)
                n_io += specs[i]->resources.n_io;
        pend = calloc(n, sizeof(*pend));
        io_pool = calloc(MAX(n_io, (size_t)1), sizeof(*io_pool));
        order = calloc(n, sizeof(*order));
        heap = calloc(n, sizeof(*heap));
        failed = calloc(n, sizeof(*failed));
        smin = calloc(n, sizeof(*smin));
        if (!pend || !io_pool || !order || !heap || !failed || !smin)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                pending_init(c, &pend[i], specs[i], i, io_pool + io_used);
                io_used += specs[i]->resources.n_io;
                pend[i].role = alloc_role_get(c, silo_task_spec_role(specs[i]), true);
                if (!pend[i].role)
                        return -ENOMEM;
                order[i] = &pend[i];
                ret_results[i] = (struct alloc_result){};
        }
        demand_shares(c, pend, n);
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
        suffix_minima(order, n, smin);

        /* Serve the role with the lowest weighted dominant share, one task at a time. */
        while (n_heap > 0) {
                struct role_queue *q = &heap[0];
                struct alloc_pending *p = order[q->next++];
                struct alloc_result *res = &ret_results[p->pos];
                struct alloc_choice ch;

                if (!memo_dominated(memo, n_memo, p) && alloc_fit_find(c, p, &ch)) {
                        r = alloc_task_book(c, p->spec, ch.agent, ch.disk, ch.cost,
                                            res->host_ports);
                        if (r >= 0 && p->has_volumes && p->vol.n_fresh > 0)
                                r = alloc_volumes_book_fresh(c, p, ch.agent, ch.volume_disk);
                        if (r < 0)
                                goto fail;
                        result_fill(res, &ch, p->spec->resources.n_io, p->n_ports, p);
                        placed++;
                        q->share = alloc_role_share_of(c, q->role);
                } else {
                        /* A memo hit adds nothing new: only a searched failure is recorded.
                         * Ports, like constraints, fail a task that capacity would fit. */
                        if (!p->constrained && p->n_ports == 0 &&
                            !memo_dominated(memo, n_memo, p)) {
                                if (n_memo < ALLOC_MEMO_MAX)
                                        memo[n_memo++] = p;
                                else
                                        memo[memo_next++ % ALLOC_MEMO_MAX] = p;
                        }
                        failed[n_failed++] = p;
                        if (q->next < q->end && !role_may_continue(c, q, smin, memo, n_memo)) {
                                /* Nothing left in this role can fit: fail the rest unsearched. */
                                while (q->next < q->end)
                                        failed[n_failed++] = order[q->next++];
                        }
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
                /* a volume unknown when its task was searched was booked by this pass */
                for (size_t v = 0; v < pend[i].vol.n_fresh; v++)
                        (void)alloc_volume_remove(c, pend[i].vol.fresh[v]->name);
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
