/* SPDX-License-Identifier: Apache-2.0 */
/* The master's state in etcd (store.h's second backend): the same group commit as SQLite, each
 * loop turn one fenced etcd txn (or a few, split between changes). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/error.h"
#include "common/id.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/table.h"
#include "master/etcd.h"
#include "master/store-backend.h"

/*
 * Keys under the prefix (default "/silo/"); numbers are 20 zero-padded digits so that key
 * order is number order and a range reads them in order:
 *   leader                     the leader's key (leader.c), bound to its lease; its
 *                              create_revision is the epoch every txn compares
 *   agents/<id>                {"registration": "<JSON>", "state", "registered_ms", "updated_ms"}
 *   volumes/<name>             a persistent volume (master_volume_record()), fenced as agents
 *   tasks/<id>                 the task (task_to_json())
 *   history/<task id>/<seq>    one history event (store_event_to_json()), seq global
 *   updates/<update id>        "history/<task id>/<seq>": an agent's update was recorded
 *   unapplied/<seq>            {"task_id", "timestamp_ms", "update_id"}: an event that changed
 *                              nothing, for retention's sweep (SQLite's partial index)
 *   events/<index>             the event stream: {"type", "task_id", "role", "line"}
 *   meta/schema_version, meta/seq (the last history seq given out)
 *
 * Turn: the changes of one loop turn are kept in memory as a list of operations (a put or a
 * delete of one key, or the stream's range delete), one live operation per key (a later write
 * of a key in the turn replaces the earlier one, which moves to the later change); a change
 * that fails drops its operations. store_commit() sends them as one /v3/kv/txn, comparing the
 * leader key's create_revision with the epoch and each task's and agent's mod_revision with the
 * one this master last loaded or wrote. A turn larger than one txn may be (etcd's
 * --max-txn-ops, 128 by default, also bounds the compares; --max-request-bytes 1.5 MiB) is
 * split between changes, in order, each txn fenced the same way: every change is all in one
 * txn, so each change stays atomic, and a crash between two txns leaves a prefix of the turn's
 * changes, as SQLite would had it committed after each change. Only a change larger than one
 * txn by itself (retention deleting a task with a long history) is split inside: its deletions
 * of history go first and the task's own key last, so what is left is a task with less
 * history, deleted again after a restart.
 */

#define ETCD_TXN_MAX_OPS 128
#define ETCD_TXN_MAX_BYTES (1024u * 1024u)
/* keys per range request while loading (test-master-state loads 300 tasks: two pages) */
#define ETCD_PAGE 256
#define STREAM_CACHE 4096
#define CHANGE_DEPTH_MAX 8
#define STORE_ETCD_SCHEMA "1"
/* No compaction here: etcd's compaction is not per prefix, so a leader compacting would take the
 * watch history of every other user of the same etcd (another Silo cluster under another
 * --etcd-prefix). etcd does it itself with --auto-compaction-mode/--auto-compaction-retention
 * (README, "Several masters"). */

struct pending_op {
        char *key; /* with the prefix */
        char *value;
        size_t value_size;
        char *range_end; /* a range delete (the stream's trim) */
        bool del;
        bool fenced;   /* a task or agent: compare its mod_revision */
        bool dead;     /* replaced by a later write of the key in this turn */
        size_t change; /* the turn's change it belongs to */
        ssize_t prev;  /* the op it replaced, revived when this one's change rolls back */
        ssize_t next;  /* the op that replaced it (dead), else -1 */
        uint64_t seq;  /* the history seq given out when it was made */
};

struct stream_cached {
        uint64_t index;
        char *type, *task_id, *role, *line;
};

struct turn_mark {
        size_t n_ops;
        uint64_t seq, stream_oldest, stream_last;
};

struct store_etcd {
        struct store base;
        struct etcd *etcd;
        char *prefix;
        char *leader_key;
        struct table mods;    /* key -> struct mod: mod_revision last loaded or written */
        int64_t pin;          /* reads at this revision until the first commit (a load) */
        bool pinning;         /* the next read pins its revision */
        bool schema_written;
        bool cluster_id_written; /* meta/cluster_id holds base.cluster_id */

        /* the open turn */
        struct pending_op *ops;
        size_t n_ops, cap_ops;
        struct table pending; /* key -> index + 1 of its live op */
        size_t n_changes;
        struct turn_mark marks[CHANGE_DEPTH_MAX];
        size_t depth;
        bool in_turn;

        /* counters: as committed, and with the open turn */
        uint64_t seq, seq_committed;
        uint64_t stream_oldest, stream_last, stream_oldest_committed, stream_last_committed;
        char *unseen_update; /* the last update id found unrecorded (event_add follows) */

        /* the newest committed stream events, for the publisher right after a commit */
        struct stream_cached cache[STREAM_CACHE];
        size_t cache_start, cache_n;

        /* figures */
        uint64_t commits, txns, txn_ops;
        int64_t revision; /* the last commit's revision */
};

struct mod {
        int64_t rev;
        char key[];
};

static struct store_etcd *ETCD(struct store *s)
{
        return (struct store_etcd *)s;
}

static char *key_of(const struct store_etcd *s, const char *fmt, ...) _printf_(2, 3);
static char *key_of(const struct store_etcd *s, const char *fmt, ...)
{
        _cleanup_free_ char *rest = NULL;
        char *k = NULL;
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&rest, fmt, ap);
        va_end(ap);
        if (n < 0 || asprintf(&k, "%s%s", s->prefix, rest) < 0)
                return NULL;
        return k;
}

