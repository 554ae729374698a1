/* SPDX-License-Identifier: Apache-2.0 */
/* Silo's cgroup hierarchy: root selection, <root>/{agent,shims,tasks}, controllers down the path. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libcgroup.h>

#include "common/fileio.h"
#include "isolator/cgroup-internal.h"

int cg_libcgroup_errno(int code)
{
        switch (code) {
        case 0:
                return 0;
        case ECGOTHER:
        case ECGCANTSETVALUE: {
                int e = cgroup_get_last_errno();
                return e > 0 ? -e : -EIO;
        }
        case ECGROUPNOTEXIST:
        case ECGROUPVALUENOTEXIST:
                return -ENOENT;
        case ECGROUPNOTOWNER:
        case ECGROUPNOTALLOWED:
                return -EPERM;
        case ECGROUPNOTMOUNTED:
        case ECGROUPSUBSYSNOTMOUNTED:
                return -EOPNOTSUPP;
        default:
                return -EIO;
        }
}

static int cg_libcgroup_init(char **ret_error)
{
        static int initialized;
        int r;

        if (initialized)
                return 0;
        /* cgroup_init() parses /proc/mounts into libcgroup's mount table. */
        r = cgroup_init();
        if (r != 0)
                return error_set(ret_error, cg_libcgroup_errno(r),
                                "libcgroup cannot initialise: %s", cgroup_strerror(r));
        initialized = 1;
        return 0;
}

static int join(const char *a, const char *b, char **ret)
{
        char *s;

        if (asprintf(&s, "%s%s%s", a, *b && a[strlen(a) - 1] != '/' ? "/" : "", b) < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* libcgroup names groups by their path relative to the controller's mount point. */
const char *cg_rel_of(const struct cg_hierarchy *h, const char *abs)
{
        size_t n = strlen(h->mountpoint);
        const char *r = abs + n;

        return *r == '/' ? r + 1 : r;
}

/*
 * Create one group with mkdir(2). What libcgroup 2.0.2 does instead (read in its source,
 * checked in the VM): cgroup_create_cgroup() with controllers in the struct calls
 * cgroupv2_subtree_control_recursive(), which mkdirs and writes "+<ctrl>" into
 * cgroup.subtree_control of every ancestor from the mount point down to the parent. In a
 * systemd-delegated subtree those ancestors belong to systemd, so that path is not usable.
 * With no controller in the struct (the "empty v2 cgroup" of later releases) 2.0.2 returns 0
 * and creates nothing. So Silo mkdirs its groups, enables controllers itself from its root
 * down (cg_enable_controllers()), and uses libcgroup for its reads (cgroup-read.c); values
 * are written directly (cgroup-apply.c says why).
 */
int cg_group_create(const struct cg_hierarchy *h, const char *abs, char **ret_error)
{
        (void)h;
        if (mkdir(abs, 0755) < 0 && errno != EEXIST)
                return error_set(ret_error, negative_errno(), "cannot create cgroup %s: %m", abs);
        return 0;
}

static int cg_enable_controllers(const char *path, unsigned ctrls, char **ret_error)
{
        _cleanup_free_ char *sc = NULL, *cur = NULL, *avail = NULL, *ac = NULL;
        unsigned have, can;
        char buf[64] = "";
        int r;

        if (join(path, "cgroup.subtree_control", &sc) < 0 ||
            join(path, "cgroup.controllers", &ac) < 0)
                return -ENOMEM;
        r = file_read_full(ac, 0, &avail, NULL);
        if (r < 0)
                return error_set(ret_error, r, "cannot read %s: %s", ac, strerror(-r));
        can = cg_controllers_from_string(avail);
        if ((ctrls & CG_CTRL_REQUIRED) & ~can) {
                for (unsigned b = 1; b <= CG_CTRL_PIDS; b <<= 1)
                        if ((ctrls & CG_CTRL_REQUIRED & ~can) & b)
                                snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s",
                                         buf[0] ? ", " : "", cg_controller_to_string(b));
                return error_set(ret_error, -EOPNOTSUPP,
                                "cgroup v2 controllers %s not available in %s (not delegated "
                                "to it?); Silo will not run tasks without isolation",
                                buf, path);
        }
        ctrls &= can;   /* optional ones (cpuset) only where offered */
        r = file_read_full(sc, 0, &cur, NULL);
        if (r < 0)
                return error_set(ret_error, r, "cannot read %s: %s", sc, strerror(-r));
        have = cg_controllers_from_string(cur);
        buf[0] = 0;
        for (unsigned b = 1; b <= CG_CTRL_PIDS; b <<= 1)
                if ((ctrls & ~have) & b)
                        snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s+%s",
                                 buf[0] ? " " : "", cg_controller_to_string(b));
        if (!buf[0])
                return 0;
        /* libcgroup only writes subtree_control as a side effect of creating a group (all
         * ancestors, see group_create()), so Silo writes it itself, only where it owns it. */
        r = file_write_string(sc, buf);
        if (r < 0)
                return error_set(ret_error, r,
                                "cannot enable controllers '%s' in %s: %s%s", buf, sc,
                                strerror(-r),
                                r == -EBUSY ? " (processes live in that group: the "
                                              "no-internal-process rule)" : "");
        return 0;
}

