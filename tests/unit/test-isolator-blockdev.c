/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for isolator/blockdev: io.max targets from a fake /sys tree built at run time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/fileio.h"
#include "isolator/cgroup-internal.h"

static char tmpdir[] = "/tmp/silo-test-blockdev-XXXXXX";
static char sys[128];

static void put(const char *rel, const char *content)
{
        char p[1024];

        snprintf(p, sizeof(p), "%s/%s", sys, rel);
        assert_int_equal(file_write_atomic(p, content, strlen(content), 0644), 0);
}

static void dir(const char *rel)
{
        char p[1024];

        snprintf(p, sizeof(p), "%s/%s", sys, rel);
        assert_int_equal(mkdir_parents(p, 0755), 0);
}

static void link_to(const char *target, const char *rel)
{
        char p[1024];

        snprintf(p, sizeof(p), "%s/%s", sys, rel);
        assert_int_equal(symlink(target, p), 0);
}

/* A disk with its partitions as the kernel lays them out: the partition directory inside the
 * disk's, with a "partition" file; /sys/dev/block and /sys/class/block link to them. */
static void add_disk(const char *parent, const char *name, const char *devnum)
{
        char d[512], l[512], f[1024];

        snprintf(d, sizeof(d), "devices/%s/%s", parent, name);
        dir(d);
        snprintf(f, sizeof(f), "%s/dev", d);
        put(f, devnum);
        snprintf(l, sizeof(l), "dev/block/%s", devnum);
        snprintf(f, sizeof(f), "../../%s", d);
        link_to(f, l);
        snprintf(l, sizeof(l), "class/block/%s", name);
        link_to(f, l);
}

static void add_partition(const char *parent, const char *disk, const char *name,
                          const char *devnum, const char *partno)
{
        char p[512], f[1024];

        snprintf(p, sizeof(p), "%s/%s", parent, disk);
        add_disk(p, name, devnum);
        snprintf(f, sizeof(f), "devices/%s/%s/partition", p, name);
        put(f, partno);
}

static int setup(void **state)
{
        (void)state;
        if (!mkdtemp(tmpdir))
                return -1;
        snprintf(sys, sizeof(sys), "%s/sys", tmpdir);
        dir("dev/block");
        dir("class/block");
        add_disk("pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block", "sda", "8:0");
        add_partition("pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block", "sda",
                      "sda1", "8:1", "1");
        add_disk("pci0000:00/0000:00:1d.0/nvme/nvme0", "nvme0n1", "259:0");
        add_partition("pci0000:00/0000:00:1d.0/nvme/nvme0", "nvme0n1", "nvme0n1p2", "259:2", "2");
        add_disk("virtual/block", "dm-0", "254:0");
        add_disk("virtual/block", "md0", "9:0");
        add_partition("virtual/block", "md0", "md0p1", "259:5", "1");
        /* a partition whose disk directory has lost its dev file */
        add_disk("virtual/block", "broken", "250:0");
        add_partition("virtual/block", "broken", "broken1", "250:1", "1");
        {
                char p[1024];

                snprintf(p, sizeof(p), "%s/devices/virtual/block/broken/dev", sys);
                if (unlink(p) < 0)
                        return -1;
        }
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        if (getenv("KEEP")) return 0;
        return rm_rf(tmpdir);
}

static void test_whole_disk(void **state)
{
        struct blockdev b;
        (void)state;

        assert_int_equal(blockdev_resolve_devnum(sys, makedev(8, 0), &b, NULL), 0);
        assert_true(b.devnum == makedev(8, 0));
        assert_string_equal(b.name, "sda");
        assert_false(b.from_partition);
        assert_string_equal(b.partition, "");
}

static void test_partition_to_disk(void **state)
{
        struct blockdev b;
        (void)state;

        assert_int_equal(blockdev_resolve_devnum(sys, makedev(8, 1), &b, NULL), 0);
        assert_true(b.devnum == makedev(8, 0));
        assert_string_equal(b.name, "sda");
        assert_true(b.from_partition);
        assert_string_equal(b.partition, "sda1");

        assert_int_equal(blockdev_resolve_name(sys, "nvme0n1p2", &b, NULL), 0);
        assert_true(b.devnum == makedev(259, 0));
        assert_string_equal(b.name, "nvme0n1");
        assert_string_equal(b.partition, "nvme0n1p2");
}

static void test_dm_and_md_are_targets(void **state)
{
        struct blockdev b;
        (void)state;

        assert_int_equal(blockdev_resolve_name(sys, "dm-0", &b, NULL), 0);
        assert_true(b.devnum == makedev(254, 0));
        assert_string_equal(b.name, "dm-0");
        assert_false(b.from_partition);
        assert_int_equal(blockdev_resolve_devnum(sys, makedev(9, 0), &b, NULL), 0);
        assert_string_equal(b.name, "md0");
        /* a partition of an md array maps to the array */
        assert_int_equal(blockdev_resolve_name(sys, "md0p1", &b, NULL), 0);
        assert_true(b.devnum == makedev(9, 0));
        assert_string_equal(b.name, "md0");
        assert_true(b.from_partition);
}

