/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of common/http-conns: header and idle deadlines, eviction at the limit (socketpairs as connections). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/http-conns.h"

#define MAX_PAIRS 8

static int pairs[MAX_PAIRS][2];

static void pairs_open(void)
{
        for (int i = 0; i < MAX_PAIRS; i++)
                assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pairs[i]), 0);
}

static void pairs_close(void)
{
        for (int i = 0; i < MAX_PAIRS; i++) {
                close(pairs[i][0]);
                close(pairs[i][1]);
        }
}

/* Whether the server side of pair i was shut down: the client reads EOF at once. */
static bool is_shut(int i)
{
        char c;

        return recv(pairs[i][1], &c, 1, MSG_DONTWAIT) == 0;
}

static void test_header_deadline(void **state)
{
        struct http_conns *t;
        struct http_conn *a, *b;

        (void)state;
        pairs_open();
        assert_int_equal(http_conns_new(100, 10000, 60000, &t), 0);
        assert_int_equal(http_conns_next_ms(t, 0), -1);
        a = http_conns_started(t, pairs[0][0], 1000);
        b = http_conns_started(t, pairs[1][0], 4000);
        assert_non_null(a);
        assert_non_null(b);
        assert_int_equal(http_conns_open(t), 2);
        assert_int_equal(http_conns_next_ms(t, 1000), 10000);
        assert_int_equal(http_conns_sweep(t, 10999), 0);
        assert_false(is_shut(0));
        /* a slowloris gets nothing from sending bytes: only complete headers count */
        assert_int_equal(http_conns_sweep(t, 11000), 1);
        assert_true(is_shut(0));
        assert_false(is_shut(1));
        assert_int_equal(http_conns_open(t), 1);
        assert_int_equal(http_conns_next_ms(t, 11000), 3000);
        /* b's headers arrive: no deadline while its request runs, however long */
        http_conns_request(t, b);
        assert_int_equal(http_conns_next_ms(t, 11000), -1);
        assert_int_equal(http_conns_sweep(t, 1000000), 0);
        assert_false(is_shut(1));
        /* answered and kept alive: the idle timeout runs from the answer */
        http_conns_idle(t, b, 1000000);
        assert_int_equal(http_conns_next_ms(t, 1000000), 60000);
        assert_int_equal(http_conns_sweep(t, 1059999), 0);
        assert_int_equal(http_conns_sweep(t, 1060000), 1);
        assert_true(is_shut(1));
        http_conns_closed(t, a);
        http_conns_closed(t, b);
        assert_int_equal(http_conns_open(t), 0);

        struct http_conns_stats st;
        http_conns_get_stats(t, &st);
        assert_int_equal(st.opened, 2);
        assert_int_equal(st.header_timeouts, 1);
        assert_int_equal(st.idle_timeouts, 1);
        assert_int_equal(st.evicted, 0);
        http_conns_free(t);
        pairs_close();
}

static void test_eviction(void **state)
{
        struct http_conns *t;
        struct http_conn *c[MAX_PAIRS];

        (void)state;
        pairs_open();
        assert_int_equal(http_conns_new(4, 10000, 60000, &t), 0);
        /* 0 runs a request, 1 is idle after an answer, 2 waits for headers */
        c[0] = http_conns_started(t, pairs[0][0], 0);
        http_conns_request(t, c[0]);
        c[1] = http_conns_started(t, pairs[1][0], 1);
        http_conns_request(t, c[1]);
        http_conns_idle(t, c[1], 2);
        c[2] = http_conns_started(t, pairs[2][0], 3);
        assert_int_equal(http_conns_open(t), 3);
        /* the 4th reaches the limit: the oldest waiting for headers goes */
        c[3] = http_conns_started(t, pairs[3][0], 4);
        assert_true(is_shut(2));
        assert_false(is_shut(0) || is_shut(1) || is_shut(3));
        assert_int_equal(http_conns_open(t), 3);
        /* then the 3rd waiting one, not the new one */
        c[4] = http_conns_started(t, pairs[4][0], 5);
        assert_true(is_shut(3));
        assert_false(is_shut(4));
        /* 4 gets its headers: now only the idle one can go, never a request */
        http_conns_request(t, c[4]);
        c[5] = http_conns_started(t, pairs[5][0], 6);
        assert_true(is_shut(1));
        assert_false(is_shut(0) || is_shut(4) || is_shut(5));
        /* all busy but the new one: nobody is evicted, the new one stays */
        http_conns_request(t, c[5]);
        c[6] = http_conns_started(t, pairs[6][0], 7);
        assert_false(is_shut(0) || is_shut(4) || is_shut(5) || is_shut(6));
        assert_int_equal(http_conns_open(t), 4);
        /* a shut connection's record goes when the server closes it */
        http_conns_closed(t, c[2]);
        http_conns_closed(t, c[3]);
        http_conns_closed(t, c[1]);
        assert_int_equal(http_conns_open(t), 4);

        struct http_conns_stats st;
        http_conns_get_stats(t, &st);
        assert_int_equal(st.evicted, 3);
        for (int i = 0; i < 7; i++)
                if (i != 1 && i != 2 && i != 3)
                        http_conns_closed(t, c[i]);
        assert_int_equal(http_conns_open(t), 0);
        http_conns_free(t);
        pairs_close();
}

