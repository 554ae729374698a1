/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for master/allocator: DRF shares, multi-resource fit, io cost budget, constraints,
 * spread, the priority objective and every pending reason, on hand-checked cases. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "master/allocator.h"

#define GiB (1ULL << 30)
#define MiB (1ULL << 20)
#define MB 1000000ULL

/* cmocka 1.1 has no double comparison; say both values when it fails. */
#define assert_near(a, b, eps) _assert_near((a), (b), (eps), __FILE__, __LINE__)
static void _assert_near(double a, double b, double eps, const char *file, int line)
{
        if (!(fabs(a - b) <= eps)) {
                print_error("%s:%d: %.12g != %.12g (within %g)\n", file, line, a, b, eps);
                fail();
        }
}

/* ---- builders ---- */

static struct silo_disk disk_make(const char *name, const char *class, uint64_t rbps, uint64_t wbps,
                                  uint64_t riops, uint64_t wiops)
{
        return (struct silo_disk){
            .name = (char *)name,
            .class = (char *)class,
            .figure[SILO_IO_RBPS] = rbps,
            .figure[SILO_IO_WBPS] = wbps,
            .figure[SILO_IO_RIOPS] = riops,
            .figure[SILO_IO_WIOPS] = wiops,
        };
}

static void agent_add(struct alloc_cluster *c, const char *id, const char *host, double cpus,
                      uint64_t mem, uint64_t pids, struct silo_disk *disks, size_t n_disks,
                      const char *rack)
{
        struct silo_kv attr = {.key = (char *)"rack", .value = (char *)rack};
        struct silo_agent_registration reg = {
            .hostname = (char *)host,
            .resources =
                {.cpus = cpus, .mem = mem, .pids = pids, .disks = disks, .n_disks = n_disks},
            .attributes = rack ? &attr : NULL,
            .n_attributes = rack ? 1 : 0,
        };

        assert_int_equal(alloc_agent_add(c, id, &reg), 0);
}

struct tspec {
        struct silo_task_spec spec;
        struct silo_io_request io[ALLOC_IO_MAX + 1];
        struct silo_kv attr;
        char id[32];
};

static void tspec_init(struct tspec *t, const char *id, const char *role, double cpus, uint64_t mem)
{
        *t = (struct tspec){};
        snprintf(t->id, sizeof(t->id), "%s", id);
        t->spec.id = t->id;
        t->spec.role = (char *)role;
        t->spec.resources.cpus = cpus;
        t->spec.resources.mem = mem ? mem : SILO_UNSET;
        t->spec.resources.mem_high = SILO_UNSET;
        t->spec.resources.swap = SILO_UNSET;
        t->spec.resources.pids = SILO_UNSET;
        t->spec.resources.io = t->io;
        t->spec.kill_grace_s = UINT32_MAX;
}

static struct silo_io_request *tspec_io(struct tspec *t, const char *disk, const char *class)
{
        struct silo_io_request *io = &t->io[t->spec.resources.n_io++];

        *io = (struct silo_io_request){
            .disk = (char *)disk,
            .class = (char *)class,
            .limit[SILO_IO_RBPS] = SILO_UNSET,
            .limit[SILO_IO_WBPS] = SILO_UNSET,
            .limit[SILO_IO_RIOPS] = SILO_UNSET,
            .limit[SILO_IO_WIOPS] = SILO_UNSET,
        };
        return io;
}

/* Place one task; returns whether it was placed, with the result in *res (reason cleared by
 * the caller through alloc_results_clear). */
static bool place1(struct alloc_cluster *c, struct tspec *t, struct alloc_result *res)
{
        const struct silo_task_spec *specs[] = {&t->spec};
        int r = alloc_place_batch(c, specs, 1, res);

        assert_true(r == 0 || r == 1);
        assert_int_equal(r == 1, res->placed);
        return res->placed;
}

static void expect_reason(struct alloc_cluster *c, struct tspec *t, const char *reason)
{
        struct alloc_result res;

        assert_false(place1(c, t, &res));
        assert_non_null(res.reason);
        assert_string_equal(res.reason, reason);
        alloc_results_clear(&res, 1);
        assert_false(alloc_task_is_charged(c, t->id));
}

static const char *expect_placed(struct alloc_cluster *c, struct tspec *t)
{
        struct alloc_result res;

        if (!place1(c, t, &res)) {
                print_error("unexpected pending: %s\n", res.reason);
                alloc_results_clear(&res, 1);
                fail();
        }
        assert_null(res.reason);
        return res.agent_id;
}

/* ---- DRF ---- */

static void test_drf_shares(void **state)
{
        _cleanup_(alloc_cluster_freep) struct alloc_cluster *c = NULL;
        struct silo_disk d = disk_make("nvme0n1", "ssd", 2000 * MB, 1000 * MB, 100000, 50000);
        struct tspec a, b;
        (void)state;

        assert_int_equal(alloc_cluster_new(&c), 0);
        agent_add(c, "A", "node-1", 8, 16 * GiB, 0, &d, 1, NULL);
        agent_add(c, "B", "node-2", 8, 16 * GiB, 0, NULL, 0, NULL);
        /* totals: 16 cpus, 32Gi, read 2000 MB/s, write 1000 MB/s, 100k/50k IOPS */
        tspec_init(&a, "a1", "analytics", 2, 8 * GiB);
        assert_int_equal(alloc_task_charge(c, &a.spec, "A", NULL), 0);
        assert_near(alloc_role_dominant_share(c, "analytics"), 0.25, 1e-12); /* mem 8/32 */
        tspec_init(&b, "b1", "storage", 4, 2 * GiB);
        tspec_io(&b, "nvme0n1", NULL)->limit[SILO_IO_WBPS] = 600 * MB;
        assert_int_equal(alloc_task_charge(c, &b.spec, "A", (const char *const[]){"nvme0n1"}), 0);
        /* cpus 4/16 = 0.25, mem 1/16, write bandwidth 600/1000 = 0.6 dominates */
        assert_near(alloc_role_dominant_share(c, "storage"), 0.6, 1e-12);
        assert_int_equal(alloc_role_set_weight(c, "storage", 2), 0);
        assert_near(alloc_role_dominant_share(c, "storage"), 0.3, 1e-12);
        assert_int_equal(alloc_role_set_weight(c, "storage", 0), -EINVAL);
        assert_int_equal(alloc_role_set_weight(c, "storage", NAN), -EINVAL);
        assert_near(alloc_role_dominant_share(c, "nobody"), 0, 0);
        /* a task ending gives its share back */
        assert_int_equal(alloc_task_release(c, "b1"), 0);
        assert_near(alloc_role_dominant_share(c, "storage"), 0, 0);
        assert_int_equal(alloc_task_release(c, "b1"), -ENOENT);
        /* a second agent's disk raises the write total: the same use is a smaller share */
        assert_int_equal(alloc_task_charge(c, &b.spec, "A", (const char *const[]){"nvme0n1"}), 0);
        d.figure[SILO_IO_WBPS] = 3000 * MB;
        d.name = (char *)"nvme1n1";
        agent_add(c, "C", "node-3", 0.5, 1 * GiB, 0, &d, 1, NULL);
        /* write total 4000 MB/s: 600/4000 = 0.15; cpus 4/16.5 = 0.2424 dominates; weight 2 */
        assert_near(alloc_role_dominant_share(c, "storage"), 4.0 / 16.5 / 2, 1e-12);
}

static size_t count_placed(struct alloc_result *res, size_t from, size_t n)
{
        size_t k = 0;

        for (size_t i = from; i < from + n; i++)
                k += res[i].placed;
        return k;
}

/* The example of Ghodsi et al.: 9 cpus, 18 GB; A's tasks <1 cpu, 4 GB>, B's <3 cpus, 1 GB>.
 * DRF gives A three tasks and B two (both at a dominant share of 2/3). */
static void test_drf_pass_paper_example(void **state)
{
        _cleanup_(alloc_cluster_freep) struct alloc_cluster *c = NULL;
        struct tspec t[20];
        const struct silo_task_spec *specs[20];
        struct alloc_result res[20];
        char id[16];
        (void)state;

        assert_int_equal(alloc_cluster_new(&c), 0);
        agent_add(c, "A", "node-1", 9, 18 * GiB, 0, NULL, 0, NULL);
        for (int i = 0; i < 10; i++) {
                snprintf(id, sizeof(id), "a%d", i);
                tspec_init(&t[i], id, "A", 1, 4 * GiB);
                snprintf(id, sizeof(id), "b%d", i);
                tspec_init(&t[10 + i], id, "B", 3, 1 * GiB);
        }
        for (int i = 0; i < 20; i++)
                specs[i] = &t[i].spec;
        assert_int_equal(alloc_place_batch(c, specs, 20, res), 5);
        assert_int_equal(count_placed(res, 0, 10), 3);
        assert_int_equal(count_placed(res, 10, 10), 2);
        assert_near(alloc_role_dominant_share(c, "A"), 12.0 / 18, 1e-12);
        assert_near(alloc_role_dominant_share(c, "B"), 6.0 / 9, 1e-12);
        assert_string_equal(res[3].reason, "cpus: needs 1, the largest free is 0 (node-1)");
        alloc_results_clear(res, 20);
}

