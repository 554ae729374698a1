/* SPDX-License-Identifier: Apache-2.0 */
/* master/etcd.c against a real etcd (endpoints in $SILO_TEST_ETCD, set by etcd-client.sh):
 * ranges, fenced txns, the txn-ops limit, leases, endpoint failover, blocking and async, watches. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/macro.h"
#include "master/etcd.h"

static const char *endpoints;
static char prefix[64];

static struct etcd *client(const char *eps)
{
        struct etcd *e = NULL;
        char *err = NULL;

        if (etcd_new(eps, 2000, &e, &err) < 0)
                fail_msg("etcd_new(%s): %s", eps, err);
        return e;
}

static char *key(const char *name)
{
        char *k = NULL;

        assert_true(asprintf(&k, "%s%s", prefix, name) > 0);
        return k;
}

static void test_base64_and_prefix_end(void **state)
{
        char *b, *d = NULL;
        size_t n = 0;

        (void)state;
        b = etcd_base64("a\0b", 3);
        assert_string_equal(b, "YQBi");
        assert_int_equal(etcd_unbase64(b, &d, &n), 0);
        assert_int_equal(n, 3);
        assert_memory_equal(d, "a\0b", 3);
        free(b);
        free(d);
        assert_int_equal(etcd_unbase64("!!!", &d, &n), -EBADMSG);
        b = etcd_prefix_end("/silo/");
        assert_string_equal(b, "/silo0");
        free(b);
        b = etcd_prefix_end("a\xff");
        assert_string_equal(b, "b");
        free(b);
}

static void test_bad_endpoints(void **state)
{
        struct etcd *e = NULL;
        char *err = NULL;

        (void)state;
        assert_int_equal(etcd_new("http://127.0.0.1:2379,ftp://x", 0, &e, &err), -EINVAL);
        assert_non_null(strstr(err, "'ftp://x'"));
        free(err);
        err = NULL;
        assert_int_equal(etcd_new("http://127.0.0.1:2379/v3", 0, &e, &err), -EINVAL);
        free(err);
        err = NULL;
        assert_int_equal(etcd_new(",", 0, &e, &err), -EINVAL);
        free(err);
}

/* Create-if-absent, then a write fenced on the creator's create_revision and on the object's
 * mod_revision: the pattern of the leader key and of every state write. */
