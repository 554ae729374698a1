/* SPDX-License-Identifier: Apache-2.0 */
/* The task's mount namespace: overlay rootfs or a read-only host root, volumes, /dev, /proc, /sys, cgroupfs, pivot_root. */
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

/*
 * This runs in the task's first process between clone3() and execve(), in its own mount
 * namespace. Two shapes:
 *
 * - With a rootfs: an overlay of the image, and everything below it (volume targets, /proc,
 *   /dev, /sys, /etc/hosts) is resolved inside it with openat2(RESOLVE_IN_ROOT) and mounted
 *   onto the resolved fd with move_mount(), so a symlink in the image can never make us
 *   create, unlink or mount anything on the host (container-paths.c). Then pivot_root.
 * - Without one (the host's tree): every mount of the namespace is made read-only (systemd's
 *   ProtectSystem=strict), with a private /tmp, /var/tmp and /dev/shm, a fresh /proc, the task's
 *   own read-only cgroupfs, the agent's state directory and token hidden (`hidden`), and only
 *   the task's sandbox and its read-write volumes writable.
 *
 * In both, /proc's kernel knobs are read-only and its leaky files masked, as runc and Docker
 * do by default (oci defaults: readonlyPaths, maskedPaths): a root task must not write
 * /proc/sysrq-trigger or /proc/sys/kernel/core_pattern, which act on the host.
 * Bind mounts use the new mount API: open_tree(OPEN_TREE_CLONE | AT_RECURSIVE), then
 * mount_setattr(AT_RECURSIVE) on the detached copy, so a read-only volume is read-only with
 * all its submounts from the moment it appears (Linux 5.12+).
 */

/* Room for a PATH_MAX root plus the fixed suffixes appended to it. */
#define PATH_BUF (PATH_MAX + 64)

/* Nodes every container gets, as runc and Docker create them. */
static const char *const default_devices[] = {
        "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty",
};

/* runc's defaults (opencontainers/runtime-spec config-linux, Docker's oci/defaults.go). */
static const char *const proc_readonly_paths[] = {
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};
static const char *const proc_masked_paths[] = {
        "/proc/acpi",          "/proc/asound",     "/proc/kcore",       "/proc/keys",
        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
        "/proc/scsi",          NULL,
};
static const char *const sys_masked_paths[] = {
        "/sys/firmware", "/sys/devices/virtual/powercap", NULL,
};
/* Scratch directories a task without a rootfs gets to itself over the read-only host tree.
 * /run too: a read-only mount does not stop connect() on a socket or open() of a FIFO, and
 * the host's /run holds systemd's private socket, D-Bus, container runtimes' sockets and
 * /run/initctl, any of which a root task would turn into root on the host. */
static const char *const host_scratch_dirs[] = {"/tmp", "/var/tmp", "/dev/shm", "/run", NULL};
static const char *const host_scratch_modes[] = {"mode=1777", "mode=1777", "mode=1777", "mode=0755"};

#define ATTR_RO (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)
#define ATTR_RO_NOEXEC (ATTR_RO | MOUNT_ATTR_NOEXEC)
#define ATTR_SCRATCH (MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC)

struct mounts {
        const struct container_config *c;
        int root_fd;            /* the container's "/" (the overlay, or the host's root) */
        int *volume_trees;      /* detached copies of each volume's source, n_volumes */
        bool *volume_dirs;
        char *err;
        size_t errlen;
};

static int fail(struct mounts *m, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct mounts *m, int r, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(m->err, m->errlen, fmt, ap);
        va_end(ap);
        return r < 0 ? r : -r;
}

