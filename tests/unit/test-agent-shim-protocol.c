/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the agent <-> shim files (launch config, shim state, exit record) and launcher constants. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "agent/shim-protocol.h"
#include "common/fileio.h"
#include "common/macro.h"

static char dir[64];

static int setup(void **state)
{
        (void)state;
        snprintf(dir, sizeof(dir), "/tmp/test-agent-shim-XXXXXX");
        return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
        (void)state;
        return rm_rf(dir);
}

static char **strv(const char *a, const char *b)
{
        char **v = calloc(3, sizeof(char *));
        v[0] = strdup(a);
        v[1] = b ? strdup(b) : NULL;
        return v;
}

static void test_launch_round_trip(void **state)
{
        struct shim_launch in = {}, out = {};
        struct container_config *c = &in.container;
        char *err = NULL;

        (void)state;
        in.task_id = strdup("t-1");
        in.cgroup = strdup("/sys/fs/cgroup/silo/tasks/t-1");
        in.log_max_bytes = 4096;
        in.log_files = 3;
        c->argv = strv("/bin/sh", "-c");
        c->env = strv("PATH=/bin", "A=b c");
        c->cwd = strdup("/");
        c->set_user = true;
        c->uid = 65534;
        c->gid = 65534;
        c->groups = calloc(1, sizeof(gid_t));
        c->groups[0] = 27;
        c->n_groups = 1;
        c->namespaces = SILO_NS_PID | SILO_NS_MOUNT | SILO_NS_NET;
        c->hostname = strdup("box");
        c->rootfs = strdup("/img");
        c->sandbox = strdup(dir);
        c->volumes = calloc(1, sizeof(*c->volumes));
        c->volumes[0] = (struct container_volume){strdup("/srv"), strdup("/data"), true};
        c->n_volumes = 1;
        c->devices = calloc(1, sizeof(*c->devices));
        c->devices[0] = (struct container_device){strdup("/dev/nullb0"), SILO_DEV_READ};
        c->n_devices = 1;
        /* Bit 63 must survive JSON (signed 64-bit integers). */
        c->capabilities = container_default_capabilities() | (UINT64_C(1) << 40) | (UINT64_C(1) << 63);
        c->rlimits = calloc(1, sizeof(*c->rlimits));
        c->rlimits[0] = (struct silo_rlimit){RLIMIT_NOFILE, 1024, UINT64_MAX};
        c->n_rlimits = 1;
        c->init = true;

        assert_int_equal(shim_launch_write(dir, &in), 0);
        assert_int_equal(shim_launch_read(dir, &out, &err), 0);
        assert_string_equal(out.task_id, "t-1");
        assert_string_equal(out.cgroup, in.cgroup);
        assert_int_equal(out.log_max_bytes, 4096);
        assert_int_equal(out.log_files, 3);
        assert_string_equal(out.container.argv[0], "/bin/sh");
        assert_string_equal(out.container.argv[1], "-c");
        assert_null(out.container.argv[2]);
        assert_string_equal(out.container.env[1], "A=b c");
        assert_true(out.container.set_user);
        assert_int_equal(out.container.uid, 65534);
        assert_int_equal(out.container.gid, 65534);
        assert_int_equal(out.container.n_groups, 1);
        assert_int_equal(out.container.groups[0], 27);
        assert_int_equal(out.container.namespaces, c->namespaces);
        assert_string_equal(out.container.hostname, "box");
        assert_string_equal(out.container.rootfs, "/img");
        assert_int_equal(out.container.n_volumes, 1);
        assert_string_equal(out.container.volumes[0].target, "/data");
        assert_true(out.container.volumes[0].readonly);
        assert_int_equal(out.container.n_devices, 1);
        assert_int_equal(out.container.devices[0].access, SILO_DEV_READ);
        assert_true(out.container.capabilities == c->capabilities);
        assert_int_equal(out.container.n_rlimits, 1);
        assert_int_equal(out.container.rlimits[0].resource, RLIMIT_NOFILE);
        assert_true(out.container.rlimits[0].hard == UINT64_MAX);
        assert_true(out.container.init);
        shim_launch_clear(&in);
        shim_launch_clear(&out);
}