static void test_fenced_txn(void **state)
{
        struct etcd *e = client(endpoints);
        _cleanup_free_ char *leader = key("leader"), *obj = key("tasks/t1"), *err = NULL;
        struct etcd_txn_result res = {0};
        struct etcd_txn t;
        struct etcd_kvs kvs = {0};
        int64_t epoch, mod;

        (void)state;
        assert_int_equal(etcd_txn_init(&t), 0);
        assert_int_equal(etcd_txn_compare(&t, leader, ETCD_CREATE, ETCD_EQUAL, 0), 0);
        assert_int_equal(etcd_txn_put(&t, leader, "{\"name\":\"m1\"}", 13, 0), 0);
        assert_int_equal(etcd_txn_on_failure_get(&t, leader), 0);
        assert_int_equal(etcd_txn_commit(e, &t, &res, &err), 0);
        assert_true(res.succeeded);
        epoch = res.revision;
        etcd_txn_result_done(&res);
        /* a second campaign fails and sees the leader */
        assert_int_equal(etcd_txn_commit(e, &t, &res, &err), 0);
        assert_false(res.succeeded);
        assert_int_equal(res.failure.n, 1);
        assert_int_equal(res.failure.kvs[0].create_revision, epoch);
        assert_string_equal(res.failure.kvs[0].value, "{\"name\":\"m1\"}");
        etcd_txn_result_done(&res);
        etcd_txn_done(&t);

        /* a fenced write of a new object */
        assert_int_equal(etcd_txn_init(&t), 0);
        assert_int_equal(etcd_txn_compare(&t, leader, ETCD_CREATE, ETCD_EQUAL, epoch), 0);
        assert_int_equal(etcd_txn_compare(&t, obj, ETCD_MOD, ETCD_EQUAL, 0), 0);
        assert_int_equal(etcd_txn_put(&t, obj, "v1", 2, 0), 0);
        assert_int_equal(etcd_txn_commit(e, &t, &res, &err), 0);
        assert_true(res.succeeded);
        mod = res.revision;
        etcd_txn_result_done(&res);
        etcd_txn_done(&t);

        assert_int_equal(etcd_range(e, obj, NULL, 0, 0, &kvs, &err), 0);
        assert_int_equal(kvs.n, 1);
        assert_int_equal(kvs.kvs[0].mod_revision, mod);
        assert_string_equal(kvs.kvs[0].value, "v1");
        etcd_kvs_done(&kvs);

        /* a stale epoch (another leader's key) is refused and changes nothing */
        assert_int_equal(etcd_txn_init(&t), 0);
        assert_int_equal(etcd_txn_compare(&t, leader, ETCD_CREATE, ETCD_EQUAL, epoch - 1), 0);
        assert_int_equal(etcd_txn_put(&t, obj, "v2", 2, 0), 0);
        assert_int_equal(etcd_txn_commit(e, &t, &res, &err), 0);
        assert_false(res.succeeded);
        etcd_txn_done(&t);
        /* and so is a stale mod_revision */
        assert_int_equal(etcd_txn_init(&t), 0);
        assert_int_equal(etcd_txn_compare(&t, obj, ETCD_MOD, ETCD_EQUAL, mod - 1), 0);
        assert_int_equal(etcd_txn_delete(&t, obj, NULL), 0);
        assert_int_equal(etcd_txn_commit(e, &t, &res, &err), 0);
        assert_false(res.succeeded);
        etcd_txn_done(&t);
        assert_int_equal(etcd_range(e, obj, NULL, 0, 0, &kvs, &err), 0);
        assert_int_equal(kvs.n, 1);
        assert_string_equal(kvs.kvs[0].value, "v1");
        etcd_kvs_done(&kvs);
        etcd_free(e);
}

/* A prefix range in key order, at an older revision, and count-only. */
static void test_range(void **state)
{
        struct etcd *e = client(endpoints);
        _cleanup_free_ char *p = key("r/"), *end = etcd_prefix_end(p), *err = NULL;
        struct etcd_kvs kvs = {0};
        int64_t rev0 = 0, count = -1;

        (void)state;
        for (int i = 3; i >= 1; i--) {
                _cleanup_free_ char *k = NULL;
                struct etcd_txn t;
                struct etcd_txn_result res = {0};
                char v[8];

                assert_true(asprintf(&k, "%s%020d", p, i) > 0);
                snprintf(v, sizeof(v), "%d", i);
                assert_int_equal(etcd_txn_init(&t), 0);
                assert_int_equal(etcd_txn_put(&t, k, v, strlen(v), 0), 0);
                assert_int_equal(etcd_txn_commit(e, &t, &res, &err), 0);
                if (i == 2)
                        rev0 = res.revision;
                etcd_txn_done(&t);
        }
        assert_int_equal(etcd_range(e, p, end, 0, 0, &kvs, &err), 0);
        assert_int_equal(kvs.n, 3);
        assert_string_equal(kvs.kvs[0].value, "1");
        assert_string_equal(kvs.kvs[2].value, "3");
        etcd_kvs_done(&kvs);
        /* as the store was when "2" was written: "1" did not exist yet */
        assert_int_equal(etcd_range(e, p, end, rev0, 0, &kvs, &err), 0);
        assert_int_equal(kvs.n, 2);
        assert_int_equal(kvs.revision > rev0, true);
        assert_string_equal(kvs.kvs[0].value, "2");
        etcd_kvs_done(&kvs);
        assert_int_equal(etcd_range(e, p, end, 0, 1, &kvs, &err), 0);
        assert_int_equal(kvs.n, 1);
        assert_true(kvs.more);
        assert_int_equal(kvs.count, 3);
        etcd_kvs_done(&kvs);
        assert_int_equal(etcd_count(e, p, end, NULL, &count, &err), 0);
        assert_int_equal(count, 3);
        /* compacted history: an old revision is gone (-ERANGE, saying so), the present stays */
        assert_int_equal(etcd_compact(e, rev0 + 1, &err), 0);
        assert_int_equal(etcd_range(e, p, end, rev0, 0, &kvs, &err), -ERANGE);
        assert_non_null(strstr(err, "compacted"));
        free(err);
        err = NULL;
        assert_int_equal(etcd_range(e, p, end, 0, 0, &kvs, &err), 0);
        assert_int_equal(kvs.n, 3);
        etcd_kvs_done(&kvs);
        etcd_free(e);
}

