/* SPDX-License-Identifier: Apache-2.0 */
/* Pending reasons: why a task fits nowhere, named as specifically as the cluster allows (the
 * constraint, the dimension and the agent or disk that came closest). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "master/allocator-internal.h"

/* Bytes the way a user writes them in a spec: "16Gi" when exact, "1.5Gi" otherwise. */
int alloc_format_bytes(uint64_t v, char *buf, size_t size)
{
        static const char *const units[] = {"Ki", "Mi", "Gi", "Ti", "Pi"};
        int u = -1;

        while (u + 1 < (int)ELEMENTSOF(units) && v >= (1ULL << (10 * (u + 2))))
                u++;
        if (u < 0)
                return snprintf(buf, size, "%" PRIu64, v);
        if (v % (1ULL << (10 * (u + 1))) == 0)
                return snprintf(buf, size, "%" PRIu64 "%s", v >> (10 * (u + 1)), units[u]);
        return snprintf(buf, size, "%.1f%s", (double)v / (double)(1ULL << (10 * (u + 1))),
                        units[u]);
}

/* An io cost with at most two decimals and no trailing zeros ("0.4", "0.25", "1"). */
static void format_cost(double v, char *buf, size_t size)
{
        char *e;

        snprintf(buf, size, "%.2f", v);
        e = buf + strlen(buf);
        while (e > buf && e[-1] == '0')
                *--e = 0;
        if (e > buf && e[-1] == '.')
                *--e = 0;
}

static void format_cpus(int64_t mcpus, char *buf, size_t size)
{
        snprintf(buf, size, "%g", (double)mcpus / 1000.0);
}

/* "disk named nvme0n1", "disk of class ssd", "disk" */
static void disk_desc(const struct silo_io_request *io, char *buf, size_t size)
{
        if (io->disk && !streq(io->disk, "any"))
                snprintf(buf, size, "disk named %s%s%s", io->disk, io->class ? " of class " : "",
                         strempty(io->class));
        else if (io->class)
                snprintf(buf, size, "disk of class %s", io->class);
        else
                snprintf(buf, size, "disk");
}

struct io_diag {
        size_t n_selectable;
        size_t n_known;
        silo_io_limit missing; /* a figure some selectable disk lacks */
        const struct alloc_agent *best_agent;
        const struct alloc_disk *best_disk;
        double best_margin; /* free - cost on the best disk */
        double best_cost;
};

struct diag {
        size_t n_match;  /* agents passing hostname and attributes */
        size_t n_spread; /* of those, already running the group */
        size_t n_eligible;
        const struct alloc_agent *max_cpus_agent, *max_mem_agent, *max_pids_agent;
        int64_t max_mcpus;
        uint64_t max_mem, max_pids;
        struct io_diag io[ALLOC_IO_MAX];
        const struct alloc_agent *closest;
        unsigned closest_short;
};

static void diag_io(struct io_diag *d, const struct alloc_agent *a,
                    const struct silo_io_request *io, const struct alloc_pending_io *pio)
{
        for (size_t i = 0; i < a->n_disks; i++) {
                const struct alloc_disk *disk = &a->disks[i];
                silo_io_limit missing = 0;
                double cost, margin;

                if (!alloc_disk_selectable(disk, io, pio))
                        continue;
                d->n_selectable++;
                if (alloc_disk_cost(disk, io, &cost, &missing) < 0) {
                        d->missing = missing;
                        continue;
                }
                d->n_known++;
                margin = 1.0 - disk->used - cost;
                if (!d->best_disk || margin > d->best_margin) {
                        d->best_agent = a;
                        d->best_disk = disk;
                        d->best_margin = margin;
                        d->best_cost = cost;
                }
        }
}

/* Agents are scanned in registration order and the first of equals wins, so a reason does not
 * depend on hash order. */
static void diag_dims(struct diag *d, const struct alloc_agent *a)
{
        if (!d->max_cpus_agent || alloc_agent_free_mcpus(a) > d->max_mcpus) {
                d->max_cpus_agent = a;
                d->max_mcpus = alloc_agent_free_mcpus(a);
        }
        if (!d->max_mem_agent || alloc_agent_free_mem(a) > d->max_mem) {
                d->max_mem_agent = a;
                d->max_mem = alloc_agent_free_mem(a);
        }
        if (!d->max_pids_agent || alloc_agent_free_pids(a) > d->max_pids) {
                d->max_pids_agent = a;
                d->max_pids = alloc_agent_free_pids(a);
        }
}

