/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the master's event stream pieces that need no connection: filters, the ring,
 * and events written with their change (rolled back with it, published after the commit, the
 * index continued after a restart). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "common/fileio.h"
#include "common/log.h"
#include "master/events.h"
#include "master/master.h"
#include "master/store.h"
#include "tests/unit/master-util.h"
#include "tests/unit/unit-util.h"

static char tmpdir[] = "/tmp/test-master-events.XXXXXX";

static void test_filter_parse(void **state)
{
        struct master_event_filter f = {0};
        char *err = NULL;

        (void)state;
        assert_int_equal(
            master_event_filter_parse("42", "alpha", "t1", "task_state,agent_lost", &f, &err), 0);
        assert_true(f.has_since);
        assert_int_equal(f.since, 42);
        assert_true(master_event_filter_match(&f, MASTER_EVENT_TASK_STATE, "t1", "alpha"));
        assert_false(master_event_filter_match(&f, MASTER_EVENT_TASK_PLACED, "t1", "alpha"));
        assert_false(master_event_filter_match(&f, MASTER_EVENT_TASK_STATE, "t2", "alpha"));
        assert_false(master_event_filter_match(&f, MASTER_EVENT_TASK_STATE, "t1", "beta"));
        /* agent events have no task and no role: a task or role filter leaves them out */
        assert_false(master_event_filter_match(&f, MASTER_EVENT_AGENT_LOST, NULL, NULL));
        master_event_filter_done(&f);

        assert_int_equal(master_event_filter_parse(NULL, NULL, NULL, NULL, &f, &err), 0);
        assert_false(f.has_since);
        assert_true(master_event_filter_match(&f, MASTER_EVENT_AGENT_JOINED, NULL, NULL));
        master_event_filter_done(&f);

        static const struct {
                const char *since, *role, *task, *types, *message;
        } bad[] = {
            {"-1", NULL, NULL, NULL, "since: '-1' is not an event index (0 or more)"},
            {"12x", NULL, NULL, NULL, "since: '12x' is not an event index (0 or more)"},
            {"", NULL, NULL, NULL, "since: '' is not an event index (0 or more)"},
            {"99999999999999999999", NULL, NULL, NULL,
             "since: '99999999999999999999' is not an event index (0 or more)"},
            {NULL, "a b", NULL, NULL, "role: 'a b' is not a valid role name"},
            {NULL, NULL, "", NULL, "task: empty task id"},
            {NULL, NULL, NULL, "task_state,nope",
             "type: 'nope' is not an event type (task_state, task_placed, task_pending, "
             "agent_joined, agent_lost, agent_returned)"},
            {NULL, NULL, NULL, ",", "type: ',' names no event type"},
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                err = NULL;
                assert_int_equal(master_event_filter_parse(bad[i].since, bad[i].role, bad[i].task,
                                                           bad[i].types, &f, &err),
                                 -EINVAL);
                assert_string_equal(err, bad[i].message);
                free(err);
        }
}