static bool path_has_dotdot(const char *p)
{
        for (const char *c = p; c && *c;) {
                size_t n = strcspn(c, "/");

                if (n == 2 && c[0] == '.' && c[1] == '.')
                        return true;
                c += n;
                c += strspn(c, "/");
        }
        return false;
}

static int attach_pid(const char *group, const char *pid, char **ret_error)
{
        _cleanup_free_ char *procs = NULL;
        int r;

        if (join(group, "cgroup.procs", &procs) < 0)
                return -ENOMEM;
        r = file_write_string(procs, pid);
        if (r < 0)
                return error_set(ret_error, r, "cannot move pid %s into %s: %s", pid, group,
                                 strerror(-r));
        return 0;
}

/* The caller's own move into <root>/agent happens before pids is enabled in <root> (it can
 * only be enabled once the root holds no process), which libcgroup's attach refuses: so
 * this one write goes to cgroup.procs directly. */
static int attach_self(const char *agent, char **ret_error)
{
        char pid[32];
        int r;

        snprintf(pid, sizeof(pid), "%d", (int)getpid());
        r = attach_pid(agent, pid, ret_error);
        return r < 0 ? error_wrap(ret_error, r, "moving the agent") : 0;
}

/* A delegated root starts with its first process in it (a scope cannot be started empty):
 * every process of the root itself moves to <root>/holder, so that controllers can be
 * enabled below the root (no-internal-process rule). */
static int residents_move(const char *root, const char *holder, char **ret_error)
{
        _cleanup_free_ char *procs = NULL, *content = NULL;
        char *save = NULL;
        int r;

        if (join(root, "cgroup.procs", &procs) < 0)
                return -ENOMEM;
        r = file_read_full(procs, 0, &content, NULL);
        if (r < 0)
                return error_set(ret_error, r, "cannot read %s: %s", procs, strerror(-r));
        for (char *pid = strtok_r(content, "\n", &save); pid; pid = strtok_r(NULL, "\n", &save)) {
                r = attach_pid(holder, pid, ret_error);
                /* A process that exited meanwhile has nothing left to move. */
                if (r == -ESRCH) {
                        free(*ret_error);
                        *ret_error = NULL;
                } else if (r < 0)
                        return r;
        }
        return 0;
}

struct cg_hierarchy *cg_hierarchy_free(struct cg_hierarchy *h)
{
        if (!h)
                return NULL;
        safe_close(h->shims_fd);
        safe_close(h->devices_prog_fd);
        free(h->mountpoint);
        free(h->root);
        free(h->root_rel);
        free(h->sysfs_root);
        free(h);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct cg_hierarchy *, cg_hierarchy_free);

/* h->root from --cgroup-root: an absolute path below the mount or one relative to it. */
static int root_from_option(struct cg_hierarchy *h, const char *cgroup_root, char **ret_error)
{
        size_t n = strlen(h->mountpoint);

        if (cgroup_root[0] == '/' &&
            (strncmp(cgroup_root, h->mountpoint, n) != 0 ||
             (cgroup_root[n] != '/' && cgroup_root[n] != 0)))
                return error_set(ret_error, -EINVAL,
                                 "--cgroup-root: %s is not below the cgroup v2 mount %s",
                                 cgroup_root, h->mountpoint);
        if (path_has_dotdot(cgroup_root))
                return error_set(ret_error, -EINVAL,
                                 "--cgroup-root: %s must not contain '..'", cgroup_root);
        if (cgroup_root[0] == '/')
                h->root = strdup(cgroup_root);
        else if (asprintf(&h->root, "%s/%s", h->mountpoint, cgroup_root) < 0)
                h->root = NULL;
        if (!h->root)
                return -ENOMEM;
        /* drop trailing slashes */
        for (size_t l = strlen(h->root); l > n + 1 && h->root[l - 1] == '/'; l--)
                h->root[l - 1] = 0;
        if (streq(h->root, h->mountpoint))
                return error_set(ret_error, -EINVAL,
                                 "--cgroup-root: %s is the cgroup mount itself; give Silo a "
                                 "group of its own", cgroup_root);
        return 0;
}

/* h->root and h->root_rel from --cgroup-root (or the delegated group), else the default. */
static int root_select(struct cg_hierarchy *h, const char *cgroup_root, char **ret_error)
{
        int r;

        if (cgroup_root && *cgroup_root) {
                r = root_from_option(h, cgroup_root, ret_error);
                if (r < 0)
                        return r;
        } else if (!(h->root = strdup(CG_DEFAULT_SILO_ROOT)))
                return -ENOMEM;
        h->root_rel = strdup(cg_rel_of(h, h->root));
        return h->root_rel ? 0 : -ENOMEM;
}

/* Create a root Silo owns (mkdir -p: a --cgroup-root may name a group below groups not yet
 * there) and enable the controllers from the mount down to its parent, top first. */