/* Weights: role y (weight 2) gets twice the share of x (weight 1) for the same tasks. */
static void test_drf_pass_weighted(void **state)
{
        _cleanup_(alloc_cluster_freep) struct alloc_cluster *c = NULL;
        struct tspec t[24];
        const struct silo_task_spec *specs[24];
        struct alloc_result res[24];
        char id[16];
        (void)state;

        assert_int_equal(alloc_cluster_new(&c), 0);
        agent_add(c, "A", "node-1", 12, 12 * GiB, 0, NULL, 0, NULL);
        assert_int_equal(alloc_role_set_weight(c, "y", 2), 0);
        for (int i = 0; i < 12; i++) {
                snprintf(id, sizeof(id), "x%d", i);
                tspec_init(&t[i], id, "x", 1, 1 * GiB);
                snprintf(id, sizeof(id), "y%d", i);
                tspec_init(&t[12 + i], id, "y", 1, 1 * GiB);
        }
        for (int i = 0; i < 24; i++)
                specs[i] = &t[i].spec;
        assert_int_equal(alloc_place_batch(c, specs, 24, res), 12);
        assert_int_equal(count_placed(res, 0, 12), 4);
        assert_int_equal(count_placed(res, 12, 12), 8);
        /* the earliest submissions of each role are the ones placed */
        for (int i = 0; i < 4; i++)
                assert_true(res[i].placed);
        for (int i = 12; i < 20; i++)
                assert_true(res[i].placed);
        alloc_results_clear(res, 24);
}

/* ---- fit ---- */

/* Agents and tasks of one shape (4Gi per cpu): the tightest agent that still fits wins, which
 * keeps the large holes for large tasks. */
static void test_fit_best_agent_tight(void **state)
{
        _cleanup_(alloc_cluster_freep) struct alloc_cluster *c = NULL;
        struct alloc_agent_free f;
        struct tspec t;
        (void)state;

        assert_int_equal(alloc_cluster_new(&c), 0);
        agent_add(c, "big", "node-big", 16, 64 * GiB, 0, NULL, 0, NULL);
        agent_add(c, "mid", "node-mid", 8, 32 * GiB, 0, NULL, 0, NULL);
        agent_add(c, "small", "node-small", 4, 16 * GiB, 0, NULL, 0, NULL);
        tspec_init(&t, "t1", "r", 3, 12 * GiB);
        assert_string_equal(expect_placed(c, &t), "small");
        tspec_init(&t, "t2", "r", 6, 24 * GiB);
        assert_string_equal(expect_placed(c, &t), "mid");
        tspec_init(&t, "t3", "r", 2, 8 * GiB);
        assert_string_equal(expect_placed(c, &t), "mid"); /* mid 2 free: exact fit */
        tspec_init(&t, "t4", "r", 1, 4 * GiB);
        assert_string_equal(expect_placed(c, &t), "small"); /* small 1 free */
        tspec_init(&t, "t5", "r", 10, 40 * GiB);
        assert_string_equal(expect_placed(c, &t), "big");
        assert_int_equal(alloc_agent_get_free(c, "big", &f), 0);
        assert_near(f.cpus, 6, 1e-9);
        assert_int_equal(f.mem, 24 * GiB);
        assert_int_equal(f.n_tasks, 1);
        assert_int_equal(alloc_agent_get_free(c, "nope", &f), -ENOENT);
}

/* Of the tight candidates, the one whose free capacity has the task's shape: a memory-heavy
 * task goes to the memory-rich agent and leaves the cpu-rich one's cpus usable, and the other
 * way round. */
static void test_fit_alignment(void **state)
{
        _cleanup_(alloc_cluster_freep) struct alloc_cluster *c = NULL;
        struct tspec t;
        (void)state;

        assert_int_equal(alloc_cluster_new(&c), 0);
        agent_add(c, "cpu-rich", "node-1", 32, 64 * GiB, 0, NULL, 0, NULL);
        agent_add(c, "mem-rich", "node-2", 32, 256 * GiB, 0, NULL, 0, NULL);
        tspec_init(&t, "m1", "r", 1, 48 * GiB);
        assert_string_equal(expect_placed(c, &t), "mem-rich");
        tspec_init(&t, "c1", "r", 8, 1 * GiB);
        assert_string_equal(expect_placed(c, &t), "cpu-rich");
}

/* Agents whose free cpus fall in the same index bucket (10 and 10.2): still the tighter one. */
static void test_fit_best_within_bucket(void **state)
{
        _cleanup_(alloc_cluster_freep) struct alloc_cluster *c = NULL;
        struct tspec t;
        (void)state;

        assert_int_equal(alloc_cluster_new(&c), 0);
        agent_add(c, "A", "node-1", 10, 40 * GiB, 0, NULL, 0, NULL);
        agent_add(c, "B", "node-2", 10.2, 40.8 * GiB, 0, NULL, 0, NULL);
        agent_add(c, "C", "node-3", 10.1, 40.4 * GiB, 0, NULL, 0, NULL);
        tspec_init(&t, "t1", "r", 1, 4 * GiB);
        assert_string_equal(expect_placed(c, &t), "A");
        tspec_init(&t, "t2", "r", 9.15, 36.6 * GiB);
        assert_string_equal(expect_placed(c, &t), "C");
}

/* Many agents fit the cpus but not the memory: past the walk's budget the max-tree still finds
 * the one that fits (a walk alone would report it pending). */
static void test_fit_tree_fallback(void **state)
{
        _cleanup_(alloc_cluster_freep) struct alloc_cluster *c = NULL;
        struct tspec t;
        char id[16];
        (void)state;

        assert_int_equal(alloc_cluster_new(&c), 0);
        agent_add(c, "fat", "node-fat", 8, 512 * GiB, 0, NULL, 0, NULL);
        for (int i = 0; i < 100; i++) { /* more than the walk's budget */
                snprintf(id, sizeof(id), "thin-%d", i);
                agent_add(c, id, id, 8, 1536 * MiB, 0, NULL, 0, NULL);
        }
        /* cpus are its larger share, so the walk goes by cpus and meets the thin agents first */
        tspec_init(&t, "t1", "r", 4, 1792 * MiB);
        assert_string_equal(expect_placed(c, &t), "fat");
        tspec_init(&t, "t2", "r", 1, 600 * GiB);
        expect_reason(c, &t, "mem: needs 600Gi, the largest free is 510.2Gi (node-fat)");
}

static void test_fit_several_disks(void **state)
{
        _cleanup_(alloc_cluster_freep) struct alloc_cluster *c = NULL;
        struct silo_disk disks[] = {
            disk_make("nvme0n1", "ssd", 2000 * MB, 1000 * MB, 200000, 100000),
            disk_make("sda", "hdd", 150 * MB, 100 * MB, 200, 200),
            disk_make("nvme1n1", "ssd", 4000 * MB, 2000 * MB, 400000, 200000),
        };
        struct alloc_result res;
        struct tspec t;
        double used;
        (void)state;

        assert_int_equal(alloc_cluster_new(&c), 0);
        agent_add(c, "A", "node-1", 16, 64 * GiB, 0, disks, 3, NULL);
        /* 500 MB/s of writes: cost 0.5 on nvme0n1, 0.25 on nvme1n1: best fit is nvme0n1 */
        tspec_init(&t, "t1", "r", 1, 1 * GiB);
        tspec_io(&t, "any", "ssd")->limit[SILO_IO_WBPS] = 500 * MB;
        assert_true(place1(c, &t, &res));
        assert_string_equal(res.disks[0], "nvme0n1");
        assert_near(res.io_cost[0], 0.5, 1e-12);
        /* 600 MB/s: 0.6 does not fit nvme0n1's 0.5 left; 0.3 on nvme1n1 */
        tspec_init(&t, "t2", "r", 1, 1 * GiB);
        tspec_io(&t, "any", "ssd")->limit[SILO_IO_WBPS] = 600 * MB;
        assert_true(place1(c, &t, &res));
        assert_string_equal(res.disks[0], "nvme1n1");
        assert_near(res.io_cost[0], 0.3, 1e-12);
        /* a named disk, with mixed dimensions: 50/150 + 100/200 IOPS = 0.3333 + 0.5 */
        tspec_init(&t, "t3", "r", 1, 1 * GiB);
        {
                struct silo_io_request *io = tspec_io(&t, "sda", NULL);

                io->limit[SILO_IO_RBPS] = 50 * MB;
                io->limit[SILO_IO_WIOPS] = 100;
        }
        assert_true(place1(c, &t, &res));
        assert_string_equal(res.disks[0], "sda");
        assert_near(res.io_cost[0], 50.0 / 150 + 0.5, 1e-12);
        /* two entries of one task: both fit only if the second goes elsewhere; 0.4 + 0.4 on
         * nvme0n1 (0.5 free) is refused, so the second goes to nvme1n1 */
        tspec_init(&t, "t4", "r", 1, 1 * GiB);
        tspec_io(&t, "any", "ssd")->limit[SILO_IO_WBPS] = 400 * MB; /* 0.4 on nvme0n1, 0.2 on nvme1n1 */
        tspec_io(&t, "any", "ssd")->limit[SILO_IO_WBPS] = 400 * MB;
        assert_true(place1(c, &t, &res));
        assert_int_equal(res.n_io, 2);
        assert_string_equal(res.disks[0], "nvme0n1");
        assert_string_equal(res.disks[1], "nvme1n1");
        assert_int_equal(alloc_disk_get_used(c, "A", "nvme0n1", &used), 0);
        assert_near(used, 0.9, 1e-12);
        assert_int_equal(alloc_disk_get_used(c, "A", "nvme1n1", &used), 0);
        assert_near(used, 0.5, 1e-12);
        /* release gives the io cost back */
        assert_int_equal(alloc_task_release(c, "t4"), 0);
        assert_int_equal(alloc_disk_get_used(c, "A", "nvme0n1", &used), 0);
        assert_near(used, 0.5, 1e-12);
        assert_int_equal(alloc_disk_get_used(c, "A", "sdz", &used), -ENOENT);
}