static void test_ring(void **state)
{
        struct event_ring r;
        char line[64];

        (void)state;
        assert_int_equal(event_ring_init(&r, 4, 0, 10), 0);
        assert_int_equal(event_ring_oldest(&r), 10);
        assert_null(event_ring_get(&r, 10));
        /* only the next index is taken: no gap, no repeat */
        assert_int_equal(event_ring_append(&r, 11, MASTER_EVENT_TASK_STATE, "t", "r", "{}"),
                         -EINVAL);
        for (uint64_t i = 10; i < 16; i++) {
                snprintf(line, sizeof(line), "{\"index\":%d}", (int)i);
                assert_int_equal(event_ring_append(&r, i, MASTER_EVENT_TASK_STATE, "t", NULL, line),
                                 0);
        }
        assert_int_equal(event_ring_append(&r, 15, MASTER_EVENT_TASK_STATE, "t", "r", "{}"),
                         -EINVAL);
        /* capacity 4: 12..15 kept */
        assert_int_equal(r.n, 4);
        assert_int_equal(event_ring_oldest(&r), 12);
        assert_null(event_ring_get(&r, 11));
        assert_null(event_ring_get(&r, 16));
        assert_string_equal(event_ring_get(&r, 13)->line, "{\"index\":13}\n");
        assert_int_equal(event_ring_get(&r, 15)->len, strlen("{\"index\":15}\n"));
        assert_string_equal(event_ring_get(&r, 12)->task_id, "t");
        assert_null(event_ring_get(&r, 12)->role);
        event_ring_done(&r);

        /* the byte bound drops the oldest first, and keeps the newest however large */
        assert_int_equal(event_ring_init(&r, 100, 20, 1), 0);
        assert_int_equal(event_ring_append(&r, 1, MASTER_EVENT_AGENT_LOST, NULL, NULL, "123456"),
                         0);
        assert_int_equal(event_ring_append(&r, 2, MASTER_EVENT_AGENT_LOST, NULL, NULL, "123456"),
                         0);
        assert_int_equal(r.bytes, 14);
        assert_int_equal(event_ring_append(&r, 3, MASTER_EVENT_AGENT_LOST, NULL, NULL, "123456"),
                         0);
        assert_int_equal(event_ring_oldest(&r), 2);
        assert_int_equal(r.bytes, 14);
        assert_int_equal(
            event_ring_append(&r, 4, MASTER_EVENT_AGENT_LOST, NULL, NULL, "0123456789012345678901"),
            0);
        assert_int_equal(r.n, 1);
        assert_int_equal(event_ring_oldest(&r), 4);
        event_ring_done(&r);
}

static master *master_open(void)
{
        return unit_master_open(tmpdir);
}

struct rows {
        json_t *lines; /* array of the events, parsed */
};

static int collect(const struct store_stream_event *e, void *userdata)
{
        struct rows *r = userdata;
        json_t *j = json_loads(e->line, 0, NULL);

        assert_non_null(j);
        assert_int_equal(json_integer_value(json_object_get(j, "index")), e->index);
        assert_string_equal(json_string_value(json_object_get(j, "type")), e->type);
        json_array_append_new(r->lines, j);
        return 0;
}

static json_t *stored_events(master *m)
{
        struct rows r = {json_array()};

        assert_int_equal(store_stream_range(m->store, 0, SIZE_MAX, collect, &r), 0);
        return r.lines;
}

