/* SPDX-License-Identifier: Apache-2.0 */
/* The task's mount namespace: overlay rootfs, volumes, /dev, /proc, read-only /sys and cgroupfs, pivot_root. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "isolator/container.h"

/* Room for a PATH_MAX root plus the fixed suffixes appended to it. */
#define PATH_BUF (PATH_MAX + 64)

/* Nodes every container gets, as runc and Docker create them. */
static const char *const default_devices[] = {
        "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty",
};

static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        return r < 0 ? r : -r;
}

static int do_mount(const char *src, const char *target, const char *type, unsigned long flags,
                    const char *data, char *err, size_t errlen)
{
        if (mount(src, target, type, flags, data) < 0) {
                int r = negative_errno();
                return fail(err, errlen, r, "mounting %s on %s (%s): %s", strempty(src), target,
                            strempty(type), strerror(-r));
        }
        return 0;
}

static int ensure_parent(const char *path)
{
        _cleanup_free_ char *parent = strdup(path);
        char *slash;

        if (!parent)
                return -ENOMEM;
        slash = strrchr(parent, '/');
        if (!slash || slash == parent)
                return 0;
        *slash = '\0';
        return mkdir_parents(parent, 0755);
}

/* Make `path` exist as a directory or, when `file` is set, as an empty regular file. */
static int ensure_node(const char *path, bool file)
{
        int r = ensure_parent(path);

        if (r < 0)
                return r;
        if (file) {
                int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
                if (fd < 0)
                        return errno == EISDIR ? 0 : negative_errno();
                close(fd);
                return 0;
        }
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
                return negative_errno();
        return 0;
}

/* `inner` joined under `root`, refusing anything that resolves outside `root` (a symlink in
 * the image pointing at "/etc" would otherwise put a volume on the host's /etc). */
static int path_under(const char *root, const char *inner, char *ret, size_t len, bool check)
{
        char real[PATH_MAX];

        if (snprintf(ret, len, "%s%s", root, inner) >= (int)len)
                return -ENAMETOOLONG;
        if (!check)
                return 0;
        if (!realpath(ret, real))
                return negative_errno();
        if (strncmp(real, root, strlen(root)) != 0 ||
            (real[strlen(root)] != '/' && real[strlen(root)] != '\0'))
                return -EXDEV;
        return 0;
}

static int bind_mount(const char *src, const char *target, bool readonly, char *err,
                      size_t errlen)
{
        int r = do_mount(src, target, NULL, MS_BIND | MS_REC, NULL, err, errlen);

        if (r < 0 || !readonly)
                return r;
        /* A bind mount ignores MS_RDONLY on creation; read-only takes a remount. */
        return do_mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
                        NULL, err, errlen);
}