/* Whether the agent passes the task's hostname/attributes (counted in n_match) and spread. */
static bool diag_eligible(struct diag *d, const struct alloc_cluster *c,
                          const struct alloc_agent *a, const struct alloc_pending *p)
{
        const struct silo_task_spec *spec = p->spec;
        const struct silo_constraints *k = &spec->constraints;

        if (!alloc_agent_matches(a, k))
                return false;
        d->n_match++;
        if (k->spread == SILO_SPREAD_HOSTNAME && spec->group) {
                const struct alloc_group *g = table_get(&c->groups, spec->group);

                if (g && alloc_group_has_host(g, a->hostname)) {
                        d->n_spread++;
                        return false;
                }
        }
        d->n_eligible++;
        return true;
}

/* ---- what is the same for every unconstrained task of a pass: computed once ---- */

struct io_cache_entry {
        char *key;
        struct io_diag diag;
};

int alloc_reason_ctx_init(struct alloc_reason_ctx *ctx)
{
        *ctx = (struct alloc_reason_ctx){};
        return 0;
}

void alloc_reason_ctx_done(struct alloc_reason_ctx *ctx)
{
        void *v;

        for (size_t i = 0; table_next(&ctx->io_cache, &i, NULL, &v);) {
                free(((struct io_cache_entry *)v)->key);
                free(v);
        }
        table_done(&ctx->io_cache);
        free(ctx->dims);
        *ctx = (struct alloc_reason_ctx){};
}

static const struct diag *ctx_dims(struct alloc_reason_ctx *ctx, const struct alloc_cluster *c)
{
        if (ctx->dims)
                return ctx->dims;
        ctx->dims = calloc(1, sizeof(*ctx->dims));
        if (!ctx->dims)
                return NULL;
        for (const struct alloc_agent *a = c->first; a; a = a->all_next)
                diag_dims(ctx->dims, a);
        ctx->dims->n_match = ctx->dims->n_eligible = c->agents.n;
        return ctx->dims;
}

/* The io diagnosis of one request over every disk of the cluster, cached by the request. */
static const struct io_diag *ctx_io(struct alloc_reason_ctx *ctx, const struct alloc_cluster *c,
                                    const struct silo_io_request *io,
                                    const struct alloc_pending_io *pio)
{
        _cleanup_free_ char *key = NULL;
        struct io_cache_entry *e;

        key = alloc_io_key(io);
        if (!key)
                return NULL;
        e = table_get(&ctx->io_cache, key);
        if (e)
                return &e->diag;
        e = calloc(1, sizeof(*e));
        if (!e)
                return NULL;
        /* Mostly the entry fits some disk and only the rest of the task does not: find one such
         * disk and stop; the full diagnosis (the closest disk) only when none does. */
        for (const struct alloc_agent *a = c->first; a && !e->diag.best_disk; a = a->all_next)
                for (size_t i = 0; i < a->n_disks; i++) {
                        double cost;

                        if (alloc_disk_selectable(&a->disks[i], io, pio) &&
                            alloc_disk_cost(&a->disks[i], io, &cost, NULL) >= 0 &&
                            1.0 - a->disks[i].used - cost >= -1e-9) {
                                e->diag = (struct io_diag){
                                    .n_selectable = 1,
                                    .n_known = 1,
                                    .best_agent = a,
                                    .best_disk = &a->disks[i],
                                    .best_margin = 1.0 - a->disks[i].used - cost,
                                    .best_cost = cost,
                                };
                                break;
                        }
                }
        if (!e->diag.best_disk)
                for (const struct alloc_agent *a = c->first; a; a = a->all_next)
                        diag_io(&e->diag, a, io, pio);
        e->key = TAKE_PTR(key);
        if (table_put(&ctx->io_cache, e->key, e) < 0) {
                free(e->key);
                free(e);
                return NULL;
        }
        return &e->diag;
}

/* The agent short of the fewest dimensions (the first of equals); io (the costly check) only for
 * agents that could still beat the best. Returns true once one is short of a single dimension:
 * nothing can beat that. */
