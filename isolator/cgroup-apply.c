/* SPDX-License-Identifier: Apache-2.0 */
/* Per-task groups: create, re-adopt and update limits live, each control file written directly. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "bpf/devices.h"
#include "common/fileio.h"
#include "isolator/cgroup-internal.h"

/*
 * Every control file of a task's group is written directly at the group's path, which the
 * agent knows (the hierarchy's mount point was found once, by cgroup_init() at start), not
 * through cgroup_modify_cgroup(): libcgroup 2.0.2 re-reads /proc/mounts before each value it
 * writes (cg_set_control_value() calls cg_test_mounted_fs()), four reads of the mount table
 * for a launch with four limits, and has no controller for the core files (cgroup.*) at all.
 * One open and one write per file; the message names the file and the value.
 */
static int attr_write(const struct cg_task *t, const char *name, const char *value,
                      char **ret_error)
{
        int r = cg_task_write_core(t, name, value);

        if (r < 0)
                return error_set(ret_error, r, "cannot set %s/%s to '%s': %s", t->path, name, value,
                                 strerror(-r));
        return 0;
}

/*
 * io.weight is written where a proportional controller can use it: io.bfq.weight when the
 * disk's scheduler is BFQ; io.weight per device when iocost runs on it. Without either the
 * kernel refuses a per-device io.weight (-EOPNOTSUPP: the iocost policy is not enabled on
 * that queue), so the weight becomes the group's default, which iocost picks up if it is
 * enabled later; cg_task_read() then reports it as not enforced, with the reason.
 */
static int weight_write(const struct cg_task *t, const char *value, char **ret_error)
{
        struct cg_io_limit l = {};
        unsigned ma, mi;
        char w[16], buf[64];
        int r;

        if (sscanf(value, "%u:%u %15s", &ma, &mi, w) != 3)
                return -EINVAL;
        l.major = ma;
        l.minor = mi;
        cg_io_weight_enforcement(t->h->mountpoint, t->h->sysfs_root, &l);
        if (l.weight_enforced && streq(l.weight_note, "bfq")) {
                /* BFQ takes "default" only as the group default, not per device */
                if (streq(w, "default"))
                        return 0;
                return attr_write(t, "io.bfq.weight", value, ret_error);
        }
        r = attr_write(t, "io.weight", value, l.weight_enforced ? ret_error : NULL);
        if (r >= 0 || l.weight_enforced)
                return r;
        if (r == -ENOENT)
                return 0;       /* kernel without iocost: nothing to write, read-back says so */
        if (streq(w, "default"))
                return 0;
        snprintf(buf, sizeof(buf), "default %s", w);
        return attr_write(t, "io.weight", buf, ret_error);
}

