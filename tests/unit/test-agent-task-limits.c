/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of task_limits_check() (a spec's limits against a node's kernel) and
 * node_limits_read(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "common/protocol-json.h"
#include "tests/unit/unit-util.h"

/* A node like the test VM: 2 CPUs, the default fs.nr_open and kernel.pid_max. */
static const struct node_limits vm_node = {
    .nr_open = 1048576,
    .pid_max = 32768,
    .cpus = "0-1",
    .cpus_source = "online",
    .swap = NODE_SWAP_YES,
};

struct limits_case {
        const char *extra; /* after "name" and "command" */
        const struct node_limits *node;
        const char *error; /* NULL: accepted */
};

static const struct node_limits odd_node = {
    .nr_open = 4096,
    .pid_max = 4194304,
    .cpus = "0,2-3",
    .cpus_source = "cpuset.cpus.effective",
    .swap = NODE_SWAP_NO,
};
static const struct node_limits unknown_node = {};
/* An agent whose unit took CAP_SYS_MODULE (16) and CAP_SYS_BOOT (22) out of its bounding set. */
static const struct node_limits narrow_caps_node = {
    .cap_bounding = ~((UINT64_C(1) << 16) | (UINT64_C(1) << 22)) & ((UINT64_C(1) << 41) - 1),
};
static const struct node_limits no_cpuset_node = {
    .cpus = "0-1",
    .cpus_source = "online",
    .cpuset = NODE_CPUSET_NO,
};

static const struct limits_case cases[] = {
    {"", &vm_node, NULL},
    /* rlimits.nofile: setrlimit() would fail with EPERM in the task's first process */
    {", 'rlimits': {'nofile': 2097152}", &vm_node,
     "rlimits.nofile: 2097152 is out of range (4..1048576, this node's fs.nr_open)"},
    {", 'rlimits': {'nofile': {'soft': 1024, 'hard': 1048577}}", &vm_node,
     "rlimits.nofile.hard: 1048577 is out of range (4..1048576, this node's fs.nr_open)"},
    {", 'rlimits': {'nofile': 1048576}", &vm_node, NULL},
    {", 'rlimits': {'nofile': 4097, 'core': 0}", &odd_node,
     "rlimits.nofile: 4097 is out of range (4..4096, this node's fs.nr_open)"},
    {", 'rlimits': {'nofile': 2097152}", &unknown_node, NULL},
    /* resources.pids against kernel.pid_max */
    {", 'resources': {'pids': 32769}", &vm_node,
     "resources.pids: 32769 is out of range (1..32768, this node's kernel.pid_max)"},
    {", 'resources': {'pids': 32768}", &vm_node, NULL},
    {", 'resources': {'pids': 4194304}", &odd_node, NULL},
    /* resources.cpuset within the CPUs tasks may use */
    {", 'resources': {'cpuset': '0-4095'}", &vm_node,
     "resources.cpuset: '0-4095' names CPUs this node does not have (online: 0-1)"},
    {", 'resources': {'cpuset': '2'}", &vm_node,
     "resources.cpuset: '2' names CPUs this node does not have (online: 0-1)"},
    {", 'resources': {'cpuset': '0-1'}", &vm_node, NULL},
    {", 'resources': {'cpuset': '1'}", &vm_node, NULL},
    {", 'resources': {'cpuset': '1'}", &odd_node,
     "resources.cpuset: '1' names CPUs this node does not have (cpuset.cpus.effective: 0,2-3)"},
    {", 'resources': {'cpuset': '0,3'}", &odd_node, NULL},
    {", 'resources': {'cpuset': '4095'}", &unknown_node, NULL},
    {", 'resources': {'cpuset': '0'}", &no_cpuset_node,
     "resources.cpuset: '0' cannot be enforced: the cpuset controller is not enabled for this "
     "node's tasks"},
    {", 'resources': {'cpus': 1}", &no_cpuset_node, NULL},
    /* resources.cpus at most the node's CPU count (as `docker run --cpus`) */
    {", 'resources': {'cpus': 2.5}", &vm_node,
     "resources.cpus: 2.5 is out of range (0.01..2: this node has 2 CPUs, online: 0-1)"},
    {", 'resources': {'cpus': 2}", &vm_node, NULL},
    {", 'resources': {'cpus': 0.01}", &vm_node, NULL},
    {", 'resources': {'cpus': 4}", &odd_node,
     "resources.cpus: 4 is out of range (0.01..3: this node has 3 CPUs, cpuset.cpus.effective: "
     "0,2-3)"},
    {", 'resources': {'cpus': 3}", &odd_node, NULL},
    {", 'resources': {'cpus': 4096}", &unknown_node, NULL},
    /* resources.swap only where memory.swap.max exists */
    {", 'resources': {'swap': 0}", &odd_node,
     "resources.swap: this node has no swap accounting (memory.swap.max is missing; boot it "
     "with swapaccount=1)"},
    {", 'resources': {'swap': '1Gi'}", &vm_node, NULL},
    {", 'resources': {'swap': 0}", &unknown_node, NULL},
    /* capabilities within the agent's bounding set (what the shim can pass on) */
    {", 'capabilities': ['CAP_SYS_NICE', 'sys_boot']", &narrow_caps_node,
     "capabilities: CAP_SYS_BOOT is not in this node's capability bounding set (silo-agent.service "
     "CapabilityBoundingSet=), so no task here can have it"},
    {", 'capabilities': ['CAP_SYS_NICE', 'CAP_IPC_LOCK']", &narrow_caps_node, NULL},
    {", 'capabilities': ['CAP_SYS_MODULE']", &unknown_node, NULL},
};

static void test_cases(void **state)
{
        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *json = NULL, *err = NULL;
                _cleanup_(silo_task_spec_freep) struct silo_task_spec *s = NULL;
                int r;

                assert_true(asprintf(&json, "{'name': 't', 'command': ['x']%s}", cases[i].extra) >
                            0);
                s = spec_of(json);
                r = task_limits_check(s, cases[i].node, &err);
                if (!cases[i].error) {
                        if (r < 0)
                                fail_msg("%s: unexpected error %s", json, strempty(err));
                        assert_null(err);
                        continue;
                }
                if (r != -EINVAL || !streq_ptr(err, cases[i].error))
                        fail_msg("%s:\n  got      %d \"%s\"\n  expected \"%s\"", json, r,
                                 strempty(err), cases[i].error);
        }
}

