/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for bpf/devices' rule building: the defaults, then the task's rules, within the map. */
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
#include "isolator/isolator.h"

static const struct cg_device_rule *find(const struct cg_device_rule *v, size_t n, char type,
                                       uint32_t ma, uint32_t mi)
{
        for (size_t i = 0; i < n; i++)
                if (v[i].type == type && v[i].major == ma && v[i].minor == mi)
                        return &v[i];
        return NULL;
}

static void test_defaults(void **state)
{
        struct cg_device_rule *v = NULL;
        size_t n = 0;
        (void)state;

        assert_int_equal(devices_rules_build(NULL, 0, &v, &n), 0);
        assert_int_equal(n, 8);
        /* null zero full random urandom tty ptmx: rwm */
        static const uint32_t mem_minors[] = { 3, 5, 7, 8, 9 };
        for (size_t i = 0; i < 5; i++) {
                const struct cg_device_rule *r = find(v, n, 'c', 1, mem_minors[i]);
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

static void test_task_rules(void **state)
{
        struct cg_device_rule d[2] = {
                { 'b', 8, 0, SILO_DEV_READ },
                { 'c', 1, 5, SILO_DEV_READ | SILO_DEV_WRITE | SILO_DEV_MKNOD },
        };
        struct cg_device_rule *v = NULL;
        size_t n = 0;
        (void)state;

        assert_int_equal(devices_rules_build(d, 2, &v, &n), 0);
        assert_int_equal(n, 10);
        /* after the defaults, as given */
        assert_int_equal(v[8].type, 'b');
        assert_int_equal(v[8].major, 8);
        assert_int_equal(v[8].minor, 0);
        assert_int_equal(v[8].access, SILO_DEV_READ);
        assert_int_equal(v[9].minor, 5);
        assert_int_equal(v[9].access, SILO_DEV_READ | SILO_DEV_WRITE | SILO_DEV_MKNOD);
        free(v);
}

static void test_map_bound(void **state)
{
        struct cg_device_rule *many = calloc(CG_DEVICE_RULES_MAX + 1, sizeof(*many));
        struct cg_device_rule *v = NULL;
        size_t n = 0;
        (void)state;

        assert_non_null(many);
        for (size_t i = 0; i <= CG_DEVICE_RULES_MAX; i++)
                many[i] = (struct cg_device_rule){ 'c', 1, 3, SILO_DEV_READ };
        /* the map holds DEVICES_MAX_RULES: the defaults and CG_DEVICE_RULES_MAX more */
        assert_int_equal(devices_rules_build(many, CG_DEVICE_RULES_MAX, &v, &n), 0);
        assert_int_equal(n, DEVICES_MAX_RULES);
        free(v);
        v = NULL;
        assert_int_equal(devices_rules_build(many, CG_DEVICE_RULES_MAX + 1, &v, &n), -E2BIG);
        assert_null(v);
        free(many);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_task_rules),
                cmocka_unit_test(test_map_bound),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
