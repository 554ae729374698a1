/* SPDX-License-Identifier: Apache-2.0 */
/* The container launcher: what a task's process sets up between clone3() and execve(). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <linux/filter.h>

#include "silo/protocol.h"

/*
 * A container_config is everything the task's first process needs, already resolved by the
 * agent (user names to ids, the command's environment, the capability set). The shim builds
 * it from <sandbox>/launch.json: the task spec and what the agent resolved
 * (agent/shim-protocol.h).
 *
 * Sandbox layout used by the launcher (the agent creates the directory):
 *   <sandbox>/rootfs   mount point of the overlay (with a rootfs)
 *   <sandbox>/upper    the overlay's writable upper dir: the task's writes to "/" land here
 *   <sandbox>/work     the overlay's work dir
 *   <sandbox>/hosts, <sandbox>/resolv.conf   bind-mounted read-only over /etc/...
 */

struct container_volume {
        char *source;   /* absolute host path (exists) */
        char *target;   /* absolute path inside the container, no ".." */
        bool readonly;
};

struct container_device {
        char *path;     /* host device node, recreated at the same path inside */
        unsigned access;
};

struct container_config {
        char **argv;            /* NULL-terminated, argv[0] non-empty */
        char **env;             /* NULL-terminated "KEY=VALUE" */
        char *cwd;              /* working directory inside the container */
        bool set_user;
        uid_t uid;
        gid_t gid;
        gid_t *groups;
        size_t n_groups;
        unsigned namespaces;    /* SILO_NS_*; SILO_NS_CGROUP is always added */
        char *hostname;         /* with SILO_NS_UTS */
        char *rootfs;           /* overlay lower dir; NULL: the host's root */
        char *sandbox;          /* absolute */
        char **hidden;          /* NULL-terminated host paths a task without a rootfs must not
                                 * see (the agent's state directory, its token), or NULL */
        struct container_volume *volumes;
        size_t n_volumes;
        struct container_device *devices;
        size_t n_devices;
        uint64_t capabilities;  /* the bounding (and, for uid 0, effective) set, bit per CAP_* */
        struct silo_rlimit *rlimits;
        size_t n_rlimits;
        bool init;              /* a minimal init as PID 1, the command as its child */
        char *netns_path;       /* a network namespace file to join (bridge mode: the agent set
                                 * it up before the start), or NULL */
        char *netns_dir;        /* where the agent keeps every bridge task's namespace file: their
                                 * mounts are detached from this task's mount namespace, or NULL */
        bool quota_filter;      /* the task mounts a persistent volume: install the seccomp filter
                                 * that keeps it inside the volume's project quota */
        struct sock_fprog quota_prog; /* with quota_filter: the filter, built by the launcher
                                       * before clone3() (container_seccomp_quota_build()) */
        uint64_t signals_ignored; /* signals the launcher ignores (bit n-1: signal n), set to
                                   * their default in the task; handlers are cleared by clone3
                                   * (CLONE_CLEAR_SIGHAND), which keeps SIG_IGN as execve does */
};

/* Docker's default capability set (moby/oci/caps/defaults.go), as a bit mask. */
uint64_t container_default_capabilities(void);

void container_config_clear(struct container_config *c);

/* The fds a task's first process is handed by its shim. */
struct container_fds {
        int stdin_fd;           /* -1: /dev/null */
        int stdout_fd;
        int stderr_fd;
        int error_fd;           /* O_CLOEXEC pipe: "errno:message" on a setup/exec failure */
        int status_fd;          /* the init writes the command's wait status (int) here */
};

/* Runs in the child of clone3(CLONE_INTO_CGROUP | namespaces): hostname, mounts (overlay,
 * volumes, /dev, /proc, /sys, /sys/fs/cgroup, /etc/hosts, resolv.conf, pivot_root), rlimits,
 * working directory, user and group, capabilities, no_new_privs, the seccomp filter of a task with
 * a persistent volume, then the init (when asked)
 * and execve(). Never returns: on failure it writes the reason to error_fd and exits 127. */
_Noreturn void container_child_run(const struct container_config *c,
                                   const struct container_fds *fds);

/* ---- pieces, exposed for the unit tests ---- */

/* The seccomp filter of a task with a persistent volume, as a BPF program (libseccomp): quotactl,
 * quotactl_fd and the inode-flag ioctls (FS_IOC_FSSETXATTR, FS_IOC_SETFLAGS) fail with EPERM,
 * everything else is allowed. It allocates: built before clone3(), by the shim, and only loaded
 * in the child (container_seccomp_load()). Free with container_seccomp_prog_clear(). */
int container_seccomp_quota_build(struct sock_fprog *ret, char **ret_error);
void container_seccomp_prog_clear(struct sock_fprog *prog);
/* Load a built program (after no_new_privs): one system call, no allocation. 0 or -errno. */
int container_seccomp_load(const struct sock_fprog *prog);
/* The clone3 namespace flags for SILO_NS_* bits (always with CLONE_NEWCGROUP). */
uint64_t container_clone_flags(unsigned namespaces);
/* The mounts of container_child_run(). On failure -errno and the message in `err`: a fixed
 * buffer of errlen bytes, not char **ret_error, because this runs between clone3() and
 * execve() and its message must reach the shim through container_fail() even when allocation
 * fails (the exception common/error.h makes for that code). */
int container_mounts_setup(const struct container_config *c, char *err, size_t errlen);

/* Paths inside a root directory (container-paths.c): every lookup is openat2(RESOLVE_IN_ROOT |
 * RESOLVE_NO_MAGICLINKS) from root_fd, so no symlink or ".." in the image leads outside it. */
enum inroot_kind { INROOT_DIR, INROOT_FILE };
int inroot_open(int root_fd, const char *path, int flags, int *ret_fd);
/* O_PATH fd of `path`, created when missing (directories one by one, each from its resolved
 * parent's fd, the last one as `kind` with `mode`); -ENOTDIR/-EISDIR when it exists as the
 * other kind, -ENOENT when it is a dangling symlink. */
int inroot_mkpath(int root_fd, const char *path, enum inroot_kind kind, mode_t mode, int *ret_fd);
/* O_PATH fd of an absolute host path that must contain no symlink at all (-ELOOP). */
int path_open_nofollow(const char *path, int *ret_fd);
/* O_PATH fd of the directory holding `path` (made to exist when `create`) and its last name. */
int inroot_open_parent(int root_fd, const char *path, bool create, int *ret_parent_fd,
                       char *ret_name, size_t name_len);
/* The minimal init: fork the command, forward signals to it, reap every child, exit with
 * the command's status (128 + signal for a signal) after writing the raw wait status to
 * status_fd. Never returns. */
_Noreturn void container_init_run(const struct container_config *c,
                                  const struct container_fds *fds);
/* Exec the command (PATH search in c->env's PATH); returns only on failure, -errno. */
int container_exec(const struct container_config *c);
/* Report a failure to the shim through error_fd and _exit(127). */
_Noreturn void container_fail(const struct container_fds *fds, int err, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
