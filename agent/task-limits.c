/* SPDX-License-Identifier: Apache-2.0 */
/* A task's limits against what this node's kernel accepts (fs.nr_open, kernel.pid_max, its CPUs)
 * and the capabilities the agent's own bounding set still holds, read once at start. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/cpu-list.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/macro.h"

/*
 * The codec (common/resources-json.c, common/task-spec-json.c) refuses what no kernel accepts
 * and what no task can start with, so that the master refuses it too. What is left depends on
 * the node: a kernel refuses setrlimit(RLIMIT_NOFILE) above its fs.nr_open (EPERM, in the
 * task's first process, long after its cgroup exists), cpuset.cpus naming a CPU it does not
 * have (ERANGE/EINVAL from cgroupfs), and a task cannot have more pids than kernel.pid_max or
 * more CPUs than the node offers. Checked here before anything is created.
 */

/* CPU numbers this file can hold; the codec allows cpusets below 4096. */
#define CPU_BITS 8192
#define WORD_BITS 64

struct cpu_mask {
        uint64_t w[CPU_BITS / WORD_BITS];
};

static int cpu_mask_add(unsigned lo, unsigned hi, void *userdata)
{
        struct cpu_mask *m = userdata;

        for (unsigned c = lo; c <= hi; c++)
                m->w[c / WORD_BITS] |= UINT64_C(1) << (c % WORD_BITS);
        return 0;
}

/* A CPU list ("0-3,8,10-11", any order, as the kernel accepts) into *ret. */
static int cpulist_parse(const char *s, struct cpu_mask *ret)
{
        *ret = (struct cpu_mask){};
        return cpu_list_parse(s, CPU_BITS, 0, cpu_mask_add, ret);
}

static unsigned cpu_mask_count(const struct cpu_mask *m)
{
        unsigned n = 0;

        for (size_t i = 0; i < ELEMENTSOF(m->w); i++)
                n += (unsigned)__builtin_popcountll(m->w[i]);
        return n;
}

static bool cpu_mask_subset(const struct cpu_mask *a, const struct cpu_mask *b)
{
        for (size_t i = 0; i < ELEMENTSOF(a->w); i++)
                if (a->w[i] & ~b->w[i])
                        return false;
        return true;
}

static uint64_t read_u64_file(const char *path)
{
        _cleanup_free_ char *s = NULL;
        char *end;
        uint64_t v;

        if (file_read_full(path, 64, &s, NULL) < 0)
                return 0;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || end == s)
                return 0;
        return v;
}

/* A CPU list file into buf without its newline; false when absent, empty or too long. */
static bool read_cpulist(const char *path, char *buf, size_t size)
{
        _cleanup_free_ char *s = NULL;
        size_t n;

        if (file_read_full(path, size, &s, NULL) < 0)
                return false;
        n = strcspn(s, "\n");
        if (n == 0 || n >= size)
                return false;
        memcpy(buf, s, n);
        buf[n] = '\0';
        return true;
}

int node_limits_read(const char *cgroup_root, struct node_limits *ret)
{
        struct node_limits n = {};
        char online[sizeof(n.cpus)];
        char path[PATH_MAX];
        bool have_online;

        n.nr_open = read_u64_file("/proc/sys/fs/nr_open");
        n.pid_max = read_u64_file("/proc/sys/kernel/pid_max");

        /* Tasks get the CPUs of the group they live under, which a cpuset above the agent
         * may narrow; without the cpuset controller there, every online CPU. */
        have_online = read_cpulist("/sys/devices/system/cpu/online", online, sizeof(online));
        snprintf(path, sizeof(path), "%s/tasks/cpuset.cpus.effective", cgroup_root);
        if (read_cpulist(path, n.cpus, sizeof(n.cpus))) {
                n.cpus_source =
                    have_online && streq(n.cpus, online) ? "online" : "cpuset.cpus.effective";
                n.cpuset = NODE_CPUSET_YES;
        } else if (have_online) {
                memcpy(n.cpus, online, sizeof(n.cpus));
                n.cpus_source = "online";
        }

        if (n.cpuset != NODE_CPUSET_YES) {
                snprintf(path, sizeof(path), "%s/tasks/cgroup.controllers", cgroup_root);
                if (access(path, F_OK) == 0)
                        n.cpuset = NODE_CPUSET_NO;
        }
        /* memory.swap.max exists only with swap accounting (CONFIG_MEMCG_SWAP, not
         * swapaccount=0); look only where the memory controller is known to be on. */
        snprintf(path, sizeof(path), "%s/tasks/memory.max", cgroup_root);
        if (access(path, F_OK) == 0) {
                snprintf(path, sizeof(path), "%s/tasks/memory.swap.max", cgroup_root);
                n.swap = access(path, F_OK) == 0 ? NODE_SWAP_YES : NODE_SWAP_NO;
        }
        for (int cap = 0; cap < 64; cap++)
                if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1)
                        n.cap_bounding |= UINT64_C(1) << cap;
        *ret = n;
        return 0;
}

