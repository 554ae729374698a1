/* SPDX-License-Identifier: Apache-2.0 */
/* The master's state in SQLite (WAL), the default backend of store.h: one master, one file. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sqlite3.h>

#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "master/store-backend.h"
#include "common/error.h"
#include "common/id.h"

#define STORE_SCHEMA_VERSION 1

enum {
        STMT_BEGIN,
        STMT_COMMIT,
        STMT_ROLLBACK,
        STMT_SAVEPOINT,
        STMT_RELEASE,
        STMT_ROLLBACK_TO,
        STMT_TASK_PUT,
        STMT_EVENT_ADD,
        STMT_UPDATE_SEEN,
        STMT_TASK_EVENTS,
        STMT_AGENT_PUT,
        STMT_TASK_DELETE,
        STMT_TASK_EVENTS_DELETE,
        STMT_UNAPPLIED_EVENTS,
        STMT_EVENT_DELETE,
        STMT_STREAM_LAST,
        STMT_STREAM_OLDEST,
        STMT_STREAM_PUT,
        STMT_STREAM_RANGE,
        STMT_STREAM_TRIM,
        STMT_VOLUME_PUT,
        STMT_VOLUME_DELETE,
        _STMT_MAX,
};

static const char *const store_sql[_STMT_MAX] = {
    [STMT_BEGIN] = "BEGIN IMMEDIATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    [STMT_SAVEPOINT] = "SAVEPOINT change",
    [STMT_RELEASE] = "RELEASE change",
    [STMT_ROLLBACK_TO] = "ROLLBACK TO change",
    [STMT_TASK_PUT] = "INSERT OR REPLACE INTO tasks(id, spec, state, reason, message, agent_id, "
                      "disks, exit_code, "
                      "signal, launch_attempts, kill_requested, created_ms, updated_ms, seq, "
                      "ports_chosen) "
                      "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    [STMT_EVENT_ADD] =
        "INSERT INTO task_events(task_id, update_id, source, agent_id, state, reason, exit_code, "
        "signal, message, timestamp_ms, applied) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
        "?11)",
    [STMT_UPDATE_SEEN] = "SELECT 1 FROM task_events WHERE update_id = ?1",
    [STMT_TASK_EVENTS] =
        "SELECT seq, update_id, source, agent_id, state, reason, exit_code, signal, message, "
        "timestamp_ms, applied FROM task_events WHERE task_id = ?1 ORDER BY seq",
    [STMT_AGENT_PUT] =
        "INSERT OR REPLACE INTO agents(id, registration, state, registered_ms, updated_ms) "
        "VALUES(?1, ?2, ?3, ?4, ?5)",
    [STMT_TASK_DELETE] = "DELETE FROM tasks WHERE id = ?1",
    [STMT_TASK_EVENTS_DELETE] = "DELETE FROM task_events WHERE task_id = ?1",
    /* through the partial index task_events_unapplied: never a scan of the whole history */
    [STMT_UNAPPLIED_EVENTS] = "SELECT seq, task_id, timestamp_ms FROM task_events "
                              "WHERE applied = 0 AND seq > ?1 ORDER BY seq LIMIT ?2",
    [STMT_EVENT_DELETE] = "DELETE FROM task_events WHERE seq = ?1",
    [STMT_STREAM_LAST] = "SELECT COALESCE(MAX(idx), 0) FROM events",
    [STMT_STREAM_OLDEST] = "SELECT COALESCE(MIN(idx), 0) FROM events",
    [STMT_STREAM_PUT] = "INSERT INTO events(idx, type, task_id, role, line) "
                        "VALUES(?1, ?2, ?3, ?4, ?5)",
    [STMT_STREAM_RANGE] = "SELECT idx, type, task_id, role, line FROM events WHERE idx > ?1 "
                          "ORDER BY idx LIMIT ?2",
    [STMT_STREAM_TRIM] = "DELETE FROM events WHERE idx <= ?1",
    [STMT_VOLUME_PUT] = "INSERT OR REPLACE INTO volumes(name, record) VALUES(?1, ?2)",
    [STMT_VOLUME_DELETE] = "DELETE FROM volumes WHERE name = ?1",
};

struct store_sqlite {
        struct store base;
        sqlite3 *db;
        sqlite3_stmt *stmt[_STMT_MAX];
};

static struct store_sqlite *SQL(struct store *s)
{
        return (struct store_sqlite *)s;
}