/* An authenticated upload has the whole-request deadline (the idle timeout from its headers),
 * however it trickles, and is never evicted; a refused request's connection keeps its header
 * deadline (nothing is reported for it), and goes idle once answered. */
static void test_upload_deadline(void **state)
{
        struct http_conns *t;
        struct http_conn *c[MAX_PAIRS];
        struct http_conns_stats st;

        (void)state;
        pairs_open();
        assert_int_equal(http_conns_new(3, 10000, 60000, &t), 0);
        c[0] = http_conns_started(t, pairs[0][0], 0);
        http_conns_upload(t, c[0], 500);
        assert_int_equal(http_conns_next_ms(t, 500), 60000);
        /* 1 was refused (no report): still on the header deadline, evictable */
        c[1] = http_conns_started(t, pairs[1][0], 1000);
        assert_int_equal(http_conns_next_ms(t, 1000), 10000);
        c[2] = http_conns_started(t, pairs[2][0], 2000);
        assert_true(is_shut(1));
        assert_false(is_shut(0) || is_shut(2));
        /* nothing to evict but the new one and the upload: none goes */
        c[3] = http_conns_started(t, pairs[3][0], 2500);
        http_conns_upload(t, c[3], 3000);
        c[4] = http_conns_started(t, pairs[4][0], 3500);
        assert_true(is_shut(2));
        assert_false(is_shut(0) || is_shut(3) || is_shut(4));
        /* a refused request answered on 4: idle from the answer */
        http_conns_idle(t, c[4], 4000);
        assert_int_equal(http_conns_sweep(t, 60499), 0);
        assert_int_equal(http_conns_sweep(t, 60500), 1);
        assert_true(is_shut(0));
        /* 3's body completes: no deadline while it is handled */
        http_conns_request(t, c[3]);
        assert_int_equal(http_conns_next_ms(t, 60500), 3500); /* 4's idle timeout */
        assert_int_equal(http_conns_sweep(t, 1000000), 1);
        assert_true(is_shut(4));
        assert_false(is_shut(3));
        http_conns_get_stats(t, &st);
        assert_int_equal(st.upload_timeouts, 1);
        assert_int_equal(st.idle_timeouts, 1);
        assert_int_equal(st.evicted, 2);
        for (int i = 0; i < 5; i++)
                http_conns_closed(t, c[i]);
        assert_int_equal(http_conns_open(t), 0);
        http_conns_free(t);
        pairs_close();
}

static void test_invalid(void **state)
{
        struct http_conns *t = NULL;

        (void)state;
        assert_int_equal(http_conns_new(0, 1, 1, &t), -EINVAL);
        assert_int_equal(http_conns_new(1, 0, 1, &t), -EINVAL);
        assert_null(t);
        http_conns_closed(NULL, NULL);
        assert_null(http_conns_free(NULL));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_header_deadline),
            cmocka_unit_test(test_eviction),
            cmocka_unit_test(test_upload_deadline),
            cmocka_unit_test(test_invalid),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