/* A capability the spec asks for that the agent's bounding set lacks (the unit's
 * CapabilityBoundingSet=) could never reach the task: the shim's bounding set is the agent's.
 * Refused, as Nomad's allow_caps refuses it, rather than silently started without it. */
static int check_capabilities(const struct silo_task_spec *spec, const struct node_limits *node,
                              char **ret_error)
{
        uint64_t missing = node->cap_bounding ? spec->capabilities & ~node->cap_bounding : 0;

        for (int cap = 0; missing && cap < 64; cap++)
                if (missing & (UINT64_C(1) << cap))
                        return error_set(ret_error, -EINVAL,
                                         "capabilities: %s is not in this node's capability "
                                         "bounding set (silo-agent.service "
                                         "CapabilityBoundingSet=), so no task here can have it",
                                         silo_capability_to_string(cap));
        return 0;
}

/* rlimits.nofile (or its .hard) against fs.nr_open: setrlimit() refuses more with EPERM. */
static int check_nofile(const struct silo_task_spec *spec, const struct node_limits *node,
                        char **ret_error)
{
        for (size_t i = 0; i < spec->n_rlimits; i++) {
                const struct silo_rlimit *l = &spec->rlimits[i];

                if (l->resource != RLIMIT_NOFILE || node->nr_open == 0 || l->hard <= node->nr_open)
                        continue;
                if (l->hard == RLIM_INFINITY)
                        return error_set(ret_error, -EINVAL,
                                         "rlimits.nofile%s: 'unlimited' is not allowed: give a "
                                         "number in 4..%" PRIu64 " (this node's fs.nr_open)",
                                         l->soft == l->hard ? "" : ".hard", node->nr_open);
                return error_set(ret_error, -EINVAL,
                                 "rlimits.nofile%s: %" PRIu64 " is out of range (4..%" PRIu64
                                 ", this node's fs.nr_open)",
                                 l->soft == l->hard ? "" : ".hard", l->hard, node->nr_open);
        }
        return 0;
}

static int check_cpus(const struct silo_resources *res, const struct node_limits *node,
                      char **ret_error)
{
        struct cpu_mask have, want;
        unsigned n;

        if (!node->cpus[0] || cpulist_parse(node->cpus, &have) < 0)
                return 0; /* unknown: the kernel will judge */
        n = cpu_mask_count(&have);
        if (res->cpuset) {
                /* Without the controller the isolator's write of cpuset.cpus would fail at
                 * launch with libcgroup's message and a cgroupfs path. */
                if (node->cpuset == NODE_CPUSET_NO)
                        return error_set(ret_error, -EINVAL,
                                         "resources.cpuset: '%s' cannot be enforced: the cpuset "
                                         "controller is not enabled for this node's tasks",
                                         res->cpuset);
                if (cpulist_parse(res->cpuset, &want) < 0)
                        return error_set(ret_error, -EINVAL,
                                         "resources.cpuset: '%s' is not a CPU list", res->cpuset);
                /* cgroup v2 would not even refuse all of them: a cpuset with none of its
                 * parent's CPUs silently falls back to the parent's, all of them. */
                if (!cpu_mask_subset(&want, &have))
                        return error_set(ret_error, -EINVAL,
                                         "resources.cpuset: '%s' names CPUs this node does not "
                                         "have (%s: %s)",
                                         res->cpuset, node->cpus_source, node->cpus);
        }
        /* Like `docker run --cpus`: a task cannot have more CPUs than the node. */
        if (res->cpus > (double)n + 1e-9)
                return error_set(ret_error, -EINVAL,
                                 "resources.cpus: %g is out of range (0.01..%u: this node has %u "
                                 "CPUs, %s: %s)",
                                 res->cpus, n, n, node->cpus_source, node->cpus);
        return 0;
}

int task_limits_check(const struct silo_task_spec *spec, const struct node_limits *node,
                      char **ret_error)
{
        const struct silo_resources *res = &spec->resources;
        int r;

        r = check_nofile(spec, node, ret_error);
        if (r < 0)
                return r;
        r = check_capabilities(spec, node, ret_error);
        if (r < 0)
                return r;
        if (res->pids != SILO_UNSET && node->pid_max > 0 && res->pids > node->pid_max)
                return error_set(ret_error, -EINVAL,
                                 "resources.pids: %" PRIu64 " is out of range (1..%" PRIu64
                                 ", this node's kernel.pid_max)",
                                 res->pids, node->pid_max);
        r = check_cpus(res, node, ret_error);
        if (r < 0)
                return r;
        if (res->swap != SILO_UNSET && node->swap == NODE_SWAP_NO)
                return error_set(ret_error, -EINVAL,
                                 "resources.swap: this node has no swap accounting "
                                 "(memory.swap.max is missing; boot it with swapaccount=1)");
        return 0;
}