static int root_create(const struct cg_hierarchy *h, char **ret_error)
{
        _cleanup_free_ char *walk = strdup(h->root);
        int r;

        if (!walk)
                return -ENOMEM;
        r = mkdir_parents(h->root, 0755);
        if (r < 0)
                return error_set(ret_error, r, "cannot create cgroup %s: %s", h->root,
                                 strerror(-r));
        r = cg_enable_controllers(h->mountpoint, CG_CTRL_WANTED, ret_error);
        if (r < 0)
                return r;
        for (char *s = strchr(walk + strlen(h->mountpoint) + 1, '/'); s; s = strchr(s + 1, '/')) {
                *s = 0;
                r = cg_enable_controllers(walk, CG_CTRL_WANTED, ret_error);
                *s = '/';
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The controllers <root>/tasks hands to the task groups. */
static int tasks_controllers_read(const char *tasks, unsigned *ret, char **ret_error)
{
        _cleanup_free_ char *sc = NULL, *cur = NULL;
        int r;

        if (join(tasks, "cgroup.subtree_control", &sc) < 0)
                return -ENOMEM;
        r = file_read_full(sc, 0, &cur, NULL);
        if (r < 0)
                return error_set(ret_error, r, "cannot read %s: %s", sc, strerror(-r));
        *ret = cg_controllers_from_string(cur);
        return 0;
}

int cg_hierarchy_setup(const char *cgroup_root, bool delegated, struct cg_hierarchy **ret,
                       char **ret_error)
{
        _cleanup_(cg_hierarchy_freep) struct cg_hierarchy *h = NULL;
        _cleanup_free_ char *agent = NULL, *shims = NULL, *tasks = NULL;
        const struct cg_probe *p;
        int r;

        r = cg_probe(NULL, &p);
        if (r < 0)
                return error_set(ret_error, r, "cannot probe %s: %s", CG_DEFAULT_MOUNTPOINT,
                                 strerror(-r));
        r = cg_probe_check(p, ret_error);
        if (r < 0)
                return r;
        r = cg_libcgroup_init(ret_error);
        if (r < 0)
                return r;

        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->shims_fd = -EBADF;
        h->devices_prog_fd = -EBADF;
        h->mountpoint = strdup(p->mountpoint);
        h->sysfs_root = strdup("/sys");
        if (!h->mountpoint || !h->sysfs_root)
                return -ENOMEM;
        if (delegated && !(cgroup_root && *cgroup_root))
                return error_set(ret_error, -EINVAL, "a delegated cgroup root needs its path");
        r = root_select(h, cgroup_root, ret_error);
        if (r < 0)
                return r;
        if (join(h->root, delegated ? CG_HOLDER_GROUP : "agent", &agent) < 0 ||
            join(h->root, "shims", &shims) < 0 || join(h->root, "tasks", &tasks) < 0)
                return -ENOMEM;
        /* Ancestors of a root Silo created need the controllers too; a delegated root got
         * them from systemd and its ancestors are not ours to touch. */
        if (!delegated && (r = root_create(h, ret_error)) < 0)
                return r;
        if ((r = cg_group_create(h, agent, ret_error)) < 0 ||
            (r = cg_group_create(h, shims, ret_error)) < 0 ||
            (r = cg_group_create(h, tasks, ret_error)) < 0)
                return r;
        /* The root's processes leave it first: a group with processes cannot hand controllers
         * to its children (no-internal-process rule). The caller of a delegated root stays
         * where it is (in its own service's group). */
        r = delegated ? residents_move(h->root, agent, ret_error) : attach_self(agent, ret_error);
        if (r < 0)
                return r;
        if ((r = cg_enable_controllers(h->root, CG_CTRL_WANTED, ret_error)) < 0 ||
            (r = cg_enable_controllers(tasks, CG_CTRL_WANTED, ret_error)) < 0 ||
            (r = tasks_controllers_read(tasks, &h->controllers, ret_error)) < 0)
                return r;
        h->shims_fd = open(shims, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (h->shims_fd < 0)
                return error_set(ret_error, negative_errno(), "cannot open %s: %m", shims);
        *ret = TAKE_PTR(h);
        return 0;
}

const char *cg_hierarchy_root(const struct cg_hierarchy *h)
{
        return h->root;
}

int cg_hierarchy_shims_fd(const struct cg_hierarchy *h)
{
        return h->shims_fd;
}

int cg_hierarchy_list_tasks(const struct cg_hierarchy *h, char ***ret)
{
        _cleanup_free_ char *tasks = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_strv_free_ char **v = NULL;
        struct dirent *de;
        size_t n = 0;

        if (join(h->root, "tasks", &tasks) < 0)
                return -ENOMEM;
        d = opendir(tasks);
        if (!d)
                return negative_errno();
        v = calloc(1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        while ((de = readdir(d))) {
                char **nv;

                if (de->d_type != DT_DIR || de->d_name[0] == '.')
                        continue;
                nv = realloc(v, (n + 2) * sizeof(char *));
                if (!nv)
                        return -ENOMEM;
                v = nv;
                v[n] = strdup(de->d_name);
                v[n + 1] = NULL;
                if (!v[n])
                        return -ENOMEM;
                n++;
        }
        *ret = TAKE_PTR(v);
        return 0;
}
