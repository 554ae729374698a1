/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for agent/status-queue: order, acknowledgement, persistence across reopen, damage. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>

#include "agent/status-queue.h"
#include "common/fileio.h"
#include "common/macro.h"

static char tmpdir[] = "/tmp/silo-test-status-queue-XXXXXX";
static char qdir[256];

static int setup(void **state)
{
        (void)state;
        if (!mkdtemp(tmpdir))
                return -1;
        snprintf(qdir, sizeof(qdir), "%s/status", tmpdir);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        return rm_rf(tmpdir);
}

/* Each test starts from an empty queue directory. */
static int test_setup(void **state)
{
        (void)state;
        return rm_rf(qdir);
}

static int push(struct status_queue *q, const char *task, uint64_t created, silo_task_state s)
{
        char id[37];
        struct silo_status_update u = {
                .task_id = (char *)task, .agent_id = (char *)"agent-ignored", .state = s,
                .reason = s == SILO_TASK_FAILED ? SILO_REASON_EXIT_NONZERO : SILO_REASON_NONE,
                .exit_code = s == SILO_TASK_FAILED ? 3 : -1, .timestamp_ms = 1700000000000ULL,
        };

        status_update_id_make(task, created, s, id);
        u.update_id = id;
        return status_queue_push(q, &u);
}

static size_t count_files(const char *suffix)
{
        _cleanup_closedir_ DIR *d = opendir(qdir);
        struct dirent *de;
        size_t n = 0, ls = strlen(suffix);

        assert_non_null(d);
        while ((de = readdir(d))) {
                size_t l = strlen(de->d_name);
                if (l > ls && streq(de->d_name + l - ls, suffix))
                        n++;
        }
        return n;
}

/* Overwrite the first (lowest sequence) update file with something that is not JSON. */
static void damage_first_file(void)
{
        _cleanup_closedir_ DIR *d = opendir(qdir);
        struct dirent *de;
        char first[256] = "", path[600];

        assert_non_null(d);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.' && (!first[0] || strcmp(de->d_name, first) < 0))
                        snprintf(first, sizeof(first), "%s", de->d_name);
        assert_true(first[0] != '\0');
        snprintf(path, sizeof(path), "%s/%s", qdir, first);
        assert_int_equal(file_write_atomic(path, "{not json", 9, 0600), 0);
}

static void test_id_is_a_deterministic_uuid(void **state)
{
        char a[37], b[37], c[37], d[37];
        (void)state;

        status_update_id_make("t1", 5, SILO_TASK_RUNNING, a);
        status_update_id_make("t1", 5, SILO_TASK_RUNNING, b);
        status_update_id_make("t1", 5, SILO_TASK_FINISHED, c);
        status_update_id_make("t1", 6, SILO_TASK_RUNNING, d);
        assert_string_equal(a, b);
        assert_string_not_equal(a, c);
        assert_string_not_equal(a, d);
        assert_int_equal(strlen(a), 36);
        assert_int_equal(a[8], '-');
        assert_int_equal(a[13], '-');
        assert_int_equal(a[14], '8'); /* version 8 */
        assert_int_equal(a[18], '-');
        assert_true(strchr("89ab", a[19]) != NULL); /* variant 10 */
        assert_int_equal(a[23], '-');
}

static void test_push_orders_and_persists(void **state)
{
        _cleanup_(status_queue_freep) struct status_queue *q = NULL;
        const struct status_entry *e;
        json_t *u;
        int r;
        (void)state;

        assert_int_equal(status_queue_open(qdir, &q, NULL), 0);
        assert_int_equal(status_queue_size(q), 0);
        assert_int_equal(push(q, "a", 1, SILO_TASK_STARTING), 1);
        assert_int_equal(push(q, "a", 1, SILO_TASK_RUNNING), 1);
        assert_int_equal(push(q, "b", 2, SILO_TASK_STARTING), 1);
        assert_int_equal(push(q, "a", 1, SILO_TASK_FAILED), 1);
        assert_int_equal(status_queue_size(q), 4);
        assert_int_equal(count_files(".json"), 4);

        e = status_queue_get(q, 1);
        assert_non_null(e);
        /* The update is read back from its file: what was pushed, under the entry's id. */
        u = status_queue_load(q, 1, &r);
        assert_non_null(u);
        assert_int_equal(r, 0);
        assert_string_equal(json_string_value(json_object_get(u, "task_id")), "a");
        assert_string_equal(json_string_value(json_object_get(u, "state")), "RUNNING");
        assert_string_equal(json_string_value(json_object_get(u, "update_id")), e->update_id);
        /* The agent id is added by the sender, never stored. */
        assert_null(json_object_get(u, "agent_id"));
        json_decref(u);
        assert_true(status_queue_get(q, 0)->seq < status_queue_get(q, 1)->seq);
        assert_null(status_queue_get(q, 4));
        assert_null(status_queue_load(q, 4, &r));
        assert_int_equal(r, -ENOENT);
        /* A file damaged behind the queue's back reads as -EBADMSG, not as an update. */
        damage_first_file();
        assert_null(status_queue_load(q, 0, &r));
        assert_int_equal(r, -EBADMSG);
}

