/* SPDX-License-Identifier: Apache-2.0 */
/* What one commit of the master's state costs on etcd against SQLite, in the same run: turns of
 * 1 and of 64 submissions (a task put and its history event each), through store.h as the
 * master calls it. Usage: store-commit DIR ETCD-ENDPOINTS (store-commit.sh starts the etcd). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "master/master.h"
#include "master/store.h"
#include "tests/bench/bench.h"

#define TURNS 300

static struct master_task *task_make(uint64_t n)
{
        char spec[256];
        struct master_task *t = calloc(1, sizeof(*t));
        char *err = NULL;

        snprintf(spec, sizeof(spec),
                 "{\"id\":\"bench-%" PRIu64 "\",\"name\":\"bench\",\"command\":[\"/bin/true\"],"
                 "\"resources\":{\"cpus\":1,\"mem\":\"64Mi\"}}",
                 n);
        if (!t || silo_task_spec_from_string(spec, &t->spec, &err) < 0 ||
            !(t->id = strdup(t->spec->id))) {
                fprintf(stderr, "task spec: %s\n", err ? err : "out of memory");
                exit(2);
        }
        t->state = SILO_TASK_PENDING;
        t->exit_code = -1;
        t->seq = n;
        return t;
}

/* Mean microseconds per commit of `per_turn` submissions. */
static double run(struct store *s, unsigned per_turn, uint64_t *next)
{
        uint64_t start = now_usec();

        for (unsigned turn = 0; turn < TURNS; turn++) {
                for (unsigned i = 0; i < per_turn; i++) {
                        struct master_task *t = task_make((*next)++);
                        struct store_event e = {.task_id = t->id, .source = "master",
                                                .state = SILO_TASK_PENDING,
                                                .timestamp_ms = now_realtime_ms(), .applied = true};
                        int r = store_change_begin(s);

                        if (r >= 0)
                                r = store_task_put(s, t);
                        if (r >= 0)
                                r = store_event_add(s, &e);
                        r = store_change_end(s, r);
                        master_task_free(t);
                        if (r < 0) {
                                fprintf(stderr, "change: %s\n", strerror(-r));
                                exit(2);
                        }
                }
                if (store_commit(s) < 0) {
                        fprintf(stderr, "commit failed\n");
                        exit(2);
                }
        }
        return (double)(now_usec() - start) / TURNS;
}

int main(int argc, char **argv)
{
        struct bench_goals g = {.name = "store-commit"};
        struct store *sq = NULL, *et = NULL;
        char *err = NULL, *db = NULL;
        double us[2][2];
        uint64_t next = 1;

        if (argc != 3) {
                fprintf(stderr, "usage: store-commit DIR ETCD-ENDPOINTS\n");
                return 2;
        }
        log_set_max_level(LOG_WARNING);
        if (asprintf(&db, "%s/master.db", argv[1]) < 0 || store_open(db, &sq, &err) < 0 ||
            store_open_etcd(argv[2], NULL, "/bench/", &et, &err) < 0) {
                fprintf(stderr, "%s\n", err ? err : "out of memory");
                return 2;
        }
        for (int b = 0; b < 2; b++) {
                struct store *s = b ? et : sq;

                us[b][0] = run(s, 1, &next);
                us[b][1] = run(s, 64, &next);
                printf("%-6s commit of  1 submission : %8.0f us   (%6.0f submissions/s)\n",
                       store_backend(s), us[b][0], 1e6 / us[b][0]);
                printf("%-6s commit of 64 submissions: %8.0f us   (%6.0f submissions/s, %.0f "
                       "us each)\n",
                       store_backend(s), us[b][1], 64e6 / us[b][1], us[b][1] / 64);
        }
        /* A commit on etcd is an HTTP round trip to the gateway and a raft round (fsyncs on
         * the members) instead of one WAL fsync: a few times SQLite's for one change, and
         * group commit (one txn per turn, split at 128 operations) must keep a busy turn's
         * cost per submission within 5x of SQLite's. */
        bench_goal(&g, "etcd/SQLite cost of a 1-submission commit", us[1][0] / us[0][0], "x",
                   "<=", 10);
        bench_goal(&g, "etcd/SQLite cost per submission in 64-submission commits",
                   us[1][1] / us[0][1], "x", "<=", 5);
        store_free(sq);
        store_free(et);
        free(db);
        return bench_done(&g);
}
