/* SPDX-License-Identifier: Apache-2.0 */
/* Read back what is in force in a task's group, what it uses, and its pressure (PSI). */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>

#include <libcgroup.h>

#include "common/fileio.h"
#include "common/array.h"
#include "isolator/cgroup-internal.h"

int cg_attr_read(const char *rel, const char *name, char **ret)
{
        _cleanup_free_ char *out = NULL;
        char ctrl[32], line[4096];
        size_t len = 0;
        void *handle = NULL;
        int r;

        snprintf(ctrl, sizeof(ctrl), "%.*s", (int)strcspn(name, "."), name);
        out = strdup("");
        if (!out)
                return -ENOMEM;
        /* libcgroup's value iterator hands out one line (fgets-like) per call. */
        /* libcgroup 2.0.2 takes a non-const name but does not modify it */
        r = cgroup_read_value_begin(ctrl, rel, (char *)name, &handle, line, sizeof(line));
        while (r == 0) {
                size_t n = strlen(line);
                char *nb = realloc(out, len + n + 1);

                if (!nb) {
                        cgroup_read_value_end(&handle);
                        return -ENOMEM;
                }
                out = nb;
                memcpy(out + len, line, n + 1);
                len += n;
                r = cgroup_read_value_next(&handle, line, sizeof(line));
        }
        if (handle)
                cgroup_read_value_end(&handle);
        if (r != ECGEOF)
                return cg_libcgroup_errno(r);
        *ret = TAKE_PTR(out);
        return 0;
}

static int read_u64(const struct cg_task *t, const char *name, uint64_t *ret)
{
        _cleanup_free_ char *s = NULL;
        int r = cg_attr_read(t->rel, name, &s);

        return r < 0 ? r : cg_parse_max_u64(s, ret);
}

static void read_string(const struct cg_task *t, const char *name, char *buf, size_t size)
{
        _cleanup_free_ char *s = NULL;

        buf[0] = 0;
        if (cg_attr_read(t->rel, name, &s) >= 0)
                snprintf(buf, size, "%.*s", (int)strcspn(s, "\n"), s);
}

static void device_name(const char *sysfs_root, unsigned ma, unsigned mi, char *buf,
                        size_t size)
{
        char link[PATH_MAX], target[PATH_MAX];

        buf[0] = 0;
        snprintf(link, sizeof(link), "%s/dev/block/%u:%u", sysfs_root, ma, mi);
        if (realpath(link, target))
                snprintf(buf, size, "%s", strrchr(target, '/') + 1);
}

void cg_io_weight_enforcement(const char *mountpoint, const char *sysfs_root,
                              struct cg_io_limit *l)
{
        _cleanup_free_ char *qos = NULL, *sched = NULL, *p = NULL;
        char name[64] = "", s[32] = "?";

        /* io.cost.qos exists only in the root group; libcgroup has no path for the root's
         * own files of a controller other than through a group name, so read it directly. */
        if (asprintf(&p, "%s/io.cost.qos", mountpoint) >= 0 &&
            file_read_full(p, 0, &qos, NULL) >= 0 &&
            cg_parse_iocost_enabled(qos, makedev(l->major, l->minor))) {
                l->weight_enforced = true;
                snprintf(l->weight_note, sizeof(l->weight_note), "iocost");
                return;
        }
        free(p);
        p = NULL;
        if (asprintf(&p, "%s/dev/block/%u:%u/queue/scheduler", sysfs_root, l->major,
                     l->minor) >= 0 &&
            file_read_full(p, 0, &sched, NULL) >= 0)
                (void)cg_parse_scheduler(sched, s, sizeof(s));
        if (streq(s, "bfq")) {
                l->weight_enforced = true;
                snprintf(l->weight_note, sizeof(l->weight_note), "bfq");
                return;
        }
        device_name(sysfs_root, l->major, l->minor, name, sizeof(name));
        l->weight_enforced = false;
        snprintf(l->weight_note, sizeof(l->weight_note),
                 "not enforced: no iocost in io.cost.qos for %s and its scheduler is %s, not bfq",
                 name[0] ? name : "the device", s);
}

/* The weight BFQ applies: its own io.bfq.weight file, same "default N" / "M:m N" format. */
static void bfq_weight(const struct cg_task *t, struct cg_io_limit *l)
{
        _cleanup_free_ char *s = NULL;
        _cleanup_free_ struct cg_io_limit *v = NULL;
        size_t n = 0;

        if (cg_attr_read(t->rel, "io.bfq.weight", &s) < 0 ||
            cg_parse_io_limits(NULL, s, &v, &n) < 0)
                return;
        if (strncmp(s, "default ", 8) == 0)
                l->weight = (uint32_t)strtoul(s + 8, NULL, 10);
        for (size_t i = 0; i < n; i++)
                if (v[i].major == l->major && v[i].minor == l->minor)
                        l->weight = v[i].weight;
}