/* SQLite result codes to -errno, keeping "disk full" and "busy" distinguishable. */
static int sqlite_errno(int rc)
{
        switch (rc & 0xff) {
        case SQLITE_OK:
        case SQLITE_DONE:
        case SQLITE_ROW:
                return 0;
        case SQLITE_CONSTRAINT:
                return -EEXIST;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_READONLY:
        case SQLITE_PERM:
        case SQLITE_AUTH:
                return -EACCES;
        case SQLITE_CANTOPEN:
                return -ENOENT;
        default:
                return -EIO;
        }
}

static const char *const store_schema =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS agents("
    "  id TEXT PRIMARY KEY, registration TEXT NOT NULL, state TEXT NOT NULL,"
    "  registered_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS tasks("
    "  id TEXT PRIMARY KEY, spec TEXT NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL,"
    "  message TEXT, agent_id TEXT, disks TEXT, exit_code INTEGER NOT NULL, signal INTEGER NOT "
    "NULL,"
    "  launch_attempts INTEGER NOT NULL, kill_requested INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, seq INTEGER NOT NULL,"
    "  ports_chosen INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS task_events("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL, update_id TEXT UNIQUE,"
    "  source TEXT NOT NULL, agent_id TEXT, state TEXT NOT NULL, reason TEXT NOT NULL,"
    "  exit_code INTEGER NOT NULL, signal INTEGER NOT NULL, message TEXT,"
    "  timestamp_ms INTEGER NOT NULL, applied INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS task_events_task ON task_events(task_id);"
    /* Updates that changed nothing (among them those for unknown tasks), for retention. */
    "CREATE INDEX IF NOT EXISTS task_events_unapplied ON task_events(seq) WHERE applied = 0;"
    /* The event stream (master/events.c): one row per event, its index the rowid; the columns
     * beside the line are what the stream's filters look at. Kept in a window of the newest. */
    "CREATE TABLE IF NOT EXISTS events("
    "  idx INTEGER PRIMARY KEY, type TEXT NOT NULL, task_id TEXT, role TEXT,"
    "  line TEXT NOT NULL);"
    /* Persistent volumes (master/volumes.c): the record as master_volume_record() makes it. */
    "CREATE TABLE IF NOT EXISTS volumes(name TEXT PRIMARY KEY, record TEXT NOT NULL);"
    "INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', '1');";

/* Give the path exactly `mode` and say so when it had another: an older master (or a umask)
 * left the state readable by every local user. */
static int store_path_restrict(const char *path, mode_t mode, bool must_exist)
{
        mode_t old = 0;
        int r;

        r = path_mode_enforce(path, mode, &old);
        if (r == -ENOENT && !must_exist)
                return 0;
        if (r < 0)
                return log_error_errno(r, "Failed to make %s private (mode %04o): %m", path,
                                       (unsigned)mode);
        if (r > 0)
                log_warning("%s: mode %04o changed to %04o: the master's state is private", path,
                            (unsigned)(old & 07777), (unsigned)mode);
        return 0;
}

/* The state directory 0700, the database and its WAL and SHM 0600, whatever existed before:
 * they hold every task spec (commands, environment) and every agent's address. A new database
 * is created 0600 here, before SQLite creates it with the umask's mode; SQLite then gives the
 * WAL and SHM the database's mode. */
static int store_files_secure(const char *path)
{
        _cleanup_free_ char *copy = strdup(path), *wal = NULL, *shm = NULL;
        int fd, r;

        if (!copy || asprintf(&wal, "%s-wal", path) < 0 || asprintf(&shm, "%s-shm", path) < 0)
                return -ENOMEM;
        /* "<state-dir>/master.db": the state directory (never the cwd of a bare name) */
        if (strchr(path, '/')) {
                r = store_path_restrict(dirname(copy), 0700, true);
                if (r < 0)
                        return r;
        }
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return log_error_errno(negative_errno(), "Failed to open %s: %m", path);
        close(fd);
        r = store_path_restrict(path, 0600, true);
        if (r >= 0)
                r = store_path_restrict(wal, 0600, false);
        if (r >= 0)
                r = store_path_restrict(shm, 0600, false);
        return r;
}

/* A database written before tasks had ports_chosen gets the column (0: no host port of theirs
 * was chosen, true of every task of that time, which had no port mappings). */
static int store_tasks_upgrade(sqlite3 *db, char **errmsg)
{
        sqlite3_stmt *st = NULL;
        bool has = false;
        int rc;

        rc = sqlite3_prepare_v2(
            db, "SELECT 1 FROM pragma_table_info('tasks') WHERE name = 'ports_chosen'", -1, &st,
            NULL);
        if (rc == SQLITE_OK) {
                rc = sqlite3_step(st);
                has = rc == SQLITE_ROW;
                rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_OK || has)
                return rc;
        return sqlite3_exec(db,
                            "ALTER TABLE tasks ADD COLUMN ports_chosen INTEGER NOT NULL DEFAULT 0",
                            NULL, NULL, errmsg);
}

static void sqlite_free(struct store *base)
{
        struct store_sqlite *s = SQL(base);

        for (int i = 0; i < _STMT_MAX; i++)
                sqlite3_finalize(s->stmt[i]);
        sqlite3_close(s->db);
        free(s);
}

/* Run a prepared statement that returns no rows, then reset it for the next use. */
static int store_step_done(struct store_sqlite *s, sqlite3_stmt *st)
{
        int rc = sqlite3_step(st);
        int r = rc == SQLITE_DONE ? 0 : sqlite_errno(rc);

        if (r < 0)
                log_debug("sqlite: %s", sqlite3_errmsg(s->db));
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return r;
}

static bool sqlite_in_transaction(struct store *base)
{
        struct store_sqlite *s = SQL(base);

        return !sqlite3_get_autocommit(s->db);
}

static int sqlite_change_begin(struct store *base)
{
        struct store_sqlite *s = SQL(base);

        int r;

        if (!sqlite_in_transaction(&s->base)) {
                r = store_step_done(s, s->stmt[STMT_BEGIN]);
                if (r < 0)
                        return r;
        }
        return store_step_done(s, s->stmt[STMT_SAVEPOINT]);
}

static int sqlite_change_end(struct store *base, int r)
{
        struct store_sqlite *s = SQL(base);

        int q;

        if (r < 0)
                (void)store_step_done(s, s->stmt[STMT_ROLLBACK_TO]);
        q = store_step_done(s, s->stmt[STMT_RELEASE]);
        return r < 0 ? r : q;
}

static int sqlite_commit(struct store *base)
{
        struct store_sqlite *s = SQL(base);

        int r;

        if (!sqlite_in_transaction(&s->base))
                return 0;
        r = store_step_done(s, s->stmt[STMT_COMMIT]);
        if (r < 0 && sqlite_in_transaction(&s->base))
                (void)store_step_done(s, s->stmt[STMT_ROLLBACK]);
        return r;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
        if (v)
                sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
        else
                sqlite3_bind_null(st, i);
}

static int sqlite_task_put(struct store *base, const struct master_task *t)
{
        struct store_sqlite *s = SQL(base);

        sqlite3_stmt *st = s->stmt[STMT_TASK_PUT];
        _cleanup_free_ char *spec = NULL, *disks = NULL;
        json_t *arr;

        spec = silo_task_spec_to_string(t->spec);
        if (!spec)
                return -ENOMEM;
        arr = json_array();
        if (!arr)
                return -ENOMEM;
        for (size_t i = 0; i < t->n_disks; i++)
                json_array_append_new(arr, t->disks[i] ? json_string(t->disks[i]) : json_null());
        disks = json_dumps(arr, JSON_COMPACT);
        json_decref(arr);
        if (!disks)
                return -ENOMEM;

        bind_text(st, 1, t->id);
        bind_text(st, 2, spec);
        bind_text(st, 3, silo_task_state_to_string(t->state));
        bind_text(st, 4, silo_task_reason_to_string(t->reason));
        bind_text(st, 5, t->message);
        bind_text(st, 6, t->agent_id);
        bind_text(st, 7, disks);
        sqlite3_bind_int(st, 8, t->exit_code);
        sqlite3_bind_int(st, 9, t->signal);
        sqlite3_bind_int64(st, 10, (sqlite3_int64)t->launch_attempts);
        sqlite3_bind_int(st, 11, t->kill_requested);
        sqlite3_bind_int64(st, 12, (sqlite3_int64)t->created_ms);
        sqlite3_bind_int64(st, 13, (sqlite3_int64)t->updated_ms);
        sqlite3_bind_int64(st, 14, (sqlite3_int64)t->seq);
        sqlite3_bind_int64(st, 15, (sqlite3_int64)t->ports_chosen);
        return store_step_done(s, st);
}

static int sqlite_event_add(struct store *base, const struct store_event *e)
{
        struct store_sqlite *s = SQL(base);

        sqlite3_stmt *st = s->stmt[STMT_EVENT_ADD];

        bind_text(st, 1, e->task_id);
        bind_text(st, 2, e->update_id);
        bind_text(st, 3, e->source);
        bind_text(st, 4, e->agent_id);
        bind_text(st, 5, silo_task_state_to_string(e->state));
        bind_text(st, 6, silo_task_reason_to_string(e->reason));
        sqlite3_bind_int(st, 7, e->exit_code);
        sqlite3_bind_int(st, 8, e->signal);
        bind_text(st, 9, e->message);
        sqlite3_bind_int64(st, 10, (sqlite3_int64)e->timestamp_ms);
        sqlite3_bind_int(st, 11, e->applied);
        return store_step_done(s, st);
}

static int sqlite_update_seen(struct store *base, const char *update_id)
{
        struct store_sqlite *s = SQL(base);

        sqlite3_stmt *st = s->stmt[STMT_UPDATE_SEEN];
        int rc, r;

        bind_text(st, 1, update_id);
        rc = sqlite3_step(st);
        r = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : sqlite_errno(rc);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return r;
}

static json_t *column_json_text(sqlite3_stmt *st, int i)
{
        const unsigned char *v = sqlite3_column_text(st, i);

        return v ? json_string((const char *)v) : json_null();
}

static int sqlite_task_events(struct store *base, const char *task_id, json_t **ret)
{
        struct store_sqlite *s = SQL(base);

        sqlite3_stmt *st = s->stmt[STMT_TASK_EVENTS];
        json_t *arr = json_array();
        int rc;

        if (!arr)
                return -ENOMEM;
        bind_text(st, 1, task_id);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                json_t *e = json_object();

                json_object_set_new(e, "seq", json_integer(sqlite3_column_int64(st, 0)));
                json_object_set_new(e, "update_id", column_json_text(st, 1));
                json_object_set_new(e, "source", column_json_text(st, 2));
                json_object_set_new(e, "agent_id", column_json_text(st, 3));
                json_object_set_new(e, "state", column_json_text(st, 4));
                json_object_set_new(e, "reason", column_json_text(st, 5));
                json_object_set_new(e, "exit_code", json_integer(sqlite3_column_int(st, 6)));
                json_object_set_new(e, "signal", json_integer(sqlite3_column_int(st, 7)));
                json_object_set_new(e, "message", column_json_text(st, 8));
                json_object_set_new(e, "timestamp_ms", json_integer(sqlite3_column_int64(st, 9)));
                json_object_set_new(e, "applied", json_boolean(sqlite3_column_int(st, 10)));
                json_array_append_new(arr, e);
        }
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (rc != SQLITE_DONE) {
                json_decref(arr);
                return sqlite_errno(rc);
        }
        *ret = arr;
        return 0;
}

