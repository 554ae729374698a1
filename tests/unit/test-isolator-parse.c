/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for isolator/cgroup-parse and the probe: cgroup v2 file contents to structs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "common/fileio.h"
#include "isolator/cgroup-internal.h"

static void test_max_u64(void **state)
{
        uint64_t v;
        (void)state;

        assert_int_equal(cg_parse_max_u64("max\n", &v), 0);
        assert_true(v == CG_MAX);
        assert_int_equal(cg_parse_max_u64("67108864\n", &v), 0);
        assert_true(v == 67108864);
        assert_int_equal(cg_parse_max_u64("0", &v), 0);
        assert_true(v == 0);
        assert_int_equal(cg_parse_max_u64("maximum", &v), -EBADMSG);
        assert_int_equal(cg_parse_max_u64("-1", &v), -EBADMSG);
        assert_int_equal(cg_parse_max_u64("12x", &v), -EBADMSG);
        assert_int_equal(cg_parse_max_u64("", &v), -EBADMSG);
        assert_int_equal(cg_parse_max_u64("99999999999999999999999", &v), -ERANGE);
}

static void test_cpu_max(void **state)
{
        uint64_t q, p;
        (void)state;

        assert_int_equal(cg_parse_cpu_max("150000 100000\n", &q, &p), 0);
        assert_true(q == 150000 && p == 100000);
        assert_int_equal(cg_parse_cpu_max("max 100000\n", &q, &p), 0);
        assert_true(q == CG_MAX && p == 100000);
        assert_int_equal(cg_parse_cpu_max("150000\n", &q, &p), -EBADMSG);
        assert_int_equal(cg_parse_cpu_max("1 max\n", &q, &p), -EBADMSG);
        assert_int_equal(cg_parse_cpu_max("1 0\n", &q, &p), -EBADMSG);
}

static void test_cpu_stat(void **state)
{
        struct cg_cpu_stat s;
        (void)state;

        assert_int_equal(cg_parse_cpu_stat("usage_usec 2500000\nuser_usec 2000000\n"
                                           "system_usec 500000\nnr_periods 50\n"
                                           "nr_throttled 25\nthrottled_usec 1250000\n"
                                           "nr_bursts 0\nburst_usec 0\n", &s), 0);
        assert_true(s.usage_usec == 2500000 && s.user_usec == 2000000 &&
                    s.system_usec == 500000 && s.nr_periods == 50 && s.nr_throttled == 25 &&
                    s.throttled_usec == 1250000);
        /* without the cpu controller only the usage fields exist */
        assert_int_equal(cg_parse_cpu_stat("usage_usec 7\nuser_usec 5\nsystem_usec 2\n", &s), 0);
        assert_true(s.usage_usec == 7 && s.nr_periods == 0);
        assert_int_equal(cg_parse_cpu_stat("garbage\n", &s), -EBADMSG);
        /* a key that is a prefix of another must not match it */
        assert_int_equal(cg_parse_cpu_stat("usage_usec_x 5\n", &s), -EBADMSG);
}

static void test_memory_events(void **state)
{
        struct cg_memory_events e;
        (void)state;

        assert_int_equal(cg_parse_memory_events("low 0\nhigh 3\nmax 12\noom 1\noom_kill 1\n"
                                                "oom_group_kill 1\n", &e), 0);
        assert_true(e.low == 0 && e.high == 3 && e.max == 12 && e.oom == 1 && e.oom_kill == 1 &&
                    e.oom_group_kill == 1);
        /* 5.x without oom_group_kill */
        assert_int_equal(cg_parse_memory_events("low 0\nhigh 0\nmax 0\noom 0\noom_kill 4\n", &e),
                         0);
        assert_true(e.oom_kill == 4 && e.oom_group_kill == 0);
        assert_int_equal(cg_parse_memory_events("", &e), -EBADMSG);
        assert_int_equal(cg_parse_memory_events("oom_kill x\n", &e), -EBADMSG);
}