/* A disk at 0.9 refuses a 0.2 request and takes a 0.1 one. */
static void test_io_cost_budget(void **state)
{
        _cleanup_(alloc_cluster_freep) struct alloc_cluster *c = NULL;
        struct silo_disk d = disk_make("nvme0n1", "ssd", 1000 * MB, 1000 * MB, 100000, 100000);
        struct alloc_result res;
        struct tspec t;
        double cost, used;
        (void)state;

        assert_int_equal(alloc_cluster_new(&c), 0);
        agent_add(c, "A", "node-1", 16, 64 * GiB, 0, &d, 1, NULL);
        tspec_init(&t, "t1", "r", 1, 1 * GiB);
        {
                struct silo_io_request *io = tspec_io(&t, "any", "ssd");

                io->limit[SILO_IO_RBPS] = 400 * MB; /* 0.4 */
                io->limit[SILO_IO_RIOPS] = 50000;   /* 0.5 */
        }
        assert_int_equal(alloc_io_cost(&t.io[0], &d, &cost, NULL), 0);
        assert_near(cost, 0.9, 1e-12);
        assert_true(place1(c, &t, &res));
        assert_int_equal(alloc_disk_get_used(c, "A", "nvme0n1", &used), 0);
        assert_near(used, 0.9, 1e-12);

        tspec_init(&t, "t2", "r", 1, 1 * GiB);
        tspec_io(&t, "any", "ssd")->limit[SILO_IO_WBPS] = 200 * MB;
        expect_reason(c, &t,
                      "resources.io[0]: no agent has a disk of class ssd with 0.2 io cost free "
                      "(best: node-1/nvme0n1 at 0.1)");
        tspec_init(&t, "t3", "r", 1, 1 * GiB);
        tspec_io(&t, "any", "ssd")->limit[SILO_IO_WBPS] = 100 * MB; /* exactly fills the disk to 1 */
        expect_placed(c, &t);
        assert_int_equal(alloc_disk_get_used(c, "A", "nvme0n1", &used), 0);
        assert_near(used, 1.0, 1e-12);
}

static void test_io_unknown_figure(void **state)
{
        _cleanup_(alloc_cluster_freep) struct alloc_cluster *c = NULL;
        struct silo_disk d = disk_make("sda", "hdd", 150 * MB, 120 * MB, 0, 0);
        silo_io_limit missing = SILO_IO_RBPS;
        struct tspec t;
        double cost;
        (void)state;

        assert_int_equal(alloc_cluster_new(&c), 0);
        agent_add(c, "A", "node-1", 16, 64 * GiB, 0, &d, 1, NULL);
        tspec_init(&t, "t1", "r", 1, 1 * GiB);
        tspec_io(&t, "any", "hdd")->limit[SILO_IO_WIOPS] = 200;
        assert_int_equal(alloc_io_cost(&t.io[0], &d, &cost, &missing), -EDOM);
        assert_string_equal(silo_io_figure_to_string(missing), "write_iops");
        expect_reason(c, &t,
                      "resources.io[0]: no disk of class hdd knows its write_iops, which wiops "
                      "limits (calibrate the disk or configure its figures)");
        /* bandwidth it knows: placed */
        tspec_init(&t, "t2", "r", 1, 1 * GiB);
        tspec_io(&t, "any", "hdd")->limit[SILO_IO_WBPS] = 60 * MB;
        expect_placed(c, &t);
        /* an entry without limits (weight only) costs nothing but still gets a disk */
        tspec_init(&t, "t3", "r", 1, 1 * GiB);
        tspec_io(&t, "sda", NULL)->weight = 100;
        expect_placed(c, &t);
}

/* ---- constraints ---- */

static void test_constraints(void **state)
{
        _cleanup_(alloc_cluster_freep) struct alloc_cluster *c = NULL;
        struct tspec t;
        (void)state;

        assert_int_equal(alloc_cluster_new(&c), 0);
        agent_add(c, "A", "node-1", 4, 16 * GiB, 0, NULL, 0, "r1");
        agent_add(c, "B", "node-2", 8, 16 * GiB, 0, NULL, 0, "r2");
        agent_add(c, "C", "node-3", 16, 16 * GiB, 0, NULL, 0, "r2");

        tspec_init(&t, "h1", "r", 1, 1 * GiB);
        t.spec.constraints.hostname = (char *)"node-3";
        assert_string_equal(expect_placed(c, &t), "C"); /* best fit would be node-1 */
        tspec_init(&t, "h2", "r", 1, 1 * GiB);
        t.spec.constraints.hostname = (char *)"node-9";
        expect_reason(c, &t, "hostname: no agent is named node-9");

        tspec_init(&t, "a1", "r", 1, 1 * GiB);
        t.attr = (struct silo_kv){.key = (char *)"rack", .value = (char *)"r2"};
        t.spec.constraints.attributes = &t.attr;
        t.spec.constraints.n_attributes = 1;
        assert_string_not_equal(expect_placed(c, &t), "A"); /* B or C: those of rack r2 */
        tspec_init(&t, "a2", "r", 1, 1 * GiB);
        t.attr = (struct silo_kv){.key = (char *)"rack", .value = (char *)"r9"};
        t.spec.constraints.attributes = &t.attr;
        t.spec.constraints.n_attributes = 1;
        expect_reason(c, &t, "attributes: no agent has rack=r9");
        tspec_init(&t, "a3", "r", 1, 1 * GiB);
        t.attr = (struct silo_kv){.key = (char *)"rack", .value = (char *)"r2"};
        t.spec.constraints.attributes = &t.attr;
        t.spec.constraints.n_attributes = 1;
        t.spec.constraints.hostname = (char *)"node-1";
        expect_reason(c, &t, "attributes: no agent named node-1 has rack=r2");
        /* capacity among matching agents only: rack r1 has 4 cpus */
        tspec_init(&t, "a4", "r", 6, 1 * GiB);
        t.attr = (struct silo_kv){.key = (char *)"rack", .value = (char *)"r1"};
        t.spec.constraints.attributes = &t.attr;
        t.spec.constraints.n_attributes = 1;
        expect_reason(c, &t, "cpus: needs 6, the largest free is 4 (node-1)");
}

static void test_spread(void **state)
{
        _cleanup_(alloc_cluster_freep) struct alloc_cluster *c = NULL;
        struct tspec t[4];
        const struct silo_task_spec *specs[4];
        struct alloc_result res[4];
        const char *freed;
        char id[16];
        (void)state;

        assert_int_equal(alloc_cluster_new(&c), 0);
        agent_add(c, "A", "node-1", 16, 64 * GiB, 0, NULL, 0, NULL);
        agent_add(c, "B", "node-2", 16, 64 * GiB, 0, NULL, 0, NULL);
        agent_add(c, "C", "node-3", 16, 64 * GiB, 0, NULL, 0, NULL);
        for (int i = 0; i < 4; i++) {
                snprintf(id, sizeof(id), "shard-7-%d", i);
                tspec_init(&t[i], id, "storage", 1, 1 * GiB);
                t[i].spec.group = (char *)"shard-7";
                t[i].spec.constraints.spread = SILO_SPREAD_HOSTNAME;
                specs[i] = &t[i].spec;
        }
        /* one batch: three replicas on three distinct agents (best fit alone would stack them) */
        assert_int_equal(alloc_place_batch(c, specs, 4, res), 3);
        assert_true(res[0].placed && res[1].placed && res[2].placed);
        assert_string_not_equal(res[0].agent_id, res[1].agent_id);
        assert_string_not_equal(res[0].agent_id, res[2].agent_id);
        assert_string_not_equal(res[1].agent_id, res[2].agent_id);
        assert_string_equal(res[3].reason, "spread: all 3 agents already run group shard-7");
        freed = res[1].agent_id; /* owned by the cluster while the agent exists */
        alloc_results_clear(res, 4);
        /* a replica ends: the fourth goes where it ran */
        assert_int_equal(alloc_task_release(c, "shard-7-1"), 0);
        assert_int_equal(alloc_place_batch(c, &specs[3], 1, res), 1);
        assert_string_equal(res[0].agent_id, freed);
        /* without spread, a group member may share an agent */
        tspec_init(&t[0], "other", "storage", 1, 1 * GiB);
        t[0].spec.group = (char *)"shard-7";
        expect_placed(c, &t[0]);
        /* spread with a constraint that leaves one agent */
        tspec_init(&t[1], "one", "storage", 1, 1 * GiB);
        t[1].spec.group = (char *)"shard-7";
        t[1].spec.constraints.spread = SILO_SPREAD_HOSTNAME;
        t[1].spec.constraints.hostname = (char *)"node-2";
        expect_reason(c, &t[1], "spread: the only agent that matches already runs group shard-7");
}

/* A spread task's reason counts only the agents not running its group, even when the cluster's
 * largest hole is on one that does. */
static void test_spread_reason_skips_group(void **state)
{
        _cleanup_(alloc_cluster_freep) struct alloc_cluster *c = NULL;
        struct tspec t;
        (void)state;

        assert_int_equal(alloc_cluster_new(&c), 0);
        agent_add(c, "A", "node-1", 32, 64 * GiB, 0, NULL, 0, NULL);
        agent_add(c, "B", "node-2", 8, 64 * GiB, 0, NULL, 0, NULL);
        agent_add(c, "C", "node-3", 4, 64 * GiB, 0, NULL, 0, NULL);
        agent_add(c, "D", "node-4", 4, 64 * GiB, 0, NULL, 0, NULL);
        agent_add(c, "E", "node-5", 4, 64 * GiB, 0, NULL, 0, NULL);
        tspec_init(&t, "g1", "r", 1, 1 * GiB);
        t.spec.group = (char *)"shard-1";
        t.spec.constraints.hostname = (char *)"node-1";
        assert_string_equal(expect_placed(c, &t), "A");
        tspec_init(&t, "g2", "r", 12, 1 * GiB);
        t.spec.group = (char *)"shard-1";
        t.spec.constraints.spread = SILO_SPREAD_HOSTNAME;
        expect_reason(c, &t, "cpus: needs 12, the largest free is 8 (node-2)");
        /* the same task without spread fits node-1 */
        tspec_init(&t, "g3", "r", 12, 1 * GiB);
        t.spec.group = (char *)"shard-1";
        assert_string_equal(expect_placed(c, &t), "A");
}

