/* SPDX-License-Identifier: Apache-2.0 */
/* Validation of a launch against this host (paths, devices, users, disks), turning it into a launch config. */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/shim-protocol.h"
#include "agent/task-cgroup.h"
#include "agent/task-network.h"
#include "agent/volumes.h"
#include "common/error.h"
#include "common/json-util.h"
#include "common/task-spec-parts.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"

/*
 * The protocol codec has already checked the spec's shape (types, quantities, names, unknown
 * keys). What is left can only be judged here: whether paths exist, devices are devices, a
 * user is known, a disk is one this agent offers. Everything is checked before anything is
 * created, and every message names the field and the value, e.g.
 * "container.volumes[0].source: /srv/nope does not exist".
 */

static bool is_number(const char *s)
{
        if (!*s)
                return false;
        for (; *s; s++)
                if (*s < '0' || *s > '9')
                        return false;
        return true;
}

/* Look `user` up in the task's own /etc/passwd when it has a rootfs (as Docker does), else
 * in the host's. A numeric uid without an entry runs with gid 0. */
static int resolve_user(const char *rootfs, const char *user, uid_t *ret_uid, gid_t *ret_gid,
                        char **ret_home, char **ret_error)
{
        struct passwd *pw = NULL;
        FILE *f = NULL;
        char path[PATH_MAX];

        if (rootfs) {
                snprintf(path, sizeof(path), "%s/etc/passwd", rootfs);
                f = fopen(path, "re");
                if (f) {
                        while ((pw = fgetpwent(f)))
                                if (is_number(user) ? pw->pw_uid == (uid_t)strtoul(user, NULL, 10)
                                                    : streq(pw->pw_name, user))
                                        break;
                }
        } else
                pw = is_number(user) ? getpwuid((uid_t)strtoul(user, NULL, 10)) : getpwnam(user);

        if (pw) {
                *ret_uid = pw->pw_uid;
                *ret_gid = pw->pw_gid;
                *ret_home = strdup(pw->pw_dir);
        } else if (is_number(user)) {
                unsigned long u = strtoul(user, NULL, 10);
                if (u >= UINT32_MAX) {
                        if (f)
                                fclose(f);
                        return error_set(ret_error, -EINVAL, "user: '%s' is out of range", user);
                }
                *ret_uid = (uid_t)u;
                *ret_gid = 0;
                *ret_home = strdup("/");
        } else {
                if (f)
                        fclose(f);
                return error_set(ret_error, -EINVAL, "user: '%s' does not exist in %s", user,
                            rootfs ? path : "the host's user database");
        }
        if (f)
                fclose(f);
        return *ret_home ? 0 : -ENOMEM;
}

static int strv_push(char ***v, size_t *n, char *s)
{
        char **x;

        if (!s)
                return -ENOMEM;
        x = realloc(*v, (*n + 2) * sizeof(char *));
        if (!x) {
                free(s);
                return -ENOMEM;
        }
        x[(*n)++] = s;
        x[*n] = NULL;
        *v = x;
        return 0;
}

static char *strdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *strdup_printf(const char *fmt, ...)
{
        va_list ap;
        char *s;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        return s;
}

