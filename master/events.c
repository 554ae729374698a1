/* SPDX-License-Identifier: Apache-2.0 */
/* The master's event stream (GET /api/v1/events): durable, indexed events and their consumers. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/list.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/protocol-json.h"
#include "master/events.h"
#include "master/store.h"

/* A consumer is handed about this much per read of MHD's, so a catch-up is a few large writes. */
#define CONSUMER_OUT_TARGET (64 * 1024)
/* Events read from the store per query while a consumer catches up. */
#define CATCHUP_BATCH 512
/* Queries per read of MHD's at most: a filtered consumer whose events are rare would otherwise
 * scan the whole window in one callback of the master's only thread. It goes on next turn. */
#define CATCHUP_BATCHES_PER_READ 2
/* Rows deleted per tick at most when the window moves, so a large trim never stalls a turn. */
#define TRIM_BATCH 10000
/* A consumer told it is too slow gets this long to take its last line before it is closed. */
#define DOOM_GRACE_MS 2000

static const char *const event_type_names[_MASTER_EVENT_TYPE_MAX] = {
    [MASTER_EVENT_TASK_STATE] = "task_state",     [MASTER_EVENT_TASK_PLACED] = "task_placed",
    [MASTER_EVENT_TASK_PENDING] = "task_pending", [MASTER_EVENT_AGENT_JOINED] = "agent_joined",
    [MASTER_EVENT_AGENT_LOST] = "agent_lost",     [MASTER_EVENT_AGENT_RETURNED] = "agent_returned",
    [MASTER_EVENT_VOLUME_CREATED] = "volume_created",
    [MASTER_EVENT_VOLUME_DELETED] = "volume_deleted",
};

const char *master_event_type_to_string(enum master_event_type t)
{
        return t < _MASTER_EVENT_TYPE_MAX ? event_type_names[t] : NULL;
}

int master_event_type_from_string(const char *s)
{
        for (int i = 0; s && i < _MASTER_EVENT_TYPE_MAX; i++)
                if (streq(s, event_type_names[i]))
                        return i;
        return -EINVAL;
}

/* ---- filters ---- */

void master_event_filter_done(struct master_event_filter *f)
{
        free(f->role);
        free(f->task);
        *f = (struct master_event_filter){0};
}

static int filter_types_parse(const char *types, unsigned *ret, char **ret_error)
{
        _cleanup_free_ char *copy = strdup(types);
        unsigned mask = 0;
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                int k = master_event_type_from_string(t);

                if (k < 0)
                        return error_set(ret_error, -EINVAL,
                                         "type: '%s' is not an event type (task_state, "
                                         "task_placed, task_pending, agent_joined, agent_lost, "
                                         "agent_returned)",
                                         t);
                mask |= 1u << k;
        }
        if (mask == 0)
                return error_set(ret_error, -EINVAL, "type: '%s' names no event type", types);
        *ret = mask;
        return 0;
}

int master_event_filter_parse(const char *since, const char *role, const char *task,
                              const char *types, struct master_event_filter *ret, char **ret_error)
{
        struct master_event_filter f = {0};
        int r;

        if (since) {
                char *end = NULL;

                errno = 0;
                f.since = strtoull(since, &end, 10);
                if (!*since || strspn(since, "0123456789") != strlen(since) || errno == ERANGE ||
                    *end)
                        return error_set(ret_error, -EINVAL,
                                         "since: '%s' is not an event index (0 or more)", since);
                f.has_since = true;
        }
        if (role && !silo_name_is_valid(role))
                return error_set(ret_error, -EINVAL, "role: '%s' is not a valid role name", role);
        if (task && !*task)
                return error_set(ret_error, -EINVAL, "task: empty task id");
        if (types) {
                r = filter_types_parse(types, &f.types, ret_error);
                if (r < 0)
                        return r;
        }
        if ((role && !(f.role = strdup(role))) || (task && !(f.task = strdup(task)))) {
                master_event_filter_done(&f);
                return -ENOMEM;
        }
        *ret = f;
        return 0;
}

bool master_event_filter_match(const struct master_event_filter *f, enum master_event_type type,
                               const char *task_id, const char *role)
{
        if (f->types && !(f->types & (1u << type)))
                return false;
        if (f->task && !streq_ptr(f->task, task_id))
                return false;
        if (f->role && !streq_ptr(f->role, role))
                return false;
        return true;
}

/* ---- the ring ---- */

