/* SPDX-License-Identifier: Apache-2.0 */
/* The task's first process: namespaces are given by clone3; here come identity, limits, confinement, exec. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/macro.h"
#include "isolator/container.h"

uint64_t container_clone_flags(unsigned ns)
{
        uint64_t f = CLONE_NEWCGROUP;

        if (ns & SILO_NS_PID)
                f |= CLONE_NEWPID;
        if (ns & SILO_NS_MOUNT)
                f |= CLONE_NEWNS;
        if (ns & SILO_NS_UTS)
                f |= CLONE_NEWUTS;
        if (ns & SILO_NS_IPC)
                f |= CLONE_NEWIPC;
        if (ns & SILO_NS_NET)
                f |= CLONE_NEWNET;
        return f;
}

_Noreturn void container_fail(const struct container_fds *fds, int err, const char *fmt, ...)
{
        char buf[1024];
        va_list ap;
        int n;

        n = snprintf(buf, sizeof(buf), "%d:", err < 0 ? -err : err);
        va_start(ap, fmt);
        if (n > 0 && (size_t)n < sizeof(buf))
                vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
        va_end(ap);
        if (fds && fds->error_fd >= 0)
                (void)!write(fds->error_fd, buf, strlen(buf));
        _exit(127);
}

static int cap_last_cap(void)
{
        static int last = -1;
        FILE *f;

        if (last >= 0)
                return last;
        f = fopen("/proc/sys/kernel/cap_last_cap", "re");
        if (f) {
                if (fscanf(f, "%d", &last) != 1)
                        last = -1;
                fclose(f);
        }
        if (last < 0 || last > 63)
                last = CAP_LAST_CAP;
        return last;
}

/* Drop every capability not in `keep` from the bounding set and clear the ambient set; needs
 * CAP_SETPCAP, so it runs before a switch to a non-root user. */
static int caps_bounding_drop(uint64_t keep)
{
        int last = cap_last_cap();

        for (int c = 0; c <= last; c++) {
                if (keep & (UINT64_C(1) << c))
                        continue;
                if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
                        return negative_errno();
        }
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
                return negative_errno();
        return 0;
}

/* Permitted and effective = keep for a root task, empty otherwise; inheritable always empty
 * (as Docker does since CVE-2022-24769). libcap is not among our dependencies; the raw
 * interface is small. */
static int caps_set(uint64_t keep, bool root)
{
        struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
        struct __user_cap_data_struct data[2] = {};

        if (root) {
                data[0].effective = data[0].permitted = (uint32_t)keep;
                data[1].effective = data[1].permitted = (uint32_t)(keep >> 32);
        }
        if (syscall(SYS_capset, &hdr, data) < 0)
                return negative_errno();
        return 0;
}

/* A new net namespace has lo, but down; bring it up so localhost works. */
static int loopback_up(void)
{
        struct ifreq ifr = {};
        _cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return negative_errno();
        strcpy(ifr.ifr_name, "lo");
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                return negative_errno();
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
                return negative_errno();
        return 0;
}

static const char *env_lookup(char *const *env, const char *key)
{
        size_t n = strlen(key);

        for (char *const *e = env; e && *e; e++)
                if (strncmp(*e, key, n) == 0 && (*e)[n] == '=')
                        return *e + n + 1;
        return NULL;
}

int container_exec(const struct container_config *c)
{
        const char *path;
        int saved = ENOENT;

        if (strchr(c->argv[0], '/')) {
                execve(c->argv[0], c->argv, c->env);
                return negative_errno();
        }
        /* PATH comes from the task's environment, not the agent's. */
        path = env_lookup(c->env, "PATH");
        if (!path)
                path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        for (const char *p = path; *p;) {
                const char *end = strchrnul(p, ':');
                char buf[4096];

                if (end > p && snprintf(buf, sizeof(buf), "%.*s/%s", (int)(end - p), p,
                                        c->argv[0]) < (int)sizeof(buf)) {
                        execve(buf, c->argv, c->env);
                        if (errno != ENOENT && errno != ENOTDIR)
                                saved = errno;
                }
                p = *end ? end + 1 : end;
        }
        return -saved;
}

