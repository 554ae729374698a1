/* SPDX-License-Identifier: Apache-2.0 */
/* The master's persistent volumes: their records (store, allocator), the submission's rules,
 * the agents' reports, and deletion through the agent. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/authz.h"
#include "common/error.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/quantity.h"
#include "master/events.h"
#include "master/master.h"
#include "master/store.h"

static const char *const volume_state_names[_MASTER_VOLUME_STATE_MAX] = {
    [MASTER_VOLUME_PENDING] = "pending",
    [MASTER_VOLUME_READY] = "ready",
    [MASTER_VOLUME_DELETING] = "deleting",
};

const char *master_volume_state_to_string(enum master_volume_state s)
{
        return s < _MASTER_VOLUME_STATE_MAX ? volume_state_names[s] : NULL;
}

static int volume_state_from_string(const char *s)
{
        for (int i = 0; s && i < _MASTER_VOLUME_STATE_MAX; i++)
                if (streq(s, volume_state_names[i]))
                        return i;
        return -EINVAL;
}

struct master_volume *master_volume_free(struct master_volume *v)
{
        if (!v)
                return NULL;
        free(v->name);
        free(v->agent_id);
        free(v->disk);
        free(v->class);
        free(v->role);
        free(v);
        return NULL;
}

struct master_volume *master_volume_get(master *m, const char *name)
{
        return name && m->volumes ? table_get(m->volumes, name) : NULL;
}

json_t *master_volume_record(const struct master_volume *v)
{
        return json_pack("{s:s, s:s, s:s?, s:s?, s:I, s:I, s:s, s:b, s:I, s:I}", "agent_id",
                         v->agent_id, "disk", v->disk, "class", v->class, "role", v->role, "size",
                         (json_int_t)v->size, "used_bytes", (json_int_t)v->used_bytes, "state",
                         master_volume_state_to_string(v->state), "missing", v->missing,
                         "created_ms", (json_int_t)v->created_ms, "updated_ms",
                         (json_int_t)v->updated_ms);
}

static char *record_str(const json_t *j, const char *key)
{
        const json_t *v = json_object_get(j, key);

        return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

static uint64_t record_u64(const json_t *j, const char *key)
{
        const json_t *v = json_object_get(j, key);

        return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v)
                                                               : 0;
}

int master_volume_from_record(const char *name, const char *text, size_t len,
                              struct master_volume **ret, char **ret_error)
{
        _cleanup_json_ json_t *j = text ? json_loadb(text, len, 0, NULL) : NULL;
        struct master_volume *v;
        int state = volume_state_from_string(json_string_value(json_object_get(j, "state")));

        if (!json_is_object(j) || state < 0 || !json_is_string(json_object_get(j, "agent_id")) ||
            !json_is_string(json_object_get(j, "disk")) || record_u64(j, "size") == 0 ||
            !silo_name_is_valid(name))
                return error_set(ret_error, -EBADMSG,
                                 "volume '%s': the stored record lacks its name, agent_id, disk, "
                                 "size or state",
                                 name);
        v = calloc(1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        v->name = strdup(name);
        v->agent_id = record_str(j, "agent_id");
        v->disk = record_str(j, "disk");
        v->class = record_str(j, "class");
        v->role = record_str(j, "role");
        v->size = record_u64(j, "size");
        v->used_bytes = record_u64(j, "used_bytes");
        v->state = state;
        v->missing = json_is_true(json_object_get(j, "missing"));
        v->created_ms = record_u64(j, "created_ms");
        v->updated_ms = record_u64(j, "updated_ms");
        if (!v->name || !v->agent_id || !v->disk ||
            (json_is_string(json_object_get(j, "class")) && !v->class) ||
            (json_is_string(json_object_get(j, "role")) && !v->role)) {
                master_volume_free(v);
                return -ENOMEM;
        }
        *ret = v;
        return 0;
}

/* Persist the record and, when event >= 0, its event, in one change. */
static int volume_save(master *m, struct master_volume *v, int event)
{
        int r;

        v->updated_ms = now_realtime_ms();
        r = store_change_begin(m->store);
        if (r < 0)
                return r;
        r = store_volume_put(m->store, v);
        if (r >= 0 && event >= 0)
                r = master_event_volume(m, event, v);
        return store_change_end(m->store, r);
}

