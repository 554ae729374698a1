/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of silo-master's state: transitions (illegal ones refused), persistence and recovery,
 * the id table. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/fileio.h"
#include "common/log.h"
#include "master/master.h"
#include "common/tls.h"
#include "master/etcd.h"
#include "master/store.h"
#include "common/table.h"
#include "tests/unit/master-util.h"
#include "tests/unit/unit-util.h"

static char tmpdir[] = "/tmp/test-master-state.XXXXXX";

static master *master_open(void)
{
        return unit_master_open(tmpdir);
}

static uint64_t history_len(master *m, const char *id)
{
        json_t *h = NULL;
        uint64_t n;

        assert_int_equal(store_task_events(m->store, id, &h), 0);
        n = json_array_size(h);
        json_decref(h);
        return n;
}

/* The master's table of allowed transitions, spelled out. */
static void test_transition_table(void **state)
{
        enum {
                P = SILO_TASK_PENDING,
                SG = SILO_TASK_STAGING,
                ST = SILO_TASK_STARTING,
                R = SILO_TASK_RUNNING,
                F = SILO_TASK_FINISHED,
                FL = SILO_TASK_FAILED,
                K = SILO_TASK_KILLED,
                L = SILO_TASK_LOST
        };
        /* clang-format off */
        static const bool allowed[8][8] = {
                /*          P      SG     ST     R      F      FL     K      L */
                [P]  = { false, true,  false, false, false, true,  true,  true },
                [SG] = { true,  false, true,  true,  true,  true,  true,  true },
                [ST] = { false, false, false, true,  true,  true,  true,  true },
                [R]  = { false, false, false, false, true,  true,  true,  true },
                [F]  = { false },
                [FL] = { false },
                [K]  = { false },
                [L]  = { false }, /* LOST is final at the master: the task is killed if it returns */
        };
        /* clang-format on */

        (void)state;
        for (int from = 0; from < _SILO_TASK_STATE_MAX; from++)
                for (int to = 0; to < _SILO_TASK_STATE_MAX; to++)
                        if (master_task_transition_allowed(from, to) != allowed[from][to])
                                fail_msg(
                                    "%s -> %s: master says %d, expected %d",
                                    silo_task_state_to_string(from), silo_task_state_to_string(to),
                                    master_task_transition_allowed(from, to), allowed[from][to]);
}