static bool has_prefix(const char *s, const char *prefix)
{
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int64_t mod_get(const struct store_etcd *s, const char *key)
{
        const struct mod *m = table_get(&s->mods, key);

        return m ? m->rev : 0;
}

static int mod_set(struct store_etcd *s, const char *key, int64_t rev)
{
        struct mod *m = table_get(&s->mods, key);

        if (rev == 0) {
                free(table_remove(&s->mods, key));
                return 0;
        }
        if (m) {
                m->rev = rev;
                return 0;
        }
        m = malloc(sizeof(*m) + strlen(key) + 1);
        if (!m)
                return -ENOMEM;
        m->rev = rev;
        strcpy(m->key, key);
        if (table_put(&s->mods, m->key, m) < 0) {
                free(m);
                return -ENOMEM;
        }
        return 0;
}

static void op_done(struct pending_op *op)
{
        free(op->key);
        free(op->value);
        free(op->range_end);
}

/* Forget the open turn (after a commit, a failed one too). */
static void turn_reset(struct store_etcd *s)
{
        for (size_t i = 0; i < s->n_ops; i++)
                op_done(&s->ops[i]);
        s->n_ops = 0;
        table_done(&s->pending);
        s->n_changes = 0;
        s->depth = 0;
        s->in_turn = false;
        s->seq = s->seq_committed;
        s->stream_oldest = s->stream_oldest_committed;
        s->stream_last = s->stream_last_committed;
}

/* Add a put (value) or delete (value NULL) of key to the open change; takes key and value. */
static int op_add(struct store_etcd *s, char *key, char *value, size_t size, bool fenced)
{
        uintptr_t prev;
        struct pending_op *op;

        if (!key) {
                free(value);
                return -ENOMEM;
        }
        /* An object that could not go out even alone in a txn is refused here, so that the
         * change alone is undone, rather than the commit of the whole turn failing later. */
        if (strlen(key) + size > STORE_OBJECT_MAX_BYTES) {
                log_warning("etcd: refusing to store %s: %zu bytes, over the %u a stored object "
                            "may take",
                            key, strlen(key) + size, STORE_OBJECT_MAX_BYTES);
                free(key);
                free(value);
                return -E2BIG;
        }
        if (!ARRAY_GROW(s->ops, s->cap_ops, s->n_ops + 1)) {
                free(key);
                free(value);
                return -ENOMEM;
        }
        prev = (uintptr_t)table_get(&s->pending, key);
        op = &s->ops[s->n_ops];
        *op = (struct pending_op){
            .key = key,
            .value = value,
            .value_size = size,
            .del = !value,
            .fenced = fenced,
            .change = s->n_changes,
            .prev = (ssize_t)prev - 1,
            .next = -1,
            .seq = s->seq,
        };
        if (table_put(&s->pending, op->key, (void *)(uintptr_t)(s->n_ops + 1)) < 0) {
                op_done(op);
                return -ENOMEM;
        }
        if (prev) {
                s->ops[prev - 1].dead = true;
                s->ops[prev - 1].next = (ssize_t)s->n_ops;
        }
        s->n_ops++;
        return 0;
}

static int op_put_json(struct store_etcd *s, char *key, json_t *value, bool fenced)
{
        char *text = value ? json_dumps(value, JSON_COMPACT) : NULL;

        json_decref(value);
        if (!text) {
                free(key);
                return -ENOMEM;
        }
        return op_add(s, key, text, strlen(text), fenced);
}

/* The turn's live op of key, or NULL. */
static const struct pending_op *op_find(const struct store_etcd *s, const char *key)
{
        uintptr_t i = (uintptr_t)table_get(&s->pending, key);

        return i ? &s->ops[i - 1] : NULL;
}

static bool etcd_in_transaction(struct store *base)
{
        return ETCD(base)->in_turn;
}

static int etcd_change_begin(struct store *base)
{
        struct store_etcd *s = ETCD(base);

        if (s->depth >= CHANGE_DEPTH_MAX)
                return -EOVERFLOW;
        if (s->depth == 0)
                s->n_changes++;
        s->marks[s->depth++] = (struct turn_mark){
            .n_ops = s->n_ops,
            .seq = s->seq,
            .stream_oldest = s->stream_oldest,
            .stream_last = s->stream_last,
        };
        s->in_turn = true;
        return 0;
}

static int etcd_change_end(struct store *base, int r)
{
        struct store_etcd *s = ETCD(base);
        struct turn_mark *m;

        if (s->depth == 0)
                return r < 0 ? r : -EINVAL;
        m = &s->marks[--s->depth];
        if (r >= 0)
                return r;
        /* Undo the change alone: its ops go, the ops they replaced live again. */
        while (s->n_ops > m->n_ops) {
                struct pending_op *op = &s->ops[--s->n_ops];

                if (op->prev >= 0) {
                        s->ops[op->prev].dead = false;
                        s->ops[op->prev].next = -1;
                        (void)table_put(&s->pending, s->ops[op->prev].key,
                                        (void *)(uintptr_t)(op->prev + 1));
                } else
                        table_remove(&s->pending, op->key);
                op_done(op);
        }
        s->seq = m->seq;
        s->stream_oldest = m->stream_oldest;
        s->stream_last = m->stream_last;
        return r;
}

/* Say why a fenced txn was refused: another leader, or an object changed under us. */
static void txn_refused_log(struct store_etcd *s, const struct etcd_txn_result *res)
{
        int64_t now = res->failure.n > 0 ? res->failure.kvs[0].create_revision : 0;

        if (now != (int64_t)s->base.epoch)
                log_warning("etcd %s: this master's writes are fenced off: the leader key %s has "
                            "create_revision %" PRId64 " (%s), this master's epoch is %" PRIu64,
                            etcd_endpoint(s->etcd), s->leader_key, now,
                            now == 0 ? "no leader" : "another leader", s->base.epoch);
        else
                log_warning("etcd %s: a task or agent this master writes was changed by another "
                            "writer since this master read it; refusing to overwrite it",
                            etcd_endpoint(s->etcd));
}

/* Whether op i may go out in some txn of the turn (op_needed() for some cut): live, or dead but
 * replaced in a later change, so that a cut may fall between the two. */
static bool op_may_go(const struct store_etcd *s, size_t i)
{
        const struct pending_op *op = &s->ops[i];

        return !op->dead || s->ops[op->next].change != op->change;
}

/* Whether op i goes out in a txn of ops [.., to): a live op does; so does a dead one replaced by
 * a later change's write that is at or past the cut (`to`), or the txn would carry that change's
 * history without its write of the key, and a crash before the next txn would leave no prefix of
 * the turn's changes. A write replaced within its own change is never needed (a cut inside a
 * change is the oversized change's, which is not atomic anyway). */
static bool op_needed(const struct store_etcd *s, size_t i, size_t to)
{
        const struct pending_op *op = &s->ops[i];

        return !op->dead || (op->next >= (ssize_t)to && op_may_go(s, i));
}

/* Send ops [from, to) (op_needed()) as one fenced txn; with meta/seq when it moved. */
static int txn_send(struct store_etcd *s, size_t from, size_t to, uint64_t *seq_written)
{
        _cleanup_free_ char *seq_key = NULL, *seq_text = NULL, *err = NULL;
        struct etcd_txn_result res = {0};
        struct etcd_txn t;
        uint64_t seq = 0;
        int r;

        if (from == to) /* an op too large for a txn with others goes alone: nothing before it */
                return 0;
        r = etcd_txn_init(&t);
        if (r < 0)
                return r;
        r = etcd_txn_compare(&t, s->leader_key, ETCD_CREATE, ETCD_EQUAL, (int64_t)s->base.epoch);
        if (r >= 0)
                r = etcd_txn_on_failure_get(&t, s->leader_key);
        if (r >= 0 && !s->schema_written) {
                _cleanup_free_ char *k = key_of(s, "meta/schema_version");
                r = k ? etcd_txn_put(&t, k, STORE_ETCD_SCHEMA, strlen(STORE_ETCD_SCHEMA), 0)
                      : -ENOMEM;
        }
        if (r >= 0 && !s->cluster_id_written && s->base.cluster_id[0]) {
                _cleanup_free_ char *k = key_of(s, "meta/cluster_id");
                r = k ? etcd_txn_put(&t, k, s->base.cluster_id, strlen(s->base.cluster_id), 0)
                      : -ENOMEM;
        }
        for (size_t i = from; r >= 0 && i < to; i++) {
                const struct pending_op *op = &s->ops[i];

                seq = MAX(seq, op->seq);
                if (!op_needed(s, i, to))
                        continue;
                if (op->fenced)
                        r = etcd_txn_compare(&t, op->key, ETCD_MOD, ETCD_EQUAL,
                                             mod_get(s, op->key));
                if (r < 0)
                        break;
                if (op->del)
                        r = etcd_txn_delete(&t, op->key, op->range_end);
                else
                        r = etcd_txn_put(&t, op->key, op->value, op->value_size, 0);
        }
        if (r >= 0 && seq > *seq_written) {
                seq_key = key_of(s, "meta/seq");
                r = seq_key && asprintf(&seq_text, "%" PRIu64, seq) >= 0
                        ? etcd_txn_put(&t, seq_key, seq_text, strlen(seq_text), 0)
                        : -ENOMEM;
        }
        if (r >= 0) {
                s->txn_ops += t.n_ops;
                r = etcd_txn_commit(s->etcd, &t, &res, &err);
        }
        etcd_txn_done(&t);
        if (r < 0) {
                log_error("etcd: committing the master's state: %s", strempty(err));
                return r;
        }
        s->txns++;
        if (!res.succeeded) {
                txn_refused_log(s, &res);
                etcd_txn_result_done(&res);
                return -ESTALE;
        }
        s->schema_written = true;
        s->cluster_id_written = true;
        s->revision = res.revision;
        if (seq > *seq_written)
                *seq_written = seq;
        for (size_t i = from; i < to; i++) {
                const struct pending_op *op = &s->ops[i];

                if (op_needed(s, i, to) && op->fenced &&
                    mod_set(s, op->key, op->del ? 0 : res.revision) < 0)
                        r = -ENOMEM;
        }
        etcd_txn_result_done(&res);
        return r;
}

/* Forget the oldest cached stream event. */
static void stream_cache_drop(struct store_etcd *s)
{
        struct stream_cached *c = &s->cache[s->cache_start];

        free(c->type);
        free(c->task_id);
        free(c->role);
        free(c->line);
        s->cache_start = (s->cache_start + 1) % STREAM_CACHE;
        s->cache_n--;
}

/* A stream event, as stored, into the cache of the newest committed ones. */
static void stream_cache_add(struct store_etcd *s, const struct pending_op *op)
{
        struct stream_cached *c;
        json_t *j;
        const char *idx = strrchr(op->key, '/');

        if (!idx || !(j = json_loadb(op->value, op->value_size, 0, NULL)))
                return;
        if (s->cache_n == STREAM_CACHE)
                stream_cache_drop(s);
        c = &s->cache[(s->cache_start + s->cache_n) % STREAM_CACHE];
        *c = (struct stream_cached){
            .index = strtoull(idx + 1, NULL, 10),
            .type = strdup(strempty(json_string_value(json_object_get(j, "type")))),
            .task_id = json_string_value(json_object_get(j, "task_id"))
                           ? strdup(json_string_value(json_object_get(j, "task_id")))
                           : NULL,
            .role = json_string_value(json_object_get(j, "role"))
                        ? strdup(json_string_value(json_object_get(j, "role")))
                        : NULL,
            .line = strdup(strempty(json_string_value(json_object_get(j, "line")))),
        };
        s->cache_n++;
        json_decref(j);
}

static void stream_cache_clear(struct store_etcd *s)
{
        while (s->cache_n > 0)
                stream_cache_drop(s);
        s->cache_start = 0;
}

static size_t op_bytes(const struct pending_op *op)
{
        return strlen(op->key) * 2 + op->value_size * 4 / 3 + 160;
}

/* Whether op fits in a txn that holds n_ops operations, n_cmp compares and about `bytes`
 * besides the txn's own (the leader compare, meta/seq, the schema, the cluster id). */
static bool txn_fits(size_t n_ops, size_t n_cmp, size_t bytes, const struct pending_op *op)
{
        return n_ops + 1 + 3 <= ETCD_TXN_MAX_OPS && n_cmp + op->fenced + 1 <= ETCD_TXN_MAX_OPS &&
               bytes + op_bytes(op) <= ETCD_TXN_MAX_BYTES;
}

static int etcd_commit(struct store *base)
{
        struct store_etcd *s = ETCD(base);
        _cleanup_free_ char *events = key_of(s, "events/");
        uint64_t seq_written = s->seq_committed;
        size_t from = 0, n_ops = 0, n_cmp = 0, bytes = 0, change_start = 0;
        int r = 0;

        if (!s->in_turn)
                return 0;
        if (!events)
                return -ENOMEM;
        /* Operations of consecutive changes go together until the next change would not fit;
         * a change too large alone is split between its own operations. etcd counts a txn's
         * compares and its operations apart (--max-txn-ops each); one compare and three
         * operations (meta/seq, the schema, the cluster id) are the txn's own. */
        for (size_t i = 0; i < s->n_ops && r >= 0; i++) {
                const struct pending_op *op = &s->ops[i];
                bool live = op_may_go(s, i);

                if (i > 0 && op->change != s->ops[i - 1].change)
                        change_start = i;
                if (live && !txn_fits(n_ops, n_cmp, bytes, op)) {
                        size_t cut = change_start > from ? change_start : i;

                        r = txn_send(s, from, cut, &seq_written);
                        from = cut;
                        n_ops = n_cmp = bytes = 0;
                        for (size_t j = from; j < i; j++)
                                if (op_may_go(s, j)) {
                                        n_ops++;
                                        n_cmp += s->ops[j].fenced;
                                        bytes += op_bytes(&s->ops[j]);
                                }
                        /* the change so far fills a txn by itself: it goes on in the next */
                        if (r >= 0 && !txn_fits(n_ops, n_cmp, bytes, op)) {
                                r = txn_send(s, from, i, &seq_written);
                                from = i;
                                n_ops = n_cmp = bytes = 0;
                        }
                }
                if (live) {
                        n_ops++;
                        n_cmp += op->fenced;
                        bytes += op_bytes(op);
                }
        }
        if (r >= 0 && from < s->n_ops)
                r = txn_send(s, from, s->n_ops, &seq_written);
        if (r < 0) {
                /* Nothing of the failed txn was written; a prefix of the turn's changes may be.
                 * The master stops (or steps down) and reloads from etcd. */
                turn_reset(s);
                return r;
        }
        s->commits++;
        s->pinning = false;
        s->pin = 0;
        for (size_t i = 0; i < s->n_ops; i++) {
                const struct pending_op *op = &s->ops[i];
                if (!op->dead && !op->del && has_prefix(op->key, events))
                        stream_cache_add(s, op);
        }
        s->seq_committed = s->seq;
        s->stream_oldest_committed = s->stream_oldest;
        s->stream_last_committed = s->stream_last;
        turn_reset(s);
        return 0;
}

static json_t *task_to_json(const struct master_task *t)
{
        _cleanup_free_ char *spec = silo_task_spec_to_string(t->spec);
        json_t *disks = json_array(), *j;

        if (!spec || !disks) {
                json_decref(disks);
                return NULL;
        }
        for (size_t i = 0; i < t->n_disks; i++)
                json_array_append_new(disks, t->disks[i] ? json_string(t->disks[i]) : json_null());
        j = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:o, s:i, s:i, s:I, s:b, s:I, s:I, s:I, "
                      "s:I}",
                      "id", t->id, "spec", spec, "state", silo_task_state_to_string(t->state),
                      "reason", silo_task_reason_to_string(t->reason), "message", t->message,
                      "agent_id", t->agent_id, "disks", disks, "exit_code", t->exit_code,
                      "signal", t->signal, "launch_attempts", (json_int_t)t->launch_attempts,
                      "kill_requested", t->kill_requested, "created_ms",
                      (json_int_t)t->created_ms, "updated_ms", (json_int_t)t->updated_ms, "seq",
                      (json_int_t)t->seq, "ports_chosen", (json_int_t)t->ports_chosen);
        return j;
}