static int sqlite_agent_put(struct store *base, const struct master_agent *a)
{
        struct store_sqlite *s = SQL(base);

        sqlite3_stmt *st = s->stmt[STMT_AGENT_PUT];
        _cleanup_free_ char *reg = silo_agent_registration_to_string(a->reg);

        if (!reg)
                return -ENOMEM;
        bind_text(st, 1, a->id);
        bind_text(st, 2, reg);
        bind_text(st, 3, a->state == MASTER_AGENT_ACTIVE ? "ACTIVE" : "LOST");
        sqlite3_bind_int64(st, 4, (sqlite3_int64)a->registered_ms);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)a->updated_ms);
        return store_step_done(s, st);
}

static int sqlite_volume_put(struct store *base, const struct master_volume *v)
{
        struct store_sqlite *s = SQL(base);
        sqlite3_stmt *st = s->stmt[STMT_VOLUME_PUT];
        json_t *j = master_volume_record(v);
        _cleanup_free_ char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

        json_decref(j);
        if (!text)
                return -ENOMEM;
        bind_text(st, 1, v->name);
        bind_text(st, 2, text);
        return store_step_done(s, st);
}

static int sqlite_volume_delete(struct store *base, const char *name)
{
        struct store_sqlite *s = SQL(base);

        bind_text(s->stmt[STMT_VOLUME_DELETE], 1, name);
        return store_step_done(s, s->stmt[STMT_VOLUME_DELETE]);
}