/* Make the record known: the table and the allocator (which books its size on its disk). */
static int volume_add(master *m, struct master_volume *v)
{
        int r;

        if (!m->volumes && (r = table_new(&m->volumes)) < 0)
                return r;
        r = alloc_volume_set(m->alloc, v->name, v->agent_id, v->disk, v->size);
        if (r >= 0)
                r = table_put(m->volumes, v->name, v);
        if (r < 0)
                (void)alloc_volume_remove(m->alloc, v->name);
        return r;
}

int master_volume_load(master *m, struct master_volume *v)
{
        int r = volume_add(m, v);

        if (r < 0)
                master_volume_free(v);
        return r;
}

/* The volume the spec names at volumes[i], or NULL for a bind mount. */
static const struct silo_volume *spec_volume(const struct silo_task_spec *spec, size_t i)
{
        return spec->container.volumes[i].name ? &spec->container.volumes[i] : NULL;
}

#define FOREACH_SPEC_VOLUME(spec, i, vol)                                                          \
        for (size_t i = 0; (spec)->has_container && i < (spec)->container.n_volumes; i++)         \
                if (((vol) = spec_volume((spec), i)))

/* The entry of spec that names the volume, or NULL. */
static const struct silo_volume *spec_find_volume(const struct silo_task_spec *spec,
                                                  const char *name)
{
        const struct silo_volume *vol;

        FOREACH_SPEC_VOLUME(spec, i, vol)
                if (streq(vol->name, name))
                        return vol;
        return NULL;
}

static bool task_mounts(const struct master_task *t, const void *name)
{
        return !silo_task_state_is_terminal(t->state) && spec_find_volume(t->spec, name);
}

int master_volume_tasks(master *m, const char *name, struct master_task ***ret, size_t *ret_n)
{
        /* a scan: volumes are few and this runs per submission naming one, or per read */
        return master_tasks_select(m, task_mounts, name, ret, ret_n);
}

/* Whether two mounts of one volume may be held at once: both read-only, or both shared. */
static bool mounts_compatible(const struct silo_volume *a, const struct silo_volume *b)
{
        return (a->readonly && b->readonly) || (a->shared && b->shared);
}

/* The class of the disk v is on, as its agent registered it; NULL when not known (the agent
 * not registered since the master started, or no longer offering the disk). */
static const char *volume_disk_class(master *m, const struct master_volume *v)
{
        const struct master_agent *a = master_agent_get(m, v->agent_id);

        for (size_t i = 0; a && a->reg && i < a->reg->resources.n_disks; i++)
                if (streq(a->reg->resources.disks[i].name, v->disk))
                        return a->reg->resources.disks[i].class;
        return NULL;
}

int master_volumes_check_submit(master *m, const struct silo_task_spec *spec, char **ret_error)
{
        const struct silo_volume *vol;
        char want[QUANTITY_FORMAT_MAX], have[QUANTITY_FORMAT_MAX];
        size_t n = 0;

        FOREACH_SPEC_VOLUME(spec, i, vol) {
                _cleanup_free_ struct master_task **users = NULL;
                struct master_volume *v = master_volume_get(m, vol->name);
                size_t n_users = 0;
                int r;

                if (++n > MASTER_TASK_VOLUMES_MAX)
                        return error_set(ret_error, -EINVAL,
                                         "container.volumes[%zu]: more than %d persistent volumes "
                                         "in one task",
                                         i, MASTER_TASK_VOLUMES_MAX);
                for (size_t k = 0; k < i; k++)
                        if (streq_ptr(spec->container.volumes[k].name, vol->name))
                                return error_set(ret_error, -EINVAL,
                                                 "container.volumes[%zu].name: volume '%s' is "
                                                 "already mounted by container.volumes[%zu]",
                                                 i, vol->name, k);
                if (v && v->size != vol->size) {
                        (void)quantity_format(vol->size, want, sizeof(want));
                        (void)quantity_format(v->size, have, sizeof(have));
                        return error_set(ret_error, -EINVAL,
                                         "container.volumes[%zu].size: %s, but volume '%s' "
                                         "exists with size %s (on agent %s, disk %s)",
                                         i, want, vol->name, have, v->agent_id, v->disk);
                }
                if (v) {
                        r = silo_volume_check_existing(vol, i, v->disk,
                                                       volume_disk_class(m, v), ret_error);
                        if (r < 0)
                                return r;
                }
                if (v && v->state == MASTER_VOLUME_DELETING)
                        return error_set(ret_error, -EINPROGRESS,
                                         "container.volumes[%zu]: volume '%s' is being deleted (its "
                                         "GET answers 404 once it is gone; a task then makes a new one)",
                                         i, vol->name);
                r = master_volume_tasks(m, vol->name, &users, &n_users);
                if (r < 0)
                        return r;
                for (size_t k = 0; k < n_users; k++) {
                        const struct silo_volume *other = spec_find_volume(users[k]->spec,
                                                                           vol->name);

                        if (streq_ptr(users[k]->id, spec->id) || mounts_compatible(vol, other))
                                continue;
                        return error_set(ret_error, -ETXTBSY,
                                         "container.volumes[%zu]: volume '%s' is in use by task "
                                         "%s (%s, %s); two tasks may mount it together only "
                                         "both read-only or both with \"shared\": true",
                                         i, vol->name, users[k]->id,
                                         silo_task_state_to_string(users[k]->state),
                                         other->readonly ? "read-only" : "read-write");
                }
        }
        return 0;
}