/* More operations than etcd's --max-txn-ops (128 by default): a clear -E2BIG. */
static void test_too_many_ops(void **state)
{
        struct etcd *e = client(endpoints);
        _cleanup_free_ char *err = NULL;
        struct etcd_txn_result res = {0};
        struct etcd_txn t;

        (void)state;
        assert_int_equal(etcd_txn_init(&t), 0);
        for (int i = 0; i < 129; i++) {
                _cleanup_free_ char *k = NULL;
                assert_true(asprintf(&k, "%sops/%d", prefix, i) > 0);
                assert_int_equal(etcd_txn_put(&t, k, "x", 1, 0), 0);
        }
        assert_int_equal(etcd_txn_commit(e, &t, &res, &err), -E2BIG);
        assert_non_null(strstr(err, "/v3/kv/txn"));
        assert_non_null(strstr(err, "too many operations"));
        etcd_txn_done(&t);
        etcd_free(e);
}

/* A key bound to a lease lives while it is renewed and goes with the lease. */
static void test_lease(void **state)
{
        struct etcd *e = client(endpoints);
        _cleanup_free_ char *k = key("leased"), *err = NULL;
        struct etcd_txn_result res = {0};
        struct etcd_kvs kvs = {0};
        struct etcd_txn t;
        int64_t id = 0, ttl = 0;

        (void)state;
        assert_int_equal(etcd_lease_grant(e, 5, &id, &ttl, &err), 0);
        assert_int_not_equal(id, 0);
        assert_int_equal(ttl, 5);
        assert_int_equal(etcd_txn_init(&t), 0);
        assert_int_equal(etcd_txn_put(&t, k, "me", 2, id), 0);
        assert_int_equal(etcd_txn_commit(e, &t, &res, &err), 0);
        assert_true(res.succeeded);
        etcd_txn_done(&t);
        assert_int_equal(etcd_lease_keepalive(e, id, &ttl, &err), 0);
        assert_int_equal(ttl, 5);
        assert_int_equal(etcd_range(e, k, NULL, 0, 0, &kvs, &err), 0);
        assert_int_equal(kvs.n, 1);
        assert_int_equal(kvs.kvs[0].lease, id);
        etcd_kvs_done(&kvs);
        assert_int_equal(etcd_lease_revoke(e, id, &err), 0);
        assert_int_equal(etcd_range(e, k, NULL, 0, 0, &kvs, &err), 0);
        assert_int_equal(kvs.n, 0);
        etcd_kvs_done(&kvs);
        assert_int_equal(etcd_lease_keepalive(e, id, &ttl, &err), -ENOENT);
        assert_non_null(strstr(err, "expired or was revoked"));
        free(err);
        err = NULL;
        assert_int_equal(etcd_lease_revoke(e, id, &err), -ENOENT);
        etcd_free(e);
}

/* A dead endpoint first: the call goes on to the next and remembers it; all dead: the
 * message names the endpoint and the key. */