static bool diag_closest(struct diag *d, const struct alloc_agent *a, const struct alloc_pending *p)
{
        struct alloc_pending io_only;
        struct alloc_choice ch;
        unsigned n = 0;

        n += alloc_agent_free_mcpus(a) < p->mcpus;
        n += alloc_agent_free_mem(a) < p->mem;
        n += alloc_agent_free_pids(a) < p->pids;
        n += !alloc_ports_fit(a, p);
        if (d->closest && n >= d->closest_short)
                return false;
        if (p->spec->resources.n_io) {
                io_only = *p;
                io_only.mcpus = 0;
                io_only.mem = 0;
                io_only.pids = 0;
                io_only.n_ports = 0;
                n += !alloc_agent_fit(a, &io_only, &ch);
        }
        if (n > 0 && (!d->closest || n < d->closest_short)) {
                d->closest = a;
                d->closest_short = n;
        }
        return d->closest_short == 1;
}

static char *attrs_string(const struct silo_constraints *k)
{
        char *s = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&s, &len);

        if (!f)
                return NULL;
        for (size_t i = 0; i < k->n_attributes; i++)
                fprintf(f, "%s%s=%s", i ? ", " : "", k->attributes[i].key,
                        strempty(k->attributes[i].value));
        if (fclose(f) != 0) {
                free(s);
                return NULL;
        }
        return s;
}

/* What the task asks for, as "cpus 4, mem 8Gi and io". */
static char *demand_string(const struct alloc_pending *p)
{
        char *s = NULL, buf[48];
        const char *parts[4];
        char bufs[3][64];
        size_t n = 0, len = 0;
        FILE *f;

        if (p->mcpus) {
                format_cpus(p->mcpus, buf, sizeof(buf));
                snprintf(bufs[0], sizeof(bufs[0]), "cpus %s", buf);
                parts[n++] = bufs[0];
        }
        if (p->mem) {
                alloc_format_bytes(p->mem, buf, sizeof(buf));
                snprintf(bufs[1], sizeof(bufs[1]), "mem %s", buf);
                parts[n++] = bufs[1];
        }
        if (p->pids) {
                snprintf(bufs[2], sizeof(bufs[2]), "pids %" PRIu64, p->pids);
                parts[n++] = bufs[2];
        }
        if (p->spec->resources.n_io)
                parts[n++] = "io";
        f = open_memstream(&s, &len);
        if (!f)
                return NULL;
        for (size_t i = 0; i < n; i++)
                fprintf(f, "%s%s", i == 0 ? "" : i + 1 == n ? " and " : ", ", parts[i]);
        if (fclose(f) != 0) {
                free(s);
                return NULL;
        }
        return s;
}

/* Why the agent cannot give the task its host ports: the first fixed port it cannot give,
 * else the count of ports of a protocol. */
static void ports_shortfall(const struct alloc_agent *a, const struct alloc_pending *p, char *out,
                            size_t size)
{
        const struct silo_container *ct = &p->spec->container;

        if (!a->port_max) {
                snprintf(out, size,
                         "short of host ports: it offers none (silo-agent --task-ports)");
                return;
        }
        for (size_t i = 0; i < p->n_ports; i++) {
                const struct silo_port_mapping *m = &ct->ports[i];
                uint32_t key = ALLOC_PORT_KEY(m->proto, m->host);
                const struct alloc_task *holder;

                if (!m->host)
                        continue;
                if (m->host < a->port_min || m->host > a->port_max) {
                        snprintf(out, size, "host port %u/%s is outside its range %u-%u", m->host,
                                 silo_port_proto_to_string(m->proto), a->port_min, a->port_max);
                        return;
                }
                if (alloc_port_is_held(a, key)) {
                        holder = alloc_port_holder(a, key);
                        snprintf(out, size, "host port %u/%s is taken by task %s", m->host,
                                 silo_port_proto_to_string(m->proto),
                                 holder ? holder->id : "(unknown)");
                        return;
                }
        }
        for (int pr = 0; pr < _SILO_PORT_PROTO_MAX; pr++)
                if (a->port_free[pr] < p->ports_need[pr]) {
                        snprintf(out, size,
                                 "short of %s host ports: needs %" PRIu32 ", %" PRIu32 " free",
                                 silo_port_proto_to_string(pr), p->ports_need[pr],
                                 a->port_free[pr]);
                        return;
                }
        snprintf(out, size, "short of host ports");
}