/* Run a SELECT and hand each row to `row`; stops at the first error, which it returns. */
static int store_each_row(struct store_sqlite *s, const char *sql,
                          int (*row)(sqlite3_stmt *st, void *ctx), void *ctx)
{
        sqlite3_stmt *st = NULL;
        int rc, r = 0;

        rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
        if (rc != SQLITE_OK)
                return sqlite_errno(rc);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                r = row(st, ctx);
                if (r < 0)
                        break;
        }
        if (r == 0 && rc != SQLITE_DONE)
                r = sqlite_errno(rc);
        sqlite3_finalize(st);
        return r;
}

struct load_agents {
        int (*cb)(struct master_agent *a, void *userdata);
        void *userdata;
};

static int agent_row(sqlite3_stmt *st, void *ctx)
{
        const struct load_agents *l = ctx;
        _cleanup_free_ char *err = NULL;
        struct master_agent *a = NULL;
        int r;

        r = master_agent_new((const char *)sqlite3_column_text(st, 0), &a);
        if (r < 0)
                return r;
        r = silo_agent_registration_from_string((const char *)sqlite3_column_text(st, 1), &a->reg,
                                                &err);
        if (r < 0) {
                log_debug("agent %s in the database: %s", a->id, strempty(err));
                master_agent_free(a);
                return -EBADMSG;
        }
        a->state = streq((const char *)sqlite3_column_text(st, 2), "ACTIVE") ? MASTER_AGENT_ACTIVE
                                                                              : MASTER_AGENT_LOST;
        a->registered_ms = (uint64_t)sqlite3_column_int64(st, 3);
        a->updated_ms = (uint64_t)sqlite3_column_int64(st, 4);
        return l->cb(a, l->userdata);
}

