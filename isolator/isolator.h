/* SPDX-License-Identifier: Apache-2.0 */
/* libsilo-isolator: per-task cgroup v2 isolation (cpu, memory, pids, block I/O, devices). */
#pragma once

/*
 * Contract (systemd/liburing style): every int-returning function returns >= 0 on success
 * and -errno on failure; ret_* out-parameters come last and are written only on success.
 * Functions taking `char **ret_error` also set it, on failure only, to a malloc'ed message
 * for the user that names the offending value and where it came from (e.g. "cannot set
 * /sys/fs/cgroup/silo/tasks/t1/io.max to '8:0 rbps=1': ..."); the caller frees it. ret_error
 * may be NULL. The library never prints.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "silo/protocol.h"

#define CG_DEFAULT_MOUNTPOINT "/sys/fs/cgroup"
#define CG_DEFAULT_SILO_ROOT "/sys/fs/cgroup/silo"
/* In a delegated root: the group of the process that keeps the delegated unit alive. */
#define CG_HOLDER_GROUP "holder"
#define CG_CPU_PERIOD_USEC 100000u   /* cpu.max period: 100 ms */
#define CG_MAX UINT64_MAX             /* a limit read back as "max" */

/* ------------------------------------------------------------------ probe */

/* Controller bits (cgroup.controllers). */
enum {
        CG_CTRL_CPU = 1u << 0,
        CG_CTRL_CPUSET = 1u << 1,
        CG_CTRL_MEMORY = 1u << 2,
        CG_CTRL_IO = 1u << 3,
        CG_CTRL_PIDS = 1u << 4,
        /* Silo refuses to run tasks without these; cpuset is enabled when present. */
        CG_CTRL_REQUIRED = CG_CTRL_CPU | CG_CTRL_MEMORY | CG_CTRL_IO | CG_CTRL_PIDS,
        CG_CTRL_WANTED = CG_CTRL_REQUIRED | CG_CTRL_CPUSET,
};

struct cg_probe {
        char mountpoint[256];
        bool unified;           /* a cgroup2 filesystem is mounted at mountpoint */
        unsigned controllers;   /* CG_CTRL_* listed in <mountpoint>/cgroup.controllers */
        bool has_kill;          /* cgroup.kill (5.14+) */
        bool has_freeze;        /* cgroup.freeze (5.2+) */
        bool has_memory_peak;   /* memory.peak (5.19+) */
};

/* Probe the cgroup hierarchy at `mountpoint` (NULL: /sys/fs/cgroup) once per process and
 * cache it; the result is owned by the library. */
int cg_probe(const char *mountpoint, const struct cg_probe **ret);
/* 0 if `p` has cgroup v2 with the required controllers, else -EOPNOTSUPP and a message
 * naming what is missing (e.g. "cgroup v2 controllers io, pids not available at
 * /sys/fs/cgroup (hybrid/v1 host?); Silo will not run tasks without isolation"). */
int cg_probe_check(const struct cg_probe *p, char **ret_error);
const char *cg_controller_to_string(unsigned ctrl_bit);
unsigned cg_controllers_from_string(const char *cgroup_controllers_content); /* pure */

/* ------------------------------------------------------------ hierarchy */

struct cg_hierarchy;

/* Select the root (cgroup_root if given, else /sys/fs/cgroup/silo), create <root>/shims and
 * <root>/tasks and enable cpu cpuset memory io pids down the path. Without `delegated` Silo
 * owns the root: it is created (mkdir -p), controllers are enabled from the mount down, and
 * the caller moves into <root>/agent. With `delegated` the root (cgroup_root, required) is a
 * group systemd delegated (a Delegate=yes scope): its ancestors are left alone, the caller
 * stays where it is, and the root's own processes (the scope's holder) move into
 * <root>/CG_HOLDER_GROUP. Idempotent, so an agent restart calls it again. `cgroup_root` is an
 * absolute cgroupfs path ("/sys/fs/cgroup/silo") or a path relative to the mount ("silo"). */
int cg_hierarchy_setup(const char *cgroup_root, bool delegated, struct cg_hierarchy **ret,
                       char **ret_error);
struct cg_hierarchy *cg_hierarchy_free(struct cg_hierarchy *h);
const char *cg_hierarchy_root(const struct cg_hierarchy *h);        /* absolute path */
/* An O_PATH directory fd of <root>/shims, for cg_clone3_into() of a shim. */
int cg_hierarchy_shims_fd(const struct cg_hierarchy *h);
/* Task ids of the groups under <root>/tasks (for the agent's startup scan); the caller
 * frees the NULL-terminated vector with strv_free(). */
int cg_hierarchy_list_tasks(const struct cg_hierarchy *h, char ***ret);

/* ------------------------------------------------------------ block devices */

