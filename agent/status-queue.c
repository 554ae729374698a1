/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's durable status-update queue: one atomically written file per update, in order. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/status-queue.h"
#include "common/array.h"
#include "common/fileio.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/protocol-json.h"

/* An entry's sequence number, zero-padded so that names sort in queue order. */
#define STATUS_SEQ_DIGITS 20

struct status_queue {
        char *dir;
        struct status_entry *v;
        size_t n, alloc;
        uint64_t next_seq;
        uint64_t pushed_total, acked_total;
        status_queue_notify_fn notify;
        void *notify_userdata;
};

struct status_queue *status_queue_free(struct status_queue *q)
{
        if (!q)
                return NULL;
        free(q->v);
        free(q->dir);
        free(q);
        return NULL;
}

void status_queue_set_notify(struct status_queue *q, status_queue_notify_fn fn, void *userdata)
{
        q->notify = fn;
        q->notify_userdata = userdata;
}

void status_update_id_make(const char *task_id, uint64_t task_created_ms, silo_task_state state,
                           char ret_id[static 37])
{
        const char *s = silo_task_state_to_string(state);
        uint64_t h = HASH_FNV1A_OFFSET, hi, lo;

        /* FNV-1a then the splitmix64 finaliser (common/hash.h): enough mixing for ids that only
         * need to be unique among the transitions of one agent's tasks, without a crypto
         * library; deterministic, so a transition re-queued after a restart keeps its id. */
        h = hash_fnv1a(h, task_id, strlen(task_id) + 1);
        h = hash_fnv1a(h, &task_created_ms, sizeof(task_created_ms));
        h = hash_fnv1a(h, s, strlen(s) + 1);
        hi = hash_mix64(h);
        lo = hash_mix64(h ^ 0x9e3779b97f4a7c15ULL);
        /* RFC 9562 version 8 (custom) UUID, variant 10. */
        hi = (hi & ~0xf000ULL) | 0x8000ULL;
        lo = (lo & ~(3ULL << 62)) | (2ULL << 62);
        snprintf(ret_id, 37, "%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%012" PRIx64,
                 hi >> 32, (hi >> 16) & 0xffff, hi & 0xffff, lo >> 48, lo & (uint64_t)0xffffffffffffULL);
}

