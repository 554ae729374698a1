/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of master/leader.c: the lease deadline, the intervals, the leader key's value. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "master/etcd.h"
#include "master/leader.h"

static void test_deadline(void **state)
{
        (void)state;
        /* TTL 10 s: a second of margin; the deadline counts from the send, not the answer. */
        assert_int_equal(leader_margin_ms(10), 1000);
        assert_int_equal(leader_deadline_ms(5000, 10), 5000 + 10000 - 1000);
        /* Short TTLs keep at least 500 ms of margin, long ones a tenth. */
        assert_int_equal(leader_margin_ms(2), 500);
        assert_int_equal(leader_margin_ms(60), 6000);
        /* ... but never more than a third, so a keepalive every TTL/3 renews before it. */
        assert_int_equal(leader_margin_ms(1), 333);
        assert_true(leader_deadline_ms(0, 1) > leader_keepalive_interval_ms(1));
        for (int64_t ttl = 1; ttl <= 120; ttl++) {
                uint64_t d = leader_deadline_ms(100000, ttl);

                /* Before etcd can expire the lease (it starts counting later than we sent)... */
                assert_true(d < 100000 + (uint64_t)ttl * 1000);
                /* ... and after the next keepalive is due, with room for its answer. */
                assert_true(d >=
                            100000 + leader_keepalive_interval_ms(ttl) + (uint64_t)ttl * 1000 / 3);
        }
        /* etcd answering a TTL of 0 (lease gone) leaves no time at all. */
        assert_int_equal(leader_deadline_ms(7000, 0), 7000);
        assert_int_equal(leader_deadline_ms(7000, -1), 7000);
}

static void test_intervals(void **state)
{
        (void)state;
        assert_int_equal(leader_keepalive_interval_ms(10), 3333);
        assert_int_equal(leader_keepalive_interval_ms(3), 1000);
        /* Followers read the key at least every second: a takeover within TTL + 1 s. */
        assert_int_equal(leader_poll_interval_ms(10), 1000);
        assert_int_equal(leader_poll_interval_ms(2), 500);
        assert_int_equal(leader_poll_interval_ms(0), 100);
}

static void test_value(void **state)
{
        json_t *v = leader_value_json("m1", "http://10.0.0.1:5050", "boot-a", 42), *bad;
        const char *name = NULL, *url = NULL;

        (void)state;
        assert_non_null(v);
        assert_int_equal(leader_value_parse(v, &name, &url), 0);
        assert_string_equal(name, "m1");
        assert_string_equal(url, "http://10.0.0.1:5050");
        assert_int_equal(json_integer_value(json_object_get(v, "started_ms")), 42);
        /* An earlier run of this master: same name, advertise URL and boot. The same --name
         * on another host (boot) or port is a live master, never revoked. */
        assert_true(leader_value_is_previous_life(v, "m1", "http://10.0.0.1:5050", "boot-a"));
        assert_false(leader_value_is_previous_life(v, "m1", "http://10.0.0.1:5050", "boot-b"));
        assert_false(leader_value_is_previous_life(v, "m1", "http://10.0.0.2:5050", "boot-a"));
        assert_false(leader_value_is_previous_life(v, "m2", "http://10.0.0.1:5050", "boot-a"));
        json_decref(v);
        /* Something else in the key is no leader to redirect clients to. */
        bad = json_pack("{s:s, s:s}", "name", "m2", "advertise", "ftp://x");
        assert_int_equal(leader_value_parse(bad, &name, &url), -EBADMSG);
        json_decref(bad);
        /* A value of an older master (no instance) is never taken for an earlier run. */
        bad = json_pack("{s:s, s:s}", "name", "m1", "advertise", "http://10.0.0.1:5050");
        assert_false(leader_value_is_previous_life(bad, "m1", "http://10.0.0.1:5050", "boot-a"));
        json_decref(bad);
        bad = json_pack("{s:s}", "name", "m2");
        assert_int_equal(leader_value_parse(bad, &name, &url), -EBADMSG);
        json_decref(bad);
        assert_int_equal(leader_value_parse(NULL, &name, &url), -EBADMSG);
        assert_string_equal(master_role_to_string(MASTER_ROLE_LEADER), "leader");
        assert_string_equal(master_role_to_string(MASTER_ROLE_FOLLOWER), "follower");
        assert_string_equal(master_role_to_string(MASTER_ROLE_STANDALONE), "standalone");
}

/* The keepalive answer's three outcomes: renewed, lease gone, and the gateway's in-stream error,
 * which says nothing about the lease and must not depose the leader as "lease expired". */
