/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for agent/calibration: override keys, their errors, config over cache, cache validity. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <sys/sysmacros.h>

#include "agent/calibration.h"
#include "common/fileio.h"
#include "common/macro.h"

static char tmpdir[] = "/tmp/silo-test-calibration-XXXXXX";
static char cache[256];

static int setup(void **state)
{
        (void)state;
        if (!mkdtemp(tmpdir))
                return -1;
        snprintf(cache, sizeof(cache), "%s/calibration.json", tmpdir);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        return rm_rf(tmpdir);
}

static struct calibration_options opts_default(void)
{
        return (struct calibration_options){ .calibrate = true, .calibrate_seconds = 5 };
}

/* Parse and expect exactly this message, and nothing returned. */
static void check_error(struct calibration_options *o, const char *want)
{
        struct calibration_override *v = NULL;
        _cleanup_free_ char *err = NULL;
        size_t n = 0;

        assert_int_equal(calibration_overrides_parse(o, &v, &n, &err), -EINVAL);
        assert_non_null(err);
        if (!streq(err, want))
                fail_msg("got \"%s\", want \"%s\"", err, want);
        assert_null(v);
}

static void test_parse_all_keys(void **state)
{
        char *rb[] = { (char *)"nvme0n1:3200M", (char *)"sdb:150Mi", NULL };
        char *wb[] = { (char *)"nvme0n1:2.1G", NULL };
        char *ri[] = { (char *)"nvme0n1:650k", NULL };
        char *wi[] = { (char *)"nvme0n1:420000", NULL };
        char *cl[] = { (char *)"sdb:hdd", NULL };
        char *cw[] = { (char *)"nullb0", (char *)"sdb:/srv/sdb", NULL };
        struct calibration_options o = opts_default();
        struct calibration_override *v = NULL;
        _cleanup_free_ char *err = NULL;
        size_t n = 0;
        (void)state;

        o.disk_read_bps = rb;
        o.disk_write_bps = wb;
        o.disk_read_iops = ri;
        o.disk_write_iops = wi;
        o.disk_class = cl;
        o.calibrate_write = cw;
        assert_int_equal(calibration_overrides_parse(&o, &v, &n, &err), 0);
        assert_int_equal(n, 3);
        assert_string_equal(v[0].disk, "nvme0n1");
        assert_int_equal(v[0].value[SILO_IO_RBPS], 3200000000ULL);
        assert_int_equal(v[0].value[SILO_IO_WBPS], 2100000000ULL);
        assert_int_equal(v[0].value[SILO_IO_RIOPS], 650000);
        assert_int_equal(v[0].value[SILO_IO_WIOPS], 420000);
        assert_false(v[0].write);
        assert_string_equal(v[1].disk, "sdb");
        assert_int_equal(v[1].value[SILO_IO_RBPS], 150ULL << 20);
        assert_int_equal(v[1].value[SILO_IO_WBPS], 0);
        assert_string_equal(v[1].class, "hdd");
        assert_true(v[1].write);
        assert_string_equal(v[1].write_dir, "/srv/sdb");
        assert_string_equal(v[2].disk, "nullb0");
        assert_true(v[2].write);
        assert_null(v[2].write_dir);
        calibration_overrides_free(v, n);
}

