/* SPDX-License-Identifier: Apache-2.0 */
/* The master's durable state: agents, tasks, every task's status history and the event stream,
 * in SQLite (WAL, one master) or in etcd (several masters, one leader); callers never know
 * which (store-backend.h, store-sqlite.c, store-etcd.c). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "master/master.h"

/*
 * Every change is committed (SQLite: synchronous=FULL; etcd: a txn, durable on a quorum)
 * before the master acknowledges or acts on it, so a master killed at any instant restarts with
 * either the old or the new state of each change. A task and the history event that explains
 * it are written in one transaction.
 *
 * Epoch: SQLite's is a counter in its meta table, +1 at each store_open(); etcd's is the leader
 * key's create_revision, given by the leader election with store_set_epoch() before it loads
 * the state. On etcd every commit is a txn that holds only while the leader key still has that
 * create_revision (and each written task or agent the mod_revision this master last read or
 * wrote): a deposed master's store_commit() returns -ESTALE and writes nothing.
 */

struct store;

/* Open or create "<path>" and its schema. The directory is made 0700 and the database, its WAL
 * and SHM 0600 whatever their modes were (logged when changed). The epoch goes up by one. */
int store_open(const char *path, struct store **ret, char **ret_error);
/* The state under `prefix` ("/silo/") of the etcd cluster at endpoints ("http://h1:2379,..."):
 * checks that etcd answers and the schema version (an empty prefix gets one at the first
 * commit). Epoch 0 until store_set_epoch(): then writes hold only while there is no leader key,
 * which is what a single master on etcd without an election has. */
struct tls_files;
/* tls (may be NULL): mutual TLS to etcd (etcd_set_tls()). */
int store_open_etcd(const char *endpoints, const struct tls_files *tls, const char *prefix,
                    struct store **ret,
                    char **ret_error);
struct store *store_free(struct store *s);
/* "sqlite" or "etcd". */
const char *store_backend(const struct store *s);
uint64_t store_epoch(const struct store *s);
/* The cluster id the epoch counts in, a UUID made when the state was created (SQLite: its meta
 * table; etcd: meta/cluster_id, written by the first leader's first fenced txn, so a leader that
 * dies before it is unknown to agents; --migrate-to copies it). NULL: none (not expected). */
const char *store_cluster_id(const struct store *s);
/* etcd: the leader key's create_revision this master won; reads after it start from one
 * revision (until the first commit) so a new leader loads one consistent state. Forgets any
 * uncommitted change. SQLite: sets the number reported (the counter is kept by store_open()). */
int store_set_epoch(struct store *s, uint64_t epoch);
/* etcd: no blocking call goes past deadline_ms (now_boot_ms; 0: none), the leader's lease
 * deadline: past it, calls fail with -ETIMEDOUT unsent. SQLite: nothing to bound. */
void store_set_deadline(struct store *s, uint64_t deadline_ms);
/* fn(userdata) between the pages of a load (etcd; NULL: none): a new leader reading a large
 * state keeps its lease alive meanwhile (master_leader_service), which moves the deadline. */
void store_set_page_hook(struct store *s, void (*fn)(void *userdata), void *userdata);
/* Copy everything of `from` (agents, volumes, tasks, history, event stream) into `to`, which must be
 * empty (-EEXIST naming it otherwise): `silo-master --migrate-to etcd`. *ret_counts (may be
 * NULL) gets "N agents, N volumes, N tasks, N history events, N stream events". */
int store_migrate(struct store *from, struct store *to, char **ret_counts, char **ret_error);

/* Group commit: the master opens one transaction per loop turn and commits it before it
 * answers any request or calls any agent (master_commit()). Each change inside is a savepoint,
 * so a change that fails half way is undone alone:
 *      r = store_change_begin(s); ...writes...; r = store_change_end(s, r);   */
int store_change_begin(struct store *s);
int store_change_end(struct store *s, int r);
bool store_in_transaction(struct store *s);
/* Commit the open transaction (nothing to do without one). -ESTALE on etcd when this master is
 * no longer the leader (nothing written: it must stop acting at once). */
