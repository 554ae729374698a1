/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for agent/task-cgroup: a spec's io targets and devices resolved (against a fake
 * /sys), every message naming the spec's field, and the limits handed to the isolator. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "agent/task-cgroup.h"
#include "common/fileio.h"
#include "common/macro.h"

static char tmpdir[] = "/tmp/silo-test-task-cgroup-XXXXXX";
static char sys[128];

static void put(const char *rel, const char *content)
{
        char p[1024];

        snprintf(p, sizeof(p), "%s/%s", sys, rel);
        assert_int_equal(file_write_atomic(p, content, strlen(content), 0644), 0);
}

static void link_to(const char *target, const char *rel)
{
        char p[1024];

        snprintf(p, sizeof(p), "%s/%s", sys, rel);
        assert_int_equal(symlink(target, p), 0);
}

/* sda (8:0) with its partition sda1 (8:1), laid out as the kernel does (see
 * test-isolator-blockdev.c). */
static int setup(void **state)
{
        char p[1024];
        (void)state;

        if (!mkdtemp(tmpdir))
                return -1;
        snprintf(sys, sizeof(sys), "%s/sys", tmpdir);
        snprintf(p, sizeof(p), "%s/devices/block/sda/sda1", sys);
        if (mkdir_parents(p, 0755) < 0)
                return -1;
        snprintf(p, sizeof(p), "%s/dev/block", sys);
        if (mkdir_parents(p, 0755) < 0)
                return -1;
        snprintf(p, sizeof(p), "%s/class/block", sys);
        if (mkdir_parents(p, 0755) < 0)
                return -1;
        put("devices/block/sda/dev", "8:0\n");
        put("devices/block/sda/sda1/dev", "8:1\n");
        put("devices/block/sda/sda1/partition", "1\n");
        link_to("../../devices/block/sda", "dev/block/8:0");
        link_to("../../devices/block/sda/sda1", "dev/block/8:1");
        link_to("../../devices/block/sda", "class/block/sda");
        link_to("../../devices/block/sda/sda1", "class/block/sda1");
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        return rm_rf(tmpdir);
}

static struct silo_io_request io_disk(const char *disk)
{
        return (struct silo_io_request){ .disk = (char *)disk,
                                         .limit = { SILO_UNSET, SILO_UNSET, SILO_UNSET,
                                                    SILO_UNSET } };
}

static void expect_io_error(struct silo_io_request *io, size_t n, int code, const char *message)
{
        struct silo_resources res = { .io = io, .n_io = n };
        struct blockdev *v = NULL;
        char *err = NULL;

        assert_int_equal(task_io_targets_resolve(sys, &res, &v, &err), code);
        assert_null(v);
        assert_non_null(err);
        assert_string_equal(err, message);
        free(err);
}

static void test_io_targets(void **state)
{
        struct silo_io_request io[1] = { io_disk("sda1") };
        struct silo_resources res = { .io = io, .n_io = 1 };
        struct blockdev *v = NULL;
        (void)state;

        assert_int_equal(task_io_targets_resolve(sys, &res, &v, NULL), 0);
        /* the partition's disk is the io.max target */
        assert_int_equal(v[0].devnum, makedev(8, 0));
        assert_string_equal(v[0].name, "sda");
        assert_true(v[0].from_partition);
        free(v);
        v = NULL;
        res.n_io = 0;
        assert_int_equal(task_io_targets_resolve(sys, &res, &v, NULL), 0);
        assert_null(v);
}

static void test_io_errors(void **state)
{
        struct silo_io_request io[2] = { io_disk("sda"), io_disk("sda1") };
        char want[512];
        (void)state;

        expect_io_error(io, 2, -EINVAL, "resources.io[1]: sda is the same disk as resources.io[0]");
        io[1] = io_disk("any");
        expect_io_error(io, 2, -EINVAL,
                        "resources.io[1].disk: 'any' is for the master to resolve; name a disk "
                        "of this agent");
        io[1] = io_disk(NULL);
        expect_io_error(io, 2, -EINVAL, "resources.io[1]: names neither a disk nor a device");
        io[0] = io_disk(NULL);
        io[0].device = (char *)"/dev/nonexistent-disk";
        expect_io_error(io, 1, -ENOENT,
                        "resources.io[0].device: /dev/nonexistent-disk does not exist");
        io[0].device = (char *)"/dev/null";
        expect_io_error(io, 1, -ENOTBLK,
                        "resources.io[0].device: /dev/null is a character device (1:3), not a "
                        "block device");
        io[0] = io_disk("sdz");
        snprintf(want, sizeof(want), "resources.io[0].disk: disk sdz not found in %s/class/block",
                 sys);
        expect_io_error(io, 1, -ENODEV, want);
}

