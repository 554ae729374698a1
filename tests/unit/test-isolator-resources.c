/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for isolator/cgroup-resources: every limit to its exact cgroup file content. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "isolator/cgroup-internal.h"

static struct cg_limits res_unset(void)
{
        return (struct cg_limits){ .mem = CG_MAX, .mem_high = CG_MAX, .swap = CG_MAX,
                                   .pids = CG_MAX };
}

static struct cg_io_target io_unset(dev_t devnum, const char *name)
{
        struct cg_io_target io = { .dev = { .devnum = devnum },
                                   .limit = { CG_MAX, CG_MAX, CG_MAX, CG_MAX } };

        snprintf(io.dev.name, sizeof(io.dev.name), "%s", name);
        return io;
}

/* The value written to `name`, the n-th occurrence (0-based); NULL if absent. */
static const char *attr(const struct cg_attr_list *l, const char *name, int nth)
{
        for (size_t i = 0; i < l->n; i++)
                if (streq(l->attrs[i].name, name) && nth-- == 0)
                        return l->attrs[i].value;
        return NULL;
}

static void test_cpu_max(void **state)
{
        char buf[64];
        (void)state;

        assert_int_equal(cg_format_cpu_max(1.5, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "150000 100000");
        assert_int_equal(cg_format_cpu_max(0.5, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "50000 100000");
        assert_int_equal(cg_format_cpu_max(0.3, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "30000 100000");   /* not 29999 */
        assert_int_equal(cg_format_cpu_max(0.01, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "1000 100000");
        assert_int_equal(cg_format_cpu_max(64, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "6400000 100000");
        assert_int_equal(cg_format_cpu_max(0, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "max 100000");
        assert_int_equal(cg_format_cpu_max(0.005, buf, sizeof(buf)), -ERANGE);
        assert_int_equal(cg_format_cpu_max(-1, buf, sizeof(buf)), -EINVAL);
        assert_int_equal(cg_format_cpu_max(NAN, buf, sizeof(buf)), -EINVAL);
        assert_int_equal(cg_format_cpu_max(1e300, buf, sizeof(buf)), -ERANGE);
}

static void test_io_max_line(void **state)
{
        struct cg_io_target io = io_unset(makedev(254, 0), "nullb0");
        char buf[128];
        (void)state;

        io.limit[SILO_IO_WBPS] = 2097152;
        io.limit[SILO_IO_RBPS] = 4194304;
        assert_int_equal(cg_format_io_max(io.limit, makedev(254, 0), buf, sizeof(buf)), 0);
        assert_string_equal(buf, "254:0 rbps=4194304 wbps=2097152 riops=max wiops=max");
        io = io_unset(makedev(259, 3), "nvme0n1p3");
        io.limit[SILO_IO_WIOPS] = 200;
        io.limit[SILO_IO_RIOPS] = 1000;
        assert_int_equal(cg_format_io_max(io.limit, makedev(259, 3), buf, sizeof(buf)), 0);
        assert_string_equal(buf, "259:3 rbps=max wbps=max riops=1000 wiops=200");
        assert_int_equal(cg_format_io_max(NULL, makedev(8, 0), buf, sizeof(buf)), 0);
        assert_string_equal(buf, "8:0 rbps=max wbps=max riops=max wiops=max");
        assert_int_equal(cg_format_io_max(io.limit, makedev(8, 0), buf, 10), -E2BIG);
}

static void test_full_spec(void **state)
{
        struct cg_io_target io[2] = { io_unset(makedev(254, 0), "nullb0"),
                                      io_unset(makedev(259, 0), "nvme0n1") };
        struct cg_limits res = res_unset();
        struct cg_attr_list l = {};
        char *err = NULL;
        (void)state;

        res.cpus = 1.5;
        res.cpu_weight = 200;
        res.cpuset = "0-1,3";
        res.mem = 67108864;
        res.mem_high = 60000000;
        res.swap = 0;
        res.pids = 32;
        io[0].limit[SILO_IO_WBPS] = 2097152;
        io[0].weight = 300;
        io[1].limit[SILO_IO_RIOPS] = 5000;
        res.io = io;
        res.n_io = 2;
        assert_int_equal(cg_limits_format(&res, NULL, 0, false, &l, &err), 0);
        assert_null(err);
        assert_string_equal(attr(&l, "cpu.max", 0), "150000 100000");
        assert_string_equal(attr(&l, "cpu.weight", 0), "200");
        assert_string_equal(attr(&l, "cpuset.cpus", 0), "0-1,3");
        assert_string_equal(attr(&l, "memory.max", 0), "67108864");
        assert_string_equal(attr(&l, "memory.high", 0), "60000000");
        assert_string_equal(attr(&l, "memory.swap.max", 0), "0");
        assert_string_equal(attr(&l, "memory.oom.group", 0), "1");
        assert_string_equal(attr(&l, "pids.max", 0), "32");
        assert_string_equal(attr(&l, "io.max", 0),
                            "254:0 rbps=max wbps=2097152 riops=max wiops=max");
        assert_string_equal(attr(&l, "io.max", 1),
                            "259:0 rbps=max wbps=max riops=5000 wiops=max");
        assert_null(attr(&l, "io.max", 2));
        assert_string_equal(attr(&l, "io.weight", 0), "254:0 300");
        assert_null(attr(&l, "io.weight", 1));  /* no weight asked for nvme0n1 */
        cg_attr_list_done(&l);
}

static void test_unset_fields_written_only_on_reset(void **state)
{
        struct cg_limits res = res_unset();
        struct cg_attr_list l = {};
        (void)state;

        assert_int_equal(cg_limits_format(&res, NULL, 0, false, &l, NULL), 0);
        /* a fresh group already has no limits: only oom.group is written */
        assert_int_equal(l.n, 1);
        assert_string_equal(attr(&l, "memory.oom.group", 0), "1");
        cg_attr_list_done(&l);

        assert_int_equal(cg_limits_format(&res, NULL, 0, true, &l, NULL), 0);
        assert_string_equal(attr(&l, "cpu.max", 0), "max 100000");
        assert_string_equal(attr(&l, "cpu.weight", 0), "100");
        assert_string_equal(attr(&l, "memory.max", 0), "max");
        assert_string_equal(attr(&l, "memory.high", 0), "max");
        assert_string_equal(attr(&l, "memory.swap.max", 0), "max");
        assert_string_equal(attr(&l, "pids.max", 0), "max");
        assert_null(attr(&l, "cpuset.cpus", 0));
        cg_attr_list_done(&l);
}

static void test_memory_high_before_max(void **state)
{
        struct cg_limits res = res_unset();
        struct cg_attr_list l = {};
        size_t hi = 0, mx = 0;
        (void)state;

        res.mem = 1 << 30;
        res.mem_high = 1 << 29;
        assert_int_equal(cg_limits_format(&res, NULL, 0, false, &l, NULL), 0);
        for (size_t i = 0; i < l.n; i++) {
                if (streq(l.attrs[i].name, "memory.high"))
                        hi = i;
                if (streq(l.attrs[i].name, "memory.max"))
                        mx = i;
        }
        assert_true(hi < mx);
        cg_attr_list_done(&l);
}

static void test_update_resets_dropped_disks(void **state)
{
        struct cg_io_target io = io_unset(makedev(254, 0), "nullb0");
        dev_t old[2] = { makedev(254, 0), makedev(8, 16) };
        struct cg_limits res = res_unset();
        struct cg_attr_list l = {};
        (void)state;

        io.limit[SILO_IO_RBPS] = 1000000;
        res.io = &io;
        res.n_io = 1;
        assert_int_equal(cg_limits_format(&res, old, 2, true, &l, NULL), 0);
        assert_string_equal(attr(&l, "io.max", 0),
                            "254:0 rbps=1000000 wbps=max riops=max wiops=max");
        assert_string_equal(attr(&l, "io.weight", 0), "254:0 default");
        assert_string_equal(attr(&l, "io.max", 1), "8:16 rbps=max wbps=max riops=max wiops=max");
        assert_string_equal(attr(&l, "io.weight", 1), "8:16 default");
        assert_null(attr(&l, "io.max", 2));
        cg_attr_list_done(&l);
}

static void expect_error(const struct cg_limits *res, int code, const char *message)
{
        struct cg_attr_list l = {};
        char *err = NULL;

        assert_int_equal(cg_limits_format(res, NULL, 0, false, &l, &err), code);
        assert_non_null(err);
        assert_string_equal(err, message);
        assert_null(l.attrs);
        free(err);
}

/* The spec's rules (cpus, weights, cpuset, one target per disk) are the codec's and the
 * agent's (tests/unit/test-protocol-task.c, test-agent-task-cgroup.c); what is left here is
 * what only cgroup files can refuse. */
static void test_errors(void **state)
{
        char long_cpuset[200], want[256];
        struct cg_limits res;
        (void)state;

        res = res_unset();
        res.cpus = -2;
        expect_error(&res, -EINVAL,
                     "cpu.max: -2 CPUs is outside what it can express (0 or at least 0.01)");
        res = res_unset();
        res.cpus = 0.001;
        expect_error(&res, -ERANGE,
                     "cpu.max: 0.001 CPUs is outside what it can express (0 or at least 0.01)");
        res = res_unset();
        memset(long_cpuset, '1', sizeof(long_cpuset) - 1);
        long_cpuset[sizeof(long_cpuset) - 1] = '\0';
        res.cpuset = long_cpuset;
        snprintf(want, sizeof(want), "cpuset.cpus: '%s' is too long", long_cpuset);
        expect_error(&res, -E2BIG, want);
}

static void test_controllers_needed(void **state)
{
        struct cg_limits res = res_unset();
        struct cg_io_target io = io_unset(makedev(8, 0), "sda");
        (void)state;

        assert_int_equal(cg_limits_controllers_needed(&res),
                         CG_CTRL_CPU | CG_CTRL_MEMORY | CG_CTRL_PIDS);
        res.cpuset = "0";
        res.io = &io;
        res.n_io = 1;
        assert_int_equal(cg_limits_controllers_needed(&res),
                         CG_CTRL_CPU | CG_CTRL_MEMORY | CG_CTRL_PIDS | CG_CTRL_CPUSET | CG_CTRL_IO);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cpu_max),
                cmocka_unit_test(test_io_max_line),
                cmocka_unit_test(test_full_spec),
                cmocka_unit_test(test_unset_fields_written_only_on_reset),
                cmocka_unit_test(test_memory_high_before_max),
                cmocka_unit_test(test_update_resets_dropped_disks),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_controllers_needed),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