static int build_env(const struct silo_task_spec *spec, const char *sandbox, const char *home,
                     bool has_rootfs, char ***ret)
{
        char **env = NULL;
        size_t n = 0;
        bool has_path = false, has_home = false;
        int r = 0;

        for (size_t i = 0; i < spec->n_env && r >= 0; i++) {
                has_path |= streq(spec->env[i].key, "PATH");
                has_home |= streq(spec->env[i].key, "HOME");
                r = strv_push(&env, &n, strdup_printf("%s=%s", spec->env[i].key, spec->env[i].value));
        }
        if (r >= 0 && !has_path)
                r = strv_push(&env, &n, strdup("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
        if (r >= 0 && !has_home)
                r = strv_push(&env, &n, strdup_printf("HOME=%s", home ? home : "/"));
        if (r >= 0)
                r = strv_push(&env, &n, strdup_printf("SILO_TASK_ID=%s", spec->id));
        if (r >= 0 && !has_rootfs)
                r = strv_push(&env, &n, strdup_printf("SILO_SANDBOX=%s", sandbox));
        if (r >= 0 && !env)
                r = strv_push(&env, &n, strdup("SILO=1"));
        if (r < 0) {
                strv_free(env);
                return r;
        }
        *ret = env;
        return 0;
}

/* Each container.devices[i] resolved once (stat: a device node, its type and number) into
 * the rule of the task's device program; the launcher recreates the node by its path. */
static int check_devices(const struct silo_container *c, struct task_plan *plan, char **ret_error)
{
        int r;

        r = task_devices_resolve(c->devices, c->n_devices, &plan->devices, ret_error);
        if (r < 0)
                return r == -ENOMEM ? r : -EINVAL;
        plan->n_devices = c->n_devices;
        return 0;
}

/* The codec refused sources and targets that name "/" or the kernel trees as written (and
 * targets live inside the task, where the agent builds those trees itself); this checks where
 * a source really leads on this host, symlinks followed. The source resolved (what the launcher will bind, symlink-free), or a 400. */
static int check_volume_source(const struct agent *a, size_t i, const char *source,
                               char **ret_resolved, char **ret_error)
{
        _cleanup_free_ char *real = realpath(source, NULL), *token = NULL;
        const char *state = a->state_dir_real;

        if (!real)
                return error_set(ret_error, -EINVAL, "container.volumes[%zu].source: %s does not exist", i, source);
        if (streq(real, "/"))
                return error_set(ret_error, -EINVAL,
                            "container.volumes[%zu].source: '/' is the whole host; name the directories the task needs",
                            i);
        if (silo_volume_kernel_tree(real, false))
                return error_set(ret_error, -EINVAL,
                            "container.volumes[%zu].source: %s is under %s, the host's kernel interface",
                            i, source, silo_volume_kernel_tree(real, false));
        if (path_is_under(real, state) || path_is_under(state, real))
                return error_set(ret_error, -EINVAL,
                            "container.volumes[%zu].source: %s would expose the agent's state directory %s",
                            i, source, state);
        token = a->opts.token_file ? realpath(a->opts.token_file, NULL) : NULL;
        if (token && path_is_under(token, real))
                return error_set(ret_error, -EINVAL,
                            "container.volumes[%zu].source: %s would expose the agent's token file %s",
                            i, source, token);
        /* Persistent volumes are mounted by name only: a bind mount of their directory (or of
         * one above it) would get around the in-use check, the quota's owner and deletion,
         * which see only the tasks that name a volume. */
        for (size_t k = 0; k < a->n_disks; k++) {
                _cleanup_free_ char *vols = NULL;

                if (!a->disks[k].mount)
                        continue;
                vols = agent_volumes_dir(&a->disks[k], NULL);
                if (!vols)
                        return -ENOMEM;
                if (path_is_under(real, vols) || path_is_under(vols, real))
                        return error_set(ret_error, -EINVAL,
                                    "container.volumes[%zu].source: %s would expose the persistent volumes in %s (disk %s); mount a volume by its name",
                                    i, source, vols, a->disks[k].name);
        }
        *ret_resolved = TAKE_PTR(real);
        return 0;
}

/* Each volume's source resolved (symlink-free, into *sources) and its target checked. */
static int check_volumes(const struct agent *a, const struct silo_task_spec *spec, char ***sources,
                         char **ret_error)
{
        const struct silo_container *c = &spec->container;
        size_t n = 0;

        for (size_t i = 0; i < c->n_volumes; i++) {
                const struct silo_volume *v = &c->volumes[i];
                _cleanup_free_ char *resolved = NULL;
                int r;

                /* A persistent volume's source is the agent's own directory (volumes.c). */
                r = v->name ? agent_volume_check(a, spec, i, &resolved, ret_error)
                            : check_volume_source(a, i, v->source, &resolved, ret_error);

                if (r < 0)
                        return r;
                /* Without a rootfs the target is a path of the host's tree, which the agent
                 * never creates; only the task's private /tmp and /var/tmp are its own. */
                if (!c->rootfs && !path_is_under(v->target, "/tmp") &&
                    !path_is_under(v->target, "/var/tmp") && access(v->target, F_OK) < 0)
                        return error_set(ret_error, -EINVAL,
                                    "container.volumes[%zu].target: %s does not exist (without a rootfs the target must exist on the host, or be under /tmp or /var/tmp)",
                                    i, v->target);
                if (!c->rootfs && path_is_under(v->target, a->opts.state_dir))
                        return error_set(ret_error, -EINVAL,
                                    "container.volumes[%zu].target: %s is inside the agent's state directory",
                                    i, v->target);
                if (strpbrk(v->target, ",:"))
                        return error_set(ret_error, -EINVAL, "container.volumes[%zu].target: '%s' contains ',' or ':'",
                                    i, v->target);
                r = strv_push(sources, &n, TAKE_PTR(resolved));
                if (r < 0)
                        return r;
        }
        return 0;
}

/* What a task without a rootfs must not see of the host: the agent's state directory (the
 * token, other tasks' checkpoints, sandboxes and logs), a token file kept elsewhere and the
 * persistent volumes of other tasks (<mount>/silo-volumes of each disk; its own volumes are
 * bound at their targets from copies taken before). */
static int hidden_paths(const struct agent *a, char ***ret)
{
        _cleanup_strv_free_ char **v = NULL;
        size_t n = 0;
        int r;

        r = strv_push(&v, &n, strdup(a->opts.state_dir));
        if (r >= 0 && a->opts.token_file && !path_is_under(a->opts.token_file, a->opts.state_dir)) {
                _cleanup_free_ char *dir = strdup(a->opts.token_file), *db = NULL;
                char *slash = dir ? strrchr(dir, '/') : NULL;

                r = strv_push(&v, &n, strdup(a->opts.token_file));
                /* On a node that also runs the master, --token-file is usually the master's
                 * generated token, next to master.db and every task's spec: hide that whole
                 * directory. */
                if (r >= 0 && slash && slash != dir) {
                        *slash = '\0';
                        if (asprintf(&db, "%s/master.db", dir) < 0)
                                return -ENOMEM;
                        if (access(db, F_OK) == 0)
                                r = strv_push(&v, &n, TAKE_PTR(dir));
                }
        }
        for (size_t i = 0; r >= 0 && i < a->n_disks; i++)
                if (a->disks[i].mount)
                        r = strv_push(&v, &n, agent_volumes_dir(&a->disks[i], NULL));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(v);
        return 0;
}

#define TASK_DEFAULT_NOFILE_SOFT 1024

static bool rlimit_listed(const struct silo_task_spec *spec, int resource)
{
        for (size_t i = 0; i < spec->n_rlimits; i++)
                if (spec->rlimits[i].resource == resource)
                        return true;
        return false;
}

static bool disk_offered(const struct agent *a, const char *name)
{
        if (a->n_disks == 0)
                return true;    /* standalone without --disk: any block device of the host */
        for (size_t i = 0; i < a->n_disks; i++)
                if (streq(a->disks[i].name, name))
                        return true;
        return false;
}

/* Each io entry resolved once into plan->io_targets (task-cgroup.c: a disk is named, "any"
 * is the master's to resolve, two entries are not one disk), and a disk named is one this
 * agent offers. */
static int check_io(const struct agent *a, const struct silo_resources *res, struct task_plan *plan,
                    char **ret_error)
{
        int r;

        r = task_io_targets_resolve(a->sysfs_root, res, &plan->io_targets, ret_error);
        if (r < 0)
                return r == -ENOMEM ? r : -EINVAL;
        plan->n_io_targets = res->n_io;
        for (size_t i = 0; i < res->n_io; i++)
                if (res->io[i].disk && !disk_offered(a, plan->io_targets[i].name))
                        return error_set(ret_error, -EINVAL,
                                         "resources.io[%zu].disk: '%s' is not a disk this agent offers", i,
                                         res->io[i].disk);
        return 0;
}

static int check_rootfs(const struct agent *a, const char *rootfs, char **ret_error)
{
        _cleanup_free_ char *real = NULL;
        const char *state = a->state_dir_real;
        struct stat st;

        if (stat(rootfs, &st) < 0)
                return error_set(ret_error, -EINVAL, "container.rootfs: %s does not exist", rootfs);
        if (!S_ISDIR(st.st_mode))
                return error_set(ret_error, -EINVAL, "container.rootfs: %s is not a directory", rootfs);
        /* overlayfs takes its options as one comma- and colon-separated string. */
        if (strpbrk(rootfs, ",:"))
                return error_set(ret_error, -EINVAL, "container.rootfs: '%s' contains ',' or ':'", rootfs);
        real = realpath(rootfs, NULL);
        if (real && path_is_under(real, state))
                return error_set(ret_error, -EINVAL,
                                 "container.rootfs: %s is inside the agent's state directory", rootfs);
        /* The image is the task's whole view: one that holds the agent's state (the token)
         * would hand it over, "/" included. */
        if (real && path_is_under(state, real))
                return error_set(ret_error, -EINVAL,
                                 "container.rootfs: %s contains the agent's state directory %s", rootfs,
                                 state);
        return 0;
}

/* The task's hostname with the uts namespace: an explicit container.hostname must be valid
 * (the codec checked it); else the task's name, or its id, when it makes one: a name such as
 * "my_task" is a fine name but not a hostname, and the spec never asked for one. */
static int plan_hostname(const struct silo_task_spec *spec, struct shim_resolved *res,
                         char **ret_error)
{
        const char *h = spec->has_container && spec->container.hostname ? spec->container.hostname
                                                                         : NULL;

        if (!h)
                h = spec->name && hostname_is_valid(spec->name, HOST_NAME_MAX) ? spec->name
                    : hostname_is_valid(spec->id, HOST_NAME_MAX)              ? spec->id
                                                                               : "task";
        if (!hostname_is_valid(h, HOST_NAME_MAX))
                return error_set(ret_error, -EINVAL, "container.hostname: '%s' is not a valid hostname", h);
        res->hostname = strdup(h);
        return res->hostname ? 0 : -ENOMEM;
}

/* The open-file limit of a task whose spec sets none: the agent raises its own soft
 * RLIMIT_NOFILE to the hard limit to serve many connections; such a task gets systemd's
 * default for services instead (1024 soft, select() stays safe; the hard limit as it is). */
static struct silo_rlimit plan_nofile(const struct silo_task_spec *spec)
{
        struct rlimit rl;

        if (rlimit_listed(spec, RLIMIT_NOFILE) || getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return (struct silo_rlimit){.resource = -1};
        return (struct silo_rlimit){
                .resource = RLIMIT_NOFILE,
                .soft = MIN((uint64_t)TASK_DEFAULT_NOFILE_SOFT, (uint64_t)rl.rlim_max),
                .hard = rl.rlim_max == RLIM_INFINITY ? UINT64_MAX : rl.rlim_max,
        };
}

/* Every task gets its own mount, pid, cgroup and ipc namespaces whatever the spec lists: in
 * the host's mount namespace it could write other tasks' cgroup limits and read the agent's
 * state, in the host's pid namespace signal the agent, in the host's ipc namespace attach
 * other tasks' SysV shared memory (Docker's default is private too). The spec chooses uts and
 * net. */
static unsigned plan_namespaces(const struct silo_task_spec *spec)
{
        unsigned ns = spec->has_container ? spec->container.namespaces : 0;

        ns |= SILO_NS_MOUNT | SILO_NS_PID | SILO_NS_CGROUP | SILO_NS_IPC;
        if (spec->has_container && spec->container.network == SILO_NETWORK_NONE)
                ns |= SILO_NS_NET;
        /* A bridge task joins the namespace the agent prepared (task-network.h), not a new one. */
        if (spec->has_container && spec->container.network == SILO_NETWORK_BRIDGE)
                ns &= ~(unsigned)SILO_NS_NET;
        return ns;
}

static int validate(const struct agent *a, const struct silo_task_spec *spec, const char *sandbox,
                    struct task_plan *plan, char **ret_error)
{
        struct shim_resolved *res = &plan->resolved;
        const struct silo_container *c = &spec->container;
        _cleanup_free_ char *home = NULL;
        bool has_rootfs = spec->has_container && c->rootfs;
        int r;

        if (!spec->command || !spec->command[0] || !spec->command[0][0])
                return error_set(ret_error, -EINVAL, "command: must not be empty");
        /* Limits this node's kernel would refuse (fs.nr_open, pid_max, its CPUs): task-limits.c. */
        r = task_limits_check(spec, &a->node_limits, ret_error);
        if (r < 0)
                return r;
        if (has_rootfs && (r = check_rootfs(a, c->rootfs, ret_error)) < 0)
                return r;
        r = check_io(a, &spec->resources, plan, ret_error);
        if (r < 0)
                return r;
        r = task_network_check(a, spec, ret_error);
        if (r < 0)
                return r;

        res->namespaces = plan_namespaces(spec);
        if (!has_rootfs && (r = hidden_paths(a, &res->hidden)) < 0)
                return r;
        if (spec->has_container) {
                r = check_volumes(a, spec, &res->volume_sources, ret_error);
                if (r >= 0)
                        r = check_devices(c, plan, ret_error);
                if (r < 0)
                        return r;
        }
        if (spec->user) {
                res->set_user = true;
                r = resolve_user(has_rootfs ? c->rootfs : NULL, spec->user, &res->uid, &res->gid, &home,
                                 ret_error);
                if (r < 0)
                        return r;
        }
        if (res->namespaces & SILO_NS_UTS) {
                r = plan_hostname(spec, res, ret_error);
                if (r < 0)
                        return r;
        }
        res->nofile = plan_nofile(spec);
        res->sandbox = strdup(sandbox);
        if (!res->sandbox)
                return -ENOMEM;
        return build_env(spec, sandbox, home, has_rootfs, &res->env);
}

int task_spec_validate(const struct agent *a, const struct silo_task_spec *spec,
                       const char *sandbox, struct task_plan *ret, char **ret_error)
{
        struct task_plan plan = {.resolved.nofile.resource = -1};
        int r;

        r = validate(a, spec, sandbox, &plan, ret_error);
        if (r < 0) {
                task_plan_clear(&plan);
                return r;
        }
        *ret = plan;
        return 0;
}
