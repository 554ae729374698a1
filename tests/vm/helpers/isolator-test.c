/* SPDX-License-Identifier: Apache-2.0 */
/* VM test driver for libsilo-isolator: each subcommand builds a task group, runs a workload in
 * it through cg_clone3_into(), measures, and prints "ok:"/"FAIL:" lines with the figures. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "isolator/isolator.h"
#include "isolator/cgroup-internal.h"   /* cg_task_kill_walk(): the fallback path */
#include "common/macro.h"

static struct cg_hierarchy *hier;
static int failures;

static void check(bool ok, const char *fmt, ...) _printf_(2, 3);
static void check(bool ok, const char *fmt, ...)
{
        va_list ap;

        printf("%s: ", ok ? "ok" : "FAIL");
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
        fflush(stdout);
        if (!ok)
                failures++;
}

static _noreturn_ void die(const char *what, int r, const char *msg)
{
        printf("FAIL: %s: %s%s%s\n", what, strerror(r < 0 ? -r : r), msg ? ": " : "",
               msg ? msg : "");
        exit(1);
}

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct cg_limits res_unset(void)
{
        return (struct cg_limits){ .mem = CG_MAX, .mem_high = CG_MAX, .swap = CG_MAX,
                                   .pids = CG_MAX };
}

/* The io target of a device path, partition, mount point or file, without limits. */
static struct cg_io_target io_unset(const char *dev)
{
        struct cg_io_target io = { .limit = { CG_MAX, CG_MAX, CG_MAX, CG_MAX } };
        char *err = NULL;
        int r = blockdev_resolve(NULL, dev, &io.dev, &err);

        if (r < 0)
                die("blockdev_resolve", r, err);
        return io;
}

/* The allow-list rule of a device node. */
static struct cg_device_rule device_rule(const char *path, unsigned access)
{
        struct stat st;

        if (stat(path, &st) < 0)
                die(path, errno, NULL);
        return (struct cg_device_rule){ .type = S_ISBLK(st.st_mode) ? 'b' : 'c',
                                        .major = major(st.st_rdev), .minor = minor(st.st_rdev),
                                        .access = access };
}

static struct cg_task *task_create(const char *id, const struct cg_limits *res)
{
        struct cg_task *t = NULL;
        char *err = NULL;
        int r = cg_task_create(hier, id, res, &t, &err);

        if (r < 0)
                die("cg_task_create", r, err);
        return t;
}

static void task_destroy(struct cg_task *t)
{
        char path[512];
        int r;

        snprintf(path, sizeof(path), "%s", cg_task_path(t));
        r = cg_task_destroy(t, 0);
        check(r == 0 && access(path, F_OK) < 0, "destroy %s leaves no directory (r=%d)", path, r);
        cg_task_free(t);
}

/* The tasks that do raw I/O must have the disk in their device allow-list. */
static struct cg_task *task_create_with_disk(const char *id, const struct cg_limits *res,
                                             const char *dev)
{
        struct cg_device_rule d = device_rule(dev, SILO_DEV_READ | SILO_DEV_WRITE);
        struct cg_limits l = *res;

        l.devices = &d;
        l.n_devices = 1;
        return task_create(id, &l);
}

typedef int (*workload_fn)(void *arg, int out_fd);

/* Start fn in the task's group; the child writes its result line to a pipe. */
static pid_t task_spawn(struct cg_task *t, workload_fn fn, void *arg, int *ret_read_fd)
{
        int p[2], pidfd = -1;
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                die("pipe", errno, NULL);
        pid = cg_clone3_into(cg_task_fd(t), 0, &pidfd);
        if (pid < 0)
                die("cg_clone3_into", pid, NULL);
        if (pid == 0) {
                close(p[0]);
                _exit(fn(arg, p[1]));
        }
        close(pidfd);
        close(p[1]);
        *ret_read_fd = p[0];
        return pid;
}