/* ---- objective ---- */

static void test_priority_objective(void **state)
{
        _cleanup_(alloc_cluster_freep) struct alloc_cluster *c = NULL;
        struct tspec run, t[4];
        const struct silo_task_spec *specs[4];
        struct alloc_result res[4];
        (void)state;

        assert_int_equal(alloc_cluster_new(&c), 0);
        agent_add(c, "A", "node-1", 4, 16 * GiB, 0, NULL, 0, NULL);
        tspec_init(&run, "running-low", "r", 2, 1 * GiB);
        run.spec.priority = 1;
        assert_int_equal(alloc_task_charge(c, &run.spec, "A", NULL), 0);

        /* submitted low first; the high one gets the 2 free cpus, the running task stays */
        tspec_init(&t[0], "low", "r", 2, 1 * GiB);
        t[0].spec.priority = 1;
        tspec_init(&t[1], "high", "r", 2, 1 * GiB);
        t[1].spec.priority = 10;
        specs[0] = &t[0].spec;
        specs[1] = &t[1].spec;
        assert_int_equal(alloc_place_batch(c, specs, 2, res), 1);
        assert_false(res[0].placed);
        assert_true(res[1].placed);
        assert_true(alloc_task_is_charged(c, "running-low"));
        assert_string_equal(res[0].reason, "cpus: needs 2, the largest free is 0 (node-1)");
        alloc_results_clear(res, 2);

        /* priority per dominant share: two 1-cpu tasks of priority 6 (6/0.125 each) beat one
         * 2-cpu task of priority 10 (10/0.25) for the 2 cpus left after releasing "high" */
        assert_int_equal(alloc_task_release(c, "high"), 0);
        tspec_init(&t[0], "big10", "r", 2, 1 * GiB);
        t[0].spec.priority = 10;
        tspec_init(&t[1], "small6a", "r", 1, 1 * GiB);
        t[1].spec.priority = 6;
        tspec_init(&t[2], "small6b", "r", 1, 1 * GiB);
        t[2].spec.priority = 6;
        /* default priority 0 comes after every positive one */
        tspec_init(&t[3], "zero", "r", 0.001, 0);
        for (int i = 0; i < 4; i++)
                specs[i] = &t[i].spec;
        assert_int_equal(alloc_place_batch(c, specs, 4, res), 2);
        assert_false(res[0].placed);
        assert_true(res[1].placed && res[2].placed);
        assert_false(res[3].placed);
        alloc_results_clear(res, 4);
}

/* ---- every other pending reason ---- */

static void test_reasons(void **state)
{
        _cleanup_(alloc_cluster_freep) struct alloc_cluster *c = NULL;
        struct silo_disk disks[] = {
            disk_make("nvme0n1", "ssd", 2000 * MB, 1000 * MB, 200000, 100000),
        };
        struct tspec t, fill;
        (void)state;

        assert_int_equal(alloc_cluster_new(&c), 0);
        tspec_init(&t, "t", "r", 1, 1 * GiB);
        expect_reason(c, &t, "no agents registered");

        agent_add(c, "A", "node-1", 4, 8 * GiB, 100, disks, 1, NULL);
        agent_add(c, "B", "node-2", 2, 16 * GiB, 0, NULL, 0, NULL);
        tspec_init(&t, "t", "r", 8, 1 * GiB);
        expect_reason(c, &t, "cpus: needs 8, the largest free is 4 (node-1)");
        tspec_init(&t, "t", "r", 1, 20 * GiB);
        expect_reason(c, &t, "mem: needs 20Gi, the largest free is 16Gi (node-2)");
        tspec_init(&t, "t", "r", 1, 1536 * MiB);
        t.spec.resources.pids = 200;
        /* node-2 reports no pids figure: it has no pids limit to run out of */
        expect_placed(c, &t);
        assert_int_equal(alloc_task_release(c, "t"), 0);
        tspec_init(&t, "t", "r", 3, 1 * GiB);
        t.spec.resources.pids = 200;
        expect_reason(c, &t,
                      "no agent has cpus 3, mem 1Gi and pids 200 free together "
                      "(closest: node-1, short of pids: needs 200, 100 free)");
        tspec_init(&t, "t", "r", 3, 10 * GiB);
        expect_reason(c, &t,
                      "no agent has cpus 3 and mem 10Gi free together "
                      "(closest: node-1, short of mem: needs 10Gi, 8Gi free)");
        tspec_init(&t, "t", "r", 1, 1 * GiB);
        tspec_io(&t, "sdz", NULL)->limit[SILO_IO_WBPS] = MB;
        expect_reason(c, &t, "resources.io[0]: no agent has a disk named sdz");
        tspec_init(&t, "t", "r", 1, 1 * GiB);
        tspec_io(&t, "any", "hdd")->limit[SILO_IO_WBPS] = MB;
        expect_reason(c, &t, "resources.io[0]: no agent has a disk of class hdd");
        tspec_init(&t, "t", "r", 1, 1 * GiB);
        tspec_io(&t, "any", NULL)->limit[SILO_IO_WBPS] = 1500 * MB;
        expect_reason(c, &t,
                      "resources.io[0]: no agent has a disk with 1.5 io cost free "
                      "(best: node-1/nvme0n1 at 1)");
        tspec_init(&t, "t", "r", 1, 1 * GiB);
        tspec_io(&t, "nvme0n1", NULL)->limit[SILO_IO_WBPS] = 1500 * MB;
        expect_reason(c, &t,
                      "resources.io[0]: no agent has a disk named nvme0n1 with 1.5 io cost "
                      "free (best: node-1/nvme0n1 at 1)");
        /* io fits node-1 but cpus only node-1... mem only node-2: short of io on node-2 */
        tspec_init(&t, "t", "r", 1, 12 * GiB);
        tspec_io(&t, "any", NULL)->limit[SILO_IO_WBPS] = 100 * MB;
        expect_reason(c, &t,
                      "no agent has cpus 1, mem 12Gi and io free together "
                      "(closest: node-1, short of mem: needs 12Gi, 8Gi free)");
        /* a full cluster in one dimension names the agent with the most left */
        tspec_init(&fill, "fill", "r", 3, 1 * GiB);
        expect_placed(c, &fill);
        tspec_init(&t, "t", "r", 2.5, 0);
        expect_reason(c, &t, "cpus: needs 2.5, the largest free is 2 (node-2)");
        /* not the allocator's to place: the master refuses these at submission, with the
         * messages users see (test-master-api); here they break the documented precondition */
        {
                const struct silo_task_spec *specs[] = {&t.spec};
                struct alloc_result res;

                tspec_init(&t, "t", "r", 1, 1 * GiB);
                tspec_io(&t, NULL, NULL)->device = (char *)"/dev/sda";
                assert_false(alloc_spec_is_checked(&t.spec));
                assert_int_equal(alloc_place_batch(c, specs, 1, &res), -EINVAL);
                tspec_init(&t, "t", "r", 1, 1 * GiB);
                for (int i = 0; i <= ALLOC_IO_MAX; i++)
                        tspec_io(&t, "any", NULL);
                assert_false(alloc_spec_is_checked(&t.spec));
                assert_int_equal(alloc_place_batch(c, specs, 1, &res), -EINVAL);
                assert_int_equal(alloc_task_charge(c, &t.spec, "A", NULL), -EINVAL);
                assert_false(alloc_task_is_charged(c, "t"));
        }
}

/* ---- agent lifecycle and batch errors ---- */

static void test_agents_and_errors(void **state)
{
        _cleanup_(alloc_cluster_freep) struct alloc_cluster *c = NULL;
        struct silo_disk d = disk_make("nvme0n1", "ssd", 1000 * MB, 1000 * MB, 100000, 100000);
        struct silo_agent_registration reg = {
            .hostname = (char *)"node-1b",
            .resources = {.cpus = 2, .mem = 4 * GiB, .disks = &d, .n_disks = 1},
        };
        struct tspec t, u;
        const struct silo_task_spec *specs[2];
        struct alloc_result res[2];
        struct alloc_agent_free f;
        double used;
        (void)state;

        assert_int_equal(alloc_cluster_new(&c), 0);
        agent_add(c, "A", "node-1", 4, 8 * GiB, 0, &d, 1, NULL);
        assert_int_equal(alloc_agent_add(c, "A", &reg), -EEXIST);
        tspec_init(&t, "t1", "r", 3, 1 * GiB);
        tspec_io(&t, "any", NULL)->limit[SILO_IO_WBPS] = 300 * MB;
        expect_placed(c, &t);
        /* an update shrinks the agent; the task stays charged, its disk charge follows the name */
        assert_int_equal(alloc_agent_update(c, "A", &reg), 0);
        assert_int_equal(alloc_agent_get_free(c, "A", &f), 0);
        assert_near(f.cpus, -1, 1e-9);
        assert_int_equal(alloc_disk_get_used(c, "A", "nvme0n1", &used), 0);
        assert_near(used, 0.3, 1e-12);
        tspec_init(&u, "t2", "r", 0.5, 0);
        expect_reason(c, &u, "cpus: needs 0.5, the largest free is 0 (node-1b)");
        assert_int_equal(alloc_agent_update(c, "Z", &reg), -ENOENT);

        /* batch errors leave nothing charged */
        tspec_init(&u, "t2", "r", 0.5, 0);
        specs[0] = &u.spec;
        specs[1] = &u.spec;
        assert_int_equal(alloc_place_batch(c, specs, 2, res), -EEXIST);
        specs[1] = &t.spec;
        assert_int_equal(alloc_place_batch(c, specs, 1, res), 0);
        alloc_results_clear(res, 1);
        assert_int_equal(alloc_place_batch(c, &specs[1], 1, res), -EEXIST); /* t1 is charged */
        u.spec.id = NULL;
        assert_int_equal(alloc_place_batch(c, specs, 1, res), -EINVAL);
        assert_int_equal(alloc_task_charge(c, &t.spec, "A", (const char *const[]){"nvme0n1"}),
                         -EEXIST);
        assert_int_equal(alloc_task_charge(c, &t.spec, "Q", (const char *const[]){"nvme0n1"}),
                         -ENOENT);
        tspec_init(&u, "t3", "r", 0.5, 0);
        tspec_io(&u, "any", NULL);
        assert_int_equal(alloc_task_charge(c, &u.spec, "A", (const char *const[]){"sdq"}), -ENXIO);

        /* removing the agent releases its task */
        assert_int_equal(alloc_agent_remove(c, "A"), 1);
        assert_false(alloc_task_is_charged(c, "t1"));
        assert_near(alloc_role_dominant_share(c, "r"), 0, 0);
        assert_int_equal(alloc_agent_remove(c, "A"), -ENOENT);
        assert_int_equal(alloc_cluster_n_agents(c), 0);
}

