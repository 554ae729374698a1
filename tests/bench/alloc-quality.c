/* SPDX-License-Identifier: Apache-2.0 */
/* Allocator quality: on single-role instances (50 agents with one disk each, 500 tasks; one
 * where about what fits is submitted, one with twice that) the priority the allocator places, as
 * a fraction of the LP-relaxation optimum computed with GLPK. Goal: >= 0.95. */
#include <errno.h>
#include <glpk.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "master/allocator.h"
#include "bench.h"

#define GiB (1ULL << 30)
#define MiB (1ULL << 20)
#define MB 1000000ULL
#define N_AGENTS 50
#define N_TASKS 500
#define N_SEEDS 3

struct instance {
        struct silo_agent_registration regs[N_AGENTS];
        struct silo_disk disks[N_AGENTS];
        char agent_ids[N_AGENTS][16], hostnames[N_AGENTS][16];
        struct silo_task_spec specs[N_TASKS];
        const struct silo_task_spec *spec_ptrs[N_TASKS];
        struct silo_io_request ios[N_TASKS];
        char task_ids[N_TASKS][16];
};

static uint64_t rng_state;

static uint64_t rng(void)
{
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * 2685821657736338717ULL;
}

static uint64_t pick(const uint64_t *menu, size_t n)
{
        return menu[rng() % n];
}

/* scale 1: the tasks' demands add up to about the cluster (cpus and disks); 2: twice that. */
static void instance_make(struct instance *in, uint64_t seed, unsigned scale)
{
        static const uint64_t agent_cpus[] = {8, 16, 16, 32};
        static const uint64_t mem_per_cpu[] = {2 * GiB, 4 * GiB, 8 * GiB};
        static const uint64_t task_mcpus[] = {500, 1000, 1000, 2000, 2000, 4000};
        static const uint64_t task_mem[] = {512 * MiB, 1 * GiB, 2 * GiB,
                                            4 * GiB,   8 * GiB, 16 * GiB};
        static const uint64_t bw[] = {20 * MB, 50 * MB, 100 * MB, 200 * MB, 400 * MB};

        rng_state = seed;
        memset(in, 0, sizeof(*in));
        for (size_t j = 0; j < N_AGENTS; j++) {
                uint64_t cpus = pick(agent_cpus, ELEMENTSOF(agent_cpus));
                double speed = 0.6 + (double)(rng() % 800) / 1000.0; /* disks differ */

                sprintf(in->agent_ids[j], "agent-%02zu", j);
                sprintf(in->hostnames[j], "node-%02zu", j);
                in->disks[j] = (struct silo_disk){
                    .name = (char *)"nvme0n1",
                    .class = (char *)"ssd",
                    .figure[SILO_IO_RBPS] = (uint64_t)(2000 * MB * speed),
                    .figure[SILO_IO_WBPS] = (uint64_t)(1200 * MB * speed),
                    .figure[SILO_IO_RIOPS] = (uint64_t)(300000 * speed),
                    .figure[SILO_IO_WIOPS] = (uint64_t)(200000 * speed),
                };
                in->regs[j] = (struct silo_agent_registration){
                    .hostname = in->hostnames[j],
                    .resources =
                        {
                            .cpus = (double)cpus,
                            .mem = cpus * pick(mem_per_cpu, ELEMENTSOF(mem_per_cpu)),
                            .pids = 4096,
                            .disks = &in->disks[j],
                            .n_disks = 1,
                        },
                };
        }
        for (size_t i = 0; i < N_TASKS; i++) {
                struct silo_task_spec *s = &in->specs[i];
                bool io = rng() % 100 < 60;

                sprintf(in->task_ids[i], "task-%03zu", i);
                in->ios[i] = (struct silo_io_request){
                    .disk = (char *)"any",
                    .limit[SILO_IO_RBPS] = scale * pick(bw, ELEMENTSOF(bw)),
                    .limit[SILO_IO_WBPS] = rng() % 2 ? scale * pick(bw, ELEMENTSOF(bw)) : SILO_UNSET,
                    .limit[SILO_IO_RIOPS] = rng() % 2 ? 1000 + rng() % 20000 : SILO_UNSET,
                    .limit[SILO_IO_WIOPS] = SILO_UNSET,
                };
                *s = (struct silo_task_spec){
                    .id = in->task_ids[i],
                    .role = (char *)"storage",
                    .priority = 1 + (int64_t)(rng() % 100),
                    .kill_grace_s = UINT32_MAX,
                    .resources =
                        {
                            .cpus =
                                (double)(scale * pick(task_mcpus, ELEMENTSOF(task_mcpus))) / 1000.0,
                            .mem = scale * pick(task_mem, ELEMENTSOF(task_mem)),
                            .mem_high = SILO_UNSET,
                            .swap = SILO_UNSET,
                            .pids = 64 + rng() % 256,
                            .io = &in->ios[i],
                            .n_io = io ? 1 : 0,
                        },
                };
                in->spec_ptrs[i] = s;
        }
}

