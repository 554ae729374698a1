/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the launch body the master sends an agent: the typed spec with the chosen disks,
 * encoded by the codec; it must decode to what the former JSON-editing encoder produced. And host
 * ports through the master: chosen at placement, launched, given back, recharged at restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "common/fileio.h"
#include "common/protocol-json.h"
#include "master/master.h"
#include "tests/unit/master-util.h"
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
        json_t *body = master_launch_body(t, NULL), *old = launch_body_by_json_edit(t);
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
        body = master_launch_body(&t, NULL);
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

/* ---- host ports through the master: placement, the launch body, a refused launch, restart ---- */

static char tmpdir[] = "/tmp/test-master-launch.XXXXXX";

static master *master_open(void)
{
        return unit_master_open(tmpdir);
}

static struct master_task *submit(master *m, const char *json)
{
        struct master_task *t = NULL;
        char *err = NULL;

        if (master_task_submit(m, spec_of(json), &t, &err) < 0)
                fail_msg("%s: %s", json, err);
        return t;
}

static uint32_t tcp_free(master *m)
{
        struct alloc_agent_free f;

        assert_int_equal(alloc_agent_get_free(m->alloc, "agent-1", &f), 0);
        return f.ports_free[SILO_PORT_TCP];
}

#define PG(id, host)                                                                               \
        "{\"id\": \"" id "\", \"name\": \"" id "\", \"command\": [\"/bin/true\"],"                 \
        " \"container\": {\"network\": \"bridge\", \"ports\": [{\"container\": 5432,"              \
        " \"host\": " host "}]}}"

static void test_ports_placed_launched_recovered(void **state)
{
        _cleanup_(silo_task_spec_freep) struct silo_task_spec *again = NULL;
        struct silo_agent_registration *reg = NULL;
        struct master_task *t1, *t2, *same = NULL;
        struct master_agent *a = NULL;
        json_t *body, *j;
        char *err = NULL, *text;
        master *m;
        (void)state;

        assert_non_null(mkdtemp(tmpdir));
        m = master_open();
        assert_int_equal(silo_agent_registration_from_string(
                             "{\"agent_id\": \"agent-1\", \"hostname\": \"n1\", \"address\":"
                             " \"127.0.0.1:9\", \"version\": \"t\", \"resources\": {\"cpus\": 4,"
                             " \"mem\": 1073741824, \"ports\": \"30000-30001\"}}",
                             &reg, &err),
                         0);
        assert_int_equal(master_agent_register(m, reg, &a, &err), 0);
        t1 = submit(m, PG("pg-1", "0"));
        t2 = submit(m, PG("pg-2", "30000"));
        assert_int_equal(master_allocate(m), 1);
        /* pg-1 was chosen 30000 (the range's first), so pg-2's fixed 30000 waits, named */
        assert_int_equal(t1->state, SILO_TASK_STAGING);
        assert_int_equal(t1->spec->container.ports[0].host, 30000);
        assert_int_equal(t2->state, SILO_TASK_PENDING);
        assert_string_equal(t2->pending_reason,
                            "container.ports[0]: host port 30000/tcp is taken on every agent that "
                            "offers it (n1: task pg-1)");
        /* the launch body and the task's JSON carry the chosen port */
        body = master_launch_body(t1, NULL);
        assert_int_equal(
            json_integer_value(json_object_get(
                json_array_get(json_object_get(json_object_get(body, "container"), "ports"), 0),
                "host")),
            30000);
        json_decref(body);
        j = master_task_to_json(m, t1, false);
        text = json_dumps(j, JSON_COMPACT);
        assert_non_null(strstr(text, "\"ports\":[{\"container\":5432,\"host\":30000"));
        free(text);
        json_decref(j);
        /* a client's retry of the submission (host 0) is the same task */
        again = spec_of(PG("pg-1", "0"));
        assert_int_equal(master_task_submit(m, again, &same, &err), -EEXIST);
        assert_ptr_equal(same, t1);

        /* the agent refuses the launch: the choice is given back with the agent */
        assert_int_equal(
            master_task_transition(m, t1, SILO_TASK_PENDING, SILO_REASON_NONE, "refused", NULL), 0);
        assert_int_equal(t1->spec->container.ports[0].host, 0);
        assert_int_equal(tcp_free(m), 2);
        /* next pass: pg-1 gets the next port of the rotation, pg-2 its fixed one */
        assert_int_equal(master_allocate(m), 2);
        assert_int_equal(t1->spec->container.ports[0].host, 30001);
        assert_int_equal(t2->spec->container.ports[0].host, 30000);
        assert_int_equal(tcp_free(m), 0);
        assert_int_equal(master_commit(m), 0);
        master_free(m);

        /* a restarted master charges the ports from the specs as launched */
        m = master_open();
        t1 = master_task_get(m, "pg-1");
        assert_non_null(t1);
        assert_int_equal(t1->state, SILO_TASK_STAGING);
        assert_int_equal(t1->spec->container.ports[0].host, 30001);
        assert_int_equal(tcp_free(m), 0);
        /* it remembers which it chose: requeued, pg-1 chooses again, pg-2 keeps its own port */
        t2 = master_task_get(m, "pg-2");
        assert_non_null(t2);
        assert_int_equal(
            master_task_transition(m, t1, SILO_TASK_PENDING, SILO_REASON_NONE, "lost", NULL), 0);
        assert_int_equal(t1->spec->container.ports[0].host, 0);
        assert_int_equal(
            master_task_transition(m, t2, SILO_TASK_PENDING, SILO_REASON_NONE, "lost", NULL), 0);
        assert_int_equal(t2->spec->container.ports[0].host, 30000);
        assert_int_equal(tcp_free(m), 2);
        /* the tasks end: their ports stay free */
        assert_int_equal(master_task_transition(m, t1, SILO_TASK_FAILED, SILO_REASON_LAUNCH_FAILED,
                                                "gone", NULL),
                         0);
        assert_int_equal(tcp_free(m), 2);
        master_free(m);
        assert_int_equal(rm_rf(tmpdir), 0);
}