static void test_duplicate_push_is_ignored(void **state)
{
        _cleanup_(status_queue_freep) struct status_queue *q = NULL;
        (void)state;

        assert_int_equal(status_queue_open(qdir, &q, NULL), 0);
        assert_int_equal(push(q, "a", 1, SILO_TASK_RUNNING), 1);
        assert_int_equal(push(q, "a", 1, SILO_TASK_RUNNING), 0);
        assert_int_equal(status_queue_size(q), 1);
        assert_int_equal(count_files(".json"), 1);
}

static void test_ack_removes_file_and_survives_reopen(void **state)
{
        _cleanup_(status_queue_freep) struct status_queue *q = NULL;
        char first[64], second[64], third[64];
        size_t skipped = 99;
        (void)state;

        assert_int_equal(status_queue_open(qdir, &q, NULL), 0);
        push(q, "a", 1, SILO_TASK_STARTING);
        push(q, "a", 1, SILO_TASK_RUNNING);
        push(q, "a", 1, SILO_TASK_FINISHED);
        snprintf(first, sizeof(first), "%s", status_queue_get(q, 0)->update_id);
        snprintf(second, sizeof(second), "%s", status_queue_get(q, 1)->update_id);
        snprintf(third, sizeof(third), "%s", status_queue_get(q, 2)->update_id);

        /* Acknowledge out of order (the middle one); the rest keeps its order. */
        assert_int_equal(status_queue_ack(q, second), 0);
        assert_int_equal(status_queue_ack(q, second), -ENOENT);
        assert_int_equal(status_queue_size(q), 2);
        assert_int_equal(count_files(".json"), 2);
        assert_int_equal(status_queue_acked_total(q), 1);

        /* A restarted agent finds exactly what was not acknowledged, in order, and numbers new
         * updates after the old ones. */
        q = status_queue_free(q);
        assert_int_equal(status_queue_open(qdir, &q, &skipped), 0);
        assert_int_equal(skipped, 0);
        assert_int_equal(status_queue_size(q), 2);
        assert_string_equal(status_queue_get(q, 0)->update_id, first);
        assert_string_equal(status_queue_get(q, 1)->update_id, third);
        assert_int_equal(push(q, "b", 9, SILO_TASK_STARTING), 1);
        assert_true(status_queue_get(q, 2)->seq > status_queue_get(q, 1)->seq);
        /* The same transition repeated after a crash is recognised. */
        assert_int_equal(push(q, "a", 1, SILO_TASK_FINISHED), 0);
}

static void test_ack_through_is_a_cursor(void **state)
{
        _cleanup_(status_queue_freep) struct status_queue *q = NULL;
        char mid[64];
        json_t *u;
        (void)state;

        assert_int_equal(status_queue_open(qdir, &q, NULL), 0);
        for (int i = 0; i < 5; i++) {
                char task[8];
                snprintf(task, sizeof(task), "t%d", i);
                push(q, task, 1, SILO_TASK_RUNNING);
        }
        snprintf(mid, sizeof(mid), "%s", status_queue_get(q, 2)->update_id);
        assert_int_equal(status_queue_ack_through(q, "no-such-id"), -ENOENT);
        assert_int_equal(status_queue_size(q), 5);
        assert_int_equal(status_queue_ack_through(q, mid), 3);
        assert_int_equal(status_queue_size(q), 2);
        u = status_queue_load(q, 0, NULL);
        assert_string_equal(json_string_value(json_object_get(u, "task_id")), "t3");
        json_decref(u);
        assert_int_equal(count_files(".json"), 2);
        assert_int_equal(status_queue_ack_through(q, mid), -ENOENT);
}