static int sqlite_load_agents(struct store *base, int (*cb)(struct master_agent *a, void *userdata),
                      void *userdata)
{
        struct store_sqlite *s = SQL(base);

        struct load_agents l = {cb, userdata};

        return store_each_row(
            s, "SELECT id, registration, state, registered_ms, updated_ms FROM agents", agent_row,
            &l);
}

struct load_volumes {
        int (*cb)(struct master_volume *v, void *userdata);
        void *userdata;
};

static int volume_row(sqlite3_stmt *st, void *ctx)
{
        const struct load_volumes *l = ctx;
        const char *name = (const char *)sqlite3_column_text(st, 0);
        _cleanup_free_ char *err = NULL;
        struct master_volume *v = NULL;
        int r;

        r = master_volume_from_record(name, (const char *)sqlite3_column_text(st, 1),
                                      (size_t)sqlite3_column_bytes(st, 1), &v, &err);
        if (r < 0) {
                log_error("volume %s in the database: %s", strempty(name), strempty(err));
                return r;
        }
        return l->cb(v, l->userdata);
}

static int sqlite_load_volumes(struct store *base,
                               int (*cb)(struct master_volume *v, void *userdata), void *userdata)
{
        struct load_volumes l = {cb, userdata};

        return store_each_row(SQL(base), "SELECT name, record FROM volumes ORDER BY name",
                              volume_row, &l);
}

/* The chosen disks, stored as a JSON array of names (null for none). */
static void task_disks_parse(struct master_task *t, const char *text)
{
        json_t *disks = text ? json_loads(text, 0, NULL) : NULL;

        if (json_is_array(disks) && json_array_size(disks) > 0) {
                t->n_disks = json_array_size(disks);
                t->disks = calloc(t->n_disks, sizeof(char *));
                for (size_t i = 0; t->disks && i < t->n_disks; i++) {
                        const char *d = json_string_value(json_array_get(disks, i));
                        t->disks[i] = d ? strdup(d) : NULL;
                }
        }
        json_decref(disks);
}

struct load_tasks {
        int (*cb)(struct master_task *t, void *userdata);
        void *userdata;
};

static int task_row(sqlite3_stmt *st, void *ctx)
{
        const struct load_tasks *l = ctx;
        struct master_task *t = calloc(1, sizeof(*t));
        _cleanup_free_ char *err = NULL;
        const char *text;
        int state, reason, r;

        if (!t)
                return -ENOMEM;
        t->id = strdup((const char *)sqlite3_column_text(st, 0));
        r = silo_task_spec_from_string((const char *)sqlite3_column_text(st, 1), &t->spec, &err);
        state = silo_task_state_from_string((const char *)sqlite3_column_text(st, 2));
        reason = silo_task_reason_from_string((const char *)sqlite3_column_text(st, 3));
        if (r < 0 || !t->id || state < 0 || reason < 0) {
                log_debug("task %s in the database: %s", strempty(t->id), strempty(err));
                master_task_free(t);
                return -EBADMSG;
        }
        t->state = state;
        t->reason = reason;
        if ((text = (const char *)sqlite3_column_text(st, 4)))
                t->message = strdup(text);
        if ((text = (const char *)sqlite3_column_text(st, 5)))
                t->agent_id = strdup(text);
        task_disks_parse(t, (const char *)sqlite3_column_text(st, 6));
        t->exit_code = sqlite3_column_int(st, 7);
        t->signal = sqlite3_column_int(st, 8);
        t->launch_attempts = (uint64_t)sqlite3_column_int64(st, 9);
        t->kill_requested = sqlite3_column_int(st, 10) != 0;
        t->created_ms = (uint64_t)sqlite3_column_int64(st, 11);
        t->updated_ms = (uint64_t)sqlite3_column_int64(st, 12);
        t->seq = (uint64_t)sqlite3_column_int64(st, 13);
        t->ports_chosen = (uint64_t)sqlite3_column_int64(st, 14);
        return l->cb(t, l->userdata);
}