/* The first thing the closest agent lacks: "short of mem: needs 8Gi, 2Gi free". */
void alloc_shortfall_string(const struct alloc_agent *a, const struct alloc_pending *p,
                            char *out, size_t size)
{
        char need[64], have[64];

        if (alloc_agent_free_mcpus(a) < p->mcpus) {
                format_cpus(p->mcpus, need, sizeof(need));
                format_cpus(MAX(alloc_agent_free_mcpus(a), 0), have, sizeof(have));
                snprintf(out, size, "short of cpus: needs %s, %s free", need, have);
        } else if (alloc_agent_free_mem(a) < p->mem) {
                alloc_format_bytes(p->mem, need, sizeof(need));
                alloc_format_bytes(alloc_agent_free_mem(a), have, sizeof(have));
                snprintf(out, size, "short of mem: needs %s, %s free", need, have);
        } else if (alloc_agent_free_pids(a) < p->pids) {
                snprintf(out, size, "short of pids: needs %" PRIu64 ", %" PRIu64 " free", p->pids,
                         alloc_agent_free_pids(a));
        } else if (!alloc_ports_fit(a, p)) {
                ports_shortfall(a, p, out, size);
        } else {
                snprintf(out, size, "short of io: its disks cannot take every io entry");
        }
}

static char *explain_io(const struct diag *d, const struct alloc_pending *p)
{
        const struct silo_resources *res = &p->spec->resources;
        char *s = NULL, desc[160], cost[32], free_s[32];

        for (size_t i = 0; i < res->n_io; i++) {
                const struct io_diag *io = &d->io[i];

                disk_desc(&res->io[i], desc, sizeof(desc));
                if (io->n_selectable == 0)
                        return asprintf(&s, "resources.io[%zu]: no agent has a %s", i, desc) < 0
                                   ? NULL
                                   : s;
                if (io->n_known == 0)
                        return asprintf(&s,
                                        "resources.io[%zu]: no %s knows its %s, which %s limits "
                                        "(calibrate the disk or configure its figures)",
                                        i, desc, silo_io_figure_to_string(io->missing),
                                        silo_io_limit_to_string(io->missing)) < 0
                                   ? NULL
                                   : s;
                if (io->best_margin < -1e-9) {
                        format_cost(io->best_cost, cost, sizeof(cost));
                        format_cost(MAX(1.0 - io->best_disk->used, 0), free_s, sizeof(free_s));
                        return asprintf(&s,
                                        "resources.io[%zu]: no agent has a %s with %s io cost free "
                                        "(best: %s/%s at %s)",
                                        i, desc, cost, io->best_agent->hostname,
                                        io->best_disk->name, free_s) < 0
                                   ? NULL
                                   : s;
                }
        }
        return NULL;
}

/* The agents a constrained task can consider: those with its hostname, else those carrying its
 * rarest attribute, else all; in registration order. */
struct cand_iter {
        const struct alloc_attr_list *list;
        size_t i;
        struct alloc_agent *next;
        bool by_host;
};

static void cand_start(struct cand_iter *it, const struct alloc_cluster *c,
                       const struct alloc_pending *p)
{
        const struct silo_constraints *k = &p->spec->constraints;

        *it = (struct cand_iter){};
        if (k->hostname) {
                it->by_host = true;
                it->next = table_get(&c->by_hostname, k->hostname);
        } else if (k->n_attributes) {
                for (size_t i = 0; i < k->n_attributes; i++) {
                        const struct alloc_attr_list *l = alloc_attr_list_get(c, &k->attributes[i]);

                        if (!l) {
                                /* no agent has this one: none qualifies */
                                it->list = NULL;
                                it->i = SIZE_MAX;
                                return;
                        }
                        if (!it->list || l->n < it->list->n)
                                it->list = l;
                }
        } else {
                it->next = c->first;
        }
}

static struct alloc_agent *cand_next(struct cand_iter *it)
{
        struct alloc_agent *a;

        if (it->list)
                return it->i < it->list->n ? it->list->agents[it->i++] : NULL;
        if (it->i == SIZE_MAX)
                return NULL;
        a = it->next;
        if (a)
                it->next = it->by_host ? a->host_next : a->all_next;
        return a;
}

/* A fixed host port no eligible agent can give: outside every range, or held on every agent
 * whose range has it ("... (node-1: task pg-1, node-2: task pg-7)", at most three named). */