/* The LP relaxation of the placement: x[i][j] in [0, 1] is the share of task i on agent j
 * (only pairs where the task fits the empty agent), sum_j x[i][j] <= 1, and per agent the cpus,
 * mem, pids and io cost of its disk within capacity. Maximise sum priority * x. */
static int lp_assignment(const struct instance *in, double *ret_opt)
{
        size_t max_nz = (size_t)N_TASKS * N_AGENTS * 5 + 1;
        _cleanup_free_ int *ia = calloc(max_nz, sizeof(int)), *ja = calloc(max_nz, sizeof(int));
        _cleanup_free_ double *ar = calloc(max_nz, sizeof(double));
        glp_prob *lp;
        glp_smcp parm;
        int ne = 0, col = 0, r;

        if (!ia || !ja || !ar)
                return -ENOMEM;
        lp = glp_create_prob();
        glp_set_obj_dir(lp, GLP_MAX);
        /* rows: tasks 1..N, then per agent cpus, mem, pids, io */
        glp_add_rows(lp, N_TASKS + 4 * N_AGENTS);
        for (int i = 0; i < N_TASKS; i++)
                glp_set_row_bnds(lp, i + 1, GLP_UP, 0, 1);
        for (int j = 0; j < N_AGENTS; j++) {
                const struct silo_agent_resources *res = &in->regs[j].resources;
                int base = N_TASKS + 4 * j;

                glp_set_row_bnds(lp, base + 1, GLP_UP, 0, res->cpus * 1000);
                glp_set_row_bnds(lp, base + 2, GLP_UP, 0, (double)res->mem / MiB);
                glp_set_row_bnds(lp, base + 3, GLP_UP, 0, (double)res->pids);
                glp_set_row_bnds(lp, base + 4, GLP_UP, 0, 1);
        }
        for (int i = 0; i < N_TASKS; i++) {
                const struct silo_resources *t = &in->specs[i].resources;

                for (int j = 0; j < N_AGENTS; j++) {
                        const struct silo_agent_resources *res = &in->regs[j].resources;
                        double mcpus = ceil(t->cpus * 1000 - 1e-6), cost = 0;
                        int base = N_TASKS + 4 * j;

                        if (t->n_io && alloc_io_cost(&t->io[0], &in->disks[j], &cost, NULL) < 0)
                                continue;
                        if (mcpus > res->cpus * 1000 || t->mem > res->mem || t->pids > res->pids ||
                            cost > 1)
                                continue;
                        col = glp_add_cols(lp, 1);
                        glp_set_col_bnds(lp, col, GLP_DB, 0, 1);
                        glp_set_obj_coef(lp, col, (double)in->specs[i].priority);
                        ne++, ia[ne] = i + 1, ja[ne] = col, ar[ne] = 1;
                        ne++, ia[ne] = base + 1, ja[ne] = col, ar[ne] = mcpus;
                        ne++, ia[ne] = base + 2, ja[ne] = col, ar[ne] = (double)t->mem / MiB;
                        ne++, ia[ne] = base + 3, ja[ne] = col, ar[ne] = (double)t->pids;
                        if (cost > 0)
                                ne++, ia[ne] = base + 4, ja[ne] = col, ar[ne] = cost;
                }
        }
        glp_load_matrix(lp, ne, ia, ja, ar);
        glp_init_smcp(&parm);
        parm.msg_lev = GLP_MSG_OFF;
        parm.presolve = GLP_ON;
        r = glp_simplex(lp, &parm);
        if (r == 0 && glp_get_status(lp) == GLP_OPT)
                *ret_opt = glp_get_obj_val(lp);
        else
                r = -EIO;
        glp_delete_prob(lp);
        return r;
}

/* The seed's aggregate LP: max sum C_i x_i s.t. sum A_i x_i <= b over cluster totals (cpus, mem,
 * pids, read/write bandwidth, read IOPS). A looser upper bound than the assignment LP. */
