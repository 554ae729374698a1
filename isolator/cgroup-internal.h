/* SPDX-License-Identifier: Apache-2.0 */
/* Private types and helpers shared by the isolator's cgroup-*.c files (not installed). */
#pragma once

#include <stdarg.h>

#include "common/error.h"
#include "isolator/isolator.h"
#include "common/macro.h"

struct cg_hierarchy {
        char *mountpoint;       /* "/sys/fs/cgroup" */
        char *root;             /* absolute path of Silo's root group */
        char *root_rel;         /* the same relative to the mount ("silo"), "" at the mount */
        char *sysfs_root;       /* "/sys" unless a test overrides it */
        unsigned controllers;   /* CG_CTRL_* enabled in <root>/tasks */
        int shims_fd;           /* O_PATH fd of <root>/shims */
        int devices_prog_fd;    /* the device program of the default rules, loaded at first use */
};

struct cg_task {
        struct cg_hierarchy *h;
        char *id;
        char *path;             /* absolute */
        char *rel;              /* relative to the mount, for libcgroup */
        int fd;                 /* O_PATH|O_DIRECTORY */
        int inotify_fd;
        int wd_cgroup_events;   /* inotify watch of cgroup.events */
        uint64_t last_oom_kill;
        bool last_populated, last_frozen;
        /* io devices of the last limits, so update() can reset the ones no longer listed */
        dev_t *io_devs;
        size_t n_io_devs;
};

/* One file write: "memory.max" <- "67108864". */
struct cg_attr {
        char name[32];
        char value[128];
};

struct cg_attr_list {
        struct cg_attr *attrs;
        size_t n, cap;
};
void cg_attr_list_done(struct cg_attr_list *l);

/* ---- cgroup-resources.c: limits -> file contents, pure */

/* The ordered writes of `limits`; `reset` also emits "no limit" values for unset fields (live
 * update). Devices in `old_devs` that are not in limits->io get their io.max/io.weight reset. */
int cg_limits_format(const struct cg_limits *limits, const dev_t *old_devs, size_t n_old_devs,
                     bool reset, struct cg_attr_list *ret, char **ret_error);
/* "150000 100000" for 1.5 cpus; "max 100000" for 0. */
int cg_format_cpu_max(double cpus, char *buf, size_t size);
/* "MAJ:MIN rbps=… wbps=… riops=… wiops=…" with "max" for CG_MAX (limit NULL: all "max"). */
int cg_format_io_max(const uint64_t *limit, dev_t dev, char *buf, size_t size);
unsigned cg_limits_controllers_needed(const struct cg_limits *limits);

/* ---- cgroup-parse.c: file contents -> structs, pure */

int cg_parse_max_u64(const char *s, uint64_t *ret);   /* "max" -> CG_MAX */
int cg_parse_cpu_max(const char *s, uint64_t *ret_quota, uint64_t *ret_period);
int cg_parse_cpu_stat(const char *content, struct cg_cpu_stat *ret);
int cg_parse_memory_events(const char *content, struct cg_memory_events *ret);
int cg_parse_memory_stat(const char *content, struct cg_memory_stat *ret);
int cg_parse_pressure(const char *content, struct cg_pressure *ret);
int cg_parse_io_stat(const char *content, struct cg_io_stat **ret, size_t *ret_n);
/* Merge io.max and io.weight into per-device limits (weight lines "default N" / "M:m N"). */
int cg_parse_io_limits(const char *io_max, const char *io_weight, struct cg_io_limit **ret,
                       size_t *ret_n);
/* Whether the root's io.cost.qos enables iocost for dev. */
bool cg_parse_iocost_enabled(const char *io_cost_qos, dev_t dev);
/* The active scheduler in a queue/scheduler file ("mq-deadline kyber [bfq] none"). */
int cg_parse_scheduler(const char *content, char *buf, size_t size);
/* "populated 1\nfrozen 0" */
int cg_parse_events(const char *content, bool *ret_populated, bool *ret_frozen);

/* ---- cgroup-setup.c / cgroup-apply.c helpers */

/* A libcgroup error as -errno. */
int cg_libcgroup_errno(int cgroup_error);
/* Read a whole control file of group `rel` through libcgroup's value iterator. */
int cg_attr_read(const char *rel, const char *name, char **ret);

/* mkdir one group through libcgroup without touching any subtree_control. */
int cg_group_create(const struct cg_hierarchy *h, const char *abs, char **ret_error);
/* A group's path relative to the cgroup mount, as libcgroup names groups. */
const char *cg_rel_of(const struct cg_hierarchy *h, const char *abs);

/* weight enforcement for one device */
void cg_io_weight_enforcement(const char *mountpoint, const char *sysfs_root,
                              struct cg_io_limit *l);

/* cgroup-kill.c: the SIGKILL walk used on kernels without cgroup.kill (exposed for tests). */
int cg_task_kill_walk(struct cg_task *t);
/* Write one of the group's control files directly (cgroup-apply.c says why not through
 * libcgroup): one open and one write() of the whole value. */
int cg_task_write_core(const struct cg_task *t, const char *name, const char *value);

/* cgroup-events.c: parse <group>/cgroup.events (populated, frozen); ret_frozen may be NULL. */
int cg_task_events_read(const struct cg_task *t, bool *ret_populated, bool *ret_frozen);

