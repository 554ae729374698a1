/* SPDX-License-Identifier: Apache-2.0 */
/* The master's event stream (GET /api/v1/events): durable, indexed events and their consumers. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "master/master.h"

/*
 * Every event is a row of the state store written in the same savepoint as the change it
 * describes (store_stream_put()), its index the last one plus 1, so a rolled-back change takes
 * its event and its index with it. Only after the turn's commit are the new rows read back and
 * appended to an in-memory ring that every consumer reads from at its own cursor: an event costs
 * one copy into the ring and a wake-up of the consumers waiting for one, whatever their number
 * of filters. A consumer resuming from before the ring reads the store first. A consumer the
 * ring overtakes (it stopped reading, so its cursor fell out of the ring) is told why and
 * disconnected, as Nomad's event broker closes a subscriber its buffer overtook.
 */

enum master_event_type {
        MASTER_EVENT_TASK_STATE,
        MASTER_EVENT_TASK_PLACED,
        MASTER_EVENT_TASK_PENDING,
        MASTER_EVENT_AGENT_JOINED,
        MASTER_EVENT_AGENT_LOST,
        MASTER_EVENT_AGENT_RETURNED,
        MASTER_EVENT_VOLUME_CREATED, /* its agent made it (or a volume was adopted) */
        MASTER_EVENT_VOLUME_DELETED, /* its agent deleted it: the record is gone */
        _MASTER_EVENT_TYPE_MAX,
};

const char *master_event_type_to_string(enum master_event_type t);
int master_event_type_from_string(const char *s);

/* What a consumer asked for: ?since=N&role=R&task=ID&type=T1,T2 */
struct master_event_filter {
        bool has_since;
        uint64_t since;
        unsigned types; /* bit per enum master_event_type; 0 = all */
        char *role;     /* NULL = any; agent events have no role */
        char *task;     /* NULL = any; agent events have no task */
};
void master_event_filter_done(struct master_event_filter *f);
/* Decode the query arguments (each may be NULL); -EINVAL with a message naming the argument
 * and its value. */
int master_event_filter_parse(const char *since, const char *role, const char *task,
                              const char *types, struct master_event_filter *ret, char **ret_error);
/* Whether an event of this type, task and role passes the filter. */
bool master_event_filter_match(const struct master_event_filter *f, enum master_event_type type,
                               const char *task_id, const char *role);

/* The events kept in memory for live consumers: a ring of at most `capacity` events and
 * `max_bytes` bytes. Pure data structure, unit-tested alone. */
struct event_ring_entry {
        uint64_t index;
        enum master_event_type type;
        char *task_id, *role;
        char *line; /* with its newline */
        size_t len;
};
struct event_ring {
        struct event_ring_entry *v;
        size_t capacity, head, n; /* v[head] is the oldest of n */
        size_t bytes, max_bytes;
        uint64_t next; /* index the next appended event must have */
};
int event_ring_init(struct event_ring *r, size_t capacity, size_t max_bytes, uint64_t next);
void event_ring_done(struct event_ring *r);
/* Append the event with index r->next (copies); drops the oldest beyond the bounds. -EINVAL
 * for another index. */
int event_ring_append(struct event_ring *r, uint64_t index, enum master_event_type type,
                      const char *task_id, const char *role, const char *line);
/* The oldest index kept (r->next when empty) and the entry of an index, NULL when not kept. */
uint64_t event_ring_oldest(const struct event_ring *r);
const struct event_ring_entry *event_ring_get(const struct event_ring *r, uint64_t index);

/* ---- the master's side ---- */
/* The ring's byte bound: a consumer this far behind is dropped whatever the event count. */
#define MASTER_EVENT_BUFFER_BYTES (4u * 1024 * 1024)
/* The defaults of --event-window, --event-buffer, --event-heartbeat-s and
 * --event-consumers-max (main.c). */
#define MASTER_EVENT_WINDOW_DEFAULT 100000
#define MASTER_EVENT_BUFFER_DEFAULT 10000
#define MASTER_EVENT_HEARTBEAT_S_DEFAULT 10
#define MASTER_EVENT_CONSUMERS_MAX_DEFAULT 256
#define MASTER_EVENT_STR_(x) #x
#define MASTER_EVENT_STR(x) MASTER_EVENT_STR_(x) /* a default as the option table's string */

int master_events_new(master *m, struct master_events **ret, char **ret_error);
struct master_events *master_events_free(struct master_events *e);

/* Record an event inside the caller's open change (store_change_begin()): it commits or rolls
 * back with it. */
int master_event_task_state(master *m, const struct master_task *t, const char *message);
int master_event_task_placed(master *m, const struct master_task *t);
int master_event_agent(master *m, enum master_event_type type, const struct master_agent *a);
/* A volume's event, with the volume's role (a role's stream shows its volumes). */
int master_event_volume(master *m, enum master_event_type type, const struct master_volume *v);
/* A pending task's reason changed (to reason; t->pending_reason is still the one before): the
 * event is a change of its own. */
int master_event_task_pending(master *m, const struct master_task *t, const char *reason);

/* After a successful commit: hand the turn's events to the consumers. True when streams were
 * resumed: the caller runs the HTTP server, but never before the turn's held answers are
 * released (a handler run then would have its answer released with them, uncommitted). */
bool master_events_publish(master *m);
/* From the master's tick: heartbeats to idle consumers, the window's trim, and the end of
 * consumers told they were too slow that did not take their last line. */
void master_events_tick(master *m);
/* The last event index written, committed or in this turn's transaction. */
uint64_t master_events_last(master *m);
/* A consumer catching up from the store waits for the next turn (master_events_publish()
 * wakes it): the loop must not block meanwhile. */
bool master_events_resuming(master *m);
/* Consumers connected now (/metrics). */
size_t master_events_consumers(master *m);
/* Start a stream on resp for the filter (taken over). -ENODATA with a message when `since` is
 * older than the oldest event kept or newer than the last one: the client must re-list;
 * -EUSERS when --event-consumers-max streams are open. */
int master_events_subscribe(master *m, struct master_event_filter *f, http_response *resp,
                            char **ret_error);