static uint64_t json_u64(const json_t *o, const char *name)
{
        return (uint64_t)json_integer_value(json_object_get(o, name));
}

static const char *json_str(const json_t *o, const char *name)
{
        return json_string_value(json_object_get(o, name));
}

static int task_from_json(const struct etcd_kv *kv, struct master_task **ret)
{
        json_t *j = json_loadb(kv->value, kv->value_size, 0, NULL), *disks;
        _cleanup_free_ char *err = NULL;
        struct master_task *t;
        int state, reason, r;

        if (!json_is_object(j) || !json_str(j, "id") || !json_str(j, "spec")) {
                json_decref(j);
                return -EBADMSG;
        }
        t = calloc(1, sizeof(*t));
        if (!t) {
                json_decref(j);
                return -ENOMEM;
        }
        t->id = strdup(json_str(j, "id"));
        r = silo_task_spec_from_string(json_str(j, "spec"), &t->spec, &err);
        state = silo_task_state_from_string(strempty(json_str(j, "state")));
        reason = silo_task_reason_from_string(strempty(json_str(j, "reason")));
        if (r < 0 || !t->id || state < 0 || reason < 0) {
                log_error("etcd key %s: not a task: %s", kv->key, strempty(err));
                master_task_free(t);
                json_decref(j);
                return -EBADMSG;
        }
        t->state = state;
        t->reason = reason;
        if (json_str(j, "message"))
                t->message = strdup(json_str(j, "message"));
        if (json_str(j, "agent_id"))
                t->agent_id = strdup(json_str(j, "agent_id"));
        disks = json_object_get(j, "disks");
        if (json_array_size(disks) > 0 &&
            (t->disks = calloc(json_array_size(disks), sizeof(char *)))) {
                t->n_disks = json_array_size(disks);
                for (size_t i = 0; i < t->n_disks; i++) {
                        const char *d = json_string_value(json_array_get(disks, i));
                        t->disks[i] = d ? strdup(d) : NULL;
                }
        }
        t->exit_code = (int)json_integer_value(json_object_get(j, "exit_code"));
        t->signal = (int)json_integer_value(json_object_get(j, "signal"));
        t->launch_attempts = json_u64(j, "launch_attempts");
        t->kill_requested = json_is_true(json_object_get(j, "kill_requested"));
        t->created_ms = json_u64(j, "created_ms");
        t->updated_ms = json_u64(j, "updated_ms");
        t->seq = json_u64(j, "seq");
        t->ports_chosen = json_u64(j, "ports_chosen");
        json_decref(j);
        *ret = t;
        return 0;
}