static int fail_errno(struct mounts *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail_errno(struct mounts *m, const char *fmt, ...)
{
        int r = negative_errno();
        size_t n;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(m->err, m->errlen, fmt, ap);
        va_end(ap);
        n = strlen(m->err);
        if (n < m->errlen)
                snprintf(m->err + n, m->errlen - n, ": %s", strerror(-r));
        return r;
}

/* A new filesystem of `type` mounted onto `target_fd` (fsopen/fsconfig/fsmount/move_mount).
 * `opts` are "key=value" strings or bare flags, NULL-terminated. */
static int mount_fs_at(struct mounts *m, const char *type, const char *const *opts,
                       unsigned attrs, int target_fd, const char *where)
{
        _cleanup_close_ int fs = fsopen(type, FSOPEN_CLOEXEC), mnt = -EBADF;

        if (fs < 0)
                return fail_errno(m, "mounting %s on %s: fsopen", type, where);
        if (fsconfig(fs, FSCONFIG_SET_STRING, "source", type, 0) < 0)
                return fail_errno(m, "mounting %s on %s: source", type, where);
        for (const char *const *o = opts; o && *o; o++) {
                const char *eq = strchr(*o, '=');
                char key[32];

                if (!eq) {
                        if (fsconfig(fs, FSCONFIG_SET_FLAG, *o, NULL, 0) < 0)
                                return fail_errno(m, "mounting %s on %s: option %s", type, where, *o);
                        continue;
                }
                snprintf(key, sizeof(key), "%.*s", (int)(eq - *o), *o);
                if (fsconfig(fs, FSCONFIG_SET_STRING, key, eq + 1, 0) < 0)
                        return fail_errno(m, "mounting %s on %s: option %s", type, where, *o);
        }
        if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                return fail_errno(m, "mounting %s on %s", type, where);
        mnt = fsmount(fs, FSMOUNT_CLOEXEC, attrs);
        if (mnt < 0)
                return fail_errno(m, "mounting %s on %s: fsmount", type, where);
        if (move_mount(mnt, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
                return fail_errno(m, "mounting %s on %s: move_mount", type, where);
        return 0;
}

/* A recursive copy of the tree at `src_dfd`/`src` (src "" = the fd itself), with `set` and
 * `clr` mount attributes applied to every mount of the copy before it is attached onto
 * `target_fd`. */
static int bind_at(struct mounts *m, int src_dfd, const char *src, int target_fd, unsigned set,
                   unsigned clr, const char *where)
{
        unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | (*src ? 0 : AT_EMPTY_PATH);
        _cleanup_close_ int tree = open_tree(src_dfd, src, flags);

        if (tree < 0)
                return fail_errno(m, "bind-mounting %s on %s", *src ? src : where, where);
        if (set || clr) {
                struct mount_attr attr = {.attr_set = set, .attr_clr = clr};

                if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
                        return fail_errno(m, "setting the mount flags of %s", where);
        }
        if (move_mount(tree, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
                return fail_errno(m, "bind-mounting %s on %s: move_mount", *src ? src : where, where);
        return 0;
}

/* `path` inside the container, as a directory or a file: made to exist with a rootfs (inside
 * the image only) or under a private scratch tmpfs of a host-root task; required to exist
 * elsewhere on the host's tree, which the launcher never changes. `label` names the spec
 * field for the error ("container.volumes[0].target"), or NULL. */
static int target_open(struct mounts *m, const char *label, const char *path, enum inroot_kind kind,
                       int *ret_fd)
{
        bool create = m->c->rootfs != NULL;
        int r;

        for (size_t i = 0; !create && host_scratch_dirs[i]; i++)
                create = path_is_under(path, host_scratch_dirs[i]);
        if (create)
                r = inroot_mkpath(m->root_fd, path, kind, 0755, ret_fd);
        else
                r = inroot_open(m->root_fd, path, O_PATH, ret_fd);
        if (r >= 0)
                return 0;
        return fail(m, r, "%s%s%s: %s", strempty(label), label ? ": " : "", path,
                    r == -ELOOP ? "too many levels of symbolic links in the image" : strerror(-r));
}

/* Each volume's source as a detached copy, read-only with all its submounts when asked. Taken
 * before anything covers the host's paths (a host-root task's private /tmp, its read-only
 * tree); read-write volumes clear a read-only flag they would otherwise inherit. */
static int volumes_open(struct mounts *m)
{
        for (size_t i = 0; i < m->c->n_volumes; i++) {
                const struct container_volume *v = &m->c->volumes[i];
                struct mount_attr attr = {.attr_set = v->readonly ? ATTR_RO : 0,
                                          .attr_clr = v->readonly ? 0 : MOUNT_ATTR_RDONLY};
                struct stat st;

                _cleanup_close_ int fd = -EBADF;
                int r;

                /* The agent resolved the source when it validated it (no symlink left, not its
                 * state directory); a symlink that appeared since fails here rather than
                 * redirecting the volume. */
                r = path_open_nofollow(v->source, &fd);
                if (r < 0)
                        return fail(m, r, "container.volumes[%zu].source: %s: %s", i, v->source,
                                    r == -ELOOP ? "a symbolic link appeared since the launch was validated"
                                                : strerror(-r));
                if (fstat(fd, &st) < 0)
                        return fail_errno(m, "container.volumes[%zu].source: %s", i, v->source);
                m->volume_dirs[i] = S_ISDIR(st.st_mode);
                m->volume_trees[i] = open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC |
                                                       AT_RECURSIVE | AT_EMPTY_PATH);
                if (m->volume_trees[i] < 0)
                        return fail_errno(m, "container.volumes[%zu].source: %s", i, v->source);
                if (mount_setattr(m->volume_trees[i], "", AT_EMPTY_PATH | AT_RECURSIVE, &attr,
                                  sizeof(attr)) < 0)
                        return fail_errno(m, "container.volumes[%zu]: setting the mount flags of %s",
                                          i, v->source);
        }
        return 0;
}

static int volumes_attach(struct mounts *m)
{
        for (size_t i = 0; i < m->c->n_volumes; i++) {
                const struct container_volume *v = &m->c->volumes[i];
                _cleanup_close_ int fd = -EBADF;
                char label[64];
                int r;

                snprintf(label, sizeof(label), "container.volumes[%zu].target", i);
                r = target_open(m, label, v->target, m->volume_dirs[i] ? INROOT_DIR : INROOT_FILE, &fd);
                if (r < 0)
                        return r;
                if (move_mount(m->volume_trees[i], "", fd, "",
                               MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
                        return fail_errno(m, "%s: mounting %s on %s", label, v->source, v->target);
        }
        return 0;
}

/* Paths of /proc or /sys nobody needs and some leak the host's state: an empty read-only
 * tmpfs over a directory, /dev/null over a file, wherever they exist. */
static int mask_paths(struct mounts *m, const char *const *paths)
{
        static const char *const empty[] = {"mode=0555", NULL};
        int r;

        for (; *paths; paths++) {
                _cleanup_close_ int fd = -EBADF;
                struct stat st;

                r = inroot_open(m->root_fd, *paths, O_PATH | O_NOFOLLOW, &fd);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return fail(m, r, "%s: %s", *paths, strerror(-r));
                if (fstat(fd, &st) < 0)
                        return fail_errno(m, "%s", *paths);
                if (S_ISDIR(st.st_mode))
                        r = mount_fs_at(m, "tmpfs", empty, ATTR_RO_NOEXEC, fd, *paths);
                else
                        r = bind_at(m, AT_FDCWD, "/dev/null", fd, ATTR_RO_NOEXEC, 0, *paths);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* A fresh /proc (of the task's pid namespace) with runc's read-only and masked paths: a root
 * task must not reach /proc/sysrq-trigger or /proc/sys/kernel/core_pattern, which act on the
 * whole machine. */
static int setup_proc(struct mounts *m)
{
        _cleanup_close_ int fd = -EBADF;
        int r = target_open(m, NULL, "/proc", INROOT_DIR, &fd);

        if (r < 0)
                return r;
        if (m->c->namespaces & SILO_NS_PID)
                r = mount_fs_at(m, "proc", NULL, ATTR_SCRATCH, fd, "/proc");
        else
                r = bind_at(m, AT_FDCWD, "/proc", fd, 0, 0, "/proc");
        if (r < 0)
                return r;
        for (const char *const *p = proc_readonly_paths; *p; p++) {
                _cleanup_close_ int ro_fd = -EBADF;

                r = inroot_open(m->root_fd, *p, O_PATH | O_NOFOLLOW, &ro_fd);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return fail(m, r, "%s: %s", *p, strerror(-r));
                if ((r = bind_at(m, ro_fd, "", ro_fd, ATTR_RO_NOEXEC, 0, *p)) < 0)
                        return r;
        }
        return mask_paths(m, proc_masked_paths);
}

static int make_device(struct mounts *m, const char *host_path)
{
        _cleanup_close_ int parent_fd = -EBADF;
        char name[NAME_MAX + 1];
        struct stat st;
        int r;

        if (stat(host_path, &st) < 0)
                return fail_errno(m, "device %s", host_path);
        if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
                return fail(m, -ENODEV, "device %s: not a device node", host_path);
        r = inroot_open_parent(m->root_fd, host_path, true, &parent_fd, name, sizeof(name));
        if (r < 0)
                return fail(m, r, "creating device node %s: %s", host_path, strerror(-r));
        if (mknodat(parent_fd, name, st.st_mode & (S_IFMT | 07777), st.st_rdev) < 0 && errno != EEXIST)
                return fail_errno(m, "creating device node %s", host_path);
        return 0;
}

/* A fresh tmpfs on /dev with the default nodes, the listed devices, devpts, shm, mqueue. */
static int setup_dev(struct mounts *m)
{
        static const char *const dev_opts[] = {"mode=755", "size=65536k", NULL};
        static const char *const pts_opts[] = {"newinstance", "ptmxmode=0666", "mode=0620", NULL};
        static const char *const shm_opts[] = {"mode=1777", "size=65536k", NULL};
        static const char *const links[][2] = {
                {"pts/ptmx", "ptmx"}, {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
                {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
        };
        _cleanup_close_ int fd = -EBADF, dev_fd = -EBADF;
        int r;

        if ((r = target_open(m, NULL, "/dev", INROOT_DIR, &fd)) < 0)
                return r;
        if ((r = mount_fs_at(m, "tmpfs", dev_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_STRICTATIME, fd, "/dev")) < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(default_devices); i++)
                if ((r = make_device(m, default_devices[i])) < 0)
                        return r;
        for (size_t i = 0; i < m->c->n_devices; i++)
                if ((r = make_device(m, m->c->devices[i].path)) < 0)
                        return r;

        fd = safe_close(fd);
        if ((r = target_open(m, NULL, "/dev/pts", INROOT_DIR, &fd)) < 0)
                return r;
        if ((r = mount_fs_at(m, "devpts", pts_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, fd, "/dev/pts")) < 0)
                return r;
        fd = safe_close(fd);
        if ((r = target_open(m, NULL, "/dev/shm", INROOT_DIR, &fd)) < 0)
                return r;
        if ((r = mount_fs_at(m, "tmpfs", shm_opts, ATTR_SCRATCH, fd, "/dev/shm")) < 0)
                return r;
        if (m->c->namespaces & SILO_NS_IPC) {
                fd = safe_close(fd);
                if ((r = target_open(m, NULL, "/dev/mqueue", INROOT_DIR, &fd)) < 0)
                        return r;
                if ((r = mount_fs_at(m, "mqueue", NULL, ATTR_SCRATCH, fd,
                                     "/dev/mqueue")) < 0)
                        return r;
        }
        r = inroot_open(m->root_fd, "/dev", O_PATH | O_DIRECTORY, &dev_fd);
        if (r < 0)
                return fail(m, r, "/dev: %s", strerror(-r));
        for (size_t i = 0; i < ELEMENTSOF(links); i++)
                if (symlinkat(links[i][0], dev_fd, links[i][1]) < 0 && errno != EEXIST)
                        return fail_errno(m, "symlink /dev/%s", links[i][1]);
        return 0;
}

/* The task's own cgroup (the cgroup namespace's root), read-only: it can read its limits but
 * not raise them, and sees no other task's. */
static int mount_task_cgroupfs(struct mounts *m)
{
        _cleanup_close_ int fd = -EBADF;
        int r = inroot_open(m->root_fd, "/sys/fs/cgroup", O_PATH | O_DIRECTORY, &fd);

        if (r < 0)
                return fail(m, r, "/sys/fs/cgroup: %s", strerror(-r));
        return mount_fs_at(m, "cgroup2", NULL, ATTR_RO_NOEXEC, fd, "/sys/fs/cgroup");
}

static int setup_sys(struct mounts *m)
{
        _cleanup_close_ int fd = -EBADF;
        int r = target_open(m, NULL, "/sys", INROOT_DIR, &fd);

        if (r < 0)
                return r;
        r = mount_fs_at(m, "sysfs", NULL, ATTR_RO_NOEXEC, fd, "/sys");
        if (r == -EPERM || r == -EBUSY)
                /* sysfs refuses a fresh mount without a net namespace of our own: a
                 * recursive read-only copy of the host's instead. */
                r = bind_at(m, AT_FDCWD, "/sys", fd, ATTR_RO_NOEXEC, 0, "/sys");
        if (r >= 0)
                r = mount_task_cgroupfs(m);
        return r < 0 ? r : mask_paths(m, sys_masked_paths);
}

/* /etc/hosts and /etc/resolv.conf from the sandbox, read-only. Whatever the image has there
 * (a file, a dangling symlink to /run/...) is replaced, inside the image's /etc only. */
static int setup_etc(struct mounts *m)
{
        static const char *const files[] = {"hosts", "resolv.conf"};

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_close_ int etc_fd = -EBADF, fd = -EBADF;
                char src[PATH_BUF], dst[32];
                int r;

                snprintf(src, sizeof(src), "%s/%s", m->c->sandbox, files[i]);
                if (access(src, F_OK) < 0)
                        continue;
                snprintf(dst, sizeof(dst), "/etc/%s", files[i]);
                if ((r = target_open(m, NULL, "/etc", INROOT_DIR, &etc_fd)) < 0)
                        return r;
                if (unlinkat(etc_fd, files[i], 0) < 0 && errno != ENOENT)
                        return fail_errno(m, "replacing %s in the image", dst);
                fd = openat(etc_fd, files[i], O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (fd < 0)
                        return fail_errno(m, "creating %s in the image", dst);
                fd = safe_close(fd);
                fd = openat(etc_fd, files[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return fail_errno(m, "opening %s in the image", dst);
                if ((r = bind_at(m, AT_FDCWD, src, fd, ATTR_RO, 0, dst)) < 0)
                        return r;
        }
        return 0;
}

static int pivot_into(struct mounts *m, const char *root)
{
        if (chdir(root) < 0)
                return fail_errno(m, "chdir %s", root);
        /* pivot_root(".", ".") stacks the old root under the new one; detaching it leaves only
         * the container's tree (the trick runc and crun use, no temporary directory). */
        if (syscall(SYS_pivot_root, ".", ".") < 0)
                return fail_errno(m, "pivot_root into %s", root);
        if (umount2(".", MNT_DETACH) < 0)
                return fail_errno(m, "detaching the host root");
        if (chdir("/") < 0)
                return fail_errno(m, "chdir /");
        return 0;
}

/* A tmpfs over each hidden directory, /dev/null over each hidden file; masked[i] tells which
 * got a tmpfs. */
static int hidden_mask(struct mounts *m, bool *masked, size_t n_masked)
{
        static const char *const opts[] = {"mode=0755", "size=64k", NULL};
        size_t i = 0;
        int r;

        for (char **h = m->c->hidden; h && *h; h++, i++) {
                _cleanup_close_ int fd = -EBADF;
                struct stat st;

                if (i >= n_masked)
                        return fail(m, -E2BIG, "more than %zu paths to hide", n_masked);
                r = inroot_open(m->root_fd, *h, O_PATH, &fd);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return fail(m, r, "hiding %s: %s", *h, strerror(-r));
                if (fstat(fd, &st) < 0)
                        return fail_errno(m, "hiding %s", *h);
                if (S_ISDIR(st.st_mode)) {
                        r = mount_fs_at(m, "tmpfs", opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, fd, *h);
                        masked[i] = true;
                } else
                        r = bind_at(m, AT_FDCWD, "/dev/null", fd, ATTR_RO_NOEXEC, 0, *h);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The task's sandbox, when a mask (or the image) left no path to it: its detached tree
 * moved onto a fresh directory. */
static int sandbox_attach(struct mounts *m, int sandbox_tree)
{
        _cleanup_close_ int sandbox_fd = -EBADF;
        int r;

        r = inroot_open(m->root_fd, m->c->sandbox, O_PATH | O_DIRECTORY, &sandbox_fd);
        if (r >= 0)
                return 0;
        if (r != -ENOENT)
                return fail(m, r, "sandbox %s: %s", m->c->sandbox, strerror(-r));
        r = inroot_mkpath(m->root_fd, m->c->sandbox, INROOT_DIR, 0700, &sandbox_fd);
        if (r < 0)
                return fail(m, r, "sandbox %s: %s", m->c->sandbox, strerror(-r));
        if (move_mount(sandbox_tree, "", sandbox_fd, "",
                       MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
                return fail_errno(m, "mounting the sandbox %s", m->c->sandbox);
        return 0;
}

/* The agent's state directory and token (c->hidden) disappear under an empty tmpfs or
 * /dev/null, read-only; the task's own sandbox, which lives in the state directory, is put
 * back at its path. Paths are followed (a state directory behind a symlink is hidden where it
 * really is), and whether the sandbox went with it is checked by looking, not by comparing
 * strings. */
static int setup_hidden(struct mounts *m, int sandbox_tree)
{
        bool masked[8] = {};    /* which hidden[] got a tmpfs, to be made read-only below */
        int r;

        if ((r = hidden_mask(m, masked, ELEMENTSOF(masked))) < 0 ||
            (r = sandbox_attach(m, sandbox_tree)) < 0)
                return r;
        /* Now the masks themselves go read-only (not recursively: the sandbox stays). A path
         * hidden already by an earlier mask (a state directory under the private /tmp) got
         * none. */
        for (size_t i = 0; m->c->hidden && m->c->hidden[i]; i++) {
                struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
                _cleanup_close_ int fd = -EBADF;

                if (!masked[i])
                        continue;
                r = inroot_open(m->root_fd, m->c->hidden[i], O_PATH, &fd);
                if (r < 0)
                        return fail(m, r, "hiding %s: %s", m->c->hidden[i], strerror(-r));
                if (mount_setattr(fd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
                        return fail_errno(m, "making the mask over %s read-only", m->c->hidden[i]);
        }
        return 0;
}

/* Private writable scratch directories over the read-only host tree (PrivateTmp=yes), and a
 * devpts instance of the task's own: the host's /dev/pts holds the operators' terminals. */
static int setup_host_scratch(struct mounts *m)
{
        static const char *const pts_opts[] = {"newinstance", "ptmxmode=0666", "mode=0620", NULL};
        int r;

        for (size_t i = 0; host_scratch_dirs[i]; i++) {
                const char *opts[] = {host_scratch_modes[i], "size=65536k", NULL};
                _cleanup_close_ int fd = -EBADF;

                r = inroot_open(m->root_fd, host_scratch_dirs[i], O_PATH | O_DIRECTORY, &fd);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return fail(m, r, "%s: %s", host_scratch_dirs[i], strerror(-r));
                r = mount_fs_at(m, "tmpfs", opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, fd,
                                host_scratch_dirs[i]);
                if (r < 0)
                        return r;
        }
        {
                _cleanup_close_ int fd = -EBADF;

                if (inroot_open(m->root_fd, "/dev/pts", O_PATH | O_DIRECTORY, &fd) >= 0) {
                        /* /dev/ptmx opens the instance mounted at its sibling "pts". */
                        r = mount_fs_at(m, "devpts", pts_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
                                        fd, "/dev/pts");
                        if (r < 0)
                                return r;
                }
        }
        if (m->c->namespaces & SILO_NS_IPC) {
                _cleanup_close_ int fd = -EBADF;

                if (inroot_open(m->root_fd, "/dev/mqueue", O_PATH | O_DIRECTORY, &fd) >= 0) {
                        r = mount_fs_at(m, "mqueue", NULL, ATTR_SCRATCH, fd, "/dev/mqueue");
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* A bridge task without a rootfs: its /etc/hosts (its own address) and resolv.conf (servers it
 * can reach) over the host's, from the sandbox's copy. A host file that cannot be opened (a
 * dangling symlink into the task's private /run) stays as it is: the host tree is read-only,
 * nothing can be created there. Runs before the private /tmp and /run and before the state
 * directory is hidden: open_tree() cannot clone from the detached copy of the sandbox. */
static int setup_host_etc(struct mounts *m)
{
        static const char *const files[] = {"hosts", "resolv.conf"};

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_close_ int fd = -EBADF;
                char src[PATH_BUF], dst[32];
                int r;

                snprintf(src, sizeof(src), "%s/%s", m->c->sandbox, files[i]);
                snprintf(dst, sizeof(dst), "/etc/%s", files[i]);
                if (access(src, F_OK) < 0 || inroot_open(m->root_fd, dst, O_PATH, &fd) < 0)
                        continue;
                r = bind_at(m, AT_FDCWD, src, fd, ATTR_RO_NOEXEC, 0, dst);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* A task without a rootfs: the host's tree, read-only (systemd's ProtectSystem=strict). */
static int setup_host_root(struct mounts *m)
{
        struct mount_attr ro = {.attr_set = MOUNT_ATTR_RDONLY};
        _cleanup_close_ int sandbox_tree = -EBADF;
        int r;

        /* Copies of the sandbox and the volumes taken before the host's tree goes read-only,
         * /tmp goes private and the state directory is hidden; attached again below. */
        sandbox_tree = open_tree(AT_FDCWD, m->c->sandbox, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (sandbox_tree < 0)
                return fail_errno(m, "sandbox %s", m->c->sandbox);
        if ((r = volumes_open(m)) < 0)
                return r;

        if (mount_setattr(m->root_fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &ro, sizeof(ro)) < 0)
                return fail_errno(m, "making the host's tree read-only");
        if ((r = setup_proc(m)) < 0)
                return r;
        /* A bridge task's /etc files come from the sandbox by path, so before the private
         * /tmp and /run of setup_host_scratch(), which hide a sandbox kept below them. */
        if (m->c->netns_path && (r = setup_host_etc(m)) < 0)
                return r;
        if ((r = setup_host_scratch(m)) < 0)
                return r;
        /* A bridge task has a network namespace the agent made for it: a sysfs of its own
         * there (/sys/class/net lists its eth0, not the host's links). */
        if (m->c->netns_path) {
                if ((r = setup_sys(m)) < 0)
                        return r;
                if ((r = setup_hidden(m, sandbox_tree)) < 0)
                        return r;
                return volumes_attach(m);
        }
        /* The host's cgroupfs shows the whole hierarchy, and the same superblock cannot be
         * mounted on top of itself (EBUSY): detach it (in our namespace only) for the task's
         * view, rooted at its own group. */
        if (umount2("/sys/fs/cgroup", MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
                return fail_errno(m, "detaching the host's /sys/fs/cgroup");
        if ((r = mount_task_cgroupfs(m)) < 0 || (r = mask_paths(m, sys_masked_paths)) < 0)
                return r;
        if ((r = setup_hidden(m, sandbox_tree)) < 0)
                return r;
        return volumes_attach(m);
}

/* The overlay of the image with the sandbox's upper and work dirs becomes the root; the
 * sandbox is the agent's own directory, so plain paths are safe up to the overlay, and below
 * it everything goes through m->root_fd. */
static int setup_image_root(struct mounts *m)
{
        const struct container_config *c = m->c;
        char root[PATH_MAX], upper[PATH_MAX], work[PATH_MAX], opts[4 * PATH_MAX];
        int r;

        snprintf(root, sizeof(root), "%s/rootfs", c->sandbox);
        snprintf(upper, sizeof(upper), "%s/upper", c->sandbox);
        snprintf(work, sizeof(work), "%s/work", c->sandbox);
        if ((mkdir(root, 0755) < 0 && errno != EEXIST) ||
            (mkdir(upper, 0755) < 0 && errno != EEXIST) ||
            (mkdir(work, 0755) < 0 && errno != EEXIST))
                return fail_errno(m, "creating the overlay directories in %s", c->sandbox);
        snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s", c->rootfs, upper, work);
        if (mount("overlay", root, "overlay", MS_NOSUID, opts) < 0)
                return fail_errno(m, "mounting the overlay of %s on %s", c->rootfs, root);
        if ((m->root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
                return fail_errno(m, "opening %s", root);
        /* /etc/hosts and resolv.conf go in while the image is bare: after the volumes, an /etc
         * that is (or leads into) a volume would have them replaced in the host directory
         * behind it. */
        if ((r = volumes_open(m)) < 0 || (r = setup_etc(m)) < 0 || (r = volumes_attach(m)) < 0 ||
            (r = setup_proc(m)) < 0 || (r = setup_dev(m)) < 0 || (r = setup_sys(m)) < 0)
                return r;
        return pivot_into(m, root);
}

/* The agent's bridge tasks' namespace files are nsfs bind mounts; this namespace got a copy of
 * each at clone3(), which would keep those namespaces alive after their tasks ended (the
 * agent's umount does not reach a private namespace). Detached here, each by name, read with
 * getdents64 into a stack buffer (no allocation in this child). The task's own namespace,
 * if any, was joined already. */
static int detach_netns_files(struct mounts *m)
{
        _cleanup_close_ int dfd = -EBADF;
        char buf[4096], path[PATH_BUF];
        long n;

        if (!m->c->netns_dir)
                return 0;
        dfd = open(m->c->netns_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return errno == ENOENT ? 0 : fail_errno(m, "opening %s", m->c->netns_dir);
        while ((n = syscall(SYS_getdents64, dfd, buf, sizeof(buf))) > 0) {
                for (long off = 0; off < n;) {
                        struct {
                                uint64_t ino;
                                int64_t off;
                                unsigned short reclen;
                                unsigned char type;
                                char name[];
                        } *de = (void *)(buf + off);

                        off += de->reclen;
                        if (de->name[0] == '.')
                                continue;
                        snprintf(path, sizeof(path), "%s/%s", m->c->netns_dir, de->name);
                        if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
                                return fail_errno(m, "detaching %s", path);
                }
        }
        return n < 0 ? fail_errno(m, "reading %s", m->c->netns_dir) : 0;
}

int container_mounts_setup(const struct container_config *c, char *err, size_t errlen)
{
        /* No allocation between clone3() and execve(): the volumes live on this stack (the
         * codec bounds them) and the message goes to the caller's fixed buffer. */
        int volume_trees[SILO_CONTAINER_VOLUMES_MAX];
        bool volume_dirs[SILO_CONTAINER_VOLUMES_MAX] = {};
        struct mounts m = {.c = c, .root_fd = -EBADF, .volume_trees = volume_trees,
                           .volume_dirs = volume_dirs, .err = err, .errlen = errlen};
        int r;

        if (c->n_volumes > SILO_CONTAINER_VOLUMES_MAX)
                return fail(&m, -E2BIG, "%zu volumes, at most %d are supported", c->n_volumes,
                            SILO_CONTAINER_VOLUMES_MAX);
        for (size_t i = 0; i < c->n_volumes; i++)
                volume_trees[i] = -EBADF;

        /* Nothing we mount may propagate back to the host. */
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return fail_errno(&m, "making / private");
        if ((r = detach_netns_files(&m)) < 0)
                return r;
        if (c->rootfs)
                r = setup_image_root(&m);
        else if ((m.root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
                r = fail_errno(&m, "opening /");
        else
                r = setup_host_root(&m);
        for (size_t i = 0; i < c->n_volumes; i++)
                safe_close(volume_trees[i]);
        safe_close(m.root_fd);
        return r;
}