struct blockdev {
        dev_t devnum;           /* the io.max target: whole disk, or a dm/md device */
        char name[64];          /* "nvme0n1", "dm-0" */
        bool from_partition;    /* the path named a partition that was mapped to its disk */
        char partition[64];     /* that partition's name, or "" */
};

/* Resolve a device path, partition, mount point or any file to the block device that
 * io.max accepts, through <sysfs_root>/dev/block (sysfs_root NULL: "/sys"). */
int blockdev_resolve(const char *sysfs_root, const char *path, struct blockdev *ret,
                     char **ret_error);
/* The same for a disk name in <sysfs_root>/class/block ("nvme0n1", "sda1", "dm-0"). */
int blockdev_resolve_name(const char *sysfs_root, const char *name, struct blockdev *ret,
                          char **ret_error);
/* The same for a device number (what stat() gave). */
int blockdev_resolve_devnum(const char *sysfs_root, dev_t devnum, struct blockdev *ret,
                            char **ret_error);

/* ------------------------------------------------------------ tasks */

/* One io.max/io.weight target of a task: a block device already resolved (blockdev_resolve*)
 * and its limits. */
struct cg_io_target {
        struct blockdev dev;
        uint64_t limit[_SILO_IO_LIMIT_MAX];     /* CG_MAX = no limit */
        uint32_t weight;                        /* io.weight 1..10000, 0 = the default */
};

#define CG_DEVICE_ANY 0xffffffffu       /* a rule's wildcard minor */
#define CG_DEVICE_RULES_MAX 248u        /* rules a task may add to the default allow-list */

/* One device a task may use, on top of the defaults (/dev/null zero full random urandom tty
 * ptmx, and pts). */
struct cg_device_rule {
        char type;              /* 'b' or 'c' */
        unsigned major, minor;  /* minor may be CG_DEVICE_ANY */
        unsigned access;        /* SILO_DEV_* bits */
};

/* Everything the isolator applies to a task, as plain values (like crun's
 * libcrun_cgroup_args): the caller has validated the spec and resolved its devices; the
 * isolator knows no spec or field path, so its messages name cgroup files and values. */
struct cg_limits {
        double cpus;                    /* cpu.max in CPUs (at least 0.01), 0 = no limit */
        uint32_t cpu_weight;            /* cpu.weight 1..10000, 0 = the default */
        const char *cpuset;             /* cpuset.cpus ("0-1,3"), NULL = inherited */
        uint64_t mem, mem_high, swap, pids;     /* CG_MAX = no limit */
        const struct cg_io_target *io;  /* distinct devices */
        size_t n_io;
        const struct cg_device_rule *devices;   /* at most CG_DEVICE_RULES_MAX; create only */
        size_t n_devices;
};

struct cg_task;

/* Create <root>/tasks/<task_id> with `limits` and a device allow-list of the defaults plus
 * limits->devices. Nothing is left behind on failure. -EEXIST if the group exists (use
 * cg_task_open). */
int cg_task_create(struct cg_hierarchy *h, const char *task_id, const struct cg_limits *limits,
                   struct cg_task **ret, char **ret_error);
/* Re-adopt an existing group after an agent restart (limits and device program stay as
 * they are in the kernel). -ENOENT if it does not exist. */
int cg_task_open(struct cg_hierarchy *h, const char *task_id, struct cg_task **ret);
/* Apply new limits live. Fields left unset in `limits` are reset to "no limit" (cpuset
 * excepted: an unset cpuset keeps the CPUs in force); io devices no longer listed are reset
 * to "max" and the default weight. The device allow-list stays as created. */
int cg_task_update(struct cg_task *t, const struct cg_limits *limits, char **ret_error);
/* Free the handle (closes fds); the group and its limits stay. */
struct cg_task *cg_task_free(struct cg_task *t);

const char *cg_task_path(const struct cg_task *t);   /* absolute cgroupfs path */
/* O_PATH|O_DIRECTORY fd of the group, for cg_clone3_into(); owned by the handle. */
int cg_task_fd(const struct cg_task *t);

/* ---- read back */

struct cg_psi_line {
        double avg10, avg60, avg300;
        uint64_t total_usec;
};
struct cg_pressure {
        bool valid;             /* the file exists and parsed (PSI may be disabled) */
        struct cg_psi_line some, full;
};

struct cg_io_limit {
        unsigned major, minor;
        char name[64];          /* from /sys/dev/block, "" if unknown */
        uint64_t limit[_SILO_IO_LIMIT_MAX];     /* CG_MAX = no limit */
        uint32_t weight;        /* io.weight for this device, or the group default */
        bool weight_enforced;   /* iocost enabled for it, or BFQ its scheduler */
        char weight_note[128];  /* "iocost", "bfq", or why it is not enforced */
};

struct cg_io_stat {
        unsigned major, minor;
        char name[64];
        uint64_t rbytes, wbytes, rios, wios, dbytes, dios;
};