static void test_events_with_their_change(void **state)
{
        master *m = master_open();
        struct master_task *t = NULL;
        char *err = NULL;
        json_t *ev, *e;

        (void)state;
        assert_int_equal(master_events_last(m), 0);
        assert_int_equal(master_task_submit(m,
                                            spec_of("{'id':'a','name':'web','role':'alpha',"
                                                    "'command':['/bin/true']}"),
                                            &t, &err),
                         0);
        /* written in the turn's transaction, not handed out before the commit */
        assert_int_equal(master_events_last(m), 1);
        assert_int_equal(m->metrics.events_published, 0);

        /* A change that fails takes its event and its index with it. */
        assert_int_equal(store_change_begin(m->store), 0);
        assert_int_equal(master_event_task_state(m, t, "doomed"), 0);
        assert_int_equal(master_events_last(m), 2);
        assert_int_equal(store_change_end(m->store, -EIO), -EIO);
        assert_int_equal(master_events_last(m), 1);

        assert_int_equal(master_task_transition(m, t, SILO_TASK_KILLED,
                                                SILO_REASON_KILLED_BY_REQUEST, "killed", NULL),
                         0);
        assert_int_equal(master_commit(m), 0);
        assert_int_equal(m->metrics.events_published, 2);

        ev = stored_events(m);
        assert_int_equal(json_array_size(ev), 2);
        e = json_array_get(ev, 0);
        assert_int_equal(json_integer_value(json_object_get(e, "index")), 1);
        assert_string_equal(json_string_value(json_object_get(e, "type")), "task_state");
        assert_string_equal(json_string_value(json_object_get(e, "task_id")), "a");
        assert_string_equal(json_string_value(json_object_get(e, "task_name")), "web");
        assert_string_equal(json_string_value(json_object_get(e, "role")), "alpha");
        assert_string_equal(json_string_value(json_object_get(e, "state")), "PENDING");
        assert_string_equal(json_string_value(json_object_get(e, "message")), "submitted");
        assert_true(json_integer_value(json_object_get(e, "time_ms")) > 0);
        e = json_array_get(ev, 1);
        assert_int_equal(json_integer_value(json_object_get(e, "index")), 2);
        assert_string_equal(json_string_value(json_object_get(e, "state")), "KILLED");
        assert_string_equal(json_string_value(json_object_get(e, "reason")), "KILLED_BY_REQUEST");
        assert_string_equal(json_string_value(json_object_get(e, "message")), "killed");
        json_decref(ev);

        /* A restart continues the sequence. */
        master_free(m);
        m = master_open();
        assert_int_equal(master_events_last(m), 2);
        {
                struct silo_agent_registration *reg = NULL;
                struct master_agent *a = NULL;

                assert_int_equal(silo_agent_registration_from_string(
                                     "{\"agent_id\":\"agent-1\",\"hostname\":\"n1\",\"address\":"
                                     "\"127.0.0.1:9\",\"version\":\"t\",\"resources\":{\"cpus\":4,"
                                     "\"mem\":1073741824}}",
                                     &reg, &err),
                                 0);
                assert_int_equal(master_agent_register(m, reg, &a, &err), 0);
        }
        assert_int_equal(master_commit(m), 0);
        ev = stored_events(m);
        assert_int_equal(json_array_size(ev), 3);
        e = json_array_get(ev, 2);
        assert_int_equal(json_integer_value(json_object_get(e, "index")), 3);
        assert_string_equal(json_string_value(json_object_get(e, "type")), "agent_joined");
        assert_string_equal(json_string_value(json_object_get(e, "agent_id")), "agent-1");
        assert_string_equal(json_string_value(json_object_get(e, "hostname")), "n1");
        assert_string_equal(json_string_value(json_object_get(e, "address")), "127.0.0.1:9");
        json_decref(ev);

        /* The window: trimmed to the newest, the last one always kept. */
        m->opts.event_window = 1;
        master_events_tick(m);
        assert_int_equal(master_commit(m), 0);
        ev = stored_events(m);
        assert_int_equal(json_array_size(ev), 1);
        json_decref(ev);
        master_free(m);
        m = master_open();
        assert_int_equal(master_events_last(m), 3);
        master_free(m);
}

/* Run SQL on the master's database from a connection of its own (the master's statements see
 * the schema change at their next step). */
static void db_exec(const char *sql)
{
        char path[256];
        sqlite3 *db = NULL;

        snprintf(path, sizeof(path), "%s/master.db", tmpdir);
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
                fail_msg("%s: %s", sql, sqlite3_errmsg(db));
        sqlite3_close(db);
}

static size_t pending_events(master *m, const char *task)
{
        json_t *ev = stored_events(m), *e;
        size_t i, n = 0;

        json_array_foreach(ev, i, e)
        {
                if (streq_ptr(json_string_value(json_object_get(e, "type")), "task_pending") &&
                    streq_ptr(json_string_value(json_object_get(e, "task_id")), task))
                        n++;
        }
        json_decref(ev);
        return n;
}

/* A task_pending event that cannot be written leaves the reason unreported, not forgotten: the
 * next pass writes it. The reason is not kept over a restart: the first pass after one reports
 * it again (PROTOCOL.md says so). */