static int setup_volumes(const struct container_config *c, const char *root, char *err,
                         size_t errlen)
{
        for (size_t i = 0; i < c->n_volumes; i++) {
                const struct container_volume *v = &c->volumes[i];
                char target[PATH_MAX];
                struct stat st;
                int r;

                if (stat(v->source, &st) < 0)
                        return fail(err, errlen, -errno, "container.volumes[%zu].source: %s: %m", i,
                                    v->source);
                r = path_under(root, v->target, target, sizeof(target), false);
                if (r >= 0 && *root)
                        r = ensure_node(target, !S_ISDIR(st.st_mode));
                if (r >= 0)
                        r = path_under(root, v->target, target, sizeof(target), *root != '\0');
                if (r < 0)
                        return fail(err, errlen, r, "container.volumes[%zu].target: %s: %s", i,
                                    v->target,
                                    r == -EXDEV ? "resolves outside the rootfs" : strerror(-r));
                r = bind_mount(v->source, target, v->readonly, err, errlen);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int make_device(const char *root, const char *host_path, char *err, size_t errlen)
{
        char target[PATH_MAX];
        struct stat st;
        int r;

        if (stat(host_path, &st) < 0)
                return fail(err, errlen, -errno, "device %s: %m", host_path);
        if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
                return fail(err, errlen, -ENODEV, "device %s: not a device node", host_path);
        r = path_under(root, host_path, target, sizeof(target), false);
        if (r >= 0)
                r = ensure_parent(target);
        if (r >= 0 && mknod(target, st.st_mode & (S_IFMT | 07777), st.st_rdev) < 0)
                r = negative_errno();
        if (r < 0)
                return fail(err, errlen, r, "creating device node %s: %s", target, strerror(-r));
        return 0;
}

static int setup_dev(const struct container_config *c, const char *root, char *err,
                     size_t errlen)
{
        char p[PATH_BUF], q[PATH_BUF];
        int r;

        snprintf(p, sizeof(p), "%s/dev", root);
        if ((r = ensure_node(p, false)) < 0)
                return fail(err, errlen, r, "creating %s: %s", p, strerror(-r));
        r = do_mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k", err,
                     errlen);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(default_devices); i++)
                if ((r = make_device(root, default_devices[i], err, errlen)) < 0)
                        return r;
        for (size_t i = 0; i < c->n_devices; i++)
                if ((r = make_device(root, c->devices[i].path, err, errlen)) < 0)
                        return r;

        snprintf(p, sizeof(p), "%s/dev/pts", root);
        (void)mkdir(p, 0755);
        r = do_mount("devpts", p, "devpts", MS_NOSUID | MS_NOEXEC,
                     "newinstance,ptmxmode=0666,mode=0620", err, errlen);
        if (r < 0)
                return r;
        snprintf(p, sizeof(p), "%s/dev/shm", root);
        (void)mkdir(p, 01777);
        r = do_mount("shm", p, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k",
                     err, errlen);
        if (r < 0)
                return r;
        if (c->namespaces & SILO_NS_IPC) {
                snprintf(p, sizeof(p), "%s/dev/mqueue", root);
                (void)mkdir(p, 0755);
                r = do_mount("mqueue", p, "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, err,
                             errlen);
                if (r < 0)
                        return r;
        }
        static const char *const links[][2] = {
                {"pts/ptmx", "ptmx"}, {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
                {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
        };
        for (size_t i = 0; i < ELEMENTSOF(links); i++) {
                snprintf(q, sizeof(q), "%s/dev/%s", root, links[i][1]);
                if (symlink(links[i][0], q) < 0 && errno != EEXIST)
                        return fail(err, errlen, -errno, "symlink %s: %m", q);
        }
        return 0;
}

/* /sys read-only, and the task's own cgroup (the cgroup namespace's root) read-only on top:
 * a task can read its limits but not raise them. */
static int setup_sys(const char *root, char *err, size_t errlen)
{
        char p[PATH_BUF];
        int r;

        snprintf(p, sizeof(p), "%s/sys", root);
        if ((r = ensure_node(p, false)) < 0)
                return fail(err, errlen, r, "creating %s: %s", p, strerror(-r));
        if (mount("sysfs", p, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
                /* sysfs refuses a fresh mount without a net namespace of our own: bind it. */
                r = bind_mount("/sys", p, true, err, errlen);
                if (r < 0)
                        return r;
        }
        snprintf(p, sizeof(p), "%s/sys/fs/cgroup", root);
        return do_mount("cgroup2", p, "cgroup2", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                        NULL, err, errlen);
}

static int setup_etc(const struct container_config *c, const char *root, char *err,
                     size_t errlen)
{
        static const char *const files[] = {"hosts", "resolv.conf"};

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                char src[PATH_BUF], dst[PATH_BUF];
                int r;

                snprintf(src, sizeof(src), "%s/%s", c->sandbox, files[i]);
                if (access(src, F_OK) < 0)
                        continue;
                snprintf(dst, sizeof(dst), "%s/etc/%s", root, files[i]);
                /* A dangling symlink in the image (resolv.conf -> /run/...) is replaced. */
                (void)unlinkat(AT_FDCWD, dst, 0);
                if ((r = ensure_node(dst, true)) < 0)
                        return fail(err, errlen, r, "creating %s: %s", dst, strerror(-r));
                r = bind_mount(src, dst, true, err, errlen);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int pivot_into(const char *root, char *err, size_t errlen)
{
        if (chdir(root) < 0)
                return fail(err, errlen, -errno, "chdir %s: %m", root);
        /* pivot_root(".", ".") stacks the old root under the new one; detaching it leaves only
         * the container's tree (the trick runc and crun use, no temporary directory). */
        if (syscall(SYS_pivot_root, ".", ".") < 0)
                return fail(err, errlen, -errno, "pivot_root into %s: %m", root);
        if (umount2(".", MNT_DETACH) < 0)
                return fail(err, errlen, -errno, "detaching the host root: %m");
        if (chdir("/") < 0)
                return fail(err, errlen, -errno, "chdir /: %m");
        return 0;
}

int container_mounts_setup(const struct container_config *c, char *err, size_t errlen)
{
        char root[PATH_MAX], upper[PATH_MAX], work[PATH_MAX], opts[4 * PATH_MAX], p[PATH_BUF];
        int r;

        /* Nothing we mount may propagate back to the host. */
        r = do_mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL, err, errlen);
        if (r < 0)
                return r;

        if (!c->rootfs) {
                /* The host's root: a fresh /proc for the pid namespace, a read-only view of
                 * the task's cgroup, and the volumes over existing paths. */
                if (c->namespaces & SILO_NS_PID) {
                        r = do_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                                     NULL, err, errlen);
                        if (r < 0)
                                return r;
                }
                /* The host's cgroupfs shows the whole hierarchy read-write, and the same
                 * superblock cannot be mounted on top of itself (EBUSY): detach it (in our
                 * namespace only) and mount the task's view, rooted at its own group. */
                if (umount2("/sys/fs/cgroup", MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
                        return fail(err, errlen, -errno, "detaching the host's /sys/fs/cgroup: %m");
                r = do_mount("cgroup2", "/sys/fs/cgroup", "cgroup2",
                             MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, err, errlen);
                if (r < 0)
                        return r;
                return setup_volumes(c, "", err, errlen);
        }

        snprintf(root, sizeof(root), "%s/rootfs", c->sandbox);
        snprintf(upper, sizeof(upper), "%s/upper", c->sandbox);
        snprintf(work, sizeof(work), "%s/work", c->sandbox);
        if ((r = ensure_node(root, false)) < 0 || (r = ensure_node(upper, false)) < 0 ||
            (r = ensure_node(work, false)) < 0)
                return fail(err, errlen, r, "creating the overlay directories in %s: %s",
                            c->sandbox, strerror(-r));
        snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s", c->rootfs, upper, work);
        r = do_mount("overlay", root, "overlay", MS_NOSUID, opts, err, errlen);
        if (r < 0)
                return r;

        r = setup_volumes(c, root, err, errlen);
        if (r < 0)
                return r;

        snprintf(p, sizeof(p), "%s/proc", root);
        if ((r = ensure_node(p, false)) < 0)
                return fail(err, errlen, r, "creating %s: %s", p, strerror(-r));
        if (c->namespaces & SILO_NS_PID)
                r = do_mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, err, errlen);
        else
                r = bind_mount("/proc", p, false, err, errlen);
        if (r < 0)
                return r;

        if ((r = setup_dev(c, root, err, errlen)) < 0)
                return r;
        if ((r = setup_sys(root, err, errlen)) < 0)
                return r;
        if ((r = setup_etc(c, root, err, errlen)) < 0)
                return r;
        return pivot_into(root, err, errlen);
}