static int sqlite_load_tasks(struct store *base, int (*cb)(struct master_task *t, void *userdata),
                     void *userdata)
{
        struct store_sqlite *s = SQL(base);

        struct load_tasks l = {cb, userdata};

        return store_each_row(
            s,
            "SELECT id, spec, state, reason, message, agent_id, disks, exit_code, signal, "
            "launch_attempts, kill_requested, created_ms, updated_ms, seq, ports_chosen FROM tasks "
            "ORDER BY seq",
            task_row, &l);
}

static int sqlite_task_delete(struct store *base, const char *task_id)
{
        struct store_sqlite *s = SQL(base);

        int r;

        bind_text(s->stmt[STMT_TASK_EVENTS_DELETE], 1, task_id);
        r = store_step_done(s, s->stmt[STMT_TASK_EVENTS_DELETE]);
        if (r < 0)
                return r;
        bind_text(s->stmt[STMT_TASK_DELETE], 1, task_id);
        return store_step_done(s, s->stmt[STMT_TASK_DELETE]);
}

static int sqlite_unapplied_sweep(struct store *base, uint64_t *cursor, uint64_t before_ms, size_t max,
                          bool (*task_known)(const char *task_id, void *userdata),
                          void *userdata, size_t *ret_deleted)
{
        struct store_sqlite *s = SQL(base);

        sqlite3_stmt *st = s->stmt[STMT_UNAPPLIED_EVENTS];
        _cleanup_free_ int64_t *doomed = NULL;
        size_t n = 0, deleted = 0;
        uint64_t next = *cursor;
        int rc, r = 0;

        doomed = calloc(max ? max : 1, sizeof(*doomed));
        if (!doomed)
                return -ENOMEM;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)*cursor);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                int64_t seq = sqlite3_column_int64(st, 0);
                const char *task_id = (const char *)sqlite3_column_text(st, 1);
                uint64_t ts = (uint64_t)sqlite3_column_int64(st, 2);

                if (task_id && task_known(task_id, userdata)) {
                        next = (uint64_t)seq; /* goes with its task */
                        continue;
                }
                if (ts >= before_ms)
                        break; /* the rest are younger (in order of arrival) */
                doomed[n++] = seq;
                next = (uint64_t)seq;
        }
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                r = sqlite_errno(rc);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        /* Only a sweep that deletes something opens (joins) the turn's transaction. */
        if (r >= 0 && n > 0) {
                r = sqlite_change_begin(&s->base);
                for (size_t i = 0; r >= 0 && i < n; i++) {
                        sqlite3_bind_int64(s->stmt[STMT_EVENT_DELETE], 1, doomed[i]);
                        r = store_step_done(s, s->stmt[STMT_EVENT_DELETE]);
                }
                r = sqlite_change_end(&s->base, r);
                if (r >= 0)
                        deleted = n;
        }
        if (r < 0)
                return r;
        *cursor = next;
        *ret_deleted = deleted;
        return 0;
}

/* One integer from a one-row statement. */
static int store_step_u64(struct store_sqlite *s, sqlite3_stmt *st, uint64_t *ret)
{
        int rc = sqlite3_step(st);
        int r = rc == SQLITE_ROW ? 0 : sqlite_errno(rc ? rc : SQLITE_ERROR);

        if (rc == SQLITE_ROW)
                *ret = (uint64_t)sqlite3_column_int64(st, 0);
        else
                log_debug("sqlite: %s", sqlite3_errmsg(s->db));
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return r;
}

static int sqlite_stream_bounds(struct store *base, uint64_t *ret_oldest, uint64_t *ret_last)
{
        struct store_sqlite *s = SQL(base);

        uint64_t oldest = 0, last = 0;
        int r;

        r = store_step_u64(s, s->stmt[STMT_STREAM_OLDEST], &oldest);
        if (r >= 0)
                r = store_step_u64(s, s->stmt[STMT_STREAM_LAST], &last);
        if (r < 0)
                return r;
        *ret_oldest = oldest;
        *ret_last = last;
        return 0;
}

static int sqlite_stream_put(struct store *base, const struct store_stream_event *e)
{
        struct store_sqlite *s = SQL(base);

        sqlite3_stmt *st = s->stmt[STMT_STREAM_PUT];

        sqlite3_bind_int64(st, 1, (sqlite3_int64)e->index);
        bind_text(st, 2, e->type);
        bind_text(st, 3, e->task_id);
        bind_text(st, 4, e->role);
        bind_text(st, 5, e->line);
        return store_step_done(s, st);
}