static void test_failover(void **state)
{
        _cleanup_free_ char *eps = NULL, *k = key("nothing"), *err = NULL;
        struct etcd_kvs kvs = {0};
        struct etcd *e;

        (void)state;
        /* port 9 (discard) on loopback: nothing listens there in the test's netns */
        assert_true(asprintf(&eps, "http://127.0.0.1:9,%s", endpoints) > 0);
        e = client(eps);
        assert_int_equal(etcd_range(e, k, NULL, 0, 0, &kvs, &err), 0);
        assert_string_equal(etcd_endpoint(e), endpoints);
        etcd_kvs_done(&kvs);
        etcd_free(e);

        e = client("http://127.0.0.1:9");
        assert_int_equal(etcd_range(e, k, NULL, 0, 0, &kvs, &err), -ECONNREFUSED);
        assert_non_null(strstr(err, "etcd http://127.0.0.1:9/v3/kv/range key "));
        assert_non_null(strstr(err, k));
        etcd_free(e);
}

struct async_out {
        int r;
        int64_t ttl;
        bool done;
        char *error;
};

static void async_done(int r, const json_t *answer, const char *error, void *userdata)
{
        struct async_out *o = userdata;

        o->done = true;
        o->r = r;
        o->error = error ? strdup(error) : NULL;
        if (r >= 0)
                o->r = etcd_lease_keepalive_from_json(answer, &o->ttl);
}

static void async_wait(http_client *c, struct async_out *o)
{
        for (int i = 0; i < 500 && !o->done; i++) {
                struct pollfd p = {.fd = http_client_get_fd(c), .events = POLLIN};
                (void)poll(&p, 1, 10);
                assert_int_equal(http_client_process(c), 0);
        }
        assert_true(o->done);
}

/* The async form, as leases are kept alive from the event loop, past a dead endpoint. */
static void test_async(void **state)
{
        _cleanup_free_ char *eps = NULL, *err = NULL;
        struct async_out o = {0};
        http_client *c = NULL;
        int64_t id = 0, ttl = 0;
        struct etcd *e;
        json_t *body;

        (void)state;
        assert_true(asprintf(&eps, "http://127.0.0.1:9,%s", endpoints) > 0);
        e = client(eps);
        assert_int_equal(http_client_new(&c), 0);
        assert_int_equal(etcd_lease_grant(e, 7, &id, &ttl, &err), 0);
        etcd_free(e);
        e = client(eps); /* starts from the dead endpoint again */
        body = etcd_lease_id_body(id);
        assert_int_equal(etcd_call_async(e, c, "/v3/lease/keepalive", body, 0, async_done, &o), 0);
        async_wait(c, &o);
        assert_int_equal(o.r, 0);
        assert_int_equal(o.ttl, 7);
        assert_string_equal(etcd_endpoint(e), endpoints);
        assert_int_equal(etcd_lease_revoke(e, id, &err), 0);
        /* a lost lease */
        o = (struct async_out){0};
        assert_int_equal(etcd_call_async(e, c, "/v3/lease/keepalive", body, 0, async_done, &o), 0);
        async_wait(c, &o);
        assert_int_equal(o.r, -ENOENT);
        free(o.error);
        json_decref(body);
        http_client_free(c);
        etcd_free(e);
}

struct watch_out {
        unsigned created, puts, deletes, ended;
        int end_r;
        char *end_error;
        bool cancel_on_delete;
        struct etcd_watch *w;
};

static void watch_response(const json_t *j, void *userdata)
{
        struct watch_out *o = userdata;
        struct etcd_watch_response res = {0};

        assert_int_equal(etcd_watch_response_from_json(j, &res, NULL), 0);
        o->created += res.created;
        for (size_t i = 0; i < res.n_events; i++) {
                if (res.events[i].deleted)
                        o->deletes++;
                else
                        o->puts++;
        }
        etcd_watch_response_done(&res);
        if (o->cancel_on_delete && o->deletes)
                etcd_watch_cancel(o->w);
}

static void watch_end(int r, const char *error, void *userdata)
{
        struct watch_out *o = userdata;

        o->ended++;
        o->end_r = r;
        o->end_error = error ? strdup(error) : NULL;
}

static void watch_pump(http_client *c, const unsigned *n, unsigned want)
{
        for (int i = 0; i < 300 && *n < want; i++) {
                struct pollfd p = {.fd = http_client_get_fd(c), .events = POLLIN};
                (void)poll(&p, 1, 10);
                assert_int_equal(http_client_process(c), 0);
        }
}