/* A state written before tasks had the ports_chosen column: the master adds it and goes on. */
static void test_store_gains_ports_chosen(void **state)
{
        char path[256];
        sqlite3 *db = NULL;
        struct master_task *t;
        master *m;
        (void)state;

        if (unit_master_etcd())
                skip(); /* an upgrade of SQLite's schema */
        assert_int_equal(mkdir(tmpdir, 0700), 0);
        snprintf(path, sizeof(path), "%s/master.db", tmpdir);
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(
            sqlite3_exec(
                db,
                "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                "INSERT INTO meta VALUES('schema_version', '1');"
                "CREATE TABLE tasks(id TEXT PRIMARY KEY, spec TEXT NOT NULL, state TEXT NOT NULL,"
                " reason TEXT NOT NULL, message TEXT, agent_id TEXT, disks TEXT,"
                " exit_code INTEGER NOT NULL, signal INTEGER NOT NULL,"
                " launch_attempts INTEGER NOT NULL, kill_requested INTEGER NOT NULL,"
                " created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, seq INTEGER NOT NULL);"
                "INSERT INTO tasks VALUES('old', '{\"id\": \"old\", \"name\": \"old\","
                " \"command\": [\"/bin/true\"]}', 'PENDING', 'NONE', NULL, NULL, '[]', -1, 0,"
                " 0, 0, 1, 1, 1);",
                NULL, NULL, NULL),
            SQLITE_OK);
        sqlite3_close(db);
        m = master_open();
        t = master_task_get(m, "old");
        assert_non_null(t);
        assert_int_equal(t->ports_chosen, 0);
        submit(m, PG("pg-1", "0"));
        assert_int_equal(master_commit(m), 0);
        master_free(m);
        m = master_open();
        assert_non_null(master_task_get(m, "pg-1"));
        master_free(m);
        assert_int_equal(rm_rf(tmpdir), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_launch_body_disks),
            cmocka_unit_test(test_launch_body_exact_text),
            cmocka_unit_test(test_launch_body_no_io),
            cmocka_unit_test(test_ports_placed_launched_recovered),
            cmocka_unit_test(test_store_gains_ports_chosen),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