static void test_launch_malformed(void **state)
{
        struct shim_launch out = {};
        char path[128], *err = NULL;

        (void)state;
        assert_int_equal(shim_launch_read(dir, &out, &err), -ENOENT);
        assert_non_null(strstr(err, "launch.json"));
        free(err);
        err = NULL;
        snprintf(path, sizeof(path), "%s/launch.json", dir);
        assert_int_equal(file_write_atomic(path, "{\"task_id\":1}", 13, 0600), 0);
        assert_int_equal(shim_launch_read(dir, &out, &err), -EBADMSG);
        free(err);
        err = NULL;
        /* An empty argv is refused even in a well-formed file. */
        static const char doc[] = "{\"task_id\":\"x\",\"cgroup\":\"/c\",\"log_max_bytes\":10,\"log_files\":1,"
                                  "\"container\":{\"argv\":[],\"env\":[],\"sandbox\":\"/s\",\"capabilities\":\"0x0\"}}";
        assert_int_equal(file_write_atomic(path, doc, strlen(doc), 0600), 0);
        assert_int_equal(shim_launch_read(dir, &out, &err), -EINVAL);
        assert_non_null(strstr(err, "argv"));
        free(err);
}

static void test_state_and_exit_records(void **state)
{
        struct shim_state s = {.shim_pid = 10, .shim_start_time = 12345678901ULL, .task_pid = 11,
                               .task_start_time = 22, .started_ms = 1700000000000ULL}, s2 = {};
        struct shim_exit_record e = {.exit_code = -1, .signal = 9, .core_dumped = true, .finished_ms = 5},
                                e2 = {};

        (void)state;
        assert_int_equal(shim_exit_record_read(dir, &e2), -ENOENT);
        assert_int_equal(shim_state_write(dir, &s), 0);
        assert_int_equal(shim_state_read(dir, &s2), 0);
        assert_int_equal(s2.shim_pid, 10);
        assert_true(s2.shim_start_time == 12345678901ULL);
        assert_int_equal(s2.task_pid, 11);
        assert_int_equal(s2.task_start_time, 22);
        assert_true(s2.started_ms == 1700000000000ULL);
        assert_int_equal(shim_exit_record_write(dir, &e), 0);
        assert_int_equal(shim_exit_record_read(dir, &e2), 0);
        assert_int_equal(e2.exit_code, -1);
        assert_int_equal(e2.signal, 9);
        assert_true(e2.core_dumped);
        assert_null(e2.launch_error);
        e.launch_error = "command: cannot execute /nope: No such file or directory";
        assert_int_equal(shim_exit_record_write(dir, &e), 0);
        assert_int_equal(shim_exit_record_read(dir, &e2), 0);
        assert_string_equal(e2.launch_error, e.launch_error);
        shim_exit_record_clear(&e2);
}

static void test_default_capabilities(void **state)
{
        uint64_t m = container_default_capabilities();

        (void)state;
        /* Docker's 14, and none of the dangerous ones. */
        assert_int_equal(__builtin_popcountll(m), 14);
        assert_true(m & (UINT64_C(1) << CAP_NET_BIND_SERVICE));
        assert_true(m & (UINT64_C(1) << CAP_MKNOD));
        assert_false(m & (UINT64_C(1) << CAP_SYS_ADMIN));
        assert_false(m & (UINT64_C(1) << CAP_NET_ADMIN));
        assert_false(m & (UINT64_C(1) << CAP_SYS_PTRACE));
        assert_false(m & (UINT64_C(1) << CAP_SYS_MODULE));
}

static void test_clone_flags(void **state)
{
        (void)state;
        /* The cgroup namespace is always there: a task sees its own group as the root. */
        assert_true(container_clone_flags(0) == CLONE_NEWCGROUP);
        assert_true(container_clone_flags(SILO_NS_PID | SILO_NS_MOUNT | SILO_NS_UTS | SILO_NS_IPC | SILO_NS_NET) ==
                    (uint64_t)(CLONE_NEWCGROUP | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC |
                               CLONE_NEWNET));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_launch_round_trip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_launch_malformed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_state_and_exit_records, setup, teardown),
                cmocka_unit_test(test_default_capabilities),
                cmocka_unit_test(test_clone_flags),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