int master_volumes_authz_submit(master *m, const struct silo_identity *id,
                                const struct silo_task_spec *spec, char **ret_error)
{
        const struct silo_volume *vol;

        FOREACH_SPEC_VOLUME(spec, i, vol) {
                const struct master_volume *v = master_volume_get(m, vol->name);
                int r;

                if (!v)
                        continue;
                r = authz_volume_mount(id, v->name, v->role, silo_task_spec_role(spec), ret_error);
                if (r < 0)
                        return error_wrap(ret_error, r, "container.volumes[%zu]", i);
        }
        return 0;
}

int master_volumes_place(master *m, const struct master_task *t, const struct alloc_result *res,
                         bool *added)
{
        const struct silo_volume *vol;
        int r = 0;

        if (!res->volume_disk)
                return 0;
        FOREACH_SPEC_VOLUME(t->spec, i, vol) {
                struct master_volume *v;

                if (master_volume_get(m, vol->name))
                        continue;
                v = calloc(1, sizeof(*v));
                if (!v)
                        return -ENOMEM;
                v->name = strdup(vol->name);
                v->agent_id = strdup(res->agent_id);
                v->disk = strdup(res->volume_disk);
                v->class = vol->class ? strdup(vol->class) : NULL;
                v->role = strdup(silo_task_spec_role(t->spec));
                v->size = vol->size;
                v->state = MASTER_VOLUME_PENDING;
                v->created_ms = now_realtime_ms();
                if (!v->name || !v->agent_id || !v->disk || (vol->class && !v->class) || !v->role)
                        r = -ENOMEM;
                if (r >= 0)
                        r = volume_save(m, v, -1);
                if (r >= 0)
                        r = volume_add(m, v);
                if (r < 0) {
                        master_volume_free(v);
                        return r;
                }
                added[i] = true;
                log_info("volume %s (%" PRIu64 " bytes): placed on agent %s, disk %s, with task %s",
                         v->name, v->size, v->agent_id, v->disk, t->id);
        }
        return 0;
}

void master_volumes_place_undo(master *m, const struct master_task *t, const bool *added)
{
        const struct silo_volume *vol;

        FOREACH_SPEC_VOLUME(t->spec, i, vol) {
                struct master_volume *v = added[i] ? master_volume_get(m, vol->name) : NULL;

                if (!v)
                        continue;
                (void)alloc_volume_remove(m->alloc, v->name);
                table_remove(m->volumes, v->name);
                master_volume_free(v);
        }
}

void master_volumes_unplace(master *m, const struct master_task *t)
{
        const struct silo_volume *vol;

        FOREACH_SPEC_VOLUME(t->spec, i, vol)
                if (!master_volume_get(m, vol->name))
                        (void)alloc_volume_remove(m->alloc, vol->name);
}

/* Forget a volume: its record (with the volume_deleted event), its booking. */
static int volume_forget(master *m, struct master_volume *v, const char *why)
{
        int r;

        r = store_change_begin(m->store);
        if (r < 0)
                return r;
        r = store_volume_delete(m->store, v->name);
        if (r >= 0)
                r = master_event_volume(m, MASTER_EVENT_VOLUME_DELETED, v);
        r = store_change_end(m->store, r);
        if (r < 0)
                return r;
        log_info("volume %s on agent %s: %s", v->name, v->agent_id, why);
        (void)alloc_volume_remove(m->alloc, v->name);
        table_remove(m->volumes, v->name);
        master_volume_free(v);
        return 0;
}