static int entry_cmp(const void *a, const void *b)
{
        const struct status_entry *x = a, *y = b;

        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The one name of an update's file: "<dir>/<seq, 20 digits>-<update id>.json"; the
 * zero-padded number makes the lexical order of the names the queue order, for humans
 * running ls. NULL on ENOMEM. */
static char *status_entry_path(const struct status_queue *q, uint64_t seq, const char *update_id)
{
        char *path;

        return asprintf(&path, "%s/%020" PRIu64 "-%s.json", q->dir, seq, update_id) < 0 ? NULL : path;
}

/* "<seq>-<uuid>.json" -> seq and id; false for anything else (temp files, .bad, strays). */
static bool status_file_parse(const char *name, uint64_t *ret_seq, char ret_id[static ID_UUID_LEN + 1])
{
        size_t len = strlen(name);
        const char *dash;
        char *end;
        uint64_t seq;

        if (len < 7 || !streq(name + len - 5, ".json"))
                return false;
        dash = strchr(name, '-');
        /* Exactly the 20 digits status_entry_path() writes: any other spelling of the same
         * number would load, but its ack would unlink a different name (ENOENT, ignored) and
         * the update would be sent again after every restart. */
        if (!dash || dash - name != STATUS_SEQ_DIGITS || dash + 1 >= name + len - 5 ||
            strspn(name, "0123456789") != STATUS_SEQ_DIGITS)
                return false;
        errno = 0;
        seq = strtoull(name, &end, 10);
        if (errno != 0 || end != dash || (size_t)(name + len - 5 - (dash + 1)) > ID_UUID_LEN)
                return false;
        snprintf(ret_id, ID_UUID_LEN + 1, "%.*s", (int)(name + len - 5 - (dash + 1)), dash + 1);
        *ret_seq = seq;
        return true;
}

/* Check one update file; -EBADMSG when it is not a valid update with the id its name says. */
static int status_entry_check(const char *path, const char *id)
{
        _cleanup_(silo_status_update_freep) struct silo_status_update *u = NULL;
        _cleanup_free_ char *text = NULL;
        int r;

        r = file_read_full(path, 1u << 20, &text, NULL);
        if (r < 0)
                return r;
        r = silo_status_update_from_string(text, &u, NULL);
        if (r < 0)
                return r == -ENOMEM ? r : -EBADMSG;
        return streq(u->update_id, id) ? 0 : -EBADMSG;
}

int status_queue_open(const char *dir, struct status_queue **ret, size_t *ret_skipped)
{
        _cleanup_(status_queue_freep) struct status_queue *q = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        size_t skipped = 0;
        int r;

        r = mkdir_parents(dir, 0700);
        if (r < 0)
                return r;
        q = calloc(1, sizeof(*q));
        if (!q || !(q->dir = strdup(dir)))
                return -ENOMEM;
        q->next_seq = 1;
        d = opendir(dir);
        if (!d)
                return negative_errno();
        while ((de = readdir(d))) {
                _cleanup_free_ char *path = NULL;
                char id[ID_UUID_LEN + 1];
                uint64_t seq;

                if (de->d_name[0] == '.')
                        continue;
                if (asprintf(&path, "%s/%s", dir, de->d_name) < 0)
                        return -ENOMEM;
                if (strstr(de->d_name, ".json.tmp.")) {
                        /* A write interrupted by a crash: the update was never queued. */
                        (void)unlink(path);
                        continue;
                }
                if (!status_file_parse(de->d_name, &seq, id)) {
                        size_t len = strlen(de->d_name);

                        if (len > 5 && streq(de->d_name + len - 5, ".json"))
                                log_warning("status queue: %s is not named <%d-digit sequence>-<update id>.json; "
                                            "left alone, not sent", path, STATUS_SEQ_DIGITS);
                        continue;
                }
                if (!ARRAY_GROW(q->v, q->alloc, q->n + 1))
                        return -ENOMEM;
                r = status_entry_check(path, id);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        _cleanup_free_ char *bad = NULL;

                        log_debug("status queue: %s is not a readable update (%s); setting it aside", path,
                                  strerror(-r));
                        if (asprintf(&bad, "%s.bad", path) >= 0)
                                (void)rename(path, bad);
                        skipped++;
                        continue;
                }
                q->v[q->n].seq = seq;
                memcpy(q->v[q->n].update_id, id, sizeof(id));
                q->n++;
                if (seq >= q->next_seq)
                        q->next_seq = seq + 1;
        }
        if (q->n > 1)
                qsort(q->v, q->n, sizeof(*q->v), entry_cmp);
        if (ret_skipped)
                *ret_skipped = skipped;
        *ret = TAKE_PTR(q);
        return 0;
}

/* Position of an update id, or -ENOENT. */
static int status_queue_find(const struct status_queue *q, const char *update_id)
{
        for (size_t i = 0; i < q->n; i++)
                if (streq(q->v[i].update_id, update_id))
                        return (int)i;
        return -ENOENT;
}

int status_queue_push(struct status_queue *q, const struct silo_status_update *u)
{
        struct silo_status_update copy;
        struct status_entry e = {.seq = q->next_seq};
        _cleanup_free_ char *text = NULL, *path = NULL;
        int r;

        if (!u->update_id || !u->task_id)
                return -EINVAL;
        if (strlen(u->update_id) > ID_UUID_LEN)
                return -EINVAL;
        if (status_queue_find(q, u->update_id) >= 0)
                return 0;
        if (!ARRAY_GROW(q->v, q->alloc, q->n + 1))
                return -ENOMEM;
        copy = *u;
        copy.agent_id = NULL;
        text = silo_status_update_to_string(&copy);
        path = status_entry_path(q, e.seq, u->update_id);
        if (!text || !path)
                return -ENOMEM;
        r = file_write_atomic(path, text, strlen(text), 0600);
        if (r < 0)
                return r;
        snprintf(e.update_id, sizeof(e.update_id), "%s", u->update_id);
        q->next_seq++;
        q->v[q->n++] = e;
        q->pushed_total++;
        if (q->notify)
                q->notify(q, q->notify_userdata);
        return 1;
}