static int task_wait(pid_t pid, int *ret_signal)
{
        int st;

        while (waitpid(pid, &st, 0) < 0)
                if (errno != EINTR)
                        die("waitpid", errno, NULL);
        *ret_signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void read_result(int fd, char *buf, size_t size)
{
        ssize_t n = 0, k;

        while ((k = read(fd, buf + n, size - 1 - (size_t)n)) > 0)
                n += k;
        buf[n > 0 ? n : 0] = 0;
        close(fd);
}

/* ------------------------------------------------------------------ cpu */

static int busy_loop(void *arg, int out_fd)
{
        double end = now_s() + *(double *)arg;
        volatile uint64_t x = 0;

        (void)out_fd;
        while (now_s() < end)
                for (int i = 0; i < 100000; i++)
                        x += (uint64_t)i;
        return 0;
}

static void test_cpu(double cpus)
{
        struct cg_limits res = res_unset();
        struct cg_task_status a, b;
        struct cg_task *t;
        double secs = 6, w0, w1, ratio;
        int fd, sig;
        pid_t pid;

        res.cpus = cpus;
        t = task_create("cpu", &res);
        pid = task_spawn(t, busy_loop, &secs, &fd);
        usleep(500000);         /* past start-up and the first period */
        if (cg_task_read(t, &a) < 0)
                die("cg_task_read", errno, NULL);
        w0 = now_s();
        sleep(4);
        if (cg_task_read(t, &b) < 0)
                die("cg_task_read", errno, NULL);
        w1 = now_s();
        ratio = (double)(b.cpu.usage_usec - a.cpu.usage_usec) / ((w1 - w0) * 1e6);
        check(a.cpu_quota_usec == (uint64_t)llround(cpus * 100000) && a.cpu_period_usec == 100000,
              "cpu.max read back %" PRIu64 " %" PRIu64, a.cpu_quota_usec, a.cpu_period_usec);
        check(fabs(ratio - cpus) <= 0.05,
              "cpu: limit %.2f cpus measured %.3f (usage_usec %" PRIu64 " over %.2f s wall, "
              "nr_throttled %" PRIu64 ")",
              cpus, ratio, b.cpu.usage_usec - a.cpu.usage_usec, w1 - w0, b.cpu.nr_throttled);
        check(b.cpu.nr_throttled > a.cpu.nr_throttled, "cpu: throttled periods grew (%" PRIu64
              " -> %" PRIu64 ")", a.cpu.nr_throttled, b.cpu.nr_throttled);
        cg_task_status_done(&a);
        cg_task_status_done(&b);
        task_wait(pid, &sig);
        close(fd);
        task_destroy(t);
}

/* ------------------------------------------------------------------ memory */

static int alloc_touch(void *arg, int out_fd)
{
        size_t bytes = *(size_t *)arg;
        char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        if (p == MAP_FAILED)
                return 2;
        for (size_t i = 0; i < bytes; i += 4096)
                p[i] = 1;
        dprintf(out_fd, "touched %zu\n", bytes);
        return 0;
}

/* A sleeper plus an allocator: with memory.oom.group=1 the OOM takes both. */
static int sleeper_and_alloc(void *arg, int out_fd)
{
        pid_t sleeper = fork();
        int st;

        if (sleeper == 0) {
                pause();
                _exit(0);
        }
        dprintf(out_fd, "sleeper %d\n", (int)sleeper);
        st = alloc_touch(arg, out_fd);
        waitpid(sleeper, NULL, 0);
        return st;
}

static void test_oom(uint64_t mem, size_t alloc)
{
        struct cg_limits res = res_unset();
        struct cg_task_status s;
        struct cg_task *t;
        uint64_t kills = 0;
        unsigned ev = 0;
        char out[256];
        int fd, sig, code, efd, r;
        struct pollfd pfd;
        pid_t pid;

        res.mem = mem;
        res.swap = 0;
        t = task_create("oom", &res);
        efd = cg_task_events_fd(t);
        check(efd >= 0, "events fd %d", efd);
        pid = task_spawn(t, sleeper_and_alloc, &alloc, &fd);
        code = task_wait(pid, &sig);
        read_result(fd, out, sizeof(out));
        check(sig == SIGKILL, "oom: a process allocating %zu MiB under memory.max %" PRIu64
              " MiB was killed by signal %d (exit %d)", alloc >> 20, mem >> 20, sig, code);
        pfd = (struct pollfd){ .fd = efd, .events = POLLIN };
        r = poll(&pfd, 1, 5000);
        check(r == 1, "oom: the events fd became readable");
        if (cg_task_events_process(t, &ev) < 0)
                die("cg_task_events_process", errno, NULL);
        check(ev & CG_EVENT_OOM_KILL, "oom: events report OOM_KILL (events 0x%x)", ev);
        for (int i = 0; i < 200 && !(ev & CG_EVENT_EMPTY); i++) {
                unsigned more = 0;

                usleep(10000);
                if (cg_task_events_process(t, &more) == 0)
                        ev |= more;
        }
        check(ev & CG_EVENT_EMPTY, "oom: events report EMPTY (events 0x%x)", ev);
        /* the whole group goes: the sleeper too, so the group empties */
        for (int i = 0; i < 200 && cg_task_is_populated(t) > 0; i++)
                usleep(10000);
        check(cg_task_is_populated(t) == 0, "oom: the whole group was killed (empty; %s)",
              strtok(out, "\n") ? out : "");
        r = cg_task_oom_killed(t, &kills);
        check(r == 0 && kills >= 1, "oom: isolator reports oom_kill=%" PRIu64, kills);
        if (cg_task_read(t, &s) < 0)
                die("cg_task_read", errno, NULL);
        check(s.memory_max == mem && s.memory_events.oom_kill >= 1 &&
              s.memory_events.oom_group_kill >= 1 && s.memory_oom_group,
              "oom: read-back memory.max %" PRIu64 " oom_kill %" PRIu64 " oom_group_kill %" PRIu64
              " oom.group %d peak %" PRIu64,
              s.memory_max, s.memory_events.oom_kill, s.memory_events.oom_group_kill,
              s.memory_oom_group, s.memory_peak);
        cg_task_status_done(&s);
        task_destroy(t);
}

static void test_mem_update(void)
{
        struct cg_limits res = res_unset();
        struct cg_task_status s;
        size_t alloc = 100u << 20;
        struct cg_task *t;
        char *err = NULL, out[128];
        int fd, sig, code;
        pid_t pid;

        res.mem = 256u << 20;
        res.swap = 0;
        t = task_create("memupdate", &res);
        pid = task_spawn(t, alloc_touch, &alloc, &fd);
        code = task_wait(pid, &sig);
        read_result(fd, out, sizeof(out));
        check(code == 0 && sig == 0, "update: 100 MiB fits under memory.max 256 MiB (exit %d)",
              code);
        res.mem = 64u << 20;
        if (cg_task_update(t, &res, &err) < 0)
                die("cg_task_update", errno, err);
        if (cg_task_read(t, &s) < 0)
                die("cg_task_read", errno, NULL);
        check(s.memory_max == 64u << 20, "update: memory.max read back %" PRIu64
              " after a live update to 64 MiB", s.memory_max);
        cg_task_status_done(&s);
        pid = task_spawn(t, alloc_touch, &alloc, &fd);
        code = task_wait(pid, &sig);
        read_result(fd, out, sizeof(out));
        check(sig == SIGKILL, "update: the same 100 MiB is now OOM-killed (signal %d)", sig);
        task_destroy(t);
}

/* ------------------------------------------------------------------ pids */

static int fork_until_refused(void *arg, int out_fd)
{
        int forked = 0;

        (void)arg;
        for (int i = 0; i < 1000; i++) {
                pid_t p = fork();

                if (p == 0) {
                        pause();
                        _exit(0);
                }
                if (p < 0)
                        break;
                forked++;
        }
        dprintf(out_fd, "%d %d\n", forked, errno);
        /* stay, with the children, until the test has read pids.current and kills the group */
        for (;;)
                pause();
        return 0;
}

static void test_pids(uint64_t limit)
{
        struct cg_limits res = res_unset();
        struct cg_task_status s;
        struct cg_task *t;
        int forked = -1, err = 0, fd, sig;
        FILE *f;
        pid_t pid;

        res.pids = limit;
        t = task_create("pids", &res);
        pid = task_spawn(t, fork_until_refused, NULL, &fd);
        f = fdopen(fd, "r");
        if (!f || fscanf(f, "%d %d", &forked, &err) != 2)
                die("reading the fork count", EIO, NULL);
        if (cg_task_read(t, &s) < 0)
                die("cg_task_read", errno, NULL);
        check(s.pids_max == limit && s.pids_current == limit && forked + 1 == (int)limit &&
              err == EAGAIN,
              "pids: limit %" PRIu64 " measured %" PRIu64 " tasks (%d forks + the parent; the "
              "next fork failed with %s)",
              limit, s.pids_current, forked, strerror(err));
        cg_task_status_done(&s);
        fclose(f);
        check(cg_task_kill(t) == 0, "pids: cgroup.kill");
        task_wait(pid, &sig);
        task_destroy(t);
}

/* ------------------------------------------------------------------ devices */

static int try_open(void *arg, int out_fd)
{
        int fd = open((const char *)arg, O_RDWR | O_CLOEXEC);

        dprintf(out_fd, "%d\n", fd >= 0 ? 0 : errno);
        return 0;
}

static void devices_create(const char *id, const char *allow)
{
        struct cg_limits res = res_unset();
        struct cg_task *t = allow ? task_create_with_disk(id, &res, allow) : task_create(id, &res);

        printf("created %s (allow-list: defaults%s%s) by pid %d, which now exits\n",
               cg_task_path(t), allow ? " + " : "", allow ? allow : "", (int)getpid());
        cg_task_free(t);
}

static void devices_check(const char *id, const char *path, const char *expect)
{
        struct cg_task *t = NULL;
        char out[32];
        int fd, sig, e, r;
        pid_t pid;

        r = cg_task_open(hier, id, &t);
        if (r < 0)
                die("cg_task_open", r, id);
        pid = task_spawn(t, try_open, (void *)path, &fd);
        task_wait(pid, &sig);
        read_result(fd, out, sizeof(out));
        e = atoi(out);
        if (streq(expect, "ok"))
                check(e == 0, "devices: %s opens %s (%s)", id, path, e ? strerror(e) : "allowed");
        else
                check(e == EPERM, "devices: %s is refused %s (%s)", id, path,
                      e ? strerror(e) : "opened!");
        /* the defaults always work */
        pid = task_spawn(t, try_open, (void *)"/dev/null", &fd);
        task_wait(pid, &sig);
        read_result(fd, out, sizeof(out));
        check(atoi(out) == 0, "devices: %s opens /dev/null", id);
        cg_task_free(t);
}

static void destroy_id(const char *id)
{
        struct cg_task *t = NULL;
        int r = cg_task_open(hier, id, &t);

        if (r < 0)
                die("cg_task_open", r, id);
        task_destroy(t);
}

/* ------------------------------------------------------------------ io */

struct io_job {
        const char *dev;
        bool write, direct;
        size_t bs;
        uint64_t bytes;         /* stop after this many bytes, or */
        double seconds;         /* after this long (when bytes is 0) */
};

static int io_work(void *arg, int out_fd)
{
        const struct io_job *j = arg;
        uint64_t done = 0, ios = 0, span = 512ull << 20;
        double t0, t1;
        void *buf;
        int fd;

        fd = open(j->dev, (j->write ? O_WRONLY : O_RDONLY) | (j->direct ? O_DIRECT : 0));
        if (fd < 0 || posix_memalign(&buf, 4096, j->bs) != 0)
                return 3;
        memset(buf, 0x5a, j->bs);
        t0 = now_s();
        for (;;) {
                off_t off = (off_t)(done % span);
                ssize_t n = j->write ? pwrite(fd, buf, j->bs, off) : pread(fd, buf, j->bs, off);

                if (n != (ssize_t)j->bs)
                        return 4;
                done += j->bs;
                ios++;
                if (j->bytes ? done >= j->bytes : now_s() - t0 >= j->seconds)
                        break;
        }
        t1 = now_s();
        dprintf(out_fd, "%" PRIu64 " %" PRIu64 " %.6f\n", done, ios, t1 - t0);
        return 0;
}

static void io_result(int fd, uint64_t *bytes, uint64_t *ios, double *secs)
{
        char out[128];

        read_result(fd, out, sizeof(out));
        if (sscanf(out, "%" SCNu64 " %" SCNu64 " %lf", bytes, ios, secs) != 3)
                die("io workload result", EIO, out);
}

/* kind: wbps, rbps, wiops */
static void io_measure(struct cg_task *t, const char *dev, const char *kind, uint64_t limit)
{
        struct io_job j = { .dev = dev, .direct = true };
        uint64_t bytes, ios;
        double secs, rate;
        int fd, sig;
        pid_t pid;

        j.write = kind[0] == 'w';
        j.bs = strstr(kind, "iops") ? 4096 : 65536;
        /* about 6 s at the limit */
        j.bytes = strstr(kind, "iops") ? limit * 6 * j.bs : limit * 6;
        pid = task_spawn(t, io_work, &j, &fd);
        if (task_wait(pid, &sig) != 0)
                die("io workload", EIO, "the workload failed (device not allowed?)");
        io_result(fd, &bytes, &ios, &secs);
        rate = strstr(kind, "iops") ? (double)ios / secs : (double)bytes / secs;
        check(fabs(rate - (double)limit) <= 0.10 * (double)limit,
              "io %s: limit %" PRIu64 " measured %.0f (%.3f of the limit; %" PRIu64 " bytes, %"
              PRIu64 " I/Os in %.2f s, direct, bs %zu)",
              kind, limit, rate, rate / (double)limit, bytes, ios, secs, j.bs);
}

static void set_limit(struct cg_io_target *io, const char *kind, uint64_t v)
{
        if (streq(kind, "wbps"))
                io->limit[SILO_IO_WBPS] = v;
        else if (streq(kind, "rbps"))
                io->limit[SILO_IO_RBPS] = v;
        else if (streq(kind, "wiops"))
                io->limit[SILO_IO_WIOPS] = v;
        else if (streq(kind, "riops"))
                io->limit[SILO_IO_RIOPS] = v;
        else
                die("io kind", EINVAL, kind);
}

static void test_io(const char *dev, const char *kind, uint64_t limit, uint64_t update)
{
        struct cg_io_target io = io_unset(dev);
        struct cg_limits res = res_unset();
        struct cg_task_status s;
        struct cg_task *t;
        char *err = NULL;

        set_limit(&io, kind, limit);
        res.io = &io;
        res.n_io = 1;
        t = task_create_with_disk("io", &res, dev);
        if (cg_task_read(t, &s) < 0)
                die("cg_task_read", errno, NULL);
        check(s.n_io == 1, "io: read-back lists %zu device(s): %s %u:%u rbps=%" PRIu64 " wbps=%"
              PRIu64 " riops=%" PRIu64 " wiops=%" PRIu64, s.n_io, s.n_io ? s.io[0].name : "",
              s.n_io ? s.io[0].major : 0, s.n_io ? s.io[0].minor : 0, s.n_io ? s.io[0].limit[SILO_IO_RBPS] : 0,
              s.n_io ? s.io[0].limit[SILO_IO_WBPS] : 0, s.n_io ? s.io[0].limit[SILO_IO_RIOPS] : 0, s.n_io ? s.io[0].limit[SILO_IO_WIOPS] : 0);
        cg_task_status_done(&s);
        io_measure(t, dev, kind, limit);
        if (update) {
                set_limit(&io, kind, update);
                if (cg_task_update(t, &res, &err) < 0)
                        die("cg_task_update", errno, err);
                printf("live update of io.max %s to %" PRIu64 "\n", kind, update);
                io_measure(t, dev, kind, update);
        }
        if (cg_task_read(t, &s) < 0)
                die("cg_task_read", errno, NULL);
        for (size_t i = 0; i < s.n_io_stat; i++)
                printf("io.stat %s: rbytes=%" PRIu64 " wbytes=%" PRIu64 " rios=%" PRIu64
                       " wios=%" PRIu64 "\n", s.io_stat[i].name, s.io_stat[i].rbytes,
                       s.io_stat[i].wbytes, s.io_stat[i].rios, s.io_stat[i].wios);
        printf("io.pressure some avg10=%.2f total=%" PRIu64 " us\n", s.io_pressure.some.avg10,
               s.io_pressure.some.total_usec);
        cg_task_status_done(&s);
        task_destroy(t);
}

/* Two tasks, different wbps on one disk, writing at the same time. */
static void test_two(const char *dev, uint64_t a, uint64_t b)
{
        struct cg_io_target ioa = io_unset(dev), iob = io_unset(dev);
        struct cg_limits ra = res_unset(), rb = res_unset();
        struct io_job ja = { .dev = dev, .write = true, .direct = true, .bs = 65536, .seconds = 6 };
        struct io_job jb = ja;
        struct cg_task *ta, *tb;
        uint64_t bytes[2], ios[2];
        double secs[2];
        int fda, fdb, sig;
        pid_t pa, pb;

        ioa.limit[SILO_IO_WBPS] = a;
        iob.limit[SILO_IO_WBPS] = b;
        ra.io = &ioa;
        ra.n_io = 1;
        rb.io = &iob;
        rb.n_io = 1;
        ta = task_create_with_disk("two-a", &ra, dev);
        tb = task_create_with_disk("two-b", &rb, dev);
        pa = task_spawn(ta, io_work, &ja, &fda);
        pb = task_spawn(tb, io_work, &jb, &fdb);
        task_wait(pa, &sig);
        task_wait(pb, &sig);
        io_result(fda, &bytes[0], &ios[0], &secs[0]);
        io_result(fdb, &bytes[1], &ios[1], &secs[1]);
        for (int i = 0; i < 2; i++) {
                uint64_t lim = i ? b : a;
                double rate = (double)bytes[i] / secs[i];

                check(fabs(rate - (double)lim) <= 0.10 * (double)lim,
                      "two tasks, same disk, task %c: limit wbps %" PRIu64 " measured %.0f "
                      "(%.3f) concurrently", 'a' + i, lim, rate, rate / (double)lim);
        }
        task_destroy(ta);
        task_destroy(tb);
}

/* io.weight A vs B, both saturating the disk for `seconds`. */
static void test_weight(const char *dev, uint32_t wa, uint32_t wb, double seconds,
                        bool expect_enforced)
{
        struct cg_io_target ioa = io_unset(dev), iob = io_unset(dev);
        struct cg_limits ra = res_unset(), rb = res_unset();
        struct io_job j = { .dev = dev, .write = true, .direct = true, .bs = 65536,
                            .seconds = seconds };
        struct cg_task_status s;
        struct cg_task *ta, *tb;
        uint64_t bytes[2], ios[2];
        double secs[2], ratio, want = (double)wb / wa;
        int fda, fdb, sig;
        pid_t pa, pb;

        ioa.weight = wa;
        iob.weight = wb;
        ra.io = &ioa;
        ra.n_io = 1;
        rb.io = &iob;
        rb.n_io = 1;
        ta = task_create_with_disk("weight-a", &ra, dev);
        tb = task_create_with_disk("weight-b", &rb, dev);
        if (cg_task_read(tb, &s) < 0)
                die("cg_task_read", errno, NULL);
        check(s.n_io == 1 && s.io[0].weight == wb && s.io[0].weight_enforced == expect_enforced,
              "weight: read-back weight %u enforced %s (%s)", s.n_io ? s.io[0].weight : 0,
              s.n_io && s.io[0].weight_enforced ? "true" : "false",
              s.n_io ? s.io[0].weight_note : "no device");
        cg_task_status_done(&s);
        if (expect_enforced) {
                /* Several writers per task keep both groups backlogged the whole time: with
                 * one synchronous writer each, a group is briefly idle between I/Os and
                 * iocost lends its unused share to the other. */
                enum { WRITERS = 4 };
                pid_t pids[2][WRITERS];
                int fds[2][WRITERS];
                double rate[2] = { 0, 0 };

                for (int w = 0; w < WRITERS; w++) {
                        pids[0][w] = task_spawn(ta, io_work, &j, &fds[0][w]);
                        pids[1][w] = task_spawn(tb, io_work, &j, &fds[1][w]);
                }
                for (int g = 0; g < 2; g++)
                        for (int w = 0; w < WRITERS; w++) {
                                task_wait(pids[g][w], &sig);
                                io_result(fds[g][w], &bytes[g], &ios[g], &secs[g]);
                                rate[g] += (double)bytes[g] / secs[g];
                        }
                bytes[0] = (uint64_t)rate[0];
                bytes[1] = (uint64_t)rate[1];
                secs[0] = secs[1] = 1;
                (void)pa;
                (void)pb;
                (void)fda;
                (void)fdb;
                ratio = ((double)bytes[1] / secs[1]) / ((double)bytes[0] / secs[0]);
                check(fabs(ratio - want) <= 0.25 * want,
                      "weight: %u vs %u under iocost: expected share 1:%.2f measured 1:%.2f "
                      "(%.0f vs %.0f B/s)", wa, wb, want, ratio,
                      (double)bytes[0] / secs[0], (double)bytes[1] / secs[1]);
        }
        task_destroy(ta);
        task_destroy(tb);
}

/* Buffered writes through the page cache to a file on `dir`'s filesystem, then fsync. */
struct buffered_job {
        const char *file;
        uint64_t bytes;
};

static int buffered_work(void *arg, int out_fd)
{
        const struct buffered_job *j = arg;
        static char buf[1 << 20];
        double t0, t1;
        uint64_t done = 0;
        int fd;

        memset(buf, 0xa5, sizeof(buf));
        fd = open(j->file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return 3;
        t0 = now_s();
        while (done < j->bytes) {
                if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
                        return 4;
                done += sizeof(buf);
        }
        if (fsync(fd) < 0)
                return 5;
        t1 = now_s();
        close(fd);
        dprintf(out_fd, "%" PRIu64 " 0 %.6f\n", done, t1 - t0);
        return 0;
}

static void test_buffered(const char *dir, uint64_t wbps, uint64_t bytes, uint64_t mem)
{
        struct cg_io_target io = io_unset(dir);      /* a mount point: its disk */
        struct cg_limits res = res_unset();
        struct buffered_job j;
        struct cg_task_status s;
        struct cg_task *t;
        char file[512];
        uint64_t done, ios;
        double secs, rate;
        int fd, sig, code;
        pid_t pid;

        io.limit[SILO_IO_WBPS] = wbps;
        res.io = &io;
        res.n_io = 1;
        res.mem = mem;
        t = task_create("buffered", &res);
        if (cg_task_read(t, &s) < 0)
                die("cg_task_read", errno, NULL);
        printf("buffered: %s resolved to %s (%u:%u)\n", dir, s.n_io ? s.io[0].name : "?",
               s.n_io ? s.io[0].major : 0, s.n_io ? s.io[0].minor : 0);
        cg_task_status_done(&s);
        snprintf(file, sizeof(file), "%s/buffered.dat", dir);
        j = (struct buffered_job){ .file = file, .bytes = bytes };
        pid = task_spawn(t, buffered_work, &j, &fd);
        code = task_wait(pid, &sig);
        if (code != 0)
                die("buffered workload", EIO, NULL);
        io_result(fd, &done, &ios, &secs);
        rate = (double)done / secs;
        check(fabs(rate - (double)wbps) <= 0.10 * (double)wbps,
              "buffered: limit wbps %" PRIu64 " measured %.0f (%.3f; %" PRIu64 " MiB through the "
              "page cache + fsync in %.2f s, memory.max %" PRIu64 " MiB)",
              wbps, rate, rate / (double)wbps, done >> 20, secs, mem >> 20);
        if (cg_task_read(t, &s) < 0)
                die("cg_task_read", errno, NULL);
        for (size_t i = 0; i < s.n_io_stat; i++)
                printf("io.stat %s: wbytes=%" PRIu64 " wios=%" PRIu64 "\n", s.io_stat[i].name,
                       s.io_stat[i].wbytes, s.io_stat[i].wios);
        cg_task_status_done(&s);
        unlink(file);
        task_destroy(t);
}

/* Every field written and read back from the files. */
static void test_readback(const char *dev)
{
        struct cg_io_target io = io_unset(dev);
        struct cg_limits res = res_unset();
        struct cg_task_status s;
        struct cg_task *t;

        res.cpus = 1.5;
        res.cpu_weight = 250;
        res.cpuset = (char *)"0";
        res.mem = 200u << 20;
        res.mem_high = 150u << 20;
        res.swap = 0;
        res.pids = 100;
        io.limit[SILO_IO_RBPS] = 4194304;
        io.limit[SILO_IO_WBPS] = 2097152;
        io.limit[SILO_IO_RIOPS] = 1000;
        io.limit[SILO_IO_WIOPS] = 200;
        res.io = &io;
        res.n_io = 1;
        t = task_create("readback", &res);
        if (cg_task_read(t, &s) < 0)
                die("cg_task_read", errno, NULL);
        check(s.cpu_quota_usec == 150000 && s.cpu_period_usec == 100000, "readback cpu.max");
        check(s.cpu_weight == 250, "readback cpu.weight %u", s.cpu_weight);
        check(streq(s.cpuset_cpus, "0"), "readback cpuset.cpus '%s' (effective '%s', mems '%s')",
              s.cpuset_cpus, s.cpuset_cpus_effective, s.cpuset_mems_effective);
        check(s.memory_max == 200u << 20 && s.memory_high == 150u << 20 &&
              s.memory_swap_max == 0 && s.memory_oom_group,
              "readback memory.max %" PRIu64 " high %" PRIu64 " swap.max %" PRIu64 " oom.group %d",
              s.memory_max, s.memory_high, s.memory_swap_max, s.memory_oom_group);
        check(s.pids_max == 100, "readback pids.max %" PRIu64, s.pids_max);
        check(s.n_io == 1 && s.io[0].limit[SILO_IO_RBPS] == 4194304 && s.io[0].limit[SILO_IO_WBPS] == 2097152 &&
              s.io[0].limit[SILO_IO_RIOPS] == 1000 && s.io[0].limit[SILO_IO_WIOPS] == 200,
              "readback io.max %s rbps=%" PRIu64 " wbps=%" PRIu64 " riops=%" PRIu64
              " wiops=%" PRIu64, s.n_io ? s.io[0].name : "?", s.n_io ? s.io[0].limit[SILO_IO_RBPS] : 0,
              s.n_io ? s.io[0].limit[SILO_IO_WBPS] : 0, s.n_io ? s.io[0].limit[SILO_IO_RIOPS] : 0, s.n_io ? s.io[0].limit[SILO_IO_WIOPS] : 0);
        check(s.cpu_pressure.valid && s.memory_pressure.valid && s.io_pressure.valid,
              "readback PSI cpu/memory/io present");
        check(!s.populated, "readback: empty group reports populated 0");
        cg_task_status_done(&s);
        /* freeze/thaw and kill on a live process */
        {
                int fd, sig;
                double secs = 30;
                pid_t pid = task_spawn(t, busy_loop, &secs, &fd);

                check(cg_task_freeze(t, true) == 0, "freeze");
                if (cg_task_read(t, &s) == 0)
                        check(s.frozen && s.populated, "frozen and populated read back");
                cg_task_status_done(&s);
                check(cg_task_freeze(t, false) == 0, "thaw");
                check(cg_task_kill(t) == 0, "kill via cgroup.kill");
                task_wait(pid, &sig);
                check(sig == SIGKILL, "killed by SIGKILL (%d)", sig);
                close(fd);
        }
        task_destroy(t);
}

static int fork_and_sleep(void *arg, int out_fd)
{
        (void)arg;
        for (int i = 0; i < 3; i++)
                if (fork() == 0) {
                        close(out_fd);
                        for (;;)
                                pause();
                }
        /* closing the pipe is the "all forked" signal: the reader sees EOF */
        close(out_fd);
        for (;;)
                pause();
        return 0;
}

/* The SIGKILL walk that replaces cgroup.kill on kernels before 5.14. */
static void test_kill_walk(void)
{
        struct cg_limits res = res_unset();
        struct cg_task_status s;
        struct cg_task *t;
        char out[32];
        int fd, sig, r;
        pid_t pid;

        t = task_create("killwalk", &res);
        pid = task_spawn(t, fork_and_sleep, NULL, &fd);
        read_result(fd, out, sizeof(out));
        if (cg_task_read(t, &s) < 0)
                die("cg_task_read", errno, NULL);
        check(s.pids_current == 4, "kill walk: 4 processes in the group before");
        cg_task_status_done(&s);
        r = cg_task_kill_walk(t);
        task_wait(pid, &sig);
        for (int i = 0; i < 200 && cg_task_is_populated(t) > 0; i++)
                usleep(10000);
        check(r == 0 && sig == SIGKILL && cg_task_is_populated(t) == 0,
              "kill walk (no cgroup.kill): all 4 processes killed, group empty");
        task_destroy(t);
}

/* Errors the kernel or the isolator refuse, against the real kernel. The spec's own messages
 * ("resources.io[0].device: ... does not exist", "container.devices[0].path: ...") are the
 * agent's, tested in tests/unit/test-agent-task-cgroup.c. */
static void test_errors(void)
{
        struct cg_io_target io = { .dev = { .devnum = makedev(250, 250), .name = "none" },
                                   .limit = { 1048576, CG_MAX, CG_MAX, CG_MAX } };
        struct cg_limits res = res_unset();
        struct cg_task *t = NULL;
        char *err = NULL;
        int r;

        /* a device number no disk has: io.max refuses it once the group exists */
        res.io = &io;
        res.n_io = 1;
        r = cg_task_create(hier, "bad-io", &res, &t, &err);
        check(r < 0 && err && strstr(err, "/tasks/bad-io/io.max to '250:250 rbps=1048576 "
                                                 "wbps=max riops=max wiops=max'"),
              "error: %s", strempty(err));
        free(err);
        err = NULL;
        check(access("/sys/fs/cgroup/silo/tasks/bad-io", F_OK) < 0,
              "a failed create leaves no group behind");
        res.n_io = 0;
        r = cg_task_create(hier, "../escape", &res, &t, &err);
        check(r == -EINVAL && err, "error: %s", strempty(err));
        free(err);
}

int main(int argc, char **argv)
{
        char *err = NULL;
        int r;

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc < 2) {
                fprintf(stderr, "usage: %s SUBCOMMAND ARGS...\n", argv[0]);
                return 2;
        }
        r = cg_hierarchy_setup(getenv("SILO_CGROUP_ROOT"), false, &hier, &err);
        if (r < 0)
                die("cg_hierarchy_setup", r, err);
        if (streq(argv[1], "cpu") && argc == 3)
                test_cpu(atof(argv[2]));
        else if (streq(argv[1], "oom") && argc == 4)
                test_oom(strtoull(argv[2], NULL, 0), strtoull(argv[3], NULL, 0));
        else if (streq(argv[1], "memupdate"))
                test_mem_update();
        else if (streq(argv[1], "pids") && argc == 3)
                test_pids(strtoull(argv[2], NULL, 0));
        else if (streq(argv[1], "devices-create") && (argc == 3 || argc == 4))
                devices_create(argv[2], argc == 4 ? argv[3] : NULL);
        else if (streq(argv[1], "devices-check") && argc == 5)
                devices_check(argv[2], argv[3], argv[4]);
        else if (streq(argv[1], "destroy") && argc == 3)
                destroy_id(argv[2]);
        else if (streq(argv[1], "io") && (argc == 5 || argc == 6))
                test_io(argv[2], argv[3], strtoull(argv[4], NULL, 0),
                        argc == 6 ? strtoull(argv[5], NULL, 0) : 0);
        else if (streq(argv[1], "two") && argc == 5)
                test_two(argv[2], strtoull(argv[3], NULL, 0), strtoull(argv[4], NULL, 0));
        else if (streq(argv[1], "weight") && argc == 7)
                test_weight(argv[2], (uint32_t)atoi(argv[3]), (uint32_t)atoi(argv[4]),
                            atof(argv[5]), streq(argv[6], "enforced"));
        else if (streq(argv[1], "buffered") && argc == 6)
                test_buffered(argv[2], strtoull(argv[3], NULL, 0), strtoull(argv[4], NULL, 0),
                              strtoull(argv[5], NULL, 0));
        else if (streq(argv[1], "readback") && argc == 3)
                test_readback(argv[2]);
        else if (streq(argv[1], "errors"))
                test_errors();
        else if (streq(argv[1], "killwalk"))
                test_kill_walk();
        else {
                fprintf(stderr, "unknown subcommand or arguments: %s\n", argv[1]);
                return 2;
        }
        cg_hierarchy_free(hier);
        return failures ? 1 : 0;
}