/* A watch past a dead endpoint sees a put and a delete of its key as they happen; cancelled
 * from its own callback or from outside, its end never runs and nothing stays in flight; on
 * dead endpoints only, the end names the endpoint. */
static void test_watch(void **state)
{
        _cleanup_free_ char *eps = NULL, *k = key("watched"), *err = NULL;
        struct watch_out o = {.cancel_on_delete = true};
        struct etcd_txn_result res = {0};
        struct etcd *e, *w;
        struct etcd_txn t;
        http_client *c = NULL;
        json_t *body = etcd_watch_body(k, NULL, 0);

        (void)state;
        assert_non_null(body);
        assert_true(asprintf(&eps, "http://127.0.0.1:9,%s", endpoints) > 0);
        e = client(endpoints);
        w = client(eps);
        assert_int_equal(http_client_new(&c), 0);
        assert_int_equal(etcd_watch_async(w, c, body, 1000, watch_response, watch_end, &o, &o.w),
                         0);
        watch_pump(c, &o.created, 1);
        assert_int_equal(o.created, 1);
        assert_string_equal(etcd_endpoint(w), endpoints);
        assert_int_equal(etcd_txn_init(&t), 0);
        assert_int_equal(etcd_txn_put(&t, k, "v", 1, 0), 0);
        assert_int_equal(etcd_txn_commit(e, &t, &res, &err), 0);
        etcd_txn_done(&t);
        etcd_txn_result_done(&res);
        watch_pump(c, &o.puts, 1);
        assert_int_equal(o.puts, 1);
        assert_int_equal(etcd_delete(e, k, NULL, NULL, &err), 0);
        watch_pump(c, &o.deletes, 1);
        assert_int_equal(o.deletes, 1);
        for (int i = 0; i < 20; i++)
                assert_int_equal(http_client_process(c), 0);
        assert_int_equal(http_client_in_flight(c), 0);
        assert_int_equal(o.ended, 0);

        /* cancelled from outside once open */
        o = (struct watch_out){0};
        assert_int_equal(etcd_watch_async(w, c, body, 1000, watch_response, watch_end, &o, &o.w),
                         0);
        watch_pump(c, &o.created, 1);
        assert_int_equal(o.created, 1);
        etcd_watch_cancel(o.w);
        assert_int_equal(http_client_in_flight(c), 0);
        assert_int_equal(o.ended, 0);
        etcd_free(w);

        /* nothing listening */
        o = (struct watch_out){0};
        w = client("http://127.0.0.1:9");
        assert_int_equal(etcd_watch_async(w, c, body, 1000, watch_response, watch_end, &o, &o.w),
                         0);
        watch_pump(c, &o.ended, 1);
        assert_int_equal(o.ended, 1);
        assert_int_equal(o.end_r, -ECONNREFUSED);
        assert_non_null(strstr(o.end_error, "http://127.0.0.1:9/v3/watch"));
        free(o.end_error);
        json_decref(body);
        http_client_free(c);
        etcd_free(w);
        etcd_free(e);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_base64_and_prefix_end),
            cmocka_unit_test(test_bad_endpoints),
            cmocka_unit_test(test_fenced_txn),
            cmocka_unit_test(test_range),
            cmocka_unit_test(test_too_many_ops),
            cmocka_unit_test(test_lease),
            cmocka_unit_test(test_failover),
            cmocka_unit_test(test_async),
            cmocka_unit_test(test_watch),
        };

        endpoints = getenv("SILO_TEST_ETCD");
        if (!endpoints || !*endpoints) {
                fprintf(stderr, "SKIP: etcd-check: $SILO_TEST_ETCD (an etcd endpoint) not set\n");
                return 77;
        }
        /* a prefix of its own: the checks never see another run's keys */
        snprintf(prefix, sizeof(prefix), "/etcd-check/%d/", (int)getpid());
        return cmocka_run_group_tests(tests, NULL, NULL);
}