static void test_pending_reason_reported(void **state)
{
        master *m;
        struct master_task *t = NULL;
        char *err = NULL;

        (void)state;
        if (unit_master_etcd())
                skip(); /* the refusal is an SQLite trigger */
        m = master_open();
        assert_int_equal(master_task_submit(m,
                                            spec_of("{'id':'big','name':'big',"
                                                    "'command':['/bin/true'],"
                                                    "'resources':{'cpus':64}}"),
                                            &t, &err),
                         0);
        assert_int_equal(master_commit(m), 0);
        db_exec("CREATE TRIGGER refuse_pending BEFORE INSERT ON events "
                "WHEN NEW.type = 'task_pending' BEGIN SELECT RAISE(ABORT, 'refused'); END");
        assert_int_equal(master_allocate(m), 0);
        assert_int_equal(master_commit(m), 0);
        assert_null(t->pending_reason);
        assert_int_equal(pending_events(m, "big"), 0);
        db_exec("DROP TRIGGER refuse_pending");
        assert_int_equal(master_allocate(m), 0);
        assert_int_equal(master_commit(m), 0);
        assert_non_null(t->pending_reason);
        assert_int_equal(pending_events(m, "big"), 1);
        /* the same reason again: no event */
        assert_int_equal(master_allocate(m), 0);
        assert_int_equal(master_commit(m), 0);
        assert_int_equal(pending_events(m, "big"), 1);
        master_free(m);
        m = master_open();
        assert_int_equal(master_allocate(m), 0);
        assert_int_equal(master_commit(m), 0);
        assert_int_equal(pending_events(m, "big"), 2);
        master_free(m);
}

/* A new volume's record is written in the change that stages its task: when the record
 * cannot be written, the task stays PENDING (and nothing of the volume stays in memory)
 * rather than being launched without it (its agent would choose the disk, the master adopt
 * the volume with no role). */
static void test_volume_staged_with_its_record(void **state)
{
        struct silo_agent_registration *reg = NULL;
        struct master_agent *a = NULL;
        struct master_task *t = NULL;
        struct master_volume *v;
        char *err = NULL;
        master *m;

        (void)state;
        if (unit_master_etcd())
                skip(); /* the refusal is an SQLite trigger */
        m = master_open();
        assert_int_equal(silo_agent_registration_from_string(
                             "{\"agent_id\":\"agent-v\",\"hostname\":\"nv\",\"address\":"
                             "\"127.0.0.1:9\",\"version\":\"t\",\"resources\":{\"cpus\":64,"
                             "\"mem\":1073741824,\"disks\":[{\"name\":\"sda\",\"size\":\"10Gi\","
                             "\"mount\":\"/srv/sda\"}]}}",
                             &reg, &err),
                         0);
        assert_int_equal(master_agent_register(m, reg, &a, &err), 0);
        assert_int_equal(master_task_submit(m,
                                            spec_of("{'id':'pg','name':'pg','role':'db',"
                                                    "'command':['/bin/true'],'resources':{'cpus':1},"
                                                    "'container':{'volumes':[{'name':'pg-data',"
                                                    "'size':'2Gi','target':'/data'}]}}"),
                                            &t, &err),
                         0);
        assert_int_equal(master_commit(m), 0);
        db_exec("CREATE TRIGGER refuse_volume BEFORE INSERT ON volumes "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END");
        (void)master_allocate(m);
        assert_int_equal(master_commit(m), 0);
        assert_int_equal(t->state, SILO_TASK_PENDING);
        assert_null(t->agent_id);
        assert_null(master_volume_get(m, "pg-data"));
        db_exec("DROP TRIGGER refuse_volume");
        assert_int_equal(master_allocate(m), 1);
        assert_int_equal(master_commit(m), 0);
        assert_int_equal(t->state, SILO_TASK_STAGING);
        v = master_volume_get(m, "pg-data");
        assert_non_null(v);
        assert_string_equal(v->disk, "sda");
        assert_string_equal(v->role, "db");
        master_free(m);
        /* both survive a restart: they were committed together */
        m = master_open();
        assert_non_null(master_volume_get(m, "pg-data"));
        assert_int_equal(master_task_get(m, "pg")->state, SILO_TASK_STAGING);
        master_free(m);
}

static int setup(void **state)
{
        (void)state;
        log_set_max_level(LOG_WARNING);
        return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
        (void)state;
        return rm_rf(tmpdir) == 0 ? 0 : -1;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_filter_parse),
            cmocka_unit_test(test_ring),
            cmocka_unit_test(test_events_with_their_change),
            cmocka_unit_test(test_pending_reason_reported),
            cmocka_unit_test(test_volume_staged_with_its_record),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
