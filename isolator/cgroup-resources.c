/* SPDX-License-Identifier: Apache-2.0 */
/* Pure translation of a task's resource spec into cgroup v2 file contents (no I/O). */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "isolator/cgroup-internal.h"

/* The kernel refuses cpu.max quotas under 1 ms (cpu_max_write -> tg_set_cfs_bandwidth). */
#define CPU_QUOTA_MIN_USEC 1000u

void cg_attr_list_done(struct cg_attr_list *l)
{
        free(l->attrs);
        l->attrs = NULL;
        l->n = 0;
}

int cg_attr_list_add(struct cg_attr_list *l, const char *name, const char *fmt, ...)
{
        struct cg_attr *a;
        va_list ap;
        int n;

        a = realloc(l->attrs, (l->n + 1) * sizeof(*a));
        if (!a)
                return -ENOMEM;
        l->attrs = a;
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

static void fmt_limit(char *buf, size_t size, uint64_t v)
{
        if (v == SILO_UNSET)
                snprintf(buf, size, "max");
        else
                snprintf(buf, size, "%" PRIu64, v);
}

int cg_format_io_max(const struct silo_io_request *io, dev_t dev, char *buf, size_t size)
{
        size_t len;
        int n;

        n = snprintf(buf, size, "%u:%u", major(dev), minor(dev));
        FOREACH_IO_LIMIT(l) {
                char v[24];

                len = n < 0 ? size : (size_t)n;
                if (len >= size)
                        return -E2BIG;
                fmt_limit(v, sizeof(v), io ? io->limit[l] : SILO_UNSET);
                n = (int)len + snprintf(buf + len, size - len, " %s=%s", silo_io_limit_to_string(l), v);
        }
        return n < 0 || (size_t)n >= size ? -E2BIG : 0;
}

unsigned cg_resources_controllers_needed(const struct silo_resources *res)
{
        unsigned c = CG_CTRL_CPU | CG_CTRL_MEMORY | CG_CTRL_PIDS;

        if (res->cpuset)
                c |= CG_CTRL_CPUSET;
        if (res->n_io > 0)
                c |= CG_CTRL_IO;
        return c;
}

/* A cpuset list is digits, commas and ranges; the kernel would say only "Invalid argument". */
static bool cpuset_valid(const char *s)
{
        if (!*s)
                return false;
        for (const char *p = s; *p; p++)
                if (!strchr("0123456789,-", *p))
                        return false;
        return true;
}

static bool target_listed(const struct blockdev *targets, size_t n, dev_t dev)
{
        for (size_t i = 0; i < n; i++)
                if (targets[i].devnum == dev)
                        return true;
        return false;
}

static int fmt_u64_or_max(struct cg_attr_list *l, const char *name, uint64_t v, bool reset)
{
        if (v != SILO_UNSET)
                return cg_attr_list_add(l, name, "%" PRIu64, v);
        if (reset)
                return cg_attr_list_add(l, name, "max");
        return 0;
}

int cg_resources_format(const struct silo_resources *res, const struct blockdev *targets,
                        const struct blockdev *old_targets, size_t n_old_targets, bool reset,
                        struct cg_attr_list *ret, char **ret_error)
{
        struct cg_attr_list l = {};
        char buf[128];
        int r;

        if (isnan(res->cpus) || res->cpus < 0) {
                r = error_set(ret_error, -EINVAL, "resources.cpus: %g is negative", res->cpus);
                goto fail;
        }
        if (res->cpus > 0 || reset) {
                r = cg_format_cpu_max(res->cpus, buf, sizeof(buf));
                if (r == -ERANGE) {
                        r = error_set(ret_error, r,
                                     "resources.cpus: %g is outside what cpu.max can express "
                                     "(at least 0.01)", res->cpus);
                        goto fail;
                }
                if (r < 0 || (r = cg_attr_list_add(&l, "cpu.max", "%s", buf)) < 0)
                        goto fail;
        }
        if (res->cpu_weight > 10000) {
                r = error_set(ret_error, -EINVAL, "resources.cpu_weight: %u is not in 1..10000",
                             res->cpu_weight);
                goto fail;
        }
        if (res->cpu_weight > 0)
                r = cg_attr_list_add(&l, "cpu.weight", "%u", res->cpu_weight);
        else
                r = reset ? cg_attr_list_add(&l, "cpu.weight", "100") : 0;
        if (r < 0)
                goto fail;
        /* An unset cpuset is not reset on update: the spec never had a way to say "all". */
        if (res->cpuset) {
                if (!cpuset_valid(res->cpuset)) {
                        r = error_set(ret_error, -EINVAL,
                                     "resources.cpuset: '%s' is not a CPU list like 0-1,3",
                                     res->cpuset);
                        goto fail;
                }
                r = cg_attr_list_add(&l, "cpuset.cpus", "%s", res->cpuset);
                if (r < 0) {
                        r = error_set(ret_error, r, "resources.cpuset: '%s' is too long",
                                     res->cpuset);
                        goto fail;
                }
        }
        /* memory.high before memory.max: lowering max below current usage reclaims, and a
         * high above the new max would be meaningless for a moment. */
        if ((r = fmt_u64_or_max(&l, "memory.high", res->mem_high, reset)) < 0 ||
            (r = fmt_u64_or_max(&l, "memory.max", res->mem, reset)) < 0 ||
            (r = fmt_u64_or_max(&l, "memory.swap.max", res->swap, reset)) < 0)
                goto fail;
        /* An OOM kills the whole task, never one random process of it. */
        if ((r = cg_attr_list_add(&l, "memory.oom.group", "1")) < 0)
                goto fail;
        if ((r = fmt_u64_or_max(&l, "pids.max", res->pids, reset)) < 0)
                goto fail;

        for (size_t i = 0; i < res->n_io; i++) {
                const struct silo_io_request *io = &res->io[i];

                for (size_t j = 0; j < i; j++)
                        if (targets[j].devnum == targets[i].devnum) {
                                r = error_set(ret_error, -EINVAL,
                                             "resources.io[%zu]: %s is the same disk as "
                                             "resources.io[%zu]",
                                             i, targets[i].name, j);
                                goto fail;
                        }
                if (io->weight > 10000) {
                        r = error_set(ret_error, -EINVAL,
                                     "resources.io[%zu].weight: %u is not in 1..10000", i,
                                     io->weight);
                        goto fail;
                }
                r = cg_format_io_max(io, targets[i].devnum, buf, sizeof(buf));
                if (r < 0 || (r = cg_attr_list_add(&l, "io.max", "%s", buf)) < 0)
                        goto fail;
                if (io->weight > 0)
                        r = cg_attr_list_add(&l, "io.weight", "%u:%u %u",
                                             major(targets[i].devnum), minor(targets[i].devnum),
                                             io->weight);
                else if (reset)
                        r = cg_attr_list_add(&l, "io.weight", "%u:%u default",
                                             major(targets[i].devnum), minor(targets[i].devnum));
                if (r < 0)
                        goto fail;
        }
        /* Disks dropped from the spec by a live update go back to no limit. */
        for (size_t i = 0; i < n_old_targets; i++) {
                if (target_listed(targets, res->n_io, old_targets[i].devnum))
                        continue;
                r = cg_format_io_max(NULL, old_targets[i].devnum, buf, sizeof(buf));
                if (r < 0 || (r = cg_attr_list_add(&l, "io.max", "%s", buf)) < 0 ||
                    (r = cg_attr_list_add(&l, "io.weight", "%u:%u default",
                                          major(old_targets[i].devnum),
                                          minor(old_targets[i].devnum))) < 0)
                        goto fail;
        }
        *ret = l;
        return 0;
fail:
        cg_attr_list_done(&l);
        return r;
}