int event_ring_init(struct event_ring *r, size_t capacity, size_t max_bytes, uint64_t next)
{
        *r = (struct event_ring){
            .capacity = MAX(capacity, (size_t)1), .max_bytes = max_bytes, .next = next};
        r->v = calloc(r->capacity, sizeof(*r->v));
        return r->v ? 0 : -ENOMEM;
}

static void ring_entry_clear(struct event_ring_entry *e)
{
        free(e->task_id);
        free(e->role);
        free(e->line);
        *e = (struct event_ring_entry){0};
}

static void ring_drop_oldest(struct event_ring *r)
{
        struct event_ring_entry *e = &r->v[r->head];

        r->bytes -= e->len;
        ring_entry_clear(e);
        r->head = (r->head + 1) % r->capacity;
        r->n--;
}

void event_ring_done(struct event_ring *r)
{
        while (r->n > 0)
                ring_drop_oldest(r);
        free(r->v);
        r->v = NULL;
}

int event_ring_append(struct event_ring *r, uint64_t index, enum master_event_type type,
                      const char *task_id, const char *role, const char *line)
{
        struct event_ring_entry e = {.index = index, .type = type};

        if (index != r->next)
                return -EINVAL;
        e.len = strlen(line) + 1;
        e.line = malloc(e.len + 1);
        e.task_id = task_id ? strdup(task_id) : NULL;
        e.role = role ? strdup(role) : NULL;
        if (!e.line || (task_id && !e.task_id) || (role && !e.role)) {
                ring_entry_clear(&e);
                return -ENOMEM;
        }
        memcpy(e.line, line, e.len - 1);
        e.line[e.len - 1] = '\n';
        e.line[e.len] = '\0';
        if (r->n == r->capacity)
                ring_drop_oldest(r);
        r->v[(r->head + r->n) % r->capacity] = e;
        r->n++;
        r->bytes += e.len;
        r->next = index + 1;
        /* The byte bound keeps at least the newest event, however large. */
        while (r->n > 1 && r->max_bytes && r->bytes > r->max_bytes)
                ring_drop_oldest(r);
        return 0;
}

uint64_t event_ring_oldest(const struct event_ring *r)
{
        return r->n ? r->v[r->head].index : r->next;
}

const struct event_ring_entry *event_ring_get(const struct event_ring *r, uint64_t index)
{
        uint64_t oldest = event_ring_oldest(r);

        if (index < oldest || index >= r->next)
                return NULL;
        return &r->v[(r->head + (size_t)(index - oldest)) % r->capacity];
}

/* ---- consumers ---- */

struct event_consumer {
        struct master_events *ev;
        struct event_consumer *prev, *next;
        http_stream *stream; /* NULL once the connection is gone */
        struct master_event_filter filter;
        uint64_t cursor; /* the last index looked at (handed over or filtered out) */
        char *out;       /* bytes ready for the connection: whole lines */
        size_t out_len, out_off, out_cap;
        bool started; /* its first read is done */
        bool live;    /* reads from the ring (caught up with the store once) */
        bool waiting; /* its read said HTTP_STREAM_WAIT */
        bool resume;  /* waiting with more of the store to read: woken next turn */
        bool doomed;  /* told it is too slow: ends after its last line */
        uint64_t doom_deadline_ms;
        uint64_t last_write_ms; /* monotonic: the last bytes handed over */
};

struct master_events {
        master *m;
        struct event_ring ring;
        uint64_t published; /* the last committed index handed to the ring */
        uint64_t first;     /* the oldest index kept in the store (published + 1: none) */
        bool written;       /* events were written in this turn */
        bool resume;        /* some consumer waits to go on catching up (c->resume) */
        struct event_consumer *consumers;
        size_t n_consumers;
};

static int consumer_out_add(struct event_consumer *c, const char *data, size_t len)
{
        if (c->out_off == c->out_len)
                c->out_off = c->out_len = 0;
        if (c->out_len + len > c->out_cap) {
                size_t cap = MAX(c->out_cap * 2, c->out_len + len);
                char *p = realloc(c->out, cap);

                if (!p)
                        return -ENOMEM;
                c->out = p;
                c->out_cap = cap;
        }
        memcpy(c->out + c->out_len, data, len);
        c->out_len += len;
        return 0;
}

/* Tell the consumer why it is dropped, after the rest of the line it is in the middle of,
 * and close it if it does not take that within DOOM_GRACE_MS. */