static void test_damaged_and_temp_files(void **state)
{
        _cleanup_(status_queue_freep) struct status_queue *q = NULL;
        _cleanup_free_ char *bad = NULL, *tmp = NULL, *wrongid = NULL, *stray = NULL, *short_seq = NULL;
        size_t skipped = 0;
        (void)state;

        assert_int_equal(status_queue_open(qdir, &q, NULL), 0);
        push(q, "a", 1, SILO_TASK_RUNNING);
        q = status_queue_free(q);

        assert_true(asprintf(&bad, "%s/00000000000000000007-0000-bad.json", qdir) > 0);
        assert_int_equal(file_write_atomic(bad, "{\"trunc", 7, 0600), 0);
        assert_true(asprintf(&wrongid, "%s/00000000000000000008-other-id.json", qdir) > 0);
        {
                const char *text = "{\"update_id\":\"not-other-id\",\"task_id\":\"x\",\"state\":\"RUNNING\","
                                   "\"timestamp_ms\":1}";
                assert_int_equal(file_write_atomic(wrongid, text, strlen(text), 0600), 0);
        }
        assert_true(asprintf(&tmp, "%s/00000000000000000009-x.json.tmp.123", qdir) > 0);
        assert_int_equal(file_write_atomic(tmp, "{}", 2, 0600), 0);
        assert_true(asprintf(&stray, "%s/README", qdir) > 0);
        assert_int_equal(file_write_atomic(stray, "x", 1, 0600), 0);
        /* A valid update under an unpadded sequence number: its ack could never unlink it. */
        assert_true(asprintf(&short_seq, "%s/10-short-id.json", qdir) > 0);
        {
                const char *text = "{\"update_id\":\"short-id\",\"task_id\":\"x\",\"state\":\"RUNNING\","
                                   "\"timestamp_ms\":1}";
                assert_int_equal(file_write_atomic(short_seq, text, strlen(text), 0600), 0);
        }

        assert_int_equal(status_queue_open(qdir, &q, &skipped), 0);
        assert_int_equal(skipped, 2);
        assert_int_equal(status_queue_size(q), 1);
        assert_int_equal(count_files(".bad"), 2);
        assert_int_equal(access(tmp, F_OK), -1); /* interrupted write removed */
        assert_int_equal(access(stray, F_OK), 0); /* unknown files left alone */
        assert_int_equal(access(short_seq, F_OK), 0); /* not loaded (size 1 above), not removed */
        /* New updates still go in: a set-aside file never blocks the queue. */
        assert_int_equal(push(q, "b", 1, SILO_TASK_RUNNING), 1);
        assert_int_equal(status_queue_size(q), 2);
}

static unsigned notified;
static void on_notify(struct status_queue *q, void *userdata)
{
        (void)q;
        assert_ptr_equal(userdata, &notified);
        notified++;
}

static void test_notify_only_on_new(void **state)
{
        _cleanup_(status_queue_freep) struct status_queue *q = NULL;
        (void)state;

        assert_int_equal(status_queue_open(qdir, &q, NULL), 0);
        status_queue_set_notify(q, on_notify, &notified);
        notified = 0;
        push(q, "a", 1, SILO_TASK_RUNNING);
        push(q, "a", 1, SILO_TASK_RUNNING);
        assert_int_equal(notified, 1);
}

static void test_push_rejects_incomplete(void **state)
{
        _cleanup_(status_queue_freep) struct status_queue *q = NULL;
        struct silo_status_update u = { .task_id = (char *)"a", .state = SILO_TASK_RUNNING };
        (void)state;

        assert_int_equal(status_queue_open(qdir, &q, NULL), 0);
        assert_int_equal(status_queue_push(q, &u), -EINVAL);
        assert_int_equal(status_queue_size(q), 0);
}

static void test_open_fails_on_a_file(void **state)
{
        _cleanup_(status_queue_freep) struct status_queue *q = NULL;
        _cleanup_free_ char *f = NULL;
        (void)state;

        assert_true(asprintf(&f, "%s/plainfile", tmpdir) > 0);
        assert_int_equal(file_write_atomic(f, "x", 1, 0600), 0);
        assert_true(status_queue_open(f, &q, NULL) < 0);
        assert_null(q);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_id_is_a_deterministic_uuid),
                cmocka_unit_test_setup(test_push_orders_and_persists, test_setup),
                cmocka_unit_test_setup(test_duplicate_push_is_ignored, test_setup),
                cmocka_unit_test_setup(test_ack_removes_file_and_survives_reopen, test_setup),
                cmocka_unit_test_setup(test_ack_through_is_a_cursor, test_setup),
                cmocka_unit_test_setup(test_damaged_and_temp_files, test_setup),
                cmocka_unit_test_setup(test_notify_only_on_new, test_setup),
                cmocka_unit_test_setup(test_push_rejects_incomplete, test_setup),
                cmocka_unit_test(test_open_fails_on_a_file),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