static void test_memory_stat(void **state)
{
        struct cg_memory_stat s;
        (void)state;

        assert_int_equal(cg_parse_memory_stat("anon 1048576\nfile 4096\nkernel 8192\n"
                                              "kernel_stack 16384\npagetables 0\nsec_pagetables 0\n"
                                              "percpu 0\nsock 0\nvmalloc 0\nshmem 0\n"
                                              "file_mapped 0\nfile_dirty 12288\n"
                                              "file_writeback 4096\nslab 2048\npgfault 321\n"
                                              "pgmajfault 2\n", &s), 0);
        assert_true(s.anon == 1048576 && s.file == 4096 && s.kernel_stack == 16384 &&
                    s.file_dirty == 12288 && s.file_writeback == 4096 && s.slab == 2048 &&
                    s.pgfault == 321 && s.pgmajfault == 2);
}

static void test_pressure(void **state)
{
        struct cg_pressure p;
        (void)state;

        assert_int_equal(cg_parse_pressure("some avg10=1.50 avg60=0.25 avg300=0.05 total=123456\n"
                                           "full avg10=0.75 avg60=0.00 avg300=0.00 total=654\n",
                                           &p), 0);
        assert_true(p.valid);
        assert_true(p.some.avg10 == 1.5 && p.some.avg60 == 0.25 && p.some.avg300 == 0.05);
        assert_true(p.some.total_usec == 123456);
        assert_true(p.full.avg10 == 0.75 && p.full.total_usec == 654);
        /* cpu.pressure before 5.13 had only "some" */
        assert_int_equal(cg_parse_pressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=9\n",
                                           &p), 0);
        assert_true(p.valid && p.some.total_usec == 9 && p.full.total_usec == 0);
        assert_int_equal(cg_parse_pressure("some avg10=x\n", &p), -EBADMSG);
        assert_int_equal(cg_parse_pressure("", &p), -EBADMSG);
}

static void test_io_stat(void **state)
{
        struct cg_io_stat *v = NULL;
        size_t n = 0;
        (void)state;

        assert_int_equal(cg_parse_io_stat("254:0 rbytes=4194304 wbytes=2097152 rios=1024 "
                                          "wios=512 dbytes=0 dios=0\n"
                                          "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=5 dios=6 "
                                          "cost.vrate=100.00 cost.usage=12\n", &v, &n), 0);
        assert_int_equal(n, 2);
        assert_true(v[0].major == 254 && v[0].minor == 0 && v[0].rbytes == 4194304 &&
                    v[0].wbytes == 2097152 && v[0].rios == 1024 && v[0].wios == 512);
        assert_true(v[1].major == 8 && v[1].dbytes == 5 && v[1].dios == 6);
        free(v);
        assert_int_equal(cg_parse_io_stat("", &v, &n), 0);
        assert_int_equal(n, 0);
        free(v);
        assert_int_equal(cg_parse_io_stat("nonsense rbytes=1\n", &v, &n), -EBADMSG);
}

static void test_io_limits(void **state)
{
        struct cg_io_limit *v = NULL;
        size_t n = 0;
        (void)state;

        assert_int_equal(cg_parse_io_limits("254:0 rbps=4194304 wbps=2097152 riops=max wiops=200\n"
                                            "8:0 rbps=max wbps=max riops=100 wiops=max\n",
                                            "default 100\n254:0 300\n259:0 50\n", &v, &n), 0);
        assert_int_equal(n, 3);
        assert_true(v[0].major == 254 && v[0].limit[SILO_IO_RBPS] == 4194304 && v[0].limit[SILO_IO_WBPS] == 2097152 &&
                    v[0].limit[SILO_IO_RIOPS] == CG_MAX && v[0].limit[SILO_IO_WIOPS] == 200 && v[0].weight == 300);
        assert_true(v[1].major == 8 && v[1].limit[SILO_IO_RIOPS] == 100 && v[1].weight == 100);
        assert_true(v[2].major == 259 && v[2].limit[SILO_IO_RBPS] == CG_MAX && v[2].weight == 50);
        free(v);
        /* a group default weight applies to devices without their own line */
        assert_int_equal(cg_parse_io_limits("254:0 rbps=1 wbps=max riops=max wiops=max\n",
                                            "default 250\n", &v, &n), 0);
        assert_true(n == 1 && v[0].weight == 250);
        free(v);
        assert_int_equal(cg_parse_io_limits("", NULL, &v, &n), 0);
        assert_int_equal(n, 0);
        free(v);
        assert_int_equal(cg_parse_io_limits("254:0 rbps=lots\n", NULL, &v, &n), -EBADMSG);
}