/* An update that changes the hostname and attributes moves the agent in every lookup. */
static void test_agent_update_relinks(void **state)
{
        _cleanup_(alloc_cluster_freep) struct alloc_cluster *c = NULL;
        struct silo_kv attr = {.key = (char *)"rack", .value = (char *)"r2"};
        struct silo_agent_registration reg = {
            .hostname = (char *)"node-new",
            .resources = {.cpus = 4, .mem = 8 * GiB},
            .attributes = &attr,
            .n_attributes = 1,
        };
        struct tspec t;
        (void)state;

        assert_int_equal(alloc_cluster_new(&c), 0);
        agent_add(c, "A", "node-old", 4, 8 * GiB, 0, NULL, 0, "r1");
        agent_add(c, "B", "node-b", 4, 8 * GiB, 0, NULL, 0, "r1");
        assert_int_equal(alloc_agent_update(c, "A", &reg), 0);
        tspec_init(&t, "t1", "r", 1, 1 * GiB);
        t.attr = (struct silo_kv){.key = (char *)"rack", .value = (char *)"r2"};
        t.spec.constraints.attributes = &t.attr;
        t.spec.constraints.n_attributes = 1;
        assert_string_equal(expect_placed(c, &t), "A");
        tspec_init(&t, "t2", "r", 1, 1 * GiB);
        t.spec.constraints.hostname = (char *)"node-new";
        assert_string_equal(expect_placed(c, &t), "A");
        tspec_init(&t, "t3", "r", 1, 1 * GiB);
        t.spec.constraints.hostname = (char *)"node-old";
        expect_reason(c, &t, "hostname: no agent is named node-old");
        assert_int_equal(alloc_agent_remove(c, "B"), 0);
        tspec_init(&t, "t4", "r", 1, 1 * GiB);
        t.attr = (struct silo_kv){.key = (char *)"rack", .value = (char *)"r1"};
        t.spec.constraints.attributes = &t.attr;
        t.spec.constraints.n_attributes = 1;
        expect_reason(c, &t, "attributes: no agent has rack=r1");
        assert_int_equal(alloc_agent_remove(c, "A"), 2);
}

/* ---- randomised: every placement fits, and every pending task really fits nowhere ---- */

static uint64_t rnd_state = 88172645463325252ULL;

static uint64_t rnd(void)
{
        rnd_state ^= rnd_state << 13;
        rnd_state ^= rnd_state >> 7;
        rnd_state ^= rnd_state << 17;
        return rnd_state;
}

#define R_AGENTS 40
#define R_TASKS 400

/* ---- host ports ---- */

static void agent_add_ports(struct alloc_cluster *c, const char *id, const char *host, double cpus,
                            uint64_t mem, uint16_t port_min, uint16_t port_max)
{
        struct silo_agent_registration reg = {
            .hostname = (char *)host,
            .resources = {.cpus = cpus, .mem = mem, .port_min = port_min, .port_max = port_max},
        };

        assert_int_equal(alloc_agent_add(c, id, &reg), 0);
}

struct pspec {
        struct tspec t;
        struct silo_port_mapping ports[SILO_CONTAINER_PORTS_MAX];
};

/* A bridge task asking for the given host ports (0: chosen) of one protocol. */
static void pspec_init(struct pspec *p, const char *id, double cpus, uint64_t mem,
                       silo_port_proto proto, const uint16_t *hosts, size_t n)
{
        tspec_init(&p->t, id, "default", cpus, mem);
        p->t.spec.has_container = true;
        p->t.spec.container.network = SILO_NETWORK_BRIDGE;
        p->t.spec.container.ports = p->ports;
        p->t.spec.container.n_ports = n;
        for (size_t i = 0; i < n; i++)
                p->ports[i] = (struct silo_port_mapping){
                    .container = (uint16_t)(8000 + i), .host = hosts[i], .proto = proto};
}

static struct alloc_result place_ok(struct alloc_cluster *c, struct pspec *p)
{
        struct alloc_result res;

        if (!place1(c, &p->t, &res)) {
                print_error("unexpected pending: %s\n", res.reason);
                alloc_results_clear(&res, 1);
                fail();
        }
        assert_int_equal(res.n_ports, p->t.spec.container.n_ports);
        return res;
}

static uint32_t free_tcp(struct alloc_cluster *c, const char *agent)
{
        struct alloc_agent_free f;

        assert_int_equal(alloc_agent_get_free(c, agent, &f), 0);
        return f.ports_free[SILO_PORT_TCP];
}

/* A fixed host port is placed only where it is in the range and free, per protocol; it is free
 * again when its task ends; a pending task's reason names the port and its holder. */
static void test_ports_fixed(void **state)
{
        _cleanup_(alloc_cluster_freep) struct alloc_cluster *c = NULL;
        struct pspec a, b, u, out;
        struct alloc_result res;
        (void)state;

        assert_int_equal(alloc_cluster_new(&c), 0);
        agent_add_ports(c, "A", "node-1", 8, 16 * GiB, 20000, 20010);
        assert_int_equal(free_tcp(c, "A"), 11);
        pspec_init(&a, "pg-1", 1, 1 * GiB, SILO_PORT_TCP, (const uint16_t[]){20005}, 1);
        res = place_ok(c, &a);
        assert_int_equal(res.host_ports[0], 20005);
        assert_int_equal(free_tcp(c, "A"), 10);
        pspec_init(&b, "pg-2", 1, 1 * GiB, SILO_PORT_TCP, (const uint16_t[]){20005}, 1);
        expect_reason(c, &b.t,
                      "container.ports[0]: host port 20005/tcp is taken on every agent that "
                      "offers it (node-1: task pg-1)");
        /* the same number over udp is another port */
        pspec_init(&u, "dns-1", 1, 1 * GiB, SILO_PORT_UDP, (const uint16_t[]){20005}, 1);
        res = place_ok(c, &u);
        assert_int_equal(res.host_ports[0], 20005);
        pspec_init(&out, "web-1", 1, 1 * GiB, SILO_PORT_TCP, (const uint16_t[]){80}, 1);
        expect_reason(c, &out.t,
                      "container.ports[0]: host port 80/tcp is outside every agent's port range "
                      "(node-1: 20000-20010)");
        /* the holder ends: the port is free for the second */
        assert_int_equal(alloc_task_release(c, "pg-1"), 0);
        assert_int_equal(free_tcp(c, "A"), 11);
        res = place_ok(c, &b);
        assert_int_equal(res.host_ports[0], 20005);
}

/* host 0 gets a free port of the chosen agent's range, different for every mapping and task,
 * never one the task names itself, and not the one just freed (the cursor rotates). */
static void test_ports_chosen(void **state)
{
        _cleanup_(alloc_cluster_freep) struct alloc_cluster *c = NULL;
        struct pspec a, b, d, e;
        struct alloc_result ra, rb, rd;
        (void)state;

        assert_int_equal(alloc_cluster_new(&c), 0);
        agent_add_ports(c, "A", "node-1", 8, 16 * GiB, 30000, 30003);
        pspec_init(&a, "a", 0.5, 0, SILO_PORT_TCP, (const uint16_t[]){0, 30000}, 2);
        ra = place_ok(c, &a);
        assert_int_equal(ra.host_ports[1], 30000);
        assert_true(ra.host_ports[0] > 30000 && ra.host_ports[0] <= 30003);
        pspec_init(&b, "b", 0.5, 0, SILO_PORT_TCP, (const uint16_t[]){0}, 1);
        rb = place_ok(c, &b);
        assert_true(rb.host_ports[0] >= 30000 && rb.host_ports[0] <= 30003);
        assert_int_not_equal(rb.host_ports[0], ra.host_ports[0]);
        assert_int_not_equal(rb.host_ports[0], 30000);
        assert_int_equal(free_tcp(c, "A"), 1);
        pspec_init(&d, "d", 0.5, 0, SILO_PORT_TCP, (const uint16_t[]){0, 0}, 2);
        expect_reason(c, &d.t,
                      "container.ports: needs 2 tcp host ports, the most free is 1 (node-1)");
        /* b's port is freed; the next choice takes the port no one had yet */
        assert_int_equal(alloc_task_release(c, "b"), 0);
        pspec_init(&e, "e", 0.5, 0, SILO_PORT_TCP, (const uint16_t[]){0}, 1);
        rd = place_ok(c, &e);
        assert_int_not_equal(rd.host_ports[0], rb.host_ports[0]);
        assert_int_not_equal(rd.host_ports[0], ra.host_ports[0]);
        assert_int_not_equal(rd.host_ports[0], 30000);
        /* now 1 free, b's old port: d still does not fit, a one-port task takes it */
        assert_int_equal(free_tcp(c, "A"), 1);
        pspec_init(&b, "b2", 0.5, 0, SILO_PORT_TCP, (const uint16_t[]){0}, 1);
        rb = place_ok(c, &b);
        assert_int_equal(free_tcp(c, "A"), 0);
}