int store_commit(struct store *s);

/* The most one stored object (key and value) may take: etcd refuses a request over its
 * --max-request-bytes (1.5 MiB by default) whole, so one object must leave room for the rest of
 * its txn. A put over it is -E2BIG (etcd; SQLite takes any size), and the change is undone alone. */
#define STORE_OBJECT_MAX_BYTES (1024u * 1024u)

/* Insert or replace the task's row. -E2BIG: larger than STORE_OBJECT_MAX_BYTES (etcd). */
int store_task_put(struct store *s, const struct master_task *t);

/* One history event: a status update from an agent (update_id set) or a master decision
 * (update_id NULL, source "master"). -EEXIST when update_id was recorded before. */
struct store_event {
        const char *task_id;
        const char *update_id;
        const char *source; /* "agent" | "master" */
        const char *agent_id;
        silo_task_state state;
        silo_task_reason reason;
        int exit_code;
        int signal;
        const char *message;
        uint64_t timestamp_ms;
        bool applied; /* false: recorded but did not change the task */
};
int store_event_add(struct store *s, const struct store_event *e);
/* 1 when a status update with this id was recorded, 0 when not. */
int store_update_seen(struct store *s, const char *update_id);
/* The task's history, oldest first, as a JSON array. */
int store_task_events(struct store *s, const char *task_id, json_t **ret);

int store_agent_put(struct store *s, const struct master_agent *a);

/* Persistent volumes (master_volume_record() as stored; etcd key volumes/<name>, fenced). */
int store_volume_put(struct store *s, const struct master_volume *v);
int store_volume_delete(struct store *s, const char *name);

/* Retention: delete a task's row and its whole history. */
int store_task_delete(struct store *s, const char *task_id);
/* Walk at most `max` unapplied events after *cursor (by seq) and delete those of tasks that
 * task_known() does not know and that are older than before_ms; stops at the first such event
 * that is younger. Events of known tasks are passed over (they go with their task). Advances
 * *cursor past what was handled; *ret_deleted counts the deleted. The deletions are one change
 * of the turn's transaction (all or none); a sweep that deletes nothing writes nothing. */
int store_unapplied_sweep(struct store *s, uint64_t *cursor, uint64_t before_ms, size_t max,
                          bool (*task_known)(const char *task_id, void *userdata),
                          void *userdata, size_t *ret_deleted);

/* Load everything at startup; the callbacks take ownership of the objects they get. */
int store_load_agents(struct store *s, int (*cb)(struct master_agent *a, void *userdata),
                      void *userdata);
int store_load_tasks(struct store *s, int (*cb)(struct master_task *t, void *userdata),
                     void *userdata);
int store_load_volumes(struct store *s, int (*cb)(struct master_volume *v, void *userdata),
                       void *userdata);

/* The event stream's rows (master/events.c): index = rowid, contiguous from the oldest kept. */
struct store_stream_event {
        uint64_t index;
        const char *type;    /* "task_state", "agent_lost"... */
        const char *task_id; /* NULL for agent events */
        const char *role;    /* the task's role; NULL for agent events */
        const char *line;    /* the event's JSON object, index included, without a newline */
};
/* The oldest and the last index kept (0 and 0 when none). */
int store_stream_bounds(struct store *s, uint64_t *ret_oldest, uint64_t *ret_last);
/* Insert one event; call inside a change, so it commits or rolls back with what it describes. */
int store_stream_put(struct store *s, const struct store_stream_event *e);
/* Hand at most `max` events with index > after to cb, in order (borrowed strings, valid during
 * the call); a cb returning non-zero stops the walk (a negative value is returned). */
int store_stream_range(struct store *s, uint64_t after, size_t max,
                       int (*cb)(const struct store_stream_event *e, void *userdata),
                       void *userdata);
/* Delete every event with index <= upto, as one change of the turn's transaction. */
int store_stream_trim(struct store *s, uint64_t upto);