/* `want` may contain one "@" standing for the fake sysfs root. */
static void expect_name_error(const char *name, int code, const char *want_pattern)
{
        struct blockdev b;
        char *err = NULL, want[1024];
        const char *at = strchr(want_pattern, '@');

        if (at)
                snprintf(want, sizeof(want), "%.*s%s%s", (int)(at - want_pattern), want_pattern,
                         sys, at + 1);
        else
                snprintf(want, sizeof(want), "%s", want_pattern);
        assert_int_equal(blockdev_resolve_name(sys, name, &b, &err), code);
        assert_non_null(err);
        assert_string_equal(err, want);
        free(err);
}

static void test_name_errors(void **state)
{
        struct blockdev b;
        char *err = NULL, want[1024];
        (void)state;

        expect_name_error("sdz", -ENODEV, "disk sdz not found in @/class/block");
        expect_name_error("../sda", -EINVAL, "'../sda' is not a disk name (like nvme0n1)");
        expect_name_error("", -EINVAL, "'' is not a disk name (like nvme0n1)");
        expect_name_error("..", -EINVAL, "'..' is not a disk name (like nvme0n1)");

        assert_int_equal(blockdev_resolve_devnum(sys, makedev(7, 7), &b, &err), -ENODEV);
        snprintf(want, sizeof(want), "block device 7:7 not found in %s/dev/block", sys);
        assert_string_equal(err, want);
        free(err);
        err = NULL;

        assert_int_equal(blockdev_resolve_name(sys, "broken1", &b, &err), -ENOENT);
        snprintf(want, sizeof(want),
                 "cannot read the parent disk of partition broken1 from "
                 "%s/devices/virtual/block/broken/dev: No such file or directory", sys);
        assert_string_equal(err, want);
        free(err);
}

static void test_path_errors(void **state)
{
        struct blockdev b;
        char *err = NULL;
        (void)state;

        assert_int_equal(blockdev_resolve(sys, "/nonexistent/silo/sdz", &b, &err), -ENOENT);
        assert_string_equal(err, "/nonexistent/silo/sdz does not exist");
        free(err);
        err = NULL;
        assert_int_equal(blockdev_resolve(sys, "/dev/null", &b, &err), -ENOTBLK);
        assert_string_equal(err, "/dev/null is a character device (1:3), not a block device");
        free(err);
        err = NULL;
        assert_int_equal(blockdev_resolve(sys, "dev/sda", &b, &err), -EINVAL);
        assert_string_equal(err, "'dev/sda' is not an absolute path");
        free(err);
        err = NULL;
        assert_int_equal(blockdev_resolve(sys, NULL, &b, &err), -EINVAL);
        free(err);
}

/* A file on a memory filesystem (/dev/shm) has no block device behind it. */
static void test_file_on_tmpfs(void **state)
{
        char p[] = "/dev/shm/silo-test-blockdev-XXXXXX";
        struct blockdev b;
        struct stat st;
        char *err = NULL, want[256];
        int fd;
        (void)state;

        fd = mkstemp(p);
        if (fd < 0)
                skip();
        assert_int_equal(fstat(fd, &st), 0);
        close(fd);
        assert_int_equal(major(st.st_dev), 0);
        assert_int_equal(blockdev_resolve(sys, p, &b, &err), -ENOTBLK);
        snprintf(want, sizeof(want),
                 "%s is on a filesystem without a block device (device 0:%u: tmpfs, overlay, "
                 "network?)", p, minor(st.st_dev));
        assert_string_equal(err, want);
        free(err);
        unlink(p);
}

/* A file or mount point resolves to its filesystem's device: give the fake tree an entry for
 * this file's real st_dev as a partition of a fake disk, and expect the disk. */
static void test_file_resolves_through_its_filesystem(void **state)
{
        char f[1024], devnum[32];
        struct blockdev b;
        struct stat st;
        (void)state;

        snprintf(f, sizeof(f), "%s/data.img", tmpdir);
        put("../data.img", "x");
        assert_int_equal(stat(f, &st), 0);
        if (major(st.st_dev) == 0)
                skip(); /* the temp dir itself is on tmpfs/overlay */
        snprintf(devnum, sizeof(devnum), "%u:%u", major(st.st_dev), minor(st.st_dev));
        /* the real st_dev may collide with an entry of the fake tree: replace it */
        {
                char l[512];

                snprintf(l, sizeof(l), "%s/dev/block/%s", sys, devnum);
                (void)unlink(l);
        }
        add_disk("virtual/block", "vdz", "250:16");
        add_partition("virtual/block", "vdz", "vdz1", devnum, "1");
        assert_int_equal(blockdev_resolve(sys, f, &b, NULL), 0);
        assert_true(b.devnum == makedev(250, 16));
        assert_string_equal(b.name, "vdz");
        assert_true(b.from_partition);
        assert_string_equal(b.partition, "vdz1");
        /* the directory (a mount point would be the same) resolves alike */
        assert_int_equal(blockdev_resolve(sys, tmpdir, &b, NULL), 0);
        assert_string_equal(b.name, "vdz");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_whole_disk),
                cmocka_unit_test(test_partition_to_disk),
                cmocka_unit_test(test_dm_and_md_are_targets),
                cmocka_unit_test(test_name_errors),
                cmocka_unit_test(test_path_errors),
                cmocka_unit_test(test_file_on_tmpfs),
                cmocka_unit_test(test_file_resolves_through_its_filesystem),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