static int etcd_task_put(struct store *base, const struct master_task *t)
{
        struct store_etcd *s = ETCD(base);
        json_t *j = task_to_json(t);

        if (!j)
                return -ENOMEM;
        return op_put_json(s, key_of(s, "tasks/%s", t->id), j, true);
}

static int etcd_agent_put(struct store *base, const struct master_agent *a)
{
        struct store_etcd *s = ETCD(base);
        _cleanup_free_ char *reg = silo_agent_registration_to_string(a->reg);
        json_t *j;

        if (!reg)
                return -ENOMEM;
        j = json_pack("{s:s, s:s, s:I, s:I}", "registration", reg, "state",
                      a->state == MASTER_AGENT_ACTIVE ? "ACTIVE" : "LOST", "registered_ms",
                      (json_int_t)a->registered_ms, "updated_ms", (json_int_t)a->updated_ms);
        if (!j)
                return -ENOMEM;
        return op_put_json(s, key_of(s, "agents/%s", a->id), j, true);
}

static int etcd_volume_put(struct store *base, const struct master_volume *v)
{
        struct store_etcd *s = ETCD(base);
        json_t *j = master_volume_record(v);

        if (!j)
                return -ENOMEM;
        return op_put_json(s, key_of(s, "volumes/%s", v->name), j, true);
}

static int etcd_volume_delete(struct store *base, const char *name)
{
        struct store_etcd *s = ETCD(base);

        return op_add(s, key_of(s, "volumes/%s", name), NULL, 0, true);
}

/* Reads: at the pinned revision while loading (the first read pins it), else the newest. */
static int64_t read_revision(const struct store_etcd *s)
{
        return s->pinning ? s->pin : 0;
}

static void read_pin(struct store_etcd *s, int64_t revision)
{
        if (s->pinning && s->pin == 0)
                s->pin = revision;
}