struct cg_cpu_stat {
        uint64_t usage_usec, user_usec, system_usec;
        uint64_t nr_periods, nr_throttled, throttled_usec;
};

struct cg_memory_events {
        uint64_t low, high, max, oom, oom_kill, oom_group_kill;
};

struct cg_memory_stat {
        uint64_t anon, file, kernel_stack, slab, sock, shmem;
        uint64_t file_dirty, file_writeback, pgfault, pgmajfault;
        uint64_t inactive_file; /* reclaimable first: working set = current - inactive_file */
};

struct cg_task_status {
        /* limits in force, parsed from the group's files */
        uint64_t cpu_quota_usec;        /* CG_MAX = unlimited */
        uint64_t cpu_period_usec;
        uint32_t cpu_weight;
        char cpuset_cpus[256], cpuset_mems[256];                /* "" = inherited */
        char cpuset_cpus_effective[256], cpuset_mems_effective[256];
        uint64_t memory_max, memory_high, memory_swap_max, pids_max; /* CG_MAX = "max" */
        bool memory_oom_group;
        struct cg_io_limit *io;         /* one per device with a limit or weight */
        size_t n_io;
        /* usage */
        struct cg_cpu_stat cpu;
        uint64_t memory_current, memory_peak;   /* peak CG_MAX when the kernel lacks it */
        uint64_t memory_swap_current;
        struct cg_memory_events memory_events;
        struct cg_memory_stat memory_stat;
        struct cg_io_stat *io_stat;
        size_t n_io_stat;
        uint64_t pids_current;
        struct cg_pressure cpu_pressure, memory_pressure, io_pressure;
        bool populated, frozen;
};

int cg_task_read(struct cg_task *t, struct cg_task_status *ret);
/* Free what cg_task_read allocated; the struct may be reused. */
void cg_task_status_done(struct cg_task_status *s);

/* ---- events */

enum {
        CG_EVENT_OOM_KILL = 1u << 0,    /* memory.events oom_kill grew */
        CG_EVENT_EMPTY = 1u << 1,       /* cgroup.events populated went to 0 */
        CG_EVENT_FROZEN = 1u << 2,      /* cgroup.events frozen changed */
};
/* An inotify fd (IN_MODIFY on memory.events and cgroup.events) the caller polls for
 * readability; owned by the handle. */
int cg_task_events_fd(struct cg_task *t);
/* Drain the fd and return the CG_EVENT_* bits of what changed since the last call. */
int cg_task_events_process(struct cg_task *t, unsigned *ret_events);
/* 1 if processes live in the group, 0 if it is empty. */
int cg_task_is_populated(struct cg_task *t);
/* The memory.events oom_kill count (> 0: the task was OOM-killed). */
int cg_task_oom_killed(struct cg_task *t, uint64_t *ret_count);

/* ---- kill and teardown */

/* SIGKILL every process of the group: cgroup.kill, or a walk of cgroup.procs on kernels
 * without it. */
int cg_task_kill(struct cg_task *t);
/* Freeze or thaw the group and wait (up to 1 s) for cgroup.events to confirm. */
int cg_task_freeze(struct cg_task *t, bool freeze);
/* Kill what is left, wait up to timeout_usec (0: 10 s) until the group is empty, remove
 * it (its device program goes with it). Idempotent: 0 if already gone. The handle stays
 * valid for cg_task_free(). */
int cg_task_destroy(struct cg_task *t, uint64_t timeout_usec);

/* ------------------------------------------------------------ launch */

/* clone3() with CLONE_PIDFD | CLONE_INTO_CGROUP | clone_flags (namespace flags; no
 * CLONE_VM, CLONE_THREAD or signal in the flags: SIGCHLD is the exit signal). Returns 0 in
 * the child, the pid in the parent (with *ret_pidfd set), -errno on failure. */
pid_t cg_clone3_into(int cgroup_fd, uint64_t clone_flags, int *ret_pidfd);
/* Start fn(arg) in a new process directly in cgroup_fd's group (-1: the caller's), without
 * copying the caller's memory: the child shares it (CLONE_VM | CLONE_VFORK, the way
 * posix_spawn starts a child) on a stack of its own, and this returns once the child has
 * called execve() or exited, with its pid (and *ret_pidfd set) or -errno. fn starts with
 * every signal blocked and every handler at its default; it may only make system calls
 * (no malloc, no stdio, no locks: the caller's memory is live under it) and write through
 * arg, which the caller reads after the return (an exec error, say); if it returns, its
 * value is the child's exit status. On an architecture without the x86-64 trampoline the
 * child is a copy (fork) and its writes are not seen. */
pid_t cg_spawn_into(int cgroup_fd, int (*fn)(void *), void *arg, int *ret_pidfd);