static int attrs_apply(const struct cg_task *t, const struct cg_attr_list *l, char **ret_error)
{
        for (size_t i = 0; i < l->n; i++) {
                const struct cg_attr *a = &l->attrs[i];
                int r;

                if (streq(a->name, "io.weight"))
                        r = weight_write(t, a->value, ret_error);
                else
                        r = attr_write(t, a->name, a->value, ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool task_id_valid(const char *id)
{
        if (!id || !*id || strlen(id) > 128 || streq(id, ".") || streq(id, ".."))
                return false;
        for (const char *p = id; *p; p++)
                if (*p == '/' || *p == '\n' || (unsigned char)*p < 0x20)
                        return false;
        return true;
}

struct cg_task *cg_task_free(struct cg_task *t)
{
        if (!t)
                return NULL;
        safe_close(t->fd);
        safe_close(t->inotify_fd);
        free(t->id);
        free(t->path);
        free(t->rel);
        free(t->io_devs);
        free(t);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct cg_task *, cg_task_free);

static int task_new(struct cg_hierarchy *h, const char *task_id, struct cg_task **ret)
{
        _cleanup_(cg_task_freep) struct cg_task *t = calloc(1, sizeof(*t));

        if (!t)
                return -ENOMEM;
        t->h = h;
        t->fd = -EBADF;
        t->inotify_fd = -EBADF;
        t->wd_cgroup_events = -1;
        t->id = strdup(task_id);
        if (!t->id || asprintf(&t->path, "%s/tasks/%s", h->root, task_id) < 0)
                return -ENOMEM;
        t->rel = strdup(cg_rel_of(h, t->path));
        if (!t->rel)
                return -ENOMEM;
        *ret = TAKE_PTR(t);
        return 0;
}

static int task_open_fd(struct cg_task *t)
{
        /* O_PATH is enough for CLONE_INTO_CGROUP (the kernel takes it with fdget_raw). */
        t->fd = open(t->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        return t->fd < 0 ? negative_errno() : 0;
}

static int devices_apply(const struct cg_task *t, const struct cg_limits *limits,
                         char **ret_error)
{
        _cleanup_close_ int dfd = -EBADF;
        int r;

        /* bpf_prog_attach needs a real open fd of the cgroup directory, not O_PATH. */
        dfd = open(t->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return error_set(ret_error, negative_errno(), "cannot open %s: %m", t->path);
        if (limits->n_devices > 0)
                return devices_attach(dfd, limits->devices, limits->n_devices, ret_error);
        /* Most tasks list no device: they share one program of the default rules, loaded
         * once (libbpf's open, the kernel's verifier and the map cost more than the rest of
         * the cgroup's creation together), instead of one load per launch. */
        if (t->h->devices_prog_fd < 0) {
                r = devices_load(NULL, 0, &t->h->devices_prog_fd, ret_error);
                if (r < 0)
                        return r;
        }
        return devices_attach_prog(t->h->devices_prog_fd, dfd, ret_error);
}

/* The writes of `limits` for a group of `h`, and the io devices to remember for the next
 * update; refuses limits that need a controller the hierarchy lacks. */
static int limits_prepare(const struct cg_hierarchy *h, const struct cg_limits *limits,
                          const dev_t *old_devs, size_t n_old_devs, bool reset,
                          struct cg_attr_list *ret, dev_t **ret_devs, char **ret_error)
{
        _cleanup_free_ dev_t *devs = NULL;
        unsigned missing;
        int r;

        missing = cg_limits_controllers_needed(limits) & ~h->controllers;
        if (missing)
                return error_set(ret_error, -EOPNOTSUPP,
                                 "the %s controller is not enabled in %s/tasks",
                                 cg_controller_to_string(missing & -missing), h->root);
        if (limits->n_io > 0) {
                devs = calloc(limits->n_io, sizeof(*devs));
                if (!devs)
                        return -ENOMEM;
                for (size_t i = 0; i < limits->n_io; i++)
                        devs[i] = limits->io[i].dev.devnum;
        }
        r = cg_limits_format(limits, old_devs, n_old_devs, reset, ret, ret_error);
        if (r < 0)
                return r;
        *ret_devs = TAKE_PTR(devs);
        return 0;
}

int cg_task_create(struct cg_hierarchy *h, const char *task_id, const struct cg_limits *limits,
                   struct cg_task **ret, char **ret_error)
{
        _cleanup_(cg_task_freep) struct cg_task *t = NULL;
        _cleanup_free_ dev_t *devs = NULL;
        struct cg_attr_list attrs = {};
        int r;

        if (!task_id_valid(task_id))
                return error_set(ret_error, -EINVAL,
                                "task id '%s' cannot name a cgroup (empty, '/', '.', '..', "
                                "control characters or longer than 128)",
                                strempty(task_id));
        r = limits_prepare(h, limits, NULL, 0, false, &attrs, &devs, ret_error);
        if (r < 0)
                return r;
        r = task_new(h, task_id, &t);
        if (r < 0)
                goto out;
        if (access(t->path, F_OK) == 0) {
                r = error_set(ret_error, -EEXIST, "cgroup %s already exists", t->path);
                goto out;
        }
        r = cg_group_create(h, t->path, ret_error);
        if (r < 0)
                goto out;
        r = task_open_fd(t);
        if (r < 0)
                r = error_set(ret_error, r, "cannot open %s: %s", t->path, strerror(-r));
        if (r >= 0)
                r = attrs_apply(t, &attrs, ret_error);
        /* The allow-list goes on before any process can enter the group. */
        if (r >= 0)
                r = devices_apply(t, limits, ret_error);
        if (r < 0) {
                (void)rmdir(t->path);   /* nothing is left behind on failure */
                goto out;
        }
        t->io_devs = TAKE_PTR(devs);
        t->n_io_devs = limits->n_io;
        *ret = TAKE_PTR(t);
out:
        cg_attr_list_done(&attrs);
        return r;
}

int cg_task_open(struct cg_hierarchy *h, const char *task_id, struct cg_task **ret)
{
        _cleanup_(cg_task_freep) struct cg_task *t = NULL;
        _cleanup_free_ char *io_max = NULL;
        _cleanup_free_ struct cg_io_limit *lim = NULL;
        size_t n = 0;
        int r;

        if (!task_id_valid(task_id))
                return -EINVAL;
        r = task_new(h, task_id, &t);
        if (r < 0)
                return r;
        r = task_open_fd(t);
        if (r < 0)
                return r;
        /* Recover the devices with io settings, so a later update can reset dropped ones. */
        if (cg_attr_read(t->rel, "io.max", &io_max) >= 0 &&
            cg_parse_io_limits(io_max, NULL, &lim, &n) >= 0 && n > 0) {
                t->io_devs = calloc(n, sizeof(*t->io_devs));
                if (!t->io_devs)
                        return -ENOMEM;
                for (size_t i = 0; i < n; i++)
                        t->io_devs[i] = makedev(lim[i].major, lim[i].minor);
                t->n_io_devs = n;
        }
        (void)cg_task_oom_killed(t, &t->last_oom_kill);
        *ret = TAKE_PTR(t);
        return 0;
}

int cg_task_update(struct cg_task *t, const struct cg_limits *limits, char **ret_error)
{
        _cleanup_free_ dev_t *devs = NULL;
        struct cg_attr_list attrs = {};
        int r;

        r = limits_prepare(t->h, limits, t->io_devs, t->n_io_devs, true, &attrs, &devs,
                           ret_error);
        if (r < 0)
                return r;
        r = attrs_apply(t, &attrs, ret_error);
        cg_attr_list_done(&attrs);
        if (r < 0)
                return r;
        free(t->io_devs);
        t->io_devs = TAKE_PTR(devs);
        t->n_io_devs = limits->n_io;
        return 0;
}

const char *cg_task_path(const struct cg_task *t)
{
        return t->path;
}

int cg_task_fd(const struct cg_task *t)
{
        return t->fd;
}