static void consumer_doom(struct event_consumer *c, const char *why)
{
        master *m = c->ev->m;
        _cleanup_free_ char *line = NULL;
        json_t *j;

        if (c->doomed)
                return;
        c->doomed = true;
        c->doom_deadline_ms = now_mono_ms() + DOOM_GRACE_MS;
        m->metrics.event_consumers_dropped++;
        log_warning("event stream consumer %s: %s; disconnecting it",
                    c->stream ? http_stream_remote(c->stream) : "?", why);
        if (c->out_off > 0 && c->out[c->out_off - 1] != '\n') {
                char *nl = memchr(c->out + c->out_off, '\n', c->out_len - c->out_off);
                c->out_len = nl ? (size_t)(nl - c->out) + 1 : c->out_len;
        } else
                c->out_len = c->out_off;
        j = json_pack("{s:s, s:s+}", "type", "error", "message", "consumer too slow: ", why);
        line = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (!line || consumer_out_add(c, line, strlen(line)) < 0 ||
            consumer_out_add(c, "\n", 1) < 0) {
                if (c->stream)
                        http_stream_abort(c->stream);
                return;
        }
        if (c->stream)
                http_stream_wake(c->stream);
}

static int catchup_row(const struct store_stream_event *e, void *userdata)
{
        struct event_consumer *c = userdata;
        int type;

        if (e->index > c->ev->published)
                return 1; /* not committed yet */
        if (e->index != c->cursor + 1)
                return -ESPIPE; /* trimmed from under it */
        c->cursor = e->index;
        type = master_event_type_from_string(e->type);
        if (type >= 0 && master_event_filter_match(&c->filter, type, e->task_id, e->role)) {
                int r = consumer_out_add(c, e->line, strlen(e->line));
                if (r >= 0)
                        r = consumer_out_add(c, "\n", 1);
                if (r < 0)
                        return r;
        }
        return c->out_len - c->out_off >= CONSUMER_OUT_TARGET ? 1 : 0;
}

/* Fill the consumer's buffer with its next matching events: from the store while it is
 * older than the ring, then from the ring. */