static int lp_aggregate(const struct instance *in, double *ret_opt)
{
        double b[6] = {};
        int ia[N_TASKS * 6 + 1], ja[N_TASKS * 6 + 1];
        double ar[N_TASKS * 6 + 1];
        glp_prob *lp;
        glp_smcp parm;
        int ne = 0, r;

        for (int j = 0; j < N_AGENTS; j++) {
                b[0] += in->regs[j].resources.cpus * 1000;
                b[1] += (double)in->regs[j].resources.mem / MiB;
                b[2] += (double)in->regs[j].resources.pids;
                b[3] += (double)in->disks[j].figure[SILO_IO_RBPS];
                b[4] += (double)in->disks[j].figure[SILO_IO_WBPS];
                b[5] += (double)in->disks[j].figure[SILO_IO_RIOPS];
        }
        lp = glp_create_prob();
        glp_set_obj_dir(lp, GLP_MAX);
        glp_add_rows(lp, 6);
        for (int k = 0; k < 6; k++)
                glp_set_row_bnds(lp, k + 1, GLP_UP, 0, b[k]);
        glp_add_cols(lp, N_TASKS);
        for (int i = 0; i < N_TASKS; i++) {
                const struct silo_resources *t = &in->specs[i].resources;
                const struct silo_io_request *io = t->n_io ? &t->io[0] : NULL;
                double a[6] = {
                    ceil(t->cpus * 1000 - 1e-6),
                    (double)t->mem / MiB,
                    (double)t->pids,
                    io && io->limit[SILO_IO_RBPS] != SILO_UNSET ? (double)io->limit[SILO_IO_RBPS] : 0,
                    io && io->limit[SILO_IO_WBPS] != SILO_UNSET ? (double)io->limit[SILO_IO_WBPS] : 0,
                    io && io->limit[SILO_IO_RIOPS] != SILO_UNSET ? (double)io->limit[SILO_IO_RIOPS] : 0,
                };

                glp_set_col_bnds(lp, i + 1, GLP_DB, 0, 1);
                glp_set_obj_coef(lp, i + 1, (double)in->specs[i].priority);
                for (int k = 0; k < 6; k++)
                        if (a[k] > 0)
                                ne++, ia[ne] = k + 1, ja[ne] = i + 1, ar[ne] = a[k];
        }
        glp_load_matrix(lp, ne, ia, ja, ar);
        glp_init_smcp(&parm);
        parm.msg_lev = GLP_MSG_OFF;
        r = glp_simplex(lp, &parm);
        if (r == 0 && glp_get_status(lp) == GLP_OPT)
                *ret_opt = glp_get_obj_val(lp);
        else
                r = -EIO;
        glp_delete_prob(lp);
        return r;
}

static int cmp_double(const void *x, const void *y)
{
        double a = *(const double *)x, b = *(const double *)y;

        return (a > b) - (a < b);
}

/* One instance: the allocator's pass, then both LPs; returns the ratio to the assignment LP or
 * a negative errno. */
static int measure(struct instance *in, uint64_t seed, unsigned scale, double *ret_ratio)
{
        _cleanup_(alloc_cluster_freep) struct alloc_cluster *c = NULL;
        struct alloc_result res[N_TASKS];
        double placed_prio = 0, total_prio = 0, opt, agg;
        int placed, r;

        instance_make(in, seed, scale);
        r = alloc_cluster_new(&c);
        if (r < 0)
                return r;
        for (int j = 0; j < N_AGENTS; j++) {
                r = alloc_agent_add(c, in->agent_ids[j], &in->regs[j]);
                if (r < 0)
                        return r;
        }
        placed = alloc_place_batch(c, in->spec_ptrs, N_TASKS, res);
        if (placed < 0)
                return placed;
        for (int i = 0; i < N_TASKS; i++) {
                total_prio += (double)in->specs[i].priority;
                if (res[i].placed)
                        placed_prio += (double)in->specs[i].priority;
        }
        alloc_results_clear(res, N_TASKS);
        if (lp_assignment(in, &opt) < 0 || lp_aggregate(in, &agg) < 0)
                return -EIO;
        /* The relaxation bounds every integral placement: above it is a bug. */
        if (placed_prio > opt + 1e-6) {
                fprintf(stderr, "alloc-quality: placed %.0f above the LP bound %.1f\n", placed_prio,
                        opt);
                return -ERANGE;
        }
        *ret_ratio = placed_prio / opt;
        printf("  seed %" PRIu64
               ": placed %d of %d tasks, priority %.0f of %.0f submitted; LP relaxation "
               "%.1f -> ratio %.4f; the seed's aggregate LP %.1f -> ratio %.4f\n",
               seed, placed, N_TASKS, placed_prio, total_prio, opt, *ret_ratio, agg,
               placed_prio / agg);
        return 0;
}

int main(void)
{
        _cleanup_free_ struct instance *in = malloc(sizeof(*in));
        struct bench_goals goals = { .name = "alloc-quality" };

        if (!in)
                return 1;
        for (unsigned scale = 1; scale <= 2; scale++) {
                double ratios[N_SEEDS];

                printf("%s:\n",
                       scale == 1 ? "demand about the cluster's size" : "demand twice the cluster");
                for (int s = 0; s < N_SEEDS; s++) {
                        int r = measure(in, 1000 + (uint64_t)s, scale, &ratios[s]);

                        if (r < 0) {
                                fprintf(stderr, "alloc-quality: %s\n", strerror(-r));
                                return 1;
                        }
                }
                qsort(ratios, N_SEEDS, sizeof(double), cmp_double);
                printf("  median ratio to the LP-relaxation optimum over %d instances: %.4f (min %.4f)\n",
                       N_SEEDS, ratios[N_SEEDS / 2], ratios[0]);
                bench_goal(&goals,
                           scale == 1 ? "median ratio to the LP optimum, demand about the cluster's size"
                                      : "median ratio to the LP optimum, demand twice the cluster",
                           ratios[N_SEEDS / 2], "of the optimum", ">=", 0.95);
        }
        /* A bound violation fails above; a missed goal fails here (tests/bench/README.md). */
        return bench_done(&goals);
}
