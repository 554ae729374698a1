/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's durable status-update queue: every task transition, kept on disk until acknowledged. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/id.h"
#include "common/macro.h"
#include "silo/protocol.h"

/*
 * Each update is one file, <dir>/<seq>-<update_id>.json, written with file_write_atomic()
 * before anyone hears about it, and unlinked (directory fsynced) when a consumer acknowledges
 * it: the master link, or a client of GET /api/v1/status?after=ID on a standalone agent. The
 * zero-padded sequence number keeps the order of the transitions across restarts, so a
 * consumer always sees STARTING before RUNNING before FINISHED for one task.
 *
 * Update ids are UUIDs derived from (task id, task creation time, state): a crash between
 * recording an update and checkpointing the task makes the restarted agent repeat the same
 * transition, and the repeat then carries the same id, which this queue and the master both
 * recognise as a duplicate (exactly-once at the consumer, not just at-least-once).
 */

struct status_queue;

/* What the queue holds in memory per update: its place and id. The update itself stays in its
 * file (status_queue_load()), so a standalone agent whose updates nobody consumes, or an
 * agent cut off from its master, grows by 48 bytes per transition, not by a JSON tree. */
struct status_entry {
        uint64_t seq;
        char update_id[ID_UUID_LEN + 1];
};

/* Called after an update was queued durably (the master link sends it right away). */
typedef void (*status_queue_notify_fn)(struct status_queue *q, void *userdata);

/* Open (creating it 0700 when missing) the queue directory and load what is there, in sequence
 * order. Unreadable or malformed files are renamed to "<name>.bad" and skipped (their number
 * is in *ret_skipped when not NULL), so one damaged file cannot block every later update. */
int status_queue_open(const char *dir, struct status_queue **ret, size_t *ret_skipped);
struct status_queue *status_queue_free(struct status_queue *q);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct status_queue *, status_queue_free)

void status_queue_set_notify(struct status_queue *q, status_queue_notify_fn fn, void *userdata);

/* The deterministic update id of a task's transition, as a UUID string (37 bytes with NUL). */
void status_update_id_make(const char *task_id, uint64_t task_created_ms, silo_task_state state,
                           char ret_id[static 37]);

/* Queue `u` durably. u->update_id must be set (status_update_id_make()); u->agent_id is not
 * stored (the link adds it when sending). Returns 1 when queued, 0 when an update with that
 * id is already queued (nothing written), or -errno (nothing queued). */
int status_queue_push(struct status_queue *q, const struct silo_status_update *u);

/* Remove an acknowledged update: unlink its file and fsync the directory. -ENOENT when it is
 * not queued (already acknowledged). */
int status_queue_ack(struct status_queue *q, const char *update_id);

/* Set aside an update no consumer will ever accept (the master answered 400): its file is
 * renamed to "<name>.rejected" for the operator and it leaves the queue. -ENOENT if unknown. */
int status_queue_reject(struct status_queue *q, const char *update_id);

/* Acknowledge every update up to and including `update_id` (a cursor, as
 * GET /api/v1/status?after=ID uses it). Returns the number removed, or -ENOENT when the id is
 * not queued (nothing removed), or -errno. */
int status_queue_ack_through(struct status_queue *q, const char *update_id);

size_t status_queue_size(const struct status_queue *q);
/* Whether the update `update_id` is queued. */
bool status_queue_contains(const struct status_queue *q, const char *update_id);
/* The i-th queued update in order (0 = oldest), or NULL. Valid until the next push/ack. */
const struct status_entry *status_queue_get(const struct status_queue *q, size_t i);
/* The i-th queued update as stored: the silo_status_update JSON (no agent_id), read from its
 * file; a new reference, NULL when i is out of range (-ENOENT), the file is unreadable or not
 * JSON (-EBADMSG), with the error in *ret_errno when not NULL. */
json_t *status_queue_load(const struct status_queue *q, size_t i, int *ret_errno);
const char *status_queue_dir(const struct status_queue *q);

/* Totals since open, for /metrics. */
uint64_t status_queue_pushed_total(const struct status_queue *q);
uint64_t status_queue_acked_total(const struct status_queue *q);