static char *explain_fixed_port(struct alloc_cluster *c, const struct alloc_pending *p, size_t i)
{
        const struct silo_port_mapping *m = &p->spec->container.ports[i];
        uint32_t key = ALLOC_PORT_KEY(m->proto, m->host);
        const struct alloc_agent *first_range = NULL;
        size_t n_in = 0, n_named = 0;
        struct alloc_agent *a;
        struct cand_iter it;
        char *s = NULL;
        size_t len = 0;
        FILE *f;

        for (cand_start(&it, c, p); (a = cand_next(&it));) {
                if (!a->port_max || !alloc_agent_eligible(c, a, p))
                        continue;
                first_range = first_range ? first_range : a;
                if (m->host < a->port_min || m->host > a->port_max)
                        continue;
                n_in++;
                if (!alloc_port_is_held(a, key))
                        return NULL; /* free somewhere: not this port's fault alone */
        }
        if (!first_range)
                return NULL;
        if (n_in == 0)
                return asprintf(&s,
                                "container.ports[%zu]: host port %u/%s is outside every agent's "
                                "port range (%s: %u-%u)",
                                i, m->host, silo_port_proto_to_string(m->proto),
                                first_range->hostname, first_range->port_min,
                                first_range->port_max) < 0
                           ? NULL
                           : s;
        f = open_memstream(&s, &len);
        if (!f)
                return NULL;
        fprintf(f, "container.ports[%zu]: host port %u/%s is taken on every agent that offers it (",
                i, m->host, silo_port_proto_to_string(m->proto));
        for (cand_start(&it, c, p); (a = cand_next(&it)) && n_named < 3;) {
                const struct alloc_task *holder;

                if (!alloc_port_is_held(a, key) || !alloc_agent_eligible(c, a, p))
                        continue;
                holder = alloc_port_holder(a, key);
                fprintf(f, "%s%s: task %s", n_named ? ", " : "", a->hostname,
                        holder ? holder->id : "(unknown)");
                n_named++;
        }
        if (n_in > n_named)
                fprintf(f, " and %zu more", n_in - n_named);
        fputc(')', f);
        if (fclose(f) != 0) {
                free(s);
                return NULL;
        }
        return s;
}

/* The task's host ports alone keep it out: no eligible agent offers ports, a fixed port is
 * nowhere free, or no agent has as many free ports as it needs. NULL when the ports fit
 * somewhere (or on ENOMEM, which the caller's later asprintf reports the same way). */
static char *explain_ports(struct alloc_cluster *c, const struct alloc_pending *p)
{
        const struct alloc_agent *most[_SILO_PORT_PROTO_MAX] = {};
        struct alloc_agent *a;
        struct cand_iter it;
        bool any = false;
        char *s = NULL;

        for (cand_start(&it, c, p); (a = cand_next(&it));) {
                if (!a->port_max || !alloc_agent_eligible(c, a, p))
                        continue;
                any = true;
                for (int pr = 0; pr < _SILO_PORT_PROTO_MAX; pr++)
                        if (!most[pr] || a->port_free[pr] > most[pr]->port_free[pr])
                                most[pr] = a;
        }
        if (!any)
                return asprintf(&s,
                                "container.ports: no agent%s offers host ports (silo-agent "
                                "--task-ports)",
                                p->constrained ? " that matches" : "") < 0
                           ? NULL
                           : s;
        for (size_t i = 0; i < p->n_ports; i++)
                if (p->spec->container.ports[i].host && (s = explain_fixed_port(c, p, i)))
                        return s;
        for (int pr = 0; pr < _SILO_PORT_PROTO_MAX; pr++)
                if (most[pr]->port_free[pr] < p->ports_need[pr])
                        return asprintf(&s,
                                        "container.ports: needs %" PRIu32 " %s host ports, the "
                                        "most free is %" PRIu32 " (%s)",
                                        p->ports_need[pr], silo_port_proto_to_string(pr),
                                        most[pr]->port_free[pr], most[pr]->hostname) < 0
                                   ? NULL
                                   : s;
        return NULL;
}