static void test_keepalive_answer(void **state)
{
        json_t *j;
        int64_t ttl = 0;

        (void)state;
        j = json_pack("{s:{s:s, s:s}}", "result", "ID", "7", "TTL", "9");
        assert_int_equal(etcd_lease_keepalive_from_json(j, &ttl), 0);
        assert_int_equal(ttl, 9);
        json_decref(j);
        j = json_pack("{s:{s:s}}", "result", "ID", "7");
        assert_int_equal(etcd_lease_keepalive_from_json(j, &ttl), -ENOENT);
        json_decref(j);
        j = json_pack("{s:{s:i, s:s}}", "error", "grpc_code", 14, "message", "transport is closing");
        assert_int_equal(etcd_lease_keepalive_from_json(j, &ttl), -EIO);
        json_decref(j);
}

/* ---- the watch stream (etcd 3.4's gateway, as it answers: one object a line) ---- */

/* L3QvbGVhZGVy is "/t/leader", djE= "v1" */
static const char created_line[] = "{\"result\":{\"header\":{\"cluster_id\":\"1263\",\"member_id\":"
                                   "\"1262\",\"revision\":\"1\",\"raft_term\":\"2\"},\"created\":true}}\n";
static const char put_line[] =
    "{\"result\":{\"header\":{\"revision\":\"2\"},\"events\":[{\"kv\":{\"key\":\"L3QvbGVhZGVy\","
    "\"create_revision\":\"2\",\"mod_revision\":\"2\",\"version\":\"1\",\"value\":\"djE=\"}}]}}\n";
static const char delete_line[] =
    "{\"result\":{\"header\":{\"revision\":\"3\"},\"events\":[{\"type\":\"DELETE\",\"kv\":{"
    "\"key\":\"L3QvbGVhZGVy\",\"mod_revision\":\"3\"}}]}}\n";

struct seen {
        size_t n;
        int64_t revisions[8];
        bool created[8];
        size_t events[8];
        bool deleted_last;
        int stop_at; /* the callback's -ECANCELED on this object (1-based), 0: never */
};

static int on_object(const json_t *j, void *userdata)
{
        struct seen *s = userdata;
        struct etcd_watch_response res = {0};

        assert_int_equal(etcd_watch_response_from_json(j, &res, NULL), 0);
        assert_true(s->n < 8);
        s->revisions[s->n] = res.revision;
        s->created[s->n] = res.created;
        s->events[s->n] = res.n_events;
        if (res.n_events)
                s->deleted_last = res.events[res.n_events - 1].deleted;
        etcd_watch_response_done(&res);
        s->n++;
        return s->stop_at && (int)s->n == s->stop_at ? -ECANCELED : 0;
}

/* A stream cut anywhere (between two chunks of curl's) gives the same objects, in order. */
static void test_stream_split_chunks(void **state)
{
        char all[1024];
        size_t len;

        (void)state;
        len = (size_t)snprintf(all, sizeof(all), "%s%s%s", created_line, put_line, delete_line);
        for (size_t cut1 = 0; cut1 <= len; cut1++)
                for (size_t cut2 = cut1; cut2 <= len; cut2 += 7) {
                        struct etcd_stream st = {0};
                        struct seen s = {0};

                        assert_int_equal(etcd_stream_feed(&st, all, cut1, on_object, &s), 0);
                        assert_int_equal(
                            etcd_stream_feed(&st, all + cut1, cut2 - cut1, on_object, &s), 0);
                        assert_int_equal(
                            etcd_stream_feed(&st, all + cut2, len - cut2, on_object, &s), 0);
                        assert_int_equal(s.n, 3);
                        assert_true(s.created[0]);
                        assert_int_equal(s.revisions[1], 2);
                        assert_int_equal(s.events[1], 1);
                        assert_int_equal(s.revisions[2], 3);
                        assert_true(s.deleted_last);
                        assert_int_equal(st.n, 0);
                        etcd_stream_done(&st);
                }
}

/* Several objects in one chunk, with or without a newline between them; a reader's -errno stops
 * the feed there, keeping the rest. */