/* An agent without a range takes no task with ports (but any other); a port taken on one agent
 * sends the task to another; when ports and capacity are free on different agents the reason
 * names the closest and what it lacks. */
static void test_ports_agents(void **state)
{
        _cleanup_(alloc_cluster_freep) struct alloc_cluster *c = NULL;
        struct pspec a, b, big;
        struct tspec plain;
        (void)state;

        assert_int_equal(alloc_cluster_new(&c), 0);
        agent_add(c, "N", "node-0", 16, 64 * GiB, 0, NULL, 0, NULL);
        pspec_init(&a, "a", 1, 1 * GiB, SILO_PORT_TCP, (const uint16_t[]){0}, 1);
        expect_reason(c, &a.t,
                      "container.ports: no agent offers host ports (silo-agent --task-ports)");
        tspec_init(&plain, "plain", "default", 1, 1 * GiB);
        assert_string_equal(expect_placed(c, &plain), "N");

        agent_add_ports(c, "A", "node-1", 4, 16 * GiB, 20000, 20010);
        agent_add_ports(c, "B", "node-2", 4, 2 * GiB, 20000, 20010);
        /* a needs more memory than B has: A; b finds 20005 taken there: B */
        pspec_init(&a, "a", 1, 4 * GiB, SILO_PORT_TCP, (const uint16_t[]){20005}, 1);
        assert_string_equal(place_ok(c, &a).agent_id, "A");
        pspec_init(&b, "b", 1, 1 * GiB, SILO_PORT_TCP, (const uint16_t[]){20005}, 1);
        assert_string_equal(place_ok(c, &b).agent_id, "B");
        /* 20005 is held on both; after b ends it is free only on B, which lacks memory */
        assert_int_equal(alloc_task_release(c, "b"), 0);
        pspec_init(&big, "big", 1, 8 * GiB, SILO_PORT_TCP, (const uint16_t[]){20005}, 1);
        expect_reason(c, &big.t,
                      "no agent has cpus 1 and mem 8Gi free together (closest: node-1, host port "
                      "20005/tcp is taken by task a)");
}

/* Within one pass a task that fails on its ports must not make an equal task without ports
 * fail too (the pass's memo of failed demands); a charge (master restart) holds its ports, a
 * port charged twice stays held until both end; a new range keeps the tasks' ports held. */
static void test_ports_pass_charge_update(void **state)
{
        _cleanup_(alloc_cluster_freep) struct alloc_cluster *c = NULL;
        struct pspec held, want, r1, r2;
        struct tspec plain;
        const struct silo_task_spec *specs[2];
        struct alloc_result res[2];
        struct silo_agent_registration reg = {
            .hostname = (char *)"node-1",
            .resources = {.cpus = 8, .mem = 16 * GiB, .port_min = 20000, .port_max = 20003},
        };
        (void)state;

        assert_int_equal(alloc_cluster_new(&c), 0);
        agent_add_ports(c, "A", "node-1", 8, 16 * GiB, 20000, 20010);
        pspec_init(&held, "held", 1, 1 * GiB, SILO_PORT_TCP, (const uint16_t[]){20005}, 1);
        assert_int_equal(alloc_task_charge(c, &held.t.spec, "A", NULL), 0);
        assert_int_equal(free_tcp(c, "A"), 10);
        pspec_init(&want, "want", 1, 1 * GiB, SILO_PORT_TCP, (const uint16_t[]){20005}, 1);
        tspec_init(&plain, "plain", "default", 1, 1 * GiB);
        specs[0] = &want.t.spec;
        specs[1] = &plain.spec;
        assert_int_equal(alloc_place_batch(c, specs, 2, res), 1);
        assert_false(res[0].placed);
        assert_true(res[1].placed);
        alloc_results_clear(res, 2);

        /* two live tasks claim 20007 after a recovery: it stays held until the second ends */
        pspec_init(&r1, "r1", 0.1, 0, SILO_PORT_TCP, (const uint16_t[]){20007}, 1);
        pspec_init(&r2, "r2", 0.1, 0, SILO_PORT_TCP, (const uint16_t[]){20007}, 1);
        assert_int_equal(alloc_task_charge(c, &r1.t.spec, "A", NULL), 0);
        assert_int_equal(alloc_task_charge(c, &r2.t.spec, "A", NULL), 0);
        assert_int_equal(free_tcp(c, "A"), 9);
        assert_int_equal(alloc_task_release(c, "r1"), 0);
        assert_int_equal(free_tcp(c, "A"), 9);
        assert_int_equal(alloc_task_release(c, "r2"), 0);
        assert_int_equal(free_tcp(c, "A"), 10);

        /* the agent re-registers with 20000-20003: 20005 is outside, all four free; back to
         * 20000-20010 and the task's 20005 is held again */
        assert_int_equal(alloc_agent_update(c, "A", &reg), 0);
        assert_int_equal(free_tcp(c, "A"), 4);
        reg.resources.port_max = 20010;
        assert_int_equal(alloc_agent_update(c, "A", &reg), 0);
        assert_int_equal(free_tcp(c, "A"), 10);
        expect_reason(c, &want.t,
                      "container.ports[0]: host port 20005/tcp is taken on every agent that "
                      "offers it (node-1: task held)");
        assert_int_equal(alloc_task_release(c, "held"), 0);
        assert_int_equal(free_tcp(c, "A"), 11);
        /* the cluster's count of agents holding 20005 went up and down with the updates and the
         * release: the port is known free again, and want is placed */
        assert_int_equal(place_ok(c, &want).host_ports[0], 20005);

        /* an agent removed gives back what its tasks held cluster-wide: 20009 held on B only,
         * then B goes; a task asking for 20009 finds it free on A */
        agent_add_ports(c, "B", "node-2", 8, 16 * GiB, 20000, 20010);
        pspec_init(&r1, "on-b", 0.1, 0, SILO_PORT_TCP, (const uint16_t[]){20009}, 1);
        assert_int_equal(alloc_task_charge(c, &r1.t.spec, "B", NULL), 0);
        pspec_init(&r2, "on-a", 0.1, 0, SILO_PORT_TCP, (const uint16_t[]){20009}, 1);
        assert_int_equal(alloc_task_charge(c, &r2.t.spec, "A", NULL), 0);
        pspec_init(&held, "late", 0.1, 0, SILO_PORT_TCP, (const uint16_t[]){20009}, 1);
        expect_reason(c, &held.t,
                      "container.ports[0]: host port 20009/tcp is taken on every agent that "
                      "offers it (node-1: task on-a, node-2: task on-b)");
        assert_int_equal(alloc_agent_remove(c, "B"), 1);
        assert_int_equal(alloc_task_release(c, "on-a"), 0);
        assert_string_equal(place_ok(c, &held).agent_id, "A");
}

/* Agents with overlapping ranges: a port offered by one agent only is taken once there; ports
 * at the ends of the space (1 and 65535) count like any other. */
static void test_ports_overlapping_ranges(void **state)
{
        _cleanup_(alloc_cluster_freep) struct alloc_cluster *c = NULL;
        struct pspec x, y, z, lo, hi;
        (void)state;

        assert_int_equal(alloc_cluster_new(&c), 0);
        agent_add_ports(c, "A", "node-1", 8, 16 * GiB, 1, 20010);
        agent_add_ports(c, "B", "node-2", 8, 16 * GiB, 20005, 65535);
        pspec_init(&x, "x", 1, 1 * GiB, SILO_PORT_TCP, (const uint16_t[]){20015}, 1);
        assert_string_equal(place_ok(c, &x).agent_id, "B");
        pspec_init(&y, "y", 1, 1 * GiB, SILO_PORT_TCP, (const uint16_t[]){20015}, 1);
        expect_reason(c, &y.t,
                      "container.ports[0]: host port 20015/tcp is taken on every agent that "
                      "offers it (node-2: task x)");
        pspec_init(&z, "z", 1, 1 * GiB, SILO_PORT_TCP, (const uint16_t[]){20007}, 1);
        (void)place_ok(c, &z);
        pspec_init(&z, "z2", 1, 1 * GiB, SILO_PORT_TCP, (const uint16_t[]){20007}, 1);
        (void)place_ok(c, &z); /* the other agent offering 20007 */
        pspec_init(&lo, "lo", 1, 1 * GiB, SILO_PORT_UDP, (const uint16_t[]){1}, 1);
        assert_string_equal(place_ok(c, &lo).agent_id, "A");
        pspec_init(&hi, "hi", 1, 1 * GiB, SILO_PORT_UDP, (const uint16_t[]){65535}, 1);
        assert_string_equal(place_ok(c, &hi).agent_id, "B");
        pspec_init(&hi, "hi2", 1, 1 * GiB, SILO_PORT_UDP, (const uint16_t[]){65535}, 1);
        expect_reason(c, &hi.t,
                      "container.ports[0]: host port 65535/udp is taken on every agent that "
                      "offers it (node-2: task hi)");
        /* B leaves: 20015 is offered nowhere now */
        assert_int_equal(alloc_agent_remove(c, "B"), 3);
        expect_reason(c, &y.t,
                      "container.ports[0]: host port 20015/tcp is outside every agent's port "
                      "range (node-1: 1-20010)");
}

/* Many tasks asking for one fixed host port on a large cluster: each agent gets exactly one,
 * the rest wait with the port's holders named (the cluster's per-port count refuses them without
 * a search each: its speed is the alloc-throughput benchmark's business, not this test's). */