static const struct silo_volume_report *report_find(const struct silo_volume_report *r, size_t n,
                                                    const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (streq(r[i].name, name))
                        return &r[i];
        return NULL;
}

/* A volume the agent has that the master does not know (made before a migration, or its
 * record lost): adopted, so it is counted and placed on. */
static int volume_adopt(master *m, struct master_agent *a, const struct silo_volume_report *rep)
{
        struct master_volume *v = calloc(1, sizeof(*v));
        int r = 0;

        if (!v)
                return -ENOMEM;
        v->name = strdup(rep->name);
        v->agent_id = strdup(a->id);
        v->disk = strdup(rep->disk);
        /* The role its agent recorded when a task made it: authz_volume_mount() holds for it as
         * for a volume this master placed (none: operators only). */
        v->role = rep->role ? strdup(rep->role) : NULL;
        v->size = rep->size;
        v->used_bytes = rep->used_bytes;
        v->state = MASTER_VOLUME_READY;
        v->created_ms = now_realtime_ms();
        if (!v->name || !v->agent_id || !v->disk || (rep->role && !v->role))
                r = -ENOMEM;
        if (r >= 0)
                r = volume_save(m, v, MASTER_EVENT_VOLUME_CREATED);
        if (r >= 0)
                r = volume_add(m, v);
        if (r < 0) {
                master_volume_free(v);
                return r;
        }
        log_info("volume %s: adopted from agent %s (disk %s, %" PRIu64 " bytes)", v->name, a->id,
                 v->disk, v->size);
        return 0;
}

/* What the agent says of one of its volumes the master knows. */
static int volume_reported(master *m, struct master_volume *v,
                           const struct silo_volume_report *rep)
{
        bool created = v->state == MASTER_VOLUME_PENDING;
        _cleanup_free_ char *disk = NULL;

        /* The figure moves with every write: kept in memory, stored with the next change. */
        v->used_bytes = rep->used_bytes;
        /* Recorded but not made yet (a launch under way, or one a crash cut short): it is
         * ready, and its creation an event, only once the agent says so. */
        if (created && rep->state == SILO_VOLUME_REPORT_CREATING)
                return 0;
        if (!created && !v->missing && v->size == rep->size && streq(v->disk, rep->disk))
                return 0;
        if (!streq(v->disk, rep->disk) && !(disk = strdup(rep->disk)))
                return -ENOMEM;
        if (v->missing)
                log_info("volume %s: agent %s reports it again", v->name, v->agent_id);
        v->missing = false;
        if (disk) {
                free(v->disk);
                v->disk = TAKE_PTR(disk);
        }
        v->size = rep->size;
        if (created)
                v->state = MASTER_VOLUME_READY;
        (void)alloc_volume_set(m->alloc, v->name, v->agent_id, v->disk, v->size);
        return volume_save(m, v, created ? MASTER_EVENT_VOLUME_CREATED : -1);
}

/* One of the agent's volumes it did not report. */
static int volume_unreported(master *m, struct master_volume *v)
{
        _cleanup_free_ struct master_task **users = NULL;
        size_t n = 0;
        int r;

        switch (v->state) {
        case MASTER_VOLUME_DELETING:
                /* The DELETE's answer was lost, or it went while this master was down. */
                return volume_forget(m, v, "no longer reported by its agent: deleted");
        case MASTER_VOLUME_PENDING:
                /* Never made there: its task may still be launched; without one it goes. */
                r = master_volume_tasks(m, v->name, &users, &n);
                if (r < 0 || n > 0)
                        return r;
                return volume_forget(m, v, "never made by its agent and no task mounts it");
        default:
                if (v->missing)
                        return 0;
                log_warning("volume %s: agent %s no longer reports it (disk %s); kept as missing",
                            v->name, v->agent_id, v->disk);
                v->missing = true;
                return volume_save(m, v, -1);
        }
}