static void test_transitions_persist_and_recover(void **state)
{
        master *m = master_open();
        struct master_task *t = NULL, *t2 = NULL, *same = NULL;
        struct silo_task_spec *spec;
        char *err = NULL, cluster[64];
        bool done = false;

        (void)state;
        {
                /* Status updates are taken only from the agent a task is placed on. */
                struct silo_agent_registration *reg = NULL;
                struct master_agent *a = NULL;

                assert_int_equal(silo_agent_registration_from_string(
                                     "{\"agent_id\":\"agent-2\",\"hostname\":\"n2\",\"address\":"
                                     "\"127.0.0.1:9\",\"version\":\"t\",\"resources\":{\"cpus\":4,"
                                     "\"mem\":1073741824}}",
                                     &reg, &err),
                                 0);
                assert_int_equal(master_agent_register(m, reg, &a, &err), 0);
        }
        spec = spec_of(
            "{\"id\":\"a\",\"name\":\"n\",\"command\":[\"/bin/true\"],\"resources\":{\"cpus\":2}}");
        assert_int_equal(master_task_submit(m, spec, &t, &err), 0);
        assert_int_equal(t->state, SILO_TASK_PENDING);
        assert_int_equal(history_len(m, "a"), 1);

        /* Illegal: PENDING -> RUNNING. Refused, nothing recorded, nothing changed. */
        assert_int_equal(
            master_task_transition(m, t, SILO_TASK_RUNNING, SILO_REASON_NONE, NULL, NULL), -EBUSY);
        assert_int_equal(t->state, SILO_TASK_PENDING);
        assert_int_equal(history_len(m, "a"), 1);

        t->agent_id = strdup("agent-1");
        assert_int_equal(
            master_task_transition(m, t, SILO_TASK_STAGING, SILO_REASON_NONE, "placed", NULL), 0);
        /* A refused launch requeues: the agent is forgotten. */
        assert_int_equal(
            master_task_transition(m, t, SILO_TASK_PENDING, SILO_REASON_NONE, "refused", NULL), 0);
        assert_null(t->agent_id);
        t->agent_id = strdup("agent-2");
        assert_int_equal(
            master_task_transition(m, t, SILO_TASK_STAGING, SILO_REASON_NONE, "placed", NULL), 0);
        assert_int_equal(
            master_task_transition(m, t, SILO_TASK_RUNNING, SILO_REASON_NONE, NULL, NULL), 0);
        assert_int_equal(
            master_task_transition(m, t, SILO_TASK_STAGING, SILO_REASON_NONE, NULL, NULL), -EBUSY);
        assert_int_equal(
            master_task_transition(m, t, SILO_TASK_RUNNING, SILO_REASON_NONE, NULL, NULL), -EBUSY);
        {
                struct silo_status_update u = {
                    .update_id = (char *)"u1",
                    .task_id = (char *)"a",
                    .agent_id = (char *)"agent-2",
                    .state = SILO_TASK_FAILED,
                    .reason = SILO_REASON_EXIT_NONZERO,
                    .exit_code = 4,
                    .timestamp_ms = 1234,
                };
                bool dup = true;
                assert_int_equal(master_status_apply(m, &u, &dup, &err), 0);
                assert_false(dup);
                assert_int_equal(t->state, SILO_TASK_FAILED);
                assert_int_equal(t->exit_code, 4);
                assert_int_equal(master_status_apply(m, &u, &dup, &err), 0);
                assert_true(dup);
                /* Terminal is final: a late RUNNING is recorded, not applied. */
                u.update_id = (char *)"u2";
                u.state = SILO_TASK_RUNNING;
                assert_int_equal(master_status_apply(m, &u, &dup, &err), 0);
                assert_int_equal(t->state, SILO_TASK_FAILED);
        }
        assert_int_equal(history_len(m, "a"),
                         7); /* PENDING STAGING PENDING STAGING RUNNING FAILED RUNNING(ignored) */
        assert_int_equal(master_task_kill(m, t, &done), -EBUSY);

        /* Idempotent submit by id. */
        spec = spec_of(
            "{\"id\":\"a\",\"name\":\"n\",\"command\":[\"/bin/true\"],\"resources\":{\"cpus\":2}}");
        assert_int_equal(master_task_submit(m, spec, &same, &err), -EEXIST);
        assert_ptr_equal(same, t);
        silo_task_spec_free(spec);
        spec = spec_of("{\"id\":\"a\",\"name\":\"n\",\"command\":[\"/bin/false\"]}");
        assert_int_equal(master_task_submit(m, spec, &same, &err), -EBUSY);
        silo_task_spec_free(spec);

        spec =
            spec_of("{\"id\":\"b\",\"name\":\"n\",\"command\":[\"/bin/true\"],\"priority\":5}");
        assert_int_equal(master_task_submit(m, spec, &t2, &err), 0);
        assert_int_equal(master_task_kill(m, t2, &done), 0);
        assert_true(done);
        assert_int_equal(t2->state, SILO_TASK_KILLED);
        assert_int_equal(t2->reason, SILO_REASON_KILLED_BY_REQUEST);
        spec = spec_of("{\"id\":\"c\",\"name\":\"n\",\"command\":[\"/bin/true\"]}");
        assert_int_equal(master_task_submit(m, spec, &t2, &err), 0);
        assert_int_equal(master_commit(m), 0);
        /* The cluster id agents fence by: a UUID made with the state, the same after a restart
         * (only the epoch moves). */
        assert_non_null(store_cluster_id(m->store));
        assert_int_equal(strlen(store_cluster_id(m->store)), 36);
        snprintf(cluster, sizeof(cluster), "%s", store_cluster_id(m->store));
        master_free(m);

        /* A new master on the same state directory recovers exactly this. */
        m = master_open();
        assert_string_equal(store_cluster_id(m->store), cluster);
        assert_int_equal(table_size(m->tasks), 3);
        t = master_task_get(m, "a");
        assert_non_null(t);
        assert_int_equal(t->state, SILO_TASK_FAILED);
        assert_int_equal(t->reason, SILO_REASON_EXIT_NONZERO);
        assert_int_equal(t->exit_code, 4);
        assert_string_equal(t->agent_id, "agent-2");
        assert_true(t->spec->resources.cpus == 2.0);
        assert_int_equal(history_len(m, "a"), 7);
        t = master_task_get(m, "b");
        assert_int_equal(t->state, SILO_TASK_KILLED);
        assert_int_equal(t->spec->priority, 5);
        t = master_task_get(m, "c");
        assert_int_equal(t->state, SILO_TASK_PENDING);
        /* Submission order survives, and new tasks come after. */
        spec = spec_of("{\"id\":\"d\",\"name\":\"n\",\"command\":[\"/bin/true\"]}");
        assert_int_equal(master_task_submit(m, spec, &t2, &err), 0);
        assert_true(t2->seq > master_task_get(m, "c")->seq);
        {
                /* The duplicate check survives the restart too. */
                struct silo_status_update u = {
                    .update_id = (char *)"u1",
                    .task_id = (char *)"a",
                    .state = SILO_TASK_FAILED,
                };
                bool dup = false;
                assert_int_equal(master_status_apply(m, &u, &dup, &err), 0);
                assert_true(dup);
        }
        master_free(m);
}