static int consumer_refill(struct event_consumer *c)
{
        struct master_events *ev = c->ev;
        unsigned queries = 0;

        while (c->out_len == c->out_off && c->cursor < ev->published) {
                if (c->cursor + 1 < event_ring_oldest(&ev->ring)) {
                        uint64_t before = c->cursor;
                        int r;

                        if (queries++ == CATCHUP_BATCHES_PER_READ) {
                                c->resume = ev->resume = true;
                                return 0;
                        }
                        r = store_stream_range(ev->m->store, c->cursor, CATCHUP_BATCH,
                                               catchup_row, c);
                        if (r == -ESPIPE || (r >= 0 && c->cursor == before)) {
                                consumer_doom(c, "it fell behind the event window (the oldest "
                                                 "events were trimmed before it read them)");
                                return 0;
                        }
                        if (r < 0)
                                return r;
                        continue;
                }
                c->live = true;
                for (uint64_t i = c->cursor + 1;
                     i <= ev->published && c->out_len - c->out_off < CONSUMER_OUT_TARGET; i++) {
                        const struct event_ring_entry *e = event_ring_get(&ev->ring, i);
                        int r;

                        if (!e)
                                return -EIO;
                        c->cursor = i;
                        if (!master_event_filter_match(&c->filter, e->type, e->task_id, e->role))
                                continue;
                        r = consumer_out_add(c, e->line, e->len);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int consumer_heartbeat(struct event_consumer *c)
{
        char line[64];

        snprintf(line, sizeof(line), "{\"type\":\"heartbeat\",\"index\":%" PRIu64 "}\n",
                 c->ev->published);
        return consumer_out_add(c, line, strlen(line));
}

static ssize_t consumer_read(void *userdata, uint64_t pos, char *buf, size_t max)
{
        struct event_consumer *c = userdata;
        size_t n;
        int r;

        (void)pos;
        c->waiting = false;
        c->resume = false;
        if (!c->doomed) {
                r = consumer_refill(c);
                if (r < 0) {
                        log_warning("event stream consumer %s: %s; closing it",
                                    http_stream_remote(c->stream), strerror(-r));
                        return HTTP_STREAM_ERROR;
                }
        }
        if (c->out_len == c->out_off && !c->doomed && !c->started && !c->resume) {
                /* Nothing to send at once: a heartbeat, so that the headers (which MHD holds
                 * until the first bytes) and the current index reach the client now. */
                r = consumer_heartbeat(c);
                if (r < 0)
                        return HTTP_STREAM_ERROR;
        }
        /* one still catching up has its first line (or heartbeat) to come */
        if (!c->resume)
                c->started = true;
        if (c->out_len == c->out_off) {
                if (c->doomed)
                        return HTTP_STREAM_END;
                c->waiting = true;
                return HTTP_STREAM_WAIT;
        }
        n = MIN(max, c->out_len - c->out_off);
        memcpy(buf, c->out + c->out_off, n);
        c->out_off += n;
        c->last_write_ms = now_mono_ms();
        return (ssize_t)n;
}

static void consumer_free(void *userdata)
{
        struct event_consumer *c = userdata;
        struct master_events *ev = c->ev;

        LIST_REMOVE(ev->consumers, c, prev, next);
        ev->n_consumers--;
        log_debug("event stream consumer %s: gone at index %" PRIu64,
                  c->stream ? http_stream_remote(c->stream) : "?", c->cursor);
        master_event_filter_done(&c->filter);
        free(c->out);
        free(c);
}

int master_events_subscribe(master *m, struct master_event_filter *f, http_response *resp,
                            char **ret_error)
{
        struct master_events *ev = m->events;
        struct event_consumer *c;
        uint64_t since = f->has_since ? f->since : ev->published;
        int r;

        if (since > ev->published)
                return error_set(ret_error, -ENODATA,
                                 "since=%" PRIu64 " is beyond the last event (%" PRIu64
                                 "): it comes from another master's state; re-list the tasks "
                                 "(GET /api/v1/tasks) then stream from its event_index",
                                 since, ev->published);
        if (since + 1 < ev->first)
                return error_set(ret_error, -ENODATA,
                                 "since=%" PRIu64 " is older than the oldest event kept (%" PRIu64
                                 ", the window keeps %" PRIu64
                                 " events): re-list the tasks (GET /api/v1/tasks) then stream "
                                 "from its event_index",
                                 since, ev->first, m->opts.event_window);
        /* Streams never wait for a request, so the server's eviction never picks them: without
         * a bound, one client could hold every connection (and the agents' heartbeats out). */
        if (ev->n_consumers >= m->opts.event_consumers_max)
                return error_set(ret_error, -EUSERS,
                                 "%zu event streams are open, the most this master serves "
                                 "(--event-consumers-max %" PRIu64 "): retry later",
                                 ev->n_consumers, m->opts.event_consumers_max);
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->ev = ev;
        c->filter = *f;
        *f = (struct master_event_filter){0};
        c->cursor = since;
        c->last_write_ms = now_mono_ms();
        LIST_PREPEND(ev->consumers, c, prev, next);
        ev->n_consumers++;
        r = http_response_stream_open(resp, 200, "application/x-ndjson", consumer_read, c,
                                      consumer_free, &c->stream);
        if (r < 0)
                return r;
        /* What the consumer has not read stays in the ring, where the bound sees it. */
        http_stream_set_send_buffer(c->stream, CONSUMER_OUT_TARGET);
        /* Proxies must pass each line on as it comes (nginx buffers otherwise). */
        (void)http_response_header(resp, "Cache-Control", "no-cache");
        (void)http_response_header(resp, "X-Accel-Buffering", "no");
        return 0;
}

/* ---- writing events ---- */

static const char *task_role(const struct master_task *t)
{
        return silo_task_spec_role(t->spec);
}

/* Give the event its index (the last + 1, in the open change) and store it. Takes body. */
static int event_write(master *m, enum master_event_type type, const char *task_id,
                       const char *role, uint64_t time_ms, json_t *body)
{
        _cleanup_free_ char *line = NULL;
        uint64_t oldest, last;
        json_t *j;
        int r;

        if (!body)
                return -ENOMEM;
        r = store_stream_bounds(m->store, &oldest, &last);
        if (r < 0) {
                json_decref(body);
                return r;
        }
        last = MAX(last, m->events->published);
        j = json_pack("{s:I, s:s, s:I}", "index", (json_int_t)(last + 1), "type",
                      master_event_type_to_string(type), "time_ms", (json_int_t)time_ms);
        if (!j || json_object_update(j, body) < 0) {
                json_decref(j);
                json_decref(body);
                return -ENOMEM;
        }
        json_decref(body);
        line = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        if (!line)
                return -ENOMEM;
        r = store_stream_put(m->store, &(struct store_stream_event){
                                           .index = last + 1,
                                           .type = master_event_type_to_string(type),
                                           .task_id = task_id,
                                           .role = role,
                                           .line = line,
                                       });
        if (r >= 0)
                m->events->written = true;
        return r;
}

/* The fields every task event has. */
static json_t *task_event_body(const struct master_task *t)
{
        return json_pack("{s:s, s:s?, s:s}", "task_id", t->id, "task_name", t->spec->name, "role",
                         task_role(t));
}

int master_event_task_state(master *m, const struct master_task *t, const char *message)
{
        json_t *b = task_event_body(t);

        if (b && json_object_update_new(
                     b, json_pack("{s:s?, s:s, s:s, s:i, s:i, s:s?}", "agent_id", t->agent_id,
                                  "state", silo_task_state_to_string(t->state), "reason",
                                  silo_task_reason_to_string(t->reason), "exit_code", t->exit_code,
                                  "signal", t->signal, "message", message)) < 0) {
                json_decref(b);
                b = NULL;
        }
        return event_write(m, MASTER_EVENT_TASK_STATE, t->id, task_role(t), t->updated_ms, b);
}

int master_event_task_placed(master *m, const struct master_task *t)
{
        struct master_agent *a = master_agent_get(m, t->agent_id);
        const struct silo_container *ct = t->spec->has_container ? &t->spec->container : NULL;
        json_t *b = task_event_body(t), *disks = json_array(),
               *ports = silo_port_mappings_to_json(ct ? ct->ports : NULL, ct ? ct->n_ports : 0);

        for (size_t i = 0; disks && i < t->n_disks; i++)
                json_array_append_new(
                    disks, json_pack("{s:I, s:s?}", "io", (json_int_t)i, "disk", t->disks[i]));
        if (!b || !disks || !ports ||
            json_object_update_new(b, json_pack("{s:s?, s:s?, s:O, s:O}", "agent_id", t->agent_id,
                                                "hostname", a && a->reg ? a->reg->hostname : NULL,
                                                "disks", disks, "ports", ports)) < 0) {
                json_decref(b);
                b = NULL;
        }
        json_decref(disks);
        json_decref(ports);
        return event_write(m, MASTER_EVENT_TASK_PLACED, t->id, task_role(t), t->updated_ms, b);
}

int master_event_task_pending(master *m, const struct master_task *t, const char *reason)
{
        json_t *b = task_event_body(t);
        int r;

        if (b && json_object_set_new(b, "message", json_string(reason)) < 0) {
                json_decref(b);
                b = NULL;
        }
        r = store_change_begin(m->store);
        if (r < 0) {
                json_decref(b);
                return r;
        }
        r = event_write(m, MASTER_EVENT_TASK_PENDING, t->id, task_role(t), now_realtime_ms(), b);
        return store_change_end(m->store, r);
}

int master_event_agent(master *m, enum master_event_type type, const struct master_agent *a)
{
        return event_write(m, type, NULL, NULL, now_realtime_ms(),
                           json_pack("{s:s, s:s?, s:s?}", "agent_id", a->id, "hostname",
                                     a->reg ? a->reg->hostname : NULL, "address",
                                     a->reg ? a->reg->address : NULL));
}

int master_event_volume(master *m, enum master_event_type type, const struct master_volume *v)
{
        return event_write(m, type, NULL, v->role, now_realtime_ms(),
                           json_pack("{s:s, s:s, s:s, s:I}", "volume", v->name, "agent_id",
                                     v->agent_id, "disk", v->disk, "size", (json_int_t)v->size));
}

/* ---- publishing ---- */

static int publish_row(const struct store_stream_event *e, void *userdata)
{
        struct master_events *ev = userdata;
        int type = master_event_type_from_string(e->type);
        int r;

        if (type < 0)
                return -EBADMSG;
        r = event_ring_append(&ev->ring, e->index, type, e->task_id, e->role, e->line);
        if (r < 0)
                return r;
        ev->published = e->index;
        ev->m->metrics.events_published++;
        return 0;
}

bool master_events_publish(master *m)
{
        struct master_events *ev = m->events;
        uint64_t oldest;
        bool woke = false, fresh;
        int r;

        if (!ev || (!ev->written && !ev->resume))
                return false;
        ev->resume = false;
        fresh = ev->written;
        if (ev->written) {
                ev->written = false;
                r = store_stream_range(m->store, ev->published, SIZE_MAX, publish_row, ev);
                if (r < 0)
                        log_error("event stream: cannot read the committed events after %" PRIu64
                                  ": %s",
                                  ev->published, strerror(-r));
        }
        oldest = event_ring_oldest(&ev->ring);
        for (struct event_consumer *c = ev->consumers; c; c = c->next) {
                if (c->live && !c->doomed && c->cursor + 1 < oldest) {
                        char why[160];

                        snprintf(why, sizeof(why),
                                 "more than %zu events (or %zu bytes) behind; resume with since= "
                                 "the last index received",
                                 ev->ring.capacity, ev->ring.max_bytes);
                        consumer_doom(c, why);
                        woke = true;
                } else if (c->waiting && c->stream && (fresh || c->resume)) {
                        c->waiting = c->resume = false;
                        http_stream_wake(c->stream);
                        woke = true;
                }
        }
        return woke;
}

uint64_t master_events_last(master *m)
{
        uint64_t oldest = 0, last = 0;

        if (store_stream_bounds(m->store, &oldest, &last) < 0)
                return m->events->published;
        return MAX(last, m->events->published);
}

bool master_events_resuming(master *m)
{
        return m->events && m->events->resume;
}

size_t master_events_consumers(master *m)
{
        return m->events ? m->events->n_consumers : 0;
}

void master_events_tick(master *m)
{
        struct master_events *ev = m->events;
        uint64_t now = now_mono_ms(), hb = m->opts.event_heartbeat_s * 1000;
        int r;

        for (struct event_consumer *c = ev->consumers; c; c = c->next) {
                if (!c->stream)
                        continue;
                if (c->doomed) {
                        if (now >= c->doom_deadline_ms)
                                http_stream_abort(c->stream);
                        continue;
                }
                /* one catching up has events to send: a heartbeat's index would skip them */
                if (c->waiting && !c->resume && now - c->last_write_ms >= hb) {
                        if (consumer_heartbeat(c) >= 0) {
                                c->waiting = false;
                                http_stream_wake(c->stream);
                        }
                }
        }
        /* The loop's post source runs MHD after this tick: the woken streams are served. */

        /* The window: the newest event_window events stay, the rest go in bounded batches. */
        if (ev->published >= ev->first && ev->published - ev->first + 1 > m->opts.event_window) {
                uint64_t upto =
                    MIN(ev->published - m->opts.event_window, ev->first + TRIM_BATCH - 1);

                r = store_stream_trim(m->store, upto);
                if (r < 0)
                        log_error("event stream: cannot trim the events up to %" PRIu64 ": %s",
                                  upto, strerror(-r));
                else
                        ev->first = upto + 1;
        }
}

int master_events_new(master *m, struct master_events **ret, char **ret_error)
{
        struct master_events *ev;
        uint64_t oldest, last;
        int r;

        /* Zeroed options (a master built in a test) take the defaults: a window of 0 would
         * trim the last event, and the next index would start again from 1. */
        if (m->opts.event_window == 0)
                m->opts.event_window = MASTER_EVENT_WINDOW_DEFAULT;
        if (m->opts.event_buffer == 0)
                m->opts.event_buffer = MASTER_EVENT_BUFFER_DEFAULT;
        if (m->opts.event_heartbeat_s == 0)
                m->opts.event_heartbeat_s = MASTER_EVENT_HEARTBEAT_S_DEFAULT;
        if (m->opts.event_consumers_max == 0)
                m->opts.event_consumers_max = MASTER_EVENT_CONSUMERS_MAX_DEFAULT;
        r = store_stream_bounds(m->store, &oldest, &last);
        if (r < 0)
                return error_set(ret_error, r, "event stream: cannot read the events kept: %s",
                                 strerror(-r));
        ev = calloc(1, sizeof(*ev));
        if (!ev)
                return -ENOMEM;
        ev->m = m;
        ev->published = last;
        ev->first = oldest ? oldest : last + 1;
        r = event_ring_init(&ev->ring, (size_t)m->opts.event_buffer, MASTER_EVENT_BUFFER_BYTES,
                            last + 1);
        if (r < 0) {
                free(ev);
                return r;
        }
        *ret = ev;
        return 0;
}

struct master_events *master_events_free(struct master_events *ev)
{
        if (!ev)
                return NULL;
        /* The HTTP server is freed first and its streams' destroy ran; nothing may be left. */
        for (struct event_consumer *c = ev->consumers; c; c = c->next)
                c->stream = NULL;
        event_ring_done(&ev->ring);
        free(ev);
        return NULL;
}
