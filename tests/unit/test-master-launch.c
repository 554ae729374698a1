/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the launch body the master sends an agent: the typed spec with the chosen disks,
 * encoded by the codec; it must decode to what the former JSON-editing encoder produced. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/protocol-json.h"
#include "master/master.h"
#include "tests/unit/unit-util.h"

/* The encoder the master used before the typed one: edit the spec's JSON tree. */
static json_t *launch_body_by_json_edit(const struct master_task *t)
{
        json_t *spec = silo_task_spec_to_json(t->spec), *io, *e;
        size_t i;

        json_object_set_new(spec, "id", json_string(t->id));
        io = json_object_get(json_object_get(spec, "resources"), "io");
        json_array_foreach(io, i, e)
        {
                if (i < t->n_disks && t->disks[i]) {
                        json_object_set_new(e, "disk", json_string(t->disks[i]));
                        json_object_del(e, "class");
                }
        }
        return spec;
}

/* Encode t's launch both ways: same JSON, same decoded spec, and the task's spec untouched. */
static struct silo_task_spec *check_launch(struct master_task *t)
{
        _cleanup_(silo_task_spec_freep) struct silo_task_spec *before = silo_task_spec_dup(t->spec);
        json_t *body = master_launch_body(t), *old = launch_body_by_json_edit(t);
        struct silo_task_spec *got = NULL, *want = NULL;
        char *err = NULL;

        assert_non_null(body);
        assert_non_null(old);
        assert_true(json_equal(body, old));
        assert_int_equal(silo_task_spec_from_json(body, &got, &err), 0);
        assert_int_equal(silo_task_spec_from_json(old, &want, &err), 0);
        assert_true(silo_task_spec_equal(got, want));
        assert_true(silo_task_spec_equal(t->spec, before));
        json_decref(body);
        json_decref(old);
        silo_task_spec_free(want);
        return got;
}

static void test_launch_body_disks(void **state)
{
        char *disks[] = {(char *)"nvme0n1", (char *)"sdb", (char *)"sdc"};
        struct master_task t = {
            .id = (char *)"task-1",
            .spec = spec_of("{\"id\": \"task-1\", \"name\": \"db\", \"command\": [\"/bin/true\"],"
                              " \"resources\": {\"cpus\": 1, \"mem\": \"1Gi\", \"io\": ["
                              "  {\"disk\": \"any\", \"class\": \"ssd\", \"wbps\": \"100M\"},"
                              "  {\"disk\": \"sdb\", \"riops\": 500},"
                              "  {\"disk\": \"any\", \"rbps\": \"10M\", \"weight\": 200}]}}"),
            .disks = disks,
            .n_disks = 3,
        };
        _cleanup_(silo_task_spec_freep) struct silo_task_spec *got = NULL;
        (void)state;

        got = check_launch(&t);
        assert_string_equal(got->id, "task-1");
        assert_int_equal(got->resources.n_io, 3);
        assert_string_equal(got->resources.io[0].disk, "nvme0n1");
        assert_null(got->resources.io[0].class);
        assert_int_equal(got->resources.io[0].limit[SILO_IO_WBPS], 100000000);
        assert_string_equal(got->resources.io[1].disk, "sdb");
        assert_int_equal(got->resources.io[1].limit[SILO_IO_RIOPS], 500);
        assert_string_equal(got->resources.io[2].disk, "sdc");
        assert_int_equal(got->resources.io[2].weight, 200);
        /* the task's own spec still says "any" with its class */
        assert_string_equal(t.spec->resources.io[0].disk, "any");
        assert_string_equal(t.spec->resources.io[0].class, "ssd");
        silo_task_spec_free(t.spec);
}

static void test_launch_body_exact_text(void **state)
{
        char *disks[] = {(char *)"nvme0n1"};
        struct master_task t = {
            .id = (char *)"t2",
            .spec = spec_of("{\"id\": \"t2\", \"name\": \"t2\", \"command\": [\"sleep\","
                              " \"1\"], \"resources\": {\"io\": [{\"disk\": \"any\","
                              " \"class\": \"ssd\", \"wbps\": 1000}]}}"),
            .disks = disks,
            .n_disks = 1,
        };
        _cleanup_(silo_task_spec_freep) struct silo_task_spec *got = NULL;
        json_t *body;
        char *text;
        (void)state;

        got = check_launch(&t);
        body = master_launch_body(&t);
        text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
        assert_non_null(strstr(text, "\"io\":[{\"disk\":\"nvme0n1\",\"wbps\":1000}]"));
        assert_null(strstr(text, "class"));
        assert_non_null(strstr(text, "\"id\":\"t2\""));
        free(text);
        json_decref(body);
        silo_task_spec_free(t.spec);
}

static void test_launch_body_no_io(void **state)
{
        struct master_task t = {
            .id = (char *)"t3",
            .spec = spec_of("{\"id\": \"t3\", \"name\": \"t3\", \"command\": [\"/bin/true\"],"
                              " \"role\": \"web\", \"env\": {\"A\": \"1\"},"
                              " \"constraints\": {\"hostname\": \"n1\"}}"),
        };
        _cleanup_(silo_task_spec_freep) struct silo_task_spec *got = NULL;
        (void)state;

        got = check_launch(&t);
        assert_true(silo_task_spec_equal(got, t.spec));
        silo_task_spec_free(t.spec);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_launch_body_disks),
            cmocka_unit_test(test_launch_body_exact_text),
            cmocka_unit_test(test_launch_body_no_io),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