static void test_iocost_and_scheduler(void **state)
{
        const char *qos = "254:0 enable=1 ctrl=user rpct=0.00 rlat=250000 wpct=0.00 "
                          "wlat=250000 min=1.00 max=10000.00\n"
                          "8:0 enable=0 ctrl=auto rpct=0.00 rlat=0 wpct=0.00 wlat=0 "
                          "min=0.00 max=0.00\n";
        char buf[32];
        (void)state;

        assert_true(cg_parse_iocost_enabled(qos, makedev(254, 0)));
        assert_false(cg_parse_iocost_enabled(qos, makedev(8, 0)));
        assert_false(cg_parse_iocost_enabled(qos, makedev(259, 0)));
        assert_false(cg_parse_iocost_enabled("", makedev(254, 0)));

        assert_int_equal(cg_parse_scheduler("mq-deadline kyber [bfq] none\n", buf, sizeof(buf)),
                         0);
        assert_string_equal(buf, "bfq");
        assert_int_equal(cg_parse_scheduler("[none] mq-deadline\n", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "none");
        assert_int_equal(cg_parse_scheduler("none\n", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "none");
        assert_int_equal(cg_parse_scheduler("[]\n", buf, sizeof(buf)), -EBADMSG);
        assert_int_equal(cg_parse_scheduler("", buf, sizeof(buf)), -EBADMSG);
}

static void test_events(void **state)
{
        bool p, f;
        (void)state;

        assert_int_equal(cg_parse_events("populated 1\nfrozen 0\n", &p, &f), 0);
        assert_true(p && !f);
        assert_int_equal(cg_parse_events("populated 0\nfrozen 1\n", &p, &f), 0);
        assert_true(!p && f);
        assert_int_equal(cg_parse_events("frozen 1\n", &p, &f), -EBADMSG);
}

static void test_controllers_and_probe_messages(void **state)
{
        struct cg_probe p = { .mountpoint = "/sys/fs/cgroup", .unified = true };
        char *err = NULL;
        (void)state;

        assert_int_equal(cg_controllers_from_string("cpuset cpu io memory hugetlb pids rdma misc\n"),
                         CG_CTRL_WANTED);
        assert_int_equal(cg_controllers_from_string("cpuset io\n"), CG_CTRL_CPUSET | CG_CTRL_IO);
        assert_int_equal(cg_controllers_from_string(""), 0);
        assert_string_equal(cg_controller_to_string(CG_CTRL_IO), "io");
        assert_null(cg_controller_to_string(1u << 20));

        p.controllers = CG_CTRL_WANTED;
        assert_int_equal(cg_probe_check(&p, &err), 0);
        assert_null(err);
        /* cpuset is optional */
        p.controllers = CG_CTRL_REQUIRED;
        assert_int_equal(cg_probe_check(&p, &err), 0);

        p.controllers = CG_CTRL_CPU | CG_CTRL_MEMORY;
        assert_int_equal(cg_probe_check(&p, &err), -EOPNOTSUPP);
        assert_string_equal(err, "cgroup v2 controllers io, pids not available at /sys/fs/cgroup "
                                 "(missing from cgroup.controllers); Silo will not run tasks "
                                 "without isolation");
        free(err);
        err = NULL;
        /* the hybrid host of KERNEL-TESTING.md: no cgroup2 at the mount point at all */
        p.unified = false;
        assert_int_equal(cg_probe_check(&p, &err), -EOPNOTSUPP);
        assert_string_equal(err, "cgroup v2 controllers cpu, memory, io, pids not available at "
                                 "/sys/fs/cgroup (no cgroup2 filesystem there: hybrid/v1 host?); "
                                 "Silo will not run tasks without isolation");
        free(err);
}

static void test_probe_not_cgroup2(void **state)
{
        char dir[] = "/tmp/silo-test-probe-XXXXXX";
        const struct cg_probe *p, *again;
        char *err = NULL;
        (void)state;

        assert_non_null(mkdtemp(dir));
        assert_int_equal(cg_probe(dir, &p), 0);
        assert_false(p->unified);
        assert_int_equal(p->controllers, 0);
        assert_int_equal(cg_probe(dir, &again), 0);
        assert_ptr_equal(p, again);     /* cached */
        assert_int_equal(cg_probe_check(p, &err), -EOPNOTSUPP);
        assert_non_null(strstr(err, dir));
        free(err);
        assert_int_equal(rmdir(dir), 0);
}

/* io.weight enforcement from a fake cgroup root (io.cost.qos) and a fake sysfs (scheduler). */
static void test_weight_enforcement(void **state)
{
        char dir[] = "/tmp/silo-test-weight-XXXXXX";
        char p[1200];
        struct cg_io_limit l = { .major = 254, .minor = 0 };
        (void)state;

        assert_non_null(mkdtemp(dir));
        snprintf(p, sizeof(p), "%s/sys/devices/virtual/block/nullb0/queue", dir);
        assert_int_equal(mkdir_parents(p, 0755), 0);
        snprintf(p, sizeof(p), "%s/sys/dev/block", dir);
        assert_int_equal(mkdir_parents(p, 0755), 0);
        snprintf(p, sizeof(p), "%s/sys/dev/block/254:0", dir);
        assert_int_equal(symlink("../../devices/virtual/block/nullb0", p), 0);
        snprintf(p, sizeof(p), "%s/cg", dir);
        assert_int_equal(mkdir(p, 0755), 0);
        snprintf(p, sizeof(p), "%s/sys/devices/virtual/block/nullb0/queue/scheduler", dir);
        assert_int_equal(file_write_atomic(p, "[none] mq-deadline\n", 19, 0644), 0);

        {
                char cg[512], sys[512];

                snprintf(cg, sizeof(cg), "%s/cg", dir);
                snprintf(sys, sizeof(sys), "%s/sys", dir);
                /* no io.cost.qos file, scheduler none: not enforced, and says why */
                cg_io_weight_enforcement(cg, sys, &l);
                assert_false(l.weight_enforced);
                assert_string_equal(l.weight_note, "not enforced: no iocost in io.cost.qos for "
                                                   "nullb0 and its scheduler is none, not bfq");
                /* iocost configured but disabled for this device */
                snprintf(p, sizeof(p), "%s/io.cost.qos", cg);
                assert_int_equal(file_write_atomic(p, "254:0 enable=0 ctrl=auto\n", 25, 0644), 0);
                cg_io_weight_enforcement(cg, sys, &l);
                assert_false(l.weight_enforced);
                /* enabled */
                assert_int_equal(file_write_atomic(p, "254:0 enable=1 ctrl=user\n", 25, 0644), 0);
                cg_io_weight_enforcement(cg, sys, &l);
                assert_true(l.weight_enforced);
                assert_string_equal(l.weight_note, "iocost");
                /* BFQ without iocost */
                assert_int_equal(unlink(p), 0);
                snprintf(p, sizeof(p), "%s/sys/devices/virtual/block/nullb0/queue/scheduler",
                         dir);
                assert_int_equal(file_write_atomic(p, "mq-deadline [bfq] none\n", 23, 0644), 0);
                cg_io_weight_enforcement(cg, sys, &l);
                assert_true(l.weight_enforced);
                assert_string_equal(l.weight_note, "bfq");
        }
        assert_int_equal(rm_rf(dir), 0);
}

static void test_clone3_refuses_bad_flags(void **state)
{
        int pidfd = -1;
        (void)state;

        assert_int_equal(cg_clone3_into(-1, 0, &pidfd), -EINVAL);
        assert_int_equal(cg_clone3_into(3, 0x00000100 /* CLONE_VM */, &pidfd), -EINVAL);
        assert_int_equal(cg_clone3_into(3, 0x00010000 /* CLONE_THREAD */, &pidfd), -EINVAL);
        assert_int_equal(cg_clone3_into(3, 17 /* SIGCHLD in CSIGNAL */, &pidfd), -EINVAL);
        assert_int_equal(cg_clone3_into(3, 0, NULL), -EINVAL);
}

struct spawn_probe {
        const char *path;
        pid_t seen_pid; /* the child's getpid(), seen by the parent only if memory is shared */
        int exec_errno;
};

__attribute__((no_sanitize("address", "undefined"))) static int spawn_probe_child(void *arg)
{
        struct spawn_probe *p = arg;

        p->seen_pid = getpid();
        execl(p->path, p->path, (char *)NULL);
        p->exec_errno = errno;
        return 127;
}

static int spawn_wait(int pidfd)
{
        siginfo_t si = { 0 };

        assert_int_equal(waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED), 0);
        close(pidfd);
        return si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
}

/* cg_spawn_into() without a cgroup (the host's cgroups are not ours to use): the child runs
 * in our memory (its pid written through arg is seen here), returns after the exec, and an
 * exec error comes back through arg with the exit status fn returned. */
static void test_spawn_shares_memory(void **state)
{
        struct spawn_probe p = { .path = "/bin/true" };
        int pidfd = -1, dirfd;
        pid_t pid;
        (void)state;

        assert_int_equal(cg_spawn_into(-1, NULL, &p, &pidfd), -EINVAL);
        assert_int_equal(cg_spawn_into(-1, spawn_probe_child, &p, NULL), -EINVAL);

        pid = cg_spawn_into(-1, spawn_probe_child, &p, &pidfd);
        assert_true(pid > 0);
        assert_true(pidfd >= 0);
#if defined(__x86_64__)
        assert_int_equal(p.seen_pid, pid);
#endif
        assert_int_equal(p.exec_errno, 0);
        assert_int_equal(spawn_wait(pidfd), 0);

        p = (struct spawn_probe){ .path = "/nonexistent/silo-shim" };
        pid = cg_spawn_into(-1, spawn_probe_child, &p, &pidfd);
        assert_true(pid > 0);
#if defined(__x86_64__)
        assert_int_equal(p.exec_errno, ENOENT);
#endif
        assert_int_equal(spawn_wait(pidfd), 127);

        /* A directory that is no cgroup v2 group: the kernel's refusal, no child. */
        dirfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        assert_true(dirfd >= 0);
        pidfd = -1;
        assert_true(cg_spawn_into(dirfd, spawn_probe_child, &p, &pidfd) < 0);
        assert_int_equal(pidfd, -1);
        close(dirfd);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_max_u64),
                cmocka_unit_test(test_cpu_max),
                cmocka_unit_test(test_cpu_stat),
                cmocka_unit_test(test_memory_events),
                cmocka_unit_test(test_memory_stat),
                cmocka_unit_test(test_pressure),
                cmocka_unit_test(test_io_stat),
                cmocka_unit_test(test_io_limits),
                cmocka_unit_test(test_iocost_and_scheduler),
                cmocka_unit_test(test_events),
                cmocka_unit_test(test_controllers_and_probe_messages),
                cmocka_unit_test(test_probe_not_cgroup2),
                cmocka_unit_test(test_weight_enforcement),
                cmocka_unit_test(test_clone3_refuses_bad_flags),
                cmocka_unit_test(test_spawn_shares_memory),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