static void test_ports_held_everywhere(void **state)
{
        enum { N_AGENTS = 2000, N_TASKS = 20000 };
        _cleanup_(alloc_cluster_freep) struct alloc_cluster *c = NULL;
        _cleanup_free_ struct pspec *p = calloc(N_TASKS, sizeof(*p));
        _cleanup_free_ const struct silo_task_spec **specs = calloc(N_TASKS, sizeof(*specs));
        _cleanup_free_ struct alloc_result *res = calloc(N_TASKS, sizeof(*res));
        char id[32];
        (void)state;

        assert_non_null(p);
        assert_non_null(specs);
        assert_non_null(res);
        assert_int_equal(alloc_cluster_new(&c), 0);
        for (int i = 0; i < N_AGENTS; i++) {
                snprintf(id, sizeof(id), "a%d", i);
                agent_add_ports(c, id, id, 64, 256 * GiB, 20000, 32767);
        }
        for (int i = 0; i < N_TASKS; i++) {
                snprintf(id, sizeof(id), "t%d", i);
                pspec_init(&p[i], id, 0.5, 1 * GiB, SILO_PORT_TCP, (const uint16_t[]){5432 + 20000},
                           1);
                specs[i] = &p[i].t.spec;
        }
        assert_int_equal(alloc_place_batch(c, specs, N_TASKS, res), N_AGENTS);
        for (int i = 0; i < N_AGENTS; i++) {
                struct alloc_agent_free f;

                snprintf(id, sizeof(id), "a%d", i);
                assert_int_equal(alloc_agent_get_free(c, id, &f), 0);
                assert_int_equal(f.n_tasks, 1);
        }
        /* which task landed where is the pass's business: the holders named are a0, a1, a2 */
        assert_non_null(res[N_TASKS - 1].reason);
        assert_true(strncmp(res[N_TASKS - 1].reason,
                            "container.ports[0]: host port 25432/tcp is taken on every agent that "
                            "offers it (a0: task t",
                            strlen("container.ports[0]: host port 25432/tcp is taken on every "
                                   "agent that offers it (a0: task t")) == 0);
        assert_non_null(strstr(res[N_TASKS - 1].reason, ", a2: task t"));
        assert_non_null(strstr(res[N_TASKS - 1].reason, " and 1997 more)"));
        alloc_results_clear(res, N_TASKS);
}

/* Could the task go on this agent now? Checked from the public figures only. */
static bool brute_fits(struct alloc_cluster *c, const char *id,
                       const struct silo_agent_registration *reg, const struct silo_task_spec *s)
{
        const struct silo_resources *t = &s->resources;
        struct alloc_agent_free f;
        double extra[4] = {};

        assert_int_equal(alloc_agent_get_free(c, id, &f), 0);
        if (f.cpus * 1000 + 1e-6 < ceil(t->cpus * 1000 - 1e-6) ||
            (t->mem != SILO_UNSET && f.mem < t->mem) || (t->pids != SILO_UNSET && f.pids < t->pids))
                return false;
        if (s->constraints.n_attributes) {
                bool ok = false;

                for (size_t i = 0; i < reg->n_attributes; i++)
                        ok |= streq(reg->attributes[i].value, s->constraints.attributes[0].value);
                if (!ok)
                        return false;
        }
        /* io: any assignment of entries to disks (at most 2 entries, 4 disks: try all) */
        for (size_t d0 = 0; d0 < reg->resources.n_disks; d0++)
                for (size_t d1 = 0; d1 < (t->n_io > 1 ? reg->resources.n_disks : 1); d1++) {
                        size_t pick[2] = {d0, d1};
                        bool ok = true;

                        memset(extra, 0, sizeof(extra));
                        for (size_t i = 0; i < t->n_io && ok; i++) {
                                const struct silo_disk *d = &reg->resources.disks[pick[i]];
                                double cost, used;

                                ok = (!t->io[i].class || streq(t->io[i].class, d->class)) &&
                                     alloc_io_cost(&t->io[i], d, &cost, NULL) == 0 &&
                                     alloc_disk_get_used(c, id, d->name, &used) == 0 &&
                                     used + extra[pick[i]] + cost <= 1 + 1e-9;
                                if (ok)
                                        extra[pick[i]] += cost;
                        }
                        if (ok)
                                return true;
                }
        return false;
}

static void test_random_exact(void **state)
{
        _cleanup_(alloc_cluster_freep) struct alloc_cluster *c = NULL;
        static struct silo_agent_registration regs[R_AGENTS];
        static struct silo_disk disks[R_AGENTS][4];
        static struct silo_kv attrs[R_AGENTS];
        static char ids[R_AGENTS][16], hosts[R_AGENTS][16], names[R_AGENTS][4][8];
        static struct tspec t[R_TASKS];
        static const struct silo_task_spec *specs[R_TASKS];
        static struct alloc_result res[R_TASKS];
        static const char *const classes[] = {"ssd", "hdd"}, *const racks[] = {"r1", "r2", "r3"};
        (void)state;

        assert_int_equal(alloc_cluster_new(&c), 0);
        for (int j = 0; j < R_AGENTS; j++) {
                size_t nd = 1 + rnd() % 4;

                snprintf(ids[j], sizeof(ids[j]), "a%d", j);
                snprintf(hosts[j], sizeof(hosts[j]), "h%d", j);
                attrs[j] = (struct silo_kv){.key = (char *)"rack", .value = (char *)racks[j % 3]};
                for (size_t k = 0; k < nd; k++) {
                        snprintf(names[j][k], sizeof(names[j][k]), "d%zu", k);
                        disks[j][k] =
                            disk_make(names[j][k], classes[rnd() % 2], (100 + rnd() % 900) * MB,
                                      (100 + rnd() % 900) * MB, 1000 + rnd() % 9000, 0);
                }
                regs[j] = (struct silo_agent_registration){
                    .hostname = hosts[j],
                    .resources = {.cpus = (double)(2 + rnd() % 15),
                                  .mem = (1 + rnd() % 32) * GiB,
                                  .pids = 500 + rnd() % 1000,
                                  .disks = disks[j],
                                  .n_disks = nd},
                    .attributes = &attrs[j],
                    .n_attributes = 1,
                };
                assert_int_equal(alloc_agent_add(c, ids[j], &regs[j]), 0);
        }
        for (int round = 0; round < 3; round++) {
                int placed;
                char id[16];

                for (int i = 0; i < R_TASKS; i++) {
                        snprintf(id, sizeof(id), "r%d-%d", round, i);
                        tspec_init(&t[i], id, (const char *[]){"x", "y", "z"}[rnd() % 3],
                                   (double)(1 + rnd() % 16) / 4, (1 + rnd() % 16) * 512 * MiB);
                        t[i].spec.priority = (int64_t)(rnd() % 10);
                        t[i].spec.resources.pids = 10 + rnd() % 200;
                        for (uint64_t k = rnd() % 3; k > 0; k--) {
                                struct silo_io_request *io =
                                    tspec_io(&t[i], "any", rnd() % 3 ? classes[rnd() % 2] : NULL);

                                io->limit[SILO_IO_RBPS] = (1 + rnd() % 30) * 10 * MB;
                                if (rnd() % 4 == 0)
                                        io->limit[SILO_IO_WIOPS] = 100; /* no disk knows write_iops */
                        }
                        if (rnd() % 10 == 0) {
                                t[i].attr = (struct silo_kv){.key = (char *)"rack",
                                                             .value = (char *)racks[rnd() % 3]};
                                t[i].spec.constraints.attributes = &t[i].attr;
                                t[i].spec.constraints.n_attributes = 1;
                        }
                        specs[i] = &t[i].spec;
                }
                placed = alloc_place_batch(c, specs, R_TASKS, res);
                assert_true(placed > 0 && placed < R_TASKS);
                for (int i = 0; i < R_TASKS; i++) {
                        if (res[i].placed) {
                                assert_true(alloc_task_is_charged(c, t[i].id));
                                continue;
                        }
                        assert_non_null(res[i].reason);
                        for (int j = 0; j < R_AGENTS; j++)
                                if (brute_fits(c, ids[j], &regs[j], &t[i].spec)) {
                                        print_error("%s pending (%s) but fits %s\n", t[i].id,
                                                    res[i].reason, ids[j]);
                                        fail();
                                }
                }
                for (int j = 0; j < R_AGENTS; j++) {
                        struct alloc_agent_free f;

                        assert_int_equal(alloc_agent_get_free(c, ids[j], &f), 0);
                        assert_true(f.cpus >= -1e-9);
                        for (size_t k = 0; k < regs[j].resources.n_disks; k++) {
                                double used;

                                assert_int_equal(alloc_disk_get_used(c, ids[j], names[j][k], &used),
                                                 0);
                                assert_true(used <= 1 + 1e-9);
                        }
                }
                alloc_results_clear(res, R_TASKS);
                /* end half of the placed tasks before the next round */
                for (int i = 0; i < R_TASKS; i += 2)
                        if (alloc_task_is_charged(c, t[i].id))
                                assert_int_equal(alloc_task_release(c, t[i].id), 0);
        }
}


/* ---- persistent volumes ---- */

struct vspec {
        struct tspec t;
        struct silo_volume vol[ALLOC_VOLUMES_MAX + 1];
};

static void vspec_init(struct vspec *v, const char *id, double cpus)
{
        *v = (struct vspec){};
        tspec_init(&v->t, id, "storage", cpus, 0);
        v->t.spec.has_container = true;
        v->t.spec.container.volumes = v->vol;
}