static int sqlite_stream_range(struct store *base, uint64_t after, size_t max,
                       int (*cb)(const struct store_stream_event *e, void *userdata),
                       void *userdata)
{
        struct store_sqlite *s = SQL(base);

        sqlite3_stmt *st = s->stmt[STMT_STREAM_RANGE];
        int rc, r = 0;

        sqlite3_bind_int64(st, 1, (sqlite3_int64)after);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)MIN(max, (size_t)INT64_MAX));
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                struct store_stream_event e = {
                    .index = (uint64_t)sqlite3_column_int64(st, 0),
                    .type = (const char *)sqlite3_column_text(st, 1),
                    .task_id = (const char *)sqlite3_column_text(st, 2),
                    .role = (const char *)sqlite3_column_text(st, 3),
                    .line = (const char *)sqlite3_column_text(st, 4),
                };

                if (!e.type || !e.line) {
                        r = -EBADMSG;
                        break;
                }
                r = cb(&e, userdata);
                if (r != 0)
                        break;
        }
        if (r == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
                r = sqlite_errno(rc);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return r < 0 ? r : 0;
}

static int sqlite_stream_trim(struct store *base, uint64_t upto)
{
        struct store_sqlite *s = SQL(base);

        int r;

        r = sqlite_change_begin(&s->base);
        if (r < 0)
                return r;
        sqlite3_bind_int64(s->stmt[STMT_STREAM_TRIM], 1, (sqlite3_int64)upto);
        r = store_step_done(s, s->stmt[STMT_STREAM_TRIM]);
        return sqlite_change_end(&s->base, r);
}

/* The cluster id, made with the state (or at the first start of a state made before cluster
 * ids): an SQLite return code, *errmsg set by sqlite3_exec on failure. */