char *alloc_reason_explain(struct alloc_cluster *c, struct alloc_reason_ctx *ctx,
                           const struct alloc_pending *p)
{
        const struct silo_task_spec *spec = p->spec;
        const struct silo_constraints *k = &spec->constraints;
        _cleanup_free_ char *attrs = NULL, *demand = NULL;
        const struct alloc_group *group;
        struct alloc_agent *a;
        struct cand_iter it;
        bool spread_only, scan = false;
        struct diag d = {};
        char need[64], have[64], shortfall[160];
        char *s = NULL;

        if (c->agents.n == 0)
                return strdup("no agents registered");
        if (p->has_volumes) {
                bool oom = false;

                s = alloc_volumes_explain(c, p, &oom);
                if (s || oom)
                        return s;
        }
        if (k->hostname && !table_get(&c->by_hostname, k->hostname))
                return asprintf(&s, "hostname: no agent is named %s", k->hostname) < 0 ? NULL : s;

        /* Cluster-wide figures are shared by every unconstrained task; a task that only spreads
         * can use them too unless they name an agent running its group (then count afresh). */
        spread_only = p->constrained && !k->hostname && !k->n_attributes;
        group = spread_only ? table_get(&c->groups, spec->group) : NULL;
        if (!p->constrained || (spread_only && (!group || group->n_members * 2 < c->agents.n))) {
                const struct diag *g = ctx_dims(ctx, c);

                if (!g)
                        return NULL;
                d = *g;
                for (size_t j = 0; j < spec->resources.n_io; j++) {
                        const struct io_diag *io =
                            ctx_io(ctx, c, &spec->resources.io[j], &p->io[j]);

                        if (!io)
                                return NULL;
                        d.io[j] = *io;
                        if (group && io->best_agent &&
                            alloc_group_has_host(group, io->best_agent->hostname))
                                scan = true;
                }
                if (group && (alloc_group_has_host(group, d.max_cpus_agent->hostname) ||
                              alloc_group_has_host(group, d.max_mem_agent->hostname) ||
                              alloc_group_has_host(group, d.max_pids_agent->hostname)))
                        scan = true;
        } else {
                scan = true;
        }
        if (scan) {
                /* Only the agents the constraints leave count. */
                d = (struct diag){};
                for (cand_start(&it, c, p); (a = cand_next(&it));) {
                        if (!diag_eligible(&d, c, a, p))
                                continue;
                        diag_dims(&d, a);
                        for (size_t j = 0; j < spec->resources.n_io; j++)
                                diag_io(&d.io[j], a, &spec->resources.io[j], &p->io[j]);
                }
        }

        if (d.n_match == 0) {
                attrs = attrs_string(k);
                if (!attrs)
                        return NULL;
                if (k->hostname)
                        return asprintf(&s, "attributes: no agent named %s has %s", k->hostname,
                                        attrs) < 0
                                   ? NULL
                                   : s;
                return asprintf(&s, "attributes: no agent has %s", attrs) < 0 ? NULL : s;
        }
        if (d.n_eligible == 0) {
                if (d.n_spread == 1)
                        return asprintf(&s, "spread: the only agent%s already runs group %s",
                                        k->hostname || k->n_attributes ? " that matches" : "",
                                        spec->group) < 0
                                   ? NULL
                                   : s;
                return asprintf(&s, "spread: all %zu agents%s already run group %s", d.n_spread,
                                k->hostname || k->n_attributes ? " that match" : "",
                                spec->group) < 0
                           ? NULL
                           : s;
        }
        if (p->mcpus > d.max_mcpus) {
                format_cpus(p->mcpus, need, sizeof(need));
                format_cpus(MAX(d.max_mcpus, 0), have, sizeof(have));
                return asprintf(&s, "cpus: needs %s, the largest free is %s (%s)", need, have,
                                d.max_cpus_agent->hostname) < 0
                           ? NULL
                           : s;
        }
        if (p->mem > d.max_mem) {
                alloc_format_bytes(p->mem, need, sizeof(need));
                alloc_format_bytes(d.max_mem, have, sizeof(have));
                return asprintf(&s, "mem: needs %s, the largest free is %s (%s)", need, have,
                                d.max_mem_agent->hostname) < 0
                           ? NULL
                           : s;
        }
        if (p->pids > d.max_pids)
                return asprintf(&s, "pids: needs %" PRIu64 ", the largest free is %" PRIu64 " (%s)",
                                p->pids, d.max_pids, d.max_pids_agent->hostname) < 0
                           ? NULL
                           : s;
        s = explain_io(&d, p);
        if (s)
                return s;
        if (p->n_ports && (s = explain_ports(c, p)))
                return s;

        /* Every dimension fits somewhere, but not together: name the agent that came closest. */
        for (cand_start(&it, c, p); (a = cand_next(&it));)
                /* an agent without a port range is no candidate for a task with ports, as one
                 * its constraints rule out is not */
                if ((!p->n_ports || a->port_max) && alloc_agent_eligible(c, a, p) &&
                    diag_closest(&d, a, p))
                        break;
        if (!d.closest)
                /* The pass found no fit, yet one exists now: cannot happen within one pass, so
                 * say so rather than invent a cause. */
                return strdup("no agent fits now; retrying at the next pass");
        demand = demand_string(p);
        if (!demand)
                return NULL;
        alloc_shortfall_string(d.closest, p, shortfall, sizeof(shortfall));
        return asprintf(&s, "no agent has %s free together (closest: %s, %s)", demand,
                        d.closest->hostname, shortfall) < 0
                   ? NULL
                   : s;
}