static void test_parse_errors(void **state)
{
        struct {
                int key; /* 0 rb, 1 wb, 2 ri, 3 wi, 4 class, 5 calibrate-write */
                const char *value;
                const char *want;
        } cases[] = {
                { 0, "nvme0n1:12Q", "disk-read-bps: 'nvme0n1:12Q': '12Q' is not a quantity" },
                { 0, "nvme0n1", "disk-read-bps: 'nvme0n1': expected DISK:VALUE (nvme0n1:3200M)" },
                { 1, ":100M", "disk-write-bps: ':100M': the disk name before ':' is missing" },
                { 2, "nvme0n1:", "disk-read-iops: 'nvme0n1:': nothing after ':'" },
                { 3, "nvme0n1:0", "disk-write-iops: 'nvme0n1:0': '0' must be positive" },
                { 3, "nvme0n1:-5", "disk-write-iops: 'nvme0n1:-5': '-5' is not a quantity" },
                { 0, "nvme0n1:99999999P", "disk-read-bps: 'nvme0n1:99999999P': '99999999P' is out of range" },
                { 0, "../x:1M", "disk-read-bps: '../x:1M': '../x' is not a disk name" },
                { 4, "sdb:h/d", "disk-class: 'sdb:h/d': 'h/d' is not a class name" },
                { 5, "sdb:relative/dir", "calibrate-write: 'sdb:relative/dir': 'relative/dir' is not an absolute directory" },
        };
        (void)state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct calibration_options o = opts_default();
                char *list[] = { (char *)cases[i].value, NULL };
                switch (cases[i].key) {
                case 0: o.disk_read_bps = list; break;
                case 1: o.disk_write_bps = list; break;
                case 2: o.disk_read_iops = list; break;
                case 3: o.disk_write_iops = list; break;
                case 4: o.disk_class = list; break;
                default: o.calibrate_write = list; break;
                }
                check_error(&o, cases[i].want);
        }
}

static void test_parse_duplicates(void **state)
{
        char *rb[] = { (char *)"sdb:1M", (char *)"sdb:2M", NULL };
        char *cw[] = { (char *)"sdb", (char *)"sdb:/x", NULL };
        struct calibration_options o = opts_default();
        (void)state;

        o.disk_read_bps = rb;
        check_error(&o, "disk-read-bps: 'sdb:2M': disk sdb is given twice");
        o = opts_default();
        o.calibrate_write = cw;
        check_error(&o, "calibrate-write: 'sdb:/x': disk sdb is given twice");
}

static const struct calibration_target disks[] = {
        { .name = "nullb0", .path = "/dev/nullb0", .devnum = 0, .size = 1ULL << 30 },
        { .name = "sdb", .path = "/dev/sdb", .devnum = 0, .size = 1ULL << 40 },
};

static struct calibration_target *targets(void)
{
        static struct calibration_target t[2];

        memcpy(t, disks, sizeof(t));
        t[0].devnum = makedev(254, 0);
        t[1].devnum = makedev(8, 16);
        return t;
}

static void test_override_must_name_an_offered_disk(void **state)
{
        char *rb[] = { (char *)"nvme9n1:1G", NULL };
        struct calibration_options o = opts_default();
        struct calibration *c = NULL;
        _cleanup_free_ char *err = NULL;
        (void)state;

        o.disk_read_bps = rb;
        assert_int_equal(calibration_new(&o, cache, targets(), 2, &c, &err), -EINVAL);
        assert_string_equal(err, "disk nvme9n1 is configured (disk-*/calibrate-write) but not offered with --disk");
        assert_null(c);
}

static void test_bad_seconds(void **state)
{
        struct calibration_options o = opts_default();
        struct calibration *c = NULL;
        _cleanup_free_ char *err = NULL;
        (void)state;

        o.calibrate_seconds = 0;
        assert_int_equal(calibration_new(&o, cache, targets(), 2, &c, &err), -EINVAL);
        assert_string_equal(err, "calibrate-seconds: 0 is not in (0, 600]");
}

