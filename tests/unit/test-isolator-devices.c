/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for bpf/devices' rule building: defaults, spec devices, and every error message. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices.h"

static const struct devices_rule *find(const struct devices_rule *v, size_t n, char type,
                                       uint32_t ma, uint32_t mi)
{
        for (size_t i = 0; i < n; i++)
                if (v[i].type == type && v[i].major == ma && v[i].minor == mi)
                        return &v[i];
        return NULL;
}

static void test_defaults(void **state)
{
        struct devices_rule *v = NULL;
        size_t n = 0;
        (void)state;

        assert_int_equal(devices_rules_build(NULL, 0, &v, &n, NULL), 0);
        assert_int_equal(n, 8);
        /* null zero full random urandom tty ptmx: rwm */
        static const uint32_t mem_minors[] = { 3, 5, 7, 8, 9 };
        for (size_t i = 0; i < 5; i++) {
                const struct devices_rule *r = find(v, n, 'c', 1, mem_minors[i]);
                assert_non_null(r);
                assert_int_equal(r->access, SILO_DEV_READ | SILO_DEV_WRITE | SILO_DEV_MKNOD);
        }
        assert_non_null(find(v, n, 'c', 5, 0));
        assert_non_null(find(v, n, 'c', 5, 2));
        /* every pts, read/write but no mknod */
        assert_non_null(find(v, n, 'c', 136, DEVICES_ANY));
        assert_int_equal(find(v, n, 'c', 136, DEVICES_ANY)->access,
                         SILO_DEV_READ | SILO_DEV_WRITE);
        /* nothing block-typed by default */
        for (size_t i = 0; i < n; i++)
                assert_int_equal(v[i].type, 'c');
        free(v);
}

static void test_spec_devices(void **state)
{
        struct silo_device d[2] = {
                { .path = (char *)"/dev/null", .access = SILO_DEV_READ },
                { .path = (char *)"/dev/zero", .access = 0 },
        };
        struct devices_rule *v = NULL;
        size_t n = 0;
        (void)state;

        assert_int_equal(devices_rules_build(d, 2, &v, &n, NULL), 0);
        assert_int_equal(n, 10);
        assert_int_equal(v[8].type, 'c');
        assert_int_equal(v[8].major, 1);
        assert_int_equal(v[8].minor, 3);
        assert_int_equal(v[8].access, SILO_DEV_READ);
        /* no access given: rwm, as a plain string entry means */
        assert_int_equal(v[9].minor, 5);
        assert_int_equal(v[9].access, SILO_DEV_READ | SILO_DEV_WRITE | SILO_DEV_MKNOD);
        free(v);
}

static void test_errors(void **state)
{
        char file[] = "/tmp/silo-test-devices-XXXXXX";
        struct silo_device d[2] = { { .path = (char *)"/dev/null", .access = SILO_DEV_READ } };
        struct devices_rule *v = NULL;
        size_t n = 0;
        char *err = NULL, want[256];
        int fd;
        (void)state;

        d[1] = (struct silo_device){ .path = (char *)"/dev/silo-nonexistent", .access = 1 };
        assert_int_equal(devices_rules_build(d, 2, &v, &n, &err), -ENOENT);
        assert_string_equal(err, "container.devices[1].path: /dev/silo-nonexistent does not exist");
        assert_null(v);
        free(err);
        err = NULL;

        fd = mkstemp(file);
        assert_true(fd >= 0);
        close(fd);
        d[1].path = file;
        assert_int_equal(devices_rules_build(d, 2, &v, &n, &err), -ENOTBLK);
        snprintf(want, sizeof(want), "container.devices[1].path: %s is not a device node", file);
        assert_string_equal(err, want);
        free(err);
        err = NULL;
        unlink(file);

        {
                struct silo_device *many = calloc(DEVICES_MAX_RULES, sizeof(*many));

                assert_non_null(many);
                for (size_t i = 0; i < DEVICES_MAX_RULES; i++)
                        many[i] = (struct silo_device){ .path = (char *)"/dev/null" };
                assert_int_equal(devices_rules_build(many, DEVICES_MAX_RULES, &v, &n, &err),
                                 -E2BIG);
                assert_string_equal(err, "container.devices: 256 entries, at most 248 are "
                                         "supported");
                free(err);
                free(many);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_spec_devices),
                cmocka_unit_test(test_errors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