static void test_options(void **state)
{
        static const char *const bad[][2] = {
            {"alpha=x", "weight 'x' is not a positive number"},
            {"alpha=0", "weight '0' is not a positive number"},
            {"alpha=-1", "is not a positive number"},
            {"alpha=inf", "is not a positive number"},
            {"=2", "is not ROLE=WEIGHT"},
            {"alpha", "is not ROLE=WEIGHT"},
            {"a/b=1", "is not ROLE=WEIGHT"},
        };
        char *weights[3] = {(char *)"beta=0.5", NULL, NULL};
        struct master_options o = unit_master_options(tmpdir);
        master *m = NULL;
        char *err = NULL;

        (void)state;
        o.role_weights = weights;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                weights[1] = (char *)bad[i][0];
                err = NULL;
                assert_int_equal(master_new(&o, &m, &err), -EINVAL);
                if (!err || !strstr(err, bad[i][1]) || !strstr(err, bad[i][0]))
                        fail_msg("--role-weight %s: '%s'", bad[i][0], err ? err : "(none)");
                free(err);
        }
        weights[1] = NULL;
        err = NULL;
        o.listen = (char *)"not-an-address";
        assert_int_equal(master_new(&o, &m, &err), -EINVAL);
        assert_non_null(strstr(err, "not-an-address"));
        free(err);
        err = NULL;
        o.listen = (char *)"127.0.0.1:0";
        assert_int_equal(master_new(&o, &m, &err), 0);
        master_free(m);
}

static void test_table(void **state)
{
        struct table *t = NULL;
        char(*keys)[16] = calloc(20000, 16);
        size_t i = 0, n = 0;
        const char *k;
        void *v;

        (void)state;
        assert_int_equal(table_new(&t), 0);
        for (int j = 0; j < 20000; j++) {
                snprintf(keys[j], 16, "k%d", j);
                assert_int_equal(table_put(t, keys[j], (void *)(intptr_t)(j + 1)), 0);
        }
        assert_int_equal(table_size(t), 20000);
        for (int j = 0; j < 20000; j += 2)
                assert_ptr_equal(table_remove(t, keys[j]), (void *)(intptr_t)(j + 1));
        assert_null(table_remove(t, "k0"));
        assert_int_equal(table_size(t), 10000);
        for (int j = 0; j < 20000; j++)
                assert_ptr_equal(table_get(t, keys[j]), j % 2 ? (void *)(intptr_t)(j + 1) : NULL);
        /* Replace keeps the size. */
        assert_int_equal(table_put(t, keys[1], (void *)(intptr_t)7), 0);
        assert_int_equal(table_size(t), 10000);
        assert_ptr_equal(table_get(t, "k1"), (void *)(intptr_t)7);
        while (table_next(t, &i, &k, &v)) {
                assert_non_null(table_get(t, k));
                n++;
        }
        assert_int_equal(n, 10000);
        /* Reinsert after many tombstones. */
        for (int j = 0; j < 20000; j += 2)
                assert_int_equal(table_put(t, keys[j], (void *)(intptr_t)1), 0);
        assert_int_equal(table_size(t), 20000);
        table_free(t);
        free(keys);

        /* One-pass duplicate search: NULL keys are skipped, the first repeat is reported. */
        {
                const char *dup[] = {"a", NULL, "b", NULL, "c", "b", "a"}, *uniq[] = {"x", "y", NULL};
                size_t at = 0, first = 0;

                assert_int_equal(table_find_duplicate(dup, ELEMENTSOF(dup), &at, &first), 1);
                assert_int_equal(at, 5);
                assert_int_equal(first, 2);
                assert_int_equal(table_find_duplicate(uniq, ELEMENTSOF(uniq), &at, &first), 0);
                assert_int_equal(table_find_duplicate(dup, 1, &at, &first), 0);
        }
}

