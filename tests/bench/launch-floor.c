/* SPDX-License-Identifier: Apache-2.0 */
/* The launch benchmark's floor: the kernel work one container launch needs, and nothing else. */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * Usage: launch-floor CGROUP ROOTFS SCRATCH HOSTS RESOLV HOSTNAME -- COMMAND [ARG...]
 *
 * What silo (and crun) must do for one launch of the benchmark's spec, done by the cheapest
 * means the kernel offers, so the benchmark can say how far a runtime is from it:
 *
 * - clone3(CLONE_INTO_CGROUP) straight into CGROUP, which the benchmark made beforehand with
 *   the same limits (cpu.max, memory.max, pids.max), with fresh pid, mount, uts, ipc, net and
 *   cgroup namespaces;
 * - in the child: hostname, lo up, / private, an overlay of ROOTFS with a fresh upper and work
 *   dir under SCRATCH (silo's root shape), /etc/hosts and resolv.conf bound read-only, /proc
 *   with runc's read-only and masked paths, a tmpfs /dev with the default nodes, devpts, shm
 *   and mqueue, read-only sysfs and cgroup2 with the masked /sys paths, pivot_root, the
 *   default capability set, no_new_privs, exec of COMMAND.
 *
 * No config file, no JSON, no daemon, no dynamic loader (linked statically), the old mount(2)
 * calls (one syscall per mount). The benchmark pays for the fork+exec of this program too, as
 * it pays for `crun run`'s. Linked statically, and it waits for the command and removes its
 * overlay dirs after the command has exited (outside the measured window).
 */

static const char *const devices[] = {"null", "zero", "full", "random", "urandom", "tty"};
static const char *const proc_ro[] = {"bus", "fs", "irq", "sys", "sysrq-trigger"};
static const char *const proc_masked[] = {"acpi", "asound", "kcore", "keys", "latency_stats",
                                          "timer_list", "timer_stats", "sched_debug", "scsi"};
static const char *const sys_masked[] = {"firmware", "devices/virtual/powercap"};

static _Noreturn void die(const char *what)
{
        /* The child's stderr is the client's: a failure there makes the sample fail loudly. */
        dprintf(STDERR_FILENO, "launch-floor: %s: %s\n", what, strerror(errno));
        _exit(127);
}

static void mnt(const char *src, const char *dst, const char *type, unsigned long flags, const char *data)
{
        if (mount(src, dst, type, flags, data) < 0)
                die(dst);
}

/* A read-only bind: MS_BIND then a remount, as crun does with the old API. */
static void bind_ro(const char *src, const char *dst)
{
        mnt(src, dst, NULL, MS_BIND | MS_REC, NULL);
        mnt(NULL, dst, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

static void mask(const char *path)
{
        struct stat st;

        if (lstat(path, &st) < 0)
                return;
        if (S_ISDIR(st.st_mode))
                mnt("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0555");
        else
                bind_ro("/dev/null", path);
}

static void etc_file(const char *root, const char *name, const char *src)
{
        char p[4096];
        int fd;

        snprintf(p, sizeof(p), "%s/etc/%s", root, name);
        fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
                die(p);
        close(fd);
        bind_ro(src, p);
}

static void caps(void)
{
        /* Docker's default set, as silo keeps it and the benchmark gives crun. */
        static const int keep[] = {CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FSETID, CAP_FOWNER, CAP_MKNOD,
                                   CAP_NET_RAW, CAP_SETGID, CAP_SETUID, CAP_SETFCAP, CAP_SETPCAP,
                                   CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_KILL, CAP_AUDIT_WRITE};
        struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
        struct __user_cap_data_struct data[2] = {};
        uint64_t m = 0;

        for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
                m |= UINT64_C(1) << keep[i];
        for (int c = 0; c <= CAP_LAST_CAP; c++)
                if (!(m & (UINT64_C(1) << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
                        die("PR_CAPBSET_DROP");
        data[0].effective = data[0].permitted = (uint32_t)m;
        data[1].effective = data[1].permitted = (uint32_t)(m >> 32);
        if (syscall(SYS_capset, &hdr, data) < 0)
                die("capset");
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                die("PR_SET_NO_NEW_PRIVS");
}

static _Noreturn void child(char **a, const char *dir, char **cmd)
{
        const char *rootfs = a[1], *hosts = a[3], *resolv = a[4], *hostname = a[5]; /* a[0] CGROUP, a[2] SCRATCH */
        char root[2100], p[4096], opts[3 * 4096 + 64];
        struct ifreq ifr = {.ifr_name = "lo"};
        int s;

        if (sethostname(hostname, strlen(hostname)) < 0)
                die("sethostname");
        s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
                die("lo");
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
                die("lo up");
        close(s);
        mnt(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);

        snprintf(root, sizeof(root), "%s/root", dir);
        snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s/upper,workdir=%s/work", rootfs, dir, dir);
        mnt("overlay", root, "overlay", MS_NOSUID, opts);
        etc_file(root, "hosts", hosts);
        etc_file(root, "resolv.conf", resolv);

        snprintf(p, sizeof(p), "%s/proc", root);
        mnt("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        for (size_t i = 0; i < sizeof(proc_ro) / sizeof(proc_ro[0]); i++) {
                snprintf(p, sizeof(p), "%s/proc/%s", root, proc_ro[i]);
                if (access(p, F_OK) == 0)
                        bind_ro(p, p);
        }
        for (size_t i = 0; i < sizeof(proc_masked) / sizeof(proc_masked[0]); i++) {
                snprintf(p, sizeof(p), "%s/proc/%s", root, proc_masked[i]);
                mask(p);
        }

        snprintf(p, sizeof(p), "%s/dev", root);
        mnt("tmpfs", p, "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
        for (size_t i = 0; i < sizeof(devices) / sizeof(devices[0]); i++) {
                struct stat st;
                char host[64];

                snprintf(host, sizeof(host), "/dev/%s", devices[i]);
                snprintf(p, sizeof(p), "%s/dev/%s", root, devices[i]);
                if (stat(host, &st) < 0 || mknod(p, st.st_mode, st.st_rdev) < 0)
                        die(p);
        }
        snprintf(p, sizeof(p), "%s/dev/pts", root);
        if (mkdir(p, 0755) < 0)
                die(p);
        mnt("devpts", p, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
        snprintf(p, sizeof(p), "%s/dev/shm", root);
        if (mkdir(p, 0755) < 0)
                die(p);
        mnt("shm", p, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k");
        snprintf(p, sizeof(p), "%s/dev/mqueue", root);
        if (mkdir(p, 0755) < 0)
                die(p);
        mnt("mqueue", p, "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        {
                static const char *const links[][2] = {{"pts/ptmx", "ptmx"}, {"/proc/self/fd", "fd"},
                                                       {"/proc/self/fd/0", "stdin"},
                                                       {"/proc/self/fd/1", "stdout"},
                                                       {"/proc/self/fd/2", "stderr"}};

                for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
                        snprintf(p, sizeof(p), "%s/dev/%s", root, links[i][1]);
                        if (symlink(links[i][0], p) < 0)
                                die(p);
                }
        }

        snprintf(p, sizeof(p), "%s/sys", root);
        mnt("sysfs", p, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        snprintf(p, sizeof(p), "%s/sys/fs/cgroup", root);
        mnt("cgroup2", p, "cgroup2", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        for (size_t i = 0; i < sizeof(sys_masked) / sizeof(sys_masked[0]); i++) {
                snprintf(p, sizeof(p), "%s/sys/%s", root, sys_masked[i]);
                mask(p);
        }

        if (chdir(root) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 ||
            chdir("/") < 0)
                die("pivot_root");
        caps();
        execv(cmd[0], cmd);
        die(cmd[0]);
}

/* The overlay's dirs of one launch: upper, work (the kernel's work/work inside) and root. */
static void dirs_remove(const char *dir)
{
        static const char *const sub[] = {"upper/etc/hosts", "upper/etc/resolv.conf", "upper/etc",
                                          "upper/dev", "upper", "work/work", "work", "root"};
        char p[4096];

        for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
                snprintf(p, sizeof(p), "%s/%s", dir, sub[i]);
                if (remove(p) < 0 && errno != ENOENT)
                        fprintf(stderr, "launch-floor: removing %s: %s\n", p, strerror(errno));
        }
        if (rmdir(dir) < 0)
                fprintf(stderr, "launch-floor: removing %s: %s\n", dir, strerror(errno));
}

int main(int argc, char **argv)
{
        struct clone_args ca = {.flags = CLONE_INTO_CGROUP | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS |
                                         CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP,
                                .exit_signal = SIGCHLD};
        static const char *const made[] = {"", "/upper", "/work", "/root"};
        char dir[2048], p[4096];
        int cg, status;
        long pid;

        if (argc < 9 || strcmp(argv[7], "--") != 0) {
                fprintf(stderr, "usage: launch-floor CGROUP ROOTFS SCRATCH HOSTS RESOLV HOSTNAME -- COMMAND [ARG...]\n");
                return 2;
        }
        cg = open(argv[1], O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (cg < 0) {
                fprintf(stderr, "launch-floor: cgroup %s: %s\n", argv[1], strerror(errno));
                return 1;
        }
        /* A fresh upper layer per launch, as silo's sandbox gives each task. */
        if (strlen(argv[3]) > 1900) {
                fprintf(stderr, "launch-floor: SCRATCH %s: longer than 1900 bytes\n", argv[3]);
                return 2;
        }
        snprintf(dir, sizeof(dir), "%s/%d", argv[3], (int)getpid());
        for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++) {
                snprintf(p, sizeof(p), "%s%s", dir, made[i]);
                if (mkdir(p, 0755) < 0) {
                        fprintf(stderr, "launch-floor: %s: %s\n", p, strerror(errno));
                        return 1;
                }
        }
        ca.cgroup = (uint64_t)cg;
        pid = syscall(SYS_clone3, &ca, sizeof(ca));
        if (pid < 0) {
                fprintf(stderr, "launch-floor: clone3 into %s: %s\n", argv[1], strerror(errno));
                return 1;
        }
        if (pid == 0)
                child(argv + 1, dir, argv + 8);
        close(cg);
        while (waitpid((pid_t)pid, &status, 0) < 0)
                if (errno != EINTR)
                        return 1;
        dirs_remove(dir);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