static int io_limits_read(const struct cg_task *t, struct cg_task_status *st)
{
        _cleanup_free_ char *io_max = NULL, *io_weight = NULL;
        uint32_t def = 100;
        size_t cap;
        int r;

        if (cg_attr_read(t->rel, "io.max", &io_max) < 0)
                return 0;       /* io not enabled for the group */
        (void)cg_attr_read(t->rel, "io.weight", &io_weight);
        r = cg_parse_io_limits(io_max, io_weight, &st->io, &st->n_io);
        if (r < 0)
                return r;
        if (io_weight && strncmp(io_weight, "default ", 8) == 0)
                def = (uint32_t)strtoul(io_weight + 8, NULL, 10);
        /* A device whose io.max is all "max" is not listed by the kernel; the devices of the
         * task's limits are still reported, with their weight. */
        cap = st->n_io;
        for (size_t i = 0; i < t->n_io_devs; i++) {
                dev_t d = t->io_devs[i];
                bool found = false;

                for (size_t j = 0; j < st->n_io; j++)
                        found = found || makedev(st->io[j].major, st->io[j].minor) == d;
                if (found)
                        continue;
                if (!ARRAY_GROW(st->io, cap, st->n_io + 1))
                        return -ENOMEM;
                st->io[st->n_io++] = (struct cg_io_limit){
                        .major = major(d), .minor = minor(d),
                        .limit = {CG_MAX, CG_MAX, CG_MAX, CG_MAX}, .weight = def };
        }
        for (size_t i = 0; i < st->n_io; i++) {
                struct cg_io_limit *l = &st->io[i];

                device_name(t->h->sysfs_root, l->major, l->minor, l->name, sizeof(l->name));
                cg_io_weight_enforcement(t->h->mountpoint, t->h->sysfs_root, l);
                if (streq(l->weight_note, "bfq"))
                        bfq_weight(t, l);
        }
        return 0;
}

static void pressure_read(const struct cg_task *t, const char *name, struct cg_pressure *ret)
{
        _cleanup_free_ char *s = NULL;

        /* PSI can be disabled (psi=0): then valid stays false. */
        if (cg_attr_read(t->rel, name, &s) >= 0)
                (void)cg_parse_pressure(s, ret);
}

/* The limits in force: cpu, cpuset, memory and pids files. */
static int limits_read(const struct cg_task *t, struct cg_task_status *st)
{
        _cleanup_free_ char *s = NULL;
        uint64_t v;
        int r;

        r = cg_attr_read(t->rel, "cpu.max", &s);
        if (r < 0 || (r = cg_parse_cpu_max(s, &st->cpu_quota_usec, &st->cpu_period_usec)) < 0)
                return r;
        if (read_u64(t, "cpu.weight", &v) >= 0)
                st->cpu_weight = (uint32_t)v;
        read_string(t, "cpuset.cpus", st->cpuset_cpus, sizeof(st->cpuset_cpus));
        read_string(t, "cpuset.mems", st->cpuset_mems, sizeof(st->cpuset_mems));
        read_string(t, "cpuset.cpus.effective", st->cpuset_cpus_effective,
                    sizeof(st->cpuset_cpus_effective));
        read_string(t, "cpuset.mems.effective", st->cpuset_mems_effective,
                    sizeof(st->cpuset_mems_effective));
        if ((r = read_u64(t, "memory.max", &st->memory_max)) < 0 ||
            (r = read_u64(t, "memory.high", &st->memory_high)) < 0 ||
            (r = read_u64(t, "pids.max", &st->pids_max)) < 0)
                return r;
        if (read_u64(t, "memory.swap.max", &st->memory_swap_max) < 0)
                st->memory_swap_max = CG_MAX;   /* no swap accounting */
        if (read_u64(t, "memory.oom.group", &v) >= 0)
                st->memory_oom_group = v != 0;
        return 0;
}

/* Usage: memory, pids, cpu.stat, memory.events and .stat, io.stat. */
static int usage_read(const struct cg_task *t, struct cg_task_status *st)
{
        _cleanup_free_ char *cpu = NULL, *events = NULL, *mem = NULL, *io = NULL;
        int r;

        if ((r = read_u64(t, "memory.current", &st->memory_current)) < 0 ||
            (r = read_u64(t, "pids.current", &st->pids_current)) < 0)
                return r;
        if (read_u64(t, "memory.peak", &st->memory_peak) < 0)
                st->memory_peak = CG_MAX;       /* before 5.19 */
        (void)read_u64(t, "memory.swap.current", &st->memory_swap_current);
        if ((r = cg_attr_read(t->rel, "cpu.stat", &cpu)) < 0 ||
            (r = cg_parse_cpu_stat(cpu, &st->cpu)) < 0 ||
            (r = cg_attr_read(t->rel, "memory.events", &events)) < 0 ||
            (r = cg_parse_memory_events(events, &st->memory_events)) < 0)
                return r;
        if (cg_attr_read(t->rel, "memory.stat", &mem) >= 0)
                (void)cg_parse_memory_stat(mem, &st->memory_stat);
        if (cg_attr_read(t->rel, "io.stat", &io) < 0)
                return 0;
        r = cg_parse_io_stat(io, &st->io_stat, &st->n_io_stat);
        if (r < 0)
                return r;
        for (size_t i = 0; i < st->n_io_stat; i++)
                device_name(t->h->sysfs_root, st->io_stat[i].major, st->io_stat[i].minor,
                            st->io_stat[i].name, sizeof(st->io_stat[i].name));
        return 0;
}

int cg_task_read(struct cg_task *t, struct cg_task_status *ret)
{
        struct cg_task_status st = {};
        int r;

        if ((r = limits_read(t, &st)) < 0 || (r = usage_read(t, &st)) < 0 ||
            (r = io_limits_read(t, &st)) < 0)
                goto fail;
        pressure_read(t, "cpu.pressure", &st.cpu_pressure);
        pressure_read(t, "memory.pressure", &st.memory_pressure);
        pressure_read(t, "io.pressure", &st.io_pressure);
        r = cg_task_events_read(t, &st.populated, &st.frozen);
        if (r < 0)
                goto fail;
        *ret = st;
        return 0;
fail:
        cg_task_status_done(&st);
        return r;
}

void cg_task_status_done(struct cg_task_status *s)
{
        free(s->io);
        free(s->io_stat);
        s->io = NULL;
        s->io_stat = NULL;
        s->n_io = s->n_io_stat = 0;
}