static int task_drop(struct master_task *t, void *userdata)
{
        (void)userdata;
        master_task_free(t);
        return 0;
}

/* Another writer puts `key` again unchanged: its mod_revision moves past the one the master
 * last wrote, so the master's next write of it must be refused. */
static void etcd_rewrite_behind(struct etcd *e, const char *key)
{
        struct etcd_txn_result res = {0};
        struct etcd_kvs kvs = {0};
        struct etcd_txn t;
        char *err = NULL;

        assert_int_equal(etcd_range(e, key, NULL, 0, 0, &kvs, &err), 0);
        assert_int_equal(kvs.n, 1);
        assert_int_equal(etcd_txn_init(&t), 0);
        assert_int_equal(etcd_txn_put(&t, key, kvs.kvs[0].value, kvs.kvs[0].value_size, 0), 0);
        assert_int_equal(etcd_txn_commit(e, &t, &res, &err), 0);
        etcd_txn_done(&t);
        etcd_kvs_done(&kvs);
}

/* etcd only: a turn of more changes than one txn may hold is split and all of it lands; a
 * master whose leader key is gone or taken, or whose task was changed by another writer, gets
 * -ESTALE from its commit and writes nothing; with the epoch of a leader key it writes again. */
static void test_etcd_fenced_and_split(void **state)
{
        char prefix[512], key[600], spec[128], *err = NULL;
        struct etcd_txn_result res = {0};
        struct etcd_kvs kvs = {0};
        struct etcd_txn t;
        struct master_task *task = NULL;
        struct etcd *e = NULL;
        master *m;
        int64_t epoch;

        (void)state;
        if (!unit_master_etcd())
                skip();
        snprintf(prefix, sizeof(prefix), "/unit%s/", tmpdir);
        assert_int_equal(etcd_new(unit_master_etcd(), 0, &e, &err), 0);
        {
                /* the master's own etcd TLS, when the suite runs it over TLS */
                struct master_options o = {0};
                struct tls_files f;

                unit_master_store(&o, tmpdir);
                f = MASTER_ETCD_TLS(&o);
                assert_int_equal(etcd_set_tls(e, &f, &err), 0);
        }

        /* 300 submissions in one turn: more than one txn of 128 operations */
        m = master_open();
        for (int i = 0; i < 300; i++) {
                snprintf(spec, sizeof(spec),
                         "{\"id\":\"split-%d\",\"name\":\"s\",\"command\":[\"/bin/true\"]}", i);
                assert_int_equal(master_task_submit(m, spec_of(spec), &task, &err), 0);
        }
        assert_int_equal(master_commit(m), 0);
        master_free(m);
        m = master_open();
        for (int i = 0; i < 300; i++) {
                snprintf(spec, sizeof(spec), "split-%d", i);
                if (!master_task_get(m, spec))
                        fail_msg("task %s lost in a split commit", spec);
                assert_int_equal(history_len(m, spec), 1);
        }

        /* another master won: the leader key exists with a create_revision not ours (0) */
        snprintf(key, sizeof(key), "%sleader", prefix);
        assert_int_equal(etcd_txn_init(&t), 0);
        assert_int_equal(etcd_txn_put(&t, key, "{}", 2, 0), 0);
        assert_int_equal(etcd_txn_commit(e, &t, &res, &err), 0);
        epoch = res.revision;
        etcd_txn_done(&t);
        assert_int_equal(store_change_begin(m->store), 0);
        assert_int_equal(store_task_put(m->store, master_task_get(m, "split-1")), 0);
        assert_int_equal(store_change_end(m->store, 0), 0);
        assert_int_equal(store_commit(m->store), -ESTALE);
        assert_false(store_in_transaction(m->store));

        /* with the leader key's create_revision as its epoch, and the state loaded again (as a
         * new leader does), it writes */
        assert_int_equal(store_set_epoch(m->store, (uint64_t)epoch), 0);
        assert_int_equal(store_epoch(m->store), (uint64_t)epoch);
        assert_int_equal(store_load_tasks(m->store, task_drop, NULL), 0);
        assert_int_equal(store_change_begin(m->store), 0);
        assert_int_equal(store_task_put(m->store, master_task_get(m, "split-1")), 0);
        assert_int_equal(store_change_end(m->store, 0), 0);
        assert_int_equal(store_commit(m->store), 0);

        /* another writer changed the task: the mod_revision compare refuses ours */
        snprintf(key, sizeof(key), "%stasks/split-2", prefix);
        etcd_rewrite_behind(e, key);
        task = master_task_get(m, "split-2");
        free(task->message);
        task->message = strdup("not written");
        assert_int_equal(store_change_begin(m->store), 0);
        assert_int_equal(store_task_put(m->store, task), 0);
        assert_int_equal(store_change_end(m->store, 0), 0);
        assert_int_equal(store_commit(m->store), -ESTALE);
        assert_int_equal(etcd_range(e, key, NULL, 0, 0, &kvs, &err), 0);
        assert_null(strstr(kvs.kvs[0].value, "not written"));
        etcd_kvs_done(&kvs);

        /* a change larger than a txn by itself (a task with 200 history events deleted at
         * once) is split inside, and all of it lands */
        task = master_task_get(m, "split-3");
        for (int i = 0; i < 200; i++) {
                struct store_event ev = {.task_id = "split-3", .source = "master",
                                         .state = SILO_TASK_PENDING, .applied = true};
                assert_int_equal(store_change_begin(m->store), 0);
                assert_int_equal(store_event_add(m->store, &ev), 0);
                assert_int_equal(store_change_end(m->store, 0), 0);
        }
        assert_int_equal(store_commit(m->store), 0);
        assert_int_equal(history_len(m, "split-3"), 201);
        assert_int_equal(store_change_begin(m->store), 0);
        assert_int_equal(store_task_delete(m->store, "split-3"), 0);
        assert_int_equal(store_change_end(m->store, 0), 0);
        assert_int_equal(store_commit(m->store), 0);
        assert_int_equal(history_len(m, "split-3"), 0);
        snprintf(key, sizeof(key), "%stasks/split-3", prefix);
        assert_int_equal(etcd_range(e, key, NULL, 0, 0, &kvs, &err), 0);
        assert_int_equal(kvs.n, 0);
        etcd_kvs_done(&kvs);
        (void)task;

        /* A spec within the API's 1 MiB whose quotes double when stored with the task (here
         * 2 MiB) is refused alone (-E2BIG, naming its size); the turn's other submission
         * lands, and the master goes on committing. */
        {
                size_t n = 500000;
                char *big = malloc(n * 2 + 128), *p;
                struct silo_task_spec *bs = NULL;

                assert_non_null(big);
                p = big + sprintf(big, "{\"id\":\"big\",\"name\":\"b\",\"command\":[\"/bin/echo\",\"");
                for (size_t i = 0; i < n; i++) {
                        *p++ = '\\';
                        *p++ = '"';
                }
                strcpy(p, "\"]}");
                assert_int_equal(silo_task_spec_from_string(big, &bs, &err), 0);
                free(big);
                assert_int_equal(master_task_submit(m, spec_of("{'id':'beside-big','name':'s',"
                                                              "'command':['/bin/true']}"),
                                                    &task, &err),
                                 0);
                free(err);
                err = NULL;
                assert_int_equal(master_task_submit(m, bs, &task, &err), -E2BIG);
                silo_task_spec_free(bs);
                assert_non_null(err);
                if (!strstr(err, "is 1000092 bytes as JSON") || !strstr(err, "over the 1048576 bytes"))
                        fail_msg("the refusal does not name the spec's size: %s", err);
                free(err);
                err = NULL;
                assert_null(master_task_get(m, "big"));
                assert_int_equal(master_commit(m), 0);
                snprintf(key, sizeof(key), "%stasks/big", prefix);
                assert_int_equal(etcd_range(e, key, NULL, 0, 0, &kvs, &err), 0);
                assert_int_equal(kvs.n, 0);
                etcd_kvs_done(&kvs);
                snprintf(key, sizeof(key), "%stasks/beside-big", prefix);
                assert_int_equal(etcd_range(e, key, NULL, 0, 0, &kvs, &err), 0);
                assert_int_equal(kvs.n, 1);
                etcd_kvs_done(&kvs);
        }

        /* A turn split over txns leaves a prefix of its changes even when a later change
         * writes the same task again: change 1 writes split-4 ("first") with a history event,
         * 150 changes fill the first txn, the last change writes split-4 ("second") and
         * split-6, which another writer changed, so the txn holding it is refused. What landed
         * must hold change 1 whole: its history event and its write of split-4. */
        snprintf(key, sizeof(key), "%stasks/split-6", prefix);
        etcd_rewrite_behind(e, key);
        task = master_task_get(m, "split-4");
        free(task->message);
        task->message = strdup("first");
        assert_int_equal(store_change_begin(m->store), 0);
        assert_int_equal(store_task_put(m->store, task), 0);
        {
                struct store_event ev = {.task_id = "split-4", .source = "master",
                                         .state = SILO_TASK_PENDING, .applied = true};
                assert_int_equal(store_event_add(m->store, &ev), 0);
        }
        assert_int_equal(store_change_end(m->store, 0), 0);
        for (int i = 0; i < 150; i++) {
                struct store_event ev = {.task_id = "split-5", .source = "master",
                                         .state = SILO_TASK_PENDING, .applied = true};
                assert_int_equal(store_change_begin(m->store), 0);
                assert_int_equal(store_event_add(m->store, &ev), 0);
                assert_int_equal(store_change_end(m->store, 0), 0);
        }
        free(task->message);
        task->message = strdup("second");
        assert_int_equal(store_change_begin(m->store), 0);
        assert_int_equal(store_task_put(m->store, task), 0);
        assert_int_equal(store_task_put(m->store, master_task_get(m, "split-6")), 0);
        assert_int_equal(store_change_end(m->store, 0), 0);
        assert_int_equal(store_commit(m->store), -ESTALE);
        snprintf(key, sizeof(key), "%shistory/split-4/", prefix);
        {
                char *end = etcd_prefix_end(key);

                assert_non_null(end);
                assert_int_equal(etcd_range(e, key, end, 0, 0, &kvs, &err), 0);
                free(end);
        }
        assert_int_equal(kvs.n, 2); /* the submission's and change 1's */
        etcd_kvs_done(&kvs);
        snprintf(key, sizeof(key), "%stasks/split-4", prefix);
        assert_int_equal(etcd_range(e, key, NULL, 0, 0, &kvs, &err), 0);
        assert_int_equal(kvs.n, 1);
        if (!strstr(kvs.kvs[0].value, "\"first\""))
                fail_msg("the first txn has change 1's history but not its write of the task: %s",
                         kvs.kvs[0].value);
        etcd_kvs_done(&kvs);

        /* the leader key goes (its lease ended): the next tests write without one again */
        snprintf(key, sizeof(key), "%sleader", prefix);
        assert_int_equal(etcd_delete(e, key, NULL, NULL, &err), 0);
        master_free(m);
        etcd_free(e);
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

/* Retention forgets ended tasks oldest end first, even when they ended out of submission order
 * (the list is sorted after a load), and by age; live tasks stay (issue 12, finding 12). */
static void test_retention(void **state)
{
        static const uint64_t ended_at[] = {600, 100, 500, 200, 400, 300};
        master *m = master_open();
        struct master_task *t = NULL, *live = NULL;
        char *err = NULL, id[16], text[128];
        size_t others;
        bool done;

        (void)state;
        others = m->ended.n; /* ended tasks of the tests before */
        for (size_t i = 0; i < ELEMENTSOF(ended_at); i++) {
                snprintf(id, sizeof(id), "r%zu", i);
                snprintf(text, sizeof(text),
                         "{\"id\":\"%s\",\"name\":\"n\",\"command\":[\"/bin/true\"]}", id);
                assert_int_equal(master_task_submit(m, spec_of(text), &t, &err), 0);
                assert_int_equal(master_task_kill(m, t, &done), 0);
                t->updated_ms = ended_at[i]; /* as if loaded: ended long ago, out of order */
        }
        m->ended.unsorted = true;
        assert_int_equal(master_task_submit(
                             m, spec_of("{\"id\":\"live\",\"name\":\"n\",\"command\":[\"x\"]}"),
                             &live, &err),
                         0);
        assert_int_equal(m->ended.n, others + 6);

        /* By count: the three that ended first go, whatever their submission order. */
        m->opts.gc_max_age_s = 0;
        m->opts.gc_max_tasks = others + 3;
        master_retention_tick(m);
        assert_int_equal(m->ended.n, others + 3);
        for (size_t i = 0; i < ELEMENTSOF(ended_at); i++) {
                snprintf(id, sizeof(id), "r%zu", i);
                if (ended_at[i] <= 300) {
                        assert_null(master_task_get(m, id));
                        assert_int_equal(history_len(m, id), 0);
                } else {
                        assert_non_null(master_task_get(m, id));
                        assert_int_equal(history_len(m, id), 2);
                }
        }
        /* By age: the rest of them ended in 1970; the others' tasks ended just now. */
        m->opts.gc_max_tasks = 0;
        m->opts.gc_max_age_s = 3600;
        master_retention_tick(m);
        assert_int_equal(m->ended.n, others);
        assert_null(master_task_get(m, "r0"));
        assert_ptr_equal(master_task_get(m, "live"), live);
        assert_int_equal(live->state, SILO_TASK_PENDING);
        assert_int_equal(m->metrics.tasks_forgotten, 6);
        assert_int_equal(master_commit(m), 0);
        master_free(m);

        /* Committed: a restart does not bring them back. */
        m = master_open();
        assert_null(master_task_get(m, "r2"));
        assert_non_null(master_task_get(m, "live"));
        master_free(m);
}


/* master_task_submit() refusing a spec: the spec stays the caller's (freed here). */
static int submit_refused(master *m, const char *text, char **err)
{
        struct silo_task_spec *spec = spec_of(text);
        struct master_task *t = NULL;
        int r = master_task_submit(m, spec, &t, err);

        if (r < 0)
                silo_task_spec_free(spec);
        return r;
}

/* Persistent volumes: recorded when a task is placed, made ready by the agent's report, a volume
 * it reports that the master does not know adopted, one it stops reporting flagged; the
 * submission's 409s; deletion; all of it across a restart (SQLite, or etcd with SILO_TEST_ETCD). */
static void test_volumes(void **state)
{
        master *m = master_open();
        struct silo_agent_registration *reg = NULL;
        struct master_agent *a = NULL;
        struct master_task *t = NULL;
        struct master_volume *v;
        _cleanup_free_ char *err = NULL;
        struct silo_volume_report rep[] = {
            {(char *)"pg-data", (char *)"sda", 2ULL << 30, 4096},
            {(char *)"found", (char *)"sda", 1ULL << 30, 0},
            {(char *)"owned", (char *)"sda", 1ULL << 30, 0, SILO_VOLUME_REPORT_READY, (char *)"db"},
        };
#define VOL_SPEC                                                                                   \
        "{\"id\":\"%s\",\"name\":\"n\",\"command\":[\"x\"],\"resources\":{\"cpus\":0.1},\"container\":{"          \
        "\"volumes\":[{\"name\":\"pg-data\",\"size\":\"%s\",\"target\":\"/data\"%s}]}}"
        char text[512];

        (void)state;
        assert_int_equal(silo_agent_registration_from_string(
                             "{\"agent_id\":\"agent-v\",\"hostname\":\"nv\",\"address\":"
                             "\"127.0.0.1:9\",\"version\":\"t\",\"resources\":{\"cpus\":64,"
                             "\"mem\":1073741824,\"disks\":[{\"name\":\"sda\",\"size\":\"10Gi\","
                             "\"mount\":\"/srv/sda\"}]}}",
                             &reg, &err),
                         0);
        assert_int_equal(master_agent_register(m, reg, &a, &err), 0);
        snprintf(text, sizeof(text), VOL_SPEC, "v1", "2Gi", "");
        assert_int_equal(master_task_submit(m, spec_of(text), &t, &err), 0);
        assert_true(master_allocate(m) >= 1);
        assert_int_equal(t->state, SILO_TASK_STAGING);
        assert_string_equal(t->agent_id, "agent-v");
        v = master_volume_get(m, "pg-data");
        assert_non_null(v);
        assert_int_equal(v->state, MASTER_VOLUME_PENDING);
        assert_string_equal(v->disk, "sda");
        assert_string_equal(v->role, "default");
        assert_true(alloc_disk_volume_bytes(m->alloc, "agent-v", "sda") == 2ULL << 30);

        /* a second read-write user: 409 naming the first; another size: 400 */
        snprintf(text, sizeof(text), VOL_SPEC, "v2", "2Gi", "");
        assert_int_equal(submit_refused(m, text, &err), -ETXTBSY);
        assert_non_null(strstr(err, "volume 'pg-data' is in use by task v1 (STAGING, read-write)"));
        free(err);
        err = NULL;
        snprintf(text, sizeof(text), VOL_SPEC, "v2", "3Gi", "");
        assert_int_equal(submit_refused(m, text, &err), -EINVAL);
        assert_string_equal(err, "container.volumes[0].size: 3Gi, but volume 'pg-data' exists "
                                 "with size 2Gi (on agent agent-v, disk sda)");
        free(err);
        err = NULL;
        /* another disk or class than the volume's: 400 naming both, never moved silently */
        snprintf(text, sizeof(text), VOL_SPEC, "v2", "2Gi", ",\"disk\":\"sdb\"");
        assert_int_equal(submit_refused(m, text, &err), -EINVAL);
        assert_string_equal(err, "container.volumes[0].disk: volume 'pg-data' is on disk sda, not sdb");
        free(err);
        err = NULL;
        snprintf(text, sizeof(text), VOL_SPEC, "v2", "2Gi", ",\"class\":\"nvme\"");
        assert_int_equal(submit_refused(m, text, &err), -EINVAL);
        assert_true(strncmp(err, "container.volumes[0].class: volume 'pg-data' is on disk sda ", 60) == 0);
        assert_non_null(strstr(err, ", not of class 'nvme'"));
        free(err);
        err = NULL;

        /* the agent reports it "creating" (its launch not done, or cut short): still
         * PENDING, and a "creating" one the master never heard of is not adopted */
        {
                struct silo_volume_report creating[] = {
                    {(char *)"pg-data", (char *)"sda", 2ULL << 30, 0, SILO_VOLUME_REPORT_CREATING},
                    {(char *)"half", (char *)"sda", 1ULL << 30, 0, SILO_VOLUME_REPORT_CREATING},
                };

                assert_int_equal(master_volumes_report(m, a, creating, 2), 0);
                assert_int_equal(v->state, MASTER_VOLUME_PENDING);
                assert_null(master_volume_get(m, "half"));
        }
        /* the agent made it, and has two the master never heard of: one without a role
         * (operators only), one with the role the agent recorded, kept on adoption */
        assert_int_equal(master_volumes_report(m, a, rep, 3), 0);
        assert_int_equal(v->state, MASTER_VOLUME_READY);
        assert_true(v->used_bytes == 4096);
        v = master_volume_get(m, "found");
        assert_non_null(v);
        assert_int_equal(v->state, MASTER_VOLUME_READY);
        assert_null(v->role);
        v = master_volume_get(m, "owned");
        assert_non_null(v);
        assert_string_equal(v->role, "db");
        assert_true(alloc_disk_volume_bytes(m->alloc, "agent-v", "sda") == 4ULL << 30);
        /* it no longer reports "found": flagged, kept */
        assert_int_equal(master_volumes_report(m, a, rep, 1), 0);
        assert_true(master_volume_get(m, "found")->missing);
        assert_int_equal(master_commit(m), 0);
        master_free(m);

        m = master_open();
        v = master_volume_get(m, "pg-data");
        assert_non_null(v);
        assert_int_equal(v->state, MASTER_VOLUME_READY);
        assert_string_equal(v->agent_id, "agent-v");
        assert_true(v->size == 2ULL << 30);
        assert_true(master_volume_get(m, "found")->missing);
        t = master_task_get(m, "v1");
        /* in use: refused, naming the task; once it ended, DELETING until the agent confirms */
        assert_int_equal(master_volume_delete(m, v, &err), -ETXTBSY);
        assert_string_equal(err, "volume pg-data: in use by task v1 (STAGING); kill it first");
        free(err);
        err = NULL;
        assert_int_equal(
            master_task_transition(m, t, SILO_TASK_KILLED, SILO_REASON_KILLED_BY_REQUEST, NULL,
                                   NULL),
            0);
        assert_int_equal(master_volume_delete(m, v, &err), 0);
        assert_int_equal(v->state, MASTER_VOLUME_DELETING);
        snprintf(text, sizeof(text), VOL_SPEC, "v3", "2Gi", "");
        assert_int_equal(submit_refused(m, text, &err), -EINPROGRESS);
        assert_string_equal(err, "container.volumes[0]: volume 'pg-data' is being deleted (its GET answers "
                                 "404 once it is gone; a task then makes a new one)");
        assert_int_equal(master_commit(m), 0);
        master_free(m);

        m = master_open();
        v = master_volume_get(m, "pg-data");
        assert_int_equal(v->state, MASTER_VOLUME_DELETING);
        master_volume_delete_gone(m, v);
        assert_null(master_volume_get(m, "pg-data"));
        assert_int_equal(master_commit(m), 0);
        master_free(m);
        m = master_open();
        assert_null(master_volume_get(m, "pg-data"));
        assert_non_null(master_volume_get(m, "found"));
        assert_string_equal(master_volume_get(m, "owned")->role, "db");
        master_free(m);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_transition_table),
            cmocka_unit_test(test_transitions_persist_and_recover),
            cmocka_unit_test(test_options),
            cmocka_unit_test(test_table),
            cmocka_unit_test(test_retention),
            cmocka_unit_test(test_volumes),
            cmocka_unit_test(test_etcd_fenced_and_split),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