static struct silo_volume *vspec_volume(struct vspec *v, const char *name, uint64_t size,
                                        const char *disk, const char *class)
{
        struct silo_volume *vol = &v->vol[v->t.spec.container.n_volumes++];

        *vol = (struct silo_volume){.name = (char *)name, .size = size, .disk = (char *)disk,
                                    .class = (char *)class, .target = (char *)"/data"};
        return vol;
}

/* Two agents with disks for volumes (a size) and one without (size 0). */
static struct alloc_cluster *volume_cluster(void)
{
        struct alloc_cluster *c = NULL;
        struct silo_disk d1[] = {disk_make("sda", "hdd", 100 * MB, 100 * MB, 100, 100),
                                 disk_make("nvme0n1", "ssd", 1000 * MB, 1000 * MB, 1000, 1000)};
        struct silo_disk d2[] = {disk_make("sdb", "hdd", 100 * MB, 100 * MB, 100, 100)};

        d1[0].size = 10 * GiB; /* sda: volumes */
        d1[1].size = 0;        /* nvme0n1: no filesystem for volumes */
        d2[0].size = 4 * GiB;
        assert_int_equal(alloc_cluster_new(&c), 0);
        agent_add(c, "A", "node-1", 4, 16 * GiB, 0, d1, 2, NULL);
        agent_add(c, "B", "node-2", 16, 64 * GiB, 0, d2, 1, NULL);
        return c;
}

/* A new volume goes to a disk with room (its io "any" entry with it), the sizes add up against
 * the disk's size, and the reason names the largest free space. */
static void test_volumes_new_capacity(void **state)
{
        _cleanup_(alloc_cluster_freep) struct alloc_cluster *c = volume_cluster();
        struct vspec a, b, d;
        struct alloc_result res;
        (void)state;

        vspec_init(&a, "a", 1);
        vspec_volume(&a, "pg", 5 * GiB, "any", NULL);
        tspec_io(&a.t, "any", NULL)->limit[SILO_IO_WBPS] = 10 * MB;
        assert_true(place1(c, &a.t, &res));
        assert_string_equal(res.agent_id, "A");
        assert_string_equal(res.volume_disk, "sda");
        /* nvme0n1 is the cheaper disk for the io entry, but the volume is on sda */
        assert_string_equal(res.disks[0], "sda");
        alloc_results_clear(&res, 1);
        assert_true(alloc_disk_volume_bytes(c, "A", "sda") == 5 * GiB);

        vspec_init(&b, "b", 1);
        vspec_volume(&b, "big", 6 * GiB, NULL, NULL);
        expect_reason(c, &b.t, "no disk has 6Gi free for volume 'big' (largest free: 5Gi on node-1/sda)");
        vspec_init(&d, "d", 1);
        vspec_volume(&d, "small", 4 * GiB, "sdb", NULL);
        assert_string_equal(expect_placed(c, &d.t), "B");
        assert_true(alloc_disk_volume_bytes(c, "B", "sdb") == 4 * GiB);
        /* the volume stays booked after its task ends, until removed */
        assert_int_equal(alloc_task_release(c, "a"), 0);
        assert_true(alloc_disk_volume_bytes(c, "A", "sda") == 5 * GiB);
        assert_int_equal(alloc_volume_remove(c, "pg"), 0);
        assert_int_equal(alloc_volume_remove(c, "pg"), -ENOENT);
        assert_true(alloc_disk_volume_bytes(c, "A", "sda") == 0);
        assert_string_equal(expect_placed(c, &b.t), "A");

        /* a class no disk with room has, a disk named that takes no volumes */
        vspec_init(&a, "e", 1);
        vspec_volume(&a, "fast", GiB, "any", "ssd");
        expect_reason(c, &a.t,
                      "volume 'fast': no disk offers room for volumes (a disk with a mount point "
                      "and a size) matching disk any, class ssd");
        vspec_init(&a, "f", 1);
        vspec_volume(&a, "fast", GiB, "nvme0n1", NULL);
        vspec_volume(&a, "fast2", GiB, "nvme0n1", NULL);
        expect_reason(c, &a.t,
                      "volumes 'fast' and 1 more (together): no disk offers room for volumes (a "
                      "disk with a mount point and a size) matching disk nvme0n1");
}

/* A task naming a known volume goes to its agent and disk only, or waits with the reason. */
static void test_volumes_pinned(void **state)
{
        _cleanup_(alloc_cluster_freep) struct alloc_cluster *c = volume_cluster();
        struct silo_disk d1[] = {disk_make("sda", "hdd", 100 * MB, 100 * MB, 100, 100)};
        struct silo_agent_registration reg = {
            .hostname = (char *)"node-1",
            .resources = {.cpus = 4, .mem = 16 * GiB, .disks = d1, .n_disks = 1},
        };
        struct vspec a, b, big;
        (void)state;

        d1[0].size = 10 * GiB;
        /* known before any task: as a master restarting or adopting an agent's volume */
        assert_int_equal(alloc_volume_set(c, "pg", "A", "sda", 2 * GiB), 0);
        vspec_init(&a, "a", 1);
        vspec_volume(&a, "pg", 2 * GiB, "any", NULL);
        tspec_io(&a.t, "any", "hdd")->limit[SILO_IO_RBPS] = 10 * MB;
        /* B has more of everything free, but the volume is on A */
        assert_string_equal(expect_placed(c, &a.t), "A");
        vspec_init(&big, "big", 8);
        vspec_volume(&big, "pg", 2 * GiB, "any", NULL);
        expect_reason(c, &big.t,
                      "volume 'pg' is on agent A (node-1), which cannot take the task now: short "
                      "of cpus: needs 8, 3 free");
        /* re-registering keeps the booking, on the disk by name */
        assert_int_equal(alloc_agent_update(c, "A", &reg), 0);
        assert_true(alloc_disk_volume_bytes(c, "A", "sda") == 2 * GiB);
        assert_int_equal(alloc_task_release(c, "a"), 0);
        assert_int_equal(alloc_agent_remove(c, "A"), 0);
        vspec_init(&b, "b", 1);
        vspec_volume(&b, "pg", 2 * GiB, "any", NULL);
        expect_reason(c, &b.t, "volume 'pg' is on agent A (disk sda), which is not active");
        /* it comes back: the task goes there, and the booking is counted again */
        assert_int_equal(alloc_agent_add(c, "A", &reg), 0);
        assert_true(alloc_disk_volume_bytes(c, "A", "sda") == 2 * GiB);
        assert_string_equal(expect_placed(c, &b.t), "A");
        /* a volume whose disk the agent no longer offers */
        assert_int_equal(alloc_volume_set(c, "old", "A", "gone", GiB), 0);
        vspec_init(&b, "c", 1);
        vspec_volume(&b, "old", GiB, "any", NULL);
        expect_reason(c, &b.t,
                      "volume 'old' is on disk gone of agent A (node-1), which the agent no "
                      "longer offers");
        /* two known volumes on two agents */
        assert_int_equal(alloc_volume_set(c, "other", "B", "sdb", GiB), 0);
        vspec_init(&b, "d", 1);
        vspec_volume(&b, "pg", 2 * GiB, "any", NULL);
        vspec_volume(&b, "other", GiB, "any", NULL);
        expect_reason(c, &b.t,
                      "container.volumes: volume 'pg' is on agent A and volume 'other' on agent "
                      "B; a task runs on one agent");
}

/* Two tasks of one pass naming the same new volume land together: the first books it. */
static void test_volumes_same_pass(void **state)
{
        _cleanup_(alloc_cluster_freep) struct alloc_cluster *c = volume_cluster();
        struct vspec a, b;
        const struct silo_task_spec *specs[2];
        struct alloc_result res[2];
        (void)state;

        vspec_init(&a, "a", 1);
        vspec_volume(&a, "shared", 3 * GiB, "any", NULL)->shared = true;
        vspec_init(&b, "b", 1);
        vspec_volume(&b, "shared", 3 * GiB, "any", NULL)->shared = true;
        specs[0] = &a.t.spec;
        specs[1] = &b.t.spec;
        assert_int_equal(alloc_place_batch(c, specs, 2, res), 2);
        assert_string_equal(res[0].agent_id, res[1].agent_id);
        assert_non_null(res[0].volume_disk);
        assert_null(res[1].volume_disk); /* known by then: nothing new */
        assert_true(alloc_disk_volume_bytes(c, res[0].agent_id, res[0].volume_disk) == 3 * GiB);
        alloc_results_clear(res, 2);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_drf_shares),
            cmocka_unit_test(test_drf_pass_paper_example),
            cmocka_unit_test(test_drf_pass_weighted),
            cmocka_unit_test(test_fit_best_agent_tight),
            cmocka_unit_test(test_fit_best_within_bucket),
            cmocka_unit_test(test_fit_alignment),
            cmocka_unit_test(test_fit_tree_fallback),
            cmocka_unit_test(test_fit_several_disks),
            cmocka_unit_test(test_io_cost_budget),
            cmocka_unit_test(test_io_unknown_figure),
            cmocka_unit_test(test_constraints),
            cmocka_unit_test(test_spread),
            cmocka_unit_test(test_spread_reason_skips_group),
            cmocka_unit_test(test_priority_objective),
            cmocka_unit_test(test_reasons),
            cmocka_unit_test(test_agents_and_errors),
            cmocka_unit_test(test_agent_update_relinks),
            cmocka_unit_test(test_random_exact),
            cmocka_unit_test(test_ports_fixed),
            cmocka_unit_test(test_ports_chosen),
            cmocka_unit_test(test_ports_agents),
            cmocka_unit_test(test_ports_pass_charge_update),
            cmocka_unit_test(test_ports_overlapping_ranges),
            cmocka_unit_test(test_ports_held_everywhere),
            cmocka_unit_test(test_volumes_new_capacity),
            cmocka_unit_test(test_volumes_pinned),
            cmocka_unit_test(test_volumes_same_pass),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
