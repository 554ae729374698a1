/* SPDX-License-Identifier: Apache-2.0 */
/* Pure translation of a task's limits into cgroup v2 file contents (no I/O). */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "common/array.h"
#include "isolator/cgroup-internal.h"

/* The kernel refuses cpu.max quotas under 1 ms (cpu_max_write -> tg_set_cfs_bandwidth). */
#define CPU_QUOTA_MIN_USEC 1000u

void cg_attr_list_done(struct cg_attr_list *l)
{
        free(l->attrs);
        l->attrs = NULL;
        l->n = l->cap = 0;
}

static int cg_attr_list_add(struct cg_attr_list *l, const char *name, const char *fmt, ...)
        _printf_(3, 4);
static int cg_attr_list_add(struct cg_attr_list *l, const char *name, const char *fmt, ...)
{
        struct cg_attr *a;
        va_list ap;
        int n;

        if (!ARRAY_GROW(l->attrs, l->cap, l->n + 1))
                return -ENOMEM;
        a = &l->attrs[l->n];
        if (strlen(name) >= sizeof(a->name))
                return -ENAMETOOLONG;
        strcpy(a->name, name);
        va_start(ap, fmt);
        n = vsnprintf(a->value, sizeof(a->value), fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= sizeof(a->value))
                return -E2BIG;
        l->n++;
        return 0;
}

int cg_format_cpu_max(double cpus, char *buf, size_t size)
{
        uint64_t quota;

        if (isnan(cpus) || cpus < 0)
                return -EINVAL;
        if (cpus == 0) {
                snprintf(buf, size, "max %u", CG_CPU_PERIOD_USEC);
                return 0;
        }
        if (cpus * CG_CPU_PERIOD_USEC > (double)(UINT64_MAX / 2))
                return -ERANGE;
        /* Round to the nearest µs: 0.3 cpus must be 30000, not 29999 from binary fractions. */
        quota = (uint64_t)llround(cpus * CG_CPU_PERIOD_USEC);
        if (quota < CPU_QUOTA_MIN_USEC)
                return -ERANGE;
        snprintf(buf, size, "%" PRIu64 " %u", quota, CG_CPU_PERIOD_USEC);
        return 0;
}

int cg_format_io_max(const uint64_t *limit, dev_t dev, char *buf, size_t size)
{
        size_t len;
        int n;

        n = snprintf(buf, size, "%u:%u", major(dev), minor(dev));
        FOREACH_IO_LIMIT(l) {
                uint64_t v = limit ? limit[l] : CG_MAX;

                len = n < 0 ? size : (size_t)n;
                if (len >= size)
                        return -E2BIG;
                if (v == CG_MAX)
                        n = (int)len + snprintf(buf + len, size - len, " %s=max",
                                                silo_io_limit_to_string(l));
                else
                        n = (int)len + snprintf(buf + len, size - len, " %s=%" PRIu64,
                                                silo_io_limit_to_string(l), v);
        }
        return n < 0 || (size_t)n >= size ? -E2BIG : 0;
}

unsigned cg_limits_controllers_needed(const struct cg_limits *limits)
{
        unsigned c = CG_CTRL_CPU | CG_CTRL_MEMORY | CG_CTRL_PIDS;

        if (limits->cpuset)
                c |= CG_CTRL_CPUSET;
        if (limits->n_io > 0)
                c |= CG_CTRL_IO;
        return c;
}

static bool dev_listed(const struct cg_limits *limits, dev_t dev)
{
        for (size_t i = 0; i < limits->n_io; i++)
                if (limits->io[i].dev.devnum == dev)
                        return true;
        return false;
}

static int fmt_u64_or_max(struct cg_attr_list *l, const char *name, uint64_t v, bool reset)
{
        if (v != CG_MAX)
                return cg_attr_list_add(l, name, "%" PRIu64, v);
        if (reset)
                return cg_attr_list_add(l, name, "max");
        return 0;
}

/* cpu.max, cpu.weight, cpuset.cpus. */
static int format_cpu(const struct cg_limits *limits, bool reset, struct cg_attr_list *l,
                      char **ret_error)
{
        char buf[64];
        int r = 0;

        if (limits->cpus != 0 || reset) {
                r = cg_format_cpu_max(limits->cpus, buf, sizeof(buf));
                if (r < 0)
                        return error_set(ret_error, r,
                                         "cpu.max: %g CPUs is outside what it can express "
                                         "(0 or at least 0.01)", limits->cpus);
                r = cg_attr_list_add(l, "cpu.max", "%s", buf);
                if (r < 0)
                        return r;
        }
        if (limits->cpu_weight > 0)
                r = cg_attr_list_add(l, "cpu.weight", "%u", limits->cpu_weight);
        else if (reset)
                r = cg_attr_list_add(l, "cpu.weight", "100");
        if (r < 0)
                return r;
        /* An unset cpuset is not reset on update: the spec never had a way to say "all". */
        if (limits->cpuset) {
                r = cg_attr_list_add(l, "cpuset.cpus", "%s", limits->cpuset);
                if (r < 0)
                        return error_set(ret_error, r, "cpuset.cpus: '%s' is too long",
                                         limits->cpuset);
        }
        return 0;
}

/* io.max and io.weight of one device; limit NULL and weight 0 with `reset`: back to none. */
static int format_io(struct cg_attr_list *l, dev_t dev, const uint64_t *limit, uint32_t weight,
                     bool reset)
{
        char buf[128];
        int r;

        r = cg_format_io_max(limit, dev, buf, sizeof(buf));
        if (r < 0 || (r = cg_attr_list_add(l, "io.max", "%s", buf)) < 0)
                return r;
        if (weight > 0)
                return cg_attr_list_add(l, "io.weight", "%u:%u %u", major(dev), minor(dev),
                                        weight);
        if (reset)
                return cg_attr_list_add(l, "io.weight", "%u:%u default", major(dev),
                                        minor(dev));
        return 0;
}

int cg_limits_format(const struct cg_limits *limits, const dev_t *old_devs, size_t n_old_devs,
                     bool reset, struct cg_attr_list *ret, char **ret_error)
{
        struct cg_attr_list l = {};
        int r;

        r = format_cpu(limits, reset, &l, ret_error);
        if (r < 0)
                goto fail;
        /* memory.high before memory.max: lowering max below current usage reclaims, and a
         * high above the new max would be meaningless for a moment. */
        if ((r = fmt_u64_or_max(&l, "memory.high", limits->mem_high, reset)) < 0 ||
            (r = fmt_u64_or_max(&l, "memory.max", limits->mem, reset)) < 0 ||
            (r = fmt_u64_or_max(&l, "memory.swap.max", limits->swap, reset)) < 0)
                goto fail;
        /* An OOM kills the whole task, never one random process of it. */
        if ((r = cg_attr_list_add(&l, "memory.oom.group", "1")) < 0)
                goto fail;
        if ((r = fmt_u64_or_max(&l, "pids.max", limits->pids, reset)) < 0)
                goto fail;
        for (size_t i = 0; i < limits->n_io; i++) {
                const struct cg_io_target *io = &limits->io[i];

                r = format_io(&l, io->dev.devnum, io->limit, io->weight, reset);
                if (r < 0)
                        goto fail;
        }
        /* Disks dropped by a live update go back to no limit. */
        for (size_t i = 0; i < n_old_devs; i++)
                if (!dev_listed(limits, old_devs[i]) &&
                    (r = format_io(&l, old_devs[i], NULL, 0, true)) < 0)
                        goto fail;
        *ret = l;
        return 0;
fail:
        cg_attr_list_done(&l);
        return r;
}
