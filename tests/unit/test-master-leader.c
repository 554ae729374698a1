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

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_deadline),
            cmocka_unit_test(test_intervals),
            cmocka_unit_test(test_value),
            cmocka_unit_test(test_keepalive_answer),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