static void test_stream_several_per_chunk(void **state)
{
        struct etcd_stream st = {0};
        struct seen s = {0};
        char glued[1024];

        (void)state;
        snprintf(glued, sizeof(glued), "%.*s%.*s  %s", (int)strlen(created_line) - 1,
                 created_line, (int)strlen(put_line) - 1, put_line, delete_line);
        assert_int_equal(etcd_stream_feed(&st, glued, strlen(glued), on_object, &s), 0);
        assert_int_equal(s.n, 3);
        assert_true(s.deleted_last);
        etcd_stream_done(&st);

        s = (struct seen){.stop_at = 2};
        assert_int_equal(etcd_stream_feed(&st, glued, strlen(glued), on_object, &s), -ECANCELED);
        assert_int_equal(s.n, 2);
        etcd_stream_done(&st);

        /* A byte that cannot start an object is a broken stream, not something to wait on. */
        s = (struct seen){0};
        assert_int_equal(etcd_stream_feed(&st, "<html>", 6, on_object, &s), -EBADMSG);
        etcd_stream_done(&st);
        assert_int_equal(etcd_stream_feed(&st, "{\"result\":x}\n", 13, on_object, &s), -EBADMSG);
        assert_int_equal(s.n, 0);
        etcd_stream_done(&st);
}

/* A progress notification (a header alone), etcd cancelling a watch whose start was compacted,
 * a cancel with a reason, and the gateway's in-stream error. */
static void test_watch_answers(void **state)
{
        struct etcd_watch_response res = {0};
        const char *error = NULL;
        json_t *j;

        (void)state;
        j = json_loads("{\"result\":{\"header\":{\"revision\":\"9\"}}}", 0, NULL);
        assert_int_equal(etcd_watch_response_from_json(j, &res, NULL), 0);
        assert_int_equal(res.revision, 9);
        assert_false(res.created || res.canceled);
        assert_int_equal(res.n_events, 0);
        etcd_watch_response_done(&res);
        json_decref(j);

        j = json_loads("{\"result\":{\"header\":{\"cluster_id\":\"1\",\"raft_term\":\"2\"},"
                       "\"canceled\":true,\"compact_revision\":\"5\"}}",
                       0, NULL);
        assert_int_equal(etcd_watch_response_from_json(j, &res, NULL), 0);
        assert_true(res.canceled);
        assert_int_equal(res.compact_revision, 5);
        etcd_watch_response_done(&res);
        json_decref(j);

        j = json_loads("{\"result\":{\"header\":{\"revision\":\"4\"},\"canceled\":true,"
                       "\"cancel_reason\":\"etcdserver: no leader\"}}",
                       0, NULL);
        assert_int_equal(etcd_watch_response_from_json(j, &res, NULL), 0);
        assert_true(res.canceled);
        assert_int_equal(res.compact_revision, 0);
        assert_string_equal(res.cancel_reason, "etcdserver: no leader");
        etcd_watch_response_done(&res);
        json_decref(j);

        j = json_loads("{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"etcdserver: "
                       "no leader\",\"http_status\":\"Service Unavailable\"}}",
                       0, NULL);
        assert_int_equal(etcd_watch_response_from_json(j, &res, &error), -EIO);
        assert_string_equal(error, "etcdserver: no leader");
        json_decref(j);

        /* The events themselves: a PUT (no "type") and a DELETE, keys and values decoded. */
        j = json_loads(put_line, 0, NULL);
        assert_int_equal(etcd_watch_response_from_json(j, &res, NULL), 0);
        assert_int_equal(res.n_events, 1);
        assert_false(res.events[0].deleted);
        assert_string_equal(res.events[0].kv.key, "/t/leader");
        assert_string_equal(res.events[0].kv.value, "v1");
        assert_int_equal(res.events[0].kv.create_revision, 2);
        etcd_watch_response_done(&res);
        json_decref(j);
        j = json_loads(delete_line, 0, NULL);
        assert_int_equal(etcd_watch_response_from_json(j, &res, NULL), 0);
        assert_true(res.events[0].deleted);
        assert_int_equal(res.events[0].kv.mod_revision, 3);
        etcd_watch_response_done(&res);
        json_decref(j);

        j = json_loads("{\"other\":1}", 0, NULL);
        assert_int_equal(etcd_watch_response_from_json(j, &res, NULL), -EBADMSG);
        json_decref(j);
        /* 0.5 s doubling, capped at 30 s. */
        assert_int_equal(leader_watch_backoff_ms(0), 500);
        assert_int_equal(leader_watch_backoff_ms(500), 1000);
        assert_int_equal(leader_watch_backoff_ms(20000), 30000);
        assert_int_equal(leader_watch_backoff_ms(30000), 30000);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_deadline),
            cmocka_unit_test(test_intervals),
            cmocka_unit_test(test_value),
            cmocka_unit_test(test_keepalive_answer),
            cmocka_unit_test(test_stream_split_chunks),
            cmocka_unit_test(test_stream_several_per_chunk),
            cmocka_unit_test(test_watch_answers),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