/* Unlink the first n entries' files, then drop them from memory. The directory is fsynced once:
 * a crash before that only brings back updates the consumer already has (at-least-once). */
static int status_queue_remove_first(struct status_queue *q, size_t from, size_t n)
{
        int r = 0;

        for (size_t i = from; i < from + n; i++) {
                _cleanup_free_ char *path = status_entry_path(q, q->v[i].seq, q->v[i].update_id);

                if (!path)
                        return -ENOMEM;
                if (unlink(path) < 0 && errno != ENOENT && r == 0)
                        r = negative_errno();
        }
        if (r < 0)
                return r;
        r = fsync_directory(q->dir);
        memmove(q->v + from, q->v + from + n, (q->n - from - n) * sizeof(*q->v));
        q->n -= n;
        q->acked_total += n;
        return r < 0 ? r : (int)n;
}

int status_queue_ack(struct status_queue *q, const char *update_id)
{
        int i = status_queue_find(q, update_id), r;

        if (i < 0)
                return i;
        r = status_queue_remove_first(q, (size_t)i, 1);
        return r < 0 ? r : 0;
}

int status_queue_reject(struct status_queue *q, const char *update_id)
{
        _cleanup_free_ char *path = NULL, *to = NULL;
        int i = status_queue_find(q, update_id);

        if (i < 0)
                return i;
        path = status_entry_path(q, q->v[i].seq, q->v[i].update_id);
        if (!path || asprintf(&to, "%s.rejected", path) < 0)
                return -ENOMEM;
        if (rename(path, to) < 0)
                return negative_errno();
        (void)fsync_directory(q->dir);
        memmove(q->v + i, q->v + i + 1, (q->n - (size_t)i - 1) * sizeof(*q->v));
        q->n--;
        return 0;
}

int status_queue_ack_through(struct status_queue *q, const char *update_id)
{
        int i = status_queue_find(q, update_id);

        if (i < 0)
                return i;
        return status_queue_remove_first(q, 0, (size_t)i + 1);
}

bool status_queue_contains(const struct status_queue *q, const char *update_id)
{
        return status_queue_find(q, update_id) >= 0;
}

size_t status_queue_size(const struct status_queue *q)
{
        return q->n;
}

const struct status_entry *status_queue_get(const struct status_queue *q, size_t i)
{
        return i < q->n ? &q->v[i] : NULL;
}

json_t *status_queue_load(const struct status_queue *q, size_t i, int *ret_errno)
{
        _cleanup_free_ char *path = NULL;
        json_t *j;
        int r = 0;

        if (i >= q->n)
                r = -ENOENT;
        else if (!(path = status_entry_path(q, q->v[i].seq, q->v[i].update_id)))
                r = -ENOMEM;
        else if (!(j = json_load_file(path, JSON_REJECT_DUPLICATES, NULL)) || !json_is_object(j)) {
                r = access(path, F_OK) < 0 ? negative_errno() : -EBADMSG;
                json_decref(j);
        }
        if (ret_errno)
                *ret_errno = r;
        return r < 0 ? NULL : j;
}

const char *status_queue_dir(const struct status_queue *q)
{
        return q->dir;
}

uint64_t status_queue_pushed_total(const struct status_queue *q)
{
        return q->pushed_total;
}

uint64_t status_queue_acked_total(const struct status_queue *q)
{
        return q->acked_total;
}