static void test_config_over_cache(void **state)
{
        /* A cache as a previous run wrote it: nullb0 measured; sdb's entry is for another
         * device number (the disk was replaced), so it does not count. */
        const char *text = "{\"version\": 1, \"disks\": {"
                           "\"nullb0\": {\"device\": \"254:0\", \"size\": 1073741824, \"calibrated_ms\": 42,"
                           " \"read_bps\": 900000000, \"write_bps\": 0, \"read_iops\": 120000, \"write_iops\": 0},"
                           "\"sdb\": {\"device\": \"8:32\", \"size\": 1099511627776, \"calibrated_ms\": 43,"
                           " \"read_bps\": 1, \"write_bps\": 1, \"read_iops\": 1, \"write_iops\": 1}}}";
        char *wb[] = { (char *)"nullb0:300M", NULL };
        char *rb[] = { (char *)"sdb:200M", (char *)"nullb0:1G", NULL };
        char *cl[] = { (char *)"sdb:hdd", NULL };
        struct calibration_options o = opts_default();
        _cleanup_(calibration_freep) struct calibration *c = NULL;
        _cleanup_free_ char *err = NULL;
        _cleanup_free_ const char **missing = NULL;
        struct calibration_figures f;
        json_t *obj;
        (void)state;

        assert_int_equal(file_write_atomic(cache, text, strlen(text), 0644), 0);
        o.disk_write_bps = wb;
        o.disk_read_bps = rb;
        o.disk_class = cl;
        assert_int_equal(calibration_new(&o, cache, targets(), 2, &c, &err), 0);

        assert_int_equal(calibration_get(c, "nullb0", &f), 0);
        assert_int_equal(f.value[SILO_IO_RBPS], 1000000000ULL);
        assert_int_equal(f.source[SILO_IO_RBPS], CALIB_SOURCE_CONFIG);
        assert_int_equal(f.value[SILO_IO_WBPS], 300000000ULL);
        assert_int_equal(f.value[SILO_IO_RIOPS], 120000);
        assert_int_equal(f.source[SILO_IO_RIOPS], CALIB_SOURCE_CALIBRATED);
        assert_int_equal(f.value[SILO_IO_WIOPS], 0);
        assert_int_equal(f.source[SILO_IO_WIOPS], CALIB_SOURCE_UNKNOWN);
        assert_int_equal(f.calibrated_ms, 42);
        assert_string_equal(calibration_disk_source(&f), "calibrated");

        assert_int_equal(calibration_get(c, "sdb", &f), 0);
        assert_int_equal(f.value[SILO_IO_RBPS], 200000000ULL);
        assert_int_equal(f.value[SILO_IO_WBPS], 0); /* stale cache entry ignored */
        assert_int_equal(f.calibrated_ms, 0);
        assert_string_equal(f.class, "hdd");
        assert_string_equal(calibration_disk_source(&f), "config");
        assert_int_equal(calibration_get(c, "sdc", &f), -ENOENT);

        /* First start measures only what has no valid cache entry. */
        assert_int_equal(calibration_missing(c, &missing), 1);
        assert_string_equal(missing[0], "sdb");

        obj = json_object();
        assert_int_equal(calibration_disk_json_annotate(c, "sdb", obj), 0);
        assert_int_equal(json_integer_value(json_object_get(obj, "read_bps")), 200000000);
        assert_string_equal(json_string_value(json_object_get(obj, "class")), "hdd");
        assert_string_equal(json_string_value(json_object_get(obj, "source")), "config");
        assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(obj, "figures"),
                                                                              "write_bps"),
                                                              "source")),
                            "unknown");
        json_decref(obj);
}

static void test_fully_configured_disk_is_not_measured(void **state)
{
        char *rb[] = { (char *)"sdb:1G", NULL }, *wb[] = { (char *)"sdb:1G", NULL };
        char *ri[] = { (char *)"sdb:1k", NULL }, *wi[] = { (char *)"sdb:1k", NULL };
        struct calibration_options o = opts_default();
        _cleanup_(calibration_freep) struct calibration *c = NULL;
        _cleanup_free_ const char **missing = NULL;
        _cleanup_free_ char *err = NULL;
        (void)state;

        (void)unlink(cache);
        o.disk_read_bps = rb;
        o.disk_write_bps = wb;
        o.disk_read_iops = ri;
        o.disk_write_iops = wi;
        assert_int_equal(calibration_new(&o, cache, targets(), 2, &c, &err), 0);
        assert_int_equal(calibration_missing(c, &missing), 1);
        assert_string_equal(missing[0], "nullb0");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_all_keys),
                cmocka_unit_test(test_parse_errors),
                cmocka_unit_test(test_parse_duplicates),
                cmocka_unit_test(test_override_must_name_an_offered_disk),
                cmocka_unit_test(test_bad_seconds),
                cmocka_unit_test(test_config_over_cache),
                cmocka_unit_test(test_fully_configured_disk_is_not_measured),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