static void setup_identity(const struct container_config *c, const struct container_fds *fds)
{
        int r;

        for (size_t i = 0; i < c->n_rlimits; i++) {
                struct rlimit rl = {
                        .rlim_cur = c->rlimits[i].soft == UINT64_MAX ? RLIM_INFINITY
                                                                       : c->rlimits[i].soft,
                        .rlim_max = c->rlimits[i].hard == UINT64_MAX ? RLIM_INFINITY
                                                                       : c->rlimits[i].hard,
                };
                if (setrlimit(c->rlimits[i].resource, &rl) < 0)
                        container_fail(fds, errno, "rlimits.%s: setrlimit(%llu, %llu) failed: %m",
                                       silo_rlimit_to_string(c->rlimits[i].resource),
                                       (unsigned long long)c->rlimits[i].soft,
                                       (unsigned long long)c->rlimits[i].hard);
        }

        /* Bounding set before the uid change (dropping needs CAP_SETPCAP). */
        r = caps_bounding_drop(c->capabilities);
        if (r < 0)
                container_fail(fds, r, "reducing the capability bounding set: %s", strerror(-r));
        if (c->set_user) {
                if (setgroups(c->n_groups, c->groups) < 0)
                        container_fail(fds, errno, "user: setgroups failed: %m");
                if (setresgid(c->gid, c->gid, c->gid) < 0)
                        container_fail(fds, errno, "user: setgid(%u) failed: %m", (unsigned)c->gid);
                if (setresuid(c->uid, c->uid, c->uid) < 0)
                        container_fail(fds, errno, "user: setuid(%u) failed: %m", (unsigned)c->uid);
        }
        r = caps_set(c->capabilities, !c->set_user || c->uid == 0);
        if (r < 0)
                container_fail(fds, r, "setting capabilities: %s", strerror(-r));
        /* No setuid binary or file capability can give back what was dropped. */
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                container_fail(fds, errno, "PR_SET_NO_NEW_PRIVS failed: %m");
}

_Noreturn void container_child_run(const struct container_config *c,
                                   const struct container_fds *fds)
{
        /* A fixed buffer, not char **ret_error: this runs between clone3() and execve(), where
         * a failure must reach the shim even when allocation fails (common/error.h). */
        char err[512] = "";
        int r, devnull;

        /* The shim's signal mask and dispositions must not leak into the task: clone3's
         * CLONE_CLEAR_SIGHAND reset the handlers, so only the ignored signals are left (one
         * call each, not one per signal number). */
        {
                sigset_t all;
                sigemptyset(&all);
                sigprocmask(SIG_SETMASK, &all, NULL);
                for (int s = 1; s <= 64; s++)
                        if ((c->signals_ignored & (UINT64_C(1) << (s - 1))) && s != SIGKILL &&
                            s != SIGSTOP)
                                signal(s, SIG_DFL);
        }

        devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (dup2(fds->stdin_fd >= 0 ? fds->stdin_fd : devnull, STDIN_FILENO) < 0 ||
            dup2(fds->stdout_fd, STDOUT_FILENO) < 0 || dup2(fds->stderr_fd, STDERR_FILENO) < 0)
                container_fail(fds, errno, "setting up stdio: %m");

        if ((c->namespaces & SILO_NS_UTS) && c->hostname &&
            sethostname(c->hostname, strlen(c->hostname)) < 0)
                container_fail(fds, errno, "container.hostname: sethostname(%s) failed: %m",
                               c->hostname);
        /* The agent made this namespace (veth, address, route, egress qdisc) before the start;
         * joined before the mounts, so /sys shows its interfaces. setns() needs CAP_SYS_ADMIN,
         * which the task still has here and loses in setup_identity(). */
        if (c->netns_path) {
                int nsfd = open(c->netns_path, O_RDONLY | O_CLOEXEC);

                if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0)
                        container_fail(fds, errno, "joining the task's network namespace %s: %m",
                                       c->netns_path);
                close(nsfd);
        }
        if (c->namespaces & SILO_NS_NET) {
                r = loopback_up();
                if (r < 0)
                        container_fail(fds, r, "bringing up lo in the task's net namespace: %s",
                                       strerror(-r));
        }
        if (c->namespaces & SILO_NS_MOUNT) {
                r = container_mounts_setup(c, err, sizeof(err));
                if (r < 0)
                        container_fail(fds, r, "%s", err);
        }
        if (c->cwd && chdir(c->cwd) < 0)
                container_fail(fds, errno, "working directory %s: %m", c->cwd);

        setup_identity(c, fds);
        /* Last, after no_new_privs (which lets an unprivileged task load it) and after every
         * call of our own that the filter would refuse. */
        if (c->quota_filter) {
                r = c->quota_prog.filter ? container_seccomp_load(&c->quota_prog) : -EINVAL;
                if (r < 0)
                        container_fail(fds, r, "seccomp: loading the volume filter: %s",
                                       c->quota_prog.filter ? strerror(-r) : "not built before the start");
        }

        if (c->init)
                container_init_run(c, fds);

        r = container_exec(c);
        container_fail(fds, r, "command: cannot execute %s: %s", c->argv[0], strerror(-r));
}