/* The codec refuses an unlimited nofile; a spec built in memory must not slip through. */
static void test_nofile_unlimited(void **state)
{
        _cleanup_(silo_task_spec_freep) struct silo_task_spec *s = NULL;
        _cleanup_free_ char *err = NULL;

        (void)state;
        s = spec_of("{'name': 't', 'command': ['x'], 'rlimits': {'nofile': 1024}}");
        s->rlimits[0].soft = s->rlimits[0].hard = RLIM_INFINITY;
        assert_int_equal(task_limits_check(s, &vm_node, &err), -EINVAL);
        assert_string_equal(err, "rlimits.nofile: 'unlimited' is not allowed: give a number in "
                                 "4..1048576 (this node's fs.nr_open)");
        free(err);
        err = NULL;
        s->rlimits[0].soft = 1024;
        assert_int_equal(task_limits_check(s, &vm_node, &err), -EINVAL);
        assert_string_equal(err, "rlimits.nofile.hard: 'unlimited' is not allowed: give a number "
                                 "in 4..1048576 (this node's fs.nr_open)");
        /* Callers may not want the message. */
        assert_int_equal(task_limits_check(s, &vm_node, NULL), -EINVAL);
}

/* This host's own figures: whatever they are, they are known and sane. */
static void test_read_host(void **state)
{
        struct node_limits n;

        (void)state;
        assert_int_equal(node_limits_read("/nonexistent-cgroup-root", &n), 0);
        assert_true(n.nr_open >= 1024);
        assert_true(n.pid_max >= 301 && n.pid_max <= 4194304);
        assert_true(n.cpus[0] != '\0');
        assert_string_equal(n.cpus_source, "online");
        assert_int_equal(n.swap, NODE_SWAP_UNKNOWN);
        /* Every process has CAP_CHOWN (0) in its bounding set unless a unit took it out. */
        assert_true(n.cap_bounding & 1);
        /* A spec within them passes. */
        {
                _cleanup_(silo_task_spec_freep) struct silo_task_spec *s =
                    spec_of("{'name': 't', 'command': ['x'], 'rlimits': {'nofile': 1024}, "
                            "'resources': {'cpuset': '0', 'pids': 300, 'cpus': 1}}");
                assert_int_equal(task_limits_check(s, &n, NULL), 0);
        }
}

/* A cgroup root whose tasks/ group narrows the CPUs and lacks swap accounting. */
static void test_read_cgroup_root(void **state)
{
        char dir[] = "/tmp/silo-test-limits-XXXXXX", p[PATH_MAX];
        _cleanup_free_ char *online = NULL;
        struct node_limits n;

        (void)state;
        assert_non_null(mkdtemp(dir));
        snprintf(p, sizeof(p), "%s/tasks", dir);
        assert_int_equal(mkdir(p, 0755), 0);
        snprintf(p, sizeof(p), "%s/tasks/cpuset.cpus.effective", dir);
        assert_int_equal(file_write_atomic(p, "0\n", 2, 0644), 0);
        snprintf(p, sizeof(p), "%s/tasks/memory.max", dir);
        assert_int_equal(file_write_atomic(p, "max\n", 4, 0644), 0);

        assert_int_equal(node_limits_read(dir, &n), 0);
        assert_string_equal(n.cpus, "0");
        assert_int_equal(file_read_full("/sys/devices/system/cpu/online", 4096, &online, NULL), 0);
        assert_string_equal(n.cpus_source,
                            streq(online, "0\n") ? "online" : "cpuset.cpus.effective");
        assert_int_equal(n.swap, NODE_SWAP_NO);

        snprintf(p, sizeof(p), "%s/tasks/memory.swap.max", dir);
        assert_int_equal(file_write_atomic(p, "max\n", 4, 0644), 0);
        assert_int_equal(node_limits_read(dir, &n), 0);
        assert_int_equal(n.swap, NODE_SWAP_YES);

        /* An empty effective list (no CPU yet) is unknown, not "no CPU": fall back to online. */
        snprintf(p, sizeof(p), "%s/tasks/cpuset.cpus.effective", dir);
        assert_int_equal(file_write_atomic(p, "\n", 1, 0644), 0);
        assert_int_equal(node_limits_read(dir, &n), 0);
        assert_string_equal(n.cpus_source, "online");
        assert_true(strncmp(n.cpus, online, strlen(n.cpus)) == 0);

        static const char *const files[] = {"cpuset.cpus.effective", "memory.max",
                                            "memory.swap.max"};
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                snprintf(p, sizeof(p), "%s/tasks/%s", dir, files[i]);
                assert_int_equal(unlink(p), 0);
        }
        snprintf(p, sizeof(p), "%s/tasks", dir);
        assert_int_equal(rmdir(p), 0);
        assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_cases),
            cmocka_unit_test(test_nofile_unlimited),
            cmocka_unit_test(test_read_host),
            cmocka_unit_test(test_read_cgroup_root),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