/* Every key of [prefix...) at the read revision, in key order, page by page. */
static int range_each(struct store_etcd *s, const char *prefix,
                      int (*cb)(const struct etcd_kv *kv, void *userdata), void *userdata,
                      char **ret_error)
{
        _cleanup_free_ char *end = etcd_prefix_end(prefix), *from = strdup(prefix);
        /* every page at the revision of the first (the load's pinned one when loading) */
        int64_t revision = read_revision(s);
        int r = 0;

        if (!end || !from)
                return -ENOMEM;
        for (;;) {
                struct etcd_kvs kvs = {0};
                char *next = NULL;

                r = etcd_range(s->etcd, from, end, revision, ETCD_PAGE, &kvs, ret_error);
                if (r < 0)
                        return r;
                read_pin(s, kvs.revision);
                if (revision == 0)
                        revision = kvs.revision;
                for (size_t i = 0; r >= 0 && i < kvs.n; i++)
                        r = cb(&kvs.kvs[i], userdata);
                /* the next page starts just after the last key (ours never hold a NUL) */
                if (r >= 0 && kvs.more && kvs.n > 0 &&
                    asprintf(&next, "%s\x01", kvs.kvs[kvs.n - 1].key) < 0)
                        r = -ENOMEM;
                etcd_kvs_done(&kvs);
                if (r < 0 || !next)
                        return r;
                if (s->base.page_hook)
                        s->base.page_hook(s->base.page_hook_userdata);
                free(from);
                from = next;
        }
}

struct load_agents {
        struct store_etcd *s;
        int (*cb)(struct master_agent *a, void *userdata);
        void *userdata;
};

static int agent_kv(const struct etcd_kv *kv, void *userdata)
{
        struct load_agents *l = userdata;
        const char *id = kv->key + strlen(l->s->prefix) + strlen("agents/");
        json_t *j = json_loadb(kv->value, kv->value_size, 0, NULL);
        _cleanup_free_ char *err = NULL;
        struct master_agent *a = NULL;
        int r;

        r = json_str(j, "registration") ? master_agent_new(id, &a) : -EBADMSG;
        if (r >= 0)
                r = silo_agent_registration_from_string(json_str(j, "registration"), &a->reg,
                                                        &err);
        if (r < 0) {
                log_error("etcd key %s: not an agent: %s", kv->key, strempty(err));
                master_agent_free(a);
                json_decref(j);
                return -EBADMSG;
        }
        a->state = streq(strempty(json_str(j, "state")), "ACTIVE") ? MASTER_AGENT_ACTIVE
                                                                    : MASTER_AGENT_LOST;
        a->registered_ms = json_u64(j, "registered_ms");
        a->updated_ms = json_u64(j, "updated_ms");
        json_decref(j);
        r = mod_set(l->s, kv->key, kv->mod_revision);
        if (r < 0) {
                master_agent_free(a);
                return r;
        }
        return l->cb(a, l->userdata);
}

static int etcd_load_agents(struct store *base, int (*cb)(struct master_agent *a, void *userdata),
                            void *userdata)
{
        struct store_etcd *s = ETCD(base);
        _cleanup_free_ char *p = key_of(s, "agents/"), *err = NULL;
        struct load_agents l = {s, cb, userdata};
        int r;

        if (!p)
                return -ENOMEM;
        r = range_each(s, p, agent_kv, &l, &err);
        if (r < 0 && err)
                log_error("loading the agents: %s", err);
        return r;
}

struct load_volumes {
        struct store_etcd *s;
        int (*cb)(struct master_volume *v, void *userdata);
        void *userdata;
};

static int volume_kv(const struct etcd_kv *kv, void *userdata)
{
        struct load_volumes *l = userdata;
        const char *name = kv->key + strlen(l->s->prefix) + strlen("volumes/");
        _cleanup_free_ char *err = NULL;
        struct master_volume *v = NULL;
        int r;

        r = master_volume_from_record(name, kv->value, kv->value_size, &v, &err);
        if (r < 0) {
                log_error("etcd key %s: not a volume: %s", kv->key, strempty(err));
                return r;
        }
        r = mod_set(l->s, kv->key, kv->mod_revision);
        if (r < 0) {
                master_volume_free(v);
                return r;
        }
        return l->cb(v, l->userdata);
}

static int etcd_load_volumes(struct store *base,
                             int (*cb)(struct master_volume *v, void *userdata), void *userdata)
{
        struct store_etcd *s = ETCD(base);
        _cleanup_free_ char *p = key_of(s, "volumes/"), *err = NULL;
        struct load_volumes l = {s, cb, userdata};
        int r;

        if (!p)
                return -ENOMEM;
        r = range_each(s, p, volume_kv, &l, &err);
        if (r < 0 && err)
                log_error("loading the volumes: %s", err);
        return r;
}

struct load_tasks {
        struct store_etcd *s;
        struct master_task **tasks;
        size_t n, cap;
};

static int task_kv(const struct etcd_kv *kv, void *userdata)
{
        struct load_tasks *l = userdata;
        struct master_task *t = NULL;
        int r;

        r = task_from_json(kv, &t);
        if (r < 0)
                return r;
        if (!ARRAY_GROW(l->tasks, l->cap, l->n + 1) || mod_set(l->s, kv->key, kv->mod_revision) < 0) {
                master_task_free(t);
                return -ENOMEM;
        }
        l->tasks[l->n++] = t;
        return 0;
}