static void expect_device_error(const struct silo_device *d, size_t n, int code,
                                const char *message)
{
        struct cg_device_rule *v = NULL;
        char *err = NULL;

        assert_int_equal(task_devices_resolve(d, n, &v, &err), code);
        assert_null(v);
        assert_non_null(err);
        assert_string_equal(err, message);
        free(err);
}

static void test_devices(void **state)
{
        struct silo_device d[2] = {
                { .path = (char *)"/dev/null", .access = SILO_DEV_READ },
                { .path = (char *)"/dev/zero", .access = 0 },
        };
        struct cg_device_rule *v = NULL;
        char file[] = "/tmp/silo-test-devices-XXXXXX", want[256];
        struct silo_device *many;
        int fd;
        (void)state;

        assert_int_equal(task_devices_resolve(d, 2, &v, NULL), 0);
        assert_int_equal(v[0].type, 'c');
        assert_int_equal(v[0].major, 1);
        assert_int_equal(v[0].minor, 3);
        assert_int_equal(v[0].access, SILO_DEV_READ);
        /* no access given: rwm, as a plain string entry means */
        assert_int_equal(v[1].minor, 5);
        assert_int_equal(v[1].access, SILO_DEV_READ | SILO_DEV_WRITE | SILO_DEV_MKNOD);
        free(v);

        d[1] = (struct silo_device){ .path = (char *)"/dev/silo-nonexistent", .access = 1 };
        expect_device_error(d, 2, -ENOENT,
                            "container.devices[1]: /dev/silo-nonexistent does not exist on this "
                            "host");
        fd = mkstemp(file);
        assert_true(fd >= 0);
        close(fd);
        d[1].path = file;
        snprintf(want, sizeof(want), "container.devices[1]: %s is not a device node", file);
        expect_device_error(d, 2, -ENOTBLK, want);
        unlink(file);

        many = calloc(256, sizeof(*many));
        assert_non_null(many);
        for (size_t i = 0; i < 256; i++)
                many[i] = (struct silo_device){ .path = (char *)"/dev/null" };
        expect_device_error(many, 256, -E2BIG,
                            "container.devices: 256 entries, at most 248 are supported");
        assert_int_equal(task_devices_resolve(many, CG_DEVICE_RULES_MAX, &v, NULL), 0);
        free(v);
        free(many);
}

static void test_limits(void **state)
{
        struct silo_io_request io[1] = { io_disk("sda") };
        struct silo_task_spec spec = {
                .resources = { .cpus = 1.5, .cpu_weight = 200, .cpuset = (char *)"0-1",
                               .mem = 1 << 30, .mem_high = SILO_UNSET, .swap = 0,
                               .pids = 64, .io = io, .n_io = 1 },
        };
        struct blockdev target = { .devnum = makedev(8, 0), .name = "sda" };
        struct cg_device_rule rule = { 'b', 8, 0, SILO_DEV_READ };
        struct cg_io_target *out = NULL;
        struct cg_limits l;
        char *err = NULL;
        (void)state;

        io[0].limit[SILO_IO_WBPS] = 1048576;
        io[0].weight = 300;
        assert_int_equal(task_cgroup_limits(&spec, &target, &rule, 1, &l, &out, NULL), 0);
        assert_true(l.cpus == 1.5);
        assert_int_equal(l.cpu_weight, 200);
        assert_string_equal(l.cpuset, "0-1");
        assert_int_equal(l.mem, 1 << 30);
        assert_true(l.mem_high == CG_MAX);
        assert_int_equal(l.swap, 0);
        assert_int_equal(l.pids, 64);
        assert_int_equal(l.n_io, 1);
        assert_ptr_equal(l.io, out);
        assert_int_equal(out[0].dev.devnum, makedev(8, 0));
        assert_int_equal(out[0].limit[SILO_IO_WBPS], 1048576);
        assert_true(out[0].limit[SILO_IO_RBPS] == CG_MAX);
        assert_int_equal(out[0].weight, 300);
        assert_ptr_equal(l.devices, &rule);
        assert_int_equal(l.n_devices, 1);
        free(out);
        /* io entries without their resolved targets: a caller's mistake, refused */
        assert_int_equal(task_cgroup_limits(&spec, NULL, NULL, 0, &l, &out, &err), -EINVAL);
        assert_non_null(err);
        free(err);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_io_targets),
                cmocka_unit_test(test_io_errors),
                cmocka_unit_test(test_devices),
                cmocka_unit_test(test_limits),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