int master_volumes_report(master *m, struct master_agent *a, const struct silo_volume_report *rep,
                          size_t n)
{
        _cleanup_free_ struct master_volume **mine = NULL;
        struct master_volume *v;
        size_t n_mine = 0, i = 0;
        int r, ret = 0;

        for (size_t k = 0; k < n; k++) {
                v = master_volume_get(m, rep[k].name);
                if (!v && rep[k].state == SILO_VOLUME_REPORT_CREATING)
                        r = 0;  /* not made yet: adopted once the agent reports it ready */
                else if (!v)
                        r = volume_adopt(m, a, &rep[k]);
                else if (!streq(v->agent_id, a->id)) {
                        log_warning("volume %s: agent %s reports it too, but it is on agent %s; "
                                    "the master keeps that one",
                                    rep[k].name, a->id, v->agent_id);
                        r = 0;
                } else
                        r = volume_reported(m, v, &rep[k]);
                if (r < 0)
                        ret = r;
        }
        if (!m->volumes)
                return ret;
        /* a snapshot: forgetting a volume changes the table */
        mine = calloc(table_size(m->volumes) + 1, sizeof(*mine));
        if (!mine)
                return -ENOMEM;
        while (table_next(m->volumes, &i, NULL, (void **)&v))
                if (streq(v->agent_id, a->id) && !report_find(rep, n, v->name))
                        mine[n_mine++] = v;
        for (size_t k = 0; k < n_mine; k++)
                if ((r = volume_unreported(m, mine[k])) < 0)
                        ret = r;
        return ret;
}

json_t *master_volume_to_json(master *m, const struct master_volume *v)
{
        _cleanup_free_ struct master_task **users = NULL;
        struct master_agent *a = master_agent_get(m, v->agent_id);
        json_t *j, *tasks;
        size_t n = 0;

        if (master_volume_tasks(m, v->name, &users, &n) < 0)
                return NULL;
        tasks = json_array();
        for (size_t i = 0; tasks && i < n; i++)
                json_array_append_new(tasks, json_string(users[i]->id));
        j = json_pack("{s:s, s:s, s:s?, s:s, s:s?, s:s?, s:o, s:o, s:s, s:b, s:I, s:I, s:o}",
                      "name", v->name, "agent_id", v->agent_id, "hostname",
                      a && a->reg ? a->reg->hostname : NULL, "disk", v->disk, "class", v->class,
                      "role", v->role, "size", quantity_to_json(v->size), "used_bytes",
                      quantity_to_json(v->used_bytes), "state",
                      master_volume_state_to_string(v->state), "missing", v->missing,
                      "created_ms", (json_int_t)v->created_ms, "updated_ms",
                      (json_int_t)v->updated_ms, "tasks", tasks);
        return j;
}

/* Ask the agent now when it can be asked; else the tick does when it can. */
static void volume_delete_maybe_send(master *m, struct master_volume *v)
{
        struct master_agent *a = master_agent_get(m, v->agent_id);

        if (a && a->state == MASTER_AGENT_ACTIVE && !v->delete_in_flight &&
            v->delete_not_before_ms <= now_mono_ms())
                (void)master_volume_delete_send(m, a, v);
}

int master_volume_delete(master *m, struct master_volume *v, char **ret_error)
{
        _cleanup_free_ struct master_task **users = NULL;
        size_t n = 0;
        int r;

        r = master_volume_tasks(m, v->name, &users, &n);
        if (r < 0)
                return r;
        if (n > 0)
                return error_set(ret_error, -ETXTBSY,
                                 "volume %s: in use by task %s (%s)%s; kill it first", v->name,
                                 users[0]->id, silo_task_state_to_string(users[0]->state),
                                 n > 1 ? " and others" : "");
        if (v->state != MASTER_VOLUME_DELETING) {
                enum master_volume_state old = v->state;

                v->state = MASTER_VOLUME_DELETING;
                v->delete_attempts = 0;
                v->delete_not_before_ms = 0;
                r = volume_save(m, v, -1);
                if (r < 0) {
                        v->state = old;
                        return r;
                }
        }
        /* From the outbox: after the commit of DELETING, so a restart asks again. */
        volume_delete_maybe_send(m, v);
        return 0;
}

void master_volume_delete_gone(master *m, struct master_volume *v)
{
        int r = volume_forget(m, v, "deleted by its agent");

        if (r < 0)
                log_error("volume %s: cannot record its deletion: %s", v->name, strerror(-r));
}

void master_volume_delete_refused(master *m, struct master_volume *v, const char *why)
{
        int r;

        log_warning("volume %s: %s; it stays", v->name, strempty(why));
        v->state = MASTER_VOLUME_READY;
        r = volume_save(m, v, -1);
        if (r < 0)
                log_error("volume %s: cannot record it ready again: %s", v->name, strerror(-r));
}

void master_volumes_tick(master *m)
{
        struct master_volume *v;
        size_t i = 0;

        while (m->volumes && table_next(m->volumes, &i, NULL, (void **)&v))
                if (v->state == MASTER_VOLUME_DELETING)
                        volume_delete_maybe_send(m, v);
}