static int task_seq_cmp(const void *a, const void *b)
{
        const struct master_task *x = *(struct master_task *const *)a;
        const struct master_task *y = *(struct master_task *const *)b;

        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int etcd_load_tasks(struct store *base, int (*cb)(struct master_task *t, void *userdata),
                           void *userdata)
{
        struct store_etcd *s = ETCD(base);
        _cleanup_free_ char *p = key_of(s, "tasks/"), *err = NULL;
        struct load_tasks l = {s, NULL, 0, 0};
        size_t i = 0;
        int r;

        if (!p)
                return -ENOMEM;
        r = range_each(s, p, task_kv, &l, &err);
        if (r < 0 && err)
                log_error("loading the tasks: %s", err);
        /* in submission order, as SQLite's ORDER BY seq */
        if (r >= 0 && l.n > 0) /* qsort's array may not be NULL, even empty */
                qsort(l.tasks, l.n, sizeof(*l.tasks), task_seq_cmp);
        for (; r >= 0 && i < l.n; i++)
                r = cb(l.tasks[i], userdata);
        for (; i < l.n; i++)
                master_task_free(l.tasks[i]);
        free(l.tasks);
        return r;
}

/* Whether the update was recorded: in the open turn, or in etcd. */
static int update_recorded(struct store_etcd *s, const char *key)
{
        _cleanup_free_ char *err = NULL;
        const struct pending_op *op = op_find(s, key);
        int64_t count = 0;
        int r;

        if (op)
                return !op->del;
        r = etcd_count(s->etcd, key, NULL, NULL, &count, &err);
        if (r < 0) {
                log_error("%s", strempty(err));
                return r;
        }
        return count > 0;
}

static int etcd_update_seen(struct store *base, const char *update_id)
{
        struct store_etcd *s = ETCD(base);
        _cleanup_free_ char *k = key_of(s, "updates/%s", update_id);
        int r;

        if (!k)
                return -ENOMEM;
        r = update_recorded(s, k);
        if (r == 0) {
                free(s->unseen_update);
                s->unseen_update = strdup(update_id);
        }
        return r;
}

static int history_put(struct store_etcd *s, uint64_t seq, const struct store_event *e)
{
        _cleanup_free_ char *hkey = key_of(s, "history/%s/%020" PRIu64, e->task_id, seq);
        int r;

        if (!hkey)
                return -ENOMEM;
        if (e->update_id) {
                _cleanup_free_ char *ukey = key_of(s, "updates/%s", e->update_id);

                if (!ukey)
                        return -ENOMEM;
                /* -EEXIST as SQLite's UNIQUE(update_id); update_seen() just asked etcd */
                if (!(s->unseen_update && streq(s->unseen_update, e->update_id))) {
                        r = update_recorded(s, ukey);
                        if (r != 0)
                                return r > 0 ? -EEXIST : r;
                } else if (op_find(s, ukey) && !op_find(s, ukey)->del)
                        return -EEXIST;
                r = op_add(s, TAKE_PTR(ukey), strdup(hkey), strlen(hkey), false);
                if (r < 0)
                        return r;
        }
        if (!e->applied) {
                json_t *u = json_pack("{s:s, s:I, s:s?}", "task_id", e->task_id, "timestamp_ms",
                                      (json_int_t)e->timestamp_ms, "update_id", e->update_id);
                r = op_put_json(s, key_of(s, "unapplied/%020" PRIu64, seq), u, false);
                if (r < 0)
                        return r;
        }
        return op_put_json(s, TAKE_PTR(hkey), store_event_to_json(seq, e), false);
}

static int etcd_event_add(struct store *base, const struct store_event *e)
{
        struct store_etcd *s = ETCD(base);

        s->seq++;
        return history_put(s, s->seq, e);
}

static int etcd_history_import(struct store *base, uint64_t seq, const struct store_event *e)
{
        struct store_etcd *s = ETCD(base);

        s->seq = MAX(s->seq, seq);
        return history_put(s, seq, e);
}

/* A task's history: etcd's keys with the open turn's changes over them, in key (seq) order. */
struct history_read {
        json_t *by_key; /* key -> event */
};

static int history_kv(const struct etcd_kv *kv, void *userdata)
{
        struct history_read *h = userdata;
        json_t *j = json_loadb(kv->value, kv->value_size, 0, NULL);

        if (!json_is_object(j)) {
                json_decref(j);
                return -EBADMSG;
        }
        return json_object_set_new(h->by_key, kv->key, j) < 0 ? -ENOMEM : 0;
}

static int history_read(struct store_etcd *s, const char *task_id, json_t **ret)
{
        _cleanup_free_ char *p = key_of(s, "history/%s/", task_id), *err = NULL;
        struct history_read h = {json_object()};
        int r;

        if (!p || !h.by_key) {
                json_decref(h.by_key);
                return -ENOMEM;
        }
        r = range_each(s, p, history_kv, &h, &err);
        for (size_t i = 0; r >= 0 && i < s->n_ops; i++) {
                const struct pending_op *op = &s->ops[i];

                if (op->dead || !has_prefix(op->key, p))
                        continue;
                if (op->del)
                        json_object_del(h.by_key, op->key);
                else
                        r = history_kv(&(struct etcd_kv){.key = op->key, .value = op->value,
                                                         .value_size = op->value_size},
                                       &h);
        }
        if (r < 0) {
                if (err)
                        log_error("reading the history of task %s: %s", task_id, err);
                json_decref(h.by_key);
                return r;
        }
        *ret = h.by_key;
        return 0;
}

static int key_cmp(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int etcd_task_events(struct store *base, const char *task_id, json_t **ret)
{
        json_t *by_key = NULL, *arr;
        _cleanup_free_ const char **keys = NULL;
        const char *k;
        json_t *v;
        size_t n = 0;
        int r;

        r = history_read(ETCD(base), task_id, &by_key);
        if (r < 0)
                return r;
        keys = calloc(json_object_size(by_key) + 1, sizeof(char *));
        arr = json_array();
        if (!keys || !arr) {
                json_decref(arr);
                json_decref(by_key);
                return -ENOMEM;
        }
        json_object_foreach (by_key, k, v)
                keys[n++] = k;
        qsort(keys, n, sizeof(*keys), key_cmp);
        for (size_t i = 0; i < n; i++)
                json_array_append(arr, json_object_get(by_key, keys[i]));
        json_decref(by_key);
        *ret = arr;
        return 0;
}

/* Delete one history event and what points at it (its update id, its unapplied entry). */
static int history_delete(struct store_etcd *s, const char *key, const json_t *event)
{
        const char *uid = json_str(event, "update_id");
        int r = 0;

        if (uid)
                r = op_add(s, key_of(s, "updates/%s", uid), NULL, 0, false);
        if (r >= 0 && !json_is_true(json_object_get(event, "applied")))
                r = op_add(s, key_of(s, "unapplied/%020" PRIu64, json_u64(event, "seq")), NULL, 0,
                           false);
        if (r >= 0)
                r = op_add(s, strdup(key), NULL, 0, false);
        return r;
}

static int etcd_task_delete(struct store *base, const char *task_id)
{
        struct store_etcd *s = ETCD(base);
        json_t *by_key = NULL, *v;
        const char *k;
        int r;

        r = history_read(s, task_id, &by_key);
        if (r < 0)
                return r;
        json_object_foreach (by_key, k, v) {
                r = history_delete(s, k, v);
                if (r < 0)
                        break;
        }
        json_decref(by_key);
        /* the task's own key last: see the top of the file */
        return r < 0 ? r : op_add(s, key_of(s, "tasks/%s", task_id), NULL, 0, true);
}

static int etcd_unapplied_sweep(struct store *base, uint64_t *cursor, uint64_t before_ms,
                                size_t max, bool (*task_known)(const char *task_id, void *userdata),
                                void *userdata, size_t *ret_deleted)
{
        struct store_etcd *s = ETCD(base);
        _cleanup_free_ char *from = key_of(s, "unapplied/%020" PRIu64, *cursor + 1),
                            *end = key_of(s, "unapplied0"), *err = NULL;
        struct etcd_kvs kvs = {0};
        size_t deleted = 0, n = 0;
        uint64_t next = *cursor;
        int r;

        if (!from || !end)
                return -ENOMEM;
        if (max == 0) {
                *ret_deleted = 0;
                return 0;
        }
        r = etcd_range(s->etcd, from, end, read_revision(s), (int64_t)max, &kvs, &err);
        if (r < 0) {
                log_error("retention: %s", strempty(err));
                return r;
        }
        for (size_t i = 0; i < kvs.n; i++) {
                json_t *u = json_loadb(kvs.kvs[i].value, kvs.kvs[i].value_size, 0, NULL);
                const char *task_id = json_str(u, "task_id");
                uint64_t seq = strtoull(strrchr(kvs.kvs[i].key, '/') + 1, NULL, 10);

                if (task_id && task_known(task_id, userdata)) {
                        next = seq; /* goes with its task */
                        json_decref(u);
                        continue;
                }
                if (json_u64(u, "timestamp_ms") >= before_ms) {
                        json_decref(u);
                        break;
                }
                /* Only a sweep that deletes something opens (joins) the turn. */
                if (n++ == 0)
                        r = etcd_change_begin(base);
                if (r >= 0 && json_str(u, "update_id"))
                        r = op_add(s, key_of(s, "updates/%s", json_str(u, "update_id")), NULL, 0,
                                   false);
                if (r >= 0 && task_id)
                        r = op_add(s, key_of(s, "history/%s/%020" PRIu64, task_id, seq), NULL, 0,
                                   false);
                if (r >= 0)
                        r = op_add(s, strdup(kvs.kvs[i].key), NULL, 0, false);
                json_decref(u);
                if (r < 0)
                        break;
                next = seq;
        }
        etcd_kvs_done(&kvs);
        if (n > 0) {
                r = etcd_change_end(base, r);
                if (r >= 0)
                        deleted = n;
        }
        if (r < 0)
                return r;
        *cursor = next;
        *ret_deleted = deleted;
        return 0;
}

static int etcd_stream_bounds(struct store *base, uint64_t *ret_oldest, uint64_t *ret_last)
{
        struct store_etcd *s = ETCD(base);

        *ret_oldest = s->stream_oldest;
        *ret_last = s->stream_last;
        return 0;
}

static int etcd_stream_put(struct store *base, const struct store_stream_event *e)
{
        struct store_etcd *s = ETCD(base);
        json_t *j = json_pack("{s:s, s:s?, s:s?, s:s}", "type", e->type, "task_id", e->task_id,
                              "role", e->role, "line", e->line);
        int r;

        if (!j)
                return -ENOMEM;
        r = op_put_json(s, key_of(s, "events/%020" PRIu64, e->index), j, false);
        if (r < 0)
                return r;
        if (s->stream_oldest == 0)
                s->stream_oldest = e->index;
        s->stream_last = MAX(s->stream_last, e->index);
        return 0;
}

static int etcd_stream_range(struct store *base, uint64_t after, size_t max,
                             int (*cb)(const struct store_stream_event *e, void *userdata),
                             void *userdata)
{
        struct store_etcd *s = ETCD(base);
        _cleanup_free_ char *end = key_of(s, "events0"), *err = NULL;
        size_t done = 0;
        int r = 0;

        if (!end)
                return -ENOMEM;
        /* Right after a commit the publisher asks for what it wrote: the cache has it. */
        if (s->cache_n > 0 && after + 1 >= s->cache[s->cache_start].index) {
                for (size_t i = 0; i < s->cache_n && done < max; i++) {
                        const struct stream_cached *c =
                            &s->cache[(s->cache_start + i) % STREAM_CACHE];

                        if (c->index <= after)
                                continue;
                        r = cb(&(struct store_stream_event){.index = c->index,
                                                            .type = c->type,
                                                            .task_id = c->task_id,
                                                            .role = c->role,
                                                            .line = c->line},
                               userdata);
                        if (r != 0)
                                return r < 0 ? r : 0;
                        done++;
                }
                return 0;
        }
        while (done < max) {
                _cleanup_free_ char *from = key_of(s, "events/%020" PRIu64, after + 1);
                struct etcd_kvs kvs = {0};

                if (!from)
                        return -ENOMEM;
                r = etcd_range(s->etcd, from, end, read_revision(s),
                               (int64_t)MIN(max - done, (size_t)ETCD_PAGE), &kvs, &err);
                if (r < 0) {
                        log_error("event stream: %s", strempty(err));
                        return r;
                }
                for (size_t i = 0; r == 0 && i < kvs.n; i++) {
                        json_t *j = json_loadb(kvs.kvs[i].value, kvs.kvs[i].value_size, 0, NULL);
                        struct store_stream_event e = {
                            .index = strtoull(strrchr(kvs.kvs[i].key, '/') + 1, NULL, 10),
                            .type = json_str(j, "type"),
                            .task_id = json_str(j, "task_id"),
                            .role = json_str(j, "role"),
                            .line = json_str(j, "line"),
                        };

                        r = e.type && e.line ? cb(&e, userdata) : -EBADMSG;
                        json_decref(j);
                        after = e.index;
                        done++;
                }
                if (r != 0 || !kvs.more) {
                        etcd_kvs_done(&kvs);
                        break;
                }
                etcd_kvs_done(&kvs);
        }
        return r < 0 ? r : 0;
}

static int etcd_stream_trim(struct store *base, uint64_t upto)
{
        struct store_etcd *s = ETCD(base);
        char *from, *end;
        int r;

        if (s->stream_oldest == 0 || upto < s->stream_oldest)
                return 0;
        r = etcd_change_begin(base);
        if (r < 0)
                return r;
        from = key_of(s, "events/%020" PRIu64, s->stream_oldest);
        end = key_of(s, "events/%020" PRIu64, upto + 1);
        if (!end) {
                free(from);
                r = -ENOMEM;
        } else
                r = op_add(s, from, NULL, 0, false);
        if (r >= 0) {
                s->ops[s->n_ops - 1].range_end = end;
                s->stream_oldest = upto + 1 <= s->stream_last ? upto + 1 : 0;
        } else
                free(end);
        while (s->cache_n > 0 && s->cache[s->cache_start].index <= upto)
                stream_cache_drop(s);
        return etcd_change_end(base, r);
}

/* The counters and the stream's bounds, at the revision the load reads (the first read pins
 * it). */
static int state_read_meta(struct store_etcd *s, char **ret_error)
{
        _cleanup_free_ char *meta = key_of(s, "meta/"), *events = key_of(s, "events/"),
                            *events_end = key_of(s, "events0");
        struct etcd_kvs kvs = {0};
        uint64_t seq = 0, oldest = 0, last = 0;
        int r;

        if (!meta || !events || !events_end)
                return -ENOMEM;
        _cleanup_free_ char *meta_end = etcd_prefix_end(meta);
        if (!meta_end)
                return -ENOMEM;
        r = etcd_range(s->etcd, meta, meta_end, read_revision(s), 0, &kvs, ret_error);
        if (r < 0)
                return r;
        read_pin(s, kvs.revision);
        s->schema_written = false;
        s->cluster_id_written = false;
        s->base.cluster_id[0] = 0;
        for (size_t i = 0; i < kvs.n; i++) {
                const char *name = kvs.kvs[i].key + strlen(meta);

                if (streq(name, "seq"))
                        seq = strtoull(kvs.kvs[i].value, NULL, 10);
                else if (streq(name, "cluster_id")) {
                        snprintf(s->base.cluster_id, sizeof(s->base.cluster_id), "%s",
                                 kvs.kvs[i].value);
                        s->cluster_id_written = true;
                }
                else if (streq(name, "schema_version")) {
                        if (!streq(kvs.kvs[i].value, STORE_ETCD_SCHEMA)) {
                                r = error_set(ret_error, -EPROTO,
                                              "etcd %s key %s: schema version %s, this master "
                                              "understands %s",
                                              etcd_endpoint(s->etcd), kvs.kvs[i].key,
                                              kvs.kvs[i].value, STORE_ETCD_SCHEMA);
                                etcd_kvs_done(&kvs);
                                return r;
                        }
                        s->schema_written = true;
                }
        }
        etcd_kvs_done(&kvs);
        /* A new state: its id goes with the first fenced txn (txn_send()). */
        if (!s->base.cluster_id[0]) {
                _cleanup_free_ char *id = NULL;

                if (id_uuid_new(&id) < 0)
                        return error_set(ret_error, -EIO, "cannot make a cluster id");
                snprintf(s->base.cluster_id, sizeof(s->base.cluster_id), "%s", id);
        }
        for (int edge = 0; edge < 2; edge++) {
                r = etcd_range_edge(s->etcd, events, events_end, read_revision(s), edge == 1, &kvs,
                                    ret_error);
                if (r < 0)
                        return r;
                if (kvs.n > 0) {
                        uint64_t idx = strtoull(kvs.kvs[0].key + strlen(events), NULL, 10);
                        if (edge == 0)
                                oldest = idx;
                        else
                                last = idx;
                }
                etcd_kvs_done(&kvs);
        }
        s->seq = s->seq_committed = seq;
        s->stream_oldest = s->stream_oldest_committed = oldest;
        s->stream_last = s->stream_last_committed = last;
        return 0;
}

static void etcd_store_set_deadline(struct store *base, uint64_t deadline_ms)
{
        etcd_set_deadline(((struct store_etcd *)base)->etcd, deadline_ms);
}

static void mods_clear(struct store_etcd *s)
{
        size_t i = 0;
        struct mod *m;

        while (table_next(&s->mods, &i, NULL, (void **)&m))
                free(m);
        table_done(&s->mods);
}

static int etcd_set_epoch(struct store *base, uint64_t epoch)
{
        struct store_etcd *s = ETCD(base);
        _cleanup_free_ char *err = NULL;
        int r;

        /* A new term: what another leader wrote meanwhile is read again by the load. */
        turn_reset(s);
        stream_cache_clear(s);
        mods_clear(s);
        base->epoch = epoch;
        /* What this master loads next is one revision, the one read now. */
        s->pinning = true;
        s->pin = 0;
        r = state_read_meta(s, &err);
        if (r < 0)
                log_error("etcd: reading the state's counters: %s", strempty(err));
        return r;
}

static int etcd_is_empty(struct store *base, char **ret_error)
{
        struct store_etcd *s = ETCD(base);
        _cleanup_free_ char *end = etcd_prefix_end(s->prefix);
        int64_t count = 0;
        int r;

        if (!end)
                return -ENOMEM;
        r = etcd_count(s->etcd, s->prefix, end, NULL, &count, ret_error);
        if (r < 0)
                return r;
        if (count > 0)
                return error_set(ret_error, -EEXIST,
                                 "etcd prefix '%s' at %s holds %" PRId64
                                 " keys: a migration only copies into an empty prefix",
                                 s->prefix, etcd_endpoints(s->etcd), count);
        return 0;
}

static void etcd_store_free(struct store *base)
{
        struct store_etcd *s = ETCD(base);

        turn_reset(s);
        free(s->ops);
        stream_cache_clear(s);
        mods_clear(s);
        etcd_free(s->etcd);
        free(s->prefix);
        free(s->leader_key);
        free(s->unseen_update);
        if (s->commits > 0)
                log_debug("etcd store: %" PRIu64 " commits in %" PRIu64 " txns of %" PRIu64
                          " operations",
                          s->commits, s->txns, s->txn_ops);
        free(s);
}

static const struct store_ops store_etcd_ops = {
    .name = "etcd",
    .free = etcd_store_free,
    .change_begin = etcd_change_begin,
    .change_end = etcd_change_end,
    .in_transaction = etcd_in_transaction,
    .commit = etcd_commit,
    .set_epoch = etcd_set_epoch,
    .set_deadline = etcd_store_set_deadline,
    .task_put = etcd_task_put,
    .event_add = etcd_event_add,
    .update_seen = etcd_update_seen,
    .task_events = etcd_task_events,
    .agent_put = etcd_agent_put,
    .volume_put = etcd_volume_put,
    .volume_delete = etcd_volume_delete,
    .load_volumes = etcd_load_volumes,
    .task_delete = etcd_task_delete,
    .unapplied_sweep = etcd_unapplied_sweep,
    .load_agents = etcd_load_agents,
    .load_tasks = etcd_load_tasks,
    .history_import = etcd_history_import,
    .stream_bounds = etcd_stream_bounds,
    .stream_put = etcd_stream_put,
    .stream_range = etcd_stream_range,
    .stream_trim = etcd_stream_trim,
    .is_empty = etcd_is_empty,
};

int store_open_etcd(const char *endpoints, const struct tls_files *tls, const char *prefix,
                    struct store **ret, char **ret_error)
{
        struct store_etcd *s;
        int r;

        if (!prefix || prefix[0] != '/')
                return error_set(ret_error, -EINVAL,
                                 "etcd prefix '%s': must start with '/' (e.g. /silo/)",
                                 strempty(prefix));
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->base.ops = &store_etcd_ops;
        /* "/silo" and "/silo/" are one prefix: keys are "<prefix>/tasks/..." either way */
        if (asprintf(&s->prefix, "%s%s", prefix,
                     prefix[strlen(prefix) - 1] == '/' ? "" : "/") < 0) {
                free(s);
                return -ENOMEM;
        }
        s->leader_key = key_of(s, "leader");
        r = s->leader_key ? etcd_new(endpoints, 0, &s->etcd, ret_error) : -ENOMEM;
        if (r >= 0)
                r = etcd_set_tls(s->etcd, tls, ret_error);
        if (r < 0) {
                etcd_store_free(&s->base);
                return r;
        }
        s->pinning = true;
        r = state_read_meta(s, ret_error);
        if (r < 0) {
                etcd_store_free(&s->base);
                return error_wrap(ret_error, r, "etcd state under %s", prefix);
        }
        *ret = &s->base;
        return 0;
}