static int sqlite_cluster_id(struct store_sqlite *s, char **errmsg)
{
        _cleanup_free_ char *id = NULL, *sql = NULL;
        sqlite3_stmt *st = NULL;
        int rc;

        if (id_uuid_new(&id) < 0 ||
            asprintf(&sql, "INSERT OR IGNORE INTO meta(key, value) VALUES('cluster_id', '%s');",
                     id) < 0)
                return SQLITE_NOMEM;
        rc = sqlite3_exec(s->db, sql, NULL, NULL, errmsg);
        if (rc != SQLITE_OK)
                return rc;
        rc = sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'cluster_id'", -1, &st,
                                NULL);
        if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
                snprintf(s->base.cluster_id, sizeof(s->base.cluster_id), "%s",
                         (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        return rc;
}

static int sqlite_set_epoch(struct store *base, uint64_t epoch)
{
        base->epoch = epoch;
        return 0;
}

struct history_each {
        int (*cb)(uint64_t seq, const struct store_event *e, void *userdata);
        void *userdata;
};

static int history_row(sqlite3_stmt *st, void *ctx)
{
        const struct history_each *h = ctx;
        int state = silo_task_state_from_string((const char *)sqlite3_column_text(st, 5));
        int reason = silo_task_reason_from_string((const char *)sqlite3_column_text(st, 6));
        struct store_event e = {
            .task_id = (const char *)sqlite3_column_text(st, 1),
            .update_id = (const char *)sqlite3_column_text(st, 2),
            .source = (const char *)sqlite3_column_text(st, 3),
            .agent_id = (const char *)sqlite3_column_text(st, 4),
            .exit_code = sqlite3_column_int(st, 7),
            .signal = sqlite3_column_int(st, 8),
            .message = (const char *)sqlite3_column_text(st, 9),
            .timestamp_ms = (uint64_t)sqlite3_column_int64(st, 10),
            .applied = sqlite3_column_int(st, 11) != 0,
        };

        if (!e.task_id || state < 0 || reason < 0)
                return -EBADMSG;
        e.state = state;
        e.reason = reason;
        return h->cb((uint64_t)sqlite3_column_int64(st, 0), &e, h->userdata);
}

/* Every history event in order, for a migration. */
static int sqlite_history_each(struct store *base,
                               int (*cb)(uint64_t seq, const struct store_event *e, void *userdata),
                               void *userdata)
{
        struct history_each h = {cb, userdata};

        return store_each_row(SQL(base),
                              "SELECT seq, task_id, update_id, source, agent_id, state, reason, "
                              "exit_code, signal, message, timestamp_ms, applied FROM task_events "
                              "ORDER BY seq",
                              history_row, &h);
}

static const struct store_ops store_sqlite_ops = {
    .name = "sqlite",
    .free = sqlite_free,
    .change_begin = sqlite_change_begin,
    .change_end = sqlite_change_end,
    .in_transaction = sqlite_in_transaction,
    .commit = sqlite_commit,
    .set_epoch = sqlite_set_epoch,
    .task_put = sqlite_task_put,
    .event_add = sqlite_event_add,
    .update_seen = sqlite_update_seen,
    .task_events = sqlite_task_events,
    .agent_put = sqlite_agent_put,
    .volume_put = sqlite_volume_put,
    .volume_delete = sqlite_volume_delete,
    .load_volumes = sqlite_load_volumes,
    .task_delete = sqlite_task_delete,
    .unapplied_sweep = sqlite_unapplied_sweep,
    .load_agents = sqlite_load_agents,
    .load_tasks = sqlite_load_tasks,
    .history_each = sqlite_history_each,
    .stream_bounds = sqlite_stream_bounds,
    .stream_put = sqlite_stream_put,
    .stream_range = sqlite_stream_range,
    .stream_trim = sqlite_stream_trim,
};

int store_open(const char *path, struct store **ret, char **ret_error)
{
        struct store_sqlite *s;
        char *errmsg = NULL;
        int rc, q;

        q = store_files_secure(path);
        if (q < 0)
                return error_set(ret_error, q, "database %s: cannot make it private: %s", path,
                                 strerror(-q));
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        rc = sqlite3_open_v2(
            path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc != SQLITE_OK) {
                int r = error_set(ret_error, sqlite_errno(rc), "database %s: %s", path,
                                    s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
                sqlite_free(&s->base);
                return r;
        }
        sqlite3_busy_timeout(s->db, 5000);
        /* WAL keeps readers and the writer apart and makes commits one sequential append;
         * synchronous=FULL fsyncs the WAL at every commit, the durability the API promises. */
        rc = sqlite3_exec(
            s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
            NULL, NULL, &errmsg);
        if (rc == SQLITE_OK)
                rc = sqlite3_exec(s->db, store_schema, NULL, NULL, &errmsg);
        if (rc == SQLITE_OK)
                rc = store_tasks_upgrade(s->db, &errmsg);
        if (rc != SQLITE_OK) {
                int r = error_set(ret_error, sqlite_errno(rc), "database %s: %s", path,
                                    errmsg ? errmsg : sqlite3_errstr(rc));
                sqlite3_free(errmsg);
                sqlite_free(&s->base);
                return r;
        }
        {
                sqlite3_stmt *st = NULL;
                int version = 0;

                if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'schema_version'",
                                       -1, &st, NULL) == SQLITE_OK &&
                    sqlite3_step(st) == SQLITE_ROW)
                        version = atoi((const char *)sqlite3_column_text(st, 0));
                sqlite3_finalize(st);
                if (version != STORE_SCHEMA_VERSION) {
                        sqlite_free(&s->base);
                        return error_set(
                            ret_error, -EPROTO,
                            "database %s: schema version %d, this master understands %d", path,
                            version, STORE_SCHEMA_VERSION);
                }
        }
        for (int i = 0; i < _STMT_MAX; i++) {
                rc = sqlite3_prepare_v3(s->db, store_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                        &s->stmt[i], NULL);
                if (rc != SQLITE_OK) {
                        int r = error_set(ret_error, sqlite_errno(rc),
                                            "database %s: preparing '%s': %s", path, store_sql[i],
                                            sqlite3_errmsg(s->db));
                        sqlite_free(&s->base);
                        return r;
                }
        }
        s->base.ops = &store_sqlite_ops;
        /* Another master start: its epoch is one more than the last one's (agents refuse
         * calls from an older epoch; see store.h). */
        rc = sqlite3_exec(s->db,
                          "INSERT OR IGNORE INTO meta(key, value) VALUES('epoch', '0');"
                          "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'epoch';",
                          NULL, NULL, &errmsg);
        if (rc == SQLITE_OK) {
                sqlite3_stmt *st = NULL;

                rc = sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'epoch'", -1,
                                        &st, NULL);
                if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
                        s->base.epoch = (uint64_t)sqlite3_column_int64(st, 0);
                sqlite3_finalize(st);
        }
        if (rc == SQLITE_OK)
                rc = sqlite_cluster_id(s, &errmsg);
        if (rc != SQLITE_OK) {
                int r = error_set(ret_error, sqlite_errno(rc), "database %s: the epoch: %s", path,
                                  errmsg ? errmsg : sqlite3_errstr(rc));
                sqlite3_free(errmsg);
                sqlite_free(&s->base);
                return r;
        }
        *ret = &s->base;
        return 0;
}
